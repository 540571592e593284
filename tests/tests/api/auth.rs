//! Login, access tokens, refresh-token rotation, device revocation.

use fieldsync_core::Role;
use fieldsync_server::auth::jwt::new_signing_key;
use fieldsync_server::auth::{MeResponse, TokenResponse};
use jsonwebtoken::Algorithm;
use serde_json::json;

use crate::helpers::*;
use crate::raw::sql_count;

backend_tests!(
    login_returns_a_token_pair_and_me_works,
    wrong_password_and_unknown_user_get_the_same_401,
    a_device_logging_in_again_keeps_its_row,
    another_users_actor_id_is_a_conflict,
    bad_access_tokens_get_401,
    nbf_is_checked_with_the_same_leeway_as_exp,
    a_token_signed_with_a_newly_rotated_key_is_accepted,
    refresh_rotates_the_pair,
    reusing_a_rotated_refresh_token_revokes_the_family,
    a_lost_refresh_answer_is_forgiven_within_the_grace,
    a_revoked_device_gets_401_at_once,
    only_admins_supervisors_and_owners_revoke_devices,
);

async fn login_returns_a_token_pair_and_me_works(backend: fieldsync_server::testing::TestBackend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana", Role::Technician).await;
    let tokens = app.login("ANA", &actor(1)).await;
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.expires_in, 900);
    assert_eq!(tokens.user.id, ana);
    assert_eq!(tokens.user.username, "ana");
    assert_eq!(tokens.user.role, Role::Technician);
    assert_eq!(tokens.refresh_token.len(), 64);

    let res = app.me(&tokens.access_token).await;
    assert_eq!(res.status(), 200);
    let me: MeResponse = res.json().await.unwrap();
    assert_eq!(me.user.id, ana);
    assert_eq!(me.device.id, tokens.device_id);
    assert_eq!(me.device.actor_id, actor(1));
    assert!(me.device.revoked_at.is_none());

    // The access token is an HS256 JWT with a kid and the required claims.
    let header = jsonwebtoken::decode_header(&tokens.access_token).unwrap();
    assert_eq!(header.alg, Algorithm::HS256);
    assert_eq!(header.kid, Some(app.active_key().await.kid));
    let claims: serde_json::Value =
        jsonwebtoken::dangerous::insecure_decode_claims(&tokens.access_token).unwrap();
    for claim in ["exp", "iat", "nbf", "sub", "aud", "iss", "role", "did"] {
        assert!(!claims[claim].is_null(), "missing {claim}: {claims}");
    }
    assert_eq!(
        claims["nbf"], claims["iat"],
        "valid from the moment it is issued"
    );
}

async fn wrong_password_and_unknown_user_get_the_same_401(
    backend: fieldsync_server::testing::TestBackend,
) {
    let app = spawn_app(backend).await;
    app.user("ana", Role::Technician).await;
    let wrong = assert_error(
        app.login_raw("ana", "not the password", &actor(1)).await,
        401,
        "unauthorized",
    )
    .await;
    let unknown = assert_error(
        app.login_raw("nobody", PASSWORD, &actor(1)).await,
        401,
        "unauthorized",
    )
    .await;
    assert_eq!(wrong, unknown, "no hint whether the user exists");
    // Nothing was registered for the failed attempts (a device row with
    // their actor id would lock that install out of another account).
    assert_eq!(sql_count(&app, "SELECT count(*) FROM devices").await, 0);
    assert_eq!(
        sql_count(&app, "SELECT count(*) FROM refresh_tokens").await,
        0
    );
    // A good login registers exactly one: the count can move.
    app.login("ana", &actor(1)).await;
    assert_eq!(sql_count(&app, "SELECT count(*) FROM devices").await, 1);
}

async fn a_device_logging_in_again_keeps_its_row(backend: fieldsync_server::testing::TestBackend) {
    let app = spawn_app(backend).await;
    app.user("ana", Role::Technician).await;
    let first = app.login("ana", &actor(1)).await;
    let again = app.login("ana", &actor(1)).await;
    assert_eq!(first.device_id, again.device_id);
    let other = app.login("ana", &actor(2)).await;
    assert_ne!(first.device_id, other.device_id);
}

