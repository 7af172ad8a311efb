//! Turns what an identity provider sent into a canonical SCIM resource, and rejects what
//! cannot be made one.
//!
//! This is where the quirks of `shared/reference/idp-traffic.md` §5 are absorbed, so that
//! nothing downstream sees them:
//! - OneLogin's SCIM 1.1 and non-RFC 2.0 URNs are aliased to RFC 7643 URNs;
//! - `emails` (or any multi-valued attribute) sent as one object is wrapped in an array;
//! - string booleans (`"True"`, `"false"`) become booleans;
//! - explicit `null`s are absent values, and a client-sent `id`, `meta` or (users) `groups`
//!   is ignored; `password` is accepted and dropped (never stored, never returned);
//! - `manager` as a plain string or as `{managerId}` becomes `{value}`;
//! - attribute names take the schema's spelling; unknown attributes and undeclared
//!   extension objects are kept verbatim for the rules to use.
//!
//! The canonical form: `schemas` first, core attributes top-level, each extension's
//! attributes under its URN key, multi-valued attributes as arrays without nulls.

use serde_json::{Map, Value};

use super::error::{ScimError, ScimResult};
use super::schema::{canonical_urn, AttrType, AttributeDef, ResourceKind, ResourceType};

/// Bounds on what one resource may hold. Bigger values are rejected with 400 `invalidValue`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest string value, in bytes.
    pub max_string: usize,
    /// Longest `userName` / group `displayName`, in characters (Confluence stores 255).
    pub max_name: usize,
    /// Most values in one multi-valued attribute other than `members`.
    pub max_values: usize,
    /// Most members in one group.
    pub max_members: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_string: 8 * 1024, max_name: 255, max_values: 100, max_members: 100_000 }
    }
}

/// Attributes a client may send but that the server owns or never keeps.
const IGNORED_TOP_LEVEL: &[&str] = &["id", "meta", "schemas"];

/// Normalises a POST or PUT body (or a resource after PATCH) into canonical form.
///
/// # Errors
/// 400 `invalidSyntax` when the body is not an object; 400 `invalidValue` for a value of the
/// wrong type, an over-long value, a missing required attribute (`userName`, `displayName`),
/// or a `schemas` entry that names neither this resource type nor an extension present in
/// the body.
pub fn normalize_resource(input: &Value, rt: &ResourceType, limits: &Limits) -> ScimResult<Map<String, Value>> {
    let Value::Object(body) = input else {
        return Err(ScimError::invalid_syntax("the request body must be a JSON object"));
    };
    let mut attrs = Map::new();
    let mut extensions: Vec<(String, Map<String, Value>)> = Vec::new();
    let mut unknown = Map::new();

    for (key, value) in body {
        if value.is_null() || IGNORED_TOP_LEVEL.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            continue;
        }
        if rt.kind == ResourceKind::User && (key.eq_ignore_ascii_case("password") || key.eq_ignore_ascii_case("groups"))
        {
            continue;
        }
        if is_urn(key) {
            if let Some(ext) = rt.extension_urn(key) {
                let ext_schema = rt.schema(ext).ok_or_else(|| ScimError::internal("extension vanished"))?;
                let Value::Object(ext_body) = value else {
                    return Err(ScimError::invalid_value(format!("{key} must be an object")));
                };
                let mut out = Map::new();
                for (k, v) in ext_body {
                    if v.is_null() {
                        continue;
                    }
                    match ext_schema.attribute(k) {
                        Some(def) => put_normalized(&mut out, def, v, limits, &format!("{ext}:{k}"))?,
                        None => {
                            out.insert(k.clone(), v.clone());
                        }
                    }
                }
                merge_extension(&mut extensions, ext, out);
                continue;
            }
            if let Some((ext, attr)) = split_urn_attribute(rt, key) {
                // `urn:…:User:employeeNumber` as a top-level key (Entra's path-less PATCH form).
                let ext_schema = rt.schema(ext).ok_or_else(|| ScimError::internal("extension vanished"))?;
                let mut out = Map::new();
                match ext_schema.attribute(attr) {
                    Some(def) => put_normalized(&mut out, def, value, limits, key)?,
                    None => {
                        out.insert(attr.to_owned(), value.clone());
                    }
                }
                merge_extension(&mut extensions, ext, out);
                continue;
            }
            if rt.schema(key).is_some() {
                // The core schema's URN used as a key: its attributes are top-level.
                if let Value::Object(inner) = value {
                    for (k, v) in inner {
                        put_core(&mut attrs, &mut unknown, rt, k, v, limits)?;
                    }
                    continue;
                }
            }
            // An extension the admin has not declared: keep it verbatim for the rules.
            unknown.insert(canonical_urn(key).to_owned(), value.clone());
            continue;
        }
        put_core(&mut attrs, &mut unknown, rt, key, value, limits)?;
    }

    check_schemas(body.get("schemas").or_else(|| find_ci(body, "schemas")), rt, &extensions, &unknown)?;
    check_required(rt, &attrs, &extensions, limits)?;

    let mut out = Map::new();
    let mut schemas = vec![Value::String(rt.core.id.clone())];
    schemas.extend(extensions.iter().filter(|(_, m)| !m.is_empty()).map(|(urn, _)| Value::String(urn.clone())));
    schemas.extend(unknown.keys().filter(|k| is_urn(k)).map(|k| Value::String(k.clone())));
    out.insert("schemas".into(), Value::Array(schemas));
    if let Some(ext_id) = attrs.shift_remove("externalId") {
        out.insert("externalId".into(), ext_id);
    }
    out.extend(attrs);
    out.extend(unknown);
    for (urn, m) in extensions {
        if !m.is_empty() {
            out.insert(urn, Value::Object(m));
        }
    }
    Ok(out)
}

