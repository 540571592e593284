//! The customer registry ([`fieldsync_server::customers::CustomerStore`]):
//! records, search by each key, scope in SQL, and the `job_registry` rows a
//! job commit projects (visits of an asset, parts fitted on them).

use fieldsync_core::{DocId, JobId, LineId, LocationId, Sku, Status, UserId};
use fieldsync_server::app::AppStore;
use fieldsync_server::authz::CustomerScope;
use fieldsync_server::customers::model::*;
use fieldsync_server::customers::warranty::WarrantyProjection;
use fieldsync_server::customers::{RegistryProjection, VisitsOf};
use fieldsync_server::inventory::{
    ConsumedLine, JobConsumption, Location, LocationKind, MovementKind, NewMovement, Part,
};
use fieldsync_server::store::{Constraint, DocCommit, StoreError};
use time::macros::date;
use uuid::Uuid;

use crate::jobs::projection;
use crate::{edits, job_doc, now, open};

conformance_tests!(
    records_are_created_read_and_changed,
    search_finds_each_key_in_scope,
    job_commits_link_jobs_to_the_registry,
    depot_stock_reads_the_balance,
    completed_jobs_extend_the_warranty_once,
);

async fn depot(store: &dyn AppStore) -> LocationId {
    let id = LocationId::from_uuid(Uuid::new_v4());
    store
        .create_location(&Location {
            id,
            kind: LocationKind::Depot,
            name: "North depot".into(),
            depot_id: None,
            technician_id: None,
            created_at: now(),
        })
        .await
        .unwrap();
    id
}

struct Fixture {
    customer: Customer,
    site: Site,
    contact: Contact,
    asset: Asset,
}

/// A company with one site, one contact and one boiler.
async fn company(store: &dyn AppStore, depot: LocationId, name: &str, serial: &str) -> Fixture {
    let t = now();
    let customer = Customer {
        id: Uuid::new_v4(),
        kind: CustomerKind::Company,
        name: name.into(),
        language: fieldsync_server::i18n::Language::En,
        depot_id: depot,
        created_at: t,
        updated_at: t,
    };
    store.create_customer(&customer).await.unwrap();
    let site = Site {
        id: Uuid::new_v4(),
        customer_id: customer.id,
        name: Some("Head office".into()),
        address: "Rua das Flores 1, Porto".into(),
        postcode: Some("4050 262".into()),
        depot_id: None,
    };
    store.create_site(&site, t).await.unwrap();
    let contact = Contact {
        id: Uuid::new_v4(),
        customer_id: customer.id,
        name: "Ana Lima".into(),
        email: Some(format!("ana@{}.example", serial.to_lowercase())),
        phone: Some(format!("+351 900 {serial}").replace(|c: char| c.is_alphabetic(), "")),
        preferred_channel: ContactChannel::Email,
        feedback_opt_out: false,
    };
    store.create_contact(&contact, t).await.unwrap();
    let asset = Asset {
        id: Uuid::new_v4(),
        customer_id: customer.id,
        site_id: site.id,
        sku: "BOILER-X200".parse().unwrap(),
        product: "Boiler X200".into(),
        serial: serial.into(),
        install_date: Some(date!(2024 - 03 - 01)),
        warranty_end: Some(date!(2027 - 02 - 28)),
        contract_ref: None,
    };
    store.create_asset(&asset, t).await.unwrap();
    Fixture {
        customer,
        site,
        contact,
        asset,
    }
}

