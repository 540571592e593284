//! Returns (RMA) opened on a visit (issue 16 item 1).
//!
//! Two containers of lines keyed by the return's id (schema 4):
//!
//! - `returns`: what the technician opened on site, offline, in their name:
//!   the unit's sku and serial, why it goes back and its condition. Written
//!   once per line, never edited (the depot's receipt is a server record,
//!   not a job edit).
//! - `rma_numbers`: the human-readable RMA number the server assigned to
//!   each return (`RMA-2026-000042`, from the server's clock and a
//!   sequence). Only the server writes it ([`write_rma_numbers`]), so the
//!   validator refuses it from any device or office change; the device
//!   gets it on its next sync and shows [`provisional_reference`] until then.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{Automerge, ChangeHash, ObjType, ROOT, ReadDoc};
use serde::{Deserialize, Serialize};

use super::keys as k;
use crate::error::{ActionError, SchemaError};
use crate::hydrated::MapRef;
use crate::ids::{LineId, Sku, Timestamp, UserId};

codes!(
    /// The state the technician finds the unit in.
    ReturnCondition {
        /// Never fitted, in its packaging.
        Unused = "unused",
        /// Works, but goes back (wrong part, customer's return).
        Working = "working",
        Faulty = "faulty",
        /// Physically damaged.
        Damaged = "damaged",
    }
);

/// A return opened on the job, with its RMA number once the server gave one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnLine {
    /// The return's id (also its id on the server).
    pub id: LineId,
    pub sku: Sku,
    pub serial: String,
    pub reason: String,
    pub condition: ReturnCondition,
    pub by: UserId,
    pub device_time: Timestamp,
    /// `None` until the server's number reaches the device.
    #[serde(default)]
    pub rma_number: Option<String>,
}

impl ReturnLine {
    /// The RMA number, or the provisional reference until there is one.
    pub fn reference(&self) -> String {
        self.rma_number
            .clone()
            .unwrap_or_else(|| provisional_reference(self.id))
    }
}

/// What the device shows for a return the server has not numbered yet:
/// derived from its id, so it is the same on every device and never looks
/// like a real RMA number.
pub fn provisional_reference(id: LineId) -> String {
    let hex = id.as_uuid().simple().to_string().to_ascii_uppercase();
    format!("PRE-{}", &hex[..8])
}

/// The longest serial and reason of a return, in characters.
pub const MAX_SERIAL: usize = 100;
pub const MAX_REASON: usize = 1_000;

/// `RMA-YYYY-NNNNNN`: what the server writes and the reader accepts.
pub fn is_rma_number(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 15
        && b.len() <= 20
        && s.starts_with("RMA-")
        && b[4..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'-'
        && b[9..].iter().all(u8::is_ascii_digit)
}

/// The server's number for the `seq`-th return of `year`.
pub fn format_rma_number(year: i32, seq: i64) -> String {
    format!("RMA-{year:04}-{seq:06}")
}

/// The rules a return keeps, whoever wrote it: `Err` names what is wrong.
pub fn check_return(serial: &str, reason: &str) -> Result<(), &'static str> {
    if serial.trim().is_empty() || serial.chars().count() > MAX_SERIAL {
        return Err("a serial has 1-100 characters");
    }
    if reason.trim().is_empty() {
        return Err("a return needs a reason");
    }
    Ok(())
}

pub(crate) fn read_return(id: LineId, m: MapRef<'_>) -> Result<ReturnLine, SchemaError> {
    let serial = m.str(k::SERIAL)?;
    let reason = m.str(k::REASON)?;
    // Lengths are the schema's text rules (checked beside this read).
    if serial.trim().is_empty() {
        return Err(m.err(k::SERIAL, "a return names the unit's serial"));
    }
    if reason.trim().is_empty() {
        return Err(m.err(k::REASON, "a return needs a reason"));
    }
    Ok(ReturnLine {
        id,
        sku: m.parsed(k::SKU)?,
        serial: serial.to_owned(),
        reason: reason.to_owned(),
        condition: ReturnCondition::parse(m.str(k::CONDITION)?)
            .ok_or_else(|| m.err(k::CONDITION, "expected unused, working, faulty or damaged"))?,
        by: m.parsed(k::BY)?,
        device_time: m.timestamp(k::DEVICE_TIME)?,
        rma_number: None,
    })
}

pub(crate) fn read_rma_number(_: LineId, m: MapRef<'_>) -> Result<String, SchemaError> {
    let n = m.str(k::NUMBER)?;
    if !is_rma_number(n) {
        return Err(m.err(k::NUMBER, "expected RMA-YYYY-NNNNNN"));
    }
    Ok(n.to_owned())
}

/// Writes the server's RMA numbers of returns (by return id) into a job
/// that lacks them, in one change by the document's actor (the server's),
/// with `now` as its time. A number the job holds already is left alone;
/// `None` when nothing was missing.
///
/// Only the server calls this (the validator refuses `rma_numbers` from
/// anyone else), through its versioned write.
pub fn write_rma_numbers(
    doc: &mut Automerge,
    numbers: &[(LineId, String)],
    now: Timestamp,
) -> Result<Option<ChangeHash>, ActionError> {
    let Some((automerge::Value::Object(_), container)) = doc.get(ROOT, k::RMA_NUMBERS)? else {
        return Err(ActionError::NotAllowed(
            "this job predates returns: upgrade it first".into(),
        ));
    };
    let mut tx = doc.transaction();
    for (id, number) in numbers {
        if !is_rma_number(number) {
            return Err(
                crate::error::InvalidValue::new("RMA number", "expected RMA-YYYY-NNNNNN").into(),
            );
        }
        if tx.get(&container, id.to_string())?.is_some() {
            continue;
        }
        let line = tx.put_object(&container, id.to_string(), ObjType::Map)?;
        tx.put(&line, k::NUMBER, number.as_str())?;
    }
    let (hash, _) = tx.commit_with(
        CommitOptions::default()
            .with_message("assign_rma_numbers".to_owned())
            .with_time(now.0.div_euclid(1000)),
    );
    Ok(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_provisional_references_cannot_be_confused() {
        let n = format_rma_number(2026, 42);
        assert_eq!(n, "RMA-2026-000042");
        assert!(is_rma_number(&n));
        assert!(is_rma_number(&format_rma_number(2026, 1_234_567)));
        for bad in [
            "RMA-2026-",
            "RMA-26-000042",
            "rma-2026-000042",
            "RMA-2026-00004x",
            "",
        ] {
            assert!(!is_rma_number(bad), "{bad}");
        }
        let id = LineId::from_bytes([0xab; 16]);
        let p = provisional_reference(id);
        assert_eq!(p, "PRE-ABABABAB");
        assert!(!is_rma_number(&p));
    }

    #[test]
    fn a_return_needs_a_serial_and_a_reason() {
        assert!(check_return("SN-1", "leaks").is_ok());
        assert!(check_return(" ", "leaks").is_err());
        assert!(check_return("SN-1", "  ").is_err());
        assert!(check_return(&"x".repeat(101), "leaks").is_err());
    }
}
