//! The dispatch API's JSON bodies. Requests are plain, checked shapes that
//! become sync-core's types; a job is answered as sync-core reads it.

use fieldsync_core::billing::Invoice;
use fieldsync_core::job::{
    Asset, ChecklistQuestion, Customer, DetailsEdit, Priority, Site, Window,
};
use fieldsync_core::{Email, Job, JobId, JobSpec, LineId, Status, Timestamp, UserId};
use serde::{Deserialize, Deserializer, Serialize};
use time::{Date, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::JobRow;
use super::rejections::RejectionRecord;
use crate::error::ApiError;
use crate::freetext::{FreeText, present};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerIn {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The customer asked not to be sent feedback requests.
    #[serde(default)]
    pub feedback_opt_out: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteIn {
    pub name: Option<String>,
    pub address: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetIn {
    pub product: String,
    pub serial: Option<String>,
    /// Last day (UTC) of the manufacturer's warranty, `YYYY-MM-DD`.
    #[schema(value_type = Option<String>, format = Date)]
    pub warranty_end: Option<Date>,
    /// Service contract reference (looked up in the price book).
    pub contract_ref: Option<String>,
}

/// The appointment window, RFC 3339 instants.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowIn {
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub end: OffsetDateTime,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecklistIn {
    pub question: String,
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateJob {
    /// Optional id chosen by the client so a retried create cannot make a
    /// second job (a retry with an existing id is a 409).
    pub id: Option<Uuid>,
    /// The customer as the job shows it; required unless `customer_id`
    /// (or a `site_id` or `asset_id`, which imply it) is given instead.
    pub customer: Option<CustomerIn>,
    /// Required unless `site_id` or `asset_id` is given instead.
    pub site: Option<SiteIn>,
    /// Required unless `asset_id` is given instead.
    pub asset: Option<AssetIn>,
    /// A registry customer (`/v1/customers`): the job copies its name and
    /// its first contact's e-mail, phone and feedback opt-out.
    pub customer_id: Option<Uuid>,
    /// One of the customer's sites: the job copies its name and address.
    pub site_id: Option<Uuid>,
    /// One of the customer's assets: the job copies product, serial,
    /// warranty end and contract (and takes its site when `site_id` is absent).
    pub asset_id: Option<Uuid>,
    pub problem: String,
    #[schema(value_type = String, example = "normal")]
    pub priority: Priority,
    pub window: WindowIn,
    /// The technician to assign, if any yet.
    pub technician_id: Option<Uuid>,
    #[serde(default)]
    pub checklist: Vec<ChecklistIn>,
}

/// Fields to change; absent fields stay. For optional fields `null` clears.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditJob {
    pub customer_name: Option<String>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub customer_email: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub customer_phone: Option<Option<String>>,
    pub feedback_opt_out: Option<bool>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub site_name: Option<Option<String>>,
    pub site_address: Option<String>,
    pub asset_product: Option<String>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub asset_serial: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>, format = Date)]
    pub warranty_end: Option<Option<Date>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub contract_ref: Option<Option<String>>,
    pub problem: Option<String>,
    #[schema(value_type = Option<String>)]
    pub priority: Option<Priority>,
    pub window: Option<WindowIn>,
    /// Replaces the notes; merged with concurrent edits made on devices.
    pub notes: Option<String>,
}

/// A present field (even `null`) is `Some`, so `null` can mean "clear".
fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignJob {
    /// The new technician; `null` unassigns.
    pub technician_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelJob {
    pub reason: String,
}

impl FreeText for CreateJob {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        let (c, s, a) = (&self.customer, &self.site, &self.asset);
        let mut out = present([
            ("customer.name", c.as_ref().map(|c| c.name.as_str())),
            (
                "customer.email",
                c.as_ref().and_then(|c| c.email.as_deref()),
            ),
            (
                "customer.phone",
                c.as_ref().and_then(|c| c.phone.as_deref()),
            ),
            ("site.name", s.as_ref().and_then(|s| s.name.as_deref())),
            ("site.address", s.as_ref().map(|s| s.address.as_str())),
            ("asset.product", a.as_ref().map(|a| a.product.as_str())),
            (
                "asset.contract_ref",
                a.as_ref().and_then(|a| a.contract_ref.as_deref()),
            ),
            ("problem", Some(self.problem.as_str())),
        ]);
        out.extend(
            self.checklist
                .iter()
                .map(|q| ("checklist.question", q.question.as_str())),
        );
        out
    }
}

impl FreeText for EditJob {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        fn nested(o: &Option<Option<String>>) -> Option<&str> {
            o.as_ref().and_then(|v| v.as_deref())
        }
        present([
            ("customer_name", self.customer_name.as_deref()),
            ("customer_email", nested(&self.customer_email)),
            ("customer_phone", nested(&self.customer_phone)),
            ("site_name", nested(&self.site_name)),
            ("site_address", self.site_address.as_deref()),
            ("asset_product", self.asset_product.as_deref()),
            ("contract_ref", nested(&self.contract_ref)),
            ("problem", self.problem.as_deref()),
            ("notes", self.notes.as_deref()),
        ])
    }
}

