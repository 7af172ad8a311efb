//! The in-memory read model: an immutable snapshot of every app's users and groups.
//!
//! Readers load the current snapshot without locks (`arc-swap`); the writer thread builds
//! the next one from persistent (`imbl`) maps, so a clone is O(1) and a batch of changes
//! becomes visible at once, only after it is durable.

use std::sync::{Arc, LazyLock};

use bytes::Bytes;

use super::index::Index;
use super::{DesiredUser, ObservedUser};
use crate::scim::schema::ResourceKind;

/// One stored resource as it is served.
#[derive(Debug, Clone)]
pub struct StoredResource {
    pub kind: ResourceKind,
    pub id: Arc<str>,
    /// Incremented on every change; `meta.version` is `W/"<version>"`.
    pub version: u64,
    /// Lower-cased `userName` / `displayName`: unique per app and kind.
    pub name_key: Arc<str>,
    pub external_id: Option<Arc<str>>,
    /// The full JSON representation (`schemas`, `id`, attributes, `meta`), ready to send
    /// ([`StoredResource::body`]). `Arc::from` a serialiser's `Vec` copies it into an
    /// allocation of its exact size; `shrink_to_fit` would not, since mimalloc keeps a block
    /// that shrinks by less than half. An `Arc<[u8]>` rather than `Bytes`: its count sits in
    /// the same allocation, where a `Bytes` made from a `Vec` allocates a shared header of
    /// its own the first time it is cloned for a response (32 bytes a resource, for as long
    /// as it is stored).
    pub json: Arc<[u8]>,
    /// For groups, the `value` of each member (user or group id); empty for users
    /// ([`no_members`], one allocation shared by all of them).
    pub members: Arc<[Arc<str>]>,
}

/// The empty member list every user and memberless group shares.
pub fn no_members() -> Arc<[Arc<str>]> {
    static EMPTY: LazyLock<Arc<[Arc<str>]>> = LazyLock::new(|| Arc::from(Vec::new()));
    EMPTY.clone()
}

impl StoredResource {
    /// The `meta.version` / `ETag` value.
    pub fn etag(&self) -> String {
        etag(self.version)
    }

    /// The stored representation as a response body, sharing the stored bytes.
    pub fn body(&self) -> Bytes {
        Bytes::from_owner(self.json.clone())
    }

    /// Parses the stored representation.
    ///
    /// # Errors
    /// Only if the stored bytes are corrupt (they are written by this process as JSON).
    pub fn value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.json)
    }
}

/// Two stored resources are the same when they are the same resource at the same version
/// with the same bytes (what lets the persistent maps be diffed, `imbl::OrdMap::diff`).
impl PartialEq for StoredResource {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.version == other.version && self.id == other.id && self.json == other.json
    }
}

impl Eq for StoredResource {}

/// The weak ETag for a version number.
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// The resources of one kind in one app, with the indexes lookups need.
#[derive(Debug, Clone, Default)]
pub struct Collection {
    pub(crate) by_id: Index<(u64, Arc<StoredResource>)>,
    /// Name key → the resource itself, not its id: a lookup by name (`filter=userName eq`)
    /// is then one walk down one tree.
    pub(crate) by_name: Index<Arc<StoredResource>>,
    pub(crate) by_external: Index<IdSet>,
    /// Insertion sequence → id: the stable order of unsorted listings.
    pub(crate) order: imbl::OrdMap<u64, Arc<str>>,
    /// Member id → the ids of the groups in this collection that list it.
    pub(crate) member_of: Index<IdSet>,
}

/// A small set of ids, sorted: what an index key maps to. Most keys hold one to a few ids
/// (a user's groups, the holders of an `externalId`), and a persistent set per key cost
/// about 380 MB for 100,000 users in 5,000 groups (`imbl` nodes are 64 slots however few
/// keys they hold); a shared slice is rebuilt on change instead.
pub(crate) type IdSet = Arc<[Arc<str>]>;

impl Collection {
    pub fn get(&self, id: &str) -> Option<&Arc<StoredResource>> {
        self.by_id.get(id).map(|(_, r)| r)
    }

    /// By lower-cased `userName` / `displayName`.
    pub fn by_name(&self, name_key: &str) -> Option<&Arc<StoredResource>> {
        self.by_name.get(name_key)
    }

    pub fn by_external_id(&self, external_id: &str) -> impl Iterator<Item = &Arc<StoredResource>> {
        self.by_external.get(external_id).into_iter().flat_map(|ids| ids.iter()).filter_map(|id| self.get(id))
    }

