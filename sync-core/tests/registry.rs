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
        asset_sku: Some("BOILER-X200".parse().unwrap()),
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

/// A price book with two offers for the boiler and one for another product.
fn book_with_offers() -> fieldsync_core::pricebook::PriceBook {
    let mut book = price_book();
    book.extensions = BTreeMap::from([
        ("EXT-12".to_owned(), offer("BOILER-X200", 12, 6900)),
        ("EXT-24".to_owned(), offer("BOILER-X200", 24, 12900)),
        ("PUMP-EXT".to_owned(), offer("PUMP-9", 12, 2500)),
    ]);
    book
}

fn ctx(book: &fieldsync_core::pricebook::PriceBook) -> fieldsync_core::validate::Context {
    fieldsync_core::validate::Context::default().with_price_book(std::sync::Arc::new(book.clone()))
}

/// A raw change writing `warranty_extension` whole, as `who`, validated
/// with the book: what a client that is not our library could send.
fn forge_sale(
    job: &JobDoc,
    offer: &str,
    months: i64,
    price: i64,
    who: fieldsync_core::Principal,
    book: &fieldsync_core::pricebook::PriceBook,
) -> Result<(), fieldsync_core::Rejection> {
    let mut doc: Automerge = job.doc().fork().with_actor(actor(98));
    let mut tx = doc.transaction();
    let e = tx
        .put_object(
            ROOT,
            "warranty_extension",
            fieldsync_core::automerge::ObjType::Map,
        )
        .unwrap();
    tx.put(&e, "offer", offer).unwrap();
    tx.put(&e, "months", months).unwrap();
    tx.put(&e, "price", price).unwrap();
    tx.put(&e, "by", who.user.to_string()).unwrap();
    tx.put(
        &e,
        "device_time",
        fieldsync_core::automerge::ScalarValue::Timestamp(T0),
    )
    .unwrap();
    let (hash, _) = tx.commit();
    fieldsync_core::validate_changes_in(&doc, &[hash.unwrap()], &who, &ctx(book)).map(drop)
}

