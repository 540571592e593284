//! The job schema evolves: documents and changes written by the v1 code
//! itself (`tests/fixtures/v1`, see `examples/v1_fixtures.rs`) are upgraded
//! on the server, a v1 phone keeps syncing and its changes validate, a
//! new-version tablet's edits merge with them, and everything reads.
//!
//! The server here is sync-core's own `serve` over documents in memory,
//! exactly as `server/src/sync` calls it (minus SQL).

use std::collections::BTreeMap;
use std::path::PathBuf;

use fieldsync_core::automerge::transaction::Transactable;
use fieldsync_core::automerge::{ActorId, Automerge, ObjType, ROOT, ReadDoc};
use fieldsync_core::job::{AttachmentKind, JobAction, read_job, schema};
use fieldsync_core::sync::{
    Access, Caller, ClientSession, DocSet, HeldDoc, Limits, Outcome, SyncResponse, serve,
};
use fieldsync_core::validate::{Context, TechnicianVan};
use fieldsync_core::{
    ActionError, DocId, JobDoc, JobId, LineId, LocationId, Principal, RejectCode, Role, Status,
    Timestamp, UserId, validate_changes,
};

// The generator's fixed ids, actors and times.
const T0: i64 = 1_767_600_000_000;
const HOUR: i64 = 3_600_000;
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
/// The v1 phone.
fn phone_actor() -> ActorId {
    ActorId::from([0x71; 16])
}
/// The same technician's tablet, running the new app.
fn tablet_actor() -> ActorId {
    ActorId::from([0x72; 16])
}
/// The upgraded server process.
fn server_actor() -> ActorId {
    ActorId::from([0x5A; 16])
}

fn fixture(path: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The changes a fixture file holds, in causal order, on top of `base`.
fn changes_on(base: &Automerge, bytes: &[u8]) -> Vec<fieldsync_core::automerge::Change> {
    let mut doc = base.clone();
    let before = doc.get_heads();
    doc.load_incremental(bytes).unwrap();
    let changes = doc.get_changes(&before);
    assert!(!changes.is_empty(), "the fixture holds changes");
    changes
}

/// The server: one job document, validated with the technician's van.
struct Server {
    doc: Automerge,
}

impl Server {
    /// One sync request from `who` on device `actor`: bytes in, bytes out.
    fn handle(&mut self, who: Principal, actor: &ActorId, body: &[u8]) -> Vec<u8> {
        let request = fieldsync_core::sync::SyncRequest::decode(body, &Limits::default()).unwrap();
        let id = DocId::Job(job_id());
        let mut held = BTreeMap::from([(
            id,
            HeldDoc {
                doc: self.doc.clone(),
                access: Access::Write,
            },
        )]);
        let ctx = Context::default().with_technician_van(TechnicianVan::Assigned(van()));
        let caller = Caller {
            principal: who,
            device_actors: std::slice::from_ref(actor),
            context: &ctx,
        };
        let served = serve(&request, &mut held, &caller, &Limits::default());
        for accepted in &served.accepted {
            self.doc
                .apply_changes(accepted.changes.iter().cloned())
                .unwrap();
        }
        served.response.encode()
    }
}

/// A device: its documents and sync session.
struct Device {
    who: Principal,
    actor: ActorId,
    docs: DocSet,
    session: ClientSession,
}

impl Device {
    fn new(who: Principal, actor: ActorId, doc: Option<Automerge>) -> Self {
        let mut docs = DocSet::new();
        if let Some(doc) = doc {
            docs.insert(DocId::Job(job_id()), doc.with_actor(actor.clone()));
        }
        Self {
            who,
            session: ClientSession::new(actor.clone()),
            actor,
            docs,
        }
    }

    fn doc(&self) -> &Automerge {
        &self.docs[&DocId::Job(job_id())]
    }

    fn act(&mut self, action: JobAction, at: i64) -> Result<(), ActionError> {
        let id = DocId::Job(job_id());
        let mut job = JobDoc::from_trusted(self.docs.remove(&id).unwrap());
        let result = job.apply(&action, self.who, Timestamp(at)).map(drop);
        self.docs.insert(id, job.into_doc());
        result
    }

    /// A full sync; returns every outcome the server gave the job.
    fn sync(&mut self, server: &mut Server) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        let mut request = Some(self.session.start(&self.docs));
        for _ in 0..10 {
            let Some(r) = request.take() else { break };
            let bytes = server.handle(self.who, &self.actor, &r.encode());
            let response = SyncResponse::decode(&bytes, &Limits::default()).unwrap();
            outcomes.extend(response.docs.iter().map(|d| d.outcome.clone()));
            self.session.apply(&mut self.docs, &response);
            request = self.session.next_round(&self.docs);
        }
        assert!(request.is_none(), "sync did not settle");
        outcomes
    }
}

