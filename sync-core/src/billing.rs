//! Billing: one function computes a job's invoice from the job and the price
//! book. The device shows the customer this total on site; the server stores
//! the same total; both run this code on the same document state.
//!
//! # Rules
//!
//! - **Visit date** is the UTC date of the scheduled window's start: it is
//!   set by the office and trusted, whereas device clocks are never used for
//!   billing.
//! - **Call-out fee** is charged once when the technician reached the site
//!   (the status history has a move to `on_site`).
//! - **Labour** is billed per entry: `minutes x hourly / 60`, rounded half up
//!   to the minor unit.
//! - **Parts** are billed per line: `quantity x unit price`. Voided lines are
//!   not billed and not listed.
//! - **Warranty**: if the asset's warranty ends on or after the visit date,
//!   parts and labour are not charged (the call-out fee still is).
//! - **Service contract**: if the asset's contract reference is in the price
//!   book and valid on the visit date, what it covers (labour, parts,
//!   call-out) is not charged. An unknown or expired contract is charged
//!   normally and reported as a warning.
//! - **Tax** is computed once on the charged subtotal: `subtotal x rate / 10000`,
//!   rounded half up (half away from zero) to the minor unit. Rounding once on
//!   the subtotal, not per line, keeps the total independent of line order.
//! - Payments collected on site are subtracted to give the balance due.
//! - **Issued invoices are frozen**: once the server has issued a completed
//!   job's invoice ([`crate::job::invoice`]), its lines and totals come from
//!   that record, never from the price book again; payments, refunds and
//!   credit notes still settle it ([`settle`]).
//! - **Refunds and credit notes** ([`crate::job::refund`]) are listed with
//!   their state. Approved ones count: a credit note is taken off what the
//!   customer owes, a refund is money paid back (it adds to the balance
//!   the payments reduced). A refund pending approval, or declined, is not
//!   paid out: it is listed and its pending amount shown, never counted.
//!   `balance_due = total - credited - paid + refunded`.
//!
//! - Voided labour entries, like voided part lines, are not billed.
//! - **Warranty extension**: a sale on the job is one line at the price it
//!   records (quoted from the price book when sold, checked against it by
//!   the validator), never covered, taxed like the rest; not billed when
//!   the visit ends unable to complete or cancelled (nothing is extended).
//!
//! The validator refuses skus and labour rates the price book lacks
//! (`not_in_price_book`, [`crate::rules`]). One that is still there (a job
//! stored before that rule, or a price book that dropped an entry since)
//! is billed at zero with a warning, so the office sees the gap instead of
//! a wrong price.
//!
//! ```
//! use fieldsync_core::billing::round_half_up;
//! assert_eq!(round_half_up(5, 10), 1);   // 0.5 -> 1
//! assert_eq!(round_half_up(-5, 10), -1); // half away from zero
//! ```

use serde::{Deserialize, Serialize};
use time::Date;

use crate::ids::{LineId, Money};
use crate::job::{Job, RefundKind, RefundState};
use crate::pricebook::PriceBook;
use crate::status::Status;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    pub currency: String,
    pub price_book_version: i64,
    pub visit_date: Option<Date>,
    pub lines: Vec<InvoiceLine>,
    /// Sum of charged amounts, before tax.
    pub subtotal: Money,
    pub tax_rate_bps: u32,
    pub tax: Money,
    pub total: Money,
    pub paid: Money,
    pub balance_due: Money,
    pub warnings: Vec<String>,
    /// Refund and credit lines with their state (empty on jobs without).
    #[serde(default)]
    pub refunds: Vec<RefundLine>,
    /// Approved credit notes: taken off what the customer owes.
    #[serde(default)]
    pub credited: Money,
    /// Approved refunds: paid back to the customer.
    #[serde(default)]
    pub refunded: Money,
    /// Refunds and credits waiting for a supervisor: not counted.
    #[serde(default)]
    pub pending_refunds: Money,
    /// The server's number once the invoice is issued (the job completed
    /// and the server's write reached this copy): it is then frozen.
    #[serde(default)]
    pub number: Option<String>,
}

/// One refund or credit note on the bill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLine {
    pub id: LineId,
    pub kind: RefundKind,
    /// The payment, labour entry or part line it is against.
    pub against: LineId,
    pub amount: Money,
    pub state: RefundState,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    pub kind: LineKind,
    /// The labour entry or part line this bills; none for the call-out fee.
    pub source: Option<LineId>,
    pub description: String,
    /// Units for parts, minutes for labour, 1 for the call-out.
    pub quantity: u32,
    /// Unit price for parts, hourly rate for labour.
    pub unit_price: Money,
    /// Price before coverage.
    pub amount: Money,
    pub covered_by: Option<Coverage>,
    /// What the customer pays for this line (0 when covered).
    pub charged: Money,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Callout,
    Labour,
    Part,
    /// A warranty extension sold on the visit, at the price the sale
    /// records (never covered: it is a sale, not a repair).
    Extension,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "reference", rename_all = "snake_case")]
