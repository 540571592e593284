//! Issue 19 item 4: server-authored documents (a van's stock, the price
//! book) start a fresh generation when their history outgrows the bound,
//! and devices switch over in one round without losing pending use.

use std::collections::{BTreeMap, BTreeSet};

use fieldsync_core::pricebook::read_price_book;
use fieldsync_core::sync::{Limits, SyncResponse, whole_doc_message};
use fieldsync_core::vanstock::{pending_consumption, read_van_stock};
use fieldsync_core::{
    DocId, JobAction, JobId, LineId, LocationId, Quantity, Role, ServerDoc, Sku, Timestamp,
};
use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::device::{Device, MAX_ROUNDS, Synced};
use crate::helpers::{TestApp, backend_tests, spawn_app_with};
use crate::office::{create_job, get_job, job_id, new_job, price_book, put_price_book};
use crate::setup::{self, movement, ok, on_hand};

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

fn valve() -> Sku {
    "VALVE-22".parse().unwrap()
}

/// The current generation of `doc` on the server.
async fn current(app: &TestApp, doc: ServerDoc) -> DocId {
    fieldsync_server::generations::current(app.state.store.as_ref(), doc)
        .await
        .unwrap()
}

/// Moves one valve from the depot into the van (one ledger movement, so
/// one write of the van's stock document).
async fn load_valve(app: &TestApp, d: &setup::Depot) {
    let body = json!({"id": Uuid::new_v4(), "kind": "transfer", "sku": "VALVE-22",
        "quantity": 1, "from": d.depot, "to": d.van});
    let res = movement(app, &d.manager, body).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
}

/// What the device's van view shows for valves: the newest generation of
/// its van document minus its own part lines the server has not
/// acknowledged (as `mobile-ffi`'s `van_stock` computes it).
fn valves_shown(device: &Device, van: LocationId) -> i64 {
    let id = fieldsync_core::doc_id::newest(device.docs.keys(), ServerDoc::VanStock(van))
        .expect("device holds its van");
    let stock = read_van_stock(&device.docs[&id], None).unwrap();
    let mut pending = BTreeMap::new();
    for (id, doc) in &device.docs {
        if let DocId::Job(_) = id {
            for (sku, q) in pending_consumption(doc, device.session.acked(id), van).unwrap() {
                *pending.entry(sku).or_insert(0) += q;
            }
        }
    }
    stock.minus(&pending).get(&valve()).copied().unwrap_or(0)
}

/// The van's valves per the ledger.
async fn valves_on_hand(app: &TestApp, d: &setup::Depot) -> i64 {
    let stock = ok(
        app,
        Method::GET,
        &d.manager,
        &format!("/v1/inventory/stock?location={}", d.van),
        None,
    )
    .await;
    on_hand(&stock, d.van, "VALVE-22")
}

/// A full sync whose first request holds back the changes of `held_back`
/// (listed as known: the server's changes still arrive), as an app does
/// with a frozen job.
async fn sync_holding_back(device: &mut Device, app: &TestApp, held_back: DocId) -> Synced {
    let mut out = Synced::default();
    let held = BTreeSet::from([held_back]);
    let mut request = Some(device.session.start_holding_back(&device.docs, &held));
    while let Some(req) = request.take() {
        assert!(out.round_trips < MAX_ROUNDS, "sync did not settle");
        out.round_trips += 1;
        let res = device.post(app, req.encode()).await;
        assert_eq!(res.status(), 200);
        let bytes = res.bytes().await.unwrap();
        let response = SyncResponse::decode(&bytes, &Limits::default()).unwrap();
        out.reports
            .push(device.session.apply(&mut device.docs, &response));
        request = device.session.next_round(&device.docs);
    }
    out
}

/// A technician's job, and their device synced once.
async fn technician_with_job(app: &TestApp, d: &setup::Depot) -> (Device, JobId) {
    assert_eq!(
        put_price_book(app, &d.admin, &price_book()).await.status(),
        200
    );
    app.user("dispatch", Role::Dispatcher).await;
    let office = app
        .login("dispatch", &crate::helpers::actor(212))
        .await
        .access_token;
    let job = job_id(&create_job(app, &office, &new_job("Ana Lima", Some(d.tech))).await);
    let mut device = Device::login(app, "tech", Role::Technician, 1).await;
    device.sync(app).await;
    assert!(device.holds(job));
    (device, job)
}

