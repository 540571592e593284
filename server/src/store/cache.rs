//! A bounded in-memory cache of loaded documents, keyed by document id.

use std::sync::Mutex;

use fieldsync_core::DocId;
use lru::LruCache;

use super::turns::{Turn, Turns};

/// A cached document and the store version it reflects.
#[derive(Clone, Debug)]
pub struct CachedDoc<V> {
    pub version: i64,
    pub doc: V,
}

/// What a cached value costs in memory, in bytes (an estimate: what the
/// cache's bound counts).
pub trait Weigh {
    fn weight(&self) -> usize;
}

/// Least-recently-used cache of documents (`V` is what the sync path keeps
/// in memory, e.g. `automerge::Automerge`), bounded by the bytes its values
/// weigh ([`Weigh`]) and, optionally, by entry count.
///
/// Bytes, not entries, because documents differ by orders of magnitude (a
/// fresh job against a van with a year of movements) and the process has
/// one memory budget: a count that fits 100 technicians thrashes at 1,000,
/// one that fits 1,000 overruns memory with large documents.
///
/// The cache is a shortcut, never the truth: a reader takes the cached
/// version and catches up with `Store::load_changes_since`, because another
/// server process may have written since. An entry is only replaced by one
/// with the same or a newer version.
///
/// Writers of a document take turns here too ([`Turns`]): each builds on
/// the cached copy the previous one left.
pub struct DocCache<V> {
    inner: Mutex<Inner<V>>,
    turns: Turns,
}

struct Inner<V> {
    lru: LruCache<DocId, Entry<V>>,
    /// Sum of the entries' weights.
    bytes: usize,
    max_bytes: usize,
    max_entries: Option<usize>,
}

struct Entry<V> {
    cached: CachedDoc<V>,
    weight: usize,
}

impl<V: Clone + Weigh> DocCache<V> {
    /// A cache holding at most `max_bytes` of values (by their weight) and,
    /// if given, at most `max_entries` of them.
    pub fn new(max_bytes: usize, max_entries: Option<usize>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                lru: LruCache::unbounded(),
                bytes: 0,
                max_bytes,
                max_entries,
            }),
            turns: Turns::default(),
        }
    }

    /// Waits for this process's earlier writers of `doc_id` ([`Turns::take`]).
    pub async fn turn(&self, doc_id: DocId) -> Turn {
        self.turns.take(doc_id).await
    }

    /// A copy of the cached document, if present.
    pub fn get(&self, doc_id: &DocId) -> Option<CachedDoc<V>> {
        self.lock().lru.get(doc_id).map(|e| e.cached.clone())
    }

    /// Caches `doc` at `version` unless a newer version is already cached.
    /// A value heavier than the whole cache is not kept (and an older copy
    /// of it is dropped).
    pub fn put(&self, doc_id: DocId, version: i64, doc: V) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if inner
            .lru
            .peek(&doc_id)
            .is_some_and(|e| e.cached.version > version)
        {
            return;
        }
        inner.remove(&doc_id);
        let weight = doc.weight();
        if weight > inner.max_bytes {
            return;
        }
        inner.bytes += weight;
        inner.lru.put(
            doc_id,
            Entry {
                cached: CachedDoc { version, doc },
                weight,
            },
        );
        inner.evict();
    }

    /// Changes the cached value in place if it is still at `version`
    /// (e.g. to keep what the document reads as beside it).
    pub fn update(&self, doc_id: &DocId, version: i64, f: impl FnOnce(&mut V)) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(entry) = inner.lru.peek_mut(doc_id) else {
            return;
        };
        if entry.cached.version != version {
            return;
        }
        f(&mut entry.cached.doc);
        let (old, new) = (entry.weight, entry.cached.doc.weight());
        entry.weight = new;
        inner.bytes = inner.bytes - old + new;
        if new > inner.max_bytes {
            inner.remove(doc_id);
        }
        inner.evict();
    }

    pub fn remove(&self, doc_id: &DocId) {
        self.lock().remove(doc_id);
    }

    pub fn len(&self) -> usize {
        self.lock().lru.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the cached values weigh together, in bytes.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<V>> {
        // A panic while holding the lock cannot leave the cache half-updated
        // in a way that matters (entries are whole values, and the weights
        // are adjusted after the panicking calls): keep using it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<V> Inner<V> {
    fn remove(&mut self, doc_id: &DocId) {
        if let Some(old) = self.lru.pop(doc_id) {
            self.bytes -= old.weight;
        }
    }

    /// Drops least recently used entries until both bounds hold.
    fn evict(&mut self) {
        while self.bytes > self.max_bytes
            || self.max_entries.is_some_and(|max| self.lru.len() > max)
        {
            let Some((_, old)) = self.lru.pop_lru() else {
                break;
            };
            self.bytes -= old.weight;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldsync_core::JobId;

    /// A value that weighs its length.
    impl Weigh for &str {
        fn weight(&self) -> usize {
            self.len()
        }
    }

    fn job(n: u8) -> DocId {
        DocId::Job(JobId::from_bytes([n; 16]))
    }

    #[test]
    fn bounded_and_never_goes_back_in_version() {
        let cache = DocCache::new(usize::MAX, Some(2));
        let (a, b) = (job(1), job(2));
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

    #[test]
    fn evicts_by_bytes_not_entries() {
        let cache = DocCache::new(10, None);
        let (a, b, c) = (job(1), job(2), job(3));
        cache.put(a, 1, "aaaa");
        cache.put(b, 1, "bbbb");
        assert_eq!((cache.len(), cache.bytes()), (2, 8));
        cache.get(&a);
        // 8 + 4 > 10: the least recently used (b) goes, however few entries.
        cache.put(c, 1, "cccc");
        assert!(cache.get(&b).is_none());
        assert_eq!((cache.len(), cache.bytes()), (2, 8));
        // Many small values fit where two large ones did.
        for n in 10..20 {
            cache.put(job(n), 1, "x");
        }
        assert_eq!((cache.len(), cache.bytes()), (10, 10));
        assert!(cache.get(&a).is_none() && cache.get(&c).is_none());
        // A newer, heavier version replaces the old one's weight.
        cache.put(job(19), 2, "yyyyyyyy");
        assert_eq!(cache.bytes(), 10);
        assert_eq!(cache.get(&job(19)).unwrap().doc, "yyyyyyyy");
        assert_eq!(cache.len(), 3);
        // Growing in place counts too, and evicts others to fit.
        cache.update(&job(19), 2, |v| *v = "zzzzzzzzz");
        assert_eq!((cache.len(), cache.bytes()), (2, 10));
        // A value heavier than the whole cache is not kept, nor its old copy.
        cache.put(job(19), 3, "far too heavy");
        assert!(cache.get(&job(19)).is_none());
        assert_eq!((cache.len(), cache.bytes()), (1, 1));
    }
}
