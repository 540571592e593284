//! What the fuzz targets share: the documents a server holds for one
//! technician (a job assigned to them, the price book, their van's stock),
//! the invariants the server relies on after `serve`, and a small
//! interpreter that turns fuzz bytes into *valid* automerge changes with
//! arbitrary content, so the validator and the readers see crafted
//! documents rather than bytes that fail automerge's checksums.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use automerge::sync::{BloomFilter, Capability, Have, State, SyncDoc};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use fieldsync_core::billing::bill;
use fieldsync_core::job::{Asset, ChecklistQuestion, Customer, Priority, Site, Window, read_job};
use fieldsync_core::pricebook::{Contract, LabourRate, PartPrice, PriceBook, write_price_book};
use fieldsync_core::sync::{
    Access, Caller, HeldDoc, Limits, Outcome, SyncRequest, SyncResponse, serve,
};
use fieldsync_core::validate::{Context, TechnicianVan};
use fieldsync_core::vanstock::{StockItem, VanStock, write_van_stock};
use fieldsync_core::{
    DocId, JobDoc, JobId, JobSpec, LineId, LocationId, Money, Principal, Role, Timestamp, UserId,
};

pub use fieldsync_core;

/// 2026-01-01T10:00:00Z, in milliseconds.
pub const T0: i64 = 1_767_261_600_000;

pub fn technician() -> Principal {
    Principal::new(UserId::from_bytes([1; 16]), Role::Technician)
}

pub fn dispatcher() -> Principal {
    Principal::new(UserId::from_bytes([200; 16]), Role::Dispatcher)
}

/// The automerge actor of the fuzzing technician's device.
pub fn device_actor() -> ActorId {
    ActorId::from([1u8; 16])
}

pub fn job_id() -> JobId {
    JobId::from_bytes([7; 16])
}

pub fn van() -> LocationId {
    LocationId::from_bytes([9; 16])
}

/// What the server knows when it validates the technician's changes: the
/// van assigned to them (part lines naming another van are `wrong_van`).
pub fn context() -> Context {
    Context::default().with_technician_van(TechnicianVan::Assigned(van()))
}

pub fn price_book() -> PriceBook {
    let sku = |s: &str| s.parse().expect("valid sku");
    let date = |y, m, d| {
        time::Date::from_calendar_date(y, time::Month::try_from(m).expect("month"), d)
            .expect("date")
    };
    PriceBook {
        version: 3,
        currency: "EUR".into(),
        tax_rate_bps: 2300,
        callout_fee: Money(4500),
        parts: BTreeMap::from([
            (
                sku("VALVE-1"),
                PartPrice {
                    name: "Valve".into(),
                    unit_price: Money(1999),
                    serialized: false,
                },
            ),
            (
                sku("PUMP-9"),
                PartPrice {
                    name: "Pump".into(),
                    unit_price: Money(18_950),
                    serialized: true,
                },
            ),
        ]),
        labour_rates: BTreeMap::from([(
            "standard".to_owned(),
            LabourRate {
                name: "Standard".into(),
                hourly: Money(5500),
            },
        )]),
        contracts: BTreeMap::from([(
            "SC-GOLD-1".to_owned(),
            Contract {
                name: "Gold".into(),
                covers_labour: true,
                covers_parts: false,
                covers_callout: true,
                valid_from: Some(date(2025, 1, 1)),
                valid_until: date(2026, 12, 31),
            },
        )]),
        extensions: BTreeMap::new(),
        refund_limits: Default::default(),
    }
}

pub fn job_spec() -> JobSpec {
    JobSpec {
        id: job_id(),
        customer: Customer {
            name: "Ana Silva".into(),
            email: Some("ana@example.com".parse().expect("email")),
            phone: Some("+351 900 000 000".into()),
            feedback_opt_out: false,
        },
        site: Site {
            name: Some("Plant room".into()),
            address: "Rua Augusta 1, Lisboa".into(),
        },
        asset: Asset {
            product: "Boiler X200".into(),
            serial: Some("BX-1".into()),
            warranty_end: None,
            contract_ref: Some("SC-GOLD-1".into()),
        },
        problem: "No hot water".into(),
        priority: Priority::Normal,
        window: Window::new(Timestamp(T0), Timestamp(T0 + 2 * 3_600_000)).expect("window"),
        technician: Some(technician().user),
        checklist: vec![ChecklistQuestion {
            id: LineId::from_bytes([5; 16]),
            question: "Gas pressure checked?".into(),
            required: true,
            kind: Default::default(),
        }],
    }
}

