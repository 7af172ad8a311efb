//! What Confluence would refuse, checked before a decision is accepted
//! (`shared/reference/confluence-dc-rest.md` §1.1, §4.2, §4.3): a module that returns such a
//! decision fails it, rather than the Confluence call failing later.

use super::types::{AttributeDecision, Decisions};

const FORBIDDEN_IN_NAMES: &[char] = &['\\', ',', '+', '<', '>', '\'', '"'];

/// # Errors
/// A description of the first field Confluence would refuse.
pub fn decisions(d: &Decisions) -> Result<(), String> {
    if let AttributeDecision::Provision(m) = &d.attributes {
        username(&m.username)?;
        email(&m.email)?;
        full_name(&m.full_name)?;
    }
    for g in d.groups.add.iter().chain(&d.groups.remove).chain(&d.groups.create) {
        group(g)?;
    }
    if let Some(g) = d.groups.create.iter().find(|g| !d.groups.add.contains(g)) {
        return Err(format!("group {g:?} is in create but not in add"));
    }
    if let Some(f) = d.custom_fields.iter().find(|f| f.name.trim().is_empty()) {
        return Err(format!("a custom field has no name (value {:?})", f.value));
    }
    Ok(())
}

/// A Confluence username: non-empty, at most 255 characters, lower-case, no whitespace or
/// control characters, none of `\ , + < > ' "`, and not `anonymous`.
///
/// # Errors
/// Says which rule the name breaks.
pub fn username(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 255 {
        return Err(format!("username {name:?} must be 1 to 255 characters"));
    }
    if name != name.to_lowercase() {
        return Err(format!("username {name:?} must be lower-case"));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control() || FORBIDDEN_IN_NAMES.contains(&c)) {
        return Err(format!("username {name:?} contains whitespace or one of \\ , + < > ' \""));
    }
    if name == "anonymous" {
        return Err("username \"anonymous\" is reserved".into());
    }
    Ok(())
}

fn email(value: &str) -> Result<(), String> {
    let ok = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@') && !value.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("e-mail {value:?} is not a valid address"))
    }
}

fn full_name(value: &str) -> Result<(), String> {
    if value.trim().is_empty() || value.contains(['<', '>']) || value.eq_ignore_ascii_case("anonymous") {
        return Err(format!("full name {value:?} must be non-blank, without < or >, and not \"anonymous\""));
    }
    Ok(())
}

fn group(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.chars().count() > 255
        || name != name.to_lowercase()
        || name.chars().any(char::is_control)
    {
        return Err(format!("group {name:?} must be 1 to 255 lower-case characters without control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confluence_name_rules() {
        for ok in ["ada", "ada.lovelace@example.com", "a-b_c"] {
            assert!(username(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Ada", "a b", "a,b", "a+b", "a<b", "a'b", "a\"b", "a\\b", "anonymous", &"a".repeat(256)] {
            assert!(username(bad).is_err(), "{bad}");
        }
        assert!(email("a@b").is_ok());
        for bad in ["", "ab", "@b", "a@", "a b@c", "a@b@c"] {
            assert!(email(bad).is_err(), "{bad}");
        }
        assert!(full_name("Ada Lovelace").is_ok());
        for bad in ["", "  ", "<script>", "Anonymous"] {
            assert!(full_name(bad).is_err(), "{bad}");
        }
        assert!(group("confluence-users").is_ok());
        assert!(group("Admins").is_err());
    }
}
