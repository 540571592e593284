//! Plain fields: read by the schema table alone into [`Job::fields`].
//!
//! A field whose entry in [`schema::FIELDS`] declares its value
//! ([`schema::Plain`]: a text, a flag, a number, a time, a user, or a list
//! of records of those) needs no type in `model.rs`, no read in `read.rs`
//! and no record in the mobile library: the job reads it here, the
//! validator re-reads every change to it with [`read_unit`], and the app and
//! the API see it in the job's `fields`. Fields with their own type (the
//! labour, the parts, ...) keep their hand-written read.

use std::collections::BTreeMap;

use automerge::ScalarValue;
use automerge::hydrate::Value;
use serde::{Deserialize, Serialize};

use super::Job;
use super::keys as k;
use super::schema::{self, Column, Kind, Plain, Unit};
use crate::error::SchemaError;
use crate::hydrated::MapRef;
use crate::ids::{LineId, Timestamp, UserId};

/// The value of a plain field (or of one column of a plain record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldValue {
    Text(String),
    Flag(bool),
    Int(i64),
    Time(Timestamp),
    User(UserId),
    /// A list of records, sorted by id; a record's values are never records.
    Records(Vec<FieldRecord>),
}

/// One record of a plain list: its line id and the columns it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldRecord {
    pub id: LineId,
    pub values: BTreeMap<String, FieldValue>,
}

impl FieldRecord {
    pub fn get(&self, key: &str) -> Option<&FieldValue> {
        self.values.get(key)
    }
}

