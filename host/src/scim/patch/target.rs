//! Where a PATCH path lands in a canonical resource: the attribute definition it resolves to,
//! the object that holds it (the resource, or an extension object under its URN key), and
//! the checks that depend only on the target (mutability, value shapes).

use serde_json::{Map, Value};

use crate::scim::error::{ScimError, ScimResult};
use crate::scim::path::{self, AttrPath};
use crate::scim::schema::{canonical_urn, AttrType, AttributeDef, Mutability, ResourceKind, ResourceType};

/// Top-level keys the server owns: ignored in path-less values, refused as explicit paths.
pub(super) const SERVER_OWNED: &[&str] = &["id", "schemas", "meta"];

/// What a path names.
pub(super) enum Location<'r> {
    /// A whole schema: `None` for the core schema (whose attributes are top-level), otherwise
    /// the key of the extension object.
    Schema(Option<String>),
    Attr(Target<'r>),
}

/// One attribute (optionally one sub-attribute) of a resource.
#[derive(Debug, Clone)]
pub(super) struct Target<'r> {
    /// `None` for top-level attributes; the extension object's key otherwise.
    pub container: Option<String>,
    /// The schema's spelling, or the client's for attributes no schema defines.
    pub name: String,
    pub def: Option<&'r AttributeDef>,
    pub sub: Option<String>,
    pub sub_def: Option<&'r AttributeDef>,
}

impl<'r> Target<'r> {
    /// The same attribute with sub-attribute `sub` (as a filtered path's `.sub`).
    pub fn with_sub(&self, sub: Option<&str>) -> Target<'r> {
        let sub_def = sub.and_then(|s| self.def.and_then(|d| d.sub_attribute(s)));
        Target { sub: sub.map(|s| sub_def.map_or(s, |d| d.name.as_str()).to_owned()), sub_def, ..self.clone() }
    }

    /// How the path reads in error details.
    pub fn label(&self) -> String {
        let mut out = String::new();
        if let Some(c) = &self.container {
            out.push_str(c);
            out.push(':');
        }
        out.push_str(&self.name);
        if let Some(s) = &self.sub {
            out.push('.');
            out.push_str(s);
        }
        out
    }

    /// Is this the top-level attribute `name` (case-insensitive)?
    pub fn is_top_level(&self, name: &str) -> bool {
        self.container.is_none() && self.name.eq_ignore_ascii_case(name)
    }

    /// `password` is accepted from the IdPs that send it (Okta) and never stored.
    pub fn is_discarded(&self, rt: &ResourceType) -> bool {
        rt.kind == ResourceKind::User && self.is_top_level("password")
    }

    /// Server-owned or readOnly: an explicit path here is a `mutability` error, a key of a
    /// path-less value is ignored.
    pub fn is_read_only(&self) -> bool {
        SERVER_OWNED.iter().any(|k| self.is_top_level(k))
            || self.def.is_some_and(|d| d.mutability == Mutability::ReadOnly)
            || self.sub_def.is_some_and(|d| d.mutability == Mutability::ReadOnly)
    }

    /// Multi-valued in the schema; for attributes no schema defines, if currently an array.
    pub fn is_multi(&self, current: Option<&Value>) -> bool {
        self.def.map_or_else(|| current.is_some_and(Value::is_array), |d| d.multi_valued)
    }

    /// The definition filters and shape checks use: the schema's, or a permissive stand-in
    /// for a multi-valued complex attribute no schema defines.
    pub fn element_def(&self) -> AttributeDef {
        self.def.cloned().unwrap_or_else(|| {
            let mut def = AttributeDef::new(&self.name, AttrType::Complex);
            def.multi_valued = true;
            def
        })
    }

    /// Checks that only depend on the path.
    ///
    /// # Errors
    /// 400 `mutability` for server-owned or readOnly targets when `explicit`; 400
    /// `invalidPath` for a sub-attribute of a simple attribute.
    pub fn check_path(&self, explicit: bool) -> ScimResult<()> {
        if explicit && self.is_read_only() {
            return Err(ScimError::mutability(format!("{} is read-only", self.label())));
        }
        if self.sub.is_some() && self.def.is_some_and(|d| d.ty != AttrType::Complex) {
            return Err(ScimError::invalid_path(format!("{} has no sub-attributes", self.name)));
        }
        Ok(())
    }
}

