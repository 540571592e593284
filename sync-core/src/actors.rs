//! The actors the server writes office users' API edits with.
//!
//! Each office user's API edits carry an actor of their own, derived from
//! their user id, so a conflict's values name the dispatcher who wrote each
//! (a device's actor names its device, registered at login). The actor is
//! 20 bytes, a tag and the user id: a device's actor is 16 bytes, so no
//! device can register an office user's actor and write in their name, or
//! reuse its sequence numbers. The server's versioned write builds every
//! API edit on the stored document, so one user's edits stay one sequence
//! even when two requests or two server processes race.

use automerge::ActorId;
use uuid::Uuid;

use crate::ids::UserId;

const TAG: &[u8; 4] = b"ofc1";

/// The actor of `user`'s edits through the office API.
pub fn office_actor(user: UserId) -> ActorId {
    let mut bytes = Vec::with_capacity(20);
    bytes.extend_from_slice(TAG);
    bytes.extend_from_slice(user.as_uuid().as_bytes());
    ActorId::from(bytes)
}

/// The office user whose API edits `actor` wrote, if it is an office actor.
pub fn office_user(actor: &ActorId) -> Option<UserId> {
    let rest = actor.to_bytes().strip_prefix(TAG)?;
    let id = <[u8; 16]>::try_from(rest).ok()?;
    Some(UserId::from_uuid(Uuid::from_bytes(id)))
}

/// [`office_user`] of an actor in hex, as conflicts list them.
pub fn office_user_hex(actor: &str) -> Option<UserId> {
    office_user(&ActorId::try_from(actor).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_office_actor_names_its_user_and_no_device_actor_does() {
        let user = UserId::from_uuid(Uuid::from_u128(0x1234_5678_9abc_def0_1122_3344_5566_7788));
        let actor = office_actor(user);
        assert_eq!(office_user(&actor), Some(user));
        assert_eq!(office_user_hex(&actor.to_hex_string()), Some(user));
        // A device actor (16 bytes) is never an office actor, even one
        // that starts with the tag.
        let mut device = [0u8; 16];
        device[..4].copy_from_slice(TAG);
        assert_eq!(office_user(&ActorId::from(device)), None);
        assert_eq!(office_user_hex("not hex"), None);
    }
}
