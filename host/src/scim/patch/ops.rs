//! The meaning of each PATCH operation on a canonical resource (RFC 7644 §3.5.2.1–3), and
//! the grouping of consecutive operations on one multi-valued attribute into a single pass.
//!
//! Summary of the semantics (RFC 7644 wording where it is clear, IdP practice where not):
//! - `add` appends to multi-valued attributes (without duplicates), merges into complex
//!   ones, and sets simple ones; `replace` replaces a multi-valued attribute's whole set and
//!   otherwise behaves like `add`.
//! - `remove` removes the attribute, or with a `value` list only those values (Entra), or
//!   with a value filter only the matching elements (Okta). Removing what is absent is not
//!   an error.
//! - A `null` value means "unassigned" (RFC 7643 §2.5): `replace` with `null` removes, `add`
//!   with `null` does nothing.

use serde_json::{Map, Value};

use super::multi;
use super::target::{self, Location, Target, SERVER_OWNED};
use super::{PatchOp, PatchOpKind, PatchPath};
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::filter::Filter;
use crate::scim::path::{self, AttrPath};
use crate::scim::schema::{canonical_urn, AttrType, AttributeDef, ResourceType};

type Object = Map<String, Value>;

/// What makes consecutive operations one pass over a multi-valued attribute.
#[derive(PartialEq)]
enum Run<'a> {
    Add(&'a AttrPath),
    RemoveValues(&'a AttrPath),
    RemoveFiltered(&'a AttrPath),
}

fn run_of<'a>(op: &'a PatchOp, rt: &ResourceType) -> Option<Run<'a>> {
    let has_value = op.value.as_ref().is_some_and(|v| !v.is_null());
    let multi = |p: &AttrPath| {
        p.sub.is_none() && path::resolve(rt, p.urn.as_deref(), &p.name).is_some_and(|r| r.attr.multi_valued)
    };
    match (&op.path, op.op) {
        (Some(PatchPath::Attr(p)), PatchOpKind::Add) if has_value && multi(p) => Some(Run::Add(p)),
        (Some(PatchPath::Attr(p)), PatchOpKind::Remove) if has_value && multi(p) => Some(Run::RemoveValues(p)),
        (Some(PatchPath::Filtered { attr, sub: None, .. }), PatchOpKind::Remove) => Some(Run::RemoveFiltered(attr)),
        _ => None,
    }
}

/// How many operations from the start of `ops` form one run (at least one, when `ops` is
/// not empty): consecutive adds to, value removals from, or filtered removals of elements
/// of the same multi-valued attribute. Applying a run at once gives the same result as
/// applying its operations one by one.
pub(super) fn run_len(ops: &[PatchOp], rt: &ResourceType) -> usize {
    let Some((first, rest)) = ops.split_first() else {
        return 0;
    };
    let Some(run) = run_of(first, rt) else {
        return 1;
    };
    1 + rest.iter().take_while(|op| run_of(op, rt).as_ref() == Some(&run)).count()
}

/// Applies one run (see [`run_len`]).
pub(super) fn apply_run(res: &mut Object, ops: &[PatchOp], rt: &ResourceType) -> ScimResult<()> {
    let Some(first) = ops.first() else {
        return Ok(());
    };
    if ops.len() == 1 {
        return apply_op(res, first, rt);
    }
    if let Some(PatchPath::Filtered { attr, .. }) = &first.path {
        let filters: Vec<&Filter> = ops
            .iter()
            .filter_map(|op| match &op.path {
                Some(PatchPath::Filtered { filter, .. }) => Some(filter),
                _ => None,
            })
            .collect();
        let t = filtered_target(attr, None, rt, res)?;
        return remove_filtered(res, &t, &filters);
    }
    let mut values = Vec::new();
    for op in ops {
        match &op.value {
            Some(Value::Array(items)) => values.extend(items.iter().cloned()),
            Some(Value::Null) | None => {}
            Some(v) => values.push(v.clone()),
        }
    }
    apply_op(res, &PatchOp { op: first.op, path: first.path.clone(), value: Some(Value::Array(values)) }, rt)
}

