//! The recall API's JSON bodies.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::{Remedy, Replacement, SerialRange};
use crate::freetext::{FreeText, present};

/// A new campaign. `id` is chosen by the client: sending the same campaign
/// again changes nothing (and finishes what an interrupted request left
/// undone); the same id with other content is a 409.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    pub id: Uuid,
    /// The recalled product (the assets' and parts' sku).
    pub sku: String,
    /// Affected serials, one by one.
    #[serde(default)]
    pub serials: Vec<String>,
    /// Affected serial ranges. At least one serial or range is required.
    #[serde(default)]
    pub ranges: Vec<SerialRange>,
    pub reason: String,
    pub remedy: Remedy,
    /// A compensation offer for the customer (a value-added service).
    #[serde(default)]
    pub compensation: Option<String>,
}

impl FreeText for NewCampaign {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        present([
            ("reason", Some(self.reason.as_str())),
            ("compensation", self.compensation.as_deref()),
        ])
    }
}

/// Where an affected asset's remedy stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RemedyState {
    /// No remedy recorded yet.
    Awaiting,
    /// A temporary replacement whose permanent one is due on or after today.
    Pending,
    /// A temporary replacement whose committed date has passed.
    Overdue,
    /// Inspected or repaired, or replaced for good.
    Remedied,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AffectedView {
    pub asset_id: Uuid,
    pub serial: String,
    pub customer_id: Uuid,
    pub customer_name: String,
    #[schema(value_type = String, format = Uuid)]
    pub job_id: fieldsync_core::JobId,
    /// The campaign opened the job (`false`: an open job was flagged).
    pub opened: bool,
    /// The job's status; `null` while its first commit is under way.
    pub job_status: Option<String>,
    pub replacement: Option<Replacement>,
    /// `YYYY-MM-DD`: the permanent replacement's committed date.
    pub committed_date: Option<String>,
    pub state: RemedyState,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct QuarantinedView {
    pub sku: String,
    pub serial: String,
    #[schema(value_type = String, format = Uuid)]
    pub location_id: fieldsync_core::LocationId,
}

/// How many affected assets are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct CampaignCounts {
    pub affected: usize,
    pub awaiting: usize,
    pub pending: usize,
    pub overdue: usize,
    pub remedied: usize,
}

/// A campaign and where it stands.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CampaignView {
    pub id: Uuid,
    pub sku: String,
    pub reason: String,
    pub remedy: Remedy,
    pub compensation: Option<String>,
    pub serials: Vec<String>,
    pub ranges: Vec<SerialRange>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// The day (UTC) overdue is judged by.
    pub today: String,
    pub counts: CampaignCounts,
    /// The affected assets the caller may see.
    pub assets: Vec<AffectedView>,
    /// Stock units the campaign quarantined, at locations the caller may see.
    pub quarantined: Vec<QuarantinedView>,
}

/// A recall in an asset's history (`GET /v1/assets/{serial}`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AssetRecall {
    pub campaign_id: Uuid,
    pub reason: String,
    pub remedy: Remedy,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// The job that remedies it for this asset.
    #[schema(value_type = String, format = Uuid)]
    pub job_id: fieldsync_core::JobId,
    pub replacement: Option<Replacement>,
    pub committed_date: Option<String>,
    pub state: RemedyState,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CampaignSummary {
    pub id: Uuid,
    pub sku: String,
    pub reason: String,
    pub remedy: Remedy,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CampaignList {
    pub campaigns: Vec<CampaignSummary>,
}