    /// The groups of this collection that list `member_id` as a member.
    pub fn groups_of(&self, member_id: &str) -> impl Iterator<Item = &Arc<StoredResource>> {
        self.member_of.get(member_id).into_iter().flat_map(|ids| ids.iter()).filter_map(|id| self.get(id))
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The resources created at or after sequence number `from`, in creation order, with
    /// their sequence numbers (what cursor pages are built from).
    pub fn after_seq(&self, from: u64) -> impl Iterator<Item = (u64, &Arc<StoredResource>)> {
        self.order.range(from..).filter_map(|(seq, id)| self.get(id).map(|r| (*seq, r)))
    }

    /// Every resource in stable (creation) order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<StoredResource>> {
        self.order.values().filter_map(|id| self.get(id))
    }

    pub(crate) fn insert(&mut self, seq: u64, r: Arc<StoredResource>) {
        if let Some((old_seq, old)) = self.by_id.get(&r.id).cloned() {
            self.unindex(&old);
            self.order.remove(&old_seq);
        }
        self.by_name.insert(r.name_key.clone(), r.clone());
        if let Some(ext) = &r.external_id {
            add_to_set(&mut self.by_external, ext, &r.id);
        }
        for m in r.members.iter() {
            add_to_set(&mut self.member_of, m, &r.id);
        }
        self.order.insert(seq, r.id.clone());
        self.by_id.insert(r.id.clone(), (seq, r));
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<Arc<StoredResource>> {
        let (seq, old) = self.by_id.remove(id)?;
        self.unindex(&old);
        self.order.remove(&seq);
        Some(old)
    }

    pub(crate) fn seq_of(&self, id: &str) -> Option<u64> {
        self.by_id.get(id).map(|(seq, _)| *seq)
    }

    fn unindex(&mut self, r: &StoredResource) {
        for m in r.members.iter() {
            remove_from_set(&mut self.member_of, m, &r.id);
        }
        if self.by_name.get(&r.name_key).is_some_and(|held| held.id == r.id) {
            self.by_name.remove(&r.name_key);
        }
        if let Some(ext) = &r.external_id {
            remove_from_set(&mut self.by_external, ext, &r.id);
        }
    }
}

/// Adds `id` to the set under `key`.
fn add_to_set(index: &mut Index<IdSet>, key: &Arc<str>, id: &Arc<str>) {
    let mut ids: Vec<Arc<str>> = index.get(key).map(|s| s.to_vec()).unwrap_or_default();
    if let Err(at) = ids.binary_search(id) {
        ids.insert(at, id.clone());
        index.insert(key.clone(), Arc::from(ids));
    }
}

/// Removes `id` from the set under `key`, and the set itself once it is empty.
fn remove_from_set(index: &mut Index<IdSet>, key: &Arc<str>, id: &Arc<str>) {
    let Some(ids) = index.get(key) else { return };
    if !ids.contains(id) {
        return;
    }
    let rest: Vec<Arc<str>> = ids.iter().filter(|i| *i != id).cloned().collect();
    if rest.is_empty() {
        index.remove(key);
    } else {
        index.insert(key.clone(), Arc::from(rest));
    }
}

/// One app's resources, and the desired Confluence state of its people.
#[derive(Debug, Clone, Default)]
pub struct AppData {
    pub users: Collection,
    pub groups: Collection,
    /// SCIM user id → what the rules decided.
    pub desired: Index<Arc<super::DesiredUser>>,
}

impl AppData {
    pub fn of(&self, kind: ResourceKind) -> &Collection {
        match kind {
            ResourceKind::User => &self.users,
            ResourceKind::Group => &self.groups,
        }
    }

    pub(crate) fn of_mut(&mut self, kind: ResourceKind) -> &mut Collection {
        match kind {
            ResourceKind::User => &mut self.users,
            ResourceKind::Group => &mut self.groups,
        }
    }
}

/// Everything, as of one committed batch.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub(crate) apps: imbl::HashMap<Arc<str>, AppData>,
    /// Every app's people by the Confluence user they are provisioned as.
    /// (A B-tree: its nodes are full, where a persistent hash map's sparse nodes cost
    /// hundreds of bytes per entry at 100,000 users.)
    holders: Index<Holders>,
    /// What Synchronize last read of each Confluence user, by lower-case username.
    /// Replaced whole by each reading, never edited, so a plain map behind an `Arc`.
    observed: Observed,
    /// Apps removed since the process started (until one of the name is created again): a
    /// write that was in flight when its app was removed must not bring its rows back.
    removed: imbl::HashSet<Arc<str>>,
}

/// The apps' people provisioned as one Confluence user: (app, SCIM id) pairs. Usually one;
/// several when more than one app provisions the same person.
type Holders = Arc<[(Arc<str>, Arc<str>)]>;

