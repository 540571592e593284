//! Writes the seed corpora under `fuzz/corpus/<target>/seed-*`: real bytes
//! from the protocol (a device's first and routine syncs, the server's
//! answers, saved and incremental job documents), each prefixed with the
//! mode byte its target reads first.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --bin seeds` (deterministic:
//! the same bytes every run, so the committed seeds only change when the
//! protocol does).

use std::collections::BTreeMap;
use std::path::Path;

use automerge::Automerge;
use fieldsync_core::sync::{
    Caller, ClientSession, DocMessage, PROTOCOL_VERSION, SyncRequest, SyncResponse, serve,
};
use fieldsync_core::{DocId, JobAction, JobDoc, LineId, Money, Timestamp};
use fieldsync_fuzz::{T0, context, device_actor, fixture, job_id, message_since, technician, van};

fn write(target: &str, name: &str, mode: Option<u8>, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&dir).expect("corpus dir");
    let mut out = Vec::with_capacity(bytes.len() + 1);
    out.extend(mode);
    out.extend_from_slice(bytes);
    std::fs::write(dir.join(format!("seed-{name}")), out).expect("write seed");
}

/// The technician's visit on their copy of the job, one action at a time.
fn visit(doc: &Automerge) -> Vec<Automerge> {
    let mut job = JobDoc::from_trusted(doc.fork().with_actor(device_actor()));
    let who = technician();
    let line = |n| LineId::from_bytes([n; 16]);
    let actions = [
        JobAction::StartTravel,
        JobAction::Arrive,
        JobAction::AddNote {
            text: "Replaced the valve; pressure fine.".into(),
        },
        JobAction::AddLabour {
            entry: line(11),
            minutes: 45,
            rate: "standard".into(),
            description: "Diagnosis and repair".into(),
        },
        JobAction::UsePart {
            line: line(12),
            sku: "VALVE-1".parse().expect("sku"),
            quantity: 1.try_into().expect("quantity"),
            serials: vec![],
            van: van(),
        },
        JobAction::AnswerChecklist {
            item: LineId::from_bytes([5; 16]),
            value: "yes".into(),
        },
        JobAction::RecordPayment {
            payment: line(13),
            method: fieldsync_core::job::PaymentMethod::Cash,
            amount: Money(9000),
            reference: Some("receipt 42".into()),
        },
        JobAction::CaptureSignature {
            signer: "Ana Silva".into(),
            image_sha256: "ab".repeat(32),
        },
        JobAction::Complete,
    ];
    let mut steps = Vec::new();
    for (i, action) in actions.iter().enumerate() {
        job.apply(action, who, Timestamp(T0 + i as i64 * 60_000))
            .unwrap_or_else(|e| panic!("{action:?}: {e}"));
        steps.push(job.doc().clone());
    }
    steps
}

fn main() {
    let f = fixture();
    let job = DocId::Job(job_id());
    let stored = &f.docs[&job].doc;
    let heads = stored.get_heads();
    let actors = [device_actor()];
    let context = context();
    let caller = Caller {
        principal: technician(),
        device_actors: &actors,
        context: &context,
    };

    // A new install's first request (nothing held) and the server's answer.
    let mut session = ClientSession::new(device_actor());
    let mut held: BTreeMap<DocId, Automerge> = BTreeMap::new();
    let first = session.start(&held);
    let mut server = f.docs.clone();
    let answer = serve(&first, &mut server, &caller, &f.limits).response;
    write("sync_request", "first-request", None, &first.encode());
    write("sync_request", "first-response", None, &answer.encode());
    write("sync_serve", "first-request", Some(0), &first.encode());
    write(
        "apply_sync_response",
        "first-response",
        Some(0),
        &answer.encode(),
    );
    session.apply(&mut held, &answer);

    // A routine sync carrying the whole visit, and each step's own message.
    let steps = visit(stored);
    let done = steps.last().expect("visit steps");
    held.insert(job, done.clone());
    let routine = session.start(&held);
    write("sync_request", "routine-request", None, &routine.encode());
    write("sync_serve", "routine-request", Some(0), &routine.encode());
    let mut server = f.docs.clone();
    let answer = serve(&routine, &mut server, &caller, &f.limits).response;
    write("sync_request", "routine-response", None, &answer.encode());
    write(
        "apply_sync_response",
        "routine-response",
        Some(0),
        &answer.encode(),
    );
    for (i, step) in steps.iter().enumerate() {
        let msg = message_since(step, &heads);
        write("sync_serve", &format!("visit-msg-{i}"), Some(1), &msg);
        write("apply_sync_response", &format!("job-msg-{i}"), Some(1), &{
            let mut b = vec![0u8];
            b.extend_from_slice(&message_since(step, &[]));
            b
        });
        let changes: Vec<u8> = step
            .get_changes(&heads)
            .iter()
            .flat_map(|c| c.raw_bytes().to_vec())
            .collect();
        write("job_load", &format!("visit-changes-{i}"), Some(1), &changes);
    }
    write("job_load", "stored-job", Some(0), &stored.save());
    write("job_load", "completed-job", Some(0), &done.save());

    // A multi-document request with a duplicate id and one for the price book.
    let odd = SyncRequest {
        v: PROTOCOL_VERSION,
        docs: vec![
            DocMessage {
                id: DocId::PriceBook,
                msg: serde_bytes::ByteBuf::from(message_since(&f.docs[&DocId::PriceBook].doc, &[])),
            },
            DocMessage {
                id: DocId::VanStock(van()),
                msg: serde_bytes::ByteBuf::from(Vec::new()),
            },
        ],
        known: Vec::new(), cursor: None, held: None, 
    };
    write("sync_request", "two-docs", None, &odd.encode());
    write("sync_serve", "two-docs", Some(0), &odd.encode());
    let empty = SyncResponse {
        v: PROTOCOL_VERSION,
        docs: vec![], cursor: None, resync: false, 
    };
    write(
        "apply_sync_response",
        "empty-response",
        Some(0),
        &empty.encode(),
    );

    // Crafted-edit programs: a few bytes that put a note, splice a text,
    // set a status (see `fieldsync_fuzz::craft`).
    for (name, program) in [
        ("put-status", &[2u8, 0, 0, 11, 0, 9, 0, 3][..]),
        ("splice-notes", &[2, 0, 0, 15, 7, 160, 0, 5, 2, 0][..]),
        ("card-in-notes", &[2, 0, 0, 15, 4, 0, 0, 14, 0][..]),
    ] {
        write("sync_serve", name, None, program);
        write("job_load", name, None, program);
    }
    println!("seeds written under {}/corpus", env!("CARGO_MANIFEST_DIR"));
}
