//! A bounded in-memory cache of loaded documents, keyed by document id.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use fieldsync_core::DocId;
use lru::LruCache;

/// A cached document and the store version it reflects.
#[derive(Clone, Debug)]
pub struct CachedDoc<V> {
    pub version: i64,
    pub doc: V,
}

/// Least-recently-used cache of documents (`V` is what the sync path keeps
/// in memory, e.g. `automerge::Automerge`), bounded by entry count.
///
/// The cache is a shortcut, never the truth: a reader takes the cached
/// version and catches up with `Store::load_changes_since`, because another
/// server process may have written since. An entry is only replaced by one
/// with the same or a newer version.
pub struct DocCache<V> {
    inner: Mutex<LruCache<DocId, CachedDoc<V>>>,
}

impl<V: Clone> DocCache<V> {
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self {
            inner: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// A copy of the cached document, if present.
    pub fn get(&self, doc_id: &DocId) -> Option<CachedDoc<V>> {
        self.lock().get(doc_id).cloned()
    }

    /// Caches `doc` at `version` unless a newer version is already cached.
    pub fn put(&self, doc_id: DocId, version: i64, doc: V) {
        let mut cache = self.lock();
        if cache.peek(&doc_id).is_some_and(|c| c.version > version) {
            return;
        }
        cache.put(doc_id, CachedDoc { version, doc });
    }

    /// Changes the cached value in place if it is still at `version`
    /// (e.g. to keep what the document reads as beside it).
    pub fn update(&self, doc_id: &DocId, version: i64, f: impl FnOnce(&mut V)) {
        if let Some(c) = self.lock().peek_mut(doc_id)
            && c.version == version
        {
            f(&mut c.doc);
        }
    }

    pub fn remove(&self, doc_id: &DocId) {
        self.lock().pop(doc_id);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<DocId, CachedDoc<V>>> {
        // A panic while holding the lock cannot leave an LruCache half-updated
        // in a way that matters (entries are whole values): keep using it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldsync_core::JobId;

    #[test]
    fn bounded_and_never_goes_back_in_version() {
        let cache = DocCache::new(NonZeroUsize::new(2).unwrap());
        let a = DocId::Job(JobId::from_bytes([1; 16]));
        let b = DocId::Job(JobId::from_bytes([2; 16]));
        cache.put(a, 3, "a3");
        cache.put(a, 2, "a2");
        assert_eq!(cache.get(&a).unwrap().doc, "a3");
        cache.put(b, 1, "b1");
        cache.put(DocId::PriceBook, 1, "p1");
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&a).is_none(), "least recently used entry evicted");
        cache.update(&b, 2, |v| *v = "b2");
        assert_eq!(
            cache.get(&b).unwrap().doc,
            "b1",
            "only at the cached version"
        );
        cache.update(&b, 1, |v| *v = "b1'");
        assert_eq!(cache.get(&b).unwrap().doc, "b1'");
    }
}
