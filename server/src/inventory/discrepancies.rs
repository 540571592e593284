//! What needs a manager's attention, listed per location.

use std::collections::{BTreeMap, BTreeSet};

use fieldsync_core::{JobId, LineId, LocationId, Sku};
use serde::Serialize;
use utoipa::ToSchema;

use super::model::{AppliedLine, Balance, ReorderRule, SerialFit};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Discrepancy {
    /// More was taken out than the ledger had (usually fitted from a van
    /// whose loading was not recorded).
    NegativeStock {
        #[schema(value_type = String)]
        location_id: LocationId,
        #[schema(value_type = String)]
        sku: Sku,
        quantity: i64,
    },
    /// On hand below the location's reorder point.
    BelowReorderPoint {
        #[schema(value_type = String)]
        location_id: LocationId,
        #[schema(value_type = String)]
        sku: Sku,
        quantity: i64,
        reorder_point: i64,
    },
    /// One serial number fitted by two or more part lines still in force.
    SerialFittedTwice {
        #[schema(value_type = String)]
        location_id: LocationId,
        #[schema(value_type = String)]
        sku: Sku,
        serial: String,
        #[schema(value_type = Vec<String>)]
        jobs: Vec<JobId>,
    },
    /// A serial fitted from `location_id` that the ledger had elsewhere.
    SerialFromWrongVan {
        #[schema(value_type = String)]
        location_id: LocationId,
        #[schema(value_type = String)]
        sku: Sku,
        serial: String,
        #[schema(value_type = String)]
        job_id: JobId,
        #[schema(value_type = Option<String>)]
        ledger_location: Option<LocationId>,
    },
    /// A serial fitted that the ledger never received.
    UnknownSerial {
        #[schema(value_type = String)]
        location_id: LocationId,
        #[schema(value_type = String)]
        sku: Sku,
        serial: String,
        #[schema(value_type = String)]
        job_id: JobId,
    },
    /// A part line the ledger could not apply (`unknown_van`, `unknown_sku`).
    UnappliedLine {
        #[schema(value_type = String)]
        location_id: LocationId,
        #[schema(value_type = String)]
        sku: Sku,
        #[schema(value_type = String)]
        job_id: JobId,
        #[schema(value_type = String)]
        line_id: LineId,
        problem: String,
    },
}

impl Discrepancy {
    pub fn location_id(&self) -> LocationId {
        match self {
            Discrepancy::NegativeStock { location_id, .. }
            | Discrepancy::BelowReorderPoint { location_id, .. }
            | Discrepancy::SerialFittedTwice { location_id, .. }
            | Discrepancy::SerialFromWrongVan { location_id, .. }
            | Discrepancy::UnknownSerial { location_id, .. }
            | Discrepancy::UnappliedLine { location_id, .. } => *location_id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Discrepancy::NegativeStock { .. } => "negative_stock",
            Discrepancy::BelowReorderPoint { .. } => "below_reorder_point",
            Discrepancy::SerialFittedTwice { .. } => "serial_fitted_twice",
            Discrepancy::SerialFromWrongVan { .. } => "serial_from_wrong_van",
            Discrepancy::UnknownSerial { .. } => "unknown_serial",
            Discrepancy::UnappliedLine { .. } => "unapplied_line",
        }
    }
}

