//! What a write may set, checked on the normalised resource before it is stored:
//! - names without control or format characters (`model::names::invisible_char`, the check
//!   the rules' decisions and the connector share): `userName`, a user's `displayName`
//!   and `name` parts, a group's `displayName`;
//! - group members that exist: at most `max_members_per_request` added by one request,
//!   each a user or group of the app, else refused or dropped by the app's
//!   [`UnknownMemberPolicy`].
//!
//! Only what the request changes is judged: a name already stored, or a member already in
//! the group, passes unchanged, so a resource stored before these checks can still be
//! updated (a user with such a name can still be deactivated).

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::App;
use crate::config::UnknownMemberPolicy;
use crate::model::names::{describe_invisible, invisible_char};
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::schema::ResourceKind;
use crate::store::{Snapshot, StoredResource};

/// The attributes that become, or may become, a Confluence username, group name or full
/// name, as paths into the canonical resource.
const USER_NAMES: &[&[&str]] = &[
    &["userName"],
    &["displayName"],
    &["name", "formatted"],
    &["name", "givenName"],
    &["name", "middleName"],
    &["name", "familyName"],
];
const GROUP_NAMES: &[&[&str]] = &[&["displayName"]];

/// Member ids a refusal names before it says "and N more".
const NAMED_IDS: usize = 5;

fn lookup<'a>(attrs: &'a Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    let (first, rest) = path.split_first()?;
    rest.iter().try_fold(attrs.get(*first)?, |v, key| v.get(key))?.as_str()
}

/// Refuses a name this write sets that contains a control or format character (Unicode Cc
/// or Cf), unless `current` (the stored resource, for a replace or PATCH) has that very
/// value already.
///
/// # Errors
/// 400 `invalidValue` naming the attribute and the character.
pub(super) fn check_names(
    kind: ResourceKind,
    attrs: &Map<String, Value>,
    current: Option<&StoredResource>,
) -> ScimResult<()> {
    let paths = match kind {
        ResourceKind::User => USER_NAMES,
        ResourceKind::Group => GROUP_NAMES,
    };
    let mut stored: Option<Option<Value>> = None;
    for path in paths {
        let Some(value) = lookup(attrs, path) else { continue };
        let Some(c) = invisible_char(value) else { continue };
        // Parsed only when a name has such a character: rare.
        let before = stored.get_or_insert_with(|| current.and_then(|r| r.value().ok()));
        let unchanged = before.as_ref().and_then(Value::as_object).and_then(|m| lookup(m, path)) == Some(value);
        if unchanged {
            continue;
        }
        return Err(ScimError::invalid_value(format!(
            "{} contains {}; names that become Confluence usernames, group names or full names may not contain control or format characters",
            path.join("."),
            describe_invisible(c)
        )));
    }
    Ok(())
}

/// The members a group write adds (those not in `current`), checked: at most `cap` of them,
/// and each a user or group of the app in `snap`. Under [`UnknownMemberPolicy::Drop`] the
/// unknown ones are taken out of `attrs` (and logged); under `Reject` they refuse the write.
///
/// # Errors
/// 400 `invalidValue` when the write adds more than `cap` members, or (`Reject`) names
/// members the app does not have.
pub(super) fn screen_members(
    app: &App,
    snap: &Snapshot,
    current: Option<&StoredResource>,
    attrs: &mut Map<String, Value>,
    cap: usize,
) -> ScimResult<()> {
    let Some(Value::Array(members)) = attrs.get("members") else { return Ok(()) };
    let before: HashSet<&str> = current.map(|c| c.members.iter().map(|m| &**m).collect()).unwrap_or_default();
    let member_id = |m: &Value| m.get("value").and_then(Value::as_str).map(str::to_owned);
    let added: Vec<String> = members.iter().filter_map(member_id).filter(|id| !before.contains(id.as_str())).collect();
    if added.len() > cap {
        return Err(ScimError::invalid_value(format!(
            "this request adds {} members to the group; one request may add at most {cap} ([server] max_members_per_request): send them in several PATCH requests",
            added.len()
        )));
    }
    let data = snap.app(&app.name);
    let known = |id: &str| data.is_some_and(|d| d.users.get(id).is_some() || d.groups.get(id).is_some());
    let unknown: HashSet<String> = added.into_iter().filter(|id| !known(id)).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let mut named: Vec<&str> = unknown.iter().map(String::as_str).collect();
    named.sort_unstable();
    let more = named.len().saturating_sub(NAMED_IDS);
    named.truncate(NAMED_IDS);
    let list = named.iter().map(|id| format!("{id:?}")).collect::<Vec<_>>().join(", ");
    let list = if more > 0 { format!("{list} and {more} more") } else { list };
    match app.unknown_members {
        UnknownMemberPolicy::Reject => Err(ScimError::invalid_value(format!(
            "members {list} are not users or groups of this app; create them first (or set unknown_members = \"drop\")"
        ))),
        UnknownMemberPolicy::Drop => {
            tracing::warn!(
                app = %app.name,
                group = current.map_or("(new)", |c| &*c.id),
                dropped = unknown.len(),
                ids = %list,
                "group members that are not users or groups of the app were dropped"
            );
            if let Some(Value::Array(members)) = attrs.get_mut("members") {
                members.retain(|m| member_id(m).is_none_or(|id| !unknown.contains(&id)));
                if members.is_empty() {
                    attrs.shift_remove("members");
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    fn stored(value: &Value) -> StoredResource {
        StoredResource {
            kind: ResourceKind::User,
            id: Arc::from("u1"),
            version: 1,
            name_key: Arc::from("ada"),
            external_id: None,
            json: serde_json::to_vec(value).unwrap().into(),
            members: crate::store::no_members(),
        }
    }

    fn attrs(value: Value) -> Map<String, Value> {
        let Value::Object(map) = value else { panic!() };
        map
    }

    #[test]
    fn a_name_is_judged_only_when_the_write_changes_it() {
        let legacy = json!({"userName": "ad\u{202e}a", "name": {"givenName": "A\u{200b}da"}, "active": true});
        let current = stored(&legacy);
        // Deactivating a user stored before the check: its names are unchanged, so it passes.
        let mut off = legacy.clone();
        off["active"] = json!(false);
        assert_eq!(check_names(ResourceKind::User, &attrs(off.clone()), Some(&current)), Ok(()));
        // The same names on a new user, or a changed one, are refused.
        let err = check_names(ResourceKind::User, &attrs(off), None).unwrap_err();
        assert!(err.detail.starts_with("userName contains U+202E"), "{}", err.detail);
        let mut renamed = legacy.clone();
        renamed["name"]["givenName"] = json!("Ad\u{200b}a");
        let err = check_names(ResourceKind::User, &attrs(renamed), Some(&current)).unwrap_err();
        assert!(err.detail.starts_with("name.givenName contains U+200B"), "{}", err.detail);
        // Attributes that never become a Confluence name are not names.
        let other = json!({"userName": "ada", "title": "x\u{202e}", "emails": [{"value": "a\u{200b}@b"}]});
        assert_eq!(check_names(ResourceKind::User, &attrs(other), None), Ok(()));
        let group = json!({"displayName": "ops\u{2066}"});
        assert!(check_names(ResourceKind::Group, &attrs(group), None).is_err());
    }
}
