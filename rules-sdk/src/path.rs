//! Looking a person's attributes up by SCIM path (RFC 7644 §3.10), the subset a mapping
//! needs: an optional schema URN, an attribute, an optional `[attr eq "literal"]` filter on
//! multi-valued attributes, and an optional sub-attribute. Attribute names match
//! case-insensitively, as in SCIM and LDAP.
//!
//! Without a schema a name is looked up in the core schema, then the enterprise extension,
//! then the person's other attributes (custom extensions, undeclared SCIM attributes, LDAP
//! attributes): the first that has a value wins. Blank values count as no value.
//!
//! Schemas are recognised by their RFC 7643 URNs and by the spellings identity providers
//! send, as the host aliases them: OneLogin's `urn:scim:schemas:extension:enterprise:2.0`
//! (and `…:1.0`) for the enterprise extension, `urn:scim:schemas:core:2.0` (and `…:1.0`)
//! for the core schema.
//!
//! The multi-valued core attributes the `person` record does not carry (`addresses`,
//! `roles`, `entitlements`, `ims`, `photos`, `x509Certificates`) are read from the person's
//! `raw_json`, and only when a path names one (`json`): a decision that never asks pays
//! nothing. Their sub-attributes are any member of an element
//! (`addresses[type eq "work"].locality`); without one, `addresses` yields `formatted` and
//! the others `value`.

mod json;

use crate::{Enterprise, Person, TypedValue};

const CORE_SUFFIX: &str = ":core:2.0:user";
const ENTERPRISE_SUFFIX: &str = "enterprise:2.0:user";
/// Other spellings of the two schemas, as `host/src/scim/schema.rs` aliases them.
const CORE_ALIASES: &[&str] = &["urn:scim:schemas:core:1.0", "urn:scim:schemas:core:2.0"];
const ENTERPRISE_ALIASES: &[&str] =
    &["urn:scim:schemas:extension:enterprise:1.0", "urn:scim:schemas:extension:enterprise:2.0"];
/// Core attributes read from `raw_json`, and the sub-attribute each yields by default.
const RAW_ATTRIBUTES: &[(&str, &str)] = &[
    ("addresses", "formatted"),
    ("roles", "value"),
    ("entitlements", "value"),
    ("ims", "value"),
    ("photos", "value"),
    ("x509Certificates", "value"),
];

/// Every non-blank value at `path`, trimmed; the primary one first for `emails` and
/// `phoneNumbers`.
pub(crate) fn values<'a>(person: &'a Person, path: &str) -> Vec<&'a str> {
    let path = ParsedPath::parse(path.trim());
    let mut out = Vec::new();
    match path.schema {
        Some(schema) if is_schema(schema, CORE_SUFFIX, CORE_ALIASES) => core(person, &path, &mut out),
        Some(schema) if is_schema(schema, ENTERPRISE_SUFFIX, ENTERPRISE_ALIASES) => enterprise(person, &path, &mut out),
        Some(schema) => extension(person, Some(schema), path.attr, &mut out),
        None => {
            core(person, &path, &mut out);
            out.retain(|v| !v.is_empty());
            if out.is_empty() {
                enterprise(person, &path, &mut out);
                out.retain(|v| !v.is_empty());
            }
            if out.is_empty() {
                extension(person, None, path.attr, &mut out);
            }
        }
    }
    out.retain(|v| !v.is_empty());
    out
}

/// `urn:…:Schema:base[filter].sub`, split up. Nothing here fails: a path that names nothing
/// simply has no values.
struct ParsedPath<'p> {
    schema: Option<&'p str>,
    /// Everything after the schema, as written (a custom attribute's name).
    attr: &'p str,
    base: &'p str,
    filter: Option<Filter<'p>>,
    sub: Option<&'p str>,
}

impl<'p> ParsedPath<'p> {
    fn parse(path: &'p str) -> Self {
        let (schema, attr) = split_schema(path);
        let base_end = attr.find(['[', '.']).unwrap_or(attr.len());
        let base = &attr[..base_end];
        let rest = &attr[base_end..];
        let (filter, after) = match rest.strip_prefix('[') {
            Some(inner) => match inner.split_once(']') {
                Some((f, after)) => (Some(Filter::parse(f)), after),
                None => (Some(Filter::Unsupported), ""),
            },
            None => (None, rest),
        };
        let sub = after.strip_prefix('.').filter(|s| !s.is_empty());
        Self { schema, attr, base, filter, sub }
    }