fn apply_op(res: &mut Object, op: &PatchOp, rt: &ResourceType) -> ScimResult<()> {
    let value = op.value.as_ref().unwrap_or(&Value::Null);
    match &op.path {
        None => match (op.op, value) {
            (PatchOpKind::Remove, _) => Err(ScimError::no_target("remove needs a path")),
            (kind, Value::Object(attrs)) => pathless(res, attrs, None, kind, rt),
            (kind, _) => Err(ScimError::invalid_value(format!(
                "{} without a path needs an object of attributes as its value",
                kind.as_str()
            ))),
        },
        Some(PatchPath::Attr(p)) => match target::locate(p, None, rt, res) {
            Location::Schema(container) => whole_schema(res, container.as_deref(), op.op, value, rt),
            Location::Attr(t) => {
                t.check_path(true)?;
                if t.is_discarded(rt) {
                    return Ok(());
                }
                match op.op {
                    PatchOpKind::Remove => remove(res, &t, op.value.as_ref()),
                    kind => set(res, &t, kind, value),
                }
            }
        },
        Some(PatchPath::Filtered { attr, filter, sub }) => {
            let t = filtered_target(attr, sub.as_deref(), rt, res)?;
            match (op.op, t.sub.is_some()) {
                (PatchOpKind::Remove, false) => remove_filtered(res, &t, &[filter]),
                (PatchOpKind::Remove, true) => remove_filtered_sub(res, &t, filter),
                (_, _) if value.is_null() && op.op == PatchOpKind::Add => Ok(()),
                (_, false) if value.is_null() => remove_filtered(res, &t, &[filter]),
                (_, true) if value.is_null() => remove_filtered_sub(res, &t, filter),
                (kind, _) => set_filtered(res, &t, filter, kind, value),
            }
        }
    }
}

/// A path-less `add`/`replace`: each key of the value is an attribute path (`active`,
/// `name.givenName`, `urn:…:User:employeeNumber`) or a whole schema object. `within` is the
/// schema whose object the keys come from (`None` at the top of the value).
fn pathless(
    res: &mut Object,
    attrs: &Object,
    within: Option<&str>,
    kind: PatchOpKind,
    rt: &ResourceType,
) -> ScimResult<()> {
    let at_core = within.is_none_or(|u| u == rt.core.id);
    for (key, value) in attrs {
        if at_core && SERVER_OWNED.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            continue; // Okta sends `id` and `schemas` inside the value.
        }
        if value.is_null() && kind == PatchOpKind::Add {
            continue;
        }
        if within.is_none() && path::has_urn_prefix(key) {
            if let Some(schema) = rt.schema(key) {
                let container = (schema.id != rt.core.id).then_some(schema.id.as_str());
                whole_schema(res, container, kind, value, rt)?;
                continue;
            }
            if let Value::Object(fields) = value {
                if !names_schema_attribute(key, rt) {
                    verbatim_extension(res, key, fields)?;
                    continue;
                }
            }
        }
        let Ok(p) = AttrPath::parse(key) else {
            // Not an attribute path: a custom attribute, kept verbatim.
            let container = within.filter(|u| *u != rt.core.id);
            let obj = target::container_mut(res, container)?;
            obj.insert(key.clone(), value.clone());
            if value.is_null() {
                obj.shift_remove(key);
            }
            target::tidy(res, container);
            continue;
        };
        match target::locate(&p, within, rt, res) {
            Location::Schema(container) => whole_schema(res, container.as_deref(), kind, value, rt)?,
            Location::Attr(t) => {
                t.check_path(false)?;
                if !t.is_read_only() && !t.is_discarded(rt) {
                    set(res, &t, kind, value)?;
                }
            }
        }
    }
    Ok(())
}

/// `urn:…:User:employeeNumber` of a schema the resource type has (rather than the URN of
/// an extension no schema declares).
fn names_schema_attribute(key: &str, rt: &ResourceType) -> bool {
    AttrPath::parse(key).ok().and_then(|p| p.urn).is_some_and(|u| rt.schema(&u).is_some())
}

/// An object under the URN of an extension the app does not declare: kept verbatim for the
/// rules, key by key.
fn verbatim_extension(res: &mut Object, urn: &str, fields: &Object) -> ScimResult<()> {
    let urn = canonical_urn(urn);
    let obj = target::container_mut(res, Some(urn))?;
    for (k, v) in fields {
        if v.is_null() {
            obj.shift_remove(k);
        } else {
            obj.insert(k.clone(), v.clone());
        }
    }
    target::tidy(res, Some(urn));
    Ok(())
}

