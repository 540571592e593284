//! Writes the schema-v1 fixtures of `sync-core/tests/fixtures/v1/`: job
//! documents and changes exactly as the v1 app and server wrote them.
//!
//! The committed bytes were made by this program at the last commit whose
//! code wrote schema v1 (the commit that added this file). Running it on
//! later code would write that code's schema, so it refuses to overwrite
//! existing files. To regenerate, check that commit out and run:
//!
//! ```text
//! cargo run -p fieldsync-core --example v1_fixtures -- gen sync-core/tests/fixtures/v1
//! ```
//!
//! The second mode plays the v1 app on a document it is given (one the
//! newer server upgraded): it reads the job and records technician edits
//! with v1 code, which proves a v1 device keeps working on upgraded jobs.
//!
//! ```text
//! cargo run -p fieldsync-core --example v1_fixtures -- act-on <doc.automerge> <out.changes>
//! ```
//!
//! Everything is deterministic: fixed actors, ids and times.

use std::path::{Path, PathBuf};

use fieldsync_core::automerge::{ActorId, Automerge, ChangeHash};
use fieldsync_core::job::{
    Asset, ChecklistQuestion, Customer, DetailsEdit, PaymentMethod, Priority, Site, Window,
};
use fieldsync_core::{
    JobAction, JobDoc, JobId, JobSpec, LineId, LocationId, Money, Principal, Quantity, Role,
    Timestamp, UserId,
};

/// 2026-01-05T08:00:00Z: the job is created the day before the visit.
const T0: i64 = 1_767_600_000_000;
const MINUTE: i64 = 60_000;

fn job_id() -> JobId {
    JobId::from_bytes([0x10; 16])
}
fn technician() -> Principal {
    Principal::new(UserId::from_bytes([0x21; 16]), Role::Technician)
}
fn dispatcher() -> Principal {
    Principal::new(UserId::from_bytes([0x22; 16]), Role::Dispatcher)
}
fn van() -> LocationId {
    LocationId::from_bytes([0x31; 16])
}
fn line(n: u8) -> LineId {
    LineId::from_bytes([0x40 + n; 16])
}
/// The server process that created the job.
fn server_actor() -> ActorId {
    ActorId::from([0x5E; 16])
}
/// Another server process, which made the office's later edits.
fn office_actor() -> ActorId {
    ActorId::from([0x5F; 16])
}
/// The technician's phone, running the v1 app.
fn phone_actor() -> ActorId {
    ActorId::from([0x71; 16])
}

fn spec() -> JobSpec {
    JobSpec {
        id: job_id(),
        customer: Customer {
            name: "Rita Moreira".into(),
            email: Some("rita@example.com".parse().expect("email")),
            phone: Some("+351 910 000 001".into()),
            feedback_opt_out: false,
        },
        site: Site {
            name: Some("Basement plant room".into()),
            address: "Rua das Flores 12, Porto".into(),
        },
        asset: Asset {
            product: "Boiler X200".into(),
            serial: Some("BX-2207".into()),
            warranty_end: None,
            contract_ref: None,
        },
        problem: "Boiler loses pressure overnight".into(),
        priority: Priority::High,
        window: Window::new(
            Timestamp(T0 + 24 * 60 * MINUTE),
            Timestamp(T0 + 26 * 60 * MINUTE),
        )
        .expect("window"),
        technician: Some(technician().user),
        checklist: vec![
            ChecklistQuestion {
                id: line(1),
                question: "Gas pressure checked?".into(),
                required: true,
                kind: Default::default(),
            },
            ChecklistQuestion {
                id: line(2),
                question: "Flue clear?".into(),
                required: false,
                kind: Default::default(),
            },
        ],
    }
}

/// The technician's visit, offline on the phone: travel, work, payment,
/// signature (completion comes later, see [`later_edits`]).
fn visit() -> Vec<JobAction> {
    vec![
        JobAction::StartTravel,
        JobAction::Arrive,
        JobAction::AddLabour {
            entry: line(10),
            minutes: 50,
            rate: "standard".into(),
            description: "Replaced the expansion vessel valve".into(),
        },
        JobAction::UsePart {
            line: line(11),
            sku: "VALVE-22".parse().expect("sku"),
            quantity: Quantity::new(2).expect("quantity"),
            serials: vec![],
            van: van(),
        },
        JobAction::UsePart {
            line: line(12),
            sku: "PUMP-7".parse().expect("sku"),
            quantity: Quantity::new(1).expect("quantity"),
            serials: vec!["SN-881".into()],
            van: van(),
        },
        JobAction::SetPartQuantity {
            line: line(11),
            quantity: Quantity::new(1).expect("quantity"),
        },
        JobAction::AddNote {
            text: "Vessel pre-charge was at 0.2 bar.".into(),
        },
        JobAction::AnswerChecklist {
            item: line(1),
            value: "yes, 20 mbar".into(),
        },
        JobAction::RecordPayment {
            payment: line(13),
            method: PaymentMethod::Card,
            amount: Money(12_500),
            reference: Some("TERM-7731".into()),
        },
        JobAction::CaptureSignature {
            signer: "Rita Moreira".into(),
            image_sha256: "5e".repeat(32),
        },
    ]
}

