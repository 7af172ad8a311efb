//! A stored SCIM user, and the groups that list it, as the person the rules module sees.
//!
//! The WIT records name the attributes every IdP sends; everything else (custom extensions,
//! undeclared attributes) goes into `attributes` with its schema URN, rendered as strings,
//! and the whole resource travels as `raw_json` for anything the records do not name.

use serde_json::{Map, Value};

use crate::rules::types::{Attribute, Enterprise, IdpGroup, Name, Person, Source, TypedValue};
use crate::scim::schema::{common_attributes, ResourceType, ENTERPRISE_USER};
use crate::store::StoredResource;

/// Builds the rules' view of a canonical SCIM user.
pub fn person_from_scim(user: &Value, rt: &ResourceType, groups: Vec<IdpGroup>) -> Person {
    person_with_raw_json(user, serde_json::to_string(user).unwrap_or_default(), rt, groups)
}

/// Builds the rules' view of a stored user. Its stored bytes are its compact JSON already,
/// so they travel as `raw_json` as they are instead of being serialised again.
///
/// # Errors
/// The stored bytes are not JSON (they are written by this process, so only if corrupt).
pub fn person_from_stored(
    user: &StoredResource,
    rt: &ResourceType,
    groups: Vec<IdpGroup>,
) -> Result<Person, serde_json::Error> {
    let value: Value = serde_json::from_slice(&user.json)?;
    let raw_json = String::from_utf8_lossy(&user.json).into_owned();
    Ok(person_with_raw_json(&value, raw_json, rt, groups))
}

fn person_with_raw_json(user: &Value, raw_json: String, rt: &ResourceType, groups: Vec<IdpGroup>) -> Person {
    let empty = Map::new();
    let obj = user.as_object().unwrap_or(&empty);
    let text = |key: &str| obj.get(key).and_then(scalar_text);
    let name = name_of(obj);
    let enterprise = obj.get(ENTERPRISE_USER).and_then(Value::as_object).map(|e| {
        let f = |k: &str| e.get(k).and_then(scalar_text);
        let manager = e.get("manager");
        Enterprise {
            employee_number: f("employeeNumber"),
            cost_center: f("costCenter"),
            organization: f("organization"),
            division: f("division"),
            department: f("department"),
            manager_id: manager.and_then(|m| m.get("value")).and_then(scalar_text),
            manager_name: manager.and_then(|m| m.get("displayName")).and_then(scalar_text),
        }
    });

    let mut attributes = Vec::new();
    for (key, value) in obj {
        let known_core = rt.core.attribute(key).is_some() || common_attributes().iter().any(|a| a.name == *key);
        if known_core || key == "schemas" || key == ENTERPRISE_USER {
            continue;
        }
        if key.starts_with("urn:") {
            // An extension object: each of its attributes, with the extension's URN.
            if let Value::Object(ext) = value {
                for (name, v) in ext {
                    attributes.push(Attribute { schema: Some(key.clone()), name: name.clone(), values: texts(v) });
                }
                continue;
            }
        }
        attributes.push(Attribute { schema: None, name: key.clone(), values: texts(value) });
    }

    Person {
        source: Source::Scim,
        id: text("id").unwrap_or_default(),
        external_id: text("externalId"),
        user_name: text("userName").unwrap_or_default(),
        display_name: text("displayName"),
        name,
        nick_name: text("nickName"),
        title: text("title"),
        user_type: text("userType"),
        preferred_language: text("preferredLanguage"),
        locale: text("locale"),
        timezone: text("timezone"),
        // SCIM: absent `active` means active (RFC 7643 leaves the default to the provider,
        // and IdPs omit it on create).
        active: obj.get("active").and_then(Value::as_bool).unwrap_or(true),
        emails: typed_values(obj.get("emails")),
        phone_numbers: typed_values(obj.get("phoneNumbers")),
        enterprise,
        attributes,
        groups,
        raw_json,
    }
}

/// Where a directory app's stored user or group keeps its LDAP entry: `{"dn": …,
/// "attributes": {name: [values…]}}`, binary values already decoded (objectGUID, objectSid)
/// or base64.
pub const LDAP_ENTRY: &str = "urn:usersync:params:ldap:Entry";

/// Builds the rules' view of a directory app's stored user: `source` is LDAP, `id` the
/// entry's DN, `external_id` its stable id, `attributes` every fetched LDAP attribute under
/// its LDAP name, and `raw_json` the LDAP entry. The groups come by DN and name.
///
/// # Errors
/// The stored bytes are not JSON (only if corrupt).
pub fn person_from_directory(user: &StoredResource, groups: Vec<IdpGroup>) -> Result<Person, serde_json::Error> {
    let value: Value = serde_json::from_slice(&user.json)?;
    let empty = Map::new();
    let obj = value.as_object().unwrap_or(&empty);
    let entry = obj.get(LDAP_ENTRY).cloned().unwrap_or(Value::Null);
    let text = |key: &str| obj.get(key).and_then(scalar_text);
    let attributes = entry
        .get("attributes")
        .and_then(Value::as_object)
        .map(|attrs| {
            attrs.iter().map(|(name, v)| Attribute { schema: None, name: name.clone(), values: texts(v) }).collect()
        })
        .unwrap_or_default();
    // The stored `name` holds givenName, sn and their join only: the same reading.
    let name = name_of(obj);
    Ok(Person {
        source: Source::Ldap,
        id: entry.get("dn").and_then(scalar_text).unwrap_or_default(),
        external_id: Some(user.id.to_string()),
        user_name: text("userName").unwrap_or_default(),
        display_name: text("displayName"),
        name,
        nick_name: None,
        title: text("title"),
        user_type: None,
        preferred_language: None,
        locale: None,
        timezone: None,
        active: obj.get("active").and_then(Value::as_bool).unwrap_or(true),
        emails: typed_values(obj.get("emails")),
        phone_numbers: Vec::new(),
        enterprise: None,
        attributes,
        groups,
        raw_json: serde_json::to_string(&entry).unwrap_or_default(),
    })
}

