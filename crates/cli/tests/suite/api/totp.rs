//! Two-factor with a fixed clock: enrol, confirm, two-step login, replayed codes refused,
//! single-use recovery codes, disable with a current code, and an org that requires it.

use std::sync::Arc;

use portcullis_service::ServiceConfig;
use portcullis_service::core::FixedClock;
use portcullis_service::totp::code_at;
use reqwest::Method;
use serde_json::{Value, json};

use crate::api::helpers::{Reply, TestApp, spawn_app_with_clock};
use crate::api::members::join;
use crate::api::policy::login_as;

const START: i64 = 1_800_000_000_000;
const STEP: i64 = 30_000;

async fn clocked() -> (TestApp, FixedClock) {
    let clock = FixedClock::at(START);
    let app = spawn_app_with_clock(ServiceConfig::default(), Arc::new(clock.clone())).await;
    (app, clock)
}

async fn anonymous(app: &TestApp, path: &str, body: Value) -> Reply {
    app.request(Method::POST, path, None, Some(body)).await
}

fn other_code(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

#[tokio::test]
async fn enrol_two_step_login_recovery_codes_and_disable() {
    let (app, clock) = clocked().await;
    let alice = app.user("alice").await;
    let enrol = app.post("/v1/users/me/totp", &alice, json!({})).await;
    let enrol = enrol.assert_status(201).clone();
    let secret = enrol["secret"].as_str().unwrap().to_owned();
    assert!(
        enrol["otpauth_url"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/Portcullis:alice?secret=")
    );
    let now = || clock_now(&clock);
    let code = code_at(&secret, now()).unwrap();
    app.post(
        "/v1/users/me/totp/verify",
        &alice,
        json!({"code": other_code(&code)}),
    )
    .await
    .assert_problem(422, "totp.invalid_code");
    let verified = app
        .post("/v1/users/me/totp/verify", &alice, json!({"code": code}))
        .await;
    let recovery: Vec<String> = verified.assert_status(200)["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    app.post("/v1/users/me/totp", &alice, json!({}))
        .await
        .assert_problem(409, "totp.already_enabled");
    let status = app.get("/v1/users/me/totp", &alice).await;
    assert_eq!(status.assert_status(200)["enabled"], true);

    // Password alone is not enough any more.
    let first = login_as(&app, "alice@example.com", "password-alice").await;
    assert_eq!(first["state"], "second_factor_required", "{first}");
    assert!(first.get("session_token").is_none());
    let token = first["login_token"].as_str().unwrap().to_owned();
    let second = async |body: Value| anonymous(&app, "/v1/login/second-factor", body).await;
    // The code used to confirm enrolment cannot be replayed; a wrong code fails like a
    // wrong password.
    let replay = second(json!({"login_token": token, "code": code})).await;
    replay.assert_problem(401, "auth.invalid_credentials");
    second(json!({"login_token": token, "code": other_code(&code)}))
        .await
        .assert_problem(401, "auth.invalid_credentials");
    clock.advance_ms(STEP);
    let fresh = code_at(&secret, now()).unwrap();
    let done = second(json!({"login_token": token, "code": fresh})).await;
    let done = done.assert_status(200).clone();
    assert_eq!(done["state"], "authenticated");
    let session = done["session_token"].as_str().unwrap().to_owned();
    app.get("/v1/users/me", &session).await.assert_status(200);
    // The login token is single-use.
    clock.advance_ms(STEP);
    second(json!({"login_token": token, "code": code_at(&secret, now()).unwrap()}))
        .await
        .assert_problem(401, "auth.invalid_credentials");

    // Recovery codes work once each (case and dashes do not matter).
    let login_token = async || {
        login_as(&app, "alice@example.com", "password-alice").await["login_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let t = login_token().await;
    second(json!({"login_token": t, "recovery_code": recovery[0].to_uppercase()}))
        .await
        .assert_status(200);
    let t = login_token().await;
    second(json!({"login_token": t, "recovery_code": recovery[0]}))
        .await
        .assert_problem(401, "auth.invalid_credentials");
    second(json!({"login_token": t, "recovery_code": recovery[1].replace('-', "")}))
        .await
        .assert_status(200);
    let status = app.get("/v1/users/me/totp", &session).await;
    assert_eq!(status.body["recovery_codes_left"], 8);

    // Disabling needs a current code.
    clock.advance_ms(STEP);
    let current = code_at(&secret, now()).unwrap();
    app.post(
        "/v1/users/me/totp/disable",
        &session,
        json!({"code": other_code(&current)}),
    )
    .await
    .assert_problem(422, "totp.invalid_code");
    app.post(
        "/v1/users/me/totp/disable",
        &session,
        json!({"code": current}),
    )
    .await
    .assert_status(204);
    let plain = login_as(&app, "alice@example.com", "password-alice").await;
    assert_eq!(plain["state"], "authenticated");
    let entries = app.service.store().audit_entries(None).await.unwrap();
    for code in [2111, 2112, 2113, 2114, 2115] {
        assert!(
            entries.iter().any(|e| e.operation == code),
            "no audit {code}"
        );
    }
}

fn clock_now(clock: &FixedClock) -> i64 {
    use portcullis_service::core::Clock;
    clock.now()
}

#[tokio::test]
async fn an_organization_can_require_two_factor() {
    let (app, clock) = clocked().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.org(&alice, "acme").await;
    join(&app, &alice, "acme", &bob, "bob", "org_user").await;
    app.put("/v1/orgs/acme/two-factor", &bob, json!({"required": true}))
        .await
        .assert_problem(403, "permission.denied");
    app.put(
        "/v1/orgs/acme/two-factor",
        &alice,
        json!({"required": true}),
    )
    .await
    .assert_status(200);
    // At once, every member without a second factor is kept out until it enrols (the
    // administrator who turned it on included), whatever its credential.
    for token in [&alice, &bob] {
        app.get("/v1/orgs/acme/two-factor", token)
            .await
            .assert_problem(403, "two_factor_required");
    }

    let login = login_as(&app, "bob@example.com", "password-bob").await;
    assert_eq!(login["state"], "two_factor_enrolment_required", "{login}");
    assert!(login.get("session_token").is_none());
    let enrolment = login["enrolment_token"].as_str().unwrap().to_owned();
    app.get("/v1/users/me", &enrolment)
        .await
        .assert_problem(401, "auth.required");
    let started = anonymous(
        &app,
        "/v1/users/me/totp",
        json!({"enrolment_token": enrolment}),
    )
    .await;
    let secret = started.assert_status(201)["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_at(&secret, clock_now(&clock)).unwrap();
    anonymous(
        &app,
        "/v1/users/me/totp/verify",
        json!({"code": code, "enrolment_token": enrolment}),
    )
    .await
    .assert_status(200);
    anonymous(
        &app,
        "/v1/users/me/totp",
        json!({"enrolment_token": enrolment}),
    )
    .await
    .assert_problem(422, "token.invalid");

    clock.advance_ms(STEP);
    let login = login_as(&app, "bob@example.com", "password-bob").await;
    assert_eq!(login["state"], "second_factor_required");
    let done = anonymous(
        &app,
        "/v1/login/second-factor",
        json!({"login_token": login["login_token"],
               "code": code_at(&secret, clock_now(&clock)).unwrap()}),
    )
    .await;
    let session = done.assert_status(200)["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    clock.advance_ms(STEP);
    app.post(
        "/v1/users/me/totp/disable",
        &session,
        json!({"code": code_at(&secret, clock_now(&clock)).unwrap()}),
    )
    .await
    .assert_problem(409, "totp.required_by_org");
}
