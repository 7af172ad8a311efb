//! One directory app's runs: the full reconcile (a paged listing of every person and
//! group, compared with what the app stores) and the incremental runs between them (RFC 4533
//! content sync, Active Directory's `uSNChanged`, or `modifyTimestamp`). Every change goes
//! through `Inbound::apply`, the same pipeline SCIM writes take, so the rules, the outbox
//! and the audit log treat a directory person exactly like a SCIM one.
//!
//! Safety rails: nothing is deprovisioned after a search that failed or was cut short, or
//! that found no people at all; and a run that would deprovision more than the app's
//! threshold applies nothing and waits for an administrator's approval.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::client::{Conn, Entry, Target};
use super::codec;
use super::entry::{self, Skipped};
use super::report::{Item, RunKind, RunReport};
use super::DirectoryError;
use crate::config::Membership;
use crate::inbound::{Applied, Change, Delivery, Inbound};
use crate::scim::schema::ResourceKind;
use crate::store::{Mutation, Store, StoredResource};

/// Changes applied at once during a run: enough to fill the store's group commits.
const CONCURRENCY: usize = 16;

/// The attributes always read of a person, whatever the app fetches for its rules.
const PERSON_ATTRS: [&str; 12] = [
    "cn",
    "sn",
    "givenName",
    "displayName",
    "mail",
    "title",
    "userAccountControl",
    "accountExpires",
    "memberOf",
    "entryUUID",
    "objectGUID",
    "modifyTimestamp",
];

/// A listing of the directory: its people and groups by stable id.
#[derive(Debug, Default)]
pub struct Listing {
    pub people: BTreeMap<String, Map<String, Value>>,
    pub groups: BTreeMap<String, Map<String, Value>>,
    pub skipped: Vec<Skipped>,
    pub referrals: Vec<String>,
}

/// A directory app's sync: where it reads, and where it writes.
pub struct DirectorySync {
    pub app: Arc<str>,
    pub target: Target,
    pub inbound: Arc<Inbound>,
    pub store: Store,
}

impl DirectorySync {
    /// The attributes a person search asks for.
    pub fn person_attrs(&self) -> Vec<String> {
        person_attrs(&self.target.config)
    }

    fn group_attrs(&self) -> Vec<String> {
        let cfg = &self.target.config;
        vec![
            "*".to_owned(),
            cfg.id_attribute().to_owned(),
            "entryUUID".to_owned(),
            "objectGUID".to_owned(),
            "modifyTimestamp".to_owned(),
        ]
    }