/// The server's documents for the fuzzing technician, built once.
pub struct Fixture {
    pub docs: BTreeMap<DocId, HeldDoc>,
    pub book: PriceBook,
    pub limits: Limits,
}

pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let server = ActorId::from([250u8; 16]);
        let job = JobDoc::create(
            &job_spec(),
            server.clone(),
            dispatcher(),
            Timestamp(T0 - 86_400_000),
        )
        .expect("fixture job");
        let book = price_book();
        let mut book_doc = Automerge::new().with_actor(server.clone());
        write_price_book(&mut book_doc, &book, Timestamp(T0)).expect("fixture price book");
        let mut van_doc = Automerge::new().with_actor(server);
        let stock = VanStock {
            van: van(),
            as_of: Timestamp(T0),
            items: BTreeMap::from([
                (
                    "VALVE-1".parse().expect("sku"),
                    StockItem {
                        quantity: 4,
                        serials: vec![],
                        quarantined: vec![],
                    },
                ),
                (
                    "PUMP-9".parse().expect("sku"),
                    StockItem {
                        quantity: 1,
                        serials: vec!["P-1".into()],
                        quarantined: vec![],
                    },
                ),
            ]),
        };
        write_van_stock(&mut van_doc, &stock, Timestamp(T0)).expect("fixture van stock");
        let held = |doc, access| HeldDoc { doc, access };
        Fixture {
            docs: BTreeMap::from([
                (DocId::Job(job_id()), held(job.into_doc(), Access::Write)),
                (DocId::PriceBook, held(book_doc, Access::ReadOnly)),
                (DocId::VanStock(van()), held(van_doc, Access::ReadOnly)),
            ]),
            book,
            limits: Limits::default(),
        }
    })
}

/// Replaces libfuzzer-sys's abort-on-panic hook with a quiet one: automerge
/// panics that sync-core contains (`catch_unwind`, as in production) are
/// not findings. A panic that escapes still fails the run, because
/// libfuzzer-sys aborts on any panic reaching the target's boundary.
///
/// `FUZZ_SHOW_PANICS=1` keeps the messages (to read what a crash was).
pub fn quiet_contained_panics() {
    static ONCE: OnceLock<()> = OnceLock::new();
    if std::env::var_os("FUZZ_SHOW_PANICS").is_some() {
        return;
    }
    ONCE.get_or_init(|| std::panic::set_hook(Box::new(|_| {})));
}

/// Runs sync-core's `serve` as the server does, on a copy of the fixture,
/// and checks what the server relies on afterwards.
pub fn serve_and_check(request: &SyncRequest) {
    let f = fixture();
    let mut docs = f.docs.clone();
    let actors = [device_actor()];
    let context = context();
    let caller = Caller {
        principal: technician(),
        device_actors: &actors,
        context: &context,
    };
    let served = serve(request, &mut docs, &caller, &f.limits);

    // The answer always encodes and reads back.
    let bytes = served.response.encode();
    let back = SyncResponse::decode(&bytes, &Limits::default()).expect("response decodes");
    assert_eq!(back, served.response);

    for accepted in &served.accepted {
        let merged = &docs[&accepted.id].doc;
        // The server's fallback commit path replays the accepted changes on
        // its stored copy: that must give the document `serve` merged.
        let mut replay = f.docs[&accepted.id].doc.clone();
        replay
            .apply_changes(accepted.changes.iter().cloned())
            .expect("accepted changes apply to the stored document");
        assert_eq!(sorted(replay.get_heads()), sorted(merged.get_heads()));
        // The commit projects the job (jobs list, ledger, feedback): an
        // accepted job must read, and billing must answer without panicking.
        if let DocId::Job(_) = accepted.id {
            let job = read_job(merged, None).expect("an accepted job reads as a job");
            let _ = bill(&job, &f.book);
        }
    }
    // A rejected document is left exactly as it was stored.
    for reply in &served.response.docs {
        if let Outcome::Rejected { .. } = reply.outcome
            && let Some(original) = f.docs.get(&reply.id)
        {
            assert_eq!(
                docs[&reply.id].doc.get_heads(),
                original.doc.get_heads(),
                "a rejected document changed"
            );
        }
    }
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

/// The sync message a device that knows `server_heads` sends with `doc`:
/// every change since those heads (as a routine one-round sync does).
pub fn message_since(doc: &Automerge, server_heads: &[ChangeHash]) -> Vec<u8> {
    let mut state = State::new();
    state.their_heads = Some(server_heads.to_vec());
    state.their_need = Some(Vec::new());
    state.their_have = Some(vec![Have {
        last_sync: server_heads.to_vec(),
        bloom: BloomFilter::default(),
    }]);
    state.their_capabilities = Some(vec![Capability::MessageV2, Capability::SyncReset]);
    doc.generate_sync_message(&mut state)
        .map(|m| m.encode())
        .unwrap_or_default()
}

/// Fuzz bytes read as a stream of small numbers; zeros once exhausted.
pub struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self(data)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
}

