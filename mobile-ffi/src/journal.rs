//! The action journal: every action taken on a job that the server has not
//! acknowledged yet, kept as the action itself (not only the automerge
//! change it made). When the server refuses one, the job is rebuilt from
//! the server-acknowledged state and the others are taken again
//! ([`rebuild`]), so a refused change never blocks the work that followed.
//!
//! One JSON file per job (`journal/<job>.json`, see [`crate::store`]),
//! replaced atomically. Its consistency with the job's document file rests
//! on write order, checked on open by [`JobJournal::reconcile`]:
//! - an action writes the journal (with the new entry) before the document,
//!   so an entry whose change is not in the document belongs to a call that
//!   never returned, and is dropped;
//! - a rollback first writes the journal with both the old entries and the
//!   new ones plus the heads of the rebuilt document ([`Rollback`]), then the
//!   document, then the dropped actions, then the final journal: whichever
//!   document is on disk decides which entries are true.

use fieldsync_core::automerge::{ActorId, Automerge, ChangeHash};
use fieldsync_core::validate::Context;
use fieldsync_core::{ActionError, JobAction, JobDoc, Principal, Role, Timestamp, UserId};
use serde::{Deserialize, Serialize};

use crate::error::{FieldsyncError, Result};

/// One action not yet acknowledged by the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// Stable across replays (32 hex digits): the app's handle on the action.
    pub id: String,
    pub action: JobAction,
    pub user: UserId,
    pub role: Role,
    /// Device time the action was taken (replays keep it).
    pub at_ms: i64,
    /// The change it made; a replay makes a new one.
    pub change: ChangeHash,
}

impl Entry {
    pub fn new(action: JobAction, who: Principal, at_ms: i64, change: ChangeHash) -> Self {
        Self {
            id: hex::encode(rand::random::<[u8; 16]>()),
            action,
            user: who.user,
            role: who.role,
            at_ms,
            change,
        }
    }

    fn principal(&self) -> Principal {
        Principal::new(self.user, self.role)
    }
}

/// An action a rollback did not keep, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Dropped {
    pub job: String,
    pub entry: Entry,
    /// The server's reject code, or the local refusal's code on replay.
    pub code: String,
    pub reason: String,
    /// `true` when the server refused this very action; `false` when it was
    /// refused on replay (it needed the refused one, say).
    pub by_server: bool,
    pub dropped_at_ms: i64,
}

/// A rollback being written (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Rollback {
    /// The entries as they were, true if the old document is on disk.
    pub before: Vec<Entry>,
    /// Heads of the rebuilt document: if the document on disk has them,
    /// the rollback happened.
    pub after_heads: Vec<ChangeHash>,
    pub dropped: Vec<Dropped>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct JobJournal {
    pub v: u32,
    pub entries: Vec<Entry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
}

/// What [`JobJournal::reconcile`] found.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Reconciled {
    /// The journal differs from what was on disk: write it back.
    pub changed: bool,
    /// Actions dropped by a rollback that finished before a crash, to be
    /// recorded (again: recording is idempotent).
    pub dropped: Vec<Dropped>,
}

impl JobJournal {
    pub fn new(entries: Vec<Entry>) -> Self {
        Self {
            v: 1,
            entries,
            rollback: None,
        }
    }

    /// Brings the journal in line with the job's document on disk, and
    /// forgets entries the server has acknowledged (`pending`: this
    /// device's changes the server does not have yet).
    pub fn reconcile(&mut self, doc: &Automerge, pending: &[ChangeHash]) -> Reconciled {
        let mut out = Reconciled::default();
        if let Some(rollback) = self.rollback.take() {
            out.changed = true;
            let happened = !rollback.after_heads.is_empty()
                && rollback
                    .after_heads
                    .iter()
                    .all(|h| fieldsync_core::sync::has_change(doc, h));
            if happened {
                out.dropped = rollback.dropped;
            } else {
                self.entries = rollback.before;
            }
        }
        let before = self.entries.len();
        self.entries.retain(|e| pending.contains(&e.change));
        out.changed |= self.entries.len() != before;
        out
    }

    /// Whether every pending change is an entry's: only then can the job be
    /// rebuilt without losing anything.
    pub fn covers(&self, pending: &[ChangeHash]) -> bool {
        pending
            .iter()
            .all(|h| self.entries.iter().any(|e| e.change == *h))
    }
}

/// A job rebuilt after the server refused `refused`.
pub(crate) struct Rebuilt {
    pub doc: Automerge,
    pub kept: Vec<Entry>,
    pub dropped: Vec<Dropped>,
}

/// Rebuilds a job from the server-acknowledged state `acked` of `doc` and
/// takes every journaled action again, in order, except the one that made
/// the `refused` change; an action that is no longer allowed (it needed the
/// refused one, say, or names a van the device no longer has: `ctx` is what
/// the device knows now) is dropped with the local reason. Entries keep their
/// ids and device times; their changes are new.
pub(crate) fn rebuild(
    doc: &Automerge,
    acked: &[ChangeHash],
    actor: &ActorId,
    entries: &[Entry],
    refused: (ChangeHash, &str, &str),
    ctx: &Context,
    (job, now_ms): (&str, i64),
) -> Result<Rebuilt> {
    let (refused, code, reason) = refused;
    let base = doc
        .fork_at(acked)
        .map_err(|e| FieldsyncError::Internal {
            reason: format!("rebuild from the server's state: {e}"),
        })?
        .with_actor(actor.clone());
    let mut job_doc = JobDoc::from_trusted(base);
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for entry in entries {
        let drop = |code: String, reason: String, by_server| Dropped {
            job: job.to_owned(),
            entry: entry.clone(),
            code,
            reason,
            by_server,
            dropped_at_ms: now_ms,
        };
        if entry.change == refused {
            dropped.push(drop(code.to_owned(), reason.to_owned(), true));
            continue;
        }
        match job_doc.apply_in(
            &entry.action,
            entry.principal(),
            Timestamp(entry.at_ms),
            ctx,
        ) {
            Ok(change) => kept.push(Entry {
                change,
                ..entry.clone()
            }),
            // `apply_in` leaves the document as it was when it refuses.
            Err(e) => {
                let (code, reason) = refusal(e);
                dropped.push(drop(code, reason, false));
            }
        }
    }
    Ok(Rebuilt {
        doc: job_doc.into_doc(),
        kept,
        dropped,
    })
}