    fn sub_is(&self, name: &str) -> bool {
        self.sub.is_some_and(|s| s.eq_ignore_ascii_case(name))
    }
}

/// Splits `urn:…:User:attr` at the last `:` before any filter.
fn split_schema(path: &str) -> (Option<&str>, &str) {
    if !path.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
        return (None, path);
    }
    let head = &path[..path.find('[').unwrap_or(path.len())];
    match head.rfind(':') {
        Some(i) => (Some(&path[..i]), &path[i + 1..]),
        None => (None, path),
    }
}

/// A filter on a multi-valued attribute: `type eq "work"`, `primary eq true`,
/// `value eq "a@b.c"` (on the attributes read from `raw_json`, any member: `country eq
/// "GB"`). Anything else matches nothing.
enum Filter<'p> {
    Eq { attr: &'p str, literal: &'p str },
    Unsupported,
}

impl<'p> Filter<'p> {
    fn parse(text: &'p str) -> Self {
        let text = text.trim();
        let Some((attr, rest)) = text.split_once(char::is_whitespace) else { return Self::Unsupported };
        let rest = rest.trim_start();
        let Some((op, literal)) = rest.split_once(char::is_whitespace) else { return Self::Unsupported };
        if !op.eq_ignore_ascii_case("eq") {
            return Self::Unsupported;
        }
        let literal = literal.trim();
        let literal = literal.strip_prefix('"').and_then(|l| l.strip_suffix('"')).unwrap_or(literal);
        Self::Eq { attr, literal }
    }

    /// Does an element read from `raw_json` match? A missing `primary` is `false`, as in
    /// [`Filter::matches`].
    fn matches_element(&self, element: &json::Element<'_>) -> bool {
        let Self::Eq { attr, literal } = self else { return false };
        match element.iter().find(|(k, _)| k.eq_ignore_ascii_case(attr)) {
            Some((_, v)) => v.text().trim().eq_ignore_ascii_case(literal),
            None => attr.eq_ignore_ascii_case("primary") && literal.eq_ignore_ascii_case("false"),
        }
    }

    fn matches(&self, v: &TypedValue) -> bool {
        let Self::Eq { attr, literal } = self else { return false };
        if attr.eq_ignore_ascii_case("type") {
            v.kind.as_deref().is_some_and(|k| k.eq_ignore_ascii_case(literal))
        } else if attr.eq_ignore_ascii_case("primary") {
            literal.eq_ignore_ascii_case(if v.primary { "true" } else { "false" })
        } else if attr.eq_ignore_ascii_case("value") {
            v.value.trim().eq_ignore_ascii_case(literal)
        } else {
            false
        }
    }
}

fn core<'a>(p: &'a Person, path: &ParsedPath<'_>, out: &mut Vec<&'a str>) {
    let base = path.base;
    let is = |name: &str| base.eq_ignore_ascii_case(name);
    if is("emails") || is("phoneNumbers") {
        let list = if is("emails") { &p.emails } else { &p.phone_numbers };
        typed_values(list, path, out);
        return;
    }
    if let Some((name, default_sub)) = RAW_ATTRIBUTES.iter().find(|(name, _)| is(name)) {
        raw_values(p, name, path.sub.unwrap_or(default_sub), path, out);
        return;
    }
    if is("groups") {
        let ids = path.sub_is("value") || path.sub_is("id");
        if path.filter.is_none() && (path.sub.is_none() || ids || path.sub_is("display")) {
            out.extend(p.groups.iter().map(|g| if ids { g.id.trim() } else { g.display_name.trim() }));
        }
        return;
    }
    if path.filter.is_some() {
        return;
    }
    if is("name") {
        let Some(n) = &p.name else { return };
        let field = match path.sub {
            None => &n.formatted,
            Some(s) if s.eq_ignore_ascii_case("formatted") => &n.formatted,
            Some(s) if s.eq_ignore_ascii_case("familyName") => &n.family_name,
            Some(s) if s.eq_ignore_ascii_case("givenName") => &n.given_name,
            Some(s) if s.eq_ignore_ascii_case("middleName") => &n.middle_name,
            Some(s) if s.eq_ignore_ascii_case("honorificPrefix") => &n.honorific_prefix,
            Some(s) if s.eq_ignore_ascii_case("honorificSuffix") => &n.honorific_suffix,
            Some(_) => return,
        };
        out.extend(field.as_deref().map(str::trim));
        return;
    }
    if path.sub.is_some() {
        return;
    }
    if is("active") {
        out.push(if p.active { "true" } else { "false" });
        return;
    }
    let single: Option<&'a str> = match () {
        () if is("id") => Some(&p.id),
        () if is("userName") => Some(&p.user_name),
        () if is("externalId") => p.external_id.as_deref(),
        () if is("displayName") => p.display_name.as_deref(),
        () if is("nickName") => p.nick_name.as_deref(),
        () if is("title") => p.title.as_deref(),
        () if is("userType") => p.user_type.as_deref(),
        () if is("preferredLanguage") => p.preferred_language.as_deref(),
        () if is("locale") => p.locale.as_deref(),
        () if is("timezone") => p.timezone.as_deref(),
        () => None,
    };
    out.extend(single.map(str::trim));
}

