//! `fieldsync admin create-user --display-name --email`, the real binary.

use fieldsync_server::testing::TestBackend;

use crate::helpers::{backend_tests, spawn_app};
use crate::support::sql_text;

async fn create_user_sets_display_name_and_email(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let out = app.fieldsync(
        &[
            "admin",
            "create-user",
            "--username",
            "rita",
            "--role",
            "supervisor",
            "--display-name",
            "Rita  Gomes ",
            "--email",
            "rita@fieldsync.test",
        ],
        &[("FIELDSYNC_PASSWORD", "pw-123456")],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let q = "SELECT display_name FROM users WHERE username = 'rita'";
    assert_eq!(sql_text(&app, q).await.as_deref(), Some("Rita  Gomes"));
    let q = "SELECT email FROM users WHERE username = 'rita'";
    assert_eq!(
        sql_text(&app, q).await.as_deref(),
        Some("rita@fieldsync.test")
    );

    // Without the flags nothing is set; a bad email is refused before the user exists.
    let out = app.fieldsync(
        &[
            "admin",
            "create-user",
            "--username",
            "joao",
            "--role",
            "technician",
        ],
        &[("FIELDSYNC_PASSWORD", "pw-123456")],
        None,
    );
    assert!(out.status.success());
    let q = "SELECT display_name FROM users WHERE username = 'joao'";
    assert_eq!(sql_text(&app, q).await, None);
    let out = app.fieldsync(
        &[
            "admin",
            "create-user",
            "--username",
            "bad",
            "--role",
            "supervisor",
            "--email",
            "nope",
        ],
        &[("FIELDSYNC_PASSWORD", "pw-123456")],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid email"));
    assert!(
        app.store
            .user_credentials(&"bad".parse().unwrap())
            .await
            .is_err()
    );
}

backend_tests!(create_user_sets_display_name_and_email);
