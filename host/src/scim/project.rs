//! Attribute projection (RFC 7644 §3.4.2.5, RFC 7643 §7 `returned`): which parts of a stored
//! resource a response carries.
//!
//! Stored resources are canonical (see [`crate::scim::normalize`]); this module only removes
//! parts of them. The rules, in order:
//! - `returned: never` attributes (`password`) are always dropped, at any depth;
//! - `returned: always` attributes (`id`) and `schemas` are always kept;
//! - with `attributes`, only the listed attributes (or sub-attributes, such as `emails.value`)
//!   are kept; naming a schema URN alone keeps that whole extension (or all core attributes);
//! - an entry with a value filter (`emails[type eq "work"]`, `emails[type eq "work"].value`)
//!   keeps only the values of a multi-valued attribute that match it; in
//!   `excludedAttributes` it removes only those (RFC 7644 §3.10 allows value paths in
//!   attribute lists; clients send them);
//! - with `excludedAttributes`, everything but the listed ones is kept (Entra asks for groups
//!   with `excludedAttributes=members`);
//! - `returned: request` attributes appear only when named in `attributes`.
//!
//! Both parameters may be given together: `attributes` selects, then `excludedAttributes`
//! removes from the selection. RFC 7644 does not forbid the combination and this reading
//! never returns more than either parameter alone would.
//!
//! Unknown names (attributes no schema defines and the resource does not hold) select
//! nothing and are not errors: IdPs ask for attributes of their own. An extension object
//! that ends up empty is dropped, and `schemas` lists an extension only while its object is
//! present.

use serde_json::{Map, Value};

use super::error::{ScimError, ScimResult};
use super::filter::Filter;
use super::path::{self, AttrPath};
use super::schema::{canonical_urn, common_attributes, AttrType, AttributeDef, ResourceType, Returned};

/// Most entries in one `attributes` or `excludedAttributes` list: far more than a resource
/// has attributes, small enough that matching stays cheap.
const MAX_ENTRIES: usize = 256;

/// The parsed `attributes` and `excludedAttributes` parameters of a GET or search.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projection {
    attributes: Vec<Entry>,
    excluded: Vec<Entry>,
}

/// One entry of an `attributes` or `excludedAttributes` list.
#[derive(Debug, Clone, PartialEq)]
enum Entry {
    /// `attr[.sub]`, or with a value filter `attr[filter][.sub]`.
    Path(AttrPath, Option<Filter>),
    /// An IdP alias of a schema URN (`urn:scim:schemas:extension:enterprise:1.0`), which
    /// cannot be read as an attribute path because of the dot in its last segment.
    Schema(String),
}

/// One list entry resolved against a resource type: where it points in a stored resource.
#[derive(Debug)]
struct Selector<'e> {
    /// `None` for top-level (core and common) attributes; the extension URN otherwise.
    container: Option<String>,
    /// `None` when the entry names the whole container (a schema URN alone).
    name: Option<String>,
    sub: Option<String>,
    /// Only the values of a multi-valued attribute that match (`emails[type eq "work"]`).
    filter: Option<&'e Filter>,
}

/// How much of one attribute a selector list asks for.
#[derive(Debug, PartialEq)]
enum Pick {
    Nothing,
    /// The attribute as a whole (its `returned: request` sub-attributes only if named).
    Whole,
    /// Only these sub-attributes (canonical or client spelling; compared case-insensitively).
    Subs(Vec<String>),
}

impl Projection {
    /// Parses the `attributes` and `excludedAttributes` query (or SearchRequest) parameters:
    /// comma-separated attribute paths, URN-qualified allowed, whitespace around entries and
    /// empty entries ignored. `None` and `""` both mean "not given".
    ///
    /// # Errors
    ///
    /// 400 `invalidValue` when an entry is not an attribute path or a value path (for
    /// example `a.b.c`, or `emails[type eq]`), or a list has more than 256 entries. RFC 7644
    /// Table 9 lists `invalidValue` for GET and query requests; `invalidPath` is reserved to
    /// PATCH. Unknown attribute names are not errors.
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> ScimResult<Projection> {
        Ok(Projection {
            attributes: parse_list(attributes, "attributes")?,
            excluded: parse_list(excluded, "excludedAttributes")?,
        })
    }

