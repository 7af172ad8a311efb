//! The attribute mapping and the custom fields.

use usersync_rules::{defaults, AttributeDecision, CustomField, Input, UserFields};

use crate::settings::Settings;

/// The attribute decision: each field from its `*_attribute` setting or the default,
/// `username_regex` applied to the username as sent, then Confluence's rules
/// ([`UserFields::into_decision`]).
pub fn map_attributes(input: &Input, s: &Settings<'_>) -> AttributeDecision {
    let p = &input.person;
    let username = match s.username_attribute {
        Some(path) => match p.attribute(path) {
            Some(v) => v,
            None => return AttributeDecision::Reject(format!("no usable username: attribute `{path}` has no value")),
        },
        None => match defaults::username(p) {
            Some(v) => v,
            None => return AttributeDecision::Reject("no usable username: userName is empty".into()),
        },
    };
    let username = match &s.username_rewrite {
        Some(rewrite) => {
            let rewritten = rewrite.apply(username);
            if rewritten.trim().is_empty() {
                return AttributeDecision::Reject(format!(
                    "no usable username: `username_regex` turns {username:?} into nothing"
                ));
            }
            rewritten
        }
        None => username.into(),
    };
    let email = match s.email_attribute {
        Some(path) => match p.attribute(path) {
            Some(v) => Some(v),
            None => {
                return AttributeDecision::Reject(format!("no usable e-mail address: attribute `{path}` has no value"))
            }
        },
        None => p.primary_email(),
    };
    let full_name =
        s.full_name_attribute.and_then(|path| p.attribute(path)).map(str::to_string).or_else(|| p.full_name());
    let active = if s.sync_active { p.active } else { true };
    UserFields { username: Some(&username), email, full_name, active }.into_decision()
}

/// The custom fields: for each `custom_fields` entry whose attribute has a value, the
/// field with that value (several values joined with `", "`).
pub fn map_custom_fields(input: &Input, s: &Settings<'_>) -> Vec<CustomField> {
    s.custom_fields
        .iter()
        .filter_map(|(field, path)| {
            let values = input.person.attribute_values(path);
            (!values.is_empty()).then(|| CustomField { name: (*field).to_string(), value: values.join(", ") })
        })
        .collect()
}
