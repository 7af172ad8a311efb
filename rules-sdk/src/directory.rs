//! The host's `find-user`: the Confluence user with a given username, as UserSync knows
//! them. Most modules use [`Input::confluence_user`](crate::Input::confluence_user), which
//! asks only when the username is not the input's own.
//!
//! On wasm32 this calls the host (capped at 64 calls per decision; the call past the cap
//! traps). Natively, for a module's unit tests, the answers come from a directory set per
//! thread with [`set_test_directory`], and [`test_lookups`] says what was asked.

use crate::ConfluenceUser;

/// The Confluence user named `username`, or `None` when Confluence has no such user.
pub fn find_user(username: &str) -> Option<ConfluenceUser> {
    #[cfg(target_arch = "wasm32")]
    {
        crate::bindings::usersync::rules::host::find_user(username)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        native::find_user(username)
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use native::{set_test_directory, test_lookups};

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::cell::RefCell;

    use crate::ConfluenceUser;

    #[derive(Default)]
    struct TestDirectory {
        users: Vec<ConfluenceUser>,
        lookups: Vec<String>,
    }

    thread_local! {
        static DIRECTORY: RefCell<TestDirectory> = RefCell::default();
    }

    /// Natively: the Confluence users [`find_user`](super::find_user) knows on this thread
    /// from now on (by `username`, ignoring ASCII case), replacing any set before, and
    /// forgets the look-ups made so far. Each test runs on its own thread, so tests do not
    /// see each other's directories.
    pub fn set_test_directory(users: impl IntoIterator<Item = ConfluenceUser>) {
        DIRECTORY.with_borrow_mut(|d| *d = TestDirectory { users: users.into_iter().collect(), lookups: Vec::new() });
    }

    /// Natively: the usernames [`find_user`](super::find_user) was asked about on this
    /// thread since the directory was last set, in order.
    pub fn test_lookups() -> Vec<String> {
        DIRECTORY.with_borrow(|d| d.lookups.clone())
    }

    pub(super) fn find_user(username: &str) -> Option<ConfluenceUser> {
        DIRECTORY.with_borrow_mut(|d| {
            d.lookups.push(username.to_owned());
            d.users.iter().find(|u| u.username.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(username))).cloned()
        })
    }
}
