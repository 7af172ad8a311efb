//! The changes between two full reconciles, by the strategy the server offers:
//! - RFC 4533 content sync (OpenLDAP's syncprov, 389-ds): one search over people and
//!   groups with the stored cookie, refreshOnly at each interval, or kept open
//!   (refreshAndPersist) so a change arrives within about a second;
//! - Active Directory's `uSNChanged`, with the DC's `invocationId` recorded: a restored
//!   or different DC (another `invocationId`) forces a full reconcile; deletions come from
//!   the tombstones under Show Deleted;
//! - `modifyTimestamp`: changed entries only; deletions wait for the full reconcile.
//!
//! The cursor is committed in the transaction of the last change it covers, so a restart
//! resumes where the last stored change left off.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use ldap3::controls::RawControl;
use ldap3::Scope;

use super::client::{self, Conn, Entry};
use super::codec::{self, SyncInfo, SyncMode, SyncStateKind};
use super::entry;
use super::report::{RunKind, RunReport};
use super::sync::DirectorySync;
use super::DirectoryError;
use crate::config::{Membership, SyncStrategy};
use crate::inbound::Change;
use crate::scim::schema::ResourceKind;

/// The cursor stream of a content-sync or polling app.
pub const STREAM: &str = "changes";

/// LDAP result code of RFC 4533's e-syncRefreshRequired: the cookie is too old.
const SYNC_REFRESH_REQUIRED: u32 = 4096;

/// What a content-sync search delivered.
#[derive(Debug, Default)]
pub struct SyncBatch {
    /// Added or modified entries (a refresh sends a modified entry as an add).
    pub upserts: Vec<Entry>,
    /// Entries reported deleted, by entryUUID.
    pub deleted: Vec<String>,
    /// With a present phase: every entryUUID the server still has (the rest are gone).
    pub present: Option<BTreeSet<String>>,
    pub cookie: Option<Vec<u8>>,
    pub referrals: Vec<String>,
}

/// Which strategy the server supports best, from its root DSE.
pub fn detect(root: &Entry) -> SyncStrategy {
    let controls = root.values("supportedControl").cloned().unwrap_or_default();
    let has = |oid: &str| controls.iter().any(|c| c == oid);
    if has(codec::SYNC_REQUEST_OID) {
        SyncStrategy::SyncreplPersist
    } else if root.has("highestCommittedUSN") {
        SyncStrategy::Usn
    } else {
        SyncStrategy::Timestamp
    }
}

