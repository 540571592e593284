//! Customer registry values: plain data shared by the store, the service
//! and the API, and the normalised keys search compares.

use fieldsync_core::{LocationId, Sku};
use serde::Serialize;
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::str_enum::str_enum;

str_enum!(
    /// A customer account is a person or a company.
    CustomerKind { Person = "person", Company = "company" }
);

str_enum!(
    /// How a contact prefers to be reached.
    ContactChannel { Email = "email", Sms = "sms", Phone = "phone" }
);

/// A customer account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Customer {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    pub kind: CustomerKind,
    pub name: String,
    /// The language the customer is written to in (feedback form and emails).
    pub language: crate::i18n::Language,
    /// The depot that serves the customer.
    #[schema(value_type = String, format = Uuid)]
    pub depot_id: LocationId,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

/// An address of a customer where assets are installed and jobs happen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Site {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub customer_id: Uuid,
    pub name: Option<String>,
    pub address: String,
    pub postcode: Option<String>,
    /// The depot that serves this site, when not the customer's.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub depot_id: Option<LocationId>,
}

/// A person to talk to at a customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Contact {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub customer_id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub preferred_channel: ContactChannel,
    /// The contact asked not to receive feedback requests.
    pub feedback_opt_out: bool,
}

/// An installed unit of a product at a customer's site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Asset {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub customer_id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub site_id: Uuid,
    /// The product's sku (price book and parts catalog).
    #[schema(value_type = String)]
    pub sku: Sku,
    /// What people call the product.
    pub product: String,
    pub serial: String,
    #[schema(value_type = Option<String>, format = Date)]
    pub install_date: Option<Date>,
    /// Last day (UTC) the warranty covers.
    #[schema(value_type = Option<String>, format = Date)]
    pub warranty_end: Option<Date>,
    /// Service contract reference (the price book's contracts).
    pub contract_ref: Option<String>,
}

/// The registry records one job was made from (see sync-core's `Registry`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobRegistry {
    pub customer: Option<Uuid>,
    pub site: Option<Uuid>,
    pub asset: Option<Uuid>,
}

/// A job that referenced an asset or customer, as the jobs list has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Visit {
    #[schema(value_type = String, format = Uuid)]
    pub job_id: Uuid,
    pub status: String,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub technician_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub window_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<OffsetDateTime>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub asset_id: Option<Uuid>,
}

/// A serialized part the ledger records as fitted on one of an asset's jobs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FittedPart {
    #[schema(value_type = String)]
    pub sku: Sku,
    pub serial: String,
    #[schema(value_type = String, format = Uuid)]
    pub job_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub fitted_at: OffsetDateTime,
}

/// Lower-cased and trimmed: what names are matched on.
pub fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// An e-mail address as compared (trimmed, lower-cased).
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A phone number as compared: its digits only (`+351 900-000` and
/// `351900000` match). `None` when it holds none.
pub fn phone_key(phone: &str) -> Option<String> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

/// A postcode as compared: letters and digits only, lower-cased
/// (`1000 AB` = `1000ab`, `4050-262` = `4050262`).
pub fn postcode_key(postcode: &str) -> String {
    postcode
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A serial number as compared (trimmed, lower-cased).
pub fn serial_key(serial: &str) -> String {
    serial.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_normalise_what_people_type() {
        assert_eq!(name_key("  ACME Boilers "), "acme boilers");
        assert_eq!(email_key(" Ana@Example.COM"), "ana@example.com");
        assert_eq!(
            phone_key("+351 900-000 001").as_deref(),
            Some("351900000001")
        );
        assert_eq!(phone_key("n/a"), None);
        assert_eq!(postcode_key("1000 AB"), "1000ab");
        assert_eq!(postcode_key("4050-262"), "4050262");
        assert_eq!(serial_key(" BX-1 "), "bx-1");
    }
}
