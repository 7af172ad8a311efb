//! Every setting, through one table: each case names the settings, changes the base person
//! or the Confluence state, and says how the decisions it cares about render.

use usersync_rules::{
    directory, Attribute, AttributeDecision, ConfluenceUser, CustomField, Decisions, Enterprise, GroupDecision,
    IdpGroup, Input, Name, Person, Rules, SettingValue, Source, TypedValue,
};

use crate::{decide, declarations, Standard};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Ada, as an identity provider sends her over SCIM.
fn ada() -> Person {
    let mut p = Person::new(Source::Scim, "Ada.Lovelace@Example.com");
    p.id = "u-1".into();
    p.external_id = Some("E1815".into());
    p.display_name = Some("Ada Lovelace".into());
    p.nick_name = Some("Countess".into());
    p.name = Some(Name {
        formatted: Some("Ada King".into()),
        family_name: Some("Lovelace".into()),
        given_name: Some("Ada".into()),
        middle_name: None,
        honorific_prefix: None,
        honorific_suffix: None,
    });
    p.emails = vec![
        TypedValue { value: "ada@home.example".into(), kind: Some("home".into()), primary: false },
        TypedValue { value: "Ada@Example.com".into(), kind: Some("work".into()), primary: true },
    ];
    p.enterprise = Some(Enterprise {
        employee_number: Some("1815".into()),
        cost_center: None,
        organization: None,
        division: None,
        department: Some("Research".into()),
        manager_id: None,
        manager_name: Some("Charles Babbage".into()),
    });
    p.attributes = vec![
        Attribute { schema: None, name: "location".into(), values: vec!["London".into()] },
        Attribute { schema: None, name: "languages".into(), values: vec!["en".into(), "fr".into()] },
    ];
    p.groups = vec![
        IdpGroup { id: "g1".into(), display_name: "Engineers".into() },
        IdpGroup { id: "g2".into(), display_name: "AD-Writers".into() },
        IdpGroup { id: "g3".into(), display_name: "Everyone".into() },
    ];
    p
}

/// Ada's Confluence username by default.
const ADA: &str = "ada.lovelace@example.com";

/// One row of the table. `None` expectations are not checked.
struct Case {
    name: &'static str,
    settings: Vec<(String, SettingValue)>,
    person: fn(&mut Person),
    /// What the input says Confluence holds for the person (default: nothing).
    confluence: Option<ConfluenceUser>,
    /// The other Confluence users `find-user` knows.
    directory: Vec<ConfluenceUser>,
    /// The usernames the decision must look up with `find-user`, when checked.
    lookups: Option<&'static [&'static str]>,
    attributes: Option<&'static str>,
    fields: Option<&'static str>,
    groups: Option<&'static str>,
}

fn case(name: &'static str) -> Case {
    Case {
        name,
        settings: Vec::new(),
        person: |_| {},
        confluence: None,
        directory: Vec::new(),
        lookups: None,
        attributes: None,
        fields: None,
        groups: None,
    }
}

impl Case {
    fn set(mut self, key: &str, value: SettingValue) -> Self {
        self.settings.push((key.to_owned(), value));
        self
    }
    fn person(mut self, change: fn(&mut Person)) -> Self {
        self.person = change;
        self
    }
    /// Confluence already has the user (as Ada's default username), in these groups, none
    /// granted by this app.
    fn existing(self, groups: &'static [&'static str]) -> Self {
        self.confluence(ConfluenceUser::existing(ADA).with_groups(groups))
    }
    /// What the input says Confluence holds for the person.
    fn confluence(mut self, user: ConfluenceUser) -> Self {
        self.confluence = Some(user);
        self
    }
    /// Another Confluence user `find-user` knows.
    fn known(mut self, user: ConfluenceUser) -> Self {
        self.directory.push(user);
        self
    }
    /// The usernames the decision looks up with `find-user`, in order.
    fn lookups(mut self, expected: &'static [&'static str]) -> Self {
        self.lookups = Some(expected);
        self
    }
    fn attributes(mut self, expected: &'static str) -> Self {
        self.attributes = Some(expected);
        self
    }
    fn fields(mut self, expected: &'static str) -> Self {
        self.fields = Some(expected);
        self
    }
    fn groups(mut self, expected: &'static str) -> Self {
        self.groups = Some(expected);
        self
    }

    fn input(&self) -> Input {
        let mut person = ada();
        (self.person)(&mut person);
        let mut input = Input::new(person);
        for (key, value) in &self.settings {
            input = input.with_setting(key, value.clone());
        }
        match &self.confluence {
            Some(user) => input.with_confluence(user.clone()),
            None => input,
        }
    }
}

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

