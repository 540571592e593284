//! Refunds and credit notes on the job document (issue 16 item 2).
//!
//! A `refunds` line records money given back against a payment of the job
//! (a refund) or taken off an invoice line (a credit note against a labour
//! entry or part line). It never carries card data: its reason is free text
//! and refuses card numbers like any other.
//!
//! Each role may give up to a limit ([`RefundLimits`], set by the server
//! and carried to devices in the price book): a line records `approval`
//! `within_limit` only when its amount is within its writer's limit, else
//! `pending`. A pending line waits for a supervisor (or admin), whose
//! decision (approved or declined, with a reason) is written into the same
//! line by the server in the supervisor's name. The line's other keys never
//! change, so its amount cannot be raised once written. [`check_line`] holds
//! these rules, for the device and the server's validator alike.
//!
//! Billing ([`crate::billing`]) counts what is approved (within the limit or
//! by a supervisor); a pending or declined line is listed but not paid out.

use serde::{Deserialize, Serialize};

use super::keys as k;
use super::{Job, read};
use crate::error::{ActionError, SchemaError};
use crate::hydrated::MapRef;
use crate::ids::{LineId, Money, Timestamp, UserId};
use crate::pricebook::PriceBook;
use crate::role::{Permission, Principal, Role};
use crate::validate::{RejectCode, Rejection};

codes!(
    /// What a line gives back.
    RefundKind {
        /// Money paid back against a payment of the job.
        Refund = "refund",
        /// A credit note against an invoice line (a labour entry or part line).
        Credit = "credit",
    }
);
codes!(
    /// How the line was recorded by its writer.
    Approval {
        /// Within the writer's limit: given at once.
        WithinLimit = "within_limit",
        /// Above it: waits for a supervisor.
        Pending = "pending",
    }
);
codes!(
    /// A supervisor's decision on a pending line.
    Decision { Approved = "approved", Declined = "declined" }
);
codes!(
    /// Where a line stands: what billing and the approvals queue go by.
    RefundState {
        /// Pending approval: not paid out.
        Pending = "pending",
        /// Within the limit, or approved by a supervisor: counted.
        Approved = "approved",
        /// Declined by a supervisor: not counted.
        Declined = "declined",
    }
);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundDecision {
    pub decision: Decision,
    /// The supervisor who decided.
    pub by: UserId,
    pub reason: String,
    /// The server's time when it wrote the decision.
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: LineId,
    pub kind: RefundKind,
    /// The payment (a refund) or labour entry / part line (a credit) it is against.
    pub against: LineId,
    /// Positive, in minor units.
    pub amount: Money,
    pub reason: String,
    pub by: UserId,
    /// The writer's role when they wrote it (the server checks it is theirs).
    pub role: Role,
    pub approval: Approval,
    pub device_time: Timestamp,
    pub decision: Option<RefundDecision>,
}

impl Refund {
    pub fn state(&self) -> RefundState {
        match (self.approval, &self.decision) {
            (Approval::WithinLimit, _) => RefundState::Approved,
            (Approval::Pending, None) => RefundState::Pending,
            (Approval::Pending, Some(d)) if d.decision == Decision::Approved => {
                RefundState::Approved
            }
            (Approval::Pending, Some(_)) => RefundState::Declined,
        }
    }
}

/// What each role may give without approval, in minor units. Supervisors
/// and admins have no limit; roles that do not edit jobs give nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLimits {
    pub technician: Money,
    pub dispatcher: Money,
}

impl RefundLimits {
    /// The most `role` may give without approval (`None`: no limit).
    pub fn limit(&self, role: Role) -> Option<Money> {
        match role {
            Role::Technician => Some(self.technician),
            Role::Dispatcher => Some(self.dispatcher),
            Role::InventoryManager => Some(Money::ZERO),
            Role::Supervisor | Role::Admin => None,
        }
    }

    /// How a line of `amount` by `role` is recorded.
    pub fn approval(&self, role: Role, amount: Money) -> Approval {
        match self.limit(role) {
            Some(limit) if amount > limit => Approval::Pending,
            _ => Approval::WithinLimit,
        }
    }
}

