//! An in-process "office": the server's documents and sync-core's `serve`,
//! so the client's logic is tested without a network (the end-to-end tests
//! against the real server are in the workspace's `tests/` package).
#![allow(dead_code)]

use std::collections::BTreeMap;

use fieldsync_core::automerge::{ActorId, Automerge};
use fieldsync_core::job::{Asset, ChecklistQuestion, Customer, Priority, Site, Window};
use fieldsync_core::pricebook::{LabourRate, PartPrice, PriceBook, write_price_book};
use fieldsync_core::sync::{Access, Caller, HeldDoc, Limits, SyncRequest, serve};
use fieldsync_core::vanstock::{StockItem, VanStock, write_van_stock};
use fieldsync_core::{
    DocId, JobAction, JobDoc, JobId, JobSpec, LineId, LocationId, Money, Principal, Role, Sku,
    Timestamp, UserId,
};
use fieldsync_ffi::{FieldsyncClient, SessionTokens, SyncResult};

pub const T0: i64 = 1_767_261_600_000; // 2026-01-01T10:00:00Z

pub fn sku(s: &str) -> Sku {
    s.parse().unwrap()
}

pub struct Office {
    pub docs: BTreeMap<DocId, HeldDoc>,
    pub tech: Principal,
    pub job: JobId,
    pub van: LocationId,
    pub checklist_item: LineId,
    /// When false the office refuses the device's actor (a rejection).
    pub trust_device: bool,
    /// When true the job is written by the server only: the device's first
    /// new change is refused, by name.
    pub job_read_only: bool,
    /// When true the job has left the technician's scope (reassigned).
    pub job_removed: bool,
}

pub fn office_actor() -> ActorId {
    ActorId::from([200u8; 16])
}

impl Office {
    pub fn new() -> Self {
        let tech = Principal::new(UserId::from_bytes([1; 16]), Role::Technician);
        let office = Principal::new(UserId::from_bytes([2; 16]), Role::Dispatcher);
        let van = LocationId::from_bytes([3; 16]);
        let job = JobId::from_bytes([4; 16]);
        let checklist_item = LineId::from_bytes([5; 16]);
        let spec = JobSpec {
            id: job,
            customer: Customer {
                name: "Ana Silva".into(),
                email: Some("ana@example.com".parse().unwrap()),
                phone: None,
                feedback_opt_out: false,
            },
            site: Site {
                name: None,
                address: "Rua Augusta 1, Lisboa".into(),
            },
            asset: Asset {
                product: "Boiler X200".into(),
                serial: None,
                warranty_end: None,
                contract_ref: None,
            },
            problem: "No hot water".into(),
            priority: Priority::High,
            window: Window::new(Timestamp(T0), Timestamp(T0 + 7_200_000)).unwrap(),
            technician: Some(tech.user),
            checklist: vec![ChecklistQuestion {
                id: checklist_item,
                question: "Gas pressure checked?".into(),
                required: true,
                kind: Default::default(),
            }],
        };
        let job_doc = JobDoc::create(&spec, office_actor(), office, Timestamp(T0 - 1000))
            .unwrap()
            .into_doc();
        let mut book = Automerge::new().with_actor(office_actor());
        write_price_book(&mut book, &price_book(), Timestamp(T0)).unwrap();
        let mut stock = Automerge::new().with_actor(office_actor());
        write_van_stock(
            &mut stock,
            &VanStock {
                van,
                as_of: Timestamp(T0),
                items: BTreeMap::from([
                    (
                        sku("VALVE-1"),
                        StockItem {
                            quantity: 10,
                            serials: vec![],
                            quarantined: vec![],
                        },
                    ),
                    (
                        sku("PUMP-9"),
                        StockItem {
                            quantity: 2,
                            serials: vec!["P-1".into(), "P-2".into()],
                            quarantined: vec![],
                        },
                    ),
                ]),
            },
            Timestamp(T0),
        )
        .unwrap();
        let held = |doc, access| HeldDoc { doc, access };
        Self {
            docs: BTreeMap::from([
                (DocId::Job(job), held(job_doc, Access::Write)),
                (DocId::PriceBook, held(book, Access::ReadOnly)),
                (DocId::VanStock(van), held(stock, Access::ReadOnly)),
            ]),
            tech,
            job,
            van,
            checklist_item,
            trust_device: true,
            job_read_only: false,
            job_removed: false,
        }
    }

    /// The session the app would have after logging in as the technician.
    pub fn tokens(&self) -> SessionTokens {
        SessionTokens {
            server_url: None,
            access_token: "not-used-offline".into(),
            expires_in_secs: 900,
            refresh_token: "not-used-offline".into(),
            device_id: "00000000-0000-4000-8000-000000000001".into(),
            user_id: self.tech.user.to_string(),
            username: "ana".into(),
            role: "technician".into(),
        }
    }

    pub fn serve_bytes(&mut self, request: &[u8], device_actor: &ActorId) -> Vec<u8> {
        let request = SyncRequest::decode(request, &Limits::default()).unwrap();
        let actors = if self.trust_device {
            vec![device_actor.clone()]
        } else {
            vec![]
        };
        let caller = Caller {
            principal: self.tech,
            device_actors: &actors,
            context: &Default::default(),
        };
        let job = DocId::Job(self.job);
        if self.job_read_only {
            self.docs.get_mut(&job).unwrap().access = Access::ReadOnly;
        }
        if self.job_removed {
            // As the server lends a job that left the caller's scope: only
            // when the request names it.
            self.docs.get_mut(&job).unwrap().access = Access::Removed;
        }
        let response = serve(&request, &mut self.docs, &caller, &Limits::default()).response;
        self.docs.get_mut(&job).unwrap().access = Access::Write;
        response.encode()
    }