fn is_urn(key: &str) -> bool {
    key.len() > 4 && key[..4].eq_ignore_ascii_case("urn:")
}

fn find_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

/// `urn:…:User:employeeNumber` → (the extension's canonical URN, `employeeNumber`).
fn split_urn_attribute<'a, 'k>(rt: &'a ResourceType, key: &'k str) -> Option<(&'a str, &'k str)> {
    let (urn, attr) = key.rsplit_once(':')?;
    let ext = rt.extension_urn(urn)?;
    Some((ext, attr))
}

fn merge_extension(extensions: &mut Vec<(String, Map<String, Value>)>, urn: &str, add: Map<String, Value>) {
    match extensions.iter_mut().find(|(u, _)| u == urn) {
        Some((_, m)) => m.extend(add),
        None => extensions.push((urn.to_owned(), add)),
    }
}

fn put_core(
    attrs: &mut Map<String, Value>,
    unknown: &mut Map<String, Value>,
    rt: &ResourceType,
    key: &str,
    value: &Value,
    limits: &Limits,
) -> ScimResult<()> {
    if value.is_null() {
        return Ok(());
    }
    let def = rt
        .core
        .attribute(key)
        .or_else(|| super::schema::common_attributes().iter().find(|a| a.name.eq_ignore_ascii_case(key)));
    match def {
        Some(def) if def.name == "id" || def.name == "meta" => Ok(()),
        Some(def) => put_normalized(attrs, def, value, limits, &def.name),
        None => {
            unknown.insert(key.to_owned(), value.clone());
            Ok(())
        }
    }
}

/// Normalises `value` for `def` and stores it under the canonical name (absent if empty).
fn put_normalized(
    out: &mut Map<String, Value>,
    def: &AttributeDef,
    value: &Value,
    limits: &Limits,
    label: &str,
) -> ScimResult<()> {
    if let Some(v) = normalize_attribute(def, value, limits, label)? {
        out.insert(def.name.clone(), v);
    }
    Ok(())
}

