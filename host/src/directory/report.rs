//! A run's report: what it added, updated, disabled, deleted and skipped, each with its
//! reason, stored as JSON with the run and shown by `usersync ldap runs`, the admin API and
//! the console.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::DirectoryError;
use crate::inbound::{Applied, Change};
use crate::scim::schema::ResourceKind;
use crate::store::directory::RunRecord;

/// Items kept per list; the counts go on past it.
const MAX_ITEMS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Full,
    Incremental,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Full => "full",
            RunKind::Incremental => "incremental",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    /// It found or applied nothing, for the reason in `error`.
    Failed,
    /// It would deprovision more than the threshold; nothing was applied.
    AwaitingApproval,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::AwaitingApproval => "awaiting_approval",
        }
    }
}

/// One person or group in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    pub name: String,
    pub reason: String,
}

impl Item {
    pub fn new(id: &str, name: &str, reason: &str) -> Item {
        Item { id: id.to_owned(), name: name.to_owned(), reason: reason.to_owned() }
    }
}

/// How many of each, past the items kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub added: usize,
    pub updated: usize,
    pub disabled: usize,
    pub deleted: usize,
    pub skipped: usize,
    pub unchanged: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub app: String,
    pub kind: RunKind,
    pub strategy: String,
    pub status: RunStatus,
    pub started_at: String,
    pub finished_at: String,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    pub counts: Counts,
    pub added: Vec<Item>,
    pub updated: Vec<Item>,
    pub disabled: Vec<Item>,
    pub deleted: Vec<Item>,
    pub skipped: Vec<Item>,
}

impl RunReport {
    pub fn start(app: &str, kind: RunKind) -> RunReport {
        RunReport {
            app: app.to_owned(),
            kind,
            strategy: String::new(),
            status: RunStatus::Running,
            started_at: crate::clock::now_rfc3339(),
            finished_at: String::new(),
            error: None,
            warnings: Vec::new(),
            counts: Counts::default(),
            added: Vec::new(),
            updated: Vec::new(),
            disabled: Vec::new(),
            deleted: Vec::new(),
            skipped: Vec::new(),
        }
    }

    pub fn warn(&mut self, warning: String) {
        tracing::warn!(app = %self.app, "{warning}");
        if self.warnings.len() < MAX_ITEMS {
            self.warnings.push(warning);
        }
    }

    /// Ends the run as failed: nothing more is applied.
    pub fn failed(mut self, e: &DirectoryError) -> RunReport {
        tracing::warn!(app = %self.app, error = %e, "directory run failed");
        self.status = RunStatus::Failed;
        self.error = Some(e.to_string());
        self.finished_at = crate::clock::now_rfc3339();
        self
    }

    /// Ends the run waiting for approval.
    pub fn awaiting(&mut self, why: String) {
        tracing::warn!(app = %self.app, "{why}");
        self.status = RunStatus::AwaitingApproval;
        self.error = Some(why);
        self.counts.deleted = self.deleted.len();
        self.counts.disabled = self.disabled.len();
    }

    pub fn finish(mut self) -> RunReport {
        if self.status == RunStatus::Running {
            self.status = RunStatus::Succeeded;
        }
        self.finished_at = crate::clock::now_rfc3339();
        self
    }

    /// An entry the run could not take, with why (counted like a refused change).
    pub fn skip(&mut self, dn: &str, reason: &str) {
        self.counts.skipped += 1;
        if self.skipped.len() < MAX_ITEMS {
            self.skipped.push(Item::new(dn, dn, reason));
        }
    }

    /// Counts one change's outcome.
    pub fn record(&mut self, change: &Change, result: Result<Applied, String>) {
        let (kind, id, name, inactive) = match change {
            Change::Put { kind, id, attrs } => {
                let name = attrs
                    .get(if *kind == ResourceKind::User { "userName" } else { "displayName" })
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                (*kind, id, name, attrs.get("active") == Some(&Value::Bool(false)))
            }
            Change::Gone { kind, id } => (*kind, id, String::new(), false),
        };
        let what = if kind == ResourceKind::User { "person" } else { "group" };
        let push = |list: &mut Vec<Item>, reason: String| {
            if list.len() < MAX_ITEMS {
                list.push(Item { id: id.to_string(), name: name.clone(), reason });
            }
        };
        match result {
            Ok(Applied::Created) => {
                self.counts.added += 1;
                push(&mut self.added, format!("new {what}"));
            }
            Ok(Applied::Updated) if inactive => {
                self.counts.disabled += 1;
                push(&mut self.disabled, "inactive in the directory".to_owned());
            }
            Ok(Applied::Updated) => {
                self.counts.updated += 1;
                push(&mut self.updated, format!("{what} changed in the directory"));
            }
            Ok(Applied::Unchanged | Applied::Absent) => self.counts.unchanged += 1,
            Ok(Applied::Removed) => {
                self.counts.deleted += 1;
                push(&mut self.deleted, format!("{what} no longer in the directory"));
            }
            Err(reason) => {
                self.counts.skipped += 1;
                push(&mut self.skipped, reason);
            }
        }
    }

    /// One line: "3 added, 1 updated, …" (for a run that waits: what it would do).
    pub fn summary(&self) -> String {
        let c = &self.counts;
        if self.status == RunStatus::AwaitingApproval {
            return format!(
                "would delete {} and disable {}; nothing applied: {}",
                c.deleted,
                c.disabled,
                self.error.as_deref().unwrap_or("waiting for approval")
            );
        }
        let mut s = format!(
            "{} added, {} updated, {} disabled, {} deleted, {} skipped, {} unchanged",
            c.added, c.updated, c.disabled, c.deleted, c.skipped, c.unchanged
        );
        if let Some(e) = &self.error {
            s = format!("{s}: {e}");
        }
        s
    }

    /// The report as the store keeps it.
    pub fn record_row(&self, id: i64) -> RunRecord {
        RunRecord {
            id,
            app: self.app.clone(),
            kind: self.kind.as_str().to_owned(),
            status: self.status.as_str().to_owned(),
            started_at: self.started_at.clone(),
            finished_at: self.finished_at.clone(),
            summary: self.summary(),
            report: serde_json::to_string(self).unwrap_or_default(),
        }
    }

    /// Whether the run changed or failed anything worth a stored report (an incremental run
    /// that found nothing is not kept, or the list would be all of them).
    pub fn worth_keeping(&self) -> bool {
        let c = &self.counts;
        self.kind == RunKind::Full
            || self.status != RunStatus::Succeeded
            || c.added + c.updated + c.disabled + c.deleted + c.skipped > 0
            || !self.warnings.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_run_says_what_it_would_do_not_what_it_did() {
        let mut r = RunReport::start("corp", RunKind::Full);
        r.deleted.push(Item::new("1", "ada", "no longer in the directory"));
        r.awaiting("over the threshold".into());
        let line = r.summary();
        assert!(line.starts_with("would delete 1 and disable 0; nothing applied"), "{line}");
        assert!(!line.contains("1 deleted"), "{line}");
        let mut done = RunReport::start("corp", RunKind::Full);
        done.record(&Change::Gone { kind: ResourceKind::User, id: "1".into() }, Ok(Applied::Removed));
        assert!(done.finish().summary().contains("1 deleted"));
    }
}