/// Resolves `p` against the resource type (and the resource, for undeclared extension
/// objects that are stored verbatim). `within` is the schema URN a bare name belongs to when
/// it comes from inside an extension object of a path-less value.
pub(super) fn locate<'r>(
    p: &AttrPath,
    within: Option<&str>,
    rt: &'r ResourceType,
    res: &Map<String, Value>,
) -> Location<'r> {
    if let Some(urn) = p.as_schema_urn(rt) {
        return Location::Schema((urn != rt.core.id).then(|| urn.to_owned()));
    }
    let urn = p.urn.as_deref().or(within);
    if let (Some(u), None) = (p.urn.as_deref(), &p.sub) {
        let full = format!("{u}:{}", p.name);
        if let Some(key) = find_container_key(res, &full) {
            return Location::Schema(Some(key));
        }
    }
    if let Some(r) = path::resolve(rt, urn, &p.name) {
        let sub_def = p.sub.as_deref().and_then(|s| r.attr.sub_attribute(s));
        return Location::Attr(Target {
            container: r.extension.map(str::to_owned),
            name: r.attr.name.clone(),
            def: Some(r.attr),
            sub: p.sub.as_deref().map(|s| sub_def.map_or(s, |d| d.name.as_str()).to_owned()),
            sub_def,
        });
    }
    let container = match urn {
        Some(u) if rt.schema(u).is_some_and(|s| s.id == rt.core.id) => None,
        Some(u) => Some(rt.schema(u).map_or_else(|| canonical_urn(u).to_owned(), |s| s.id.clone())),
        None => None,
    };
    Location::Attr(Target { container, name: p.name.clone(), def: None, sub: p.sub.clone(), sub_def: None })
}

fn same_urn(a: &str, b: &str) -> bool {
    canonical_urn(a).eq_ignore_ascii_case(canonical_urn(b))
}

/// The key under which the resource stores the object of schema `urn`, if it has one.
pub(super) fn find_container_key(res: &Map<String, Value>, urn: &str) -> Option<String> {
    res.iter().find(|(k, v)| v.is_object() && path::has_urn_prefix(k) && same_urn(k, urn)).map(|(k, _)| k.clone())
}

/// The key `name` is stored under in `obj` (names are case-insensitive).
pub(super) fn find_key(obj: &Map<String, Value>, name: &str) -> Option<String> {
    if obj.contains_key(name) {
        return Some(name.to_owned());
    }
    obj.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// The object holding a container's attributes, created (and listed in `schemas`) if absent.
pub(super) fn container_mut<'a>(
    res: &'a mut Map<String, Value>,
    container: Option<&str>,
) -> ScimResult<&'a mut Map<String, Value>> {
    let Some(urn) = container else {
        return Ok(res);
    };
    let key = match find_container_key(res, urn) {
        Some(key) => key,
        None => {
            if let Some(Value::Array(schemas)) = res.get_mut("schemas") {
                if !schemas.iter().any(|s| s.as_str().is_some_and(|s| same_urn(s, urn))) {
                    schemas.push(Value::String(urn.to_owned()));
                }
            }
            res.insert(urn.to_owned(), Value::Object(Map::new()));
            urn.to_owned()
        }
    };
    match res.get_mut(&key) {
        Some(Value::Object(m)) => Ok(m),
        _ => Err(ScimError::internal("extension object vanished")),
    }
}

/// The object holding a container's attributes, if the resource has it.
pub(super) fn container_existing<'a>(
    res: &'a mut Map<String, Value>,
    container: Option<&str>,
) -> Option<&'a mut Map<String, Value>> {
    let Some(urn) = container else {
        return Some(res);
    };
    let key = find_container_key(res, urn)?;
    res.get_mut(&key).and_then(Value::as_object_mut)
}

/// Drops an extension object left empty, and its URN from `schemas`, so that `schemas`
/// keeps listing exactly the extensions present.
pub(super) fn tidy(res: &mut Map<String, Value>, container: Option<&str>) {
    let Some(urn) = container else { return };
    let Some(key) = find_container_key(res, urn) else { return };
    if res.get(&key).and_then(Value::as_object).is_some_and(|m| !m.is_empty()) {
        return;
    }
    res.shift_remove(&key);
    if let Some(Value::Array(schemas)) = res.get_mut("schemas") {
        schemas.retain(|s| !s.as_str().is_some_and(|s| same_urn(s, urn)));
    }
}

