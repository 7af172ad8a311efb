//! Declaring the app settings a module reads ([`Rules::settings`](crate::Rules::settings)):
//! one [`SettingDeclaration`] per key, with its kind, default and a line of help.
//!
//! The host reads the declaration when it loads the module and refuses an app whose
//! settings do not fit: a key the module does not declare (a typo, say, that would
//! otherwise be silently ignored), or a value of the wrong kind. Values are checked as
//! this SDK's readers accept them: a `flag` may also be `"yes"`/`"no"` … or a number, a
//! `number` text that parses, a `text-list` comma-separated text.
//!
//! ```
//! use usersync_rules::{SettingDeclaration, SettingValue};
//!
//! let declared = vec![
//!     SettingDeclaration::flag("create_users", true, "Create people Confluence does not have yet."),
//!     SettingDeclaration::text_list("extra_groups", "Groups everyone joins."),
//!     SettingDeclaration::text("suffix", "Appended to usernames.").with_default(SettingValue::Text(String::new())),
//! ];
//! assert_eq!(declared[0].default, Some(SettingValue::Flag(true)));
//! ```

use crate::{SettingDeclaration, SettingKind, SettingValue};

impl SettingDeclaration {
    /// A setting of `kind` without a default (the module behaves as documented in `help`
    /// when it is absent).
    pub fn new(key: impl Into<String>, kind: SettingKind, help: impl Into<String>) -> Self {
        SettingDeclaration { key: key.into(), kind, default: None, help: help.into() }
    }

    /// A text setting (also a regular expression, a path …), without a default.
    pub fn text(key: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(key, SettingKind::Text, help)
    }

    /// A flag, `default` when absent.
    pub fn flag(key: impl Into<String>, default: bool, help: impl Into<String>) -> Self {
        Self::new(key, SettingKind::Flag, help).with_default(SettingValue::Flag(default))
    }

    /// A number, `default` when absent.
    pub fn number(key: impl Into<String>, default: i64, help: impl Into<String>) -> Self {
        Self::new(key, SettingKind::Number, help).with_default(SettingValue::Number(default))
    }

    /// A list of texts (or comma-separated text), without a default (empty when absent).
    pub fn text_list(key: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(key, SettingKind::TextList, help)
    }

    /// Ordered key → value pairs, without a default (none when absent).
    pub fn mapping(key: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(key, SettingKind::Mapping, help)
    }

    /// This declaration with a default value, shown to administrators. It should be of the
    /// declared kind: the host refuses a module whose default is not.
    #[must_use]
    pub fn with_default(mut self, value: SettingValue) -> Self {
        self.default = Some(value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors() {
        let d = SettingDeclaration::flag("a", false, "help");
        assert_eq!(
            d,
            SettingDeclaration {
                key: "a".into(),
                kind: SettingKind::Flag,
                default: Some(SettingValue::Flag(false)),
                help: "help".into()
            }
        );
        assert_eq!(SettingDeclaration::number("n", 3, "").default, Some(SettingValue::Number(3)));
        for (d, kind) in [
            (SettingDeclaration::text("t", ""), SettingKind::Text),
            (SettingDeclaration::text_list("l", ""), SettingKind::TextList),
            (SettingDeclaration::mapping("m", ""), SettingKind::Mapping),
        ] {
            assert_eq!((d.kind, d.default), (kind, None));
        }
        let with = SettingDeclaration::text("t", "").with_default(SettingValue::Text("x".into()));
        assert_eq!(with.default, Some(SettingValue::Text("x".into())));
    }
}
