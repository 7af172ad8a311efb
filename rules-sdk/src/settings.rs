//! The app's settings, as a module reads them: by key, with lenient conversions (an
//! administrator's `"yes"` is a flag, a comma-separated text is a list), and a strict
//! [`SettingError`] for a module that wants to refuse a setting it cannot use.

use std::fmt;

use crate::{App, Input, Regex, SettingValue};

impl SettingValue {
    /// A text value; `None` for other kinds and for blank text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            SettingValue::Text(t) if !t.trim().is_empty() => Some(t.trim()),
            _ => None,
        }
    }

    /// A flag; also text `true`/`yes`/`on`/`1` and `false`/`no`/`off`/`0` (any case) and a
    /// number (non-zero is true). `None` for anything else.
    pub fn as_flag(&self) -> Option<bool> {
        match self {
            SettingValue::Flag(b) => Some(*b),
            SettingValue::Number(n) => Some(*n != 0),
            SettingValue::Text(t) => {
                let t = t.trim();
                let any = |words: &[&str]| words.iter().any(|w| t.eq_ignore_ascii_case(w));
                if any(&["true", "yes", "on", "1"]) {
                    Some(true)
                } else if any(&["false", "no", "off", "0"]) {
                    Some(false)
                } else {
                    None
                }
            }
            SettingValue::TextList(_) | SettingValue::Mapping(_) => None,
        }
    }

    /// A number; also text that parses as one.
    pub fn as_number(&self) -> Option<i64> {
        match self {
            SettingValue::Number(n) => Some(*n),
            SettingValue::Text(t) => t.trim().parse().ok(),
            _ => None,
        }
    }

    /// A list of texts, each trimmed, blanks dropped; also a text split at commas and line
    /// breaks. `None` for flags, numbers and mappings.
    pub fn as_list(&self) -> Option<Vec<&str>> {
        let items: Vec<&str> = match self {
            SettingValue::TextList(items) => items.iter().map(|s| s.trim()).collect(),
            SettingValue::Text(t) => t.split([',', '\n']).map(str::trim).collect(),
            _ => return None,
        };
        Some(items.into_iter().filter(|s| !s.is_empty()).collect())
    }

    /// Key → value pairs in their order, keys and values trimmed. `None` for other kinds.
    pub fn as_mapping(&self) -> Option<Vec<(&str, &str)>> {
        match self {
            SettingValue::Mapping(pairs) => Some(pairs.iter().map(|(k, v)| (k.trim(), v.trim())).collect()),
            _ => None,
        }
    }

    /// What kind of value this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            SettingValue::Text(_) => "text",
            SettingValue::Flag(_) => "flag",
            SettingValue::Number(_) => "number",
            SettingValue::TextList(_) => "text-list",
            SettingValue::Mapping(_) => "mapping",
        }
    }
}

impl App {
    /// The setting with this key (ASCII case-insensitive), if the app has one.
    pub fn setting(&self, key: &str) -> Option<&SettingValue> {
        self.settings.iter().find(|s| s.key.eq_ignore_ascii_case(key)).map(|s| &s.value)
    }

    /// A text setting ([`SettingValue::as_text`]); `None` when absent, blank or not text.
    pub fn setting_text(&self, key: &str) -> Option<&str> {
        self.setting(key).and_then(SettingValue::as_text)
    }

    /// A flag setting ([`SettingValue::as_flag`]); `None` when absent or not a flag.
    pub fn setting_flag(&self, key: &str) -> Option<bool> {
        self.setting(key).and_then(SettingValue::as_flag)
    }

    /// A number setting ([`SettingValue::as_number`]); `None` when absent or not a number.
    pub fn setting_number(&self, key: &str) -> Option<i64> {
        self.setting(key).and_then(SettingValue::as_number)
    }

    /// A list setting ([`SettingValue::as_list`]); empty when absent or not a list.
    pub fn setting_list(&self, key: &str) -> Vec<&str> {
        self.setting(key).and_then(SettingValue::as_list).unwrap_or_default()
    }

    /// A mapping setting ([`SettingValue::as_mapping`]); empty when absent or not a mapping.
    pub fn setting_mapping(&self, key: &str) -> Vec<(&str, &str)> {
        self.setting(key).and_then(SettingValue::as_mapping).unwrap_or_default()
    }

    /// A text setting compiled as a regular expression; `Ok(None)` when absent or blank.
    ///
    /// # Errors
    /// The setting is not text, or not a valid `regex-lite` expression.
    pub fn setting_regex(&self, key: &str) -> Result<Option<Regex>, SettingError> {
        let Some(value) = self.setting(key) else { return Ok(None) };
        if let SettingValue::Text(t) = value {
            if t.trim().is_empty() {
                return Ok(None);
            }
        }
        let text =
            value.as_text().ok_or_else(|| SettingError::wrong_kind(key, "text (a regular expression)", value))?;
        Regex::new(text)
            .map(Some)
            .map_err(|e| SettingError::new(key, format!("is not a valid regular expression: {e}")))
    }
}

impl Input {
    /// Shorthand for [`App::setting`] on `self.app`.
    pub fn setting(&self, key: &str) -> Option<&SettingValue> {
        self.app.setting(key)
    }

