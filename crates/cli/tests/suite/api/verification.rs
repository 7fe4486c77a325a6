//! Verified identities: an address counts only once its owner followed the link mailed to it;
//! an invitation belongs to its address. The takeover scenarios that worked before (squatting
//! an invited address at sign-up, and a look-alike Unicode address) are refused here.

use std::sync::Arc;

use portcullis_service::ServiceConfig;
use portcullis_service::core::FixedClock;
use reqwest::Method;
use serde_json::{Value, json};

use crate::api::helpers::{TestApp, spawn_app, spawn_app_with_clock};
use crate::api::policy::operator;

const START: i64 = 1_800_000_000_000;

async fn signup(app: &TestApp, id: &str, email: &str) -> crate::api::helpers::Reply {
    app.request(
        Method::POST,
        "/v1/signup",
        None,
        Some(
            json!({"id": id, "email": email, "password": format!("password-{id}"),
                    "first_name": "Test", "last_name": id}),
        ),
    )
    .await
}

async fn login(app: &TestApp, email: &str, id: &str) -> String {
    crate::api::policy::login_as(app, email, &format!("password-{id}")).await["session_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn invite(app: &TestApp, token: &str, org: &str, email: &str, role: &str) -> Value {
    app.post(
        &format!("/v1/orgs/{org}/invitations"),
        token,
        json!({"email": email, "role": role}),
    )
    .await
    .assert_status(201)
    .clone()
}

async fn invitation_state(app: &TestApp, admin: &str, org: &str, id: &str) -> String {
    let list = app.get(&format!("/v1/orgs/{org}/invitations"), admin).await;
    list.assert_status(200)["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap()["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn my_orgs(app: &TestApp, token: &str) -> Value {
    app.get("/v1/users/me/orgs", token)
        .await
        .assert_status(200)
        .clone()
}

async fn confirm(app: &TestApp, token: &str) -> crate::api::helpers::Reply {
    app.request(
        Method::POST,
        "/v1/email/confirm",
        None,
        Some(json!({"token": token})),
    )
    .await
}

#[tokio::test]
async fn squatting_an_invited_address_at_sign_up_gains_nothing() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    app.org(&admin, "acme").await;
    let invitation = invite(&app, &admin, "acme", "new.hire@example.com", "admin").await;
    let id = invitation["id"].as_str().unwrap();

    // The outsider signs up with the invited address before the real new hire.
    signup(&app, "squatter", "new.hire@example.com")
        .await
        .assert_status(201);
    let squatter = login(&app, "new.hire@example.com", "squatter").await;
    let status = app.get("/v1/users/me/email", &squatter).await;
    assert_eq!(status.assert_status(200)["verified"], false);
    // Its claim to the address matches nothing: no invitation listed, none answerable.
    let mine = app.get("/v1/users/me/invitations", &squatter).await;
    assert_eq!(mine.assert_status(200)["invitations"], json!([]));
    app.post(
        &format!("/v1/invitations/{id}/accept"),
        &squatter,
        json!({}),
    )
    .await
    .assert_problem(403, "email.unverified");
    app.post(
        &format!("/v1/invitations/{id}/decline"),
        &squatter,
        json!({}),
    )
    .await
    .assert_problem(403, "email.unverified");
    app.post(
        "/v1/invitations/accept",
        &squatter,
        json!({"token": "pci_guessed"}),
    )
    .await
    .assert_problem(422, "token.invalid");
    assert_eq!(my_orgs(&app, &squatter).await, json!([]));
    assert_eq!(invitation_state(&app, &admin, "acme", id).await, "pending");
    // A password reset for the address does not reach the squatter's account either.
    let before = app.service.store().outbox(500).await.unwrap().len();
    app.request(
        Method::POST,
        "/v1/password-reset",
        None,
        Some(json!({"email": "new.hire@example.com"})),
    )
    .await
    .assert_status(202);
    assert_eq!(app.service.store().outbox(500).await.unwrap().len(), before);

    // The real new hire holds the mailbox: the invitation's link works for it, from an
    // account under another address, and the squatter's verification link went there too.
    let link = app
        .mailed_token("new.hire@example.com", "pci")
        .await
        .expect("the invitation mail carries a link");
    let hire = app.user("hire").await;
    let accepted = app
        .post("/v1/invitations/accept", &hire, json!({"token": link}))
        .await;
    assert_eq!(accepted.assert_status(200)["state"], "accepted");
    assert_eq!(my_orgs(&app, &hire).await[0]["id"], "acme");
    assert_eq!(my_orgs(&app, &squatter).await, json!([]));
    // Single use.
    app.post("/v1/invitations/accept", &squatter, json!({"token": link}))
        .await
        .assert_problem(409, "invitation.not_pending");
}

#[tokio::test]
async fn a_look_alike_unicode_address_takes_no_invitation_and_no_reset() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    app.org(&admin, "acme").await;
    let invitation = invite(&app, &admin, "acme", "kate.admin@example.com", "admin").await;
    let id = invitation["id"].as_str().unwrap();

    // KELVIN SIGN instead of `K`: refused outright, or at best an unverified claim.
    let reply = signup(&app, "mallory", "\u{212a}ate.admin@example.com").await;
    if reply.status.as_u16() == 201 {
        let mallory = login(&app, "\u{212a}ate.admin@example.com", "mallory").await;
        let mine = app.get("/v1/users/me/invitations", &mallory).await;
        assert_eq!(mine.assert_status(200)["invitations"], json!([]));
        app.post(&format!("/v1/invitations/{id}/accept"), &mallory, json!({}))
            .await
            .assert_problem(403, "email.unverified");
        assert_eq!(my_orgs(&app, &mallory).await, json!([]));
        let before = app.service.store().outbox(500).await.unwrap();
        app.request(
            Method::POST,
            "/v1/password-reset",
            None,
            Some(json!({"email": "kate.admin@example.com"})),
        )
        .await
        .assert_status(202);
        let after = app.service.store().outbox(500).await.unwrap();
        assert_eq!(
            after.len(),
            before.len(),
            "no reset queued to the look-alike"
        );
    } else {
        assert_eq!(reply.status.as_u16(), 422, "body: {}", reply.body);
    }
    assert_eq!(invitation_state(&app, &admin, "acme", id).await, "pending");
}

#[tokio::test]
async fn verification_link_is_single_use_expires_and_resend_is_throttled() {
    let clock = FixedClock::at(START);
    let app = spawn_app_with_clock(ServiceConfig::default(), Arc::new(clock.clone())).await;
    let token = app.unverified_user("vera").await;
    let first = app.mailed_token("vera@example.com", "pcv").await.unwrap();

    // Resend is throttled to one a minute; a new link voids the older one.
    app.post("/v1/users/me/email/verification", &token, json!({}))
        .await
        .assert_problem(429, "email.verification_throttled");
    clock.advance_ms(61_000);
    app.post("/v1/users/me/email/verification", &token, json!({}))
        .await
        .assert_status(202);
    let second = app.mailed_token("vera@example.com", "pcv").await.unwrap();
    assert_ne!(first, second);
    confirm(&app, &first)
        .await
        .assert_problem(422, "token.invalid");
    confirm(&app, "pcv_forged")
        .await
        .assert_problem(422, "token.invalid");

    // Expired after a day (and so is the session).
    clock.advance_ms(24 * 3_600_000);
    confirm(&app, &second)
        .await
        .assert_problem(422, "token.invalid");
    let token = app.login("vera").await;
    app.post("/v1/users/me/email/verification", &token, json!({}))
        .await
        .assert_status(202);
    let third = app.mailed_token("vera@example.com", "pcv").await.unwrap();
    let done = confirm(&app, &third).await;
    assert_eq!(done.assert_status(200)["result"], "verified");
    assert_eq!(done.body["user"], "vera");
    confirm(&app, &third)
        .await
        .assert_problem(422, "token.invalid");
    let status = app.get("/v1/users/me/email", &token).await;
    assert_eq!(status.assert_status(200)["verified"], true);
    app.post("/v1/users/me/email/verification", &token, json!({}))
        .await
        .assert_problem(409, "email.already_verified");
    // The mail itself: plain text and HTML, the link built from the public URL.
    let message = app
        .service
        .store()
        .outbox(500)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.recipient == "vera@example.com")
        .unwrap();
    assert!(
        message
            .body
            .contains("http://localhost:8080/verify-email?token=pcv_")
    );
}

