//! Confluence's naming rules, once: usernames and group names valid by construction, and
//! the checks on a full name and an e-mail address. The rules' decision check
//! (`rules::validate`) and the connector (`confluence`) both use them, so a name a decision
//! may carry is a name the connector will send.
//!
//! Confluence stores every username and group name in lower case and refuses a few characters
//! (reference §1.1, §4.2, §4.3). [`ConfluenceUsername::parse`] and [`GroupName::parse`] lower-case
//! the input first and then check it, so a value of either type can be sent to Confluence as it is.
//! [`ConfluenceUsername::parse_exact`] and [`GroupName::parse_exact`] refuse upper case instead:
//! a decision must name the user and groups as Confluence will store them.
//!
//! Rules for both kinds:
//! - not blank, at most [`MAX_NAME_CHARS`] characters (the database column is 255);
//! - none of `\ , + < > ' "` and no control characters;
//! - not `anonymous` (the name of Confluence's anonymous user).
//!
//! Usernames may contain no whitespace at all. Group names may contain single inner spaces
//! (directory groups such as `domain users` exist and must survive a listing), but no other
//! whitespace and none at either end.

use std::fmt;
use std::str::FromStr;

/// The longest name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// The characters Confluence refuses in usernames (reference §1.1); also refused in group names.
pub const FORBIDDEN_CHARS: &[char] = &['\\', ',', '+', '<', '>', '\'', '"'];

/// Which kind of name failed to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Username,
    GroupName,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Username => "username",
            NameKind::GroupName => "group name",
        })
    }
}

/// What was wrong with a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameProblem {
    Blank,
    TooLong {
        chars: usize,
    },
    Whitespace,
    /// Leading or trailing whitespace (group names only; usernames report [`NameProblem::Whitespace`]).
    SurroundingWhitespace,
    ForbiddenChar(char),
    ControlChar,
    Reserved,
    /// Upper case where the exact form is required ([`ConfluenceUsername::parse_exact`]).
    NotLowerCase,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Blank => f.write_str("it is blank"),
            NameProblem::TooLong { chars } => {
                write!(f, "it has {chars} characters, more than the {MAX_NAME_CHARS} Confluence stores")
            }
            NameProblem::Whitespace => f.write_str("it contains whitespace, which Confluence does not allow"),
            NameProblem::SurroundingWhitespace => f.write_str("it starts or ends with whitespace"),
            NameProblem::ForbiddenChar(c) => {
                write!(f, "it contains {c:?}; Confluence refuses the characters \\ , + < > ' \"")
            }
            NameProblem::ControlChar => f.write_str("it contains a control character"),
            NameProblem::Reserved => f.write_str("\"anonymous\" is reserved for Confluence's anonymous user"),
            NameProblem::NotLowerCase => f.write_str("it is not lower-case, as Confluence stores names"),
        }
    }
}

/// A name Confluence would refuse, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Confluence {kind} {name:?}: {problem}")]
pub struct NameError {
    pub kind: NameKind,
    /// The name as given (before lower-casing), cut to 80 characters.
    pub name: String,
    pub problem: NameProblem,
}

/// Whether [`check`] lower-cases the name or requires it lower-case already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Fold,
    Exact,
}

