//! Sort keys for `sortBy` (RFC 7644 §3.4.2.3).
//!
//! A key is computed once per resource and compared with a total order, so listing sorts
//! with `sort_by_key`-style code and never re-resolves paths inside the comparator.

use std::cmp::Ordering;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::eval::{fold, get_ci, Scope};
use crate::scim::path::AttrPath;
use crate::scim::schema::{AttrType, AttributeDef, ResourceType};

/// A comparable sort key. Keys of different kinds (an attribute no schema types, holding a
/// number in one resource and a string in another) order as booleans < numbers < dates <
/// strings, so the order stays total.
#[derive(Debug, Clone)]
pub enum SortKey {
    Bool(bool),
    Number(f64),
    /// Nanoseconds since the Unix epoch: dates sort chronologically whatever their offset.
    DateTime(i128),
    /// Already lower-cased when the attribute is not `caseExact`.
    Str(String),
}

impl SortKey {
    fn rank(&self) -> u8 {
        match self {
            SortKey::Bool(_) => 0,
            SortKey::Number(_) => 1,
            SortKey::DateTime(_) => 2,
            SortKey::Str(_) => 3,
        }
    }

    /// Ascending order with missing keys last, as RFC 7644 §3.4.2.3 asks; reverse the result
    /// for `sortOrder=descending`.
    pub fn cmp_ascending(a: Option<&SortKey>, b: Option<&SortKey>) -> Ordering {
        match (a, b) {
            (Some(a), Some(b)) => a.cmp(b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
}

impl Ord for SortKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (SortKey::Bool(a), SortKey::Bool(b)) => a.cmp(b),
            (SortKey::Number(a), SortKey::Number(b)) => a.total_cmp(b),
            (SortKey::DateTime(a), SortKey::DateTime(b)) => a.cmp(b),
            (SortKey::Str(a), SortKey::Str(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for SortKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SortKey {}

/// The key of `resource` for `sort_by`, or `None` when the attribute is missing, null, or
/// not a scalar (sorts last). Multi-valued attributes use the element marked `primary`,
/// else the first; a complex element sorts by its `value` unless `sort_by` names a
/// sub-attribute.
pub fn sort_key(resource: &Value, rt: &ResourceType, sort_by: &AttrPath) -> Option<SortKey> {
    let (value, def) = Scope::Resource(rt).lookup(resource, sort_by);
    let element = pick(value?)?;
    let (scalar, def) = match (&sort_by.sub, element) {
        (Some(sub), _) => (get_ci(element, sub)?, def.and_then(|d| d.sub_attribute(sub))),
        (None, Value::Object(_)) => (get_ci(element, "value")?, def.and_then(|d| d.sub_attribute("value"))),
        (None, _) => (element, def),
    };
    key_of(pick(scalar)?, def)
}

/// The primary element of an array (else the first), or the value itself.
fn pick(value: &Value) -> Option<&Value> {
    let Value::Array(items) = value else { return Some(value) };
    items.iter().find(|e| get_ci(e, "primary") == Some(&Value::Bool(true))).or_else(|| items.first())
}

fn key_of(value: &Value, def: Option<&AttributeDef>) -> Option<SortKey> {
    match value {
        Value::Bool(b) => Some(SortKey::Bool(*b)),
        Value::Number(n) => n.as_f64().map(SortKey::Number),
        Value::String(s) => {
            if def.is_some_and(|d| d.ty == AttrType::DateTime) {
                if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
                    return Some(SortKey::DateTime(t.unix_timestamp_nanos()));
                }
            }
            Some(SortKey::Str(fold(s, def.is_some_and(|d| d.case_exact)).into_owned()))
        }
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}
