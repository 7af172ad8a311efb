//! The sample rules modules (`sample-rules/*`), built for wasm32-unknown-unknown and made
//! components the way `usersync rules build` does, run through the real engine: every
//! setting of the standard rules (with `find-user` answered by a stub directory), their
//! settings declarations and the host's check of an app's settings against them, the
//! department-groups and email-domain modules, the standard module as built against
//! contract 1.0.0 (a committed fixture), and the attribution of each decision to the bytes
//! that made it.
//!
//! Each case states the whole decision (attributes, custom fields, groups) or the exact
//! rejection, so a regression in a module, in the SDK or in the host↔guest conversion of
//! any field fails here. A test runs all its cases and reports every mismatch at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use crate::guests;
use usersync::rules::types::*;
use usersync::rules::{content_hash, describe_declaration, LoadedModule, RuleFailure, RuleLimits, RulesEngine};

/// The standard module as `usersync rules build` made it from the sources of contract
/// 1.0.0 (commit 59b5721), before 2.0.0: a module built then must keep loading and deciding.
const STANDARD_1_0_0: &[u8] = include_bytes!("../fixtures/standard-1.0.0.wasm");

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ACME: &str = "urn:acme:params:scim:schemas:extension:acme:1.0:User";

// ---------------------------------------------------------------------------------------
// The engine and the modules, shared by the tests (compiling a module is the slow part).

/// These tests are about what the modules decide, not about limits: a deadline no debug
/// build on a busy machine comes near.
fn limits() -> RuleLimits {
    RuleLimits { deadline: Duration::from_secs(10), ..RuleLimits::default() }
}

fn engine() -> &'static Arc<RulesEngine> {
    static ENGINE: OnceLock<Arc<RulesEngine>> = OnceLock::new();
    ENGINE.get_or_init(|| RulesEngine::new().unwrap())
}

/// `package` as the component `usersync rules build` writes, loaded once.
fn module(package: &'static str) -> Arc<LoadedModule> {
    static MODULES: OnceLock<Mutex<HashMap<&'static str, Arc<LoadedModule>>>> = OnceLock::new();
    let mut modules = MODULES.get_or_init(Mutex::default).lock().unwrap_or_else(PoisonError::into_inner);
    let loaded = modules
        .entry(package)
        .or_insert_with(|| engine().load(package, guests::component(package), limits(), &[]).unwrap());
    Arc::clone(loaded)
}

// ---------------------------------------------------------------------------------------
// People.

fn typed(value: &str, kind: &str, primary: bool) -> TypedValue {
    TypedValue { value: value.into(), kind: Some(kind.into()), primary }
}

fn attribute(schema: Option<&str>, name: &str, values: &[&str]) -> Attribute {
    Attribute {
        schema: schema.map(Into::into),
        name: name.into(),
        values: values.iter().map(|v| (*v).into()).collect(),
    }
}

fn idp_group(id: &str, display_name: &str) -> IdpGroup {
    IdpGroup { id: id.into(), display_name: display_name.into() }
}

/// Ada, as an identity provider sends her over SCIM: every field set, so each can be
/// seen crossing into the module.
fn ada() -> Person {
    Person {
        source: Source::Scim,
        id: "u-1".into(),
        external_id: Some("E1815".into()),
        user_name: "Ada.Lovelace@Example.com".into(),
        display_name: Some("Ada Lovelace".into()),
        name: Some(Name {
            formatted: Some("Ada King".into()),
            family_name: Some("Lovelace".into()),
            given_name: Some("Ada".into()),
            middle_name: Some("Byron".into()),
            honorific_prefix: Some("Lady".into()),
            honorific_suffix: Some("FRS".into()),
        }),
        nick_name: Some("Countess".into()),
        title: Some("Analyst".into()),
        user_type: Some("Employee".into()),
        preferred_language: Some("en-GB".into()),
        locale: Some("en_GB".into()),
        timezone: Some("Europe/London".into()),
        active: true,
        emails: vec![typed("ada@home.example", "home", false), typed("Ada@Example.com", "work", true)],
        phone_numbers: vec![typed("+44 20 7946 0018", "mobile", false)],
        enterprise: Some(Enterprise {
            employee_number: Some("1815".into()),
            cost_center: Some("CC-7".into()),
            organization: Some("Analytical Engines".into()),
            division: Some("Mathematics".into()),
            department: Some("Research".into()),
            manager_id: Some("m-1".into()),
            manager_name: Some("Charles Babbage".into()),
        }),
        attributes: vec![
            attribute(Some(ACME), "badge", &["B-42"]),
            attribute(None, "location", &["London"]),
            attribute(None, "languages", &["en", "fr"]),
        ],
        groups: vec![idp_group("g1", "Engineers"), idp_group("g2", "AD-Writers"), idp_group("g3", "Everyone")],
        raw_json: r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"Ada.Lovelace@Example.com"}"#
            .into(),
    }
}

/// Ada as an LDAP directory describes her: everything in `attributes`, nothing in the
/// SCIM fields.
fn ldap_ada() -> Person {
    Person {
        source: Source::Ldap,
        id: "CN=Ada Lovelace,OU=People,DC=corp,DC=example".into(),
        external_id: None,
        user_name: String::new(),
        display_name: None,
        name: None,
        nick_name: None,
        title: None,
        user_type: None,
        preferred_language: None,
        locale: None,
        timezone: None,
        active: true,
        emails: Vec::new(),
        phone_numbers: Vec::new(),
        enterprise: None,
        attributes: [
            ("userPrincipalName", "Ada.Lovelace@Corp.Example"),
            ("sAMAccountName", "ALovelace"),
            ("uid", "ada"),
            ("mail", "Ada@Corp.Example"),
            ("givenName", "Ada"),
            ("sn", "Lovelace"),
            ("cn", "Ada Lovelace (Research)"),
        ]
        .iter()
        .map(|(name, value)| attribute(None, name, &[value]))
        .collect(),
        groups: vec![idp_group("CN=Engineers,OU=Groups,DC=corp,DC=example", "Engineers")],
        raw_json: r#"{"dn":"CN=Ada Lovelace,OU=People,DC=corp,DC=example"}"#.into(),
    }
}

/// Drops the LDAP attributes with these names.
fn without(person: &mut Person, names: &[&str]) {
    person.attributes.retain(|a| !names.contains(&a.name.as_str()));
}

// ---------------------------------------------------------------------------------------
// Settings.

fn text(s: &str) -> SettingValue {
    SettingValue::Text(s.into())
}

fn flag(b: bool) -> SettingValue {
    SettingValue::Flag(b)
}

fn list(items: &[&str]) -> SettingValue {
    SettingValue::TextList(items.iter().map(|s| (*s).into()).collect())
}

fn mapping(pairs: &[(&str, &str)]) -> SettingValue {
    SettingValue::Mapping(pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect())
}

// ---------------------------------------------------------------------------------------
// Decisions.

fn provision(username: &str, full_name: &str, email: &str, active: bool) -> AttributeDecision {
    AttributeDecision::Provision(UserMapping {
        username: username.into(),
        full_name: full_name.into(),
        email: email.into(),
        active,
    })
}

/// What the standard rules make of [`ada`] by default.
fn ada_default() -> AttributeDecision {
    provision("ada.lovelace@example.com", "Ada Lovelace", "ada@example.com", true)
}

