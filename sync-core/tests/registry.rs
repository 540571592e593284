//! The customer registry in the job and the price book: a job made from
//! registry records keeps their ids beside its snapshots (written when the
//! job is created and never after, checked as ids, absent on other jobs),
//! and the price book carries warranty extension offers through its
//! document.

mod common;

use std::collections::BTreeMap;

use common::*;
use fieldsync_core::automerge::transaction::Transactable;
use fieldsync_core::automerge::{Automerge, ROOT, ReadDoc};
use fieldsync_core::job::Registry;
use fieldsync_core::pricebook::{ExtensionOffer, add_months, read_price_book, write_price_book};
use fieldsync_core::{JobDoc, Money, Timestamp, validate_changes};
use uuid::Uuid;

fn registry() -> Registry {
    Registry {
        customer: Some(Uuid::from_bytes([1; 16])),
        site: Some(Uuid::from_bytes([2; 16])),
        asset: Some(Uuid::from_bytes([3; 16])),
    }
}

#[test]
fn a_job_from_the_registry_keeps_its_ids_and_others_have_none() {
    let mut ids = Ids::default();
    let linked = JobDoc::create_from(
        &spec(ids.job(), Some(user(1))),
        &registry(),
        actor(200),
        dispatcher(),
        Timestamp(T0),
    )
    .unwrap();
    assert_eq!(linked.read().unwrap().registry, registry());

    // Jobs made without the registry write no `id` key at all, so servers
    // that predate it accept them unchanged.
    let plain = new_job(ids.job(), Some(user(1)));
    assert_eq!(plain.read().unwrap().registry, Registry::default());
    for key in ["customer", "site", "asset"] {
        let (_, map) = plain.doc().get(ROOT, key).unwrap().unwrap();
        assert!(plain.doc().get(&map, "id").unwrap().is_none(), "{key}");
    }
}

/// One raw change putting `value` at `/{field}/id` as `who`.
fn put_id(
    job: &JobDoc,
    field: &str,
    value: &str,
    who: fieldsync_core::Principal,
) -> Result<(), fieldsync_core::Rejection> {
    let mut doc: Automerge = job.doc().fork().with_actor(actor(99));
    let mut tx = doc.transaction();
    let (_, map) = tx.get(ROOT, field).unwrap().unwrap();
    tx.put(&map, "id", value).unwrap();
    let (hash, _) = tx.commit();
    validate_changes(&doc, &[hash.unwrap()], &who).map(drop)
}

#[test]
fn registry_ids_are_written_at_creation_only_by_anyone() {
    // The server checks the ids against the creator's scope when it makes
    // the job; a later change from any device (office or field) could link
    // the job to records its writer may not see, so none is accepted, on a
    // job made with ids or without.
    let mut ids = Ids::default();
    let linked = JobDoc::create_from(
        &spec(ids.job(), Some(user(1))),
        &registry(),
        actor(200),
        dispatcher(),
        Timestamp(T0),
    )
    .unwrap();
    let plain = new_job(ids.job(), Some(user(1)));
    let id = Uuid::from_bytes([7; 16]).to_string();
    for job in [&linked, &plain] {
        for field in ["customer", "site", "asset"] {
            // The office is refused for the id itself; a technician
            // already for writing the office's field at all.
            for (who, names) in [
                (dispatcher(), format!("{field}.id")),
                (tech(1), field.into()),
            ] {
                let r = put_id(job, field, &id, who).expect_err("a later id");
                assert_eq!(
                    r.code,
                    fieldsync_core::RejectCode::Forbidden,
                    "{field}: {r:?}"
                );
                assert!(r.message.contains(&names), "{r:?}");
            }
        }
    }
}

#[test]
fn a_registry_id_that_is_not_a_uuid_does_not_read() {
    let mut ids = Ids::default();
    let job = new_job(ids.job(), Some(user(1)));
    for field in ["customer", "site", "asset"] {
        let mut doc: Automerge = job.doc().fork().with_actor(actor(99));
        let mut tx = doc.transaction();
        let (_, map) = tx.get(ROOT, field).unwrap().unwrap();
        tx.put(&map, "id", "not-an-id").unwrap();
        tx.commit();
        let e = fieldsync_core::job::read_job(&doc, None).expect_err("not an id");
        assert!(e.to_string().contains("registry id"), "{field}: {e}");
    }
}

fn offer(sku: &str, months: u32, price: i64) -> ExtensionOffer {
    ExtensionOffer {
        sku: sku.parse().unwrap(),
        name: format!("{months} more months"),
        months,
        price: Money(price),
        terms: "Parts and labour".into(),
    }
}

#[test]
fn extension_offers_round_trip_through_the_price_book() {
    let mut book = price_book();
    book.extensions = BTreeMap::from([
        ("EXT-12".to_owned(), offer("BOILER-X200", 12, 6900)),
        ("EXT-24".to_owned(), offer("BOILER-X200", 24, 12900)),
    ]);
    let mut doc = Automerge::new().with_actor(actor(200));
    write_price_book(&mut doc, &book, Timestamp(T0)).unwrap();
    assert_eq!(read_price_book(&doc, None).unwrap(), book);

    // One offer dropped, one repriced: read back as written.
    book.extensions.remove("EXT-24");
    book.extensions.get_mut("EXT-12").unwrap().price = Money(7900);
    write_price_book(&mut doc, &book, Timestamp(T0 + 1)).unwrap();
    assert_eq!(read_price_book(&doc, None).unwrap(), book);

    // A book without offers keeps its earlier shape (no `extensions` key).
    let mut plain = Automerge::new().with_actor(actor(201));
    write_price_book(&mut plain, &price_book(), Timestamp(T0)).unwrap();
    assert!(plain.get(ROOT, "extensions").unwrap().is_none());
    assert!(read_price_book(&plain, None).unwrap().extensions.is_empty());
}

#[test]
fn offers_are_checked() {
    for (o, what) in [
        (offer("BOILER-X200", 0, 100), "months"),
        (offer("BOILER-X200", 121, 100), "months"),
        (offer("BOILER-X200", 12, -1), "price"),
        (
            ExtensionOffer {
                terms: "x".repeat(10_001),
                ..offer("BOILER-X200", 12, 100)
            },
            "terms",
        ),
    ] {
        let mut book = price_book();
        book.extensions.insert("EXT".into(), o);
        let e = book.check().expect_err(what);
        assert!(e.to_string().contains(what), "{e}");
    }
    let mut book = price_book();
    book.extensions
        .insert(String::new(), offer("BOILER-X200", 12, 100));
    assert!(book.check().is_err(), "an empty code");
}

#[test]
fn months_are_added_on_the_calendar() {
    let d = |s: &str| date(s);
    assert_eq!(add_months(d("2031-01-31"), 13), Some(d("2032-02-29")));
    assert_eq!(add_months(d("2031-01-31"), 1), Some(d("2031-02-28")));
    assert_eq!(add_months(d("2026-11-30"), 24), Some(d("2028-11-30")));
    assert_eq!(add_months(d("2026-12-15"), 1), Some(d("2027-01-15")));
    assert_eq!(add_months(d("9999-12-31"), 1), None, "past the last date");
    let o = offer("BOILER-X200", 12, 100);
    assert_eq!(o.extends(d("2027-02-28")), Some(d("2028-02-28")));
}
