//! Sessions: list and revoke one's own; suspension ends every session and token.

use std::sync::Arc;

use portcullis_service::ServiceConfig;
use portcullis_service::core::FixedClock;
use serde_json::{Value, json};

use crate::api::helpers::{spawn_app, spawn_app_with_clock};
use crate::api::members::join;
use crate::api::policy::operator;

fn ids(list: &Value) -> Vec<(String, bool)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["current"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn list_and_revoke_own_sessions() {
    let app = spawn_app().await;
    let first = app.user("alice").await;
    let second = app.login("alice").await;
    let bob = app.user("bob").await;

    let listed = app.get("/v1/users/me/sessions", &first).await;
    let sessions = ids(listed.assert_status(200));
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|(_, current)| *current).count(), 1);
    assert!(listed.body.to_string().find("token").is_none());
    let (other, _) = sessions
        .iter()
        .find(|(_, current)| !current)
        .unwrap()
        .clone();

    // Someone else's session is not found; an unknown id neither.
    app.delete(&format!("/v1/users/me/sessions/{other}"), &bob)
        .await
        .assert_problem(404, "not_found");
    app.delete("/v1/users/me/sessions/ses_nope", &first)
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/users/me", &second).await.assert_status(200);

    app.delete(&format!("/v1/users/me/sessions/{other}"), &first)
        .await
        .assert_status(204);
    app.get("/v1/users/me", &second)
        .await
        .assert_problem(401, "auth.required");
    app.get("/v1/users/me", &first).await.assert_status(200);
    let left = app.get("/v1/users/me/sessions", &first).await;
    assert_eq!(ids(&left.body).len(), 1);
}

#[tokio::test]
async fn suspension_ends_every_session_and_token_and_spares_the_last_admin() {
    let app = spawn_app().await;
    let root = operator(&app).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.org(&alice, "acme").await;
    join(&app, &alice, "acme", &bob, "bob", "admin").await;
    let pat = app
        .post(
            "/v1/users/me/keys",
            &bob,
            json!({"description": "ci", "scopes": ["app.view"]}),
        )
        .await;
    let pat = pat.assert_status(201)["token"].as_str().unwrap().to_owned();

    app.post("/v1/users/bob/suspend", &alice, json!({}))
        .await
        .assert_problem(403, "platform.operator_only");
    app.post("/v1/users/nobody/suspend", &root, json!({}))
        .await
        .assert_problem(404, "not_found");
    let suspended = app.post("/v1/users/bob/suspend", &root, json!({})).await;
    assert_eq!(suspended.assert_status(200)["credentials_revoked"], 2);
    for token in [&bob, &pat] {
        app.get("/v1/users/me", token)
            .await
            .assert_problem(401, "auth.required");
    }
    // A suspended user cannot sign in; the answer is the ordinary one.
    app.request(
        reqwest::Method::POST,
        "/v1/login",
        None,
        Some(json!({"email": "bob@example.com", "password": "password-bob"})),
    )
    .await
    .assert_problem(401, "auth.invalid_credentials");
    // Alice is now acme's only active administrator.
    app.post("/v1/users/alice/suspend", &root, json!({}))
        .await
        .assert_problem(409, "member.last_admin");
    app.get("/v1/users/me", &alice).await.assert_status(200);

    app.post("/v1/users/bob/unsuspend", &root, json!({}))
        .await
        .assert_status(200);
    app.login("bob").await;
    app.post("/v1/users/alice/suspend", &root, json!({}))
        .await
        .assert_status(200);
    let entries = app.service.store().audit_entries(None).await.unwrap();
    assert_eq!(entries.iter().filter(|e| e.operation == 2109).count(), 2);
    assert_eq!(entries.iter().filter(|e| e.operation == 2110).count(), 1);
}

#[tokio::test]
async fn idle_sessions_stop_working() {
    let clock = FixedClock::at(1_800_000_000_000);
    let app = spawn_app_with_clock(ServiceConfig::default(), Arc::new(clock.clone())).await;
    let root = operator(&app).await;
    let alice = app.user("alice").await;
    app.put("/v1/session-settings", &alice, json!({"idle_minutes": 30}))
        .await
        .assert_problem(403, "platform.operator_only");
    app.put(
        "/v1/session-settings",
        &root,
        json!({"idle_minutes": 999_999_999}),
    )
    .await
    .assert_problem(422, "session_settings.invalid");
    app.put("/v1/session-settings", &root, json!({"idle_minutes": 30}))
        .await
        .assert_status(200);
    let minute = 60_000;
    app.get("/v1/users/me", &alice).await.assert_status(200);
    // Each use restarts the idle clock.
    for _ in 0..3 {
        clock.advance_ms(29 * minute);
        app.get("/v1/users/me", &alice).await.assert_status(200);
    }
    clock.advance_ms(30 * minute);
    app.get("/v1/users/me", &alice)
        .await
        .assert_problem(401, "auth.required");
    // Tokens are not sessions: no idle timeout for them.
    let fresh = app.login("alice").await;
    let pat = app
        .post(
            "/v1/users/me/keys",
            &fresh,
            json!({"description": "ci", "scopes": ["app.view"]}),
        )
        .await;
    let pat = pat.assert_status(201)["token"].as_str().unwrap().to_owned();
    clock.advance_ms(120 * minute);
    app.get("/v1/users/me", &pat).await.assert_status(200);
    app.get("/v1/users/me", &fresh)
        .await
        .assert_problem(401, "auth.required");
}
