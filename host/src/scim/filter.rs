//! SCIM filters (RFC 7644 §3.4.2.2) and sorting (§3.4.2.3): the parsed form, semantic
//! validation against a resource type, evaluation on canonical resources, the index hint
//! the store uses, and sort keys.
//!
//! The parts live in submodules: `parse` (grammar and bounds), `eval` (matching and
//! validation), `sort` (sort keys). This module holds the types and the public API.
//!
//! Leniency follows what identity providers actually send: operators and keywords in any
//! case, unquoted string values (Microsoft Entra), and the value-path-with-sub-attribute
//! form `emails[type eq "work"].value eq "x"`.

use std::fmt;

use serde_json::Value;

use super::error::ScimResult;
use super::path::AttrPath;
use super::schema::{AttributeDef, ResourceType};

mod eval;
mod parse;
mod sample;
mod sort;
#[cfg(test)]
mod tests;

pub use parse::{MAX_COMPARISONS, MAX_DEPTH, MAX_LEN};
pub use sort::{sort_key, SortKey};

/// A comparison operator (RFC 7644 §3.4.2.2, Table 3); `pr` is [`Filter::Present`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    /// Parses an operator in any case (`eq`, `EQ`, `Eq`).
    pub fn parse(s: &str) -> Option<Self> {
        const OPS: [(&str, CompareOp); 9] = [
            ("eq", CompareOp::Eq),
            ("ne", CompareOp::Ne),
            ("co", CompareOp::Co),
            ("sw", CompareOp::Sw),
            ("ew", CompareOp::Ew),
            ("gt", CompareOp::Gt),
            ("ge", CompareOp::Ge),
            ("lt", CompareOp::Lt),
            ("le", CompareOp::Le),
        ];
        OPS.iter().find(|(name, _)| name.eq_ignore_ascii_case(s)).map(|(_, op)| *op)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// `gt`, `ge`, `lt`, `le`.
    pub fn is_ordering(self) -> bool {
        matches!(self, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le)
    }

    /// `co`, `sw`, `ew`.
    pub fn is_substring(self) -> bool {
        matches!(self, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value on the right of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Str(String),
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Null => f.write_str("null"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Number(n) => write!(f, "{n}"),
            CompValue::Str(s) => write!(f, "{}", Value::String(s.clone())),
        }
    }
}

/// A parsed filter. Paths are as the client wrote them; evaluation resolves them
/// case-insensitively against the resource type.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Present(AttrPath),
    Compare(AttrPath, CompareOp, CompValue),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work" and value co "@x"]`: the inner filter's paths are relative to
    /// one element.
    ValuePath(AttrPath, Box<Filter>),
}

/// The attributes the store indexes, for [`Filter::index_lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexedAttr {
    Id,
    UserName,
    ExternalId,
    DisplayName,
}

impl Filter {
    /// Parses a filter with the full RFC 7644 §3.4.2.2 grammar: `and`/`or`/`not` and the
    /// operators in any case, precedence `not` > `and` > `or`, parentheses, value paths,
    /// JSON string/number/boolean/null values and unquoted string values.
    ///
    /// # Errors
    ///
    /// 400 `invalidFilter` for bad syntax, and for input longer than [`MAX_LEN`] bytes,
    /// nested deeper than [`MAX_DEPTH`], or with more than [`MAX_COMPARISONS`] attribute
    /// expressions. Parsing is linear in the input and never recurses past [`MAX_DEPTH`].
    pub fn parse(input: &str) -> ScimResult<Filter> {
        parse::parse(input, false)
    }

    /// Parses the inside of a value path (`valFilter`, the text between `[` and `]`), as
    /// PATCH paths need. Same rules as [`Filter::parse`], except that value paths may not
    /// nest.
    ///
    /// # Errors
    ///
    /// 400 `invalidFilter`, as [`Filter::parse`].
    pub fn parse_value_filter(input: &str) -> ScimResult<Filter> {
        parse::parse(input, true)
    }

    /// Semantic check against a resource type: `gt`/`ge`/`lt`/`le` on boolean or binary
    /// attributes, `co`/`sw`/`ew` on anything but strings and references, ordering or
    /// substring operators with `null`/boolean values, comparisons on a complex attribute
    /// without a `value` sub-attribute, sub-attributes of simple attributes, and value
    /// paths on single-valued simple attributes are errors. Unknown attributes are allowed
    /// (identity providers send custom attributes that are stored verbatim).
    ///
    /// # Errors
    ///
    /// 400 `invalidFilter` naming the offending attribute.
    pub fn validate(&self, rt: &ResourceType) -> ScimResult<()> {
        eval::validate(self, rt)
    }