    /// Reads every person and group (paged), resolving memberships to stable ids.
    ///
    /// # Errors
    /// Any search failed or was cut short: a partial listing is never returned.
    pub async fn list(&self, conn: &mut Conn) -> Result<Listing, DirectoryError> {
        let cfg = self.target.config.clone();
        let now = time::OffsetDateTime::now_utc();
        let attrs = self.person_attrs();
        let attrs: Vec<&str> = attrs.iter().map(String::as_str).collect();
        let found = conn.paged(&cfg.user_base, cfg.user_scope, cfg.user_filter(), &attrs, cfg.page_size).await?;
        let mut listing = Listing { referrals: found.referrals, ..Listing::default() };
        let mut by_dn: HashMap<String, String> = HashMap::new();
        let mut member_of: Vec<(String, Vec<String>)> = Vec::new();
        for e in &found.entries {
            match (entry::stable_id(&cfg, e), entry::person(&cfg, e, now)) {
                (Ok(id), Ok(attrs)) => {
                    by_dn.insert(codec::normalize_dn(&e.dn), id.clone());
                    if cfg.membership() == Membership::MemberOf {
                        member_of.push((id.clone(), e.values("memberOf").cloned().unwrap_or_default()));
                    }
                    listing.people.insert(id, attrs);
                }
                (Err(s), _) | (_, Err(s)) => listing.skipped.push(s),
            }
        }
        let Some(group_base) = cfg.group_base.clone() else { return Ok(listing) };
        let gattrs = self.group_attrs();
        let gattrs: Vec<&str> = gattrs.iter().map(String::as_str).collect();
        let groups = conn.paged(&group_base, cfg.group_scope, cfg.group_filter(), &gattrs, cfg.page_size).await?;
        listing.referrals.extend(groups.referrals);
        let mut group_dns: HashMap<String, String> = HashMap::new();
        let mut members: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut group_entries = Vec::new();
        for g in groups.entries {
            let id = match entry::stable_id(&cfg, &g) {
                Ok(id) => id,
                Err(s) => {
                    listing.skipped.push(s);
                    continue;
                }
            };
            group_dns.insert(codec::normalize_dn(&g.dn), id.clone());
            // With memberOf, the people's entries (read above) say it; not the group's.
            let listed = self.listed_members(conn, &g, &by_dn).await?;
            members.entry(id.clone()).or_default().extend(listed);
            group_entries.push((id, g));
        }
        for (uid, dns) in member_of {
            for dn in dns {
                if let Some(gid) = group_dns.get(&codec::normalize_dn(&dn)) {
                    members.entry(gid.clone()).or_default().insert(uid.clone());
                }
            }
        }
        for (id, g) in group_entries {
            let ids: Vec<String> = members.remove(&id).unwrap_or_default().into_iter().collect();
            listing.groups.insert(id, entry::group(&g, &ids));
        }
        Ok(listing)
    }

    /// A group's member DNs in `attr`, fetched in ranges when the server hands them out so
    /// (AD past 1,500 members answers `member` empty and `member;range=0-1499` instead).
    async fn all_member_dns(&self, conn: &mut Conn, group: &Entry, attr: &str) -> Result<Vec<String>, DirectoryError> {
        let ranged = group.attrs.iter().find_map(|(name, values)| {
            codec::parse_ranged_attribute(name).filter(|r| r.base.eq_ignore_ascii_case(attr)).map(|r| (r, values))
        });
        match ranged {
            Some((range, first)) => {
                let values = conn.ranged_values(&group.dn, &range, first.clone()).await?;
                Ok(values)
            }
            None => {
                let values = entry::member_dns(group, attr);
                if self.target.config.is_ad() && values.len() >= super::client::RANGE_STEP {
                    // AD hands out at most MaxValRange values of an attribute at once (1,500
                    // by default, but a domain may set less or more): read a large list in
                    // ranges so none is missed, whatever the server's limit.
                    conn.ranged_from_start(&group.dn, attr).await
                } else {
                    Ok(values)
                }
            }
        }
    }

    /// Every person in `group_dn` through nested groups (AD's LDAP_MATCHING_RULE_IN_CHAIN).
    async fn nested_members(&self, conn: &mut Conn, group_dn: &str) -> Result<Vec<String>, DirectoryError> {
        let cfg = &self.target.config;
        let filter = format!(
            "(&{}(memberOf:{}:={}))",
            cfg.user_filter(),
            codec::MATCHING_RULE_IN_CHAIN,
            codec::escape_filter_value(group_dn)
        );
        let found = conn.paged(&cfg.user_base, cfg.user_scope, &filter, &["1.1"], cfg.page_size).await?;
        Ok(found.entries.into_iter().map(|e| e.dn).collect())
    }

