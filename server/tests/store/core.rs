//! The core store ([`fieldsync_server::store::Store`]): accounts and
//! documents.

use automerge::Automerge;
use fieldsync_core::{DocId, Role, Status, UserId};
use fieldsync_server::app::AppStore;
use fieldsync_server::store::{
    CommitOutcome, Constraint, Device, DeviceActor, DeviceId, DocCommit, NewRefreshToken,
    RefreshOutcome, SigningKey, StoreError, TokenHash, User, UserCredentials, Username,
};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::jobs::projection;
use crate::{edits, job_doc, now, open};

conformance_tests!(
    users_are_unique_by_name,
    devices_belong_to_one_user,
    revoking_a_device_revokes_its_refresh_tokens,
    refresh_tokens_rotate_and_reuse_revokes_the_family,
    a_lost_refresh_answer_is_forgiven_within_the_grace_only,
    concurrent_use_of_one_refresh_token_rotates_once,
    signing_keys_bootstrap_once_and_rotate,
    commits_are_idempotent_and_versioned,
    stale_commits_write_nothing,
    snapshots_bound_what_a_load_applies,
    many_documents_load_in_one_read,
    covered_change_rows_are_pruned_and_loads_stay_whole,
    a_copy_cached_before_pruning_loads_whole,
    an_archived_document_keeps_one_snapshot_and_takes_no_commits,
    receipts_go_with_pruned_rows_except_for_jobs,
    two_processes_committing_to_one_document_lose_nothing,
    cached_loads_catch_up_with_other_writers,
);

pub async fn user(store: &dyn AppStore, name: &str, role: Role) -> User {
    let user = User {
        id: UserId::from_uuid(Uuid::new_v4()),
        username: name.parse().unwrap(),
        role,
        created_at: now(),
    };
    store
        .create_user(&UserCredentials {
            user: user.clone(),
            password_hash: "$argon2id$test".into(),
        })
        .await
        .unwrap()
}

pub async fn device(store: &dyn AppStore, user: &User, actor: u8) -> Device {
    store
        .register_device(&Device {
            id: DeviceId::new_random(),
            user_id: user.id,
            name: format!("phone {actor}"),
            actor: DeviceActor::from_bytes([actor; 16]),
            registered_at: now(),
            revoked_at: None,
        })
        .await
        .unwrap()
}

fn token(n: u8) -> TokenHash {
    TokenHash([n; 32])
}

async fn issue(
    store: &dyn AppStore,
    d: &Device,
    hash: TokenHash,
    expires_at: OffsetDateTime,
) -> Uuid {
    let family_id = Uuid::new_v4();
    store
        .insert_refresh_token(&NewRefreshToken {
            hash,
            family_id,
            device_id: d.id,
            user_id: d.user_id,
            issued_at: now(),
            expires_at,
        })
        .await
        .unwrap();
    family_id
}

async fn users_are_unique_by_name(url: &str) {
    let store = open(url).await;
    let ana = user(store.as_ref(), "ana", Role::Technician).await;
    assert_eq!(store.user(ana.id).await.unwrap(), ana);
    let creds = store
        .user_credentials(&"ANA".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(creds.user, ana);
    assert_eq!(creds.password_hash, "$argon2id$test");

    let again = store
        .create_user(&UserCredentials {
            user: User {
                id: UserId::from_uuid(Uuid::new_v4()),
                ..ana.clone()
            },
            password_hash: "x".into(),
        })
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict(Constraint::UsernameTaken))),
        "{again:?}"
    );
    let missing: Username = "bob".parse().unwrap();
    assert!(matches!(
        store.user_credentials(&missing).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.user(UserId::from_uuid(Uuid::new_v4())).await,
        Err(StoreError::NotFound)
    ));
}