    /// True when neither parameter was given: the stored representation is sent as it is
    /// (stored resources never hold `returned: never` attributes), so the caller may serve
    /// pre-rendered bytes.
    pub fn is_identity(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }

    /// The resource as it should be sent. A value that is not a JSON object is returned
    /// unchanged.
    pub fn apply(&self, resource: &Value, rt: &ResourceType) -> Value {
        let Value::Object(res) = resource else {
            return resource.clone();
        };
        let wanted: Vec<Selector> = self.attributes.iter().map(|p| resolve(p, rt, res)).collect();
        let unwanted: Vec<Selector> = self.excluded.iter().map(|p| resolve(p, rt, res)).collect();
        let lists = Lists { wanted: &wanted, unwanted: &unwanted, select: !self.attributes.is_empty() };

        let mut out = Map::new();
        for (key, value) in res {
            if key == "schemas" {
                out.insert(key.clone(), value.clone());
                continue;
            }
            match value {
                Value::Object(inner) if path::has_urn_prefix(key) => {
                    let schema = rt.schema(key);
                    let mut kept = Map::new();
                    for (name, v) in inner {
                        let def = schema.and_then(|s| s.attribute(name));
                        if let Some(v) = lists.project(Some(key), name, v, def) {
                            kept.insert(name.clone(), v);
                        }
                    }
                    if !kept.is_empty() {
                        out.insert(key.clone(), Value::Object(kept));
                    }
                }
                _ => {
                    let def = rt
                        .core
                        .attribute(key)
                        .or_else(|| common_attributes().iter().find(|a| a.name.eq_ignore_ascii_case(key)));
                    if let Some(v) = lists.project(None, key, value, def) {
                        out.insert(key.clone(), v);
                    }
                }
            }
        }
        consistent_schemas(&mut out, rt);
        Value::Object(out)
    }
}

fn parse_list(list: Option<&str>, param: &str) -> ScimResult<Vec<Entry>> {
    let entries: Vec<&str> = split_entries(list.unwrap_or_default()).filter(|e| !e.is_empty()).collect();
    if entries.len() > MAX_ENTRIES {
        return Err(ScimError::invalid_value(format!("{param} lists more than {MAX_ENTRIES} attributes")));
    }
    entries
        .into_iter()
        .map(|e| match parse_entry(e) {
            Ok(entry) => Ok(entry),
            Err(_) if canonical_urn(e) != e => Ok(Entry::Schema(canonical_urn(e).to_owned())),
            Err(err) => Err(ScimError::invalid_value(format!("{param}: {}", err.detail))),
        })
        .collect()
}

/// The comma-separated entries of a list, trimmed; a comma inside a value filter's brackets
/// (`emails[value co ","]`) does not separate.
fn split_entries(list: &str) -> impl Iterator<Item = &str> {
    let mut depth = 0u32;
    let mut in_string = false;
    let mut escaped = false;
    list.split(move |c: char| {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' if depth > 0 => in_string = !in_string,
            '[' if !in_string => depth += 1,
            ']' if !in_string => depth = depth.saturating_sub(1),
            ',' => return depth == 0,
            _ => {}
        }
        false
    })
    .map(str::trim)
}