/// The test: a technician fits two valves offline while the van's
/// document switches generation; their use is counted exactly once at
/// every step: offline, after a sync that brings the new generation but
/// holds the job back, and after the sync that stores the job.
async fn a_van_document_generation_switch_keeps_the_devices_pending_consumption(
    backend: TestBackend,
) {
    let app = spawn_app_with(backend, |s| s.generations.generation_max_changes = 5).await;
    let d = setup::depot(&app).await;
    let (mut device, job) = technician_with_job(&app, &d).await;
    let gen1 = DocId::VanStock(d.van);
    assert!(device.docs.contains_key(&gen1));
    assert_eq!(valves_shown(&device, d.van), 4);

    // Offline: two valves fitted.
    device.act(job, JobAction::StartTravel, now());
    device.act(job, JobAction::Arrive, now());
    device.act(
        job,
        JobAction::UsePart {
            line: LineId::from_uuid(Uuid::new_v4()),
            sku: valve(),
            quantity: Quantity::new(2).unwrap(),
            serials: vec![],
            van: d.van,
        },
        now(),
    );
    assert_eq!(valves_shown(&device, d.van), 2);

    // Meanwhile the depot loads six valves, one movement each: the van's
    // history outgrows the bound and a fresh generation starts.
    for _ in 0..6 {
        load_valve(&app, &d).await;
    }
    let gen_now = current(&app, ServerDoc::VanStock(d.van)).await;
    assert_ne!(gen_now, gen1, "a fresh generation started");
    assert_eq!(valves_on_hand(&app, &d).await, 10);

    // A sync that holds the job back: the old generation goes, the new one
    // arrives whole in the same round, and the two valves still count once.
    let synced = sync_holding_back(&mut device, &app, DocId::Job(job)).await;
    assert_eq!(synced.round_trips, 1, "{:?}", synced.reports);
    assert_eq!(synced.removed(), vec![gen1]);
    assert!(!device.docs.contains_key(&gen1));
    assert!(device.docs.contains_key(&gen_now));
    assert_eq!(valves_shown(&device, d.van), 10 - 2);

    // The sync that stores the job: the ledger takes the valves, and the
    // device's van (the current generation, as written after the commit)
    // shows them taken, no longer as pending use.
    let synced = device.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    assert_eq!(valves_on_hand(&app, &d).await, 8);
    assert_eq!(valves_shown(&device, d.van), 8);
    let newest =
        fieldsync_core::doc_id::newest(device.docs.keys(), ServerDoc::VanStock(d.van)).unwrap();
    let stock = read_van_stock(&device.docs[&newest], None).unwrap();
    assert_eq!(stock.items[&valve()].quantity, 8, "the document has them");
    // And nothing changes on the next sync.
    device.sync(&app).await;
    assert_eq!(valves_shown(&device, d.van), 8);
}

/// The price book switches generation after a few edits; a device that
/// held the first generation ends up with the current one only, and bills
/// a job exactly as the server does.
async fn a_price_book_switch_keeps_devices_pricing_right(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| s.generations.generation_max_changes = 3).await;
    let d = setup::depot(&app).await;
    let (mut device, job) = technician_with_job(&app, &d).await;
    assert!(device.docs.contains_key(&DocId::PriceBook));
    let mut book = price_book();
    for price in [1300, 1350, 1400, 1450, 1500] {
        book["parts"]["VALVE-22"]["unit_price"] = json!(price);
        assert_eq!(put_price_book(&app, &d.admin, &book).await.status(), 200);
    }
    let current_book = current(&app, ServerDoc::PriceBook).await;
    assert_ne!(current_book, DocId::PriceBook, "a fresh generation started");
    let served = ok(&app, Method::GET, &d.admin, "/v1/pricebook", None).await;
    assert_eq!(served["parts"]["VALVE-22"]["unit_price"], 1500);
    assert_eq!(served["version"], 6, "versions continue across generations");

    device.act(job, JobAction::StartTravel, now());
    device.act(job, JobAction::Arrive, now());
    let synced = device.sync(&app).await;
    assert_eq!(synced.removed(), vec![DocId::PriceBook]);
    let books: Vec<&DocId> = device.docs.keys().filter(|id| id.is_price_book()).collect();
    assert_eq!(books, vec![&current_book]);
    let on_device = read_price_book(&device.docs[&current_book], None).unwrap();
    assert_eq!(on_device.version, 6);
    assert_eq!(on_device.parts[&valve()].unit_price.0, 1500);

    // A valve at the new price: the device's bill is the server's.
    device.act(
        job,
        JobAction::UsePart {
            line: LineId::from_uuid(Uuid::new_v4()),
            sku: valve(),
            quantity: Quantity::new(1).unwrap(),
            serials: vec![],
            van: d.van,
        },
        now(),
    );
    let on_device_bill = fieldsync_core::billing::bill(&device.job(job), &on_device).unwrap();
    let synced = device.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    let view: serde_json::Value = get_job(&app, &d.admin, job).await.json().await.unwrap();
    assert_eq!(view["billing"]["total"], on_device_bill.total.0, "{view}");
    assert_eq!(view["billing"]["price_book_version"], 6, "{view}");
}