fn accepted(outcomes: &[Outcome]) {
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Accepted | Outcome::NeedsAnotherRound)),
        "{outcomes:?}"
    );
}

/// The server's copy after the v1 history: the created job plus the v1
/// office's edits, as stored before the new server was deployed.
fn v1_server() -> Automerge {
    let mut doc = Automerge::load(&fixture("v1/created.automerge")).unwrap();
    let office = changes_on(&doc, &fixture("v1/office.changes"));
    doc.apply_changes(office).unwrap();
    doc.with_actor(server_actor())
}

/// The v1 phone's copy: the created job plus its offline visit.
fn v1_phone() -> Automerge {
    let mut doc = Automerge::load(&fixture("v1/created.automerge")).unwrap();
    let visit = changes_on(&doc, &fixture("v1/technician.changes"));
    doc.apply_changes(visit).unwrap();
    doc
}

#[test]
fn v1_documents_and_changes_read_and_validate_with_todays_code() {
    let created = Automerge::load(&fixture("v1/created.automerge")).unwrap();
    assert_eq!(schema::revision(&created).unwrap(), 1);
    let job = read_job(&created, None).unwrap();
    assert_eq!(job.id, job_id());
    assert_eq!(job.checklist.len(), 2);
    assert!(job.attachments.is_empty(), "v1 has no attachments");

    // Every v1 change, office and technician, passes today's validator.
    let mut office = created.clone();
    let changes = changes_on(&created, &fixture("v1/office.changes"));
    let hashes: Vec<_> = changes.iter().map(|c| c.hash()).collect();
    office.apply_changes(changes).unwrap();
    let merged = validate_changes(&office, &hashes, &dispatcher()).unwrap();
    assert_eq!(merged.checklist.len(), 3);

    let mut phone = created.clone();
    let changes = changes_on(&created, &fixture("v1/technician.changes"));
    let hashes: Vec<_> = changes.iter().map(|c| c.hash()).collect();
    phone.apply_changes(changes).unwrap();
    let merged = validate_changes(&phone, &hashes, &technician()).unwrap();
    assert_eq!(merged.status, Status::OnSite);
    assert_eq!(merged.parts.len(), 2);
    assert!(merged.signature.is_some());
}