    /// A full reconcile: list the directory, then make the app match it. `allowed` lifts
    /// the deletion threshold up to that many deprovisionings (an approved run).
    pub async fn full(&self, allowed: Option<usize>, cursor: Option<(String, String)>) -> RunReport {
        let mut report = RunReport::start(&self.app, RunKind::Full);
        let listing = match self.target.open().await {
            Ok(mut conn) => {
                let listing = self.list(&mut conn).await;
                conn.close().await;
                listing
            }
            Err(e) => Err(e),
        };
        let listing = match listing {
            Ok(l) => l,
            Err(e) => return report.failed(&e),
        };
        for r in &listing.referrals {
            report.warn(format!("referral not chased: {r}"));
        }
        for s in &listing.skipped {
            report.skip(&s.dn, &s.reason);
        }
        let snap = self.inbound.snapshot();
        let stored_people: Vec<Arc<StoredResource>> =
            snap.collection(&self.app, ResourceKind::User).map(|c| c.iter().cloned().collect()).unwrap_or_default();
        let stored_groups: Vec<Arc<StoredResource>> =
            snap.collection(&self.app, ResourceKind::Group).map(|c| c.iter().cloned().collect()).unwrap_or_default();
        if listing.people.is_empty() && !stored_people.is_empty() {
            let e = DirectoryError::Refused(format!(
                "the directory returned no people (the app has {}); nothing was changed or deprovisioned",
                stored_people.len()
            ));
            return report.failed(&e);
        }
        let gone_people: Vec<&Arc<StoredResource>> =
            stored_people.iter().filter(|r| !listing.people.contains_key(&*r.id)).collect();
        let gone_groups: Vec<Change> = stored_groups
            .iter()
            .filter(|g| !listing.groups.contains_key(&*g.id))
            .map(|g| Change::Gone { kind: ResourceKind::Group, id: g.id.clone() })
            .collect();
        let newly_inactive: Vec<(&String, &Map<String, Value>)> = listing
            .people
            .iter()
            .filter(|(id, attrs)| {
                attrs.get("active") == Some(&Value::Bool(false))
                    && snap.get(&self.app, ResourceKind::User, id).is_some_and(|r| is_active(r))
            })
            .collect();
        let deprovisions = gone_people.len() + newly_inactive.len();
        let limit = self.threshold(stored_people.len());
        if deprovisions > limit && allowed.is_none_or(|a| deprovisions > a) {
            for r in &gone_people {
                report.deleted.push(Item::new(&r.id, &r.name_key, "no longer in the directory"));
            }
            for (id, attrs) in &newly_inactive {
                report.disabled.push(Item::new(id, &user_name(attrs), "disabled in the directory"));
            }
            report.awaiting(format!(
                "this run would deprovision {deprovisions} people, more than the threshold of {limit}: nothing was applied; approve it to go ahead"
            ));
            return report.finish();
        }
        // Groups first: people written after them find their groups in place and are
        // decided once.
        let group_changes = listing.groups.into_iter().map(|(id, attrs)| Change::Put {
            kind: ResourceKind::Group,
            id: Arc::from(id.as_str()),
            attrs,
        });
        self.apply_all(group_changes, &mut report).await;
        let person_changes = listing.people.into_iter().map(|(id, attrs)| Change::Put {
            kind: ResourceKind::User,
            id: Arc::from(id.as_str()),
            attrs,
        });
        self.apply_all(person_changes, &mut report).await;
        self.apply_all(gone_groups.into_iter(), &mut report).await;
        let gone = gone_people.into_iter().map(|r| Change::Gone { kind: ResourceKind::User, id: r.id.clone() });
        self.apply_all(gone.collect::<Vec<_>>().into_iter(), &mut report).await;
        if let Some((stream, value)) = cursor {
            if let Err(e) = self.store.commit(vec![self.cursor(&stream, Some(value))]).await {
                report.warn(format!("cannot store the cursor: {e}"));
            }
        }
        report.finish()
    }

    /// The most people one run may deprovision without approval.
    pub fn threshold(&self, people: usize) -> usize {
        let cfg = &self.target.config;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let share = (people as f64 * cfg.deletion_threshold_percent / 100.0).floor() as usize;
        share.max(cfg.deletion_threshold_count)
    }

    pub fn cursor(&self, stream: &str, value: Option<String>) -> Mutation {
        Mutation::Cursor { app: self.app.clone(), stream: stream.to_owned(), cursor: value }
    }

