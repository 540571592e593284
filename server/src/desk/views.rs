//! The desk's JSON bodies.

use fieldsync_core::job::{ContactCategory, ContactChannel, ContactDirection};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::*;
use crate::freetext::{FreeText, present};

/// A contact the office logs.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContactBody {
    /// The client's id for the contact: sending it again records nothing new.
    pub id: Uuid,
    pub customer_id: Uuid,
    #[serde(default)]
    pub site_id: Option<Uuid>,
    #[serde(default)]
    pub asset_id: Option<Uuid>,
    #[serde(default)]
    #[schema(value_type = Option<Uuid>)]
    pub job_id: Option<fieldsync_core::JobId>,
    #[schema(value_type = String, example = "phone")]
    pub channel: ContactChannel,
    #[schema(value_type = String, example = "inbound")]
    pub direction: ContactDirection,
    #[schema(value_type = String, example = "billing")]
    pub category: ContactCategory,
    pub summary: String,
}

impl FreeText for NewContactBody {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        vec![("summary", self.summary.as_str())]
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ContactView {
    pub id: Uuid,
    pub customer_id: Option<Uuid>,
    pub customer_name: String,
    pub site_id: Option<Uuid>,
    pub asset_id: Option<Uuid>,
    #[schema(value_type = Option<Uuid>)]
    pub job_id: Option<fieldsync_core::JobId>,
    pub channel: String,
    pub direction: String,
    pub category: String,
    pub summary: String,
    #[schema(value_type = Option<Uuid>)]
    pub logged_by: Option<fieldsync_core::UserId>,
    pub logged_by_name: Option<String>,
    pub source: Source,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    pub item_id: Uuid,
    pub team: Team,
    pub state: ItemState,
}

impl From<Contact> for ContactView {
    fn from(c: Contact) -> Self {
        Self {
            id: c.id,
            customer_id: c.customer_id,
            customer_name: c.customer_name,
            site_id: c.site_id,
            asset_id: c.asset_id,
            job_id: c.job_id,
            channel: c.channel,
            direction: c.direction,
            category: c.category,
            summary: c.summary,
            logged_by: c.logged_by,
            logged_by_name: c.logged_by_name,
            source: c.source,
            created_at: c.created_at,
            item_id: c.item_id,
            team: c.team,
            state: c.state,
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ContactList {
    pub contacts: Vec<ContactView>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HistoryView {
    pub kind: HistoryKind,
    #[schema(value_type = Option<Uuid>)]
    pub actor_id: Option<fieldsync_core::UserId>,
    pub actor_name: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

impl From<HistoryEntry> for HistoryView {
    fn from(h: HistoryEntry) -> Self {
        Self {
            kind: h.kind,
            actor_id: h.actor_id,
            actor_name: h.actor_name,
            from: h.from_value,
            to: h.to_value,
            reason: h.reason,
            at: h.at,
        }
    }
}

/// A queue item: from a contact (`contact` set, `source` null) or opened
/// by the system (`source` set, `contact` null: an unpaid invoice, a
/// contract due for renewal). `customer_*`, `category` and `summary` are
/// the contact's or the system item's own.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ItemView {
    pub id: Uuid,
    pub customer_id: Option<Uuid>,
    pub customer_name: String,
    pub category: String,
    pub summary: String,
    pub team: Team,
    #[schema(value_type = Option<Uuid>)]
    pub owner_id: Option<fieldsync_core::UserId>,
    pub owner_name: Option<String>,
    pub state: ItemState,
    pub priority: DeskPriority,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub due_at: OffsetDateTime,
    /// When it was opened (server time): its age.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Past its due time and not resolved.
    pub overdue: bool,
    pub escalated: bool,
    pub escalation_reason: Option<String>,
    pub contact: Option<ContactView>,
    pub source: Option<ItemSource>,
    /// Every routing, reassignment, state change and escalation (in the
    /// single item's view; empty in lists).
    pub history: Vec<HistoryView>,
}

impl ItemView {
    pub fn of(i: Item, now: OffsetDateTime, history: Vec<HistoryEntry>) -> Self {
        Self {
            id: i.id,
            customer_id: i.customer_id,
            customer_name: i.customer_name,
            category: i.category,
            summary: i.summary,
            team: i.team,
            owner_id: i.owner_id,
            owner_name: i.owner_name,
            overdue: i.state != ItemState::Resolved && i.due_at < now,
            state: i.state,
            priority: i.priority,
            due_at: i.due_at,
            created_at: i.created_at,
            escalated: i.escalated,
            escalation_reason: i.escalation_reason,
            contact: i.contact.map(Into::into),
            source: i.source,
            history: history.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ItemList {
    pub items: Vec<ItemView>,
    /// The cursor of the next page (`after=`), null on the last page.
    pub next: Option<String>,
}

/// A page of a queue: most urgent first (due time, then id).
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QueuePage {
    /// At most this many items (1-200, default 50).
    pub limit: Option<u32>,
    /// The previous page's `next` cursor (opaque).
    pub after: Option<String>,
}

/// The default and largest page of a queue.
pub const PAGE_DEFAULT: u32 = 50;
pub const PAGE_MAX: u32 = 200;

/// A page cursor: the last item's due time (Unix nanoseconds) and id.
pub fn cursor(due: OffsetDateTime, id: Uuid) -> String {
    format!("{}_{id}", due.unix_timestamp_nanos())
}

/// The `(due_at, id)` a cursor names; `None` if it is not one.
pub fn parse_cursor(s: &str) -> Option<(OffsetDateTime, Uuid)> {
    let (nanos, id) = s.split_once('_')?;
    let due = OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()?;
    Some((due, Uuid::parse_str(id).ok()?))
}

/// A change to a queue item: exactly one of its fields.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemUpdate {
    /// Take the item: the caller becomes its owner (a new item moves to
    /// in progress).
    #[serde(default)]
    pub take: bool,
    /// Give it to this member of its team.
    #[serde(default)]
    #[schema(value_type = Option<Uuid>)]
    pub owner_id: Option<fieldsync_core::UserId>,
    #[serde(default)]
    pub state: Option<ItemState>,
    /// Send it to another team's queue.
    #[serde(default)]
    pub team: Option<Team>,
    /// A new priority: the due time becomes the item's creation time plus
    /// the priority's SLA.
    #[serde(default)]
    pub priority: Option<DeskPriority>,
}

impl FreeText for ItemUpdate {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

/// "Escalate to supervisor".
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    pub reason: String,
}

impl FreeText for Escalation {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        present([("reason", Some(self.reason.as_str()))])
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Member {
    #[schema(value_type = Uuid)]
    pub id: fieldsync_core::UserId,
    pub name: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TeamView {
    pub team: Team,
    pub supervisor: Option<Member>,
    pub members: Vec<Member>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TeamList {
    pub teams: Vec<TeamView>,
}

/// A team's members and supervisor, replaced whole.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamBody {
    #[serde(default)]
    #[schema(value_type = Option<Uuid>)]
    pub supervisor_id: Option<fieldsync_core::UserId>,
    #[schema(value_type = Vec<Uuid>)]
    pub members: Vec<fieldsync_core::UserId>,
}

impl FreeText for TeamBody {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

impl FreeText for Routing {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        self.rules
            .iter()
            .filter_map(|r| r.keyword.as_deref().map(|k| ("rules.keyword", k)))
            .collect()
    }
}
