//! Flags and environment variables of feedback requests and their delivery.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, ValueEnum};

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SmtpTls {
    /// Plain text. Only for a relay on the same host or in tests.
    None,
    /// Plain connection upgraded with STARTTLS (required), usually port 587.
    Starttls,
    /// TLS from the first byte, usually port 465.
    Tls,
}

/// Feedback and outbox settings. `Debug` hides the SMTP password and the
/// webhook secret.
#[derive(Clone, Args)]
pub struct FeedbackSettings {
    /// Seconds between a job's completion and its feedback request.
    #[arg(long, env = "FIELDSYNC_FEEDBACK_DELAY_SECS", default_value_t = 2 * 60 * 60, global = true)]
    pub feedback_delay_secs: u64,
    /// Also ask for feedback when a job ends as unable_to_complete.
    #[arg(long, env = "FIELDSYNC_FEEDBACK_UNABLE_TO_COMPLETE", default_value_t = false, action = ArgAction::Set, global = true)]
    pub feedback_unable_to_complete: bool,
    /// Lifetime of a feedback link, in seconds (default 14 days).
    #[arg(long, env = "FIELDSYNC_FEEDBACK_LINK_TTL_SECS", default_value_t = 14 * 24 * 60 * 60, global = true)]
    pub feedback_link_ttl_secs: u64,
    /// Feedback form lookups allowed per client IP per minute (429 above it).
    #[arg(
        long,
        env = "FIELDSYNC_FEEDBACK_RATE_PER_MIN",
        default_value_t = 30,
        global = true
    )]
    pub feedback_rate_per_min: u32,
    /// Base URL customers reach this server at, for links in messages
    /// (default: http://<listen address>).
    #[arg(long, env = "FIELDSYNC_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// SMTP relay host; without it, email messages fail (visibly) and retry.
    #[arg(long, env = "FIELDSYNC_SMTP_HOST", global = true)]
    pub smtp_host: Option<String>,
    #[arg(
        long,
        env = "FIELDSYNC_SMTP_PORT",
        default_value_t = 587,
        global = true
    )]
    pub smtp_port: u16,
    #[arg(long, env = "FIELDSYNC_SMTP_TLS", value_enum, default_value_t = SmtpTls::Starttls, global = true)]
    pub smtp_tls: SmtpTls,
    /// PEM file of certificates to trust for the SMTP relay besides the
    /// public roots: a relay with a private CA or a self-signed certificate.
    #[arg(long, env = "FIELDSYNC_SMTP_CA_FILE", global = true)]
    pub smtp_ca_file: Option<PathBuf>,
    #[arg(long, env = "FIELDSYNC_SMTP_USERNAME", global = true)]
    pub smtp_username: Option<String>,
    #[arg(
        long,
        env = "FIELDSYNC_SMTP_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub smtp_password: Option<String>,
    /// From header of outgoing email.
    #[arg(
        long,
        env = "FIELDSYNC_MAIL_FROM",
        default_value = "Fieldsync <feedback@localhost>",
        global = true
    )]
    pub mail_from: String,
    /// SMS gateway webhook (signed JSON POST); customers without an email
    /// get an SMS only when this is set.
    #[arg(long, env = "FIELDSYNC_SMS_WEBHOOK_URL", global = true)]
    pub sms_webhook_url: Option<String>,
    /// HMAC-SHA256 key for the webhook's signature header.
    #[arg(
        long,
        env = "FIELDSYNC_SMS_WEBHOOK_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub sms_webhook_secret: Option<String>,
    /// Run the outbox delivery worker in this process.
    #[arg(long, env = "FIELDSYNC_OUTBOX_WORKER", default_value_t = true, action = ArgAction::Set, global = true)]
    pub outbox_worker: bool,
    /// How often the worker looks for due messages, in milliseconds.
    #[arg(
        long,
        env = "FIELDSYNC_OUTBOX_POLL_MS",
        default_value_t = 1000,
        global = true
    )]
    pub outbox_poll_ms: u64,
    /// Delivery attempts before a message is marked failed.
    #[arg(
        long,
        env = "FIELDSYNC_OUTBOX_MAX_ATTEMPTS",
        default_value_t = 10,
        global = true
    )]
    pub outbox_max_attempts: u32,
    /// First retry delay in milliseconds; doubles per attempt.
    #[arg(
        long,
        env = "FIELDSYNC_OUTBOX_BACKOFF_MS",
        default_value_t = 30_000,
        global = true
    )]
    pub outbox_backoff_ms: u64,
    /// Longest retry delay, in seconds.
    #[arg(long, env = "FIELDSYNC_OUTBOX_BACKOFF_MAX_SECS", default_value_t = 6 * 60 * 60, global = true)]
    pub outbox_backoff_max_secs: u64,
    /// How long a worker owns a claimed message before another may retry it.
    #[arg(
        long,
        env = "FIELDSYNC_OUTBOX_LEASE_SECS",
        default_value_t = 120,
        global = true
    )]
    pub outbox_lease_secs: u64,
}

