//! Whom an organization's identity provider may sign in, and what its sessions may do. An org
//! administrator controls the IdP completely (here: its certificate is the fixtures' key,
//! which the test signs with), so these tests play that administrator as the attacker.

use portcullis_service::Caller;
use portcullis_service::store::Actor;
use portcullis_service::totp::{TotpAuthority, code_at};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::{
    Assertion, NOW, SSO_FAILURE, acs, acs_from, audit, clocked, create_idp, idp_key, refused,
    sessions_of, sso_session, start_login,
};
use crate::api::helpers::{TestApp, invite_and_accept};
use crate::api::policy::operator;

/// Links (okta, `name_id`) to `user` in the store, as versions before the trust rules did when
/// an asserted email matched an existing account.
async fn legacy_link(app: &TestApp, name_id: &str, user: &str) {
    let idp = idp_key(app, "acme", "okta").await;
    let user = app.service.resolve_user(user).unwrap();
    let mut w = app
        .service
        .store()
        .begin_write(&Actor::default(), NOW)
        .await
        .unwrap();
    w.link_sso_account(idp, name_id, user).await.unwrap();
    w.commit().await.unwrap();
}

/// The attack of an org admin against a member: an IdP with the admin's own certificate
/// asserting the member's email. It fails at the ACS, the first step that could hand out a
/// session, with a code saying why; nothing is linked or granted. The operator's account is
/// refused the same way, and by name when an old link points at it.
#[tokio::test]
async fn an_org_admin_cannot_sign_in_as_a_member_or_the_operator_through_its_idp() {
    let (app, _clock) = clocked().await;
    let root = operator(&app).await;
    let victor = app.user("victor").await;
    app.org(&victor, "home").await;
    let mallory = app.user("mallory").await;
    app.org(&mallory, "acme").await;
    invite_and_accept(&app, &mallory, "acme", &victor, "victor", "org_user").await;
    invite_and_accept(&app, &mallory, "acme", &root, "root", "org_user").await;
    let sp = create_idp(&app, &mallory, "acme", "okta", json!({})).await;
    let okta = idp_key(&app, "acme", "okta").await;

    for (n, who) in [(1, "victor@example.com"), (2, "root@example.com")] {
        let user = who.split('@').next().unwrap();
        let sessions = sessions_of(&app, user).await;
        let revision = app.service.revision();
        let failures = refused(&audit(&app, "acme").await, SSO_FAILURE);
        let request = start_login(&app, "acme", "okta").await;
        let mut forged = Assertion::new(&format!("t{n}"), Some(&request), &sp, who);
        forged.name_id = format!("mallory-chosen-{n}");
        let reply = acs(&app, "acme", "okta", &forged.signed()).await;
        reply.assert_problem(403, "saml.account_not_owned");
        assert!(
            reply.body["detail"].as_str().unwrap().contains("link"),
            "says how to link: {:?}",
            reply.body
        );
        assert_eq!(sessions_of(&app, user).await, sessions, "{who}: no session");
        assert!(
            app.service
                .store()
                .sso_account(okta, &forged.name_id)
                .await
                .unwrap()
                .is_none(),
            "{who}: nothing linked"
        );
        assert_eq!(
            app.service.revision(),
            revision + 1,
            "{who}: only the AuthnRequest was stored"
        );
        assert_eq!(
            refused(&audit(&app, "acme").await, SSO_FAILURE),
            failures + 1,
            "{who}: the refusal is audited"
        );
    }
    // The member's other org and the operator's rights stay out of reach: the attacker holds
    // no credential of theirs. Their own sessions are untouched.
    app.get("/v1/orgs/home/members", &victor)
        .await
        .assert_status(200);
    app.get("/v1/orgs/home/members", &mallory)
        .await
        .assert_problem(404, "not_found");
    app.put(
        "/v1/session-settings",
        &mallory,
        json!({"idle_minutes": 30}),
    )
    .await
    .assert_problem(403, "platform.operator_only");

    // With JIT off the member's account is still not the org's to sign in.
    app.patch(
        "/v1/orgs/acme/identity-providers/okta",
        &mallory,
        json!({"jit_enabled": false}),
    )
    .await
    .assert_status(200);
    let request = start_login(&app, "acme", "okta").await;
    acs(
        &app,
        "acme",
        "okta",
        &Assertion::new("t3", Some(&request), &sp, "victor@example.com").signed(),
    )
    .await
    .assert_problem(403, "saml.account_not_owned");

    // Links made by email matching before these rules are not trusted either.
    legacy_link(&app, "victor@example.com", "victor").await;
    legacy_link(&app, "root@example.com", "root").await;
    for (n, who, code) in [
        (4, "victor@example.com", "saml.account_not_owned"),
        (5, "root@example.com", "saml.operator_refused"),
    ] {
        let request = start_login(&app, "acme", "okta").await;
        acs(
            &app,
            "acme",
            "okta",
            &Assertion::new(&format!("t{n}"), Some(&request), &sp, who).signed(),
        )
        .await
        .assert_problem(403, code);
    }
    assert_eq!(sessions_of(&app, "root").await, 1);
}