/// Normalises one attribute value; `None` means "absent" (null, or an empty list).
///
/// # Errors
/// 400 `invalidValue` when the value cannot be read as the attribute's type.
pub fn normalize_attribute(
    def: &AttributeDef,
    value: &Value,
    limits: &Limits,
    label: &str,
) -> ScimResult<Option<Value>> {
    if value.is_null() {
        return Ok(None);
    }
    if !def.multi_valued {
        return normalize_single(def, value, limits, label);
    }
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let max = if def.name == "members" { limits.max_members } else { limits.max_values };
    if items.len() > max {
        return Err(ScimError::invalid_value(format!("{label} has more than {max} values")));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if item.is_null() {
            continue;
        }
        let item = if def.ty == AttrType::Complex && !item.is_object() {
            // A bare value for a multi-valued complex attribute: `"emails": "a@b"`.
            let mut m = Map::new();
            m.insert("value".into(), item.clone());
            Value::Object(m)
        } else {
            item.clone()
        };
        if let Some(v) = normalize_single(def, &item, limits, label)? {
            out.push(v);
        }
    }
    if def.ty == AttrType::Complex {
        dedupe_by_value(&mut out);
        single_primary(&mut out);
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

fn normalize_single(def: &AttributeDef, value: &Value, limits: &Limits, label: &str) -> ScimResult<Option<Value>> {
    let wrong = |expected: &str| ScimError::invalid_value(format!("{label} must be {expected}"));
    Ok(Some(match def.ty {
        AttrType::Complex => {
            let obj = match value {
                Value::Object(m) => m.clone(),
                // A singular complex attribute sent as a one-element list (Entra's manager).
                Value::Array(items) if items.len() == 1 && !def.multi_valued => {
                    return normalize_single(def, &items[0], limits, label);
                }
                // `"manager": "123456"` (Entra) and other bare values of a complex attribute.
                Value::String(_) | Value::Number(_) if def.sub_attribute("value").is_some() => {
                    let mut m = Map::new();
                    m.insert("value".into(), value.clone());
                    m
                }
                _ => return Err(wrong("an object")),
            };
            let mut out = Map::new();
            for (k, v) in &obj {
                if v.is_null() {
                    continue;
                }
                // OneLogin's SCIM 1.1 enterprise template: `"manager": {"managerId": …}`.
                let k = if def.name == "manager" && k.eq_ignore_ascii_case("managerId") { "value" } else { k.as_str() };
                match def.sub_attribute(k) {
                    Some(sub) => {
                        if let Some(v) = normalize_single(sub, v, limits, &format!("{label}.{}", sub.name))? {
                            out.insert(sub.name.clone(), v);
                        }
                    }
                    None => {
                        out.insert(k.to_owned(), v.clone());
                    }
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            Value::Object(out)
        }
        AttrType::Boolean => match value {
            Value::Bool(b) => Value::Bool(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => return Err(wrong("a boolean")),
        },
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => value.clone(),
            Value::String(s) => s.trim().parse::<i64>().map(Value::from).map_err(|_| wrong("an integer"))?,
            _ => return Err(wrong("an integer")),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => value.clone(),
            Value::String(s) => {
                let f = s.trim().parse::<f64>().map_err(|_| wrong("a decimal"))?;
                serde_json::Number::from_f64(f).map(Value::Number).ok_or_else(|| wrong("a finite decimal"))?
            }
            _ => return Err(wrong("a decimal")),
        },
        AttrType::DateTime => {
            let Value::String(s) = value else { return Err(wrong("a dateTime string")) };
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| wrong("an RFC 3339 dateTime"))?;
            value.clone()
        }
        AttrType::String | AttrType::Reference | AttrType::Binary => {
            let s = match value {
                Value::String(s) => s.clone(),
                // Templates render numbers unquoted (`"employeeNumber": 1042`); a number is
                // unambiguous as a string, so accept it.
                Value::Number(n) => n.to_string(),
                _ => return Err(wrong("a string")),
            };
            if s.len() > limits.max_string {
                return Err(ScimError::invalid_value(format!("{label} is longer than {} bytes", limits.max_string)));
            }
            if def.ty == AttrType::Binary && !is_base64(&s) {
                return Err(wrong("base64"));
            }
            Value::String(s)
        }
    }))
}

fn is_base64(s: &str) -> bool {
    use base64::Engine;
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()).is_ok()
}

/// Drops later duplicates of a complex multi-valued attribute, keyed on `value` (and
/// `type` when present), so that `members` lists each member once.
fn dedupe_by_value(items: &mut Vec<Value>) {
    let mut seen = std::collections::HashSet::new();
    items.retain(|item| {
        let Some(v) = item.get("value") else { return true };
        let key = (v.to_string(), item.get("type").map(Value::to_string));
        seen.insert(key)
    });
}

/// RFC 7643 §2.4: `primary: true` for at most one value; the first one wins.
fn single_primary(items: &mut [Value]) {
    let mut found = false;
    for item in items.iter_mut() {
        if let Some(Value::Bool(p)) = item.get_mut("primary") {
            if *p && found {
                *p = false;
            }
            found |= *p;
        }
    }
}

/// Marker schemas identity providers put in `schemas` without any attribute behind them
/// (Entra tags groups and users with Microsoft's ADSCIM URIs).
const IDP_MARKER_SCHEMAS: &[&str] = &[
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group",
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/User",
];

fn check_schemas(
    schemas: Option<&Value>,
    rt: &ResourceType,
    extensions: &[(String, Map<String, Value>)],
    unknown: &Map<String, Value>,
) -> ScimResult<()> {
    let list: Vec<&Value> = match schemas {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(v @ Value::String(_)) => vec![v],
        Some(_) => return Err(ScimError::invalid_value("schemas must be an array of URNs")),
    };
    for item in list {
        let Value::String(urn) = item else {
            return Err(ScimError::invalid_value("schemas must be an array of URNs"));
        };
        let canonical = canonical_urn(urn);
        let known = rt.schema(canonical).is_some()
            || extensions.iter().any(|(u, _)| u.eq_ignore_ascii_case(canonical))
            || unknown.keys().any(|k| k.eq_ignore_ascii_case(canonical));
        // Some IdPs tag resources with a marker schema of their own, with no attributes
        // behind it; those are ignored. Any other schema this type does not have is refused.
        let marker = IDP_MARKER_SCHEMAS.iter().any(|m| m.eq_ignore_ascii_case(canonical));
        if !known && !marker {
            return Err(ScimError::invalid_value(format!(
                "schema {urn} is not a schema of the {} resource type",
                rt.kind.as_str()
            )));
        }
    }
    Ok(())
}

fn check_required(
    rt: &ResourceType,
    attrs: &Map<String, Value>,
    extensions: &[(String, Map<String, Value>)],
    limits: &Limits,
) -> ScimResult<()> {
    let name_attr = match rt.kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    };
    match attrs.get(name_attr) {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            if s.chars().count() > limits.max_name {
                return Err(ScimError::invalid_value(format!(
                    "{name_attr} is longer than {} characters",
                    limits.max_name
                )));
            }
            if s.chars().any(char::is_control) {
                return Err(ScimError::invalid_value(format!("{name_attr} must not contain control characters")));
            }
        }
        _ => return Err(ScimError::invalid_value(format!("{name_attr} is required and must not be blank"))),
    }
    for (schema, _) in rt.extensions.iter().filter(|(_, required)| *required) {
        if !extensions.iter().any(|(u, m)| u == &schema.id && !m.is_empty()) {
            return Err(ScimError::invalid_value(format!("extension {} is required", schema.id)));
        }
    }
    for (urn, m) in extensions {
        if let Some(schema) = rt.schema(urn) {
            for def in schema.attributes.iter().filter(|a| a.required) {
                if !m.contains_key(&def.name) {
                    return Err(ScimError::invalid_value(format!("{urn}:{} is required", def.name)));
                }
            }
        }
    }
    Ok(())
}