/// `username / full name / email / active|inactive`, or `reject: reason`.
fn render_attributes(d: &AttributeDecision) -> String {
    match d {
        AttributeDecision::Provision(m) => {
            format!("{} / {} / {} / {}", m.username, m.full_name, m.email, if m.active { "active" } else { "inactive" })
        }
        AttributeDecision::Skip(why) => format!("skip: {why}"),
        AttributeDecision::Reject(why) => format!("reject: {why}"),
    }
}

/// `name=value; name=value`.
fn render_fields(fields: &[CustomField]) -> String {
    fields.iter().map(|f| format!("{}={}", f.name, f.value)).collect::<Vec<_>>().join("; ")
}

/// `add [a, b] create [b] remove [c]`.
fn render_groups(g: &GroupDecision) -> String {
    format!("add [{}] create [{}] remove [{}]", g.add.join(", "), g.create.join(", "), g.remove.join(", "))
}

/// Runs every case, and reports every mismatch at once.
fn check(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for c in &cases {
        let input = c.input();
        directory::set_test_directory(c.directory.clone());
        let d = decide(&input);
        let lookups = directory::test_lookups();
        assert_eq!(d, Decisions::of::<Standard>(&input), "{}: decide and the Rules impl agree", c.name);
        if let Some(expected) = c.lookups {
            if lookups != expected {
                failures.push(format!("{}: find-user\n  expected: {expected:?}\n  actual:   {lookups:?}", c.name));
            }
        }
        if let Err(why) = confluence_accepts(&d) {
            failures.push(format!("{}: Confluence would refuse the decision: {why}", c.name));
        }
        let checks = [
            ("attributes", c.attributes, render_attributes(&d.attributes)),
            ("fields", c.fields, render_fields(&d.custom_fields)),
            ("groups", c.groups, render_groups(&d.groups)),
        ];
        for (what, expected, actual) in checks {
            if let Some(expected) = expected {
                if expected != actual {
                    failures.push(format!("{}: {what}\n  expected: {expected}\n  actual:   {actual}", c.name));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// What the host checks of every decision (`host/src/rules/validate.rs`), restated.
fn confluence_accepts(d: &Decisions) -> Result<(), String> {
    if let AttributeDecision::Provision(m) = &d.attributes {
        let u = &m.username;
        if u.is_empty()
            || *u != u.to_lowercase()
            || u.contains(|c: char| c.is_whitespace() || c.is_control() || "\\,+<>'\"".contains(c))
        {
            return Err(format!("username {u:?}"));
        }
        if !usersync_rules::is_usable_email(&m.email) {
            return Err(format!("e-mail {:?}", m.email));
        }
        if m.full_name.trim().is_empty() || m.full_name.contains(['<', '>']) {
            return Err(format!("full name {:?}", m.full_name));
        }
    }
    let g = &d.groups;
    if let Some(bad) = g.add.iter().chain(&g.remove).chain(&g.create).find(|n| n.is_empty() || **n != n.to_lowercase())
    {
        return Err(format!("group {bad:?}"));
    }
    if let Some(lost) = g.create.iter().find(|c| !g.add.contains(c)) {
        return Err(format!("group {lost:?} is created but not added"));
    }
    Ok(())
}

const NO_GROUPS: &str = "add [] create [] remove []";

#[test]
fn attribute_mapping() {
    check(vec![
        case("defaults")
            .attributes("ada.lovelace@example.com / Ada Lovelace / ada@example.com / active")
            .fields("")
            .groups(NO_GROUPS),
        case("LDAP defaults").person(|p| {
            *p = Person::new(Source::Ldap, "");
            p.attributes = [("sAMAccountName", "ALovelace"), ("mail", "ada@corp.example"), ("givenName", "Ada"), ("sn", "Lovelace")]
                .iter()
                .map(|(n, v)| Attribute { schema: None, name: (*n).into(), values: vec![(*v).into()] })
                .collect();
        })
        .attributes("alovelace / Ada Lovelace / ada@corp.example / active"),
        case("LDAP userPrincipalName before sAMAccountName").person(|p| {
            p.source = Source::Ldap;
            p.attributes.push(Attribute { schema: None, name: "sAMAccountName".into(), values: vec!["ada".into()] });
            p.attributes.push(Attribute { schema: None, name: "userPrincipalName".into(), values: vec!["Ada@Corp".into()] });
        })
        .attributes("ada@corp / Ada Lovelace / ada@example.com / active"),
        case("username_attribute: a core attribute")
            .set("username_attribute", text("externalId"))
            .attributes("e1815 / Ada Lovelace / ada@example.com / active"),
        case("username_attribute: an enterprise path")
            .set("username_attribute", text(&format!("{ENTERPRISE}:employeeNumber")))
            .attributes("1815 / Ada Lovelace / ada@example.com / active"),
        case("username_attribute: a custom attribute, normalised")
            .set("username_attribute", text("LOCATION"))
            .person(|p| p.attributes[0].values = vec!["Big Ben, London".into()])
            .attributes("big_ben_london / Ada Lovelace / ada@example.com / active"),
        case("username_attribute: no value rejects")
            .set("username_attribute", text("title"))
            .attributes("reject: no usable username: attribute `title` has no value"),
        case("username_attribute: blank text is unset")
            .set("username_attribute", text("  "))
            .attributes("ada.lovelace@example.com / Ada Lovelace / ada@example.com / active"),
        case("username_attribute: not text rejects")
            .set("username_attribute", flag(true))
            .attributes("reject: app setting `username_attribute` must be text, not a flag")
            .fields("")
            .groups(NO_GROUPS),
        case("email_attribute")
            .set("email_attribute", text("emails[type eq \"home\"].value"))
            .attributes("ada.lovelace@example.com / Ada Lovelace / ada@home.example / active"),
        case("email_attribute: no value rejects")
            .set("email_attribute", text("emails[type eq \"other\"].value"))
            .attributes("reject: no usable e-mail address: attribute `emails[type eq \"other\"].value` has no value"),
        case("email_attribute: not an address rejects")
            .set("email_attribute", text("nickName"))
            .attributes("reject: no usable e-mail address: \"countess\""),
        case("full_name_attribute")
            .set("full_name_attribute", text("nickName"))
            .attributes("ada.lovelace@example.com / Countess / ada@example.com / active"),
        case("full_name_attribute: no value falls back to the default")
            .set("full_name_attribute", text("title"))
            .attributes("ada.lovelace@example.com / Ada Lovelace / ada@example.com / active"),
        case("full name: name.formatted without displayName")
            .person(|p| p.display_name = None)
            .attributes("ada.lovelace@example.com / Ada King / ada@example.com / active"),
        case("full name: the username when there is nothing else")
            .person(|p| {
                p.display_name = None;
                p.name = None;
            })
            .attributes("ada.lovelace@example.com / ada.lovelace@example.com / ada@example.com / active"),
        case("username_regex with username_replacement")
            .set("username_regex", text("^(.*)@.*$"))
            .set("username_replacement", text("$1"))
            .attributes("ada.lovelace / Ada Lovelace / ada@example.com / active"),
        case("username_regex alone removes the matches")
            .set("username_regex", text("(?i)@example\\.com$"))
            .attributes("ada.lovelace / Ada Lovelace / ada@example.com / active"),
        case("username_regex sees the name as sent (case-sensitive)")
            .set("username_regex", text("@example\\.com$"))
            .person(|p| p.user_name = "Ada@EXAMPLE.com".into())
            .attributes("ada@example.com / Ada Lovelace / ada@example.com / active"),
        case("username_regex replaces every match")
            .set("username_regex", text("\\."))
            .set("username_replacement", text("-"))
            .attributes("ada-lovelace@example-com / Ada Lovelace / ada@example.com / active"),
        case("username_regex applies to username_attribute")
            .set("username_attribute", text("emails[type eq \"home\"]"))
            .set("username_regex", text("@.*"))
            .attributes("ada / Ada Lovelace / ada@example.com / active"),
        case("username_replacement without username_regex is ignored")
            .set("username_replacement", text("x"))
            .attributes("ada.lovelace@example.com / Ada Lovelace / ada@example.com / active"),
        case("username_regex that leaves nothing rejects")
            .set("username_regex", text(".*"))
            .attributes("reject: no usable username: `username_regex` turns \"Ada.Lovelace@Example.com\" into nothing"),
        case("username_regex that does not compile rejects")
            .set("username_regex", text("(unclosed"))
            .attributes("reject: app setting `username_regex` is not a valid regular expression: found open group without closing ')'"),
        case("username that normalises to nothing rejects")
            .person(|p| p.user_name = "'+'".into())
            .attributes("reject: no usable username: \"'+'\" has no valid characters"),
        case("no userName rejects")
            .person(|p| p.user_name = " ".into())
            .attributes("reject: no usable username: userName is empty"),
        case("no e-mail rejects")
            .person(|p| p.emails.clear())
            .attributes("reject: no usable e-mail address"),
        case("sync_active on by default: inactive stays inactive")
            .person(|p| p.active = false)
            .attributes("ada.lovelace@example.com / Ada Lovelace / ada@example.com / inactive"),
        case("sync_active true")
            .set("sync_active", flag(true))
            .person(|p| p.active = false)
            .attributes("ada.lovelace@example.com / Ada Lovelace / ada@example.com / inactive"),
        case("sync_active false: always active")
            .set("sync_active", flag(false))
            .person(|p| p.active = false)
            .attributes("ada.lovelace@example.com / Ada Lovelace / ada@example.com / active"),
        case("sync_active as text")
            .set("sync_active", text("no"))
            .person(|p| p.active = false)
            .attributes("ada.lovelace@example.com / Ada Lovelace / ada@example.com / active"),
        case("sync_active not a flag rejects")
            .set("sync_active", text("sometimes"))
            .attributes("reject: app setting `sync_active` must be a flag, not a text"),
    ]);
}

#[test]
fn custom_fields() {
    check(vec![
        case("custom_fields")
            .set(
                "custom_fields",
                mapping(&[
                    ("Department", &format!("{ENTERPRISE}:department")),
                    ("Site", "location"),
                    ("Manager", "manager.displayName"),
                    ("Phone", "phoneNumbers"),
                    ("Languages", "languages"),
                ]),
            )
            .fields("Department=Research; Site=London; Manager=Charles Babbage; Languages=en, fr"),
        case("custom_fields not a mapping rejects")
            .set("custom_fields", text("Department=department"))
            .attributes("reject: app setting `custom_fields` must be a mapping, not a text")
            .fields(""),
        case("custom_fields with a blank side rejects")
            .set("custom_fields", mapping(&[("Department", " ")]))
            .attributes("reject: app setting `custom_fields` has an entry with a blank side: \"Department\" → \"\""),
    ]);
}

#[test]
fn default_groups() {
    check(vec![
        case("default_groups_new for a new user")
            .set("default_groups_new", list(&["Confluence-Users", " new starters "]))
            .groups("add [confluence-users, new starters] create [] remove []"),
        case("default_groups_new not for an existing user")
            .set("default_groups_new", list(&["confluence-users"]))
            .existing(&[])
            .groups(NO_GROUPS),
        case("default_groups_all for a new user")
            .set("default_groups_all", list(&["staff"]))
            .set("default_groups_new", list(&["confluence-users"]))
            .groups("add [staff, confluence-users] create [] remove []"),
        case("default_groups_all for an existing user")
            .set("default_groups_all", text("staff, wiki"))
            .existing(&["staff"])
            .groups("add [staff, wiki] create [] remove []"),
        case("default groups not a list rejects")
            .set("default_groups_all", flag(true))
            .attributes("reject: app setting `default_groups_all` must be a text-list, not a flag")
            .groups(NO_GROUPS),
    ]);
}

#[test]
fn manual_group_mapping() {
    check(vec![
        case("group_mapping: mapped groups only, by name in any case or by id")
            .set("group_mapping", mapping(&[("engineers", "Developers"), ("g3", "all-staff"), ("Nobody", "ghosts")]))
            .groups("add [developers, all-staff] create [] remove []"),
        case("group_mapping: one IdP group to several Confluence groups")
            .set("group_mapping", mapping(&[("Engineers", "developers"), ("Engineers", "jira-users")]))
            .groups("add [developers, jira-users] create [] remove []"),
        case("group_mapping: two IdP groups to one Confluence group")
            .set("group_mapping", mapping(&[("Engineers", "staff"), ("Everyone", "staff")]))
            .groups("add [staff] create [] remove []"),
        case("group_mapping with a blank side rejects")
            .set("group_mapping", mapping(&[("Engineers", "")]))
            .attributes("reject: app setting `group_mapping` has an entry with a blank side: \"Engineers\" → \"\""),
        case("import_only_mapped_groups without on_the_fly changes nothing")
            .set("group_mapping", mapping(&[("Engineers", "developers")]))
            .set("import_only_mapped_groups", flag(true))
            .groups("add [developers] create [] remove []"),
        case("import_only_mapped_groups with on_the_fly: mapped groups only, created")
            .set("group_mapping", mapping(&[("Engineers", "developers")]))
            .set("on_the_fly", flag(true))
            .set("import_only_mapped_groups", flag(true))
            .groups("add [developers] create [developers] remove []"),
        case("import_only_mapped_groups off with on_the_fly: mapping first, the rest on the fly")
            .set("group_mapping", mapping(&[("Engineers", "developers")]))
            .set("on_the_fly", flag(true))
            .set("import_only_mapped_groups", flag(false))
            .groups("add [developers, ad-writers, everyone] create [developers, ad-writers, everyone] remove []"),
        case("group_filter limits the mapping")
            .set("group_mapping", mapping(&[("Engineers", "developers"), ("Everyone", "staff")]))
            .set("group_filter", text("^E"))
            .person(|p| p.groups[2].display_name = "everyone".into())
            .groups("add [developers] create [] remove []"),
        case("group_filter limits on the fly")
            .set("on_the_fly", flag(true))
            .set("group_filter", text("(?i)^e"))
            .groups("add [engineers, everyone] create [engineers, everyone] remove []"),
        case("group_filter that does not compile rejects")
            .set("group_filter", text("["))
            .attributes(
                "reject: app setting `group_filter` is not a valid regular expression: found unclosed character class",
            )
            .groups(NO_GROUPS),
    ]);
}

#[test]
fn on_the_fly_group_mapping() {
    check(vec![
        case("on_the_fly: every IdP group, lower-cased, created")
            .set("on_the_fly", flag(true))
            .groups("add [engineers, ad-writers, everyone] create [engineers, ad-writers, everyone] remove []"),
        case("on_the_fly off by default").groups(NO_GROUPS),
        case("on_the_fly as text")
            .set("on_the_fly", text("yes"))
            .person(|p| p.groups.truncate(1))
            .groups("add [engineers] create [engineers] remove []"),
        case("on_the_fly: names normalised")
            .set("on_the_fly", flag(true))
            .person(|p| p.groups = vec![IdpGroup { id: "x".into(), display_name: "  Engineering   Leads ".into() }])
            .groups("add [engineering leads] create [engineering leads] remove []"),
        case("on_the_fly_include")
            .set("on_the_fly", flag(true))
            .set("on_the_fly_include", text("^AD-"))
            .groups("add [ad-writers] create [ad-writers] remove []"),
        case("on_the_fly_exclude")
            .set("on_the_fly", flag(true))
            .set("on_the_fly_exclude", text("^Every"))
            .groups("add [engineers, ad-writers] create [engineers, ad-writers] remove []"),
        case("on_the_fly_include and on_the_fly_exclude")
            .set("on_the_fly", flag(true))
            .set("on_the_fly_include", text("e"))
            .set("on_the_fly_exclude", text("^Eng"))
            .groups("add [ad-writers, everyone] create [ad-writers, everyone] remove []"),
        case("on_the_fly_include is for on the fly only, not the mapping")
            .set("on_the_fly", flag(true))
            .set("on_the_fly_include", text("^AD-"))
            .set("group_mapping", mapping(&[("Engineers", "developers")]))
            .groups("add [developers, ad-writers] create [developers, ad-writers] remove []"),
        case("on_the_fly_include that does not compile rejects")
            .set("on_the_fly_include", text("*"))
            .attributes("reject: app setting `on_the_fly_include` is not a valid regular expression: uncounted repetition operator must be applied to a sub-expression"),
        case("on_the_fly_exclude not text rejects")
            .set("on_the_fly_exclude", list(&["x"]))
            .attributes("reject: app setting `on_the_fly_exclude` must be text (a regular expression), not a text-list"),
        case("on_the_fly_rewrite_regex with on_the_fly_rewrite_replacement")
            .set("on_the_fly", flag(true))
            .set("on_the_fly_rewrite_regex", text("^AD-(.*)$"))
            .set("on_the_fly_rewrite_replacement", text("ad-group-$1"))
            .groups("add [engineers, ad-group-writers, everyone] create [engineers, ad-group-writers, everyone] remove []"),
        case("on_the_fly_rewrite_regex alone removes the matches")
            .set("on_the_fly", flag(true))
            .set("on_the_fly_rewrite_regex", text("^AD-"))
            .groups("add [engineers, writers, everyone] create [engineers, writers, everyone] remove []"),
        case("on_the_fly_rewrite_regex leaving nothing drops the group")
            .set("on_the_fly", flag(true))
            .set("on_the_fly_rewrite_regex", text("^Every.*"))
            .groups("add [engineers, ad-writers] create [engineers, ad-writers] remove []"),
        case("on_the_fly_rewrite_replacement not text rejects")
            .set("on_the_fly_rewrite_regex", text("x"))
            .set("on_the_fly_rewrite_replacement", flag(false))
            .attributes("reject: app setting `on_the_fly_rewrite_replacement` must be text, not a flag"),
    ]);
}

#[test]
fn keeping_and_removing_groups() {
    check(vec![
        case("keep_existing_groups on by default: nothing removed")
            .set("on_the_fly", flag(true))
            .person(|p| p.groups.truncate(1))
            .existing(&["engineers", "old-team"])
            .groups("add [engineers] create [engineers] remove []"),
        case("keep_existing_groups off: groups not kept are removed, default groups never")
            .set("on_the_fly", flag(true))
            .set("keep_existing_groups", flag(false))
            .set("default_groups_new", list(&["confluence-users"]))
            .set("default_groups_all", list(&["staff"]))
            .person(|p| p.groups.truncate(1))
            .existing(&["engineers", "old-team", "confluence-users", "Staff", "confluence-administrators"])
            .groups("add [engineers, staff] create [engineers] remove [old-team, confluence-administrators]"),
        case("keep_existing_groups off with the manual mapping")
            .set("group_mapping", mapping(&[("Engineers", "developers")]))
            .set("keep_existing_groups", flag(false))
            .existing(&["developers", "writers"])
            .groups("add [developers] create [] remove [writers]"),
        case("keep_existing_groups off: groups the app granted are not listed (the host revokes them)")
            .set("group_mapping", mapping(&[("Engineers", "developers")]))
            .set("keep_existing_groups", flag(false))
            .confluence(
                ConfluenceUser::existing(ADA).with_groups(&["developers", "writers"]).with_granted(&["old-mapped"]),
            )
            .groups("add [developers] create [] remove [writers]"),
        case("keep_existing_groups off: the groups of the user with the decided username")
            .set("group_mapping", mapping(&[("Engineers", "developers")]))
            .set("keep_existing_groups", flag(false))
            .set("username_regex", text("@.*$"))
            .existing(&["writers"])
            .known(ConfluenceUser::existing("ada.lovelace").with_groups(&["testers", "developers"]))
            .groups("add [developers] create [] remove [testers]"),
        case("keep_existing_groups on: nothing removed, whatever the user is in")
            .set("group_mapping", mapping(&[("Engineers", "developers")]))
            .set("keep_existing_groups", flag(true))
            .existing(&["developers", "writers", "confluence-administrators"])
            .groups("add [developers] create [] remove []"),
        case("keep_existing_groups off for a new user removes nothing")
            .set("keep_existing_groups", flag(false))
            .groups(NO_GROUPS),
        case("keep_existing_groups not a flag rejects")
            .set("keep_existing_groups", mapping(&[]))
            .attributes("reject: app setting `keep_existing_groups` must be a flag, not a mapping"),
    ]);
}

#[test]
fn unknown_settings_are_left_to_the_host() {
    // The host refuses an undeclared key when it loads the module; the module itself
    // ignores one, should it get there.
    check(vec![case("unknown key")
        .set("colour", text("blue"))
        .attributes("ada.lovelace@example.com / Ada Lovelace / ada@example.com / active")
        .groups(NO_GROUPS)]);
    assert!(!declarations().iter().any(|d| d.key == "colour"));
}

#[test]
fn create_users() {
    check(vec![
        case("create_users on by default: a new user is provisioned")
            .lookups(&[ADA])
            .attributes("ada.lovelace@example.com / Ada Lovelace / ada@example.com / active"),
        case("create_users off: a person Confluence does not have is skipped, naming the username")
            .set("create_users", flag(false))
            .set("default_groups_all", list(&["staff"]))
            .lookups(&[ADA])
            .attributes("skip: create_users is off and Confluence has no user \"ada.lovelace@example.com\""),
        case("create_users off: a user Confluence has is still updated and grouped")
            .set("create_users", flag(false))
            .set("default_groups_all", list(&["staff"]))
            .existing(&["staff"])
            .lookups(&[])
            .attributes("ada.lovelace@example.com / Ada Lovelace / ada@example.com / active")
            .groups("add [staff] create [] remove []"),
        case("create_users off: the decided username is looked up when the input's is another")
            .set("create_users", flag(false))
            .set("username_regex", text("@.*$"))
            .existing(&[])
            .known(ConfluenceUser::existing("ada.lovelace"))
            .lookups(&["ada.lovelace"])
            .attributes("ada.lovelace / Ada Lovelace / ada@example.com / active"),
        case("create_users off: the input's user is not the decided one, and nobody has that name")
            .set("create_users", flag(false))
            .set("username_regex", text("@.*$"))
            .existing(&[])
            .lookups(&["ada.lovelace"])
            .attributes("skip: create_users is off and Confluence has no user \"ada.lovelace\""),
        case("create_users as text")
            .set("create_users", text("no"))
            .attributes("skip: create_users is off and Confluence has no user \"ada.lovelace@example.com\""),
        case("create_users not a flag rejects")
            .set("create_users", list(&["x"]))
            .attributes("reject: app setting `create_users` must be a flag, not a text-list"),
    ]);
}

#[test]
fn update_users() {
    let in_confluence = || ConfluenceUser::existing(ADA).with_profile("Countess Lovelace", "ada@old.example", true);
    check(vec![
        case("update_users on by default: an existing user gets the mapped values")
            .confluence(in_confluence())
            .attributes("ada.lovelace@example.com / Ada Lovelace / ada@example.com / active"),
        case("update_users off: an existing user keeps Confluence's full name and e-mail")
            .set("update_users", flag(false))
            .set("sync_active", flag(true))
            .person(|p| p.active = false)
            .confluence(in_confluence())
            .attributes("ada.lovelace@example.com / Countess Lovelace / ada@old.example / inactive"),
        case("update_users off: values Confluence's record does not hold are mapped")
            .set("update_users", flag(false))
            .existing(&[])
            .attributes("ada.lovelace@example.com / Ada Lovelace / ada@example.com / active"),
        case("update_users off: the user found under the decided username")
            .set("update_users", flag(false))
            .set("username_regex", text("@.*$"))
            .known(ConfluenceUser::existing("ada.lovelace").with_profile("A. Lovelace", "al@example.org", false))
            .lookups(&["ada.lovelace"])
            .attributes("ada.lovelace / A. Lovelace / al@example.org / active"),
        case("update_users off: a new user gets the mapped values")
            .set("update_users", flag(false))
            .attributes("ada.lovelace@example.com / Ada Lovelace / ada@example.com / active"),
        case("update_users not a flag rejects")
            .set("update_users", text("sometimes"))
            .attributes("reject: app setting `update_users` must be a flag, not a text"),
    ]);
}

#[test]
fn default_groups_new_stay_granted() {
    check(vec![
        case("default_groups_new for a user Confluence does not have")
            .set("default_groups_new", list(&["confluence-users"]))
            .groups("add [confluence-users] create [] remove []"),
        case("default_groups_new still wanted while the app holds the grant")
            .set("default_groups_new", list(&["confluence-users", "newcomers"]))
            .confluence(ConfluenceUser::existing(ADA).with_granted(&["confluence-users"]))
            .groups("add [confluence-users] create [] remove []"),
        case("default_groups_new, granted, under another name's case")
            .set("default_groups_new", list(&["Confluence-Users"]))
            .confluence(ConfluenceUser::existing(ADA).with_granted(&["confluence-users"]))
            .groups("add [confluence-users] create [] remove []"),
        case("default_groups_new not granted to a user Confluence had already")
            .set("default_groups_new", list(&["confluence-users"]))
            .existing(&["confluence-users"])
            .groups(NO_GROUPS),
        case("default_groups_new for the decided username: a user Confluence has is not new")
            .set("default_groups_new", list(&["confluence-users"]))
            .set("username_regex", text("@.*$"))
            .known(ConfluenceUser::existing("ada.lovelace"))
            .groups(NO_GROUPS),
        case("default_groups_new for the decided username: its grants")
            .set("default_groups_new", list(&["confluence-users"]))
            .set("username_regex", text("@.*$"))
            .existing(&[])
            .known(ConfluenceUser::existing("ada.lovelace").with_granted(&["confluence-users"]))
            .groups("add [confluence-users] create [] remove []"),
    ]);
}

#[test]
fn every_default_declared_is_the_default_applied() {
    // Setting a key to its declared default decides as leaving it out does, in every
    // situation the switches care about.
    let situations: [fn(Case) -> Case; 3] = [
        |c| c,
        |c| c.existing(&["engineers", "old-team"]),
        |c| c.confluence(ConfluenceUser::existing(ADA).with_profile("Old", "old@example.com", false)),
    ];
    for d in declarations() {
        let Some(default) = d.default.clone() else { continue };
        for situation in situations {
            let base = || situation(case("defaults").set("on_the_fly", flag(true)));
            directory::set_test_directory([]);
            let without = decide(&base().input());
            let with = decide(&base().set(&d.key, default.clone()).input());
            assert_eq!(with, without, "`{}` = its declared default {default:?}", d.key);
        }
    }
}

#[test]
fn the_declaration_is_the_documented_table() {
    let declared: Vec<String> = declarations().iter().map(|d| d.key.clone()).collect();
    assert_eq!(declared, Standard::settings().iter().map(|d| d.key.clone()).collect::<Vec<_>>());
    for (file, text) in
        [("lib.rs", include_str!("lib.rs")), ("sample-rules/README.md", include_str!("../../README.md"))]
    {
        let documented: Vec<String> = text
            .lines()
            .map(|l| l.trim_start_matches("//!").trim())
            .skip_while(|l| *l != "| key | kind | default | effect |")
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| l.strip_prefix("| `")?.split_once('`').map(|(key, _)| key.to_owned()))
            .collect();
        assert_eq!(documented, declared, "the settings table of {file}");
    }
    for d in declarations() {
        assert!(!d.help.trim().is_empty() && d.help.len() <= 100, "`{}`: one line of help", d.key);
    }
}

#[test]
fn groups_needed_are_the_default_groups_and_mapped_targets_unless_on_the_fly_creates_them() {
    let input = Input::new(ada())
        .with_setting("default_groups_all", SettingValue::TextList(vec!["Staff".into()]))
        .with_setting("default_groups_new", SettingValue::TextList(vec!["confluence-users".into()]))
        .with_setting("group_mapping", SettingValue::Mapping(vec![("Engineering".into(), "Engineers".into())]));
    assert_eq!(crate::groups_needed(&input.app), ["confluence-users", "engineers", "staff"]);
    assert_eq!(<Standard as Rules>::groups_needed(&input.app), crate::groups_needed(&input.app));
    let fly = input.with_setting("on_the_fly", SettingValue::Flag(true));
    assert_eq!(crate::groups_needed(&fly.app), ["confluence-users", "staff"], "on the fly creates mapped groups");
    let broken = Input::new(ada()).with_setting("on_the_fly", SettingValue::Text("yes".into()));
    assert!(crate::groups_needed(&broken.app).is_empty(), "unreadable settings claim nothing");
}
