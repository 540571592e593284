//! The real `fieldsync` binary as a subprocess: admin commands and serving.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fieldsync_core::Role;
use fieldsync_server::testing::TestBackend;

use crate::helpers::*;

backend_tests!(
    create_user_reads_the_password_from_env_or_stdin,
    create_user_refuses_bad_input,
    revoke_device_command_cuts_a_device_off,
    disable_enable_and_reset_password_commands,
    set_team_command_fills_a_desk_team,
    the_binary_serves_and_stops_on_sigterm,
);

async fn create_user_reads_the_password_from_env_or_stdin(backend: TestBackend) {
    let app = spawn_app(backend).await;

    let out = app.fieldsync(
        &[
            "admin",
            "create-user",
            "--username",
            "root",
            "--role",
            "admin",
        ],
        &[("FIELDSYNC_PASSWORD", PASSWORD)],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap();
    let id: fieldsync_core::UserId = id.trim().parse().expect("prints the user id");

    let tokens = app.login("root", &actor(1)).await;
    assert_eq!(tokens.user.id, id);
    assert_eq!(tokens.user.role, Role::Admin);

    let out = app.fieldsync(
        &[
            "admin",
            "create-user",
            "--username",
            "ana",
            "--role",
            "technician",
        ],
        &[],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(PASSWORD), "the password is never printed");
    assert_eq!(
        app.login("ana", &actor(2)).await.user.role,
        Role::Technician
    );
}

async fn create_user_refuses_bad_input(backend: TestBackend) {
    let app = spawn_app(backend).await;
    app.user("ana", Role::Technician).await;
    let cases: [(&[&str], Option<&str>); 4] = [
        (
            &["--username", "ana", "--role", "technician"],
            Some("a long password\n"),
        ),
        (
            &["--username", "bob", "--role", "root"],
            Some("a long password\n"),
        ),
        (&["--username", "bob", "--role", "technician"], Some("")),
        (
            &["--username", "bob", "--role", "technician"],
            Some("short\n"),
        ),
    ];
    for (args, stdin) in cases {
        let mut all = vec!["admin", "create-user"];
        all.extend_from_slice(args);
        let out = app.fieldsync(&all, &[], stdin);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(out.stdout.is_empty(), "{args:?} printed {:?}", out.stdout);
        assert!(!out.stderr.is_empty());
    }
    let res = app.login_raw("bob", "a long password", &actor(1)).await;
    assert_eq!(res.status(), 401, "no user was created");
}

async fn revoke_device_command_cuts_a_device_off(backend: TestBackend) {
    let app = spawn_app(backend).await;
    app.user("ana", Role::Technician).await;
    let tokens = app.login("ana", &actor(1)).await;
    let device = tokens.device_id.to_string();
    let out = app.fieldsync(&["admin", "revoke-device", "--device", &device], &[], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_error(app.me(&tokens.access_token).await, 401, "unauthorized").await;

    let unknown = uuid::Uuid::new_v4().to_string();
    let out = app.fieldsync(&["admin", "revoke-device", "--device", &unknown], &[], None);
    assert!(!out.status.success());
}

async fn disable_enable_and_reset_password_commands(backend: TestBackend) {
    let app = spawn_app(backend).await;
    app.user("ana", Role::Technician).await;
    let tokens = app.login("ana", &actor(1)).await;
    let ok = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };

    let said = ok(app.fieldsync(&["admin", "disable-user", "--username", "ana"], &[], None));
    assert!(said.contains("disabled user ana"), "{said}");
    assert_error(app.me(&tokens.access_token).await, 401, "unauthorized").await;
    assert_error(
        app.refresh(&tokens.refresh_token).await,
        401,
        "unauthorized",
    )
    .await;
    assert_error(
        app.login_raw("ana", PASSWORD, &actor(2)).await,
        403,
        "forbidden",
    )
    .await;

    ok(app.fieldsync(&["admin", "enable-user", "--username", "ana"], &[], None));
    let again = app.login("ana", &actor(2)).await;
    assert_eq!(app.me(&again.access_token).await.status(), 200);

    ok(app.fieldsync(
        &["admin", "reset-password", "--username", "ana"],
        &[],
        Some("another long password\n"),
    ));
    assert_error(app.me(&again.access_token).await, 401, "unauthorized").await;
    assert_error(
        app.login_raw("ana", PASSWORD, &actor(3)).await,
        401,
        "unauthorized",
    )
    .await;
    let res = app
        .login_raw("ana", "another long password", &actor(3))
        .await;
    assert_eq!(res.status(), 200);

    // Unknown users and short passwords fail with a message, changing nothing.
    for (args, stdin) in [
        (&["admin", "disable-user", "--username", "nobody"][..], None),
        (&["admin", "enable-user", "--username", "nobody"][..], None),
        (
            &["admin", "reset-password", "--username", "ana"][..],
            Some("short\n"),
        ),
    ] {
        let out = app.fieldsync(args, &[], stdin);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!out.stderr.is_empty());
    }
    let res = app
        .login_raw("ana", "another long password", &actor(4))
        .await;
    assert_eq!(res.status(), 200, "the refused reset kept the password");
}