fn check(kind: NameKind, raw: &str, case: Case) -> Result<String, NameError> {
    let fail = |problem| NameError { kind, name: raw.chars().take(80).collect(), problem };
    let name = raw.to_lowercase();
    if case == Case::Exact && name != raw {
        return Err(fail(NameProblem::NotLowerCase));
    }
    if name.trim().is_empty() {
        return Err(fail(NameProblem::Blank));
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(fail(NameProblem::TooLong { chars }));
    }
    for c in name.chars() {
        if let Some(&bad) = FORBIDDEN_CHARS.iter().find(|&&f| f == c) {
            return Err(fail(NameProblem::ForbiddenChar(bad)));
        }
        let allowed_space = kind == NameKind::GroupName && c == ' ';
        if c.is_whitespace() && !allowed_space {
            return Err(fail(NameProblem::Whitespace));
        }
        if c.is_control() {
            return Err(fail(NameProblem::ControlChar));
        }
    }
    if name.starts_with(' ') || name.ends_with(' ') {
        return Err(fail(NameProblem::SurroundingWhitespace));
    }
    if name == "anonymous" {
        return Err(fail(NameProblem::Reserved));
    }
    Ok(name)
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Lower-cases `raw` and checks it against Confluence's rules.
            ///
            /// # Errors
            ///
            /// A [`NameError`] saying what was wrong.
            pub fn parse(raw: &str) -> Result<Self, NameError> {
                check($kind, raw, Case::Fold).map(Self)
            }

            /// `raw` exactly as Confluence stores it: as [`Self::parse`], but upper case
            /// is an error rather than lower-cased.
            ///
            /// # Errors
            ///
            /// A [`NameError`] saying what was wrong ([`NameProblem::NotLowerCase`] for
            /// upper case).
            pub fn parse_exact(raw: &str) -> Result<Self, NameError> {
                check($kind, raw, Case::Exact).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = NameError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = NameError;

            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }
    };
}

name_type!(
    /// A Confluence username: lower case, no whitespace, none of `\ , + < > ' "`, not `anonymous`.
    ConfluenceUsername,
    NameKind::Username
);

name_type!(
    /// A Confluence group name: lower case, none of `\ , + < > ' "`, single inner spaces only,
    /// not `anonymous`.
    GroupName,
    NameKind::GroupName
);

/// A full name or e-mail address Confluence would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Confluence {field} {value:?}: {reason}")]
pub struct FieldError {
    /// `"full name"` or `"email"`.
    pub field: &'static str,
    /// The value as given, cut to 80 characters.
    pub value: String,
    pub reason: &'static str,
}

/// Confluence's rules for a full name (reference §1.1, §1.2): not blank, no `<` or `>`, not
/// "anonymous" (surrounding whitespace ignored).
///
/// # Errors
///
/// A [`FieldError`] saying which rule the name breaks.
pub fn check_full_name(full_name: &str) -> Result<(), FieldError> {
    let fail = |reason| Err(FieldError { field: "full name", value: full_name.chars().take(80).collect(), reason });
    if full_name.trim().is_empty() {
        return fail("it is blank");
    }
    if full_name.contains(['<', '>']) {
        return fail("Confluence refuses '<' and '>' in full names");
    }
    if full_name.trim().eq_ignore_ascii_case("anonymous") {
        return fail("\"anonymous\" is reserved");
    }
    Ok(())
}

