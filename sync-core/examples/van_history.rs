//! What a new install downloads for a van's stock document after N ledger
//! movements: the whole history in one document, against a fresh
//! generation started every `--generation-max-changes` (500) writes (the
//! worst case: a generation just short of the bound), in bytes and in
//! automerge changes (what a device loads and the server keeps in memory).
//! Figures for docs/ARCHITECTURE.md "Document history":
//!
//! ```sh
//! cargo run -p fieldsync-core --example van_history
//! ```

use std::collections::BTreeMap;

use automerge::{ActorId, Automerge, ReadDoc};
use fieldsync_core::sync::whole_doc_message;
use fieldsync_core::vanstock::{StockItem, VanStock, write_van_stock};
use fieldsync_core::{LocationId, Timestamp};

const BOUND: usize = 500;

/// A van with 20 skus, 3 of them serialized; movement `i` moves one sku by
/// one unit (every fifth a serial in or out), a few minutes apart.
fn history(movements: usize) -> Automerge {
    let mut doc = Automerge::new().with_actor(ActorId::from([7; 16]));
    let mut items: BTreeMap<_, _> = (0..20)
        .map(|n| {
            let item = StockItem {
                quantity: 10,
                serials: if n < 3 {
                    vec![format!("SN-{n}-0")]
                } else {
                    vec![]
                },
                quarantined: vec![],
            };
            (format!("PART-{n}").parse().unwrap(), item)
        })
        .collect();
    let start = 1_780_000_000_000_i64;
    for i in 0..=movements {
        let sku = format!("PART-{}", i % 20).parse().unwrap();
        let item: &mut StockItem = items.get_mut(&sku).unwrap();
        item.quantity += if i % 2 == 0 { -1 } else { 1 };
        if i % 20 < 3 && i % 5 == 0 {
            item.serials.push(format!("SN-{}-{i}", i % 20));
        }
        let as_of = Timestamp(start + i as i64 * 180_000);
        let stock = VanStock {
            van: LocationId::from_bytes([1; 16]),
            as_of,
            items: items.clone(),
        };
        write_van_stock(&mut doc, &stock, as_of).unwrap();
    }
    doc
}

fn main() {
    println!(
        "| movements | one document: download, changes | fresh generation (<= {BOUND} changes): download, changes |"
    );
    println!("|---|---|---|");
    let worst = measure(&history(BOUND - 1));
    for n in [100, 1_000, 5_000, 20_000] {
        let one = measure(&history(n));
        let fresh = if n < BOUND { one } else { worst };
        println!(
            "| {n} | {} B, {} | {} B, {} |",
            one.0, one.1, fresh.0, fresh.1
        );
    }
}

/// Bytes of the whole-document sync message a new install gets, and the
/// document's changes.
fn measure(doc: &Automerge) -> (usize, u64) {
    (
        whole_doc_message(doc).encode().len(),
        doc.stats().num_changes,
    )
}
