//! The contract's records as wasmtime generates them, once per world version the host runs
//! (`v1`: `host/wit/rules-1.0.0.wit`, frozen; `v2`: `rules-sdk/wit/rules.wit`, 2.0.0), and
//! the conversions between them and the host's own records (`super::types`). Nothing
//! outside `rules` sees these types.
//!
//! The two worlds share every record but `confluence-user` (2.0.0 adds the user's current
//! values and `granted`) and `setting-declaration` (2.0.0 only), so the conversions of the
//! shared records are written once ([`shared_conversions!`]) and expanded in each version's
//! module, against that version's generated types.

use super::types as host;

/// A module's log level, whichever world it was built against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// The conversions of the records both worlds share, written against a `wit` module in
/// scope where it is expanded (macro items resolve names at the expansion site).
macro_rules! shared_conversions {
    () => {
        fn person(p: &host::Person) -> wit::Person {
            let typed = |vs: &[host::TypedValue]| -> Vec<wit::TypedValue> {
                vs.iter()
                    .map(|v| wit::TypedValue { value: v.value.clone(), kind: v.kind.clone(), primary: v.primary })
                    .collect()
            };
            wit::Person {
                source: match p.source {
                    host::Source::Scim => wit::Source::Scim,
                    host::Source::Ldap => wit::Source::Ldap,
                },
                id: p.id.clone(),
                external_id: p.external_id.clone(),
                user_name: p.user_name.clone(),
                display_name: p.display_name.clone(),
                name: p.name.as_ref().map(|n| wit::Name {
                    formatted: n.formatted.clone(),
                    family_name: n.family_name.clone(),
                    given_name: n.given_name.clone(),
                    middle_name: n.middle_name.clone(),
                    honorific_prefix: n.honorific_prefix.clone(),
                    honorific_suffix: n.honorific_suffix.clone(),
                }),
                nick_name: p.nick_name.clone(),
                title: p.title.clone(),
                user_type: p.user_type.clone(),
                preferred_language: p.preferred_language.clone(),
                locale: p.locale.clone(),
                timezone: p.timezone.clone(),
                active: p.active,
                emails: typed(&p.emails),
                phone_numbers: typed(&p.phone_numbers),
                enterprise: p.enterprise.as_ref().map(|e| wit::Enterprise {
                    employee_number: e.employee_number.clone(),
                    cost_center: e.cost_center.clone(),
                    organization: e.organization.clone(),
                    division: e.division.clone(),
                    department: e.department.clone(),
                    manager_id: e.manager_id.clone(),
                    manager_name: e.manager_name.clone(),
                }),
                attributes: p
                    .attributes
                    .iter()
                    .map(|a| wit::Attribute {
                        schema: a.schema.clone(),
                        name: a.name.clone(),
                        values: a.values.clone(),
                    })
                    .collect(),
                groups: p
                    .groups
                    .iter()
                    .map(|g| wit::IdpGroup { id: g.id.clone(), display_name: g.display_name.clone() })
                    .collect(),
                raw_json: p.raw_json.clone(),
            }
        }

        fn setting_value(value: &host::SettingValue) -> wit::SettingValue {
            match value {
                host::SettingValue::Text(t) => wit::SettingValue::Text(t.clone()),
                host::SettingValue::Flag(b) => wit::SettingValue::Flag(*b),
                host::SettingValue::Number(n) => wit::SettingValue::Number(*n),
                host::SettingValue::TextList(l) => wit::SettingValue::TextList(l.clone()),
                host::SettingValue::Mapping(m) => wit::SettingValue::Mapping(m.clone()),
            }
        }

        fn app(app: &host::AppInfo) -> wit::App {
            wit::App {
                name: app.name.clone(),
                idp_kind: app.idp_kind.clone(),
                settings: app
                    .settings
                    .iter()
                    .map(|s| wit::Setting { key: s.key.clone(), value: setting_value(&s.value) })
                    .collect(),
            }
        }

        /// The module's decisions as the host's records, attributed to `module`.
        pub(in crate::rules) fn from_wit(d: wit::Decisions, module: host::ModuleId) -> host::Decisions {
            host::Decisions {
                attributes: match d.attributes {
                    wit::AttributeDecision::Provision(m) => host::AttributeDecision::Provision(host::UserMapping {
                        username: m.username,
                        full_name: m.full_name,
                        email: m.email,
                        active: m.active,
                    }),
                    wit::AttributeDecision::Skip(reason) => host::AttributeDecision::Skip(reason),
                    wit::AttributeDecision::Reject(reason) => host::AttributeDecision::Reject(reason),
                },
                custom_fields: d
                    .custom_fields
                    .into_iter()
                    .map(|f| host::CustomField { name: f.name, value: f.value })
                    .collect(),
                groups: host::GroupDecision { add: d.groups.add, remove: d.groups.remove, create: d.groups.create },
                module,
            }
        }

        pub(in crate::rules) fn log_level(level: wit::LogLevel) -> super::LogLevel {
            match level {
                wit::LogLevel::Debug => super::LogLevel::Debug,
                wit::LogLevel::Info => super::LogLevel::Info,
                wit::LogLevel::Warn => super::LogLevel::Warn,
                wit::LogLevel::Error => super::LogLevel::Error,
            }
        }
    };
}

