//! Concurrent values of the fields that settle last-writer-wins.
//!
//! Automerge keeps every value written concurrently to one key and shows
//! one (the winner). For the status the lifecycle picks ([`crate::status`]);
//! for the window, the priority, the job's details and the checklist
//! answers the winner is arbitrary but the same everywhere, and the others
//! would be lost without a trace. [`read_conflicts`] lists them, each value
//! with the actor whose change wrote it (the server maps actors to users),
//! so the office sees them and can keep one ([`crate::JobAction::ResolveConflict`]).

use std::collections::HashMap;

use automerge::hydrate::{Map, MapValue, Value as HValue};
use automerge::{Automerge, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use serde_json::json;

use super::keys as k;
use super::model::{Conflict, ConflictValue};
use super::schema;
use crate::actors::office_user_hex;
use crate::error::SchemaError;
use crate::ids::UserId;

/// Root scalars the office writes that are shown as conflicts.
const SCALARS: [&str; 2] = [k::PRIORITY, k::PROBLEM];
/// Maps of details, written key by key.
const DETAILS: [&str; 3] = [k::CUSTOMER, k::SITE, k::ASSET];

/// Every field of the job that holds concurrent values as of `heads`.
pub fn read_conflicts(
    doc: &Automerge,
    heads: Option<&[ChangeHash]>,
) -> Result<Vec<Conflict>, SchemaError> {
    conflicts_where(doc, heads, Flags(None))
}

/// [`read_conflicts`] for a job whose root is already hydrated at `heads`:
/// hydration flags every key holding concurrent values, so only those are
/// read again (each read of a key's values seeks through the document, and
/// asking every key cost about a third of reading a job). Debug builds
/// check it against asking every key.
pub(crate) fn read_conflicts_hydrated(
    doc: &Automerge,
    heads: Option<&[ChangeHash]>,
    root: &Map,
) -> Result<Vec<Conflict>, SchemaError> {
    let found = conflicts_where(doc, heads, Flags(Some(root)))?;
    debug_assert_eq!(
        found,
        read_conflicts(doc, heads)?,
        "conflicts read where hydration flags them"
    );
    Ok(found)
}

/// Which keys may hold concurrent values: those the hydrated root flags,
/// or (`None`) every key.
#[derive(Clone, Copy)]
struct Flags<'a>(Option<&'a Map>);

impl Flags<'_> {
    /// The key `key` of the root map `map` (of the root itself when `None`).
    fn key(self, map: Option<&str>, key: &str) -> bool {
        let Some(root) = self.0 else {
            return true;
        };
        let values: &HashMap<String, MapValue> = match map {
            None => root,
            Some(map) => match root.get(map) {
                Some(HValue::Map(m)) => m,
                _ => return false,
            },
        };
        values.get(key).is_some_and(|v| v.conflict)
    }

    /// Any key of the root map `map`.
    fn any_in(self, map: &str) -> bool {
        let Some(root) = self.0 else {
            return true;
        };
        match root.get(map) {
            Some(HValue::Map(m)) => m.values().any(|v| v.conflict),
            _ => false,
        }
    }
}

/// The conflicts among the keys `flags` says may hold concurrent values.
fn conflicts_where(
    doc: &Automerge,
    heads: Option<&[ChangeHash]>,
    flags: Flags<'_>,
) -> Result<Vec<Conflict>, SchemaError> {
    let r = Reader { doc, heads };
    let mut out = Vec::new();
    if flags.key(None, k::WINDOW)
        && let Some(c) = r.conflict(&ROOT, k::WINDOW, &format!("/{}", k::WINDOW), |id, _| {
            r.window(id)
        })?
    {
        out.push(c);
    }
    for key in SCALARS {
        if flags.key(None, key)
            && let Some(c) = r.conflict(&ROOT, key, &format!("/{key}"), |_, v| Ok(scalar(v)))?
        {
            out.push(c);
        }
    }
    for map in DETAILS {
        if !flags.any_in(map) {
            continue;
        }
        let Some(obj) = r.object(&ROOT, map) else {
            continue;
        };
        let keys = schema::field(map).map_or(&[][..], |f| f.keys);
        for key in keys {
            let path = format!("/{map}/{key}");
            if flags.key(Some(map), key)
                && let Some(c) = r.conflict(&obj, key, &path, |_, v| Ok(scalar(v)))?
            {
                out.push(c);
            }
        }
    }
    if !flags.any_in(k::ANSWERS) {
        return Ok(out);
    }
    if let Some(answers) = r.object(&ROOT, k::ANSWERS) {
        let items: Vec<String> = match heads {
            Some(h) => doc.keys_at(&answers, h).collect(),
            None => doc.keys(&answers).collect(),
        };
        for item in items {
            let path = format!("/{}/{item}", k::ANSWERS);
            if flags.key(Some(k::ANSWERS), &item)
                && let Some(c) = r.conflict(&answers, &item, &path, |id, _| r.answer(id))?
            {
                out.push(c);
            }
        }
    }
    Ok(out)
}

