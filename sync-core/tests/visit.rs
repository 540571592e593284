mod common;

use common::*;
use fieldsync_core::automerge::sync::SyncDoc;
use fieldsync_core::job::{JobAction, PaymentMethod};
use fieldsync_core::{JobDoc, Money, Quantity, Status, Timestamp};

#[test]
fn a_visit_from_start_to_finish() {
    let mut ids = Ids::default();
    let job_id = ids.job();
    let office = new_job(job_id, Some(user(1)));
    let mut device = JobDoc::from_doc(office.doc().fork().with_actor(actor(1))).unwrap();
    let t = tech(1);
    let now = Timestamp(T0);
    for a in [
        JobAction::StartTravel,
        JobAction::Arrive,
        JobAction::AddLabour {
            entry: ids.line(),
            minutes: 90,
            rate: "standard".into(),
            description: "Replaced valve".into(),
        },
        JobAction::UsePart {
            line: ids.line(),
            sku: sku("VALVE-1"),
            quantity: Quantity::new(2).unwrap(),
            serials: vec![],
            van: van(1),
        },
        JobAction::UsePart {
            line: ids.line(),
            sku: sku("PUMP-9"),
            quantity: Quantity::new(1).unwrap(),
            serials: vec!["P-123".into()],
            van: van(1),
        },
        JobAction::AddNote {
            text: "Customer mentioned noise".into(),
        },
        JobAction::AnswerChecklist {
            item: fieldsync_core::LineId::from_bytes([9; 16]),
            value: "yes".into(),
        },
        JobAction::RecordPayment {
            payment: ids.line(),
            method: PaymentMethod::Card,
            amount: Money(1000),
            reference: Some("AUTH-77".into()),
        },
        JobAction::CaptureSignature {
            signer: "Ana".into(),
            image_sha256: "ab".repeat(32),
        },
        JobAction::Complete,
    ] {
        device
            .apply(&a, t, now)
            .unwrap_or_else(|e| panic!("{a:?}: {e}"));
    }
    let job = device.read().unwrap();
    assert_eq!(job.status, Status::Completed);
    assert_eq!(job.parts.len(), 2);
    assert_eq!(job.status_history.len(), 4);
    assert!(job.notes.contains("noise"));

    // Server side: receive via standard sync.
    let mut server = office.doc().clone();
    let mut s1 = fieldsync_core::automerge::sync::State::new();
    let mut s2 = fieldsync_core::automerge::sync::State::new();
    let mut dev = device.doc().clone();
    for _ in 0..10 {
        if let Some(m) = dev.generate_sync_message(&mut s1) {
            server.receive_sync_message(&mut s2, m).unwrap();
        }
        if let Some(m) = server.generate_sync_message(&mut s2) {
            dev.receive_sync_message(&mut s1, m).unwrap();
        }
    }
    assert_eq!(server.get_heads(), dev.get_heads());
    let book = price_book();
    let invoice = fieldsync_core::billing::bill(&job, &book).unwrap();
    assert_eq!(invoice.lines.len(), 4);
    assert!(invoice.warnings.is_empty());
}
