//! The standard rules module: UserSync's usual attribute, custom-field and group mapping,
//! driven only by the app's settings (WIT `app.settings`). An app without a module of its
//! own runs this one; an administrator who needs more starts from its source.
//!
//! # Settings
//!
//! Paths are SCIM paths or LDAP attribute names, as
//! [`Person::attribute`](usersync_rules::Person::attribute) reads them (`title`,
//! `name.givenName`, `emails[type eq "work"].value`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`, `badge`,
//! `sAMAccountName` …). Regular expressions are `regex-lite` syntax, unanchored (use `^…$`),
//! case-sensitive (use `(?i)`); a replacement replaces every match and may use `$1` /
//! `${name}`. Confluence group names are lower-cased.
//!
//! | key | kind | default | effect |
//! | --- | --- | --- | --- |
//! | `username_attribute` | text | — | Path of the username. Default: `userName`; for LDAP `userPrincipalName`, else `sAMAccountName`, else `uid`. A person without a value there is rejected. |
//! | `email_attribute` | text | — | Path of the e-mail address. Default: the primary `emails` value (else the first `work`, else the first); for LDAP `mail`. A person without a value there is rejected. |
//! | `full_name_attribute` | text | — | Path of the full name. When it has no value, and by default: `displayName`, else `name.formatted`, else given + family name (LDAP `givenName` + `sn`), else `cn`, else the username. |
//! | `username_regex` | text (regex) | — | Applied to the username as sent, before it is normalised. |
//! | `username_replacement` | text | `""` | What each `username_regex` match becomes; ignored without `username_regex`. E.g. regex `@.*$`, replacement empty: `ada@example.com` → `ada`. |
//! | `custom_fields` | mapping | — | Confluence custom field → path. A field whose attribute has no value is left out; several values are joined with `", "`. |
//! | `sync_active` | flag | `true` | `true`: the user is active exactly when the identity provider says so. `false`: always active. |
//! | `create_users` | flag | `true` | `false`: a person whose (decided) username Confluence does not have is skipped, with the reason; people Confluence has are still updated and grouped. |
//! | `update_users` | flag | `true` | `false`: a user Confluence has keeps the full name and e-mail address Confluence holds (the decision repeats them); new users get the mapped ones. |
//! | `default_groups_new` | text-list | — | Groups granted to a user Confluence does not have yet; still wanted afterwards while the app holds the grant, so they are not revoked on the next change. |
//! | `default_groups_all` | text-list | — | Groups every user is granted, on every change. |
//! | `group_mapping` | mapping | — | IdP group (display name, any case, or id) → Confluence group. A mapped IdP group goes only to its mapped groups (several entries for one IdP group are all used). Mapped groups are expected to exist, unless `on_the_fly` is on. |
//! | `import_only_mapped_groups` | flag | `false` | With `on_the_fly`: IdP groups without a `group_mapping` entry are ignored instead of imported on the fly (mapped groups are then still created if missing). Without `on_the_fly` only mapped groups are imported anyway. |
//! | `group_filter` | text (regex) | — | Only IdP groups whose display name matches are considered, by the mapping and on the fly. |
//! | `on_the_fly` | flag | `false` | Every considered, unmapped IdP group joins the Confluence group of the same name, lower-cased, created if missing (listed in `create`). |
//! | `on_the_fly_include` | text (regex) | — | On the fly, only IdP groups whose display name matches. |
//! | `on_the_fly_exclude` | text (regex) | — | On the fly, never IdP groups whose display name matches. |
//! | `on_the_fly_rewrite_regex` | text (regex) | — | Applied to the IdP group's display name before it is lower-cased, on the fly. |
//! | `on_the_fly_rewrite_replacement` | text | `""` | What each `on_the_fly_rewrite_regex` match becomes. E.g. regex `^AD-`: `AD-Writers` → `writers`. |
//! | `keep_existing_groups` | flag | `true` | `false`: the user leaves every Confluence group they are in (`confluence.groups`) that the app neither wants (`add`) nor granted, except `default_groups_new`. `true`: `remove` is empty. |
//!
//! The module declares all of these ([`declarations`], its `settings` export): the host
//! refuses to load it for an app with any other key, or with a value of the wrong kind.
//! A flag may also be given as text (`true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`) and a
//! text-list as comma-separated text. A regular expression that does not compile, or a
//! mapping with a blank side (or, should the host not have checked it, a setting of the
//! wrong kind) makes the attribute decision reject every person with a reason naming the
//! setting (and the other two decisions grant nothing), rather than provisioning people
//! wrongly.
//!
//! # Decisions
//!
//! - **Attributes**: username, e-mail and full name as above; the username is normalised
//!   to Confluence's rules ([`normalize_username`](usersync_rules::normalize_username):
//!   lower-case, whitespace to `_`, `\ , + < > ' "` removed) and the e-mail lower-cased. A
//!   person with no usable username or e-mail address is rejected with the reason.
//! - **Custom fields**: `custom_fields`.
//! - **Groups**, as grants (`add` is every group the app wants the user in, every time;
//!   the host revokes what the app granted and no longer wants), in this order: the
//!   considered IdP groups (`group_filter`) through `group_mapping`, else on the fly; then
//!   `default_groups_all`, and `default_groups_new` for a new user (or one still holding
//!   that grant); then, when `keep_existing_groups` is off, the removals. "New" and the
//!   current groups are those of the Confluence user with the decided username.
//!
//! The logic is plain functions ([`decide`], [`map_attributes`] …) so the host can run it
//! natively, as the baseline for the module's cost.

