//! Console sessions ([`fieldsync_server::web::WebSessionStore`]).

use fieldsync_core::Role;
use fieldsync_server::store::TokenHash;
use fieldsync_server::web::NewWebSession;
use time::Duration;

use crate::{now, open};

conformance_tests!(sessions_live_until_they_expire_or_log_out);

async fn sessions_live_until_they_expire_or_log_out(url: &str) {
    let store = open(url).await;
    let ana = crate::core::user(store.as_ref(), "ana", Role::Supervisor).await;
    let t0 = now();
    let session = |n: u8, ttl: Duration| NewWebSession {
        token_hash: TokenHash([n; 32]),
        user_id: ana.id,
        csrf_token: format!("csrf-{n}"),
        created_at: t0,
        expires_at: t0 + ttl,
    };
    store
        .create_web_session(&session(1, Duration::hours(8)))
        .await
        .unwrap();
    store
        .create_web_session(&session(2, Duration::minutes(1)))
        .await
        .unwrap();
    let live = store
        .web_session(&TokenHash([1; 32]), t0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (live.user, live.csrf_token.as_str()),
        (ana.clone(), "csrf-1")
    );
    assert_eq!(live.expires_at, t0 + Duration::hours(8));
    let later = t0 + Duration::minutes(2);
    assert!(
        store
            .web_session(&TokenHash([2; 32]), later)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    assert!(
        store
            .web_session(&TokenHash([3; 32]), t0)
            .await
            .unwrap()
            .is_none(),
        "unknown"
    );

    // Logging out deletes the session, and expired ones with it.
    store
        .delete_web_session(&TokenHash([1; 32]), later)
        .await
        .unwrap();
    assert!(
        store
            .web_session(&TokenHash([1; 32]), t0)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .web_session(&TokenHash([2; 32]), t0)
            .await
            .unwrap()
            .is_none()
    );
}
