//! What an independent attack found, kept as regressions: narrow credentials managing their
//! owner's account, bound credentials reading outside their binding, an org's two-factor
//! requirement not reaching existing credentials, change-password as a password oracle, and
//! which credentials a password change or reset ends.

use std::sync::Arc;

use portcullis_service::ServiceConfig;
use portcullis_service::core::{Clock, FixedClock};
use portcullis_service::totp::code_at;
use reqwest::Method;
use serde_json::{Value, json};

use crate::api::helpers::{TestApp, spawn_app, spawn_app_with_clock};
use crate::api::policy::operator;
use crate::api::teams::{create_app, join};

const START: i64 = 1_800_000_000_000;

async fn pat(app: &TestApp, session: &str, body: Value) -> (String, String) {
    let created = app.post("/v1/users/me/keys", session, body).await;
    let created = created.assert_status(201);
    (
        created["token"].as_str().unwrap().to_owned(),
        created["id"].as_str().unwrap().to_owned(),
    )
}

async fn change_password(
    app: &TestApp,
    token: &str,
    current: &str,
    new: &str,
) -> crate::api::helpers::Reply {
    app.post(
        "/v1/users/me/password",
        token,
        json!({"current_password": current, "new_password": new}),
    )
    .await
}

#[tokio::test]
async fn narrow_credentials_never_manage_their_owners_account() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    create_app(&app, &alice, "acme", "vision", "private").await;
    let (narrow, _) = pat(
        &app,
        &alice,
        json!({"description": "ci", "scopes": ["app.view"]}),
    )
    .await;
    let (_victim, victim_id) = pat(
        &app,
        &alice,
        json!({"description": "deploy", "scopes": ["all"]}),
    )
    .await;
    let app_key = app
        .post(
            "/v1/accounts/acme/apps/vision/keys",
            &alice,
            json!({"description": "viewer", "scopes": ["app.view"]}),
        )
        .await;
    let app_key = app_key.assert_status(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let sessions = app.get("/v1/users/me/sessions", &alice).await;
    let session_id = sessions.assert_status(200).as_array().unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    for (token, code) in [
        (&narrow, "credential.restricted"),
        (&app_key, "credential.bound"),
    ] {
        app.delete(&format!("/v1/users/me/keys/{victim_id}"), token)
            .await
            .assert_problem(403, code);
        app.get("/v1/users/me/keys", token)
            .await
            .assert_problem(403, code);
        app.get("/v1/users/me/sessions", token)
            .await
            .assert_problem(403, code);
        app.delete(&format!("/v1/users/me/sessions/{session_id}"), token)
            .await
            .assert_problem(403, code);
        app.get("/v1/users/me/totp", token)
            .await
            .assert_problem(403, code);
        app.post(
            "/v1/orgs",
            token,
            json!({"id": "evil", "name": "Evil", "billing_email": "b@example.com"}),
        )
        .await
        .assert_problem(403, code);
        app.post("/v1/users/me/keys", token, json!({"scopes": ["all"]}))
            .await
            .assert_problem(403, "key.session_required");
        change_password(&app, token, "password-alice", "Granite-Willow-Tide-9")
            .await
            .assert_problem(403, "credential.session_required");
    }
    // Each still does what it was made for.
    app.get("/v1/accounts/acme/apps/vision", &narrow)
        .await
        .assert_status(200);
    app.get("/v1/accounts/acme/apps/vision", &app_key)
        .await
        .assert_status(200);
    // Nothing changed: the other token and the session live, no org was created.
    let keys = app.get("/v1/users/me/keys", &alice).await;
    assert_eq!(keys.assert_status(200).as_array().unwrap().len(), 2);
    app.get("/v1/users/me/sessions", &alice)
        .await
        .assert_status(200);
    app.get("/v1/orgs/evil", &alice)
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn bound_credentials_reach_nothing_outside_their_binding() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    app.org(&alice, "globex").await;
    create_app(&app, &alice, "acme", "vision", "private").await;
    create_app(&app, &alice, "globex", "ledger", "private").await;
    let (bound, _) = pat(
        &app,
        &alice,
        json!({"description": "acme only", "scopes": ["all"], "org": "acme"}),
    )
    .await;
    let app_key = app
        .post(
            "/v1/accounts/acme/apps/vision/keys",
            &alice,
            json!({"scopes": ["app.view"]}),
        )
        .await;
    let app_key = app_key.assert_status(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // The org-bound token: its org and its apps, nothing of the other org, not the account.
    app.get("/v1/orgs/acme", &bound).await.assert_status(200);
    app.get("/v1/accounts/acme/apps/vision", &bound)
        .await
        .assert_status(200);
    app.get("/v1/orgs/globex", &bound)
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/orgs/globex/members", &bound)
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/accounts/globex/apps/ledger", &bound)
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/users/me", &bound)
        .await
        .assert_problem(403, "credential.bound");
    let orgs = app.get("/v1/users/me/orgs", &bound).await;
    let orgs = orgs.assert_status(200).to_string();
    assert!(orgs.contains("acme") && !orgs.contains("globex"), "{orgs}");

    // The app key: its app only.
    app.get("/v1/accounts/acme/apps/vision", &app_key)
        .await
        .assert_status(200);
    for path in [
        "/v1/orgs/acme",
        "/v1/orgs/globex",
        "/v1/accounts/globex/apps/ledger",
    ] {
        app.get(path, &app_key)
            .await
            .assert_problem(404, "not_found");
    }
    for path in ["/v1/users/me", "/v1/users/me/keys"] {
        app.get(path, &app_key)
            .await
            .assert_problem(403, "credential.bound");
    }
    let orgs = app.get("/v1/users/me/orgs", &app_key).await;
    assert_eq!(orgs.assert_status(200), &json!([]));
}

#[tokio::test]
async fn an_org_two_factor_requirement_stops_existing_sessions_and_tokens_until_enrolment() {
    let clock = FixedClock::at(START);
    let app = spawn_app_with_clock(ServiceConfig::default(), Arc::new(clock.clone())).await;
    let alice = app.user("alice").await;
    app.org(&alice, "globex").await;
    // The admin enrols first, so the requirement does not lock her out.
    let enrol = |token: String| {
        let app = &app;
        let clock = clock.clone();
        async move {
            let secret = app.post("/v1/users/me/totp", &token, json!({})).await;
            let secret = secret.assert_status(201)["secret"]
                .as_str()
                .unwrap()
                .to_owned();
            let code = code_at(&secret, Clock::now(&clock)).unwrap();
            app.post("/v1/users/me/totp/verify", &token, json!({"code": code}))
                .await
                .assert_status(200);
        }
    };
    enrol(alice.clone()).await;
    let bob = join(&app, &alice, "globex", "bob", "org_contributor").await;
    let (bob_pat, _) = pat(&app, &bob, json!({"description": "all", "scopes": ["all"]})).await;
    app.get("/v1/orgs/globex", &bob).await.assert_status(200);

    app.put(
        "/v1/orgs/globex/two-factor",
        &bob,
        json!({"required": true}),
    )
    .await
    .assert_problem(403, "permission.denied");
    app.put(
        "/v1/orgs/globex/two-factor",
        &alice,
        json!({"required": true}),
    )
    .await
    .assert_status(200);
    // At once, for the session and the token issued before, and for a token made after.
    let (later_pat, _) = pat(
        &app,
        &bob,
        json!({"description": "later", "scopes": ["all"]}),
    )
    .await;
    for token in [&bob, &bob_pat, &later_pat] {
        app.get("/v1/orgs/globex", token)
            .await
            .assert_problem(403, "two_factor_required");
        app.post(
            "/v1/accounts/globex/apps",
            token,
            json!({"id": "sneaky", "name": "Sneaky", "visibility": "private"}),
        )
        .await
        .assert_problem(403, "two_factor_required");
    }
    // A server started afterwards loads the requirement from the store.
    let peer = app.peer().await;
    peer.get("/v1/orgs/globex", &bob_pat)
        .await
        .assert_problem(403, "two_factor_required");
    // The admin, enrolled, is not affected.
    app.get("/v1/orgs/globex", &alice).await.assert_status(200);

    // Enrolling lifts it for every credential of the member.
    clock.advance_ms(30_000);
    enrol(bob.clone()).await;
    for token in [&bob, &bob_pat, &later_pat] {
        app.get("/v1/orgs/globex", token).await.assert_status(200);
    }
    // The other server follows the enrolment through the change feed.
    let mut status = 0;
    for _ in 0..100 {
        status = peer.get("/v1/orgs/globex", &bob_pat).await.status.as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, 200);
}

#[tokio::test]
async fn change_password_failures_count_toward_lockout_and_throttling() {
    let clock = FixedClock::at(START);
    let app = spawn_app_with_clock(ServiceConfig::default(), Arc::new(clock.clone())).await;
    let root = operator(&app).await;
    app.put(
        "/v1/login-throttle",
        &root,
        json!({"max_failures": 6, "window_seconds": 600}),
    )
    .await
    .assert_status(200);
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let bob = join(&app, &alice, "acme", "bob", "org_contributor").await;
    app.put(
        "/v1/orgs/acme/password-policy",
        &alice,
        json!({"max_failed_attempts": 3, "lockout_minutes": 15}),
    )
    .await
    .assert_status(200);

    for _ in 0..3 {
        change_password(&app, &bob, "not-bobs-password", "Granite-Willow-Tide-9")
            .await
            .assert_problem(422, "password.current_incorrect");
    }
    // Locked: the right current password gets the same answer and changes nothing.
    change_password(&app, &bob, "password-bob", "Granite-Willow-Tide-9")
        .await
        .assert_problem(422, "password.current_incorrect");
    app.request(
        Method::POST,
        "/v1/login",
        None,
        Some(json!({"email": "bob@example.com", "password": "password-bob"})),
    )
    .await
    .assert_problem(401, "auth.invalid_credentials");
    // Five failures from this address so far; the sixth fills the window and then the
    // source is throttled, whatever it tries.
    change_password(&app, &bob, "still-not-it", "Granite-Willow-Tide-9")
        .await
        .assert_problem(422, "password.current_incorrect");
    change_password(&app, &bob, "password-bob", "Granite-Willow-Tide-9")
        .await
        .assert_problem(429, "auth.throttled");

    // Once the lockout and the window end, the right password works again.
    clock.advance_ms(16 * 60_000);
    change_password(&app, &bob, "password-bob", "Granite-Willow-Tide-9")
        .await
        .assert_status(204);
    let entries = app.service.store().audit_entries(None).await.unwrap();
    let failures = entries
        .iter()
        .filter(|e| e.operation == 2002 && e.details.contains("current_password"))
        .count();
    assert!(failures >= 4, "every failed change is audited");
    assert!(
        entries.iter().any(|e| e.operation == 2102),
        "the lockout is audited"
    );
}

/// A change (the current password known) ends the other sessions and keeps tokens; a reset
/// (the password lost) ends every session and token and lifts a lockout.
#[tokio::test]
async fn a_password_reset_ends_every_credential_and_lifts_a_lockout() {
    let clock = FixedClock::at(START);
    let app = spawn_app_with_clock(ServiceConfig::default(), Arc::new(clock.clone())).await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    create_app(&app, &alice, "acme", "vision", "private").await;
    let other_session = app.login("alice").await;
    let (token, _) = pat(
        &app,
        &alice,
        json!({"description": "ci", "scopes": ["all"]}),
    )
    .await;
    let (bound, _) = pat(
        &app,
        &alice,
        json!({"description": "acme", "scopes": ["all"], "org": "acme"}),
    )
    .await;

    change_password(&app, &alice, "password-alice", "Granite-Willow-Tide-9")
        .await
        .assert_status(204);
    app.get("/v1/users/me", &other_session)
        .await
        .assert_problem(401, "auth.required");
    app.get("/v1/users/me", &alice).await.assert_status(200);
    app.get("/v1/users/me", &token).await.assert_status(200);
    app.get("/v1/orgs/acme", &bound).await.assert_status(200);

    // Locked out by someone guessing.
    app.put(
        "/v1/orgs/acme/password-policy",
        &alice,
        json!({"max_failed_attempts": 2, "lockout_minutes": 0}),
    )
    .await
    .assert_status(200);
    let login = async |password: &str| {
        app.request(
            Method::POST,
            "/v1/login",
            None,
            Some(json!({"email": "alice@example.com", "password": password})),
        )
        .await
    };
    for _ in 0..2 {
        login("wrong-guess-here").await.assert_status(401);
    }
    login("Granite-Willow-Tide-9").await.assert_status(401);

    // Resets go only to verified addresses.
    app.service.verify_email_directly("alice").await.unwrap();
    app.request(
        Method::POST,
        "/v1/password-reset",
        None,
        Some(json!({"email": "alice@example.com"})),
    )
    .await
    .assert_status(202);
    let reset = app.mailed_token("alice@example.com", "pcr").await.unwrap();
    app.request(
        Method::POST,
        "/v1/password-reset/confirm",
        None,
        Some(json!({"token": reset, "new_password": "Maple-Circuit-Dune-4"})),
    )
    .await
    .assert_status(204);
    for credential in [&alice, &token, &bound] {
        app.get("/v1/users/me", credential)
            .await
            .assert_problem(401, "auth.required");
    }
    login("Maple-Circuit-Dune-4").await.assert_status(200);
}

/// The check API about a token: its owner (and the admins of an org it is a member of) get
/// the explanation; anyone else gets the same answer for a live token that is denied, a
/// revoked one and one that never existed.
#[tokio::test]
async fn a_token_is_opaque_to_anyone_but_its_owner() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let bob = app.user("bob").await;
    app.org(&bob, "bobcorp").await;
    let (live, _) = pat(
        &app,
        &bob,
        json!({"description": "view", "scopes": ["app.view"]}),
    )
    .await;
    let (revoked, revoked_id) = pat(
        &app,
        &bob,
        json!({"description": "old", "scopes": ["app.view"]}),
    )
    .await;
    app.delete(&format!("/v1/users/me/keys/{revoked_id}"), &bob)
        .await
        .assert_status(204);
    let ask = |token: &str| {
        json!({"subject": {"token": token}, "permission": "apps.create",
               "resource": {"org": "acme"}})
    };
    let mut answers = Vec::new();
    for token in [
        live.as_str(),
        revoked.as_str(),
        "pcl_pat_00000000000000000000000000000000",
    ] {
        let mut answer = app
            .post("/v1/check", &alice, ask(token))
            .await
            .assert_status(200)
            .clone();
        answer.as_object_mut().unwrap().remove("revision");
        answers.push(answer);
    }
    assert_eq!(answers[0], answers[1], "live vs revoked");
    assert_eq!(answers[0], answers[2], "live vs unknown");
    assert_eq!(answers[0]["allowed"], false);
    // The owner learns why.
    let own = app.post("/v1/check", &bob, ask(&live)).await;
    assert_eq!(own.assert_status(200)["reason"], "not_member");
}

