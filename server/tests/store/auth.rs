//! The audit of login lockouts ([`fieldsync_server::auth::LockoutStore`]).

use fieldsync_server::auth::LoginLockout;
use fieldsync_server::auth::lockouts::Surface;
use fieldsync_server::auth::throttle::Scope;
use time::Duration;
use uuid::Uuid;

use crate::{now, open};

conformance_tests!(lockouts_are_kept_and_hold_until_they_end);

async fn lockouts_are_kept_and_hold_until_they_end(url: &str) {
    let store = open(url).await;
    let t0 = now();
    let lockout = |scope, subject: &str, at, secs| LoginLockout {
        id: Uuid::new_v4(),
        scope,
        subject: subject.to_owned(),
        surface: Surface::Console,
        client: "2001:db8::7".to_owned(),
        failures: 10,
        locked_at: at,
        locked_until: at + Duration::seconds(secs),
    };
    assert_eq!(
        store
            .live_login_lockout("ana", "203.0.113.9", t0)
            .await
            .unwrap(),
        None
    );
    let ana = lockout(Scope::Account, "ana", t0, 900);
    let addr = lockout(Scope::Address, "203.0.113.9", t0 + Duration::seconds(1), 60);
    store.record_login_lockout(&ana).await.unwrap();
    store.record_login_lockout(&addr).await.unwrap();

    // Each key by its own scope only: an account named like the address is
    // not locked, nor an address named like the account.
    let live = |account: &'static str, address: &'static str, at| {
        let store = store.clone();
        async move {
            store
                .live_login_lockout(account, address, at)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        live("ana", "198.51.100.1", t0).await,
        Some((Scope::Account, ana.locked_until))
    );
    assert_eq!(live("203.0.113.9", "ana", t0).await, None);
    // Both hold: the one that lasts longest.
    assert_eq!(
        live("ana", "203.0.113.9", t0 + Duration::seconds(2)).await,
        Some((Scope::Account, ana.locked_until))
    );
    assert_eq!(
        live("bob", "203.0.113.9", t0 + Duration::seconds(2)).await,
        Some((Scope::Address, addr.locked_until))
    );
    // Over at its end.
    assert_eq!(live("bob", "203.0.113.9", addr.locked_until).await, None);
    assert_eq!(live("ana", "", ana.locked_until).await, None);

    // The audit keeps every row, newest first, exactly as written.
    let audit = store.login_lockouts(10).await.unwrap();
    assert_eq!(audit, [addr.clone(), ana.clone()]);
    assert_eq!(store.login_lockouts(1).await.unwrap(), [addr]);
}