fn group_decision(add: &[&str], create: &[&str], remove: &[&str]) -> GroupDecision {
    let owned = |names: &[&str]| names.iter().map(|n| (*n).to_string()).collect();
    GroupDecision { add: owned(add), remove: owned(remove), create: owned(create) }
}

// ---------------------------------------------------------------------------------------
// Confluence.

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

/// A Confluence user with this username, in `groups`, of which the app granted `granted`.
fn confluence_user(username: &str, groups: &[&str], granted: &[&str]) -> ConfluenceUser {
    ConfluenceUser {
        exists: true,
        username: Some(username.into()),
        groups: strings(groups),
        granted: strings(granted),
        ..ConfluenceUser::default()
    }
}

/// A stub of the Confluence users UserSync knows, answering `find-user` and remembering
/// what it was asked.
#[derive(Default)]
struct StubDirectory {
    users: Vec<ConfluenceUser>,
    asked: Mutex<Vec<String>>,
}

impl Directory for StubDirectory {
    fn find_user(&self, username: &str) -> Option<ConfluenceUser> {
        self.asked.lock().unwrap_or_else(PoisonError::into_inner).push(username.to_owned());
        self.users.iter().find(|u| u.username.as_deref() == Some(username)).cloned()
    }
}

// ---------------------------------------------------------------------------------------
// The cases.

/// One decision: the input, and the whole expected outcome. By default the expectation is
/// the standard rules' for [`ada`]: her default attributes, no custom fields, no group
/// change.
struct Case {
    name: String,
    input: RuleInput,
    /// The other Confluence users `find-user` knows.
    directory: Vec<ConfluenceUser>,
    /// The usernames the module must ask `find-user` about, when checked.
    lookups: Option<Vec<String>>,
    /// `Err(reason)`: the module rejects the person with exactly this reason.
    expected: Result<(AttributeDecision, Vec<CustomField>, GroupDecision), String>,
}

fn case(name: &str) -> Case {
    Case {
        name: name.into(),
        input: RuleInput {
            person: ada(),
            app: AppInfo { name: "sample-rules-test".into(), idp_kind: "generic".into(), settings: Vec::new() },
            confluence: ConfluenceUser::default(),
        },
        directory: Vec::new(),
        lookups: None,
        expected: Ok((ada_default(), Vec::new(), GroupDecision::default())),
    }
}

impl Case {
    fn set(mut self, key: &str, value: SettingValue) -> Self {
        self.input.app.settings.push(Setting { key: key.into(), value });
        self
    }

    fn person(mut self, change: impl FnOnce(&mut Person)) -> Self {
        change(&mut self.input.person);
        self
    }

    /// Confluence already has the user (as Ada's default username), in these groups, none
    /// granted by the app.
    fn existing(self, groups: &[&str]) -> Self {
        self.confluence(confluence_user("ada.lovelace@example.com", groups, &[]))
    }

    /// What the input says Confluence holds for the person.
    fn confluence(mut self, user: ConfluenceUser) -> Self {
        self.input.confluence = user;
        self
    }

    /// Another Confluence user `find-user` knows.
    fn known(mut self, user: ConfluenceUser) -> Self {
        self.directory.push(user);
        self
    }

    /// The usernames the module asks `find-user` about, in order.
    fn lookups(mut self, expected: &[&str]) -> Self {
        self.lookups = Some(strings(expected));
        self
    }

    fn expected(&mut self) -> &mut (AttributeDecision, Vec<CustomField>, GroupDecision) {
        if self.expected.is_err() {
            self.expected = Ok((ada_default(), Vec::new(), GroupDecision::default()));
        }
        self.expected.as_mut().unwrap()
    }

    fn attributes(mut self, expected: AttributeDecision) -> Self {
        self.expected().0 = expected;
        self
    }

    fn provisions(self, username: &str, full_name: &str, email: &str, active: bool) -> Self {
        self.attributes(provision(username, full_name, email, active))
    }

    fn fields(mut self, expected: &[(&str, &str)]) -> Self {
        self.expected().1 =
            expected.iter().map(|(name, value)| CustomField { name: (*name).into(), value: (*value).into() }).collect();
        self
    }

    fn groups(mut self, add: &[&str], create: &[&str], remove: &[&str]) -> Self {
        self.expected().2 = group_decision(add, create, remove);
        self
    }

    fn rejected(mut self, reason: &str) -> Self {
        self.expected = Err(reason.into());
        self
    }
}

/// `name=value; name=value`, for messages.
fn render_fields(fields: &[CustomField]) -> String {
    fields.iter().map(|f| format!("{}={}", f.name, f.value)).collect::<Vec<_>>().join("; ")
}

