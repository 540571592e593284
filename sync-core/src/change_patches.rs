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

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::legacy::{self, ObjectId, OpType};
use automerge::{
    ActorId, Automerge, Change, ChangeHash, ObjId, ObjType, Patch, PatchAction, Prop, ReadDoc,
    ScalarValue, Value,
};

/// The patches `change` makes over `deps` (its dependencies), in `doc`,
/// which holds it: what `doc.diff(deps, &[change.hash()])` returns.
pub(crate) fn change_patches(doc: &Automerge, deps: &[ChangeHash], change: &Change) -> Vec<Patch> {
    let at = [change.hash()];
    let patches = by_object(doc, deps, &at, change)
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

/// The change's patches object by object, in automerge's object order (the
/// root first, then by operation id). A map the change itself made (a new
/// line, a new history entry) holds only the change's own operations at
/// the change, so its patches are those operations, read off the change:
/// automerge's per-object diff costs about as much to set up for such a map
/// as for the root. Every other object is diffed by automerge.
fn by_object(
    doc: &Automerge,
    deps: &[ChangeHash],
    at: &[ChangeHash],
    change: &Change,
) -> Option<Vec<Patch>> {
    let decoded = change.decode();
    let ops = &decoded.operations;
    let made = Made::new(doc, change)?;
    // Each written object with the change's operations in it.
    let mut named: BTreeMap<(u64, ActorId), ObjId> = BTreeMap::new();
    let mut objs: BTreeMap<ObjId, Vec<(u64, &legacy::Op)>> = BTreeMap::new();
    for (counter, op) in (made.start..).zip(ops) {
        let obj = match &op.obj {
            ObjectId::Root => ObjId::Root,
            ObjectId::Id(id) => {
                let named_id = (id.counter(), id.actor().clone());
                match named.get(&named_id) {
                    Some(obj) => obj.clone(),
                    None => {
                        let obj = made.exid(id).or_else(|| {
                            doc.import_obj(&format!("{}@{}", id.counter(), id.actor()))
                                .ok()
                        })?;
                        named.insert(named_id, obj.clone());
                        obj
                    }
                }
            }
        };
        objs.entry(obj).or_default().push((counter, op));
    }
    // Where each object the patches so far put or inserted lives.
    let mut paths: HashMap<ObjId, Vec<(ObjId, Prop)>> = HashMap::new();
    let mut patches = Vec::new();
    for (obj, obj_ops) in &objs {
        let own = if made.is_map(obj, ops) {
            let path = paths.get(obj);
            path.and_then(|path| made_map_patches(&made, obj, path, obj_ops))
        } else {
            None
        };
        let own = own.or_else(|| {
            (!made.is_map(obj, ops))
                .then(|| overwritten_map_patches(doc, obj, (deps, at), &made, obj_ops))
                .flatten()
        });
        let found = match own {
            Some(found) => found,
            None => doc.diff_obj(obj, deps, at, false).ok()?,
        };
        for patch in &found {
            placed(patch, &mut paths);
        }
        patches.extend(found);
    }
    Some(patches)
}

/// The operations of one change, by the ids they give the objects they make.
struct Made {
    actor: ActorId,
    /// The actor's index in the document (what its object ids carry).
    actor_index: usize,
    start: u64,
}

impl Made {
    fn new(doc: &Automerge, change: &Change) -> Option<Self> {
        let start = change.start_op().get();
        let actor = change.actor_id().clone();
        let first = doc.import_obj(&format!("{start}@{actor}")).ok()?;
        let ObjId::Id(_, _, actor_index) = first else {
            return None;
        };
        Some(Self {
            actor,
            actor_index,
            start,
        })
    }

    /// The id of the operation `id`, when this change made it.
    fn exid(&self, id: &legacy::OpId) -> Option<ObjId> {
        (*id.actor() == self.actor && id.counter() >= self.start)
            .then(|| ObjId::Id(id.counter(), self.actor.clone(), self.actor_index))
    }

    /// Whether `obj` is a map one of this change's operations `ops` made.
    fn is_map(&self, obj: &ObjId, ops: &[legacy::Op]) -> bool {
        let ObjId::Id(counter, actor, _) = obj else {
            return false;
        };
        *actor == self.actor
            && counter
                .checked_sub(self.start)
                .and_then(|i| ops.get(usize::try_from(i).ok()?))
                .is_some_and(|op| matches!(op.action, OpType::Make(ObjType::Map)))
    }
}

/// The patches of a map the change made, at `path`: each key's value as
/// the change left it (`None` for anything but plain puts and new objects,
/// one live value per key: then automerge diffs it).
fn made_map_patches(
    made: &Made,
    obj: &ObjId,
    path: &[(ObjId, Prop)],
    ops: &[(u64, &legacy::Op)],
) -> Option<Vec<Patch>> {
    // A later operation of the change on a key names the earlier one as
    // its predecessor; the value at the change is the one no other names.
    let mut overwritten = BTreeSet::new();
    for (_, op) in ops {
        for pred in op.pred.iter() {
            overwritten.insert(made.exid(pred)?);
        }
    }
    let keys = live_puts(made, ops, &overwritten)?;
    Some(put_map_patches(obj, path, keys))
}

/// The patches of a map the document held before the change, when every
/// key the change writes it overwrites whole: each key's values at the
/// change's dependencies are the ones its operation names as predecessors
/// (or none: a new key), and the change leaves one value. Then the key's
/// patch is that value, with no conflict; this costs a read of each key
/// and of the map's path, where automerge's diff walks every key of the
/// map (the root, a container of lines). `None` for anything else (a list
/// or text, a deletion, a counter, a value kept beside a concurrent one):
/// then automerge diffs it.
fn overwritten_map_patches(
    doc: &Automerge,
    obj: &ObjId,
    (deps, at): (&[ChangeHash], &[ChangeHash]),
    made: &Made,
    ops: &[(u64, &legacy::Op)],
) -> Option<Vec<Patch>> {
    let mut overwritten = BTreeSet::new();
    let mut named: BTreeMap<&str, BTreeSet<(u64, ActorId)>> = BTreeMap::new();
    for (_, op) in ops {
        let legacy::Key::Map(key) = &op.key else {
            return None;
        };
        for pred in op.pred.iter() {
            match made.exid(pred) {
                Some(own) => {
                    overwritten.insert(own);
                }
                None => {
                    named
                        .entry(key.as_str())
                        .or_default()
                        .insert((pred.counter(), pred.actor().clone()));
                }
            }
        }
    }
    let keys = live_puts(made, ops, &overwritten)?;
    // Every value the key held is one the change overwrote.
    for key in keys.keys() {
        let before: BTreeSet<(u64, ActorId)> = doc
            .get_all_at(obj, *key, deps)
            .ok()?
            .into_iter()
            .map(|(_, id)| match id {
                ObjId::Id(counter, actor, _) => Some((counter, actor)),
                ObjId::Root => None,
            })
            .collect::<Option<_>>()?;
        let empty = BTreeSet::new();
        if before != *named.get(key).unwrap_or(&empty) {
            return None;
        }
    }
    // automerge's walk up the parents panics on some crafted objects (the
    // sync_serve fuzz target found one): then the map is diffed instead.
    let path = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        doc.parents_at(obj, at).ok()?.visible_path()
    }))
    .ok()??;
    Some(put_map_patches(obj, &path, keys))
}

