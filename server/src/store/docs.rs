//! Documents as change rows and snapshots: the [`DocumentStore`] trait and
//! the commit workflow, once for every backend.

use std::collections::HashMap;

use async_trait::async_trait;
use automerge::ChangeHash;
use fieldsync_core::{DocId, ServerDoc};
use time::OffsetDateTime;

use super::engine::Db;
use super::sql::{Conn, Query, QueryBuilder, Row};
use super::*;

/// Documents: the one write path ([`DocumentStore::commit`]) and loads.
/// Part of [`Store`].
#[async_trait]
pub trait DocumentStore: Send + Sync {
    /// `None` if the document has never been written.
    async fn load_document(&self, doc_id: &DocId) -> Result<Option<StoredDoc>>;
    /// Changes with `seq` above `seq`, in order (empty if none or no
    /// document). Rows a snapshot covers may have been pruned
    /// ([`Self::prune_changes`]): [`Self::load_documents`] knows when.
    async fn load_changes_since(&self, doc_id: &DocId, seq: i64) -> Result<Vec<StoredChange>>;
    /// Many documents in one read transaction, with a few queries whatever
    /// their number (a sync loads every document of the device's scope).
    /// An id given with the version the caller already holds comes back
    /// with only the change rows after it and no snapshot; one given with
    /// `None`, or with a version older than the rows pruned since, comes
    /// back whole (with its snapshot), as [`Self::load_document`] gives it.
    /// Documents never written are left out; ids are distinct.
    async fn load_documents(&self, want: &[(DocId, Option<i64>)]) -> Result<Vec<StoredDoc>>;
    /// The one write path for documents. In one transaction: takes the
    /// document's write lock, checks `base_version`, inserts new change rows
    /// (idempotent by hash), bumps the version, stores the snapshot,
    /// writes the commit's projections (their shared counters last, see
    /// [`Projection::write_last`]) and takes the commit stamp.
    async fn commit(&self, commit: &DocCommit) -> Result<CommitOutcome>;
    /// Stores a snapshot covering change rows up to `covers_seq`, unless a
    /// newer one is stored. Loads then start from it.
    async fn write_snapshot(&self, doc_id: &DocId, covers_seq: i64, bytes: &[u8]) -> Result<()>;
    /// Deletes the change rows covered by snapshots written before
    /// `before`, for at most `limit` documents; returns the rows deleted.
    /// The snapshot holds the whole history (automerge saves every change),
    /// so no load loses anything.
    async fn prune_changes(&self, before: OffsetDateTime, limit: i64) -> Result<u64>;
    /// When each change of the document was first stored (server time),
    /// oldest first; changes stored before receipts were kept have none
    /// (nor has an archived document: its receipts went with it).
    async fn change_receipts(&self, doc_id: &DocId) -> Result<Vec<ChangeReceipt>>;
    /// Archives a document stored at `version`: in one transaction, stores
    /// `snapshot` (a save of it at that version) as its one snapshot,
    /// deletes its change rows and their receipts, and marks it archived
    /// at `now`: later commits get [`CommitOutcome::Archived`]. Returns
    /// `false`, writing nothing, when it is already archived or has moved
    /// past `version` (someone wrote meanwhile: the caller may try again).
    /// Takes the commit's write lock, so two processes archiving the same
    /// document archive it once.
    async fn archive_document(
        &self,
        doc_id: &DocId,
        version: i64,
        snapshot: &[u8],
        now: OffsetDateTime,
    ) -> Result<bool>;
    /// Those of `ids` that are archived.
    async fn archived_among(&self, ids: &[DocId]) -> Result<Vec<DocId>>;
    /// The latest commit stamp (every commit stamped up to it is visible
    /// to any read that starts after this one), and the highest stamp whose
    /// record was pruned (a cursor below it cannot be used).
    async fn commit_stamp(&self) -> Result<(i64, i64)>;
    /// The commits to these documents stamped in `(after, upto]`, in stamp
    /// order, each with the hashes of the rows it stored.
    async fn commits_since(
        &self,
        ids: &[DocId],
        after: i64,
        upto: i64,
    ) -> Result<Vec<StampedCommit>>;
    /// The current generation of each of `docs` (1 for one never
    /// regenerated), in one query; see [`DocCommit::retires`].
    async fn generations(&self, docs: &[ServerDoc]) -> Result<HashMap<ServerDoc, u32>>;
}