impl DirectorySync {
    /// One content-sync search from `cookie` (refreshOnly): everything the server reports.
    ///
    /// # Errors
    /// The search failed, a control was malformed, or the cookie is too old
    /// ([`DirectoryError::RefreshRequired`]).
    pub async fn content_sync(&self, conn: &mut Conn, cookie: Option<&[u8]>) -> Result<SyncBatch, DirectoryError> {
        let (base, filter) = self.people_and_groups();
        let attrs = self.person_attrs();
        let control = RawControl {
            ctype: codec::SYNC_REQUEST_OID.to_owned(),
            crit: true,
            val: Some(codec::encode_sync_request(SyncMode::RefreshOnly, cookie, false)),
        };
        let mut stream = conn
            .handle()
            .with_controls(vec![control])
            .streaming_search(&base, Scope::Subtree, &filter, attrs)
            .await
            .map_err(|e| DirectoryError::Dropped(e.to_string()))?;
        let mut batch = SyncBatch::default();
        let mut present: BTreeSet<String> = BTreeSet::new();
        let mut present_phase = false;
        loop {
            let item = match stream.next().await {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(ldap3::LdapError::Timeout { .. }) => return Err(DirectoryError::Timeout),
                Err(e) => return Err(DirectoryError::Dropped(e.to_string())),
            };
            if item.is_ref() {
                batch.referrals.push("a search continuation reference".to_owned());
                continue;
            }
            if item.is_intermediate() {
                if let Some(info) = sync_info(&item)? {
                    match info {
                        SyncInfo::NewCookie(c) => batch.cookie = Some(c),
                        SyncInfo::RefreshDelete { cookie, .. } => batch.cookie = cookie.or(batch.cookie.take()),
                        SyncInfo::RefreshPresent { cookie, .. } => {
                            present_phase = true;
                            batch.cookie = cookie.or(batch.cookie.take());
                        }
                        SyncInfo::SyncIdSet { cookie, refresh_deletes, uuids } => {
                            let ids = uuids.iter().map(codec::uuid_string);
                            if refresh_deletes {
                                batch.deleted.extend(ids);
                            } else {
                                present_phase = true;
                                present.extend(ids);
                            }
                            batch.cookie = cookie.or(batch.cookie.take());
                        }
                    }
                }
                continue;
            }
            let state = sync_state(&item)?;
            let e = client::entry(item)?;
            match state {
                Some(s) => {
                    let uuid = codec::uuid_string(&s.entry_uuid);
                    if let Some(c) = s.cookie {
                        batch.cookie = Some(c);
                    }
                    match s.state {
                        SyncStateKind::Present => {
                            present_phase = true;
                            present.insert(uuid);
                        }
                        SyncStateKind::Add | SyncStateKind::Modify => {
                            present.insert(uuid);
                            batch.upserts.push(e);
                        }
                        SyncStateKind::Delete => batch.deleted.push(uuid),
                    }
                }
                None => batch.upserts.push(e),
            }
        }
        let res = stream.finish().await;
        if res.rc == SYNC_REFRESH_REQUIRED {
            return Err(DirectoryError::RefreshRequired);
        }
        if res.rc != 0 {
            return Err(DirectoryError::Search { rc: res.rc, detail: client::describe_rc(res.rc, &res.text) });
        }
        if let Some(done) = res.ctrls.iter().find(|c| c.1.ctype == codec::SYNC_DONE_OID) {
            let value = done.1.val.as_deref().unwrap_or_default();
            let done = codec::parse_sync_done(value)
                .map_err(|e| DirectoryError::Malformed(format!("sync done control: {e}")))?;
            if let Some(c) = done.cookie {
                batch.cookie = Some(c);
            }
            if !done.refresh_deletes && cookie.is_some() {
                present_phase = present_phase || !present.is_empty();
            }
        }
        if present_phase {
            batch.present = Some(present);
        }
        Ok(batch)
    }