#[test]
fn the_server_upgrade_creates_new_containers_once_and_keeps_what_v1_readers_check() {
    let mut doc = v1_server();
    let before = read_job(&doc, None).unwrap();
    let hash = schema::upgrade(&mut doc, Timestamp(T0 + HOUR))
        .unwrap()
        .expect("a v1 job is upgraded");
    assert_eq!(schema::revision(&doc).unwrap(), schema::VERSION);
    assert!(matches!(
        doc.get(ROOT, "attachments").unwrap(),
        Some((fieldsync_core::automerge::Value::Object(ObjType::Map), _))
    ));
    // The v1 app refuses any schema_version but 1: it must stay 1.
    assert_eq!(
        doc.get(ROOT, "schema_version").unwrap().unwrap().0.as_i64(),
        Some(1)
    );
    // The upgrade is one change and changes nothing a reader sees.
    assert_eq!(doc.get_heads(), vec![hash]);
    assert_eq!(read_job(&doc, None).unwrap(), before);
    // A second upgrade (or a racing server process that reloaded) writes nothing.
    assert_eq!(
        schema::upgrade(&mut doc, Timestamp(T0 + HOUR)).unwrap(),
        None
    );
    // Nobody but the server writes the version or creates the container.
    for who in [technician(), dispatcher()] {
        let mut forged = v1_server().with_actor(ActorId::from([0x99; 16]));
        let mut tx = forged.transaction();
        tx.put(ROOT, "schema_revision", 2).unwrap();
        let hash = tx.commit().0.unwrap();
        let r = validate_changes(&forged, &[hash], &who).unwrap_err();
        assert_eq!(r.code, RejectCode::Forbidden, "{r:?}");
        assert!(r.message.contains("only the server"), "{r:?}");
    }
    let mut forged = v1_server().with_actor(ActorId::from([0x99; 16]));
    let mut tx = forged.transaction();
    tx.put_object(ROOT, "attachments", ObjType::Map).unwrap();
    let hash = tx.commit().0.unwrap();
    let r = validate_changes(&forged, &[hash], &technician()).unwrap_err();
    assert_eq!(r.code, RejectCode::Forbidden, "{r:?}");
    assert!(r.message.contains("cannot be replaced"), "{r:?}");
}

#[test]
fn why_only_one_writer_creates_a_container() {
    // Two writers each creating the container: one hides the other's entries.
    let base = v1_server();
    let mut a = base.fork().with_actor(ActorId::from([1; 16]));
    let mut b = base.fork().with_actor(ActorId::from([2; 16]));
    for (doc, key) in [(&mut a, "first"), (&mut b, "second")] {
        let mut tx = doc.transaction();
        let c = tx.put_object(ROOT, "attachments", ObjType::Map).unwrap();
        tx.put(&c, key, 1).unwrap();
        tx.commit();
    }
    a.merge(&mut b).unwrap();
    let (_, winner) = a.get(ROOT, "attachments").unwrap().unwrap();
    assert_eq!(a.keys(&winner).count(), 1, "one side's entry is hidden");
    assert_eq!(a.get_all(ROOT, "attachments").unwrap().len(), 2);
}

#[test]
fn a_new_device_waits_for_the_server_to_upgrade_an_old_job() {
    let mut tablet = Device::new(technician(), tablet_actor(), Some(v1_phone()));
    let err = tablet
        .act(attach(1, "before the repair"), T0 + 25 * HOUR)
        .unwrap_err();
    assert!(
        matches!(&err, ActionError::NotAllowed(why) if why.contains("sync")),
        "{err:?}"
    );
    // Everything it knew before still works on the old job.
    tablet
        .act(
            JobAction::AddNote {
                text: "Noted on the tablet.".into(),
            },
            T0 + 25 * HOUR,
        )
        .unwrap();
}

fn attach(n: u8, caption: &str) -> JobAction {
    JobAction::AddAttachment {
        attachment: line(20 + n),
        sha256: format!("{n:02x}").repeat(32),
        size: 200_000 + u64::from(n),
        media_type: "image/jpeg".into(),
        kind: AttachmentKind::Before,
        caption: caption.into(),
    }
}

