//! The service desk's values: teams, queue states, priorities, routing
//! rules and the routing decision itself (pure: no SQL).

use fieldsync_core::job::{ContactCategory, ContactChannel, ContactDirection};
use fieldsync_core::{JobId, UserId};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::str_enum::str_enum;

str_enum!(
    /// The teams a contact is routed to.
    Team { Engineering = "engineering", Finance = "finance", Shipping = "shipping", Sales = "sales" }
);

str_enum!(
    /// Where a queue item is in its life.
    ItemState {
        New = "new",
        InProgress = "in_progress",
        WaitingOnCustomer = "waiting_on_customer",
        Resolved = "resolved",
    }
);

str_enum!(
    /// How soon an item must be answered (see [`DeskPriority::sla`]).
    DeskPriority { Low = "low", Normal = "normal", High = "high", Urgent = "urgent" }
);

str_enum!(
    /// Whether the customer has a service contract (an installed asset
    /// with a contract reference).
    ContractStatus { UnderContract = "under_contract", None = "none" }
);

str_enum!(
    /// Who logged a contact.
    Source { Office = "office", Device = "device", Feedback = "feedback" }
);

str_enum!(
    /// What an item's history entry records.
    HistoryKind {
        Routed = "routed",
        Assigned = "assigned",
        State = "state",
        Escalated = "escalated",
        Moved = "moved",
        Priority = "priority",
    }
);

str_enum!(
    /// What a queue item that comes from the system (not from a contact)
    /// is about.
    SourceKind { Invoice = "invoice", Contract = "contract" }
);

crate::sql_text!(
    Team,
    ItemState,
    DeskPriority,
    ContractStatus,
    Source,
    HistoryKind,
    SourceKind
);

impl Team {
    pub const ALL: [Team; 4] = [
        Team::Engineering,
        Team::Finance,
        Team::Shipping,
        Team::Sales,
    ];
}

impl DeskPriority {
    /// The time to answer an item of this priority: its due time is the
    /// contact's server time plus this.
    pub fn sla(self) -> Duration {
        match self {
            DeskPriority::Urgent => Duration::hours(1),
            DeskPriority::High => Duration::hours(4),
            DeskPriority::Normal => Duration::hours(24),
            DeskPriority::Low => Duration::hours(72),
        }
    }
}

/// One routing rule: every condition given must hold; the first rule that
/// matches sends the contact to its team with its priority.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "sales_lead")]
    pub category: Option<ContactCategory>,
    #[serde(default)]
    pub contract_status: Option<ContractStatus>,
    /// Matches when the summary contains it, ignoring case.
    #[serde(default)]
    pub keyword: Option<String>,
    pub team: Team,
    pub priority: DeskPriority,
}

/// The rules in order and the team for what none matches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    pub rules: Vec<Rule>,
    pub default_team: Team,
}

/// The most rules the desk keeps, and the longest keyword.
pub const MAX_RULES: usize = 200;
pub const MAX_KEYWORD: usize = 100;

impl Routing {
    /// Where a contact goes: the first matching rule's team and priority,
    /// else the default team at normal priority.
    pub fn route(
        &self,
        category: ContactCategory,
        contract: ContractStatus,
        summary: &str,
    ) -> (Team, DeskPriority) {
        let summary = summary.to_lowercase();
        self.rules
            .iter()
            .find(|r| {
                r.category.is_none_or(|c| c == category)
                    && r.contract_status.is_none_or(|c| c == contract)
                    && r.keyword
                        .as_deref()
                        .is_none_or(|k| summary.contains(&k.to_lowercase()))
            })
            .map_or((self.default_team, DeskPriority::Normal), |r| {
                (r.team, r.priority)
            })
    }

    /// `Err` saying what is wrong with the rules.
    pub fn check(&self) -> Result<(), String> {
        if self.rules.len() > MAX_RULES {
            return Err(format!("at most {MAX_RULES} rules"));
        }
        for (i, r) in self.rules.iter().enumerate() {
            if let Some(k) = &r.keyword
                && (k.trim().is_empty() || k.chars().count() > MAX_KEYWORD)
            {
                return Err(format!("rules[{i}].keyword has 1-{MAX_KEYWORD} characters"));
            }
        }
        Ok(())
    }
}

/// A contact to record (and route).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewContact {
    pub id: Uuid,
    pub customer_id: Option<Uuid>,
    pub customer_name: String,
    pub site_id: Option<Uuid>,
    pub asset_id: Option<Uuid>,
    pub job_id: Option<JobId>,
    pub channel: ContactChannel,
    pub direction: ContactDirection,
    pub category: ContactCategory,
    pub summary: String,
    pub logged_by: Option<UserId>,
    pub source: Source,
    pub device_time: Option<OffsetDateTime>,
}

/// Where a system item comes from: a kind and the thing's reference
/// (`invoice` + the invoice's id, `contract` + the contract's id and term).
/// One item per source, ever.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemSource {
    pub kind: SourceKind,
    pub reference: String,
}