fn typed_values<'a>(list: &'a [TypedValue], path: &ParsedPath<'_>, out: &mut Vec<&'a str>) {
    let want_type = path.sub_is("type");
    if !(path.sub.is_none() || path.sub_is("value") || want_type) {
        return;
    }
    let selected = list.iter().filter(|v| path.filter.as_ref().is_none_or(|f| f.matches(v)));
    // The primary value first, then the others in the order the identity provider sent.
    let (primary, others): (Vec<&TypedValue>, Vec<&TypedValue>) = selected.partition(|v| v.primary);
    for v in primary.into_iter().chain(others) {
        if want_type {
            out.extend(v.kind.as_deref().map(str::trim));
        } else {
            out.push(v.value.trim());
        }
    }
}

/// The `sub` member of each element of `name` in the person's `raw_json` that the path's
/// filter selects, the primary element first.
fn raw_values<'a>(p: &'a Person, name: &str, sub: &str, path: &ParsedPath<'_>, out: &mut Vec<&'a str>) {
    let elements = json::elements(&p.raw_json, name);
    let selected = elements.iter().filter(|e| path.filter.as_ref().is_none_or(|f| f.matches_element(e)));
    let is_primary = |e: &&json::Element<'_>| {
        e.iter().any(|(k, v)| k.eq_ignore_ascii_case("primary") && v.text().eq_ignore_ascii_case("true"))
    };
    let (primary, others): (Vec<_>, Vec<_>) = selected.partition(is_primary);
    for element in primary.into_iter().chain(others) {
        out.extend(element.iter().find(|(k, _)| k.eq_ignore_ascii_case(sub)).map(|(_, v)| v.text().trim()));
    }
}

fn enterprise<'a>(p: &'a Person, path: &ParsedPath<'_>, out: &mut Vec<&'a str>) {
    let Some(e) = &p.enterprise else { return };
    if path.filter.is_some() {
        return;
    }
    let is = |name: &str| path.base.eq_ignore_ascii_case(name);
    let field: &Option<String> = if is("manager") {
        match path.sub {
            None => &e.manager_id,
            Some(s) if s.eq_ignore_ascii_case("value") => &e.manager_id,
            Some(s) if s.eq_ignore_ascii_case("displayName") => &e.manager_name,
            Some(_) => return,
        }
    } else if path.sub.is_some() {
        return;
    } else {
        match enterprise_field(e, path.base) {
            Some(f) => f,
            None => return,
        }
    };
    out.extend(field.as_deref().map(str::trim));
}

fn enterprise_field<'a>(e: &'a Enterprise, name: &str) -> Option<&'a Option<String>> {
    let is = |n: &str| name.eq_ignore_ascii_case(n);
    Some(match () {
        () if is("employeeNumber") => &e.employee_number,
        () if is("costCenter") => &e.cost_center,
        () if is("organization") => &e.organization,
        () if is("division") => &e.division,
        () if is("department") => &e.department,
        () => return None,
    })
}

fn extension<'a>(p: &'a Person, schema: Option<&str>, name: &str, out: &mut Vec<&'a str>) {
    let schema_matches = |s: &Option<String>| match schema {
        None => true,
        Some(want) => s.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(want)),
    };
    if let Some(a) = p.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name) && schema_matches(&a.schema)) {
        out.extend(a.values.iter().map(|v| v.trim()));
    }
}

/// Is `schema` the one whose RFC URN ends with `suffix`, or one of its `aliases`?
fn is_schema(schema: &str, suffix: &str, aliases: &[&str]) -> bool {
    ends_with_ignore_case(schema, suffix) || aliases.iter().any(|a| a.eq_ignore_ascii_case(schema))
}