/// `fieldsync --listen` on its own database: it migrates, serves, and exits
/// cleanly on SIGTERM. Its start-up log shows the settings, secrets hidden.
async fn the_binary_serves_and_stops_on_sigterm(backend: TestBackend) {
    let db = fieldsync_server::testing::TestDatabase::new(backend).await;
    // The throwaway cluster trusts local connections, so a password in the
    // URL is never checked, but it is in the settings the server logs.
    let url = db
        .url
        .replacen("postgres://postgres@", "postgres://postgres:hunter2-db@", 1);
    assert_eq!(url.contains("hunter2-db"), backend == TestBackend::Postgres);
    let mut child = Command::new(fieldsync_bin())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", &url)
        .env("FIELDSYNC_DATA_DIR", db.dir.path())
        .env("FIELDSYNC_SMTP_PASSWORD", "hunter2-smtp")
        .env("FIELDSYNC_SMS_WEBHOOK_SECRET", "hunter2-sms")
        .env("RUST_LOG", "info")
        .env("FIELDSYNC_LOG_JSON", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The log line "serving" carries the bound address.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut settings_logged = false;
    let addr = loop {
        assert!(Instant::now() < deadline, "server did not start");
        let line = lines.next().expect("server log ends early").unwrap();
        assert!(!line.contains("hunter2"), "a secret in the log: {line}");
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if entry["message"] == "starting" {
            // The settings are there, so the secrets' absence means something.
            let shown = entry["settings"].as_str().unwrap_or_default();
            assert!(
                shown.contains("smtp_password: Some(\"<hidden>\")")
                    && shown.contains("sms_webhook_secret: Some(\"<hidden>\")"),
                "{line}"
            );
            settings_logged = true;
        }
        if entry["message"] == "serving" {
            break entry["addr"].as_str().unwrap().to_owned();
        }
    };
    assert!(settings_logged, "no \"starting\" line with the settings");
    let res = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    assert_eq!(res.status(), 200);

    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "server ignored SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
}

async fn set_team_command_fills_a_desk_team(backend: TestBackend) {
    let app = spawn_app(backend).await;
    app.user("admin", Role::Admin).await;
    let sales = app.user("sales1", Role::Dispatcher).await;
    let boss = app.user("boss", Role::Supervisor).await;
    app.user("tech", Role::Technician).await;
    let run = |args: &[&str]| {
        let mut all = vec!["admin", "set-team"];
        all.extend_from_slice(args);
        app.fieldsync(&all, &[], None)
    };
    let out = run(&[
        "--team",
        "sales",
        "--supervisor",
        "boss",
        "--member",
        "sales1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let admin = app.login("admin", &actor(1)).await.access_token;
    let teams: serde_json::Value = app
        .client
        .get(app.url("/v1/desk/teams"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let team = teams["teams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["team"] == "sales")
        .unwrap()
        .clone();
    assert_eq!(team["supervisor"]["id"], boss.to_string(), "{team}");
    assert_eq!(team["members"][0]["id"], sales.to_string(), "{team}");

    // Refused, naming why, changing nothing: a technician, a missing user,
    // a dispatcher as supervisor, an unknown team.
    for (args, words) in [
        (vec!["--team", "sales", "--member", "tech"], "service desk"),
        (
            vec!["--team", "sales", "--member", "nobody"],
            "no user nobody",
        ),
        (
            vec!["--team", "sales", "--supervisor", "sales1"],
            "supervisor",
        ),
        (vec!["--team", "marketing"], "marketing"),
    ] {
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains(words), "{args:?}: {err}");
    }
    let again: serde_json::Value = app
        .client
        .get(app.url("/v1/desk/teams"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again, teams, "a refused command changes nothing");
}