/// The value each key of a map holds after the change's puts `ops`: the
/// one no later operation of the change overwrote (`overwritten`). `None`
/// for anything but plain puts and new objects, or two live values of one
/// key (a conflict within one change).
fn live_puts<'a>(
    made: &Made,
    ops: &[(u64, &'a legacy::Op)],
    overwritten: &BTreeSet<ObjId>,
) -> Option<BTreeMap<&'a str, (Value<'static>, ObjId)>> {
    let mut keys = BTreeMap::new();
    for &(counter, op) in ops {
        let legacy::Key::Map(key) = &op.key else {
            return None;
        };
        if op.insert {
            return None;
        }
        let value = match &op.action {
            OpType::Put(ScalarValue::Counter(_)) => return None,
            OpType::Put(v) => Value::Scalar(Cow::Owned(v.clone())),
            OpType::Make(t) => Value::Object(*t),
            _ => return None,
        };
        // Operations take consecutive ids from the change's start.
        let id = ObjId::Id(counter, made.actor.clone(), made.actor_index);
        if overwritten.contains(&id) {
            continue;
        }
        if keys.insert(key.as_str(), (value, id)).is_some() {
            return None;
        }
    }
    Some(keys)
}

/// One `PutMap` patch per key of `obj` at `path`, none a conflict.
fn put_map_patches(
    obj: &ObjId,
    path: &[(ObjId, Prop)],
    keys: BTreeMap<&str, (Value<'static>, ObjId)>,
) -> Vec<Patch> {
    keys.into_iter()
        .map(|(key, value)| Patch {
            obj: obj.clone(),
            path: path.to_vec(),
            action: PatchAction::PutMap {
                key: key.to_owned(),
                value,
                conflict: false,
            },
        })
        .collect()
}

/// Records where the objects `patch` puts or inserts live.
fn placed(patch: &Patch, paths: &mut HashMap<ObjId, Vec<(ObjId, Prop)>>) {
    let mut at = |prop: Prop, id: &ObjId| {
        let mut path = patch.path.clone();
        path.push((patch.obj.clone(), prop));
        paths.insert(id.clone(), path);
    };
    match &patch.action {
        PatchAction::PutMap {
            key,
            value: (Value::Object(_), id),
            ..
        } => at(Prop::Map(key.clone()), id),
        PatchAction::PutSeq {
            index,
            value: (Value::Object(_), id),
            ..
        } => at(Prop::Seq(*index), id),
        PatchAction::Insert { index, values } => {
            for (j, (value, id, _)) in values.iter().enumerate() {
                if matches!(value, Value::Object(_)) {
                    at(Prop::Seq(index + j), id);
                }
            }
        }
        _ => {}
    }
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

    #[test]
    fn a_map_the_change_made_is_read_off_its_operations() {
        let mut doc = AutoCommit::new().with_actor(ActorId::from([1u8; 16]));
        let parts = doc.put_object(ROOT, "parts", ObjType::Map).unwrap();
        doc.commit();
        // A new line, a key written twice (the first overwritten), keys
        // out of alphabetical order.
        let line = doc.put_object(&parts, "l1", ObjType::Map).unwrap();
        doc.put(&line, "sku", "VALVE").unwrap();
        doc.put(&line, "quantity", 2).unwrap();
        doc.put(&line, "quantity", 3).unwrap();
        doc.put(&line, "by", "someone").unwrap();
        doc.commit();
        let doc = doc.document().clone();
        let change = doc.get_changes(&[]).pop().unwrap();
        let made = Made::new(&doc, &change).unwrap();
        let decoded = change.decode();
        assert!(made.is_map(&line, &decoded.operations));
        assert!(!made.is_map(&parts, &decoded.operations));
        let ObjId::Id(counter, actor, _) = &line else {
            panic!("a line is not the root")
        };
        let ops: Vec<(u64, &legacy::Op)> = (made.start..)
            .zip(&decoded.operations)
            .filter(|(_, op)| matches!(&op.obj, ObjectId::Id(id) if id.counter() == *counter && id.actor() == actor))
            .collect();
        let path = [
            (ObjId::Root, Prop::Map("parts".into())),
            (parts.clone(), Prop::Map("l1".into())),
        ];
        let own = made_map_patches(&made, &line, &path, &ops).expect("plain puts");
        let at = [change.hash()];
        assert_eq!(own.len(), 3);
        assert_eq!(own, doc.diff_obj(&line, change.deps(), &at, false).unwrap());
    }

    /// The operations of `change` on `obj`, with their ids' counters.
    fn ops_on<'a>(made: &Made, ops: &'a [legacy::Op], obj: &ObjId) -> Vec<(u64, &'a legacy::Op)> {
        let ObjId::Id(counter, actor, _) = obj else {
            return (made.start..)
                .zip(ops)
                .filter(|(_, op)| op.obj == ObjectId::Root)
                .collect();
        };
        (made.start..)
            .zip(ops)
            .filter(|(_, op)| matches!(&op.obj, ObjectId::Id(id) if id.counter() == *counter && id.actor() == actor))
            .collect()
    }

    #[test]
    fn a_map_whose_keys_the_change_overwrites_is_read_key_by_key() {
        let mut doc = AutoCommit::new().with_actor(ActorId::from([1u8; 16]));
        doc.put(ROOT, "status", "scheduled").unwrap();
        let parts = doc.put_object(ROOT, "parts", ObjType::Map).unwrap();
        let line = doc.put_object(&parts, "l0", ObjType::Map).unwrap();
        doc.put(&line, "quantity", 1).unwrap();
        doc.commit();
        // A new key and an overwritten one at the root, a new line in a
        // container, a field of a line edited in place.
        doc.put(ROOT, "status", "travelling").unwrap();
        doc.put(ROOT, "arrived", true).unwrap();
        doc.put_object(&parts, "l1", ObjType::Map).unwrap();
        doc.put(&line, "quantity", 2).unwrap();
        doc.commit();
        let plain = doc.document().clone();
        let change = plain.get_changes(&[]).pop().unwrap();
        let made = Made::new(&plain, &change).unwrap();
        let decoded = change.decode();
        let at = [change.hash()];
        for obj in [ObjId::Root, parts.clone(), line.clone()] {
            let ops = ops_on(&made, &decoded.operations, &obj);
            let own = overwritten_map_patches(&plain, &obj, (change.deps(), &at), &made, &ops)
                .expect("every key overwritten");
            assert!(!own.is_empty());
            assert_eq!(
                own,
                plain.diff_obj(&obj, change.deps(), &at, false).unwrap()
            );
        }

        // Two concurrent values, merged: a change on the merge overwrites
        // both and leaves one value.
        let mut other = doc.fork().with_actor(ActorId::from([2u8; 16]));
        doc.put(&line, "quantity", 3).unwrap();
        doc.commit();
        other.put(&line, "quantity", 4).unwrap();
        other.commit();
        doc.merge(&mut other).unwrap();
        doc.put(&line, "quantity", 5).unwrap();
        doc.commit();
        // A deletion: automerge diffs the map.
        doc.delete(&line, "quantity").unwrap();
        doc.commit();
        let merged = doc.document().clone();
        let mut changes = merged.get_changes(&[]);
        let deleting = changes.pop().unwrap();
        let settling = changes.pop().unwrap();
        let patches = |change: &Change| {
            let made = Made::new(&merged, change).unwrap();
            let decoded = change.decode();
            let ops = ops_on(&made, &decoded.operations, &line);
            let at = [change.hash()];
            overwritten_map_patches(&merged, &line, (change.deps(), &at), &made, &ops)
        };
        assert_eq!(settling.deps().len(), 2);
        let at = [settling.hash()];
        assert_eq!(
            patches(&settling).expect("both values overwritten"),
            merged.diff_obj(&line, settling.deps(), &at, false).unwrap()
        );
        assert_eq!(patches(&deleting), None);
    }
}
