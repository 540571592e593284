//! The change cursor on the server (issue 19 item 1): which held documents
//! a request with a cursor gets, and the cursor its response carries.
//! docs/sync-protocol.md "The change cursor" is the contract.

use std::collections::{BTreeMap, BTreeSet};

use fieldsync_core::DocId;
use fieldsync_core::sync::{
    Access, Cursor, Delta, HeldDoc, Outcome, SyncRequest, SyncResponse, Unnamed,
    digest_of_held_text, held_digest, held_text, parse_held_text,
};
use time::OffsetDateTime;

use crate::app::AppStore;
use crate::store::{DeviceId, StoreError};

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
    /// The documents the device holds as it sends the request, when the
    /// server knows them (it then remembers what the device holds after
    /// the response, [`remember`]).
    pub holds: Option<BTreeSet<DocId>>,
}

impl Plan {
    /// A client that knows no cursor: today's answer, and no cursor.
    pub fn classic() -> Self {
        Self {
            unnamed: Unnamed::Whole,
            issue: None,
            resync: false,
            holds: None,
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

/// The documents the device holds, when its `held` digest is not its
/// scope's (`scope` as [`super::scope::resolve`] gave it) but a set this
/// device was told it holds before ([`remember`]): a job assigned or taken
/// away, a new generation, since its cursor. Those of them out of its scope
/// now are added to `scope` as [`Access::Removed`], so they are loaded and
/// answered `removed`. `None` when the digest is its scope's (the usual
/// case: no read), or unknown (the device is asked to name what it holds).
pub async fn remembered(
    store: &dyn AppStore,
    device: DeviceId,
    request: &SyncRequest,
    scope: &mut BTreeMap<DocId, Access>,
) -> Result<Option<BTreeSet<DocId>>, StoreError> {
    let (Some(_), Some(digest)) = (&request.cursor, &request.held) else {
        return Ok(None);
    };
    let expected = scope
        .iter()
        .filter(|(_, a)| !a.is_gone())
        .map(|(id, _)| *id)
        .chain(request.mentioned());
    if held_digest(&expected.collect::<Vec<_>>()).as_slice() == digest.as_slice() {
        return Ok(None);
    }
    let Some(text) = store.held_set(device, digest).await? else {
        return Ok(None);
    };
    // The row is the digest's preimage: a damaged one is not used.
    let holds = (digest_of_held_text(&text).as_slice() == digest.as_slice())
        .then(|| parse_held_text(&text))
        .flatten();
    if let Some(holds) = &holds {
        for id in holds {
            scope.entry(*id).or_insert(Access::Removed);
        }
    }
    Ok(holds)
}

/// Decides how the documents the request does not name are answered.
/// `loaded_at` is [`loaded_at`]'s answer, read before `held` was loaded, so
/// `held` holds every commit stamped up to it.
/// `remembered` is [`remembered`]'s answer.
pub async fn plan(
    store: &dyn AppStore,
    request: &SyncRequest,
    held: &BTreeMap<DocId, HeldDoc>,
    loaded_at: Option<(i64, i64)>,
    remembered: Option<BTreeSet<DocId>>,
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
            holds: Some(request.mentioned().collect()),
        });
    };
    // What the device holds if its scope did not change since its cursor:
    // the documents of its scope, and any it named (kept copies the server
    // answers for).
    let expected: BTreeSet<DocId> = held
        .iter()
        .filter(|(_, h)| !h.access.is_gone())
        .map(|(id, _)| *id)
        .chain(request.mentioned())
        .collect();
    let digest = request.held.as_ref().map(|d| d.as_slice());
    let holds = if digest == Some(held_digest(&expected).as_slice()) {
        Some(expected)
    } else {
        // Its scope changed: a set it was told it holds before, if any.
        remembered.filter(|r| digest == Some(held_digest(r).as_slice()))
    };
    let usable = Cursor::decode(bytes).filter(|c| {
        // Too old (its commits' records were pruned), or from a timeline
        // this server has not reached (another database).
        let base = i64::try_from(c.base).unwrap_or(i64::MAX);
        base >= pruned_to && base <= stamp
    });
    let (Some(cursor), Some(holds)) = (usable, holds) else {
        return Ok(Plan {
            unnamed: Unnamed::Nothing,
            issue: None,
            resync: true,
            holds: None,
        });
    };
    let named: BTreeSet<DocId> = request.mentioned().collect();
    let mut changed: BTreeMap<DocId, Delta> = BTreeMap::new();
    // The difference between what the device holds and its scope, for the
    // documents it did not name: new ones whole, ones that left `removed`
    // (it holds them at its acknowledged heads, or it would have named them).
    for (id, doc) in held.iter().filter(|(id, _)| !named.contains(id)) {
        match (holds.contains(id), doc.access.is_gone()) {
            (false, false) => {
                changed.insert(*id, Delta::Whole);
            }
            (true, true) => {
                changed.insert(*id, Delta::Removed);
            }
            _ => {}
        }
    }
    let ids: Vec<DocId> = held
        .iter()
        .filter(|(id, doc)| !named.contains(id) && !doc.access.is_gone() && holds.contains(id))
        .map(|(id, _)| *id)
        .collect();
    let base = i64::try_from(cursor.base).unwrap_or(i64::MAX);
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
        holds: Some(holds),
    })
}

/// Remembers what the device holds once it applied `response` (which
/// carries a cursor): what it held (`holds`, [`Plan::holds`]), plus the
/// documents answered, less those answered `removed`. So its next request,
/// after a scope change, is answered in one round ([`remembered`]). Only
/// written when that set differs from the request's `held` (a scope
/// change) or the request had no cursor: an idle sync writes nothing.
/// Sets over `max_docs` documents are not remembered (a resync then).
pub async fn remember(
    store: &dyn AppStore,
    device: DeviceId,
    request: &SyncRequest,
    holds: BTreeSet<DocId>,
    response: &SyncResponse,
    max_docs: usize,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut after = holds;
    for reply in &response.docs {
        if reply.outcome == Outcome::Removed {
            after.remove(&reply.id);
        } else {
            after.insert(reply.id);
        }
    }
    if after.len() > max_docs {
        return Ok(());
    }
    let text = held_text(&after);
    let digest = digest_of_held_text(&text);
    let same = request.held.as_ref().map(|d| d.as_slice()) == Some(digest.as_slice());
    if request.cursor.is_some() && same {
        return Ok(());
    }
    store.remember_held_set(device, &digest, &text, now).await
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
