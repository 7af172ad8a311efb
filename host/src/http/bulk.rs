//! `/Bulk` (RFC 7644 §3.7): many operations in one request, with `bulkId` references.
//!
//! Operations run in order; one that names a `bulkId:<x>` not yet created waits until the
//! operation that creates it has run (so forward references work), and references that can
//! never resolve fail with 409. `failOnErrors` stops processing after that many errors.
//! `maxOperations` and `maxPayloadSize` are enforced with 413.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Map, Value};

use super::{error_response, json_response, read_json, HttpState};
use crate::inbound::{App, Delivery};
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::schema::{ResourceKind, BULK_RESPONSE, ERROR};

pub(super) async fn bulk(
    State(s): State<HttpState>,
    Extension(app): Extension<Arc<App>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match run(&s, &app, &headers, body).await {
        Ok(v) => json_response(StatusCode::OK, serde_json::to_vec(&v).unwrap_or_default()),
        Err(e) => error_response(&e),
    }
}

struct Op {
    index: usize,
    method: String,
    path: String,
    bulk_id: Option<String>,
    version: Option<String>,
    data: Option<Value>,
}

async fn run(s: &HttpState, app: &App, headers: &HeaderMap, body: Body) -> ScimResult<Value> {
    let body = read_json(headers, body, s.limits.bulk_max_payload_bytes).await?;
    let Value::Object(map) = body else {
        return Err(ScimError::invalid_syntax("a BulkRequest must be a JSON object"));
    };
    let get = |name: &str| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    let fail_on_errors = match get("failOnErrors") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_u64().map(|n| n.max(1) as usize),
        Some(_) => return Err(ScimError::invalid_syntax("failOnErrors must be an integer")),
    };
    let Some(Value::Array(raw_ops)) = get("Operations") else {
        return Err(ScimError::invalid_syntax("a BulkRequest needs an Operations array"));
    };
    if raw_ops.len() > s.limits.bulk_max_operations {
        return Err(ScimError::payload_too_large(format!(
            "the BulkRequest has {} operations; maxOperations is {}",
            raw_ops.len(),
            s.limits.bulk_max_operations
        )));
    }
    let mut ops = Vec::with_capacity(raw_ops.len());
    for (index, raw) in raw_ops.iter().enumerate() {
        ops.push(parse_op(index, raw)?);
    }

    let mut ids: HashMap<String, String> = HashMap::new();
    let mut results: Vec<Option<Value>> = vec![None; ops.len()];
    let mut errors = 0usize;
    let mut pending: Vec<Op> = ops;
    loop {
        let mut progressed = false;
        let mut waiting = Vec::new();
        for op in pending {
            if fail_on_errors.is_some_and(|max| errors >= max) {
                break;
            }
            let resolved = match resolve(&op, &ids) {
                Some(r) => r,
                None => {
                    waiting.push(op);
                    continue;
                }
            };
            progressed = true;
            let result = execute(s, app, &op, resolved).await;
            if let (Some(bid), Ok((_, Some((id, _))))) = (&op.bulk_id, &result) {
                ids.insert(bid.clone(), id.clone());
            }
            if result.is_err() {
                errors += 1;
            }
            results[op.index] = Some(result_json(app, &op, result));
        }
        pending = waiting;
        if pending.is_empty() || !progressed || fail_on_errors.is_some_and(|max| errors >= max) {
            break;
        }
    }
    for op in pending {
        if fail_on_errors.is_some_and(|max| errors >= max) {
            break;
        }
        let e = ScimError::new(
            409,
            None,
            "the operation refers to a bulkId that no operation of this request creates (or a circular reference)",
        );
        errors += 1;
        results[op.index] = Some(result_json(app, &op, Err(e)));
    }
    Ok(json!({"schemas": [BULK_RESPONSE], "Operations": results.into_iter().flatten().collect::<Vec<_>>()}))
}

fn parse_op(index: usize, raw: &Value) -> ScimResult<Op> {
    let Value::Object(m) = raw else {
        return Err(ScimError::invalid_syntax(format!("Operations[{index}] must be an object")));
    };
    let field = |name: &str| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    let text = |name: &str| field(name).and_then(Value::as_str).map(str::to_owned);
    let method = text("method")
        .ok_or_else(|| ScimError::invalid_syntax(format!("Operations[{index}] needs a method")))?
        .to_ascii_uppercase();
    let path = text("path").ok_or_else(|| ScimError::invalid_syntax(format!("Operations[{index}] needs a path")))?;
    let bulk_id = text("bulkId");
    if method == "POST" && bulk_id.is_none() {
        return Err(ScimError::invalid_syntax(format!("Operations[{index}]: a POST needs a bulkId")));
    }
    Ok(Op { index, method, path, bulk_id, version: text("version"), data: field("data").cloned() })
}

