//! Building inputs by hand, for a module's tests and the host's benchmarks: a person with
//! nothing but a username, an input around them, settings added one by one, what
//! Confluence holds ([`ConfluenceUser`]'s builders are in `confluence.rs`).

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
            confluence: ConfluenceUser::unknown(),
        }
    }

    /// This input with one more app setting.
    #[must_use]
    pub fn with_setting(mut self, key: &str, value: SettingValue) -> Self {
        self.app.settings.push(Setting { key: key.into(), value });
        self
    }

    /// This input for a person Confluence already has, as `username`, in `groups` (none of
    /// them granted by this app; nothing else known). For more, see
    /// [`with_confluence`](Self::with_confluence).
    #[must_use]
    pub fn existing_user(self, username: &str, groups: &[&str]) -> Self {
        self.with_confluence(ConfluenceUser::existing(username).with_groups(groups))
    }

    /// This input with `user` as what Confluence holds for the person.
    #[must_use]
    pub fn with_confluence(mut self, user: ConfluenceUser) -> Self {
        self.confluence = user;
        self
    }
}
