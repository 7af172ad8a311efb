//! The outbox's rows: Confluence operations waiting to be applied, those held by the
//! deprovisioning circuit breaker, and those Confluence refused for good. The store keeps
//! them as opaque JSON; `crate::sync` gives them meaning.

use rusqlite::{params, Connection};

/// One queued Confluence operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Applied in this order within a subject; allocated by `crate::sync::Outbox`.
    pub seq: u64,
    pub app: String,
    /// The Confluence username the operation concerns (its queue).
    pub subject: String,
    /// The operation, as JSON.
    pub op: String,
    /// The SCIM id of the person whose change planned it, or `sync`.
    pub origin: String,
    /// The rules module version whose decision planned it.
    pub module_hash: String,
    pub queued_at: String,
}

/// An operation Confluence refused for good, after it had been accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRow {
    pub row: OutboxRow,
    pub failed_at: String,
    pub error: String,
}

/// A membership waiting for its group to exist in Confluence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedRow {
    pub row: OutboxRow,
    /// The group Confluence does not have.
    pub group: String,
    pub blocked_at: String,
    pub reason: String,
}

/// Why an app's Confluence operations wait although Confluence answers: UserSync's own setup
/// (credentials, rights, base URL, a proxy), as the app's workers last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRow {
    /// `credentials`, `permission`, ... (`crate::confluence::SetupProblem::as_str`).
    pub problem: String,
    /// What an operator reads first: "Confluence rejects UserSync's credentials".
    pub summary: String,
    /// Confluence's answer, as classified.
    pub detail: String,
    pub since: String,
}

fn seq_param(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

pub(super) fn insert(tx: &rusqlite::Savepoint<'_>, r: &OutboxRow) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO outbox (seq, app, subject, op, origin, module_hash, queued_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![seq_param(r.seq), r.app, r.subject, r.op, r.origin, r.module_hash, r.queued_at])?;
    Ok(())
}

/// Forgets a refused operation.
pub(super) fn unfail(tx: &rusqlite::Savepoint<'_>, seq: u64) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM outbox_failed WHERE seq = ?1")?.execute([seq_param(seq)])?;
    Ok(())
}

/// Removes a done operation; a refused one is kept in `outbox_failed` with its error.
pub(super) fn finish(tx: &rusqlite::Savepoint<'_>, seq: u64, failed: Option<&str>) -> rusqlite::Result<()> {
    if let Some(error) = failed {
        tx.prepare_cached(
            "INSERT OR REPLACE INTO outbox_failed (seq, app, subject, op, origin, module_hash, queued_at, failed_at, error)
             SELECT seq, app, subject, op, origin, module_hash, queued_at, ?2, ?3 FROM outbox WHERE seq = ?1",
        )?
        .execute(params![seq_param(seq), crate::clock::now_rfc3339(), error])?;
    }
    tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?.execute(params![seq_param(seq)])?;
    Ok(())
}

/// Parks an operation until its group exists: out of the outbox (if it was queued there),
/// into `outbox_blocked`.
pub(super) fn block(tx: &rusqlite::Savepoint<'_>, b: &BlockedRow) -> rusqlite::Result<()> {
    let r = &b.row;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO outbox_blocked (seq, app, subject, op, origin, module_hash, queued_at, group_name,
             blocked_at, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        seq_param(r.seq),
        r.app,
        r.subject,
        r.op,
        r.origin,
        r.module_hash,
        r.queued_at,
        b.group,
        b.blocked_at,
        b.reason
    ])?;
    tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?.execute(params![seq_param(r.seq)])?;
    Ok(())
}

/// Holds an operation for an administrator's approval.
pub(super) fn hold(tx: &rusqlite::Savepoint<'_>, r: &OutboxRow) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO outbox_held (seq, app, subject, op, origin, module_hash, queued_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![seq_param(r.seq), r.app, r.subject, r.op, r.origin, r.module_hash, r.queued_at])?;
    Ok(())
}

/// Ends the hold of an operation: into the outbox when `approved`, else dropped.
pub(super) fn release(tx: &rusqlite::Savepoint<'_>, seq: u64, approved: bool) -> rusqlite::Result<()> {
    if approved {
        tx.prepare_cached(
            "INSERT INTO outbox (seq, app, subject, op, origin, module_hash, queued_at)
             SELECT seq, app, subject, op, origin, module_hash, queued_at FROM outbox_held WHERE seq = ?1",
        )?
        .execute(params![seq_param(seq)])?;
    }
    tx.prepare_cached("DELETE FROM outbox_held WHERE seq = ?1")?.execute(params![seq_param(seq)])?;
    Ok(())
}

