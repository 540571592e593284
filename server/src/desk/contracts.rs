//! Service contract terms and their renewal (issue 17 item 4, last point):
//! a customer's contract (its reference: an asset's `contract_ref` or a
//! price book contract) runs from `starts_on` to `ends_on`; within
//! `notice_days` of its end the housekeeping loop puts it into sales'
//! queue, once per term (a system item of source `contract:{id}:{ends_on}`).
//! Setting a later end (the contract was renewed) resolves the old term's
//! item.

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::*;
use super::store::{SystemItemError, open_system_item, resolve_system_item};
use crate::store::sql::{Conn, Query, Row};
use crate::store::{Result, StoreError};

/// The longest notice period (two years).
pub const MAX_NOTICE_DAYS: u16 = 730;

const DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

fn text(d: Date) -> Result<String> {
    d.format(DATE).map_err(|e| StoreError::corrupt("date", e))
}

fn date(row: &Row, column: &str) -> Result<Date> {
    let s: String = row.get(column)?;
    Date::parse(&s, DATE).map_err(|e| StoreError::corrupt(column, e))
}

/// A customer's service contract term.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ServiceContract {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub reference: String,
    /// First day covered (UTC), `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date)]
    pub starts_on: Date,
    /// Last day covered (UTC), `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date)]
    pub ends_on: Date,
    /// Days before `ends_on` from which it is due for renewal.
    pub notice_days: u16,
    /// The first day it is due for renewal (`ends_on` - `notice_days`).
    #[schema(value_type = String, format = Date)]
    pub notice_from: Date,
    /// The end date of the term whose renewal is in sales' queue (null:
    /// none yet).
    #[schema(value_type = Option<String>, format = Date)]
    pub renewal_for: Option<Date>,
}

/// A contract's term, set whole (`PUT`).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractBody {
    #[schema(value_type = String, format = Date, example = "2026-01-01")]
    pub starts_on: Date,
    #[schema(value_type = String, format = Date, example = "2026-12-31")]
    pub ends_on: Date,
    /// 0-730 days.
    pub notice_days: u16,
}

