//! Convergence: two technicians' devices, the office's client and the server
//! work offline, then sync in random orders over a link that drops,
//! duplicates and reorders messages. In the end every replica holds the same
//! heads and the same jobs, and no change anybody made is missing.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::net::{Device, Server};
use common::*;
use fieldsync_core::automerge::{Automerge, ChangeHash};
use fieldsync_core::job::{DetailsEdit, JobAction, PaymentMethod, Window, read_job};
use fieldsync_core::pricebook::write_price_book;
use fieldsync_core::{DocId, JobDoc, LineId, Money, Principal, Quantity, Timestamp};
use proptest::prelude::*;

const DEVICES: usize = 3; // technician 1, technician 2, the office's client
const JOBS: usize = 3;

#[derive(Clone, Debug)]
enum Step {
    /// A device edits a job it holds; `op` picks the action.
    Edit {
        device: usize,
        job: usize,
        op: u8,
        arg: u8,
    },
    /// The office edits through the server (the dispatch API).
    ServerEdit { job: usize, op: u8, arg: u8 },
    /// A device syncs over a faulty link.
    Sync { device: usize, faults: Faults },
}

#[derive(Clone, Copy, Debug)]
struct Faults {
    drop_request: bool,
    drop_response: bool,
    duplicate_request: bool,
    /// Hold the response back and deliver it at a later sync (reordering).
    delay_response: bool,
}

fn faults() -> impl Strategy<Value = Faults> {
    (0u8..10, 0u8..10, 0u8..10, 0u8..10).prop_map(|(a, b, c, d)| Faults {
        drop_request: a == 0,
        drop_response: b == 0,
        duplicate_request: c == 0,
        delay_response: d == 0,
    })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (0..DEVICES, 0..JOBS, any::<u8>(), any::<u8>())
            .prop_map(|(device, job, op, arg)| Step::Edit { device, job, op, arg }),
        1 => (0..JOBS, any::<u8>(), any::<u8>()).prop_map(|(job, op, arg)| Step::ServerEdit { job, op, arg }),
        3 => (0..DEVICES, faults()).prop_map(|(device, faults)| Step::Sync { device, faults }),
    ]
}

struct World {
    server: Server,
    devices: Vec<Device>,
    delayed: Vec<Vec<Vec<u8>>>,
    jobs: Vec<DocId>,
    ids: Ids,
    clock: i64,
    /// Every change anybody made: none may be missing at the end.
    made: BTreeMap<DocId, BTreeSet<ChangeHash>>,
}

impl World {
    fn new() -> Self {
        let mut ids = Ids::default();
        let mut server = Server::default();
        let mut jobs = Vec::new();
        for j in 0..JOBS {
            let id = ids.job();
            let tech = if j == 1 { 2 } else { 1 };
            server
                .docs
                .insert(DocId::Job(id), new_job(id, Some(user(tech))).into_doc());
            jobs.push(DocId::Job(id));
        }
        let mut book = Automerge::new().with_actor(actor(250));
        write_price_book(&mut book, &price_book(), Timestamp(T0)).unwrap();
        server.docs.insert(DocId::PriceBook, book);
        let devices = vec![
            Device::new(tech(1), actor(1)),
            Device::new(tech(2), actor(2)),
            Device::new(dispatcher(), actor(3)),
        ];
        let mut world = World {
            server,
            devices,
            delayed: vec![Vec::new(); DEVICES],
            jobs,
            ids,
            clock: T0,
            made: BTreeMap::new(),
        };
        for d in 0..DEVICES {
            world.devices[d].sync(&mut world.server);
        }
        world
    }

    fn now(&mut self) -> Timestamp {
        self.clock += 60_000;
        Timestamp(self.clock)
    }

