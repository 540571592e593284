//! The issued invoice of a completed job (issue 17 item 4, schema 5).
//!
//! When a job's completion commits, the server freezes its invoice (lines
//! and totals billed with the price book then current) and numbers it from
//! a gapless series, in the commit's transaction. It then writes the frozen
//! invoice into the job as the root map `invoice`: its number, the server
//! time it was issued and the frozen [`Invoice`] as JSON (`body`). Only the
//! server writes it ([`write_issued`]), once: the validator refuses it from
//! any device or office change. From then on [`crate::billing::bill`] bills
//! the job from this map, never from the price book, on the server and on
//! the device alike: later price changes do not re-price done work, while
//! payments and refunds still settle it.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{Automerge, ChangeHash, ObjType, ROOT, ReadDoc};
use serde::{Deserialize, Serialize};

use super::keys as k;
use crate::billing::Invoice;
use crate::error::{ActionError, InvalidValue, SchemaError};
use crate::hydrated::MapRef;
use crate::ids::Timestamp;

/// The longest frozen invoice body, in bytes: a job's lines are bounded
/// by the sync limits long before this.
pub const MAX_BODY: usize = 1 << 20;

/// An invoice as issued: numbered and frozen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedInvoice {
    pub number: String,
    /// Server time of issue (the completion's commit).
    pub issued_at: Timestamp,
    /// Lines and totals as billed at completion (its settlement part is
    /// recomputed from the job on every read).
    pub invoice: Invoice,
}

/// What the server writes and the reader accepts as a number: 1-40
/// characters of ASCII letters, digits, `-`, `/` and `.` (a configured
/// prefix, the year and a counter, e.g. `INV-2026-000042`).
pub fn is_invoice_number(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'.'))
}

pub(crate) fn read_issued(m: MapRef<'_>) -> Result<IssuedInvoice, SchemaError> {
    let number = m.str(k::NUMBER)?;
    if !is_invoice_number(number) {
        return Err(m.err(k::NUMBER, "expected an invoice number"));
    }
    let body = m.str(k::BODY)?;
    if body.len() > MAX_BODY {
        return Err(m.err(k::BODY, "the invoice body is too long"));
    }
    let invoice: Invoice =
        serde_json::from_str(body).map_err(|_| m.err(k::BODY, "expected an invoice as JSON"))?;
    Ok(IssuedInvoice {
        number: number.to_owned(),
        issued_at: m.timestamp(k::ISSUED_AT)?,
        invoice,
    })
}

/// Writes the issued invoice into a job that has none, in one change by
/// the document's actor (the server's), with `now` as its time; `None`
/// when the job holds one already (it is never replaced).
pub fn write_issued(
    doc: &mut Automerge,
    issued: &IssuedInvoice,
    now: Timestamp,
) -> Result<Option<ChangeHash>, ActionError> {
    if !is_invoice_number(&issued.number) {
        return Err(InvalidValue::new("invoice number", "expected an invoice number").into());
    }
    if doc.get(ROOT, k::INVOICE)?.is_some() {
        return Ok(None);
    }
    let body = serde_json::to_string(&issued.invoice)
        .map_err(|e| InvalidValue::new("invoice", e.to_string()))?;
    let mut tx = doc.transaction();
    let map = tx.put_object(ROOT, k::INVOICE, ObjType::Map)?;
    tx.put(&map, k::NUMBER, issued.number.as_str())?;
    tx.put(&map, k::ISSUED_AT, issued.issued_at.0)?;
    tx.put(&map, k::BODY, body)?;
    let (hash, _) = tx.commit_with(
        CommitOptions::default()
            .with_message("issue_invoice".to_owned())
            .with_time(now.0.div_euclid(1000)),
    );
    Ok(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_plain_codes() {
        assert!(is_invoice_number("INV-2026-000042"));
        assert!(is_invoice_number("A/2026.7"));
        for bad in ["", "INV 1", "INV-\u{e9}", &"9".repeat(41)] {
            assert!(!is_invoice_number(bad), "{bad}");
        }
    }
}
