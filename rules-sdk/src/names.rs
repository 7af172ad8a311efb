//! Confluence's naming rules, applied to what an identity provider sends.
//!
//! Confluence refuses a username that is not lower-case or holds whitespace, control
//! characters or any of `\ , + < > ' "`, and group names that are not lower-case. The host
//! checks every decision against these rules and fails one that breaks them; these
//! functions make a value that passes.

/// Characters Confluence forbids in a username.
pub const FORBIDDEN_IN_USERNAMES: &[char] = &['\\', ',', '+', '<', '>', '\'', '"'];

/// A Confluence username made from `raw`: trimmed, lower-cased, each run of whitespace
/// replaced by `_`, and control characters and `\ , + < > ' "` removed.
///
/// `"  Ada Lovelace@Example.COM"` becomes `"ada_lovelace@example.com"`, `"O'Brien, Pat"`
/// becomes `"obrien_pat"`. The result may be empty (a module should then refuse the
/// person); it is not truncated, so a name over 255 characters still fails the host's
/// check rather than silently colliding with another.
pub fn normalize_username(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut in_space = false;
    for c in raw.trim().chars() {
        if c.is_whitespace() {
            in_space = true;
            continue;
        }
        if c.is_control() || FORBIDDEN_IN_USERNAMES.contains(&c) {
            continue;
        }
        if in_space && !out.is_empty() {
            out.push('_');
        }
        in_space = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// An e-mail address as Confluence stores it: trimmed and lower-cased (`" Ada@Example.COM "`
/// becomes `"ada@example.com"`). It is not checked: see [`is_usable_email`].
pub fn normalize_email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// Whether Confluence accepts `email`: one `@` with something on either side, and no
/// whitespace.
pub fn is_usable_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@') && !email.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// A Confluence group name made from `raw`: trimmed, lower-cased, whitespace runs collapsed
/// to one space, control characters and the characters Confluence refuses in names
/// (`\ , + < > ' "`) removed (`" Engineering  Leads "` becomes `"engineering leads"`, `"R+D"`
/// becomes `"rd"`). May be empty.
pub fn normalize_group(raw: &str) -> String {
    raw.split_whitespace()
        .map(|word| {
            word.chars()
                .filter(|c| !c.is_control() && !FORBIDDEN_IN_USERNAMES.contains(c))
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A lower-case slug for building names: letters and digits kept (lower-cased), every run
/// of anything else becomes one `-`, none at either end (`"Research & Development"` becomes
/// `"research-development"`). May be empty.
pub fn slug(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut gap = false;
    for c in raw.chars() {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('-');
            }
            gap = false;
            out.extend(c.to_lowercase());
        } else {
            gap = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        let cases = [
            ("Ada", "ada"),
            ("  Ada Lovelace@Example.COM ", "ada_lovelace@example.com"),
            ("O'Brien, Pat", "obrien_pat"),
            ("a\\b,c+d<e>f'g\"h", "abcdefgh"),
            ("tab\tand\n\nnewline", "tab_and_newline"),
            ("ctrl\u{7}char", "ctrlchar"),
            ("ÉMILE", "émile"),
            ("a + b", "a_b"),
            ("+ leading", "leading"),
            ("   ", ""),
            ("\"'", ""),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize_username(raw), expected, "{raw:?}");
            let n = normalize_username(raw);
            assert_eq!(n, n.to_lowercase());
            assert!(!n.contains(char::is_whitespace) && !n.contains(FORBIDDEN_IN_USERNAMES));
        }
    }

    #[test]
    fn emails() {
        assert_eq!(normalize_email(" Ada@Example.COM "), "ada@example.com");
        for ok in ["a@b", "ada.lovelace+x@example.com"] {
            assert!(is_usable_email(ok), "{ok}");
        }
        for bad in ["", "ada", "@b", "a@", "a b@c", "a@b@c"] {
            assert!(!is_usable_email(bad), "{bad}");
        }
    }

    #[test]
    fn groups_and_slugs() {
        assert_eq!(normalize_group(" Engineering  Leads "), "engineering leads");
        assert_eq!(normalize_group("A\u{7}dmins"), "admins");
        assert_eq!(normalize_group(" \u{7} "), "");
        assert_eq!(normalize_group("R+D, \"<Ops>\""), "rd ops", "characters Confluence refuses are dropped");
        assert_eq!(slug("Research & Development"), "research-development");
        assert_eq!(slug("  --Zürich (HQ)-- "), "zürich-hq");
        assert_eq!(slug("R2D2"), "r2d2");
        assert_eq!(slug("&&"), "");
    }
}
