//! What Synchronize last read of Confluence's users: the person's current Confluence state
//! as rules modules see it between two Synchronizes.
//!
//! Only the memberships no app granted at the time are kept ("foreign": made by hand, or
//! by anything other than UserSync). The granted ones are the apps' decisions, which the
//! store already holds, so a person's current groups are their foreign groups plus every
//! app's grants, and a grant revoked since is not reported as current.

use std::sync::Arc;

use rusqlite::params;

/// One Confluence user as Synchronize read them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedUser {
    /// Lower-case, as Confluence compares usernames.
    pub username: Arc<str>,
    pub full_name: String,
    /// `None` where the Confluence version does not list e-mail addresses.
    pub email: Option<String>,
    /// `None` where Confluence does not say.
    pub active: Option<bool>,
    /// Memberships no app granted when they were read.
    pub foreign_groups: Vec<String>,
}

/// Replaces every observed user with `users` (a Synchronize read all of them).
pub(super) fn replace_all(tx: &rusqlite::Savepoint<'_>, users: &[Arc<ObservedUser>]) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM confluence_users", [])?;
    let at = crate::clock::now_rfc3339();
    let mut insert = tx.prepare_cached(
        "INSERT INTO confluence_users (username, full_name, email, active, foreign_groups, observed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for u in users {
        let groups = serde_json::to_string(&u.foreign_groups).unwrap_or_else(|_| "[]".into());
        insert.execute(params![&*u.username, u.full_name, u.email, u.active, groups, at])?;
    }
    Ok(())
}

/// Every observed user, for the snapshot.
pub(super) fn load(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<ObservedUser>> {
    let mut stmt = conn.prepare("SELECT username, full_name, email, active, foreign_groups FROM confluence_users")?;
    let rows = stmt.query_map([], |r| {
        let groups: String = r.get(4)?;
        Ok(ObservedUser {
            username: Arc::from(r.get::<_, String>(0)?),
            full_name: r.get(1)?,
            email: r.get(2)?,
            active: r.get(3)?,
            foreign_groups: serde_json::from_str(&groups).unwrap_or_default(),
        })
    })?;
    rows.collect()
}