/// `attr[.sub]` or `attr[filter][.sub]` (the sub-attribute after the `]`).
fn parse_entry(e: &str) -> ScimResult<Entry> {
    let Some(parts) = path::split_value_path(e) else {
        return AttrPath::parse(e).map(|p| Entry::Path(p, None));
    };
    let invalid = |why: &str| ScimError::invalid_path(format!("invalid value path {e:?}: {why}"));
    let (attr, filter, rest) = parts.map_err(invalid)?;
    let mut path = AttrPath::parse(attr)?;
    if path.sub.is_some() {
        return Err(invalid("a value filter applies to an attribute, not a sub-attribute"));
    }
    if !rest.is_empty() {
        let sub = rest.strip_prefix('.').ok_or_else(|| invalid("only '.subAttribute' may follow ']'"))?;
        if !path::is_valid_name(sub) {
            return Err(invalid("invalid sub-attribute name after ']'"));
        }
        path.sub = Some(sub.to_owned());
    }
    let filter = Filter::parse_value_filter(filter).map_err(|err| invalid(&err.detail))?;
    Ok(Entry::Path(path, Some(filter)))
}

/// Resolves a list entry against the resource type, and against the resource itself for
/// undeclared extension objects (stored verbatim under their URN).
fn resolve<'e>(entry: &'e Entry, rt: &ResourceType, res: &Map<String, Value>) -> Selector<'e> {
    let whole = |container: Option<String>| Selector { container, name: None, sub: None, filter: None };
    let (p, filter) = match entry {
        Entry::Path(p, filter) => (p, filter.as_ref()),
        Entry::Schema(urn) if same_urn(urn, &rt.core.id) => return whole(None),
        Entry::Schema(urn) => return whole(Some(urn.clone())),
    };
    if let (Some(urn), None) = (p.as_schema_urn(rt), &filter) {
        let container = (urn != rt.core.id).then(|| urn.to_owned());
        return whole(container);
    }
    if let (Some(urn), None, None) = (&p.urn, &p.sub, &filter) {
        let full = format!("{urn}:{}", p.name);
        if let Some(key) = res.keys().find(|k| same_urn(k, &full)) {
            return whole(Some(key.clone()));
        }
    }
    if let Some(r) = path::resolve(rt, p.urn.as_deref(), &p.name) {
        let sub = p.sub.as_deref().map(|s| r.attr.sub_attribute(s).map_or(s, |d| d.name.as_str()).to_owned());
        return Selector { container: r.extension.map(str::to_owned), name: Some(r.attr.name.clone()), sub, filter };
    }
    let container = match p.urn.as_deref() {
        Some(u) if rt.schema(u).is_some_and(|s| s.id == rt.core.id) => None,
        Some(u) => Some(canonical_urn(u).to_owned()),
        None => None,
    };
    Selector { container, name: Some(p.name.clone()), sub: p.sub.clone(), filter }
}

fn same_urn(a: &str, b: &str) -> bool {
    canonical_urn(a).eq_ignore_ascii_case(canonical_urn(b))
}

fn same_container(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => same_urn(a, b),
        _ => false,
    }
}

/// What the selector list `sels` asks for of attribute `name` in `container`; of one of its
/// values (`element`) when the attribute is multi-valued and some selector has a value
/// filter. A selector with a value filter asks for nothing but matching elements.
fn pick(sels: &[Selector<'_>], container: Option<&str>, name: &str, element: Option<(&Value, &AttributeDef)>) -> Pick {
    let mut subs = Vec::new();
    let applies = |s: &&Selector<'_>| match (s.filter, element) {
        (None, _) => true,
        (Some(f), Some((value, def))) => f.matches_element(value, def),
        (Some(_), None) => false,
    };
    for s in sels.iter().filter(|s| same_container(s.container.as_deref(), container)).filter(applies) {
        match (&s.name, &s.sub) {
            (None, _) => return Pick::Whole,
            (Some(n), None) if n.eq_ignore_ascii_case(name) => return Pick::Whole,
            (Some(n), Some(sub)) if n.eq_ignore_ascii_case(name) => subs.push(sub.clone()),
            _ => {}
        }
    }
    if subs.is_empty() {
        Pick::Nothing
    } else {
        Pick::Subs(subs)
    }
}

