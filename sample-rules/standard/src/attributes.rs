//! The attribute mapping (with `create_users` and `update_users`) and the custom fields.

use usersync_rules::{defaults, AttributeDecision, ConfluenceUser, CustomField, Input, UserFields};

use crate::settings::Settings;

/// The attribute decision, and the Confluence user it is about.
///
/// Each field comes from its `*_attribute` setting or the default, `username_regex` is
/// applied to the username as sent, then Confluence's rules
/// ([`UserFields::into_decision`]). For a user to provision, the Confluence user with the
/// DECIDED username is looked up ([`Input::confluence_user`]: the input's record when the
/// names match, else the host's `find-user`), and:
/// - Confluence does not have them and `create_users` is off: the person is skipped, with
///   the reason;
/// - Confluence has them and `update_users` is off: their full name and e-mail address
///   stay as Confluence has them (where UserSync knows them).
///
/// The user returned is that Confluence user (the input's record when nobody is
/// provisioned), for the group decision.
pub fn map_attributes(input: &Input, s: &Settings<'_>) -> (AttributeDecision, ConfluenceUser) {
    let decision = user_fields(input, s);
    let AttributeDecision::Provision(mut mapping) = decision else { return (decision, input.confluence.clone()) };
    let target = input.confluence_user(&mapping.username);
    if !target.exists && !s.create_users {
        let reason = format!("create_users is off and Confluence has no user {:?}", mapping.username);
        return (AttributeDecision::Skip(reason), target);
    }
    if target.exists && !s.update_users {
        if let Some(full_name) = &target.full_name {
            mapping.full_name.clone_from(full_name);
        }
        if let Some(email) = &target.email {
            mapping.email.clone_from(email);
        }
    }
    (AttributeDecision::Provision(mapping), target)
}

/// The attribute decision from the person's fields and the settings alone.
fn user_fields(input: &Input, s: &Settings<'_>) -> AttributeDecision {
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
