//! The snapshot's string-keyed indexes: persistent B-trees keyed by the text's hash.
//!
//! A lookup in an `imbl::OrdMap<Arc<str>, _>` compares the probe against a key at every
//! step of its walk, and each key's text lives elsewhere on the heap: a cache miss apiece
//! on a large store, and a long `memcmp` when keys share a prefix (time-ordered ids do).
//! Here the tree is keyed by a 64-bit hash of the text, held in its nodes, so a walk
//! compares integers and reads one text at the end, to confirm. Texts whose hashes collide
//! share a bucket. The order is the hashes', not the texts'; nothing iterates these
//! indexes for it.

use std::hash::{DefaultHasher, Hasher};
use std::sync::Arc;

/// A fixed-key SipHash: the same text hashes the same in every index of the process.
/// Collisions cost a text comparison, never a wrong answer, so a hash an identity
/// provider could aim at does no more than slow its own lookups.
fn hash_text(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    hasher.write(text.as_bytes());
    hasher.finish()
}

/// The entries whose texts share one hash: nearly always one.
#[derive(Clone, PartialEq)]
enum Bucket<V> {
    One((Arc<str>, V)),
    Many(Arc<[(Arc<str>, V)]>),
}

impl<V> Bucket<V> {
    fn entries(&self) -> &[(Arc<str>, V)] {
        match self {
            Bucket::One(entry) => std::slice::from_ref(entry),
            Bucket::Many(entries) => entries,
        }
    }

    fn get(&self, text: &str) -> Option<&V> {
        self.entries().iter().find(|(k, _)| **k == *text).map(|(_, v)| v)
    }
}

impl<V: Clone> Bucket<V> {
    fn of(mut entries: Vec<(Arc<str>, V)>) -> Option<Bucket<V>> {
        match entries.len() {
            0 => None,
            1 => entries.pop().map(Bucket::One),
            _ => Some(Bucket::Many(entries.into())),
        }
    }
}

/// A persistent map from text to `V` (clones are O(1), as for every snapshot map).
#[derive(Clone)]
pub struct Index<V: Clone> {
    by_hash: imbl::OrdMap<u64, Bucket<V>>,
    len: usize,
}

impl<V: Clone> Default for Index<V> {
    fn default() -> Self {
        Index { by_hash: imbl::OrdMap::new(), len: 0 }
    }
}

impl<V: Clone + std::fmt::Debug> std::fmt::Debug for Index<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V: Clone> Index<V> {
    pub fn get(&self, text: &str) -> Option<&V> {
        self.get_hashed(hash_text(text), text)
    }

    /// Sets `text`'s value; returns the one it replaced.
    pub fn insert(&mut self, text: Arc<str>, value: V) -> Option<V> {
        self.insert_hashed(hash_text(&text), text, value)
    }

    pub fn remove(&mut self, text: &str) -> Option<V> {
        self.remove_hashed(hash_text(text), text)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every entry, in hash order (no order a caller can rely on).
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &V)> {
        self.by_hash.values().flat_map(Bucket::entries).map(|(k, v)| (k, v))
    }

    /// Every key, in hash order (no order a caller can rely on).
    pub fn keys(&self) -> impl Iterator<Item = &Arc<str>> {
        self.iter().map(|(k, _)| k)
    }

    /// Every value, in hash order (no order a caller can rely on).
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    fn get_hashed(&self, hash: u64, text: &str) -> Option<&V> {
        self.by_hash.get(&hash)?.get(text)
    }

    fn insert_hashed(&mut self, hash: u64, text: Arc<str>, value: V) -> Option<V> {
        let Some(bucket) = self.by_hash.get_mut(&hash) else {
            self.by_hash.insert(hash, Bucket::One((text, value)));
            self.len += 1;
            return None;
        };
        if let Bucket::One((key, held)) = &mut *bucket {
            if **key == *text {
                return Some(std::mem::replace(held, value));
            }
        }
        // A second text with this hash, or one of several.
        let mut entries = bucket.entries().to_vec();
        let replaced = match entries.iter_mut().find(|(k, _)| **k == *text) {
            Some((_, held)) => Some(std::mem::replace(held, value)),
            None => {
                entries.push((text, value));
                self.len += 1;
                None
            }
        };
        if let Some(next) = Bucket::of(entries) {
            *bucket = next;
        }
        replaced
    }

    fn remove_hashed(&mut self, hash: u64, text: &str) -> Option<V> {
        self.by_hash.get(&hash)?.get(text)?;
        self.len -= 1;
        match self.by_hash.remove(&hash)? {
            Bucket::One((_, removed)) => Some(removed),
            Bucket::Many(entries) => {
                let (gone, rest): (Vec<_>, Vec<_>) = entries.iter().cloned().partition(|(k, _)| **k == *text);
                if let Some(bucket) = Bucket::of(rest) {
                    self.by_hash.insert(hash, bucket);
                }
                gone.into_iter().next().map(|(_, v)| v)
            }
        }
    }
}