/// A light check of an e-mail address (Confluence does the full one): one `@` with
/// something on each side, no whitespace.
///
/// # Errors
///
/// A [`FieldError`] when the value is not an address.
pub fn check_email(email: &str) -> Result<(), FieldError> {
    let fail = |reason| Err(FieldError { field: "email", value: email.chars().take(80).collect(), reason });
    if email.trim().is_empty() {
        return fail("it is blank");
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.contains(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => fail("it is not an e-mail address"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn user(raw: &str, expected: Result<&str, NameProblem>) {
        let got = ConfluenceUsername::parse(raw);
        match expected {
            Ok(name) => assert_eq!(got.as_ref().map(ConfluenceUsername::as_str), Ok(name), "{raw:?}"),
            Err(problem) => assert_eq!(got.map_err(|e| e.problem), Err(problem), "{raw:?}"),
        }
    }

    #[track_caller]
    fn group(raw: &str, expected: Result<&str, NameProblem>) {
        let got = GroupName::parse(raw);
        match expected {
            Ok(name) => assert_eq!(got.as_ref().map(GroupName::as_str), Ok(name), "{raw:?}"),
            Err(problem) => assert_eq!(got.map_err(|e| e.problem), Err(problem), "{raw:?}"),
        }
    }

    #[test]
    fn usernames() {
        use NameProblem::*;
        user("alice", Ok("alice"));
        user("Alice.Smith", Ok("alice.smith"));
        user("ALICE@Example.COM", Ok("alice@example.com"));
        user("j_doe-2", Ok("j_doe-2"));
        user("Ünïcode", Ok("ünïcode"));
        user("", Err(Blank));
        user("   ", Err(Blank));
        user("al ice", Err(Whitespace));
        user(" alice", Err(Whitespace));
        user("alice\t", Err(Whitespace));
        user("a\u{a0}b", Err(Whitespace));
        user("a\u{7}b", Err(ControlChar));
        for c in ['\\', ',', '+', '<', '>', '\'', '"'] {
            user(&format!("a{c}b"), Err(ForbiddenChar(c)));
        }
        user("anonymous", Err(Reserved));
        user("Anonymous", Err(Reserved));
        user("anonymous2", Ok("anonymous2"));
        user(&"a".repeat(255), Ok(&"a".repeat(255)));
        user(&"a".repeat(256), Err(TooLong { chars: 256 }));
    }

    #[test]
    fn group_names() {
        use NameProblem::*;
        group("Confluence-Users", Ok("confluence-users"));
        group("Domain Users", Ok("domain users"));
        group("r&d/ops", Ok("r&d/ops"));
        group(" padded", Err(SurroundingWhitespace));
        group("padded ", Err(SurroundingWhitespace));
        group("tab\tgroup", Err(Whitespace));
        group("line\ngroup", Err(Whitespace));
        group("", Err(Blank));
        group("a+b", Err(ForbiddenChar('+')));
        group("ANONYMOUS", Err(Reserved));
        group(&"g".repeat(256), Err(TooLong { chars: 256 }));
    }

    #[test]
    fn error_says_what_was_wrong() {
        let err = ConfluenceUsername::parse("Bob Smith").unwrap_err();
        assert_eq!(err.kind, NameKind::Username);
        assert_eq!(err.name, "Bob Smith");
        let text = err.to_string();
        assert!(text.contains("username \"Bob Smith\""), "{text}");
        assert!(text.contains("whitespace"), "{text}");
        let err = GroupName::parse("a<b").unwrap_err().to_string();
        assert!(err.contains("group name") && err.contains("'<'"), "{err}");
    }

    #[test]
    fn exact_names_refuse_upper_case() {
        assert_eq!(ConfluenceUsername::parse_exact("ada").map(ConfluenceUsername::into_string), Ok("ada".into()));
        assert_eq!(ConfluenceUsername::parse_exact("Ada").map_err(|e| e.problem), Err(NameProblem::NotLowerCase));
        assert_eq!(GroupName::parse_exact("Admins").map_err(|e| e.problem), Err(NameProblem::NotLowerCase));
        assert_eq!(GroupName::parse_exact("a+b").map_err(|e| e.problem), Err(NameProblem::ForbiddenChar('+')));
        assert_eq!(GroupName::parse_exact("domain users").map(GroupName::into_string), Ok("domain users".into()));
    }

    #[test]
    fn full_name_and_email_rules() {
        assert_eq!(check_full_name("Ada Lovelace"), Ok(()));
        for bad in ["", "  ", "a<b", "a>b", "Anonymous", " anonymous "] {
            assert_eq!(check_full_name(bad).map_err(|e| e.field), Err("full name"), "{bad:?}");
        }
        assert_eq!(check_email("a@b.c"), Ok(()));
        for bad in ["", " ", "ab", "@b", "a@", "a b@c", "a@b@c"] {
            assert_eq!(check_email(bad).map_err(|e| e.field), Err("email"), "{bad:?}");
        }
        let text = check_email("a@b@c").unwrap_err().to_string();
        assert!(text.contains("email \"a@b@c\""), "{text}");
    }

    #[test]
    fn conversions_agree_with_parse() {
        let a: ConfluenceUsername = "Carol".parse().unwrap();
        let b = ConfluenceUsername::try_from("carol").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "carol");
        assert_eq!(GroupName::parse("X").unwrap().into_string(), "x");
    }
}