#[tokio::test]
async fn a_batch_answers_an_unknown_user_with_its_own_problem() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let batch = app
        .post(
            "/v1/check/batch",
            &alice,
            json!({"checks": [
                {"subject": {"user": "ghost"}, "permission": "apps.create", "resource": {"org": "acme"}},
                {"subject": {"user": "alice"}, "permission": "apps.create", "resource": {"org": "acme"}},
            ]}),
        )
        .await;
    let results = batch.assert_status(200)["results"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(results[0]["error"]["code"], "not_found", "{results:?}");
    assert_eq!(results[0]["error"]["status"], 404, "{results:?}");
    assert_eq!(results[1]["allowed"], true, "{results:?}");
}

#[tokio::test]
async fn the_costs_report_defaults_to_this_month() {
    let clock = FixedClock::at(START);
    let app = spawn_app_with_clock(ServiceConfig::default(), Arc::new(clock.clone())).await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let report = app.get("/v1/orgs/acme/costs", &alice).await;
    let report = report.assert_status(200);
    assert_eq!(report["from"], "2027-01-01");
    assert_eq!(report["to"], "2027-01-15");
    let report = app.get("/v1/orgs/acme/costs?to=2026-12-24", &alice).await;
    assert_eq!(report.assert_status(200)["from"], "2026-12-01");
    app.get("/v1/orgs/acme/costs?from=2027-02-01", &alice)
        .await
        .assert_problem(422, "costs.invalid_range");
}