/// A device offline while the van went through several generations
/// catches up in one round trip: the one it holds is removed, the current
/// one arrives whole.
async fn a_device_that_missed_several_generations_catches_up_in_one_round(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| s.generations.generation_max_changes = 2).await;
    let d = setup::depot(&app).await;
    let (mut device, _) = technician_with_job(&app, &d).await;
    for _ in 0..9 {
        load_valve(&app, &d).await;
    }
    let now_current = current(&app, ServerDoc::VanStock(d.van)).await;
    let (_, generation) = now_current.server_doc().unwrap();
    assert!(generation >= 3, "{now_current}");
    let synced = device.sync(&app).await;
    assert_eq!(synced.round_trips, 1, "{:?}", synced.reports);
    assert_eq!(synced.removed(), vec![DocId::VanStock(d.van)]);
    let vans: Vec<&DocId> = device.docs.keys().filter(|id| id.van().is_some()).collect();
    assert_eq!(vans, vec![&now_current]);
    assert_eq!(valves_shown(&device, d.van), 4 + 9);
}

/// The same with the change cursor on (as on phones): the device names
/// nothing (it changed nothing), its `held` digest names the old
/// generation, and the server, which told it so, answers the switch in the
/// one round: the old generation `removed`, the current one whole.
async fn a_generation_switch_with_a_cursor_takes_one_round(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| s.generations.generation_max_changes = 2).await;
    let d = setup::depot(&app).await;
    let (mut device, _) = technician_with_job(&app, &d).await;
    device.session.use_cursor(true);
    device.sync(&app).await;
    assert!(device.session.cursor().is_some());
    for _ in 0..5 {
        load_valve(&app, &d).await;
    }
    let now_current = current(&app, ServerDoc::VanStock(d.van)).await;
    assert_ne!(
        now_current,
        DocId::VanStock(d.van),
        "a fresh generation started"
    );
    let request = device.session.start(&device.docs);
    assert!(
        request.docs.is_empty() && request.cursor.is_some(),
        "{request:?}"
    );

    let synced = device.sync(&app).await;
    assert_eq!(synced.round_trips, 1, "{:?}", synced.reports);
    assert!(!synced.reports[0].resync);
    assert_eq!(synced.removed(), vec![DocId::VanStock(d.van)]);
    let vans: Vec<&DocId> = device.docs.keys().filter(|id| id.van().is_some()).collect();
    assert_eq!(vans, vec![&now_current]);
    assert_eq!(valves_shown(&device, d.van), 4 + 5);
    assert_eq!(valves_on_hand(&app, &d).await, 4 + 5);
    let idle = device.sync(&app).await;
    assert_eq!(idle.round_trips, 1);
    assert!(idle.reports[0].added.is_empty() && idle.reports[0].removed.is_empty());
}

/// A new install downloads the current generation only: a small document,
/// whatever the van's history.
async fn a_new_install_downloads_only_the_current_generation(backend: TestBackend) {
    const MOVEMENTS: usize = 120;
    let app = spawn_app_with(backend, |s| s.generations.generation_max_changes = 40).await;
    let d = setup::depot(&app).await;
    for _ in 0..MOVEMENTS {
        load_valve(&app, &d).await;
    }
    let now_current = current(&app, ServerDoc::VanStock(d.van)).await;
    // What a new install would download without generations: the same
    // writes (one per movement) into one document.
    let whole_first = unbounded_van_download(&app, &d, MOVEMENTS).await;

    let mut device = Device::login(&app, "tech", Role::Technician, 1).await;
    let request = device.session.start(&device.docs);
    let res = device.post(&app, request.encode()).await;
    assert_eq!(res.status(), 200);
    let response = SyncResponse::decode(&res.bytes().await.unwrap(), &Limits::default()).unwrap();
    let van_replies: Vec<_> = response
        .docs
        .iter()
        .filter(|r| r.id.van().is_some())
        .collect();
    assert_eq!(van_replies.len(), 1);
    assert_eq!(van_replies[0].id, now_current);
    let downloaded = van_replies[0].msg.as_ref().unwrap().len();
    println!(
        "van document with {} movements: one document {whole_first} B whole, \
         current generation {downloaded} B",
        MOVEMENTS + 2
    );
    // At most 40 changes of history: bounded whatever the movements (the
    // history of such small changes compresses well, so the saving grows
    // with the movements: see `cargo run -p fieldsync-core --example
    // van_history` for larger figures).
    assert!(downloaded < 2 * 1024, "{downloaded} B");
    assert!(
        downloaded < whole_first,
        "{downloaded} B vs {whole_first} B"
    );
    let report = device.session.apply(&mut device.docs, &response);
    assert!(report.added.contains(&now_current));
    assert_eq!(valves_shown(&device, d.van), 4 + MOVEMENTS as i64);
}