async fn another_users_actor_id_is_a_conflict(backend: fieldsync_server::testing::TestBackend) {
    let app = spawn_app(backend).await;
    app.user("ana", Role::Technician).await;
    app.user("bob", Role::Technician).await;
    app.login("ana", &actor(1)).await;
    assert_error(
        app.login_raw("bob", PASSWORD, &actor(1)).await,
        409,
        "conflict",
    )
    .await;
    assert_error(
        app.login_raw("bob", PASSWORD, "not-hex").await,
        400,
        "bad_request",
    )
    .await;
}

async fn bad_access_tokens_get_401(backend: fieldsync_server::testing::TestBackend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana", Role::Technician).await;
    let tokens = app.login("ana", &actor(1)).await;
    let key = app.active_key().await;
    let did = tokens.device_id.to_string();
    let good = claims(ana, &did);

    // The hand-made token is accepted as-is, so each broken variant below
    // fails only for the reason it was broken.
    let valid = sign(&key, Algorithm::HS256, &good);
    assert_eq!(app.me(&valid).await.status(), 200);

    let mut cases: Vec<(&str, String)> = Vec::new();
    let with = |field: &str, value: serde_json::Value| {
        let mut c = good.clone();
        c[field] = value;
        c
    };
    let now = fieldsync_server::store::now_utc().unix_timestamp();
    cases.push((
        "expired",
        sign(&key, Algorithm::HS256, &with("exp", json!(now - 3600))),
    ));
    cases.push((
        "wrong audience",
        sign(&key, Algorithm::HS256, &with("aud", json!("someone-else"))),
    ));
    cases.push((
        "wrong issuer",
        sign(&key, Algorithm::HS256, &with("iss", json!("evil"))),
    ));
    cases.push((
        "issued in the future",
        sign(&key, Algorithm::HS256, &with("iat", json!(now + 3600))),
    ));
    for claim in ["exp", "iat", "sub", "aud", "iss"] {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove(claim);
        cases.push(("missing claim", sign(&key, Algorithm::HS256, &c)));
    }
    cases.push(("HS512", sign(&key, Algorithm::HS512, &good)));
    let payload = b64(good.to_string());
    let kid = key.kid.clone();
    cases.push((
        "RS256 header",
        format!(
            "{}.{payload}.{}",
            b64(json!({"alg": "RS256", "typ": "JWT", "kid": kid}).to_string()),
            b64("not a signature")
        ),
    ));
    cases.push((
        "none",
        format!(
            "{}.{payload}.",
            b64(json!({"alg": "none", "typ": "JWT"}).to_string())
        ),
    ));
    cases.push((
        "none with kid",
        format!(
            "{}.{payload}.",
            b64(json!({"alg": "none", "kid": kid}).to_string())
        ),
    ));
    let other_secret = new_signing_key();
    let mut forged = other_secret.clone();
    forged.kid = key.kid.clone();
    cases.push(("wrong secret", sign(&forged, Algorithm::HS256, &good)));
    cases.push(("unknown kid", sign(&other_secret, Algorithm::HS256, &good)));
    let mut tampered = valid.clone();
    tampered.pop();
    tampered.push(if valid.ends_with('A') { 'B' } else { 'A' });
    cases.push(("tampered signature", tampered));
    cases.push(("garbage", "garbage".into()));
    cases.push(("empty", String::new()));
    cases.push((
        "another device's id",
        sign(
            &key,
            Algorithm::HS256,
            &with("did", json!(uuid::Uuid::new_v4().to_string())),
        ),
    ));

    for (why, token) in cases {
        let res = app.me(&token).await;
        assert_eq!(res.status(), 401, "{why} was accepted");
        assert_error(res, 401, "unauthorized").await;
    }

    // No header, and a non-Bearer scheme.
    let res = app.client.get(app.url("/v1/me")).send().await.unwrap();
    assert_error(res, 401, "unauthorized").await;
    let res = app
        .client
        .get(app.url("/v1/me"))
        .header("authorization", format!("Basic {valid}"))
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "unauthorized").await;
}