    /// Does this whole resource (canonical JSON: core attributes top-level, extension
    /// attributes under the extension URN key) match?
    pub fn matches(&self, resource: &Value, rt: &ResourceType) -> bool {
        eval::matches(self, resource, rt)
    }

    /// Does one element of the multi-valued complex attribute `parent` match? Used for value
    /// paths, and by PATCH to select elements. A path called `value` on a non-object element
    /// (a multi-valued simple attribute) refers to the element itself.
    pub fn matches_element(&self, element: &Value, parent: &AttributeDef) -> bool {
        eval::matches_element(self, element, parent)
    }

    /// If the filter is (or is an `and` containing) `<attr> eq "<string>"` on `id`,
    /// `userName`, `externalId` (users and groups) or `displayName` (groups), returns it so
    /// the store can use its index. The caller still evaluates the full filter on the
    /// candidates, and the index must compare as the attribute's `caseExact` says
    /// (`userName` and `displayName` case-insensitively). Numeric unquoted values
    /// (`externalId eq 12345`) give no hint; a full scan still finds them.
    pub fn index_lookup(&self, rt: &ResourceType) -> Option<(IndexedAttr, &str)> {
        use super::schema::ResourceKind;
        match self {
            Filter::Compare(path, CompareOp::Eq, CompValue::Str(value)) if path.sub.is_none() => {
                let candidates: &[(&str, IndexedAttr)] = match rt.kind {
                    ResourceKind::User => &[
                        ("id", IndexedAttr::Id),
                        ("userName", IndexedAttr::UserName),
                        ("externalId", IndexedAttr::ExternalId),
                    ],
                    ResourceKind::Group => &[
                        ("id", IndexedAttr::Id),
                        ("externalId", IndexedAttr::ExternalId),
                        ("displayName", IndexedAttr::DisplayName),
                    ],
                };
                candidates.iter().find(|(name, _)| path.is_core_attr(rt, name)).map(|(_, attr)| (*attr, value.as_str()))
            }
            Filter::And(a, b) => a.index_lookup(rt).or_else(|| b.index_lookup(rt)),
            _ => None,
        }
    }

    /// True when the index of [`Filter::index_lookup`] answers the whole filter, so its
    /// candidates need not be parsed and evaluated: the filter is that one `eq`, and the
    /// index compares as the attribute does. `id` and `externalId` are keyed by the stored
    /// value itself, so every candidate is equal to the filter's value whatever the
    /// attribute's `caseExact`; `userName` and `displayName` are keyed lower-cased, which
    /// is the filter's comparison only while the attribute is not `caseExact`.
    pub fn index_decides(&self, rt: &ResourceType) -> bool {
        let Filter::Compare(path, CompareOp::Eq, _) = self else { return false };
        match self.index_lookup(rt) {
            Some((IndexedAttr::Id | IndexedAttr::ExternalId, _)) => true,
            Some((IndexedAttr::UserName | IndexedAttr::DisplayName, _)) => {
                super::path::resolve(rt, path.urn.as_deref(), &path.name).is_some_and(|r| !r.attr.case_exact)
            }
            None => false,
        }
    }
}

/// Prints the filter so that [`Filter::parse`] reads back the same tree: parentheses only
/// where the tree needs them, strings JSON-quoted.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Present(p) => write!(f, "{p} pr"),
            Filter::Compare(p, op, v) => write!(f, "{p} {op} {v}"),
            Filter::And(a, b) => {
                write_operand(f, a, matches!(**a, Filter::Or(..)))?;
                f.write_str(" and ")?;
                write_operand(f, b, matches!(**b, Filter::Or(..) | Filter::And(..)))
            }
            Filter::Or(a, b) => {
                write_operand(f, a, false)?;
                f.write_str(" or ")?;
                write_operand(f, b, matches!(**b, Filter::Or(..)))
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath(p, inner) => write!(f, "{p}[{inner}]"),
        }
    }
}

fn write_operand(f: &mut fmt::Formatter<'_>, filter: &Filter, parens: bool) -> fmt::Result {
    if parens {
        write!(f, "({filter})")
    } else {
        write!(f, "{filter}")
    }
}

/// Entry point shared by the fuzz target and the corpus test: parses arbitrary bytes as a
/// filter and, if it parses, validates it and evaluates it against a fixed sample user, and
/// checks that printing and re-parsing gives the same filter. Must never panic (except on a
/// broken invariant, which is what the fuzzer is looking for).
pub fn fuzz_one(data: &[u8]) {
    eval::fuzz_one(data);
}
