//! The field rules of user creation and update (reference §1.1, §1.2, §4.3), each failure
//! reported with an i18n-style key as Confluence's validation errors carry.
//!
//! The keys are the emulator's own: the reference does not quote Confluence's.

/// One failed rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub key: &'static str,
    pub message: String,
}

impl FieldError {
    fn new(key: &'static str, message: impl Into<String>) -> Self {
        Self { key, message: message.into() }
    }
}

const FORBIDDEN_USERNAME_CHARS: &[char] = &['\\', ',', '+', '<', '>', '\'', '"'];

/// Not blank; none of `\ , + < > ' "`; no whitespace; not `anonymous`; no upper case.
pub(crate) fn check_username(name: Option<&str>, errors: &mut Vec<FieldError>) {
    let Some(name) = name.filter(|n| !n.trim().is_empty()) else {
        errors.push(FieldError::new("user.username.blank", "userName must not be null or blank"));
        return;
    };
    if let Some(c) = name.chars().find(|c| FORBIDDEN_USERNAME_CHARS.contains(c)) {
        errors.push(FieldError::new("user.username.invalid.character", format!("userName must not contain '{c}'")));
    }
    if name.chars().any(char::is_whitespace) {
        errors.push(FieldError::new("user.username.whitespace", "userName must not contain whitespace"));
    }
    if name.eq_ignore_ascii_case("anonymous") {
        errors.push(FieldError::new("user.username.anonymous", "userName must not be 'anonymous'"));
    }
    if name.chars().any(char::is_uppercase) {
        errors.push(FieldError::new("user.username.uppercase", "Usernames must be lower case"));
    }
}

/// Not blank; no `<` or `>`; not `anonymous`.
pub(crate) fn check_full_name(full_name: Option<&str>, errors: &mut Vec<FieldError>) {
    let Some(full_name) = full_name.filter(|n| !n.trim().is_empty()) else {
        errors.push(FieldError::new("user.fullname.blank", "fullName must not be null or blank"));
        return;
    };
    if full_name.contains(['<', '>']) {
        errors.push(FieldError::new("user.fullname.invalid.character", "fullName must not contain '<' or '>'"));
    }
    if full_name.trim().eq_ignore_ascii_case("anonymous") {
        errors.push(FieldError::new("user.fullname.anonymous", "fullName must not be 'anonymous'"));
    }
}

/// Not blank, and shaped `local@domain` with no whitespace, one `@`, and a domain that
/// neither starts nor ends with a dot.
pub(crate) fn check_email(email: Option<&str>, errors: &mut Vec<FieldError>) {
    let Some(email) = email.filter(|e| !e.trim().is_empty()) else {
        errors.push(FieldError::new("user.email.blank", "email must not be null or blank"));
        return;
    };
    if !is_valid_email(email) {
        errors.push(FieldError::new("user.email.invalid", format!("'{email}' is not a valid email address")));
    }
}

fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !email.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn keys(check: fn(Option<&str>, &mut Vec<FieldError>), value: Option<&str>) -> Vec<&'static str> {
        let mut errors = Vec::new();
        check(value, &mut errors);
        errors.into_iter().map(|e| e.key).collect()
    }

    #[test]
    fn username_rules() {
        assert!(keys(check_username, Some("jane.doe_1@corp-x")).is_empty());
        for bad in ["a\\b", "a,b", "a+b", "a<b", "a>b", "a'b", "a\"b"] {
            assert_eq!(keys(check_username, Some(bad)), ["user.username.invalid.character"], "{bad}");
        }
        assert_eq!(keys(check_username, Some("a b")), ["user.username.whitespace"]);
        assert_eq!(keys(check_username, Some("a\tb")), ["user.username.whitespace"]);
        assert_eq!(keys(check_username, Some("anonymous")), ["user.username.anonymous"]);
        assert_eq!(keys(check_username, Some("Jane")), ["user.username.uppercase"]);
        assert_eq!(keys(check_username, Some("  ")), ["user.username.blank"]);
        assert_eq!(keys(check_username, None), ["user.username.blank"]);
    }

    #[test]
    fn full_name_and_email_rules() {
        assert!(keys(check_full_name, Some("Rytis RŪKŠTELĖ")).is_empty());
        assert_eq!(keys(check_full_name, Some("<b>x</b>")), ["user.fullname.invalid.character"]);
        assert_eq!(keys(check_full_name, Some("Anonymous")), ["user.fullname.anonymous"]);
        assert_eq!(keys(check_full_name, Some("")), ["user.fullname.blank"]);
        assert!(keys(check_email, Some("a.b+c@example.co.uk")).is_empty());
        for bad in ["plain", "@x.org", "a@", "a@@b", "a b@c.d", "a@.x", "a@x.", "a@x..y"] {
            assert_eq!(keys(check_email, Some(bad)), ["user.email.invalid"], "{bad}");
        }
        assert_eq!(keys(check_email, None), ["user.email.blank"]);
    }
}