/// The longest source reference.
pub const MAX_SOURCE_REF: usize = 200;

/// A queue item the system opens (an unpaid invoice for finance, a
/// contract due for renewal for sales): no contact, so it names its
/// customer, category and summary itself, and the team and priority it
/// goes to (the routing rules are for contacts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemItem {
    pub source: ItemSource,
    pub customer_id: Option<Uuid>,
    pub customer_name: String,
    pub category: ContactCategory,
    pub summary: String,
    pub team: Team,
    pub priority: DeskPriority,
}

impl SystemItem {
    /// `Err` saying what is wrong: an empty or over-long reference,
    /// customer name or summary (the summary is free text: no card
    /// numbers, as for a contact).
    pub fn check(&self) -> Result<(), String> {
        let r = &self.source.reference;
        if r.trim().is_empty() || r.chars().count() > MAX_SOURCE_REF {
            return Err(format!(
                "the source reference has 1-{MAX_SOURCE_REF} characters"
            ));
        }
        let max = fieldsync_core::job::contact::MAX_SUMMARY;
        for (field, v) in [
            ("customer_name", &self.customer_name),
            ("summary", &self.summary),
        ] {
            if v.trim().is_empty() || v.chars().count() > max {
                return Err(format!("{field} has 1-{max} characters"));
            }
        }
        fieldsync_core::card::refuse_card_number("summary", &self.summary)
            .map_err(|e| e.to_string())
    }
}

/// What [`open_system_item`](super::store::open_system_item) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemItemOpened {
    pub item_id: Uuid,
    /// False when the source had an item already (left as it was).
    pub created: bool,
}

/// A contact as stored, with its queue item's team and state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    pub id: Uuid,
    pub customer_id: Option<Uuid>,
    pub customer_name: String,
    pub site_id: Option<Uuid>,
    pub asset_id: Option<Uuid>,
    pub job_id: Option<JobId>,
    pub channel: String,
    pub direction: String,
    pub category: String,
    pub summary: String,
    pub logged_by: Option<UserId>,
    pub logged_by_name: Option<String>,
    pub source: Source,
    pub created_at: OffsetDateTime,
    pub item_id: Uuid,
    pub team: Team,
    pub state: ItemState,
}

/// A queue item: from a contact (`contact`) or from the system
/// (`source`). The customer, category and summary are the contact's or the
/// system item's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub id: Uuid,
    pub customer_id: Option<Uuid>,
    pub customer_name: String,
    pub category: String,
    pub summary: String,
    pub team: Team,
    pub owner_id: Option<UserId>,
    pub owner_name: Option<String>,
    pub state: ItemState,
    pub priority: DeskPriority,
    pub due_at: OffsetDateTime,
    pub escalated: bool,
    pub escalation_reason: Option<String>,
    pub breach_alerted_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub contact: Option<Contact>,
    pub source: Option<ItemSource>,
}

/// One entry of an item's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    pub kind: HistoryKind,
    pub actor_id: Option<UserId>,
    pub actor_name: Option<String>,
    pub from_value: Option<String>,
    pub to_value: Option<String>,
    pub reason: Option<String>,
    pub at: OffsetDateTime,
}

/// A change to an item, recorded with its history entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemChange {
    Assign(Option<UserId>),
    State(ItemState),
    Escalate(String),
    Move(Team),
    /// A new priority: the due time becomes the item's creation time plus
    /// its SLA.
    Priority(DeskPriority),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(category: Option<ContactCategory>, keyword: Option<&str>, team: Team) -> Rule {
        Rule {
            category,
            contract_status: None,
            keyword: keyword.map(Into::into),
            team,
            priority: DeskPriority::Normal,
        }
    }

    #[test]
    fn the_first_matching_rule_wins_and_the_default_takes_the_rest() {
        let routing = Routing {
            rules: vec![
                rule(None, Some("INVOICE"), Team::Finance),
                Rule {
                    contract_status: Some(ContractStatus::UnderContract),
                    ..rule(Some(ContactCategory::Parts), None, Team::Engineering)
                },
                rule(Some(ContactCategory::Parts), None, Team::Shipping),
                rule(Some(ContactCategory::SalesLead), None, Team::Sales),
            ],
            default_team: Team::Engineering,
        };
        let r = |c, k, s| routing.route(c, k, s).0;
        use ContactCategory as C;
        use ContractStatus as K;
        assert_eq!(r(C::SalesLead, K::None, "wants a quote"), Team::Sales);
        assert_eq!(r(C::SalesLead, K::None, "about my Invoice"), Team::Finance);
        assert_eq!(r(C::Parts, K::UnderContract, "a seal"), Team::Engineering);
        assert_eq!(r(C::Parts, K::None, "a seal"), Team::Shipping);
        assert_eq!(r(C::Complaint, K::None, "late"), Team::Engineering);
        assert_eq!(
            routing.route(C::Complaint, K::None, "late").1,
            DeskPriority::Normal
        );
    }
}
