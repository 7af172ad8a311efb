//! PATCH bodies into [`PatchRequest`]s: the RFC 7644 form with every leniency identity
//! providers need, and OneLogin's SCIM 1.1 form without `Operations`.

use serde_json::{Map, Value};

use super::{PatchOp, PatchOpKind, PatchPath, PatchRequest, MAX_OPERATIONS};
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::schema::PATCH_OP;

/// Keys of a SCIM 1.1 body that are not attributes to change.
const NOT_ATTRIBUTES: &[&str] = &["schemas", "id", "meta"];

pub(super) fn parse(body: &Value) -> ScimResult<PatchRequest> {
    let Value::Object(body) = body else {
        return Err(ScimError::invalid_syntax("a PATCH body must be a JSON object"));
    };
    let ops = match find_ci(body, "Operations") {
        Some(Value::Array(items)) => {
            if items.len() > MAX_OPERATIONS {
                return Err(ScimError::payload_too_large(format!(
                    "a PATCH request may hold at most {MAX_OPERATIONS} operations"
                )));
            }
            items.iter().enumerate().map(|(i, item)| operation(i, item)).collect::<ScimResult<Vec<_>>>()?
        }
        Some(_) => return Err(ScimError::invalid_syntax("Operations must be an array of operations")),
        None if names_patch_op(body) => {
            return Err(ScimError::invalid_syntax("a PatchOp request needs an Operations array"))
        }
        None => scim11(body)?,
    };
    Ok(PatchRequest { ops })
}

fn find_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

/// Does `schemas` name the RFC 7644 PatchOp message? Then a missing `Operations` is a
/// mistake, not a SCIM 1.1 body (whose keys would otherwise be stored as attributes).
fn names_patch_op(body: &Map<String, Value>) -> bool {
    match find_ci(body, "schemas") {
        Some(Value::Array(items)) => items.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(PATCH_OP))),
        Some(Value::String(u)) => u.eq_ignore_ascii_case(PATCH_OP),
        _ => false,
    }
}

fn operation(i: usize, item: &Value) -> ScimResult<PatchOp> {
    let n = i + 1;
    let Value::Object(m) = item else {
        return Err(ScimError::invalid_syntax(format!("operation {n} must be an object")));
    };
    let op = match find_ci(m, "op") {
        Some(Value::String(s)) => PatchOpKind::parse(s).ok_or_else(|| {
            ScimError::invalid_syntax(format!("operation {n}: op {s:?} is not add, replace or remove"))
        })?,
        _ => return Err(ScimError::invalid_syntax(format!("operation {n} needs an op (add, replace or remove)"))),
    };
    let path = match find_ci(m, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(PatchPath::parse(s)?),
        Some(_) => return Err(ScimError::invalid_path(format!("operation {n}: path must be a string"))),
    };
    let value = find_ci(m, "value").cloned();
    match op {
        PatchOpKind::Remove if path.is_none() => {
            return Err(ScimError::no_target(format!("operation {n}: remove needs a path")));
        }
        PatchOpKind::Add | PatchOpKind::Replace if value.is_none() => {
            return Err(ScimError::invalid_value(format!("operation {n}: {} needs a value", op.as_str())));
        }
        PatchOpKind::Add | PatchOpKind::Replace if path.is_none() && !value.as_ref().is_some_and(Value::is_object) => {
            return Err(ScimError::invalid_value(format!(
                "operation {n}: {} without a path needs an object of attributes as its value",
                op.as_str()
            )));
        }
        _ => {}
    }
    Ok(PatchOp { op, path, value })
}

/// OneLogin's SCIM 1.1 PATCH (`onelogin-scim-php` GroupController): the body is a partial
/// resource. Values of a multi-valued attribute marked `"operation": "delete"` are removed;
/// everything else is added (multi-valued values appended, single values replaced). SCIM 1.1
/// also removes the attributes listed in `meta.attributes`. Removals come first, as in
/// SCIM 1.1.
fn scim11(body: &Map<String, Value>) -> ScimResult<Vec<PatchOp>> {
    let mut removals = Vec::new();
    let mut additions = Map::new();
    for (key, value) in body {
        if key.eq_ignore_ascii_case("meta") {
            removals.extend(meta_attribute_removals(value)?);
            continue;
        }
        if NOT_ATTRIBUTES.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            continue;
        }
        let Value::Array(items) = value else {
            additions.insert(key.clone(), value.clone());
            continue;
        };
        if !items.iter().any(|item| item.get("operation").is_some()) {
            additions.insert(key.clone(), value.clone());
            continue;
        }
        let mut deleted = Vec::new();
        let mut kept = Vec::new();
        for item in items {
            let is_delete = item
                .get("operation")
                .and_then(Value::as_str)
                .and_then(PatchOpKind::parse)
                .is_some_and(|k| k == PatchOpKind::Remove);
            let mut item = item.clone();
            if let Value::Object(m) = &mut item {
                m.remove("operation");
            }
            if is_delete {
                deleted.push(item);
            } else {
                kept.push(item);
            }
        }
        if !deleted.is_empty() {
            removals.push(PatchOp {
                op: PatchOpKind::Remove,
                path: Some(PatchPath::parse(key)?),
                value: Some(Value::Array(deleted)),
            });
        }
        if !kept.is_empty() {
            additions.insert(key.clone(), Value::Array(kept));
        }
    }
    if removals.is_empty() && additions.is_empty() {
        return Err(ScimError::invalid_syntax("the PATCH body has neither Operations nor attributes to change"));
    }
    if removals.len() + usize::from(!additions.is_empty()) > MAX_OPERATIONS {
        return Err(ScimError::payload_too_large(format!(
            "a PATCH request may hold at most {MAX_OPERATIONS} operations"
        )));
    }
    let mut ops = removals;
    if !additions.is_empty() {
        ops.push(PatchOp { op: PatchOpKind::Add, path: None, value: Some(Value::Object(additions)) });
    }
    Ok(ops)
}

/// SCIM 1.1 `"meta": {"attributes": ["title", "emails"]}`: remove these attributes.
fn meta_attribute_removals(meta: &Value) -> ScimResult<Vec<PatchOp>> {
    let Some(Value::Array(names)) = meta.as_object().and_then(|m| find_ci(m, "attributes")) else {
        return Ok(Vec::new());
    };
    if names.len() > MAX_OPERATIONS {
        return Err(ScimError::payload_too_large(format!(
            "a PATCH request may hold at most {MAX_OPERATIONS} operations"
        )));
    }
    names
        .iter()
        .map(|name| {
            let name =
                name.as_str().ok_or_else(|| ScimError::invalid_path("meta.attributes must list attribute names"))?;
            Ok(PatchOp { op: PatchOpKind::Remove, path: Some(PatchPath::parse(name)?), value: None })
        })
        .collect()
}
