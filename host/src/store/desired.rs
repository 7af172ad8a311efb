//! The desired Confluence state of each person, as the rules decided it, and the audit
//! log of decisions. Both are written in the transaction of the SCIM change behind them.

use std::sync::Arc;

use rusqlite::{params, Row};
use serde_json::Value;

/// What the rules decided for one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredUser {
    pub scim_id: Arc<str>,
    pub outcome: DesiredOutcome,
    pub module_name: String,
    pub module_hash: String,
    pub decided_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesiredOutcome {
    /// The person should be this Confluence user.
    Provision(DesiredAccount),
    /// The rules left the person out of Confluence.
    Skip { reason: String },
}

/// A Confluence account as the rules want it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DesiredAccount {
    pub username: String,
    pub full_name: String,
    pub email: String,
    pub active: bool,
    pub custom_fields: Vec<(String, String)>,
    /// The app's grants: every Confluence group the app wants the person in. A membership
    /// in one of them is the app's to take back: it is removed as soon as no decision of
    /// the app (or of another app granting the same) wants it any more.
    pub groups: Vec<String>,
    /// Groups the app did not grant that the person should leave (`keep_existing_groups =
    /// false` in the standard rules): hand-made memberships, never another app's grants.
    pub groups_remove: Vec<String>,
    /// Of `groups`, those to create in Confluence when missing.
    pub groups_create: Vec<String>,
    /// Groups the app granted earlier and no longer wants, kept until a Synchronize sees
    /// Confluence without them, so that a revocation that never took effect is repaired.
    pub revoked: Vec<String>,
}

impl DesiredUser {
    /// The Confluence groups this decision grants (empty when skipped).
    pub fn groups(&self) -> &[String] {
        self.account().map_or(&[], |a| &a.groups)
    }

    /// The account, when the decision provisions one.
    pub fn account(&self) -> Option<&DesiredAccount> {
        match &self.outcome {
            DesiredOutcome::Provision(a) => Some(a),
            DesiredOutcome::Skip { .. } => None,
        }
    }

    /// The Confluence username this decision provisions, if any.
    pub fn provisioned_username(&self) -> Option<&str> {
        self.account().map(|a| a.username.as_str())
    }
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: String,
    pub app: String,
    pub subject: String,
    pub user_name: String,
    pub action: String,
    pub outcome: String,
    pub module_name: String,
    pub module_hash: String,
    pub detail: String,
}

fn list_json(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

fn list_from(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

pub(super) fn upsert(tx: &rusqlite::Savepoint<'_>, app: &str, d: &DesiredUser) -> rusqlite::Result<()> {
    let (outcome, reason, account) = match &d.outcome {
        DesiredOutcome::Provision(a) => ("provision", None, Some(a)),
        DesiredOutcome::Skip { reason } => ("skip", Some(reason.as_str()), None),
    };
    let fields = account.map(|a| {
        let pairs: Vec<Value> = a.custom_fields.iter().map(|(k, v)| Value::from(vec![k.clone(), v.clone()])).collect();
        Value::Array(pairs).to_string()
    });
    tx.prepare_cached(
        "INSERT INTO desired_users (app, scim_id, outcome, username, full_name, email, active, custom_fields, groups,
             groups_add, groups_remove, groups_create, reason, module_name, module_hash, decided_at, revoked)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
         ON CONFLICT (app, scim_id) DO UPDATE SET outcome = excluded.outcome, username = excluded.username,
             full_name = excluded.full_name, email = excluded.email, active = excluded.active,
             custom_fields = excluded.custom_fields, groups = excluded.groups, groups_add = excluded.groups_add,
             groups_remove = excluded.groups_remove, groups_create = excluded.groups_create, reason = excluded.reason,
             module_name = excluded.module_name, module_hash = excluded.module_hash, decided_at = excluded.decided_at,
             revoked = excluded.revoked",
    )?
    .execute(params![
        app,
        &*d.scim_id,
        outcome,
        account.map(|a| a.username.as_str()),
        account.map(|a| a.full_name.as_str()),
        account.map(|a| a.email.as_str()),
        account.map(|a| a.active),
        fields.unwrap_or_else(|| "[]".into()),
        list_json(account.map_or(&[], |a| &a.groups)),
        // `groups_add` (what the module listed, from before grants) is the same set as
        // `groups`: kept in its column for older readers, not held in memory a second time.
        list_json(account.map_or(&[], |a| &a.groups)),
        list_json(account.map_or(&[], |a| &a.groups_remove)),
        list_json(account.map_or(&[], |a| &a.groups_create)),
        reason,
        d.module_name,
        d.module_hash,
        d.decided_at,
        list_json(account.map_or(&[], |a| &a.revoked)),
    ])?;
    Ok(())
}

pub(super) fn delete(tx: &rusqlite::Savepoint<'_>, app: &str, scim_id: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM desired_users WHERE app = ?1 AND scim_id = ?2")?.execute(params![app, scim_id])?;
    Ok(())
}

pub(super) fn append_audit(tx: &rusqlite::Savepoint<'_>, e: &AuditEntry) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO audit_log (at, app, subject, user_name, action, outcome, module_name, module_hash, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        e.at,
        e.app,
        e.subject,
        e.user_name,
        e.action,
        e.outcome,
        e.module_name,
        e.module_hash,
        e.detail
    ])?;
    Ok(())
}

