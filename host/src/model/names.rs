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
//! - none of `\ , + < > ' "`, no control characters (Unicode category Cc) and no format
//!   characters (Cf: bidirectional overrides, zero-width characters, tags …; see
//!   [`invisible_char`]);
//! - not `anonymous` (the name of Confluence's anonymous user).
//!
//! Full names are refused the same control and format characters. A name such as
//! `"\u{202E}nimda"` displays as "admin" in a browser, so a person could be made to look
//! like another in Confluence's user lists and audit log; Confluence itself accepts them.
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
    /// An invisible format character (Unicode category Cf), such as U+202E.
    FormatChar(char),
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
            NameProblem::FormatChar(c) => write!(f, "it contains {}", describe_invisible(*c)),
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
        if is_format_char(c) {
            return Err(fail(NameProblem::FormatChar(c)));
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
/// "anonymous" (surrounding whitespace ignored); and UserSync's own: no control or format
/// character ([`invisible_char`]), which would make the name display as something else.
///
/// # Errors
///
/// A [`FieldError`] saying which rule the name breaks.
pub fn check_full_name(full_name: &str) -> Result<(), FieldError> {
    let fail = |reason| Err(FieldError { field: "full name", value: full_name.chars().take(80).collect(), reason });
    if full_name.trim().is_empty() {
        return fail("it is blank");
    }
    if invisible_char(full_name).is_some() {
        return fail("it contains a control or invisible format character (Unicode Cc or Cf), which can make a name display as another");
    }
    if full_name.contains(['<', '>']) {
        return fail("Confluence refuses '<' and '>' in full names");
    }
    if full_name.trim().eq_ignore_ascii_case("anonymous") {
        return fail("\"anonymous\" is reserved");
    }
    Ok(())
}

/// The Unicode format characters (general category Cf) of Unicode 15.0's `UnicodeData.txt`,
/// as inclusive ranges. They are invisible, and some (the bidirectional overrides and
/// isolates, U+202A–U+202E and U+2066–U+2069) reorder the text around them.
const FORMAT_CHARS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),   // soft hyphen
    ('\u{0600}', '\u{0605}'),   // Arabic number signs
    ('\u{061C}', '\u{061C}'),   // Arabic letter mark
    ('\u{06DD}', '\u{06DD}'),   // Arabic end of ayah
    ('\u{070F}', '\u{070F}'),   // Syriac abbreviation mark
    ('\u{0890}', '\u{0891}'),   // Arabic pound and piastre marks above
    ('\u{08E2}', '\u{08E2}'),   // Arabic disputed end of ayah
    ('\u{180E}', '\u{180E}'),   // Mongolian vowel separator
    ('\u{200B}', '\u{200F}'),   // zero-width space, (non-)joiner, LRM, RLM
    ('\u{202A}', '\u{202E}'),   // bidirectional embeddings and overrides
    ('\u{2060}', '\u{2064}'),   // word joiner, invisible operators
    ('\u{2066}', '\u{206F}'),   // bidirectional isolates, deprecated format characters
    ('\u{FEFF}', '\u{FEFF}'),   // zero-width no-break space (byte-order mark)
    ('\u{FFF9}', '\u{FFFB}'),   // interlinear annotation
    ('\u{110BD}', '\u{110BD}'), // Kaithi number sign
    ('\u{110CD}', '\u{110CD}'), // Kaithi number sign above
    ('\u{13430}', '\u{1343F}'), // Egyptian hieroglyph format controls
    ('\u{1BCA0}', '\u{1BCA3}'), // shorthand format controls
    ('\u{1D173}', '\u{1D17A}'), // musical symbol beam and slur controls
    ('\u{E0001}', '\u{E0001}'), // language tag
    ('\u{E0020}', '\u{E007F}'), // tag characters
];

