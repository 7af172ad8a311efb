//! Multi-valued attributes: the identity of an element, appending without duplicates,
//! removing by value or by filter, and the single-`primary` rule (RFC 7643 §2.4).
//!
//! Everything here is linear in the list: element identities and filter literals go through
//! hash maps, so changing k members of a 50,000-member group costs O(n + k), not O(n·k).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::scim::filter::{CompValue, CompareOp, Filter};
use crate::scim::schema::{AttributeDef, Mutability};

/// Two elements are "the same value" when their `value` sub-attributes are equal (members,
/// emails); elements without one, and simple values, are compared whole.
fn identity(element: &Value) -> String {
    match element.get("value") {
        Some(v) if !v.is_null() => format!("v{v}"),
        _ => format!("e{element}"),
    }
}

/// Appends `items`, skipping values already present; a repeated value instead updates the
/// present element's sub-attributes (so `primary: true` on an existing e-mail takes effect),
/// keeping its `immutable` ones. Returns the indices of the elements added or updated, in
/// order.
pub(super) fn add(list: &mut Vec<Value>, items: Vec<Value>, def: &AttributeDef) -> Vec<usize> {
    let mut index: HashMap<String, usize> = HashMap::with_capacity(list.len() + items.len());
    for (i, element) in list.iter().enumerate() {
        index.entry(identity(element)).or_insert(i);
    }
    let mut touched = Vec::with_capacity(items.len());
    for item in items {
        let id = identity(&item);
        match index.get(&id).copied() {
            Some(i) => {
                if let Some(existing) = list.get_mut(i) {
                    merge_element(existing, item, def);
                    touched.push(i);
                }
            }
            None => {
                index.insert(id, list.len());
                touched.push(list.len());
                list.push(item);
            }
        }
    }
    touched
}

fn merge_element(existing: &mut Value, new: Value, def: &AttributeDef) {
    let (Value::Object(old), Value::Object(new)) = (existing, new) else {
        return;
    };
    for (k, v) in new {
        let immutable = def.sub_attribute(&k).is_some_and(|s| s.mutability == Mutability::Immutable);
        if v.is_null() || (immutable && old.contains_key(&k)) {
            continue;
        }
        old.insert(k, v);
    }
}

/// Removes the elements whose identity is one of `items`' (Entra's
/// `{"op":"Remove","path":"members","value":[{"$ref":null,"value":"id"}]}`).
pub(super) fn remove_values(list: &mut Vec<Value>, items: &[Value]) {
    let ids: HashSet<String> = items.iter().map(identity).collect();
    list.retain(|element| !ids.contains(&identity(element)));
}

/// Removes the elements any of `filters` selects. Filters of the form `value eq "x"` (Okta
/// sends one `remove members[value eq "…"]` per member) are looked up by the lower-cased
/// literal: only elements whose lower-cased string `value` equals one are evaluated, so a
/// run of k such removals costs O(n + k). This never misses a match because the filter
/// evaluator compares strings exactly or after `to_lowercase`. Other filters are evaluated
/// on every element.
pub(super) fn remove_matching(list: &mut Vec<Value>, filters: &[&Filter], parent: &AttributeDef) {
    let mut by_value: HashMap<String, Vec<&Filter>> = HashMap::new();
    let mut general: Vec<&Filter> = Vec::new();
    for f in filters {
        match value_eq_literal(f) {
            Some(literal) => by_value.entry(literal.to_lowercase()).or_default().push(f),
            None => general.push(f),
        }
    }
    let keyed: Vec<&Filter> = by_value.values().flatten().copied().collect();
    list.retain(|element| {
        if general.iter().any(|f| f.matches_element(element, parent)) {
            return false;
        }
        let own_value = match element {
            Value::Object(m) => m.iter().find(|(k, _)| k.eq_ignore_ascii_case("value")).map(|(_, v)| v),
            simple => Some(simple),
        };
        match own_value {
            Some(Value::String(s)) => match by_value.get(&s.to_lowercase()) {
                Some(candidates) => !candidates.iter().any(|f| f.matches_element(element, parent)),
                None => true,
            },
            // An absent `value` never equals a string.
            None | Some(Value::Null) => true,
            // A number, boolean, array or object `value`: the lookup cannot rule it out.
            Some(_) => !keyed.iter().any(|f| f.matches_element(element, parent)),
        }
    });
}

/// `value eq "x"`: the literal `x`.
fn value_eq_literal(f: &Filter) -> Option<&str> {
    match f {
        Filter::Compare(p, CompareOp::Eq, CompValue::Str(s))
            if p.urn.is_none() && p.sub.is_none() && p.name.eq_ignore_ascii_case("value") =>
        {
            Some(s)
        }
        _ => None,
    }
}

/// The sub-attributes a filter of `x eq "v"` comparisons joined by `and` pins down, for
/// creating the element it describes; `None` for any other filter (or contradictory pins).
pub(super) fn pinned(filter: &Filter, parent: &AttributeDef) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    let mut stack = vec![filter];
    while let Some(f) = stack.pop() {
        match f {
            Filter::And(a, b) => {
                stack.push(b);
                stack.push(a);
            }
            Filter::Compare(p, CompareOp::Eq, v) if p.urn.is_none() && p.sub.is_none() => {
                let v = match v {
                    CompValue::Str(s) => Value::String(s.clone()),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::Null => return None,
                };
                let name = parent.sub_attribute(&p.name).map_or_else(|| p.name.clone(), |d| d.name.clone());
                match out.get(&name) {
                    Some(existing) if *existing != v => return None,
                    _ => {
                        out.insert(name, v);
                    }
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

pub(super) fn is_primary(element: &Value) -> bool {
    match element.get("primary") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// RFC 7643 §2.4: at most one element is `primary`. When `winner` (just added or set) is
/// primary, every other element's `primary` becomes `false`.
pub(super) fn settle_primary(list: &mut [Value], winner: Option<usize>) {
    let Some(w) = winner else { return };
    if !list.get(w).is_some_and(is_primary) {
        return;
    }
    for (i, element) in list.iter_mut().enumerate() {
        if i != w && is_primary(element) {
            if let Value::Object(m) = element {
                m.insert("primary".into(), Value::Bool(false));
            }
        }
    }
}

/// The element that should stay primary after `touched` were added or set: the last of them
/// that is primary.
pub(super) fn last_primary(list: &[Value], touched: &[usize]) -> Option<usize> {
    touched.iter().rev().copied().find(|&i| list.get(i).is_some_and(is_primary))
}