/// A token is not valid before its `nbf`, give or take the clock skew
/// tolerated on `exp` (30 s): the server's own margin, both ways.
async fn nbf_is_checked_with_the_same_leeway_as_exp(
    backend: fieldsync_server::testing::TestBackend,
) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana", Role::Technician).await;
    let tokens = app.login("ana", &actor(1)).await;
    let key = app.active_key().await;
    let good = claims(ana, &tokens.device_id.to_string());
    let now = fieldsync_server::store::now_utc().unix_timestamp();
    let with = |field: &str, value: i64| {
        let mut c = good.clone();
        c[field] = json!(value);
        sign(&key, Algorithm::HS256, &c)
    };
    for (case, token, status) in [
        ("nbf an hour ahead", with("nbf", now + 3600), 401),
        ("nbf past the leeway", with("nbf", now + 90), 401),
        ("nbf within the leeway", with("nbf", now + 10), 200),
        ("nbf passed", with("nbf", now - 10), 200),
        // The same margin on the other side, for exp.
        ("exp past the leeway", with("exp", now - 90), 401),
        ("exp within the leeway", with("exp", now - 10), 200),
    ] {
        let res = app.me(&token).await;
        assert_eq!(res.status(), status, "{case}");
        if status == 401 {
            assert_error(res, 401, "unauthorized").await;
        }
    }
    // A token whose nbf is not a number is refused, not ignored.
    let mut c = good.clone();
    c["nbf"] = json!("soon");
    let res = app.me(&sign(&key, Algorithm::HS256, &c)).await;
    assert_error(res, 401, "unauthorized").await;
}

async fn a_token_signed_with_a_newly_rotated_key_is_accepted(
    backend: fieldsync_server::testing::TestBackend,
) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana", Role::Technician).await;
    let tokens = app.login("ana", &actor(1)).await;
    // Another process (the admin command) rotates the key.
    let out = app.fieldsync(&["admin", "rotate-key"], &[], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = app.active_key().await;
    assert!(String::from_utf8_lossy(&out.stdout).contains(&key.kid));

    // A token from a process that already uses the new key: unknown kid
    // here, so the server reloads its keys and accepts it.
    let fresh = sign(
        &key,
        Algorithm::HS256,
        &claims(ana, &tokens.device_id.to_string()),
    );
    assert_eq!(app.me(&fresh).await.status(), 200);
    // Tokens signed with the retired key keep working until they expire.
    assert_eq!(app.me(&tokens.access_token).await.status(), 200);
    // And new logins are signed with the new key.
    let next = app.login("ana", &actor(1)).await;
    let kid = jsonwebtoken::decode_header(&next.access_token).unwrap().kid;
    assert_eq!(kid, Some(key.kid));
}

async fn refresh_rotates_the_pair(backend: fieldsync_server::testing::TestBackend) {
    let app = spawn_app(backend).await;
    let ana = app.user("ana", Role::Technician).await;
    let first = app.login("ana", &actor(1)).await;
    let res = app.refresh(&first.refresh_token).await;
    assert_eq!(res.status(), 200);
    let second: TokenResponse = res.json().await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(second.device_id, first.device_id);
    assert_eq!(second.user.id, ana);
    assert_eq!(app.me(&second.access_token).await.status(), 200);

    let res = app.refresh(&second.refresh_token).await;
    assert_eq!(res.status(), 200, "the new refresh token works once");

    assert_error(
        app.refresh("0".repeat(64).as_str()).await,
        401,
        "unauthorized",
    )
    .await;
    assert_error(app.refresh("short").await, 401, "unauthorized").await;
}

async fn reusing_a_rotated_refresh_token_revokes_the_family(
    backend: fieldsync_server::testing::TestBackend,
) {
    let app = spawn_app(backend).await;
    app.user("ana", Role::Technician).await;
    let first = app.login("ana", &actor(1)).await;
    let refresh = |token: String| {
        let app = &app;
        async move {
            let res = app.refresh(&token).await;
            assert_eq!(res.status(), 200);
            res.json::<TokenResponse>().await.unwrap()
        }
    };
    let second = refresh(first.refresh_token.clone()).await;
    let third = refresh(second.refresh_token.clone()).await;

    // An attacker replays an older token: refused, and the family is revoked...
    assert_error(app.refresh(&first.refresh_token).await, 401, "unauthorized").await;
    // ...so the legitimate newest token stops working too.
    assert_error(app.refresh(&third.refresh_token).await, 401, "unauthorized").await;

    // Another login (its own family) is unaffected.
    let other = app.login("ana", &actor(1)).await;
    assert_eq!(app.refresh(&other.refresh_token).await.status(), 200);
}

