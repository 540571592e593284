//! At-least-once delivery of the messages other features write into
//! `outbox_messages` in their own transactions.
//!
//! A worker task (started with the server, one per process) leases due
//! rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several processes
//! share the table), composes each message, sends it by SMTP or by the SMS
//! webhook, and records the outcome: sent; a retry after exponential
//! backoff; or failed (a permanent error, or the last allowed attempt).
//! A worker that dies mid-send loses its lease and another one retries, so
//! a message may be sent twice: the idempotency key (Message-ID, webhook
//! `Idempotency-Key`) lets the receiving side drop the duplicate.

mod email;
pub mod store;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::app::AppStore;
use crate::feedback::{Channel, Delivery, FeedbackSettings, OutboxMessage, messages};
use crate::store::now_utc;

pub use email::Mailer;
pub use store::OutboxStore;
pub use webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};

/// Messages a worker leases per round.
const BATCH: u32 = 16;

/// Why one attempt did not deliver.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later (connection refused, 4xx, timeouts).
    #[error("{0}")]
    Transient(String),
    /// Will never work (SMTP 5xx, bad address, webhook 4xx).
    #[error("{0}")]
    Permanent(String),
}

/// A composed message, ready for a channel.
#[derive(Clone, Debug)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The short form for SMS.
    pub sms: String,
}

/// The delivery worker of one process.
pub struct Worker {
    store: Arc<dyn AppStore>,
    settings: FeedbackSettings,
    public_url: String,
    mailer: Option<Mailer>,
    http: reqwest::Client,
    owner: String,
    /// The name, logo and colours of customers' messages.
    brand: Arc<crate::brand::Brand>,
    /// How invoice emails link the printable page.
    invoices: crate::invoices::InvoiceSettings,
}

impl Worker {
    /// `public_url` is the base of links in messages (no trailing slash).
    pub fn new(store: Arc<dyn AppStore>, settings: FeedbackSettings, public_url: String) -> Self {
        if public_url.contains("://0.0.0.0") || public_url.contains("://[::]") {
            tracing::warn!(%public_url, "links in messages use an unspecified address: set --public-url");
        }
        let mailer = match Mailer::from_settings(&settings) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "SMTP settings unusable: email messages will fail");
                None
            }
        };
        Self {
            store,
            settings,
            public_url: public_url.trim_end_matches('/').to_owned(),
            mailer,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            owner: Uuid::new_v4().to_string(),
            brand: Arc::new(crate::brand::Brand::default()),
            invoices: crate::invoices::InvoiceSettings::default(),
        }
    }

    /// Customers' messages carry `brand` (default: Fieldsync's own).
    pub fn with_brand(mut self, brand: Arc<crate::brand::Brand>) -> Self {
        self.brand = brand;
        self
    }

    /// The invoice settings the server runs with (default: the defaults).
    pub fn with_invoices(mut self, invoices: crate::invoices::InvoiceSettings) -> Self {
        self.invoices = invoices;
        self
    }

    /// Runs rounds forever, one every `outbox_poll_ms` (sooner while
    /// rounds find work).
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move {
            let idle = Duration::from_millis(self.settings.outbox_poll_ms.max(10));
            loop {
                let busy = match self.run_once().await {
                    Ok(n) => n == BATCH as usize,
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox round failed");
                        false
                    }
                };
                if !busy {
                    tokio::time::sleep(idle).await;
                }
            }
        })
    }

    /// One round: lease due messages and try each once. Returns how many.
    pub async fn run_once(&self) -> crate::store::Result<usize> {
        self.run_once_at(now_utc()).await
    }

    /// [`Self::run_once`] as if the time were `now`: what is due, leases,
    /// link expiry and retry times all count from it. Tests drive the worker
    /// this way (explicit rounds, an injected clock) instead of sleeping and
    /// hoping a background round has or has not happened.
    pub async fn run_once_at(&self, now: OffsetDateTime) -> crate::store::Result<usize> {
        // Later times in the round are `now` plus the time the round took.
        let started = std::time::Instant::now();
        let lease = now + Duration::from_secs(self.settings.outbox_lease_secs.max(1));
        let due = self
            .store
            .claim_outbox(&self.owner, now, lease, BATCH)
            .await?;
        for message in &due {
            let delivery = match self.attempt(message, now + started.elapsed()).await {
                Ok(()) => {
                    tracing::info!(message = %message.id, kind = message.kind.as_str(), "message sent");
                    Delivery::Sent
                }
                Err(SendError::Permanent(error)) => {
                    tracing::warn!(message = %message.id, %error, "message failed permanently");
                    Delivery::Failed { error }
                }
                Err(SendError::Transient(error)) => {
                    let at = now + started.elapsed() + self.settings.backoff(message.attempts);
                    tracing::info!(message = %message.id, attempts = message.attempts, %error, "message will be retried");
                    Delivery::Retry { at, error }
                }
            };
            self.store
                .finish_outbox(message.id, &self.owner, &delivery, now + started.elapsed())
                .await?;
        }
        Ok(due.len())
    }

    async fn attempt(&self, message: &OutboxMessage, now: OffsetDateTime) -> Result<(), SendError> {
        use crate::feedback::MessageKind;
        let composed = if message.kind == MessageKind::DeskAlert {
            crate::desk::messages::compose(self.store.as_ref(), &self.public_url, message).await?
        } else if matches!(
            message.kind,
            MessageKind::Invoice | MessageKind::InvoiceReminder
        ) {
            crate::invoices::pages::compose(
                self.store.as_ref(),
                &self.invoices,
                &self.brand,
                &self.public_url,
                message,
                now,
            )
            .await?
        } else {
            messages::compose(
                self.store.as_ref(),
                &self.settings,
                &self.brand,
                &self.public_url,
                message,
                now,
            )
            .await?
        };
        match message.channel {
            Channel::Email => {
                let mailer = self.mailer.as_ref().ok_or_else(|| {
                    SendError::Transient("no SMTP relay configured (--smtp-host)".into())
                })?;
                mailer
                    .send(&message.recipient, &message.idempotency_key, &composed)
                    .await
            }
            Channel::Sms => {
                webhook::send(
                    &self.http,
                    &self.settings,
                    &message.recipient,
                    &message.idempotency_key,
                    &composed.sms,
                    OffsetDateTime::now_utc(),
                )
                .await
            }
        }
    }
}

impl From<crate::store::StoreError> for SendError {
    fn from(e: crate::store::StoreError) -> Self {
        SendError::Transient(format!("database: {e}"))
    }
}
