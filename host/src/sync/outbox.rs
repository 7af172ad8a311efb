//! The outbox in memory: per app, one queue of Confluence operations per subject (the
//! Confluence username they concern), in `seq` order, and who is working on which subject.
//!
//! The durable copy is the store's `outbox` table: a row is written in the transaction of
//! the change that planned it and deleted in the transaction that records its outcome.
//! This structure is rebuilt from the table at start-up ([`Outbox::restore`]), so an
//! operation accepted before a crash is applied after it.
//!
//! A subject is worked on by one party at a time: a worker applying its queue, or a SCIM
//! request applying its own operations at once ([`Outbox::claim`]). A request may only
//! claim a subject whose queue is empty, so what it applies can never overtake an older
//! queued operation.
//!
//! Beside the queues, each app keeps its deprovisioning circuit breaker ([`super::breaker`])
//! and the operations it holds for an administrator's approval ([`Outbox::hold`]): once a
//! person has a held operation, every later one of theirs is held behind it, so approving
//! keeps their order.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use super::breaker::{is_deprovision, BreakerSettings, Window};
use super::plan::Op;
use crate::store::{BlockedRow, OutboxRow};

/// A queued operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub seq: u64,
    pub subject: String,
    pub op: Op,
    pub origin: String,
    pub module_hash: String,
}

impl Queued {
    /// The row that stores it.
    pub fn row(&self, app: &str) -> OutboxRow {
        OutboxRow {
            seq: self.seq,
            app: app.to_owned(),
            subject: self.subject.clone(),
            op: serde_json::to_string(&self.op).unwrap_or_default(),
            origin: self.origin.clone(),
            module_hash: self.module_hash.clone(),
            queued_at: crate::clock::now_rfc3339(),
        }
    }
}

/// A membership parked until its group exists in Confluence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parked {
    pub queued: Queued,
    pub group: String,
    pub reason: String,
}

impl Parked {
    /// The row that stores it.
    pub fn row(&self, app: &str) -> BlockedRow {
        BlockedRow {
            row: self.queued.row(app),
            group: self.group.clone(),
            blocked_at: crate::clock::now_rfc3339(),
            reason: self.reason.clone(),
        }
    }
}

#[derive(Default)]
struct AppQueue {
    queues: HashMap<String, VecDeque<Queued>>,
    /// Memberships waiting for their group, outside every queue (so nothing waits behind them).
    parked: Vec<Parked>,
    /// Subjects with queued operations that nobody is working on, oldest first.
    ready: VecDeque<String>,
    busy: HashSet<String>,
    /// Operations held by the breaker until approved or discarded, oldest first.
    held: Vec<Queued>,
    /// How many held operations each subject has.
    held_subjects: HashMap<String, usize>,
    window: Window,
}

impl AppQueue {
    fn hold_one(&mut self, q: Queued) {
        *self.held_subjects.entry(q.subject.clone()).or_default() += 1;
        self.held.push(q);
    }

    /// Takes the held operations whose `seq` is in `seqs` out of the hold, in order.
    fn take_held(&mut self, seqs: &HashSet<u64>) -> Vec<Queued> {
        let (out, keep): (Vec<Queued>, Vec<Queued>) =
            std::mem::take(&mut self.held).into_iter().partition(|q| seqs.contains(&q.seq));
        self.held = keep;
        for q in &out {
            if let Some(n) = self.held_subjects.get_mut(&q.subject) {
                *n -= 1;
                if *n == 0 {
                    self.held_subjects.remove(&q.subject);
                }
            }
        }
        out
    }

    fn push(&mut self, q: Queued) {
        let subject = q.subject.clone();
        let queue = self.queues.entry(subject.clone()).or_default();
        let was_empty = queue.is_empty();
        queue.push_back(q);
        if was_empty && !self.busy.contains(&subject) {
            self.ready.push_back(subject);
        }
    }
}

/// A batch of operations split by the breaker ([`Outbox::hold`]).
#[derive(Debug, Default)]
pub struct Gate {
    /// To apply or queue as usual.
    pub pass: Vec<Queued>,
    /// Held (already in the outbox's hold; store them with [`crate::store::Mutation::Hold`],
    /// or give them back with [`Outbox::unhold`] if the change is not stored).
    pub held: Vec<Queued>,
    /// Deprovisions counted in the window for `pass`.
    pub admitted: usize,
}

/// Every app's queues. Share it as an `Arc`.
pub struct Outbox {
    apps: Mutex<HashMap<Arc<str>, AppQueue>>,
    wake: std::sync::RwLock<HashMap<Arc<str>, Arc<Notify>>>,
    next_seq: AtomicU64,
    /// The highest sequence number stored when this outbox was made: operations up to it
    /// come from the table, and an earlier process may have sent part of them.
    restored_up_to: u64,
}

