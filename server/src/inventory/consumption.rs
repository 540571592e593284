//! Consumption from jobs: a synced job's part lines become ledger movements
//! out of the van each line names, keyed by the part line.
//!
//! The server keeps, per part line, what the ledger has applied
//! (`job_part_lines`). Each commit of the job compares the merged job's
//! lines with that and appends only the difference, in the same transaction
//! as the job's changes:
//!
//! - a new line: a `consumption` movement out of its van;
//! - a changed quantity: a correcting `consumption` movement (out of the van
//!   for more units, back into it for fewer);
//! - a voided line: everything it took goes back into the van;
//! - serials: each unit newly on the line is *fitted* (recorded with where
//!   the ledger had it, so "fitted twice" and "fitted from the wrong van"
//!   can be listed); one removed from it returns to the van.
//!
//! Movement ids are derived from (line id, revision), so replaying a sync
//! (same merged job) computes no difference and appends nothing.

use std::collections::BTreeSet;

use fieldsync_core::{Job, JobId};

use super::model::{
    AppliedLine, ConsumedLine, JobConsumption, MovementKind, NewMovement, line_movement_id,
};

/// The part lines of a merged job, for [`crate::store::DocCommit::consumption`].
pub fn from_job(job: &Job) -> JobConsumption {
    JobConsumption {
        job_id: job.id,
        lines: job
            .parts
            .iter()
            .map(|p| ConsumedLine {
                line_id: p.id,
                sku: p.sku.clone(),
                van: p.van,
                quantity: if p.voided {
                    0
                } else {
                    i64::from(p.quantity.get())
                },
                serials: if p.voided {
                    Vec::new()
                } else {
                    p.serials.clone()
                },
            })
            .collect(),
    }
}

/// What one line's commit writes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LinePlan {
    pub movements: Vec<NewMovement>,
    /// Serials newly fitted by this line.
    pub fit: Vec<String>,
    /// Serials no longer on this line (back into the van).
    pub unfit: Vec<String>,
    /// The line's applied state afterwards: quantity, serials, revision.
    pub quantity: i64,
    pub serials: Vec<String>,
    pub revision: i64,
    /// Whether anything changed (the applied row needs writing).
    pub changed: bool,
}

/// The difference between what the ledger applied for a line and the line
/// now. `usable` is false when the line's van or sku is unknown to the
/// ledger: then nothing is taken (the line is listed as a discrepancy).
pub fn plan_line(
    job_id: JobId,
    applied: Option<&AppliedLine>,
    line: &ConsumedLine,
    usable: bool,
) -> LinePlan {
    let mut plan = LinePlan {
        revision: applied.map_or(0, |a| a.revision),
        ..LinePlan::default()
    };
    let (want_qty, want_serials) = if usable {
        (line.quantity, line.serials.clone())
    } else {
        (0, Vec::new())
    };
    let movement =
        |plan: &mut LinePlan, van, sku: &fieldsync_core::Sku, qty: i64, serials: Vec<String>| {
            if qty == 0 {
                return;
            }
            plan.revision += 1;
            let (from, to) = if qty > 0 {
                (Some(van), None)
            } else {
                (None, Some(van))
            };
            plan.movements.push(NewMovement {
                id: line_movement_id(line.line_id, plan.revision),
                kind: MovementKind::Consumption,
                sku: sku.clone(),
                quantity: qty.abs(),
                from,
                to,
                reason: None,
                serials,
                job_id: Some(job_id),
                line_id: Some(line.line_id),
                note: String::new(),
                actor: None,
            });
        };
    let (base_qty, base_serials) = match applied {
        // Van or sku of a line never change in practice; if they did, give
        // everything back to the old van first.
        Some(a) if a.van_id != line.van || a.sku != line.sku => {
            movement(&mut plan, a.van_id, &a.sku, -a.quantity, a.serials.clone());
            plan.unfit.extend(a.serials.iter().cloned());
            plan.changed = true;
            (0, Vec::new())
        }
        Some(a) => (a.quantity, a.serials.clone()),
        None => {
            plan.changed = true;
            (0, Vec::new())
        }
    };
    let before: BTreeSet<&String> = base_serials.iter().collect();
    let after: BTreeSet<&String> = want_serials.iter().collect();
    let added: Vec<String> = after.difference(&before).map(|s| (*s).clone()).collect();
    let removed: Vec<String> = before.difference(&after).map(|s| (*s).clone()).collect();
    let delta = want_qty - base_qty;
    let serials = if delta > 0 {
        added.clone()
    } else {
        removed.clone()
    };
    movement(&mut plan, line.van, &line.sku, delta, serials);
    plan.changed |= delta != 0 || !added.is_empty() || !removed.is_empty();
    plan.fit.extend(added);
    plan.unfit.extend(removed);
    plan.quantity = want_qty;
    plan.serials = want_serials;
    // The line became usable (its van or sku now exists) or stopped being so.
    if applied.is_some_and(|a| a.problem.is_some() == usable) {
        plan.changed = true;
    }
    plan
}

