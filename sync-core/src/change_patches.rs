//! The patches one change makes, diffed over the objects it writes only.
//!
//! Validation judges each change by `doc.diff(deps, [change])`. Automerge
//! computes that by walking every object of the document (it must visit an
//! unchanged object to find changed ones inside it), notes texts included,
//! so it cost more than the rest of a sync on the server put together (see
//! docs/BENCHMARKS.md, "Profile of the commit path"). Only an object the
//! change has an operation in can read differently at the change than at
//! its dependencies: a new value, a deletion or an overwritten one is an
//! operation in that object, and an object the change made is one its
//! operations name. So the same patches come from diffing just those
//! objects, each on its own, in the order automerge's diff lists objects.
//! Debug builds compute the whole-document diff too and check they agree.

use std::collections::BTreeSet;

use automerge::legacy::ObjectId;
use automerge::{Automerge, Change, ChangeHash, ObjId, Patch};

/// The patches `change` makes over `deps` (its dependencies), in `doc`,
/// which holds it: what `doc.diff(deps, &[change.hash()])` returns.
pub(crate) fn change_patches(doc: &Automerge, deps: &[ChangeHash], change: &Change) -> Vec<Patch> {
    let at = [change.hash()];
    let patches = written_objects(doc, change)
        .and_then(|objs| {
            let mut patches = Vec::new();
            for obj in objs {
                patches.extend(doc.diff_obj(&obj, deps, &at, false).ok()?);
            }
            Some(patches)
        })
        // An object the document does not know: let automerge walk it all.
        .unwrap_or_else(|| doc.diff(deps, &at));
    debug_assert_eq!(
        patches,
        doc.diff(deps, &at),
        "patches of change {} diffed by object",
        change.hash()
    );
    patches
}

/// Every object `change` has an operation in, ordered as automerge orders
/// objects (the root first, then by operation id); `None` when one is not
/// in `doc`.
fn written_objects(doc: &Automerge, change: &Change) -> Option<BTreeSet<ObjId>> {
    let mut named = BTreeSet::new();
    let mut objs = BTreeSet::new();
    for op in change.decode().operations {
        match op.obj {
            ObjectId::Root => {
                objs.insert(ObjId::Root);
            }
            ObjectId::Id(id) => {
                if named.insert((id.counter(), id.actor().clone())) {
                    let text = format!("{}@{}", id.counter(), id.actor());
                    objs.insert(doc.import_obj(&text).ok()?);
                }
            }
        }
    }
    Some(objs)
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{ActorId, AutoCommit, ObjType, ROOT};

    use super::*;

    /// Every change of `doc`, diffed by object and whole, patch for patch.
    fn check_every_change(doc: &mut AutoCommit) -> usize {
        let doc = doc.document().clone();
        let changes = doc.get_changes(&[]);
        for change in &changes {
            let by_object = change_patches(&doc, change.deps(), change);
            let whole = doc.diff(change.deps(), &[change.hash()]);
            assert_eq!(by_object, whole, "change {}", change.hash());
        }
        changes.len()
    }

    #[test]
    fn a_change_diffed_by_object_is_its_whole_document_diff() {
        let mut doc = AutoCommit::new().with_actor(ActorId::from([1u8; 16]));
        // A job-like document: scalars, a map of lines, a log, a text.
        doc.put(ROOT, "status", "scheduled").unwrap();
        let parts = doc.put_object(ROOT, "parts", ObjType::Map).unwrap();
        let history = doc
            .put_object(ROOT, "status_history", ObjType::List)
            .unwrap();
        let notes = doc.put_object(ROOT, "notes", ObjType::Text).unwrap();
        doc.commit();
        // A new line with a nested list, a log entry, text typed.
        let line = doc.put_object(&parts, "l1", ObjType::Map).unwrap();
        doc.put(&line, "sku", "VALVE").unwrap();
        let serials = doc.put_object(&line, "serials", ObjType::List).unwrap();
        doc.insert(&serials, 0, "S1").unwrap();
        let entry = doc.insert_object(&history, 0, ObjType::Map).unwrap();
        doc.put(&entry, "to", "travelling").unwrap();
        doc.put(ROOT, "status", "travelling").unwrap();
        doc.splice_text(&notes, 0, 0, "hello world").unwrap();
        doc.commit();
        // Edits in place and deletions: a field, a key, some text.
        doc.put(&line, "quantity", 2).unwrap();
        doc.delete(&line, "sku").unwrap();
        doc.splice_text(&notes, 5, 6, "").unwrap();
        doc.commit();

        // Concurrent writes of one key, merged, then one value kept: the
        // merge change and the one that settles it see conflicts.
        let mut other = doc.fork().with_actor(ActorId::from([2u8; 16]));
        doc.put(&line, "quantity", 3).unwrap();
        doc.splice_text(&notes, 0, 0, ">").unwrap();
        doc.commit();
        other.put(&line, "quantity", 4).unwrap();
        let replaced = other.put_object(&parts, "l1", ObjType::Map).unwrap();
        other.put(&replaced, "sku", "PUMP").unwrap();
        other.commit();
        doc.merge(&mut other).unwrap();
        doc.put(&line, "quantity", 5).unwrap();
        // Deleting the winner of a conflict exposes the other value.
        doc.delete(&parts, "l1").unwrap();
        doc.commit();

        assert_eq!(check_every_change(&mut doc), 6);
    }
}