    /// Shorthand for [`App::setting_text`] on `self.app`.
    pub fn setting_text(&self, key: &str) -> Option<&str> {
        self.app.setting_text(key)
    }

    /// Shorthand for [`App::setting_flag`] on `self.app`.
    pub fn setting_flag(&self, key: &str) -> Option<bool> {
        self.app.setting_flag(key)
    }

    /// Shorthand for [`App::setting_number`] on `self.app`.
    pub fn setting_number(&self, key: &str) -> Option<i64> {
        self.app.setting_number(key)
    }

    /// Shorthand for [`App::setting_list`] on `self.app`.
    pub fn setting_list(&self, key: &str) -> Vec<&str> {
        self.app.setting_list(key)
    }

    /// Shorthand for [`App::setting_mapping`] on `self.app`.
    pub fn setting_mapping(&self, key: &str) -> Vec<(&str, &str)> {
        self.app.setting_mapping(key)
    }

    /// Shorthand for [`App::setting_regex`] on `self.app`.
    ///
    /// # Errors
    /// As [`App::setting_regex`].
    pub fn setting_regex(&self, key: &str) -> Result<Option<Regex>, SettingError> {
        self.app.setting_regex(key)
    }
}

/// A setting a module cannot use: the wrong kind of value, or text that does not parse.
/// Displays as ``app setting `key` …``, ready to be a rejection reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// The setting's key.
    pub key: String,
    /// What is wrong with it, e.g. "is not a valid regular expression: …".
    pub problem: String,
}

impl SettingError {
    /// A problem with the setting `key`.
    pub fn new(key: &str, problem: impl Into<String>) -> Self {
        Self { key: key.into(), problem: problem.into() }
    }

    /// The setting holds a `found` where `expected` was needed.
    pub fn wrong_kind(key: &str, expected: &str, found: &SettingValue) -> Self {
        Self::new(key, format!("must be {expected}, not a {}", found.kind()))
    }
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "app setting `{}` {}", self.key, self.problem)
    }
}

impl std::error::Error for SettingError {}

#[cfg(test)]
mod tests {
    use crate::{Input, Person, SettingValue, Source};

    fn text(s: &str) -> SettingValue {
        SettingValue::Text(s.into())
    }

    #[test]
    fn conversions() {
        let list = SettingValue::TextList(vec![" a ".into(), "".into(), "b".into()]);
        let mapping = SettingValue::Mapping(vec![(" Admins ".into(), "confluence-administrators".into())]);
        assert_eq!(text(" x ").as_text(), Some("x"));
        assert_eq!(text("  ").as_text(), None);
        assert_eq!(SettingValue::Flag(true).as_text(), None);
        for (v, flag) in [
            (SettingValue::Flag(false), Some(false)),
            (text("Yes"), Some(true)),
            (text("on"), Some(true)),
            (text("1"), Some(true)),
            (text("FALSE"), Some(false)),
            (text("off"), Some(false)),
            (text("maybe"), None),
            (SettingValue::Number(2), Some(true)),
            (SettingValue::Number(0), Some(false)),
            (list.clone(), None),
        ] {
            assert_eq!(v.as_flag(), flag, "{v:?}");
        }
        assert_eq!(text(" 42 ").as_number(), Some(42));
        assert_eq!(SettingValue::Number(-3).as_number(), Some(-3));
        assert_eq!(SettingValue::Flag(true).as_number(), None);
        assert_eq!(list.as_list(), Some(vec!["a", "b"]));
        assert_eq!(text("a, b\nc,,").as_list(), Some(vec!["a", "b", "c"]));
        assert_eq!(SettingValue::Flag(true).as_list(), None);
        assert_eq!(mapping.as_mapping(), Some(vec![("Admins", "confluence-administrators")]));
        assert_eq!(list.as_mapping(), None);
        assert_eq!(mapping.kind(), "mapping");
    }

    #[test]
    fn lookups_by_key() {
        let input = Input::new(Person::new(Source::Scim, "ada"))
            .with_setting("Flag", SettingValue::Flag(true))
            .with_setting("list", text("a,b"))
            .with_setting("re", text("^a+$"))
            .with_setting("bad_re", text("("))
            .with_setting("not_re", SettingValue::Flag(true))
            .with_setting("blank_re", text(" "));
        assert_eq!(input.setting_flag("flag"), Some(true));
        assert_eq!(input.setting_flag("absent"), None);
        assert_eq!(input.setting_list("LIST"), ["a", "b"]);
        assert!(input.setting_list("absent").is_empty());
        assert!(input.setting_mapping("list").is_empty());
        assert_eq!(input.setting_text("list"), Some("a,b"));
        assert_eq!(input.setting_number("flag"), None);
        assert!(input.setting_regex("re").unwrap().unwrap().is_match("aaa"));
        assert!(input.setting_regex("absent").unwrap().is_none());
        assert!(input.setting_regex("blank_re").unwrap().is_none());
        let bad = input.setting_regex("bad_re").unwrap_err();
        assert!(bad.to_string().starts_with("app setting `bad_re` is not a valid regular expression"), "{bad}");
        let wrong = input.setting_regex("not_re").unwrap_err();
        assert_eq!(wrong.to_string(), "app setting `not_re` must be text (a regular expression), not a flag");
    }
}