/// Whether `c` is a Unicode format character (general category Cf).
pub fn is_format_char(c: char) -> bool {
    FORMAT_CHARS
        .binary_search_by(|&(first, last)| {
            if last < c {
                std::cmp::Ordering::Less
            } else if first > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// The first control character (category Cc) or format character (Cf, [`is_format_char`])
/// in `text`, if any: what no username, group name or full name may contain. The one check
/// that SCIM input (`inbound`) and the rules' decisions (`rules::validate`) share with the
/// connector.
pub fn invisible_char(text: &str) -> Option<char> {
    text.chars().find(|&c| c.is_control() || is_format_char(c))
}

/// `U+202E (a format character …)`: how an error names an invisible character.
pub fn describe_invisible(c: char) -> String {
    let kind = if c.is_control() { "control character" } else { "invisible format character (Unicode Cf)" };
    format!("U+{:04X}, a {kind}, which can make a name display as something it is not", u32::from(c))
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
    fn format_and_control_characters_are_refused_in_every_name() {
        // The table is sorted and its ranges do not overlap (the binary search needs it).
        assert!(FORMAT_CHARS.windows(2).all(|w| w[0].1 < w[1].0) && FORMAT_CHARS.iter().all(|(a, b)| a <= b));
        let cf = [
            '\u{AD}',
            '\u{600}',
            '\u{605}',
            '\u{61C}',
            '\u{6DD}',
            '\u{70F}',
            '\u{890}',
            '\u{8E2}',
            '\u{180E}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}',
            '\u{202A}',
            '\u{202E}',
            '\u{2060}',
            '\u{2064}',
            '\u{2066}',
            '\u{2069}',
            '\u{206F}',
            '\u{FEFF}',
            '\u{FFF9}',
            '\u{FFFB}',
            '\u{110BD}',
            '\u{110CD}',
            '\u{13430}',
            '\u{1343F}',
            '\u{1BCA0}',
            '\u{1BCA3}',
            '\u{1D173}',
            '\u{1D17A}',
            '\u{E0001}',
            '\u{E0020}',
            '\u{E0041}',
            '\u{E007F}',
        ];
        for c in cf {
            assert!(is_format_char(c), "U+{:04X} is Cf", u32::from(c));
            assert_eq!(invisible_char(&format!("ad{c}min")), Some(c));
            user(&format!("ad{c}min"), Err(NameProblem::FormatChar(c)));
            group(&format!("ad{c}mins"), Err(NameProblem::FormatChar(c)));
            assert!(check_full_name(&format!("Ada {c}Lovelace")).is_err(), "U+{:04X}", u32::from(c));
        }
        // Their neighbours, and other characters names carry, are not.
        let not_cf = [
            'a',
            'é',
            'ß',
            '\u{AC}',
            '\u{AE}',
            '\u{5FF}',
            '\u{606}',
            '\u{61B}',
            '\u{61D}',
            '\u{180D}',
            '\u{180F}',
            '\u{200A}',
            '\u{2010}',
            '\u{2029}',
            '\u{202F}',
            '\u{2065}',
            '\u{2070}',
            '\u{FEFE}',
            '\u{FF00}',
            '\u{FFFC}',
            '\u{13440}',
            '\u{1D17B}',
            '\u{E0000}',
            '\u{E0002}',
            '\u{E0080}',
            '😀',
            '中',
        ];
        for c in not_cf {
            assert!(!is_format_char(c), "U+{:04X} is not Cf", u32::from(c));
        }
        assert_eq!(invisible_char("Zoë Ødegård-李"), None);
        assert_eq!(check_full_name("Zoë Ødegård-李"), Ok(()));
        // Control characters (Cc), in full names too.
        assert_eq!(invisible_char("a\u{85}b"), Some('\u{85}'));
        for bad in ["Ada\nLovelace", "Ada\u{7}", "\u{9F}Ada"] {
            assert_eq!(check_full_name(bad).map_err(|e| e.field), Err("full name"), "{bad:?}");
        }
        // The reason says what was found, and the name is shown escaped.
        let err = ConfluenceUsername::parse("\u{202E}nimda").unwrap_err().to_string();
        assert!(err.contains("U+202E") && err.contains("invisible format character"), "{err}");
        assert!(err.contains("\\u{202e}nimda"), "{err}");
        let err = check_full_name("\u{202E}nimdA").unwrap_err().to_string();
        assert!(err.contains("format character") && err.contains("\\u{202e}"), "{err}");
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
