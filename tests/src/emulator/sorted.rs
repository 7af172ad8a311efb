//! A sorted list of names with O(1) access by position, so a page at any offset costs
//! O(limit) (a 100,000-user listing is 500 pages of 200, not 500 scans).
//!
//! Single inserts and removals keep the list sorted (a binary search and one `memmove`).
//! Bulk seeding appends unsorted and sorts once, on the next read.

use std::sync::Arc;

#[derive(Debug, Default)]
pub(crate) struct SortedKeys {
    keys: Vec<Arc<str>>,
    unsorted: bool,
}

impl SortedKeys {
    /// Inserts `key` at its place; inserting a present key changes nothing.
    pub(crate) fn insert(&mut self, key: Arc<str>) {
        if self.unsorted {
            self.push_unsorted(key);
            return;
        }
        if let Err(at) = self.keys.binary_search(&key) {
            self.keys.insert(at, key);
        }
    }

    /// Appends without sorting; the caller guarantees `key` is not present.
    pub(crate) fn push_unsorted(&mut self, key: Arc<str>) {
        if let Some(last) = self.keys.last() {
            self.unsorted |= **last >= *key;
        }
        self.keys.push(key);
    }

    pub(crate) fn remove(&mut self, key: &str) {
        self.settle();
        if let Ok(at) = self.keys.binary_search_by(|probe| (**probe).cmp(key)) {
            self.keys.remove(at);
        }
    }

    pub(crate) fn len(&mut self) -> usize {
        self.settle();
        self.keys.len()
    }

    /// The keys in `[start, start + limit)` and whether more follow.
    pub(crate) fn page(&mut self, start: usize, limit: usize) -> (&[Arc<str>], bool) {
        self.settle();
        let from = start.min(self.keys.len());
        let to = from.saturating_add(limit).min(self.keys.len());
        (&self.keys[from..to], to < self.keys.len())
    }

    fn settle(&mut self) {
        if self.unsorted {
            self.keys.sort_unstable();
            self.keys.dedup();
            self.unsorted = false;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn names(page: &[Arc<str>]) -> Vec<&str> {
        page.iter().map(|k| &**k).collect()
    }

    #[test]
    fn keeps_order_across_inserts_bulk_appends_and_removals() {
        let mut keys = SortedKeys::default();
        for k in ["m", "c", "x", "c"] {
            keys.insert(k.into());
        }
        assert_eq!(names(keys.page(0, 10).0), ["c", "m", "x"]);
        keys.push_unsorted("a".into());
        keys.push_unsorted("z".into());
        keys.insert("b".into());
        keys.remove("m");
        let (page, more) = keys.page(1, 3);
        assert_eq!((names(page), more), (vec!["b", "c", "x"], true));
        let (page, more) = keys.page(4, 3);
        assert_eq!((names(page), more), (vec!["z"], false));
        assert!(keys.page(99, 3).0.is_empty());
        assert_eq!(keys.len(), 5);
    }
}
