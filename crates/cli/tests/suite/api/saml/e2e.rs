//! End-to-end SSO against real identity-provider software this project did not write: pysaml2's
//! IdP (`saml2.server.Server`, tests/idp/pysaml2_idp.py), started on loopback by the test. The
//! browser's part is played by the test: SP-initiated login → the IdP's login form → its POST
//! form → the ACS. `.ci/run` installs pysaml2 into target/idp-venv; elsewhere the test is skipped
//! (with a message) unless `CI` is set, where a missing IdP fails it.

use std::io::BufRead as _;
use std::process::{Child, Stdio};

use base64::Engine;
use reqwest::Method;
use serde_json::json;

use super::{acs, no_redirects};
use crate::api::teams::create_app;

fn python() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PORTCULLIS_IDP_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/idp-venv/bin/python")
        });
    path.exists().then_some(path)
}

/// The value of `<input ... name="{name}" value="...">` in an HTML page.
fn input_value(page: &str, name: &str) -> Option<String> {
    let at = page
        .find(&format!("name=\"{name}\""))
        .or_else(|| page.find(&format!("name='{name}'")))?;
    let rest = &page[at..];
    let start = rest.find("value=")? + "value=".len();
    let quote = rest[start..].chars().next()?;
    let value = &rest[start + 1..];
    let end = value.find(quote)?;
    Some(
        value[..end]
            .replace("&#x2B;", "+")
            .replace("&#43;", "+")
            .replace("&#x3D;", "=")
            .replace("&#61;", "=")
            .replace("&#x2F;", "/")
            .replace("&quot;", "\"")
            .replace("&amp;", "&"),
    )
}

/// Kills the IdP process when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// Starts the pysaml2 IdP with the fixtures' throw-away key; it reads the SP metadata of
/// acme/okta on `app` over HTTP. Returns the process guard and the IdP's base URL.
async fn start_idp(
    python: &std::path::Path,
    app: &crate::api::helpers::TestApp,
    options: &[&str],
) -> (Killed, String) {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../saml/tests/fixtures");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idp/pysaml2_idp.py");
    let mut child = std::process::Command::new(python)
        .arg(script)
        .arg(format!("{}/saml/acme/okta/metadata", app.address))
        .arg(fixtures.join("idp.key"))
        .arg(fixtures.join("idp.crt"))
        .args(options)
        .env("PYTHONWARNINGS", "ignore")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the IdP starts");
    let stdout = child.stdout.take().unwrap();
    let guard = Killed(child);
    let ready = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map(|_| line)
    });
    let ready = tokio::time::timeout(std::time::Duration::from_secs(60), ready)
        .await
        .expect("the IdP is ready within 60 s")
        .unwrap()
        .unwrap();
    let port = ready
        .trim()
        .strip_prefix("READY ")
        .unwrap_or_else(|| panic!("READY <port>, got {ready:?}"))
        .to_owned();
    (guard, format!("http://127.0.0.1:{port}"))
}

/// The pysaml2 venv, or `None` (the test is skipped) outside CI.
fn python_or_skip() -> Option<std::path::PathBuf> {
    let python = python();
    if python.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "pysaml2 is not installed in target/idp-venv (.ci/run installs it)"
        );
        eprintln!(
            "skipped: no target/idp-venv (pip install -r crates/cli/tests/idp/requirements.txt)"
        );
    }
    python
}

