//! A van's stock as last known to the server, and what the device shows.
//!
//! The server writes one document per van after every ledger movement that
//! touches it. The device shows that snapshot minus the consumption on its
//! own job changes the server has not acknowledged yet, so the number on the
//! phone is right offline without the phone ever writing stock.

use std::collections::BTreeMap;

use crate::write::{ensure_root_map, put_if_changed, put_str_list_if_changed, sync_entries};
use automerge::hydrate::Value;
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{Automerge, ChangeHash, ROOT, ReadDoc, ScalarValue};
use serde::{Deserialize, Serialize};

use crate::error::{ActionError, SchemaError};
use crate::hydrated::MapRef;
use crate::ids::{LocationId, Sku, Timestamp};
use crate::job::{Job, read_job};
use crate::pricebook::read_entries;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VanStock {
    pub van: LocationId,
    /// Server time of the ledger state this snapshot reflects.
    pub as_of: Timestamp,
    pub items: BTreeMap<Sku, StockItem>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockItem {
    /// On hand per the ledger; negative when more was fitted than was loaded.
    pub quantity: i64,
    /// Serial numbers on board, for serialized parts (quarantined ones not
    /// included: they are not available).
    pub serials: Vec<String>,
    /// Serial numbers on board held back by a recall campaign: not
    /// available, not fittable (older snapshots read as none).
    #[serde(default)]
    pub quarantined: Vec<String>,
}

const KIND: &str = "kind";
const KIND_VAN_STOCK: &str = "van_stock";

/// Writes the snapshot into `doc` as one change holding only what differs;
/// `None` when nothing did.
pub fn write_van_stock(
    doc: &mut Automerge,
    stock: &VanStock,
    now: Timestamp,
) -> Result<Option<ChangeHash>, ActionError> {
    let mut tx = doc.transaction();
    let root = ROOT;
    put_if_changed(&mut tx, &root, KIND, KIND_VAN_STOCK)?;
    put_if_changed(&mut tx, &root, "van", stock.van.to_string())?;
    let items = ensure_root_map(&mut tx, "items")?;
    let before = tx.pending_ops();
    sync_entries(&mut tx, &items, &stock.items, |tx, m, item| {
        put_if_changed(tx, m, "quantity", item.quantity)?;
        put_str_list_if_changed(tx, m, "serials", &item.serials)?;
        // Snapshots from before recalls have no such list: none is none.
        if item.quarantined.is_empty() && tx.get(m, "quarantined")?.is_none() {
            return Ok(());
        }
        put_str_list_if_changed(tx, m, "quarantined", &item.quarantined)
    })?;
    // The time stamp alone is not worth a change.
    if tx.pending_ops() > before || tx.get(&root, "as_of")?.is_none() {
        tx.put(&root, "as_of", ScalarValue::Timestamp(stock.as_of.0))?;
    }
    let (hash, _) = tx.commit_with(
        CommitOptions::default()
            .with_message("van_stock".to_owned())
            .with_time(now.0.div_euclid(1000)),
    );
    Ok(hash)
}

pub fn read_van_stock(
    doc: &Automerge,
    heads: Option<&[ChangeHash]>,
) -> Result<VanStock, SchemaError> {
    let Value::Map(root) = ReadDoc::hydrate(doc, ROOT, heads).unwrap_or(Value::map()) else {
        return Err(SchemaError::new("/", "root is not a map"));
    };
    let r = MapRef::new(&root, "");
    if r.str(KIND)? != KIND_VAN_STOCK {
        return Err(r.err(KIND, "not a van stock document"));
    }
    Ok(VanStock {
        van: r.parsed("van")?,
        as_of: r.timestamp("as_of")?,
        items: read_entries(&r, "items", |k, m| {
            let sku: Sku = k.parse().map_err(|_| m.err("", "not a sku"))?;
            Ok((
                sku,
                StockItem {
                    quantity: m.int("quantity")?,
                    serials: m.str_list("serials")?,
                    quarantined: m.str_list("quarantined")?,
                },
            ))
        })?,
    })
}

/// Units of each sku a job's part lines take from `van` (voided lines count zero).
pub fn job_consumption(job: &Job, van: LocationId) -> BTreeMap<Sku, i64> {
    let mut out = BTreeMap::new();
    for p in job.active_parts().filter(|p| p.van == van) {
        *out.entry(p.sku.clone()).or_insert(0) += i64::from(p.quantity.get());
    }
    out
}

/// Consumption recorded on this device that the server has not acknowledged:
/// the job now minus the job as of the heads the server last acknowledged.
pub fn pending_consumption(
    job_doc: &Automerge,
    acked: &[ChangeHash],
    van: LocationId,
) -> Result<BTreeMap<Sku, i64>, SchemaError> {
    let now = job_consumption(&read_job(job_doc, None)?, van);
    let then = if acked.is_empty() || !acked.iter().all(|h| crate::sync::has_change(job_doc, h)) {
        BTreeMap::new()
    } else {
        job_consumption(&read_job(job_doc, Some(acked))?, van)
    };
    let mut delta = now;
    for (sku, q) in then {
        *delta.entry(sku).or_insert(0) -= q;
    }
    delta.retain(|_, q| *q != 0);
    Ok(delta)
}

impl VanStock {
    /// The serials this snapshot lists as quarantined, for the validator
    /// ([`crate::validate::Context::with_recalled`]).
    pub fn recalled(&self) -> crate::validate::Recalled {
        self.items
            .iter()
            .flat_map(|(sku, i)| i.quarantined.iter().map(|s| (sku.clone(), s.clone())))
            .collect()
    }

    /// The stock the technician should see: snapshot minus unsynced consumption.
    pub fn minus(&self, pending: &BTreeMap<Sku, i64>) -> BTreeMap<Sku, i64> {
        let mut out: BTreeMap<Sku, i64> = self
            .items
            .iter()
            .map(|(s, i)| (s.clone(), i.quantity))
            .collect();
        for (sku, q) in pending {
            *out.entry(sku.clone()).or_insert(0) -= q;
        }
        out
    }
}