/// An operation on a whole schema: a path (or path-less key) that is a schema URN.
/// `container` is `None` for the core schema.
fn whole_schema(
    res: &mut Object,
    container: Option<&str>,
    kind: PatchOpKind,
    value: &Value,
    rt: &ResourceType,
) -> ScimResult<()> {
    let within = container.unwrap_or(&rt.core.id);
    match (kind, value) {
        (PatchOpKind::Remove, _) | (PatchOpKind::Replace, Value::Null) => {
            let Some(urn) = container else {
                return Err(ScimError::mutability("the core attributes cannot be removed as a whole"));
            };
            if let Some(schema) = rt.schema(urn) {
                if let Some(required) = schema.attributes.iter().find(|a| a.required) {
                    target::guard_required(Some(required), &format!("{urn}:{}", required.name))?;
                }
            }
            if let Some(obj) = target::container_existing(res, Some(urn)) {
                obj.clear();
            }
            target::tidy(res, Some(urn));
            Ok(())
        }
        (_, Value::Null) => Ok(()),
        (kind, Value::Object(attrs)) => pathless(res, attrs, Some(within), kind, rt),
        (_, _) => Err(ScimError::invalid_value(format!("{within} must be an object of attributes"))),
    }
}

/// `add`/`replace` of one attribute or sub-attribute.
fn set(res: &mut Object, t: &Target, kind: PatchOpKind, value: &Value) -> ScimResult<()> {
    if value.is_null() {
        return match kind {
            PatchOpKind::Add => Ok(()),
            _ => remove(res, t, None),
        };
    }
    let label = t.label();
    let obj = target::container_mut(res, t.container.as_deref())?;
    match &t.sub {
        None => set_attr(obj, t, kind, value, &label)?,
        Some(sub) => set_sub(obj, t, sub, value, &label)?,
    }
    target::tidy(res, t.container.as_deref());
    Ok(())
}

fn set_attr(obj: &mut Object, t: &Target, kind: PatchOpKind, value: &Value, label: &str) -> ScimResult<()> {
    let key = target::find_key(obj, &t.name).unwrap_or_else(|| t.name.clone());
    match t.def {
        Some(def) if def.multi_valued => {
            let mut items = target::elements(def, value, label)?;
            if kind == PatchOpKind::Add {
                let list = target::array_mut(obj, &key)?;
                let touched = multi::add(list, items, def);
                let winner = multi::last_primary(list, &touched);
                multi::settle_primary(list, winner);
                if list.is_empty() {
                    obj.shift_remove(&key);
                }
            } else if items.is_empty() {
                remove_key(obj, &key, t, label)?;
            } else {
                let winner = items.iter().position(multi::is_primary);
                multi::settle_primary(&mut items, winner);
                let items = Value::Array(items);
                target::guard_immutable(Some(def), obj.get(&key), Some(&items), label)?;
                obj.insert(key, items);
            }
        }
        Some(def) if def.ty == AttrType::Complex => {
            let fields = target::complex_value(def, value, label)?;
            let slot = target::object_mut(obj, &key)?;
            merge_fields(slot, fields, def, label)?;
            if slot.is_empty() {
                remove_key(obj, &key, t, label)?;
            }
        }
        Some(def) => {
            target::check_scalar(Some(def), value, label)?;
            target::guard_immutable(Some(def), obj.get(&key), Some(value), label)?;
            obj.insert(key, value.clone());
        }
        None => match (kind, obj.get_mut(&key), value) {
            (PatchOpKind::Add, Some(Value::Array(list)), _) => {
                let items = match value {
                    Value::Array(items) => items.iter().filter(|v| !v.is_null()).cloned().collect(),
                    v => vec![v.clone()],
                };
                multi::add(list, items, &t.element_def());
            }
            (PatchOpKind::Add, Some(Value::Object(existing)), Value::Object(fields)) => {
                merge_fields(existing, fields.clone(), &t.element_def(), label)?;
            }
            _ => {
                obj.insert(key, value.clone());
            }
        },
    }
    Ok(())
}

/// Sets a sub-attribute: of a complex attribute, or of every element of a multi-valued one
/// (creating one element when there is none).
fn set_sub(obj: &mut Object, t: &Target, sub: &str, value: &Value, label: &str) -> ScimResult<()> {
    target::check_scalar(t.sub_def, value, label)?;
    let key = target::find_key(obj, &t.name).unwrap_or_else(|| t.name.clone());
    if !t.is_multi(obj.get(&key)) {
        let slot = target::object_mut(obj, &key)?;
        return set_field(slot, sub, t.sub_def, value, label);
    }
    let list = target::array_mut(obj, &key)?;
    if list.is_empty() {
        list.push(Value::Object(Map::new()));
    }
    for element in list.iter_mut() {
        if let Value::Object(m) = element {
            set_field(m, sub, t.sub_def, value, label)?;
        }
    }
    let winner = list.iter().position(multi::is_primary);
    multi::settle_primary(list, winner);
    Ok(())
}