/// A session from acme's IdP reaches acme only, even for an account that is also a member
/// elsewhere; it cannot mint tokens for another org, change the account's credentials, join
/// another org or create one. A JIT account is managed by acme: no password can be set on it
/// by reset either, so acme's IdP stays its only way in.
#[tokio::test]
async fn an_sso_session_reaches_its_org_only_and_cannot_change_the_accounts_credentials() {
    let (app, _clock) = clocked().await;
    let root = operator(&app).await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    app.org(&alice, "globex").await;
    let sp = create_idp(&app, &alice, "acme", "okta", json!({})).await;
    let sso = sso_session(&app, &sp, "r1", "dave@corp.example").await;
    let dave = app.get("/v1/users/me", &sso).await.assert_status(200)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get("/v1/orgs/acme", &sso).await.assert_status(200);

    // An invitation to globex cannot be accepted with the SSO session...
    let invitation = app
        .post(
            "/v1/orgs/globex/invitations",
            &alice,
            json!({"email": "dave@corp.example", "role": "admin"}),
        )
        .await;
    let invitation = invitation.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/v1/invitations/{invitation}/accept"),
        &sso,
        json!({}),
    )
    .await
    .assert_problem(403, "credential.bound");
    // ...but an account may be a member elsewhere (a verified-domain or linked account will
    // be): accepted here with the account's full power, as the CLI acts.
    let dave_key = app.service.resolve_user(&dave).unwrap();
    app.service.verify_email_directly(&dave).await.unwrap();
    app.service
        .accept_invitation(&Caller::user_directly(dave_key), &invitation)
        .await
        .unwrap();

    // globex is out of the SSO session's reach, and so out of its tokens' reach.
    for path in ["/v1/orgs/globex", "/v1/orgs/globex/members"] {
        let reply = app.get(path, &sso).await;
        assert_ne!(reply.status.as_u16(), 200, "{path}: {:?}", reply.body);
    }
    let asked = |token: &str| {
        json!({"subject": {"token": token}, "permission": "sidebar.view",
               "resource": {"org": "globex"}})
    };
    let listed = app.get("/v1/users/me/orgs", &sso).await;
    let listed = listed.assert_status(200).to_string();
    assert!(
        listed.contains("acme") && !listed.contains("globex"),
        "{listed}"
    );
    let denied = app.post("/v1/check", &alice, asked(&sso)).await;
    let denied = denied.assert_status(200).clone();
    assert_eq!(denied["allowed"], false);
    assert_eq!(denied["reason"], "credential_bound_elsewhere");
    app.post(
        "/v1/users/me/keys",
        &sso,
        json!({"scopes": ["all"], "org": "globex"}),
    )
    .await
    .assert_problem(403, "credential.bound");
    let pat = app
        .post("/v1/users/me/keys", &sso, json!({"scopes": ["all"]}))
        .await;
    let pat = pat.assert_status(201).clone();
    assert_eq!(pat["key"]["org"], "acme");
    let pat = pat["token"].as_str().unwrap();
    let denied = app.post("/v1/check", &alice, asked(pat)).await;
    assert_eq!(denied.assert_status(200)["allowed"], false);
    let reply = app.get("/v1/orgs/globex/members", pat).await;
    assert_ne!(reply.status.as_u16(), 200, "{:?}", reply.body);

    // The account's credentials, new orgs: not from this session. Nothing is written.
    let revision = app.service.revision();
    let restricted: [(&str, Value); 3] = [
        (
            "/v1/users/me/password",
            json!({"current_password": "x", "new_password": "a-new-Passphrase-77"}),
        ),
        ("/v1/users/me/totp", json!({})),
        ("/v1/users/me/totp/disable", json!({"code": "123456"})),
    ];
    for (path, body) in restricted {
        app.post(path, &sso, body)
            .await
            .assert_problem(403, "sso.session_restricted");
    }
    let created = app
        .post(
            "/v1/orgs",
            &sso,
            json!({"id": "daves", "name": "Dave's", "billing_email": "d@corp.example"}),
        )
        .await;
    assert_eq!(created.status.as_u16(), 403, "{:?}", created.body);
    assert_eq!(app.service.revision(), revision);

    // No reset mail for a managed account.
    app.request(
        reqwest::Method::POST,
        "/v1/password-reset",
        None,
        Some(json!({"email": "dave@corp.example"})),
    )
    .await
    .assert_status(202);
    let outbox = app.get("/v1/outbox", &root).await;
    let resets_to_dave = outbox
        .assert_status(200)
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            m["recipient"] == "dave@corp.example" && m["body"].as_str().unwrap().contains("pcr_")
        })
        .count();
    assert_eq!(resets_to_dave, 0, "no reset link for a managed account");

    // An account with a second factor (turned on here with its full power) is not signed in
    // by the IdP alone: the factor cannot be skipped.
    let direct = Caller::user_directly(dave_key);
    let enrolment = app
        .service
        .enrol_totp(TotpAuthority::Caller(&direct))
        .await
        .unwrap()
        .value;
    let code = code_at(enrolment.secret.expose_secret(), NOW).unwrap();
    app.service
        .confirm_totp(TotpAuthority::Caller(&direct), &code)
        .await
        .unwrap();
    let request = start_login(&app, "acme", "okta").await;
    acs(
        &app,
        "acme",
        "okta",
        &Assertion::new("r2", Some(&request), &sp, "dave@corp.example").signed(),
    )
    .await
    .assert_problem(403, "sso.second_factor_enrolled");
}