/// Keys of the job schema (and a few that are not), so crafted changes
/// touch the fields the validator and reader look at.
const KEYS: &[&str] = &[
    "schema_version",
    "kind",
    "job_id",
    "created_at",
    "customer",
    "site",
    "asset",
    "problem",
    "priority",
    "window",
    "technician",
    "status",
    "status_history",
    "labour",
    "parts",
    "notes",
    "checklist",
    "answers",
    "payments",
    "signature",
    "cancel_reason",
    "unable_reason",
    "name",
    "email",
    "phone",
    "address",
    "product",
    "serial",
    "warranty_end",
    "contract_ref",
    "start",
    "end",
    "from",
    "to",
    "by",
    "at",
    "minutes",
    "rate",
    "description",
    "sku",
    "quantity",
    "serials",
    "van",
    "voided",
    "method",
    "amount",
    "reference",
    "signer",
    "image_sha256",
    "question",
    "required",
    "value",
    "id",
    "line",
    "x",
];

/// Strings worth trying: statuses, ids the fixture uses, a card number.
fn words() -> &'static [String] {
    static WORDS: OnceLock<Vec<String>> = OnceLock::new();
    WORDS.get_or_init(|| {
        let mut w: Vec<String> = [
            "scheduled",
            "travelling",
            "on_site",
            "completed",
            "unable_to_complete",
            "cancelled",
            "job",
            "cash",
            "card",
            "VALVE-1",
            "PUMP-9",
            "P-1",
            "standard",
            "SC-GOLD-1",
            "4111 1111 1111 1111",
            "",
            "2026-01-01",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        w.push(technician().user.to_string());
        w.push(dispatcher().user.to_string());
        w.push(job_id().to_string());
        w.push(van().to_string());
        w.push(LineId::from_bytes([5; 16]).to_string());
        w
    })
}

fn string(input: &mut Input<'_>) -> String {
    let pick = input.byte();
    let base = if pick < 160 {
        words()[usize::from(pick) % words().len()].clone()
    } else {
        let n = usize::from(input.byte() % 32);
        String::from_utf8_lossy(input.take(n)).into_owned()
    };
    // Now and then a long text, up to a little over the 10,000-character
    // limit: the text limits must hold on every path. (Far longer texts
    // are a matter of bounded work, tested apart: here they would only
    // slow the fuzzer down.)
    // (Rare: two bytes must agree, or most programs would carry one.)
    if input.byte() == 255 && input.byte() >= 224 {
        let times = (usize::from(input.byte()) * 48 + 1).min(12_000 / base.len().max(1));
        base.repeat(times.max(1))
    } else {
        base
    }
}