/// Runs every case through `package`'s component and reports every mismatch at once.
fn check(package: &'static str, cases: Vec<Case>) {
    let module = module(package);
    let mut failures = Vec::new();
    for c in &cases {
        let directory = Arc::new(StubDirectory { users: c.directory.clone(), ..StubDirectory::default() });
        let outcome = engine().decide(&module, &c.input, directory.clone());
        let asked = directory.asked.lock().unwrap().clone();
        if let Some(expected) = &c.lookups {
            if asked != *expected {
                failures.push(format!("{}: find-user\n  expected: {expected:?}\n  actual:   {asked:?}", c.name));
            }
        }
        match (&c.expected, outcome) {
            (Ok((attributes, fields, groups)), Ok(d)) => {
                if d.attributes != *attributes {
                    failures.push(format!(
                        "{}: attributes\n  expected: {attributes:?}\n  actual:   {:?}",
                        c.name, d.attributes
                    ));
                }
                if d.custom_fields != *fields {
                    failures.push(format!(
                        "{}: custom fields\n  expected: {}\n  actual:   {}",
                        c.name,
                        render_fields(fields),
                        render_fields(&d.custom_fields)
                    ));
                }
                if d.groups != *groups {
                    failures.push(format!("{}: groups\n  expected: {groups:?}\n  actual:   {:?}", c.name, d.groups));
                }
                if d.module != *module.id() {
                    failures.push(format!("{}: decided by {:?}, not {:?}", c.name, d.module, module.id()));
                }
            }
            (Err(reason), Err(e)) => {
                if e.cause != RuleFailure::Rejected(reason.clone()) {
                    failures.push(format!("{}: expected the rejection {reason:?}, got: {e}", c.name));
                }
                if (e.module.as_str(), e.hash.as_str()) != (module.id().name.as_str(), module.id().hash.as_str()) {
                    failures.push(format!("{}: the error names {} ({}), not the module", c.name, e.module, e.hash));
                }
            }
            (Ok(_), Err(e)) => failures.push(format!("{}: expected decisions, got: {e}", c.name)),
            (Err(reason), Ok(d)) => {
                failures.push(format!("{}: expected the rejection {reason:?}, got: {d:?}", c.name));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

// ---------------------------------------------------------------------------------------
// The standard rules.

#[test]
fn standard_default_attribute_mapping_for_a_scim_person() {
    check(
        guests::STANDARD,
        vec![
            case("defaults: userName, primary e-mail, displayName, active"),
            case("an unknown setting that reaches the module is ignored (the host refuses it at load)")
                .set("colour", text("blue")),
            case("full name: name.formatted without displayName").person(|p| p.display_name = None).provisions(
                "ada.lovelace@example.com",
                "Ada King",
                "ada@example.com",
                true,
            ),
            case("full name: given + family name without displayName or name.formatted")
                .person(|p| {
                    p.display_name = None;
                    p.name.as_mut().unwrap().formatted = None;
                })
                .provisions("ada.lovelace@example.com", "Ada Lovelace", "ada@example.com", true),
            case("full name: the username when there is nothing else")
                .person(|p| {
                    p.display_name = None;
                    p.name = None;
                })
                .provisions("ada.lovelace@example.com", "ada.lovelace@example.com", "ada@example.com", true),
            case("full name: whitespace collapsed, < and > dropped")
                .person(|p| p.display_name = Some("  Ada   <Countess>  Lovelace ".into()))
                .provisions("ada.lovelace@example.com", "Ada Countess Lovelace", "ada@example.com", true),
            case("username normalised: lower-case, whitespace to _, forbidden characters dropped")
                .person(|p| p.user_name = "  O'Brien, Pat+Ops ".into())
                .provisions("obrien_patops", "Ada Lovelace", "ada@example.com", true),
            case("e-mail: the first work address without a primary one")
                .person(|p| {
                    p.emails = vec![
                        typed("ada@home.example", "home", false),
                        typed("Ada.Work@Example.com", "work", false),
                        typed("ada@other.example", "work", false),
                    ];
                })
                .provisions("ada.lovelace@example.com", "Ada Lovelace", "ada.work@example.com", true),
            case("e-mail: the first address without a primary or work one")
                .person(|p| {
                    p.emails = vec![typed("ada@home.example", "home", false), typed("a@x.example", "other", false)]
                })
                .provisions("ada.lovelace@example.com", "Ada Lovelace", "ada@home.example", true),
            case("active false is inactive").person(|p| p.active = false).provisions(
                "ada.lovelace@example.com",
                "Ada Lovelace",
                "ada@example.com",
                false,
            ),
            case("no e-mail address rejects").person(|p| p.emails.clear()).rejected("no usable e-mail address"),
            case("a malformed e-mail address rejects")
                .person(|p| p.emails = vec![typed("ada at example.com", "work", true)])
                .rejected("no usable e-mail address: \"ada at example.com\""),
            case("no userName rejects")
                .person(|p| p.user_name = "  ".into())
                .rejected("no usable username: userName is empty"),
            case("a userName with no valid characters rejects")
                .person(|p| p.user_name = "'+'".into())
                .rejected("no usable username: \"'+'\" has no valid characters"),
            case("the username anonymous rejects")
                .person(|p| p.user_name = "Anonymous".into())
                .rejected("no usable username: \"anonymous\" is reserved in Confluence"),
        ],
    );
}

#[test]
fn standard_default_attribute_mapping_for_an_ldap_person() {
    let ldap = |name: &str| case(name).person(|p| *p = ldap_ada());
    check(
        guests::STANDARD,
        vec![
            ldap("LDAP defaults: userPrincipalName, mail, givenName + sn").provisions(
                "ada.lovelace@corp.example",
                "Ada Lovelace",
                "ada@corp.example",
                true,
            ),
            ldap("LDAP: sAMAccountName without userPrincipalName")
                .person(|p| without(p, &["userPrincipalName"]))
                .provisions("alovelace", "Ada Lovelace", "ada@corp.example", true),
            ldap("LDAP: uid without userPrincipalName or sAMAccountName")
                .person(|p| without(p, &["userPrincipalName", "sAMAccountName"]))
                .provisions("ada", "Ada Lovelace", "ada@corp.example", true),
            ldap("LDAP: the person's userName without any LDAP username attribute")
                .person(|p| {
                    without(p, &["userPrincipalName", "sAMAccountName", "uid"]);
                    p.user_name = "ALovelace2".into();
                })
                .provisions("alovelace2", "Ada Lovelace", "ada@corp.example", true),
            ldap("LDAP: displayName before givenName + sn")
                .person(|p| p.attributes.push(attribute(None, "displayName", &["Lovelace, Ada"])))
                .provisions("ada.lovelace@corp.example", "Lovelace, Ada", "ada@corp.example", true),
            ldap("LDAP: cn without givenName or sn").person(|p| without(p, &["givenName", "sn"])).provisions(
                "ada.lovelace@corp.example",
                "Ada Lovelace (Research)",
                "ada@corp.example",
                true,
            ),
            ldap("LDAP: sn alone").person(|p| without(p, &["givenName"])).provisions(
                "ada.lovelace@corp.example",
                "Lovelace",
                "ada@corp.example",
                true,
            ),
            ldap("LDAP: no mail rejects").person(|p| without(p, &["mail"])).rejected("no usable e-mail address"),
            case("a SCIM person's LDAP-looking attribute is not a username source")
                .person(|p| p.attributes.push(attribute(None, "sAMAccountName", &["not-me"]))),
        ],
    );
}

#[test]
fn standard_attribute_settings() {
    check(
        guests::STANDARD,
        vec![
            case("username_attribute: a core attribute").set("username_attribute", text("externalId")).provisions(
                "e1815",
                "Ada Lovelace",
                "ada@example.com",
                true,
            ),
            case("username_attribute: an enterprise attribute, with its schema")
                .set("username_attribute", text(&format!("{ENTERPRISE}:employeeNumber")))
                .provisions("1815", "Ada Lovelace", "ada@example.com", true),
            case("username_attribute: an enterprise attribute, by name")
                .set("username_attribute", text("employeeNumber"))
                .provisions("1815", "Ada Lovelace", "ada@example.com", true),
            case("username_attribute: a custom-extension attribute, with its schema")
                .set("username_attribute", text(&format!("{ACME}:badge")))
                .provisions("b-42", "Ada Lovelace", "ada@example.com", true),
            case("username_attribute: a custom-extension attribute, by name, normalised")
                .set("username_attribute", text("LOCATION"))
                .person(|p| p.attributes[1].values = vec!["Big Ben, London".into()])
                .provisions("big_ben_london", "Ada Lovelace", "ada@example.com", true),
            case("username_attribute: an LDAP attribute")
                .person(|p| *p = ldap_ada())
                .set("username_attribute", text("sAMAccountName"))
                .provisions("alovelace", "Ada Lovelace", "ada@corp.example", true),
            case("username_attribute: no value rejects")
                .set("username_attribute", text("name.nonsense"))
                .rejected("no usable username: attribute `name.nonsense` has no value"),
            case("username_attribute: blank text is no setting").set("username_attribute", text("  ")),
            case("username_attribute: not text rejects")
                .set("username_attribute", flag(true))
                .rejected("app setting `username_attribute` must be text, not a flag"),
            case("email_attribute: a filtered multi-valued attribute")
                .set("email_attribute", text("emails[type eq \"home\"].value"))
                .provisions("ada.lovelace@example.com", "Ada Lovelace", "ada@home.example", true),
            case("email_attribute: a custom-extension attribute")
                .set("email_attribute", text(&format!("{ACME}:contactEmail")))
                .person(|p| p.attributes.push(attribute(Some(ACME), "contactEmail", &[" Ada.Contact@Example.ORG "])))
                .provisions("ada.lovelace@example.com", "Ada Lovelace", "ada.contact@example.org", true),
            case("email_attribute: an LDAP attribute")
                .person(|p| *p = ldap_ada())
                .set("email_attribute", text("userPrincipalName"))
                .provisions("ada.lovelace@corp.example", "Ada Lovelace", "ada.lovelace@corp.example", true),
            case("email_attribute: no value rejects")
                .set("email_attribute", text("emails[type eq \"other\"].value"))
                .rejected("no usable e-mail address: attribute `emails[type eq \"other\"].value` has no value"),
            case("email_attribute: not an address rejects")
                .set("email_attribute", text("nickName"))
                .rejected("no usable e-mail address: \"countess\""),
            case("full_name_attribute: a core attribute").set("full_name_attribute", text("nickName")).provisions(
                "ada.lovelace@example.com",
                "Countess",
                "ada@example.com",
                true,
            ),
            case("full_name_attribute: an enterprise attribute")
                .set("full_name_attribute", text(&format!("{ENTERPRISE}:manager.displayName")))
                .provisions("ada.lovelace@example.com", "Charles Babbage", "ada@example.com", true),
            case("full_name_attribute: a custom-extension attribute")
                .set("full_name_attribute", text(&format!("{ACME}:badge")))
                .provisions("ada.lovelace@example.com", "B-42", "ada@example.com", true),
            case("full_name_attribute: no value falls back to the default")
                .set("full_name_attribute", text("costCenter"))
                .person(|p| p.enterprise.as_mut().unwrap().cost_center = None),
            case("all three at once")
                .set("username_attribute", text("externalId"))
                .set("email_attribute", text("emails[primary eq false].value"))
                .set("full_name_attribute", text("name.givenName"))
                .provisions("e1815", "Ada", "ada@home.example", true),
        ],
    );
}

#[test]
fn standard_username_regex_and_replacement() {
    check(
        guests::STANDARD,
        vec![
            case("username_regex with a capture group")
                .set("username_regex", text("^(.*)@.*$"))
                .set("username_replacement", text("$1"))
                .provisions("ada.lovelace", "Ada Lovelace", "ada@example.com", true),
            case("username_regex with named groups")
                .set("username_regex", text("^(?P<given>[^.]+)\\.(?P<family>[^@]+)@.*$"))
                .set("username_replacement", text("${family}.${given}"))
                .provisions("lovelace.ada", "Ada Lovelace", "ada@example.com", true),
            case("username_regex alone removes the matches").set("username_regex", text("@.*$")).provisions(
                "ada.lovelace",
                "Ada Lovelace",
                "ada@example.com",
                true,
            ),
            case("username_regex sees the username as sent: case-sensitive")
                .set("username_regex", text("@example\\.com$"))
                .provisions("ada.lovelace@example.com", "Ada Lovelace", "ada@example.com", true),
            case("username_regex with (?i)").set("username_regex", text("(?i)@example\\.com$")).provisions(
                "ada.lovelace",
                "Ada Lovelace",
                "ada@example.com",
                true,
            ),
            case("username_regex replaces every match, then the result is normalised")
                .set("username_regex", text("\\."))
                .set("username_replacement", text(" "))
                .provisions("ada_lovelace@example_com", "Ada Lovelace", "ada@example.com", true),
            case("username_regex applies to username_attribute")
                .set("username_attribute", text("emails[type eq \"home\"].value"))
                .set("username_regex", text("@.*"))
                .provisions("ada", "Ada Lovelace", "ada@example.com", true),
            case("username_replacement without username_regex is ignored").set("username_replacement", text("x")),
            case("username_regex that leaves nothing rejects")
                .set("username_regex", text(".*"))
                .rejected("no usable username: `username_regex` turns \"Ada.Lovelace@Example.com\" into nothing"),
            case("username_regex that does not compile rejects").set("username_regex", text("(unclosed")).rejected(
                "app setting `username_regex` is not a valid regular expression: found open group without closing ')'",
            ),
            case("username_replacement not text rejects")
                .set("username_regex", text("@.*"))
                .set("username_replacement", SettingValue::Number(1))
                .rejected("app setting `username_replacement` must be text, not a number"),
        ],
    );
}

#[test]
fn standard_custom_fields() {
    // Every field of the person, read through a path: each must arrive in the module.
    let every_path: &[(&str, &str)] = &[
        ("id", "u-1"),
        ("externalId", "E1815"),
        ("userName", "Ada.Lovelace@Example.com"),
        ("displayName", "Ada Lovelace"),
        ("name.formatted", "Ada King"),
        ("name.familyName", "Lovelace"),
        ("name.givenName", "Ada"),
        ("name.middleName", "Byron"),
        ("name.honorificPrefix", "Lady"),
        ("name.honorificSuffix", "FRS"),
        ("nickName", "Countess"),
        ("title", "Analyst"),
        ("userType", "Employee"),
        ("preferredLanguage", "en-GB"),
        ("locale", "en_GB"),
        ("timezone", "Europe/London"),
        ("active", "true"),
        ("emails", "Ada@Example.com, ada@home.example"),
        ("emails.type", "work, home"),
        ("emails[primary eq true].value", "Ada@Example.com"),
        ("phoneNumbers", "+44 20 7946 0018"),
        ("phoneNumbers.type", "mobile"),
        ("employeeNumber", "1815"),
        ("costCenter", "CC-7"),
        ("organization", "Analytical Engines"),
        ("division", "Mathematics"),
        ("department", "Research"),
        ("manager", "m-1"),
        ("manager.displayName", "Charles Babbage"),
        ("groups", "Engineers, AD-Writers, Everyone"),
        ("groups.value", "g1, g2, g3"),
        ("badge", "B-42"),
        ("location", "London"),
        ("languages", "en, fr"),
    ];
    let every_setting = mapping(&every_path.iter().map(|(path, _)| (*path, *path)).collect::<Vec<_>>());
    check(
        guests::STANDARD,
        vec![
            case("custom_fields: enterprise, custom-extension and multi-valued attributes; no value, no field")
                .set(
                    "custom_fields",
                    mapping(&[
                        ("Department", &format!("{ENTERPRISE}:department")),
                        ("Site", "location"),
                        ("Manager", "manager.displayName"),
                        ("Badge", &format!("{ACME}:badge")),
                        ("Fax", "phoneNumbers[type eq \"fax\"].value"),
                        ("Languages", "languages"),
                        ("Cost centre", "costCenter"),
                    ]),
                )
                .person(|p| p.enterprise.as_mut().unwrap().cost_center = Some("  ".into()))
                .fields(&[
                    ("Department", "Research"),
                    ("Site", "London"),
                    ("Manager", "Charles Babbage"),
                    ("Badge", "B-42"),
                    ("Languages", "en, fr"),
                ]),
            case("custom_fields: every field of the person reaches the module")
                .set("custom_fields", every_setting)
                .fields(every_path),
            case("custom_fields: an LDAP person's attributes")
                .person(|p| *p = ldap_ada())
                .set("custom_fields", mapping(&[("Account", "sAMAccountName"), ("Common name", "cn")]))
                .provisions("ada.lovelace@corp.example", "Ada Lovelace", "ada@corp.example", true)
                .fields(&[("Account", "ALovelace"), ("Common name", "Ada Lovelace (Research)")]),
            case("custom_fields not a mapping rejects")
                .set("custom_fields", text("Department=department"))
                .rejected("app setting `custom_fields` must be a mapping, not a text"),
            case("custom_fields with a blank side rejects")
                .set("custom_fields", mapping(&[("Department", " ")]))
                .rejected("app setting `custom_fields` has an entry with a blank side: \"Department\" → \"\""),
        ],
    );
}

#[test]
fn standard_sync_active() {
    let inactive = |c: Case| c.person(|p| p.active = false);
    check(
        guests::STANDARD,
        vec![
            inactive(case("sync_active on by default: inactive stays inactive")).provisions(
                "ada.lovelace@example.com",
                "Ada Lovelace",
                "ada@example.com",
                false,
            ),
            inactive(case("sync_active true: inactive is inactive")).set("sync_active", flag(true)).provisions(
                "ada.lovelace@example.com",
                "Ada Lovelace",
                "ada@example.com",
                false,
            ),
            case("sync_active true: active is active").set("sync_active", flag(true)),
            inactive(case("sync_active false: always active")).set("sync_active", flag(false)),
            case("sync_active false: active stays active").set("sync_active", flag(false)),
            inactive(case("sync_active as text")).set("sync_active", text("off")),
            inactive(case("sync_active as a number")).set("sync_active", SettingValue::Number(0)),
            case("sync_active not a flag rejects")
                .set("sync_active", text("sometimes"))
                .rejected("app setting `sync_active` must be a flag, not a text"),
        ],
    );
}

#[test]
fn standard_default_groups() {
    check(
        guests::STANDARD,
        vec![
            case("default_groups_new for a person Confluence does not know")
                .set("default_groups_new", list(&["Confluence-Users", " New   Starters "]))
                .groups(&["confluence-users", "new starters"], &[], &[]),
            case("default_groups_new not for an existing user")
                .set("default_groups_new", list(&["confluence-users"]))
                .existing(&["writers"]),
            case("default_groups_all and default_groups_new for a new user")
                .set("default_groups_all", list(&["staff"]))
                .set("default_groups_new", list(&["confluence-users"]))
                .groups(&["staff", "confluence-users"], &[], &[]),
            case("default_groups_all for an existing user, on every change")
                .set("default_groups_all", list(&["staff"]))
                .set("default_groups_new", list(&["confluence-users"]))
                .existing(&["staff"])
                .groups(&["staff"], &[], &[]),
            case("default_groups_all as comma-separated text")
                .set("default_groups_all", text("Staff, wiki"))
                .existing(&[])
                .groups(&["staff", "wiki"], &[], &[]),
            case("default groups after the IdP groups, without duplicates")
                .set("group_mapping", mapping(&[("Engineers", "staff")]))
                .set("default_groups_all", list(&["staff", "wiki"]))
                .groups(&["staff", "wiki"], &[], &[]),
            case("default groups not a list rejects")
                .set("default_groups_all", flag(true))
                .rejected("app setting `default_groups_all` must be a text-list, not a flag"),
            case("blank entries of a comma-separated list are dropped")
                .set("default_groups_new", text("staff,  ,wiki,"))
                .groups(&["staff", "wiki"], &[], &[]),
            case("a default group that normalises to nothing rejects")
                .set("default_groups_new", list(&["staff", "\u{7}"]))
                .rejected(&format!("app setting `default_groups_new` names a group {:?} that is blank", "\u{7}")),
        ],
    );
}

#[test]
fn standard_group_mapping_and_filter() {
    check(
        guests::STANDARD,
        vec![
            case("group_mapping: mapped groups only, by display name in any case or by id")
                .set(
                    "group_mapping",
                    mapping(&[("engineers", "Developers"), ("g3", "all-staff"), ("Nobody", "ghosts")]),
                )
                .groups(&["developers", "all-staff"], &[], &[]),
            case("group_mapping: one IdP group to several Confluence groups")
                .set("group_mapping", mapping(&[("Engineers", "developers"), ("Engineers", "jira-users")]))
                .groups(&["developers", "jira-users"], &[], &[]),
            case("group_mapping: two IdP groups to one Confluence group")
                .set("group_mapping", mapping(&[("Engineers", "staff"), ("Everyone", "staff")]))
                .groups(&["staff"], &[], &[]),
            case("group_mapping: an LDAP group by its DN")
                .person(|p| *p = ldap_ada())
                .set("group_mapping", mapping(&[("CN=Engineers,OU=Groups,DC=corp,DC=example", "developers")]))
                .provisions("ada.lovelace@corp.example", "Ada Lovelace", "ada@corp.example", true)
                .groups(&["developers"], &[], &[]),
            case("group_mapping with a blank side rejects")
                .set("group_mapping", mapping(&[("Engineers", "")]))
                .rejected("app setting `group_mapping` has an entry with a blank side: \"Engineers\" → \"\""),
            case("group_mapping not a mapping rejects")
                .set("group_mapping", list(&["Engineers=developers"]))
                .rejected("app setting `group_mapping` must be a mapping, not a text-list"),
            case("import_only_mapped_groups without on_the_fly changes nothing")
                .set("group_mapping", mapping(&[("Engineers", "developers")]))
                .set("import_only_mapped_groups", flag(true))
                .groups(&["developers"], &[], &[]),
            case("import_only_mapped_groups with on_the_fly: mapped groups only, created if missing")
                .set("group_mapping", mapping(&[("Engineers", "developers")]))
                .set("on_the_fly", flag(true))
                .set("import_only_mapped_groups", flag(true))
                .groups(&["developers"], &["developers"], &[]),
            case("import_only_mapped_groups off with on_the_fly: the mapping first, the rest on the fly")
                .set("group_mapping", mapping(&[("Engineers", "developers")]))
                .set("on_the_fly", flag(true))
                .set("import_only_mapped_groups", flag(false))
                .groups(&["developers", "ad-writers", "everyone"], &["developers", "ad-writers", "everyone"], &[]),
            case("group_filter limits the mapping")
                .set("group_mapping", mapping(&[("Engineers", "developers"), ("g3", "all-staff")]))
                .set("group_filter", text("^Eng"))
                .groups(&["developers"], &[], &[]),
            case("group_filter limits on the fly")
                .set("on_the_fly", flag(true))
                .set("group_filter", text("(?i)^e"))
                .groups(&["engineers", "everyone"], &["engineers", "everyone"], &[]),
            case("group_filter matching nothing: no IdP groups, default groups still")
                .set("group_mapping", mapping(&[("Engineers", "developers")]))
                .set("group_filter", text("^nothing$"))
                .set("default_groups_new", list(&["confluence-users"]))
                .groups(&["confluence-users"], &[], &[]),
            case("group_filter that does not compile rejects").set("group_filter", text("[")).rejected(
                "app setting `group_filter` is not a valid regular expression: found unclosed character class",
            ),
        ],
    );
}

#[test]
fn standard_on_the_fly() {
    check(
        guests::STANDARD,
        vec![
            case("on_the_fly off by default: unmapped IdP groups are ignored"),
            case("on_the_fly: every IdP group, lower-cased, created if missing")
                .set("on_the_fly", flag(true))
                .groups(&["engineers", "ad-writers", "everyone"], &["engineers", "ad-writers", "everyone"], &[]),
            case("on_the_fly as text")
                .set("on_the_fly", text("yes"))
                .person(|p| p.groups.truncate(1))
                .groups(&["engineers"], &["engineers"], &[]),
            case("on_the_fly: names normalised")
                .set("on_the_fly", flag(true))
                .person(|p| p.groups = vec![idp_group("x", "  Engineering   Leads ")])
                .groups(&["engineering leads"], &["engineering leads"], &[]),
            case("on_the_fly_include")
                .set("on_the_fly", flag(true))
                .set("on_the_fly_include", text("^AD-"))
                .groups(&["ad-writers"], &["ad-writers"], &[]),
            case("on_the_fly_exclude")
                .set("on_the_fly", flag(true))
                .set("on_the_fly_exclude", text("^Every"))
                .groups(&["engineers", "ad-writers"], &["engineers", "ad-writers"], &[]),
            case("on_the_fly_include and on_the_fly_exclude")
                .set("on_the_fly", flag(true))
                .set("on_the_fly_include", text("e"))
                .set("on_the_fly_exclude", text("^Eng"))
                .groups(&["ad-writers", "everyone"], &["ad-writers", "everyone"], &[]),
            case("on_the_fly_include is for on the fly only, not the mapping")
                .set("on_the_fly", flag(true))
                .set("on_the_fly_include", text("^AD-"))
                .set("group_mapping", mapping(&[("Engineers", "developers")]))
                .groups(&["developers", "ad-writers"], &["developers", "ad-writers"], &[]),
            case("on_the_fly_include without on_the_fly does nothing").set("on_the_fly_include", text("^AD-")),
            case("on_the_fly_rewrite_regex with on_the_fly_rewrite_replacement")
                .set("on_the_fly", flag(true))
                .set("on_the_fly_rewrite_regex", text("^AD-(.*)$"))
                .set("on_the_fly_rewrite_replacement", text("confluence-$1"))
                .groups(
                    &["engineers", "confluence-writers", "everyone"],
                    &["engineers", "confluence-writers", "everyone"],
                    &[],
                ),
            case("on_the_fly_rewrite_regex alone removes the matches")
                .set("on_the_fly", flag(true))
                .set("on_the_fly_rewrite_regex", text("^AD-"))
                .groups(&["engineers", "writers", "everyone"], &["engineers", "writers", "everyone"], &[]),
            case("on_the_fly_rewrite_regex sees the name before it is lower-cased")
                .set("on_the_fly", flag(true))
                .set("on_the_fly_rewrite_regex", text("^ad-"))
                .groups(&["engineers", "ad-writers", "everyone"], &["engineers", "ad-writers", "everyone"], &[]),
            case("on_the_fly_include sees the name before the rewrite")
                .set("on_the_fly", flag(true))
                .set("on_the_fly_include", text("^AD-"))
                .set("on_the_fly_rewrite_regex", text("^AD-"))
                .groups(&["writers"], &["writers"], &[]),
            case("on_the_fly_rewrite_regex leaving nothing drops the group")
                .set("on_the_fly", flag(true))
                .set("on_the_fly_rewrite_regex", text("^Every.*"))
                .groups(&["engineers", "ad-writers"], &["engineers", "ad-writers"], &[]),
            case("on_the_fly_rewrite_regex making two groups one")
                .set("on_the_fly", flag(true))
                .set("on_the_fly_rewrite_regex", text("^AD-"))
                .person(|p| p.groups.push(idp_group("g4", "Writers")))
                .groups(&["engineers", "writers", "everyone"], &["engineers", "writers", "everyone"], &[]),
            case("on_the_fly_rewrite_regex does not touch mapped groups")
                .set("on_the_fly", flag(true))
                .set("group_mapping", mapping(&[("AD-Writers", "AD-Authors")]))
                .set("on_the_fly_rewrite_regex", text("(?i)^AD-"))
                .groups(&["engineers", "ad-authors", "everyone"], &["engineers", "ad-authors", "everyone"], &[]),
            case("on_the_fly_include that does not compile rejects").set("on_the_fly_include", text("*")).rejected(
                "app setting `on_the_fly_include` is not a valid regular expression: uncounted repetition operator must be applied to a sub-expression",
            ),
            case("on_the_fly_exclude not text rejects")
                .set("on_the_fly_exclude", list(&["x"]))
                .rejected("app setting `on_the_fly_exclude` must be text (a regular expression), not a text-list"),
            case("on_the_fly_rewrite_replacement not text rejects")
                .set("on_the_fly_rewrite_regex", text("x"))
                .set("on_the_fly_rewrite_replacement", flag(false))
                .rejected("app setting `on_the_fly_rewrite_replacement` must be text, not a flag"),
        ],
    );
}

#[test]
fn standard_keep_existing_groups() {
    let engineer = |c: Case| c.set("on_the_fly", flag(true)).person(|p| p.groups.truncate(1));
    check(
        guests::STANDARD,
        vec![
            engineer(case("keep_existing_groups on by default: nothing removed"))
                .existing(&["engineers", "old-team"])
                .groups(&["engineers"], &["engineers"], &[]),
            engineer(case("keep_existing_groups on: nothing removed"))
                .set("keep_existing_groups", flag(true))
                .existing(&["engineers", "old-team"])
                .groups(&["engineers"], &["engineers"], &[]),
            engineer(case("keep_existing_groups off: groups not added are left, the default groups never"))
                .set("keep_existing_groups", flag(false))
                .set("default_groups_new", list(&["confluence-users"]))
                .set("default_groups_all", list(&["staff"]))
                .existing(&["engineers", "Old-Team", "confluence-users", "Staff", "confluence-administrators"])
                .groups(&["engineers", "staff"], &["engineers"], &["old-team", "confluence-administrators"]),
            case("keep_existing_groups off with the manual mapping")
                .set("group_mapping", mapping(&[("Engineers", "developers")]))
                .set("keep_existing_groups", text("off"))
                .existing(&["developers", "writers"])
                .groups(&["developers"], &[], &["writers"]),
            case("keep_existing_groups off and no IdP group considered: every non-default group is left")
                .set("keep_existing_groups", flag(false))
                .set("default_groups_all", list(&["staff"]))
                .person(|p| p.groups.clear())
                .existing(&["staff", "writers", "developers"])
                .groups(&["staff"], &[], &["writers", "developers"]),
            case("keep_existing_groups off: groups the app granted are left to the host to revoke")
                .set("group_mapping", mapping(&[("Engineers", "developers")]))
                .set("keep_existing_groups", flag(false))
                .confluence(confluence_user("ada.lovelace@example.com", &["developers", "writers"], &["old-grant"]))
                .groups(&["developers"], &[], &["writers"]),
            case("keep_existing_groups off: the groups of the user with the decided username")
                .set("group_mapping", mapping(&[("Engineers", "developers")]))
                .set("keep_existing_groups", flag(false))
                .set("username_regex", text("@.*$"))
                .existing(&["writers"])
                .known(confluence_user("ada.lovelace", &["testers", "developers"], &[]))
                .lookups(&["ada.lovelace"])
                .provisions("ada.lovelace", "Ada Lovelace", "ada@example.com", true)
                .groups(&["developers"], &[], &["testers"]),
            case("keep_existing_groups off for a person Confluence does not know removes nothing")
                .set("keep_existing_groups", flag(false))
                .person(|p| p.groups.clear()),
            case("keep_existing_groups not a flag rejects")
                .set("keep_existing_groups", mapping(&[]))
                .rejected("app setting `keep_existing_groups` must be a flag, not a mapping"),
        ],
    );
}

#[test]
fn standard_create_users() {
    let skipped = |username: &str| {
        AttributeDecision::Skip(format!("create_users is off and Confluence has no user {username:?}"))
    };
    check(
        guests::STANDARD,
        vec![
            case("create_users on by default: a person Confluence does not have is created")
                .lookups(&["ada.lovelace@example.com"]),
            case("create_users off: a person Confluence does not have is skipped, with the reason")
                .set("create_users", flag(false))
                .set("default_groups_all", list(&["staff"]))
                .attributes(skipped("ada.lovelace@example.com"))
                .groups(&["staff"], &[], &[]),
            case("create_users off: a user Confluence has is updated and grouped, without a look-up")
                .set("create_users", flag(false))
                .set("default_groups_all", list(&["staff"]))
                .existing(&[])
                .lookups(&[])
                .groups(&["staff"], &[], &[]),
            case("create_users off: the decided username, which Confluence has, is found with find-user")
                .set("create_users", flag(false))
                .set("username_regex", text("@.*$"))
                .known(confluence_user("ada.lovelace", &[], &[]))
                .lookups(&["ada.lovelace"])
                .provisions("ada.lovelace", "Ada Lovelace", "ada@example.com", true),
            case("create_users off: the input's user is another name; the decided one is unknown")
                .set("create_users", flag(false))
                .set("username_regex", text("@.*$"))
                .existing(&[])
                .lookups(&["ada.lovelace"])
                .attributes(skipped("ada.lovelace")),
            case("create_users not a flag rejects")
                .set("create_users", list(&["x"]))
                .rejected("app setting `create_users` must be a flag, not a text-list"),
        ],
    );
}

#[test]
fn standard_update_users() {
    let in_confluence = || ConfluenceUser {
        full_name: Some("Countess Lovelace".into()),
        email: Some("ada@old.example".into()),
        active: Some(true),
        ..confluence_user("ada.lovelace@example.com", &[], &[])
    };
    check(
        guests::STANDARD,
        vec![
            case("update_users on by default: an existing user gets the mapped values").confluence(in_confluence()),
            case("update_users off: an existing user keeps Confluence's full name and e-mail, active is synced")
                .set("update_users", flag(false))
                .person(|p| p.active = false)
                .confluence(in_confluence())
                .provisions("ada.lovelace@example.com", "Countess Lovelace", "ada@old.example", false),
            case("update_users off: values UserSync does not know are mapped")
                .set("update_users", flag(false))
                .existing(&[]),
            case("update_users off: the values of the user found under the decided username")
                .set("update_users", flag(false))
                .set("username_regex", text("@.*$"))
                .known(ConfluenceUser {
                    full_name: Some("A. Lovelace".into()),
                    email: Some("al@example.org".into()),
                    active: Some(false),
                    ..confluence_user("ada.lovelace", &[], &[])
                })
                .lookups(&["ada.lovelace"])
                .provisions("ada.lovelace", "A. Lovelace", "al@example.org", true),
            case("update_users off: a new user gets the mapped values").set("update_users", flag(false)),
        ],
    );
}

#[test]
fn standard_default_groups_new_are_kept_while_granted() {
    check(
        guests::STANDARD,
        vec![
            case("default_groups_new: granted to a user Confluence does not have")
                .set("default_groups_new", list(&["confluence-users"]))
                .groups(&["confluence-users"], &[], &[]),
            case("default_groups_new: still wanted on the next decision, while the app holds the grant")
                .set("default_groups_new", list(&["confluence-users", "newcomers"]))
                .confluence(confluence_user("ada.lovelace@example.com", &["confluence-users"], &["confluence-users"]))
                .groups(&["confluence-users"], &[], &[]),
            case("default_groups_new: not granted to a user Confluence had before")
                .set("default_groups_new", list(&["confluence-users"]))
                .existing(&["confluence-users"]),
            case("default_groups_new: the grants of the user with the decided username")
                .set("default_groups_new", list(&["confluence-users"]))
                .set("username_regex", text("@.*$"))
                .existing(&[])
                .known(confluence_user("ada.lovelace", &["confluence-users"], &["confluence-users"]))
                .provisions("ada.lovelace", "Ada Lovelace", "ada@example.com", true)
                .groups(&["confluence-users"], &[], &[]),
        ],
    );
}

/// The settings declaration crosses into the host, and the host checks an app's settings
/// against it when it loads the module for that app.
#[test]
fn standard_declares_its_settings_and_the_host_holds_apps_to_them() {
    let engine = engine();
    let standard = module(guests::STANDARD);
    assert_eq!(standard.world(), "2.0.0");
    let declaration = standard.declaration().unwrap();
    let keys: Vec<&str> = declaration.iter().map(|d| d.key.as_str()).collect();
    for key in [
        "username_regex",
        "default_groups_new",
        "group_mapping",
        "keep_existing_groups",
        "create_users",
        "update_users",
    ] {
        assert!(keys.contains(&key), "{key} is declared: {keys:?}");
    }
    let create_users = declaration.iter().find(|d| d.key == "create_users").unwrap();
    assert_eq!((create_users.kind, &create_users.default), (SettingKind::Flag, &Some(SettingValue::Flag(true))));
    assert!(!create_users.help.is_empty());
    let mapping_decl = declaration.iter().find(|d| d.key == "group_mapping").unwrap();
    assert_eq!((mapping_decl.kind, &mapping_decl.default), (SettingKind::Mapping, &None));
    let table = describe_declaration(declaration);
    assert!(
        table.lines().any(|l| l.starts_with("create_users ") && l.contains(" flag ") && l.contains(" true ")),
        "{table}"
    );

    let load =
        |settings: Vec<Setting>| engine.load("standard", guests::component(guests::STANDARD), limits(), &settings);
    let setting = |key: &str, value: SettingValue| Setting { key: key.into(), value };
    // Declared keys, of their kinds (as the SDK reads them: a flag may be text), load.
    load(vec![
        setting("On_The_Fly", text("yes")),
        setting("default_groups_new", text("confluence-users, staff")),
        setting("group_mapping", mapping(&[("Engineering", "developers")])),
        setting("create_users", flag(false)),
    ])
    .unwrap();
    // An unknown key is refused, naming it and the module.
    let unknown = load(vec![setting("colour", text("blue"))]).unwrap_err();
    assert!(matches!(&unknown.cause, RuleFailure::Settings(why) if why.contains("`colour`")), "{unknown}");
    assert!(unknown.to_string().starts_with("rules module standard ("), "{unknown}");
    // A value of the wrong kind is refused, naming the key and both kinds.
    let wrong = load(vec![setting("on_the_fly", list(&["x"]))]).unwrap_err();
    assert_eq!(wrong.cause, RuleFailure::Settings("app setting `on_the_fly` must be a flag, not a text-list".into()));
    let not_a_flag = load(vec![setting("keep_existing_groups", text("sometimes"))]).unwrap_err();
    assert!(
        matches!(&not_a_flag.cause, RuleFailure::Settings(why) if why.contains("`keep_existing_groups`")),
        "{not_a_flag}"
    );

    // The examples declare theirs.
    let email = module(guests::EMAIL_DOMAIN);
    let declared: Vec<_> = email.declaration().unwrap().iter().map(|d| (d.key.clone(), d.kind)).collect();
    assert_eq!(declared, [("allowed_domains".to_owned(), SettingKind::TextList)]);
    assert_eq!(module(guests::DEPARTMENT_GROUPS).declaration(), Some(&[][..]));
    let err = engine
        .load("dept", guests::component(guests::DEPARTMENT_GROUPS), limits(), &[setting("allowed_domains", text("x"))])
        .unwrap_err();
    assert!(matches!(&err.cause, RuleFailure::Settings(why) if why.contains("it declares no settings")), "{err}");
}

/// The standard module as built against contract 1.0.0, before 2.0.0 existed: it loads
/// (no declaration, so its app's settings are not checked) and decides as it always did.
#[test]
fn a_module_built_against_1_0_0_still_loads_and_decides() {
    let engine = engine();
    let settings = vec![
        Setting { key: "default_groups_new".into(), value: list(&["confluence-users"]) },
        Setting { key: "on_the_fly".into(), value: flag(true) },
        Setting { key: "not_declared_anywhere".into(), value: text("fine for 1.0.0") },
    ];
    let old = engine.load("standard-1.0.0", STANDARD_1_0_0, limits(), &settings).unwrap();
    assert_eq!(old.world(), "1.0.0");
    assert_eq!(old.declaration(), None);
    assert_eq!(old.id().hash, content_hash(STANDARD_1_0_0));

    let mut new_user = case("new").input;
    new_user.app.settings = settings.clone();
    let d = engine.decide(&old, &new_user, Arc::new(NoDirectory)).unwrap();
    assert_eq!(d.attributes, ada_default());
    assert_eq!(
        d.groups,
        group_decision(
            &["engineers", "ad-writers", "everyone", "confluence-users"],
            &["engineers", "ad-writers", "everyone"],
            &[]
        )
    );
    // A 1.0.0 module sees `exists` as before (not `granted`, which it does not know).
    let mut existing = new_user.clone();
    existing.confluence = confluence_user("ada.lovelace@example.com", &["confluence-users"], &["confluence-users"]);
    let directory = Arc::new(StubDirectory::default());
    let d = engine.decide(&old, &existing, directory.clone()).unwrap();
    assert_eq!(d.groups.add, ["engineers", "ad-writers", "everyone"]);
    assert!(directory.asked.lock().unwrap().is_empty(), "a 1.0.0 module cannot call find-user");
}

// ---------------------------------------------------------------------------------------
// The other sample modules.

#[test]
fn department_groups_from_department_and_location() {
    check(
        guests::DEPARTMENT_GROUPS,
        vec![
            case("enterprise department and custom location").groups(
                &["dept-research", "loc-london"],
                &["dept-research", "loc-london"],
                &[],
            ),
            case("names are slugs")
                .person(|p| {
                    p.enterprise.as_mut().unwrap().department = Some("Research & Development".into());
                    p.attributes[1] = attribute(Some(ACME), "Location", &["Zürich (HQ)"]);
                })
                .groups(
                    &["dept-research-development", "loc-zürich-hq"],
                    &["dept-research-development", "loc-zürich-hq"],
                    &[],
                ),
            case("an LDAP department and locality")
                .person(|p| {
                    *p = ldap_ada();
                    p.attributes.push(attribute(None, "department", &["Ops"]));
                    p.attributes.push(attribute(None, "l", &["Berlin"]));
                })
                .provisions("ada.lovelace@corp.example", "Ada Lovelace", "ada@corp.example", true)
                .groups(&["dept-ops", "loc-berlin"], &["dept-ops", "loc-berlin"], &[]),
            case("a department only").person(|p| p.attributes.retain(|a| a.name != "location")).groups(
                &["dept-research"],
                &["dept-research"],
                &[],
            ),
            case("neither: no group change").person(|p| {
                p.enterprise = None;
                p.attributes.clear();
            }),
            case("settings of the standard rules mean nothing here")
                .set("username_attribute", text("externalId"))
                .set("group_mapping", mapping(&[("Engineers", "developers")]))
                .set("keep_existing_groups", flag(false))
                .existing(&["writers"])
                .groups(&["dept-research", "loc-london"], &["dept-research", "loc-london"], &[]),
        ],
    );
}

#[test]
fn email_domain_rejects_people_outside_the_allowed_domains() {
    let allowed = || list(&["example.com", "*.corp.example"]);
    let with_email = |email: &'static str| move |p: &mut Person| p.emails = vec![typed(email, "work", true)];
    check(
        guests::EMAIL_DOMAIN,
        vec![
            case("inside: provisioned with the default mapping").set("allowed_domains", allowed()),
            case("inside, any case").set("allowed_domains", list(&["EXAMPLE.COM"])),
            case("inside a wildcard subdomain")
                .set("allowed_domains", allowed())
                .person(with_email("ada@eu.corp.example"))
                .provisions("ada.lovelace@example.com", "Ada Lovelace", "ada@eu.corp.example", true),
            case("inside, allowed as comma-separated text").set("allowed_domains", text("other.org, example.com")),
            case("outside: rejected, naming the domain")
                .set("allowed_domains", allowed())
                .person(with_email("ada@evil.example"))
                .rejected("e-mail domain \"evil.example\" is not allowed"),
            case("a wildcard does not allow the parent domain")
                .set("allowed_domains", allowed())
                .person(with_email("ada@corp.example"))
                .rejected("e-mail domain \"corp.example\" is not allowed"),
            case("a look-alike domain is outside")
                .set("allowed_domains", allowed())
                .person(with_email("ada@example.com.evil"))
                .rejected("e-mail domain \"example.com.evil\" is not allowed"),
            case("the primary address decides, not another allowed one")
                .set("allowed_domains", allowed())
                .person(|p| {
                    p.emails = vec![typed("ada@example.com", "work", false), typed("ada@evil.example", "home", true)]
                })
                .rejected("e-mail domain \"evil.example\" is not allowed"),
            case("no e-mail address")
                .set("allowed_domains", allowed())
                .person(|p| p.emails.clear())
                .rejected("no primary e-mail address"),
            case("no allowed_domains: everyone is rejected")
                .rejected("the app setting `allowed_domains` lists no domains"),
        ],
    );
}

// ---------------------------------------------------------------------------------------
// Attribution.

#[test]
fn decisions_are_attributed_to_the_bytes_that_made_them() {
    let engine = engine();
    let input = case("attribution").set("allowed_domains", list(&["example.com"])).input;
    let mut hashes = Vec::new();
    for package in [guests::STANDARD, guests::DEPARTMENT_GROUPS, guests::EMAIL_DOMAIN] {
        for (form, bytes) in [("core module", guests::core_module(package)), ("component", guests::component(package))]
        {
            let name = format!("{package}-{}", form.replace(' ', "-"));
            let module = engine.load(&name, bytes, limits(), &[]).unwrap();
            let expected = ModuleId { name: name.clone(), hash: content_hash(bytes) };
            assert_eq!(*module.id(), expected, "{package} as a {form}");
            let decisions = engine.decide(&module, &input, Arc::new(NoDirectory)).unwrap();
            assert_eq!(decisions.module, expected, "{package} as a {form}: the decision names the module");
            assert_eq!(decisions.module.hash.len(), 64);
            assert!(
                decisions.module.hash.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
                "{}",
                decisions.module.hash
            );
            hashes.push(decisions.module.hash);
        }
    }
    let distinct: std::collections::HashSet<_> = hashes.iter().collect();
    assert_eq!(distinct.len(), hashes.len(), "each module, in each form, has its own hash: {hashes:?}");

    // A rejection names the module and its hash too.
    let bytes = guests::component(guests::EMAIL_DOMAIN);
    let module = engine.load("email-domain", bytes, limits(), &[]).unwrap();
    let mut outsider = input;
    outsider.person.emails = vec![typed("ada@evil.example", "work", true)];
    let err = engine.decide(&module, &outsider, Arc::new(NoDirectory)).unwrap_err();
    assert_eq!(err.cause, RuleFailure::Rejected("e-mail domain \"evil.example\" is not allowed".into()));
    assert_eq!((err.module.as_str(), err.hash.as_str()), ("email-domain", content_hash(bytes).as_str()));
    assert!(err.to_string().contains(&content_hash(bytes)[..12]), "{err}");
}