/// Whether some selector of `sels` filters the values of attribute `name`.
fn filters_values(sels: &[Selector<'_>], container: Option<&str>, name: &str) -> bool {
    sels.iter().any(|s| {
        s.filter.is_some()
            && same_container(s.container.as_deref(), container)
            && s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name))
    })
}

/// Whether `sels` names attribute `name` itself (not through a whole-container entry).
fn names_explicitly(sels: &[Selector<'_>], container: Option<&str>, name: &str) -> bool {
    sels.iter().any(|s| {
        same_container(s.container.as_deref(), container)
            && s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name))
    })
}

struct Lists<'a> {
    wanted: &'a [Selector<'a>],
    unwanted: &'a [Selector<'a>],
    /// Whether `attributes` was given (an empty `wanted` then still means "only `always`").
    select: bool,
}

impl Lists<'_> {
    /// The projected value of one attribute, or `None` to leave it out.
    fn project(&self, container: Option<&str>, name: &str, value: &Value, def: Option<&AttributeDef>) -> Option<Value> {
        let returned = def.map_or(Returned::Default, |d| d.returned);
        match returned {
            Returned::Never => return None,
            Returned::Always => return Some(strip_subs(value, def, None, &[], &[])),
            Returned::Default | Returned::Request => {}
        }
        let Value::Array(items) = value else {
            return self.project_value(container, name, value, def, None);
        };
        if !filters_values(self.wanted, container, name) && !filters_values(self.unwanted, container, name) {
            return self.project_value(container, name, value, def, None);
        }
        // Value filters: each value is projected on its own, by the entries that select it.
        let undeclared;
        let element_def = match def {
            Some(d) => d,
            None => {
                undeclared = AttributeDef::new(name, AttrType::Complex);
                &undeclared
            }
        };
        let kept: Vec<Value> = items
            .iter()
            .filter_map(|item| self.project_value(container, name, item, def, Some((item, element_def))))
            .collect();
        (!kept.is_empty()).then_some(Value::Array(kept))
    }

    /// [`Lists::project`] of a whole value, or of one `element` of a multi-valued one.
    fn project_value(
        &self,
        container: Option<&str>,
        name: &str,
        value: &Value,
        def: Option<&AttributeDef>,
        element: Option<(&Value, &AttributeDef)>,
    ) -> Option<Value> {
        let returned = def.map_or(Returned::Default, |d| d.returned);
        let keep = if self.select {
            match pick(self.wanted, container, name, element) {
                Pick::Nothing => return None,
                Pick::Whole if returned == Returned::Request && !names_explicitly(self.wanted, container, name) => {
                    return None
                }
                Pick::Whole => None,
                Pick::Subs(subs) => Some(subs),
            }
        } else if returned == Returned::Request {
            return None;
        } else {
            None
        };
        let drop = match pick(self.unwanted, container, name, element) {
            Pick::Whole => return None,
            Pick::Subs(subs) => subs,
            Pick::Nothing => Vec::new(),
        };
        let requested: &[String] = keep.as_deref().unwrap_or_default();
        let projected = strip_subs(value, def, keep.as_deref(), &drop, requested);
        let emptied = match &projected {
            Value::Object(m) => m.is_empty() && !value.as_object().is_some_and(Map::is_empty),
            Value::Array(a) => a.is_empty() && !value.as_array().is_some_and(Vec::is_empty),
            Value::Null => true,
            _ => false,
        };
        (!emptied).then_some(projected)
    }
}

