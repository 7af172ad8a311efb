//! The default attribute mapping: what [`Rules::map_attributes`](crate::Rules) does unless a
//! module overrides it, in pieces a module can reuse.
//!
//! | field | SCIM | LDAP |
//! | --- | --- | --- |
//! | username | `userName` | `userPrincipalName`, else `sAMAccountName`, else `uid`, else the person's `userName` |
//! | e-mail | the primary `emails` value (else the first `work`, else the first) | `mail` |
//! | full name | `displayName`, else `name.formatted`, else given + family name | `displayName`, else `givenName` + `sn`, else `cn` |
//! | active | `active` | `active` |
//!
//! The username and e-mail address are normalised ([`normalize_username`](crate::normalize_username),
//! [`normalize_email`](crate::normalize_email)); a person without a usable one is rejected.

use crate::{AttributeDecision, Input, Person, Source, UserFields};

/// The default attribute decision for `input` (see the module's table).
pub fn map_attributes(input: &Input) -> AttributeDecision {
    user_fields(&input.person).into_decision()
}

/// The default fields for `person`, not yet normalised: for a module that changes one
/// and keeps the others.
pub fn user_fields(person: &Person) -> UserFields<'_> {
    UserFields {
        username: username(person),
        email: person.primary_email(),
        full_name: person.full_name(),
        active: person.active,
    }
}

/// The person's username as the identity provider sends it (not normalised): `userName`
/// for SCIM; `userPrincipalName`, `sAMAccountName` or `uid` for LDAP, else `userName`.
pub fn username(person: &Person) -> Option<&str> {
    let ldap = match person.source {
        Source::Ldap => ["userPrincipalName", "sAMAccountName", "uid"].into_iter().find_map(|a| person.attribute(a)),
        Source::Scim => None,
    };
    ldap.or_else(|| Some(person.user_name.trim()).filter(|u| !u.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attribute, TypedValue, UserMapping};

    fn ldap(attrs: &[(&str, &str)]) -> Person {
        let mut p = Person::new(Source::Ldap, "");
        p.attributes = attrs
            .iter()
            .map(|(n, v)| Attribute { schema: None, name: (*n).into(), values: vec![(*v).into()] })
            .collect();
        p
    }

    #[test]
    fn usernames_by_source() {
        let cases: &[(Person, Option<&str>)] = &[
            (Person::new(Source::Scim, " Ada@X.org "), Some("Ada@X.org")),
            (Person::new(Source::Scim, ""), None),
            (ldap(&[("userPrincipalName", "ada@corp"), ("sAMAccountName", "ada")]), Some("ada@corp")),
            (ldap(&[("sAMAccountName", "ada"), ("uid", "al")]), Some("ada")),
            (ldap(&[("uid", "al")]), Some("al")),
            (ldap(&[]), None),
        ];
        for (person, expected) in cases {
            assert_eq!(username(person), *expected, "{:?}", person.attributes);
        }
        let mut p = ldap(&[]);
        p.user_name = "from-host".into();
        assert_eq!(username(&p), Some("from-host"));
        // A SCIM person's LDAP-looking attribute is not a username source.
        let mut p = Person::new(Source::Scim, "ada");
        p.attributes = ldap(&[("sAMAccountName", "x")]).attributes;
        assert_eq!(username(&p), Some("ada"));
    }

    #[test]
    fn default_mapping() {
        let mut p = Person::new(Source::Scim, "Ada.Lovelace@Example.com");
        p.display_name = Some("Ada Lovelace".into());
        p.active = false;
        p.emails.push(TypedValue { value: "Ada@Example.com".into(), kind: None, primary: true });
        assert_eq!(
            map_attributes(&Input::new(p)),
            AttributeDecision::Provision(UserMapping {
                username: "ada.lovelace@example.com".into(),
                full_name: "Ada Lovelace".into(),
                email: "ada@example.com".into(),
                active: false,
            })
        );
        let l =
            ldap(&[("sAMAccountName", "ADA"), ("mail", "ada@corp.example"), ("givenName", "Ada"), ("sn", "Lovelace")]);
        assert_eq!(
            map_attributes(&Input::new(l)),
            AttributeDecision::Provision(UserMapping {
                username: "ada".into(),
                full_name: "Ada Lovelace".into(),
                email: "ada@corp.example".into(),
                active: true,
            })
        );
        assert_eq!(
            map_attributes(&Input::new(Person::new(Source::Scim, "ada"))),
            AttributeDecision::Reject("no usable e-mail address".into())
        );
    }
}
