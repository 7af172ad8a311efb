//! What `usersync rules check` does, as functions (the CLI only parses arguments and
//! prints): make the rules input for a person given as JSON, and print the three decisions.

use anyhow::Result;
use serde_json::{json, Value};

use crate::rules::types::{
    AppInfo, AttributeDecision, ConfluenceUser, Decisions, IdpGroup, Person, RuleInput, Setting, SettingValue,
};
use crate::scim::normalize::{normalize_resource, Limits};
use crate::scim::schema::AppSchemas;

/// What `rules check` decides about: a person, as JSON, and how the app sees them.
#[derive(Debug, Clone, Default)]
pub struct CheckInput {
    pub app_name: String,
    pub idp_kind: String,
    pub settings: Vec<Setting>,
    /// The person is already a Confluence user, with these groups.
    pub existing_groups: Option<Vec<String>>,
}

/// The rules input for a person given as a SCIM user resource (as an IdP sends it: quirks
/// are normalised as the server does). IdP groups come from the resource's `groups`
/// attribute (`[{"value": id, "display": name}]`).
///
/// # Errors
/// The JSON is not a valid SCIM user.
pub fn input_from_json(person: &Value, check: &CheckInput) -> Result<RuleInput> {
    let schemas = AppSchemas::new(&[]);
    let groups: Vec<IdpGroup> = person
        .get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| {
            let id = g.get("value").and_then(Value::as_str)?;
            let name = g.get("display").and_then(Value::as_str).unwrap_or(id);
            Some(IdpGroup { id: id.to_owned(), display_name: name.to_owned() })
        })
        .collect();
    let mut body = person.clone();
    if let Some(obj) = body.as_object_mut() {
        // Read-only in SCIM: carried as IdP groups above, not as an attribute.
        obj.remove("groups");
    }
    let attrs = normalize_resource(&body, &schemas.user, &Limits::default())
        .map_err(|e| anyhow::anyhow!("the input is not a valid SCIM user: {}", e.detail))?;
    let mut user = Value::Object(attrs);
    if user.get("id").is_none() {
        user["id"] = json!("check");
    }
    let person: Person = crate::inbound::person::person_from_scim(&user, &schemas.user, groups);
    Ok(RuleInput {
        person,
        app: AppInfo {
            name: check.app_name.clone(),
            idp_kind: check.idp_kind.clone(),
            settings: check.settings.clone(),
        },
        confluence: match &check.existing_groups {
            Some(groups) => {
                ConfluenceUser { exists: true, username: None, groups: groups.clone(), ..ConfluenceUser::default() }
            }
            None => ConfluenceUser::default(),
        },
    })
}

/// The three decisions as JSON, for printing.
pub fn decisions_json(d: &Decisions) -> Value {
    let attributes = match &d.attributes {
        AttributeDecision::Provision(m) => json!({
            "provision": {"username": m.username, "fullName": m.full_name, "email": m.email, "active": m.active}
        }),
        AttributeDecision::Skip(reason) => json!({"skip": reason}),
        AttributeDecision::Reject(reason) => json!({"reject": reason}),
    };
    json!({
        "module": {"name": d.module.name, "hash": d.module.hash},
        "attributes": attributes,
        "customFields": d.custom_fields.iter().map(|f| json!({"name": f.name, "value": f.value})).collect::<Vec<_>>(),
        "groups": {"add": d.groups.add, "remove": d.groups.remove, "create": d.groups.create},
    })
}

/// Settings as JSON, for printing what a check ran with.
pub fn settings_json(settings: &[Setting]) -> Value {
    let map = settings
        .iter()
        .map(|s| {
            let v = match &s.value {
                SettingValue::Text(t) => json!(t),
                SettingValue::Flag(b) => json!(b),
                SettingValue::Number(n) => json!(n),
                SettingValue::TextList(l) => json!(l),
                SettingValue::Mapping(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), json!(v))).collect()),
            };
            (s.key.clone(), v)
        })
        .collect();
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scim_user_with_quirks_becomes_the_input() {
        let person = json!({
            "schemas": ["urn:scim:schemas:core:1.0"],
            "userName": "Ada@Example.com",
            "active": "True",
            "emails": {"value": "ada@example.com", "primary": true},
            "groups": [{"value": "g1", "display": "Engineering"}, {"value": "g2"}],
        });
        let check = CheckInput { app_name: "a".into(), idp_kind: "onelogin".into(), ..CheckInput::default() };
        let input = input_from_json(&person, &check).unwrap();
        assert_eq!(input.person.user_name, "Ada@Example.com");
        assert!(input.person.active);
        assert_eq!(input.person.emails[0].value, "ada@example.com");
        let groups: Vec<_> = input.person.groups.iter().map(|g| g.display_name.as_str()).collect();
        assert_eq!(groups, ["Engineering", "g2"]);
        assert!(!input.confluence.exists);
        assert!(input_from_json(&json!({"userName": {"a": 1}}), &check).is_err());
    }
}