    /// Applies a content-sync batch: people, then groups (whose members may be among the
    /// people), then deletions; the cookie goes with the last change.
    pub async fn apply_batch(&self, conn: &mut Conn, batch: SyncBatch, report: &mut RunReport) {
        let cfg = self.target.config.clone();
        let now = time::OffsetDateTime::now_utc();
        for r in &batch.referrals {
            report.warn(format!("referral not chased: {r}"));
        }
        let (groups, people): (Vec<Entry>, Vec<Entry>) = batch.upserts.into_iter().partition(|e| self.is_group(e));
        let mut changes: Vec<Change> = Vec::new();
        let mut new_dns: HashMap<String, String> = HashMap::new();
        for e in &people {
            if !codec::dn_is_under(&e.dn, &cfg.user_base) {
                continue;
            }
            match (entry::stable_id(&cfg, e), entry::person(&cfg, e, now)) {
                (Ok(id), Ok(attrs)) => {
                    new_dns.insert(codec::normalize_dn(&e.dn), id.clone());
                    changes.push(Change::Put { kind: ResourceKind::User, id: Arc::from(id.as_str()), attrs });
                }
                (Err(s), _) | (_, Err(s)) => {
                    report.skip(&s.dn, &s.reason);
                }
            }
        }
        let mut by_dn = self.people_by_dn();
        by_dn.extend(new_dns);
        for g in &groups {
            match self.group_change(conn, g, &by_dn).await {
                Ok(change) => changes.push(change),
                Err(e) => report.warn(format!("group {}: {e}", g.dn)),
            }
        }
        if cfg.membership() == Membership::MemberOf && groups.is_empty() && !people.is_empty() {
            // memberOf lives on the people: re-read each group a changed person is in or left.
            let touched = self.groups_touched(&people);
            for dn in touched {
                match conn.read(&dn, &["*", cfg.id_attribute(), "entryUUID", "objectGUID"]).await {
                    Ok(Some(g)) => match self.group_change(conn, &g, &by_dn).await {
                        Ok(change) => changes.push(change),
                        Err(e) => report.warn(format!("group {dn}: {e}")),
                    },
                    Ok(None) => {}
                    Err(e) => report.warn(format!("group {dn}: {e}")),
                }
            }
        }
        let mut gone: Vec<Change> = Vec::new();
        let mut deleted: BTreeSet<String> = batch.deleted.into_iter().collect();
        let stored = if deleted.is_empty() && batch.present.is_none() { HashMap::new() } else { self.stored_by_uuid() };
        if let Some(present) = &batch.present {
            // A present phase: whatever the app has that the server did not name is gone.
            deleted.extend(stored.keys().filter(|uuid| !present.contains(*uuid)).cloned());
        }
        let snap = self.inbound.snapshot();
        for uuid in deleted {
            // By id first (AD's tombstones name the objectGUID, the id), then by entryUUID.
            // One the app never stored (added and deleted within one window) is ignored.
            let by_id = [ResourceKind::User, ResourceKind::Group]
                .into_iter()
                .find_map(|kind| snap.get(&self.app, kind, &uuid).map(|r| (kind, r.id.clone())));
            if let Some((kind, id)) = by_id.or_else(|| stored.get(&uuid).cloned()) {
                gone.push(Change::Gone { kind, id });
            }
        }
        let deprovisions = gone.iter().filter(|c| matches!(c, Change::Gone { kind: ResourceKind::User, .. })).count();
        let people_now = self.inbound.people(&self.app);
        if batch.present.is_some() && people.is_empty() && deprovisions == people_now && people_now > 0 {
            report.warn("the directory named none of the app's people; nothing was deprovisioned".to_owned());
            gone.clear();
        }
        let limit = self.threshold(people_now);
        if deprovisions > limit {
            report.awaiting(format!(
                "this run would deprovision {deprovisions} people, more than the threshold of {limit}: the deletions wait for a full reconcile that an administrator approves"
            ));
            gone.clear();
        }
        changes.extend(gone);
        let cookie = batch.cookie.map(|c| codec_cookie(&c));
        self.apply_with_cursor(changes, cookie, report).await;
    }

    /// Applies `changes` in order, the cursor committed with the last one (or alone).
    pub async fn apply_with_cursor(&self, mut changes: Vec<Change>, cursor: Option<String>, report: &mut RunReport) {
        let last = changes.pop();
        // Order matters within a batch (people before the groups that list them), so one
        // at a time; each is its own small transaction.
        for change in changes {
            self.apply_one(change, Vec::new(), report).await;
        }
        match (last, cursor) {
            (Some(change), cursor) => {
                let extra = cursor.map(|c| vec![self.cursor(STREAM, Some(c))]).unwrap_or_default();
                self.apply_one(change, extra, report).await;
            }
            (None, Some(c)) => self.store_cursor(STREAM, Some(c), report).await,
            (None, None) => {}
        }
    }

