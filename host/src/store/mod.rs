//! Persistence: SQLite (one file, WAL, `synchronous=FULL`) behind a single writer thread
//! that commits in groups, and an in-memory snapshot that answers every read.
//!
//! Why this shape: durability costs one fsync per commit. With one writer that drains every
//! waiting change into one transaction, sixteen concurrent writers share one fsync instead
//! of queueing for sixteen. Readers never touch SQLite: the writer publishes a new
//! [`Snapshot`] after each durable commit, so a reader sees only committed state.
//!
//! Concurrency control is optimistic: a caller computes a change against the snapshot it
//! read and states what it expects ([`Expect`]); the writer re-checks that expectation,
//! and the uniqueness of `userName` / `displayName`, against the latest state before
//! writing, and answers [`CommitError::Conflict`] if it no longer holds.
//!
//! **Architecture invariant:** only the writer thread writes the `resources` table.

pub mod accounts;
pub mod apps;
pub mod connection_settings;
pub mod database;
pub mod desired;
pub mod directory;
pub mod index;
pub mod observed;
pub mod outbox;
pub mod snapshot;
pub mod tokens;

use std::path::Path;
use std::sync::{mpsc, Arc};

use arc_swap::ArcSwap;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use crate::scim::schema::ResourceKind;
pub use database::{AuditFilter, Database};
pub use desired::{AuditEntry, DesiredAccount, DesiredOutcome, DesiredUser};
pub use observed::ObservedUser;
pub use outbox::{BlockedRow, FailedRow, HoldRow, OutboxRow};
pub use snapshot::{etag, no_members, AppData, Collection, Snapshot, StoredResource};

/// Rewrites a stored resource of an app as it is loaded (for `meta.location`).
pub type Relocate = Arc<dyn Fn(&str, &mut serde_json::Value) + Send + Sync>;

/// Errors from opening or writing the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored resource {id} is corrupt: {detail}")]
    Corrupt { id: String, detail: String },
    #[error("the store's writer has stopped")]
    WriterGone,
}

/// What a mutation expects of the resource's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// It must not exist (a create).
    Absent,
    /// It must exist at exactly this version.
    Version(u64),
}

/// One change to one resource.
#[derive(Debug, Clone)]
pub enum Mutation {
    Put {
        app: Arc<str>,
        resource: Arc<StoredResource>,
        expect: Expect,
    },
    Delete {
        app: Arc<str>,
        kind: ResourceKind,
        id: Arc<str>,
        expect: Expect,
    },
    /// Sets (or, with `None`, clears) the desired Confluence state of a person. `basis` is
    /// the desired state the decision started from (as read from a snapshot): if another
    /// commit changed it since, this one is refused as [`Conflict::Stale`] and the caller
    /// decides again, so two concurrent changes to a person (their user and one of their
    /// groups, say) cannot leave a decision that saw only one of them.
    Desired {
        app: Arc<str>,
        scim_id: Arc<str>,
        desired: Option<Arc<DesiredUser>>,
        basis: Option<Arc<DesiredUser>>,
    },
    /// Appends to the audit log.
    Audit(AuditEntry),
    /// Queues Confluence operations.
    Enqueue(Vec<OutboxRow>),
    /// An outbox operation is finished: applied (`failed: None`), or refused by Confluence
    /// for good (kept with its error in `outbox_failed`).
    Dequeue {
        seq: u64,
        failed: Option<String>,
    },
    /// Replaces what is known of Confluence's users with what was just read of them
    /// (unless `only_if_never_read` and something was read before).
    Observed {
        users: Arc<[Arc<ObservedUser>]>,
        only_if_never_read: bool,
    },
    /// Forgets an operation Confluence refused (retried as a new operation, or discarded).
    Unfail {
        seq: u64,
    },
    /// Parks a membership whose group Confluence does not have (taking it out of the
    /// outbox if it was queued there).
    Block(BlockedRow),
    /// Forgets a parked membership (released into the outbox, or no longer wanted).
    Unblock {
        seq: u64,
    },
    /// Records why an app's Confluence operations wait ([`HoldRow`]), or with `None` that
    /// they go through again.
    Hold {
        app: Arc<str>,
        hold: Option<HoldRow>,
    },
    /// Holds Confluence operations for an administrator's approval (the deprovisioning
    /// circuit breaker tripped).
    HoldForApproval(Vec<OutboxRow>),
    /// Ends the hold of these operations: `approved` moves them into the outbox, with
    /// their `seq`, so they keep their order; otherwise they are dropped.
    Release {
        seqs: Vec<u64>,
        approved: bool,
    },
    /// Creates, changes (`record: Some`) or removes (`None`) an app made through the admin
    /// side, if it is at the version the caller read (`expect: None`: it must not exist).
    App {
        name: Arc<str>,
        record: Option<apps::AppRecord>,
        expect: Option<u64>,
    },
    /// Forgets what is stored for an app being removed (its resources, decisions, tokens and
    /// queued operations; not its audit trail). Its grants leave the other apps' view with
    /// its decisions; what it granted in Confluence stays there, as if granted by hand.
    ForgetApp {
        app: Arc<str>,
    },
    /// Sets (or, with `None`, forgets) where a directory app's incremental sync resumes,
    /// in the transaction of the changes it covers.
    Cursor {
        app: Arc<str>,
        stream: String,
        cursor: Option<String>,
    },
}

