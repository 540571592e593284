//! Writers of one document in this process take turns.
//!
//! A commit is optimistic: it names the version it built on and is refused
//! (stale) when another writer committed first. Within one process that race
//! is avoidable, so writers queue per document and only another server
//! process can make a commit stale. Without the queue, a busy job (two
//! devices and the office writing at once) could lose race after race and
//! answer 503 though nothing was wrong.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use fieldsync_core::DocId;
use tokio::sync::{Mutex as TurnLock, OwnedMutexGuard};

/// A writer's turn at a document: the next writer waits until it is dropped.
pub type Turn = OwnedMutexGuard<()>;

/// One queue per document being written; a queue nobody holds or waits on
/// is dropped (only a weak reference is kept here).
#[derive(Default)]
pub struct Turns {
    queues: Mutex<HashMap<DocId, Weak<TurnLock<()>>>>,
}

impl Turns {
    /// Waits for this process's earlier writers of `doc_id`, then holds the
    /// document until the returned turn is dropped.
    pub async fn take(&self, doc_id: DocId) -> Turn {
        let queue = {
            let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            match queues.get(&doc_id).and_then(Weak::upgrade) {
                Some(queue) => queue,
                None => {
                    // Forget finished queues now and then: amortised over
                    // the insertions, so the map stays the size of the
                    // documents being written.
                    if queues.len() >= 64 && queues.len().is_power_of_two() {
                        queues.retain(|_, q| q.strong_count() > 0);
                    }
                    let queue = Arc::new(TurnLock::new(()));
                    queues.insert(doc_id, Arc::downgrade(&queue));
                    queue
                }
            }
        };
        queue.lock_owned().await
    }

    /// Documents with a queue still remembered (for tests).
    pub fn remembered(&self) -> usize {
        self.queues.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fieldsync_core::{DocId, JobId};

    use super::Turns;

    #[tokio::test]
    async fn a_second_writer_of_a_document_waits_for_the_first() {
        let turns = Turns::default();
        let job = DocId::Job(JobId::from_uuid(uuid::Uuid::new_v4()));
        let first = turns.take(job).await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), turns.take(job)).await;
        assert!(
            waiting.is_err(),
            "the second writer got a turn while the first held it"
        );
        // Another document is not held up.
        let other = DocId::Job(JobId::from_uuid(uuid::Uuid::new_v4()));
        tokio::time::timeout(Duration::from_millis(50), turns.take(other))
            .await
            .expect("another document waited");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), turns.take(job))
            .await
            .expect("the second writer never got its turn");
    }

    #[tokio::test]
    async fn finished_queues_are_forgotten() {
        let turns = Turns::default();
        for _ in 0..200 {
            drop(
                turns
                    .take(DocId::Job(JobId::from_uuid(uuid::Uuid::new_v4())))
                    .await,
            );
        }
        assert!(
            turns.remembered() <= 128,
            "{} queues remembered",
            turns.remembered()
        );
    }
}