    /// Groups listing one of `people` now, or stored as listing them.
    fn groups_touched(&self, people: &[Entry]) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let snap = self.inbound.snapshot();
        for p in people {
            out.extend(p.values("memberOf").cloned().unwrap_or_default());
            if let Ok(id) = entry::stable_id(&self.target.config, p) {
                if let Some(groups) = snap.collection(&self.app, ResourceKind::Group) {
                    out.extend(groups.groups_of(&id).filter_map(|g| g.external_id.as_ref().map(|d| d.to_string())));
                }
            }
        }
        out
    }

    /// An incremental run by content sync (refreshOnly) from the stored cookie.
    pub async fn syncrepl_run(&self, cookie: Option<Vec<u8>>) -> RunReport {
        let mut report = RunReport::start(&self.app, RunKind::Incremental);
        report.strategy = SyncStrategy::Syncrepl.as_str().to_owned();
        let mut conn = match self.target.open().await {
            Ok(c) => c,
            Err(e) => return report.failed(&e),
        };
        let batch = match self.content_sync(&mut conn, cookie.as_deref()).await {
            Ok(b) => b,
            Err(DirectoryError::RefreshRequired) => {
                report.warn("the server no longer has the changes since the stored cookie: starting over".to_owned());
                self.store_cursor(STREAM, None, &mut report).await;
                match self.content_sync(&mut conn, None).await {
                    Ok(b) => b,
                    Err(e) => return report.failed(&e),
                }
            }
            Err(e) => {
                conn.close().await;
                return report.failed(&e);
            }
        };
        self.apply_batch(&mut conn, batch, &mut report).await;
        conn.close().await;
        report.finish()
    }

    /// An incremental run by `uSNChanged` (Active Directory). `cursor`: `invocationId:usn`.
    /// `Err(())` when the DC's `invocationId` changed or nothing was stored: do a full run.
    pub async fn usn_run(&self, cursor: Option<&str>) -> Result<RunReport, Option<String>> {
        let mut report = RunReport::start(&self.app, RunKind::Incremental);
        report.strategy = SyncStrategy::Usn.as_str().to_owned();
        let Some((stored_invocation, usn)) = cursor.and_then(parse_usn_cursor) else { return Err(None) };
        let mut conn = match self.target.open().await {
            Ok(c) => c,
            Err(e) => return Ok(report.failed(&e)),
        };
        let (invocation, highest) = match usn_watermark(&mut conn).await {
            Ok(w) => w,
            Err(e) => return Ok(report.failed(&e)),
        };
        if invocation != stored_invocation {
            conn.close().await;
            return Err(Some(format!(
                "the domain controller's invocationId changed ({stored_invocation} → {invocation}): a full sync"
            )));
        }
        let cfg = self.target.config.clone();
        let since = format!("(uSNChanged>={})", usn.saturating_add(1));
        let attrs = self.person_attrs();
        let attrs: Vec<&str> = attrs.iter().map(String::as_str).collect();
        let mut upserts = Vec::new();
        match conn
            .paged(&cfg.user_base, cfg.user_scope, &format!("(&{}{since})", cfg.user_filter()), &attrs, cfg.page_size)
            .await
        {
            Ok(found) => upserts.extend(found.entries),
            Err(e) => return Ok(report.failed(&e)),
        }
        if let Some(group_base) = &cfg.group_base {
            let filter = format!("(&{}{since})", cfg.group_filter());
            match conn.paged(group_base, cfg.group_scope, &filter, &["*", "objectGUID"], cfg.page_size).await {
                Ok(found) => upserts.extend(found.entries),
                Err(e) => return Ok(report.failed(&e)),
            }
        }
        // Tombstones: deleted objects keep their objectGUID.
        let show_deleted = RawControl { ctype: codec::SHOW_DELETED_OID.to_owned(), crit: true, val: None };
        let naming_context = naming_context(&cfg.user_base);
        let deleted = match conn
            .search(
                &naming_context,
                Scope::Subtree,
                &format!("(&(isDeleted=TRUE){since})"),
                &["objectGUID", "isDeleted", "lastKnownParent"],
                vec![show_deleted],
            )
            .await
        {
            Ok(found) => found
                .entries
                .iter()
                .filter_map(|e| e.binary_first("objectGUID").and_then(|g| codec::guid_string(g).ok()))
                .collect(),
            Err(e) => return Ok(report.failed(&e)),
        };
        let batch = SyncBatch { upserts, deleted, present: None, cookie: None, referrals: Vec::new() };
        // The cursor: this run's watermark, read before its searches.
        let mut batch = batch;
        batch.cookie = Some(format!("{invocation}:{highest}").into_bytes());
        self.apply_batch(&mut conn, batch, &mut report).await;
        conn.close().await;
        Ok(report.finish())
    }

    /// One pass of DirSync from `cookie` (empty: from the start) over the naming context:
    /// the objects changed since (only their changed attributes; tombstones for deletions)
    /// and the cookie after them, page after page until the server has no more.
    async fn dirsync_changes(
        &self,
        conn: &mut Conn,
        cookie: &[u8],
        attrs: &[&str],
    ) -> Result<(Vec<Entry>, Vec<u8>), DirectoryError> {
        let base = naming_context(&self.target.config.user_base);
        let mut cookie = cookie.to_vec();
        let mut changed = Vec::new();
        loop {
            let control = RawControl {
                ctype: codec::DIRSYNC_OID.to_owned(),
                crit: true,
                val: Some(codec::encode_dirsync_request(0, 0, &cookie)),
            };
            let filter = "(|(objectClass=user)(objectClass=group))";
            let (found, controls) = conn.search_page(&base, Scope::Subtree, filter, attrs, vec![control]).await?;
            changed.extend(found.entries);
            let response = controls
                .iter()
                .find(|c| c.ctype == codec::DIRSYNC_OID)
                .and_then(|c| c.val.as_deref())
                .ok_or_else(|| DirectoryError::Malformed("the DirSync answer carries no DirSync control".into()))
                .and_then(|v| {
                    codec::parse_dirsync_response(v)
                        .map_err(|e| DirectoryError::Malformed(format!("DirSync control: {e}")))
                })?;
            cookie = response.cookie;
            if !response.more_results {
                return Ok((changed, cookie));
            }
        }
    }

    /// An incremental run by DirSync (Active Directory). DirSync hands back only the changed
    /// attributes, so each changed object of the app is read again whole (never stored from
    /// the partial answer); deletions come as tombstones, by objectGUID. `Err(())` without a
    /// stored cookie: do a full run.
    pub async fn dirsync_run(&self, cursor: Option<&str>) -> Result<RunReport, ()> {
        let mut report = RunReport::start(&self.app, RunKind::Incremental);
        report.strategy = SyncStrategy::Dirsync.as_str().to_owned();
        let Some(cookie) = cursor.map(cookie_bytes) else { return Err(()) };
        let mut conn = match self.target.open().await {
            Ok(c) => c,
            Err(e) => return Ok(report.failed(&e)),
        };
        let (changed, next) =
            // Every attribute: DirSync returns only the objects whose *requested* attributes
            // changed.
            match self.dirsync_changes(&mut conn, &cookie, &[]).await {
                Ok(c) => c,
                Err(e) => {
                    conn.close().await;
                    return Ok(report.failed(&e));
                }
            };
        let cfg = self.target.config.clone();
        let attrs = self.person_attrs();
        let attrs: Vec<&str> = attrs.iter().map(String::as_str).collect();
        let mut upserts = Vec::new();
        let mut deleted = Vec::new();
        for e in changed {
            let guid = e.binary_first("objectGUID").and_then(|g| codec::guid_string(g).ok());
            if e.first("isDeleted").is_some_and(|d| d.eq_ignore_ascii_case("TRUE")) {
                deleted.extend(guid);
                continue;
            }
            // Read whole, through the app's own filters: a changed object outside them is
            // none of the app's business.
            let person = codec::dn_is_under(&e.dn, &cfg.user_base);
            let group = cfg.group_base.as_deref().is_some_and(|b| codec::dn_is_under(&e.dn, b));
            // People and groups may share a base (AD's CN=Users): either filter may match.
            let filter = match (person, group) {
                (true, true) => super::sync::people_or_groups_filter(&cfg),
                (true, false) => cfg.user_filter().to_owned(),
                (false, true) => cfg.group_filter().to_owned(),
                (false, false) => continue,
            };
            match conn.search(&e.dn, Scope::Base, &filter, &attrs, Vec::new()).await {
                Ok(found) => upserts.extend(found.entries),
                Err(DirectoryError::Search { rc: 32, .. }) => {}
                Err(err) => {
                    conn.close().await;
                    return Ok(report.failed(&err));
                }
            }
        }
        let batch = SyncBatch { upserts, deleted, present: None, cookie: Some(next), referrals: Vec::new() };
        self.apply_batch(&mut conn, batch, &mut report).await;
        conn.close().await;
        Ok(report.finish())
    }

    /// An incremental run by `modifyTimestamp` from `since` (GeneralizedTime).
    pub async fn timestamp_run(&self, since: Option<&str>) -> Result<RunReport, ()> {
        let mut report = RunReport::start(&self.app, RunKind::Incremental);
        report.strategy = SyncStrategy::Timestamp.as_str().to_owned();
        let Some(since) = since else { return Err(()) };
        let mut conn = match self.target.open().await {
            Ok(c) => c,
            Err(e) => return Ok(report.failed(&e)),
        };
        let cfg = self.target.config.clone();
        let filter = format!("(modifyTimestamp>={})", codec::escape_filter_value(since));
        let attrs = self.person_attrs();
        let attrs: Vec<&str> = attrs.iter().map(String::as_str).collect();
        let mut upserts = Vec::new();
        match conn
            .paged(&cfg.user_base, cfg.user_scope, &format!("(&{}{filter})", cfg.user_filter()), &attrs, cfg.page_size)
            .await
        {
            Ok(found) => upserts.extend(found.entries),
            Err(e) => return Ok(report.failed(&e)),
        }
        if let Some(group_base) = &cfg.group_base {
            let f = format!("(&{}{filter})", cfg.group_filter());
            match conn
                .paged(group_base, cfg.group_scope, &f, &["*", "entryUUID", "modifyTimestamp"], cfg.page_size)
                .await
            {
                Ok(found) => upserts.extend(found.entries),
                Err(e) => return Ok(report.failed(&e)),
            }
        }
        let newest = upserts
            .iter()
            .filter_map(|e| e.first("modifyTimestamp").map(str::to_owned))
            .max()
            .unwrap_or_else(|| since.to_owned());
        let batch = SyncBatch {
            upserts,
            deleted: Vec::new(),
            present: None,
            cookie: Some(newest.into_bytes()),
            referrals: Vec::new(),
        };
        self.apply_batch(&mut conn, batch, &mut report).await;
        conn.close().await;
        Ok(report.finish())
    }

    /// Where a full reconcile leaves the incremental strategy: read before the listing, so
    /// nothing changed during it is missed.
    pub async fn watermark(&self, strategy: SyncStrategy) -> Option<String> {
        let mut conn = self.target.open().await.ok()?;
        let out = match strategy {
            SyncStrategy::Usn => usn_watermark(&mut conn).await.ok().map(|(inv, usn)| format!("{inv}:{usn}")),
            // DirSync: walk to the end of the change stream, keeping only the cookie.
            SyncStrategy::Dirsync => {
                self.dirsync_changes(&mut conn, &[], &[]).await.ok().map(|(_, c)| codec_cookie(&c))
            }
            SyncStrategy::Timestamp => {
                let root = conn.root_dse().await.ok();
                root.and_then(|r| r.first("currentTime").map(str::to_owned)).or_else(|| {
                    let now = time::OffsetDateTime::now_utc();
                    codec::rfc3339_to_generalized(&crate::clock::system_time_rfc3339(now.into()))
                })
            }
            _ => None,
        };
        conn.close().await;
        out
    }
}