pub(super) const SELECT_DESIRED: &str =
    "SELECT app, scim_id, outcome, username, full_name, email, active, custom_fields,
    groups, groups_add, groups_remove, groups_create, reason, module_name, module_hash, decided_at, revoked FROM desired_users";

/// Reads one `desired_users` row (columns in [`SELECT_DESIRED`] order) as (app, state).
pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<(String, DesiredUser)> {
    let app: String = row.get(0)?;
    let outcome: String = row.get(2)?;
    let text = |i: usize| -> rusqlite::Result<String> { Ok(row.get::<_, Option<String>>(i)?.unwrap_or_default()) };
    let outcome = if outcome == "provision" {
        let fields: Vec<Vec<String>> = serde_json::from_str(&text(7)?).unwrap_or_default();
        DesiredOutcome::Provision(DesiredAccount {
            username: text(3)?,
            full_name: text(4)?,
            email: text(5)?,
            active: row.get::<_, Option<bool>>(6)?.unwrap_or(true),
            custom_fields: fields.into_iter().filter_map(|p| Some((p.first()?.clone(), p.get(1)?.clone()))).collect(),
            groups: list_from(&text(8)?),
            groups_remove: list_from(&text(10)?),
            groups_create: list_from(&text(11)?),
            revoked: list_from(&text(16)?),
        })
    } else {
        DesiredOutcome::Skip { reason: text(12)? }
    };
    let d = DesiredUser {
        scim_id: Arc::from(row.get::<_, String>(1)?),
        outcome,
        module_name: row.get(13)?,
        module_hash: row.get(14)?,
        decided_at: row.get(15)?,
    };
    Ok((app, d))
}

/// The decision stored for one person of an app: by SCIM id, or by the Confluence username
/// it provisions.
///
/// # Errors
/// The database fails.
pub fn find(conn: &rusqlite::Connection, app: &str, id_or_username: &str) -> rusqlite::Result<Option<DesiredUser>> {
    let sql = format!("{SELECT_DESIRED} WHERE app = ?1 AND (scim_id = ?2 OR username = lower(?2)) LIMIT 1");
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query_map(params![app, id_or_username], from_row)?;
    rows.next().transpose().map(|r| r.map(|(_, d)| d))
}

/// The audit log of an app, newest first, optionally for one person.
///
/// # Errors
/// The database fails.
pub fn audit(
    conn: &rusqlite::Connection,
    app: Option<&str>,
    subject: Option<&str>,
    limit: usize,
) -> rusqlite::Result<Vec<AuditEntry>> {
    let filter = super::AuditFilter {
        app: app.map(str::to_owned),
        subject: subject.map(str::to_owned),
        limit,
        ..super::AuditFilter::default()
    };
    audit_filtered(conn, &filter)
}

