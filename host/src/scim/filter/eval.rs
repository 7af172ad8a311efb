//! Evaluating and validating filters against canonical resources.
//!
//! A path is resolved in a [`Scope`]: a whole resource (core attributes top-level,
//! extension attributes under the extension's URN key) or one element of a multi-valued
//! attribute (inside a value path). Keys are found case-insensitively, so attributes no
//! schema defines, which are stored as the identity provider sent them, are still found.
//! A comparison matches if any value the path reaches matches (RFC 7644 §3.4.2.2).

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Number, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{CompValue, CompareOp, Filter};
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::path::{self, AttrPath};
use crate::scim::schema::{AttrType, AttributeDef, ResourceType};

/// Where a filter's paths are resolved.
#[derive(Clone, Copy)]
pub(super) enum Scope<'r> {
    Resource(&'r ResourceType),
    /// Relative to one element of this attribute (`None`: an attribute no schema defines).
    Element(Option<&'r AttributeDef>),
}

impl<'r> Scope<'r> {
    /// The definition of the attribute `path.name` (ignoring `path.sub`).
    fn def(self, path: &AttrPath) -> Option<&'r AttributeDef> {
        match self {
            Scope::Resource(rt) => path::resolve(rt, path.urn.as_deref(), &path.name).map(|r| r.attr),
            Scope::Element(parent) => {
                let parent = parent?;
                if path.urn.is_some() {
                    return None;
                }
                parent.sub_attribute(&path.name).or_else(|| {
                    // A multi-valued simple attribute: `value` is the element itself.
                    (parent.ty != AttrType::Complex && path.name.eq_ignore_ascii_case("value")).then_some(parent)
                })
            }
        }
    }

    /// The value of attribute `path.name` (ignoring `path.sub`) in `json`, and its definition.
    pub(super) fn lookup<'v>(self, json: &'v Value, path: &AttrPath) -> (Option<&'v Value>, Option<&'r AttributeDef>) {
        let def = self.def(path);
        let value = match self {
            Scope::Resource(rt) => {
                let container = match path.urn.as_deref() {
                    None => match path::resolve(rt, None, &path.name).and_then(|r| r.extension) {
                        Some(ext) => get_ci(json, ext),
                        None => Some(json),
                    },
                    Some(urn) => match rt.schema(urn) {
                        Some(schema) if schema.id == rt.core.id => Some(json),
                        Some(schema) => get_ci(json, &schema.id),
                        // An extension no schema declares, stored verbatim under its URN.
                        None => get_ci(json, urn),
                    },
                };
                container.and_then(|c| get_ci(c, &path.name))
            }
            Scope::Element(_) if path.urn.is_some() => None,
            Scope::Element(_) => match json {
                Value::Object(_) => get_ci(json, &path.name),
                _ if path.name.eq_ignore_ascii_case("value") => Some(json),
                _ => None,
            },
        };
        (value, def)
    }

    /// Every value `path` reaches (arrays flattened, one level), and the leaf definition.
    fn reach<'v>(self, json: &'v Value, path: &AttrPath) -> (Vec<&'v Value>, Option<&'r AttributeDef>) {
        let (value, def) = self.lookup(json, path);
        let mut out = Vec::new();
        match &path.sub {
            None => flatten(value, &mut out),
            Some(sub) => {
                let mut parents = Vec::new();
                flatten(value, &mut parents);
                for parent in parents {
                    flatten(get_ci(parent, sub), &mut out);
                }
            }
        }
        let def = match &path.sub {
            None => def,
            Some(sub) => def.and_then(|d| d.sub_attribute(sub)),
        };
        (out, def)
    }
}

/// `obj[key]`, trying the exact key first and then any key equal ignoring ASCII case.
pub(super) fn get_ci<'v>(obj: &'v Value, key: &str) -> Option<&'v Value> {
    let map = obj.as_object()?;
    map.get(key).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

fn flatten<'v>(value: Option<&'v Value>, out: &mut Vec<&'v Value>) {
    match value {
        Some(Value::Array(items)) => out.extend(items.iter()),
        Some(v) => out.push(v),
        None => {}
    }
}

/// RFC 7644 `pr`: not null, not an empty string, not an empty array or object.
fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(is_present),
        Value::Object(o) => !o.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

pub(super) fn matches(filter: &Filter, resource: &Value, rt: &ResourceType) -> bool {
    eval(filter, resource, Scope::Resource(rt))
}

pub(super) fn matches_element(filter: &Filter, element: &Value, parent: &AttributeDef) -> bool {
    eval(filter, element, Scope::Element(Some(parent)))
}

