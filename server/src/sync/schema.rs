//! What the sync path adds for the job schema: the validation context from
//! the server's records, and the upgrade of older jobs before a device sees
//! them (see `fieldsync_core::job::schema`).

use std::collections::BTreeMap;

use automerge::ActorId;
use fieldsync_core::DocId;
use fieldsync_core::job::schema;
use fieldsync_core::sync::{Access, HeldDoc};
use fieldsync_core::validate::{Context, TechnicianVan};
use time::OffsetDateTime;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::documents::{self, Derive, Edit, WriteError};
use crate::error::ApiError;
use crate::jobs::views::timestamp;

/// The caller's validation context. A technician's van is the one whose
/// stock document the scope query gave them to read (the SQL assignment as
/// of this request); none means they have no van.
pub(super) fn context(caller: &AuthUser, scope: &BTreeMap<DocId, Access>) -> Context {
    if !caller.role.is_field() {
        return Context::default();
    }
    let van = scope.iter().find_map(|(id, access)| match (id, access) {
        (id, Access::ReadOnly) => id.van(),
        _ => None,
    });
    Context::default()
        .with_technician_van(van.map_or(TechnicianVan::NoVan, TechnicianVan::Assigned))
}

/// Upgrades the writable jobs in `held` that an older schema wrote and that
/// have a newer field the caller may write, so the device gets the field's
/// container from the server (devices never create one). Each upgrade is its
/// own commit through the versioned write: another server process upgrading
/// the same job at the same time makes this one reload the upgraded job and
/// write nothing. Usually no job needs it and this reads one root key per
/// job. A job that cannot be upgraded is logged and served as it is.
pub(super) async fn upgrade_held(
    state: &AppState,
    caller: &AuthUser,
    held: &mut BTreeMap<DocId, HeldDoc>,
    versions: &mut BTreeMap<DocId, i64>,
    derive: &Derive<'_>,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    for (id, held) in held.iter_mut() {
        let Ok(from) = schema::revision(&held.doc) else {
            continue;
        };
        let wanted = matches!(id, DocId::Job(_))
            && held.access == Access::Write
            && schema::FIELDS
                .iter()
                .any(|f| f.since > from && f.writer.admits(caller.role));
        if !wanted {
            continue;
        }
        let actor: ActorId = state.actor.clone();
        let written = documents::write(state.store.as_ref(), &state.docs, *id, derive, |doc, _| {
            doc.set_actor(actor.clone());
            let before = doc.get_heads();
            schema::upgrade(doc, timestamp(now))?;
            Ok::<_, fieldsync_core::ActionError>(Edit {
                changes: doc.get_changes(&before),
                job: None,
            })
        })
        .await;
        match written {
            Ok(stored) => {
                tracing::info!(doc = %id, version = stored.version, "job upgraded to schema {}", schema::VERSION);
                versions.insert(*id, stored.version);
                held.doc = stored.doc;
            }
            Err(WriteError::Contended(_)) => return Err(ApiError::Unavailable),
            Err(e) => tracing::error!(doc = %id, error = %e, "job upgrade failed"),
        }
    }
    Ok(())
}