fn set_field(m: &mut Object, sub: &str, def: Option<&AttributeDef>, value: &Value, label: &str) -> ScimResult<()> {
    let key = target::find_key(m, sub).unwrap_or_else(|| sub.to_owned());
    target::guard_immutable(def, m.get(&key), Some(value), label)?;
    m.insert(key, value.clone());
    Ok(())
}

/// Merges sub-attributes into a complex value (RFC 7644 §3.5.2.1/3: sub-attributes not
/// given are left unchanged); a `null` sub-attribute is removed.
fn merge_fields(slot: &mut Object, fields: Object, def: &AttributeDef, label: &str) -> ScimResult<()> {
    for (k, v) in fields {
        let sub_def = def.sub_attribute(&k);
        let key = target::find_key(slot, &k).or_else(|| sub_def.map(|d| d.name.clone())).unwrap_or(k);
        let new = (!v.is_null()).then_some(&v);
        target::guard_immutable(sub_def, slot.get(&key), new, &format!("{label}.{key}"))?;
        if v.is_null() {
            slot.shift_remove(&key);
        } else {
            slot.insert(key, v);
        }
    }
    Ok(())
}

fn remove_key(obj: &mut Object, key: &str, t: &Target, label: &str) -> ScimResult<()> {
    if let Some(old) = obj.get(key) {
        target::guard_required(t.def, label)?;
        target::guard_immutable(t.def, Some(old), None, label)?;
    }
    obj.shift_remove(key);
    Ok(())
}

/// `remove` of an attribute, of some of its values (a `value` list), or of a sub-attribute.
fn remove(res: &mut Object, t: &Target, given: Option<&Value>) -> ScimResult<()> {
    let label = t.label();
    let Some(obj) = target::container_existing(res, t.container.as_deref()) else {
        return Ok(());
    };
    let Some(key) = target::find_key(obj, &t.name) else {
        return Ok(());
    };
    match (&t.sub, given.filter(|v| !v.is_null())) {
        (None, Some(given)) if t.is_multi(obj.get(&key)) => {
            let items = target::elements(&t.element_def(), given, &label)?;
            let list = target::array_mut(obj, &key)?;
            multi::remove_values(list, &items);
            if list.is_empty() {
                remove_key(obj, &key, t, &label)?;
            }
        }
        (None, _) => remove_key(obj, &key, t, &label)?,
        (Some(sub), _) => match obj.get_mut(&key) {
            Some(Value::Array(list)) => {
                for element in list.iter_mut() {
                    if let Value::Object(m) = element {
                        remove_field(m, sub, t.sub_def, &label)?;
                    }
                }
                list.retain(|e| !e.as_object().is_some_and(Map::is_empty));
                if list.is_empty() {
                    remove_key(obj, &key, t, &label)?;
                }
            }
            Some(Value::Object(m)) => {
                remove_field(m, sub, t.sub_def, &label)?;
                if m.is_empty() {
                    remove_key(obj, &key, t, &label)?;
                }
            }
            _ => {}
        },
    }
    target::tidy(res, t.container.as_deref());
    Ok(())
}

fn remove_field(m: &mut Object, sub: &str, def: Option<&AttributeDef>, label: &str) -> ScimResult<()> {
    if let Some(key) = target::find_key(m, sub) {
        target::guard_required(def, label)?;
        target::guard_immutable(def, m.get(&key), None, label)?;
        m.shift_remove(&key);
    }
    Ok(())
}

/// The attribute of a filtered path, with the `.sub` after the filter.
///
/// # Errors
/// As [`Target::check_path`]; 400 `invalidPath` for a filter on a schema URN or on a
/// single-valued attribute.
fn filtered_target<'r>(
    attr: &AttrPath,
    sub: Option<&str>,
    rt: &'r ResourceType,
    res: &Object,
) -> ScimResult<Target<'r>> {
    let Location::Attr(t) = target::locate(attr, None, rt, res) else {
        return Err(ScimError::invalid_path(format!(
            "{attr} is a schema; a value filter selects elements of an attribute"
        )));
    };
    let t = t.with_sub(sub);
    t.check_path(true)?;
    if t.def.is_some_and(|d| !d.multi_valued) {
        return Err(ScimError::invalid_path(format!(
            "{} is single-valued; a value filter selects elements of a multi-valued attribute",
            t.name
        )));
    }
    Ok(t)
}