    fn action(&mut self, who: Principal, job: &fieldsync_core::Job, op: u8, arg: u8) -> JobAction {
        let line = |ids: &mut Ids| ids.line();
        let own_part = job
            .parts
            .iter()
            .filter(|p| !p.voided)
            .nth(arg as usize % job.parts.len().max(1))
            .map(|p| p.id);
        if who.role.is_office() {
            return match op % 7 {
                0 => JobAction::AddNote {
                    text: format!("office note {arg}"),
                },
                1 => JobAction::EditNotes {
                    text: format!("{}\n(office {arg})", job.notes),
                },
                2 => {
                    let start = T0 + i64::from(arg) * 3_600_000;
                    JobAction::EditWindow(
                        Window::new(Timestamp(start), Timestamp(start + 7_200_000)).unwrap(),
                    )
                }
                3 => JobAction::Reassign {
                    technician: Some(user(1 + arg % 2)),
                },
                4 if arg.is_multiple_of(4) => JobAction::Cancel {
                    reason: "customer cancelled".into(),
                },
                5 => JobAction::EditDetails(DetailsEdit {
                    contract_ref: Some(Some("SC-GOLD-1".into())),
                    warranty_end: Some(if arg.is_multiple_of(2) {
                        Some(date("2027-01-01"))
                    } else {
                        None
                    }),
                    ..DetailsEdit::default()
                }),
                _ => JobAction::AddNote {
                    text: "called customer".into(),
                },
            };
        }
        match op % 12 {
            0 => JobAction::StartTravel,
            1 => JobAction::Arrive,
            2 => JobAction::AddLabour {
                entry: line(&mut self.ids),
                minutes: 15 + u32::from(arg),
                rate: "standard".into(),
                description: "work".into(),
            },
            3 | 4 => {
                let serial = arg.is_multiple_of(3);
                let quantity = if serial { 1 } else { 1 + u32::from(arg % 4) };
                JobAction::UsePart {
                    line: line(&mut self.ids),
                    sku: sku(if serial { "PUMP-9" } else { "VALVE-1" }),
                    quantity: Quantity::new(quantity).unwrap(),
                    serials: if serial {
                        vec![format!("SN-{arg}")]
                    } else {
                        vec![]
                    },
                    van: van(1),
                }
            }
            5 => match own_part {
                Some(line) => JobAction::SetPartQuantity {
                    line,
                    quantity: Quantity::new(1 + u32::from(arg % 5)).unwrap(),
                },
                None => JobAction::AddNote {
                    text: "no parts yet".into(),
                },
            },
            6 => match own_part {
                Some(line) => JobAction::VoidPartLine { line },
                None => JobAction::AddNote {
                    text: "nothing to void".into(),
                },
            },
            7 => JobAction::AddNote {
                text: format!("tech note {arg}"),
            },
            8 => JobAction::AnswerChecklist {
                item: LineId::from_bytes([9; 16]),
                value: if arg.is_multiple_of(2) {
                    "yes".into()
                } else {
                    "no".into()
                },
            },
            9 => JobAction::RecordPayment {
                payment: line(&mut self.ids),
                method: PaymentMethod::Cash,
                amount: Money(100 + i64::from(arg)),
                reference: None,
            },
            10 => JobAction::CaptureSignature {
                signer: "Ana".into(),
                image_sha256: format!("{:02x}", arg).repeat(32),
            },
            _ => {
                if arg.is_multiple_of(5) {
                    JobAction::UnableToComplete {
                        reason: "no access".into(),
                    }
                } else {
                    JobAction::Complete
                }
            }
        }
    }

    fn edit(&mut self, device: usize, job: usize, op: u8, arg: u8) {
        let id = self.jobs[job];
        let who = self.devices[device].who;
        let Some(doc) = self.devices[device].docs.remove(&id) else {
            return;
        };
        let mut doc = JobDoc::from_trusted(doc);
        let current = doc.read().expect("a held job always reads");
        let action = self.action(who, &current, op, arg);
        let now = self.now();
        // Preconditions may refuse (e.g. completing without a signature): that is no change.
        if let Ok(hash) = doc.apply(&action, who, now) {
            self.made.entry(id).or_default().insert(hash);
        }
        self.devices[device].docs.insert(id, doc.into_doc());
    }