/// What the office did meanwhile (from the created job, concurrently).
fn office_edits() -> Vec<JobAction> {
    vec![
        JobAction::AddNote {
            text: "Customer asks to ring the bell twice.".into(),
        },
        JobAction::EditWindow(
            Window::new(
                Timestamp(T0 + 25 * 60 * MINUTE),
                Timestamp(T0 + 27 * 60 * MINUTE),
            )
            .expect("window"),
        ),
        JobAction::EditDetails(DetailsEdit {
            customer_phone: Some(Some("+351 910 000 002".into())),
            problem: Some("Boiler loses pressure overnight; drips at the valve".into()),
            ..DetailsEdit::default()
        }),
        JobAction::SetChecklistItem(ChecklistQuestion {
            id: line(3),
            question: "Photo of the rating plate taken?".into(),
            required: false,
            kind: Default::default(),
        }),
    ]
}

/// Technician edits the v1 app makes on a job it got back from a newer server.
fn later_edits() -> Vec<JobAction> {
    vec![
        JobAction::AddNote {
            text: "Pressure holds at 1.4 bar.".into(),
        },
        JobAction::AddLabour {
            entry: line(14),
            minutes: 20,
            rate: "standard".into(),
            description: "Pressure test".into(),
        },
        JobAction::Complete,
    ]
}

fn act(job: &mut JobDoc, actions: &[JobAction], who: Principal, mut at: i64) -> Result<(), String> {
    for action in actions {
        at += 5 * MINUTE;
        job.apply(action, who, Timestamp(at))
            .map_err(|e| format!("{}: {e}", action.name()))?;
    }
    Ok(())
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if path.exists() {
        return Err(format!(
            "{} exists: fixtures are never regenerated by newer code",
            path.display()
        ));
    }
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn changes_since(doc: &Automerge, heads: &[ChangeHash]) -> Vec<u8> {
    doc.save_after(heads)
}

fn generate(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let created = JobDoc::create(&spec(), server_actor(), dispatcher(), Timestamp(T0))
        .map_err(|e| format!("create: {e}"))?;
    let created_heads = created.doc().get_heads();

    let mut phone = JobDoc::from_doc(created.doc().fork().with_actor(phone_actor()))
        .map_err(|e| e.to_string())?;
    act(&mut phone, &visit(), technician(), T0 + 24 * 60 * MINUTE)?;

    let mut office = JobDoc::from_doc(created.doc().fork().with_actor(office_actor()))
        .map_err(|e| e.to_string())?;
    act(&mut office, &office_edits(), dispatcher(), T0 + 60 * MINUTE)?;

    write_new(&dir.join("created.automerge"), &created.doc().save())?;
    write_new(
        &dir.join("technician.changes"),
        &changes_since(phone.doc(), &created_heads),
    )?;
    write_new(
        &dir.join("office.changes"),
        &changes_since(office.doc(), &created_heads),
    )?;
    println!("wrote {}", dir.display());
    Ok(())
}

/// Loads `doc` as the v1 phone (it holds the visit already), reads it and
/// records [`later_edits`].
fn act_on(doc_path: &Path, out: &Path) -> Result<(), String> {
    let bytes = std::fs::read(doc_path).map_err(|e| format!("{}: {e}", doc_path.display()))?;
    let doc = Automerge::load(&bytes)
        .map_err(|e| format!("load: {e}"))?
        .with_actor(phone_actor());
    let before = doc.get_heads();
    let mut phone = JobDoc::from_doc(doc).map_err(|e| format!("the v1 app cannot read it: {e}"))?;
    let job = phone.read().map_err(|e| e.to_string())?;
    println!(
        "v1 read: status {}, {} labour, {} parts, notes {} chars",
        job.status,
        job.labour.len(),
        job.parts.len(),
        job.notes.len()
    );
    act(
        &mut phone,
        &later_edits(),
        technician(),
        T0 + 25 * 60 * MINUTE,
    )?;
    write_new(out, &changes_since(phone.doc(), &before))?;
    println!("wrote {}", out.display());
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [mode, dir] if mode == "gen" => generate(&PathBuf::from(dir)),
        [mode, doc, out] if mode == "act-on" => act_on(Path::new(doc), Path::new(out)),
        _ => Err("usage: v1_fixtures gen <dir> | act-on <doc.automerge> <out.changes>".into()),
    };
    if let Err(e) = result {
        eprintln!("v1_fixtures: {e}");
        std::process::exit(1);
    }
}
