//! Hydrated customer documents kept between requests, so a document that is pushed to again and
//! again (a tablet's day, reconciliation rounds, a supervisor's decisions) is not loaded, checked
//! and hydrated from its stored bytes each time.
//!
//! An entry is keyed by the document's version (the log's head when it was last written): a
//! lookup at another version misses, so a document written elsewhere is never served stale.
//! Entries are put only after the transaction that wrote them committed.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use fieldsync_core::document::CustomerDoc;
use lru::LruCache;

/// Documents kept at most. A customer's document in memory is typically tens to a few hundred KB.
const CAPACITY: usize = 256;

pub struct DocCache {
    docs: Mutex<LruCache<String, (i64, CustomerDoc)>>,
}

impl Default for DocCache {
    fn default() -> Self {
        DocCache { docs: Mutex::new(LruCache::new(NonZeroUsize::new(CAPACITY).expect("a positive capacity"))) }
    }
}

impl std::fmt::Debug for DocCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DocCache")
    }
}

impl DocCache {
    /// A copy of the document as it was at `version`, if kept.
    pub fn get(&self, customer_id: &str, version: i64) -> Option<CustomerDoc> {
        let mut docs = self.docs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match docs.get(customer_id) {
            Some((v, doc)) if *v == version => Some(doc.clone()),
            _ => None,
        }
    }

    /// Keeps the document as committed at `version`.
    pub fn put(&self, customer_id: String, version: i64, doc: CustomerDoc) {
        let mut docs = self.docs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        docs.put(customer_id, (version, doc));
    }
}