#[tokio::test]
async fn sso_through_pysaml2_idp_provisions_maps_groups_and_reaches_the_app() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let app = crate::api::helpers::spawn_app_with(super::loopback_fetches()).await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    app.post(
        "/v1/orgs/acme/teams",
        &alice,
        json!({"id": "ml", "name": "ML"}),
    )
    .await
    .assert_status(201);
    create_app(&app, &alice, "acme", "vision", "private").await;
    app.put(
        "/v1/orgs/acme/teams/ml/apps/vision",
        &alice,
        json!({"role": "full_access"}),
    )
    .await
    .assert_status(200);

    let (_idp, idp_base) = start_idp(&python, &app, &[]).await;

    // The administrator creates the IdP from its metadata URL and toggles it on.
    let created = app
        .post(
            "/v1/orgs/acme/identity-providers",
            &alice,
            json!({"id": "okta", "name": "pysaml2", "metadata_url": format!("{idp_base}/metadata"),
                   "jit_enabled": true, "default_role": "team_contributor",
                   "attribute_mapping": {"email": "urn:oid:0.9.2342.19200300.100.1.3",
                       "first_name": "urn:oid:2.5.4.42", "last_name": "urn:oid:2.5.4.4",
                       "groups": "memberOf"},
                   "group_teams": {"ml-engineers": "ml"}}),
        )
        .await;
    let created = created.assert_status(201).clone();
    assert_eq!(created["entity_id"], format!("{idp_base}/metadata"));
    assert_eq!(created["sso_url"], format!("{idp_base}/sso/redirect"));
    assert_eq!(created["certificates"][0]["subject"], "test-idp");
    app.patch(
        "/v1/orgs/acme/identity-providers/okta",
        &alice,
        json!({"enabled": true}),
    )
    .await
    .assert_status(200);
    let refreshed = app
        .post(
            "/v1/orgs/acme/identity-providers/okta/refresh",
            &alice,
            json!({}),
        )
        .await;
    assert!(
        refreshed.assert_status(200)["metadata_fetched_at"]
            .as_str()
            .is_some()
    );

    // The browser: SP-initiated login → the IdP's login form.
    let browser = no_redirects();
    let start = browser
        .get(format!(
            "{}/saml/acme/okta/login?relay_state=/apps/vision",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status().as_u16(), 303);
    let to_idp = start.headers()["location"].to_str().unwrap().to_owned();
    assert!(to_idp.starts_with(&format!("{idp_base}/sso/redirect?SAMLRequest=")));
    let form = browser.get(&to_idp).send().await.unwrap();
    assert_eq!(form.status().as_u16(), 200);
    let form = form.text().await.unwrap();
    let key = input_value(&form, "key").unwrap_or_else(|| panic!("a login form: {form}"));

    // A wrong password is the IdP's business: no response.
    let wrong = browser
        .post(format!("{idp_base}/login"))
        .form(&[
            ("key", key.as_str()),
            ("username", "dave"),
            ("password", "nope"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let posted = browser
        .post(format!("{idp_base}/login"))
        .form(&[
            ("key", key.as_str()),
            ("username", "dave"),
            ("password", "dave-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status().as_u16(), 200);
    let page = posted.text().await.unwrap();
    assert!(
        page.contains("action=\"http://localhost:8080/saml/acme/okta/acs\""),
        "the IdP posts to our ACS: {page}"
    );
    let saml_response =
        input_value(&page, "SAMLResponse").unwrap_or_else(|| panic!("a SAMLResponse: {page}"));

    // The ACS: a 7-day console session for a JIT member, mapped to the team, reaching the app.
    let login = acs(&app, "acme", "okta", &saml_response).await;
    let login = login.assert_status(303).clone();
    assert_eq!(login["location"], "/apps/vision");
    let token = login["session_token"].as_str().unwrap().to_owned();
    let me = app.get("/v1/users/me", &token).await;
    let me = me.assert_status(200);
    assert_eq!(me["email"], "dave@corp.example");
    assert_eq!(me["first_name"], "Dave");
    assert_eq!(me["last_name"], "Example");
    let user = me["id"].as_str().unwrap().to_owned();
    let members = app.get("/v1/orgs/acme/members", &alice).await;
    assert!(
        members.assert_status(200)["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user"] == user.as_str() && m["role"] == "team_contributor"),
        "JIT member with the default role"
    );
    assert_eq!(
        app.get("/v1/accounts/acme/apps/vision", &token)
            .await
            .assert_status(200)["id"],
        "vision"
    );
    let check = app
        .post(
            "/v1/check",
            &alice,
            json!({"subject": {"token": token}, "permission": "app.view",
                   "resource": {"account": "acme", "app": "vision"}}),
        )
        .await;
    assert_eq!(check.assert_status(200)["allowed"], true);

    // The same response again is a replay.
    acs(&app, "acme", "okta", &saml_response)
        .await
        .assert_problem(403, "saml.replay");
    let _ = app
        .request(Method::GET, "/v1/auth/methods?org=acme", None, None)
        .await
        .assert_status(200);
}

/// An org with an enabled IdP `okta` created from the pysaml2 IdP's metadata URL (JIT on,
/// email from the `mail` attribute), `sign_requests` as given. Returns alice's token.
async fn org_with_idp(
    app: &crate::api::helpers::TestApp,
    idp_base: &str,
    sign_requests: bool,
) -> String {
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    app.post(
        "/v1/orgs/acme/identity-providers",
        &alice,
        json!({"id": "okta", "name": "pysaml2", "metadata_url": format!("{idp_base}/metadata"),
               "enabled": true, "sign_requests": sign_requests,
               "jit_enabled": true, "default_role": "team_contributor",
               "attribute_mapping": {"email": "urn:oid:0.9.2342.19200300.100.1.3"}}),
    )
    .await
    .assert_status(201);
    alice
}

/// The browser from the login redirect through the IdP's form: the IdP's answer to the
/// AuthnRequest (status, body) and, when it answered with its login form, the POST page.
async fn login_at_idp(app: &crate::api::helpers::TestApp) -> Result<String, (u16, String)> {
    let browser = no_redirects();
    let start = browser
        .get(format!(
            "{}/saml/acme/okta/login?relay_state=/apps/vision",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status().as_u16(), 303);
    let to_idp = start.headers()["location"].to_str().unwrap().to_owned();
    let form = browser.get(&to_idp).send().await.unwrap();
    let status = form.status().as_u16();
    let form = form.text().await.unwrap();
    if status != 200 {
        return Err((status, form));
    }
    let key = input_value(&form, "key").unwrap_or_else(|| panic!("a login form: {form}"));
    let idp_base = to_idp.split("/sso/redirect").next().unwrap().to_owned();
    let posted = browser
        .post(format!("{idp_base}/login"))
        .form(&[
            ("key", key.as_str()),
            ("username", "dave"),
            ("password", "dave-secret"),
        ])
        .send()
        .await
        .unwrap();
    let posted_status = posted.status().as_u16();
    let page = posted.text().await.unwrap();
    assert_eq!(posted_status, 200, "the IdP answers the login: {page}");
    Ok(input_value(&page, "SAMLResponse").unwrap_or_else(|| panic!("a SAMLResponse: {page}")))
}

/// pysaml2 with `want_authn_requests_signed` verifies our signed AuthnRequest against the
/// certificate in our SP metadata, and encrypts the assertion to that certificate; the ACS
/// decrypts it, verifies pysaml2's signatures, and the session works.
#[tokio::test]
async fn pysaml2_verifies_signed_requests_and_encrypts_the_assertion_to_the_sp_key() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let config = portcullis_service::ServiceConfig {
        saml_sp_key: Some(super::sp_key()),
        ..super::loopback_fetches()
    };
    let app = crate::api::helpers::spawn_app_with(config).await;
    let (_idp, idp_base) = start_idp(
        &python,
        &app,
        &["--want-signed-requests", "--encrypt-assertion"],
    )
    .await;
    org_with_idp(&app, &idp_base, true).await;

    let saml_response = login_at_idp(&app).await.unwrap_or_else(|(status, body)| {
        panic!("the IdP accepts the signed request: {status} {body}")
    });
    let xml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(&saml_response)
            .unwrap(),
    )
    .unwrap();
    assert!(xml.contains("EncryptedAssertion"), "{xml}");
    assert!(
        !xml.contains("dave@corp.example"),
        "nothing about the user in clear text: {xml}"
    );
    let login = acs(&app, "acme", "okta", &saml_response).await;
    let login = login.assert_status(303).clone();
    assert_eq!(login["location"], "/apps/vision");
    let token = login["session_token"].as_str().unwrap().to_owned();
    let me = app.get("/v1/users/me", &token).await;
    assert_eq!(me.assert_status(200)["email"], "dave@corp.example");
    // Decrypted or not, an assertion is used once.
    acs(&app, "acme", "okta", &saml_response)
        .await
        .assert_problem(403, "saml.replay");
}

/// The same IdP wanting signed requests refuses our unsigned one (the IdP record without
/// `sign_requests`): the property is the IdP's check, shown with real IdP software.
#[tokio::test]
async fn pysaml2_refuses_an_unsigned_request_when_it_wants_signed_ones() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let config = portcullis_service::ServiceConfig {
        saml_sp_key: Some(super::sp_key()),
        ..super::loopback_fetches()
    };
    let app = crate::api::helpers::spawn_app_with(config).await;
    let (_idp, idp_base) = start_idp(&python, &app, &["--want-signed-requests"]).await;
    let alice = org_with_idp(&app, &idp_base, false).await;
    let (status, body) = login_at_idp(&app)
        .await
        .expect_err("the IdP refuses an unsigned AuthnRequest");
    assert_eq!(status, 400);
    assert!(body.contains("IncorrectlySigned"), "{body}");
    // Turned on, the same IdP (which has cached our metadata) accepts the signed request and
    // pysaml2 signs a plain assertion.
    app.patch(
        "/v1/orgs/acme/identity-providers/okta",
        &alice,
        json!({"sign_requests": true}),
    )
    .await
    .assert_status(200);
    let saml_response = login_at_idp(&app)
        .await
        .unwrap_or_else(|(status, body)| panic!("now accepted: {status} {body}"));
    acs(&app, "acme", "okta", &saml_response)
        .await
        .assert_status(303);
}