/// The audit log as the console filters it, newest first. The statement names only the
/// conditions given, so SQLite can use the `(app, subject)` index for one person's entries.
///
/// # Errors
/// The database fails.
pub fn audit_filtered(conn: &rusqlite::Connection, f: &super::AuditFilter) -> rusqlite::Result<Vec<AuditEntry>> {
    let mut conditions: Vec<&str> = Vec::new();
    let mut values: Vec<String> = Vec::new();
    // With one person's SCIM id, `(app, subject)` is the index to use; otherwise the newest
    // entries are found by walking the table backwards and stopping at the limit, and a
    // `+` keeps SQLite from choosing the index for `app` alone (which would read and sort
    // every entry of the app).
    let app_condition = if f.subject.is_some() { "app = ?" } else { "+app = ?" };
    let exact = [
        (app_condition, &f.app),
        ("subject = ?", &f.subject),
        ("action = ?", &f.action),
        ("at >= ?", &f.since),
        ("at < ?", &f.until),
    ];
    for (condition, value) in exact {
        if let Some(v) = value {
            conditions.push(condition);
            values.push(v.clone());
        }
    }
    if let Some(person) = &f.person {
        let escaped = person.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        conditions.push("(subject = ? OR user_name LIKE ? ESCAPE '\\')");
        values.push(person.clone());
        values.push(format!("{escaped}%"));
    }
    let filter = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
    let sql = format!(
        "SELECT at, app, subject, user_name, action, outcome, module_name, module_hash, detail FROM audit_log
         {filter} ORDER BY seq DESC LIMIT {}",
        f.limit
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(values.iter()), |r| {
        Ok(AuditEntry {
            at: r.get(0)?,
            app: r.get(1)?,
            subject: r.get(2)?,
            user_name: r.get(3)?,
            action: r.get(4)?,
            outcome: r.get(5)?,
            module_name: r.get(6)?,
            module_hash: r.get(7)?,
            detail: r.get(8)?,
        })
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CommitError, Conflict, Mutation, Store};

    fn open(path: &std::path::Path) -> Store {
        Store::open(path, Arc::new(|_: &str, _: &mut Value| {})).unwrap()
    }

    #[tokio::test]
    async fn desired_state_and_audit_survive_a_reopen() {
        let dir = std::env::temp_dir().join(format!("usersync-desired-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("d.db");
        let store = open(&db);
        let provision = DesiredUser {
            scim_id: Arc::from("u1"),
            outcome: DesiredOutcome::Provision(DesiredAccount {
                username: "ada".into(),
                full_name: "Ada Lovelace".into(),
                email: "ada@example.com".into(),
                active: true,
                custom_fields: vec![("department".into(), "Engines".into())],
                groups: vec!["confluence-users".into(), "engineers".into()],
                groups_remove: vec![],
                groups_create: vec!["engineers".into()],
                revoked: vec!["contractors".into()],
            }),
            module_name: "standard".into(),
            module_hash: "abc123".into(),
            decided_at: "2026-11-28T00:00:00.000Z".into(),
        };
        let skip = DesiredUser {
            scim_id: Arc::from("u2"),
            outcome: DesiredOutcome::Skip { reason: "contractor".into() },
            ..provision.clone()
        };
        let audit_entry = AuditEntry {
            at: "2026-11-28T00:00:00.000Z".into(),
            app: "a".into(),
            subject: "u1".into(),
            user_name: "Ada".into(),
            action: "create".into(),
            outcome: "provision".into(),
            module_name: "standard".into(),
            module_hash: "abc123".into(),
            detail: String::new(),
        };
        let app: Arc<str> = Arc::from("a");
        store
            .commit(vec![
                Mutation::Desired {
                    app: app.clone(),
                    scim_id: Arc::from("u1"),
                    desired: Some(Arc::new(provision.clone())),
                    basis: None,
                },
                Mutation::Desired {
                    app: app.clone(),
                    scim_id: Arc::from("u2"),
                    desired: Some(Arc::new(skip.clone())),
                    basis: None,
                },
                Mutation::Audit(audit_entry.clone()),
            ])
            .await
            .unwrap();
        assert_eq!(
            store.snapshot().app("a").unwrap().desired.get("u1").map(|d| (**d).clone()),
            Some(provision.clone())
        );
        // A decision made from a basis that has since changed is refused; from the current one, taken.
        let stale = Mutation::Desired { app: app.clone(), scim_id: Arc::from("u2"), desired: None, basis: None };
        let refused = store.commit(vec![stale]).await.unwrap_err();
        assert!(matches!(refused, CommitError::Conflict(Conflict::Stale { .. })), "{refused}");
        let basis = store.snapshot().app("a").unwrap().desired.get("u2").cloned();
        assert!(basis.is_some());
        store
            .commit(vec![Mutation::Desired { app: app.clone(), scim_id: Arc::from("u2"), desired: None, basis }])
            .await
            .unwrap();
        drop(store);
        let reopened = open(&db);
        let snap = reopened.snapshot();
        let data = snap.app("a").unwrap();
        assert_eq!(data.desired.get("u1").map(|d| (**d).clone()), Some(provision));
        assert!(data.desired.get("u2").is_none());
        let conn = crate::store::open_connection(&db).unwrap();
        assert_eq!(audit(&conn, Some("a"), Some("u1"), 10).unwrap(), vec![audit_entry]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