/// An entry's RFC 4533 Sync State control, parsed by `codec` (never by `ldap3`'s parser,
/// which panics on malformed BER); `None` when the entry carries none.
pub(super) fn sync_state(item: &ldap3::ResultEntry) -> Result<Option<codec::SyncStateValue>, DirectoryError> {
    item.1
        .iter()
        .find(|c| c.1.ctype == codec::SYNC_STATE_OID)
        .and_then(|c| c.1.val.as_deref())
        .map(codec::parse_sync_state)
        .transpose()
        .map_err(|e| DirectoryError::Malformed(format!("sync state control: {e}")))
}

/// A content-sync intermediate message's value (`None` for other intermediate messages).
pub(super) fn sync_info(item: &ldap3::ResultEntry) -> Result<Option<SyncInfo>, DirectoryError> {
    // An IntermediateResponse: [APPLICATION 25] SEQUENCE { [0] name OPTIONAL, [1] value OPTIONAL }.
    let mut name = None;
    let mut value = None;
    if let lber::structure::PL::C(parts) = &item.0.payload {
        for part in parts {
            if let lber::structure::PL::P(bytes) = &part.payload {
                match part.id {
                    0 => name = Some(String::from_utf8_lossy(bytes).into_owned()),
                    1 => value = Some(bytes.clone()),
                    _ => {}
                }
            }
        }
    }
    if name.as_deref() != Some(codec::SYNC_INFO_OID) {
        return Ok(None);
    }
    let value = value.unwrap_or_default();
    codec::parse_sync_info(&value).map(Some).map_err(|e| DirectoryError::Malformed(format!("sync info message: {e}")))
}

