//! The customer API's JSON bodies: what the office sends to create and
//! change registry records, and the single view it reads back.

use fieldsync_core::{LocationId, Sku};
use serde::{Deserialize, Deserializer, Serialize};
use time::Date;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::*;
use crate::freetext::{FreeText, present};

/// A present field (even `null`) is `Some`, so `null` can mean "clear".
fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    pub kind: CustomerKind,
    pub name: String,
    /// The language the customer is written to in: `en` (default) or `pt`.
    #[serde(default)]
    pub language: Option<crate::i18n::Language>,
    /// The depot that serves the customer (in the caller's scope).
    pub depot_id: Uuid,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditCustomer {
    pub kind: Option<CustomerKind>,
    pub name: Option<String>,
    /// `en` or `pt`.
    pub language: Option<crate::i18n::Language>,
    pub depot_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSite {
    pub name: Option<String>,
    pub address: String,
    pub postcode: Option<String>,
    /// A depot serving this site instead of the customer's.
    pub depot_id: Option<Uuid>,
}

/// Fields to change; absent fields stay, `null` clears an optional one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditSite {
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    pub address: Option<String>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub postcode: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub depot_id: Option<Option<Uuid>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub preferred_channel: ContactChannel,
    #[serde(default)]
    pub feedback_opt_out: bool,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditContact {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    pub preferred_channel: Option<ContactChannel>,
    pub feedback_opt_out: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAsset {
    /// One of the customer's sites.
    pub site_id: Uuid,
    #[schema(value_type = String)]
    pub sku: Sku,
    pub product: String,
    pub serial: String,
    /// `YYYY-MM-DD`
    #[schema(value_type = Option<String>, format = Date)]
    pub install_date: Option<Date>,
    /// Last day (UTC) the warranty covers, `YYYY-MM-DD`.
    #[schema(value_type = Option<String>, format = Date)]
    pub warranty_end: Option<Date>,
    pub contract_ref: Option<String>,
}

/// Fields to change (product and serial identify the asset and stay).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditAsset {
    pub site_id: Option<Uuid>,
    pub product: Option<String>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>, format = Date)]
    pub install_date: Option<Option<Date>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>, format = Date)]
    pub warranty_end: Option<Option<Date>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub contract_ref: Option<Option<String>>,
}

impl FreeText for NewCustomer {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        vec![("name", &self.name)]
    }
}

impl FreeText for EditCustomer {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        present([("name", self.name.as_deref())])
    }
}

impl FreeText for NewSite {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        present([
            ("name", self.name.as_deref()),
            ("address", Some(self.address.as_str())),
        ])
    }
}

impl FreeText for EditSite {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        present([
            ("name", self.name.as_ref().and_then(|n| n.as_deref())),
            ("address", self.address.as_deref()),
        ])
    }
}

/// Names are free text; e-mail and phone are contact data, checked as
/// such (a long international number may pass the Luhn test).
impl FreeText for NewContact {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        vec![("name", &self.name)]
    }
}

impl FreeText for EditContact {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        present([("name", self.name.as_deref())])
    }
}

/// Serials, skus and contract references are identifiers.
impl FreeText for NewAsset {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        vec![("product", &self.product)]
    }
}

impl FreeText for EditAsset {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        present([("product", self.product.as_deref())])
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Part of a name, or an exact e-mail, phone number, postcode or serial.
    /// Absent: every customer in scope, by name.
    pub q: Option<String>,
    /// At most this many (default 50, at most 200).
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AssetQuery {
    /// The product, when the serial is on more than one.
    pub sku: Option<String>,
    /// The spare part whose stock to report (default: the asset's product).
    pub part: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerList {
    pub customers: Vec<Customer>,
}

/// The warranty as of today (UTC).
#[derive(Debug, Serialize, ToSchema)]
pub struct Warranty {
    /// Last day covered; `null` when unknown.
    #[schema(value_type = Option<String>, format = Date)]
    pub end: Option<Date>,
    /// Whether today is on or before `end`.
    pub active: bool,
}

/// A warranty extension the customer can buy for the asset.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExtensionQuote {
    /// The price book's offer code.
    pub code: String,
    pub name: String,
    pub months: u32,
    /// Price before tax, in minor units of `currency`.
    pub price_minor: i64,
    /// The tax rate the invoice line will carry, in basis points.
    pub tax_rate_bps: u32,
    pub currency: String,
    pub terms: String,
    /// The warranty end if bought today: `months` after the current end,
    /// or after today when the warranty has ended or is unknown.
    #[schema(value_type = String, format = Date)]
    pub warranty_end_after: Date,
    /// The price book version that priced it.
    pub price_book_version: i64,
}

/// Whether a part is on the shelf at the depot nearest the asset.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartStock {
    #[schema(value_type = String)]
    pub sku: Sku,
    #[schema(value_type = String, format = Uuid)]
    pub depot_id: LocationId,
    pub depot_name: String,
    /// `site` (the asset's site names a depot) or `customer` (the
    /// customer's depot): see docs/customers.md.
    pub nearest_by: String,
    pub quantity: i64,
    pub in_stock: bool,
}

/// One asset with what a call about it needs.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetSummary {
    pub asset: Asset,
    pub warranty: Warranty,
    pub extension_offers: Vec<ExtensionQuote>,
    /// Jobs on the asset that are not closed (those the caller may see).
    pub open_jobs: Vec<Visit>,
    pub stock: PartStock,
}

/// `GET /v1/customers/{id}`: the customer's single view.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerView {
    pub customer: Customer,
    pub sites: Vec<Site>,
    pub contacts: Vec<Contact>,
    /// The installed base (a technician: the assets of their jobs).
    pub assets: Vec<AssetSummary>,
    /// Jobs for the customer that are not closed (those the caller may see).
    pub open_jobs: Vec<Visit>,
    /// Spare parts shipped (or being shipped) to the customer, newest
    /// first, with status and tracking (see docs/inventory.md).
    pub shipments: Vec<crate::shipments::model::Shipment>,
}

/// What happened to an asset.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetHistory {
    /// Every job made for the asset, newest first.
    pub visits: Vec<Visit>,
    /// Serialized parts the ledger records as fitted on those jobs.
    pub parts_fitted: Vec<FittedPart>,
    /// Recall campaigns that affect the asset, newest first, with where
    /// its remedy stands (see docs/recalls.md).
    pub recalls: Vec<crate::recalls::views::AssetRecall>,
    /// Warranty extensions sold on those jobs and applied when they
    /// completed, oldest first.
    pub warranty_extensions: Vec<super::warranty::WarrantyExtension>,
    /// Returns (RMA) opened on the asset's jobs, oldest first, with their
    /// RMA number, status and disposition (see docs/returns.md).
    pub returns: Vec<crate::returns::routes::ReturnView>,
}

/// `GET /v1/assets/{serial}`: the asset's single view.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetView {
    #[serde(flatten)]
    pub summary: AssetSummary,
    pub customer: Customer,
    pub site: Site,
    pub contacts: Vec<Contact>,
    pub history: AssetHistory,
    /// Spare parts shipped (or being shipped) to the asset's site, newest first.
    pub shipments: Vec<crate::shipments::model::Shipment>,
}