    fn server_edit(&mut self, job: usize, op: u8, arg: u8) {
        let id = self.jobs[job];
        let doc = self.server.docs.remove(&id).unwrap();
        let mut doc = JobDoc::from_trusted(doc.with_actor(actor(240)));
        let current = doc.read().unwrap();
        let action = self.action(dispatcher(), &current, op, arg);
        let now = self.now();
        if let Ok(hash) = doc.apply(&action, dispatcher(), now) {
            self.made.entry(id).or_default().insert(hash);
        }
        self.server.docs.insert(id, doc.into_doc());
    }

    fn faulty_sync(&mut self, device: usize, f: Faults) {
        // A response held back earlier arrives now, out of order.
        if let Some(stale) = self.delayed[device].pop() {
            self.devices[device].apply_response(&stale);
        }
        let d = &mut self.devices[device];
        let mut req = Some(d.session.start(&d.docs));
        let mut rounds = 0;
        while let Some(r) = req.take() {
            rounds += 1;
            if rounds > common::net::MAX_ROUNDS || f.drop_request {
                return;
            }
            let body = r.encode();
            let who = d.who;
            let actors = [d.actor.clone()];
            let resp = self.server.handle(&who, &actors, &body);
            if f.duplicate_request {
                let again = self.server.handle(&who, &actors, &body);
                assert_eq!(!again.is_empty(), !resp.is_empty());
            }
            if f.delay_response {
                self.delayed[device].push(resp);
                return;
            }
            if f.drop_response {
                return;
            }
            d.apply_response(&resp);
            req = d.session.next_round(&d.docs);
        }
    }

    fn settle(&mut self) {
        // Late deliveries first, then two clean passes: the second carries
        // what others pushed during the first.
        for d in 0..DEVICES {
            while let Some(stale) = self.delayed[d].pop() {
                self.devices[d].apply_response(&stale);
            }
        }
        for _ in 0..2 {
            for d in 0..DEVICES {
                self.devices[d].sync(&mut self.server);
            }
        }
    }
}

fn check(world: &World) -> Result<(), TestCaseError> {
    for d in &world.devices {
        prop_assert!(
            d.rejections.is_empty(),
            "a device-validated change was rejected: {:?}",
            d.rejections
        );
    }
    // No change anybody made is missing on the server.
    for (id, made) in &world.made {
        let doc = &world.server.docs[id];
        for h in made {
            prop_assert!(
                fieldsync_core::sync::has_change(doc, h),
                "change {h} on {id} was lost"
            );
        }
    }
    // Every replica holds exactly its scope, with the server's heads and the same job.
    for (i, d) in world.devices.iter().enumerate() {
        for (id, server_doc) in &world.server.docs {
            let in_scope = match id {
                DocId::Job(_) if i < 2 => {
                    read_job(server_doc, None).unwrap().technician == Some(user(i as u8 + 1))
                }
                _ => true,
            };
            match d.docs.get(id) {
                Some(doc) => {
                    prop_assert!(in_scope, "device {i} still holds {id}");
                    prop_assert_eq!(
                        doc.get_heads(),
                        server_doc.get_heads(),
                        "device {} heads on {}",
                        i,
                        id
                    );
                    if let DocId::Job(_) = id {
                        prop_assert_eq!(
                            read_job(doc, None).unwrap(),
                            read_job(server_doc, None).unwrap()
                        );
                    }
                }
                None => prop_assert!(!in_scope, "device {i} lacks {id}"),
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn all_replicas_converge_and_nothing_is_lost(steps in prop::collection::vec(step(), 1..60)) {
        let mut world = World::new();
        for s in steps {
            match s {
                Step::Edit { device, job, op, arg } => world.edit(device, job, op, arg),
                Step::ServerEdit { job, op, arg } => world.server_edit(job, op, arg),
                Step::Sync { device, faults } => world.faulty_sync(device, faults),
            }
        }
        world.settle();
        check(&world)?;
    }
}