#[test]
fn a_warranty_extension_is_sold_once_for_the_assets_product_and_billed() {
    use fieldsync_core::billing::{LineKind, bill};
    use fieldsync_core::{ActionError, JobAction, RejectCode, warranty};
    let book = book_with_offers();
    let mut ids = Ids::default();
    let mut job = JobDoc::create_from(
        &spec(ids.job(), Some(user(1))),
        &registry(),
        actor(200),
        dispatcher(),
        Timestamp(T0),
    )
    .unwrap();
    let mut phone = JobDoc::from_doc(job.doc().fork().with_actor(actor(1))).unwrap();
    let read = phone.read().unwrap();
    assert_eq!(read.registry.asset_sku, Some(sku("BOILER-X200")));

    // The quotes: the boiler's two offers only, tax on each line.
    let quotes = warranty::quotes(&read, &book, date("2026-01-01")).unwrap();
    let codes: Vec<&str> = quotes.iter().map(|q| q.code.as_str()).collect();
    assert_eq!(codes, ["EXT-12", "EXT-24"]);
    assert_eq!(quotes[0].tax, Money(1587), "6900 x 23% = 1587");
    assert_eq!(quotes[0].price_with_tax, Money(8487));
    assert_eq!(
        quotes[0].warranty_end_after,
        Some(date("2027-01-01")),
        "unknown warranty: from the day"
    );

    // The other product's offer and an unknown one are refused before
    // they become a change.
    let foreign = warranty::sale(&read, &book, "PUMP-EXT").unwrap_err();
    assert_eq!(foreign.code, RejectCode::Forbidden);
    assert!(
        foreign.message.contains("not for this asset's product"),
        "{foreign:?}"
    );
    let unknown = warranty::sale(&read, &book, "EXT-99").unwrap_err();
    assert_eq!(unknown.code, RejectCode::NotInPriceBook);

    // Sold on the phone, validated with its book; billed as a line.
    let sale = warranty::sale(&read, &book, "EXT-12").unwrap();
    phone
        .apply_in(&sale, tech(1), Timestamp(T0 + 60_000), &ctx(&book))
        .unwrap();
    let sold = phone.read().unwrap();
    let recorded = sold.warranty_extension.as_ref().unwrap();
    assert_eq!(
        (recorded.offer.as_str(), recorded.months, recorded.price),
        ("EXT-12", 12, Money(6900))
    );
    assert_eq!(recorded.by, user(1));
    let invoice = bill(&sold, &book).unwrap();
    let line = invoice
        .lines
        .iter()
        .find(|l| l.kind == LineKind::Extension)
        .expect("an extension line");
    assert_eq!((line.charged, line.covered_by.clone()), (Money(6900), None));
    assert_eq!(invoice.subtotal, Money(6900), "nothing else is billed yet");
    assert_eq!(invoice.total, Money(8487));

    // Twice: refused by the action and, forged, by the validator.
    let again = phone
        .apply_in(&sale, tech(1), Timestamp(T0 + 120_000), &ctx(&book))
        .unwrap_err();
    assert!(
        matches!(again, ActionError::NotAllowed(ref why) if why.contains("one per job")),
        "{again:?}"
    );
    let forged = forge_sale(&phone, "EXT-24", 24, 12900, tech(1), &book).unwrap_err();
    assert_eq!(forged.code, RejectCode::Forbidden);
    assert!(forged.message.contains("one per job"), "{forged:?}");

    // Forged on a fresh job: another product's offer, an unknown offer,
    // cheaper terms than the book's.
    for (offer, months, price, code, says) in [
        (
            "PUMP-EXT",
            12,
            2500,
            RejectCode::Forbidden,
            "not for this asset's product",
        ),
        (
            "EXT-99",
            12,
            100,
            RejectCode::NotInPriceBook,
            "not in the price book",
        ),
        ("EXT-24", 24, 100, RejectCode::NotInPriceBook, "quote again"),
        (
            "EXT-12",
            120,
            6900,
            RejectCode::NotInPriceBook,
            "quote again",
        ),
    ] {
        let r = forge_sale(&job, offer, months, price, tech(1), &book).unwrap_err();
        assert_eq!(r.code, code, "{offer}: {r:?}");
        assert!(r.message.contains(says), "{offer}: {r:?}");
    }
    // The office may sell too, in its own name; not in someone else's.
    forge_sale(&job, "EXT-12", 12, 6900, dispatcher(), &book).unwrap();
    // The assigned technician may.
    forge_sale(&job, "EXT-12", 12, 6900, tech(1), &book).unwrap();
    let r = forge_sale(&job, "EXT-12", 12, 6900, tech(2), &book).unwrap_err();
    assert_eq!(r.code, RejectCode::NotAssigned);

    // The product is the server's, written with the id: never changed.
    let mut doc: Automerge = job.doc().fork().with_actor(actor(97));
    let mut tx = doc.transaction();
    let (_, asset) = tx.get(ROOT, "asset").unwrap().unwrap();
    tx.put(&asset, "sku", "PUMP-9").unwrap();
    let (hash, _) = tx.commit();
    let r = validate_changes(&doc, &[hash.unwrap()], &dispatcher()).unwrap_err();
    assert!(
        r.message
            .contains("asset.sku is written when the job is created"),
        "{r:?}"
    );

    // A job made without a registry asset sells none.
    let plain = new_job(ids.job(), Some(user(1)));
    let r = forge_sale(&plain, "EXT-12", 12, 6900, tech(1), &book).unwrap_err();
    assert!(r.message.contains("registry asset"), "{r:?}");
    let mut plain = JobDoc::from_doc(plain.doc().fork().with_actor(actor(1))).unwrap();
    let e = plain.apply(&sale, tech(1), Timestamp(T0)).unwrap_err();
    assert!(
        matches!(e, ActionError::NotAllowed(ref why) if why.contains("registry asset")),
        "{e:?}"
    );

    // A closed job sells none: the office cancels, then tries.
    job.apply(
        &JobAction::Cancel {
            reason: "Customer away".into(),
        },
        dispatcher(),
        Timestamp(T0),
    )
    .unwrap();
    let e = job.apply(&sale, dispatcher(), Timestamp(T0)).unwrap_err();
    assert!(
        matches!(e, ActionError::NotAllowed(ref why) if why.contains("closed")),
        "{e:?}"
    );
    let r = forge_sale(&job, "EXT-12", 12, 6900, dispatcher(), &book).unwrap_err();
    assert_eq!(r.code, RejectCode::Transition, "{r:?}");
}

#[test]
fn the_extended_end_counts_from_a_running_warranty_else_from_the_day() {
    use fieldsync_core::pricebook::warranty_end_after;
    let d = |s: &str| date(s);
    let on = d("2026-11-30");
    assert_eq!(
        warranty_end_after(Some(d("2031-01-31")), on, 13),
        Some(d("2032-02-29"))
    );
    assert_eq!(
        warranty_end_after(Some(on), on, 12),
        Some(d("2027-11-30")),
        "ends today: still running"
    );
    assert_eq!(
        warranty_end_after(Some(d("2026-11-29")), on, 12),
        Some(d("2027-11-30")),
        "ended"
    );
    assert_eq!(
        warranty_end_after(None, on, 24),
        Some(d("2028-11-30")),
        "unknown"
    );
    let o = offer("BOILER-X200", 12, 100);
    assert_eq!(o.warranty_end_after(None, on), Some(d("2027-11-30")));
}
