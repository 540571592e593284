//! Feedback values the store reads and writes: plain data, no SQL.

use std::fmt;
use std::str::FromStr;

use fieldsync_core::{JobId, Status, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

pub use super::questions::Answer;

/// How a customer is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

impl FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "email" => Ok(Channel::Email),
            "sms" => Ok(Channel::Sms),
            other => Err(format!("unknown channel {other:?}")),
        }
    }
}

/// Why a message is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// The link to a customer's feedback form.
    FeedbackRequest,
    /// A low result, to the depot's supervisor.
    FollowupAlert,
    /// A service desk item past its due time, to its team's supervisor.
    DeskAlert,
    /// An issued invoice, to its customer.
    Invoice,
    /// A reminder of an invoice still open, to its customer.
    InvoiceReminder,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::FeedbackRequest => "feedback_request",
            MessageKind::FollowupAlert => "followup_alert",
            MessageKind::DeskAlert => "desk_alert",
            MessageKind::Invoice => "invoice",
            MessageKind::InvoiceReminder => "invoice_reminder",
        }
    }
}

impl FromStr for MessageKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "feedback_request" => Ok(MessageKind::FeedbackRequest),
            "followup_alert" => Ok(MessageKind::FollowupAlert),
            "desk_alert" => Ok(MessageKind::DeskAlert),
            "invoice" => Ok(MessageKind::Invoice),
            "invoice_reminder" => Ok(MessageKind::InvoiceReminder),
            other => Err(format!("unknown message kind {other:?}")),
        }
    }
}

/// Where an outbox message is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Waiting for its next attempt (possibly leased by a worker right now).
    Pending,
    Sent,
    /// Gave up: a permanent error, or the last allowed attempt failed.
    Failed,
    /// The recipient unsubscribed before it was sent.
    Cancelled,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Pending => "pending",
            MessageStatus::Sent => "sent",
            MessageStatus::Failed => "failed",
            MessageStatus::Cancelled => "cancelled",
        }
    }
}

impl FromStr for MessageStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(MessageStatus::Pending),
            "sent" => Ok(MessageStatus::Sent),
            "failed" => Ok(MessageStatus::Failed),
            "cancelled" => Ok(MessageStatus::Cancelled),
            other => Err(format!("unknown message status {other:?}")),
        }
    }
}

/// What the commit of a job document stores so its customer is asked for
/// feedback: built by [`crate::feedback::trigger_for`], written by the
/// store inside the commit's transaction (insert-or-ignore per job).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedbackTrigger {
    /// Used only if this commit is the one that creates the request.
    pub request_id: Uuid,
    pub message_id: Uuid,
    pub job_id: JobId,
    pub job_status: Status,
    pub technician_id: Option<UserId>,
    pub customer_name: String,
    pub channel: Channel,
    /// Normalized email or phone the message goes to.
    pub contact: String,
    /// Every normalized contact of the customer: any one on the
    /// unsubscribe list stops the request.
    pub opt_out_keys: Vec<String>,
    /// `YYYY-MM-DD`, the day of the visit as the customer saw it.
    pub visit_date: String,
    /// What was done, as shown to the customer (no prices).
    pub work_done: String,
    pub send_after: OffsetDateTime,
    pub max_attempts: u32,
}

/// A feedback request with its answers (if any), as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FeedbackRequest {
    pub id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub job_id: JobId,
    #[schema(value_type = String)]
    pub job_status: Status,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub technician_id: Option<UserId>,
    /// The technician's display name (full; customers see the first word).
    pub technician_name: Option<String>,
    pub depot_id: Option<Uuid>,
    pub customer_name: String,
    pub channel: Channel,
    pub contact: String,
    pub visit_date: String,
    pub work_done: String,
    /// The customer's language (from the customer record the job was made
    /// from; `en` for a job with a typed-in customer): the form and its
    /// emails are written in it.
    pub language: crate::i18n::Language,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub answer: Option<Answer>,
}

impl FeedbackRequest {
    /// The first word of the technician's display name, for customers.
    pub fn technician_first_name(&self) -> Option<&str> {
        self.technician_name
            .as_deref()
            .and_then(|n| n.split_whitespace().next())
    }
}

/// What submitting a form led to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubmitOutcome {
    Recorded { followup: bool },
    AlreadyAnswered,
}

/// One message in the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct OutboxMessage {
    pub id: Uuid,
    pub kind: MessageKind,
    pub channel: Channel,
    pub recipient: String,
    pub request_id: Option<Uuid>,
    /// The service desk item an alert is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desk_item_id: Option<Uuid>,
    /// The invoice (its job's id) an invoice email or reminder is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<Uuid>,
    /// Stable across retries: the email Message-ID and the webhook's
    /// `Idempotency-Key` carry it so the far side can drop duplicates.
    pub idempotency_key: String,
    pub status: MessageStatus,
    pub attempts: u32,
    pub max_attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
}

/// How one delivery attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Try again at this time.
    Retry {
        at: OffsetDateTime,
        error: String,
    },
    /// Never try again.
    Failed {
        error: String,
    },
}

/// A low result waiting for (or given) a supervisor's attention.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Followup {
    pub id: Uuid,
    pub request_id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub job_id: JobId,
    pub depot_id: Option<Uuid>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub technician_id: Option<UserId>,
    pub technician_name: Option<String>,
    pub customer_name: String,
    pub reason: String,
    pub comment: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
}

/// A depot, by id and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Depot {
    pub id: Uuid,
    pub name: String,
}

/// Which requests a listing returns; `None` means any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestFilter {
    /// Created at or after.
    pub from: Option<OffsetDateTime>,
    /// Created before.
    pub until: Option<OffsetDateTime>,
    /// Only these depots (a supervisor's scope).
    pub depots: Option<Vec<Uuid>>,
    pub job_id: Option<JobId>,
    /// Only this technician's visits (their own feedback).
    pub technician: Option<UserId>,
    /// Only requests the customer answered.
    pub answered_only: bool,
    /// At most this many, newest first (capped at 10 000).
    pub limit: Option<u32>,
    /// Skip this many first (paging).
    pub offset: Option<u32>,
}

impl RequestFilter {
    pub(crate) fn limit(&self) -> i64 {
        i64::from(self.limit.unwrap_or(10_000).clamp(1, 10_000))
    }
}

/// Normalized form of a customer contact, as matched against the
/// unsubscribe list: trimmed lower-case email, or a phone's digits (with a
/// leading `+` kept).
pub fn normalize_contact(raw: &str) -> String {
    let raw = raw.trim();
    if raw.contains('@') {
        raw.to_lowercase()
    } else {
        let plus = raw.starts_with('+');
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        if plus { format!("+{digits}") } else { digits }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