async fn devices_belong_to_one_user(url: &str) {
    let store = open(url).await;
    let ana = user(store.as_ref(), "ana", Role::Technician).await;
    let bob = user(store.as_ref(), "bob", Role::Dispatcher).await;
    let phone = device(store.as_ref(), &ana, 1).await;

    // The same user logging in again from the same install keeps the row.
    let again = device(store.as_ref(), &ana, 1).await;
    assert_eq!(again.id, phone.id);

    let stolen = store
        .register_device(&Device {
            id: DeviceId::new_random(),
            user_id: bob.id,
            name: "bob's".into(),
            actor: DeviceActor::from_bytes([1; 16]),
            registered_at: now(),
            revoked_at: None,
        })
        .await;
    assert!(
        matches!(stolen, Err(StoreError::Conflict(Constraint::ActorIdTaken))),
        "{stolen:?}"
    );

    let principal = store.device_principal(phone.id).await.unwrap();
    assert_eq!(principal.role, Role::Technician);
    assert_eq!(principal.device, phone);
    assert!(matches!(
        store.device(DeviceId::new_random()).await,
        Err(StoreError::NotFound)
    ));
    // Who wrote a change: the device behind its actor.
    let by_actor = store
        .device_by_actor(&DeviceActor::from_bytes([1; 16]))
        .await
        .unwrap();
    assert_eq!(by_actor, phone);
    assert!(matches!(
        store
            .device_by_actor(&DeviceActor::from_bytes([9; 16]))
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn revoking_a_device_revokes_its_refresh_tokens(url: &str) {
    let store = open(url).await;
    let ana = user(store.as_ref(), "ana", Role::Technician).await;
    let phone = device(store.as_ref(), &ana, 1).await;
    issue(store.as_ref(), &phone, token(1), now() + Duration::days(30)).await;

    let t1 = now();
    let revoked = store.revoke_device(phone.id, t1).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(t1));
    // Revoking again keeps the first time.
    let again = store
        .revoke_device(phone.id, t1 + Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(again.revoked_at, Some(t1));
    assert!(
        store
            .device_principal(phone.id)
            .await
            .unwrap()
            .device
            .is_revoked()
    );

    let outcome = store
        .rotate_refresh_token(
            &token(1),
            &token(2),
            now() + Duration::days(30),
            now(),
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(outcome, RefreshOutcome::Invalid);
    assert!(matches!(
        store.revoke_device(DeviceId::new_random(), now()).await,
        Err(StoreError::NotFound)
    ));
}

async fn refresh_tokens_rotate_and_reuse_revokes_the_family(url: &str) {
    let store = open(url).await;
    let ana = user(store.as_ref(), "ana", Role::Technician).await;
    let phone = device(store.as_ref(), &ana, 1).await;
    let family = issue(store.as_ref(), &phone, token(1), now() + Duration::days(30)).await;
    let later = now() + Duration::days(30);

    let rotated = store
        .rotate_refresh_token(&token(1), &token(2), later, now(), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        rotated,
        RefreshOutcome::Rotated {
            user_id: ana.id,
            device_id: phone.id,
            family_id: family
        }
    );
    // token(1) again: reuse, the family (token(2) included) is revoked.
    let reused = store
        .rotate_refresh_token(&token(1), &token(3), later, now(), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(reused, RefreshOutcome::Reused { family_id: family });
    let newer = store
        .rotate_refresh_token(&token(2), &token(4), later, now(), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(newer, RefreshOutcome::Invalid);

    // Unknown and expired tokens are invalid.
    assert_eq!(
        store
            .rotate_refresh_token(&token(9), &token(10), later, now(), Duration::ZERO)
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
    issue(
        store.as_ref(),
        &phone,
        token(20),
        now() - Duration::seconds(1),
    )
    .await;
    assert_eq!(
        store
            .rotate_refresh_token(&token(20), &token(21), later, now(), Duration::ZERO)
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );

    // Explicit family revocation.
    let family2 = issue(store.as_ref(), &phone, token(30), later).await;
    store.revoke_token_family(family2, now()).await.unwrap();
    assert_eq!(
        store
            .rotate_refresh_token(&token(30), &token(31), later, now(), Duration::ZERO)
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
}

async fn a_lost_refresh_answer_is_forgiven_within_the_grace_only(url: &str) {
    let store = open(url).await;
    let ana = user(store.as_ref(), "ana", Role::Technician).await;
    let phone = device(store.as_ref(), &ana, 1).await;
    let family = issue(store.as_ref(), &phone, token(1), now() + Duration::days(30)).await;
    let later = now() + Duration::days(30);
    let grace = Duration::seconds(60);
    let t0 = now();
    let rotate = |presented: u8, next: u8, at: OffsetDateTime| {
        let store = store.clone();
        async move {
            store
                .rotate_refresh_token(&token(presented), &token(next), later, at, grace)
                .await
                .unwrap()
        }
    };
    let rotated = RefreshOutcome::Rotated {
        user_id: ana.id,
        device_id: phone.id,
        family_id: family,
    };

    // token(1) -> token(2); the answer is lost, token(1) comes again (twice):
    // each time a fresh token, and the one it replaces stops working.
    assert_eq!(rotate(1, 2, t0).await, rotated);
    assert_eq!(rotate(1, 3, t0 + Duration::seconds(5)).await, rotated);
    assert_eq!(rotate(1, 4, t0 + Duration::seconds(10)).await, rotated);
    assert_eq!(
        rotate(2, 5, t0 + Duration::seconds(11)).await,
        RefreshOutcome::Invalid
    );
    assert_eq!(
        rotate(3, 6, t0 + Duration::seconds(11)).await,
        RefreshOutcome::Invalid
    );
    // The device got token(4) and uses it: token(1) is now an older token,
    // and presenting it revokes the family, token(4)'s successor included.
    assert_eq!(rotate(4, 7, t0 + Duration::seconds(12)).await, rotated);
    assert_eq!(
        rotate(1, 8, t0 + Duration::seconds(13)).await,
        RefreshOutcome::Reused { family_id: family }
    );
    assert_eq!(
        rotate(7, 9, t0 + Duration::seconds(14)).await,
        RefreshOutcome::Invalid
    );

    // Past the grace, even the latest used token revokes its family.
    let family2 = issue(store.as_ref(), &phone, token(20), later).await;
    assert!(matches!(
        rotate(20, 21, t0).await,
        RefreshOutcome::Rotated { .. }
    ));
    assert_eq!(
        rotate(20, 22, t0 + Duration::seconds(61)).await,
        RefreshOutcome::Reused { family_id: family2 }
    );
    assert_eq!(
        rotate(21, 23, t0 + Duration::seconds(62)).await,
        RefreshOutcome::Invalid
    );
}

async fn concurrent_use_of_one_refresh_token_rotates_once(url: &str) {
    let store = open(url).await;
    let ana = user(store.as_ref(), "ana", Role::Technician).await;
    let phone = device(store.as_ref(), &ana, 1).await;
    issue(store.as_ref(), &phone, token(1), now() + Duration::days(30)).await;

    let other = open(url).await; // a second pool, as a second process would have
    let later = now() + Duration::days(30);
    let (t1, t2, t3, at) = (token(1), token(2), token(3), now());
    let (a, b) = tokio::join!(
        store.rotate_refresh_token(&t1, &t2, later, at, Duration::ZERO),
        other.rotate_refresh_token(&t1, &t3, later, at, Duration::ZERO),
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    let rotated = outcomes
        .iter()
        .filter(|o| matches!(o, RefreshOutcome::Rotated { .. }))
        .count();
    let reused = outcomes
        .iter()
        .filter(|o| matches!(o, RefreshOutcome::Reused { .. }))
        .count();
    assert_eq!((rotated, reused), (1, 1), "{outcomes:?}");
}

async fn signing_keys_bootstrap_once_and_rotate(url: &str) {
    let store = open(url).await;
    let key = |kid: &str, at: OffsetDateTime| SigningKey {
        kid: kid.into(),
        secret: vec![7; 32],
        created_at: at,
        retired_at: None,
    };
    let t0 = now() - Duration::hours(2);
    assert!(store.ensure_signing_key(&key("k1", t0)).await.unwrap());
    assert!(!store.ensure_signing_key(&key("k2", t0)).await.unwrap());

    let t1 = now();
    store.rotate_signing_key(&key("k3", t1)).await.unwrap();
    let keys = store.signing_keys(t1 - Duration::hours(1)).await.unwrap();
    let kids: Vec<_> = keys.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, ["k3", "k1"], "newest first, retired key still listed");
    assert_eq!(keys[1].retired_at, Some(t1));
    assert_eq!(keys[0].secret, vec![7; 32]);

    // Long-retired keys drop out.
    let keys = store.signing_keys(t1 + Duration::seconds(1)).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert!(format!("{:?}", keys[0]).contains("redacted"));
}

async fn commits_are_idempotent_and_versioned(url: &str) {
    let store = open(url).await;
    let (_, doc_id) = job_doc();
    assert!(store.load_document(&doc_id).await.unwrap().is_none());
    let (doc, changes) = edits(1, 3);

    let mut commit = DocCommit::new(doc_id, 0);
    commit.changes = changes.clone();
    let first = store.commit(&commit).await.unwrap();
    assert!(
        matches!(
            first,
            CommitOutcome::Committed {
                version: 3,
                inserted: 3,
                ..
            }
        ),
        "{first:?}"
    );

    // A retried request: same changes at the new version change nothing.
    commit.base_version = 3;
    let retry = store.commit(&commit).await.unwrap();
    assert!(
        matches!(
            retry,
            CommitOutcome::Committed {
                version: 3,
                inserted: 0,
                ..
            }
        ),
        "{retry:?}"
    );

    let stored = store.load_document(&doc_id).await.unwrap().unwrap();
    assert_eq!(stored.version, 3);
    assert_eq!(
        stored.changes.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(stored.to_automerge().unwrap().get_heads(), doc.get_heads());

    let since = store.load_changes_since(&doc_id, 1).await.unwrap();
    assert_eq!(since.len(), 2);
    assert_eq!(since[0].hash, changes[1].hash);
    assert!(
        store
            .load_changes_since(&DocId::PriceBook, 0)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn stale_commits_write_nothing(url: &str) {
    let store = open(url).await;
    let (job, doc_id) = job_doc();
    let (_, changes) = edits(1, 2);
    let mut commit = DocCommit::new(doc_id, 0);
    commit.changes = changes[..1].to_vec();
    store.commit(&commit).await.unwrap();

    // Another writer still at version 0.
    let mut stale = DocCommit::new(doc_id, 0);
    stale.changes = changes[1..].to_vec();
    stale.project(projection(job, Status::Scheduled, None));
    let outcome = store.commit(&stale).await.unwrap();
    assert_eq!(outcome, CommitOutcome::Stale { current_version: 1 });
    assert_eq!(
        store.load_document(&doc_id).await.unwrap().unwrap().version,
        1
    );
    assert!(matches!(store.job(job).await, Err(StoreError::NotFound)));

    // A projection for another document is a caller bug, not a write.
    let mut wrong = DocCommit::new(DocId::PriceBook, 0);
    wrong.project(projection(job, Status::Scheduled, None));
    assert!(matches!(
        store.commit(&wrong).await,
        Err(StoreError::Other(_))
    ));
}

/// What a sync loads: some documents cached at a version, some not, one
/// never written, more than one query's worth of ids.
async fn many_documents_load_in_one_read(url: &str) {
    let store = open(url).await;
    let (_, a) = job_doc();
    let (_, b) = job_doc();
    let (_, never) = job_doc();
    let (a_full, a_changes) = edits(1, 5);
    let (b_full, b_changes) = edits(2, 3);
    let mut snapshot = Automerge::new();
    for c in &a_changes[..2] {
        snapshot.load_incremental(&c.bytes).unwrap();
    }
    let mut c = DocCommit::new(a, 0);
    c.changes = a_changes[..2].to_vec();
    c.snapshot = Some(snapshot.save());
    store.commit(&c).await.unwrap();
    let mut c = DocCommit::new(a, 2);
    c.changes = a_changes[2..].to_vec();
    store.commit(&c).await.unwrap();
    let mut c = DocCommit::new(b, 0);
    c.changes = b_changes.clone();
    store.commit(&c).await.unwrap();
    // Enough unrelated documents that the ids span several queries.
    let mut others = Vec::new();
    for _ in 0..520 {
        let (_, id) = job_doc();
        let mut c = DocCommit::new(id, 0);
        c.changes = edits(3, 1).1;
        store.commit(&c).await.unwrap();
        others.push((id, Some(1)));
    }

    let mut want = vec![(a, None), (b, Some(1)), (never, None)];
    want.extend(others.iter().copied());
    want.push((b, Some(3)));
    let loaded = store.load_documents(&want).await.unwrap();
    assert_eq!(
        loaded.len(),
        want.len() - 1,
        "the never-written one is left out"
    );

    let whole = &loaded[0];
    assert_eq!((whole.doc_id, whole.version), (a, 5));
    assert_eq!(whole.snapshot.as_ref().unwrap().covers_seq, 2);
    assert_eq!(
        whole.changes.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    assert_eq!(
        whole.to_automerge().unwrap().get_heads(),
        a_full.get_heads()
    );

    let since = &loaded[1];
    assert_eq!((since.doc_id, since.version), (b, 3));
    assert!(
        since.snapshot.is_none(),
        "a cached document needs no snapshot"
    );
    assert_eq!(
        since.changes.iter().map(|c| c.hash).collect::<Vec<_>>(),
        b_changes[1..].iter().map(|c| c.hash).collect::<Vec<_>>()
    );
    let mut caught_up = Automerge::new();
    caught_up.load_incremental(&b_changes[0].bytes).unwrap();
    for c in &since.changes {
        caught_up.load_incremental(&c.bytes).unwrap();
    }
    assert_eq!(caught_up.get_heads(), b_full.get_heads());

    for (stored, (id, _)) in loaded[2..].iter().zip(&others) {
        assert_eq!((stored.doc_id, stored.version), (*id, 1));
        assert!(stored.changes.is_empty() && stored.snapshot.is_none());
    }
    let current = loaded.last().unwrap();
    assert_eq!((current.doc_id, current.version), (b, 3));
    assert!(current.changes.is_empty(), "nothing after the version held");
}

/// Pruning deletes only rows an old enough snapshot covers, a whole load is
/// the same document after it, and a copy cached before the pruned rows
/// comes back whole instead of with a gap.
async fn covered_change_rows_are_pruned_and_loads_stay_whole(url: &str) {
    let store = open(url).await;
    let (_, doc_id) = job_doc();
    let (full, changes) = edits(1, 10);
    let mut snapshot = Automerge::new();
    for c in &changes[..6] {
        snapshot.load_incremental(&c.bytes).unwrap();
    }
    let mut c = DocCommit::new(doc_id, 0);
    c.changes = changes[..6].to_vec();
    c.snapshot = Some(snapshot.save());
    store.commit(&c).await.unwrap();
    let mut c = DocCommit::new(doc_id, 6);
    c.changes = changes[6..].to_vec();
    store.commit(&c).await.unwrap();

    // The snapshot is newer than the cut-off: nothing goes.
    let an_hour_ago = OffsetDateTime::now_utc() - Duration::hours(1);
    assert_eq!(store.prune_changes(an_hour_ago, 100).await.unwrap(), 0);
    assert_eq!(
        store.load_changes_since(&doc_id, 0).await.unwrap().len(),
        10
    );

    let later = OffsetDateTime::now_utc() + Duration::seconds(1);
    assert_eq!(store.prune_changes(later, 100).await.unwrap(), 6);
    assert_eq!(
        store.prune_changes(later, 100).await.unwrap(),
        0,
        "done once"
    );
    let rows = store.load_changes_since(&doc_id, 0).await.unwrap();
    assert_eq!(
        rows.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [7, 8, 9, 10]
    );

    let stored = store.load_document(&doc_id).await.unwrap().unwrap();
    assert_eq!(stored.version, 10);
    assert_eq!(stored.to_automerge().unwrap().get_heads(), full.get_heads());

    // Held at 3 (before the pruned rows): whole. Held at 8: rows after it.
    let old = store.load_documents(&[(doc_id, Some(3))]).await.unwrap();
    assert_eq!(old[0].snapshot.as_ref().unwrap().covers_seq, 6);
    assert_eq!(old[0].to_automerge().unwrap().get_heads(), full.get_heads());
    let recent = store.load_documents(&[(doc_id, Some(8))]).await.unwrap();
    assert!(recent[0].snapshot.is_none());
    assert_eq!(
        recent[0].changes.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [9, 10]
    );

    // Commits go on after pruning.
    let (_, more) = edits(2, 1);
    let mut c = DocCommit::new(doc_id, 10);
    c.changes = more;
    assert!(matches!(
        store.commit(&c).await.unwrap(),
        CommitOutcome::Committed { version: 11, .. }
    ));
}

/// A server process that cached a document before rows it would catch up
/// from were pruned (another process wrote and pruned meanwhile).
async fn a_copy_cached_before_pruning_loads_whole(url: &str) {
    use fieldsync_server::documents::{Cache, load};
    let store = open(url).await;
    let cache = Cache::new(64 << 20, None);
    let (_, doc_id) = job_doc();
    let (full, changes) = edits(1, 10);
    let mut c = DocCommit::new(doc_id, 0);
    c.changes = changes[..3].to_vec();
    store.commit(&c).await.unwrap();
    assert_eq!(
        load(&*store, &cache, &doc_id)
            .await
            .unwrap()
            .unwrap()
            .version,
        3
    );

    let mut c = DocCommit::new(doc_id, 3);
    c.changes = changes[3..].to_vec();
    c.snapshot = Some(full.save());
    store.commit(&c).await.unwrap();
    let later = OffsetDateTime::now_utc() + Duration::seconds(1);
    assert_eq!(store.prune_changes(later, 100).await.unwrap(), 10);

    let loaded = load(&*store, &cache, &doc_id).await.unwrap().unwrap();
    assert_eq!(loaded.version, 10);
    assert_eq!(loaded.doc.get_heads(), full.get_heads());
}

/// Issue 19 item 4: archiving keeps the final state as one snapshot, drops
/// the change rows and receipts, and refuses every later commit (even of a
/// change it once held) without writing anything.
async fn an_archived_document_keeps_one_snapshot_and_takes_no_commits(url: &str) {
    use fieldsync_server::documents::{Cache, load};
    let store = open(url).await;
    let (_, doc_id) = job_doc();
    let (_, other) = job_doc();
    let (full, changes) = edits(1, 10);
    let mut c = DocCommit::new(doc_id, 0);
    c.changes = changes[..6].to_vec();
    store.commit(&c).await.unwrap();
    let mut c = DocCommit::new(doc_id, 6);
    c.changes = changes[6..].to_vec();
    store.commit(&c).await.unwrap();
    let mut c = DocCommit::new(other, 0);
    c.changes = edits(2, 2).1;
    store.commit(&c).await.unwrap();
    assert_eq!(store.change_receipts(&doc_id).await.unwrap().len(), 10);
    // A copy cached before the archive (another process's, say).
    let cache = Cache::new(64 << 20, None);
    load(&*store, &cache, &doc_id).await.unwrap().unwrap();

    let at = now();
    // Saved at a version that is no longer the latest: nothing happens.
    assert!(
        !store
            .archive_document(&doc_id, 9, &full.save(), at)
            .await
            .unwrap()
    );
    assert_eq!(
        store.load_changes_since(&doc_id, 0).await.unwrap().len(),
        10
    );
    assert!(
        store
            .archive_document(&doc_id, 10, &full.save(), at)
            .await
            .unwrap()
    );
    assert!(
        !store
            .archive_document(&doc_id, 10, &full.save(), at)
            .await
            .unwrap(),
        "archived once"
    );

    assert!(
        store
            .load_changes_since(&doc_id, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.change_receipts(&doc_id).await.unwrap().is_empty());
    let stored = store.load_document(&doc_id).await.unwrap().unwrap();
    assert_eq!(stored.version, 10);
    assert_eq!(stored.snapshot.as_ref().unwrap().covers_seq, 10);
    assert!(stored.changes.is_empty());
    assert_eq!(stored.to_automerge().unwrap().get_heads(), full.get_heads());
    // Held at an old version: whole; held at the last: nothing to add.
    let old = store.load_documents(&[(doc_id, Some(3))]).await.unwrap();
    assert_eq!(old[0].to_automerge().unwrap().get_heads(), full.get_heads());
    let held = store.load_documents(&[(doc_id, Some(10))]).await.unwrap();
    assert!(held[0].snapshot.is_none() && held[0].changes.is_empty());
    let cached = load(&*store, &cache, &doc_id).await.unwrap().unwrap();
    assert_eq!(cached.doc.get_heads(), full.get_heads());

    // A new change and a change it once held are both refused, unwritten.
    let mut c = DocCommit::new(doc_id, 10);
    c.changes = edits(3, 1).1;
    assert_eq!(store.commit(&c).await.unwrap(), CommitOutcome::Archived);
    let mut c = DocCommit::new(doc_id, 10);
    c.changes = changes[..1].to_vec();
    assert_eq!(store.commit(&c).await.unwrap(), CommitOutcome::Archived);
    assert!(
        store
            .load_changes_since(&doc_id, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.change_receipts(&doc_id).await.unwrap().is_empty());
    assert_eq!(
        store.load_document(&doc_id).await.unwrap().unwrap().version,
        10
    );

    assert_eq!(
        store.archived_among(&[doc_id, other]).await.unwrap(),
        vec![doc_id]
    );
    assert_eq!(store.load_changes_since(&other, 0).await.unwrap().len(), 2);
}

/// Receipts say when each change of a job was received (the job page), so
/// a job keeps them when its rows are pruned; the van stock and the price
/// book, whose receipts nobody reads, lose them with their rows.
async fn receipts_go_with_pruned_rows_except_for_jobs(url: &str) {
    let store = open(url).await;
    let (_, job) = job_doc();
    let van = DocId::VanStock(fieldsync_core::LocationId::from_uuid(Uuid::new_v4()));
    for doc_id in [job, van] {
        let (_, changes) = edits(1, 5);
        let mut c = DocCommit::new(doc_id, 0);
        c.changes = changes[..4].to_vec();
        store.commit(&c).await.unwrap();
        let mut c = DocCommit::new(doc_id, 4);
        c.changes = changes[4..].to_vec();
        store.commit(&c).await.unwrap();
        let mut covered = Automerge::new();
        for ch in &changes[..4] {
            covered.load_incremental(&ch.bytes).unwrap();
        }
        store
            .write_snapshot(&doc_id, 4, &covered.save())
            .await
            .unwrap();
        assert_eq!(store.change_receipts(&doc_id).await.unwrap().len(), 5);
    }
    let later = OffsetDateTime::now_utc() + Duration::seconds(1);
    assert_eq!(store.prune_changes(later, 100).await.unwrap(), 8);
    assert_eq!(store.change_receipts(&job).await.unwrap().len(), 5);
    // The van keeps the receipt of the one change still in a row.
    let kept = store.change_receipts(&van).await.unwrap();
    let row = store.load_changes_since(&van, 0).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].hash, row[0].hash);
}

async fn snapshots_bound_what_a_load_applies(url: &str) {
    let store = open(url).await;
    let (_, doc_id) = job_doc();
    let (_, changes) = edits(1, 10);
    let mut full = Automerge::new();
    for c in &changes[..6] {
        full.load_incremental(&c.bytes).unwrap();
    }

    // Six changes, with a snapshot of them in the same commit.
    let mut c = DocCommit::new(doc_id, 0);
    c.changes = changes[..6].to_vec();
    c.snapshot = Some(full.save());
    let out = store.commit(&c).await.unwrap();
    assert!(
        matches!(
            out,
            CommitOutcome::Committed {
                version: 6,
                changes_since_snapshot: 0,
                ..
            }
        ),
        "{out:?}"
    );

    let mut c = DocCommit::new(doc_id, 6);
    c.changes = changes[6..].to_vec();
    let out = store.commit(&c).await.unwrap();
    assert!(
        matches!(
            out,
            CommitOutcome::Committed {
                version: 10,
                changes_since_snapshot: 4,
                ..
            }
        ),
        "{out:?}"
    );
    let stored = store.load_document(&doc_id).await.unwrap().unwrap();
    assert_eq!(stored.snapshot.as_ref().unwrap().covers_seq, 6);
    assert_eq!(stored.changes.len(), 4);
    assert_eq!(stored.changes_since_snapshot(), 4);

    // A later snapshot replaces it; an older one does not.
    for c in &changes[6..] {
        full.load_incremental(&c.bytes).unwrap();
    }
    store
        .write_snapshot(&doc_id, 10, &full.save())
        .await
        .unwrap();
    store.write_snapshot(&doc_id, 3, b"old").await.unwrap();
    let stored = store.load_document(&doc_id).await.unwrap().unwrap();
    assert_eq!(stored.snapshot.as_ref().unwrap().covers_seq, 10);
    assert!(stored.changes.is_empty());
    assert_eq!(stored.to_automerge().unwrap().get_heads(), full.get_heads());
    // Change rows stay (idempotency, audit): a catch-up still sees them.
    assert_eq!(
        store.load_changes_since(&doc_id, 0).await.unwrap().len(),
        10
    );
    assert!(store.write_snapshot(&doc_id, 11, b"future").await.is_err());
}

/// Writers on two pools (as two processes have) commit to one document at
/// once, catching up on `Stale`: every change is stored exactly once.
async fn two_processes_committing_to_one_document_lose_nothing(url: &str) {
    const WRITERS: u8 = 6;
    const EDITS: usize = 5;
    let stores = [open(url).await, open(url).await];
    let (_, doc_id) = job_doc();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = stores[usize::from(w) % 2].clone();
        tasks.push(tokio::spawn(async move {
            let (_, changes) = edits(w + 1, EDITS);
            let mut version = 0;
            for change in changes {
                for attempt in 0.. {
                    assert!(attempt < 1000, "writer {w} made no progress");
                    let mut c = DocCommit::new(doc_id, version);
                    c.changes = vec![change.clone()];
                    match store.commit(&c).await.unwrap() {
                        CommitOutcome::Committed { version: v, .. } => {
                            version = v;
                            break;
                        }
                        CommitOutcome::Stale { .. } => {
                            let since = store.load_changes_since(&doc_id, version).await.unwrap();
                            version = since.last().map_or(version, |c| c.seq);
                        }
                        CommitOutcome::Archived => panic!("nothing archives this document"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total = i64::from(WRITERS) * EDITS as i64;
    let stored = stores[0].load_document(&doc_id).await.unwrap().unwrap();
    assert_eq!(stored.version, total);
    let seqs: Vec<i64> = stored.changes.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
    let doc = stored.to_automerge().unwrap();
    assert_eq!(doc.get_heads().len(), usize::from(WRITERS));
}

/// The cache in front of one process's store catches up with what another
/// process wrote.
async fn cached_loads_catch_up_with_other_writers(url: &str) {
    use fieldsync_server::documents;
    use fieldsync_server::store::DocCache;
    let (ours, theirs) = (open(url).await, open(url).await);
    let cache = DocCache::new(1 << 20, Some(8));
    let (_, doc_id) = job_doc();
    assert!(
        documents::load(ours.as_ref(), &cache, &doc_id)
            .await
            .unwrap()
            .is_none()
    );

    let (_, changes) = edits(1, 4);
    let mut c = DocCommit::new(doc_id, 0);
    c.changes = changes[..2].to_vec();
    ours.commit(&c).await.unwrap();
    let loaded = documents::load(ours.as_ref(), &cache, &doc_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded.version, 2);
    assert_eq!(cache.get(&doc_id).unwrap().version, 2);

    let mut c = DocCommit::new(doc_id, 2);
    c.changes = changes[2..].to_vec();
    theirs.commit(&c).await.unwrap();
    let loaded = documents::load(ours.as_ref(), &cache, &doc_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded.version, 4);
    let (full, _) = edits(1, 4);
    assert_eq!(loaded.doc.get_heads(), full.get_heads());
    assert_eq!(cache.get(&doc_id).unwrap().version, 4);
    assert!(documents::snapshot_due(60, 5));
    assert!(!documents::snapshot_due(10, 5));
}
