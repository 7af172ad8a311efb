//! Filter tests: tables of (filter, expectation) run through one helper per feature.

use serde_json::{json, Value};

use super::*;
use crate::scim::error::ScimType;
use crate::scim::schema::{AppSchemas, AttrType, AttributeDef};

fn schemas() -> AppSchemas {
    AppSchemas::new(&[])
}

fn group() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "c5a2b1e0",
        "externalId": "12345",
        "displayName": "Tour Guides",
        "members": [
            {"value": "u1", "display": "Alice"},
            {"value": "u2", "type": "User"}
        ],
        "meta": {"resourceType": "Group", "lastModified": "2024-05-01T00:00:00Z"}
    })
}

/// Parses, validates and evaluates each filter against `resource`, expecting `expected`.
fn check_matches(rt: &ResourceType, resource: &Value, cases: &[(&str, bool)]) {
    let mut failures = Vec::new();
    for (input, expected) in cases {
        let outcome = Filter::parse(input).and_then(|f| f.validate(rt).map(|()| f.matches(resource, rt)));
        match outcome {
            Ok(got) if got == *expected => {}
            other => failures.push(format!("{input}: expected {expected}, got {other:?}")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn user_matches() {
    let s = schemas();
    check_matches(
        &s.user,
        &sample::user(),
        &[
            // userName is caseExact=false; operators and attribute names in any case.
            (r#"userName eq "alice.smith@example.com""#, true),
            (r#"userName eq "ALICE.SMITH@EXAMPLE.COM""#, true),
            (r#"USERNAME EQ "alice.smith@example.com""#, true),
            (r#"userName Eq "bob""#, false),
            (r#"userName ne "bob""#, true),
            (r#"userName ne "ALICE.smith@example.com""#, false),
            (r#"userName co "SMITH@""#, true),
            (r#"userName co "bob""#, false),
            (r#"userName sw "alice""#, true),
            (r#"userName sw "smith""#, false),
            (r#"userName ew ".COM""#, true),
            (r#"userName gt "a""#, true),
            (r#"userName gt "B""#, false),
            (r#"userName lt "B""#, true),
            (r#"userName ge "ALICE.SMITH@EXAMPLE.COM""#, true),
            (r#"userName le "alice.smith@example.com""#, true),
            (r#"userName lt "alice.smith@example.com""#, false),
            // id and externalId are caseExact; Entra's unquoted values.
            (r#"id eq "2819c223-7f76-453a-919d-413861904646""#, true),
            (r#"id eq "2819C223-7F76-453A-919D-413861904646""#, false),
            ("externalId eq jyoung", true),
            ("externalId eq JYOUNG", false),
            (r#"externalId eq "jyoung""#, true),
            ("externalId eq jyoung and active eq true", true),
            // Presence.
            ("title pr", true),
            ("nickName pr", false),
            ("profileUrl pr", false),
            ("emails pr", true),
            ("name pr", true),
            ("costBand pr", true),
            // Booleans, compared robustly.
            ("active eq true", true),
            ("ACTIVE EQ TRUE", true),
            ("active eq false", false),
            (r#"active eq "true""#, true),
            (r#"active eq "True""#, true),
            ("active ne false", true),
            // Absent attributes: ne holds, eq null holds.
            (r#"profileUrl ne "x""#, true),
            (r#"profileUrl eq "x""#, false),
            ("profileUrl eq null", true),
            ("nickName eq null", true),
            ("title eq null", false),
            ("title ne null", true),
            // Complex and multi-valued attributes: any value matches.
            (r#"name.givenName eq "alice""#, true),
            (r#"name.familyName sw "Sm""#, true),
            (r#"NAME.FAMILYNAME eq "Jones""#, false),
            (r#"emails co "@example.com""#, true),
            (r#"emails eq "alice@home.example""#, true),
            (r#"emails.value ew "HOME.example""#, true),
            (r#"emails.type eq "home""#, true),
            (r#"emails.type eq "other""#, false),
            (r#"emails.type ne "other""#, true),
            (r#"emails.type ne "home""#, false),
            ("emails.primary eq true", true),
            (r#"phoneNumbers.value sw "+1""#, true),
            (r#"x509Certificates eq "TUlJRA==""#, true),
            // Value paths, with and/or/not inside.
            (r#"emails[type eq "work" and value co "@example.com"]"#, true),
            (r#"emails[type eq "home" and value co "@example.com"]"#, false),
            (r#"emails[type eq "home" or primary eq true]"#, true),
            (r#"emails[not (type eq "work")]"#, true),
            (r#"emails[type eq "other"]"#, false),
            (r#"emails[(type eq "other" or type eq "home") and value sw "alice"]"#, true),
            (r#"emails[type eq "work"] and active eq true"#, true),
            (r#"not (emails[type eq "work"])"#, false),
            (r#"name[givenName eq "Alice"]"#, true),
            // Entra's value path followed by a sub-attribute comparison.
            (r#"emails[type eq "work"].value eq "alice@example.com""#, true),
            (r#"emails[type eq "home"].value eq "alice@example.com""#, false),
            (r#"emails[type eq "work"].value pr"#, true),
            // Precedence: not > and > or; grouping.
            (r#"userName eq "bob" and active eq true or title pr"#, true),
            (r#"title pr or userName eq "bob" and active eq false"#, true),
            (r#"userName eq "bob" and (active eq true or title pr)"#, false),
            (r#"not (userName eq "bob") and active eq true"#, true),
            ("not (title pr or active eq true)", false),
            (r#"NOT (title pr) Or (active eq true AND title pr)"#, true),
            ("(((title pr)))", true),
            (r#"(userName eq "bob")or(title pr)"#, true),
            // Extension attributes, with the RFC URN, an IdP alias, or none.
            (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "tour operations""#, true),
            (r#"urn:scim:schemas:extension:enterprise:1.0:department eq "Tour Operations""#, true),
            (r#"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:DEPARTMENT eq "x""#, false),
            (r#"employeeNumber eq "701984""#, true),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
                true,
            ),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
                true,
            ),
            (r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "alice.smith@example.com""#, true),
            (r#"urn:ietf:params:scim:schemas:core:2.0:User:id pr"#, true),
            (r#"urn:scim:schemas:core:2.0:name.givenName eq "Alice""#, true),
            // meta is a common attribute; dateTime compares chronologically (offsets honoured).
            (r#"meta.lastModified gt "2024-01-01T00:00:00Z""#, true),
            (r#"meta.lastModified gt "2024-03-15T08:30:00Z""#, true),
            (r#"meta.lastModified lt "2024-03-15T08:30:01Z""#, true),
            (r#"meta.lastModified eq "2024-03-15T08:30:00.5Z""#, true),
            (r#"meta.lastModified ge "2024-03-15T09:30:00.5+01:00""#, true),
            (r#"meta.created lt "2023-06-01T12:00:00Z""#, false),
            (r#"meta.created le "2023-06-01T14:00:00+02:00""#, true),
            (r#"meta.resourceType eq "User""#, true),
            (r#"meta.resourceType eq "user""#, false),
            // Attributes no schema defines: case-insensitive keys and comparison.
            (r#"costband eq "b7""#, true),
            (r#"CustomTags eq "blue""#, true),
            (r#"customtags co "REE""#, true),
            (r#"urn:example:custom:2.0:User:badge eq "x-1""#, true),
            (r#"notThere eq "x""#, false),
            (r#"notThere ne "x""#, true),
            ("notThere pr", false),
            ("notThere eq null", true),
            // Numbers.
            ("loginCount gt 40", true),
            ("loginCount eq 42", true),
            ("loginCount eq 42.0", true),
            ("loginCount lt 1e1", false),
            ("loginCount le -1", false),
            (r#"loginCount ge "42""#, true),
            // String escapes and non-ASCII case folding.
            (r#"title eq "Engin\u0065er""#, true),
            (r#"motto eq "say \"hi\" \u2014 caf\u00e9""#, true),
            (r#"motto co "CAFÉ""#, true),
            ("motto co é", true),
        ],
    );
}

#[test]
fn group_matches() {
    let s = schemas();
    check_matches(
        &s.group,
        &group(),
        &[
            (r#"displayName eq "tour guides""#, true),
            ("externalId eq 12345", true),
            (r#"externalId eq "12345""#, true),
            ("externalId eq 1234", false),
            (r#"members[value eq "u2"]"#, true),
            (r#"members[value eq "U2"]"#, true),
            (r#"members.value eq "u3""#, false),
            (r#"members eq "u1""#, true),
            ("members pr", true),
            (r#"members[value eq "u1" and display sw "ali"]"#, true),
            (r#"members[value eq "u2" and display pr]"#, false),
            (r#"meta.lastModified ge "2024-05-01T00:00:00Z""#, true),
            ("userName pr", false),
        ],
    );
}

/// Each input fails to parse with `invalidFilter`.
fn check_parse_errors(cases: &[&str]) {
    for input in cases {
        match Filter::parse(input) {
            Err(e) => {
                assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidFilter)), "{input}: {e}");
            }
            Ok(f) => panic!("{input:?} parsed as {f:?}"),
        }
    }
}

#[test]
fn parse_errors() {
    check_parse_errors(&[
        "",
        "   ",
        "userName",
        "userName eq",
        r#"userName eq "x"#,
        r#"(userName eq "x""#,
        r#"userName eq "x")"#,
        r#"((userName eq "x")"#,
        r#"userName xx "x""#,
        r#"userName equals "x""#,
        r#"userName eq "x" garbage"#,
        r#"userName eq "x" "y""#,
        r#"userName eq "x" and"#,
        r#"userName eq "x" and or title pr"#,
        "and",
        r#"not userName eq "x""#,
        r#"not (userName eq "x""#,
        "()",
        r#"userName eq "x" or ()"#,
        r#"userName eq (x)"#,
        "userName pr pr",
        r#""userName" eq "x""#,
        r#"1abc eq "x""#,
        r#"user name eq "x""#,
        r#"userName eq "a\x""#,
        "userName eq \"a\nb\"",
        r#"userName eq "\ud800""#,
        r#"emails[type eq "work""#,
        r#"emails[type eq "work"]]"#,
        r#"emails[type[value eq "x"]]"#,
        r#"emails.value[type eq "x"]"#,
        "emails[]",
        r#"emails[type eq "work"].1 eq "x""#,
        r#"emails[type eq "work"].value"#,
        r#"emails[type eq "work"] .value eq "x""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0 eq "x""#,
        "]",
        "[",
    ]);
}

#[test]
fn bounds_are_enforced_without_recursion() {
    let nested = |n: usize| format!("{}title pr{}", "(".repeat(n), ")".repeat(n));
    assert!(Filter::parse(&nested(MAX_DEPTH)).is_ok());
    check_parse_errors(&[&nested(MAX_DEPTH + 1), &nested(4_000), &nested(10_000)]);
    let nots = |n: usize| format!("{}title pr{}", "not (".repeat(n), ")".repeat(n));
    assert!(Filter::parse(&nots(MAX_DEPTH)).is_ok());
    check_parse_errors(&[&nots(MAX_DEPTH + 1), &nots(1_000)]);
    // A value path's brackets count as a level.
    let in_brackets = format!("emails[{}type pr{}]", "(".repeat(MAX_DEPTH - 1), ")".repeat(MAX_DEPTH - 1));
    assert!(Filter::parse(&in_brackets).is_ok());
    let too_deep = format!("emails[{}type pr{}]", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    check_parse_errors(&[&too_deep]);
    // Unclosed opening parentheses only: deep, then nothing.
    check_parse_errors(&[&"(".repeat(8_000), &")".repeat(8_000), &"not (".repeat(1_600)]);

    let chain = |n: usize| vec!["title pr"; n].join(" and ");
    assert!(Filter::parse(&chain(MAX_COMPARISONS)).is_ok());
    check_parse_errors(&[&chain(MAX_COMPARISONS + 1)]);
    let ors = vec![r#"userName eq "x""#; MAX_COMPARISONS].join(" or ");
    let parsed = Filter::parse(&ors).unwrap();
    assert!(!parsed.matches(&sample::user(), &schemas().user));

    let padded = |len: usize| format!("userName eq \"{}\"", "x".repeat(len - 14));
    assert_eq!(padded(MAX_LEN).len(), MAX_LEN);
    assert!(Filter::parse(&padded(MAX_LEN)).is_ok());
    check_parse_errors(&[&padded(MAX_LEN + 1)]);
}

#[test]
fn parse_trees() {
    let p = |s: &str| AttrPath::parse(s).unwrap();
    let present = |s: &str| Filter::Present(p(s));
    let b = Box::new;
    let cases: Vec<(&str, Filter)> = vec![
        ("a pr or b pr and c pr", Filter::Or(b(present("a")), b(Filter::And(b(present("b")), b(present("c")))))),
        ("a pr and b pr or c pr", Filter::Or(b(Filter::And(b(present("a")), b(present("b")))), b(present("c")))),
        ("a pr and (b pr or c pr)", Filter::And(b(present("a")), b(Filter::Or(b(present("b")), b(present("c")))))),
        ("not (a pr) and b pr", Filter::And(b(Filter::Not(b(present("a")))), b(present("b")))),
        ("a pr and b pr and c pr", Filter::And(b(Filter::And(b(present("a")), b(present("b")))), b(present("c")))),
        ("not pr", present("not")),
        ("and pr and or pr", Filter::And(b(present("and")), b(present("or")))),
        ("x eq TRUE", Filter::Compare(p("x"), CompareOp::Eq, CompValue::Bool(true))),
        ("x ne Null", Filter::Compare(p("x"), CompareOp::Ne, CompValue::Null)),
        (
            "x gt -1.5e3",
            Filter::Compare(p("x"), CompareOp::Gt, CompValue::Number(serde_json::Number::from_f64(-1500.0).unwrap())),
        ),
        ("x eq 007", Filter::Compare(p("x"), CompareOp::Eq, CompValue::Str("007".into()))),
        ("x eq a@b.c", Filter::Compare(p("x"), CompareOp::Eq, CompValue::Str("a@b.c".into()))),
        ("x LE \"\"", Filter::Compare(p("x"), CompareOp::Le, CompValue::Str(String::new()))),
        (
            r#"emails[type eq "work"].value co "@x""#,
            Filter::ValuePath(
                p("emails"),
                b(Filter::And(
                    b(Filter::Compare(p("type"), CompareOp::Eq, CompValue::Str("work".into()))),
                    b(Filter::Compare(p("value"), CompareOp::Co, CompValue::Str("@x".into()))),
                )),
            ),
        ),
    ];
    for (input, expected) in cases {
        let parsed = Filter::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(parsed, expected, "{input}");
        assert_eq!(Filter::parse(&parsed.to_string()).unwrap(), parsed, "display round-trips for {input}");
    }
    for op in ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"] {
        let upper = op.to_uppercase();
        assert_eq!(CompareOp::parse(&upper).map(CompareOp::as_str), Some(op));
    }
}

#[test]
fn validation() {
    let s = schemas();
    let cases: &[(&ResourceType, &str, bool)] = &[
        (&s.user, r#"userName eq "x""#, true),
        (&s.user, r#"userName gt "x""#, true),
        (&s.user, r#"meta.lastModified gt "2024-01-01T00:00:00Z""#, true),
        (&s.user, r#"emails sw "a""#, true),
        (&s.user, r#"emails[value co "x"]"#, true),
        (&s.user, r#"name[givenName eq "x"]"#, true),
        (&s.user, r#"custom[foo eq "x"]"#, true),
        (&s.user, r#"custom.sub co "x""#, true),
        (&s.user, r#"loginCount co "4""#, true),
        (&s.user, r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "x""#, true),
        (&s.user, r#"active eq "true""#, true),
        (&s.user, r#"emails.unknownSub eq "x""#, true),
        (&s.user, r#"photos co "http""#, true),
        (&s.group, r#"members[value eq "x"]"#, true),
        (&s.group, r#"displayName co "x""#, true),
        (&s.user, "active gt true", false),
        (&s.user, "active lt 1", false),
        (&s.user, r#"x509Certificates gt "a""#, false),
        (&s.user, r#"x509Certificates co "a""#, false),
        (&s.user, r#"active co "t""#, false),
        (&s.user, r#"meta.lastModified sw "2024""#, false),
        (&s.user, "userName gt null", false),
        (&s.user, "userName co true", false),
        (&s.user, "custom sw null", false),
        (&s.user, r#"name eq "x""#, false),
        (&s.user, r#"meta gt "x""#, false),
        (&s.user, r#"userName.foo eq "x""#, false),
        (&s.user, r#"userName[value eq "x"]"#, false),
        (&s.user, r#"active[value eq true]"#, false),
        (&s.user, "emails[primary gt 1]", false),
        (&s.user, r#"title pr and emails[type co "w" or primary ge 0]"#, false),
        (&s.user, r#"not (active le 0)"#, false),
    ];
    for (rt, input, ok) in cases {
        let result = Filter::parse(input).unwrap_or_else(|e| panic!("{input}: {e}")).validate(rt);
        match result {
            Ok(()) => assert!(ok, "{input} should be rejected"),
            Err(e) => {
                assert!(!ok, "{input}: {e}");
                assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
            }
        }
    }
}

#[test]
fn element_matching() {
    let s = schemas();
    let user = sample::user();
    let emails = s.user.core.attribute("emails").unwrap();
    let elements = user["emails"].as_array().unwrap();
    let selected = |filter: &str| -> Vec<usize> {
        let f = Filter::parse_value_filter(filter).unwrap();
        (0..elements.len()).filter(|i| f.matches_element(&elements[*i], emails)).collect()
    };
    assert_eq!(selected(r#"type eq "WORK""#), [0]);
    assert_eq!(selected(r#"value ew "home.example""#), [1]);
    assert_eq!(selected("primary pr"), [0]);
    assert_eq!(selected("not (primary eq true)"), [1]);
    assert_eq!(selected(r#"type eq "work" or type eq "home""#), [0, 1]);
    assert!(Filter::parse_value_filter(r#"emails[type eq "work"]"#).is_err());

    // A multi-valued simple attribute: `value` is the element itself.
    let mut tags = AttributeDef::new("tags", AttrType::String);
    tags.multi_valued = true;
    let f = Filter::parse_value_filter(r#"value eq "BLUE""#).unwrap();
    assert!(f.matches_element(&json!("blue"), &tags));
    assert!(!f.matches_element(&json!("green"), &tags));
}

#[test]
fn index_lookups() {
    let s = schemas();
    type Hint<'a> = Option<(IndexedAttr, &'a str)>;
    let cases: &[(&ResourceType, &str, Hint)] = &[
        (&s.user, r#"userName eq "x""#, Some((IndexedAttr::UserName, "x"))),
        (&s.user, r#"USERNAME Eq "X""#, Some((IndexedAttr::UserName, "X"))),
        (&s.user, "externalId eq jyoung", Some((IndexedAttr::ExternalId, "jyoung"))),
        (&s.user, r#"id eq "abc""#, Some((IndexedAttr::Id, "abc"))),
        (&s.user, r#"userName eq "x" and active eq true"#, Some((IndexedAttr::UserName, "x"))),
        (&s.user, r#"active eq true and (title pr and externalId eq "y")"#, Some((IndexedAttr::ExternalId, "y"))),
        (&s.user, r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x""#, Some((IndexedAttr::UserName, "x"))),
        (&s.user, r#"userName eq "x" or title pr"#, None),
        (&s.user, r#"userName ne "x""#, None),
        (&s.user, r#"not (userName eq "x")"#, None),
        (&s.user, r#"displayName eq "x""#, None),
        (&s.user, "externalId eq 12345", None),
        (&s.user, r#"name.givenName eq "x""#, None),
        (&s.user, r#"urn:example:other:userName eq "x""#, None),
        (&s.group, r#"displayName eq "Tour Guides""#, Some((IndexedAttr::DisplayName, "Tour Guides"))),
        (&s.group, r#"externalId eq "g" and displayName pr"#, Some((IndexedAttr::ExternalId, "g"))),
        (&s.group, r#"userName eq "x""#, None),
    ];
    for (rt, input, expected) in cases {
        let f = Filter::parse(input).unwrap();
        assert_eq!(f.index_lookup(rt), *expected, "{input}");
    }
}

/// Where `index_decides` holds, serving the index's candidates unparsed must give what
/// evaluating the filter gives: a resource is a candidate (keyed as the snapshot keys it)
/// exactly when it matches.
#[test]
fn index_decides_only_where_the_index_is_the_filter() {
    let s = schemas();
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "2819c223", "externalId": "Ext-1", "userName": "BJensen@Example.com", "active": true,
        "meta": {"resourceType": "User"}
    });
    let group = group();
    // (resource type, resource, filter, does the index decide it)
    let cases: &[(&ResourceType, &Value, &str, bool)] = &[
        (&s.user, &user, r#"userName eq "bjensen@example.com""#, true),
        (&s.user, &user, r#"USERNAME EQ "BJENSEN@EXAMPLE.COM""#, true),
        (&s.user, &user, r#"userName eq "someone@example.com""#, true),
        (&s.user, &user, r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bjensen@example.com""#, true),
        (&s.user, &user, r#"id eq "2819c223""#, true),
        (&s.user, &user, r#"externalId eq "Ext-1""#, true),
        (&s.user, &user, r#"externalId eq "ext-1""#, true),
        (&s.group, &group, r#"displayName eq "tour GUIDES""#, true),
        (&s.group, &group, r#"externalId eq "12345""#, true),
        (&s.user, &user, r#"userName eq "bjensen@example.com" and active eq false"#, false),
        (&s.user, &user, r#"userName ne "x""#, false),
        (&s.user, &user, r#"userName sw "bj""#, false),
        (&s.user, &user, "externalId eq 12345", false),
        (&s.user, &user, r#"displayName eq "x""#, false),
        (&s.group, &group, "externalId eq 12345", false),
    ];
    for (rt, resource, input, decides) in cases {
        let f = Filter::parse(input).unwrap();
        assert_eq!(f.index_decides(rt), *decides, "{input}");
        let Some((attr, wanted)) = f.index_lookup(rt).filter(|_| *decides) else { continue };
        let stored = |key: &str| resource[key].as_str().unwrap().to_owned();
        let candidate = match attr {
            IndexedAttr::Id => stored("id") == wanted,
            IndexedAttr::ExternalId => stored("externalId") == wanted,
            IndexedAttr::UserName => stored("userName").to_lowercase() == wanted.to_lowercase(),
            IndexedAttr::DisplayName => stored("displayName").to_lowercase() == wanted.to_lowercase(),
        };
        assert_eq!(candidate, f.matches(resource, rt), "{input}");
    }
}

#[test]
fn sort_keys() {
    let s = schemas();
    let user = sample::user();
    let key = |path: &str| sort_key(&user, &s.user, &AttrPath::parse(path).unwrap());
    assert_eq!(key("userName"), Some(SortKey::Str("alice.smith@example.com".into())));
    assert_eq!(key("id"), Some(SortKey::Str("2819c223-7f76-453a-919d-413861904646".into())));
    assert_eq!(key("emails"), Some(SortKey::Str("alice@example.com".into())));
    assert_eq!(key("emails.type"), Some(SortKey::Str("work".into())));
    assert_eq!(key("name.familyName"), Some(SortKey::Str("smith".into())));
    assert_eq!(key("customTags"), Some(SortKey::Str("blue".into())));
    assert_eq!(key("loginCount"), Some(SortKey::Number(42.0)));
    assert_eq!(key("active"), Some(SortKey::Bool(true)));
    assert_eq!(key("employeeNumber"), Some(SortKey::Str("701984".into())));
    assert!(matches!(key("meta.lastModified"), Some(SortKey::DateTime(_))));
    assert_eq!(key("profileUrl"), None);
    assert_eq!(key("name"), None);

    // Dates sort chronologically across offsets; missing values sort last.
    let users = [
        json!({"id": "a", "meta": {"lastModified": "2024-01-01T10:00:00+02:00"}}),
        json!({"id": "b"}),
        json!({"id": "c", "meta": {"lastModified": "2024-01-01T09:00:00Z"}}),
        json!({"id": "d", "meta": {"lastModified": "2023-12-31T23:00:00Z"}}),
    ];
    let by = AttrPath::parse("meta.lastModified").unwrap();
    let mut keyed: Vec<_> = users.iter().map(|u| (sort_key(u, &s.user, &by), u["id"].clone())).collect();
    keyed.sort_by(|a, b| SortKey::cmp_ascending(a.0.as_ref(), b.0.as_ref()));
    let order: Vec<_> = keyed.iter().map(|(_, id)| id.as_str().unwrap_or_default()).collect();
    assert_eq!(order, ["d", "a", "c", "b"]);
    assert!(SortKey::Number(f64::NAN).partial_cmp(&SortKey::Number(1.0)).is_some());
    assert!(SortKey::Bool(true) < SortKey::Str(String::new()));
}

#[test]
fn fuzz_entry_point_survives_odd_input() {
    for input in [
        &b""[..],
        b"\xff\xfe",
        b"userName eq \"x\"",
        b"emails[type eq \"work\"].value eq \"alice@example.com\"",
        b"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        b"x eq 18446744073709551616",
        b"x eq -0",
        b"x eq 1e999",
        b"meta.lastModified gt \"not a date\"",
        b"emails[(a pr or b pr)].value eq x",
    ] {
        fuzz_one(input);
    }
}