/// The whole story: the v1 office's edits are on the server, the v2 server
/// upgrades the job, the v1 phone syncs its offline visit, the tablet (new
/// app) attaches a photo, and the v1 phone, having received all that, goes
/// on working with v1 code (the `v1/later_on_upgraded.changes` fixture).
/// Then today's server upgrades the job again (schema 3: refunds and contacts), and
/// the v1 phone's and the tablet's copies still merge with it.
#[test]
fn a_v1_phone_and_a_new_tablet_share_an_upgraded_job() {
    let mut server = Server { doc: v1_server() };
    // The fixtures below were made when the server's schema was 2: upgrade
    // as that server did (step 5 brings the job to the current version).
    schema::upgrade_to(&mut server.doc, 2, Timestamp(T0 + HOUR))
        .unwrap()
        .expect("upgraded");

    // 1. The v1 phone's offline visit, built on the v1 job, syncs and validates.
    let mut phone = Device::new(technician(), phone_actor(), Some(v1_phone()));
    accepted(&phone.sync(&mut server));
    let job = read_job(&server.doc, None).unwrap();
    assert_eq!(job.status, Status::OnSite);
    assert_eq!(job.labour.len(), 1);
    assert_eq!(job.parts.len(), 2);
    assert_eq!(job.checklist.len(), 3, "the office's v1 question is there");
    assert_eq!(job.customer.phone.as_deref(), Some("+351 910 000 002"));
    assert_eq!(phone.doc().get_heads(), server.doc.get_heads());
    assert_eq!(schema::revision(phone.doc()).unwrap(), 2);

    // 2. The tablet (new app) gets the upgraded job and attaches a photo.
    let mut tablet = Device::new(technician(), tablet_actor(), None);
    accepted(&tablet.sync(&mut server));
    tablet
        .act(attach(1, "Valve before the repair"), T0 + 25 * HOUR)
        .unwrap();
    accepted(&tablet.sync(&mut server));
    let job = read_job(&server.doc, None).unwrap();
    assert_eq!(job.attachments.len(), 1);
    assert_eq!(job.attachments[0].kind, AttachmentKind::Before);
    assert_eq!(job.attachments[0].by, technician().user);

    // 3. The phone receives the photo. This is what it holds now.
    accepted(&phone.sync(&mut server));
    assert_eq!(phone.doc().get_heads(), server.doc.get_heads());
    if let Ok(path) = std::env::var("FIELDSYNC_WRITE_V2_FIXTURE") {
        // How `v2/phone_after_upgrade.automerge` was made (then given to the
        // v1 generator's `act-on`).
        std::fs::write(path, phone.doc().save()).unwrap();
    }
    let committed = Automerge::load(&fixture("v2/phone_after_upgrade.automerge")).unwrap();
    assert_eq!(
        committed.get_heads(),
        phone.doc().get_heads(),
        "the v1 fixture below was made on exactly this document"
    );

    // 4. The v1 app read that document and recorded a note, labour and the
    //    completion with v1 code: they sync, validate and merge.
    let later = changes_on(phone.doc(), &fixture("v1/later_on_upgraded.changes"));
    assert_eq!(later.len(), 3);
    phone
        .docs
        .get_mut(&DocId::Job(job_id()))
        .unwrap()
        .apply_changes(later)
        .unwrap();
    accepted(&phone.sync(&mut server));
    accepted(&tablet.sync(&mut server));

    let job = read_job(&server.doc, None).unwrap();
    assert_eq!(job.status, Status::Completed);
    assert_eq!(job.labour.len(), 2);
    assert_eq!(job.attachments.len(), 1, "v1 edits keep the new field");
    assert!(job.notes.contains("bell twice"), "{}", job.notes);
    assert!(job.notes.contains("0.2 bar") && job.notes.contains("1.4 bar"));
    for device in [&phone, &tablet] {
        assert_eq!(device.doc().get_heads(), server.doc.get_heads());
        assert_eq!(read_job(device.doc(), None).unwrap(), job);
    }

    // 5. A newer server upgrades the job again (schema 3 adds refunds and
    //    contacts, 4 returns): the v1 phone and the tablet receive it and
    //    read the same job.
    schema::upgrade(&mut server.doc, Timestamp(T0 + 30 * HOUR))
        .unwrap()
        .expect("upgraded to the current version");
    assert_eq!(schema::revision(&server.doc).unwrap(), schema::VERSION);
    accepted(&phone.sync(&mut server));
    accepted(&tablet.sync(&mut server));
    let upgraded = read_job(&server.doc, None).unwrap();
    assert_eq!(upgraded, job, "the upgrade changes nothing a reader sees");
    for device in [&phone, &tablet] {
        assert_eq!(device.doc().get_heads(), server.doc.get_heads());
        assert_eq!(schema::revision(device.doc()).unwrap(), schema::VERSION);
        assert_eq!(read_job(device.doc(), None).unwrap(), job);
    }
}
