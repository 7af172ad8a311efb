//! Building decisions: a [`GroupDecision`] without duplicates, an [`AttributeDecision`]
//! from the raw fields with Confluence's rules applied, and the three decisions together.
//!
//! A [`GroupDecision`] has grant semantics: `add` is the complete set of groups the app
//! wants the person in, every time (not a change); a group the app granted before and no
//! longer adds is revoked by the host; `remove` is for groups the app did not grant.

use crate::{
    is_usable_email, normalize_email, normalize_username, AttributeDecision, Decisions, GroupDecision, Input, Rules,
    UserMapping,
};

impl GroupDecision {
    /// Grants no group and removes none: the person keeps the groups others gave them, and
    /// loses the ones this app granted before.
    pub fn empty() -> Self {
        GroupDecision { add: Vec::new(), remove: Vec::new(), create: Vec::new() }
    }

    /// The same as [`empty`](Self::empty). The name is from contract 1.0.0, when `add` was
    /// read as a change; since 2.0.0 an empty decision revokes the app's earlier grants.
    #[deprecated(note = "since contract 2.0.0 this revokes the app's grants; use `GroupDecision::empty`")]
    pub fn unchanged() -> Self {
        Self::empty()
    }

    /// Wants the user in `group` (a Confluence group that exists), once. A blank name is
    /// ignored. Every decision lists every group the app wants: one left out is revoked if
    /// the app granted it.
    pub fn add_group(&mut self, group: impl Into<String>) {
        let group = group.into();
        if !group.trim().is_empty() && !self.add.contains(&group) {
            self.add.push(group);
        }
    }

    /// Adds the user to `group`, creating the group if Confluence does not have it yet.
    pub fn create_group(&mut self, group: impl Into<String>) {
        let group = group.into();
        if group.trim().is_empty() {
            return;
        }
        if !self.create.contains(&group) {
            self.create.push(group.clone());
        }
        self.add_group(group);
    }

    /// Takes the user out of `group`, once: for a group this app did not grant (one it
    /// granted is revoked by leaving it out of `add`).
    pub fn remove_group(&mut self, group: impl Into<String>) {
        let group = group.into();
        if !group.trim().is_empty() && !self.remove.contains(&group) {
            self.remove.push(group);
        }
    }
}

/// The raw material of a [`UserMapping`], before Confluence's rules are applied: see
/// [`UserFields::into_decision`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFields<'a> {
    /// The username as the identity provider sends it (normalised by `into_decision`).
    pub username: Option<&'a str>,
    /// The e-mail address as sent.
    pub email: Option<&'a str>,
    /// The full name; the username is used when there is none.
    pub full_name: Option<String>,
    /// Whether the Confluence user is active.
    pub active: bool,
}

impl UserFields<'_> {
    /// Provisions a user made of these fields, or rejects the person when Confluence could
    /// not take them.
    ///
    /// The username goes through [`normalize_username`], the e-mail address through
    /// [`normalize_email`]; the full name is trimmed and stripped of `<` and `>`, and falls
    /// back to the username when that leaves nothing or `anonymous` (Confluence refuses
    /// all three).
    ///
    /// Rejects with a reason starting `"no usable username"` when the username is missing,
    /// normalises to nothing, or is `anonymous` (reserved), and with one starting
    /// `"no usable e-mail address"` when the address is missing or malformed
    /// ([`is_usable_email`]).
    pub fn into_decision(self) -> AttributeDecision {
        let username = self.username.map(normalize_username).unwrap_or_default();
        if username.is_empty() {
            return AttributeDecision::Reject(match self.username {
                Some(raw) if !raw.trim().is_empty() => format!("no usable username: {raw:?} has no valid characters"),
                _ => "no usable username".into(),
            });
        }
        if username == "anonymous" {
            return AttributeDecision::Reject("no usable username: \"anonymous\" is reserved in Confluence".into());
        }
        let email = match self.email.map(normalize_email) {
            Some(e) if is_usable_email(&e) => e,
            Some(e) if !e.is_empty() => return AttributeDecision::Reject(format!("no usable e-mail address: {e:?}")),
            _ => return AttributeDecision::Reject("no usable e-mail address".into()),
        };
        let full_name = self
            .full_name
            .map(|n| n.replace(['<', '>'], "").trim().to_string())
            .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case("anonymous"))
            .unwrap_or_else(|| username.clone());
        AttributeDecision::Provision(UserMapping { username, full_name, email, active: self.active })
    }
}

impl Decisions {
    /// Runs `R`'s three decision methods natively, one after the other: what
    /// [`Rules::decide`] does by default, and what a module's tests compare against.
    pub fn of<R: Rules + ?Sized>(input: &Input) -> Self {
        Decisions {
            attributes: R::map_attributes(input),
            custom_fields: R::map_custom_fields(input),
            groups: R::map_groups(input),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(username: Option<&'a str>, email: Option<&'a str>, full_name: Option<&str>) -> UserFields<'a> {
        UserFields { username, email, full_name: full_name.map(Into::into), active: true }
    }

    fn provision(username: &str, full_name: &str, email: &str) -> AttributeDecision {
        AttributeDecision::Provision(UserMapping {
            username: username.into(),
            full_name: full_name.into(),
            email: email.into(),
            active: true,
        })
    }

    #[test]
    fn user_fields_become_a_decision() {
        let reject = |r: &str| AttributeDecision::Reject(r.into());
        let cases = [
            (fields(Some("Ada L"), Some(" Ada@X.org"), Some(" <Ada> ")), provision("ada_l", "Ada", "ada@x.org")),
            (fields(Some("ada"), Some("ada@x.org"), None), provision("ada", "ada", "ada@x.org")),
            (fields(Some("ada"), Some("ada@x.org"), Some("<>")), provision("ada", "ada", "ada@x.org")),
            (fields(None, Some("ada@x.org"), None), reject("no usable username")),
            (fields(Some("  "), Some("ada@x.org"), None), reject("no usable username")),
            (
                fields(Some("'+'"), Some("ada@x.org"), None),
                reject("no usable username: \"'+'\" has no valid characters"),
            ),
            (
                fields(Some("Anonymous"), Some("ada@x.org"), None),
                reject("no usable username: \"anonymous\" is reserved in Confluence"),
            ),
            (fields(Some("ada"), Some("ada@x.org"), Some("ANONYMOUS")), provision("ada", "ada", "ada@x.org")),
            (fields(Some("ada"), None, None), reject("no usable e-mail address")),
            (fields(Some("ada"), Some(" "), None), reject("no usable e-mail address")),
            (fields(Some("ada"), Some("ada at x"), None), reject("no usable e-mail address: \"ada at x\"")),
        ];
        for (f, expected) in cases {
            assert_eq!(f.clone().into_decision(), expected, "{f:?}");
        }
    }

    #[test]
    fn group_decisions_hold_no_duplicates() {
        let mut g = GroupDecision::empty();
        g.add_group("a");
        g.create_group("b");
        g.add_group("b");
        g.create_group("a");
        g.add_group(" ");
        g.remove_group("c");
        g.remove_group("c");
        assert_eq!(
            (g.add, g.create, g.remove),
            (vec!["a".to_string(), "b".into()], vec!["b".to_string(), "a".into()], vec!["c".to_string()])
        );
    }
}
