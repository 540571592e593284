//! A simulated network: a stateless server function, devices with their own
//! documents and sessions, and a transport that can drop, duplicate and
//! reorder messages. Loops are bounded by `MAX_ROUNDS`, never "until it works".
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use fieldsync_core::automerge::{ActorId, Automerge, ChangeHash};
use fieldsync_core::job::{read_job, read_status};
use fieldsync_core::sync::{
    Access, Caller, ClientSession, DocSet, HeldDoc, Limits, Outcome, SyncReport, SyncRequest,
    SyncResponse, has_change, serve,
};
use fieldsync_core::{DocId, Principal, Role};

pub const MAX_ROUNDS: usize = 10;

/// The server: documents only, no per-client state.
#[derive(Clone, Default)]
pub struct Server {
    pub docs: BTreeMap<DocId, Automerge>,
    pub requests: usize,
}

impl Server {
    /// What `who` may hold now, and what they asked for that left their scope:
    /// read from the documents here, as the real server reads it from SQL.
    fn access_for(&self, who: &Principal, requested: &BTreeSet<DocId>) -> Vec<(DocId, Access)> {
        let mut out = Vec::new();
        for (id, doc) in &self.docs {
            let access = match id {
                DocId::PriceBook | DocId::VanStock(_) | DocId::Regenerated(..) => {
                    Some(Access::ReadOnly)
                }
                DocId::Job(_) if who.role.is_office() => Some(Access::Write),
                DocId::Job(_) => {
                    let assigned = read_job(doc, None).ok().and_then(|j| j.technician);
                    if assigned == Some(who.user) {
                        Some(Access::Write)
                    } else if requested.contains(id) {
                        Some(Access::Removed)
                    } else {
                        None
                    }
                }
            };
            if let Some(access) = access {
                out.push((*id, access));
            }
        }
        out
    }

    /// One HTTP request: bytes in, bytes out. The documents are lent to
    /// `serve`, which updates the ones that accept changes (as the real
    /// server stores what `serve` accepted).
    pub fn handle(&mut self, who: &Principal, actors: &[ActorId], body: &[u8]) -> Vec<u8> {
        self.requests += 1;
        let request = SyncRequest::decode(body, &Limits::default()).expect("valid request");
        let requested = request.mentioned().collect();
        let mut held = BTreeMap::new();
        for (id, access) in self.access_for(who, &requested) {
            let doc = self.docs.remove(&id).expect("listed above");
            held.insert(id, HeldDoc { doc, access });
        }
        let caller = Caller {
            principal: *who,
            device_actors: actors,
            context: &Default::default(),
        };
        let served = serve(&request, &mut held, &caller, &Limits::default());
        for accepted in &served.accepted {
            let doc = &held[&accepted.id].doc;
            for change in &accepted.changes {
                assert!(has_change(doc, &change.hash()), "accepted but not applied");
            }
        }
        for (id, h) in held {
            self.docs.insert(id, h.doc);
        }
        served.response.encode()
    }
}

/// A device (or the office's client): its documents and sync session.
pub struct Device {
    pub who: Principal,
    pub actor: ActorId,
    pub docs: DocSet,
    pub session: ClientSession,
    pub rejections: Vec<(DocId, String)>,
    pub round_trips: usize,
}

impl Device {
    pub fn new(who: Principal, actor: ActorId) -> Self {
        Self {
            who,
            actor: actor.clone(),
            docs: DocSet::new(),
            session: ClientSession::new(actor),
            rejections: Vec::new(),
            round_trips: 0,
        }
    }

    fn record(&mut self, report: &SyncReport) {
        for (id, r) in &report.rejected {
            self.rejections.push((*id, r.message.clone()));
        }
    }

    pub fn apply_response(&mut self, bytes: &[u8]) -> SyncReport {
        let resp = SyncResponse::decode(bytes, &Limits::default()).expect("valid response");
        let report = self.session.apply(&mut self.docs, &resp);
        self.record(&report);
        report
    }

    /// A full sync over a perfect link; returns the number of round trips.
    pub fn sync(&mut self, server: &mut Server) -> usize {
        let mut trips = 0;
        let mut req = Some(self.session.start(&self.docs));
        while let Some(r) = req.take() {
            assert!(
                trips < MAX_ROUNDS,
                "sync did not settle in {MAX_ROUNDS} rounds"
            );
            trips += 1;
            let resp = server.handle(&self.who, std::slice::from_ref(&self.actor), &r.encode());
            self.apply_response(&resp);
            req = self.session.next_round(&self.docs);
        }
        self.round_trips += trips;
        trips
    }

    pub fn heads(&self) -> BTreeMap<DocId, Vec<ChangeHash>> {
        self.docs
            .iter()
            .map(|(id, d)| (*id, d.get_heads()))
            .collect()
    }
}

/// Whether a reply in `resp` says the server now wants more.
pub fn outcomes(bytes: &[u8]) -> Vec<Outcome> {
    SyncResponse::decode(bytes, &Limits::default())
        .unwrap()
        .docs
        .into_iter()
        .map(|d| d.outcome)
        .collect()
}

pub fn role_of(p: &Principal) -> Role {
    p.role
}

pub fn status_of(doc: &Automerge) -> fieldsync_core::Status {
    read_status(doc, None).unwrap().0
}