/// The bytes a new install downloads for the van's stock when every one of
/// its `movements` (loading one valve each) stays in one document: built
/// in-process from the current stock, as the server writes it.
async fn unbounded_van_download(app: &TestApp, d: &setup::Depot, movements: usize) -> usize {
    let id = current(app, ServerDoc::VanStock(d.van)).await;
    let stored = app.state.store.load_document(&id).await.unwrap().unwrap();
    let mut stock = read_van_stock(&stored.to_automerge().unwrap(), None).unwrap();
    let mut doc = fieldsync_core::automerge::Automerge::new();
    let last = stock.items[&valve()].quantity;
    for (i, q) in (last - movements as i64..=last).enumerate() {
        stock.items.get_mut(&valve()).unwrap().quantity = q;
        stock.as_of = Timestamp(now().0 + i as i64);
        fieldsync_core::vanstock::write_van_stock(&mut doc, &stock, stock.as_of).unwrap();
    }
    whole_doc_message(&doc).encode().len()
}

/// Two writers (as two server processes would) start the next generation
/// from the same state at once: exactly one succeeds, and the generation
/// moves by one.
async fn two_writers_switch_a_generation_once(backend: TestBackend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let d = setup::depot(&app).await;
    let gen1 = DocId::VanStock(d.van);
    let version = app
        .state
        .store
        .load_document(&gen1)
        .await
        .unwrap()
        .unwrap()
        .version;
    let fresh = |n: u8| {
        let mut doc = fieldsync_core::automerge::Automerge::new()
            .with_actor(fieldsync_core::automerge::ActorId::from([n; 16]));
        let stock = fieldsync_core::vanstock::VanStock {
            van: d.van,
            as_of: now(),
            items: BTreeMap::new(),
        };
        fieldsync_core::vanstock::write_van_stock(&mut doc, &stock, now()).unwrap();
        doc
    };
    let state = &app.state;
    let start = |doc| {
        fieldsync_server::generations::start_next(
            state.store.as_ref(),
            &state.docs,
            gen1,
            version,
            doc,
        )
    };
    let (a, b) = tokio::join!(start(fresh(1)), start(fresh(2)));
    let won: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(won.len(), 1, "{won:?}");
    let gen2 = gen1.next_generation().unwrap();
    assert_eq!(won[0].0, gen2);
    assert_eq!(current(&app, ServerDoc::VanStock(d.van)).await, gen2);
    // The retired generation takes no more changes, and a switch from a
    // version that is not current is refused.
    assert!(start(fresh(3)).await.unwrap().is_none());
    let stored = app.state.store.load_document(&gen2).await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    // A movement now writes the current generation.
    load_valve(&app, &d).await;
    let after = app.state.store.load_document(&gen2).await.unwrap().unwrap();
    assert_eq!(after.version, 2);
    let doc = after.to_automerge().unwrap();
    assert_eq!(
        read_van_stock(&doc, None).unwrap().items[&valve()].quantity,
        5
    );
    assert_eq!(
        app.state
            .store
            .load_document(&gen1)
            .await
            .unwrap()
            .unwrap()
            .version,
        version,
        "the retired generation is left as it was"
    );
}

backend_tests!(
    a_van_document_generation_switch_keeps_the_devices_pending_consumption,
    a_price_book_switch_keeps_devices_pricing_right,
    a_device_that_missed_several_generations_catches_up_in_one_round,
    a_new_install_downloads_only_the_current_generation,
    a_generation_switch_with_a_cursor_takes_one_round,
    two_writers_switch_a_generation_once
);
