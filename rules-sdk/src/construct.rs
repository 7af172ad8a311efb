//! Building inputs by hand, for a module's tests and the host's benchmarks: a person with
//! nothing but a username, an input around them, settings added one by one.

use crate::{App, ConfluenceUser, Input, Person, Setting, SettingValue, Source};

impl Person {
    /// A person with this `userName` (SCIM) and nothing else: active, no e-mail, no name,
    /// no groups, `raw_json` `{}`.
    pub fn new(source: Source, user_name: impl Into<String>) -> Self {
        Person {
            source,
            id: String::new(),
            external_id: None,
            user_name: user_name.into(),
            display_name: None,
            name: None,
            nick_name: None,
            title: None,
            user_type: None,
            preferred_language: None,
            locale: None,
            timezone: None,
            active: true,
            emails: Vec::new(),
            phone_numbers: Vec::new(),
            enterprise: None,
            attributes: Vec::new(),
            groups: Vec::new(),
            raw_json: "{}".into(),
        }
    }
}

impl Input {
    /// The input for `person` coming through an app named `test` (IdP kind `generic`) with
    /// no settings, for a person Confluence does not know yet.
    pub fn new(person: Person) -> Self {
        Input {
            person,
            app: App { name: "test".into(), idp_kind: "generic".into(), settings: Vec::new() },
            confluence: ConfluenceUser { exists: false, username: None, groups: Vec::new() },
        }
    }

    /// This input with one more app setting.
    #[must_use]
    pub fn with_setting(mut self, key: &str, value: SettingValue) -> Self {
        self.app.settings.push(Setting { key: key.into(), value });
        self
    }

    /// This input for a person Confluence already knows, as `username`, in `groups`.
    #[must_use]
    pub fn existing_user(mut self, username: &str, groups: &[&str]) -> Self {
        self.confluence = ConfluenceUser {
            exists: true,
            username: Some(username.into()),
            groups: groups.iter().map(|g| (*g).into()).collect(),
        };
        self
    }
}
