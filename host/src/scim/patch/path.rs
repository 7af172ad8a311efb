//! PATCH paths (RFC 7644 §3.5.2 `PATH = attrPath / valuePath [subAttr]`): an attribute
//! path, or a value filter selecting elements of a multi-valued attribute.

use crate::scim::error::{ScimError, ScimResult};
use crate::scim::filter::Filter;
use crate::scim::path::{is_valid_name, split_value_path, AttrPath};

/// A PATCH path (RFC 7644 §3.5.2 `PATH = attrPath / valuePath [subAttr]`).
#[derive(Debug, Clone, PartialEq)]
pub enum PatchPath {
    /// `name.givenName`, `members`, `urn:...:User:employeeNumber`.
    Attr(AttrPath),
    /// `emails[type eq "work"].value`, `members[value eq "id"]`. `attr.sub` is always `None`;
    /// the filter's paths are relative to one element of `attr`.
    Filtered { attr: AttrPath, filter: Filter, sub: Option<String> },
}

impl PatchPath {
    /// Parses a PATCH operation's `path`. Surrounding whitespace is ignored.
    ///
    /// # Errors
    ///
    /// 400 `invalidPath` for a malformed attribute path, an unterminated or malformed
    /// value filter (the filter's own error is quoted in the detail), a sub-attribute before
    /// the `[`, or anything but `.sub` after the `]`.
    pub fn parse(s: &str) -> ScimResult<PatchPath> {
        let s = s.trim();
        let invalid = |why: &str| ScimError::invalid_path(format!("invalid PATCH path {s:?}: {why}"));
        let Some(parts) = split_value_path(s) else {
            return AttrPath::parse(s).map(PatchPath::Attr);
        };
        let (attr, filter, rest) = parts.map_err(invalid)?;
        let attr = AttrPath::parse(attr)?;
        if attr.sub.is_some() {
            return Err(invalid("a value filter applies to an attribute, not a sub-attribute"));
        }
        let filter =
            Filter::parse_value_filter(filter).map_err(|e| invalid(&format!("in the value filter: {}", e.detail)))?;
        let sub = if rest.is_empty() {
            None
        } else {
            let sub = rest.strip_prefix('.').ok_or_else(|| invalid("only '.subAttribute' may follow ']'"))?;
            if !is_valid_name(sub) {
                return Err(invalid("invalid sub-attribute name after ']'"));
            }
            Some(sub.to_owned())
        };
        Ok(PatchPath::Filtered { attr, filter, sub })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::filter::{CompValue, CompareOp};
    use crate::scim::schema::ENTERPRISE_USER;

    fn path(urn: Option<&str>, name: &str, sub: Option<&str>) -> AttrPath {
        AttrPath { urn: urn.map(Into::into), name: name.into(), sub: sub.map(Into::into) }
    }

    #[test]
    fn patch_path_forms() {
        assert_eq!(PatchPath::parse("members").unwrap(), PatchPath::Attr(path(None, "members", None)));
        assert_eq!(
            PatchPath::parse(" name.givenName ").unwrap(),
            PatchPath::Attr(path(None, "name", Some("givenName")))
        );
        assert_eq!(
            PatchPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber").unwrap(),
            PatchPath::Attr(path(Some(ENTERPRISE_USER), "employeeNumber", None))
        );
        let eq = |name: &str, v: &str| Filter::Compare(AttrPath::simple(name), CompareOp::Eq, CompValue::Str(v.into()));
        assert_eq!(
            PatchPath::parse(r#"emails[type eq "work"].value"#).unwrap(),
            PatchPath::Filtered {
                attr: path(None, "emails", None),
                filter: eq("type", "work"),
                sub: Some("value".into())
            }
        );
        assert_eq!(
            PatchPath::parse(r#"members[value eq "a]b"]"#).unwrap(),
            PatchPath::Filtered { attr: path(None, "members", None), filter: eq("value", "a]b"), sub: None }
        );
        assert_eq!(
            PatchPath::parse(r#"addresses[type eq "work" and primary eq true].streetAddress"#).unwrap(),
            PatchPath::Filtered {
                attr: path(None, "addresses", None),
                filter: Filter::And(
                    Box::new(eq("type", "work")),
                    Box::new(Filter::Compare(AttrPath::simple("primary"), CompareOp::Eq, CompValue::Bool(true)))
                ),
                sub: Some("streetAddress".into())
            }
        );
    }

    #[test]
    fn patch_path_errors() {
        for input in [
            "",
            "emails[",
            r#"emails[type eq "work""#,
            r#"emails[type eq "work"]value"#,
            r#"emails[type eq "work"].a.b"#,
            r#"emails[type eq "work"]]"#,
            r#"emails.value[type eq "work"]"#,
            r#"emails[type[value eq "x"]]"#,
            r#"emails[type eq]"#,
            r#"emails[]"#,
            r#"[type eq "work"]"#,
        ] {
            let err = PatchPath::parse(input).expect_err(input);
            assert_eq!(err.scim_type, Some(ScimType::InvalidPath), "{input}");
        }
    }
}
