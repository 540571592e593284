//! The text of outgoing feedback messages, composed at send time (the link
//! token is minted here, per attempt, so no usable token rests in the
//! database: only its hash).

use maud::{DOCTYPE, html};
use time::OffsetDateTime;

use super::FeedbackStore;
use super::questions::{Kind, QUESTIONS};
use super::{FeedbackSettings, MessageKind, OutboxMessage, new_token};
use crate::outbox::{Composed, SendError};

pub async fn compose(
    store: &dyn FeedbackStore,
    settings: &FeedbackSettings,
    public_url: &str,
    message: &OutboxMessage,
    now: OffsetDateTime,
) -> Result<Composed, SendError> {
    let request_id = message
        .request_id
        .ok_or_else(|| SendError::Permanent("message has no feedback request".into()))?;
    let request = store.feedback_request(request_id).await?;
    let tech = request
        .technician_first_name()
        .unwrap_or("our technician")
        .to_owned();
    match message.kind {
        MessageKind::FeedbackRequest => {
            let (token, hash) = new_token();
            store
                .insert_feedback_token(request.id, &hash, now, now + settings.link_ttl())
                .await?;
            let link = format!("{public_url}/feedback/{token}");
            let unsubscribe = format!("{link}/unsubscribe");
            let greeting = first_word(&request.customer_name)
                .map(|n| format!("Hello {n},"))
                .unwrap_or_else(|| "Hello,".into());
            let subject = format!("How did {tech}'s visit on {} go?", request.visit_date);
            let text = format!(
                "{greeting}\n\n{tech} visited you on {date} ({work}).\n\
                 Could you tell us how it went? It takes a minute:\n\n{link}\n\n\
                 Thank you.\n\n\
                 To receive no more feedback requests: {unsubscribe}\n",
                date = request.visit_date,
                work = request.work_done,
            );
            let html = html! {
                (DOCTYPE)
                html lang="en" {
                    body style="font-family: sans-serif; color: #1a1a1a; line-height: 1.5" {
                        p { (greeting) }
                        p { (tech) " visited you on " (request.visit_date) " (" (request.work_done) ")." }
                        p { "Could you tell us how it went? It takes a minute." }
                        p {
                            a href=(link) style="display: inline-block; padding: 12px 20px; background: #0b57d0; color: #ffffff; text-decoration: none; border-radius: 6px" {
                                "Give feedback"
                            }
                        }
                        p { "Or open this link: " a href=(link) { (link) } }
                        p style="font-size: 0.9em; color: #444" {
                            a href=(unsubscribe) { "Receive no more feedback requests" }
                        }
                    }
                }
            };
            let sms = format!(
                "How did {tech}'s visit on {date} go? Tell us in a minute: {link} \
                 (no more requests: {unsubscribe})",
                date = request.visit_date,
            );
            Ok(Composed {
                subject,
                text,
                html: html.into_string(),
                sms,
            })
        }
        // Composed by the desk (see outbox::Worker::attempt).
        MessageKind::DeskAlert | MessageKind::Invoice | MessageKind::InvoiceReminder => {
            Err(SendError::Permanent("not a feedback message".into()))
        }
        MessageKind::FollowupAlert => {
            let answer = request
                .answer
                .as_ref()
                .ok_or_else(|| SendError::Permanent("alert for an unanswered request".into()))?;
            let console = format!("{public_url}/console/feedback/followups");
            let who = request.technician_name.as_deref().unwrap_or("(unassigned)");
            let subject = format!(
                "Follow-up needed: {} ({})",
                request.customer_name,
                answer.low_reason()
            );
            // Every question of the form, as the customer answered it.
            let answers: Vec<(&str, String)> = QUESTIONS
                .iter()
                .map(|q| {
                    let value = answer.get(q.key).map(|v| v.to_string()).unwrap_or_default();
                    match q.kind {
                        Kind::Scale { max, .. } if !value.is_empty() => {
                            (q.label, format!("{value}/{max}"))
                        }
                        _ => (q.label, value),
                    }
                })
                .collect();
            let text = format!(
                "A customer gave a low result.\n\nCustomer: {customer}\nTechnician: {who}\n\
                 Visit: {date}\nJob: {job}\n{answers}\n\
                 Follow-ups: {console}\n",
                customer = request.customer_name,
                date = request.visit_date,
                job = request.job_id,
                answers = answers
                    .iter()
                    .map(|(label, value)| format!("{label}: {value}\n"))
                    .collect::<String>(),
            );
            let html = html! {
                (DOCTYPE)
                html lang="en" {
                    body style="font-family: sans-serif; color: #1a1a1a" {
                        p { "A customer gave a low result." }
                        table {
                            tr { th align="left" { "Customer" } td { (request.customer_name) } }
                            tr { th align="left" { "Technician" } td { (who) } }
                            tr { th align="left" { "Visit" } td { (request.visit_date) } }
                            tr { th align="left" { "Job" } td { (request.job_id) } }
                            @for (label, value) in &answers {
                                tr { th align="left" { (label) } td { (value) } }
                            }
                        }
                        p { a href=(console) { "Open the follow-up list" } }
                    }
                }
            };
            let sms = subject.clone();
            Ok(Composed {
                subject,
                text,
                html: html.into_string(),
                sms,
            })
        }
    }
}

fn first_word(s: &str) -> Option<&str> {
    s.split_whitespace().next()
}