impl FieldValue {
    pub fn as_text(&self) -> Option<&str> {
        match self {
            FieldValue::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_flag(&self) -> Option<bool> {
        match self {
            FieldValue::Flag(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            FieldValue::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl Job {
    /// A plain field's value; `None` for a scalar not yet written.
    pub fn field(&self, key: &str) -> Option<&FieldValue> {
        self.fields.get(key)
    }

    pub fn text(&self, key: &str) -> Option<&str> {
        self.field(key).and_then(FieldValue::as_text)
    }

    pub fn flag(&self, key: &str) -> Option<bool> {
        self.field(key).and_then(FieldValue::as_flag)
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        self.field(key).and_then(FieldValue::as_int)
    }

    /// A plain list's records (empty when the job has none).
    pub fn records(&self, key: &str) -> &[FieldRecord] {
        match self.field(key) {
            Some(FieldValue::Records(r)) => r,
            _ => &[],
        }
    }
}

/// Reads every plain field of the schema from the job's root. A scalar not
/// yet written is left out; a list is always there, empty when the job has
/// no records (or predates the list).
pub(crate) fn read_fields(root: &MapRef<'_>) -> Result<BTreeMap<String, FieldValue>, SchemaError> {
    read_fields_of(schema::FIELDS, root)
}

fn read_fields_of(
    fields: &[schema::Field],
    root: &MapRef<'_>,
) -> Result<BTreeMap<String, FieldValue>, SchemaError> {
    let mut out = BTreeMap::new();
    for f in fields {
        let value = match f.plain {
            None => continue,
            Some(Plain::Scalar(kind)) => read_value(root, f.key, kind)?,
            Some(Plain::Records(columns)) => read_records(root, f.key, columns)?,
        };
        if let Some(v) = value {
            out.insert(f.key.to_owned(), v);
        }
    }
    Ok(out)
}

fn read_records(
    root: &MapRef<'_>,
    key: &str,
    columns: &[Column],
) -> Result<Option<FieldValue>, SchemaError> {
    // A list the job predates reads as empty, like one that has no records:
    // the server's upgrade then changes nothing a reader sees.
    let Some(map) = root.opt_map(key)? else {
        return Ok(Some(FieldValue::Records(Vec::new())));
    };
    let mut records = Vec::with_capacity(map.iter().count());
    for (id, value) in map.iter() {
        let path = format!("/{key}/{id}");
        let line: LineId = id
            .parse()
            .map_err(|_| SchemaError::new(path.clone(), "entry key is not a line id"))?;
        let Value::Map(m) = &value.value else {
            return Err(SchemaError::new(path, "expected a map"));
        };
        records.push(read_record(line, &MapRef::new(m, &path), columns)?);
    }
    // By id, so every replica lists them in the same order.
    records.sort_by_key(|r| r.id);
    Ok(Some(FieldValue::Records(records)))
}

fn read_record(id: LineId, m: &MapRef<'_>, columns: &[Column]) -> Result<FieldRecord, SchemaError> {
    let mut values = BTreeMap::new();
    for c in columns {
        match read_value(m, c.key, c.kind)? {
            Some(v) => {
                values.insert(c.key.to_owned(), v);
            }
            None if c.required => return Err(m.err(c.key, "required value missing")),
            None => {}
        }
    }
    Ok(FieldRecord { id, values })
}

/// One scalar of `kind` at `key`; `None` when absent, null or blank text.
fn read_value(m: &MapRef<'_>, key: &str, kind: Kind) -> Result<Option<FieldValue>, SchemaError> {
    Ok(match kind {
        Kind::Text => m.opt_text(key)?.map(FieldValue::Text),
        Kind::Flag => m.opt_bool(key)?.map(FieldValue::Flag),
        Kind::Int { min, max } => match m.opt_int(key)? {
            Some(i) if (min..=max).contains(&i) => Some(FieldValue::Int(i)),
            Some(_) => return Err(m.err(key, "integer out of range")),
            None => None,
        },
        Kind::Time => match m.map.get(key) {
            None | Some(Value::Scalar(ScalarValue::Null)) => None,
            Some(_) => Some(FieldValue::Time(m.timestamp(key)?)),
        },
        Kind::Choice(codes) => match m.opt_text(key)? {
            Some(v) if codes.contains(&v.as_str()) => Some(FieldValue::Text(v)),
            Some(_) => return Err(m.err(key, "not one of the allowed codes")),
            None => None,
        },
        Kind::User => m
            .opt_str(key)?
            .map(|s| s.parse::<UserId>())
            .transpose()
            .map_err(|_| m.err(key, "not a user id"))?
            .map(FieldValue::User),
    })
}

/// The validator's strict re-read of one unit of a plain field: the root
/// for a scalar, one record (`id`) for a list. The record's writer is its
/// `by` column, and a true `voided` column marks it voided.
pub(crate) fn read_unit(
    key: &str,
    plain: Plain,
    m: &MapRef<'_>,
    id: Option<LineId>,
) -> Result<Unit, SchemaError> {
    match plain {
        Plain::Scalar(kind) => {
            read_value(m, key, kind)?;
            Ok(Unit::default())
        }
        Plain::Records(columns) => {
            let id = id.ok_or_else(|| SchemaError::new(m.path, "expected a line"))?;
            let record = read_record(id, m, columns)?;
            Ok(Unit {
                by: match record.get(k::BY) {
                    Some(FieldValue::User(u)) => Some(*u),
                    _ => None,
                },
                voided: record.get(k::VOIDED).and_then(FieldValue::as_flag) == Some(true),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{Automerge, ObjType, ROOT, ReadDoc};

    use super::*;
    use crate::job::schema::{Field, TextRule, Writer, column, optional};

    const CODE: &str = "code";
    const NOTE: &str = "note";
    const PRESENT: &str = "present";
    const COUNT: &str = "count";
    const READINGS: &str = "readings";
    const AT: &str = "at";

    /// A table of plain fields, one of each kind, as a new field would be declared.
    static SAMPLE: &[Field] = &[
        Field {
            texts: &[TextRule {
                key: None,
                label: "note",
                max_chars: 20,
                free: true,
                max_insert: None,
            }],
            ..Field::scalar(NOTE, Writer::Office, Kind::Text)
        },
        Field::scalar(PRESENT, Writer::Technician, Kind::Flag),
        Field::scalar(COUNT, Writer::Technician, Kind::Int { min: 0, max: 9 }),
        Field {
            texts: &[TextRule {
                key: Some(CODE),
                label: "reading code",
                max_chars: 10,
                free: false,
                max_insert: None,
            }],
            editable: &[k::VOIDED],
            ..Field::records(
                READINGS,
                Writer::Technician,
                &[
                    column(k::BY, Kind::User),
                    column(CODE, Kind::Text),
                    column(AT, Kind::Time),
                    optional(COUNT, Kind::Int { min: 0, max: 9 }),
                    optional(k::VOIDED, Kind::Flag),
                ],
                2,
            )
        },
    ];

    fn read(doc: &Automerge) -> Result<BTreeMap<String, FieldValue>, SchemaError> {
        let Ok(Value::Map(root)) = ReadDoc::hydrate(doc, ROOT, None) else {
            panic!("root is not a map")
        };
        read_fields_of(SAMPLE, &MapRef::new(&root, ""))
    }

    fn user() -> UserId {
        "6f1c3a52-0000-4000-8000-000000000001".parse().unwrap()
    }

    fn line(n: u8) -> LineId {
        format!("6f1c3a52-0000-4000-8000-0000000000{n:02}")
            .parse()
            .unwrap()
    }

    #[test]
    fn the_sample_fields_are_declared_whole() {
        for f in SAMPLE {
            schema::tests::plain_field_is_whole(f);
        }
    }

    #[test]
    fn fields_read_by_their_declared_kind_and_unset_ones_are_absent() {
        let mut doc = Automerge::new();
        let empty = BTreeMap::from([(READINGS.to_owned(), FieldValue::Records(vec![]))]);
        assert_eq!(
            read(&doc).unwrap(),
            empty,
            "no scalar is set, no list holds records"
        );
        let mut tx = doc.transaction();
        tx.put(ROOT, NOTE, "  Ring twice  ").unwrap();
        tx.put(ROOT, PRESENT, false).unwrap();
        tx.put(ROOT, COUNT, 3).unwrap();
        let readings = tx.put_object(ROOT, READINGS, ObjType::Map).unwrap();
        for (n, count) in [(2, None), (1, Some(7))] {
            let r = tx
                .put_object(&readings, line(n).to_string(), ObjType::Map)
                .unwrap();
            tx.put(&r, k::BY, user().to_string()).unwrap();
            tx.put(&r, CODE, format!("M{n}")).unwrap();
            tx.put(&r, AT, ScalarValue::Timestamp(1_000 * i64::from(n)))
                .unwrap();
            if let Some(c) = count {
                tx.put(&r, COUNT, c).unwrap();
            }
        }
        tx.commit();

        let fields = read(&doc).unwrap();
        assert_eq!(fields[NOTE], FieldValue::Text("Ring twice".into()));
        assert_eq!(fields[PRESENT], FieldValue::Flag(false));
        assert_eq!(fields[COUNT], FieldValue::Int(3));
        let FieldValue::Records(records) = &fields[READINGS] else {
            panic!("{fields:?}")
        };
        assert_eq!(
            records.iter().map(|r| r.id).collect::<Vec<_>>(),
            [line(1), line(2)]
        );
        assert_eq!(records[0].get(COUNT), Some(&FieldValue::Int(7)));
        assert_eq!(
            records[0].get(AT),
            Some(&FieldValue::Time(Timestamp(1_000)))
        );
        assert_eq!(records[0].get(k::BY), Some(&FieldValue::User(user())));
        assert_eq!(records[1].get(CODE), Some(&FieldValue::Text("M2".into())));
        assert_eq!(records[1].get(COUNT), None, "an optional column left out");
    }

    #[test]
    fn a_value_of_the_wrong_kind_or_range_is_an_error_naming_its_path() {
        let cases: [(&str, ScalarValue, &str); 4] = [
            (PRESENT, ScalarValue::Str("yes".into()), "/present"),
            (COUNT, ScalarValue::Int(10), "/count"),
            (COUNT, ScalarValue::Str("3".into()), "/count"),
            (NOTE, ScalarValue::Boolean(true), "/note"),
        ];
        for (key, value, path) in cases {
            let mut doc = Automerge::new();
            let mut tx = doc.transaction();
            tx.put(ROOT, key, value.clone()).unwrap();
            tx.commit();
            let e = read(&doc).unwrap_err();
            assert_eq!(e.path, path, "{key} = {value:?}: {e:?}");
        }
    }

    #[test]
    fn a_record_reads_strictly_and_gives_the_validator_its_writer() {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        let readings = tx.put_object(ROOT, READINGS, ObjType::Map).unwrap();
        let r = tx
            .put_object(&readings, line(1).to_string(), ObjType::Map)
            .unwrap();
        tx.put(&r, k::BY, user().to_string()).unwrap();
        tx.put(&r, AT, ScalarValue::Timestamp(5)).unwrap();
        tx.put(&r, k::VOIDED, true).unwrap();
        tx.commit();
        // The code is required.
        let e = read(&doc).unwrap_err();
        assert_eq!(e.path, format!("/readings/{}/code", line(1)));

        let r = doc.get(ROOT, READINGS).unwrap().unwrap().1;
        let r = doc.get(&r, line(1).to_string()).unwrap().unwrap().1;
        let mut tx = doc.transaction();
        tx.put(&r, CODE, "M1").unwrap();
        tx.commit();
        let Ok(Value::Map(root)) = ReadDoc::hydrate(&doc, ROOT, None) else {
            panic!()
        };
        let root = MapRef::new(&root, "");
        let path = format!("/readings/{}", line(1));
        let m = MapRef::new(root.map(READINGS).unwrap(), "/readings");
        let m = MapRef::new(m.map(&line(1).to_string()).unwrap(), &path);
        let plain = SAMPLE[3].plain.unwrap();
        let unit = read_unit(READINGS, plain, &m, Some(line(1))).unwrap();
        assert_eq!(unit.by, Some(user()));
        assert!(unit.voided);
        assert!(
            read_unit(READINGS, plain, &m, None).is_err(),
            "a record needs its id"
        );
    }
}
