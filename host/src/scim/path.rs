//! Attribute paths (RFC 7644 §3.10).
//!
//! [`AttrPath`] is `[urn:...:]attr[.sub]` as the client wrote it; [`AttrPath::canonical`]
//! spells it the way stored resources do. [`split_value_path`] cuts the value-filter form
//! `attr[filter][.sub]` into its parts without reading the filter, for the modules that
//! do: PATCH paths (`patch::path`) and `attributes` projections (`project`).
//!
//! **Architecture invariant:** this module imports no other part of `scim` but errors and
//! schemas; filters build on it, never the other way round.

use std::fmt;

use super::error::{ScimError, ScimResult};
use super::schema::{ResolvedAttr, ResourceType};

/// `[urn:...:]attr[.sub]`, names in the case the client wrote them.
///
/// Valid by construction when built with [`AttrPath::parse`]: `name` and `sub` are
/// `ALPHA *(nameChar)` (RFC 7643 §2.1) or `$ref`, and `urn` starts with `urn:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// A path without URN or sub-attribute (no validation; for callers that already hold a
    /// valid name, such as the names in a schema).
    pub fn simple(name: impl Into<String>) -> Self {
        Self { urn: None, name: name.into(), sub: None }
    }

    /// Parses `[urn:...:]attr[.sub]`.
    ///
    /// With a URN, the attribute starts after the last `:` (so the dots of `2.0` in
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value` stay in
    /// the URN).
    ///
    /// # Errors
    ///
    /// 400 `invalidPath` when the path is empty, the URN is malformed, a name is not
    /// `ALPHA *(nameChar)` / `$ref`, or there is more than one `.`.
    pub fn parse(s: &str) -> ScimResult<AttrPath> {
        let invalid = |why: &str| ScimError::invalid_path(format!("invalid attribute path {s:?}: {why}"));
        let (urn, rest) = if has_urn_prefix(s) {
            let Some(colon) = s.rfind(':') else {
                return Err(invalid("missing attribute name after the schema URN"));
            };
            let urn = &s[..colon];
            if !is_valid_urn(urn) {
                return Err(invalid("malformed schema URN"));
            }
            (Some(urn.to_owned()), &s[colon + 1..])
        } else {
            (None, s)
        };
        let mut parts = rest.split('.');
        let name = parts.next().unwrap_or_default();
        let sub = parts.next();
        if parts.next().is_some() {
            return Err(invalid("at most one sub-attribute is allowed"));
        }
        if !is_valid_name(name) {
            return Err(invalid("an attribute name starts with a letter and contains letters, digits, '-' or '_'"));
        }
        if let Some(sub) = sub {
            if !is_valid_name(sub) {
                return Err(invalid("invalid sub-attribute name"));
            }
        }
        Ok(AttrPath { urn, name: name.to_owned(), sub: sub.map(str::to_owned) })
    }

    /// The canonical spelling against a resource type: the schema's URN (IdP aliases such as
    /// `urn:scim:schemas:extension:enterprise:1.0` replaced) and the schema's spelling of the
    /// names. Attributes not in any schema keep the client's spelling; a path without a URN
    /// does not gain one.
    pub fn canonical(&self, rt: &ResourceType) -> AttrPath {
        let urn = self.urn.as_deref().map(|u| rt.schema(u).map_or(u, |s| s.id.as_str()).to_owned());
        let Some(resolved) = resolve(rt, self.urn.as_deref(), &self.name) else {
            return AttrPath { urn, ..self.clone() };
        };
        let attr = resolved.attr;
        let sub = self.sub.as_deref().map(|s| attr.sub_attribute(s).map_or(s, |d| d.name.as_str()).to_owned());
        AttrPath { urn, name: attr.name.clone(), sub }
    }

    /// When the whole path names a schema of `rt` (a PATCH `path` of
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User` targets the extension
    /// object), returns that schema's canonical URN. [`AttrPath::parse`] reads such a path
    /// as attribute `User` of schema `urn:...:2.0`, which no schema defines.
    pub fn as_schema_urn<'r>(&self, rt: &'r ResourceType) -> Option<&'r str> {
        let urn = self.urn.as_deref()?;
        if self.sub.is_some() {
            return None;
        }
        rt.schema(&format!("{urn}:{}", self.name)).map(|s| s.id.as_str())
    }

    /// Is `name` (case-insensitively) the attribute this path starts at, with no URN or a URN
    /// `rt` resolves to the core schema?
    pub(crate) fn is_core_attr(&self, rt: &ResourceType, name: &str) -> bool {
        let urn_is_core = match self.urn.as_deref() {
            None => true,
            Some(u) => rt.schema(u).is_some_and(|s| s.id == rt.core.id),
        };
        urn_is_core && self.name.eq_ignore_ascii_case(name)
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// `attr[filter]rest` cut at its brackets: `(attr, filter, rest)`, with `rest` whatever
/// follows the `]` (`""` or `.sub` when well formed). `None` when `s` has no `[`.
///
/// # Errors
///
/// The `Err` holds why the brackets are malformed: an unterminated `[`, or a `[` inside
/// the filter (value filters do not nest).
pub(crate) fn split_value_path(s: &str) -> Option<Result<(&str, &str, &str), &'static str>> {
    let open = s.find('[')?;
    Some(match closing_bracket(s, open + 1) {
        Some(close) => Ok((&s[..open], &s[open + 1..close], &s[close + 1..])),
        None => Err("unterminated '['"),
    })
}

