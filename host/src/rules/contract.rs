//! The contract's records as wasmtime generates them from `rules-sdk/wit/rules.wit`, and
//! the conversions between them and the host's own records (`super::types`). Nothing
//! outside `rules` sees these types.

use super::types as host;

#[allow(clippy::all)]
pub(super) mod bindings {
    wasmtime::component::bindgen!({ path: "../rules-sdk/wit", world: "rules" });
}

pub(super) use bindings::usersync::rules::types as wit;
pub(super) use bindings::{Rules, RulesPre};

/// The only imports a rules component may have: the host's log, and the types interface
/// its signature uses (any 1.x version, which the linker matches by semver).
pub(super) const ALLOWED_IMPORT_PREFIXES: &[&str] = &["usersync:rules/host@1.", "usersync:rules/types@1."];

pub(super) fn to_wit(input: &host::RuleInput) -> wit::Input {
    let p = &input.person;
    let typed = |vs: &[host::TypedValue]| -> Vec<wit::TypedValue> {
        vs.iter()
            .map(|v| wit::TypedValue { value: v.value.clone(), kind: v.kind.clone(), primary: v.primary })
            .collect()
    };
    wit::Input {
        person: wit::Person {
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
                .map(|a| wit::Attribute { schema: a.schema.clone(), name: a.name.clone(), values: a.values.clone() })
                .collect(),
            groups: p
                .groups
                .iter()
                .map(|g| wit::IdpGroup { id: g.id.clone(), display_name: g.display_name.clone() })
                .collect(),
            raw_json: p.raw_json.clone(),
        },
        app: wit::App {
            name: input.app.name.clone(),
            idp_kind: input.app.idp_kind.clone(),
            settings: input
                .app
                .settings
                .iter()
                .map(|s| wit::Setting {
                    key: s.key.clone(),
                    value: match &s.value {
                        host::SettingValue::Text(t) => wit::SettingValue::Text(t.clone()),
                        host::SettingValue::Flag(b) => wit::SettingValue::Flag(*b),
                        host::SettingValue::Number(n) => wit::SettingValue::Number(*n),
                        host::SettingValue::TextList(l) => wit::SettingValue::TextList(l.clone()),
                        host::SettingValue::Mapping(m) => wit::SettingValue::Mapping(m.clone()),
                    },
                })
                .collect(),
        },
        confluence: wit::ConfluenceUser {
            exists: input.confluence.exists,
            username: input.confluence.username.clone(),
            groups: input.confluence.groups.clone(),
        },
    }
}

pub(super) fn from_wit(d: wit::Decisions, module: host::ModuleId) -> host::Decisions {
    host::Decisions {
        attributes: from_wit_attributes(d.attributes),
        custom_fields: d
            .custom_fields
            .into_iter()
            .map(|f| host::CustomField { name: f.name, value: f.value })
            .collect(),
        groups: host::GroupDecision { add: d.groups.add, remove: d.groups.remove, create: d.groups.create },
        module,
    }
}

fn from_wit_attributes(d: wit::AttributeDecision) -> host::AttributeDecision {
    match d {
        wit::AttributeDecision::Provision(m) => host::AttributeDecision::Provision(host::UserMapping {
            username: m.username,
            full_name: m.full_name,
            email: m.email,
            active: m.active,
        }),
        wit::AttributeDecision::Skip(reason) => host::AttributeDecision::Skip(reason),
        wit::AttributeDecision::Reject(reason) => host::AttributeDecision::Reject(reason),
    }
}
