//! The built-in sample person every module must decide about when it is loaded (its
//! self-test), before it may replace the module serving an app.

use super::types::{
    AppInfo, Attribute, ConfluenceUser, Enterprise, IdpGroup, Name, Person, RuleInput, Setting, Source, TypedValue,
};

/// A plausible SCIM person (every common attribute set, two IdP groups, not yet in
/// Confluence), seen through an app named `self-test` with `settings`.
pub fn input(settings: &[Setting]) -> RuleInput {
    let person = Person {
        source: Source::Scim,
        id: "00000000-0000-4000-8000-000000000001".into(),
        external_id: Some("ada.lovelace".into()),
        user_name: "ada.lovelace@example.com".into(),
        display_name: Some("Ada Lovelace".into()),
        name: Some(Name {
            formatted: Some("Ada Lovelace".into()),
            family_name: Some("Lovelace".into()),
            given_name: Some("Ada".into()),
            ..Name::default()
        }),
        nick_name: None,
        title: Some("Analyst".into()),
        user_type: Some("Employee".into()),
        preferred_language: Some("en".into()),
        locale: Some("en-GB".into()),
        timezone: Some("Europe/London".into()),
        active: true,
        emails: vec![TypedValue { value: "ada.lovelace@example.com".into(), kind: Some("work".into()), primary: true }],
        phone_numbers: Vec::new(),
        enterprise: Some(Enterprise {
            employee_number: Some("1815".into()),
            department: Some("Research".into()),
            organization: Some("Example".into()),
            ..Enterprise::default()
        }),
        attributes: vec![Attribute { schema: None, name: "location".into(), values: vec!["London".into()] }],
        groups: vec![
            IdpGroup { id: "g-engineering".into(), display_name: "Engineering".into() },
            IdpGroup { id: "g-everyone".into(), display_name: "Everyone".into() },
        ],
        raw_json: r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada.lovelace@example.com","displayName":"Ada Lovelace","active":true}"#.into(),
    };
    RuleInput {
        person,
        app: AppInfo { name: "self-test".into(), idp_kind: "generic".into(), settings: settings.to_vec() },
        confluence: ConfluenceUser::default(),
    }
}