fn change_from(row: &Row) -> Result<StoredChange> {
    let hash: Vec<u8> = row.get("hash")?;
    Ok(StoredChange {
        seq: row.get("seq")?,
        hash: ChangeHash::try_from(hash.as_slice())
            .map_err(|e| StoreError::corrupt("change hash", e))?,
        bytes: row.get("bytes")?,
    })
}

async fn changes_since(conn: &mut dyn Conn, doc_id: &str, seq: i64) -> Result<Vec<StoredChange>> {
    let rows = conn
        .fetch_all(
            Query::new(
                "SELECT seq, hash, bytes FROM doc_changes \
                 WHERE doc_id = $1 AND seq > $2 ORDER BY seq",
            )
            .bind(doc_id)
            .bind(seq),
        )
        .await?;
    rows.iter().map(change_from).collect()
}

async fn upsert_snapshot(
    conn: &mut dyn Conn,
    doc_id: &str,
    covers_seq: i64,
    bytes: &[u8],
) -> Result<()> {
    conn.execute(
        Query::new(
            "INSERT INTO doc_snapshots (doc_id, covers_seq, bytes, created_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (doc_id) DO UPDATE SET covers_seq = excluded.covers_seq, \
                 bytes = excluded.bytes, created_at = excluded.created_at \
             WHERE excluded.covers_seq > doc_snapshots.covers_seq",
        )
        .bind(doc_id)
        .bind(covers_seq)
        .bind(bytes)
        .bind(now_utc()),
    )
    .await?;
    Ok(())
}

async fn load_document(db: &Db, doc_id: &DocId) -> Result<Option<StoredDoc>> {
    let id = doc_id.to_string();
    // One read transaction: version, snapshot and changes from the same instant.
    let mut tx = db.read_snapshot().await?;
    let version = tx
        .fetch_optional(Query::new("SELECT seq FROM documents WHERE doc_id = $1").bind(&id))
        .await?;
    let Some(version) = version else {
        return Ok(None);
    };
    let version: i64 = version.get("seq")?;
    let snapshot = tx
        .fetch_optional(
            Query::new("SELECT covers_seq, bytes FROM doc_snapshots WHERE doc_id = $1").bind(&id),
        )
        .await?
        .map(|row| -> Result<Snapshot> {
            Ok(Snapshot {
                covers_seq: row.get("covers_seq")?,
                bytes: row.get("bytes")?,
            })
        })
        .transpose()?;
    let after = snapshot.as_ref().map_or(0, |s| s.covers_seq);
    let changes = changes_since(tx.as_mut(), &id, after).await?;
    tx.commit().await?;
    Ok(Some(StoredDoc {
        doc_id: *doc_id,
        version,
        snapshot,
        changes,
    }))
}

/// Ids per `IN (...)` list, and documents per change query (each adds an
/// `OR` of two bound values).
const IDS_PER_QUERY: usize = 500;
const RANGES_PER_QUERY: usize = 100;

async fn load_documents(db: &Db, want: &[(DocId, Option<i64>)]) -> Result<Vec<StoredDoc>> {
    let mut tx = db.read_snapshot().await?;
    let mut out = Vec::with_capacity(want.len());
    for chunk in want.chunks(IDS_PER_QUERY) {
        load_chunk(tx.as_mut(), chunk, &mut out).await?;
    }
    tx.commit().await?;
    Ok(out)
}