/// The operations held for approval, oldest first, optionally of one app.
///
/// # Errors
/// The database fails.
pub fn held(conn: &Connection, app: Option<&str>) -> rusqlite::Result<Vec<OutboxRow>> {
    let mut stmt = conn.prepare(
        "SELECT seq, app, subject, op, origin, module_hash, queued_at FROM outbox_held
         WHERE (?1 IS NULL OR app = ?1) ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![app], row)?;
    rows.collect()
}

/// Forgets a parked operation (released back into the outbox, or no longer wanted).
pub(super) fn unblock(tx: &rusqlite::Savepoint<'_>, seq: u64) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM outbox_blocked WHERE seq = ?1")?.execute(params![seq_param(seq)])?;
    Ok(())
}

/// Records (or, with `None`, clears) the hold of an app's operations.
pub(super) fn set_hold(tx: &rusqlite::Savepoint<'_>, app: &str, hold: Option<&HoldRow>) -> rusqlite::Result<()> {
    match hold {
        Some(h) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO confluence_hold (app, problem, summary, detail, since) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![app, h.problem, h.summary, h.detail, h.since])?;
        }
        None => {
            tx.prepare_cached("DELETE FROM confluence_hold WHERE app = ?1")?.execute(params![app])?;
        }
    }
    Ok(())
}

/// The held apps and why, by app name, optionally of one app.
///
/// # Errors
/// The database fails.
pub fn holds(conn: &Connection, app: Option<&str>) -> rusqlite::Result<Vec<(String, HoldRow)>> {
    let mut stmt = conn.prepare(
        "SELECT app, problem, summary, detail, since FROM confluence_hold WHERE (?1 IS NULL OR app = ?1) ORDER BY app",
    )?;
    let rows = stmt.query_map(params![app], |r| {
        Ok((r.get(0)?, HoldRow { problem: r.get(1)?, summary: r.get(2)?, detail: r.get(3)?, since: r.get(4)? }))
    })?;
    rows.collect()
}

/// The parked operations, oldest first, optionally of one app.
///
/// # Errors
/// The database fails.
pub fn blocked(conn: &Connection, app: Option<&str>) -> rusqlite::Result<Vec<BlockedRow>> {
    let mut stmt = conn.prepare(
        "SELECT seq, app, subject, op, origin, module_hash, queued_at, group_name, blocked_at, reason
         FROM outbox_blocked WHERE (?1 IS NULL OR app = ?1) ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![app], |r| {
        Ok(BlockedRow { row: row(r)?, group: r.get(7)?, blocked_at: r.get(8)?, reason: r.get(9)? })
    })?;
    rows.collect()
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
        app: r.get(1)?,
        subject: r.get(2)?,
        op: r.get(3)?,
        origin: r.get(4)?,
        module_hash: r.get(5)?,
        queued_at: r.get(6)?,
    })
}

/// Every waiting operation, in `seq` order.
///
/// # Errors
/// The database fails.
pub fn pending(conn: &Connection) -> rusqlite::Result<Vec<OutboxRow>> {
    let mut stmt =
        conn.prepare("SELECT seq, app, subject, op, origin, module_hash, queued_at FROM outbox ORDER BY seq")?;
    let rows = stmt.query_map([], row)?;
    rows.collect()
}

/// The operations Confluence refused for good, newest first, optionally of one app.
///
/// # Errors
/// The database fails.
pub fn failed(conn: &Connection, app: Option<&str>, limit: usize) -> rusqlite::Result<Vec<FailedRow>> {
    let mut stmt = conn.prepare(
        "SELECT seq, app, subject, op, origin, module_hash, queued_at, failed_at, error FROM outbox_failed
         WHERE (?1 IS NULL OR app = ?1) ORDER BY seq DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![app, i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
        Ok(FailedRow { row: row(r)?, failed_at: r.get(7)?, error: r.get(8)? })
    })?;
    rows.collect()
}

/// The highest sequence number ever used (0 for none), so new operations sort after
/// every stored one.
///
/// # Errors
/// The database fails.
pub fn max_seq(conn: &Connection) -> rusqlite::Result<u64> {
    let max: i64 = conn.query_row(
        "SELECT max(coalesce((SELECT max(seq) FROM outbox), 0), coalesce((SELECT max(seq) FROM outbox_failed), 0),
             coalesce((SELECT max(seq) FROM outbox_blocked), 0), coalesce((SELECT max(seq) FROM outbox_held), 0))",
        [],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(max).unwrap_or(0))
}
