//! An account's owner linking an organization's identity provider to their account: started
//! from a login session of their own, authenticated by the IdP, confirmed from the mail sent
//! to the account's address. Played against the owner by the org's administrator (who
//! controls the IdP), by a leaked token and by an SSO session.

use serde_json::{Value, json};

use super::{
    Assertion, acs, acs_from, audit, clocked, count, create_idp, idp_key, no_redirects,
    sso_session, start_login,
};
use crate::api::helpers::{Reply, TestApp, invite_and_accept};
use crate::api::policy::operator;

const LINK_REQUEST: i64 = 2315;
const LINK_CONFIRM: i64 = 2316;
const UNLINK: i64 = 2317;

/// Follows a link confirmation, signed out.
async fn confirm(app: &TestApp, token: &str) -> Reply {
    app.request(
        reqwest::Method::POST,
        "/v1/sso-links/confirm",
        None,
        Some(json!({"token": token})),
    )
    .await
}

/// Starts a link as the holder of `token`; returns the AuthnRequest's ID its cookie names.
async fn start_link(app: &TestApp, token: &str, org: &str, idp: &str) -> String {
    let resp = no_redirects()
        .post(format!("{}/v1/users/me/sso-links", app.address))
        .bearer_auth(token)
        .json(&json!({"org": org, "identity_provider": idp}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["redirect_url"]
            .as_str()
            .unwrap()
            .contains("SAMLRequest="),
        "{body}"
    );
    let value = cookie
        .strip_prefix("__Host-portcullis-sso=")
        .and_then(|c| c.split(';').next())
        .expect("the SSO request cookie");
    value.to_owned()
}

/// Posts a response answering a link request, as the owner's browser would: a 303 to the
/// account page that signs nobody in. Returns the Location.
async fn post_link_response(app: &TestApp, org: &str, idp: &str, response: &str, request: &str) {
    let resp = no_redirects()
        .post(format!("{}/saml/{org}/{idp}/acs", app.address))
        .header("cookie", format!("__Host-portcullis-sso={request}"))
        .form(&[("SAMLResponse", response)])
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let cookies: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let location = resp.headers().get("location").cloned();
    assert_eq!(status, 303, "{:?}", resp.text().await);
    assert_eq!(location.unwrap().to_str().unwrap(), "/account");
    assert!(
        !cookies.iter().any(|c| c.starts_with("__Host-portcullis=")),
        "nobody is signed in: {cookies:?}"
    );
}

/// acme's admin controls acme's IdP; victor, a member of acme with an account of his own (and
/// an org of his own), links it himself. Before the link and until he confirms it from his
/// mailbox the IdP cannot sign him in; after, it signs him in to acme only; unlinking ends
/// that and the sessions it made.
#[tokio::test]
async fn an_owner_links_an_idp_identity_confirmed_by_mail_and_its_sessions_stay_in_that_org() {
    let (app, _clock) = clocked().await;
    let mallory = app.user("mallory").await;
    app.org(&mallory, "acme").await;
    let victor = app.user("victor").await;
    app.org(&victor, "home").await;
    invite_and_accept(&app, &mallory, "acme", &victor, "victor", "org_user").await;
    let sp = create_idp(&app, &mallory, "acme", "okta", json!({})).await;
    let assertion = |id: &str, request: &str| {
        let mut a = Assertion::new(id, Some(request), &sp, "victor@example.com");
        a.name_id = "victor@okta".into();
        a
    };

    // Not linked: the IdP's word is not enough.
    let request = start_login(&app, "acme", "okta").await;
    acs(&app, "acme", "okta", &assertion("l0", &request).signed())
        .await
        .assert_problem(403, "saml.account_not_owned");

    // Victor starts the link; the IdP authenticates him; the ACS mails a confirmation.
    let request = start_link(&app, &victor, "acme", "okta").await;
    post_link_response(
        &app,
        "acme",
        "okta",
        &assertion("l1", &request).signed(),
        &request,
    )
    .await;
    assert_eq!(count(&audit(&app, "acme").await, LINK_REQUEST), 1);
    // Pending: still not a way in.
    let request = start_login(&app, "acme", "okta").await;
    acs(&app, "acme", "okta", &assertion("l2", &request).signed())
        .await
        .assert_problem(403, "saml.account_not_owned");

    let token = app
        .mailed_token("victor@example.com", "pcl")
        .await
        .expect("the confirmation was mailed to the account's address");
    let confirmed = confirm(&app, &token).await;
    assert_eq!(
        confirmed.assert_status(200),
        &json!({"user": "victor", "org": "acme", "identity_provider": "okta"})
    );
    confirm(&app, &token)
        .await
        .assert_problem(422, "token.invalid");
    assert_eq!(count(&audit(&app, "acme").await, LINK_CONFIRM), 1);
    let links = app.get("/v1/users/me/sso-links", &victor).await;
    let links = links.assert_status(200);
    assert_eq!(links[0]["org"], "acme");
    assert_eq!(links[0]["identity_provider"], "okta");
    assert_eq!(links[0]["name_id"], "victor@okta");
    assert_eq!(links[0]["linked_by"], "owner_linked");

    // Linked: the IdP signs victor in, to acme only.
    let request = start_login(&app, "acme", "okta").await;
    let login = acs(&app, "acme", "okta", &assertion("l3", &request).signed()).await;
    let sso = login.assert_status(303)["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(login.body["user"], "victor");
    app.get("/v1/orgs/acme/members", &sso)
        .await
        .assert_status(200);
    let home = app.get("/v1/orgs/home/members", &sso).await;
    assert_ne!(home.status.as_u16(), 200, "{:?}", home.body);
    // A token it mints is bound to acme too.
    let pat = app
        .post(
            "/v1/users/me/keys",
            &sso,
            json!({"description": "x", "scopes": ["all"]}),
        )
        .await;
    assert_eq!(pat.assert_status(201)["key"]["org"], "acme");
    let pat = pat.body["token"].as_str().unwrap().to_owned();
    let home = app.get("/v1/orgs/home/members", &pat).await;
    assert_ne!(home.status.as_u16(), 200, "{:?}", home.body);
    app.post(
        "/v1/users/me/password",
        &sso,
        json!({"current_password": "password-victor", "new_password": "Another-passphrase-42"}),
    )
    .await
    .assert_problem(403, "sso.session_restricted");
    // An SSO session neither links nor unlinks.
    app.post(
        "/v1/users/me/sso-links",
        &sso,
        json!({"org": "acme", "identity_provider": "okta"}),
    )
    .await
    .assert_problem(403, "sso.session_restricted");
    app.delete("/v1/users/me/sso-links/acme/okta", &sso)
        .await
        .assert_problem(403, "sso.session_restricted");

    // Victor unlinks with his own session: the SSO session ends, the IdP is refused again.
    app.delete("/v1/users/me/sso-links/acme/okta", &victor)
        .await
        .assert_status(204);
    app.get("/v1/users/me", &sso).await.assert_status(401);
    assert_eq!(count(&audit(&app, "acme").await, UNLINK), 1);
    let request = start_login(&app, "acme", "okta").await;
    acs(&app, "acme", "okta", &assertion("l4", &request).signed())
        .await
        .assert_problem(403, "saml.account_not_owned");
    app.delete("/v1/users/me/sso-links/acme/okta", &victor)
        .await
        .assert_problem(404, "not_found");
}

/// Who cannot start or complete a link: a token (even unbound with every scope), an
/// unverified account, the operator; a link response posted from another browser; an identity
/// that already signs in another account; a link confirmation after the IdP was deleted.
#[tokio::test]
async fn links_are_refused_to_tokens_strangers_the_operator_and_identities_taken_elsewhere() {
    let (app, _clock) = clocked().await;
    let root = operator(&app).await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let sp = create_idp(&app, &alice, "acme", "okta", json!({})).await;
    let start = json!({"org": "acme", "identity_provider": "okta"});

    let pat = app
        .post(
            "/v1/users/me/keys",
            &alice,
            json!({"description": "all", "scopes": ["all"]}),
        )
        .await;
    let pat = pat.assert_status(201)["token"].as_str().unwrap().to_owned();
    app.post("/v1/users/me/sso-links", &pat, start.clone())
        .await
        .assert_problem(403, "credential.session_required");
    let fresh = app.unverified_user("fresh").await;
    app.post("/v1/users/me/sso-links", &fresh, start.clone())
        .await
        .assert_problem(403, "email.unverified");
    app.post("/v1/users/me/sso-links", &root, start.clone())
        .await
        .assert_problem(403, "saml.operator_refused");
    app.post(
        "/v1/users/me/sso-links",
        &alice,
        json!({"org": "acme", "identity_provider": "nope"}),
    )
    .await
    .assert_problem(404, "not_found");

    // The response to alice's link request, posted by a browser that did not start it.
    let request = start_link(&app, &alice, "acme", "okta").await;
    let mut response = Assertion::new("x1", Some(&request), &sp, "alice@example.com");
    response.name_id = "shared@corp.example".into();
    acs_from(&app, "acme", "okta", &response.signed(), Some("another"))
        .await
        .assert_problem(403, "saml.other_browser");
    assert!(
        app.mailed_token("alice@example.com", "pcl").await.is_none(),
        "nothing mailed"
    );

    // An identity that already signs in another account (here: one acme provisioned) is not
    // linked to a second one.
    sso_session(&app, &sp, "x2", "shared@corp.example").await;
    let request = start_link(&app, &alice, "acme", "okta").await;
    let mut response = Assertion::new("x3", Some(&request), &sp, "alice@example.com");
    response.name_id = "shared@corp.example".into();
    let reply = no_redirects()
        .post(format!("{}/saml/acme/okta/acs", app.address))
        .header("cookie", format!("__Host-portcullis-sso={request}"))
        .form(&[("SAMLResponse", response.signed())])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 409);
    let problem: Value = reply.json().await.unwrap();
    assert_eq!(problem["code"], "sso.identity_linked_elsewhere");

    // A pending link whose IdP is deleted before confirmation links nothing.
    let request = start_link(&app, &alice, "acme", "okta").await;
    let mut response = Assertion::new("x4", Some(&request), &sp, "alice@example.com");
    response.name_id = "alice@okta".into();
    post_link_response(&app, "acme", "okta", &response.signed(), &request).await;
    let token = app.mailed_token("alice@example.com", "pcl").await.unwrap();
    let okta = idp_key(&app, "acme", "okta").await;
    app.delete("/v1/orgs/acme/identity-providers/okta", &alice)
        .await
        .assert_status(204);
    confirm(&app, &token)
        .await
        .assert_problem(422, "token.invalid");
    assert!(
        app.service
            .store()
            .sso_account(okta, "alice@okta")
            .await
            .unwrap()
            .is_none()
    );
}