    /// One request of a sync: `request` in, the result of applying the answer out.
    pub fn round(&mut self, client: &FieldsyncClient, request: Vec<u8>) -> SyncResult {
        let actor = ActorId::from(hex::decode(client.actor_id().unwrap()).unwrap());
        let response = self.serve_bytes(&request, &actor);
        client.apply_sync_response(response).unwrap()
    }

    /// One full sync of `client` against this office, through the sans-IO calls.
    pub fn sync(&mut self, client: &FieldsyncClient) -> SyncResult {
        let actor = ActorId::from(hex::decode(client.actor_id().unwrap()).unwrap());
        let mut request = Some(client.sync_request().unwrap());
        let mut last = SyncResult::default();
        let mut rounds = 0;
        while let Some(req) = request.take() {
            rounds += 1;
            assert!(rounds <= 8, "sync does not finish");
            let response = self.serve_bytes(&req, &actor);
            last = client.apply_sync_response(response).unwrap();
            if last.more_rounds {
                request = client.next_sync_request().unwrap();
            }
        }
        last
    }

    pub fn job_doc(&self) -> JobDoc {
        JobDoc::from_doc(self.docs[&DocId::Job(self.job)].doc.clone()).unwrap()
    }

    /// Edits made concurrently on the server's copy of the job, each by its
    /// own actor (`[n; 16]`, each actor once) from the same state, then
    /// merged: two office
    /// desks, or another device of the technician.
    pub fn concurrent(&mut self, edits: Vec<(u8, Principal, Vec<JobAction>)>) {
        self.concurrent_as(
            edits
                .into_iter()
                .map(|(n, who, actions)| (ActorId::from([n; 16]), who, actions))
                .collect(),
        );
    }

    /// [`Self::concurrent`] with any actors (an office user's API actor).
    pub fn concurrent_as(&mut self, edits: Vec<(ActorId, Principal, Vec<JobAction>)>) {
        let held = self.docs.get_mut(&DocId::Job(self.job)).unwrap();
        let base = held.doc.clone();
        for (actor, who, actions) in edits {
            let mut job = JobDoc::from_trusted(base.fork().with_actor(actor));
            for action in actions {
                job.apply(&action, who, Timestamp(T0)).unwrap();
            }
            held.doc.merge(&mut job.into_doc()).unwrap();
        }
    }

    /// The office reassigns the job to another technician, as dispatch would.
    pub fn reassign_away(&mut self) {
        let held = self.docs.get_mut(&DocId::Job(self.job)).unwrap();
        let mut job = JobDoc::from_trusted(held.doc.clone().with_actor(office_actor()));
        job.apply(
            &JobAction::Reassign {
                technician: Some(UserId::from_bytes([9; 16])),
            },
            Principal::new(UserId::from_bytes([2; 16]), Role::Dispatcher),
            Timestamp(T0),
        )
        .unwrap();
        held.doc = job.into_doc();
        self.job_removed = true;
    }

    /// The office keeps one of a conflict's values, as the server's resolve
    /// route does: with the dispatcher's own API actor.
    pub fn resolve(&mut self, who: Principal, field: &str, actor: &str) {
        let held = self.docs.get_mut(&DocId::Job(self.job)).unwrap();
        let doc = held.doc.clone();
        let mut job =
            JobDoc::from_trusted(doc.with_actor(fieldsync_core::actors::office_actor(who.user)));
        job.apply(
            &JobAction::ResolveConflict {
                field: field.into(),
                actor: actor.into(),
            },
            who,
            Timestamp(T0),
        )
        .unwrap();
        held.doc = job.into_doc();
    }

    /// The office edits the job on the server (a note), as dispatch would.
    pub fn office_note(&mut self, text: &str) {
        let held = self.docs.get_mut(&DocId::Job(self.job)).unwrap();
        let mut job = JobDoc::from_trusted(held.doc.clone().with_actor(office_actor()));
        job.apply(
            &JobAction::AddNote { text: text.into() },
            Principal::new(UserId::from_bytes([2; 16]), Role::Dispatcher),
            Timestamp(T0),
        )
        .unwrap();
        held.doc = job.into_doc();
    }
}

pub fn price_book() -> PriceBook {
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
                hourly: Money(6000),
            },
        )]),
        contracts: BTreeMap::new(),
        extensions: BTreeMap::new(),
        refund_limits: Default::default(),
    }
}

/// A signed-in client with the office's documents synced.
pub fn synced_client(
    dir: &std::path::Path,
    office: &mut Office,
) -> std::sync::Arc<FieldsyncClient> {
    let client = FieldsyncClient::open(dir.to_str().unwrap().into()).unwrap();
    client.set_session(office.tokens()).unwrap();
    office.sync(&client);
    client
}

/// The one user's store in the app directory `dir` (`users/<user id>`, see
/// the library's `device` module).
pub fn user_store(dir: &std::path::Path) -> std::path::PathBuf {
    let users: Vec<_> = std::fs::read_dir(dir.join("users"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.parse::<fieldsync_core::UserId>().is_ok())
        })
        .collect();
    assert_eq!(users.len(), 1, "one user's store: {users:?}");
    users.into_iter().next().unwrap()
}