async fn records_are_created_read_and_changed(url: &str) {
    let store = open(url).await;
    let d = depot(store.as_ref()).await;
    let f = company(store.as_ref(), d, "Acme Boilers", "BX-1").await;

    assert_eq!(store.customer(f.customer.id).await.unwrap(), f.customer);
    assert_eq!(
        store.sites(f.customer.id).await.unwrap(),
        std::slice::from_ref(&f.site)
    );
    assert_eq!(
        store.contacts(f.customer.id).await.unwrap(),
        std::slice::from_ref(&f.contact)
    );
    assert_eq!(store.asset(f.asset.id).await.unwrap(), f.asset);

    let mut renamed = f.customer.clone();
    renamed.name = "Acme Heating".into();
    renamed.kind = CustomerKind::Person;
    renamed.language = fieldsync_server::i18n::Language::Pt;
    store.update_customer(&renamed).await.unwrap();
    assert_eq!(store.customer(f.customer.id).await.unwrap(), renamed);

    let mut site = f.site.clone();
    site.postcode = None;
    site.depot_id = Some(d);
    store.update_site(&site, now()).await.unwrap();
    assert_eq!(store.site(site.id).await.unwrap(), site);

    let mut contact = f.contact.clone();
    contact.phone = None;
    contact.feedback_opt_out = true;
    store.update_contact(&contact, now()).await.unwrap();
    assert_eq!(store.contact(contact.id).await.unwrap(), contact);

    let mut asset = f.asset.clone();
    asset.warranty_end = Some(date!(2029 - 02 - 28));
    asset.contract_ref = Some("SC-GOLD-1".into());
    store.update_asset(&asset, now()).await.unwrap();
    assert_eq!(store.asset(asset.id).await.unwrap(), asset);

    // One asset per product and serial.
    let twin = Asset {
        id: Uuid::new_v4(),
        ..f.asset.clone()
    };
    assert!(matches!(
        store.create_asset(&twin, now()).await,
        Err(StoreError::Conflict(Constraint::Other(_)))
    ));
    // Unknown records.
    assert!(matches!(
        store.customer(Uuid::new_v4()).await,
        Err(StoreError::NotFound)
    ));
    let ghost = Customer {
        id: Uuid::new_v4(),
        ..renamed
    };
    assert!(matches!(
        store.update_customer(&ghost).await,
        Err(StoreError::NotFound)
    ));
}

fn ids(found: &[Customer]) -> Vec<Uuid> {
    found.iter().map(|c| c.id).collect()
}

async fn search_finds_each_key_in_scope(url: &str) {
    let store = open(url).await;
    let (north, south) = (depot(store.as_ref()).await, depot(store.as_ref()).await);
    let acme = company(store.as_ref(), north, "Acme Boilers", "BX-1").await;
    let zen = company(store.as_ref(), south, "Zen Bakery", "ZB-77").await;
    let all = CustomerScope::All;
    let search = |q: &'static str, scope: CustomerScope| {
        let store = store.clone();
        async move { ids(&store.search_customers(q, &scope, 50).await.unwrap()) }
    };

    assert_eq!(
        search("acme", all.clone()).await,
        [acme.customer.id],
        "name part"
    );
    assert_eq!(
        search("BOILERS", all.clone()).await,
        [acme.customer.id],
        "any case"
    );
    assert_eq!(
        search("ana@zb-77.example", all.clone()).await,
        [zen.customer.id],
        "email"
    );
    assert_eq!(
        search("ANA@BX-1.EXAMPLE ", all.clone()).await,
        [acme.customer.id]
    );
    assert_eq!(
        search("+351 900 -77", all.clone()).await,
        [zen.customer.id],
        "phone digits"
    );
    assert_eq!(
        search("4050262", all.clone()).await,
        [acme.customer.id, zen.customer.id],
        "postcode"
    );
    assert_eq!(
        search("zb-77", all.clone()).await,
        [zen.customer.id],
        "serial"
    );
    assert_eq!(
        search("", all.clone()).await,
        [acme.customer.id, zen.customer.id],
        "all by name"
    );
    assert!(search("nobody", all.clone()).await.is_empty());
    // LIKE's wildcards are text.
    assert!(search("%", all.clone()).await.is_empty());
    assert!(search("_", all.clone()).await.is_empty());

    // Office scope: the depots' customers only.
    let north_only = CustomerScope::Depots(vec![north]);
    assert_eq!(
        search("4050262", north_only.clone()).await,
        [acme.customer.id]
    );
    assert!(
        store
            .customer_in_scope(acme.customer.id, &north_only)
            .await
            .unwrap()
    );
    assert!(
        !store
            .customer_in_scope(zen.customer.id, &north_only)
            .await
            .unwrap()
    );
    assert!(search("", CustomerScope::Depots(vec![])).await.is_empty());
    assert!(search("", CustomerScope::None).await.is_empty());
    assert_eq!(
        store.assets(zen.customer.id, &north_only).await.unwrap(),
        [],
        "another depot's assets"
    );
    assert_eq!(
        store
            .assets_by_serial("BX-1", None, &north_only)
            .await
            .unwrap(),
        std::slice::from_ref(&acme.asset)
    );
    assert!(
        store
            .assets_by_serial("ZB-77", None, &north_only)
            .await
            .unwrap()
            .is_empty()
    );

    // A technician: nothing until a job of theirs references the customer.
    let tech = UserId::from_uuid(Uuid::new_v4());
    let mine = CustomerScope::Jobs(tech);
    assert!(search("", mine.clone()).await.is_empty());
    let (job, doc_id) = job_doc();
    let (_, changes) = edits(1, 1);
    let mut c = DocCommit::new(doc_id, 0);
    c.changes = changes;
    c.project(projection(job, Status::Scheduled, Some(tech)));
    c.project(RegistryProjection {
        job_id: job,
        registry: JobRegistry {
            customer: Some(zen.customer.id),
            site: Some(zen.site.id),
            asset: Some(zen.asset.id),
        },
    });
    store.commit(&c).await.unwrap();
    assert_eq!(search("", mine.clone()).await, [zen.customer.id]);
    assert!(store.asset_in_scope(zen.asset.id, &mine).await.unwrap());
    assert!(!store.asset_in_scope(acme.asset.id, &mine).await.unwrap());
    let other = CustomerScope::Jobs(UserId::from_uuid(Uuid::new_v4()));
    assert!(
        !store
            .customer_in_scope(zen.customer.id, &other)
            .await
            .unwrap()
    );
    assert_eq!(
        store.assets_by_serial("zb-77", None, &mine).await.unwrap(),
        std::slice::from_ref(&zen.asset)
    );
    // The same serial on another product: both, or one by sku.
    let other_product = Asset {
        id: Uuid::new_v4(),
        sku: "PUMP-7".parse().unwrap(),
        product: "Pump".into(),
        ..acme.asset.clone()
    };
    store.create_asset(&other_product, now()).await.unwrap();
    assert_eq!(
        store
            .assets_by_serial("bx-1", None, &all)
            .await
            .unwrap()
            .len(),
        2
    );
    let pump: Sku = "PUMP-7".parse().unwrap();
    assert_eq!(
        store
            .assets_by_serial("bx-1", Some(&pump), &all)
            .await
            .unwrap(),
        [other_product]
    );
}