#[tokio::test]
async fn a_verified_addressee_accepts_by_id_and_by_link_which_also_verifies() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    app.org(&admin, "acme").await;
    app.org(&admin, "beta").await;
    let bob = app.user("bob").await;
    let first = invite(&app, &admin, "acme", "bob@example.com", "org_user").await;
    let mine = app.get("/v1/users/me/invitations", &bob).await;
    assert_eq!(mine.assert_status(200)["invitations"][0]["id"], first["id"]);
    app.post(
        &format!("/v1/invitations/{}/accept", first["id"].as_str().unwrap()),
        &bob,
        json!({}),
    )
    .await
    .assert_status(200);

    // An unverified account whose address is invited accepts through the mailed link, and
    // that proves its address.
    let carol = app.unverified_user("carol").await;
    invite(&app, &admin, "beta", "carol@example.com", "org_user").await;
    let link = app.mailed_token("carol@example.com", "pci").await.unwrap();
    let accepted = app
        .post("/v1/invitations/accept", &carol, json!({"token": link}))
        .await;
    assert_eq!(accepted.assert_status(200)["org"], "beta");
    let status = app.get("/v1/users/me/email", &carol).await;
    assert_eq!(status.assert_status(200)["verified"], true);
}

#[tokio::test]
async fn changing_the_address_takes_effect_only_once_the_new_one_is_confirmed() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    app.org(&admin, "acme").await;
    let dana = app.user("dana").await;
    app.post(
        "/v1/users/me/email",
        &dana,
        json!({"email": "dana@example.com"}),
    )
    .await
    .assert_problem(422, "email.unchanged");
    app.post(
        "/v1/users/me/email",
        &dana,
        json!({"email": "not-an-address"}),
    )
    .await
    .assert_problem(422, "email.invalid");
    app.post(
        "/v1/users/me/email",
        &dana,
        json!({"email": "dana@new.example.com"}),
    )
    .await
    .assert_status(202);
    // Nothing changed yet; the old address got a notice.
    let me = app.get("/v1/users/me", &dana).await;
    assert_eq!(me.assert_status(200)["email"], "dana@example.com");
    let notices = app.service.store().outbox(500).await.unwrap();
    assert!(
        notices
            .iter()
            .any(|m| m.recipient == "dana@example.com" && m.subject.contains("being changed"))
    );
    // An invitation for the new address is not Dana's until confirmed.
    let invitation = invite(&app, &admin, "acme", "dana@new.example.com", "org_user").await;
    let mine = app.get("/v1/users/me/invitations", &dana).await;
    assert_eq!(mine.assert_status(200)["invitations"], json!([]));

    let link = app
        .mailed_token("dana@new.example.com", "pcv")
        .await
        .unwrap();
    let done = confirm(&app, &link).await;
    assert_eq!(done.assert_status(200)["result"], "changed");
    let me = app.get("/v1/users/me", &dana).await;
    assert_eq!(me.assert_status(200)["email"], "dana@new.example.com");
    let status = app.get("/v1/users/me/email", &dana).await;
    assert_eq!(status.assert_status(200)["verified"], true);
    let mine = app.get("/v1/users/me/invitations", &dana).await;
    assert_eq!(
        mine.assert_status(200)["invitations"][0]["id"],
        invitation["id"]
    );
    // The new address signs in; the old one no longer does.
    login(&app, "dana@new.example.com", "dana").await;

    // A change to an address another account holds fails at confirmation, changing nothing.
    app.post(
        "/v1/users/me/email",
        &dana,
        json!({"email": "admin@example.com"}),
    )
    .await
    .assert_status(202);
    let link = app.mailed_token("admin@example.com", "pcv").await.unwrap();
    confirm(&app, &link)
        .await
        .assert_problem(409, "email.taken");
    let me = app.get("/v1/users/me", &dana).await;
    assert_eq!(me.assert_status(200)["email"], "dana@new.example.com");
}

