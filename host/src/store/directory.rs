//! Directory apps' sync state (issue 13): the cursor each app's incremental sync resumes
//! from, and the report of every run. What a cursor or a report means is the directory
//! module's business; here they are text.

use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;

/// One run's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub id: i64,
    pub app: String,
    /// `full`, `incremental`, `test`.
    pub kind: String,
    /// `succeeded`, `failed`, `awaiting_approval`, `approved`, `discarded`.
    pub status: String,
    pub started_at: String,
    pub finished_at: String,
    /// One line for lists.
    pub summary: String,
    /// The whole report, as JSON.
    pub report: String,
}

/// Sets (`Some`) or forgets (`None`) the cursor of `app`'s `stream`.
pub(crate) fn set_cursor(tx: &Connection, app: &str, stream: &str, cursor: Option<&str>) -> Result<(), StoreError> {
    match cursor {
        Some(c) => {
            tx.prepare_cached(
                "INSERT INTO directory_cursors (app, stream, cursor, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (app, stream) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
            )?
            .execute(params![app, stream, c, crate::clock::now_rfc3339()])?;
        }
        None => {
            tx.prepare_cached("DELETE FROM directory_cursors WHERE app = ?1 AND stream = ?2")?
                .execute([app, stream])?;
        }
    }
    Ok(())
}

/// Every cursor of `app`: (stream, cursor).
///
/// # Errors
/// The database fails.
pub fn cursors(conn: &Connection, app: &str) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT stream, cursor FROM directory_cursors WHERE app = ?1 ORDER BY stream")?;
    let rows = stmt.query_map([app], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records a run (`id` 0: a new one, whose id is returned) or updates its status.
pub fn put_run(tx: &Connection, run: &RunRecord) -> Result<i64, StoreError> {
    if run.id == 0 {
        tx.prepare_cached(
            "INSERT INTO directory_runs (app, kind, status, started_at, finished_at, summary, report) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            run.app,
            run.kind,
            run.status,
            run.started_at,
            run.finished_at,
            run.summary,
            run.report
        ])?;
        Ok(tx.last_insert_rowid())
    } else {
        tx.prepare_cached("UPDATE directory_runs SET status = ?2, summary = ?3, report = ?4 WHERE id = ?1")?
            .execute(params![run.id, run.status, run.summary, run.report])?;
        Ok(run.id)
    }
}

/// The newest runs of `app` (or of every app), newest first.
///
/// # Errors
/// The database fails.
pub fn runs(conn: &Connection, app: Option<&str>, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, app, kind, status, started_at, finished_at, summary, report FROM directory_runs \
         WHERE ?1 IS NULL OR app = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![app, i64::try_from(limit).unwrap_or(i64::MAX)], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One run by id.
///
/// # Errors
/// The database fails.
pub fn run(conn: &Connection, id: i64) -> Result<Option<RunRecord>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, app, kind, status, started_at, finished_at, summary, report FROM directory_runs WHERE id = ?1",
        )?
        .query_row([id], row)
        .optional()?)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: r.get(0)?,
        app: r.get(1)?,
        kind: r.get(2)?,
        status: r.get(3)?,
        started_at: r.get(4)?,
        finished_at: r.get(5)?,
        summary: r.get(6)?,
        report: r.get(7)?,
    })
}

/// Forgets an app's cursors and stored password (not its run reports, its history).
pub(crate) fn forget(tx: &Connection, app: &str) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM directory_cursors WHERE app = ?1")?.execute([app])?;
    tx.prepare_cached("DELETE FROM directory_secrets WHERE app = ?1")?.execute([app])?;
    Ok(())
}

/// The bind password stored for `app`, if one was set through the admin side.
///
/// # Errors
/// The database fails.
pub fn password(conn: &Connection, app: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT password FROM directory_secrets WHERE app = ?1")?
        .query_row([app], |r| r.get(0))
        .optional()?)
}

/// Stores (or with `None` forgets) `app`'s bind password.
///
/// # Errors
/// The database fails.
pub fn set_password(conn: &Connection, app: &str, password: Option<&str>) -> Result<(), StoreError> {
    match password {
        Some(p) => {
            conn.prepare_cached(
                "INSERT INTO directory_secrets (app, password, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (app) DO UPDATE SET password = excluded.password, updated_at = excluded.updated_at",
            )?
            .execute(params![app, p, crate::clock::now_rfc3339()])?;
        }
        None => {
            conn.prepare_cached("DELETE FROM directory_secrets WHERE app = ?1")?.execute([app])?;
        }
    }
    Ok(())
}