impl Mutation {
    /// The app whose stored state (resources, decisions, queued operations, cursor) this
    /// changes; `None` for what is not an app's, or is the app's definition itself.
    fn app(&self) -> Option<&str> {
        match self {
            Mutation::Put { app, .. }
            | Mutation::Delete { app, .. }
            | Mutation::Desired { app, .. }
            | Mutation::Cursor { app, .. } => Some(app),
            Mutation::Audit(_) => None,
            Mutation::Enqueue(rows) | Mutation::HoldForApproval(rows) => rows.first().map(|r| r.app.as_str()),
            Mutation::Block(blocked) => Some(blocked.row.app.as_str()),
            Mutation::Hold { app, .. } => Some(app),
            Mutation::Dequeue { .. }
            | Mutation::Observed { .. }
            | Mutation::Unfail { .. }
            | Mutation::Unblock { .. }
            | Mutation::Release { .. }
            | Mutation::App { .. }
            | Mutation::ForgetApp { .. } => None,
        }
    }
}

/// Why a commit was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// The resource changed (or appeared, or vanished) since the caller read it.
    Stale { id: String },
    /// Another resource of the app already holds this `userName` / `displayName`.
    NameTaken { name_key: String, holder: String },
    /// The app was changed (or created, or removed) since the caller read it: `version` is
    /// its version now (`None`: it does not exist).
    AppChanged { name: String, version: Option<u64> },
    /// The app was removed while this change was on its way.
    AppRemoved { name: String },
}

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct WriteRequest {
    mutations: Vec<Mutation>,
    reply: oneshot::Sender<Result<(), CommitError>>,
}

/// Most changes folded into one transaction.
const MAX_BATCH: usize = 512;

/// The store handle: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Store {
    snapshot: Arc<ArcSwap<Snapshot>>,
    writer: mpsc::Sender<WriteRequest>,
}

impl Store {
    /// Opens (creating if needed) the database, applies migrations, loads the snapshot
    /// and starts the writer thread. `public_url` is the prefix of `meta.location`.
    ///
    /// # Errors
    /// The file cannot be opened or migrated, or a stored resource is not valid JSON.
    pub fn open(path: &Path, render: Relocate) -> Result<Store, StoreError> {
        let mut conn = open_connection(path)?;
        migrate(&mut conn)?;
        let snapshot = load_snapshot(&conn, render.as_ref())?;
        let shared = Arc::new(ArcSwap::from_pointee(snapshot));
        let (tx, rx) = mpsc::channel();
        let writer_snapshot = shared.clone();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_loop(conn, rx, writer_snapshot))
            .map_err(|e| StoreError::Corrupt { id: "-".into(), detail: format!("cannot start writer: {e}") })?;
        Ok(Store { snapshot: shared, writer: tx })
    }

    /// The current committed state.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Commits `mutations` atomically (all or none), after re-checking their expectations.
    /// Returns once the change is durable and visible in [`Store::snapshot`].
    ///
    /// # Errors
    /// [`CommitError::Conflict`] if an expectation or a uniqueness rule fails;
    /// [`CommitError::Store`] if SQLite fails.
    pub async fn commit(&self, mutations: Vec<Mutation>) -> Result<(), CommitError> {
        let (reply, rx) = oneshot::channel();
        self.writer.send(WriteRequest { mutations, reply }).map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }
}