pub enum Coverage {
    Warranty,
    Contract(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillingError {
    /// Amounts beyond what money in i64 minor units can hold: a crafted document.
    #[error("amounts overflow")]
    Overflow,
}

/// `numerator / denominator` rounded half away from zero (`denominator > 0`).
pub fn round_half_up(numerator: i128, denominator: i128) -> i128 {
    let q = numerator / denominator;
    let r = numerator % denominator;
    if 2 * r.abs() >= denominator {
        q + numerator.signum()
    } else {
        q
    }
}

fn money(v: i128) -> Result<Money, BillingError> {
    i64::try_from(v)
        .map(Money)
        .map_err(|_| BillingError::Overflow)
}

/// Computes the invoice of `job` priced with `book` (see the module rules).
///
/// A job whose invoice was issued ([`Job::invoice`]) is billed from the
/// frozen lines and totals, whatever `book` says now: only its settlement
/// (payments, refunds, credit notes) follows the job ([`settle`]).
pub fn bill(job: &Job, book: &PriceBook) -> Result<Invoice, BillingError> {
    match &job.invoice {
        Some(issued) => settle(&issued.invoice, Some(&issued.number), job),
        None => price(job, book).and_then(|priced| settle(&priced, None, job)),
    }
}

/// `frozen`'s lines and totals, settled by what `job` records now:
/// payments collected and refunds and credit notes by their state.
pub fn settle(frozen: &Invoice, number: Option<&str>, job: &Job) -> Result<Invoice, BillingError> {
    let total = i128::from(frozen.total.0);
    let paid: i128 = job.payments.iter().map(|p| p.amount.0 as i128).sum();
    let counted = |kind: RefundKind, state: RefundState| -> i128 {
        job.refunds
            .iter()
            .filter(|r| r.kind == kind && r.state() == state)
            .map(|r| i128::from(r.amount.0))
            .sum()
    };
    let credited = counted(RefundKind::Credit, RefundState::Approved);
    let refunded = counted(RefundKind::Refund, RefundState::Approved);
    let pending = counted(RefundKind::Credit, RefundState::Pending)
        + counted(RefundKind::Refund, RefundState::Pending);
    let refunds = job
        .refunds
        .iter()
        .map(|r| RefundLine {
            id: r.id,
            kind: r.kind,
            against: r.against,
            amount: r.amount,
            state: r.state(),
            reason: r.reason.clone(),
        })
        .collect();
    Ok(Invoice {
        paid: money(paid)?,
        balance_due: money(total - credited - paid + refunded)?,
        refunds,
        credited: money(credited)?,
        refunded: money(refunded)?,
        pending_refunds: money(pending)?,
        number: number.map(str::to_owned).or_else(|| frozen.number.clone()),
        ..frozen.clone()
    })
}

/// The lines and totals of `job` priced with `book` (settlement left at zero).
fn price(job: &Job, book: &PriceBook) -> Result<Invoice, BillingError> {
    let visit_date = job.window.start.date();
    let mut warnings = Vec::new();

    let warranty = match (job.asset.warranty_end, visit_date) {
        (Some(end), Some(visit)) => visit <= end,
        _ => false,
    };
    let contract = job.asset.contract_ref.as_ref().and_then(|r| {
        let c = book.contracts.get(r);
        match (c, visit_date) {
            (Some(c), Some(d)) if c.covers_date(d) => Some((r.clone(), c)),
            (Some(_), _) => {
                warnings.push(format!("contract {r} is not valid on the visit date"));
                None
            }
            (None, _) => {
                warnings.push(format!("contract {r} is not in the price book"));
                None
            }
        }
    });
    let coverage = |contract_covers: bool| -> Option<Coverage> {
        match &contract {
            Some((r, _)) if contract_covers => Some(Coverage::Contract(r.clone())),
            _ => None,
        }
    };

    let mut lines = Vec::new();
    let arrived = job.status_history.iter().any(|c| c.to == Status::OnSite);
    if arrived && book.callout_fee.0 > 0 {
        let covered = coverage(contract.as_ref().is_some_and(|(_, c)| c.covers_callout));
        lines.push(line(
            LineKind::Callout,
            None,
            "Call-out".to_owned(),
            1,
            book.callout_fee,
            book.callout_fee.0 as i128,
            covered,
        )?);
    }
    for entry in job.active_labour() {
        let (rate, name) = match book.labour_rates.get(&entry.rate) {
            Some(r) => (r.hourly, r.name.clone()),
            None => {
                warnings.push(format!(
                    "labour rate {} is not in the price book",
                    entry.rate
                ));
                (Money::ZERO, entry.rate.clone())
            }
        };
        let amount = round_half_up(i128::from(entry.minutes) * rate.0 as i128, 60);
        let covered = if warranty {
            Some(Coverage::Warranty)
        } else {
            coverage(contract.as_ref().is_some_and(|(_, c)| c.covers_labour))
        };
        let description = labour_description(&name, &entry.description);
        lines.push(line(
            LineKind::Labour,
            Some(entry.id),
            description,
            entry.minutes,
            rate,
            amount,
            covered,
        )?);
    }
    for part in job.active_parts() {
        let (price, name) = match book.parts.get(&part.sku) {
            Some(p) => (p.unit_price, p.name.clone()),
            None => {
                warnings.push(format!("part {} is not in the price book", part.sku));
                (Money::ZERO, part.sku.to_string())
            }
        };
        let amount = i128::from(part.quantity.get()) * price.0 as i128;
        let covered = if warranty {
            Some(Coverage::Warranty)
        } else {
            coverage(contract.as_ref().is_some_and(|(_, c)| c.covers_parts))
        };
        lines.push(line(
            LineKind::Part,
            Some(part.id),
            format!("{name} ({})", part.sku),
            part.quantity.get(),
            price,
            amount,
            covered,
        )?);
    }

    if let Some(sale) = &job.warranty_extension {
        // Sold with the visit: a visit that did not complete extends
        // nothing (the server applies it on completion), so it bills nothing.
        if matches!(job.status, Status::Cancelled | Status::UnableToComplete) {
            warnings.push(format!(
                "warranty extension {} is not billed: the visit did not complete",
                sale.offer
            ));
        } else {
            lines.push(line(
                LineKind::Extension,
                None,
                crate::warranty::describe(sale, book),
                1,
                sale.price,
                i128::from(sale.price.0),
                None,
            )?);
        }
    }

    let subtotal: i128 = lines.iter().map(|l| l.charged.0 as i128).sum();
    let tax = round_half_up(subtotal * i128::from(book.tax_rate_bps), 10_000);
    let total = subtotal + tax;
    Ok(Invoice {
        currency: book.currency.clone(),
        price_book_version: book.version,
        visit_date,
        lines,
        subtotal: money(subtotal)?,
        tax_rate_bps: book.tax_rate_bps,
        tax: money(tax)?,
        total: money(total)?,
        paid: Money::ZERO,
        balance_due: money(total)?,
        warnings,
        refunds: Vec::new(),
        credited: Money::ZERO,
        refunded: Money::ZERO,
        pending_refunds: Money::ZERO,
        number: None,
    })
}

fn line(
    kind: LineKind,
    source: Option<LineId>,
    description: String,
    quantity: u32,
    unit_price: Money,
    amount: i128,
    covered_by: Option<Coverage>,
) -> Result<InvoiceLine, BillingError> {
    let amount = money(amount)?;
    Ok(InvoiceLine {
        kind,
        source,
        description,
        quantity,
        unit_price,
        amount,
        charged: if covered_by.is_some() {
            Money::ZERO
        } else {
            amount
        },
        covered_by,
    })
}

/// A labour line's description: `Labour (<rate name>)`, then `: <what the
/// technician wrote>` when they wrote something. A frozen invoice keeps
/// only this text; [`labour_parts`] reads it back, so a customer's invoice
/// can say "Labour" in their language.
pub fn labour_description(rate: &str, note: &str) -> String {
    if note.is_empty() {
        format!("Labour ({rate})")
    } else {
        format!("Labour ({rate}): {note}")
    }
}

/// The rate's name and the technician's note of a [`labour_description`];
/// `None` for any other text.
pub fn labour_parts(description: &str) -> Option<(&str, Option<&str>)> {
    let rest = description.strip_prefix("Labour (")?;
    match rest.find("): ") {
        Some(i) => Some((&rest[..i], Some(&rest[i + 3..]))),
        None => rest.strip_suffix(')').map(|rate| (rate, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(round_half_up(14, 10), 1);
        assert_eq!(round_half_up(15, 10), 2);
        assert_eq!(round_half_up(16, 10), 2);
        assert_eq!(round_half_up(-15, 10), -2);
        assert_eq!(round_half_up(-14, 10), -1);
        assert_eq!(round_half_up(0, 10), 0);
    }

    #[test]
    fn a_labour_description_reads_back() {
        for (rate, note) in [
            ("Standard", "Replaced the igniter"),
            ("Night (x2)", ""),
            ("A", "x): y"),
        ] {
            let text = labour_description(rate, note);
            let want = (rate, (!note.is_empty()).then_some(note));
            assert_eq!(labour_parts(&text), Some(want), "{text}");
        }
        assert_eq!(labour_parts("Call-out"), None);
        assert_eq!(labour_parts("Labour (unclosed"), None);
    }
}
