//! Mapping paths end to end: a person as OneLogin sends them over SCIM (its own enterprise
//! URN, addresses), normalised and made the rules' input as the server does, decided by
//! the compiled standard module with `username_attribute` and `custom_fields` settings that
//! use those paths.

use serde_json::json;
use usersync::cli::check::{input_from_json, CheckInput};
use usersync::rules::types::{AttributeDecision, CustomField, Setting, SettingValue};
use usersync::rules::{RuleFailure, RuleLimits, RulesEngine};

use crate::guests;

const ONELOGIN_ENTERPRISE: &str = "urn:scim:schemas:extension:enterprise:2.0";

fn text(key: &str, value: &str) -> Setting {
    Setting { key: key.into(), value: SettingValue::Text(value.into()) }
}

fn custom_fields(pairs: &[(&str, &str)]) -> Setting {
    let pairs = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Setting { key: "custom_fields".into(), value: SettingValue::Mapping(pairs) }
}

/// Ada as OneLogin's SCIM v2 Enterprise connector sends her: its non-RFC URNs, `emails` as
/// an object, and two addresses.
fn ada() -> serde_json::Value {
    json!({
        "schemas": ["urn:scim:schemas:core:2.0", ONELOGIN_ENTERPRISE],
        "userName": "ada@example.com",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": {"value": "ada@example.com", "type": "work", "primary": true},
        "addresses": [
            {"type": "home", "locality": "Marylebone", "country": "GB"},
            {"type": "work", "streetAddress": "1 Engine Row", "locality": "London", "country": "GB"}
        ],
        ONELOGIN_ENTERPRISE: {"employeeNumber": "1815", "department": "Analytical Engines"}
    })
}

#[test]
fn onelogin_urns_and_address_filters_map_through_the_standard_module() {
    let settings = vec![
        text("username_attribute", &format!("{ONELOGIN_ENTERPRISE}:employeeNumber")),
        custom_fields(&[
            ("location", r#"addresses[type eq "work"].locality"#),
            ("street", r#"urn:ietf:params:scim:schemas:core:2.0:User:addresses[type eq "work"].streetAddress"#),
            ("department", &format!("{ONELOGIN_ENTERPRISE}:department")),
            ("employee", "urn:scim:schemas:extension:enterprise:1.0:employeeNumber"),
            ("nowhere", r#"addresses[type eq "other"].locality"#),
        ]),
    ];
    let engine = RulesEngine::new().unwrap();
    let limits = RuleLimits { deadline: std::time::Duration::from_secs(10), ..RuleLimits::default() };
    let module = engine.load("standard", guests::component(guests::STANDARD), limits, &settings).unwrap();
    let check =
        CheckInput { app_name: "onelogin".into(), idp_kind: "onelogin".into(), settings, existing_groups: None };

    let decisions = engine
        .decide(&module, &input_from_json(&ada(), &check).unwrap(), std::sync::Arc::new(usersync::rules::NoDirectory))
        .unwrap();
    let AttributeDecision::Provision(user) = &decisions.attributes else {
        panic!("Ada is provisioned: {:?}", decisions.attributes);
    };
    assert_eq!(user.username, "1815", "username from OneLogin's enterprise URN");
    assert_eq!(user.email, "ada@example.com");
    let field = |name: &str, value: &str| CustomField { name: name.into(), value: value.into() };
    assert_eq!(
        decisions.custom_fields,
        [
            field("location", "London"),
            field("street", "1 Engine Row"),
            field("department", "Analytical Engines"),
            field("employee", "1815"),
        ]
    );

    // Without an employee number, the username path has no value: rejected, and saying so.
    let mut anonymous = ada();
    anonymous[ONELOGIN_ENTERPRISE].as_object_mut().unwrap().remove("employeeNumber");
    let err = engine
        .decide(
            &module,
            &input_from_json(&anonymous, &check).unwrap(),
            std::sync::Arc::new(usersync::rules::NoDirectory),
        )
        .unwrap_err();
    assert!(matches!(err.cause, RuleFailure::Rejected(_)), "{err}");
}
