//! Minimal writes for server-authored documents: automerge records a put even
//! when the value is unchanged, so compare first and send devices only what changed.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{AutomergeError, ObjId, ObjType, ROOT, ScalarValue, Value};

/// Puts `value` at `key` unless it is already there (and unconflicted).
pub(crate) fn put_if_changed<T: Transactable>(
    tx: &mut T,
    obj: &ObjId,
    key: &str,
    value: impl Into<ScalarValue>,
) -> Result<(), AutomergeError> {
    let value = value.into();
    let current = tx.get_all(obj, key)?;
    let same = matches!(current.as_slice(), [(Value::Scalar(v), _)] if v.as_ref() == &value);
    if !same {
        tx.put(obj, key, value)?;
    }
    Ok(())
}

/// Replaces the list of strings at `key` unless it already holds exactly `items`.
pub(crate) fn put_str_list_if_changed<T: Transactable>(
    tx: &mut T,
    obj: &ObjId,
    key: &str,
    items: &[String],
) -> Result<(), AutomergeError> {
    if let Some((Value::Object(ObjType::List), list)) = tx.get(obj, key)? {
        let current: Vec<String> = tx
            .list_range(&list, ..)
            .map(|item| {
                item.value
                    .into_value()
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        if current == items {
            return Ok(());
        }
    }
    let list = tx.put_object(obj, key, ObjType::List)?;
    for (i, s) in items.iter().enumerate() {
        tx.insert(&list, i, s.as_str())?;
    }
    Ok(())
}

/// The map at root `key`, created on first use.
pub(crate) fn ensure_root_map<T: Transactable>(
    tx: &mut T,
    key: &str,
) -> Result<ObjId, AutomergeError> {
    match tx.get(ROOT, key)? {
        Some((Value::Object(ObjType::Map), id)) => Ok(id),
        _ => tx.put_object(ROOT, key, ObjType::Map),
    }
}

/// Makes the entries of map `obj` match `entries`: deletes keys that are gone
/// and lets `write` update each wanted entry (which should write minimally).
pub(crate) fn sync_entries<T: Transactable, K: ToString, V>(
    tx: &mut T,
    obj: &ObjId,
    entries: &BTreeMap<K, V>,
    write: impl Fn(&mut T, &ObjId, &V) -> Result<(), AutomergeError>,
) -> Result<(), AutomergeError> {
    let wanted: BTreeMap<String, &V> = entries.iter().map(|(k, v)| (k.to_string(), v)).collect();
    let existing: Vec<String> = tx.keys(obj).collect();
    for key in existing.iter().filter(|k| !wanted.contains_key(*k)) {
        tx.delete(obj, key.as_str())?;
    }
    for (key, value) in wanted {
        let entry = match tx.get(obj, key.as_str())? {
            Some((Value::Object(ObjType::Map), id)) => id,
            _ => tx.put_object(obj, key.as_str(), ObjType::Map)?,
        };
        write(tx, &entry, value)?;
    }
    Ok(())
}