/// A stored resource's SCIM `name`, if it has one.
fn name_of(obj: &Map<String, Value>) -> Option<Name> {
    obj.get("name").and_then(Value::as_object).map(|n| {
        let f = |k: &str| n.get(k).and_then(scalar_text);
        Name {
            formatted: f("formatted"),
            family_name: f("familyName"),
            given_name: f("givenName"),
            middle_name: f("middleName"),
            honorific_prefix: f("honorificPrefix"),
            honorific_suffix: f("honorificSuffix"),
        }
    })
}

/// A scalar as text (strings as they are, numbers and booleans printed).
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Every value of an attribute as text: arrays flattened, complex values by their
/// `value` sub-attribute (or as compact JSON when they have none).
fn texts(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().flat_map(texts).collect(),
        Value::Object(m) => match m.get("value").and_then(scalar_text) {
            Some(s) => vec![s],
            None => vec![serde_json::to_string(v).unwrap_or_default()],
        },
        Value::Null => Vec::new(),
        other => scalar_text(other).into_iter().collect(),
    }
}

fn typed_values(v: Option<&Value>) -> Vec<TypedValue> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|item| {
            Some(TypedValue {
                value: item.get("value").and_then(scalar_text)?,
                kind: item.get("type").and_then(scalar_text),
                primary: item.get("primary").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::AppSchemas;

    #[test]
    fn maps_core_enterprise_custom_and_unknown_attributes() {
        let s = AppSchemas::new(&[]);
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "u1", "externalId": "e1", "userName": "Ada@Example.com",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
            "active": false,
            ENTERPRISE_USER: {"department": "Engines", "manager": {"value": "m1", "displayName": "Babbage"}},
            "urn:ietf:params:scim:schemas:extension:acme:2.0:User": {"badge": 7, "codes": ["a", "b"]},
            "location": "London",
            "meta": {"resourceType": "User"}
        });
        let groups = vec![IdpGroup { id: "g1".into(), display_name: "Engineers".into() }];
        let p = person_from_scim(&user, &s.user, groups);
        assert_eq!(p.user_name, "Ada@Example.com");
        assert_eq!(p.external_id.as_deref(), Some("e1"));
        assert!(!p.active);
        assert_eq!(p.name.as_ref().and_then(|n| n.given_name.as_deref()), Some("Ada"));
        assert_eq!(p.emails[0].value, "ada@example.com");
        assert!(p.emails[0].primary);
        let e = p.enterprise.as_ref().unwrap();
        assert_eq!(
            (e.department.as_deref(), e.manager_id.as_deref(), e.manager_name.as_deref()),
            (Some("Engines"), Some("m1"), Some("Babbage"))
        );
        let acme = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";
        let find = |name: &str| p.attributes.iter().find(|a| a.name == name).unwrap();
        assert_eq!(find("badge").values, ["7"]);
        assert_eq!(find("badge").schema.as_deref(), Some(acme));
        assert_eq!(find("codes").values, ["a", "b"]);
        assert_eq!(find("location").values, ["London"]);
        assert!(find("location").schema.is_none());
        assert!(p.attributes.iter().all(|a| a.name != "meta" && a.name != "userName"));
        assert_eq!(p.groups[0].display_name, "Engineers");
        assert!(p.raw_json.contains("Lovelace"));
    }

    /// A stored user's person is the one built from its parsed form, `raw_json` included
    /// byte for byte (it is the stored bytes, not a second serialisation).
    #[test]
    fn a_stored_user_gives_the_same_person() {
        let s = AppSchemas::new(&[]);
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER],
            "id": "u1", "userName": "ada@example.com", "title": "Analyst \u{e9} \"q\"",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "x-score": 1.25, "x-big": 12345678901234567u64,
            ENTERPRISE_USER: {"department": "Engines"},
            "meta": {"resourceType": "User", "version": "W/\"1\""}
        });
        let stored = StoredResource {
            kind: crate::scim::schema::ResourceKind::User,
            id: "u1".into(),
            version: 1,
            name_key: "ada@example.com".into(),
            external_id: None,
            json: serde_json::to_vec(&user).unwrap().into(),
            members: crate::store::no_members(),
        };
        let groups = vec![IdpGroup { id: "g1".into(), display_name: "Engineers".into() }];
        let from_stored = person_from_stored(&stored, &s.user, groups.clone()).unwrap();
        assert_eq!(from_stored, person_from_scim(&user, &s.user, groups));
        assert_eq!(from_stored.raw_json.as_bytes(), &stored.json[..]);
    }
}