/// The longest reason, in characters.
pub const MAX_REASON: usize = 2_000;

pub(crate) fn read_refund(id: LineId, m: MapRef<'_>) -> Result<Refund, SchemaError> {
    let amount = m.int(k::AMOUNT)?;
    if amount <= 0 {
        return Err(m.err(k::AMOUNT, "a refund's amount must be positive"));
    }
    let reason = m.str(k::REASON)?.trim().to_owned();
    if reason.is_empty() {
        return Err(m.err(k::REASON, "a refund gives a reason"));
    }
    let decision = match m.opt_str(k::DECISION)? {
        None => None,
        Some(d) => Some(RefundDecision {
            decision: Decision::parse(d)
                .ok_or_else(|| m.err(k::DECISION, "expected approved or declined"))?,
            by: m.parsed(k::DECIDED_BY)?,
            reason: m
                .opt_text(k::DECISION_REASON)?
                .ok_or_else(|| m.err(k::DECISION_REASON, "a decision gives a reason"))?,
            at: m.timestamp(k::DECIDED_AT)?,
        }),
    };
    let approval = Approval::parse(m.str(k::APPROVAL)?)
        .ok_or_else(|| m.err(k::APPROVAL, "expected within_limit or pending"))?;
    if decision.is_some() && approval != Approval::Pending {
        return Err(m.err(k::DECISION, "only a pending refund is decided"));
    }
    Ok(Refund {
        id,
        kind: RefundKind::parse(m.str(k::KIND)?)
            .ok_or_else(|| m.err(k::KIND, "expected refund or credit"))?,
        against: m.parsed(k::AGAINST)?,
        amount: Money(amount),
        reason,
        by: m.parsed(k::BY)?,
        role: m.parsed(k::ROLE)?,
        approval,
        device_time: m.timestamp(k::DEVICE_TIME)?,
        decision,
    })
}

fn forbidden(msg: impl Into<String>) -> Rejection {
    Rejection::new(RejectCode::Forbidden, msg)
}

/// The rules of one refund line as a change left it (`now`), given the
/// line before it (`prior`), the job after the change, the writer, and the
/// limits where known (`None`, on a device that has no price book yet,
/// skips the limit: the server checks it on receipt).
pub(crate) fn check_line(
    now: &Refund,
    prior: Option<&Refund>,
    job: &Job,
    who: &Principal,
    limits: Option<&RefundLimits>,
    book: Option<&PriceBook>,
) -> Result<(), Rejection> {
    let Some(prior) = prior else {
        if now.by != who.user || now.role != who.role {
            return Err(forbidden(
                "a refund is recorded in its writer's own name and role",
            ));
        }
        if now.decision.is_some() {
            return Err(forbidden(
                "a refund is decided by a supervisor after it is given",
            ));
        }
        if let Some(limits) = limits
            && now.approval == Approval::WithinLimit
            && limits.approval(who.role, now.amount) == Approval::Pending
        {
            return Err(Rejection::new(
                RejectCode::RefundLimit,
                "the refund is above your limit: it waits for a supervisor's approval",
            ));
        }
        against_ok(now, job)?;
        if let Some(book) = book {
            credit_within_line(job, book, now)?;
        }
        return Ok(());
    };
    if prior.decision.is_some() {
        return Err(forbidden("a decided refund never changes"));
    }
    if prior.approval != Approval::Pending {
        return Err(forbidden("only a refund pending approval is decided"));
    }
    if !who.role.can(Permission::ApproveRefunds) {
        return Err(Rejection::new(
            RejectCode::RefundLimit,
            "only a supervisor approves or declines a refund",
        ));
    }
    match &now.decision {
        Some(d) if d.by == who.user => {}
        _ => {
            return Err(forbidden(
                "a decision is recorded in the supervisor's own name",
            ));
        }
    }
    let unchanged = Refund {
        decision: None,
        ..now.clone()
    };
    if unchanged != *prior {
        return Err(forbidden("only the decision of a refund is written later"));
    }
    Ok(())
}

