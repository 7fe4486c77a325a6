//! Password change (current password, other sessions revoked, history, overlap, expiry) and
//! reset by a single-use expiring token delivered through the outbox.

use std::sync::Arc;

use portcullis_service::ServiceConfig;
use portcullis_service::core::FixedClock;
use reqwest::Method;
use serde_json::{Value, json};

use crate::api::helpers::{Reply, TestApp, spawn_app_with_clock};
use crate::api::policy::{login_as, operator};

const START: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

async fn change(app: &TestApp, token: &str, current: &str, new: &str) -> Reply {
    app.post(
        "/v1/users/me/password",
        token,
        json!({"current_password": current, "new_password": new}),
    )
    .await
}

async fn session(app: &TestApp, email: &str, password: &str) -> String {
    let login = login_as(app, email, password).await;
    assert_eq!(login["state"], "authenticated", "{login}");
    login["session_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn change_needs_the_current_password_and_ends_other_sessions() {
    let clock = FixedClock::at(START);
    let app = spawn_app_with_clock(ServiceConfig::default(), Arc::new(clock.clone())).await;
    let first = app.user("alice").await;
    let second = app.login("alice").await;
    let pat = app
        .post(
            "/v1/users/me/keys",
            &first,
            json!({"description": "ci", "scopes": ["app.view"]}),
        )
        .await;
    let pat = pat.assert_status(201)["token"].as_str().unwrap().to_owned();

    change(&app, &first, "not-my-password", "Brand-New-Passphrase")
        .await
        .assert_problem(422, "password.current_incorrect");
    change(&app, &pat, "password-alice", "Brand-New-Passphrase")
        .await
        .assert_problem(403, "credential.session_required");
    change(&app, &first, "password-alice", "qwerty123")
        .await
        .assert_problem(422, "password.policy_violation");
    change(&app, &first, "password-alice", "Brand-New-Passphrase")
        .await
        .assert_status(204);
    // This session stays, the other session ends; tokens are not sessions and stay.
    app.get("/v1/users/me", &first).await.assert_status(200);
    app.get("/v1/users/me", &second)
        .await
        .assert_problem(401, "auth.required");
    app.get("/v1/users/me", &pat).await.assert_status(200);
    try_old(&app).await;
    session(&app, "alice@example.com", "Brand-New-Passphrase").await;
}

async fn try_old(app: &TestApp) {
    app.request(
        Method::POST,
        "/v1/login",
        None,
        Some(json!({"email": "alice@example.com", "password": "password-alice"})),
    )
    .await
    .assert_problem(401, "auth.invalid_credentials");
}

#[tokio::test]
async fn history_overlap_and_expiry_are_enforced() {
    let clock = FixedClock::at(START);
    let app = spawn_app_with_clock(ServiceConfig::default(), Arc::new(clock.clone())).await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    app.put(
        "/v1/orgs/acme/password-policy",
        &alice,
        json!({"password_reuse_epoch": 3, "no_overlap_with_old": true,
               "password_life_span_days": 30}),
    )
    .await
    .assert_status(200);

    let mut current = "password-alice".to_owned();
    for next in ["Velvet-Harbour-19", "Quartz-Meadow-42"] {
        change(&app, &alice, &current, next)
            .await
            .assert_status(204);
        current = next.to_owned();
    }
    // The first two passwords are among the last three: refused, by name.
    for old in ["password-alice", "Velvet-Harbour-19"] {
        let reply = change(&app, &alice, &current, old).await;
        reply.assert_problem(422, "password.policy_violation");
        assert!(
            reply.body["detail"]
                .as_str()
                .unwrap()
                .contains("password_reuse_epoch"),
            "{}",
            reply.body
        );
    }
    // Sharing a long part with the current password is refused.
    let reply = change(&app, &alice, &current, "Quartz-Meadow-43").await;
    reply.assert_problem(422, "password.policy_violation");
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("no_overlap_with_old")
    );
    change(&app, &alice, &current, "Ember-Lantern-Fjord")
        .await
        .assert_status(204);

    // After 30 days the password must be changed at the next login.
    clock.advance_ms(30 * DAY);
    let login = login_as(&app, "alice@example.com", "Ember-Lantern-Fjord").await;
    assert_eq!(login["state"], "password_change_required", "{login}");
    assert_eq!(login["reasons"], json!(["password_life_span_days"]));
    let token = login["change_token"].as_str().unwrap();
    app.request(
        Method::POST,
        "/v1/users/me/password",
        None,
        Some(json!({"current_password": "Ember-Lantern-Fjord",
                    "new_password": "Cobalt-Thistle-Orbit", "change_token": token})),
    )
    .await
    .assert_status(204);
    session(&app, "alice@example.com", "Cobalt-Thistle-Orbit").await;
}