/// Every discrepancy, ordered by location then kind. `visible` filters by location.
pub fn find(
    balances: &[Balance],
    rules: &[ReorderRule],
    fits: &[SerialFit],
    lines: &[AppliedLine],
    visible: impl Fn(LocationId) -> bool,
) -> Vec<Discrepancy> {
    let mut out = Vec::new();
    let on_hand: BTreeMap<(LocationId, &Sku), i64> = balances
        .iter()
        .map(|b| ((b.location_id, &b.sku), b.quantity))
        .collect();
    for b in balances.iter().filter(|b| b.quantity < 0) {
        out.push(Discrepancy::NegativeStock {
            location_id: b.location_id,
            sku: b.sku.clone(),
            quantity: b.quantity,
        });
    }
    for r in rules {
        let q = on_hand.get(&(r.location_id, &r.sku)).copied().unwrap_or(0);
        if q < r.reorder_point {
            out.push(Discrepancy::BelowReorderPoint {
                location_id: r.location_id,
                sku: r.sku.clone(),
                quantity: q,
                reorder_point: r.reorder_point,
            });
        }
    }
    let mut by_serial: BTreeMap<(&Sku, &str), Vec<&SerialFit>> = BTreeMap::new();
    for f in fits.iter().filter(|f| f.voided_at.is_none()) {
        by_serial
            .entry((&f.sku, f.serial.as_str()))
            .or_default()
            .push(f);
        if !f.known {
            out.push(Discrepancy::UnknownSerial {
                location_id: f.van_id,
                sku: f.sku.clone(),
                serial: f.serial.clone(),
                job_id: f.job_id,
            });
        } else if f.found_at.is_some_and(|at| at != f.van_id) {
            out.push(Discrepancy::SerialFromWrongVan {
                location_id: f.van_id,
                sku: f.sku.clone(),
                serial: f.serial.clone(),
                job_id: f.job_id,
                ledger_location: f.found_at,
            });
        }
    }
    for ((sku, serial), fs) in by_serial.into_iter().filter(|(_, fs)| fs.len() > 1) {
        let vans: BTreeSet<LocationId> = fs.iter().map(|f| f.van_id).collect();
        for van in vans {
            out.push(Discrepancy::SerialFittedTwice {
                location_id: van,
                sku: sku.clone(),
                serial: serial.to_owned(),
                jobs: fs.iter().map(|f| f.job_id).collect(),
            });
        }
    }
    for l in lines {
        if let Some(problem) = &l.problem {
            out.push(Discrepancy::UnappliedLine {
                location_id: l.van_id,
                sku: l.sku.clone(),
                job_id: l.job_id,
                line_id: l.line_id,
                problem: problem.clone(),
            });
        }
    }
    out.retain(|d| visible(d.location_id()));
    out.sort_by(|a, b| (a.location_id(), a.kind()).cmp(&(b.location_id(), b.kind())));
    out
}

#[cfg(test)]
mod tests {
    use fieldsync_core::{JobId, LineId, LocationId};
    use time::OffsetDateTime;

    use super::*;

    fn fit(
        serial: &str,
        line: u8,
        van: LocationId,
        found_at: Option<LocationId>,
        known: bool,
    ) -> SerialFit {
        SerialFit {
            sku: "PUMP-7".parse().unwrap(),
            serial: serial.into(),
            line_id: LineId::from_bytes([line; 16]),
            job_id: JobId::from_bytes([line; 16]),
            van_id: van,
            found_at,
            known,
            fitted_at: OffsetDateTime::UNIX_EPOCH,
            voided_at: None,
        }
    }

    #[test]
    fn serials_fitted_twice_from_the_wrong_van_or_never_received() {
        let (van, other, depot) = (
            LocationId::from_bytes([1; 16]),
            LocationId::from_bytes([2; 16]),
            LocationId::from_bytes([3; 16]),
        );
        let fits = vec![
            fit("A", 1, van, Some(van), true),
            // The second fit of A: the ledger had it nowhere (already fitted).
            fit("A", 2, other, None, true),
            fit("B", 3, van, Some(depot), true),
            fit("C", 4, van, None, false),
            SerialFit {
                voided_at: Some(OffsetDateTime::UNIX_EPOCH),
                ..fit("D", 5, van, Some(depot), true)
            },
        ];
        let all = find(&[], &[], &fits, &[], |_| true);
        let kinds: Vec<(&str, LocationId)> =
            all.iter().map(|d| (d.kind(), d.location_id())).collect();
        assert_eq!(
            kinds,
            vec![
                ("serial_fitted_twice", van),
                ("serial_from_wrong_van", van),
                ("unknown_serial", van),
                ("serial_fitted_twice", other),
            ]
        );
        // Scoped to the other van: only its side of the double fit.
        assert_eq!(find(&[], &[], &fits, &[], |l| l == other).len(), 1);
    }
}