/// A credit note, with the other credits of its line not declined, takes
/// off at most what the line charges (before tax; a covered line charges
/// nothing). Needs the price book the job bills with: skipped without one.
fn credit_within_line(job: &Job, book: &PriceBook, refund: &Refund) -> Result<(), Rejection> {
    if refund.kind != RefundKind::Credit {
        return Ok(());
    }
    let others = Job {
        refunds: job
            .refunds
            .iter()
            .filter(|r| r.id != refund.id)
            .cloned()
            .collect(),
        ..job.clone()
    };
    match credit_room(&others, book, refund.against) {
        Some(room) if refund.amount <= room => Ok(()),
        _ => Err(Rejection::new(
            RejectCode::Schema,
            "credit notes of a line take off at most what the line charges",
        )),
    }
}

/// What credit notes may still take off the invoice line that bills
/// `line` (a labour entry or part line): its charged amount less the
/// credits against it not declined. `None` when the job does not bill it.
pub fn credit_room(job: &Job, book: &PriceBook, line: LineId) -> Option<Money> {
    let invoice = crate::billing::bill(job, book).ok()?;
    let charged = invoice
        .lines
        .iter()
        .find(|l| l.source == Some(line))?
        .charged;
    let given: i64 = job
        .refunds
        .iter()
        .filter(|r| r.kind == RefundKind::Credit && r.against == line)
        .filter(|r| r.state() != RefundState::Declined)
        .map(|r| r.amount.0)
        .sum();
    Some(Money(charged.0.saturating_sub(given).max(0)))
}

/// The validator's side of [`check_against`]: `job` already holds the line.
fn against_ok(refund: &Refund, job: &Job) -> Result<(), Rejection> {
    let others = Job {
        refunds: job
            .refunds
            .iter()
            .filter(|r| r.id != refund.id)
            .cloned()
            .collect(),
        ..job.clone()
    };
    check_against(&others, refund.kind, refund.against, refund.amount).map_err(|e| match e {
        ActionError::Rejected(r) => r,
        e => Rejection::new(RejectCode::Schema, e.to_string()),
    })
}

/// What a new line of `kind` for `amount` may be against, in `job` (without
/// the line): a refund names a payment of the job and, with that payment's
/// other refunds not declined, gives back at most what was paid; a credit
/// names a live labour entry or part line.
pub(crate) fn check_against(
    job: &Job,
    kind: RefundKind,
    against: LineId,
    amount: Money,
) -> Result<(), ActionError> {
    match kind {
        RefundKind::Refund => {
            let payment = job
                .payments
                .iter()
                .find(|p| p.id == against)
                .ok_or_else(|| ActionError::NotFound("a payment of the job to refund".into()))?;
            let given: i128 = job
                .refunds
                .iter()
                .filter(|r| r.kind == RefundKind::Refund && r.against == payment.id)
                .filter(|r| r.state() != RefundState::Declined)
                .map(|r| i128::from(r.amount.0))
                .sum::<i128>()
                + i128::from(amount.0);
            if given > i128::from(payment.amount.0) {
                return Err(Rejection::new(
                    RejectCode::Schema,
                    "refunds of a payment give back at most what was paid",
                )
                .into());
            }
            Ok(())
        }
        RefundKind::Credit => {
            let labour = job.active_labour().any(|l| l.id == against);
            let part = job.active_parts().any(|p| p.id == against);
            if labour || part {
                Ok(())
            } else {
                Err(ActionError::NotFound(
                    "a live labour entry or part line of the job to credit".into(),
                ))
            }
        }
    }
}

/// The reader the schema table uses for one refund line.
pub(crate) fn read_unit(
    m: &MapRef<'_>,
    id: Option<LineId>,
) -> Result<super::schema::Unit, SchemaError> {
    let id = id.ok_or_else(|| SchemaError::new(m.path, "expected a line"))?;
    let r = read_refund(id, *m)?;
    Ok(super::schema::Unit {
        by: Some(r.by),
        voided: false,
    })
}

/// Every refund line of the job (none on a job older than the field).
pub(crate) fn read_refunds(r: &MapRef<'_>) -> Result<Vec<Refund>, SchemaError> {
    read::entries(r, k::REFUNDS, read_refund)
}