/// Login CSRF: someone who completes a login at the IdP (their own account) cannot post the
/// response into another browser: a response to an SP-initiated login is accepted only with
/// the cookie of the browser that started it.
#[tokio::test]
async fn a_login_is_finished_only_by_the_browser_that_started_it() {
    let (app, _clock) = clocked().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let sp = create_idp(&app, &alice, "acme", "okta", json!({})).await;
    let mine = start_login(&app, "acme", "okta").await;
    let theirs = start_login(&app, "acme", "okta").await;
    let response = Assertion::new("c1", Some(&mine), &sp, "eve@corp.example").signed();
    for cookie in [None, Some(theirs.as_str())] {
        let revision = app.service.revision();
        acs_from(&app, "acme", "okta", &response, cookie)
            .await
            .assert_problem(403, "saml.other_browser");
        assert_eq!(
            app.service.revision(),
            revision,
            "{cookie:?}: nothing changed"
        );
    }
    let login = acs_from(&app, "acme", "okta", &response, Some(&mine)).await;
    login.assert_status(303);
}

/// An org that replaces its identity provider finds its managed accounts again by email (its
/// new IdP may vouch for them as the old one did); an account it does not own stays refused.
#[tokio::test]
async fn a_replaced_idp_finds_the_orgs_managed_accounts_again_and_only_those() {
    let (app, _clock) = clocked().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let sp = create_idp(&app, &alice, "acme", "okta", json!({})).await;
    let first = sso_session(&app, &sp, "m1", "dave@corp.example").await;
    let dave = app.get("/v1/users/me", &first).await.assert_status(200)["id"].clone();
    app.delete("/v1/orgs/acme/identity-providers/okta", &alice)
        .await
        .assert_status(204);
    let sp = create_idp(&app, &alice, "acme", "okta", json!({})).await;
    let again = sso_session(&app, &sp, "m2", "dave@corp.example").await;
    assert_eq!(
        app.get("/v1/users/me", &again).await.assert_status(200)["id"],
        dave
    );
    let request = start_login(&app, "acme", "okta").await;
    acs(
        &app,
        "acme",
        "okta",
        &Assertion::new("m3", Some(&request), &sp, "alice@example.com").signed(),
    )
    .await
    .assert_problem(403, "saml.account_not_owned");
}
