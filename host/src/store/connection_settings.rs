//! The Confluence connection as set in the console (`confluence_settings`, one row): the
//! base URL and the sign-in, secret included. What the secret means is the admin side's
//! business; here it is text that is never listed or logged.

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;

/// The stored connection.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionRow {
    pub url: String,
    /// `basic` (username and password) or `token` (a personal access token).
    pub kind: String,
    pub username: Option<String>,
    pub secret: String,
    pub updated_at: String,
    pub updated_by: String,
}

impl std::fmt::Debug for ConnectionRow {
    /// Never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionRow")
            .field("url", &self.url)
            .field("kind", &self.kind)
            .field("username", &self.username)
            .field("updated_at", &self.updated_at)
            .field("updated_by", &self.updated_by)
            .finish_non_exhaustive()
    }
}

/// The stored connection, if the console ever saved one.
///
/// # Errors
/// The database fails.
pub fn get(conn: &Connection) -> Result<Option<ConnectionRow>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT url, kind, username, secret, updated_at, updated_by FROM confluence_settings WHERE id = 1",
            [],
            |r| {
                Ok(ConnectionRow {
                    url: r.get(0)?,
                    kind: r.get(1)?,
                    username: r.get(2)?,
                    secret: r.get(3)?,
                    updated_at: r.get(4)?,
                    updated_by: r.get(5)?,
                })
            },
        )
        .optional()?)
}

/// Saves the connection (replacing the one stored).
///
/// # Errors
/// The database fails.
pub fn put(conn: &Connection, row: &ConnectionRow) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR REPLACE INTO confluence_settings (id, url, kind, username, secret, updated_at, updated_by) \
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)",
        params![row.url, row.kind, row.username, row.secret, row.updated_at, row.updated_by],
    )?;
    Ok(())
}
