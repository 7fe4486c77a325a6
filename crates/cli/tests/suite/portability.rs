//! Backup, restore and SQLite → PostgreSQL migration of a populated instance: the same API
//! answers before and after, and the audit chains verify.

use crate::common::{Location, Server, fresh_postgres_url, run};
use portcullis_store::Backend;
use portcullis_store::testing::backend_under_test;
use serde_json::{Value, json};

/// Answers that depend on every kind of stored data (members, teams, keys, the index).
async fn answers(server: &Server, alice: &str, bob: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for (token, path) in [
        (alice, "/v1/orgs/acme"),
        (alice, "/v1/orgs/acme/members"),
        (alice, "/v1/orgs/acme/teams"),
        (alice, "/v1/orgs/acme/teams/ml"),
        (alice, "/v1/orgs/acme/invitations"),
        (alice, "/v1/orgs/acme/audit-log"),
        (alice, "/v1/orgs/acme/audit-log/verify"),
        (alice, "/v1/orgs/acme/access-matrix"),
        (alice, "/v1/orgs/acme/password-policy"),
        (alice, "/v1/accounts/acme/apps"),
        (alice, "/v1/accounts/acme/apps/vision"),
        (alice, "/v1/accounts/acme/apps/vision/access"),
        (bob, "/v1/users/me/keys"),
        (bob, "/v1/users/me/orgs"),
        (bob, "/v1/me/permissions?account=acme"),
        (alice, "/v1/users/me"),
    ] {
        let (status, _, body) = server.call("GET", path, Some(token), None).await;
        assert_eq!(status, 200, "{path}: {body}");
        out.push(json!({"path": path, "status": status, "body": body}));
    }
    for user in ["alice", "bob"] {
        for (permission, resource) in [
            ("teams.manage", json!({"org": "acme"})),
            ("models.create", json!({"account": "acme", "app": "vision"})),
            ("app.delete", json!({"account": "acme", "app": "vision"})),
        ] {
            let (status, _, body) = server
                .call(
                    "POST",
                    "/v1/check",
                    Some(alice),
                    Some(json!({"subject": {"user": user}, "permission": permission, "resource": resource})),
                )
                .await;
            out.push(json!({"check": user, "permission": permission, "status": status,
                            "allowed": body["allowed"], "via": body["via"], "reason": body["reason"]}));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_restore_and_migration_keep_every_answer() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("data");
    let mut server = Server::start_at(Location::Dir(dir.clone()));
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.org(&alice, "acme").await;
    server
        .join(&alice, "acme", &bob, "bob", "org_contributor")
        .await;
    let (status, _, _) = server
        .call(
            "POST",
            "/v1/orgs/acme/teams",
            Some(&alice),
            Some(json!({"id": "ml", "name": "ML"})),
        )
        .await;
    assert_eq!(status, 201);
    for (method, path, body) in [
        (
            "POST",
            "/v1/accounts/acme/apps",
            Some(json!({"id": "vision", "name": "Vision"})),
        ),
        (
            "PUT",
            "/v1/orgs/acme/teams/ml/apps/vision",
            Some(json!({"role": "model_trainer"})),
        ),
        ("PUT", "/v1/orgs/acme/teams/ml/members/bob", None),
        (
            "POST",
            "/v1/orgs/acme/invitations",
            Some(json!({"email": "carol@example.com", "role": "org_user"})),
        ),
    ] {
        let (status, _, reply) = server.call(method, path, Some(&alice), body).await;
        assert!((200..300).contains(&status), "{path}: {status} {reply}");
    }
    let (status, _, _) = server
        .call(
            "POST",
            "/v1/users/me/keys",
            Some(&bob),
            Some(json!({"description": "ci", "scopes": ["all"]})),
        )
        .await;
    assert_eq!(status, 201);
    let before = answers(&server, &alice, &bob).await;

    // Online backup while the server runs; the file must be new.
    let file = work.path().join("backup.db");
    let dir_arg = dir.display().to_string();
    let file_arg = file.display().to_string();
    let (code, out, err) = run(&["backup", "--data-dir", &dir_arg, "--out", &file_arg]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = run(&["backup", "--data-dir", &dir_arg, "--out", &file_arg]);
    assert_eq!(code, 2, "{err}");
    server.stop();

    // Restore into a new directory: chains intact, same answers; never over data silently.
    let restored = work.path().join("restored");
    let restored_arg = restored.display().to_string();
    let (code, out, err) = run(&["restore", "--from", &file_arg, "--data-dir", &restored_arg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("\"audit_chains_intact\":true"), "{out}");
    let (code, _, err) = run(&["restore", "--from", &file_arg, "--data-dir", &restored_arg]);
    assert_eq!(
        code, 2,
        "restore over a non-empty dir must be refused: {err}"
    );
    let (code, out, err) = run(&[
        "restore",
        "--from",
        &file_arg,
        "--data-dir",
        &restored_arg,
        "--force",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(&["audit", "verify", "--data-dir", &restored_arg]);
    assert_eq!(code, 0, "{out}{err}");
    let server = Server::start_at(Location::Dir(restored.clone()));
    assert_eq!(answers(&server, &alice, &bob).await, before);
    drop(server);

    if backend_under_test() != Backend::Postgres {
        eprintln!(
            "skipped: SQLite → PostgreSQL migration runs with PORTCULLIS_TEST_BACKEND=postgres"
        );
        return;
    }
    let url = fresh_postgres_url().await;
    let (code, out, err) = run(&[
        "migrate",
        "--from-data-dir",
        &dir_arg,
        "--to-database-url",
        &url,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("\"migrated\":true"), "{out}");
    // A second migration into the now populated database is refused.
    let (code, _, _) = run(&[
        "migrate",
        "--from-data-dir",
        &dir_arg,
        "--to-database-url",
        &url,
    ]);
    assert_eq!(code, 2);
    let (code, out, err) = run(&["audit", "verify", "--database-url", &url]);
    assert_eq!(code, 0, "{out}{err}");
    let server = Server::start(&url);
    assert_eq!(answers(&server, &alice, &bob).await, before);
    // Identity sequences moved past the copied ids: new rows insert fine.
    let (status, _, body) = server
        .call(
            "POST",
            "/v1/orgs/acme/teams",
            Some(&alice),
            Some(json!({"id": "ops", "name": "Ops"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    server.user("carol").await;
}

/// A source whose audit chain was edited is not migrated, and the target is left untouched.
#[tokio::test]
async fn a_tampered_source_is_not_migrated_and_leaves_the_target_empty() {
    if backend_under_test() != Backend::Postgres {
        eprintln!("skipped: migration runs with PORTCULLIS_TEST_BACKEND=postgres");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("data");
    let server = Server::start_at(Location::Dir(dir.clone()));
    let alice = server.user("alice").await;
    server.org(&alice, "acme").await;
    drop(server);
    let dir_arg = dir.display().to_string();

    sqlx::any::install_default_drivers();
    let sqlite = format!(
        "sqlite://{}/{}",
        dir_arg,
        portcullis_service::store::SQLITE_FILE
    );
    let pool = sqlx::AnyPool::connect(&sqlite).await.unwrap();
    sqlx::query("UPDATE audit_log SET targets = '{\"org\":\"forged\"}' WHERE id = (SELECT MAX(id) FROM audit_log)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let url = fresh_postgres_url().await;
    let (code, out, err) = run(&[
        "migrate",
        "--from-data-dir",
        &dir_arg,
        "--to-database-url",
        &url,
    ]);
    assert_eq!(code, 2, "{out}{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error:") && last.contains("audit chains"),
        "{err}"
    );
    let target = sqlx::AnyPool::connect(&url).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()",
    )
    .fetch_one(&target)
    .await
    .unwrap();
    target.close().await;
    assert_eq!(tables, 0, "the target was not touched at all");
}