fn reset_token(outbox: &Value, email: &str) -> Option<String> {
    outbox.as_array().unwrap().iter().find_map(|m| {
        (m["recipient"] == email)
            .then(|| crate::api::helpers::link_token(m["body"].as_str().unwrap(), "pcr"))
            .flatten()
    })
}

#[tokio::test]
async fn reset_by_single_use_expiring_token_from_the_outbox() {
    let clock = FixedClock::at(START);
    let app = spawn_app_with_clock(ServiceConfig::default(), Arc::new(clock.clone())).await;
    let root = operator(&app).await;
    let alice = app.user("alice").await;
    let reset = async |email: &str| {
        app.request(
            Method::POST,
            "/v1/password-reset",
            None,
            Some(json!({"email": email})),
        )
        .await
    };
    // Unknown and malformed addresses get the same answer and send nothing.
    for email in ["nobody@example.com", "not-an-email"] {
        let reply = reset(email).await;
        reply.assert_status(202);
    }
    // Only the sign-up verification mails are queued.
    let outbox = app.get("/v1/outbox", &root).await;
    let queued = outbox.assert_status(200).as_array().unwrap();
    assert!(
        queued
            .iter()
            .all(|m| m["subject"] == "Verify your email address")
    );
    app.get("/v1/outbox", &alice)
        .await
        .assert_problem(403, "platform.operator_only");
    // The limit is 1 to 500, refused with the same message whoever asks.
    for limit in [0, 501] {
        for who in [&root, &alice] {
            let reply = app.get(&format!("/v1/outbox?limit={limit}"), who).await;
            reply.assert_problem(422, "limit.invalid");
            assert_eq!(reply.body["field"], "limit");
            assert_eq!(
                reply.body["detail"],
                format!("`limit` must be from 1 to 500, not `{limit}`")
            );
        }
    }
    let newest = app.get("/v1/outbox?limit=1", &root).await;
    assert_eq!(newest.assert_status(200).as_array().unwrap().len(), 1);

    reset("alice@example.com").await.assert_status(202);
    let outbox = app.get("/v1/outbox", &root).await.body;
    let token = reset_token(&outbox, "alice@example.com").unwrap();
    let confirm = async |token: &str, password: &str| {
        app.request(
            Method::POST,
            "/v1/password-reset/confirm",
            None,
            Some(json!({"token": token, "new_password": password})),
        )
        .await
    };
    confirm(&token, "123456")
        .await
        .assert_problem(422, "password.policy_violation");
    confirm("pcr_forged", "Granite-Willow-Tide")
        .await
        .assert_problem(422, "token.invalid");
    confirm(&token, "Granite-Willow-Tide")
        .await
        .assert_status(204);
    // Single use; every session ended.
    confirm(&token, "Another-Good-Passphrase")
        .await
        .assert_problem(422, "token.invalid");
    app.get("/v1/users/me", &alice)
        .await
        .assert_problem(401, "auth.required");
    session(&app, "alice@example.com", "Granite-Willow-Tide").await;

    // A token expires after 30 minutes; a newer request voids the older token.
    reset("alice@example.com").await.assert_status(202);
    let older = reset_token(
        &app.get("/v1/outbox", &root).await.body,
        "alice@example.com",
    )
    .unwrap();
    reset("alice@example.com").await.assert_status(202);
    let newer = reset_token(
        &app.get("/v1/outbox", &root).await.body,
        "alice@example.com",
    )
    .unwrap();
    assert_ne!(older, newer);
    confirm(&older, "Maple-Circuit-Dune")
        .await
        .assert_problem(422, "token.invalid");
    clock.advance_ms(30 * 60_000);
    confirm(&newer, "Maple-Circuit-Dune")
        .await
        .assert_problem(422, "token.invalid");
    let entries = app.service.store().audit_entries(None).await.unwrap();
    // Unknown addresses are recorded too (same work as a match): two of them, three for alice.
    assert_eq!(entries.iter().filter(|e| e.operation == 2106).count(), 5);
    assert_eq!(entries.iter().filter(|e| e.operation == 2107).count(), 1);
}