impl FreeText for AssignJob {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

impl FreeText for CancelJob {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        vec![("reason", &self.reason)]
    }
}

/// One job as its document reads, with the invoice computed from it.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    /// The work order (see sync-core's `Job`).
    #[schema(value_type = Object)]
    pub job: Job,
    /// Invoice lines and totals in minor units; `null` before a price book exists.
    #[schema(value_type = Option<Object>)]
    pub billing: Option<Invoice>,
    /// The document's stored version (grows with every stored change).
    pub version: i64,
    /// Who wrote each value in `job.conflicts`, by actor, as the server knows it.
    pub writers: Vec<ConflictWriter>,
}

/// The writer behind an actor of `job.conflicts[].values[].actor`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConflictWriter {
    pub actor: String,
    /// `device` (a user's registered device; `user_id` and `username` name
    /// its user), `office_api` (an edit through this API; `user_id` and
    /// `username` name the office user who made it), `server` (the server's
    /// own upgrades) or `unknown`.
    pub kind: String,
    pub user_id: Option<Uuid>,
    pub username: Option<String>,
    pub device_id: Option<Uuid>,
}

/// `POST /v1/jobs/{id}/conflicts/resolve`: keep the value `actor` wrote.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveConflict {
    /// The conflict's `field`, e.g. `/window` or `/site/address`.
    pub field: String,
    /// The `actor` of the value to keep.
    pub actor: String,
}

