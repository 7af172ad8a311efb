//! Example rules module: groups from where a person works.
//!
//! Each person joins `dept-<department>` for their department (the SCIM enterprise
//! `department`, or an LDAP / custom `department` attribute) and `loc-<location>` for their
//! location (a custom or LDAP `location` attribute, else LDAP `l`), each created in
//! Confluence if missing. Names are slugs: `Research & Development` → `dept-research-development`.
//! A person without a department or location simply does not get that group.
//!
//! Everything else is the SDK's default: the default attribute mapping, no custom fields.
//! No settings: it declares none, so the host refuses an app that sets any.
//!
//! Groups are grants: each decision wants the groups of the person's current department
//! and location, so after a move the old ones (granted by this app) are revoked.

use usersync_rules::{slug, GroupDecision, Input, Person, Rules};

/// The module.
pub struct DepartmentGroups;

impl Rules for DepartmentGroups {
    fn map_groups(input: &Input) -> GroupDecision {
        let person = &input.person;
        let mut groups = GroupDecision::empty();
        for (prefix, value) in [("dept", department(person)), ("loc", location(person))] {
            let name = value.map(slug).unwrap_or_default();
            if !name.is_empty() {
                groups.create_group(format!("{prefix}-{name}"));
            }
        }
        groups
    }
}

usersync_rules::export_rules!(DepartmentGroups);

/// The enterprise `department`, else an attribute of that name.
fn department(person: &Person) -> Option<&str> {
    person.attribute("department")
}

/// A `location` attribute (custom extension or LDAP), else LDAP `l` (locality).
fn location(person: &Person) -> Option<&str> {
    person.attribute("location").or_else(|| person.attribute("l"))
}

#[cfg(test)]
mod tests {
    use usersync_rules::{Attribute, AttributeDecision, Decisions, Enterprise, Person, Source, TypedValue};

    use super::*;

    fn attribute(name: &str, value: &str) -> Attribute {
        Attribute { schema: None, name: name.into(), values: vec![value.into()] }
    }

    fn person(source: Source, department: Option<&str>, attributes: &[Attribute]) -> Input {
        let mut p = Person::new(source, "Ada");
        p.emails.push(TypedValue { value: "ada@example.com".into(), kind: None, primary: true });
        p.enterprise = department.map(|d| Enterprise {
            employee_number: None,
            cost_center: None,
            organization: None,
            division: None,
            department: Some(d.into()),
            manager_id: None,
            manager_name: None,
        });
        p.attributes = attributes.to_vec();
        Input::new(p)
    }

    #[test]
    fn groups_from_department_and_location() {
        let acme = "urn:acme:params:scim:schemas:extension:acme:1.0:User";
        let cases: Vec<(Input, &[&str])> = vec![
            (
                person(Source::Scim, Some("Research & Development"), &[attribute("location", "London")]),
                &["dept-research-development", "loc-london"],
            ),
            (
                person(
                    Source::Scim,
                    Some("Sales"),
                    &[Attribute {
                        schema: Some(acme.into()),
                        name: "Location".into(),
                        values: vec!["Zürich HQ".into()],
                    }],
                ),
                &["dept-sales", "loc-zürich-hq"],
            ),
            (
                person(Source::Ldap, None, &[attribute("department", "Ops"), attribute("l", "Berlin")]),
                &["dept-ops", "loc-berlin"],
            ),
            (person(Source::Scim, Some("Finance"), &[]), &["dept-finance"]),
            (person(Source::Scim, Some(" & "), &[attribute("location", "Paris")]), &["loc-paris"]),
            (person(Source::Scim, None, &[]), &[]),
        ];
        for (input, expected) in cases {
            let d = Decisions::of::<DepartmentGroups>(&input);
            assert_eq!(d.groups.add, expected, "{:?}", input.person.attributes);
            assert_eq!(d.groups.create, expected, "created if missing");
            assert!(d.groups.remove.is_empty());
        }
    }

    #[test]
    fn declares_no_settings() {
        assert!(DepartmentGroups::settings().is_empty());
    }

    #[test]
    fn everything_else_is_the_default() {
        let d = Decisions::of::<DepartmentGroups>(&person(Source::Scim, Some("Sales"), &[]));
        assert!(
            matches!(&d.attributes, AttributeDecision::Provision(m) if m.username == "ada" && m.email == "ada@example.com")
        );
        assert!(d.custom_fields.is_empty());
    }
}