/// Opens a connection with the pragmas every user of the file needs.
///
/// # Errors
/// SQLite cannot open the file.
pub fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_scim.sql")),
    (2, include_str!("../../migrations/0002_desired.sql")),
    (3, include_str!("../../migrations/0003_outbox.sql")),
    (4, include_str!("../../migrations/0004_grants.sql")),
    (5, include_str!("../../migrations/0005_confluence_hold.sql")),
    (6, include_str!("../../migrations/0006_held.sql")),
    (7, include_str!("../../migrations/0007_console.sql")),
    (8, include_str!("../../migrations/0008_apps.sql")),
    (9, include_str!("../../migrations/0009_token_use.sql")),
    (10, include_str!("../../migrations/0010_confluence.sql")),
    (11, include_str!("../../migrations/0011_directory.sql")),
];

/// Applies the migrations in `host/migrations/` that the file has not seen yet.
///
/// # Errors
/// A migration fails; the file is left at the last version that succeeded.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)",
    )?;
    for (version, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let done: Option<i64> = tx
            .query_row("SELECT version FROM schema_migrations WHERE version = ?1", [version], |r| r.get(0))
            .optional()?;
        if done.is_none() {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied) VALUES (?1, ?2)",
                params![version, crate::clock::now_rfc3339()],
            )?;
        }
        tx.commit()?;
    }
    Ok(())
}

fn kind_str(kind: ResourceKind) -> &'static str {
    kind.as_str()
}

fn load_snapshot(
    conn: &Connection,
    render: &(dyn Fn(&str, &mut serde_json::Value) + Send + Sync),
) -> Result<Snapshot, StoreError> {
    let mut snapshot = Snapshot::default();
    let mut stmt =
        conn.prepare("SELECT seq, app, kind, id, name_key, external_id, version, body FROM resources ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let app: String = row.get(1)?;
        let kind: String = row.get(2)?;
        let id: String = row.get(3)?;
        let body: String = row.get(7)?;
        let kind = if kind == "User" { ResourceKind::User } else { ResourceKind::Group };
        let mut value: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| StoreError::Corrupt { id: id.clone(), detail: e.to_string() })?;
        let members = member_ids(value.get("members"));
        // Locations follow the configured public URL, which may have changed since.
        render(&app, &mut value);
        let json =
            serde_json::to_vec(&value).map_err(|e| StoreError::Corrupt { id: id.clone(), detail: e.to_string() })?;
        let resource = StoredResource {
            kind,
            id: Arc::from(id),
            version: u64::try_from(row.get::<_, i64>(6)?).unwrap_or(0),
            name_key: Arc::from(row.get::<_, String>(4)?),
            external_id: row.get::<_, Option<String>>(5)?.map(Arc::from),
            json: Arc::from(json),
            members,
        };
        snapshot.app_mut(&app).of_mut(kind).insert(u64::try_from(seq).unwrap_or(0), Arc::new(resource));
    }
    let mut stmt = conn.prepare(desired::SELECT_DESIRED)?;
    let rows = stmt.query_map([], desired::from_row)?;
    for row in rows {
        let (app, d) = row?;
        let (app, id) = (Arc::<str>::from(app), d.scim_id.clone());
        snapshot.set_desired(&app, &id, Some(Arc::new(d)));
    }
    let observed: Vec<Arc<ObservedUser>> = observed::load(conn)?.into_iter().map(Arc::new).collect();
    snapshot.set_observed(&observed);
    Ok(snapshot)
}

/// The `value` of each entry of a resource's `members` attribute.
pub fn member_ids(members: Option<&serde_json::Value>) -> Arc<[Arc<str>]> {
    let ids: Vec<Arc<str>> = members
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("value")?.as_str().map(Arc::from))
        .collect();
    if ids.is_empty() {
        no_members()
    } else {
        Arc::from(ids)
    }
}

fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<WriteRequest>, shared: Arc<ArcSwap<Snapshot>>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(req) => batch.push(req),
                Err(_) => break,
            }
        }
        let base = shared.load_full();
        match write_batch(&mut conn, &base, &batch) {
            Ok((next, outcomes)) => {
                shared.store(Arc::new(next));
                for (req, outcome) in batch.into_iter().zip(outcomes) {
                    // The requester may have gone away (client disconnected); that is fine.
                    let _ = req.reply.send(outcome.map_err(CommitError::Conflict));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "store commit failed");
                for req in batch {
                    let _ = req.reply.send(Err(CommitError::Store(StoreError::Corrupt {
                        id: "-".into(),
                        detail: format!("commit failed: {e}"),
                    })));
                }
            }
        }
    }
}

type BatchOutcome = (Snapshot, Vec<Result<(), Conflict>>);

/// What a mutation replaced in the working snapshot, to put back if a later mutation of
/// the same request is refused.
enum Undo {
    Resource {
        app: Arc<str>,
        kind: ResourceKind,
        id: Arc<str>,
        previous: Option<(u64, Arc<StoredResource>)>,
    },
    Desired {
        app: Arc<str>,
        scim_id: Arc<str>,
        previous: Option<Arc<DesiredUser>>,
    },
    Observed(snapshot::Observed),
    /// The whole snapshot before a change too wide to undo piece by piece (an app removed).
    Whole(Box<Snapshot>),
}

impl Undo {
    fn revert(self, working: &mut Snapshot) {
        match self {
            Undo::Resource { app, kind, id, previous } => {
                let coll = working.app_mut(&app).of_mut(kind);
                match previous {
                    Some((seq, r)) => coll.insert(seq, r),
                    None => {
                        coll.remove(&id);
                    }
                }
            }
            // Through `set_desired`, so the index by Confluence username follows.
            Undo::Desired { app, scim_id, previous } => working.set_desired(&app, &scim_id, previous),
            Undo::Observed(previous) => working.restore_observed(previous),
            Undo::Whole(previous) => *working = *previous,
        }
    }
}

/// Writes a batch in one transaction. Each request runs inside a savepoint, so a request
/// whose expectations fail is rolled back alone and the rest still commit.
///
/// The working snapshot is changed in place and, for a refused request, put back from its
/// undo log: a copy per request would make every request copy the paths of every index it
/// touches (the persistent maps share their nodes with the copy), where in place only the
/// batch's first change to a node copies it.
fn write_batch(conn: &mut Connection, base: &Snapshot, batch: &[WriteRequest]) -> Result<BatchOutcome, StoreError> {
    let mut working = base.clone();
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut undo = Vec::new();
    let mut tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for req in batch {
        let sp = tx.savepoint()?;
        undo.clear();
        match apply_request(&sp, &mut working, &req.mutations, &mut undo) {
            Ok(Ok(())) => {
                sp.commit()?;
                outcomes.push(Ok(()));
            }
            Ok(Err(conflict)) => {
                drop(sp); // rolls back
                for u in undo.drain(..).rev() {
                    u.revert(&mut working);
                }
                outcomes.push(Err(conflict));
            }
            Err(e) => return Err(e),
        }
    }
    tx.commit()?;
    Ok((working, outcomes))
}