/// A path and an actor id, no text a person types: the kept value is one
/// already in the job, checked when it was written.
impl FreeText for ResolveConflict {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

/// One row of the jobs list (the SQL projection).
#[derive(Debug, Serialize, ToSchema)]
pub struct JobSummary {
    #[schema(value_type = String, format = Uuid)]
    pub id: JobId,
    #[schema(value_type = String)]
    pub status: Status,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub technician_id: Option<UserId>,
    pub customer_name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub window_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub window_end: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<OffsetDateTime>,
    /// Invoice total in minor units of `currency`.
    pub total_minor: i64,
    pub currency: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<JobRow> for JobSummary {
    fn from(row: JobRow) -> Self {
        let p = row.projection;
        Self {
            id: p.job_id,
            status: p.status,
            technician_id: p.technician_id,
            customer_name: p.customer_name,
            window_start: p.window_start,
            window_end: p.window_end,
            completed_at: p.completed_at,
            total_minor: p.total_minor,
            currency: p.currency,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    pub jobs: Vec<JobSummary>,
}

/// Filters of `GET /v1/jobs`; each narrows the list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// scheduled, travelling, on_site, completed, unable_to_complete, cancelled
    pub status: Option<String>,
    pub technician_id: Option<Uuid>,
    /// Window starts on or after this day (UTC), `YYYY-MM-DD`.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<Date>,
    /// Window starts on or before this day (UTC), `YYYY-MM-DD`.
    #[param(value_type = Option<String>, format = Date)]
    pub until: Option<Date>,
    /// Case-insensitive part of the customer's name.
    pub customer: Option<String>,
    /// At most this many jobs (default 100, at most 1000).
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RejectionsQuery {
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// A job's rejection record (`GET /v1/jobs/{id}/rejections`).
#[derive(Debug, Serialize, ToSchema)]
pub struct JobRejections {
    pub rejections: Vec<RejectionRecord>,
}

pub fn timestamp(t: OffsetDateTime) -> Timestamp {
    Timestamp(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
}

fn window(w: &WindowIn) -> Result<Window, ApiError> {
    Window::new(timestamp(w.start), timestamp(w.end)).map_err(bad)
}

fn email(e: Option<&str>) -> Result<Option<Email>, ApiError> {
    e.map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| e.parse::<Email>().map_err(bad))
        .transpose()
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

/// One part of a new job: from the body or from the registry, never both.
fn one_of<T>(what: &str, given: Option<T>, registry: Option<T>) -> Result<T, ApiError> {
    match (given, registry) {
        (Some(_), Some(_)) => Err(ApiError::BadRequest(format!(
            "give {what} or its registry id, not both"
        ))),
        (Some(v), None) | (None, Some(v)) => Ok(v),
        (None, None) => Err(ApiError::BadRequest(format!("{what} is required"))),
    }
}

impl CreateJob {
    /// The job to create; `registry` holds the snapshots of the registry
    /// records the body names by id (`customer_id`, `site_id`, `asset_id`).
    pub fn into_spec(
        self,
        registry: (Option<Customer>, Option<Site>, Option<Asset>),
    ) -> Result<JobSpec, ApiError> {
        let given_customer = self
            .customer
            .map(|c| {
                Ok::<_, ApiError>(Customer {
                    email: email(c.email.as_deref())?,
                    name: c.name,
                    phone: c.phone,
                    feedback_opt_out: c.feedback_opt_out,
                })
            })
            .transpose()?;
        let given_site = self.site.map(|s| Site {
            name: s.name,
            address: s.address,
        });
        let given_asset = self.asset.map(|a| Asset {
            product: a.product,
            serial: a.serial,
            warranty_end: a.warranty_end,
            contract_ref: a.contract_ref,
        });
        Ok(JobSpec {
            id: JobId::from_uuid(self.id.unwrap_or_else(Uuid::new_v4)),
            customer: one_of("customer", given_customer, registry.0)?,
            site: one_of("site", given_site, registry.1)?,
            asset: one_of("asset", given_asset, registry.2)?,
            problem: self.problem,
            priority: self.priority,
            window: window(&self.window)?,
            technician: self.technician_id.map(UserId::from_uuid),
            checklist: self
                .checklist
                .into_iter()
                .map(|q| ChecklistQuestion {
                    id: LineId::from_uuid(Uuid::new_v4()),
                    question: q.question,
                    required: q.required,
                })
                .collect(),
        })
    }
}

impl EditJob {
    /// The details part of the edit, `None` if it changes no detail.
    pub fn details(&self) -> Result<Option<DetailsEdit>, ApiError> {
        let edit = DetailsEdit {
            customer_name: self.customer_name.clone(),
            customer_email: self
                .customer_email
                .as_ref()
                .map(|e| email(e.as_deref()))
                .transpose()?,
            customer_phone: self.customer_phone.clone(),
            feedback_opt_out: self.feedback_opt_out,
            site_name: self.site_name.clone(),
            site_address: self.site_address.clone(),
            asset_product: self.asset_product.clone(),
            asset_serial: self.asset_serial.clone(),
            warranty_end: self.warranty_end,
            contract_ref: self.contract_ref.clone(),
            problem: self.problem.clone(),
            priority: self.priority,
        };
        Ok((edit != DetailsEdit::default()).then_some(edit))
    }

    pub fn window(&self) -> Result<Option<Window>, ApiError> {
        self.window.as_ref().map(window).transpose()
    }
}