/// A collaborator always sees the app it collaborates on, and every view of the question
/// agrees with the endpoint itself.
#[tokio::test]
async fn any_collaborator_grant_implies_seeing_the_app() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    create_app(&app, &alice, "acme", "vision", "private").await;
    let oscar = app.user("oscar").await;
    app.put(
        "/v1/accounts/acme/apps/vision/collaborators/oscar",
        &alice,
        json!({"permissions": ["models.create"]}),
    )
    .await
    .assert_status(200);
    app.get("/v1/accounts/acme/apps/vision", &oscar)
        .await
        .assert_status(200);
    let mine = app
        .get("/v1/me/permissions?account=acme&app=vision", &oscar)
        .await;
    assert_eq!(
        mine.assert_status(200)["permissions"],
        json!(["models.create", "app.view"])
    );
    let ask = json!({"subject": {"user": "oscar"}, "permission": "app.view",
                     "resource": {"account": "acme", "app": "vision"}});
    for asker in [&oscar, &alice] {
        let answer = app.post("/v1/check", asker, ask.clone()).await;
        assert_eq!(answer.assert_status(200)["allowed"], true);
    }
    app.post(
        "/v1/accounts/acme/apps/vision/models",
        &oscar,
        json!({"id": "m1"}),
    )
    .await
    .assert_status(201);
}

