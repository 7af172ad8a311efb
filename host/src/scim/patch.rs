//! SCIM PATCH (RFC 7644 §3.5.2): parsing the request bodies real identity providers send,
//! and applying them to a canonical stored resource, all or nothing.
//!
//! What is accepted beyond the RFC is what OneLogin, Okta and Entra send
//! (`shared/reference/idp-traffic.md` §1.4, §2, §3, §5):
//! - `schemas` absent or in any case, the `Operations` key and `op` values in any case,
//!   `delete` as `remove` (Entra's `Add`/`Replace`/`Remove`);
//! - path-less `add`/`replace` whose value keys are attribute paths (`active`,
//!   `name.givenName`, `urn:…:enterprise:2.0:User:employeeNumber`) or whole extension
//!   objects, with `id`, `schemas` and `meta` ignored (Okta deactivation and Group Push);
//! - `remove members` with a `value` list (Entra) and `remove members[value eq "…"]` (Okta);
//! - OneLogin's SCIM 1.1 body without `Operations`
//!   (`{"members":[{"value":"u2","operation":"delete"}]}`).
//!
//! The parts: `path` ([`PatchPath`]: an attribute path, or a value filter on one), `parse`
//! (bodies into [`PatchRequest`]), `target` (where a path lands in a stored resource),
//! `multi` (multi-valued attributes: identity, append, remove, `primary`), `ops` (the
//! meaning of each operation).
//!
//! **Architecture invariant:** apply only edits JSON. Type coercion (`"False"` → `false`)
//! and whole-resource validation happen afterwards, when the host re-normalises the result
//! with [`crate::scim::normalize`]; scalar values are therefore stored as given.

use serde_json::{json, Value};

use super::error::{ScimError, ScimResult};
use super::schema::{AppSchemas, AttrType, AttributeDef, CustomExtension, ResourceKind, ResourceType};

mod multi;
mod ops;
mod parse;
mod path;
mod target;
#[cfg(test)]
mod tests;

pub use path::PatchPath;

/// Most operations in one PATCH request.
pub const MAX_OPERATIONS: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOpKind {
    Add,
    Replace,
    Remove,
}

impl PatchOpKind {
    /// `add`, `replace`, `remove` in any case, and `delete` (OneLogin's SCIM 1.1 word) for
    /// `remove`.
    pub fn parse(s: &str) -> Option<Self> {
        const NAMES: [(&str, PatchOpKind); 4] = [
            ("add", PatchOpKind::Add),
            ("replace", PatchOpKind::Replace),
            ("remove", PatchOpKind::Remove),
            ("delete", PatchOpKind::Remove),
        ];
        NAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(s.trim())).map(|(_, k)| *k)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PatchOpKind::Add => "add",
            PatchOpKind::Replace => "replace",
            PatchOpKind::Remove => "remove",
        }
    }
}

/// One PATCH operation.
///
/// `value` is `None` when the client sent none; `Some(Value::Null)` is an explicit `null`,
/// which RFC 7643 §2.5 makes equivalent to "unassigned" (a `replace` with `null` removes).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub op: PatchOpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// A parsed PATCH request.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    pub ops: Vec<PatchOp>,
}

impl PatchRequest {
    /// Parses a PATCH body. Bounded: at most [`MAX_OPERATIONS`] operations.
    ///
    /// # Errors
    ///
    /// - 400 `invalidSyntax`: the body is not an object; `Operations` is not an array of
    ///   objects; an operation has no `op` or an unknown one; a body that names the PatchOp
    ///   schema has no `Operations`; a SCIM 1.1 body has no attributes.
    /// - 400 `invalidPath`: a `path` that is not a string or does not parse.
    /// - 400 `invalidValue`: `add`/`replace` without `value`, or a path-less one whose value
    ///   is not an object.
    /// - 400 `noTarget`: `remove` without `path` (RFC 7644 §3.5.2.2).
    /// - 413: more than [`MAX_OPERATIONS`] operations (as for too many bulk operations,
    ///   RFC 7644 §3.7.4).
    pub fn parse(body: &Value) -> ScimResult<PatchRequest> {
        parse::parse(body)
    }
}