/// [`load_documents`] for at most [`IDS_PER_QUERY`] ids: their versions,
/// the snapshots of those loaded whole, then every change row needed.
async fn load_chunk(
    conn: &mut dyn Conn,
    want: &[(DocId, Option<i64>)],
    out: &mut Vec<StoredDoc>,
) -> Result<()> {
    let ids: Vec<String> = want.iter().map(|(id, _)| id.to_string()).collect();
    let mut q =
        QueryBuilder::new("SELECT doc_id, seq, pruned_seq FROM documents WHERE doc_id IN (");
    q.push_list(ids.iter().map(String::as_str)).push(")");
    // Per document: its version, and whether it is loaded whole (not held,
    // or held at a version whose later rows were partly pruned since).
    let mut versions = HashMap::new();
    for row in conn.fetch_all(q.build()).await? {
        versions.insert(
            row.get::<String>("doc_id")?,
            (row.get::<i64>("seq")?, row.get::<i64>("pruned_seq")?),
        );
    }
    let wants_whole = |have: &Option<i64>, id: &String| {
        versions
            .get(id)
            .map(|&(_, pruned)| have.is_none_or(|v| v < pruned))
    };
    let whole: Vec<&str> = want
        .iter()
        .zip(&ids)
        .filter(|((_, have), id)| wants_whole(have, id) == Some(true))
        .map(|(_, id)| id.as_str())
        .collect();
    let mut snapshots = HashMap::new();
    if !whole.is_empty() {
        let mut q = QueryBuilder::new(
            "SELECT doc_id, covers_seq, bytes FROM doc_snapshots WHERE doc_id IN (",
        );
        q.push_list(whole.iter().copied()).push(")");
        for row in conn.fetch_all(q.build()).await? {
            let snapshot = Snapshot {
                covers_seq: row.get("covers_seq")?,
                bytes: row.get("bytes")?,
            };
            snapshots.insert(row.get::<String>("doc_id")?, snapshot);
        }
    }
    // Change rows after what the caller holds or the snapshot covers, only
    // for documents that have some (an unchanged cached one costs nothing).
    let ranges: Vec<(&str, i64)> = want
        .iter()
        .zip(&ids)
        .filter_map(|((_, have), id)| {
            let (version, _) = *versions.get(id)?;
            let after = match have {
                Some(v) if wants_whole(have, id) == Some(false) => *v,
                _ => snapshots.get(id).map_or(0, |s| s.covers_seq),
            };
            (version > after).then_some((id.as_str(), after))
        })
        .collect();
    let mut changes: HashMap<String, Vec<StoredChange>> = HashMap::new();
    for part in ranges.chunks(RANGES_PER_QUERY) {
        let mut q = QueryBuilder::new("SELECT doc_id, seq, hash, bytes FROM doc_changes WHERE ");
        for (i, (id, after)) in part.iter().enumerate() {
            q.push(if i == 0 {
                "(doc_id = "
            } else {
                " OR (doc_id = "
            });
            q.push_bind(*id)
                .push(" AND seq > ")
                .push_bind(*after)
                .push(")");
        }
        q.push(" ORDER BY doc_id, seq");
        for row in conn.fetch_all(q.build()).await? {
            let id: String = row.get("doc_id")?;
            changes.entry(id).or_default().push(change_from(&row)?);
        }
    }
    for ((doc_id, have), id) in want.iter().zip(&ids) {
        let Some(&(version, _)) = versions.get(id) else {
            continue;
        };
        out.push(StoredDoc {
            doc_id: *doc_id,
            version,
            snapshot: if wants_whole(have, id) == Some(true) {
                snapshots.remove(id)
            } else {
                None
            },
            changes: changes.remove(id).unwrap_or_default(),
        });
    }
    Ok(())
}

