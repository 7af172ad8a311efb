//! What Confluence would refuse, checked before a decision is accepted: a module that returns
//! such a decision fails it, rather than the Confluence call failing later.
//!
//! The rules themselves are `crate::model::names`, the ones the connector applies, so a
//! decision that passes here is never refused for its names when it is applied.

use super::types::{AttributeDecision, Decisions};
use crate::model::names::{check_email, check_full_name, ConfluenceUsername, GroupName};

/// # Errors
/// A description of the first field Confluence would refuse.
pub fn decisions(d: &Decisions) -> Result<(), String> {
    if let AttributeDecision::Provision(m) = &d.attributes {
        username(&m.username)?;
        check_email(&m.email).map_err(|e| e.to_string())?;
        check_full_name(&m.full_name).map_err(|e| e.to_string())?;
    }
    for g in d.groups.add.iter().chain(&d.groups.remove).chain(&d.groups.create) {
        group(g)?;
    }
    if let Some(g) = d.groups.create.iter().find(|g| !d.groups.add.contains(g)) {
        return Err(format!("group {g:?} is in create but not in add"));
    }
    if let Some(f) = d.custom_fields.iter().find(|f| f.name.trim().is_empty()) {
        return Err(format!("a custom field has no name (value {:?})", f.value));
    }
    Ok(())
}

/// A Confluence username exactly as Confluence stores it ([`ConfluenceUsername::parse_exact`]):
/// lower-case, at most 255 characters, no whitespace, control or format characters (Unicode
/// Cc, Cf), none of `\ , + < > ' "`, and not `anonymous`.
///
/// # Errors
/// Says which rule the name breaks.
pub fn username(name: &str) -> Result<(), String> {
    ConfluenceUsername::parse_exact(name).map(drop).map_err(|e| e.to_string())
}

/// A Confluence group name exactly as Confluence stores it ([`GroupName::parse_exact`]).
fn group(name: &str) -> Result<(), String> {
    GroupName::parse_exact(name).map(drop).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::names::{NameError, NameProblem};
    use crate::rules::types::{ModuleId, UserMapping};

    #[test]
    fn confluence_name_rules() {
        for ok in ["ada", "ada.lovelace@example.com", "a-b_c"] {
            assert!(username(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Ada", "a b", "a,b", "a+b", "a<b", "a'b", "a\"b", "a\\b", "anonymous", &"a".repeat(256)] {
            assert!(username(bad).is_err(), "{bad}");
        }
        assert!(group("confluence-users").is_ok());
        assert!(group("domain users").is_ok());
        assert!(group("Admins").is_err());
    }

    /// A module that returns a name with an invisible format or control character fails its
    /// decision, with the reason, for the username, a group and the full name alike.
    #[test]
    fn names_that_deceive_are_refused() {
        for (username, full_name, group, field) in [
            ("ad\u{202e}min", "Ada", "staff", "U+202E"),
            ("ada\u{200b}", "Ada", "staff", "U+200B"),
            ("ada", "Ada", "adm\u{2066}ins", "U+2066"),
            ("ada", "Ada", "admins\u{e0041}", "U+E0041"),
            ("ada", "\u{202e}ecalevoL adA", "staff", "full name"),
            ("ada", "Ada\u{7}", "staff", "full name"),
            ("ada", "Ada\u{feff}", "staff", "full name"),
        ] {
            let err = decisions(&provision(username, full_name, "ada@example.com", &[group])).unwrap_err();
            assert!(err.contains(field), "{username:?} {full_name:?} {group:?}: {err}");
        }
        assert_eq!(decisions(&provision("ada", "Ada Lovelace", "ada@example.com", &["staff"])), Ok(()));
    }

    fn provision(username: &str, full_name: &str, email: &str, groups: &[&str]) -> Decisions {
        let mut d = Decisions {
            module: ModuleId { name: "m".into(), hash: "h".into() },
            attributes: AttributeDecision::Provision(UserMapping {
                username: username.into(),
                full_name: full_name.into(),
                email: email.into(),
                active: true,
            }),
            custom_fields: Vec::new(),
            groups: Default::default(),
        };
        d.groups.add = groups.iter().map(|g| (*g).to_owned()).collect();
        d
    }

    /// Names that passed the decision check and were then refused by the connector (or the
    /// other way round) before both used `model::names`: each is now judged the same by both.
    #[test]
    fn the_decision_check_and_the_connector_agree() {
        type ConnectorCheck = fn(&str) -> Result<(), NameError>;
        let connector_user: ConnectorCheck = |n| ConfluenceUsername::parse(n).map(drop);
        let connector_group: ConnectorCheck = |n| GroupName::parse(n).map(drop);
        let groups = [
            "r+d",            // forbidden character: used to pass the decision check
            "sales, emea",    // forbidden character
            "<admins>",       // forbidden characters
            " padded",        // surrounding whitespace
            "padded ",        // surrounding whitespace
            "two\u{a0}words", // whitespace other than a space
            "anonymous",      // reserved
        ];
        for g in groups {
            assert!(connector_group(g).is_err(), "the connector refuses group {g:?}");
            let d = provision("ada", "Ada", "ada@example.com", &[g]);
            assert!(decisions(&d).is_err(), "the decision check refuses group {g:?} too");
        }
        // Full names and e-mail addresses: the decision check used its own copy.
        for (full_name, email) in [(" anonymous ", "ada@example.com"), ("Ada", "ada@b@example.com")] {
            let d = provision("ada", full_name, email, &[]);
            let connector = check_full_name(full_name).and_then(|()| check_email(email));
            assert!(connector.is_err(), "the connector refuses {full_name:?} / {email:?}");
            assert!(decisions(&d).is_err(), "the decision check refuses {full_name:?} / {email:?} too");
        }
        // And what the decision check accepts, the connector sends as it is.
        for (user, group) in [("ada", "domain users"), ("ünïcode", "r&d/ops"), ("a-b_c.d@e", "confluence-users")] {
            let d = provision(user, "Ada", "ada@example.com", &[group]);
            assert_eq!(decisions(&d), Ok(()));
            assert_eq!(ConfluenceUsername::parse(user).map(ConfluenceUsername::into_string), Ok(user.to_owned()));
            assert_eq!(GroupName::parse(group).map(GroupName::into_string), Ok(group.to_owned()));
        }
        // Upper case: the connector lower-cases; a decision must already be lower-case.
        assert!(connector_user("Ada").is_ok());
        let err = decisions(&provision("Ada", "Ada", "ada@example.com", &[])).unwrap_err();
        assert!(err.contains(&NameProblem::NotLowerCase.to_string()), "{err}");
    }
}
