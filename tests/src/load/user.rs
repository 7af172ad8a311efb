//! The users the benchmark stores: what Okta sends on `POST /Users`, with names that say
//! which phase created them.
//!
//! Seeded users are `user{i}@example.com` for `i` in `0..N`, so the filter workload can pick
//! any `i` and expect exactly one match. Users created under load are
//! `load-{run}-{task}-{seq}@example.com`: unique across runs against the same database.

use std::fmt::{self, Write as _};

use serde::ser::{Serialize, Serializer};

const GIVEN_NAMES: [&str; 8] = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"];
const FAMILY_NAMES: [&str; 8] = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"];
const DEPARTMENTS: [&str; 5] = ["Engineering", "Sales", "Support", "Finance", "Legal"];

/// Writes the userName of the `index`-th seeded user into `out` (cleared first).
pub fn seeded_user_name(out: &mut String, index: u64) {
    out.clear();
    let _infallible = write!(out, "user{index}@example.com");
}

/// Writes the userName of the `seq`-th user created by load task `task` in run `run` into
/// `out` (cleared first).
pub fn created_user_name(out: &mut String, run: u64, task: usize, seq: u64) {
    out.clear();
    let _infallible = write!(out, "load-{run:x}-{task}-{seq}@example.com");
}

/// Serialises the create body for `user_name` into `out` (cleared first). `variant` picks
/// the given name, family name and department, so bodies differ the way real ones do.
pub fn write_user_body(out: &mut Vec<u8>, user_name: &str, variant: u64) {
    out.clear();
    // usize and u64 are the same width on every target this runs on; the modulo keeps
    // the index in range either way.
    let pick = |len: usize, salt: u64| (variant.wrapping_mul(salt) % len as u64) as usize;
    let given = GIVEN_NAMES[pick(GIVEN_NAMES.len(), 1)];
    let family = FAMILY_NAMES[pick(FAMILY_NAMES.len(), 7)];
    let body = UserBody {
        schemas: [CORE_USER, ENTERPRISE_USER],
        user_name,
        name: Name { given_name: given, family_name: family },
        emails: [Email { value: user_name, kind: "work", primary: true }],
        display_name: DisplayName(given, family),
        active: true,
        enterprise: Enterprise { department: DEPARTMENTS[pick(DEPARTMENTS.len(), 3)] },
    };
    // Writing plain structs of strings into a Vec cannot fail.
    let _infallible = serde_json::to_writer(out, &body);
}

const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[derive(serde::Serialize)]
struct UserBody<'a> {
    schemas: [&'static str; 2],
    #[serde(rename = "userName")]
    user_name: &'a str,
    name: Name<'a>,
    emails: [Email<'a>; 1],
    #[serde(rename = "displayName")]
    display_name: DisplayName<'a>,
    active: bool,
    #[serde(rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")]
    enterprise: Enterprise<'a>,
}

#[derive(serde::Serialize)]
struct Name<'a> {
    #[serde(rename = "givenName")]
    given_name: &'a str,
    #[serde(rename = "familyName")]
    family_name: &'a str,
}

#[derive(serde::Serialize)]
struct Email<'a> {
    value: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    primary: bool,
}

#[derive(serde::Serialize)]
struct Enterprise<'a> {
    department: &'a str,
}

/// "Given Family", serialised without building the string first.
struct DisplayName<'a>(&'a str, &'a str);

impl Serialize for DisplayName<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for DisplayName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_body_is_an_okta_style_scim_user() {
        let mut name = String::new();
        seeded_user_name(&mut name, 42);
        let mut body = Vec::new();
        write_user_body(&mut body, &name, 42);
        let json: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
        assert_eq!(
            json,
            serde_json::json!({
                "schemas": [CORE_USER, ENTERPRISE_USER],
                "userName": "user42@example.com",
                "name": {"givenName": "Alan", "familyName": "Allen"},
                "emails": [{"value": "user42@example.com", "type": "work", "primary": true}],
                "displayName": "Alan Allen",
                "active": true,
                ENTERPRISE_USER: {"department": "Sales"},
            })
        );
    }

    #[test]
    fn created_names_are_unique_per_run_task_and_seq() {
        let mut a = String::new();
        let mut b = String::new();
        created_user_name(&mut a, 0xbeef, 3, 17);
        created_user_name(&mut b, 0xbeef, 31, 7);
        assert_eq!(a, "load-beef-3-17@example.com");
        assert_ne!(a, b);
    }
}