fn scalar(input: &mut Input<'_>) -> ScalarValue {
    match input.byte() % 10 {
        0 => ScalarValue::Null,
        1 => ScalarValue::Boolean(input.byte() & 1 == 1),
        2 => ScalarValue::Int(i64::from(input.u32() as i32)),
        3 => ScalarValue::Uint(u64::from(input.u32())),
        4 => ScalarValue::F64(f64::from(input.u32() as i32) / 7.0),
        5 => ScalarValue::Timestamp(T0 + i64::from(input.u32() as i32)),
        6 => ScalarValue::Counter(i64::from(input.byte() as i8).into()),
        7 => {
            let n = usize::from(input.byte() % 16);
            ScalarValue::Bytes(input.take(n).to_vec())
        }
        _ => ScalarValue::Str(string(input).into()),
    }
}

fn obj_type(input: &mut Input<'_>) -> ObjType {
    match input.byte() % 3 {
        0 => ObjType::Map,
        1 => ObjType::List,
        _ => ObjType::Text,
    }
}

/// The document's objects (breadth first, at most 64).
fn objects(doc: &Automerge) -> Vec<(ObjId, ObjType)> {
    let mut out = vec![(ROOT, ObjType::Map)];
    let mut i = 0;
    while i < out.len() && out.len() < 64 {
        let (obj, _) = out[i].clone();
        i += 1;
        let props: Vec<automerge::Prop> = match doc.object_type(&obj) {
            Ok(ObjType::Map | ObjType::Table) => doc.keys(&obj).map(Into::into).collect(),
            Ok(ObjType::List) => (0..doc.length(&obj)).map(Into::into).collect(),
            _ => Vec::new(),
        };
        for prop in props {
            if let Ok(Some((automerge::Value::Object(t), id))) = doc.get(&obj, prop)
                && out.len() < 64
            {
                out.push((id, t));
            }
        }
    }
    out
}

/// Interprets `input` as a device's edits on its copy of `base`: up to
/// four changes by the device's actor, each up to 16 raw operations on any
/// object of the document. The result is a valid automerge document whose
/// content is anything at all: what a hostile device can send.
pub fn craft(base: &Automerge, input: &mut Input<'_>) -> Automerge {
    let mut doc = base.fork().with_actor(device_actor());
    for change in 0..4i64 {
        if input.is_empty() {
            break;
        }
        let objs = objects(&doc);
        let mut tx = doc.transaction();
        for _ in 0..=(input.byte() % 16) {
            let (obj, t) = &objs[usize::from(input.byte()) % objs.len()];
            let key = KEYS[usize::from(input.byte()) % KEYS.len()];
            let len = tx.length(obj);
            let at =
                |input: &mut Input<'_>, extra: usize| usize::from(input.byte()) % (len + extra);
            // Errors (a wrong index, a wrong object kind) are fine: skip.
            let _ = match (input.byte() % 8, t) {
                (0, ObjType::Map) => tx.put(obj, key, scalar(input)),
                (1, ObjType::Map) => tx.put_object(obj, key, obj_type(input)).map(drop),
                (2, ObjType::Map) => tx.delete(obj, key),
                (3, ObjType::Map) => tx.increment(obj, key, i64::from(input.byte() as i8)),
                (0, ObjType::List) => {
                    let i = at(input, 1);
                    tx.insert(obj, i, scalar(input))
                }
                (1, ObjType::List) => {
                    let i = at(input, 1);
                    tx.insert_object(obj, i, obj_type(input)).map(drop)
                }
                (2, ObjType::List) if len > 0 => {
                    let i = at(input, 0);
                    tx.delete(obj, i)
                }
                (3, ObjType::List) if len > 0 => {
                    let i = at(input, 0);
                    tx.put(obj, i, scalar(input))
                }
                (_, ObjType::Text) => {
                    let pos = at(input, 1);
                    let del = isize::from(input.byte() % 4);
                    let text = string(input);
                    tx.splice_text(obj, pos, del, &text)
                }
                _ => Ok(()),
            };
        }
        let messages = [
            "start_travel",
            "arrive",
            "add_note",
            "use_part",
            "complete",
            "x",
        ];
        tx.commit_with(
            CommitOptions::default()
                .with_message(messages[usize::from(input.byte()) % messages.len()].to_owned())
                .with_time(T0 / 1000 + change),
        );
    }
    doc
}