/// An array slot for a multi-valued attribute: the existing array, an existing single value
/// wrapped in one, or a new empty array.
pub(super) fn array_mut<'a>(obj: &'a mut Map<String, Value>, key: &str) -> ScimResult<&'a mut Vec<Value>> {
    let slot = obj.entry(key.to_owned()).or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        let single = slot.take();
        *slot = Value::Array(if single.is_null() { Vec::new() } else { vec![single] });
    }
    slot.as_array_mut().ok_or_else(|| ScimError::internal("array slot vanished"))
}

/// An object slot for a complex attribute: the existing object, or a new empty one (a
/// non-object value of an attribute no schema defines is replaced).
pub(super) fn object_mut<'a>(obj: &'a mut Map<String, Value>, key: &str) -> ScimResult<&'a mut Map<String, Value>> {
    let slot = obj.entry(key.to_owned()).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().ok_or_else(|| ScimError::internal("object slot vanished"))
}

pub(super) fn is_scalar(v: &Value) -> bool {
    !v.is_object() && !v.is_array()
}

fn wrong_shape(label: &str, expected: &str) -> ScimError {
    ScimError::invalid_value(format!("{label} must be {expected}"))
}

/// A value for a simple attribute or sub-attribute: anything but an object or array. Type
/// coercion (`"False"`) is left to re-normalisation.
pub(super) fn check_scalar(def: Option<&AttributeDef>, value: &Value, label: &str) -> ScimResult<()> {
    match def {
        Some(d) if d.ty != AttrType::Complex && !is_scalar(value) => Err(wrong_shape(label, "a single value")),
        _ => Ok(()),
    }
}

/// A value for a complex attribute (or one element of a multi-valued one): an object, or a
/// bare value when the attribute has a `value` sub-attribute (`"manager": "123456"`).
pub(super) fn complex_value(def: &AttributeDef, value: &Value, label: &str) -> ScimResult<Map<String, Value>> {
    match value {
        // Entra sends a singular complex attribute as a one-element list:
        // `{"op":"Add","path":"manager","value":[{"value":"X"}]}`.
        Value::Array(items) if items.len() == 1 && !def.multi_valued => complex_value(def, &items[0], label),
        Value::Object(m) => {
            for (k, v) in m {
                check_scalar(def.sub_attribute(k), v, &format!("{label}.{k}"))?;
            }
            Ok(m.clone())
        }
        v if is_scalar(v) && !v.is_null() && def.sub_attribute("value").is_some() => {
            let mut m = Map::new();
            m.insert("value".into(), v.clone());
            Ok(m)
        }
        _ => Err(wrong_shape(label, "an object")),
    }
}

/// The elements a value gives a multi-valued attribute: an array's items (nulls dropped) or
/// the value itself, each checked (complex elements as objects, without null sub-attributes).
pub(super) fn elements(def: &AttributeDef, value: &Value, label: &str) -> ScimResult<Vec<Value>> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().filter(|v| !v.is_null()).collect(),
        Value::Null => Vec::new(),
        v => vec![v],
    };
    if def.ty == AttrType::Complex && def.sub_attributes.is_empty() {
        // An attribute no schema defines: elements are kept as sent.
        return Ok(items.into_iter().cloned().collect());
    }
    items
        .into_iter()
        .map(|item| {
            if def.ty == AttrType::Complex {
                let mut m = complex_value(def, item, label)?;
                m.retain(|_, v| !v.is_null());
                Ok(Value::Object(m))
            } else if is_scalar(item) {
                Ok(item.clone())
            } else {
                Err(wrong_shape(label, "a list of single values"))
            }
        })
        .collect()
}

/// RFC 7643 §2.2 `immutable`: a value that is set may not change or be removed.
pub(super) fn guard_immutable(
    def: Option<&AttributeDef>,
    old: Option<&Value>,
    new: Option<&Value>,
    label: &str,
) -> ScimResult<()> {
    let immutable = def.is_some_and(|d| d.mutability == Mutability::Immutable);
    match old {
        Some(old) if immutable && !old.is_null() && Some(old) != new => {
            Err(ScimError::mutability(format!("{label} is immutable once set")))
        }
        _ => Ok(()),
    }
}

/// RFC 7644 §3.5.2.2: removing (or unassigning) a required attribute is a `mutability` error.
pub(super) fn guard_required(def: Option<&AttributeDef>, label: &str) -> ScimResult<()> {
    if def.is_some_and(|d| d.required) {
        return Err(ScimError::mutability(format!("{label} is required and cannot be removed")));
    }
    Ok(())
}