#[cfg(test)]
mod tests {
    use fieldsync_core::{LineId, LocationId, Sku};

    use super::*;

    fn line(q: i64, serials: &[&str]) -> ConsumedLine {
        ConsumedLine {
            line_id: LineId::from_bytes([1; 16]),
            sku: "FILTER-1".parse::<Sku>().unwrap(),
            van: LocationId::from_bytes([2; 16]),
            quantity: q,
            serials: serials.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn applied(p: &LinePlan, l: &ConsumedLine) -> AppliedLine {
        AppliedLine {
            line_id: l.line_id,
            job_id: JobId::from_bytes([3; 16]),
            van_id: l.van,
            sku: l.sku.clone(),
            quantity: p.quantity,
            serials: p.serials.clone(),
            revision: p.revision,
            problem: None,
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn new_edit_void_and_replay() {
        let job = JobId::from_bytes([3; 16]);
        let first = plan_line(job, None, &line(3, &[]), true);
        assert_eq!(first.movements.len(), 1);
        assert_eq!(first.movements[0].from, Some(line(3, &[]).van));
        assert_eq!(first.movements[0].quantity, 3);
        let a = applied(&first, &line(3, &[]));
        // Replaying the same state writes nothing.
        let replay = plan_line(job, Some(&a), &line(3, &[]), true);
        assert!(replay.movements.is_empty() && !replay.changed);
        // Fewer units: the difference goes back into the van.
        let edit = plan_line(job, Some(&a), &line(1, &[]), true);
        assert_eq!(edit.movements.len(), 1);
        assert_eq!(
            (edit.movements[0].to, edit.movements[0].quantity),
            (Some(line(1, &[]).van), 2)
        );
        assert_ne!(edit.movements[0].id, first.movements[0].id);
        // Voided: all of it back.
        let void = plan_line(
            job,
            Some(&applied(&edit, &line(1, &[]))),
            &line(0, &[]),
            true,
        );
        assert_eq!(void.movements[0].quantity, 1);
        assert_eq!(void.quantity, 0);
    }

    #[test]
    fn serials_are_fitted_and_unfitted() {
        let job = JobId::from_bytes([3; 16]);
        let p = plan_line(job, None, &line(2, &["A", "B"]), true);
        assert_eq!(p.fit, vec!["A", "B"]);
        let a = applied(&p, &line(2, &["A", "B"]));
        let p2 = plan_line(job, Some(&a), &line(1, &["B"]), true);
        assert_eq!(p2.unfit, vec!["A"]);
        assert_eq!(p2.movements[0].serials, vec!["A"]);
    }

    #[test]
    fn unusable_lines_take_nothing() {
        let p = plan_line(JobId::from_bytes([3; 16]), None, &line(2, &["A"]), false);
        assert!(p.movements.is_empty() && p.fit.is_empty() && p.changed);
    }
}
