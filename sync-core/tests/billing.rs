//! Billing: warranty, service contracts, tax rounding, voided lines, and
//! totals that do not depend on the order changes were merged in.

mod common;

use common::*;
use fieldsync_core::billing::{Coverage, LineKind, bill};
use fieldsync_core::job::{DetailsEdit, JobAction, PaymentMethod};
use fieldsync_core::{Job, JobDoc, LineId, Money, Quantity, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};

/// Technician 1 arrives, works 90 minutes, fits 2 valves and 1 pump.
fn worked_job(ids: &mut Ids, edit: Option<DetailsEdit>) -> (JobDoc, LineId) {
    let mut job = JobDoc::from_trusted(new_job(ids.job(), Some(user(1))).into_doc());
    if let Some(edit) = edit {
        job.apply(&JobAction::EditDetails(edit), dispatcher(), Timestamp(T0))
            .unwrap();
    }
    job.doc_mut().set_actor(actor(1));
    let t = tech(1);
    let valves = ids.line();
    for a in [
        JobAction::StartTravel,
        JobAction::Arrive,
        JobAction::AddLabour {
            entry: ids.line(),
            minutes: 90,
            rate: "standard".into(),
            description: String::new(),
        },
        JobAction::UsePart {
            line: valves,
            sku: sku("VALVE-1"),
            quantity: Quantity::new(2).unwrap(),
            serials: vec![],
            van: van(1),
        },
        JobAction::UsePart {
            line: ids.line(),
            sku: sku("PUMP-9"),
            quantity: Quantity::new(1).unwrap(),
            serials: vec!["P-1".into()],
            van: van(1),
        },
    ] {
        job.apply(&a, t, Timestamp(T0)).unwrap();
    }
    (job, valves)
}

fn charged(job: &Job, kind: LineKind) -> i64 {
    bill(job, &price_book())
        .unwrap()
        .lines
        .iter()
        .filter(|l| l.kind == kind)
        .map(|l| l.charged.0)
        .sum()
}

#[test]
fn a_plain_visit_is_billed_in_full() {
    let mut ids = Ids::default();
    let (job, _) = worked_job(&mut ids, None);
    let inv = bill(&job.read().unwrap(), &price_book()).unwrap();
    // Call-out 45.00 + labour 90 min at 55.00/h = 82.50 + parts 2 x 19.99 + 189.50.
    assert_eq!(inv.subtotal, Money(4500 + 8250 + 3998 + 18_950));
    // 23% of 356.98 = 82.1054 -> 82.11
    assert_eq!(inv.tax, Money(8211));
    assert_eq!(inv.total, Money(35_698 + 8211));
    assert_eq!(inv.price_book_version, 7);
    assert!(inv.warnings.is_empty());
}

#[test]
fn warranty_covers_parts_and_labour_not_the_callout() {
    let mut ids = Ids::default();
    let edit = DetailsEdit {
        warranty_end: Some(Some(date("2026-01-01"))),
        ..DetailsEdit::default()
    };
    let (job, _) = worked_job(&mut ids, Some(edit));
    let job = job.read().unwrap();
    let inv = bill(&job, &price_book()).unwrap();
    assert_eq!(charged(&job, LineKind::Labour), 0);
    assert_eq!(charged(&job, LineKind::Part), 0);
    assert_eq!(charged(&job, LineKind::Callout), 4500);
    assert!(
        inv.lines
            .iter()
            .filter(|l| l.kind != LineKind::Callout)
            .all(|l| l.covered_by == Some(Coverage::Warranty))
    );
    assert_eq!(inv.total, Money(4500 + 1035)); // 23% of 45.00

    // A warranty that ended the day before the visit covers nothing.
    let mut ids = Ids::default();
    let edit = DetailsEdit {
        warranty_end: Some(Some(date("2025-12-31"))),
        ..DetailsEdit::default()
    };
    let (job, _) = worked_job(&mut ids, Some(edit));
    assert_eq!(charged(&job.read().unwrap(), LineKind::Labour), 8250);
}