fn eval(filter: &Filter, json: &Value, scope: Scope<'_>) -> bool {
    match filter {
        Filter::Present(path) => scope.reach(json, path).0.into_iter().any(is_present),
        Filter::Compare(path, op, value) => compare(json, scope, path, *op, value),
        Filter::And(a, b) => eval(a, json, scope) && eval(b, json, scope),
        Filter::Or(a, b) => eval(a, json, scope) || eval(b, json, scope),
        Filter::Not(inner) => !eval(inner, json, scope),
        Filter::ValuePath(path, inner) => {
            let (value, def) = scope.lookup(json, path);
            let mut elements = Vec::new();
            flatten(value, &mut elements);
            elements.into_iter().any(|e| eval(inner, e, Scope::Element(def)))
        }
    }
}

/// `ne` is `not eq`, so it holds when the attribute is absent; `eq null` holds when no
/// value is present; other operators with `null` never hold.
fn compare(json: &Value, scope: Scope<'_>, path: &AttrPath, op: CompareOp, value: &CompValue) -> bool {
    if op == CompareOp::Ne {
        return !compare(json, scope, path, CompareOp::Eq, value);
    }
    let (values, def) = scope.reach(json, path);
    match value {
        CompValue::Null => op == CompareOp::Eq && !values.into_iter().any(is_present),
        _ => values.into_iter().any(|v| compare_one(v, def, op, value)),
    }
}

/// One stored value against the filter's value. A complex value compares its `value`
/// sub-attribute (`emails co "@x"`).
fn compare_one(v: &Value, def: Option<&AttributeDef>, op: CompareOp, cv: &CompValue) -> bool {
    if v.is_object() {
        let def = def.and_then(|d| d.sub_attribute("value"));
        return match get_ci(v, "value") {
            Some(inner) if !inner.is_object() => compare_one(inner, def, op, cv),
            _ => false,
        };
    }
    let ty = def.map(|d| d.ty);
    let case_exact = def.is_some_and(|d| d.case_exact);
    match (v, cv) {
        (Value::String(s), CompValue::Str(t)) => {
            if ty == Some(AttrType::DateTime) && !op.is_substring() {
                if let (Ok(a), Ok(b)) = (OffsetDateTime::parse(s, &Rfc3339), OffsetDateTime::parse(t, &Rfc3339)) {
                    return ordering_satisfies(a.cmp(&b), op);
                }
            }
            compare_str(s, t, op, case_exact)
        }
        (Value::String(s), CompValue::Number(n)) => {
            if matches!(ty, Some(AttrType::Integer | AttrType::Decimal)) {
                return s
                    .trim()
                    .parse::<Number>()
                    .ok()
                    .and_then(|a| compare_numbers(&a, n))
                    .is_some_and(|o| ordering_satisfies(o, op));
            }
            // `externalId eq 12345` (unquoted) against the stored string "12345".
            compare_str(s, &n.to_string(), op, case_exact)
        }
        (Value::String(s), CompValue::Bool(b)) => {
            op == CompareOp::Eq && s.trim().eq_ignore_ascii_case(if *b { "true" } else { "false" })
        }
        (Value::Number(a), CompValue::Number(b)) => {
            !op.is_substring() && compare_numbers(a, b).is_some_and(|o| ordering_satisfies(o, op))
        }
        (Value::Number(a), CompValue::Str(t)) => {
            !op.is_substring()
                && t.trim()
                    .parse::<Number>()
                    .ok()
                    .and_then(|b| compare_numbers(a, &b))
                    .is_some_and(|o| ordering_satisfies(o, op))
        }
        (Value::Bool(a), CompValue::Bool(b)) => op == CompareOp::Eq && a == b,
        (Value::Bool(a), CompValue::Str(t)) => {
            op == CompareOp::Eq && t.trim().eq_ignore_ascii_case(if *a { "true" } else { "false" })
        }
        _ => false,
    }
}