#[tokio::test]
async fn a_token_cannot_change_the_address_and_only_the_operator_verifies_by_hand() {
    let app = spawn_app().await;
    let root = operator(&app).await;
    let status = app.get("/v1/users/me/email", &root).await;
    assert_eq!(
        status.assert_status(200)["verified"],
        true,
        "init's operator is verified"
    );
    let erin = app.unverified_user("erin").await;
    let pat = app
        .post("/v1/users/me/keys", &erin, json!({"scopes": ["all"]}))
        .await;
    let pat = pat.assert_status(201)["token"].as_str().unwrap().to_owned();
    app.post(
        "/v1/users/me/email",
        &pat,
        json!({"email": "erin@evil.example.com"}),
    )
    .await
    .assert_problem(403, "credential.session_required");

    app.post("/v1/users/erin/verify-email", &erin, json!({}))
        .await
        .assert_problem(403, "platform.operator_only");
    let done = app
        .post("/v1/users/erin/verify-email", &root, json!({}))
        .await;
    assert_eq!(done.assert_status(200)["changed"], true);
    let status = app.get("/v1/users/me/email", &erin).await;
    assert_eq!(status.assert_status(200)["verified"], true);
    app.post("/v1/users/nobody/verify-email", &root, json!({}))
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn lockout_and_two_factor_changes_notify_the_owner_in_their_own_transaction() {
    let app = spawn_app().await;
    let gail = app.user("gail").await;
    let notices = async |subject: &str| {
        app.service
            .store()
            .outbox(500)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.recipient == "gail@example.com" && m.subject == subject)
            .count()
    };
    // The default policy locks after 10 failures: the tenth queues one notice.
    for _ in 0..10 {
        app.request(
            Method::POST,
            "/v1/login",
            None,
            Some(json!({"email": "gail@example.com", "password": "wrong-password-1"})),
        )
        .await
        .assert_problem(401, "auth.invalid_credentials");
    }
    assert_eq!(notices("Your Portcullis account is locked").await, 1);
    // Further attempts while locked queue nothing more.
    app.request(
        Method::POST,
        "/v1/login",
        None,
        Some(json!({"email": "gail@example.com", "password": "wrong-password-1"})),
    )
    .await;
    assert_eq!(notices("Your Portcullis account is locked").await, 1);
    let _ = gail;

    // Two-factor on: a notice, with no secret in it.
    let clock = FixedClock::at(START);
    let app = spawn_app_with_clock(ServiceConfig::default(), Arc::new(clock.clone())).await;
    let hana = app.user("hana").await;
    let enrol = app.post("/v1/users/me/totp", &hana, json!({})).await;
    let secret = enrol.assert_status(201)["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = portcullis_service::totp::code_at(&secret, START).unwrap();
    app.post("/v1/users/me/totp/verify", &hana, json!({"code": code}))
        .await
        .assert_status(200);
    let mails = app.service.store().outbox(500).await.unwrap();
    let notice = mails
        .iter()
        .find(|m| m.recipient == "hana@example.com" && m.subject == "Two-factor sign-in is on")
        .expect("the two-factor notice");
    assert!(!notice.body.contains(&secret));
}

#[tokio::test]
async fn sign_up_with_a_taken_address_answers_alike_and_tells_the_owner() {
    let app = spawn_app().await;
    app.user("owner").await;
    let fresh = signup(&app, "newcomer", "newcomer@example.com").await;
    let taken = signup(&app, "intruder", "owner@example.com").await;
    assert_eq!(fresh.status.as_u16(), 201);
    assert_eq!(taken.status.as_u16(), 201, "body: {}", taken.body);
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&fresh.body), keys(&taken.body));
    assert_eq!(taken.body["id"], "intruder");
    // Nothing was created: the intruder's password does not sign in, the id stays free.
    app.request(
        Method::POST,
        "/v1/login",
        None,
        Some(json!({"email": "owner@example.com", "password": "password-intruder"})),
    )
    .await
    .assert_problem(401, "auth.invalid_credentials");
    signup(&app, "intruder", "intruder@example.com")
        .await
        .assert_status(201);
    let mails = app.service.store().outbox(500).await.unwrap();
    assert_eq!(
        mails
            .iter()
            .filter(|m| m.recipient == "owner@example.com"
                && m.subject == "Someone tried to sign up with your address")
            .count(),
        1
    );
}
