//! Apps created through the admin API and the console (`apps` table): each app's
//! definition as JSON, with a version that every change raises. What a definition means is
//! the admin side's business; here it is text and a version.

use rusqlite::{params, Connection, OptionalExtension};

use super::{Conflict, StoreError};

/// One stored app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRecord {
    pub name: String,
    /// Creation order (precedence after the configuration file's apps).
    pub position: i64,
    /// The app as JSON, in the shape of a `[[apps]]` entry.
    pub definition: String,
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
    /// The administrator who made the latest change.
    pub updated_by: String,
}

/// Every stored app, in creation order.
///
/// # Errors
/// The database fails.
pub fn list(conn: &Connection) -> Result<Vec<AppRecord>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT name, position, definition, version, created_at, updated_at, updated_by FROM apps ORDER BY position",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(AppRecord {
            name: r.get(0)?,
            position: r.get(1)?,
            definition: r.get(2)?,
            version: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
            created_at: r.get(4)?,
            updated_at: r.get(5)?,
            updated_by: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The stored version of `name`, `None` when no such app is stored.
fn version_of(tx: &Connection, name: &str) -> Result<Option<u64>, StoreError> {
    let v: Option<i64> = tx
        .prepare_cached("SELECT version FROM apps WHERE name = ?1 COLLATE NOCASE")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    Ok(v.map(|v| u64::try_from(v).unwrap_or(0)))
}

/// Writes (`record: Some`) or removes (`None`) the app `name`, if it is at the version
/// the caller read (`expect: None`: it must not exist yet). App names are unique ignoring
/// case, as in the configuration file.
pub(crate) fn put(
    tx: &Connection,
    name: &str,
    record: Option<&AppRecord>,
    expect: Option<u64>,
) -> Result<Result<(), Conflict>, StoreError> {
    let current = version_of(tx, name)?;
    if current != expect {
        return Ok(Err(Conflict::AppChanged { name: name.to_owned(), version: current }));
    }
    match (record, current) {
        (Some(r), None) => {
            tx.prepare_cached(
                "INSERT INTO apps (name, position, definition, version, created_at, updated_at, updated_by) \
                 VALUES (?1, COALESCE((SELECT MAX(position) FROM apps), 0) + 1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                r.name,
                r.definition,
                i64::try_from(r.version).unwrap_or(i64::MAX),
                r.created_at,
                r.updated_at,
                r.updated_by
            ])?;
        }
        (Some(r), Some(_)) => {
            tx.prepare_cached(
                "UPDATE apps SET definition = ?2, version = ?3, updated_at = ?4, updated_by = ?5 WHERE name = ?1",
            )?
            .execute(params![
                r.name,
                r.definition,
                i64::try_from(r.version).unwrap_or(i64::MAX),
                r.updated_at,
                r.updated_by
            ])?;
        }
        (None, _) => {
            tx.prepare_cached("DELETE FROM apps WHERE name = ?1")?.execute([name])?;
        }
    }
    Ok(Ok(()))
}

/// Forgets everything stored for an app that is being removed, but its audit trail: its
/// SCIM resources, decisions, tokens, and the Confluence operations queued, parked or held
/// for it. (What it granted in Confluence stays there; see `Mutation::ForgetApp`.)
pub(crate) fn forget(tx: &Connection, app: &str) -> Result<(), StoreError> {
    for table in ["resources", "desired_users", "tokens", "outbox", "outbox_blocked", "outbox_held", "confluence_hold"]
    {
        tx.execute(&format!("DELETE FROM {table} WHERE app = ?1"), [app])?;
    }
    Ok(())
}