/// Removes the elements that any of `filters` selects (Okta's `members[value eq "…"]`).
fn remove_filtered(res: &mut Object, t: &Target, filters: &[&Filter]) -> ScimResult<()> {
    let label = t.label();
    let parent = t.element_def();
    let Some(obj) = target::container_existing(res, t.container.as_deref()) else {
        return Ok(());
    };
    let Some(key) = target::find_key(obj, &t.name) else {
        return Ok(());
    };
    let gone = match obj.get_mut(&key) {
        Some(Value::Array(list)) => {
            multi::remove_matching(list, filters, &parent);
            list.is_empty()
        }
        Some(single) => filters.iter().any(|f| f.matches_element(single, &parent)),
        None => false,
    };
    if gone {
        remove_key(obj, &key, t, &label)?;
    }
    target::tidy(res, t.container.as_deref());
    Ok(())
}

/// Removes sub-attribute `t.sub` from the elements `filter` selects.
fn remove_filtered_sub(res: &mut Object, t: &Target, filter: &Filter) -> ScimResult<()> {
    let (label, parent) = (t.label(), t.element_def());
    let Some(sub) = t.sub.as_deref() else {
        return remove_filtered(res, t, &[filter]);
    };
    let Some(obj) = target::container_existing(res, t.container.as_deref()) else {
        return Ok(());
    };
    let Some(key) = target::find_key(obj, &t.name) else {
        return Ok(());
    };
    if let Some(Value::Array(list)) = obj.get_mut(&key) {
        for element in list.iter_mut() {
            if !filter.matches_element(element, &parent) {
                continue;
            }
            if let Value::Object(m) = element {
                remove_field(m, sub, t.sub_def, &label)?;
            }
        }
        list.retain(|e| !e.as_object().is_some_and(Map::is_empty));
        if list.is_empty() {
            remove_key(obj, &key, t, &label)?;
        }
    }
    target::tidy(res, t.container.as_deref());
    Ok(())
}

/// `add`/`replace` through a value filter: sets `t.sub` on (or, without a sub-attribute,
/// merges the value into) every matching element. When nothing matches and the filter pins
/// sub-attributes with `eq` (`emails[type eq "work"]`), the element it describes is created;
/// otherwise the result is 400 `noTarget` (RFC 7644 §3.5.2.3).
fn set_filtered(res: &mut Object, t: &Target, filter: &Filter, kind: PatchOpKind, value: &Value) -> ScimResult<()> {
    let (label, parent) = (t.label(), t.element_def());
    let complex = parent.ty == AttrType::Complex;
    match &t.sub {
        Some(_) => target::check_scalar(t.sub_def, value, &label)?,
        None if complex => {
            target::complex_value(&parent, value, &label)?;
        }
        None if !target::is_scalar(value) => {
            return Err(ScimError::invalid_value(format!("{label} must be a single value")));
        }
        None => {}
    }
    let obj = target::container_mut(res, t.container.as_deref())?;
    let key = target::find_key(obj, &t.name).unwrap_or_else(|| t.name.clone());
    let list = target::array_mut(obj, &key)?;
    let mut matched: Vec<usize> =
        list.iter().enumerate().filter(|(_, e)| filter.matches_element(e, &parent)).map(|(i, _)| i).collect();
    if matched.is_empty() {
        let Some(pins) = multi::pinned(filter, &parent).filter(|_| complex) else {
            return Err(ScimError::no_target(format!(
                "no element of {} matches [{filter}] for {}",
                t.name,
                kind.as_str()
            )));
        };
        matched.push(list.len());
        list.push(Value::Object(pins));
    }
    for &i in &matched {
        let Some(element) = list.get_mut(i) else { continue };
        match (&t.sub, element) {
            (Some(sub), Value::Object(m)) => set_field(m, sub, t.sub_def, value, &label)?,
            (Some(_), _) => {}
            (None, Value::Object(m)) => {
                merge_fields(m, target::complex_value(&parent, value, &label)?, &parent, &label)?
            }
            (None, element) => *element = value.clone(),
        }
    }
    let winner = multi::last_primary(list, &matched);
    multi::settle_primary(list, winner);
    target::tidy(res, t.container.as_deref());
    Ok(())
}