#[test]
fn a_valid_contract_covers_what_it_says_and_an_expired_one_nothing() {
    let mut ids = Ids::default();
    let edit = DetailsEdit {
        contract_ref: Some(Some("SC-GOLD-1".into())),
        ..DetailsEdit::default()
    };
    let (job, _) = worked_job(&mut ids, Some(edit));
    let job = job.read().unwrap();
    assert_eq!(charged(&job, LineKind::Labour), 0);
    assert_eq!(charged(&job, LineKind::Callout), 0);
    assert_eq!(
        charged(&job, LineKind::Part),
        3998 + 18_950,
        "gold does not cover parts"
    );

    let mut book = price_book();
    book.contracts.get_mut("SC-GOLD-1").unwrap().valid_until = date("2025-12-31");
    let inv = bill(&job, &book).unwrap();
    assert!(inv.lines.iter().all(|l| l.covered_by.is_none()));
    assert!(
        inv.warnings
            .iter()
            .any(|w| w.contains("not valid on the visit date"))
    );

    let mut ids = Ids::default();
    let edit = DetailsEdit {
        contract_ref: Some(Some("SC-NOPE".into())),
        ..DetailsEdit::default()
    };
    let (job, _) = worked_job(&mut ids, Some(edit));
    let inv = bill(&job.read().unwrap(), &price_book()).unwrap();
    assert!(
        inv.warnings
            .iter()
            .any(|w| w.contains("not in the price book"))
    );
}

#[test]
fn tax_is_rounded_half_up_once_on_the_subtotal() {
    let mut ids = Ids::default();
    let mut job = JobDoc::from_trusted(
        new_job(ids.job(), Some(user(1)))
            .into_doc()
            .with_actor(actor(1)),
    );
    let t = tech(1);
    job.apply(&JobAction::StartTravel, t, Timestamp(T0))
        .unwrap();
    job.apply(&JobAction::Arrive, t, Timestamp(T0)).unwrap();
    for _ in 0..3 {
        job.apply(
            &JobAction::UsePart {
                line: ids.line(),
                sku: sku("CHEAP"),
                quantity: Quantity::new(1).unwrap(),
                serials: vec![],
                van: van(1),
            },
            t,
            Timestamp(T0),
        )
        .unwrap();
    }
    let mut book = price_book();
    book.callout_fee = Money(0);
    book.tax_rate_bps = 2500;
    book.parts.insert(
        sku("CHEAP"),
        fieldsync_core::pricebook::PartPrice {
            name: "Washer".into(),
            unit_price: Money(2),
            serialized: false,
        },
    );
    // Three lines of 0.02 at 25%: per line 0.005 would round to 0.01 each (0.03);
    // on the subtotal 0.06 x 25% = 0.015 -> 0.02.
    let inv = bill(&job.read().unwrap(), &book).unwrap();
    assert_eq!(inv.subtotal, Money(6));
    assert_eq!(inv.tax, Money(2));
    book.tax_rate_bps = 2400; // 0.0144 -> 0.01
    assert_eq!(bill(&job.read().unwrap(), &book).unwrap().tax, Money(1));
}

#[test]
fn voided_lines_are_not_billed_and_payments_reduce_the_balance() {
    let mut ids = Ids::default();
    let (mut job, valves) = worked_job(&mut ids, None);
    let t = tech(1);
    job.apply(&JobAction::VoidPartLine { line: valves }, t, Timestamp(T0))
        .unwrap();
    job.apply(
        &JobAction::RecordPayment {
            payment: ids.line(),
            method: PaymentMethod::Cash,
            amount: Money(10_000),
            reference: None,
        },
        t,
        Timestamp(T0),
    )
    .unwrap();
    let inv = bill(&job.read().unwrap(), &price_book()).unwrap();
    assert!(inv.lines.iter().all(|l| l.source != Some(valves)));
    assert_eq!(inv.subtotal, Money(4500 + 8250 + 18_950));
    assert_eq!(inv.paid, Money(10_000));
    assert_eq!(inv.balance_due, Money(inv.total.0 - 10_000));
}

