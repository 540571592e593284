//! Measures what a job document costs in memory once loaded, against the
//! estimate the document cache bounds itself by (`documents::InMemory`'s
//! `Weigh`): `cargo run --release -p fieldsync-server --example doc_weight`.
//!
//! It loads many copies of a job document the way the server's cache gets
//! them (from a snapshot, and from a snapshot plus a visit's changes one by
//! one) and divides the growth of the process's resident memory (`VmRSS`)
//! by the copies: what a cached document really costs, allocator slack
//! included.

use automerge::{ActorId, Automerge, ReadDoc};
use fieldsync_core::job::{
    Asset, ChecklistKind, ChecklistQuestion, Customer, PaymentMethod, Priority, Site, Window,
};
use fieldsync_core::{
    JobAction, JobDoc, JobId, JobSpec, LineId, LocationId, Money, Principal, Quantity, Role,
    Timestamp, UserId,
};
use fieldsync_server::documents::InMemory;
use fieldsync_server::store::Weigh;

/// Copies loaded per measurement, so allocator slack averages out.
const COPIES: usize = 2000;

const T0: i64 = 1_767_261_600_000;

fn id(n: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&n.to_be_bytes());
    b[8] = 0xAB;
    b
}

fn main() -> anyhow::Result<()> {
    let tech = Principal::new(UserId::from_bytes(id(1)), Role::Technician);
    let office = Principal::new(UserId::from_bytes(id(2)), Role::Dispatcher);
    let question = LineId::from_bytes(id(3));
    let spec = JobSpec {
        id: JobId::from_bytes(id(4)),
        customer: Customer {
            name: "Ana Silva".into(),
            email: Some("ana@example.com".parse()?),
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
            contract_ref: None,
        },
        problem: "No hot water".into(),
        priority: Priority::Normal,
        window: Window::new(Timestamp(T0), Timestamp(T0 + 7_200_000))?,
        technician: Some(tech.user),
        checklist: vec![ChecklistQuestion {
            id: question,
            question: "Gas pressure checked?".into(),
            required: true,
            kind: ChecklistKind::Text,
        }],
    };
    let job = JobDoc::create(&spec, ActorId::from(id(5)), office, Timestamp(T0))?;
    let snapshot = job.doc().save();
    let doc = job.into_doc().with_actor(ActorId::from(id(6)));
    let before = doc.get_heads();
    // A visit like the bench's: 30 changes.
    let mut actions = vec![JobAction::StartTravel, JobAction::Arrive];
    for n in 0..12 {
        actions.push(JobAction::UsePart {
            line: LineId::from_bytes(id(100 + n)),
            sku: "VALVE-1".parse()?,
            quantity: Quantity::new(2)?,
            serials: Vec::new(),
            van: LocationId::from_bytes(id(7)),
        });
    }
    for n in 0..2 {
        actions.push(JobAction::AddLabour {
            entry: LineId::from_bytes(id(200 + n)),
            minutes: 45,
            rate: "standard".into(),
            description: "Diagnosis and repair".into(),
        });
    }
    actions.push(JobAction::AnswerChecklist {
        item: question,
        value: "yes".into(),
    });
    for n in 0..10 {
        actions.push(JobAction::AddNote {
            text: format!("Replaced the valve seal and tested the pressure, visit note {n}."),
        });
    }
    actions.push(JobAction::RecordPayment {
        payment: LineId::from_bytes(id(300)),
        method: PaymentMethod::Card,
        amount: Money(12_345),
        reference: Some("POS-123456".into()),
    });
    actions.push(JobAction::CaptureSignature {
        signer: "Customer".into(),
        image_sha256: format!("{:064x}", 0xfeed_u128),
    });
    actions.push(JobAction::Complete);
    let mut job = JobDoc::from_trusted(doc);
    for (n, action) in actions.iter().enumerate() {
        job.apply(action, tech, Timestamp(T0 + 60_000 * (n as i64 + 1)))?;
    }
    let doc = job.into_doc();
    let changes: Vec<Vec<u8>> = doc
        .get_changes(&before)
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    let whole = doc.save();
    drop(doc);

    let _whole = measure("after a visit, from a snapshot", || Automerge::load(&whole))?;
    let _new = measure("new job, from its snapshot", || Automerge::load(&snapshot))?;
    let _caught_up = measure("after a visit, snapshot + changes", || {
        let mut doc = Automerge::load(&snapshot)?;
        for change in &changes {
            doc.load_incremental(change)?;
        }
        Ok(doc)
    })?;
    Ok(())
}

fn measure(
    what: &str,
    load: impl Fn() -> Result<Automerge, automerge::AutomergeError>,
) -> anyhow::Result<Vec<InMemory>> {
    let start = rss_bytes()?;
    let mut docs = Vec::with_capacity(COPIES);
    for _ in 0..COPIES {
        docs.push(InMemory {
            doc: load()?,
            parsed: None,
        });
    }
    let each = (rss_bytes()? - start) / COPIES as f64;
    let stats = docs[0].doc.stats();
    let estimate = docs[0].weight();
    println!(
        "{what}: {each:.0} bytes resident each, {} ops, {} changes; estimate {estimate} bytes ({:.2}x)",
        stats.num_ops,
        stats.num_changes,
        estimate as f64 / each,
    );
    // Kept by the caller: freed memory would be reused by the next one.
    Ok(docs)
}

fn rss_bytes() -> anyhow::Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/self/status"))?;
    Ok(kib * 1024.0)
}