/// The operation with every `bulkId:<x>` replaced by the created id; `None` while some
/// referenced id is not known yet.
fn resolve(op: &Op, ids: &HashMap<String, String>) -> Option<(String, Option<Value>)> {
    fn subst(s: &str, ids: &HashMap<String, String>) -> Option<String> {
        match s.split_once("bulkId:") {
            None => Some(s.to_owned()),
            Some((head, tail)) => {
                let end = tail.find(['/', '"']).unwrap_or(tail.len());
                let id = ids.get(&tail[..end])?;
                Some(format!("{head}{id}{}", subst(&tail[end..], ids)?))
            }
        }
    }
    fn walk(v: &Value, ids: &HashMap<String, String>) -> Option<Value> {
        Some(match v {
            Value::String(s) => Value::String(subst(s, ids)?),
            Value::Array(items) => Value::Array(items.iter().map(|i| walk(i, ids)).collect::<Option<_>>()?),
            Value::Object(m) => {
                let mut out = Map::with_capacity(m.len());
                for (k, v) in m {
                    out.insert(k.clone(), walk(v, ids)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
    let path = subst(&op.path, ids)?;
    let data = match &op.data {
        Some(d) => Some(walk(d, ids)?),
        None => None,
    };
    Some((path, data))
}

/// The status and, for operations that leave a resource, its id and version.
type OpResult = ScimResult<(u16, Option<(String, String)>)>;

async fn execute(s: &HttpState, app: &App, op: &Op, (path, data): (String, Option<Value>)) -> OpResult {
    let trimmed = path.trim_matches('/');
    let (endpoint, id) = match trimmed.split_once('/') {
        Some((e, id)) => (e, Some(id)),
        None => (trimmed, None),
    };
    let kind = match endpoint {
        "Users" => ResourceKind::User,
        "Groups" => ResourceKind::Group,
        _ => return Err(ScimError::invalid_path(format!("bulk path {path:?} is not under /Users or /Groups"))),
    };
    let need_data =
        || data.clone().ok_or_else(|| ScimError::invalid_syntax(format!("{} {path} needs data", op.method)));
    let inbound = &s.inbound;
    let version = op.version.as_deref();
    match (op.method.as_str(), id) {
        ("POST", None) => {
            let c = inbound.create(app, kind, &need_data()?, Delivery::Queued).await?;
            Ok((201, Some((c.resource.id.to_string(), c.resource.etag()))))
        }
        ("PUT", Some(id)) => {
            let r = inbound.replace(app, kind, id, &need_data()?, version, Delivery::Queued).await?;
            Ok((200, Some((r.id.to_string(), r.etag()))))
        }
        ("PATCH", Some(id)) => {
            let r = inbound.patch(app, kind, id, &need_data()?, version, Delivery::Queued).await?;
            Ok((200, Some((r.id.to_string(), r.etag()))))
        }
        ("DELETE", Some(id)) => {
            inbound.delete(app, kind, id, version, Delivery::Queued).await?;
            Ok((204, None))
        }
        (m, _) => Err(ScimError::invalid_syntax(format!("bulk operation {m} {path} is not valid"))),
    }
}

fn result_json(app: &App, op: &Op, result: OpResult) -> Value {
    let mut m = Map::new();
    m.insert("method".into(), Value::String(op.method.clone()));
    if let Some(b) = &op.bulk_id {
        m.insert("bulkId".into(), Value::String(b.clone()));
    }
    match result {
        Ok((status, id)) => {
            if let Some((id, version)) = id {
                let endpoint = if op.path.trim_matches('/').starts_with("Groups") { "Groups" } else { "Users" };
                m.insert("location".into(), Value::String(format!("{}/{endpoint}/{id}", app.base_url)));
                m.insert("version".into(), Value::String(version));
            }
            m.insert("status".into(), Value::String(status.to_string()));
        }
        Err(e) => {
            m.insert("status".into(), Value::String(e.status.to_string()));
            let mut body = Map::new();
            body.insert("schemas".into(), json!([ERROR]));
            body.insert("status".into(), Value::String(e.status.to_string()));
            if let Some(t) = e.scim_type {
                body.insert("scimType".into(), Value::String(t.as_str().into()));
            }
            body.insert("detail".into(), Value::String(e.detail));
            m.insert("response".into(), Value::Object(body));
        }
    }
    Value::Object(m)
}