async fn a_lost_refresh_answer_is_forgiven_within_the_grace(
    backend: fieldsync_server::testing::TestBackend,
) {
    let app = spawn_app(backend).await;
    app.user("ana", Role::Technician).await;
    let first = app.login("ana", &actor(1)).await;
    // The answer to this refresh is lost on the way to the device...
    let lost: TokenResponse = app
        .refresh(&first.refresh_token)
        .await
        .json()
        .await
        .unwrap();
    // ...which presents the same token again, within the grace: a new pair.
    let res = app.refresh(&first.refresh_token).await;
    assert_eq!(
        res.status(),
        200,
        "the immediately previous token within the grace"
    );
    let retried: TokenResponse = res.json().await.unwrap();
    assert_eq!(retried.device_id, first.device_id);
    assert_eq!(app.me(&retried.access_token).await.status(), 200);
    // The pair that was never delivered no longer refreshes.
    assert_error(app.refresh(&lost.refresh_token).await, 401, "unauthorized").await;
    // The device carries on; once it has, the old token is an old token.
    let next: TokenResponse = app
        .refresh(&retried.refresh_token)
        .await
        .json()
        .await
        .unwrap();
    assert_error(app.refresh(&first.refresh_token).await, 401, "unauthorized").await;
    assert_error(app.refresh(&next.refresh_token).await, 401, "unauthorized").await;

    // With the grace off, an immediate reuse revokes as before.
    let strict = spawn_app_with(backend, |s| s.refresh_reuse_grace_secs = 0).await;
    strict.user("ana", Role::Technician).await;
    let first = strict.login("ana", &actor(1)).await;
    let second: TokenResponse = strict
        .refresh(&first.refresh_token)
        .await
        .json()
        .await
        .unwrap();
    assert_error(
        strict.refresh(&first.refresh_token).await,
        401,
        "unauthorized",
    )
    .await;
    assert_error(
        strict.refresh(&second.refresh_token).await,
        401,
        "unauthorized",
    )
    .await;
}

async fn a_revoked_device_gets_401_at_once(backend: fieldsync_server::testing::TestBackend) {
    let app = spawn_app(backend).await;
    app.user("ana", Role::Technician).await;
    let lost = app.login("ana", &actor(1)).await;
    let kept = app.login("ana", &actor(2)).await;

    let res = app
        .client
        .post(app.url(&format!("/v1/devices/{}/revoke", lost.device_id)))
        .bearer_auth(&kept.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let view: serde_json::Value = res.json().await.unwrap();
    assert!(view["revoked_at"].is_string(), "{view}");

    // The still-unexpired access token and the refresh token are both dead.
    assert_error(app.me(&lost.access_token).await, 401, "unauthorized").await;
    assert_error(app.refresh(&lost.refresh_token).await, 401, "unauthorized").await;
    // Logging in again from the revoked install is refused.
    assert_error(
        app.login_raw("ana", PASSWORD, &actor(1)).await,
        403,
        "forbidden",
    )
    .await;
    // The other device is unaffected.
    assert_eq!(app.me(&kept.access_token).await.status(), 200);
}

async fn only_admins_supervisors_and_owners_revoke_devices(
    backend: fieldsync_server::testing::TestBackend,
) {
    let app = spawn_app(backend).await;
    app.user("ana", Role::Technician).await;
    app.user("bob", Role::Technician).await;
    app.user("sue", Role::Supervisor).await;
    let ana = app.login("ana", &actor(1)).await;
    let bob = app.login("bob", &actor(2)).await;
    let sue = app.login("sue", &actor(3)).await;
    let revoke = |token: String, device: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url(&format!("/v1/devices/{device}/revoke")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    // Bob cannot revoke Ana's device, and cannot tell it exists.
    let res = revoke(bob.access_token.clone(), ana.device_id.to_string()).await;
    assert_error(res, 404, "not_found").await;
    assert_eq!(app.me(&ana.access_token).await.status(), 200);
    let res = revoke(bob.access_token.clone(), uuid::Uuid::new_v4().to_string()).await;
    assert_error(res, 404, "not_found").await;
    let res = revoke(bob.access_token.clone(), "not-a-uuid".into()).await;
    assert_error(res, 404, "not_found").await;
    // A supervisor can.
    let res = revoke(sue.access_token.clone(), ana.device_id.to_string()).await;
    assert_eq!(res.status(), 200);
    assert_error(app.me(&ana.access_token).await, 401, "unauthorized").await;
    // Unauthenticated: 401.
    let res = app
        .client
        .post(app.url(&format!("/v1/devices/{}/revoke", bob.device_id)))
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "unauthorized").await;
}