/// A member's authentication events reach the log of every organization it belongs to (its
/// administrators see brute force against it), and the platform's own log is the operator's.
#[tokio::test]
async fn a_members_authentication_events_are_in_each_of_its_orgs_logs() {
    let clock = FixedClock::at(START);
    let app = spawn_app_with_clock(ServiceConfig::default(), Arc::new(clock.clone())).await;
    let root = operator(&app).await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let carol = app.user("carol").await;
    app.org(&carol, "globex").await;
    let bob = join(&app, &alice, "acme", "bob", "org_contributor").await;
    crate::api::helpers::invite_and_accept(&app, &carol, "globex", &bob, "bob", "org_user").await;
    app.user("zed").await;
    app.org(&alice, "other").await;
    app.put(
        "/v1/orgs/acme/password-policy",
        &alice,
        json!({"max_failed_attempts": 2, "lockout_minutes": 15}),
    )
    .await
    .assert_status(200);
    for _ in 0..2 {
        app.request(
            Method::POST,
            "/v1/login",
            None,
            Some(json!({"email": "bob@example.com", "password": "a-wrong-guess"})),
        )
        .await
        .assert_status(401);
    }
    clock.advance_ms(16 * 60_000);
    let bob = app.login("bob").await;
    change_password(&app, &bob, "password-bob", "Granite-Willow-Tide-9")
        .await
        .assert_status(204);
    let secret = app.post("/v1/users/me/totp", &bob, json!({})).await;
    let secret = secret.assert_status(201)["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_at(&secret, Clock::now(&clock)).unwrap();
    app.post("/v1/users/me/totp/verify", &bob, json!({"code": code}))
        .await
        .assert_status(200);

    let operations = |page: &Value| -> Vec<i64> {
        page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e.to_string().contains("bob"))
            .map(|e| e["operation"].as_i64().unwrap())
            .collect()
    };
    for (org, admin) in [("acme", &alice), ("globex", &carol)] {
        let page = app
            .get(&format!("/v1/orgs/{org}/audit-log?limit=200"), admin)
            .await;
        let ops = operations(page.assert_status(200));
        for (code, what) in [
            (2002, "login failure"),
            (2102, "lockout"),
            (2105, "password change"),
            (2112, "two-factor on"),
        ] {
            assert!(ops.contains(&code), "{org} lacks the {what}: {ops:?}");
        }
        let verified = app
            .get(&format!("/v1/orgs/{org}/audit-log/verify"), admin)
            .await;
        assert_eq!(verified.assert_status(200)["ok"], true);
    }
    // An org bob does not belong to sees none of it.
    let other = app.get("/v1/orgs/other/audit-log?limit=200", &alice).await;
    assert!(operations(other.assert_status(200)).is_empty());

    // The platform log: the operator's only.
    let platform = app.get("/v1/audit-log?limit=200", &root).await;
    let ops = operations(platform.assert_status(200));
    assert!(ops.contains(&2002) && ops.contains(&2105), "{ops:?}");
    let verified = app.get("/v1/audit-log/verify", &root).await;
    assert_eq!(verified.assert_status(200)["ok"], true);
    for token in [&alice, &bob] {
        app.get("/v1/audit-log", token)
            .await
            .assert_problem(403, "platform.operator_only");
    }
}