impl Default for FeedbackSettings {
    fn default() -> Self {
        Self {
            feedback_delay_secs: 2 * 60 * 60,
            feedback_unable_to_complete: false,
            feedback_link_ttl_secs: 14 * 24 * 60 * 60,
            feedback_rate_per_min: 30,
            public_url: None,
            smtp_host: None,
            smtp_port: 587,
            smtp_tls: SmtpTls::Starttls,
            smtp_ca_file: None,
            smtp_username: None,
            smtp_password: None,
            mail_from: "Fieldsync <feedback@localhost>".into(),
            sms_webhook_url: None,
            sms_webhook_secret: None,
            outbox_worker: true,
            outbox_poll_ms: 1000,
            outbox_max_attempts: 10,
            outbox_backoff_ms: 30_000,
            outbox_backoff_max_secs: 6 * 60 * 60,
            outbox_lease_secs: 120,
        }
    }
}

impl FeedbackSettings {
    pub fn delay(&self) -> Duration {
        Duration::from_secs(self.feedback_delay_secs)
    }

    pub fn link_ttl(&self) -> Duration {
        Duration::from_secs(self.feedback_link_ttl_secs)
    }

    pub fn sms_enabled(&self) -> bool {
        self.sms_webhook_url.is_some()
    }

    /// Delay before retry number `attempts` (1 = after the first failure):
    /// base * 2^(attempts-1), capped, plus up to 10% jitter so a burst of
    /// failures does not retry in lockstep.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let base = self.outbox_backoff_ms.max(1);
        let exp = attempts.saturating_sub(1).min(30);
        let ms = base
            .saturating_mul(1u64 << exp)
            .min(self.outbox_backoff_max_secs.saturating_mul(1000).max(base));
        let jitter = if ms >= 10 {
            rand::random_range(0..ms / 10)
        } else {
            0
        };
        Duration::from_millis(ms + jitter)
    }
}

impl fmt::Debug for FeedbackSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |o: &Option<String>| o.as_ref().map(|_| "<hidden>");
        f.debug_struct("FeedbackSettings")
            .field("feedback_delay_secs", &self.feedback_delay_secs)
            .field(
                "feedback_unable_to_complete",
                &self.feedback_unable_to_complete,
            )
            .field("feedback_link_ttl_secs", &self.feedback_link_ttl_secs)
            .field("feedback_rate_per_min", &self.feedback_rate_per_min)
            .field("public_url", &self.public_url)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("smtp_tls", &self.smtp_tls)
            .field("smtp_ca_file", &self.smtp_ca_file)
            .field("smtp_username", &self.smtp_username)
            .field("smtp_password", &hidden(&self.smtp_password))
            .field("mail_from", &self.mail_from)
            .field("sms_webhook_url", &self.sms_webhook_url)
            .field("sms_webhook_secret", &hidden(&self.sms_webhook_secret))
            .field("outbox_worker", &self.outbox_worker)
            .field("outbox_poll_ms", &self.outbox_poll_ms)
            .field("outbox_max_attempts", &self.outbox_max_attempts)
            .field("outbox_backoff_ms", &self.outbox_backoff_ms)
            .field("outbox_backoff_max_secs", &self.outbox_backoff_max_secs)
            .field("outbox_lease_secs", &self.outbox_lease_secs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let s = FeedbackSettings {
            outbox_backoff_ms: 1000,
            outbox_backoff_max_secs: 10,
            ..FeedbackSettings::default()
        };
        let ms = |n| s.backoff(n).as_millis() as u64;
        assert!((1000..1100).contains(&ms(1)));
        assert!((2000..2200).contains(&ms(2)));
        assert!((8000..8800).contains(&ms(4)));
        assert!((10_000..11_000).contains(&ms(9)));
        assert!((10_000..11_000).contains(&ms(200)));
    }

    #[test]
    fn debug_hides_secrets() {
        let s = FeedbackSettings {
            smtp_password: Some("hunter2".into()),
            sms_webhook_secret: Some("s3cret".into()),
            ..FeedbackSettings::default()
        };
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
}