/// One attempt of [`DocumentStore::commit`].
async fn commit_once(db: &Db, c: &DocCommit) -> Result<CommitOutcome> {
    let now = now_utc();
    let doc_id = c.doc_id.to_string();
    let mut tx = db.begin().await?;
    tx.execute(
        Query::new(
            "INSERT INTO documents (doc_id, kind, seq, created_at, updated_at) \
             VALUES ($1, $2, 0, $3, $3) ON CONFLICT (doc_id) DO NOTHING",
        )
        .bind(&doc_id)
        .bind(DocKind::of(&c.doc_id).as_str())
        .bind(now),
    )
    .await?;
    // The document's write lock: commits to one document run one at a time.
    let select = tx.dialect().locked(
        "SELECT seq, archived_at FROM documents WHERE doc_id = $1",
        "FOR UPDATE",
    );
    let row = tx.fetch_one(select.bind(&doc_id)).await?;
    if row.get::<Option<OffsetDateTime>>("archived_at")?.is_some() {
        // Rolled back: an archived document takes nothing, not even a
        // change it once had (its rows are gone, so it would look new).
        return Ok(CommitOutcome::Archived);
    }
    let current: i64 = row.get("seq")?;
    if current != c.base_version {
        // Dropping the transaction rolls it back (the document row too).
        return Ok(CommitOutcome::Stale {
            current_version: current,
        });
    }
    if let Some((doc, generation)) = c.doc_id.server_doc()
        && !generation_holds(tx.as_mut(), doc, generation, c.retires, now).await?
    {
        return Ok(CommitOutcome::Stale {
            current_version: current,
        });
    }
    let mut seq = current;
    let mut inserted = 0;
    for change in &c.changes {
        let done = tx
            .execute(
                Query::new(
                    "INSERT INTO doc_changes (doc_id, hash, seq, bytes) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (doc_id, hash) DO NOTHING",
                )
                .bind(&doc_id)
                .bind(&change.hash.0[..])
                .bind(seq + 1)
                .bind(&change.bytes),
            )
            .await?;
        if done == 1 {
            seq += 1;
            inserted += 1;
            tx.execute(
                Query::new(
                    "INSERT INTO doc_change_receipts (doc_id, hash, received_at) \
                     VALUES ($1, $2, $3) ON CONFLICT (doc_id, hash) DO NOTHING",
                )
                .bind(&doc_id)
                .bind(&change.hash.0[..])
                .bind(now),
            )
            .await?;
        }
    }
    if inserted > 0 {
        tx.execute(
            Query::new("UPDATE documents SET seq = $1, updated_at = $2 WHERE doc_id = $3")
                .bind(seq)
                .bind(now)
                .bind(&doc_id),
        )
        .await?;
    }
    if let Some(bytes) = &c.snapshot {
        upsert_snapshot(tx.as_mut(), &doc_id, seq, bytes).await?;
    }
    for projection in &c.projections {
        projection.write(tx.as_mut(), now).await?;
    }
    let covers: Option<i64> = tx
        .fetch_optional(
            Query::new("SELECT covers_seq FROM doc_snapshots WHERE doc_id = $1").bind(&doc_id),
        )
        .await?
        .map(|row| row.get("covers_seq"))
        .transpose()?;
    // Rows every writer shares (the invoice counter), after the rest of the
    // commit's work so their locks are held only from here to COMMIT.
    for projection in &c.projections {
        projection.write_last(tx.as_mut(), now).await?;
    }
    // Last, so the counter's row lock is held only until the commit: the
    // stamps of all writers follow their commit order (a reader that sees
    // stamp N sees every commit stamped up to N). Always after the
    // `write_last` locks above, never before: one order, no deadlock.
    let stamp = if inserted > 0 {
        let stamp: i64 = tx
            .fetch_one(Query::new(
                "UPDATE sync_counter SET stamp = stamp + 1 WHERE id = 1 RETURNING stamp",
            ))
            .await?
            .get("stamp")?;
        tx.execute(
            Query::new(
                "INSERT INTO doc_commits (stamp, doc_id, from_seq, to_seq, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(stamp)
            .bind(&doc_id)
            .bind(current + 1)
            .bind(seq)
            .bind(now),
        )
        .await?;
        Some(stamp)
    } else {
        None
    };
    tx.commit().await?;
    Ok(CommitOutcome::Committed {
        version: seq,
        inserted,
        changes_since_snapshot: seq - covers.unwrap_or(0),
        stamp,
    })
}

/// The current generation of `doc` as this transaction sees it.
async fn current_generation(conn: &mut dyn Conn, doc: ServerDoc) -> Result<u32> {
    let row = conn
        .fetch_optional(
            Query::new("SELECT generation FROM doc_generations WHERE family = $1")
                .bind(doc.first().to_string()),
        )
        .await?;
    match row {
        Some(row) => u32::try_from(row.get::<i64>("generation")?)
            .map_err(|e| StoreError::corrupt("generation", e)),
        None => Ok(1),
    }
}

/// Whether a commit to `generation` of `doc` may go ahead, its document's
/// write lock held: it is the current generation, or (`retires`) the next
/// one, whose previous generation is still at the version it was built
/// from; then it becomes current in this transaction.
///
/// Locks are taken newest generation first (this one, then the previous),
/// so a switch and a commit to the previous generation wait on the same
/// row and never deadlock: whichever commits second sees the other's
/// work (a moved version, or a generation no longer current) and is stale.
async fn generation_holds(
    conn: &mut dyn Conn,
    doc: ServerDoc,
    generation: u32,
    retires: Option<i64>,
    now: OffsetDateTime,
) -> Result<bool> {
    let Some(previous_version) = retires else {
        return Ok(current_generation(conn, doc).await? == generation);
    };
    let Some(previous) = generation.checked_sub(1).filter(|g| *g >= 1) else {
        return Ok(false);
    };
    let previous_id = DocId::generation_of(doc, previous).to_string();
    let select = conn
        .dialect()
        .locked("SELECT seq FROM documents WHERE doc_id = $1", "FOR UPDATE");
    let Some(row) = conn.fetch_optional(select.bind(&previous_id)).await? else {
        return Ok(false);
    };
    if row.get::<i64>("seq")? != previous_version
        || current_generation(conn, doc).await? != previous
    {
        return Ok(false);
    }
    conn.execute(
        Query::new(
            "INSERT INTO doc_generations (family, generation, switched_at) VALUES ($1, $2, $3) \
             ON CONFLICT (family) DO UPDATE SET generation = excluded.generation, \
                 switched_at = excluded.switched_at",
        )
        .bind(doc.first().to_string())
        .bind(i64::from(generation))
        .bind(now),
    )
    .await?;
    Ok(true)
}

async fn generations(db: &Db, docs: &[ServerDoc]) -> Result<HashMap<ServerDoc, u32>> {
    let mut out: HashMap<ServerDoc, u32> = docs.iter().map(|d| (*d, 1)).collect();
    if docs.is_empty() {
        return Ok(out);
    }
    let by_key: HashMap<String, ServerDoc> =
        docs.iter().map(|d| (d.first().to_string(), *d)).collect();
    let mut q =
        QueryBuilder::new("SELECT family, generation FROM doc_generations WHERE family IN (");
    q.push_list(by_key.keys().map(String::as_str)).push(")");
    for row in db.read().await?.fetch_all(q.build()).await? {
        let family: String = row.get("family")?;
        let generation = u32::try_from(row.get::<i64>("generation")?)
            .map_err(|e| StoreError::corrupt("generation", e))?;
        if let Some(doc) = by_key.get(&family) {
            out.insert(*doc, generation);
        }
    }
    Ok(out)
}

async fn write_snapshot(db: &Db, doc_id: &DocId, covers_seq: i64, bytes: &[u8]) -> Result<()> {
    let id = doc_id.to_string();
    let mut tx = db.begin().await?;
    let select = tx
        .dialect()
        .locked("SELECT seq FROM documents WHERE doc_id = $1", "FOR SHARE");
    let version: i64 = tx.fetch_one(select.bind(&id)).await?.get("seq")?;
    if covers_seq > version {
        return Err(StoreError::other(format!(
            "snapshot covers seq {covers_seq} but {doc_id} is at {version}"
        )));
    }
    upsert_snapshot(tx.as_mut(), &id, covers_seq, bytes).await?;
    tx.commit().await
}

/// How much longer commit records are kept than the change rows.
const COMMIT_RECORDS_OUTLIVE_ROWS: time::Duration = time::Duration::days(30);

async fn prune_changes(db: &Db, before: OffsetDateTime, limit: i64) -> Result<u64> {
    let mut tx = db.begin().await?;
    let due = tx
        .fetch_all(
            Query::new(
                "SELECT s.doc_id, s.covers_seq, d.kind FROM doc_snapshots s \
                 JOIN documents d ON d.doc_id = s.doc_id \
                 WHERE s.created_at < $1 AND s.covers_seq > d.pruned_seq \
                 ORDER BY s.created_at LIMIT $2",
            )
            .bind(before)
            .bind(limit),
        )
        .await?;
    let mut deleted = 0;
    for row in due {
        let doc_id: String = row.get("doc_id")?;
        let covers: i64 = row.get("covers_seq")?;
        let kind: String = row.get("kind")?;
        // The document row first (as a commit takes it): a reader sees the
        // mark and the missing rows together, never one without the other.
        tx.execute(
            Query::new(
                "UPDATE documents SET pruned_seq = $1 WHERE doc_id = $2 AND pruned_seq < $1",
            )
            .bind(covers)
            .bind(&doc_id),
        )
        .await?;
        if kind != DocKind::Job.as_str() {
            // Only the job page reads receipts (each change's sync time):
            // a job keeps them until it is archived; the van stock and the
            // price book (a change per movement or edit) lose them with
            // their rows.
            tx.execute(
                Query::new(
                    "DELETE FROM doc_change_receipts WHERE doc_id = $1 AND hash IN \
                     (SELECT hash FROM doc_changes WHERE doc_id = $1 AND seq <= $2)",
                )
                .bind(&doc_id)
                .bind(covers),
            )
            .await?;
        }
        deleted += tx
            .execute(
                Query::new("DELETE FROM doc_changes WHERE doc_id = $1 AND seq <= $2")
                    .bind(&doc_id)
                    .bind(covers),
            )
            .await?;
    }
    // Commit records (the cursor's index, about 50 bytes each) go a while
    // after the rows: a device offline in between still syncs in one round
    // (a document whose rows went comes whole); one offline longer is asked
    // to name what it holds.
    let oldest_kept = tx
        .fetch_one(
            Query::new("SELECT MAX(stamp) AS stamp FROM doc_commits WHERE created_at < $1")
                .bind(before - COMMIT_RECORDS_OUTLIVE_ROWS),
        )
        .await?
        .get::<Option<i64>>("stamp")?;
    if let Some(stamp) = oldest_kept {
        tx.execute(
            Query::new("UPDATE sync_counter SET pruned_to = $1 WHERE id = 1 AND pruned_to < $1")
                .bind(stamp),
        )
        .await?;
        tx.execute(Query::new("DELETE FROM doc_commits WHERE stamp <= $1").bind(stamp))
            .await?;
    }
    tx.commit().await?;
    Ok(deleted)
}

async fn commit_stamp(db: &Db) -> Result<(i64, i64)> {
    let row = db
        .read()
        .await?
        .fetch_one(Query::new(
            "SELECT stamp, pruned_to FROM sync_counter WHERE id = 1",
        ))
        .await?;
    Ok((row.get("stamp")?, row.get("pruned_to")?))
}

async fn commits_since(
    db: &Db,
    ids: &[DocId],
    after: i64,
    upto: i64,
) -> Result<Vec<StampedCommit>> {
    let mut out: Vec<StampedCommit> = Vec::new();
    if ids.is_empty() || upto <= after {
        return Ok(out);
    }
    let mut conn = db.read().await?;
    let texts: Vec<String> = ids.iter().map(ToString::to_string).collect();
    for chunk in texts.chunks(IDS_PER_QUERY) {
        let mut q = QueryBuilder::new(
            "SELECT c.doc_id, c.stamp, c.from_seq, c.to_seq, ch.hash FROM doc_commits c \
             LEFT JOIN doc_changes ch ON ch.doc_id = c.doc_id \
             AND ch.seq >= c.from_seq AND ch.seq <= c.to_seq \
             WHERE c.stamp > ",
        );
        q.push_bind(after)
            .push(" AND c.stamp <= ")
            .push_bind(upto)
            .push(" AND c.doc_id IN (");
        q.push_list(chunk.iter().map(String::as_str))
            .push(") ORDER BY c.stamp, ch.seq");
        let mut rows_of = Vec::new();
        for row in conn.fetch_all(q.build()).await? {
            let stamp: i64 = row.get("stamp")?;
            if out.last().is_none_or(|c| c.stamp != stamp) {
                let doc_id: String = row.get("doc_id")?;
                let from: i64 = row.get("from_seq")?;
                let to: i64 = row.get("to_seq")?;
                rows_of.push(to - from + 1);
                out.push(StampedCommit {
                    doc_id: doc_id
                        .parse()
                        .map_err(|e| StoreError::corrupt("document id", e))?,
                    stamp,
                    hashes: Vec::new(),
                    complete: false,
                });
            }
            if let Some(hash) = row.get::<Option<Vec<u8>>>("hash")? {
                let hash = ChangeHash::try_from(hash.as_slice())
                    .map_err(|e| StoreError::corrupt("change hash", e))?;
                out.last_mut().expect("pushed above").hashes.push(hash);
            }
        }
        let first = out.len() - rows_of.len();
        for (commit, rows) in out[first..].iter_mut().zip(rows_of) {
            commit.complete = commit.hashes.len() as i64 == rows;
        }
    }
    out.sort_by_key(|c| c.stamp);
    Ok(out)
}

async fn change_receipts(db: &Db, doc_id: &DocId) -> Result<Vec<ChangeReceipt>> {
    let rows = db
        .read()
        .await?
        .fetch_all(
            Query::new(
                "SELECT hash, received_at FROM doc_change_receipts WHERE doc_id = $1 \
                 ORDER BY received_at, hash",
            )
            .bind(doc_id.to_string()),
        )
        .await?;
    rows.iter()
        .map(|row| {
            let hash: Vec<u8> = row.get("hash")?;
            Ok(ChangeReceipt {
                hash: ChangeHash::try_from(hash.as_slice())
                    .map_err(|e| StoreError::corrupt("change hash", e))?,
                received_at: row.get("received_at")?,
            })
        })
        .collect()
}

async fn archive_document(
    db: &Db,
    doc_id: &DocId,
    version: i64,
    snapshot: &[u8],
    now: OffsetDateTime,
) -> Result<bool> {
    let id = doc_id.to_string();
    let mut tx = db.begin().await?;
    // The commit's write lock: no commit lands between the check and the mark.
    let select = tx.dialect().locked(
        "SELECT seq, archived_at FROM documents WHERE doc_id = $1",
        "FOR UPDATE",
    );
    let Some(row) = tx.fetch_optional(select.bind(&id)).await? else {
        return Ok(false);
    };
    let archived: Option<OffsetDateTime> = row.get("archived_at")?;
    if archived.is_some() || row.get::<i64>("seq")? != version {
        return Ok(false);
    }
    upsert_snapshot(tx.as_mut(), &id, version, snapshot).await?;
    tx.execute(
        Query::new(
            "UPDATE documents SET archived_at = $1, pruned_seq = $2, updated_at = $1 \
             WHERE doc_id = $3",
        )
        .bind(now)
        .bind(version)
        .bind(&id),
    )
    .await?;
    tx.execute(Query::new("DELETE FROM doc_changes WHERE doc_id = $1").bind(&id))
        .await?;
    tx.execute(Query::new("DELETE FROM doc_change_receipts WHERE doc_id = $1").bind(&id))
        .await?;
    tx.commit().await?;
    Ok(true)
}

async fn archived_among(db: &Db, ids: &[DocId]) -> Result<Vec<DocId>> {
    let mut out = Vec::new();
    let ids: Vec<String> = ids.iter().map(DocId::to_string).collect();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let mut q = QueryBuilder::new(
            "SELECT doc_id FROM documents WHERE archived_at IS NOT NULL AND doc_id IN (",
        );
        q.push_list(chunk.iter().map(String::as_str)).push(")");
        for row in db.fetch_all(q.build()).await? {
            out.push(row.parse::<DocId>("doc_id")?);
        }
    }
    Ok(out)
}