#[test]
fn unknown_skus_and_rates_bill_zero_with_a_warning() {
    let mut ids = Ids::default();
    let (job, _) = worked_job(&mut ids, None);
    let mut book = price_book();
    book.parts.clear();
    book.labour_rates.clear();
    let inv = bill(&job.read().unwrap(), &book).unwrap();
    assert_eq!(inv.warnings.len(), 3);
    assert_eq!(inv.subtotal, Money(4500));
}

/// Replicas of one job: two devices of the technician, two office clients.
const DEVICES: [usize; 2] = [0, 1];
const OFFICES: [usize; 2] = [2, 3];
const REPLICAS: usize = 4;

#[derive(Clone, Debug)]
enum Op {
    Part {
        on: usize,
        arg: u8,
    },
    Labour {
        on: usize,
        minutes: u8,
    },
    /// Void the `i`-th line this replica sees active.
    Void {
        on: usize,
        i: u8,
    },
    /// Set the `i`-th active plain line this replica sees to another quantity.
    Quantity {
        on: usize,
        i: u8,
        q: u8,
    },
    Pay {
        on: usize,
        amount: u8,
    },
    Warranty {
        on: usize,
        covered: bool,
    },
    Contract {
        on: usize,
        gold: bool,
    },
    /// `from`'s changes reach `to` (a partial sync), so later edits there
    /// build on them and edits elsewhere stay concurrent.
    Merge {
        from: usize,
        to: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let device = || prop::sample::select(DEVICES.to_vec());
    let office = || prop::sample::select(OFFICES.to_vec());
    prop_oneof![
        3 => (device(), any::<u8>()).prop_map(|(on, arg)| Op::Part { on, arg }),
        2 => (device(), any::<u8>()).prop_map(|(on, minutes)| Op::Labour { on, minutes }),
        2 => (device(), any::<u8>()).prop_map(|(on, i)| Op::Void { on, i }),
        4 => (device(), any::<u8>(), any::<u8>()).prop_map(|(on, i, q)| Op::Quantity { on, i, q }),
        1 => (device(), any::<u8>()).prop_map(|(on, amount)| Op::Pay { on, amount }),
        2 => (office(), any::<bool>()).prop_map(|(on, covered)| Op::Warranty { on, covered }),
        2 => (office(), any::<bool>()).prop_map(|(on, gold)| Op::Contract { on, gold }),
        2 => (0..REPLICAS, 0..REPLICAS).prop_map(|(from, to)| Op::Merge { from, to }),
    ]
}

/// What one case reached: concurrent writes of the same field.
#[derive(Default)]
struct Races {
    quantity: bool,
    void_and_quantity: bool,
    warranty: bool,
    contract: bool,
}

/// The action `op` takes on `job` as this replica sees it (`None`: nothing
/// to act on, e.g. no line to void yet).
fn action(op: &Op, job: &Job, ids: &mut Ids) -> Option<JobAction> {
    let active: Vec<&fieldsync_core::job::PartLine> = job.active_parts().collect();
    let plain: Vec<_> = active.iter().filter(|p| p.serials.is_empty()).collect();
    Some(match *op {
        Op::Part { arg, .. } => {
            let serial = arg.is_multiple_of(3);
            JobAction::UsePart {
                line: ids.line(),
                sku: sku(if serial { "PUMP-9" } else { "VALVE-1" }),
                quantity: Quantity::new(if serial { 1 } else { 1 + u32::from(arg % 7) }).unwrap(),
                serials: if serial {
                    vec![format!("P-{arg}")]
                } else {
                    vec![]
                },
                van: van(1),
            }
        }
        Op::Labour { minutes, .. } => JobAction::AddLabour {
            entry: ids.line(),
            minutes: 1 + u32::from(minutes),
            rate: "standard".into(),
            description: String::new(),
        },
        Op::Void { i, .. } => JobAction::VoidPartLine {
            line: active.get(i as usize % active.len().max(1))?.id,
        },
        Op::Quantity { i, q, .. } => {
            let line = plain.get(i as usize % plain.len().max(1))?;
            // Another quantity than the line has here (the same one changes nothing).
            let q = (line.quantity.get() + 1 + u32::from(q % 8)) % 9 + 1;
            let q = if q == line.quantity.get() {
                q % 9 + 1
            } else {
                q
            };
            JobAction::SetPartQuantity {
                line: line.id,
                quantity: Quantity::new(q).unwrap(),
            }
        }
        Op::Pay { amount, .. } => JobAction::RecordPayment {
            payment: ids.line(),
            method: PaymentMethod::Card,
            amount: Money(1 + i64::from(amount)),
            reference: None,
        },
        Op::Warranty { covered, .. } => {
            let end = if covered { "2026-06-01" } else { "2025-06-01" };
            if job.asset.warranty_end == Some(date(end)) {
                return None;
            }
            JobAction::EditDetails(DetailsEdit {
                warranty_end: Some(Some(date(end))),
                ..DetailsEdit::default()
            })
        }
        Op::Contract { gold, .. } => {
            let contract = if gold { "SC-GOLD-1" } else { "SC-NONE" };
            if job.asset.contract_ref.as_deref() == Some(contract) {
                return None;
            }
            JobAction::EditDetails(DetailsEdit {
                contract_ref: Some(Some(contract.to_owned())),
                ..DetailsEdit::default()
            })
        }
        Op::Merge { .. } => return None,
    })
}

/// One case: every generated action applies on its replica (a refusal
/// fails the case), then every replica merges everything, in different
/// orders, and all bill the same.
fn merge_order_case(ops: &[Op], seed: u64) -> Result<Races, TestCaseError> {
    let mut ids = Ids::default();
    let mut base = JobDoc::from_trusted(new_job(ids.job(), Some(user(1))).into_doc());
    base.doc_mut().set_actor(actor(1));
    let t = tech(1);
    base.apply(&JobAction::StartTravel, t, Timestamp(T0))
        .unwrap();
    base.apply(&JobAction::Arrive, t, Timestamp(T0)).unwrap();
    // Lines every replica starts with, so both devices can edit them at once.
    for (sku_, quantity, serials) in [
        ("VALVE-1", 2, vec![]),
        ("VALVE-1", 1, vec![]),
        ("PUMP-9", 1, vec!["P-0".to_owned()]),
    ] {
        let line = JobAction::UsePart {
            line: ids.line(),
            sku: sku(sku_),
            quantity: Quantity::new(quantity).unwrap(),
            serials,
            van: van(1),
        };
        base.apply(&line, t, Timestamp(T0)).unwrap();
    }
    let actors = [actor(1), actor(2), actor(200), actor(201)];
    let mut replicas: Vec<JobDoc> = actors
        .iter()
        .map(|a| JobDoc::from_trusted(base.doc().fork().with_actor(a.clone())))
        .collect();
    // Field -> (replica, heads it wrote at), to tell concurrent writes.
    let mut writes: Vec<(&'static str, Option<LineId>, usize, automerge::ChangeHash)> = Vec::new();
    for op in ops {
        let (on, who) = match *op {
            Op::Merge { from, to } => {
                if from != to {
                    let mut other = replicas[from].doc().clone();
                    replicas[to].doc_mut().merge(&mut other).unwrap();
                }
                continue;
            }
            Op::Warranty { on, .. } | Op::Contract { on, .. } => (on, dispatcher()),
            Op::Part { on, .. }
            | Op::Labour { on, .. }
            | Op::Void { on, .. }
            | Op::Quantity { on, .. }
            | Op::Pay { on, .. } => (on, t),
        };
        let job = replicas[on].read().unwrap();
        let Some(a) = action(op, &job, &mut ids) else {
            continue;
        };
        let applied = replicas[on].apply(&a, who, Timestamp(T0));
        prop_assert!(
            applied.is_ok(),
            "{a:?} refused on replica {on}: {applied:?}"
        );
        let (field, line) = match &a {
            JobAction::SetPartQuantity { line, .. } => ("quantity", Some(*line)),
            JobAction::VoidPartLine { line } => ("void", Some(*line)),
            JobAction::EditDetails(d) if d.warranty_end.is_some() => ("warranty", None),
            JobAction::EditDetails(_) => ("contract", None),
            _ => continue,
        };
        writes.push((field, line, on, applied.unwrap()));
    }

    // Which writes of one field were concurrent (neither saw the other)?
    let mut races = Races::default();
    let mut everything = base.doc().fork();
    for r in &replicas {
        let changes = r.doc().get_changes(&[]);
        everything.apply_changes(changes).unwrap();
    }
    // What each write did not see: the changes since it.
    let unseen: Vec<std::collections::BTreeSet<automerge::ChangeHash>> = writes
        .iter()
        .map(|w| {
            everything
                .get_changes(&[w.3])
                .iter()
                .map(|c| c.hash())
                .collect()
        })
        .collect();
    for (i, (fa, la, ra, ha)) in writes.iter().enumerate() {
        for (j, (fb, lb, rb, hb)) in writes.iter().enumerate().skip(i + 1) {
            let concurrent = ra != rb && unseen[i].contains(hb) && unseen[j].contains(ha);
            if !concurrent || la != lb {
                continue;
            }
            match (*fa, *fb) {
                ("quantity", "quantity") => races.quantity = true,
                ("quantity", "void") | ("void", "quantity") => races.void_and_quantity = true,
                ("warranty", "warranty") => races.warranty = true,
                ("contract", "contract") => races.contract = true,
                _ => {}
            }
        }
    }

    // Every replica merges everyone else's changes, each in its own order,
    // and one fresh copy takes them one by one in a shuffled order
    // (out-of-order changes wait for their dependencies).
    let all = everything.get_changes(&base.doc().get_heads());
    let book = price_book();
    let reference = bill(
        &JobDoc::from_trusted(everything.clone()).read().unwrap(),
        &book,
    )
    .unwrap();
    for (k, r) in replicas.iter_mut().enumerate() {
        let mut order = all.clone();
        let shift = k * order.len() / REPLICAS;
        order.rotate_left(shift);
        r.doc_mut().apply_changes(order).unwrap();
        let invoice = bill(&r.read().unwrap(), &book).unwrap();
        prop_assert_eq!(&invoice, &reference, "replica {}", k);
    }
    let mut changes = all;
    let mut rng = seed;
    for i in (1..changes.len()).rev() {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        changes.swap(i, (rng >> 33) as usize % (i + 1));
    }
    let mut shuffled = base.doc().fork().with_actor(actor(99));
    for c in changes {
        shuffled.apply_changes([c]).unwrap();
    }
    let other = bill(&JobDoc::from_trusted(shuffled).read().unwrap(), &book).unwrap();
    prop_assert_eq!(other, reference);
    Ok(races)
}

/// The technician's two devices and two office clients edit the same lines
/// and the same fields concurrently; whatever order the changes are merged
/// in, the invoice is the same. Enough cases must race on each field.
#[test]
fn totals_do_not_depend_on_merge_order() {
    let mut runner = TestRunner::new(Config {
        cases: 200,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        ..Config::default()
    });
    let counts = std::cell::RefCell::new([0u32; 5]);
    runner
        .run(
            &(prop::collection::vec(op(), 1..40), any::<u64>()),
            |(ops, seed)| {
                let races = merge_order_case(&ops, seed)?;
                let mut c = counts.borrow_mut();
                c[0] += 1;
                c[1] += u32::from(races.quantity);
                c[2] += u32::from(races.void_and_quantity);
                c[3] += u32::from(races.warranty);
                c[4] += u32::from(races.contract);
                Ok(())
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let [cases, quantity, void, warranty, contract] = counts.into_inner();
    eprintln!(
        "{cases} cases; concurrent writes of one field: quantity {quantity}, \
         void and quantity {void}, warranty {warranty}, contract {contract}"
    );
    for (what, n) in [
        ("quantity", quantity),
        ("void and quantity", void),
        ("warranty", warranty),
        ("contract", contract),
    ] {
        assert!(n * 10 >= cases, "only {n} of {cases} cases race on {what}");
    }
}
