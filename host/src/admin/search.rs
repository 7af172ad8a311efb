//! The console's people search: a flat index of each app's people (userName, SCIM id and
//! the decided Confluence username, e-mail and full name, folded to lower case), scanned
//! with one substring finder. It follows the store without a rebuild: each search first
//! applies what changed since the last one, found by diffing the snapshot's persistent
//! maps (shared subtrees are skipped, so the cost is the change, not the app's size).

use std::collections::HashMap;
use std::sync::Arc;

use memchr::memmem;

use crate::store::index::Index;
use crate::store::{DesiredUser, Snapshot, StoredResource};

/// One person's searchable text.
struct Entry {
    id: Arc<str>,
    haystack: Box<str>,
}

/// One app's people as last indexed.
#[derive(Default)]
struct AppIndex {
    users: Index<(u64, Arc<StoredResource>)>,
    desired: Index<Arc<DesiredUser>>,
    slots: Vec<Option<Entry>>,
    by_id: HashMap<Arc<str>, usize>,
    free: Vec<usize>,
}

/// Every app's people, as last indexed.
#[derive(Default)]
pub struct SearchIndex {
    apps: HashMap<Arc<str>, AppIndex>,
}

fn haystack(user: &StoredResource, decision: Option<&DesiredUser>) -> Box<str> {
    let mut text = format!("{}\n{}", user.name_key, user.id);
    if let Some(account) = decision.and_then(DesiredUser::account) {
        text.push('\n');
        text.push_str(&account.username);
        text.push('\n');
        text.push_str(&account.email);
        text.push('\n');
        text.push_str(&account.full_name);
    }
    text.to_lowercase().into_boxed_str()
}

impl AppIndex {
    /// Brings the index up to `snap`'s state of `app`.
    fn refresh(&mut self, snap: &Snapshot, app: &str) {
        let Some(data) = snap.app(app) else {
            *self = AppIndex::default();
            return;
        };
        let users = &data.users.by_id;
        let desired = &data.desired;
        let mut changed = self.users.changed_keys(users);
        changed.extend(self.desired.changed_keys(desired));
        for id in changed {
            let entry = users.get(&id).map(|(_, user)| Entry {
                id: id.clone(),
                haystack: haystack(user, desired.get(&id).map(|d| d.as_ref())),
            });
            match (self.by_id.get(&id).copied(), entry) {
                (Some(slot), Some(entry)) => self.slots[slot] = Some(entry),
                (Some(slot), None) => {
                    self.slots[slot] = None;
                    self.by_id.remove(&id);
                    self.free.push(slot);
                }
                (None, Some(entry)) => {
                    let slot = match self.free.pop() {
                        Some(slot) => {
                            self.slots[slot] = Some(entry);
                            slot
                        }
                        None => {
                            self.slots.push(Some(entry));
                            self.slots.len() - 1
                        }
                    };
                    self.by_id.insert(id, slot);
                }
                (None, None) => {}
            }
        }
        self.users = users.clone();
        self.desired = desired.clone();
    }
}

impl SearchIndex {
    /// The ids of `app`'s people whose text contains `needle` (lower-case), at most `max`,
    /// after bringing the app's index up to `snap`.
    pub fn find(&mut self, snap: &Snapshot, app: &Arc<str>, needle: &str, max: usize) -> Vec<Arc<str>> {
        let index = self.apps.entry(app.clone()).or_default();
        index.refresh(snap, app);
        let finder = memmem::Finder::new(needle.as_bytes());
        index
            .slots
            .iter()
            .flatten()
            .filter(|e| finder.find(e.haystack.as_bytes()).is_some())
            .take(max)
            .map(|e| e.id.clone())
            .collect()
    }

    /// Forgets apps that are no longer served.
    pub fn retain(&mut self, served: &[Arc<str>]) {
        self.apps.retain(|app, _| served.contains(app));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::ResourceKind;
    use crate::store::{DesiredAccount, DesiredOutcome};

    fn user(id: &str, name: &str, version: u64) -> Arc<StoredResource> {
        Arc::new(StoredResource {
            kind: ResourceKind::User,
            id: Arc::from(id),
            version,
            name_key: Arc::from(name),
            external_id: None,
            json: Arc::from(format!(r#"{{"id":"{id}","userName":"{name}"}}"#).into_bytes()),
            members: crate::store::no_members(),
        })
    }

    #[test]
    fn the_index_follows_adds_changes_decisions_and_removals() {
        let app: Arc<str> = Arc::from("a");
        let mut snap = Snapshot::default();
        for (n, name) in ["ada@example.com", "bob@example.com", "cy@example.com"].iter().enumerate() {
            snap.app_mut(&app).of_mut(ResourceKind::User).insert(n as u64 + 1, user(&format!("id-{n}"), name, 1));
        }
        let mut index = SearchIndex::default();
        assert_eq!(index.find(&snap, &app, "ada", 50).len(), 1);
        assert_eq!(index.find(&snap, &app, "example.com", 2).len(), 2, "at most max");

        // Renamed: found by the new name only.
        snap.app_mut(&app).of_mut(ResourceKind::User).insert(1, user("id-0", "ada.lovelace@example.com", 2));
        assert_eq!(index.find(&snap, &app, "lovelace", 50), vec![Arc::<str>::from("id-0")]);
        // A decision adds the Confluence name and e-mail, folded.
        let decision = DesiredUser {
            scim_id: Arc::from("id-1"),
            outcome: DesiredOutcome::Provision(DesiredAccount {
                username: "bbuilder".into(),
                full_name: "Bob Builder".into(),
                email: "Bob@Builders.example".into(),
                active: true,
                ..DesiredAccount::default()
            }),
            module_name: String::new(),
            module_hash: String::new(),
            decided_at: String::new(),
        };
        snap.set_desired(&app, &Arc::from("id-1"), Some(Arc::new(decision)));
        assert_eq!(index.find(&snap, &app, "bob builder", 50), vec![Arc::<str>::from("id-1")]);
        assert_eq!(index.find(&snap, &app, "bob@builders", 50).len(), 1);
        // Removed: gone, and its slot reused.
        snap.app_mut(&app).of_mut(ResourceKind::User).remove("id-2");
        assert!(index.find(&snap, &app, "cy@", 50).is_empty());
        snap.app_mut(&app).of_mut(ResourceKind::User).insert(9, user("id-9", "dee@example.com", 1));
        assert_eq!(index.find(&snap, &app, "dee", 50).len(), 1);
        assert_eq!(index.apps[&app].slots.len(), 3, "the freed slot was reused");
    }
}
