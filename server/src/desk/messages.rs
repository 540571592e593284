//! The SLA alert to a team's supervisor, composed at send time. It names
//! the team, the category and the due time, and links the console: no
//! customer contact data (no name, phone, email or summary) in the mail.

use crate::feedback::OutboxMessage;
use crate::outbox::{Composed, SendError};

use super::DeskStore;

pub async fn compose(
    store: &dyn DeskStore,
    public_url: &str,
    message: &OutboxMessage,
) -> Result<Composed, SendError> {
    let id = message
        .desk_item_id
        .ok_or_else(|| SendError::Permanent("desk alert without an item".into()))?;
    let item = store.item(id).await?;
    let link = format!("{public_url}/console/desk/queues/{}", item.team);
    let subject = format!(
        "Service desk: a {} item in the {} queue is past its due time",
        item.category, item.team
    );
    let text = format!(
        "An item of the {team} queue ({priority} priority, {category}) was due at {due} \
         and is not resolved.\n\nQueue: {link}\n",
        team = item.team,
        priority = item.priority,
        category = item.category,
        due = item.due_at,
    );
    let html = maud::html! {
        p { "An item of the " (item.team) " queue (" (item.priority) " priority, "
            (item.category) ") was due at " (item.due_at) " and is not resolved." }
        p { a href=(link) { "Open the queue" } }
    }
    .into_string();
    Ok(Composed {
        subject: subject.clone(),
        text,
        html,
        sms: subject,
    })
}
