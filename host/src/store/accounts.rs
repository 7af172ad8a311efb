//! The console's administrator accounts and sessions. Passwords arrive here already
//! hashed (argon2id, by `admin::accounts`); sessions are kept by the SHA-256 of their secret.

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;

/// An administrator account, as listed (the hash stays inside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub username: String,
    pub role: String,
    pub created: String,
    pub disabled: Option<String>,
}

/// A live session and its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub username: String,
    pub role: String,
    pub csrf: String,
    pub seen: i64,
    pub expires: i64,
}

/// Creates an account, or with `replace` sets the password and role of an existing one.
/// Returns false when the account exists and `replace` is off.
///
/// # Errors
/// The database fails.
pub fn put_account(
    conn: &Connection,
    username: &str,
    password_phc: &str,
    role: &str,
    replace: bool,
) -> Result<bool, StoreError> {
    let n = if replace {
        conn.execute(
            "INSERT INTO admin_accounts (username, password, role, created) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (username) DO UPDATE SET password = excluded.password, role = excluded.role, disabled = NULL",
            params![username, password_phc, role, crate::clock::now_rfc3339()],
        )?
    } else {
        conn.execute(
            "INSERT OR IGNORE INTO admin_accounts (username, password, role, created) VALUES (?1, ?2, ?3, ?4)",
            params![username, password_phc, role, crate::clock::now_rfc3339()],
        )?
    };
    if replace {
        // A new password ends the sessions made with the old one.
        conn.execute("DELETE FROM admin_sessions WHERE username = ?1", [username])?;
    }
    Ok(n == 1)
}

/// The password hash and role of an enabled account.
///
/// # Errors
/// The database fails.
pub fn credentials(conn: &Connection, username: &str) -> Result<Option<(String, String)>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT password, role FROM admin_accounts WHERE username = ?1 AND disabled IS NULL",
            [username],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Every account, by name.
///
/// # Errors
/// The database fails.
pub fn accounts(conn: &Connection) -> Result<Vec<AccountRow>, StoreError> {
    let mut stmt = conn.prepare("SELECT username, role, created, disabled FROM admin_accounts ORDER BY username")?;
    let rows = stmt.query_map([], |r| {
        Ok(AccountRow { username: r.get(0)?, role: r.get(1)?, created: r.get(2)?, disabled: r.get(3)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Disables an account and ends its sessions. Returns false if there is no such account.
///
/// # Errors
/// The database fails.
pub fn disable(conn: &Connection, username: &str) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE admin_accounts SET disabled = ?2 WHERE username = ?1 AND disabled IS NULL",
        params![username, crate::clock::now_rfc3339()],
    )?;
    conn.execute("DELETE FROM admin_sessions WHERE username = ?1", [username])?;
    Ok(n == 1)
}

/// Stores a new session.
///
/// # Errors
/// The database fails.
pub fn open_session(
    conn: &Connection,
    id_sha256: &[u8; 32],
    username: &str,
    csrf: &str,
    now: i64,
    expires: i64,
    address: &str,
) -> Result<(), StoreError> {
    // Sessions past their end go whenever a new one starts.
    conn.execute("DELETE FROM admin_sessions WHERE expires <= ?1", [now])?;
    conn.execute(
        "INSERT INTO admin_sessions (id_sha256, username, csrf, created, seen, expires, address)
         VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)",
        params![&id_sha256[..], username, csrf, now, expires, address],
    )?;
    Ok(())
}

/// The session with this id, if it is live (not expired, not idle since before
/// `idle_since`, its account enabled); marks it seen at `now`.
///
/// # Errors
/// The database fails.
pub fn session(
    conn: &Connection,
    id_sha256: &[u8; 32],
    now: i64,
    idle_since: i64,
) -> Result<Option<SessionRow>, StoreError> {
    let row = conn
        .query_row(
            "SELECT s.username, a.role, s.csrf, s.seen, s.expires FROM admin_sessions s
             JOIN admin_accounts a ON a.username = s.username
             WHERE s.id_sha256 = ?1 AND s.expires > ?2 AND s.seen >= ?3 AND a.disabled IS NULL",
            params![&id_sha256[..], now, idle_since],
            |r| {
                Ok(SessionRow {
                    username: r.get(0)?,
                    role: r.get(1)?,
                    csrf: r.get(2)?,
                    seen: r.get(3)?,
                    expires: r.get(4)?,
                })
            },
        )
        .optional()?;
    // Written at most once a minute per session: a page load is several requests.
    if row.as_ref().is_some_and(|s| now - s.seen >= 60) {
        conn.execute("UPDATE admin_sessions SET seen = ?2 WHERE id_sha256 = ?1", params![&id_sha256[..], now])?;
    }
    Ok(row)
}

/// Ends a session.
///
/// # Errors
/// The database fails.
pub fn close_session(conn: &Connection, id_sha256: &[u8; 32]) -> Result<(), StoreError> {
    conn.execute("DELETE FROM admin_sessions WHERE id_sha256 = ?1", [&id_sha256[..]])?;
    Ok(())
}
