//! Lockout and throttling: atomic failure counting under a parallel brute force, temporary and
//! permanent lockout with admin unlock, identical answers, per-IP throttling with Retry-After.

use std::sync::Arc;

use portcullis_service::ServiceConfig;
use portcullis_service::core::FixedClock;
use reqwest::Method;
use serde_json::{Value, json};

use crate::api::helpers::{Reply, TestApp, spawn_app_with_clock};
use crate::api::members::join;
use crate::api::policy::operator;

const START: i64 = 1_800_000_000_000;
const MINUTE: i64 = 60_000;

async fn clocked() -> (TestApp, FixedClock) {
    let clock = FixedClock::at(START);
    let app = spawn_app_with_clock(ServiceConfig::default(), Arc::new(clock.clone())).await;
    (app, clock)
}

async fn try_login(app: &TestApp, email: &str, password: &str) -> Reply {
    app.request(
        Method::POST,
        "/v1/login",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await
}

fn count(entries: &[portcullis_service::store::AuditRow], code: i64) -> usize {
    entries.iter().filter(|e| e.operation == code).count()
}

#[tokio::test]
async fn parallel_brute_force_counts_at_most_the_limit_and_locks_until_it_ends() {
    let (app, clock) = clocked().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    app.put(
        "/v1/orgs/acme/password-policy",
        &alice,
        json!({"max_failed_attempts": 5, "lockout_minutes": 15}),
    )
    .await
    .assert_status(200);

    let app = Arc::new(app);
    let guesses: Vec<_> = (0..50)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                try_login(&app, "alice@example.com", &format!("wrong-guess-{i}")).await
            })
        })
        .collect();
    let mut bodies: Vec<Value> = Vec::new();
    for guess in guesses {
        let reply = guess.await.unwrap();
        reply.assert_problem(401, "auth.invalid_credentials");
        bodies.push(reply.body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));

    let user = app.service.resolve_user("alice").unwrap();
    let state = app.service.store().login_state(user).await.unwrap();
    assert_eq!(state.failed_attempts, 5, "counted failures: {state:?}");
    assert_eq!(state.locked_until, Some(START + 15 * MINUTE));
    let entries = app.service.store().audit_entries(None).await.unwrap();
    assert_eq!(count(&entries, 2002), 50, "every failure is audited");
    assert_eq!(count(&entries, 2102), 1, "exactly one lockout");

    // Locked: the right password answers exactly like a wrong one and like an unknown email.
    let locked = try_login(&app, "alice@example.com", "password-alice").await;
    let wrong = try_login(&app, "alice@example.com", "not-the-password").await;
    let unknown = try_login(&app, "nobody@example.com", "password-alice").await;
    locked.assert_problem(401, "auth.invalid_credentials");
    for other in [&wrong, &unknown] {
        assert_eq!(locked.status, other.status);
        assert_eq!(locked.body, other.body);
        assert_eq!(locked.content_type, other.content_type);
    }
    clock.advance_ms(15 * MINUTE - 1);
    try_login(&app, "alice@example.com", "password-alice")
        .await
        .assert_problem(401, "auth.invalid_credentials");

    // The lockout ends on time; a success clears the count.
    clock.advance_ms(1);
    try_login(&app, "alice@example.com", "password-alice")
        .await
        .assert_status(200);
    let state = app.service.store().login_state(user).await.unwrap();
    assert_eq!((state.failed_attempts, state.locked_until), (0, None));
}

#[tokio::test]
async fn permanent_lockout_lasts_until_an_admin_unlocks() {
    let (app, clock) = clocked().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    app.org(&alice, "acme").await;
    join(&app, &alice, "acme", &bob, "bob", "org_user").await;
    join(&app, &alice, "acme", &carol, "carol", "org_contributor").await;
    app.put(
        "/v1/orgs/acme/password-policy",
        &alice,
        json!({"max_failed_attempts": 2, "lockout_minutes": 0}),
    )
    .await
    .assert_status(200);
    for _ in 0..2 {
        try_login(&app, "bob@example.com", "not-bobs-password")
            .await
            .assert_problem(401, "auth.invalid_credentials");
    }
    clock.advance_ms(365 * 24 * 60 * MINUTE);
    try_login(&app, "bob@example.com", "password-bob")
        .await
        .assert_problem(401, "auth.invalid_credentials");
    // (A year on, the admins' sessions have expired too.)
    let alice = app.login("alice").await;
    let carol = app.login("carol").await;

    // Only members.manage may unlock; outsiders get 404.
    app.post("/v1/orgs/acme/members/bob/unlock", &carol, json!({}))
        .await
        .assert_problem(403, "permission.denied");
    let eve = app.user("eve").await;
    app.post("/v1/orgs/acme/members/bob/unlock", &eve, json!({}))
        .await
        .assert_problem(404, "not_found");
    app.post("/v1/orgs/acme/members/nobody/unlock", &alice, json!({}))
        .await
        .assert_problem(404, "not_found");
    try_login(&app, "bob@example.com", "password-bob")
        .await
        .assert_problem(401, "auth.invalid_credentials");

    let unlocked = app
        .post("/v1/orgs/acme/members/bob/unlock", &alice, json!({}))
        .await;
    assert_eq!(unlocked.assert_status(200)["was_locked"], true);
    try_login(&app, "bob@example.com", "password-bob")
        .await
        .assert_status(200);
    let org = app.service.resolve_org("acme").unwrap();
    let entries = app.service.store().audit_entries(Some(org)).await.unwrap();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.operation == 2103 && e.success)
            .count(),
        1,
        "the unlock is audited in the org's log"
    );
    let platform = app.service.store().audit_entries(None).await.unwrap();
    assert_eq!(count(&platform, 2102), 1);
}

#[tokio::test]
async fn a_source_ip_with_too_many_failures_is_throttled_with_retry_after() {
    let (app, clock) = clocked().await;
    let root = operator(&app).await;
    let alice = app.user("alice").await;
    app.put(
        "/v1/login-throttle",
        &alice,
        json!({"max_failures": 3, "window_seconds": 60}),
    )
    .await
    .assert_problem(403, "platform.operator_only");
    app.put(
        "/v1/login-throttle",
        &root,
        json!({"max_failures": 3, "window_seconds": 0}),
    )
    .await
    .assert_problem(422, "throttle.invalid");
    app.put(
        "/v1/login-throttle",
        &root,
        json!({"max_failures": 3, "window_seconds": 60}),
    )
    .await
    .assert_status(200);

    // Failures against different accounts (and unknown ones) all count for the source.
    for email in [
        "alice@example.com",
        "nobody@example.com",
        "root@example.com",
    ] {
        try_login(&app, email, "wrong-password-here")
            .await
            .assert_problem(401, "auth.invalid_credentials");
    }
    clock.advance_ms(20_000);
    let resp = app
        .client
        .post(format!("{}/v1/login", app.address))
        .json(&json!({"email": "alice@example.com", "password": "password-alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "40");
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "auth.throttled");

    clock.advance_ms(40_000);
    try_login(&app, "alice@example.com", "password-alice")
        .await
        .assert_status(200);
    let entries = app.service.store().audit_entries(None).await.unwrap();
    assert_eq!(count(&entries, 2104), 1, "the throttled attempt is audited");
}
