//! The change cursor on the server (issue 19 item 1): which held documents
//! a request with a cursor gets, and the cursor its response carries.
//! docs/sync-protocol.md "The change cursor" is the contract.

use std::collections::{BTreeMap, BTreeSet};

use fieldsync_core::DocId;
use fieldsync_core::sync::{Access, Cursor, Delta, HeldDoc, SyncRequest, Unnamed, held_digest};

use crate::app::AppStore;
use crate::store::StoreError;

/// How one request is answered with respect to the cursor.
#[derive(Debug)]
pub struct Plan {
    /// The documents the request does not name.
    pub unnamed: Unnamed,
    /// The stamp read before the documents were loaded: the next cursor's
    /// base, when the request takes one.
    pub issue: Option<i64>,
    /// The request's cursor could not be used.
    pub resync: bool,
}

impl Plan {
    /// A client that knows no cursor: today's answer, and no cursor.
    pub fn classic() -> Self {
        Self {
            unnamed: Unnamed::Whole,
            issue: None,
            resync: false,
        }
    }
}

/// The stamp to read before loading, for requests that take a cursor.
pub async fn loaded_at(
    store: &dyn AppStore,
    request: &SyncRequest,
) -> Result<Option<(i64, i64)>, StoreError> {
    if request.held.is_none() {
        return Ok(None);
    }
    store.commit_stamp().await.map(Some)
}

/// Decides how the documents the request does not name are answered.
/// `loaded_at` is [`loaded_at`]'s answer, read before `held` was loaded, so
/// `held` holds every commit stamped up to it.
pub async fn plan(
    store: &dyn AppStore,
    request: &SyncRequest,
    held: &BTreeMap<DocId, HeldDoc>,
    loaded_at: Option<(i64, i64)>,
) -> Result<Plan, StoreError> {
    let Some((stamp, pruned_to)) = loaded_at else {
        return Ok(Plan::classic());
    };
    let Some(bytes) = &request.cursor else {
        // The request names everything the device holds: answered in full,
        // so the device holds every commit up to `stamp` afterwards.
        return Ok(Plan {
            unnamed: Unnamed::Whole,
            issue: Some(stamp),
            resync: false,
        });
    };
    // What the device holds if its cursor is right: the documents of its
    // scope, and any it named (kept copies the server answers for).
    let expected: BTreeSet<DocId> = held
        .iter()
        .filter(|(_, h)| h.access != Access::Removed)
        .map(|(id, _)| *id)
        .chain(request.mentioned())
        .collect();
    let same_set = request
        .held
        .as_ref()
        .is_some_and(|d| d.as_slice() == held_digest(&expected).as_slice());
    let usable = Cursor::decode(bytes).filter(|c| {
        // Too old (its commits' records were pruned), or from a timeline
        // this server has not reached (another database).
        let base = i64::try_from(c.base).unwrap_or(i64::MAX);
        same_set && base >= pruned_to && base <= stamp
    });
    let Some(cursor) = usable else {
        return Ok(Plan {
            unnamed: Unnamed::Nothing,
            issue: None,
            resync: true,
        });
    };
    let named: BTreeSet<DocId> = request.mentioned().collect();
    let ids: Vec<DocId> = expected
        .into_iter()
        .filter(|id| !named.contains(id) && held.contains_key(id))
        .collect();
    let base = i64::try_from(cursor.base).unwrap_or(i64::MAX);
    let mut changed: BTreeMap<DocId, Delta> = BTreeMap::new();
    // Commits stamped after `stamp` too: the load may have seen some of
    // them, and the reply must carry every change of the loaded document
    // the device lacks, or its heads name changes the device never gets
    // and the device cannot acknowledge them. Those it did not see come
    // next time (stamped after the next cursor's base).
    for commit in store.commits_since(&ids, base, i64::MAX).await? {
        if cursor.mine.contains(&(commit.stamp as u64)) {
            // The device's own changes: it has them.
            continue;
        }
        let Some(doc) = held.get(&commit.doc_id) else {
            continue;
        };
        let late = commit.stamp > stamp;
        let delta = changed
            .entry(commit.doc_id)
            .or_insert_with(|| Delta::Changes(Vec::new()));
        match delta {
            Delta::Changes(hashes) if late => hashes.extend(
                commit
                    .hashes
                    .into_iter()
                    .filter(|h| doc.doc.get_change_meta_by_hash(h).is_some()),
            ),
            Delta::Changes(hashes) if commit.complete => hashes.extend(commit.hashes),
            _ => *delta = Delta::Whole,
        }
    }
    changed.retain(|_, d| !matches!(d, Delta::Changes(h) if h.is_empty()));
    Ok(Plan {
        unnamed: Unnamed::Since(changed),
        issue: Some(stamp),
        resync: false,
    })
}

/// The cursor for the response: the stamp read before loading, and the
/// stamps of the commits that stored this device's changes.
pub fn next(base: i64, mine: Vec<i64>) -> Vec<u8> {
    let mine = mine
        .into_iter()
        .filter_map(|s| u64::try_from(s).ok())
        .collect();
    Cursor::after(u64::try_from(base).unwrap_or(0), mine).encode()
}