fn ends_with_ignore_case(text: &str, suffix: &str) -> bool {
    text.len() >= suffix.len()
        && text.is_char_boundary(text.len() - suffix.len())
        && text[text.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

#[cfg(test)]
mod tests {
    use crate::{Attribute, Enterprise, IdpGroup, Name, Person, Source, TypedValue};

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    const ACME: &str = "urn:acme:params:scim:schemas:extension:acme:1.0:User";

    fn typed(value: &str, kind: &str, primary: bool) -> TypedValue {
        TypedValue { value: value.into(), kind: Some(kind.into()), primary }
    }

    fn ada() -> Person {
        let mut p = Person::new(Source::Scim, "Ada@Example.com");
        p.id = "u-1".into();
        p.external_id = Some("ext-1".into());
        p.display_name = Some("  Ada Lovelace ".into());
        p.title = Some(String::new());
        p.name = Some(Name {
            formatted: Some("Ada King, Countess of Lovelace".into()),
            family_name: Some("Lovelace".into()),
            given_name: Some("Ada".into()),
            middle_name: None,
            honorific_prefix: Some("Countess".into()),
            honorific_suffix: None,
        });
        p.emails = vec![
            typed("ada@home.example", "home", false),
            typed("ada@example.com", "work", true),
            typed("a.lovelace@example.com", "work", false),
        ];
        p.phone_numbers = vec![typed("+44 1", "mobile", false)];
        p.enterprise = Some(Enterprise {
            employee_number: Some("1815".into()),
            cost_center: None,
            organization: Some("Analytical Engines".into()),
            division: None,
            department: Some("Research".into()),
            manager_id: Some("m-1".into()),
            manager_name: Some("Charles Babbage".into()),
        });
        p.attributes = vec![
            Attribute { schema: Some(ACME.into()), name: "badge".into(), values: vec!["7".into()] },
            Attribute { schema: None, name: "location".into(), values: vec!["London".into(), " ".into()] },
            Attribute { schema: None, name: "Title".into(), values: vec!["Analyst".into()] },
            Attribute { schema: None, name: "sAMAccountName".into(), values: vec!["ada".into()] },
        ];
        p.groups = vec![
            IdpGroup { id: "g1".into(), display_name: "Engineers".into() },
            IdpGroup { id: "g2".into(), display_name: "Writers".into() },
        ];
        p
    }

    /// One row per path form: the path, then every value it yields.
    #[test]
    fn scim_paths() {
        let cases: &[(&str, &[&str])] = &[
            ("userName", &["Ada@Example.com"]),
            ("USERNAME", &["Ada@Example.com"]),
            ("urn:ietf:params:scim:schemas:core:2.0:User:userName", &["Ada@Example.com"]),
            ("id", &["u-1"]),
            ("externalId", &["ext-1"]),
            ("displayName", &["Ada Lovelace"]),
            ("active", &["true"]),
            ("name", &["Ada King, Countess of Lovelace"]),
            ("name.givenName", &["Ada"]),
            ("name.familyname", &["Lovelace"]),
            ("name.honorificPrefix", &["Countess"]),
            ("name.middleName", &[]),
            ("name.nonsense", &[]),
            ("emails", &["ada@example.com", "ada@home.example", "a.lovelace@example.com"]),
            ("emails.value", &["ada@example.com", "ada@home.example", "a.lovelace@example.com"]),
            ("emails[type eq \"work\"].value", &["ada@example.com", "a.lovelace@example.com"]),
            ("emails[type eq \"home\"]", &["ada@home.example"]),
            ("emails[TYPE EQ \"Home\"].value", &["ada@home.example"]),
            ("emails[primary eq true].value", &["ada@example.com"]),
            ("emails[primary eq false].type", &["home", "work"]),
            ("emails[value eq \"ADA@HOME.EXAMPLE\"].type", &["home"]),
            ("emails[type co \"wo\"].value", &[]),
            ("emails[type eq \"work\"", &[]),
            ("phoneNumbers[type eq \"mobile\"].value", &["+44 1"]),
            ("groups", &["Engineers", "Writers"]),
            ("groups.value", &["g1", "g2"]),
            // Blank core value: falls through to the LDAP-style attribute of that name.
            ("title", &["Analyst"]),
            ("urn:ietf:params:scim:schemas:core:2.0:User:title", &[]),
            ("department", &["Research"]),
            ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", &["Research"]),
            ("urn:ietf:params:scim:schemas:extension:Enterprise:2.0:User:employeeNumber", &["1815"]),
            // OneLogin's own URNs, which the host accepts on input.
            ("urn:scim:schemas:extension:enterprise:2.0:employeeNumber", &["1815"]),
            ("URN:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:employeeNumber", &["1815"]),
            ("urn:scim:schemas:extension:enterprise:1.0:department", &["Research"]),
            ("urn:scim:schemas:extension:enterprise:2.0:manager.displayName", &["Charles Babbage"]),
            ("urn:scim:schemas:extension:enterprise:2.0:User:employeeNumber", &["1815"]),
            ("urn:scim:schemas:extension:enterprise:2.0:location", &[]),
            ("urn:scim:schemas:core:2.0:userName", &["Ada@Example.com"]),
            ("urn:scim:schemas:core:1.0:name.givenName", &["Ada"]),
            ("urn:scim:schemas:core:2.0:department", &[]),
            ("urn:scim:schemas:extension:enterprise:3.0:employeeNumber", &[]),
            ("manager", &["m-1"]),
            ("manager.value", &["m-1"]),
            ("manager.displayName", &["Charles Babbage"]),
            (&format!("{ENTERPRISE}:manager.displayName"), &["Charles Babbage"]),
            (&format!("{ENTERPRISE}:location"), &[]),
            ("costCenter", &[]),
            ("badge", &["7"]),
            (&format!("{ACME}:badge"), &["7"]),
            (&format!("{}:BADGE", ACME.to_uppercase()), &["7"]),
            ("urn:other:schema:badge", &[]),
            ("location", &["London"]),
            ("samaccountname", &["ada"]),
            ("  location  ", &["London"]),
            ("nothing", &[]),
            ("", &[]),
            ("urn:", &[]),
        ];
        let person = ada();
        for (path, expected) in cases {
            assert_eq!(person.attribute_values(path), *expected, "path {path:?}");
            assert_eq!(person.attribute(path), expected.first().copied(), "path {path:?}");
        }
    }

    /// The multi-valued attributes the record does not name, read from `raw_json`.
    #[test]
    fn attributes_from_the_raw_resource() {
        let mut person = ada();
        person.raw_json = r#"{"id":"u-1","userName":"Ada@Example.com",
            "addresses":[
                {"type":"home","locality":"Marylebone","country":"GB","formatted":"12 St James's Sq\nLondon"},
                {"type":"work","streetAddress":"1 Engine Row","locality":" London ","postalCode":"N1","country":"GB","primary":true},
                {"type":"other","locality":"Paris","country":"FR"}],
            "roles":[{"value":"analyst","primary":false},{"value":"countess","type":"title","primary":true}],
            "entitlements":[{"value":"engine-room"}],
            "ims":[{"value":"ada@xmpp.example","type":"xmpp"}],
            "photos":[{"value":"https://example.com/ada.jpg","type":"photo"}],
            "x509Certificates":[{"value":"MIIDQzCC"}]}"#
            .into();
        let cases: &[(&str, &[&str])] = &[
            (r#"addresses[type eq "work"].locality"#, &["London"]),
            (r#"urn:ietf:params:scim:schemas:core:2.0:User:addresses[type eq "work"].locality"#, &["London"]),
            (r#"urn:scim:schemas:core:2.0:addresses[type eq "work"].postalCode"#, &["N1"]),
            (r#"Addresses[Type Eq "WORK"].LOCALITY"#, &["London"]),
            ("addresses.locality", &["London", "Marylebone", "Paris"]),
            (r#"addresses[country eq "GB"].type"#, &["work", "home"]),
            ("addresses[primary eq true].streetAddress", &["1 Engine Row"]),
            ("addresses[primary eq false].locality", &["Marylebone", "Paris"]),
            ("addresses", &["12 St James's Sq\nLondon"]),
            (r#"addresses[type eq "home"].formatted"#, &["12 St James's Sq\nLondon"]),
            (r#"addresses[type eq "nowhere"].locality"#, &[]),
            (r#"addresses[locality co "Lon"].type"#, &[]),
            ("addresses.region", &[]),
            ("roles", &["countess", "analyst"]),
            ("roles[type eq \"title\"].value", &["countess"]),
            ("entitlements", &["engine-room"]),
            ("ims[type eq \"xmpp\"]", &["ada@xmpp.example"]),
            ("photos.value", &["https://example.com/ada.jpg"]),
            ("x509certificates", &["MIIDQzCC"]),
            ("x509Certificates.value", &["MIIDQzCC"]),
        ];
        for (path, expected) in cases {
            assert_eq!(person.attribute_values(path), *expected, "path {path:?}");
        }
        // Without them in the resource, nothing (and no fall-through to other attributes).
        assert_eq!(ada().attribute_values(r#"addresses[type eq "work"].locality"#), Vec::<&str>::new());
    }
}