/// The uniqueness key of a resource: its `userName` or group `displayName`, lower-cased
/// (both are compared case-insensitively within an app).
pub fn name_key(kind: ResourceKind, body: &Map<String, Value>) -> Option<String> {
    let attr = match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    };
    body.get(attr).and_then(Value::as_str).map(str::to_lowercase)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::{AppSchemas, CustomExtension, ENTERPRISE_USER};

    fn user(input: Value) -> ScimResult<Value> {
        let ext = CustomExtension::new(
            ResourceKind::User,
            "urn:ietf:params:scim:schemas:extension:acme:2.0:User",
            "Acme",
            vec![AttributeDef::new("badge", AttrType::Integer)],
        );
        let s = AppSchemas::new(&[ext]);
        normalize_resource(&input, &s.user, &Limits::default()).map(Value::Object)
    }

    #[test]
    fn onelogin_v2_template_is_canonicalised() {
        let out = user(json!({
            "schemas": ["urn:scim:schemas:core:2.0", "urn:scim:schemas:extension:enterprise:2.0"],
            "id": null,
            "username": "Onelogin-Test-User01",
            "name": {"familyName": " User 01", "givenName": "AAA Test", "formatted": null},
            "emails": {"value": "a@example.com", "type": "work", "primary": true},
            "active": "true",
            "urn:scim:schemas:extension:enterprise:2.0": {"department": "Ops", "manager": {"managerId": "42"}},
            "password": "hunter2"
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER],
                "userName": "Onelogin-Test-User01",
                "name": {"familyName": " User 01", "givenName": "AAA Test"},
                "emails": [{"value": "a@example.com", "type": "work", "primary": true}],
                "active": true,
                ENTERPRISE_USER: {"department": "Ops", "manager": {"value": "42"}}
            })
        );
    }

    #[test]
    fn scim_11_urns_and_string_booleans() {
        let out = user(json!({
            "schemas": ["urn:scim:schemas:core:1.0", "urn:scim:schemas:extension:enterprise:1.0"],
            "userName": "x", "active": "False",
            "urn:scim:schemas:extension:enterprise:1.0": {"manager": "123456"}
        }))
        .unwrap();
        assert_eq!(out["active"], json!(false));
        assert_eq!(out[ENTERPRISE_USER]["manager"], json!({"value": "123456"}));
    }

    #[test]
    fn unknown_attributes_and_extensions_are_kept() {
        let out = user(json!({
            "userName": "x", "costCentre": "42",
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:other:2.0:User"],
            "urn:ietf:params:scim:schemas:extension:other:2.0:User": {"shoe": 44},
            "urn:ietf:params:scim:schemas:extension:acme:2.0:User": {"badge": "7"}
        }))
        .unwrap();
        assert_eq!(out["costCentre"], json!("42"));
        assert_eq!(out["urn:ietf:params:scim:schemas:extension:other:2.0:User"], json!({"shoe": 44}));
        assert_eq!(out["urn:ietf:params:scim:schemas:extension:acme:2.0:User"], json!({"badge": 7}));
        let schemas = out["schemas"].as_array().unwrap();
        assert_eq!(schemas.len(), 3);
    }

    #[test]
    fn okta_create_body_drops_password_and_groups() {
        let out = user(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "jane@example.com", "password": "x", "groups": [],
            "emails": [{"primary": true, "value": "jane@example.com", "type": "work"}]
        }))
        .unwrap();
        assert!(out.get("password").is_none());
        assert!(out.get("groups").is_none());
    }

    #[test]
    fn vendor_marker_schemas_and_listed_singular_complex_values() {
        let out = user(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/User"],
            "userName": "x",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": [{"value": "m1"}]},
        }))
        .unwrap();
        assert_eq!(out[ENTERPRISE_USER]["manager"], json!({"value": "m1"}));
    }

    #[test]
    fn bad_values_are_rejected_with_invalid_value() {
        let long = "x".repeat(9000);
        for bad in [
            json!({"userName": ""}),
            json!({"name": {"givenName": "x"}}),
            json!({"userName": {"a": 1}}),
            json!({"userName": "x", "active": "maybe"}),
            json!({"userName": "x", "name": "plain"}),
            json!({"userName": "x", "title": long}),
            json!({"userName": "x".repeat(300)}),
            json!({"userName": "x", "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"]}),
            json!({"userName": "x", "schemas": "urn:ietf:params:scim:schemas:extension:nope:2.0:User"}),
            json!({"userName": "x", "schemas": "urn:nope"}),
            json!({"userName": "x", "schemas": [7]}),
            json!({"userName": "x", "x509Certificates": [{"value": "%%%"}]}),
            json!({"userName": "x", "urn:ietf:params:scim:schemas:extension:acme:2.0:User": {"badge": "seven"}}),
            json!({"userName": "a\u{0}b"}),
        ] {
            let err = user(bad.clone()).unwrap_err();
            assert_eq!((err.status, err.scim_type), (400, Some(crate::scim::error::ScimType::InvalidValue)), "{bad}");
        }
        assert_eq!(user(json!([1])).unwrap_err().scim_type, Some(crate::scim::error::ScimType::InvalidSyntax));
    }

    #[test]
    fn multi_valued_cleanup() {
        let out = user(json!({
            "userName": "x",
            "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}, null, {"value": "a", "primary": true}],
            "phoneNumbers": []
        }))
        .unwrap();
        assert_eq!(out["emails"], json!([{"value": "a", "primary": true}, {"value": "b", "primary": false}]));
        assert!(out.get("phoneNumbers").is_none());
    }
}