async fn job_commits_link_jobs_to_the_registry(url: &str) {
    let store = open(url).await;
    let d = depot(store.as_ref()).await;
    let f = company(store.as_ref(), d, "Acme Boilers", "BX-1").await;
    let tech = UserId::from_uuid(Uuid::new_v4());
    let registry = JobRegistry {
        customer: Some(f.customer.id),
        site: Some(f.site.id),
        asset: Some(f.asset.id),
    };
    // Two jobs on the asset: one open, one completed; a third elsewhere.
    let mut jobs = Vec::new();
    for (n, status) in [(1u8, Status::Scheduled), (2, Status::Completed)] {
        let (job, doc_id) = job_doc();
        let (_, changes) = edits(n, 1);
        let mut c = DocCommit::new(doc_id, 0);
        c.changes = changes;
        c.project(projection(job, status, Some(tech)));
        c.project(RegistryProjection {
            job_id: job,
            registry,
        });
        store.commit(&c).await.unwrap();
        jobs.push(job);
    }
    let (unlinked, doc_id) = job_doc();
    let (_, changes) = edits(3, 1);
    let mut c = DocCommit::new(doc_id, 0);
    c.changes = changes;
    c.project(projection(unlinked, Status::Scheduled, Some(tech)));
    store.commit(&c).await.unwrap();

    assert_eq!(store.job_registry(jobs[0]).await.unwrap(), registry);
    assert!(matches!(
        store.job_registry(unlinked).await,
        Err(StoreError::NotFound)
    ));
    let visit_ids = |v: Vec<Visit>| -> Vec<Uuid> { v.iter().map(|v| v.job_id).collect() };
    let mut all = visit_ids(
        store
            .visits(VisitsOf::Asset(f.asset.id), false, 100)
            .await
            .unwrap(),
    );
    all.sort();
    let mut want: Vec<Uuid> = jobs.iter().map(|j| j.as_uuid()).collect();
    want.sort();
    assert_eq!(all, want);
    assert_eq!(
        visit_ids(
            store
                .visits(VisitsOf::Asset(f.asset.id), true, 100)
                .await
                .unwrap()
        ),
        [jobs[0].as_uuid()],
        "open only"
    );
    let open_for_customer = store
        .visits(VisitsOf::Customer(f.customer.id), true, 100)
        .await
        .unwrap();
    assert_eq!(open_for_customer.len(), 1);
    assert_eq!(open_for_customer[0].asset_id, Some(f.asset.id));
    assert_eq!(open_for_customer[0].technician_id, Some(tech.as_uuid()));
    assert_eq!(open_for_customer[0].status, "scheduled");

    // The projection follows the job: re-pointed to another asset, the
    // first one loses the visit.
    let moved = JobRegistry {
        asset: None,
        ..registry
    };
    let (_, changes) = edits(4, 1);
    let mut c = DocCommit::new(DocId::Job(jobs[0]), 1);
    c.changes = changes;
    c.project(RegistryProjection {
        job_id: jobs[0],
        registry: moved,
    });
    store.commit(&c).await.unwrap();
    assert_eq!(store.job_registry(jobs[0]).await.unwrap(), moved);
    assert!(
        store
            .visits(VisitsOf::Asset(f.asset.id), true, 100)
            .await
            .unwrap()
            .is_empty()
    );

    // A projection for another document is refused before anything is written.
    let (other, other_doc) = job_doc();
    let (_, changes) = edits(5, 1);
    let mut c = DocCommit::new(other_doc, 0);
    c.changes = changes;
    c.project(RegistryProjection {
        job_id: JobId::from_uuid(Uuid::new_v4()),
        registry,
    });
    assert!(store.commit(&c).await.is_err());
    assert!(matches!(
        store.job_registry(other).await,
        Err(StoreError::NotFound)
    ));

    // The completed job fitted a pump: the ledger's serials are the
    // asset's parts.
    let van = LocationId::from_uuid(Uuid::new_v4());
    store
        .create_location(&Location {
            id: van,
            kind: LocationKind::Van,
            name: "Van 1".into(),
            depot_id: Some(d),
            technician_id: None,
            created_at: now(),
        })
        .await
        .unwrap();
    let pump: Sku = "PUMP-7".parse().unwrap();
    store
        .upsert_part(&Part {
            sku: pump.clone(),
            name: "Pump".into(),
            unit_cost_minor: 100,
            serialized: true,
        })
        .await
        .unwrap();
    assert!(store.fitted_parts(f.asset.id).await.unwrap().is_empty());
    let (_, changes) = edits(6, 1);
    let mut c = DocCommit::new(DocId::Job(jobs[1]), 1);
    c.changes = changes;
    c.project(JobConsumption {
        job_id: jobs[1],
        lines: vec![ConsumedLine {
            line_id: LineId::from_uuid(Uuid::new_v4()),
            sku: pump.clone(),
            van,
            quantity: 1,
            serials: vec!["SN-9".into()],
        }],
    });
    store.commit(&c).await.unwrap();
    let fitted = store.fitted_parts(f.asset.id).await.unwrap();
    assert_eq!(fitted.len(), 1);
    assert_eq!(
        (&fitted[0].sku, fitted[0].serial.as_str(), fitted[0].job_id),
        (&pump, "SN-9", jobs[1].as_uuid())
    );
}