/// The index of the `]` that closes a value filter starting at `from`, skipping `]` inside
/// JSON strings. `None` if unterminated or if another `[` opens first (value filters do not
/// nest).
fn closing_bracket(s: &str, from: usize) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut in_string = false;
    let mut i = from;
    while i < bytes.len() {
        match (in_string, bytes[i]) {
            (true, b'\\') => i += 1,
            (true, b'"') => in_string = false,
            (false, b'"') => in_string = true,
            (false, b'[') => return None,
            (false, b']') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// [`ResourceType::resolve`], plus the common attributes (`id`, `externalId`, `meta`) when
/// they are qualified with the core schema's URN (`urn:...:core:2.0:User:id`): they belong
/// to no schema's attribute list, but RFC 7644 §3.10 lets clients qualify them that way.
pub(crate) fn resolve<'r>(rt: &'r ResourceType, urn: Option<&str>, name: &str) -> Option<ResolvedAttr<'r>> {
    rt.resolve(urn, name).or_else(|| {
        let urn_is_core = urn.and_then(|u| rt.schema(u)).is_some_and(|s| s.id == rt.core.id);
        urn_is_core.then(|| rt.resolve(None, name)).flatten().filter(|r| r.extension.is_none())
    })
}

pub(crate) fn has_urn_prefix(s: &str) -> bool {
    s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

/// `urn:` followed by non-empty `:`-separated segments of printable ASCII that cannot be
/// confused with filter syntax.
fn is_valid_urn(urn: &str) -> bool {
    let body = &urn[4.min(urn.len())..];
    !body.is_empty()
        && body.split(':').all(|seg| !seg.is_empty())
        && body.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'[' | b']' | b'(' | b')' | b'"'))
}

/// RFC 7643 §2.1: `ATTRNAME = ALPHA *(nameChar)`, `nameChar = "-" / "_" / DIGIT / ALPHA`,
/// plus `$ref` (which RFC 7643 uses for references itself).
pub(crate) fn is_valid_name(name: &str) -> bool {
    if name == "$ref" {
        return true;
    }
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::schema::{AppSchemas, ENTERPRISE_USER};

    fn path(urn: Option<&str>, name: &str, sub: Option<&str>) -> AttrPath {
        AttrPath { urn: urn.map(Into::into), name: name.into(), sub: sub.map(Into::into) }
    }

    #[test]
    fn attr_path_forms() {
        let cases: &[(&str, AttrPath)] = &[
            ("userName", path(None, "userName", None)),
            ("name.givenName", path(None, "name", Some("givenName"))),
            ("members.$ref", path(None, "members", Some("$ref"))),
            ("x509Certificates", path(None, "x509Certificates", None)),
            ("custom_attr-1", path(None, "custom_attr-1", None)),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
                path(Some(ENTERPRISE_USER), "manager", Some("value")),
            ),
            (
                "urn:ietf:params:scim:schemas:core:2.0:User:userName",
                path(Some("urn:ietf:params:scim:schemas:core:2.0:User"), "userName", None),
            ),
            ("URN:scim:schemas:core:1.0:emails", path(Some("URN:scim:schemas:core:1.0"), "emails", None)),
        ];
        for (input, expected) in cases {
            let parsed = AttrPath::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(&parsed, expected, "{input}");
            assert_eq!(parsed.to_string(), *input, "display round-trips");
        }
    }

    #[test]
    fn attr_path_errors() {
        for input in [
            "",
            ".",
            "name.",
            ".name",
            "a.b.c",
            "1abc",
            "user name",
            "emails[",
            "urn:",
            "urn:x",
            "urn::a",
            "urn:a::b",
            "na:me",
            "é",
            "a$ref",
            "$REF",
        ] {
            let err = AttrPath::parse(input).expect_err(input);
            assert_eq!(err.scim_type, Some(ScimType::InvalidPath), "{input}");
            assert_eq!(err.status, 400);
        }
    }

    #[test]
    fn canonical_spelling() {
        let s = AppSchemas::new(&[]);
        let cases = [
            ("USERNAME", "userName"),
            ("name.GIVENNAME", "name.givenName"),
            (
                "urn:scim:schemas:extension:enterprise:1.0:DEPARTMENT",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            ),
            ("urn:ietf:params:scim:schemas:core:2.0:user:ID", "urn:ietf:params:scim:schemas:core:2.0:User:id"),
            ("meta.lastmodified", "meta.lastModified"),
            ("employeenumber", "employeeNumber"),
            ("customThing.Sub", "customThing.Sub"),
            ("emails.Unknown", "emails.Unknown"),
            ("urn:example:Custom:Attr", "urn:example:Custom:Attr"),
        ];
        for (input, expected) in cases {
            let p = AttrPath::parse(input).unwrap();
            assert_eq!(p.canonical(&s.user).to_string(), expected, "{input}");
        }
    }

    #[test]
    fn schema_urn_paths() {
        let s = AppSchemas::new(&[]);
        let p = AttrPath::parse("urn:scim:schemas:extension:enterprise:2.0:user").unwrap();
        assert_eq!(p.as_schema_urn(&s.user), Some(ENTERPRISE_USER));
        assert_eq!(AttrPath::parse("userName").unwrap().as_schema_urn(&s.user), None);
    }
}
