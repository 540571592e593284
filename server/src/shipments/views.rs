//! The shipment API's JSON bodies.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::Shipment;
use crate::freetext::{FreeText, present};

/// `POST /v1/shipments`: a part to send from a depot to a customer's site.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShipment {
    /// Chosen by the client: sending the same order again with the same id
    /// changes nothing.
    pub id: Uuid,
    pub customer_id: Uuid,
    /// One of the customer's sites: where the part goes.
    pub site_id: Uuid,
    /// The depot it leaves from (one the caller manages).
    pub depot_id: Uuid,
    pub sku: String,
    pub quantity: i64,
    /// For a serialized part: one serial per unit, each at the depot.
    #[serde(default)]
    pub serials: Vec<String>,
    /// The job the part is for, if any.
    pub job_id: Option<Uuid>,
    pub note: Option<String>,
}

/// A carrier and its tracking reference.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackingBody {
    pub carrier: String,
    pub reference: String,
}

/// `POST /v1/shipments/{id}/dispatch`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispatchBody {
    /// The carrier's tracking reference (can also be set or changed later,
    /// until delivery).
    pub tracking: Option<TrackingBody>,
}

/// The note and the carrier's name are free text; a tracking reference is
/// an identifier (carriers' references are long digit strings).
impl FreeText for NewShipment {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        present([("note", self.note.as_deref())])
    }
}

impl FreeText for TrackingBody {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        vec![("carrier", &self.carrier)]
    }
}

impl FreeText for DispatchBody {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        present([(
            "tracking.carrier",
            self.tracking.as_ref().map(|t| t.carrier.as_str()),
        )])
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ShipmentQuery {
    /// Only from this depot.
    pub depot: Option<Uuid>,
    /// Only to this customer.
    pub customer: Option<Uuid>,
    /// Only in these statuses, comma-separated (`ordered,picked`).
    pub status: Option<String>,
    /// At most this many (default 200, at most 1000).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShipmentList {
    pub shipments: Vec<Shipment>,
}