/// A cookie as the store keeps it: its text when it is text (OpenLDAP's `rid=…,csn=…`),
/// else base64.
pub fn codec_cookie(c: &[u8]) -> String {
    use base64::Engine;
    match std::str::from_utf8(c) {
        Ok(s) if !s.starts_with("b64:") => s.to_owned(),
        _ => format!("b64:{}", base64::engine::general_purpose::STANDARD.encode(c)),
    }
}

/// The inverse of [`codec_cookie`].
pub fn cookie_bytes(s: &str) -> Vec<u8> {
    use base64::Engine;
    match s.strip_prefix("b64:") {
        Some(b) => base64::engine::general_purpose::STANDARD.decode(b).unwrap_or_default(),
        None => s.as_bytes().to_vec(),
    }
}

fn parse_usn_cursor(c: &str) -> Option<(String, u64)> {
    let (inv, usn) = c.rsplit_once(':')?;
    Some((inv.to_owned(), usn.parse().ok()?))
}

/// The DC's `invocationId` (from its NTDS Settings object, named by `dsServiceName`) and its
/// `highestCommittedUSN`.
async fn usn_watermark(conn: &mut Conn) -> Result<(String, u64), DirectoryError> {
    let root = conn.root_dse().await?;
    let usn = root
        .first("highestCommittedUSN")
        .and_then(|u| u.parse().ok())
        .ok_or_else(|| DirectoryError::Malformed("the root DSE has no highestCommittedUSN".into()))?;
    let service = root
        .first("dsServiceName")
        .ok_or_else(|| DirectoryError::Malformed("the root DSE has no dsServiceName".into()))?
        .to_owned();
    let settings = conn
        .read(&service, &["invocationId"])
        .await?
        .ok_or_else(|| DirectoryError::Malformed(format!("{service} not found")))?;
    let invocation = settings
        .binary_first("invocationId")
        .and_then(|b| codec::guid_string(b).ok())
        .or_else(|| settings.first("invocationId").map(str::to_owned))
        .ok_or_else(|| DirectoryError::Malformed(format!("{service} has no invocationId")))?;
    Ok((invocation, usn))
}