impl crate::freetext::FreeText for ContractBody {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ContractList {
    pub contracts: Vec<ServiceContract>,
}

impl ContractBody {
    /// `Err` saying what is wrong with the term.
    pub fn check(&self) -> std::result::Result<(), String> {
        // Four-digit years: the dates are compared as `YYYY-MM-DD` text.
        for (field, d) in [("starts_on", self.starts_on), ("ends_on", self.ends_on)] {
            if !(1900..=9999).contains(&d.year()) {
                return Err(format!("{field} must be a date between 1900 and 9999"));
            }
        }
        if self.ends_on < self.starts_on {
            return Err("ends_on must not be before starts_on".into());
        }
        if self.notice_days > MAX_NOTICE_DAYS {
            return Err(format!("notice_days is 0-{MAX_NOTICE_DAYS}"));
        }
        Ok(())
    }
}

fn contract_from(row: &Row) -> Result<ServiceContract> {
    let notice: i64 = row.get("notice_days")?;
    Ok(ServiceContract {
        id: row.get("id")?,
        customer_id: row.get("customer_id")?,
        reference: row.get("reference")?,
        starts_on: date(row, "starts_on")?,
        ends_on: date(row, "ends_on")?,
        notice_days: u16::try_from(notice).map_err(|e| StoreError::corrupt("notice_days", e))?,
        notice_from: date(row, "notice_from")?,
        renewal_for: row
            .get::<Option<String>>("renewal_for")?
            .map(|s| Date::parse(&s, DATE).map_err(|e| StoreError::corrupt("renewal_for", e)))
            .transpose()?,
    })
}

/// The source of a contract term's renewal item.
pub fn renewal_source(id: Uuid, ends_on: Date) -> Result<ItemSource> {
    Ok(ItemSource {
        kind: SourceKind::Contract,
        reference: format!("{id}:{}", text(ends_on)?),
    })
}

/// Sets a customer's contract term (creating it on first use), in the
/// caller's transaction. A term with another end than the stored one is a
/// new term: the old term's renewal item, if any, is resolved ("renewed").
pub async fn set_contract(
    conn: &mut dyn Conn,
    customer: Uuid,
    reference: &str,
    body: &ContractBody,
    now: OffsetDateTime,
) -> Result<ServiceContract> {
    // Checked by the caller (ContractBody::check: years 1900-9999, notice
    // at most 730 days), so this stays a valid date; refused otherwise.
    let notice_from = body
        .ends_on
        .checked_sub(Duration::days(i64::from(body.notice_days)))
        .ok_or_else(|| StoreError::other("the notice period starts before any date"))?;
    let lock = conn.dialect().locked(
        "SELECT id, customer_id, reference, starts_on, ends_on, notice_days, notice_from, \
             renewal_for FROM service_contracts WHERE customer_id = $1 AND reference = $2",
        "FOR UPDATE",
    );
    let before = conn
        .fetch_optional(lock.bind(customer).bind(reference))
        .await?
        .as_ref()
        .map(contract_from)
        .transpose()?;
    let id = match &before {
        Some(b) => {
            conn.execute(
                Query::new(
                    "UPDATE service_contracts SET starts_on = $1, ends_on = $2, \
                         notice_days = $3, notice_from = $4, updated_at = $5 WHERE id = $6",
                )
                .bind(text(body.starts_on)?)
                .bind(text(body.ends_on)?)
                .bind(i64::from(body.notice_days))
                .bind(text(notice_from)?)
                .bind(now)
                .bind(b.id),
            )
            .await?;
            if let Some(old) = b.renewal_for
                && old != body.ends_on
            {
                resolve_system_item(conn, &renewal_source(b.id, old)?, "contract renewed", now)
                    .await?;
            }
            b.id
        }
        None => {
            let id = Uuid::new_v4();
            conn.execute(
                Query::new(
                    "INSERT INTO service_contracts (id, customer_id, reference, starts_on, \
                         ends_on, notice_days, notice_from, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                )
                .bind(id)
                .bind(customer)
                .bind(reference)
                .bind(text(body.starts_on)?)
                .bind(text(body.ends_on)?)
                .bind(i64::from(body.notice_days))
                .bind(text(notice_from)?)
                .bind(now),
            )
            .await?;
            id
        }
    };
    let row = conn.fetch_one(Query::new(COLS_BY_ID).bind(id)).await?;
    contract_from(&row)
}

const COLS_BY_ID: &str = "SELECT id, customer_id, reference, starts_on, ends_on, notice_days, \
     notice_from, renewal_for FROM service_contracts WHERE id = $1";

/// A customer's contracts, by reference.
pub async fn contracts_of(conn: &mut dyn Conn, customer: Uuid) -> Result<Vec<ServiceContract>> {
    let rows = conn
        .fetch_all(
            Query::new(
                "SELECT id, customer_id, reference, starts_on, ends_on, notice_days, \
                     notice_from, renewal_for FROM service_contracts WHERE customer_id = $1 \
                 ORDER BY reference",
            )
            .bind(customer),
        )
        .await?;
    rows.iter().map(contract_from).collect()
}

/// The most contracts one sweep opens (the next round takes the rest).
pub const RENEWALS_PER_ROUND: i64 = 200;

/// Puts every contract within its notice period on `today` (and not past
/// its end) whose term has no renewal item yet into sales' queue: one
/// system item per term, and the term marked, in one transaction. Returns
/// how many items it opened.
pub async fn open_renewals(conn: &mut dyn Conn, today: Date, now: OffsetDateTime) -> Result<usize> {
    let day = text(today)?;
    let due = conn
        .fetch_all(
            Query::new(
                "SELECT s.id, s.customer_id, s.reference, s.starts_on, s.ends_on, \
                     s.notice_days, s.notice_from, s.renewal_for, c.name AS customer_name \
                 FROM service_contracts s JOIN customers c ON c.id = s.customer_id \
                 WHERE s.notice_from <= $1 AND s.ends_on >= $1 \
                     AND (s.renewal_for IS NULL OR s.renewal_for <> s.ends_on) \
                 ORDER BY s.ends_on, s.id LIMIT $2",
            )
            .bind(day.as_str())
            .bind(RENEWALS_PER_ROUND),
        )
        .await?;
    let mut opened = 0;
    for row in &due {
        let c = contract_from(row)?;
        let ends = text(c.ends_on)?;
        // Guarded: of two processes sweeping at once, one marks the term
        // (and the unique source would stop a second item anyway).
        let marked = conn
            .execute(
                Query::new(
                    "UPDATE service_contracts SET renewal_for = $1, updated_at = $2 \
                     WHERE id = $3 AND ends_on = $1 \
                         AND (renewal_for IS NULL OR renewal_for <> $1)",
                )
                .bind(ends.as_str())
                .bind(now)
                .bind(c.id),
            )
            .await?;
        if marked == 0 {
            continue;
        }
        let item = SystemItem {
            source: renewal_source(c.id, c.ends_on)?,
            customer_id: Some(c.customer_id),
            customer_name: row.get("customer_name")?,
            category: fieldsync_core::job::ContactCategory::Contract,
            summary: format!(
                "Service contract {} ends on {ends}: due for renewal",
                c.reference
            ),
            team: Team::Sales,
            priority: DeskPriority::Normal,
        };
        match open_system_item(conn, &item, now).await {
            Ok(o) if o.created => opened += 1,
            Ok(_) => {}
            Err(SystemItemError::Store(e)) => return Err(e),
            // A reference that makes no valid summary: the term stays
            // marked (no retry every minute) and the log says why.
            Err(SystemItemError::Invalid(why)) => {
                tracing::warn!(contract = %c.id, why, "contract renewal item refused");
            }
        }
    }
    Ok(opened)
}
