//! Email over SMTP (lettre, rustls): text and HTML parts, the message's
//! idempotency key as its Message-ID and in `X-Fieldsync-Idempotency-Key`.

use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Composed, SendError};
use crate::feedback::{FeedbackSettings, SmtpTls};

/// A pooled SMTP transport built from the settings.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("invalid --mail-from: {0}")]
    From(#[source] lettre::address::AddressError),
    #[error("SMTP TLS setup: {0}")]
    Tls(#[source] lettre::transport::smtp::Error),
    #[error("cannot read --smtp-ca-file {path}: {source}")]
    CaFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl Mailer {
    /// `None` when no SMTP host is configured.
    pub fn from_settings(s: &FeedbackSettings) -> Result<Option<Self>, MailerError> {
        let Some(host) = &s.smtp_host else {
            return Ok(None);
        };
        let from: Mailbox = s.mail_from.parse().map_err(MailerError::From)?;
        let tls = match s.smtp_tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(tls_parameters(host, s)?),
            SmtpTls::Tls => Tls::Wrapper(tls_parameters(host, s)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
            .port(s.smtp_port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(30)));
        if let (Some(user), Some(password)) = (&s.smtp_username, &s.smtp_password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Some(Self {
            transport: builder.build(),
            from,
        }))
    }

    pub async fn send(
        &self,
        to: &str,
        idempotency_key: &str,
        composed: &Composed,
    ) -> Result<(), SendError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("invalid recipient address: {e}")))?;
        let domain = self.from.email.domain().to_owned();
        let mut message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(composed.subject.clone())
            .message_id(Some(format!("<{idempotency_key}@{domain}>")))
            .multipart(MultiPart::alternative_plain_html(
                composed.text.clone(),
                composed.html.clone(),
            ))
            .map_err(|e| SendError::Permanent(format!("cannot build email: {e}")))?;
        message.headers_mut().insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Fieldsync-Idempotency-Key"),
            idempotency_key.to_owned(),
        ));
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("SMTP: {e}"))),
            Err(e) => Err(SendError::Transient(format!("SMTP: {e}"))),
        }
    }
}

/// The public roots, plus the certificates of `--smtp-ca-file` if given.
fn tls_parameters(host: &str, s: &FeedbackSettings) -> Result<TlsParameters, MailerError> {
    let mut builder = TlsParameters::builder(host.to_owned());
    if let Some(path) = &s.smtp_ca_file {
        let pem = std::fs::read(path).map_err(|source| MailerError::CaFile {
            path: path.clone(),
            source,
        })?;
        builder =
            builder.add_root_certificate(Certificate::from_pem(&pem).map_err(MailerError::Tls)?);
    }
    builder.build().map_err(MailerError::Tls)
}