/// The `DC=…` part of a DN: where AD keeps `CN=Deleted Objects`.
fn naming_context(dn: &str) -> String {
    let parts: Vec<&str> = dn.split(',').map(str::trim).collect();
    let start = parts.iter().position(|p| p.len() > 3 && p[..3].eq_ignore_ascii_case("dc=")).unwrap_or(0);
    parts[start..].join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_round_trip_as_text_or_base64() {
        let text = b"rid=000,csn=20261203061902.123456Z#000000#000#000000";
        assert_eq!(codec_cookie(text), String::from_utf8_lossy(text));
        assert_eq!(cookie_bytes(&codec_cookie(text)), text);
        let binary = [0u8, 159, 146, 150];
        assert!(codec_cookie(&binary).starts_with("b64:"));
        assert_eq!(cookie_bytes(&codec_cookie(&binary)), binary);
    }

    #[test]
    fn usn_cursors_and_naming_contexts() {
        assert_eq!(
            parse_usn_cursor("3f2504e0-4f89-11d3-9a0c-0305e82c3301:4711"),
            Some(("3f2504e0-4f89-11d3-9a0c-0305e82c3301".into(), 4711))
        );
        assert_eq!(parse_usn_cursor("nonsense"), None);
        assert_eq!(naming_context("CN=Users, DC=example,DC=test"), "DC=example,DC=test");
    }

    #[test]
    fn the_strategy_follows_the_root_dse() {
        let mut root = Entry::default();
        assert_eq!(detect(&root), SyncStrategy::Timestamp);
        root.attrs.insert("highestCommittedUSN".into(), vec!["12".into()]);
        assert_eq!(detect(&root), SyncStrategy::Usn);
        root.attrs.insert("supportedControl".into(), vec![codec::SYNC_REQUEST_OID.into()]);
        assert_eq!(detect(&root), SyncStrategy::SyncreplPersist);
    }
}