async fn depot_stock_reads_the_balance(url: &str) {
    let store = open(url).await;
    let d = depot(store.as_ref()).await;
    let sku: Sku = "VALVE-22".parse().unwrap();
    store
        .upsert_part(&Part {
            sku: sku.clone(),
            name: "Valve".into(),
            unit_cost_minor: 100,
            serialized: false,
        })
        .await
        .unwrap();
    let before = store.depot_stock(d, &sku).await.unwrap();
    assert_eq!((before.depot_id, before.quantity), (d, 0));
    assert_eq!(before.depot_name, "North depot");
    store
        .record_movement(&NewMovement {
            id: Uuid::new_v4(),
            kind: MovementKind::Receipt,
            sku: sku.clone(),
            quantity: 7,
            from: None,
            to: Some(d),
            reason: None,
            serials: Vec::new(),
            job_id: None,
            line_id: None,
            note: String::new(),
            actor: None,
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.depot_stock(d, &sku).await.unwrap().quantity, 7);
    assert!(matches!(
        store
            .depot_stock(LocationId::from_uuid(Uuid::new_v4()), &sku)
            .await,
        Err(StoreError::NotFound)
    ));
}

/// The extension a completed job sold, projected in its commit: applied by
/// the first commit only (a job syncing again, a retried commit), counted
/// from the asset's end as the commit finds it, so two jobs extending one
/// asset at once add up (PostgreSQL: the asset row is locked first).
async fn completed_jobs_extend_the_warranty_once(url: &str) {
    use fieldsync_core::pricebook::add_months;
    let store = open(url).await;
    let d = depot(store.as_ref()).await;
    let f = company(store.as_ref(), d, "Acme Boilers", "BX-1").await;
    // A warranty that runs a year from today: extensions count from its end.
    let today = time::OffsetDateTime::now_utc().date();
    let end = add_months(today, 12).unwrap();
    let asset = Asset {
        warranty_end: Some(end),
        ..f.asset.clone()
    };
    store.update_asset(&asset, now()).await.unwrap();
    let sale = |job: JobId, months: u32| WarrantyProjection {
        job_id: job,
        asset_id: f.asset.id,
        offer: format!("EXT-{months}"),
        months,
        price_minor: 6900,
        sold_by: UserId::from_uuid(Uuid::new_v4()),
    };
    let (first, doc_id) = job_doc();
    for version in 0..3 {
        let (_, changes) = edits(10 + version as u8, 1);
        let mut c = DocCommit::new(doc_id, version);
        c.changes = changes;
        c.project(sale(first, 12));
        store.commit(&c).await.unwrap();
    }
    let once = add_months(end, 12).unwrap();
    assert_eq!(
        store.asset(f.asset.id).await.unwrap().warranty_end,
        Some(once)
    );
    let history = store.warranty_extensions(f.asset.id).await.unwrap();
    assert_eq!(history.len(), 1, "three commits, one extension");
    assert_eq!(history[0].job_id, first.as_uuid());
    assert_eq!(
        (history[0].previous_end, history[0].new_end),
        (Some(end), once)
    );
    assert_eq!(history[0].months, 12);

    // Two more jobs complete at once, each selling an extension.
    let (a, a_doc) = job_doc();
    let (b, b_doc) = job_doc();
    let commit = |job: JobId, doc: DocId, actor: u8, months: u32| {
        let store = store.clone();
        async move {
            let (_, changes) = edits(actor, 1);
            let mut c = DocCommit::new(doc, 0);
            c.changes = changes;
            c.project(sale(job, months));
            store.commit(&c).await.unwrap();
        }
    };
    tokio::join!(commit(a, a_doc, 20, 24), commit(b, b_doc, 21, 6));
    let all = add_months(once, 30).unwrap();
    assert_eq!(
        store.asset(f.asset.id).await.unwrap().warranty_end,
        Some(all)
    );
    let history = store.warranty_extensions(f.asset.id).await.unwrap();
    assert_eq!(history.len(), 3);
    // Whichever got the asset first, the other counted from its end (the
    // history lists them by the time each commit began, which need not be
    // the order the lock gave them).
    let (x, y) = (&history[1], &history[2]);
    let (first_in, second_in) = if x.previous_end == Some(once) {
        (x, y)
    } else {
        (y, x)
    };
    assert_eq!(first_in.previous_end, Some(once), "{history:?}");
    assert_eq!(
        second_in.previous_end,
        Some(first_in.new_end),
        "{history:?}"
    );
    assert_eq!(second_in.new_end, all);

    // An ended warranty restarts from the day the job completed.
    let ended = Asset {
        warranty_end: Some(date!(2020 - 01 - 31)),
        ..store.asset(f.asset.id).await.unwrap()
    };
    store.update_asset(&ended, now()).await.unwrap();
    let (late, late_doc) = job_doc();
    let (_, changes) = edits(22, 1);
    let mut c = DocCommit::new(late_doc, 0);
    c.changes = changes;
    c.project(sale(late, 12));
    store.commit(&c).await.unwrap();
    let restarted = store.asset(f.asset.id).await.unwrap().warranty_end.unwrap();
    // The commit's clock, not a device's: today (or tomorrow past midnight).
    assert!(
        restarted == add_months(today, 12).unwrap()
            || restarted == add_months(today.next_day().unwrap(), 12).unwrap(),
        "{restarted}"
    );
}