/// Applies sub-attribute selection to a complex value (an object, or an array of objects):
/// keeps only `keep` (all when `None`), removes `drop`, always removes `returned: never`
/// sub-attributes and keeps `returned: always` ones, and keeps `returned: request` ones only
/// when in `requested`. Elements left empty are removed; a scalar asked for by sub-attribute
/// becomes `Null` (absent).
fn strip_subs(
    value: &Value,
    def: Option<&AttributeDef>,
    keep: Option<&[String]>,
    drop: &[String],
    requested: &[String],
) -> Value {
    let has = |list: &[String], k: &str| list.iter().any(|s| s.eq_ignore_ascii_case(k));
    let filter_object = |m: &Map<String, Value>| -> Map<String, Value> {
        m.iter()
            .filter(|(k, _)| {
                let returned = def.and_then(|d| d.sub_attribute(k)).map_or(Returned::Default, |s| s.returned);
                match returned {
                    Returned::Never => false,
                    Returned::Always => true,
                    Returned::Request if !has(requested, k) => false,
                    Returned::Default | Returned::Request => keep.is_none_or(|keep| has(keep, k)) && !has(drop, k),
                }
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    match value {
        Value::Object(m) => Value::Object(filter_object(m)),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter_map(|item| match item {
                    Value::Object(m) => {
                        let kept = filter_object(m);
                        (!kept.is_empty() || m.is_empty()).then_some(Value::Object(kept))
                    }
                    other => keep.is_none().then(|| other.clone()),
                })
                .collect(),
        ),
        _ if keep.is_some() => Value::Null,
        other => other.clone(),
    }
}

/// `schemas` keeps the core URN, and any other URN only while the resource holds that
/// URN's object.
fn consistent_schemas(out: &mut Map<String, Value>, rt: &ResourceType) {
    let present: Vec<String> = out.keys().filter(|k| path::has_urn_prefix(k)).cloned().collect();
    if let Some(Value::Array(list)) = out.get_mut("schemas") {
        list.retain(|u| match u.as_str() {
            Some(u) => same_urn(u, &rt.core.id) || present.iter().any(|k| same_urn(k, u)),
            None => false,
        });
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::schema::{
        AppSchemas, AttrType, CustomExtension, ResourceKind, CORE_GROUP, CORE_USER, ENTERPRISE_USER,
    };

    const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";
    const OTHER: &str = "urn:example:other:2.0:User";

    fn schemas() -> AppSchemas {
        let mut secret = AttributeDef::new("badgeSecret", AttrType::String);
        secret.returned = Returned::Request;
        let ext = CustomExtension::new(
            ResourceKind::User,
            ACME,
            "Acme",
            vec![AttributeDef::new("badge", AttrType::Integer), secret],
        );
        AppSchemas::new(&[ext])
    }

    fn user() -> Value {
        json!({
            "schemas": [CORE_USER, ENTERPRISE_USER, ACME, OTHER],
            "id": "u1",
            "externalId": "ext-1",
            "userName": "jane",
            "name": {"givenName": "Jane", "familyName": "Doe"},
            "emails": [{"value": "j@x", "type": "work", "primary": true}, {"value": "j@home", "type": "home"}],
            "active": true,
            "password": "leaked?",
            "costCentre": "42",
            ENTERPRISE_USER: {"department": "Ops", "employeeNumber": "7"},
            ACME: {"badge": 3, "badgeSecret": "s"},
            OTHER: {"shoe": 44},
            "meta": {"resourceType": "User", "lastModified": "2024-01-01T00:00:00Z"}
        })
    }

    fn group() -> Value {
        json!({
            "schemas": [CORE_GROUP],
            "id": "g1",
            "displayName": "Admins",
            "members": [{"value": "u1"}, {"value": "u2"}],
            "meta": {"resourceType": "Group"}
        })
    }

    /// Projects `resource` with the two parameters and compares with `expected`.
    fn check(resource: &Value, group: bool, attributes: Option<&str>, excluded: Option<&str>, expected: Value) {
        let s = schemas();
        let rt = if group { &s.group } else { &s.user };
        let p = Projection::parse(attributes, excluded).unwrap();
        assert_eq!(p.apply(resource, rt), expected, "attributes={attributes:?} excluded={excluded:?}");
    }

    #[test]
    fn identity_drops_never_and_request() {
        let p = Projection::parse(None, Some(" , ")).unwrap();
        assert!(p.is_identity());
        let mut expected = user();
        let m = expected.as_object_mut().unwrap();
        m.remove("password");
        m[ACME].as_object_mut().unwrap().remove("badgeSecret");
        check(&user(), false, None, None, expected);
    }

    #[test]
    fn attributes_selects() {
        let u = user();
        check(&u, false, Some("userName"), None, json!({"schemas": [CORE_USER], "id": "u1", "userName": "jane"}));
        check(
            &u,
            false,
            Some("USERNAME, name.givenName,emails.value"),
            None,
            json!({"schemas": [CORE_USER], "id": "u1", "userName": "jane", "name": {"givenName": "Jane"},
                   "emails": [{"value": "j@x"}, {"value": "j@home"}]}),
        );
        // Extension attribute by URN-qualified name, and by bare name.
        for attrs in [&format!("{ENTERPRISE_USER}:department") as &str, "department"] {
            check(
                &u,
                false,
                Some(attrs),
                None,
                json!({"schemas": [CORE_USER, ENTERPRISE_USER], "id": "u1", ENTERPRISE_USER: {"department": "Ops"}}),
            );
        }
        // A schema URN alone: the whole extension (request-only attributes still need naming).
        check(
            &u,
            false,
            Some(&format!("{ENTERPRISE_USER},{ACME}")),
            None,
            json!({"schemas": [CORE_USER, ENTERPRISE_USER, ACME], "id": "u1",
                   ENTERPRISE_USER: {"department": "Ops", "employeeNumber": "7"}, ACME: {"badge": 3}}),
        );
        check(
            &u,
            false,
            Some(&format!("{ACME}:badgeSecret")),
            None,
            json!({"schemas": [CORE_USER, ACME], "id": "u1", ACME: {"badgeSecret": "s"}}),
        );
        // Aliased URN, undeclared extension, unknown attribute, password (never).
        check(
            &u,
            false,
            Some("urn:scim:schemas:extension:enterprise:1.0:employeeNumber,urn:example:other:2.0:User,costCentre,password,nonsense"),
            None,
            json!({"schemas": [CORE_USER, ENTERPRISE_USER, OTHER], "id": "u1", "costCentre": "42",
                   ENTERPRISE_USER: {"employeeNumber": "7"}, OTHER: {"shoe": 44}}),
        );
        // An aliased URN alone (its last segment `1.0` is no attribute name).
        check(
            &u,
            false,
            Some("urn:scim:schemas:extension:enterprise:1.0"),
            None,
            json!({"schemas": [CORE_USER, ENTERPRISE_USER], "id": "u1",
                   ENTERPRISE_USER: {"department": "Ops", "employeeNumber": "7"}}),
        );
        // Core URN alone: every default core attribute, no extension.
        let core_only = Projection::parse(Some(CORE_USER), None).unwrap().apply(&u, &schemas().user);
        assert_eq!(core_only["userName"], json!("jane"));
        assert!(core_only.get(ENTERPRISE_USER).is_none());
        assert!(core_only.get("password").is_none());
        assert_eq!(core_only["schemas"], json!([CORE_USER]));
        // Sub-attribute of a scalar, and meta sub-attribute.
        check(
            &u,
            false,
            Some("userName.x,meta.lastModified"),
            None,
            json!({"schemas": [CORE_USER], "id": "u1", "meta": {"lastModified": "2024-01-01T00:00:00Z"}}),
        );
        // An element without the requested sub-attribute disappears, then the attribute.
        check(&u, false, Some("emails.display"), None, json!({"schemas": [CORE_USER], "id": "u1"}));
    }

    #[test]
    fn excluded_attributes_removes() {
        check(
            &group(),
            true,
            None,
            Some("members"),
            json!({"schemas": [CORE_GROUP], "id": "g1", "displayName": "Admins", "meta": {"resourceType": "Group"}}),
        );
        let out =
            Projection::parse(None, Some(&format!("id,emails.type,{ENTERPRISE_USER},{OTHER},meta,Name.givenname")))
                .unwrap()
                .apply(&user(), &schemas().user);
        assert_eq!(out["id"], json!("u1"), "always is never excluded");
        assert_eq!(out["emails"], json!([{"value": "j@x", "primary": true}, {"value": "j@home"}]));
        assert_eq!(out["name"], json!({"familyName": "Doe"}));
        assert!(out.get(ENTERPRISE_USER).is_none() && out.get(OTHER).is_none() && out.get("meta").is_none());
        assert_eq!(out["schemas"], json!([CORE_USER, ACME]));
    }

    #[test]
    fn both_parameters_select_then_exclude() {
        check(
            &user(),
            false,
            Some("userName,name"),
            Some("name.familyName"),
            json!({"schemas": [CORE_USER], "id": "u1", "userName": "jane", "name": {"givenName": "Jane"}}),
        );
    }

    #[test]
    fn malformed_entries_are_invalid_value() {
        for (attrs, excl) in [
            (Some(r#"emails[type eq]"#), None),
            (Some(r#"emails[type eq "work""#), None),
            (Some(r#"emails[type eq "work"]value"#), None),
            (Some(r#"emails.value[type eq "work"]"#), None),
            (None, Some(r#"emails[type[value eq "x"]]"#)),
            (Some("a.b.c"), None),
            (None, Some("1abc")),
            (Some("urn:"), None),
        ] {
            let err = Projection::parse(attrs, excl).unwrap_err();
            assert_eq!((err.status, err.scim_type), (400, Some(ScimType::InvalidValue)), "{attrs:?} {excl:?}");
        }
        let many = vec!["a"; MAX_ENTRIES + 1].join(",");
        assert_eq!(Projection::parse(Some(&many), None).unwrap_err().scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn value_filters_select_values() {
        let u = user();
        let work = json!({"value": "j@x", "type": "work", "primary": true});
        let home = json!({"value": "j@home", "type": "home"});
        let only = |emails: Value| json!({"schemas": [CORE_USER], "id": "u1", "emails": emails});
        check(&u, false, Some(r#"emails[type eq "work"]"#), None, only(json!([work])));
        check(&u, false, Some(r#"EMAILS[TYPE EQ "Work"]"#), None, only(json!([work])));
        check(&u, false, Some(r#"emails[type eq "work"].value"#), None, only(json!([{"value": "j@x"}])));
        check(&u, false, Some(r#"emails[primary eq true or type eq "home"]"#), None, only(json!([work, home])));
        // A comma inside the brackets is the filter's, not the list's.
        check(&u, false, Some(r#"emails[value co "," or type eq "home"].type"#), None, only(json!([{"type": "home"}])));
        // Nothing matches: the attribute is left out.
        check(&u, false, Some(r#"emails[type eq "other"]"#), None, json!({"schemas": [CORE_USER], "id": "u1"}));
        // An unfiltered entry for the same attribute selects every value.
        check(&u, false, Some(r#"emails[type eq "work"],emails"#), None, only(json!([work, home])));
        check(
            &u,
            false,
            Some(r#"userName,emails[type eq "home"]"#),
            None,
            json!({"schemas": [CORE_USER], "id": "u1", "userName": "jane", "emails": [home]}),
        );
        // In excludedAttributes, only the matching values go.
        let mut expected = user();
        let m = expected.as_object_mut().unwrap();
        m.remove("password");
        m[ACME].as_object_mut().unwrap().remove("badgeSecret");
        m["emails"] = json!([home]);
        check(&u, false, None, Some(r#"emails[type eq "work"]"#), expected);
        // Groups: one member by id.
        check(
            &group(),
            true,
            Some(r#"members[value eq "u2"]"#),
            None,
            json!({"schemas": [CORE_GROUP], "id": "g1", "members": [{"value": "u2"}]}),
        );
    }

    #[test]
    fn non_objects_pass_through() {
        let p = Projection::parse(Some("userName"), None).unwrap();
        assert_eq!(p.apply(&json!([1]), &schemas().user), json!([1]));
    }
}