/// Applies every operation to `resource` in order, all or nothing: on error `resource` is
/// unchanged (RFC 7644 §3.5.2: a PATCH request is atomic). Returns whether anything changed,
/// so that an idempotent repeat (Okta's rename sent with every membership change) costs no
/// write.
///
/// Cost is linear in the resource size per run of operations: consecutive operations that
/// add to, remove values from, or remove filtered elements of the same multi-valued
/// attribute are applied together through a hash of element values, so adding or removing
/// k members of an n-member group costs O(n + k).
///
/// # Errors
///
/// - 400 `mutability`: an explicit path to `id`, `meta`, `schemas` or a readOnly attribute;
///   changing or removing an immutable value that is set; removing a required attribute
///   (RFC 7644 §3.5.2.2).
/// - 400 `invalidPath`: a sub-attribute of a simple attribute, a value filter on a
///   single-valued attribute.
/// - 400 `invalidValue`: a value of the wrong JSON shape for its target (an object for
///   `userName`, an array for `name`).
/// - 400 `noTarget`: `remove` without a path; a filtered `add`/`replace` that matches no
///   element, unless the filter is `x eq "v"` (or an `and` of those), in which case a new
///   element with those sub-attributes is created (Entra sets `emails[type eq "work"].value`
///   on users that have no work e-mail).
/// - 500 when `resource` is not a JSON object.
///
/// Each detail names the failing operation (1-based).
pub fn apply(resource: &mut Value, req: &PatchRequest, rt: &ResourceType) -> ScimResult<bool> {
    let Value::Object(original) = resource else {
        return Err(ScimError::internal("PATCH target is not a JSON object"));
    };
    let mut work = original.clone();
    let mut start = 0;
    while start < req.ops.len() {
        let len = ops::run_len(&req.ops[start..], rt);
        ops::apply_run(&mut work, &req.ops[start..start + len], rt)
            .map_err(|e| ScimError { detail: format!("operation {}: {}", start + 1, e.detail), ..e })?;
        start += len;
    }
    let changed = work != *original;
    if changed {
        *original = work;
    }
    Ok(changed)
}

/// Shared by the fuzz target and the corpus test: parses `data` as a PATCH path, and as JSON,
/// then as a [`PatchRequest`], and applies it to a fixed sample user and a sample group.
///
/// Never panics on any input; it panics only when an invariant breaks, which is what the
/// fuzzer looks for: a failed PATCH must leave the resource unchanged, the change flag must
/// be truthful, and errors must be client errors (4xx), never 500.
pub fn fuzz_one(data: &[u8]) {
    // The input as a PATCH path too: the filter corpus replays through here for that.
    let _ = PatchPath::parse(&String::from_utf8_lossy(data));
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(req) = PatchRequest::parse(&body) else {
        return;
    };
    let schemas = fuzz_schemas();
    for (rt, sample) in [(&schemas.user, sample_user()), (&schemas.group, sample_group())] {
        let mut resource = sample.clone();
        match apply(&mut resource, &req, rt) {
            Ok(changed) => assert_eq!(changed, resource != sample, "the change flag is truthful"),
            Err(e) => {
                assert_eq!(resource, sample, "a failed PATCH leaves the resource unchanged");
                assert!((400..500).contains(&e.status), "PATCH errors are client errors: {e}");
            }
        }
        assert!(resource.is_object());
        let _ = super::normalize::normalize_resource(&resource, rt, &super::normalize::Limits::default());
    }
}

const FUZZ_EXTENSION: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";

fn fuzz_schemas() -> AppSchemas {
    let ext = CustomExtension::new(
        ResourceKind::User,
        FUZZ_EXTENSION,
        "Acme",
        vec![AttributeDef::new("badge", AttrType::Integer), AttributeDef::new("tags", AttrType::String)],
    );
    AppSchemas::new(&[ext])
}

fn sample_user() -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            FUZZ_EXTENSION
        ],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "00u1abcd",
        "userName": "bjensen@example.com",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "displayName": "Babs Jensen",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
        "costCentre": "42",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
        },
        FUZZ_EXTENSION: {"badge": 7},
        "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z", "lastModified": "2024-01-01T00:00:00Z"}
    })
}

fn sample_group() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "displayName": "Tour Guides",
        "members": [
            {"value": "2819c223-7f76-453a-919d-413861904646", "display": "Babs Jensen"},
            {"value": "902c246b-6245-4190-8e05-00816be7344a", "display": "Mandy Pepperidge"}
        ],
        "meta": {"resourceType": "Group"}
    })
}