mod attributes;
mod groups;
mod settings;

pub use settings::{declarations, Rewrite, Settings};

use usersync_rules::{
    log, App, AttributeDecision, CustomField, Decisions, GroupDecision, Input, Rules, SettingDeclaration,
};

/// The standard rules, as a [`Rules`] implementation.
pub struct Standard;

impl Rules for Standard {
    fn map_attributes(input: &Input) -> AttributeDecision {
        map_attributes(input)
    }

    fn map_custom_fields(input: &Input) -> Vec<CustomField> {
        map_custom_fields(input)
    }

    fn map_groups(input: &Input) -> GroupDecision {
        map_groups(input)
    }

    /// The settings are read (and their regular expressions compiled) once for all three.
    fn decide(input: &Input) -> Decisions {
        decide(input)
    }

    fn settings() -> Vec<SettingDeclaration> {
        declarations()
    }

    fn groups_needed(app: &App) -> Vec<String> {
        groups_needed(app)
    }
}

/// The groups the settings put people in without creating them: the default groups, and,
/// unless `on_the_fly` creates them, the manual mapping's targets. Settings the rules
/// cannot read claim nothing (every decision says why instead).
pub fn groups_needed(app: &App) -> Vec<String> {
    let Ok(s) = Settings::from_app(app) else { return Vec::new() };
    let mut out: Vec<String> = s.default_groups_all.iter().chain(&s.default_groups_new).cloned().collect();
    if !s.on_the_fly {
        out.extend(s.group_mapping.iter().map(|(_, confluence)| confluence.clone()));
    }
    out.sort();
    out.dedup();
    out
}

usersync_rules::export_rules!(Standard);

/// The three decisions at once, reading the settings once: what the module decides, called
/// natively.
///
/// The group decision needs the attribute decision (it is about the Confluence user with
/// the decided username), so the three are made together.
pub fn decide(input: &Input) -> Decisions {
    match Settings::from_app(&input.app) {
        Ok(s) => {
            let (attributes, target) = attributes::map_attributes(input, &s);
            Decisions {
                attributes,
                custom_fields: attributes::map_custom_fields(input, &s),
                groups: groups::map_groups(input, &s, &target),
            }
        }
        Err(e) => Decisions {
            attributes: AttributeDecision::Reject(e.to_string()),
            custom_fields: Vec::new(),
            groups: GroupDecision::empty(),
        },
    }
}

/// The attribute decision. A setting the rules cannot use rejects the person, naming it.
pub fn map_attributes(input: &Input) -> AttributeDecision {
    match Settings::from_app(&input.app) {
        Ok(s) => attributes::map_attributes(input, &s).0,
        Err(e) => AttributeDecision::Reject(e.to_string()),
    }
}

/// The custom fields. A setting the rules cannot use sets none (and logs why).
pub fn map_custom_fields(input: &Input) -> Vec<CustomField> {
    match Settings::from_app(&input.app) {
        Ok(s) => attributes::map_custom_fields(input, &s),
        Err(e) => {
            log::error!("{e}");
            Vec::new()
        }
    }
}

/// The group decision (made with the attribute decision, whose Confluence user it is
/// about). A setting the rules cannot use grants nothing (and logs why).
pub fn map_groups(input: &Input) -> GroupDecision {
    match Settings::from_app(&input.app) {
        Ok(s) => groups::map_groups(input, &s, &attributes::map_attributes(input, &s).1),
        Err(e) => {
            log::error!("{e}");
            GroupDecision::empty()
        }
    }
}

#[cfg(test)]
mod tests;