fn ordering_satisfies(ord: Ordering, op: CompareOp) -> bool {
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// Lower-cases for a case-insensitive comparison, borrowing when there is nothing to fold.
pub(super) fn fold(s: &str, case_exact: bool) -> Cow<'_, str> {
    if case_exact || s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

fn compare_str(stored: &str, wanted: &str, op: CompareOp, case_exact: bool) -> bool {
    let (a, b) = (fold(stored, case_exact), fold(wanted, case_exact));
    match op {
        CompareOp::Co => a.contains(b.as_ref()),
        CompareOp::Sw => a.starts_with(b.as_ref()),
        CompareOp::Ew => a.ends_with(b.as_ref()),
        _ => ordering_satisfies(a.cmp(&b), op),
    }
}

/// Exact for integers, `f64` otherwise.
pub(super) fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

pub(super) fn validate(filter: &Filter, rt: &ResourceType) -> ScimResult<()> {
    check(filter, Scope::Resource(rt))
}

fn check(filter: &Filter, scope: Scope<'_>) -> ScimResult<()> {
    match filter {
        Filter::Present(path) => leaf_def(scope, path).map(|_| ()),
        Filter::Compare(path, op, value) => check_comparison(scope, path, *op, value),
        Filter::And(a, b) | Filter::Or(a, b) => {
            check(a, scope)?;
            check(b, scope)
        }
        Filter::Not(inner) => check(inner, scope),
        Filter::ValuePath(path, inner) => {
            let def = scope.def(path);
            if let Some(d) = def {
                if !d.multi_valued && d.ty != AttrType::Complex {
                    return Err(ScimError::invalid_filter(format!(
                        "{path} is a single-valued {} attribute; a value filter needs a multi-valued or complex one",
                        d.ty.as_str()
                    )));
                }
            }
            check(inner, Scope::Element(def))
        }
    }
}

/// The definition `path` ends at (`None` when unknown).
///
/// # Errors
///
/// `invalidFilter` for a sub-attribute of a simple attribute.
fn leaf_def<'r>(scope: Scope<'r>, path: &AttrPath) -> ScimResult<Option<&'r AttributeDef>> {
    let Some(def) = scope.def(path) else { return Ok(None) };
    let Some(sub) = &path.sub else { return Ok(Some(def)) };
    if def.ty != AttrType::Complex {
        return Err(ScimError::invalid_filter(format!(
            "{path}: {} is a {} attribute and has no sub-attributes",
            def.name,
            def.ty.as_str()
        )));
    }
    Ok(def.sub_attribute(sub))
}

fn check_comparison(scope: Scope<'_>, path: &AttrPath, op: CompareOp, value: &CompValue) -> ScimResult<()> {
    let invalid = |why: String| Err(ScimError::invalid_filter(format!("{path} {op}: {why}")));
    if (op.is_ordering() || op.is_substring()) && matches!(value, CompValue::Null | CompValue::Bool(_)) {
        return invalid(format!("'{op}' needs a string, number or date value, not {value}"));
    }
    let Some(def) = leaf_def(scope, path)? else { return Ok(()) };
    let def = if def.ty == AttrType::Complex {
        match def.sub_attribute("value") {
            Some(value_def) => value_def,
            None => return invalid(format!("{} is complex; compare one of its sub-attributes", def.name)),
        }
    } else {
        def
    };
    if op.is_ordering() && matches!(def.ty, AttrType::Boolean | AttrType::Binary) {
        return invalid(format!("'{op}' is not defined for {} attributes", def.ty.as_str()));
    }
    if op.is_substring() && !matches!(def.ty, AttrType::String | AttrType::Reference) {
        return invalid(format!("'{op}' is only defined for strings, and {} is {}", def.name, def.ty.as_str()));
    }
    Ok(())
}

/// See [`super::fuzz_one`].
pub(super) fn fuzz_one(data: &[u8]) {
    use super::sort_key;

    let (rt, user) = sample();
    let input = String::from_utf8_lossy(data);
    if let Ok(p) = AttrPath::parse(&input) {
        assert_eq!(AttrPath::parse(&p.to_string()).as_ref(), Ok(&p), "attribute path display round-trips");
        let canonical = p.canonical(rt);
        assert_eq!(AttrPath::parse(&canonical.to_string()).as_ref(), Ok(&canonical), "canonical path is valid");
        let _ = sort_key(user, rt, &p);
    }
    let Ok(filter) = Filter::parse(&input) else { return };
    let printed = filter.to_string();
    match Filter::parse(&printed) {
        Ok(again) => assert_eq!(again, filter, "filter display round-trips: {printed}"),
        // Printing may add quotes (unquoted values) and parentheses (the Entra
        // `emails[..].value eq ..` form), so only the bounds may reject the printed form.
        Err(e) => assert!(
            e.detail.contains("nested deeper") || e.detail.contains("longer than"),
            "printed filter {printed:?} does not parse: {e}"
        ),
    }
    let _ = filter.validate(rt);
    let matched = filter.matches(user, rt);
    assert_eq!(Filter::Not(Box::new(filter.clone())).matches(user, rt), !matched);
    let _ = filter.index_lookup(rt);
    if let Some(emails) = rt.core.attribute("emails") {
        for element in user.get("emails").and_then(Value::as_array).into_iter().flatten() {
            let _ = filter.matches_element(element, emails);
        }
    }
}

/// The fixed user the fuzz target evaluates filters against.
fn sample() -> &'static (ResourceType, Value) {
    use crate::scim::schema::AppSchemas;
    static SAMPLE: std::sync::OnceLock<(ResourceType, Value)> = std::sync::OnceLock::new();
    SAMPLE.get_or_init(|| (AppSchemas::new(&[]).user, super::sample::user()))
}