/// World `usersync:rules@1.0.0`: `decide` only; the Confluence record has `exists`,
/// `username` and `groups`.
pub(super) mod v1 {
    use super::host;

    #[allow(clippy::all)]
    pub(in crate::rules) mod bindings {
        wasmtime::component::bindgen!({ path: "wit/rules-1.0.0.wit", world: "rules" });
    }

    pub(in crate::rules) use bindings::usersync::rules::types as wit;
    pub(in crate::rules) use bindings::{Rules, RulesPre};

    /// The only imports a 1.0.0 component may have: the host's log, and the types
    /// interface its signature uses (any 1.x version, which the linker matches by semver).
    pub(in crate::rules) const IMPORT_PREFIXES: &[&str] = &["usersync:rules/host@1.", "usersync:rules/types@1."];

    shared_conversions!();

    /// The input as a 1.0.0 module sees it: the Confluence record without the fields
    /// 2.0.0 added.
    pub(in crate::rules) fn to_wit(input: &host::RuleInput) -> wit::Input {
        wit::Input {
            person: person(&input.person),
            app: app(&input.app),
            confluence: wit::ConfluenceUser {
                exists: input.confluence.exists,
                username: input.confluence.username.clone(),
                groups: input.confluence.groups.clone(),
            },
        }
    }
}

/// World `usersync:rules@2.0.0`: `decide` and `settings`; `find-user` among the imports.
pub(super) mod v2 {
    use super::host;

    #[allow(clippy::all)]
    pub(in crate::rules) mod bindings {
        wasmtime::component::bindgen!({
            path: "../rules-sdk/wit",
            world: "rules",
            // Past its per-decision cap, `find-user` traps (see `engine.rs`).
            imports: { "usersync:rules/host.find-user": trappable },
        });
    }

    pub(in crate::rules) use bindings::usersync::rules::types as wit;
    pub(in crate::rules) use bindings::{Rules, RulesPre};

    /// The only imports a 2.0.0 component may have: the host's log and `find-user`, and
    /// the types interface its signature uses (any 2.x version).
    pub(in crate::rules) const IMPORT_PREFIXES: &[&str] = &["usersync:rules/host@2.", "usersync:rules/types@2."];

    shared_conversions!();

    /// A Confluence user as the module sees it.
    pub(in crate::rules) fn confluence_user(u: &host::ConfluenceUser) -> wit::ConfluenceUser {
        wit::ConfluenceUser {
            exists: u.exists,
            username: u.username.clone(),
            full_name: u.full_name.clone(),
            email: u.email.clone(),
            active: u.active,
            groups: u.groups.clone(),
            granted: u.granted.clone(),
        }
    }

    pub(in crate::rules) fn to_wit(input: &host::RuleInput) -> wit::Input {
        wit::Input {
            person: person(&input.person),
            app: app(&input.app),
            confluence: confluence_user(&input.confluence),
        }
    }

    /// The app as the module's `groups-needed` export takes it.
    pub(in crate::rules) fn app_to_wit(info: &host::AppInfo) -> wit::App {
        app(info)
    }

    /// The module's `settings` export as the host's records.
    pub(in crate::rules) fn declaration_from_wit(
        declaration: Vec<wit::SettingDeclaration>,
    ) -> Vec<host::SettingDeclaration> {
        declaration
            .into_iter()
            .map(|d| host::SettingDeclaration {
                key: d.key,
                kind: match d.kind {
                    wit::SettingKind::Text => host::SettingKind::Text,
                    wit::SettingKind::Flag => host::SettingKind::Flag,
                    wit::SettingKind::Number => host::SettingKind::Number,
                    wit::SettingKind::TextList => host::SettingKind::TextList,
                    wit::SettingKind::Mapping => host::SettingKind::Mapping,
                },
                default: d.default.map(|v| match v {
                    wit::SettingValue::Text(t) => host::SettingValue::Text(t),
                    wit::SettingValue::Flag(b) => host::SettingValue::Flag(b),
                    wit::SettingValue::Number(n) => host::SettingValue::Number(n),
                    wit::SettingValue::TextList(l) => host::SettingValue::TextList(l),
                    wit::SettingValue::Mapping(m) => host::SettingValue::Mapping(m),
                }),
                help: d.help,
            })
            .collect()
    }
}