#[async_trait]
impl DocumentStore for SqlStore {
    async fn load_document(&self, doc_id: &DocId) -> Result<Option<StoredDoc>> {
        load_document(&self.db, doc_id).await
    }

    async fn load_changes_since(&self, doc_id: &DocId, seq: i64) -> Result<Vec<StoredChange>> {
        changes_since(self.db.read().await?.as_mut(), &doc_id.to_string(), seq).await
    }

    async fn load_documents(&self, want: &[(DocId, Option<i64>)]) -> Result<Vec<StoredDoc>> {
        load_documents(&self.db, want).await
    }

    async fn commit(&self, commit: &DocCommit) -> Result<CommitOutcome> {
        for projection in &commit.projections {
            projection.check(&commit.doc_id)?;
        }
        self.db.retry(|| commit_once(&self.db, commit)).await
    }

    async fn write_snapshot(&self, doc_id: &DocId, covers_seq: i64, bytes: &[u8]) -> Result<()> {
        self.db
            .retry(|| write_snapshot(&self.db, doc_id, covers_seq, bytes))
            .await
    }

    async fn prune_changes(&self, before: OffsetDateTime, limit: i64) -> Result<u64> {
        self.db
            .retry(|| prune_changes(&self.db, before, limit))
            .await
    }

    async fn change_receipts(&self, doc_id: &DocId) -> Result<Vec<ChangeReceipt>> {
        change_receipts(&self.db, doc_id).await
    }

    async fn archive_document(
        &self,
        doc_id: &DocId,
        version: i64,
        snapshot: &[u8],
        now: OffsetDateTime,
    ) -> Result<bool> {
        self.db
            .retry(|| archive_document(&self.db, doc_id, version, snapshot, now))
            .await
    }

    async fn archived_among(&self, ids: &[DocId]) -> Result<Vec<DocId>> {
        archived_among(&self.db, ids).await
    }

    async fn commit_stamp(&self) -> Result<(i64, i64)> {
        commit_stamp(&self.db).await
    }

    async fn commits_since(
        &self,
        ids: &[DocId],
        after: i64,
        upto: i64,
    ) -> Result<Vec<StampedCommit>> {
        commits_since(&self.db, ids, after, upto).await
    }

    async fn generations(&self, docs: &[ServerDoc]) -> Result<HashMap<ServerDoc, u32>> {
        generations(&self.db, docs).await
    }
}