    /// Applies changes, [`CONCURRENCY`] at a time, each into the report.
    pub async fn apply_all(&self, changes: impl Iterator<Item = Change>, report: &mut RunReport) {
        use futures_util::stream::{self, StreamExt};
        let Some(app) = self.inbound.app(&self.app) else {
            report.warn("the app was removed during the run".to_owned());
            return;
        };
        let app = &app;
        let results: Vec<(Change, Result<Applied, String>)> = stream::iter(changes)
            .map(|change| async move {
                let result =
                    self.inbound.apply(app, change.clone(), Vec::new(), Delivery::Queued).await.map_err(|e| e.detail);
                (change, result)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (change, result) in results {
            report.record(&change, result);
        }
    }

    /// Applies one change with `extra` (the cursor that covers it) in its transaction.
    pub async fn apply_one(&self, change: Change, extra: Vec<Mutation>, report: &mut RunReport) {
        let Some(app) = self.inbound.app(&self.app) else { return };
        let result = self.inbound.apply(&app, change.clone(), extra, Delivery::Queued).await.map_err(|e| e.detail);
        report.record(&change, result);
    }

    /// Commits a cursor alone (a run that changed nothing).
    pub async fn store_cursor(&self, stream: &str, value: Option<String>, report: &mut RunReport) {
        if let Err(e) = self.store.commit(vec![self.cursor(stream, value)]).await {
            report.warn(format!("cannot store the cursor: {e}"));
        }
    }

    /// What the app stores (people and groups), by the entryUUID of each one's entry: its
    /// id itself when the id attribute is entryUUID, else read from the stored entry (once
    /// per batch, not once per UUID). Entries without one are left out.
    pub fn stored_by_uuid(&self) -> HashMap<String, (ResourceKind, Arc<str>)> {
        let snap = self.inbound.snapshot();
        let by_id = self.target.config.id_attribute().eq_ignore_ascii_case("entryUUID");
        let pointer = format!("/{}/attributes/entryUUID/0", crate::inbound::person::LDAP_ENTRY);
        let mut out = HashMap::new();
        for kind in [ResourceKind::User, ResourceKind::Group] {
            let Some(coll) = snap.collection(&self.app, kind) else { continue };
            for r in coll.iter() {
                let uuid = if by_id {
                    Some(r.id.to_string())
                } else {
                    r.value()
                        .ok()
                        .and_then(|v| v.pointer(&pointer).and_then(Value::as_str).map(str::to_ascii_lowercase))
                };
                if let Some(uuid) = uuid {
                    out.insert(uuid, (kind, r.id.clone()));
                }
            }
        }
        out
    }

    /// Person ids by their entry's normalised DN, from what the app stores.
    pub fn people_by_dn(&self) -> HashMap<String, String> {
        let snap = self.inbound.snapshot();
        snap.collection(&self.app, ResourceKind::User)
            .map(|c| {
                c.iter()
                    .filter_map(|r| r.external_id.as_ref().map(|dn| (codec::normalize_dn(dn), r.id.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A group entry's stored attributes, its members resolved against the stored people
    /// and `extra` (people of the same batch, by normalised DN).
    pub async fn group_change(
        &self,
        conn: &mut Conn,
        group: &Entry,
        people: &HashMap<String, String>,
    ) -> Result<Change, DirectoryError> {
        let cfg = self.target.config.clone();
        let id =
            entry::stable_id(&cfg, group).map_err(|s| DirectoryError::Malformed(format!("{}: {}", s.dn, s.reason)))?;
        let mut ids = self.listed_members(conn, group, people).await?;
        if cfg.membership() == Membership::MemberOf {
            // One group alone: ask which people name it in their memberOf.
            let filter = format!("(&{}(memberOf={}))", cfg.user_filter(), codec::escape_filter_value(&group.dn));
            let found = conn.paged(&cfg.user_base, cfg.user_scope, &filter, &["1.1"], cfg.page_size).await?;
            ids.extend(found.entries.iter().filter_map(|e| people.get(&codec::normalize_dn(&e.dn)).cloned()));
        }
        let ids: Vec<String> = ids.into_iter().collect();
        Ok(Change::Put { kind: ResourceKind::Group, id: Arc::from(id.as_str()), attrs: entry::group(group, &ids) })
    }

    /// The ids of the people `group` lists itself (`member` / `uniqueMember`, in ranges when
    /// large) and, with nested groups on, those in it through other groups; `people` maps
    /// normalised DNs to ids (a DN that is not one of the app's people is left out).
    async fn listed_members(
        &self,
        conn: &mut Conn,
        group: &Entry,
        people: &HashMap<String, String>,
    ) -> Result<BTreeSet<String>, DirectoryError> {
        let cfg = &self.target.config;
        let mut dns = match cfg.membership() {
            Membership::Member => self.all_member_dns(conn, group, "member").await?,
            Membership::UniqueMember => self.all_member_dns(conn, group, "uniqueMember").await?,
            Membership::MemberOf => Vec::new(),
        };
        if cfg.nested_groups {
            dns.extend(self.nested_members(conn, &group.dn).await?);
        }
        Ok(dns.iter().filter_map(|dn| people.get(&codec::normalize_dn(dn)).cloned()).collect())
    }

    /// Whether an entry is a group of the app (under the group base, of a group class).
    pub fn is_group(&self, e: &Entry) -> bool {
        let cfg = &self.target.config;
        let Some(base) = &cfg.group_base else { return false };
        codec::dn_is_under(&e.dn, base)
            && e.values("objectClass").is_some_and(|classes| {
                classes.iter().any(|c| {
                    let c = c.to_ascii_lowercase();
                    c == "group" || c == "groupofnames" || c == "groupofuniquenames" || c == "posixgroup"
                })
            })
    }

    /// The base that covers both the people and the groups, and the filter that matches
    /// either (for one content sync search over both, in subtree scope).
    pub fn people_and_groups(&self) -> (String, String) {
        let cfg = &self.target.config;
        let Some(group_base) = &cfg.group_base else { return (cfg.user_base.clone(), cfg.user_filter().to_owned()) };
        let a: Vec<String> = cfg.user_base.split(',').map(|p| p.trim().to_owned()).collect();
        let b: Vec<String> = group_base.split(',').map(|p| p.trim().to_owned()).collect();
        let common: Vec<String> = a
            .iter()
            .rev()
            .zip(b.iter().rev())
            .take_while(|(x, y)| x.eq_ignore_ascii_case(y))
            .map(|(x, _)| x.clone())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        (common.join(","), people_or_groups_filter(cfg))
    }
}

/// A filter matching the app's people or its groups.
pub fn people_or_groups_filter(cfg: &crate::config::DirectoryConfig) -> String {
    format!("(|{}{})", cfg.user_filter(), cfg.group_filter())
}

/// The attributes a person search asks for: the app's list (all by default) and those the
/// pipeline always reads.
pub fn person_attrs(cfg: &crate::config::DirectoryConfig) -> Vec<String> {
    let mut attrs: Vec<String> = if cfg.attributes.is_empty() { vec!["*".to_owned()] } else { cfg.attributes.clone() };
    attrs.extend(PERSON_ATTRS.iter().map(|a| (*a).to_owned()));
    attrs.push(cfg.username_attribute().to_owned());
    attrs.push(cfg.id_attribute().to_owned());
    attrs.sort_by_key(|a| a.to_ascii_lowercase());
    attrs.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    attrs
}

fn is_active(r: &StoredResource) -> bool {
    r.value().ok().and_then(|v| v.get("active").and_then(Value::as_bool)).unwrap_or(true)
}

fn user_name(attrs: &Map<String, Value>) -> String {
    attrs.get("userName").and_then(Value::as_str).unwrap_or_default().to_owned()
}