impl<V: Clone + PartialEq> Index<V> {
    /// The keys whose values differ between `self` and `newer` (added, removed or
    /// changed), found cheaply where the two share nodes ([`imbl::OrdMap::diff`]).
    pub fn changed_keys(&self, newer: &Index<V>) -> Vec<Arc<str>> {
        let mut changed = Vec::new();
        for item in self.by_hash.diff(&newer.by_hash) {
            match item {
                imbl::ordmap::DiffItem::Add(_, b) | imbl::ordmap::DiffItem::Remove(_, b) => {
                    changed.extend(b.entries().iter().map(|(k, _)| k.clone()));
                }
                imbl::ordmap::DiffItem::Update { old: (_, old), new: (_, new) } => {
                    for (k, v) in old.entries() {
                        if new.get(k) != Some(v) {
                            changed.push(k.clone());
                        }
                    }
                    for (k, _) in new.entries() {
                        if old.get(k).is_none() {
                            changed.push(k.clone());
                        }
                    }
                }
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_found_by_its_text_and_removed_by_it() {
        let mut index = Index::default();
        let texts: Vec<String> = (0..5_000).map(|i| format!("0190a1b2-{i:04}-7000-8000-00000000{i:04}")).collect();
        for (i, t) in texts.iter().enumerate() {
            assert_eq!(index.insert(Arc::from(t.as_str()), i), None);
        }
        assert_eq!(index.insert(Arc::from(texts[3].as_str()), 33), Some(3), "a second insert replaces");
        assert_eq!(index.len(), texts.len());
        for (i, t) in texts.iter().enumerate() {
            assert_eq!(index.get(t), Some(&if i == 3 { 33 } else { i }), "{t}");
        }
        assert_eq!(index.get("0190a1b2-9999-7000-8000-000000009999"), None);
        assert_eq!(index.remove(&texts[7]), Some(7));
        assert_eq!(index.remove(&texts[7]), None);
        assert_eq!(index.get(&texts[7]), None);
        assert_eq!(index.len(), texts.len() - 1);
        let mut keys: Vec<&str> = index.keys().map(|k| &**k).collect();
        keys.sort_unstable();
        let mut expected: Vec<&str> = texts.iter().map(String::as_str).filter(|t| *t != texts[7]).collect();
        expected.sort_unstable();
        assert_eq!(keys, expected);
    }

    #[test]
    fn texts_whose_hashes_collide_share_a_bucket_and_stay_apart() {
        let mut index = Index::default();
        assert_eq!(index.insert_hashed(42, Arc::from("a"), 1), None);
        assert_eq!(index.insert_hashed(42, Arc::from("b"), 2), None);
        assert_eq!(index.insert_hashed(42, Arc::from("c"), 3), None);
        assert_eq!(index.insert_hashed(42, Arc::from("b"), 20), Some(2));
        assert_eq!(index.insert_hashed(7, Arc::from("z"), 0), None);
        assert_eq!(index.len(), 4);
        assert_eq!(index.get_hashed(42, "a"), Some(&1));
        assert_eq!(index.get_hashed(42, "b"), Some(&20));
        assert_eq!(index.get_hashed(42, "z"), None, "another text with the same hash");
        assert_eq!(index.get_hashed(7, "z"), Some(&0));

        let before = index.clone();
        assert_eq!(index.remove_hashed(42, "b"), Some(20));
        assert_eq!(index.remove_hashed(42, "b"), None);
        assert_eq!(index.remove_hashed(42, "a"), Some(1));
        assert_eq!(index.len(), 2);
        assert_eq!(index.get_hashed(42, "c"), Some(&3), "the last of a bucket stays found");
        let mut changed: Vec<Arc<str>> = before.changed_keys(&index);
        changed.sort_unstable();
        assert_eq!(changed, [Arc::from("a"), Arc::from("b")]);
        assert_eq!(index.remove_hashed(42, "c"), Some(3));
        assert!(index.get_hashed(42, "c").is_none());
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn changed_keys_names_what_was_added_removed_or_changed() {
        let mut old = Index::default();
        old.insert(Arc::from("kept"), 1);
        old.insert(Arc::from("changed"), 1);
        old.insert(Arc::from("removed"), 1);
        let mut new = old.clone();
        new.insert(Arc::from("changed"), 2);
        new.remove("removed");
        new.insert(Arc::from("added"), 1);
        let mut changed: Vec<Arc<str>> = old.changed_keys(&new);
        changed.sort_unstable();
        assert_eq!(changed, [Arc::from("added"), Arc::from("changed"), Arc::from("removed")]);
    }
}
