//! Confluence's JSON, exactly as sent and received (reference §1). Nothing outside this module
//! sees these types: the client converts them into domain types at the boundary.
//!
//! Every field read from Confluence is optional so that a missing or renamed field degrades one
//! value instead of failing a whole listing.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /rest/applinks/1.0/manifest` (applinks `ManifestEntity`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Manifest {
    pub version: Option<String>,
    /// A number in practice; a string is accepted too.
    pub build_number: Option<Value>,
    /// `confluence`, `jira`, ...
    pub type_id: Option<String>,
}

/// The paging envelope of every list endpoint (§1.9).
#[derive(Debug, Deserialize)]
pub(crate) struct Page<T> {
    #[serde(default = "Vec::new")]
    pub results: Vec<T>,
    pub start: Option<u64>,
    pub limit: Option<u64>,
    #[serde(rename = "_links")]
    pub links: Option<PageLinks>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PageLinks {
    /// Relative to base + context, present only when another page exists.
    pub next: Option<String>,
}

/// A user (§1.6). `email` appears only on `/admin/users/list/active` (9.3+).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Person {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub username: Option<String>,
    pub user_key: Option<String>,
    pub display_name: Option<String>,
    /// With `expand=status`: `"Active"` or `"Deactivated"` (an object form is tolerated).
    pub status: Option<Value>,
    pub email: Option<String>,
}

impl Person {
    /// `anonymous` has no username; `unknown` is a deleted (anonymised) or unsynced user that
    /// cannot be managed. Neither counts as an existing user.
    pub fn is_real_user(&self) -> bool {
        !matches!(self.kind.as_deref(), Some("anonymous" | "unknown"))
    }

    /// `Some(true)` for Active, `Some(false)` for Deactivated, `None` when not reported.
    pub fn active(&self) -> Option<bool> {
        fn from_str(s: &str) -> Option<bool> {
            match s.trim().to_ascii_lowercase().as_str() {
                "active" | "enabled" => Some(true),
                "deactivated" | "disabled" | "inactive" => Some(false),
                _ => None,
            }
        }
        match self.status.as_ref()? {
            Value::String(s) => from_str(s),
            Value::Bool(b) => Some(*b),
            Value::Object(map) => match map.get("active") {
                Some(Value::Bool(b)) => Some(*b),
                _ => ["value", "status", "name"].iter().find_map(|k| map.get(*k)?.as_str().and_then(from_str)),
            },
            _ => None,
        }
    }
}

/// A group (§1.7).
#[derive(Debug, Deserialize)]
pub(crate) struct Group {
    pub name: Option<String>,
}

/// `POST /rest/api/admin/user` (§1.1). `password` only with `notifyViaEmail: false`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateUserRequest<'a> {
    pub user_name: &'a str,
    pub full_name: &'a str,
    pub email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<&'a str>,
    pub notify_via_email: bool,
}

/// `201 {"userKey": ...}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreatedUser {
    pub user_key: Option<String>,
}

/// `PUT /rest/api/admin/user/{u}` (§1.2; field names by analogy with creation).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateUserRequest<'a> {
    pub full_name: &'a str,
    pub email: &'a str,
}

/// `POST /rest/api/admin/group`.
#[derive(Serialize)]
pub(crate) struct CreateGroupRequest<'a> {
    pub name: &'a str,
}

/// `202` from `DELETE /rest/api/admin/user/{u}` (§1.4).
#[derive(Debug, Deserialize)]
pub(crate) struct LongTaskSubmission {
    /// A string in the documented example; a number is accepted.
    pub id: Option<Value>,
    pub links: Option<LongTaskLinks>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LongTaskLinks {
    pub status: Option<String>,
}

/// `GET /rest/api/longtask/{id}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LongTaskStatus {
    pub successful: Option<bool>,
    pub percentage_complete: Option<i64>,
    /// Not in the 8.4 schema; read when present.
    pub finished: Option<bool>,
    #[serde(default)]
    pub messages: Vec<Value>,
}

impl LongTaskStatus {
    pub fn is_finished(&self) -> bool {
        self.finished.unwrap_or(false) || self.percentage_complete.is_some_and(|p| p >= 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_live_person() {
        let json = r#"{"type": "known", "username": "rre6", "userKey": "2c90b2828dee4d35018defef1f8f0005",
            "profilePicture": {"path": "/images/icons/profilepics/default.svg", "width": 48, "height": 48,
            "isDefault": true}, "displayName": "Rytis", "_links": {"self": "x"}, "_expandable": {"status": ""}}"#;
        let p: Person = serde_json::from_str(json).unwrap();
        assert_eq!(p.username.as_deref(), Some("rre6"));
        assert_eq!(p.user_key.as_deref(), Some("2c90b2828dee4d35018defef1f8f0005"));
        assert!(p.is_real_user());
        assert_eq!(p.active(), None);
    }

    #[test]
    fn reads_status_forms() {
        let active = |status: &str| -> Option<bool> {
            let p: Person = serde_json::from_str(&format!(r#"{{"username": "a", "status": {status}}}"#)).unwrap();
            p.active()
        };
        assert_eq!(active(r#""Active""#), Some(true));
        assert_eq!(active(r#""Deactivated""#), Some(false));
        assert_eq!(active(r#"{"value": "Deactivated"}"#), Some(false));
        assert_eq!(active(r#"{"active": true}"#), Some(true));
        assert_eq!(active(r#""""#), None);
        assert_eq!(active("null"), None);
    }

    #[test]
    fn unknown_and_anonymous_are_not_users() {
        for kind in ["unknown", "anonymous"] {
            let p: Person = serde_json::from_str(&format!(r#"{{"type": "{kind}", "username": "x"}}"#)).unwrap();
            assert!(!p.is_real_user(), "{kind}");
        }
    }

    #[test]
    fn create_body_matches_the_schema() {
        let with_password = CreateUserRequest {
            user_name: "user1",
            full_name: "someone",
            email: "a@b.c",
            password: Some("pw"),
            notify_via_email: false,
        };
        assert_eq!(
            serde_json::to_string(&with_password).unwrap(),
            r#"{"userName":"user1","fullName":"someone","email":"a@b.c","password":"pw","notifyViaEmail":false}"#
        );
        let notify =
            CreateUserRequest { user_name: "u", full_name: "f", email: "e@x", password: None, notify_via_email: true };
        assert_eq!(
            serde_json::to_string(&notify).unwrap(),
            r#"{"userName":"u","fullName":"f","email":"e@x","notifyViaEmail":true}"#
        );
    }

    #[test]
    fn long_task_progress() {
        let running: LongTaskStatus =
            serde_json::from_str(r#"{"elapsedTime": 5, "percentageComplete": 40, "successful": false}"#).unwrap();
        assert!(!running.is_finished());
        let done: LongTaskStatus = serde_json::from_str(
            r#"{"id": "1", "name": {"key": "k", "args": []}, "elapsedTime": 9, "percentageComplete": 100,
                "successful": true, "messages": []}"#,
        )
        .unwrap();
        assert!(done.is_finished() && done.successful == Some(true));
    }
}
