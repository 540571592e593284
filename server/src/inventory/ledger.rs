//! Ledger rules that do not need the database: which shapes of movement are
//! valid, and how a movement changes balances.

use fieldsync_core::LocationId;

use super::model::{LocationKind, MovementKind, NewMovement, Refused};

/// Checks a client's movement against the kinds of its locations.
///
/// - receipt: into a depot (from a supplier: no source)
/// - transfer: depot->van, van->depot or depot->depot
/// - consumption: out of a van (job consumption is recorded from synced jobs)
/// - return: into a location (from a customer or a job: no source)
/// - adjustment: into or out of one location, with a reason
pub fn check_shape(
    m: &NewMovement,
    from: Option<LocationKind>,
    to: Option<LocationKind>,
) -> Result<(), Refused> {
    use LocationKind::{Depot, Van};
    let bad = |msg: &str| Err(Refused::Invalid(format!("{}: {msg}", m.kind)));
    if m.quantity <= 0 || m.quantity > 1_000_000 {
        return Err(Refused::Invalid(
            "quantity must be between 1 and 1000000".into(),
        ));
    }
    if m.reason.is_some() != (m.kind == MovementKind::Adjustment) {
        return bad("a reason is required for adjustments and only for them");
    }
    if m.note.chars().count() > 500 {
        return Err(Refused::Invalid("note: at most 500 characters".into()));
    }
    if from == Some(LocationKind::Transit) || to == Some(LocationKind::Transit) {
        return bad("parts in transit to customers move by their shipment only");
    }
    match (m.kind, from, to) {
        (MovementKind::Receipt, None, Some(Depot)) => Ok(()),
        (MovementKind::Receipt, _, _) => bad("needs `to` (a depot) and no `from`"),
        (MovementKind::Transfer, Some(Depot), Some(Van | Depot))
        | (MovementKind::Transfer, Some(Van), Some(Depot)) => {
            if m.from == m.to {
                bad("`from` and `to` must differ")
            } else {
                Ok(())
            }
        }
        (MovementKind::Transfer, _, _) => {
            bad("needs `from` and `to`: depot->van, van->depot or depot->depot")
        }
        (MovementKind::Consumption, Some(Van), None) => Ok(()),
        (MovementKind::Consumption, _, _) => bad("needs `from` (a van) and no `to`"),
        (MovementKind::Return, None, Some(_)) => Ok(()),
        (MovementKind::Return, _, _) => bad("needs `to` and no `from`"),
        (MovementKind::Adjustment, Some(_), None) | (MovementKind::Adjustment, None, Some(_)) => {
            Ok(())
        }
        (MovementKind::Adjustment, _, _) => bad("needs exactly one of `from` and `to`"),
        (MovementKind::Quarantine, _, _) => bad("recorded by recall campaigns only"),
        (MovementKind::Shipment | MovementKind::Delivery | MovementKind::ShipmentCancel, _, _) => {
            bad("recorded by shipments only (/v1/shipments)")
        }
    }
}

/// Checks the serial list of a manual movement of a part.
pub fn check_serials(m: &NewMovement, serialized: bool) -> Result<(), Refused> {
    if !serialized {
        if m.serials.is_empty() {
            return Ok(());
        }
        return Err(Refused::Invalid(format!(
            "{} is not serialized: no serials",
            m.sku
        )));
    }
    if i64::try_from(m.serials.len()).ok() != Some(m.quantity) {
        return Err(Refused::Invalid(format!(
            "{} is serialized: give one serial per unit",
            m.sku
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    for s in &m.serials {
        if s.is_empty() || s.len() > 100 {
            return Err(Refused::Invalid("serials have 1-100 characters".into()));
        }
        if !seen.insert(s) {
            return Err(Refused::Invalid(format!("serial {s} given twice")));
        }
    }
    Ok(())
}

/// The balance changes of a movement, in location order (so concurrent
/// writers lock balance rows in the same order and cannot deadlock).
pub fn deltas(m: &NewMovement) -> Vec<(LocationId, i64)> {
    let mut d: Vec<(LocationId, i64)> = m
        .from
        .map(|f| (f, -m.quantity))
        .into_iter()
        .chain(m.to.map(|t| (t, m.quantity)))
        .collect();
    d.sort_by_key(|(l, _)| *l);
    d
}