/// The code and reason of an action refused on replay, as the app would
/// have seen them had the action call failed.
fn refusal(e: ActionError) -> (String, String) {
    match FieldsyncError::from(e) {
        FieldsyncError::InvalidInput { reason } => ("invalid_input".into(), reason),
        FieldsyncError::NotAllowed { reason } => ("not_allowed".into(), reason),
        FieldsyncError::NotFound { what } => ("not_found".into(), what),
        FieldsyncError::Rejected { code, reason } => (code, reason),
        other => ("internal".into(), other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    //! Every crash point of an action and of a rollback, as the files on
    //! disk would be left: the journal read back must match the document.

    use fieldsync_core::automerge::transaction::Transactable;
    use fieldsync_core::automerge::{AutomergeError, ROOT};

    use super::*;

    fn actor() -> ActorId {
        ActorId::from([1u8; 16])
    }

    fn who() -> Principal {
        Principal::new(UserId::from_bytes([1; 16]), Role::Technician)
    }

    /// A document with `n` notes by this device, and one entry per note.
    fn doc_with_notes(n: usize) -> (Automerge, Vec<Entry>) {
        let mut doc = Automerge::new().with_actor(actor());
        let mut entries = Vec::new();
        for i in 0..n {
            doc.transact::<_, _, AutomergeError>(|tx| tx.put(ROOT, format!("n{i}"), i as i64))
                .unwrap();
            let action = JobAction::AddNote {
                text: format!("note {i}"),
            };
            entries.push(Entry::new(action, who(), i as i64, doc.get_heads()[0]));
        }
        (doc, entries)
    }

    fn pending(doc: &Automerge) -> Vec<ChangeHash> {
        doc.get_changes(&[]).iter().map(|c| c.hash()).collect()
    }

    #[test]
    fn an_entry_whose_change_never_reached_the_document_is_forgotten() {
        // Crash after the journal, before the document: the call never returned.
        let (doc, mut entries) = doc_with_notes(2);
        let (other, more) = doc_with_notes(3);
        entries.push(more[2].clone());
        let mut journal = JobJournal::new(entries.clone());
        let r = journal.reconcile(&doc, &pending(&doc));
        assert!(r.changed && r.dropped.is_empty());
        assert_eq!(journal.entries, entries[..2]);
        // Both written: nothing changes.
        let mut journal = JobJournal::new(more.clone());
        let r = journal.reconcile(&other, &pending(&other));
        assert_eq!(r, Reconciled::default());
        assert_eq!(journal.entries, more);
    }

    #[test]
    fn acknowledged_entries_are_forgotten() {
        let (doc, entries) = doc_with_notes(3);
        let mut journal = JobJournal::new(entries.clone());
        // The server acknowledged the first two.
        let r = journal.reconcile(&doc, &[entries[2].change]);
        assert!(r.changed);
        assert_eq!(journal.entries, entries[2..]);
        assert!(journal.covers(&[entries[2].change]));
        assert!(!journal.covers(&[entries[0].change]));
    }

    fn interrupted_rollback() -> (Automerge, Automerge, JobJournal, Vec<Entry>) {
        let (old, before) = doc_with_notes(3);
        // The rebuilt document: from nothing acknowledged, the last two taken again.
        let mut new = Automerge::new().with_actor(actor());
        let mut kept = Vec::new();
        for e in &before[1..] {
            new.transact::<_, _, AutomergeError>(|tx| tx.put(ROOT, e.id.as_str(), 1))
                .unwrap();
            kept.push(Entry {
                change: new.get_heads()[0],
                ..e.clone()
            });
        }
        let dropped = vec![Dropped {
            job: "j".into(),
            entry: before[0].clone(),
            code: "wrong_van".into(),
            reason: "not your van".into(),
            by_server: true,
            dropped_at_ms: 9,
        }];
        let mut journal = JobJournal::new(kept.clone());
        journal.rollback = Some(Rollback {
            before: before.clone(),
            after_heads: new.get_heads(),
            dropped,
        });
        (old, new, journal, before)
    }

    #[test]
    fn a_rollback_whose_document_was_not_written_is_undone() {
        let (old, _, mut journal, before) = interrupted_rollback();
        let r = journal.reconcile(&old, &pending(&old));
        assert!(r.changed && r.dropped.is_empty(), "{r:?}");
        assert_eq!(journal.entries, before);
        assert!(journal.rollback.is_none());
    }

    #[test]
    fn a_rollback_whose_document_was_written_is_finished() {
        let (_, new, mut journal, before) = interrupted_rollback();
        let kept = journal.entries.clone();
        let r = journal.reconcile(&new, &pending(&new));
        assert!(r.changed);
        assert_eq!(r.dropped.len(), 1);
        assert_eq!(r.dropped[0].entry, before[0]);
        assert_eq!(journal.entries, kept);
        assert!(journal.rollback.is_none());
        // The ids the app knows survive the rebuild.
        assert_eq!(
            kept.iter().map(|e| &e.id).collect::<Vec<_>>(),
            before[1..].iter().map(|e| &e.id).collect::<Vec<_>>()
        );
    }
}