struct Reader<'a> {
    doc: &'a Automerge,
    heads: Option<&'a [ChangeHash]>,
}

impl Reader<'_> {
    fn all(&self, obj: &ObjId, key: &str) -> Vec<(Value<'_>, ObjId)> {
        match self.heads {
            Some(h) => self.doc.get_all_at(obj, key, h),
            None => self.doc.get_all(obj, key),
        }
        .unwrap_or_default()
    }

    fn get(&self, obj: &ObjId, key: &str) -> Option<(Value<'_>, ObjId)> {
        match self.heads {
            Some(h) => self.doc.get_at(obj, key, h),
            None => self.doc.get(obj, key),
        }
        .ok()
        .flatten()
    }

    fn object(&self, obj: &ObjId, key: &str) -> Option<ObjId> {
        match self.get(obj, key)? {
            (Value::Object(ObjType::Map), id) => Some(id),
            _ => None,
        }
    }

    /// The conflict at `obj[key]`, if it holds different values: the shown
    /// value first, then the others in the document's order.
    fn conflict(
        &self,
        obj: &ObjId,
        key: &str,
        path: &str,
        value: impl Fn(&ObjId, &Value<'_>) -> Result<(serde_json::Value, Option<UserId>), SchemaError>,
    ) -> Result<Option<Conflict>, SchemaError> {
        let mut all = self.all(obj, key);
        if all.len() < 2 {
            return Ok(None);
        }
        if let Some((_, shown)) = self.get(obj, key)
            && let Some(i) = all.iter().position(|(_, id)| *id == shown)
        {
            let first = all.remove(i);
            all.insert(0, first);
        }
        let values = all
            .iter()
            .map(|(v, id)| {
                let (value, by) = value(id, v)?;
                let actor = actor_of(id);
                Ok(ConflictValue {
                    by: by.or_else(|| office_user_hex(&actor)),
                    value,
                    actor,
                })
            })
            .collect::<Result<Vec<ConflictValue>, SchemaError>>()?;
        // The same value written twice is no conflict.
        if values.iter().all(|v| v.value == values[0].value) {
            return Ok(None);
        }
        Ok(Some(Conflict {
            field: path.to_owned(),
            values,
        }))
    }

    fn window(&self, id: &ObjId) -> Result<(serde_json::Value, Option<UserId>), SchemaError> {
        let at = |key: &str| match self.get(id, key) {
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::Timestamp(t) | ScalarValue::Int(t) => Ok(*t),
                _ => Err(SchemaError::new("/window", "expected a timestamp")),
            },
            _ => Err(SchemaError::new("/window", "expected a timestamp")),
        };
        Ok((json!({ "start": at(k::START)?, "end": at(k::END)? }), None))
    }

    fn answer(&self, id: &ObjId) -> Result<(serde_json::Value, Option<UserId>), SchemaError> {
        let text = |key: &str| match self.get(id, key) {
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::Str(s) => Some(s.to_string()),
                _ => None,
            },
            _ => None,
        };
        let value =
            text(k::VALUE).ok_or_else(|| SchemaError::new("/answers", "expected a value"))?;
        let by = text(k::BY).and_then(|s| s.parse::<UserId>().ok());
        Ok((serde_json::Value::String(value), by))
    }
}

pub(super) fn actor_of(id: &ObjId) -> String {
    match id {
        ObjId::Id(_, actor, _) => actor.to_hex_string(),
        ObjId::Root => String::new(),
    }
}

fn scalar(v: &Value<'_>) -> (serde_json::Value, Option<UserId>) {
    let value = match v {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => json!(s.to_string()),
            ScalarValue::Int(i) | ScalarValue::Timestamp(i) => json!(i),
            ScalarValue::Uint(u) => json!(u),
            ScalarValue::F64(f) => json!(f),
            ScalarValue::Boolean(b) => json!(b),
            _ => serde_json::Value::Null,
        },
        Value::Object(_) => serde_json::Value::Null,
    };
    (value, None)
}