fn apply_request(
    tx: &rusqlite::Savepoint<'_>,
    working: &mut Snapshot,
    mutations: &[Mutation],
    undo: &mut Vec<Undo>,
) -> Result<Result<(), Conflict>, StoreError> {
    for m in mutations {
        if let Some(app) = m.app().filter(|a| working.is_removed(a)) {
            return Ok(Err(Conflict::AppRemoved { name: app.to_string() }));
        }
        match m {
            Mutation::Put { app, resource, expect } => {
                let coll = working.app_mut(app).of_mut(resource.kind);
                let current = coll.get(&resource.id).map(|r| r.version);
                let ok = match expect {
                    Expect::Absent => current.is_none(),
                    Expect::Version(v) => current == Some(*v),
                };
                if !ok {
                    return Ok(Err(Conflict::Stale { id: resource.id.to_string() }));
                }
                if let Some(holder) = coll.by_name.get(&resource.name_key) {
                    if holder.id != resource.id {
                        return Ok(Err(Conflict::NameTaken {
                            name_key: resource.name_key.to_string(),
                            holder: holder.id.to_string(),
                        }));
                    }
                }
                let body = std::str::from_utf8(&resource.json)
                    .map_err(|e| StoreError::Corrupt { id: resource.id.to_string(), detail: e.to_string() })?;
                let version = i64::try_from(resource.version).unwrap_or(i64::MAX);
                let seq = match coll.seq_of(&resource.id) {
                    Some(seq) => {
                        tx.prepare_cached(
                            "UPDATE resources SET name_key = ?1, external_id = ?2, version = ?3, body = ?4 WHERE app = ?5 AND kind = ?6 AND id = ?7",
                        )?
                        .execute(params![&*resource.name_key, resource.external_id.as_deref(), version, body, &**app, kind_str(resource.kind), &*resource.id])?;
                        seq
                    }
                    None => {
                        tx.prepare_cached(
                            "INSERT INTO resources (app, kind, id, name_key, external_id, version, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        )?
                        .execute(params![&**app, kind_str(resource.kind), &*resource.id, &*resource.name_key, resource.external_id.as_deref(), version, body])?;
                        u64::try_from(tx.last_insert_rowid()).unwrap_or(0)
                    }
                };
                let previous = coll.by_id.get(&resource.id).cloned();
                undo.push(Undo::Resource { app: app.clone(), kind: resource.kind, id: resource.id.clone(), previous });
                coll.insert(seq, resource.clone());
            }
            Mutation::Delete { app, kind, id, expect } => {
                let coll = working.app_mut(app).of_mut(*kind);
                let current = coll.get(id).map(|r| r.version);
                let ok = match expect {
                    Expect::Absent => current.is_none(),
                    Expect::Version(v) => current == Some(*v),
                };
                if !ok {
                    return Ok(Err(Conflict::Stale { id: id.to_string() }));
                }
                tx.prepare_cached("DELETE FROM resources WHERE app = ?1 AND kind = ?2 AND id = ?3")?
                    .execute(params![&**app, kind_str(*kind), &**id])?;
                let previous = coll.by_id.get(id).cloned();
                undo.push(Undo::Resource { app: app.clone(), kind: *kind, id: id.clone(), previous });
                coll.remove(id);
            }
            Mutation::Desired { app, scim_id, desired, basis } => {
                let data = working.app_mut(app);
                let unchanged = match (data.desired.get(scim_id), basis) {
                    (None, None) => true,
                    (Some(now), Some(then)) => Arc::ptr_eq(now, then),
                    _ => false,
                };
                if !unchanged {
                    return Ok(Err(Conflict::Stale { id: scim_id.to_string() }));
                }
                undo.push(Undo::Desired { app: app.clone(), scim_id: scim_id.clone(), previous: basis.clone() });
                match desired {
                    Some(d) => desired::upsert(tx, app, d)?,
                    None => desired::delete(tx, app, scim_id)?,
                }
                working.set_desired(app, scim_id, desired.clone());
            }
            Mutation::Audit(entry) => desired::append_audit(tx, entry)?,
            Mutation::Enqueue(rows) => {
                for r in rows {
                    outbox::insert(tx, r)?;
                }
            }
            Mutation::Dequeue { seq, failed } => outbox::finish(tx, *seq, failed.as_deref())?,
            Mutation::Block(row) => outbox::block(tx, row)?,
            Mutation::Unfail { seq } => outbox::unfail(tx, *seq)?,
            Mutation::Unblock { seq } => outbox::unblock(tx, *seq)?,
            Mutation::Hold { app, hold } => outbox::set_hold(tx, app, hold.as_ref())?,
            Mutation::HoldForApproval(rows) => {
                for r in rows {
                    outbox::hold(tx, r)?;
                }
            }
            Mutation::Release { seqs, approved } => {
                for seq in seqs {
                    outbox::release(tx, *seq, *approved)?;
                }
            }
            Mutation::App { name, record, expect } => {
                if let Err(conflict) = apps::put(tx, name, record.as_ref(), *expect)? {
                    return Ok(Err(conflict));
                }
                if record.is_some() && working.is_removed(name) {
                    undo.push(Undo::Whole(Box::new(working.clone())));
                    working.revive_app(name);
                }
            }
            Mutation::Cursor { app, stream, cursor } => directory::set_cursor(tx, app, stream, cursor.as_deref())?,
            Mutation::ForgetApp { app } => {
                apps::forget(tx, app)?;
                directory::forget(tx, app)?;
                undo.push(Undo::Whole(Box::new(working.clone())));
                working.forget_app(app);
            }
            Mutation::Observed { users, only_if_never_read } => {
                if !(*only_if_never_read && working.observed_users().next().is_some()) {
                    observed::replace_all(tx, users)?;
                    undo.push(Undo::Observed(working.set_observed(users)));
                }
            }
        }
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, name: &str, version: u64) -> Arc<StoredResource> {
        let json = format!(r#"{{"id":"{id}","userName":"{name}"}}"#);
        Arc::new(StoredResource {
            kind: ResourceKind::User,
            id: Arc::from(id),
            version,
            name_key: Arc::from(name),
            external_id: None,
            json: Arc::from(json.into_bytes()),
            members: no_members(),
        })
    }

    fn put(r: &Arc<StoredResource>, expect: Expect) -> Mutation {
        Mutation::Put { app: Arc::from("a"), resource: r.clone(), expect }
    }

    fn desired(id: &str) -> Arc<DesiredUser> {
        Arc::new(DesiredUser {
            scim_id: Arc::from(id),
            outcome: desired::DesiredOutcome::Skip { reason: "test".into() },
            module_name: "m".into(),
            module_hash: "h".into(),
            decided_at: "2026-12-02T00:00:00.000Z".into(),
        })
    }

    fn provisioned(id: &str, username: &str) -> Arc<DesiredUser> {
        let account = desired::DesiredAccount { username: username.into(), ..desired::DesiredAccount::default() };
        Arc::new(DesiredUser { outcome: desired::DesiredOutcome::Provision(account), ..(*desired(id)).clone() })
    }

    fn request(mutations: Vec<Mutation>) -> WriteRequest {
        WriteRequest { mutations, reply: oneshot::channel().0 }
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Users and memberless groups hold no list of their own: 100,000 users held 100,000
    /// empty allocations before. A group's members are still read in order.
    #[test]
    fn resources_without_members_share_one_empty_list() {
        let shared = no_members();
        for members in [
            None,
            Some(serde_json::json!([])),
            Some(serde_json::json!("not a list")),
            Some(serde_json::json!([{"display": "no value"}])),
        ] {
            let ids = member_ids(members.as_ref());
            assert!(ids.is_empty());
            assert!(Arc::ptr_eq(&ids, &shared), "{members:?} got a list of its own");
        }
        let ids = member_ids(Some(&serde_json::json!([{"value": "b"}, {"value": "a"}, {"display": "no value"}])));
        assert_eq!(ids.iter().map(|id| &**id).collect::<Vec<_>>(), ["b", "a"]);
    }

    /// A write that was on its way when its app was removed stores nothing (it would bring
    /// the removed app's rows back); once an app of that name is created again, writes to
    /// it are welcome.
    #[test]
    fn a_write_for_a_removed_app_is_refused_until_the_name_is_created_again() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let u1 = user("u1", "one", 1);
        let (base, _) =
            write_batch(&mut conn, &Snapshot::default(), &[request(vec![put(&u1, Expect::Absent)])]).unwrap();
        let (base, outcomes) =
            write_batch(&mut conn, &base, &[request(vec![Mutation::ForgetApp { app: Arc::from("a") }])]).unwrap();
        assert_eq!(outcomes, vec![Ok(())]);
        let late = user("u2", "two", 1);
        let (base, outcomes) = write_batch(&mut conn, &base, &[request(vec![put(&late, Expect::Absent)])]).unwrap();
        assert!(matches!(&outcomes[0], Err(Conflict::AppRemoved { name }) if name == "a"), "{outcomes:?}");
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM resources WHERE app = 'a'"), 0);
        let record = apps::AppRecord {
            name: "a".into(),
            position: 0,
            definition: "{}".into(),
            version: 1,
            created_at: String::new(),
            updated_at: String::new(),
            updated_by: "t".into(),
        };
        let create = Mutation::App { name: Arc::from("a"), record: Some(record), expect: None };
        let (base, outcomes) = write_batch(&mut conn, &base, &[request(vec![create])]).unwrap();
        assert_eq!(outcomes, vec![Ok(())]);
        let (_, outcomes) = write_batch(&mut conn, &base, &[request(vec![put(&late, Expect::Absent)])]).unwrap();
        assert_eq!(outcomes, vec![Ok(())]);
    }

    /// A refused request in the middle of a batch leaves no trace, in SQLite or in the
    /// snapshot, even after its earlier mutations were applied in place; the requests
    /// around it commit, and the one after it sees the state without it.
    #[test]
    fn a_refused_request_is_undone_alone_within_its_batch() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let app: Arc<str> = Arc::from("a");
        let u1 = user("u1", "one", 1);
        let (base, outcomes) =
            write_batch(&mut conn, &Snapshot::default(), &[request(vec![put(&u1, Expect::Absent)])]).unwrap();
        assert_eq!(outcomes, vec![Ok(())]);

        let u1_renamed = user("u1", "uno", 2);
        let u2 = user("u2", "two", 1);
        let u2_again = user("u2", "two", 1);
        let u3 = user("u3", "one", 1);
        let refused = request(vec![
            put(&u1_renamed, Expect::Version(1)),
            put(&u2, Expect::Absent),
            Mutation::Desired { app: app.clone(), scim_id: Arc::from("u2"), desired: Some(desired("u2")), basis: None },
            Mutation::Desired {
                app: app.clone(),
                scim_id: Arc::from("u9"),
                desired: Some(provisioned("u9", "ada")),
                basis: None,
            },
            Mutation::Observed {
                users: Arc::from(vec![Arc::new(ObservedUser {
                    username: Arc::from("ada"),
                    ..ObservedUser::default()
                })]),
                only_if_never_read: false,
            },
            Mutation::Audit(AuditEntry {
                at: "2026-12-02T00:00:00.000Z".into(),
                app: "a".into(),
                subject: "u2".into(),
                user_name: "two".into(),
                action: "create".into(),
                outcome: "skip".into(),
                module_name: "m".into(),
                module_hash: "h".into(),
                detail: String::new(),
            }),
            Mutation::Delete {
                app: app.clone(),
                kind: ResourceKind::User,
                id: Arc::from("u1"),
                expect: Expect::Version(2),
            },
            // Stale: u1 is gone by now in this request, so the whole request is refused.
            put(&user("u1", "uno", 3), Expect::Version(2)),
        ]);
        let batch = [
            refused,
            // Takes u1's name, which the refused rename must not have freed.
            request(vec![put(&u3, Expect::Absent)]),
            request(vec![put(&u2_again, Expect::Absent)]),
        ];
        let (next, outcomes) = write_batch(&mut conn, &base, &batch).unwrap();
        assert_eq!(
            outcomes,
            vec![
                Err(Conflict::Stale { id: "u1".into() }),
                Err(Conflict::NameTaken { name_key: "one".into(), holder: "u1".into() }),
                Ok(()),
            ]
        );
        let users = &next.app("a").unwrap().users;
        assert_eq!(users.get("u1").map(|r| (r.version, r.name_key.to_string())), Some((1, "one".into())));
        assert_eq!(users.by_name("one").map(|r| r.id.to_string()), Some("u1".into()));
        assert!(users.by_name("uno").is_none());
        assert!(users.get("u3").is_none());
        assert!(Arc::ptr_eq(users.get("u2").unwrap(), &u2_again));
        assert_eq!(users.len(), 2);
        assert_eq!(users.iter().map(|r| r.id.to_string()).collect::<Vec<_>>(), ["u1", "u2"]);
        assert!(next.app("a").unwrap().desired.is_empty());
        assert!(next.holders("ada").next().is_none(), "the index by username is undone too");
        assert!(next.observed("ada").is_none(), "and the observation");
        // The base snapshot, which readers may still hold, is untouched.
        assert_eq!(base.app("a").unwrap().users.len(), 1);
        assert_eq!(count(&conn, "SELECT count(*) FROM resources"), 2);
        assert_eq!(count(&conn, "SELECT version FROM resources WHERE id = 'u1'"), 1);
        assert_eq!(count(&conn, "SELECT count(*) FROM desired_users"), 0);
        assert_eq!(count(&conn, "SELECT count(*) FROM audit_log"), 0);
    }
}