/// Permission first: a member without `compute.manage` is refused before its body is judged.
#[tokio::test]
async fn cluster_creation_checks_the_permission_before_the_body() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let carol = join(&app, &alice, "acme", "carol", "org_contributor").await;
    for body in [
        json!({}),
        json!({"id": "c1"}),
        json!({"id": "!!", "cloud_provider": ""}),
    ] {
        app.post("/v1/orgs/acme/compute-clusters", &carol, body.clone())
            .await
            .assert_problem(403, "permission.denied");
        // The permission holder learns what is wrong with it.
        let reply = app
            .post("/v1/orgs/acme/compute-clusters", &alice, body)
            .await;
        assert_eq!(reply.status.as_u16(), 422, "{}", reply.body);
    }
}

/// The visibility of a module installed from another app is authorized, not only decided, so
/// the commit asks again: a revocation committed after the request was judged (here on another
/// server whose index has not followed it yet) stops the installation.
#[tokio::test]
async fn a_revocation_committed_in_between_stops_a_module_installation() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    app.user("bob").await;
    create_app(&app, &alice, "acme", "lib", "private").await;
    create_app(&app, &alice, "acme", "vision", "private").await;
    app.post(
        "/v1/accounts/acme/apps/lib/modules",
        &alice,
        json!({"id": "tool"}),
    )
    .await
    .assert_status(201);
    for (target, permissions) in [
        ("lib", json!(["app.view"])),
        ("vision", json!(["modules.install"])),
    ] {
        app.put(
            &format!("/v1/accounts/acme/apps/{target}/collaborators/bob"),
            &alice,
            json!({"permissions": permissions}),
        )
        .await
        .assert_status(200);
    }
    // A second server on the same store that does not follow the change feed: its index stays
    // at this revision until a commit catches it up.
    let store = portcullis_service::store::Store::open(app.store_url())
        .await
        .unwrap();
    let stale = portcullis_service::Portcullis::start(
        store,
        Arc::new(portcullis_service::core::SystemClock),
        ServiceConfig::default(),
    )
    .await
    .unwrap();
    let bob = portcullis_service::Caller::user_directly(stale.resolve_user("bob").unwrap());
    app.delete("/v1/accounts/acme/apps/lib/collaborators/bob", &alice)
        .await
        .assert_status(204);
    let installed = stale
        .install_module(
            &bob,
            "acme",
            "vision",
            "tool",
            Some(("acme".to_owned(), "lib".to_owned())),
        )
        .await;
    assert!(
        installed.is_err(),
        "installed after the revocation: {installed:?}"
    );
    let listed = app
        .get("/v1/accounts/acme/apps/vision/installed-modules", &alice)
        .await;
    assert!(
        !listed.assert_status(200).to_string().contains("tool"),
        "{}",
        listed.body
    );
}