/// A subject claimed for work; dropping it releases the subject (and makes it ready again
/// if operations were queued for it meanwhile).
pub struct Claim {
    outbox: Arc<Outbox>,
    app: Arc<str>,
    subject: String,
}

impl Claim {
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut apps = self.outbox.lock();
        let Some(q) = apps.get_mut(&self.app) else { return };
        q.busy.remove(&self.subject);
        if q.queues.get(&self.subject).is_some_and(|ops| !ops.is_empty()) {
            q.ready.push_back(self.subject.clone());
            drop(apps);
            self.outbox.notify(&self.app);
        }
    }
}

impl Outbox {
    /// An empty outbox for these apps, handing out sequence numbers above `max_seq`.
    pub fn new<'a>(apps: impl IntoIterator<Item = &'a str>, max_seq: u64) -> Arc<Outbox> {
        let names: Vec<Arc<str>> = apps.into_iter().map(Arc::from).collect();
        Arc::new(Outbox {
            apps: Mutex::new(names.iter().map(|a| (a.clone(), AppQueue::default())).collect()),
            wake: std::sync::RwLock::new(names.iter().map(|a| (a.clone(), Arc::new(Notify::new()))).collect()),
            next_seq: AtomicU64::new(max_seq + 1),
            restored_up_to: max_seq,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, AppQueue>> {
        self.apps.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wakers(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Arc<str>, Arc<Notify>>> {
        self.wake.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Gives a new app its (empty) queues; an app the outbox has keeps them.
    pub fn add_app(&self, app: &str) {
        let name: Arc<str> = Arc::from(app);
        self.lock().entry(name.clone()).or_default();
        self.wake
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name)
            .or_insert_with(|| Arc::new(Notify::new()));
    }

    /// Forgets a removed app's queues (its stored operations are gone with it).
    pub fn remove_app(&self, app: &str) {
        self.lock().remove(app);
        let removed = self.wake.write().unwrap_or_else(PoisonError::into_inner).remove(app);
        if let Some(n) = removed {
            n.notify_waiters();
        }
    }

    /// The app's name as the outbox holds it (shared by its claims).
    fn name(&self, app: &str) -> Option<Arc<str>> {
        self.wakers().get_key_value(app).map(|(k, _)| k.clone())
    }

    fn notify(&self, app: &str) {
        if let Some(n) = self.wakers().get(app) {
            n.notify_waiters();
            n.notify_one();
        }
    }

    /// Rebuilds the queues from the stored rows (in `seq` order). Rows of apps no longer
    /// configured, or that do not parse, are returned untouched (they stay in the table).
    pub fn restore(&self, rows: Vec<OutboxRow>) -> Vec<OutboxRow> {
        let mut left = Vec::new();
        let mut apps = self.lock();
        let mut touched = Vec::new();
        for row in rows {
            let (Some(q), Ok(op)) = (apps.get_mut(row.app.as_str()), serde_json::from_str::<Op>(&row.op)) else {
                left.push(row);
                continue;
            };
            q.push(Queued { seq: row.seq, subject: row.subject, op, origin: row.origin, module_hash: row.module_hash });
            touched.push(row.app);
        }
        drop(apps);
        for app in touched {
            self.notify(&app);
        }
        left
    }

    /// Restores the parked memberships from their rows.
    pub fn restore_parked(&self, rows: Vec<BlockedRow>) {
        let mut apps = self.lock();
        for b in rows {
            let (Some(q), Ok(op)) = (apps.get_mut(b.row.app.as_str()), serde_json::from_str::<Op>(&b.row.op)) else {
                continue;
            };
            let r = b.row;
            let queued = Queued { seq: r.seq, subject: r.subject, op, origin: r.origin, module_hash: r.module_hash };
            q.parked.push(Parked { queued, group: b.group, reason: b.reason });
        }
    }

    /// Parks memberships the store has recorded as blocked. The same membership parked
    /// twice is kept once.
    pub fn park(&self, app: &str, parked: Vec<Parked>) {
        let mut apps = self.lock();
        let Some(q) = apps.get_mut(app) else { return };
        for p in parked {
            if !q.parked.iter().any(|have| have.queued.op == p.queued.op) {
                q.parked.push(p);
            }
        }
    }

    /// The app's parked memberships, oldest first.
    pub fn parked(&self, app: &str) -> Vec<Parked> {
        self.lock().get(app).map(|q| q.parked.clone()).unwrap_or_default()
    }

    /// The groups the app's parked memberships wait for, each once, in order.
    pub fn parked_groups(&self, app: &str) -> Vec<String> {
        let mut groups: Vec<String> = self.parked(app).into_iter().map(|p| p.group).collect();
        groups.sort();
        groups.dedup();
        groups
    }

    /// The apps with memberships parked for `group`.
    pub fn parking_apps(&self, group: &str) -> Vec<Arc<str>> {
        let apps = self.lock();
        apps.iter().filter(|(_, q)| q.parked.iter().any(|p| p.group == group)).map(|(a, _)| a.clone()).collect()
    }

    /// Takes the app's parked memberships in `group` out of the parking.
    pub fn unpark(&self, app: &str, group: &str) -> Vec<Parked> {
        let mut apps = self.lock();
        let Some(q) = apps.get_mut(app) else { return Vec::new() };
        let (out, keep) = std::mem::take(&mut q.parked).into_iter().partition(|p| p.group == group);
        q.parked = keep;
        out
    }

    /// The highest sequence number stored when this outbox was made (see
    /// [`Outbox::restore`]): an operation at or below it may have been partly applied by an
    /// earlier process.
    pub fn restored_up_to(&self) -> u64 {
        self.restored_up_to
    }

    /// Sets the app's breaker (the default until then).
    pub fn set_breaker(&self, app: &str, settings: BreakerSettings) {
        if let Some(q) = self.lock().get_mut(app) {
            q.window = Window::new(settings);
        }
    }

    /// Splits operations the store is about to commit for `app` (of `people` people): a
    /// deprovision passes while the breaker's window has room; one past it is held, and so
    /// is every operation of a person who has one held, then or later. The held ones are in
    /// the hold at once, so a concurrent change of the same person is held behind them.
    pub fn hold(&self, app: &str, ops: Vec<Queued>, people: usize) -> Gate {
        let mut gate = Gate::default();
        let mut apps = self.lock();
        let Some(q) = apps.get_mut(app) else {
            gate.pass = ops;
            return gate;
        };
        let now = std::time::Instant::now();
        for op in ops {
            let held = q.held_subjects.contains_key(&op.subject)
                || (is_deprovision(&op.op) && {
                    let admitted = q.window.admit(now, people);
                    gate.admitted += usize::from(admitted);
                    !admitted
                });
            if held {
                q.hold_one(op.clone());
                gate.held.push(op);
            } else {
                gate.pass.push(op);
            }
        }
        gate
    }

    /// Undoes [`Outbox::hold`] for a change that was not stored.
    pub fn unhold(&self, app: &str, gate: &Gate) {
        let mut apps = self.lock();
        let Some(q) = apps.get_mut(app) else { return };
        q.take_held(&gate.held.iter().map(|h| h.seq).collect());
        q.window.refund(gate.admitted);
    }

    /// Restores the held operations from their rows (in `seq` order).
    pub fn restore_held(&self, rows: Vec<OutboxRow>) {
        let mut apps = self.lock();
        for row in rows {
            let (Some(q), Ok(op)) = (apps.get_mut(row.app.as_str()), serde_json::from_str::<Op>(&row.op)) else {
                continue;
            };
            q.hold_one(Queued {
                seq: row.seq,
                subject: row.subject,
                op,
                origin: row.origin,
                module_hash: row.module_hash,
            });
        }
    }

    /// The app's held operations, oldest first.
    pub fn held(&self, app: &str) -> Vec<Queued> {
        self.lock().get(app).map(|q| q.held.clone()).unwrap_or_default()
    }

    /// Deprovisions in the app's breaker window now, and its threshold for `people`.
    pub fn breaker_window(&self, app: &str, people: usize) -> Option<(usize, usize, BreakerSettings)> {
        let mut apps = self.lock();
        let q = apps.get_mut(app)?;
        let settings = *q.window.settings();
        Some((q.window.count(std::time::Instant::now()), settings.threshold(people), settings))
    }

    /// Ends the hold of the operations `seqs` (whose outcome the store has recorded): approved
    /// ones join their subjects' queues in order and the breaker's window starts afresh;
    /// discarded ones are forgotten. Returns those released.
    pub fn release_held(&self, app: &str, seqs: &[u64], approved: bool) -> Vec<Queued> {
        let mut apps = self.lock();
        let Some(q) = apps.get_mut(app) else { return Vec::new() };
        let out = q.take_held(&seqs.iter().copied().collect());
        if approved {
            q.window.reset();
            for op in out.iter().cloned() {
                q.push(op);
            }
        }
        drop(apps);
        if approved {
            self.notify(app);
        }
        out
    }

    /// A new sequence number: later than every queued operation.
    pub fn next_seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Claims `subject` of `app` for a request that wants to apply operations at once:
    /// `None` if it has queued operations or someone is working on it.
    pub fn claim(self: &Arc<Self>, app: &str, subject: &str) -> Option<Claim> {
        let name = self.name(app)?;
        let mut apps = self.lock();
        let q = apps.get_mut(app)?;
        if q.busy.contains(subject) || q.queues.get(subject).is_some_and(|ops| !ops.is_empty()) {
            return None;
        }
        q.busy.insert(subject.to_owned());
        Some(Claim { outbox: self.clone(), app: name, subject: subject.to_owned() })
    }

    /// Queues operations that the store has committed. Call before dropping any claim on
    /// their subjects.
    pub fn push(&self, app: &str, ops: Vec<Queued>) {
        if ops.is_empty() {
            return;
        }
        let mut apps = self.lock();
        let Some(q) = apps.get_mut(app) else { return };
        for op in ops {
            q.push(op);
        }
        drop(apps);
        self.notify(app);
    }

    /// A ready subject of `app` and its oldest operation, claimed for a worker.
    pub fn next(self: &Arc<Self>, app: &str) -> Option<(Claim, Queued)> {
        let name = self.name(app)?;
        let mut apps = self.lock();
        let q = apps.get_mut(app)?;
        while let Some(subject) = q.ready.pop_front() {
            if q.busy.contains(&subject) {
                continue;
            }
            let Some(head) = q.queues.get(&subject).and_then(|ops| ops.front()).cloned() else {
                q.queues.remove(&subject);
                continue;
            };
            q.busy.insert(subject.clone());
            return Some((Claim { outbox: self.clone(), app: name, subject }, head));
        }
        None
    }

    /// Removes a finished operation (the head of its subject's queue).
    pub fn finish(&self, app: &str, subject: &str, seq: u64) {
        let mut apps = self.lock();
        let Some(q) = apps.get_mut(app) else { return };
        if let Some(ops) = q.queues.get_mut(subject) {
            if ops.front().is_some_and(|h| h.seq == seq) {
                ops.pop_front();
            }
            if ops.is_empty() {
                q.queues.remove(subject);
            }
        }
    }

    /// The next operation of a subject the caller holds a claim on.
    pub fn head(&self, claim: &Claim) -> Option<Queued> {
        let apps = self.lock();
        apps.get(&claim.app)?.queues.get(&claim.subject)?.front().cloned()
    }

    /// Waits until operations are queued for `app` (or a claim with work is released).
    pub async fn wait(&self, app: &str) {
        let waker = self.wakers().get(app).cloned();
        if let Some(n) = waker {
            n.notified().await;
        }
    }

    /// Queued operations of `app`.
    pub fn len(&self, app: &str) -> usize {
        self.lock().get(app).map_or(0, |q| q.queues.values().map(VecDeque::len).sum())
    }

    /// Whether every queue of every app is empty.
    pub fn is_empty(&self) -> bool {
        self.lock().values().all(|q| q.queues.values().all(VecDeque::is_empty))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(seq: u64, subject: &str) -> Queued {
        Queued {
            seq,
            subject: subject.into(),
            op: Op::SetActive { username: subject.into(), active: true },
            origin: "o".into(),
            module_hash: String::new(),
        }
    }

    fn add(seq: u64, subject: &str, group: &str) -> Parked {
        Parked {
            queued: Queued {
                seq,
                subject: subject.into(),
                op: Op::AddMember { username: subject.into(), group: group.into() },
                origin: "o".into(),
                module_hash: String::new(),
            },
            group: group.into(),
            reason: format!("group {group} does not exist"),
        }
    }

    #[test]
    fn parked_memberships_wait_outside_the_queues_once_each_until_their_group_is_released() {
        let outbox = Outbox::new(["a", "b"], 0);
        outbox.park("a", vec![add(1, "ada", "eng"), add(2, "bob", "eng"), add(3, "ada", "ops")]);
        outbox.park("a", vec![add(4, "ada", "eng")]);
        outbox.park("b", vec![add(5, "cy", "eng")]);
        assert_eq!(outbox.parked("a").len(), 3, "the same membership is parked once");
        assert!(outbox.is_empty() && outbox.next("a").is_none(), "nothing queued waits behind them");
        assert!(outbox.claim("a", "ada").is_some(), "nor is the user's queue held");
        let mut apps: Vec<String> = outbox.parking_apps("eng").iter().map(|a| a.to_string()).collect();
        apps.sort();
        assert_eq!(apps, ["a", "b"]);
        let released: Vec<u64> = outbox.unpark("a", "eng").iter().map(|p| p.queued.seq).collect();
        assert_eq!(released, [1, 2]);
        assert_eq!(outbox.parked("a"), [add(3, "ada", "ops")]);
        assert!(outbox.parking_apps("eng").iter().all(|a| &**a == "b"));
    }

    fn disable(seq: u64, subject: &str) -> Queued {
        Queued { op: Op::SetActive { username: subject.into(), active: false }, ..op(seq, subject) }
    }

    #[test]
    fn the_breaker_holds_deprovisions_past_its_threshold_and_everything_after_them_per_person() {
        let outbox = Outbox::new(["a"], 0);
        let window = std::time::Duration::from_secs(600);
        let settings = BreakerSettings { enabled: true, max_deprovisions: 1, max_share: 0.0, window };
        outbox.set_breaker("a", settings);
        let gate = outbox.hold("a", vec![disable(1, "ada"), disable(2, "bob"), op(3, "bob"), op(4, "cy")], 10);
        let seqs = |qs: &[Queued]| qs.iter().map(|q| q.seq).collect::<Vec<_>>();
        assert_eq!((seqs(&gate.pass), seqs(&gate.held), gate.admitted), (vec![1, 4], vec![2, 3], 1));
        // A later change of bob, even an enable, waits behind his held disable.
        let later = outbox.hold("a", vec![op(5, "bob")], 10);
        assert!(later.pass.is_empty());
        // A change that was not stored gives its hold back.
        outbox.unhold("a", &later);
        assert_eq!(seqs(&outbox.held("a")), [2, 3]);
        // Approving queues them in order and opens the window again.
        assert_eq!(seqs(&outbox.release_held("a", &[2, 3], true)), [2, 3]);
        assert_eq!(outbox.next("a").map(|(_, q)| q.seq), Some(2));
        assert!(outbox.held("a").is_empty());
        assert_eq!(outbox.hold("a", vec![disable(6, "dee")], 10).pass.len(), 1);
        // Discarding forgets them.
        let gate = outbox.hold("a", vec![disable(7, "eve")], 10);
        assert_eq!(gate.held.len(), 1);
        assert_eq!(outbox.release_held("a", &[7], false).len(), 1);
        assert!(outbox.held("a").is_empty() && outbox.len("a") == 2);
    }

    #[test]
    fn a_subject_is_worked_on_by_one_party_in_order() {
        let outbox = Outbox::new(["a"], 0);
        // A request may claim an idle subject; the worker then cannot take it.
        let claim = outbox.claim("a", "ada").unwrap();
        assert!(outbox.claim("a", "ada").is_none());
        outbox.push("a", vec![op(1, "ada"), op(2, "ada"), op(3, "bob")]);
        let (bob, head) = outbox.next("a").unwrap();
        assert_eq!((bob.subject(), head.seq), ("bob", 3));
        assert!(outbox.next("a").is_none(), "ada is claimed, bob is busy");
        drop(claim);
        let (ada, head) = outbox.next("a").unwrap();
        assert_eq!(head.seq, 1);
        // A queued subject cannot be claimed by a request: it would overtake.
        drop(bob);
        assert!(outbox.claim("a", "ada").is_none());
        outbox.finish("a", "ada", 1);
        assert_eq!(outbox.head(&ada).map(|q| q.seq), Some(2));
        outbox.finish("a", "ada", 2);
        assert!(outbox.head(&ada).is_none());
        drop(ada);
        outbox.finish("a", "bob", 3);
        assert!(outbox.is_empty());
        assert!(outbox.claim("a", "ada").is_some());
        assert!(outbox.claim("nope", "ada").is_none());
    }

    #[test]
    fn restore_keeps_order_and_returns_what_it_cannot_place() {
        let outbox = Outbox::new(["a"], 10);
        let row = |seq, app: &str, op: &str| OutboxRow {
            seq,
            app: app.into(),
            subject: "ada".into(),
            op: op.into(),
            origin: "o".into(),
            module_hash: String::new(),
            queued_at: String::new(),
        };
        let json = serde_json::to_string(&Op::DeleteUser { username: "ada".into() }).unwrap();
        let left =
            outbox.restore(vec![row(4, "a", &json), row(5, "gone", &json), row(6, "a", "{"), row(7, "a", &json)]);
        assert_eq!(left.iter().map(|r| r.seq).collect::<Vec<_>>(), [5, 6]);
        assert_eq!(outbox.len("a"), 2);
        assert_eq!(outbox.next("a").map(|(_, q)| q.seq), Some(4));
        assert_eq!(outbox.next_seq(), 11);
    }
}
