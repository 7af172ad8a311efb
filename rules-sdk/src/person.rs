//! Lookups on the person: by SCIM path, and the usual sources of an e-mail address and a
//! full name across SCIM and LDAP.

use crate::{path, Person};

impl Person {
    /// The first non-blank value at a SCIM path or LDAP attribute name, trimmed.
    ///
    /// Forms understood (names are case-insensitive):
    ///
    /// | path | looks at |
    /// | --- | --- |
    /// | `userName`, `displayName`, `title`, `externalId`, `active` (`"true"`/`"false"`) … | the core attribute |
    /// | `name` (= `name.formatted`), `name.givenName`, `name.familyName` … | the `name` sub-attributes |
    /// | `emails`, `emails.value`, `emails[type eq "work"].value`, `emails[primary eq true]`, `emails[…].type` | e-mail addresses, the primary first; also `phoneNumbers` |
    /// | `groups` (display names), `groups.value` (ids) | the identity provider's groups |
    /// | `department`, `employeeNumber`, `manager` (id), `manager.displayName` … | the enterprise extension |
    /// | `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department` | the same, naming the schema |
    /// | `urn:ietf:params:scim:schemas:core:2.0:User:title` | the core schema only |
    /// | `badge`, `urn:acme:…:User:badge` | a custom-extension or undeclared attribute, with or without its schema |
    /// | `sAMAccountName`, `mail`, `l` | an LDAP attribute |
    ///
    /// Without a schema, the core schema is tried first, then the enterprise extension,
    /// then the other attributes; the first with a value wins, so `title` finds an LDAP
    /// `title` when the core attribute is empty. Filters support `eq` on `type`, `primary`
    /// and `value`; other filters match nothing. `None` when nothing has a value.
    pub fn attribute(&self, path: &str) -> Option<&str> {
        path::values(self, path).into_iter().next()
    }

    /// Every non-blank value at a SCIM path or LDAP attribute name, trimmed (see
    /// [`Person::attribute`] for the forms). Empty when nothing has a value.
    pub fn attribute_values(&self, path: &str) -> Vec<&str> {
        path::values(self, path)
    }

    /// The person's primary e-mail address, as sent (not normalised): the value marked
    /// primary, else the first of type `work`, else the first; for LDAP, the `mail`
    /// attribute.
    pub fn primary_email(&self) -> Option<&str> {
        let usable = |v: &&crate::TypedValue| !v.value.trim().is_empty();
        self.emails
            .iter()
            .filter(usable)
            .find(|v| v.primary)
            .or_else(|| {
                self.emails
                    .iter()
                    .filter(usable)
                    .find(|v| v.kind.as_deref().is_some_and(|k| k.eq_ignore_ascii_case("work")))
            })
            .or_else(|| self.emails.iter().find(usable))
            .map(|v| v.value.trim())
            .or_else(|| self.attribute("mail"))
    }

    /// The person's full name: `displayName`, else `name.formatted`, else given and family
    /// name joined (`givenName` and `sn` for LDAP), else LDAP `cn`. Whitespace runs are
    /// collapsed; `None` when none of these has a value.
    pub fn full_name(&self) -> Option<String> {
        if let Some(n) = self.attribute("displayName").or_else(|| self.attribute("name.formatted")) {
            return Some(collapse_whitespace(n));
        }
        let given = self.attribute("name.givenName").or_else(|| self.attribute("givenName"));
        let family = self.attribute("name.familyName").or_else(|| self.attribute("sn"));
        let joined = [given, family].into_iter().flatten().collect::<Vec<_>>().join(" ");
        if !joined.is_empty() {
            return Some(collapse_whitespace(&joined));
        }
        self.attribute("cn").map(collapse_whitespace)
    }

    /// The display names of the person's groups in the identity provider, as sent.
    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().map(|g| g.display_name.as_str())
    }
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use crate::{Attribute, Name, Person, Source, TypedValue};

    fn email(value: &str, kind: Option<&str>, primary: bool) -> TypedValue {
        TypedValue { value: value.into(), kind: kind.map(Into::into), primary }
    }

    fn ldap(attrs: &[(&str, &str)]) -> Person {
        let mut p = Person::new(Source::Ldap, "");
        p.attributes = attrs
            .iter()
            .map(|(n, v)| Attribute { schema: None, name: (*n).into(), values: vec![(*v).into()] })
            .collect();
        p
    }

    #[test]
    fn primary_email_prefers_primary_then_work_then_first_then_ldap_mail() {
        type Case<'a> = (Vec<TypedValue>, &'a [(&'a str, &'a str)], Option<&'a str>);
        let cases: &[Case<'_>] = &[
            (vec![email("h@x", Some("home"), false), email(" p@x ", None, true)], &[], Some("p@x")),
            (vec![email("h@x", Some("home"), false), email("w@x", Some("Work"), false)], &[], Some("w@x")),
            (vec![email("h@x", Some("home"), false), email("o@x", Some("other"), false)], &[], Some("h@x")),
            (vec![email(" ", None, true), email("o@x", Some("other"), false)], &[], Some("o@x")),
            (vec![], &[("mail", "m@x")], Some("m@x")),
            (vec![], &[], None),
        ];
        for (emails, attrs, expected) in cases {
            let mut p = ldap(attrs);
            p.emails = emails.clone();
            assert_eq!(p.primary_email(), *expected, "{emails:?} {attrs:?}");
        }
    }

    #[test]
    fn full_name_sources_in_order() {
        let mut p = Person::new(Source::Scim, "ada");
        assert_eq!(p.full_name(), None);
        p.name = Some(Name {
            formatted: None,
            family_name: Some("Lovelace".into()),
            given_name: Some(" Ada ".into()),
            middle_name: None,
            honorific_prefix: None,
            honorific_suffix: None,
        });
        assert_eq!(p.full_name().as_deref(), Some("Ada Lovelace"));
        if let Some(n) = p.name.as_mut() {
            n.formatted = Some("Ada  King".into());
        }
        assert_eq!(p.full_name().as_deref(), Some("Ada King"));
        p.display_name = Some("Countess\tof Lovelace".into());
        assert_eq!(p.full_name().as_deref(), Some("Countess of Lovelace"));

        assert_eq!(
            ldap(&[("givenName", "Ada"), ("sn", "Lovelace"), ("cn", "ada")]).full_name().as_deref(),
            Some("Ada Lovelace")
        );
        assert_eq!(ldap(&[("sn", "Lovelace"), ("cn", "ada")]).full_name().as_deref(), Some("Lovelace"));
        assert_eq!(ldap(&[("cn", "Ada L")]).full_name().as_deref(), Some("Ada L"));
        assert_eq!(ldap(&[("displayName", "Ada (R&D)"), ("cn", "x")]).full_name().as_deref(), Some("Ada (R&D)"));
    }
}