/// Every observed Confluence user by lower-case username.
pub(crate) type Observed = Arc<std::collections::HashMap<Arc<str>, Arc<ObservedUser>>>;

impl Snapshot {
    /// The app's data; an app with nothing stored yet has empty collections.
    pub fn app(&self, app: &str) -> Option<&AppData> {
        self.apps.get(app)
    }

    pub fn collection(&self, app: &str, kind: ResourceKind) -> Option<&Collection> {
        self.apps.get(app).map(|a| a.of(kind))
    }

    pub fn get(&self, app: &str, kind: ResourceKind, id: &str) -> Option<&Arc<StoredResource>> {
        self.collection(app, kind).and_then(|c| c.get(id))
    }

    pub(crate) fn app_mut(&mut self, app: &str) -> &mut AppData {
        self.apps.entry(Arc::from(app)).or_default()
    }

    /// Every app's decision that provisions the Confluence user `username` (lower-case),
    /// as (app, decision).
    pub fn holders<'a>(&'a self, username: &str) -> impl Iterator<Item = (&'a Arc<str>, &'a Arc<DesiredUser>)> + 'a {
        self.holders.get(username).into_iter().flat_map(|hs| hs.iter()).filter_map(move |(app, id)| {
            let d = self.apps.get(app)?.desired.get(id)?;
            Some((app, d))
        })
    }

    /// Whether some app's decision grants the Confluence user `username` the group `group`.
    pub fn granted(&self, username: &str, group: &str) -> bool {
        self.holders(username).any(|(_, d)| d.groups().iter().any(|g| g == group))
    }

    /// What the last Synchronize read of the Confluence user `username` (lower-case).
    pub fn observed(&self, username: &str) -> Option<&Arc<ObservedUser>> {
        self.observed.get(username)
    }

    /// Every observed Confluence user.
    pub fn observed_users(&self) -> impl Iterator<Item = &Arc<ObservedUser>> {
        self.observed.values()
    }

    /// Sets the desired state of `app`'s person `id`, keeping the index by username.
    pub(crate) fn set_desired(&mut self, app: &Arc<str>, id: &Arc<str>, desired: Option<Arc<DesiredUser>>) {
        let data = self.app_mut(app);
        let old = match desired.clone() {
            Some(d) => data.desired.insert(id.clone(), d),
            None => data.desired.remove(id),
        };
        let old_name = old.as_deref().and_then(DesiredUser::provisioned_username).map(Arc::<str>::from);
        let new_name = desired.as_deref().and_then(DesiredUser::provisioned_username).map(Arc::<str>::from);
        if old_name == new_name {
            return;
        }
        let holder = (app.clone(), id.clone());
        if let Some(name) = old_name {
            if let Some(hs) = self.holders.get(&name) {
                let rest: Vec<_> = hs.iter().filter(|h| **h != holder).cloned().collect();
                if rest.is_empty() {
                    self.holders.remove(&name);
                } else {
                    self.holders.insert(name, Arc::from(rest));
                }
            }
        }
        if let Some(name) = new_name {
            let mut all: Vec<_> = self.holders.get(&name).map(|hs| hs.to_vec()).unwrap_or_default();
            if !all.contains(&holder) {
                all.push(holder);
            }
            self.holders.insert(name, Arc::from(all));
        }
    }

    /// Drops everything of `app` (it is being removed), its people from the index by
    /// Confluence username included.
    pub(crate) fn forget_app(&mut self, app: &Arc<str>) {
        let ids: Vec<Arc<str>> = self.apps.get(app).map(|d| d.desired.keys().cloned().collect()).unwrap_or_default();
        for id in ids {
            self.set_desired(app, &id, None);
        }
        self.apps.remove(app);
        self.removed.insert(app.clone());
    }

    /// Whether `app` was removed (and not created again) since the process started.
    pub fn is_removed(&self, app: &str) -> bool {
        self.removed.contains(app)
    }

    /// `app` is created again: writes to it are welcome.
    pub(crate) fn revive_app(&mut self, app: &str) {
        self.removed.remove(app);
    }

    /// Replaces every observed Confluence user; returns what was there.
    pub(crate) fn set_observed(&mut self, users: &[Arc<ObservedUser>]) -> Observed {
        let next = Arc::new(users.iter().map(|u| (u.username.clone(), u.clone())).collect());
        std::mem::replace(&mut self.observed, next)
    }

    /// Puts back what [`Snapshot::set_observed`] returned.
    pub(crate) fn restore_observed(&mut self, previous: Observed) {
        self.observed = previous;
    }
}
