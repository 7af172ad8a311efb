//! What Confluence holds: the input's record of the person ([`Input::confluence`]) and
//! look-ups of other usernames through the host ([`Input::confluence_user`],
//! [`directory::find_user`](crate::directory::find_user)), with builders for tests.
//!
//! The host answers from what UserSync knows of Confluence (memory, no network). A module
//! that decides a username other than the one in `input.confluence` (because a setting
//! changed how usernames are made, say) asks about that username, so it knows whether it
//! is creating a user or updating one, and what groups that user is in.

use crate::{ConfluenceUser, Input};

impl ConfluenceUser {
    /// A user Confluence does not have: `exists` false, nothing else known.
    pub fn unknown() -> Self {
        ConfluenceUser {
            exists: false,
            username: None,
            full_name: None,
            email: None,
            active: None,
            groups: Vec::new(),
            granted: Vec::new(),
        }
    }

    /// A user Confluence has, as `username`, with nothing else known yet (add the rest with
    /// [`with_profile`](Self::with_profile), [`with_groups`](Self::with_groups),
    /// [`with_granted`](Self::with_granted)).
    pub fn existing(username: &str) -> Self {
        ConfluenceUser { exists: true, username: Some(username.into()), ..Self::unknown() }
    }

    /// This user with their current full name, e-mail address and state.
    #[must_use]
    pub fn with_profile(mut self, full_name: &str, email: &str, active: bool) -> Self {
        self.full_name = Some(full_name.into());
        self.email = Some(email.into());
        self.active = Some(active);
        self
    }

    /// This user in these Confluence groups (whoever put them there).
    #[must_use]
    pub fn with_groups(mut self, groups: &[&str]) -> Self {
        self.groups = groups.iter().map(|g| (*g).into()).collect();
        self
    }

    /// This user holding these groups by the app's grant (each is also added to `groups`).
    #[must_use]
    pub fn with_granted(mut self, granted: &[&str]) -> Self {
        for group in granted {
            if !self.groups.iter().any(|g| g == group) {
                self.groups.push((*group).into());
            }
        }
        self.granted = granted.iter().map(|g| (*g).into()).collect();
        self
    }

    /// Whether this app granted the user `group` (and still holds that grant). Group names
    /// compare ignoring case.
    pub fn holds_grant(&self, group: &str) -> bool {
        self.granted.iter().any(|g| g.to_lowercase() == group.to_lowercase())
    }
}

impl Input {
    /// The Confluence user `username` names, as UserSync knows them: `self.confluence`
    /// when it is that user (usernames compare ignoring ASCII case), else the host's answer
    /// to `find-user`, else [`ConfluenceUser::unknown`] (Confluence has no such user; also
    /// for a blank username, without asking).
    ///
    /// The host caps `find-user` at 64 calls per decision (the call past the cap traps):
    /// look up the usernames a decision considers, not a list of candidates. Natively the
    /// answers come from [`directory::set_test_directory`](crate::directory::set_test_directory).
    pub fn confluence_user(&self, username: &str) -> ConfluenceUser {
        let username = username.trim();
        if self.confluence.username.as_deref().is_some_and(|u| u.trim().eq_ignore_ascii_case(username)) {
            return self.confluence.clone();
        }
        if username.is_empty() {
            return ConfluenceUser::unknown();
        }
        match crate::directory::find_user(username) {
            Some(user) => ConfluenceUser { exists: true, ..user },
            None => ConfluenceUser::unknown(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{directory, ConfluenceUser, Input, Person, Source};

    #[test]
    fn the_input_record_answers_for_its_own_username_and_the_host_for_others() {
        let input = Input::new(Person::new(Source::Scim, "ada")).with_confluence(
            ConfluenceUser::existing("ada").with_profile("Ada", "ada@x.org", true).with_granted(&["staff"]),
        );
        let bob = ConfluenceUser::existing("bob").with_groups(&["writers"]);
        directory::set_test_directory([
            bob.clone(),
            ConfluenceUser { exists: false, ..ConfluenceUser::existing("eve") },
        ]);

        assert_eq!(input.confluence_user(" ADA "), input.confluence, "no look-up for the input's own user");
        assert!(directory::test_lookups().is_empty());
        assert_eq!(input.confluence_user("Bob"), bob, "looked up, ignoring case");
        let eve = input.confluence_user("eve");
        assert!(eve.exists, "a user the host finds exists, whatever the record says");
        assert_eq!(input.confluence_user("carol"), ConfluenceUser::unknown());
        assert_eq!(input.confluence_user("  "), ConfluenceUser::unknown());
        assert_eq!(directory::test_lookups(), ["Bob", "eve", "carol"], "one host call per other username");

        assert!(input.confluence.holds_grant("Staff"));
        assert!(!input.confluence.holds_grant("writers"));
        assert_eq!(input.confluence.groups, ["staff"], "a grant is a membership too");
    }
}
