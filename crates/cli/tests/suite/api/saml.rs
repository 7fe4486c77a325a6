//! SAML SSO through the HTTP API: identity-provider records, SP metadata, SP-initiated login, the
//! ACS with responses signed in the test by the xmlsec1 CLI with the fixtures' throw-away key
//! (crates/saml/tests/fixtures), replay and cross-org refusals, SSO enforcement, login methods.
//! The server's clock is fixed at the fixtures' time (2030-01-01T00:00:00Z).

mod e2e;
mod links;
mod metadata_fetch;
mod trust;

use std::io::Read as _;
use std::sync::Arc;

use base64::Engine;
use portcullis_service::ServiceConfig;
use portcullis_service::core::{CredentialKind, FixedClock};
use reqwest::Method;
use serde_json::{Value, json};

use crate::api::helpers::{Reply, TestApp, spawn_app_with_clock};
use crate::api::members::join;
use crate::api::teams::create_app;

/// 2030-01-01T00:00:00Z: inside the fixture certificate's validity.
pub const NOW: i64 = 1_893_456_000_000;
const DAY: i64 = 86_400_000;
pub const IDP_ENTITY: &str = "https://idp.example/";
pub const SSO_URL: &str = "https://idp.example/sso";

const IDP_CREATE: i64 = 2300;
const IDP_UPDATE: i64 = 2301;
const IDP_DELETE: i64 = 2302;
const SSO_SUCCESS: i64 = 2310;
const SSO_FAILURE: i64 = 2311;
const SSO_JIT: i64 = 2312;
const SSO_TEAM_SYNC: i64 = 2313;
const SSO_PAT_AUTHORIZE: i64 = 2314;
const SSO_ENFORCEMENT: i64 = 2320;

fn fixture_path(name: &str) -> String {
    format!(
        "{}/../saml/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A fixture certificate as base64 DER (PEM armour removed).
pub fn cert(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

fn metadata_xml(entity: &str, sso_url: &str, certificate: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{certificate}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{sso_url}/post"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{sso_url}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

/// What a test response asserts. `acs`/`audience` must be the SP's for a valid response.
#[derive(Clone)]
pub struct Assertion {
    pub id: String,
    pub in_response_to: Option<String>,
    pub issuer: String,
    pub acs: String,
    pub audience: String,
    pub name_id: String,
    pub email: String,
    pub groups: Vec<String>,
}

impl Assertion {
    pub fn new(id: &str, in_response_to: Option<&str>, sp: &Value, who: &str) -> Self {
        Self {
            id: id.to_owned(),
            in_response_to: in_response_to.map(str::to_owned),
            issuer: IDP_ENTITY.to_owned(),
            acs: sp["acs_url"].as_str().unwrap().to_owned(),
            audience: sp["sp_entity_id"].as_str().unwrap().to_owned(),
            name_id: who.to_owned(),
            email: who.to_owned(),
            groups: Vec::new(),
        }
    }

    fn template(&self) -> String {
        let irt = self
            .in_response_to
            .as_ref()
            .map(|r| format!(r#" InResponseTo="{r}""#))
            .unwrap_or_default();
        let groups: String = self
            .groups
            .iter()
            .map(|g| format!("<saml:AttributeValue>{g}</saml:AttributeValue>"))
            .collect();
        let id = &self.id;
        let (issuer, acs, audience, name_id, email) = (
            &self.issuer,
            &self.acs,
            &self.audience,
            &self.name_id,
            &self.email,
        );
        format!(
            r##"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_resp{id}" Version="2.0" IssueInstant="2030-01-01T00:00:00Z" Destination="{acs}"{irt}><saml:Issuer>{issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="_assert{id}" Version="2.0" IssueInstant="2030-01-01T00:00:00Z"><saml:Issuer>{issuer}</saml:Issuer><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_assert{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature><saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{name_id}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData{irt} NotOnOrAfter="2030-01-01T01:00:00Z" Recipient="{acs}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="2029-12-31T23:00:00Z" NotOnOrAfter="2030-01-01T01:00:00Z"><saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AttributeStatement><saml:Attribute Name="mail"><saml:AttributeValue>{email}</saml:AttributeValue></saml:Attribute><saml:Attribute Name="memberOf">{groups}</saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>"##
        )
    }

    /// The response signed (over the assertion) with the fixtures' IdP key by the xmlsec1 CLI,
    /// base64 as in the HTTP-POST binding.
    pub fn signed(&self) -> String {
        let dir = tempfile::tempdir().unwrap();
        let template = dir.path().join("response.tmpl.xml");
        let out = dir.path().join("response.xml");
        std::fs::write(&template, self.template()).unwrap();
        let status = std::process::Command::new("xmlsec1")
            .arg("--sign")
            .arg("--privkey-pem")
            .arg(fixture_path("idp.key"))
            .arg("--id-attr:ID")
            .arg("urn:oasis:names:tc:SAML:2.0:assertion:Assertion")
            .arg("--output")
            .arg(&out)
            .arg(&template)
            .status()
            .expect("the xmlsec1 CLI (Debian package xmlsec1) is installed");
        assert!(status.success(), "xmlsec1 signs the test response");
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(out).unwrap())
    }
}

/// A service configuration whose outbound guard lets metadata be fetched from this machine
/// (the tests' IdPs listen on loopback; a server refuses that by default).
pub fn loopback_fetches() -> ServiceConfig {
    ServiceConfig {
        outbound_allow: portcullis_service::outbound::OutboundPolicy::parse(&["127.0.0.1"])
            .unwrap(),
        ..ServiceConfig::default()
    }
}

pub async fn clocked() -> (TestApp, FixedClock) {
    let clock = FixedClock::at(NOW);
    let app = spawn_app_with_clock(ServiceConfig::default(), Arc::new(clock.clone())).await;
    (app, clock)
}

/// Creates an enabled IdP `id` in `org` trusting the fixture certificate, with JIT on (new
/// members become team contributors: app access only through teams), mail and memberOf mapped,
/// and `groups` → teams.
pub async fn create_idp(app: &TestApp, token: &str, org: &str, id: &str, groups: Value) -> Value {
    app.post(
        &format!("/v1/orgs/{org}/identity-providers"),
        token,
        json!({"id": id, "name": format!("IdP {id}"), "enabled": true,
               "metadata_xml": metadata_xml(IDP_ENTITY, SSO_URL, &cert("idp.crt")),
               "attribute_mapping": {"email": "mail", "groups": "memberOf"},
               "jit_enabled": true, "default_role": "team_contributor", "group_teams": groups}),
    )
    .await
    .assert_status(201)
    .clone()
}

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// SP-initiated login: asserts the 303 to the IdP and returns the AuthnRequest's ID.
pub async fn start_login(app: &TestApp, org: &str, idp: &str) -> String {
    let resp = no_redirects()
        .get(format!("{}/saml/{org}/{idp}/login", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let url = reqwest::Url::parse(&location).unwrap();
    let request = url
        .query_pairs()
        .find(|(k, _)| k == "SAMLRequest")
        .map(|(_, v)| v.into_owned())
        .expect("a SAMLRequest parameter");
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(request)
        .unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_string(&mut xml)
        .unwrap();
    assert!(xml.contains("<samlp:AuthnRequest"), "{xml}");
    let id = xml.split(" ID=\"").nth(1).unwrap();
    let id = id[..id.find('"').unwrap()].to_owned();
    // The browser keeps the request's id; only it can finish the login.
    assert_eq!(
        cookie,
        format!("__Host-portcullis-sso={id}; Path=/; Secure; HttpOnly; SameSite=None; Max-Age=600")
    );
    id
}

/// Posts a response to the ACS as the IdP's auto-submitting form would. A sign-in is a 303
/// with the console session cookie (its attributes asserted here) and no body; the reply's
/// body is then `{"session_token", "location", "user"}` read from the cookie, the Location
/// and `GET /v1/users/me`. A refusal is the problem+json as sent.
///
/// It comes from the browser that started the login: with the cookie `/saml/.../login` set,
/// naming the request the response answers (none for an unsolicited response).
pub async fn acs(app: &TestApp, org: &str, idp: &str, saml_response: &str) -> Reply {
    let request = in_response_to(saml_response);
    acs_from(app, org, idp, saml_response, request.as_deref()).await
}

/// The `InResponseTo` of a base64 response, as a browser's cookie would name it.
fn in_response_to(saml_response: &str) -> Option<String> {
    let xml = base64::engine::general_purpose::STANDARD
        .decode(saml_response)
        .ok()?;
    let xml = String::from_utf8(xml).ok()?;
    let at = xml.find("InResponseTo=\"")? + "InResponseTo=\"".len();
    Some(xml[at..at + xml[at..].find('"')?].to_owned())
}

/// [`acs`] from a browser whose SSO cookie names `browser_request` (or that has none).
pub async fn acs_from(
    app: &TestApp,
    org: &str,
    idp: &str,
    saml_response: &str,
    browser_request: Option<&str>,
) -> Reply {
    let mut post = no_redirects()
        .post(format!("{}/saml/{org}/{idp}/acs", app.address))
        .form(&[("SAMLResponse", saml_response)]);
    if let Some(request) = browser_request {
        post = post.header("cookie", format!("__Host-portcullis-sso={request}"));
    }
    let resp = post.send().await.unwrap();
    let status = resp.status();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let content_type = header("content-type");
    if status.as_u16() != 303 {
        let body = serde_json::from_str(&resp.text().await.unwrap()).unwrap_or(Value::Null);
        return Reply {
            status,
            body,
            content_type,
        };
    }
    let location = header("location");
    assert_eq!(header("cache-control"), "no-store");
    let cookies: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-portcullis="))
        .unwrap_or_else(|| panic!("a session cookie: {cookies:?}"));
    let (token, attributes) = session["__Host-portcullis=".len()..]
        .split_once(';')
        .unwrap();
    // The attributes of a password sign-in without "remember me".
    assert_eq!(attributes, " Path=/; Secure; HttpOnly; SameSite=Strict");
    let token = token.to_owned();
    let body = resp.text().await.unwrap();
    assert!(!body.contains(&token), "the token is never in the body");
    let me = app.get("/v1/users/me", &token).await;
    let user = me.assert_status(200)["id"].clone();
    Reply {
        status,
        body: json!({"session_token": token, "location": location, "user": user}),
        content_type,
    }
}

/// The audit entries of `org` as (operation, success), oldest first.
async fn audit(app: &TestApp, org: &str) -> Vec<(i64, bool)> {
    let key = app.service.resolve_org(org).unwrap();
    app.service
        .store()
        .audit_entries(Some(key))
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.operation, e.success))
        .collect()
}

/// How many successful entries of `code`.
fn count(codes: &[(i64, bool)], code: i64) -> usize {
    codes.iter().filter(|c| **c == (code, true)).count()
}

/// How many refused entries of `code`.
fn refused(codes: &[(i64, bool)], code: i64) -> usize {
    codes.iter().filter(|c| **c == (code, false)).count()
}

async fn idp_key(app: &TestApp, org: &str, idp: &str) -> i64 {
    let org = app.service.resolve_org(org).unwrap();
    app.service
        .store()
        .identity_provider(org, idp)
        .await
        .unwrap()
        .unwrap()
        .key
}

async fn member_ids(app: &TestApp, token: &str, org: &str) -> Vec<(String, String)> {
    app.get(&format!("/v1/orgs/{org}/members?limit=200"), token)
        .await
        .assert_status(200)["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn sessions_of(app: &TestApp, user: &str) -> usize {
    let key = app.service.resolve_user(user).unwrap();
    app.service
        .store()
        .credentials_of_user(key, &[CredentialKind::Session])
        .await
        .unwrap()
        .len()
}

fn check(token: &str, permission: &str, resource: Value) -> Value {
    json!({"subject": {"token": token}, "permission": permission, "resource": resource})
}

#[tokio::test]
async fn identity_provider_records_need_security_manage_certificates_and_are_audited() {
    let (app, clock) = clocked().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let bob = app.user("bob").await;
    join(&app, &alice, "acme", &bob, "bob", "org_user").await;
    let carol = app.user("carol").await;
    let path = "/v1/orgs/acme/identity-providers";
    let before = audit(&app, "acme").await;

    // No signing certificate: never saved (samael would skip verification).
    app.post(
        path,
        &alice,
        json!({"id": "okta", "entity_id": IDP_ENTITY, "sso_url": SSO_URL}),
    )
    .await
    .assert_problem(422, "idp.no_signing_certificate");
    app.post(
        path,
        &alice,
        json!({"id": "okta", "entity_id": IDP_ENTITY, "sso_url": SSO_URL, "certificates": []}),
    )
    .await
    .assert_problem(422, "idp.no_signing_certificate");
    let no_cert = metadata_xml(IDP_ENTITY, SSO_URL, "").replace(
        "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate></ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
        "",
    );
    app.post(path, &alice, json!({"id": "okta", "metadata_xml": no_cert}))
        .await
        .assert_problem(422, "idp.no_signing_certificate");
    app.post(
        path,
        &alice,
        json!({"id": "okta", "entity_id": IDP_ENTITY, "sso_url": SSO_URL, "certificates": ["bm90IGEgY2VydA=="]}),
    )
    .await
    .assert_problem(422, "idp.certificate_invalid");
    app.post(
        path,
        &alice,
        json!({"id": "okta", "metadata_xml": "<!DOCTYPE x [<!ENTITY a \"b\">]><x/>"}),
    )
    .await
    .assert_problem(422, "idp.metadata_dtd_forbidden");
    app.post(
        path,
        &alice,
        json!({"id": "okta", "entity_id": IDP_ENTITY, "sso_url": "javascript:alert(1)", "certificates": [cert("idp.crt")]}),
    )
    .await
    .assert_problem(422, "field.url_invalid");

    // Others: a member without security.manage gets 403, an outsider 404.
    let from_metadata = json!({"id": "okta", "name": "Okta",
        "metadata_xml": metadata_xml(IDP_ENTITY, SSO_URL, &cert("idp.crt"))});
    app.post(path, &bob, from_metadata.clone())
        .await
        .assert_problem(403, "permission.denied");
    app.post(path, &carol, from_metadata.clone())
        .await
        .assert_problem(404, "not_found");
    assert!(
        app.get(path, &alice).await.assert_status(200)["identity_providers"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let after_refusals = audit(&app, "acme").await;
    assert_eq!(count(&after_refusals, IDP_CREATE), 0);
    assert_eq!(
        after_refusals.len(),
        before.len() + 1,
        "only bob's 403 is audited"
    );

    // Created from metadata XML: entity id, SSO URL (the Redirect binding), certificate, format.
    let created = app.post(path, &alice, from_metadata.clone()).await;
    let body = created.assert_status(201).clone();
    assert_eq!(body["entity_id"], IDP_ENTITY);
    assert_eq!(body["sso_url"], SSO_URL);
    assert_eq!(body["enabled"], false, "off until toggled on");
    assert_eq!(
        body["name_id_format"],
        "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    );
    assert_eq!(body["certificates"][0]["certificate"], cert("idp.crt"));
    assert_eq!(body["certificates"][0]["subject"], "test-idp");
    assert_eq!(body["certificates"][0]["expired"], false);
    assert_eq!(body["certificates"][0]["expiring_soon"], false);
    assert_eq!(body["warnings"], json!([]));
    assert_eq!(
        body["acs_url"], "http://localhost:8080/saml/acme/okta/acs",
        "SP URLs under the service's public_url"
    );
    app.post(path, &alice, from_metadata)
        .await
        .assert_problem(409, "conflict");
    app.get(&format!("{path}/okta"), &carol)
        .await
        .assert_problem(404, "not_found");
    assert_eq!(
        app.get(&format!("{path}/okta"), &alice)
            .await
            .assert_status(200)["id"],
        "okta"
    );

    // Rotation: a second certificate; toggled on.
    app.patch(&format!("{path}/okta"), &bob, json!({"enabled": true}))
        .await
        .assert_problem(403, "permission.denied");
    let updated = app
        .patch(
            &format!("{path}/okta"),
            &alice,
            json!({"enabled": true, "certificates": [cert("idp.crt"), cert("other.crt")]}),
        )
        .await;
    let body = updated.assert_status(200).clone();
    assert_eq!(body["enabled"], true);
    assert_eq!(body["certificates"].as_array().unwrap().len(), 2);
    app.patch(&format!("{path}/okta"), &alice, json!({"certificates": []}))
        .await
        .assert_problem(422, "idp.no_signing_certificate");
    app.patch(
        &format!("{path}/okta"),
        &alice,
        json!({"group_teams": {"g": "no-such-team"}}),
    )
    .await
    .assert_problem(422, "idp.unknown_team");

    // Expiry as seen by the server's clock: 10 days before → expiring soon; after → expired.
    let not_after = chrono_ms(body["certificates"][0]["not_after"].as_str().unwrap());
    clock.set(not_after - 10 * DAY);
    let alice = app.login("alice").await;
    let soon = app.get(&format!("{path}/okta"), &alice).await;
    let soon = soon.assert_status(200);
    assert_eq!(soon["certificates"][0]["expiring_soon"], true);
    assert_eq!(soon["certificates"][0]["expired"], false);
    assert!(
        soon["warnings"][0]
            .as_str()
            .unwrap()
            .contains("expires within 30 days"),
        "{soon}"
    );
    clock.set(not_after + DAY);
    let alice = app.login("alice").await;
    let gone = app.get(&format!("{path}/okta"), &alice).await;
    let gone = gone.assert_status(200);
    assert_eq!(gone["certificates"][0]["expired"], true);
    assert!(
        gone["warnings"][0]
            .as_str()
            .unwrap()
            .contains("has expired")
    );
    clock.set(NOW);
    let alice = app.login("alice").await;

    // Delete.
    app.delete(&format!("{path}/okta"), &bob)
        .await
        .assert_problem(403, "permission.denied");
    app.delete(&format!("{path}/okta"), &alice)
        .await
        .assert_status(204);
    app.get(&format!("{path}/okta"), &alice)
        .await
        .assert_problem(404, "not_found");
    app.delete(&format!("{path}/okta"), &alice)
        .await
        .assert_problem(404, "not_found");

    let codes = audit(&app, "acme").await;
    assert_eq!(count(&codes, IDP_CREATE), 1);
    assert_eq!(count(&codes, IDP_UPDATE), 1);
    assert_eq!(count(&codes, IDP_DELETE), 1);
    let key = app.service.resolve_org("acme").unwrap();
    let entries = app.service.store().audit_entries(Some(key)).await.unwrap();
    let update = entries
        .iter()
        .find(|e| e.operation == IDP_UPDATE && e.success)
        .unwrap();
    let details: Value = serde_json::from_str(&update.details).unwrap();
    assert_eq!(details["before"]["enabled"], false);
    assert_eq!(details["after"]["enabled"], true);
    assert!(
        !details.to_string().contains(&cert("idp.crt")),
        "certificates audited by fingerprint"
    );
}

fn chrono_ms(rfc3339: &str) -> i64 {
    // YYYY-MM-DDTHH:MM:SSZ, via the days-from-civil algorithm (no chrono in this crate).
    let (date, time) = rfc3339.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let t: Vec<i64> = time.split(':').map(|p| p.parse().unwrap()).collect();
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 86_400) + t[0] * 3600 + t[1] * 60 + t[2]) * 1000
}

#[tokio::test]
async fn sp_initiated_login_provisions_maps_groups_and_refuses_replays_and_strangers() {
    let (app, _clock) = clocked().await;
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
    let sp = create_idp(&app, &alice, "acme", "okta", json!({"ml-engineers": "ml"})).await;
    // A disabled IdP is neither listed nor usable.
    app.post(
        "/v1/orgs/acme/identity-providers",
        &alice,
        json!({"id": "dormant", "metadata_xml": metadata_xml("https://dormant/", SSO_URL, &cert("idp.crt"))}),
    )
    .await
    .assert_status(201);
    // Another org trusting the same IdP software under its own entity id.
    app.org(&alice, "beta").await;
    let beta_sp = create_idp(&app, &alice, "beta", "okta", json!({})).await;

    // Login page and SP metadata.
    let methods = app
        .request(Method::GET, "/v1/auth/methods?org=acme", None, None)
        .await;
    let methods = methods.assert_status(200);
    assert_eq!(methods["password"], true);
    let listed: Vec<&str> = methods["identity_providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec!["okta"]);
    assert_eq!(
        methods["identity_providers"][0]["login_url"],
        "/saml/acme/okta/login"
    );
    app.request(Method::GET, "/v1/auth/methods?org=nope", None, None)
        .await
        .assert_problem(404, "not_found");
    let metadata = app
        .client
        .get(format!("{}/saml/acme/okta/metadata", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(metadata.status().as_u16(), 200);
    assert_eq!(
        metadata.headers()["content-type"],
        "application/samlmetadata+xml"
    );
    let metadata = metadata.text().await.unwrap();
    assert!(metadata.contains(r#"entityID="http://localhost:8080/saml/acme/okta/metadata""#));
    assert!(metadata.contains(r#"Location="http://localhost:8080/saml/acme/okta/acs""#));
    for missing in ["/saml/acme/dormant/metadata", "/saml/acme/nope/metadata"] {
        app.request(Method::GET, missing, None, None)
            .await
            .assert_problem(404, "not_found");
    }
    app.request(
        Method::GET,
        "/saml/acme/okta/login?relay_state=https://evil.example/",
        None,
        None,
    )
    .await
    .assert_problem(422, "saml.relay_state_invalid");

    // SP-initiated login: a 303 to the IdP carrying an AuthnRequest whose id is stored.
    let request = start_login(&app, "acme", "okta").await;
    let okta = idp_key(&app, "acme", "okta").await;
    assert!(
        app.service
            .store()
            .saml_request(okta, &request, NOW)
            .await
            .unwrap()
            .is_some()
    );

    // Refusals: each with its code, audited as a failure, no session, no data change.
    let dave = "dave@corp.example";
    let mut good = Assertion::new("1", Some(&request), &sp, dave);
    good.groups = vec!["ml-engineers".into(), "unmapped".into()];
    let mut unknown = good.clone();
    unknown.id = "2".into();
    unknown.in_response_to = Some("_never-requested".into());
    let mut for_beta = good.clone();
    for_beta.id = "3".into();
    for_beta.acs = beta_sp["acs_url"].as_str().unwrap().to_owned();
    for_beta.audience = beta_sp["sp_entity_id"].as_str().unwrap().to_owned();
    let mut foreign_issuer = good.clone();
    foreign_issuer.id = "4".into();
    foreign_issuer.issuer = "https://idp.beta.example/".into();
    let mut unsolicited = good.clone();
    unsolicited.id = "5".into();
    unsolicited.in_response_to = None;
    let refusals = [
        ("acme", unknown.signed(), "saml.in_response_to_unknown"),
        ("acme", for_beta.signed(), "saml.destination_mismatch"),
        ("beta", good.signed(), "saml.destination_mismatch"),
        ("acme", foreign_issuer.signed(), "saml.issuer_mismatch"),
        ("acme", unsolicited.signed(), "saml.unsolicited"),
        ("acme", "bm90IHhtbA==".to_owned(), "saml.malformed"),
    ];
    let members_before = member_ids(&app, &alice, "acme").await;
    for (org, response, code) in &refusals {
        let revision = app.service.revision();
        let failures = refused(&audit(&app, org).await, SSO_FAILURE);
        acs(&app, org, "okta", response)
            .await
            .assert_problem(403, code);
        assert_eq!(app.service.revision(), revision, "{code}: nothing changed");
        let codes = audit(&app, org).await;
        assert_eq!(refused(&codes, SSO_FAILURE), failures + 1, "{code} audited");
        assert_eq!(count(&codes, SSO_SUCCESS), 0, "{code}: no session");
        assert_eq!(count(&codes, SSO_JIT), 0, "{code}: no member");
    }
    acs(&app, "acme", "dormant", &good.signed())
        .await
        .assert_problem(404, "not_found");
    assert_eq!(member_ids(&app, &alice, "acme").await, members_before);
    assert!(
        app.service
            .store()
            .sso_account(okta, dave)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        app.service
            .store()
            .saml_request(okta, &request, NOW)
            .await
            .unwrap()
            .is_some(),
        "refusals did not consume the request"
    );

    // The valid response: a 7-day session, JIT membership with the default role, team mapping.
    let response = good.signed();
    let login = acs(&app, "acme", "okta", &response).await;
    let login = login.assert_status(303).clone();
    assert_eq!(login["location"], "/a/acme/apps", "the org's console home");
    let token = login["session_token"].as_str().unwrap().to_owned();
    let user = login["user"].as_str().unwrap().to_owned();
    let sessions = app
        .service
        .store()
        .credentials_of_user(
            app.service.resolve_user(&user).unwrap(),
            &[CredentialKind::Session],
        )
        .await
        .unwrap();
    assert_eq!(sessions[0].expires_at, Some(NOW + 7 * DAY), "7 days");
    assert!(user.starts_with("dave-"), "{user}");
    let members = member_ids(&app, &alice, "acme").await;
    assert!(members.contains(&(user.clone(), "team_contributor".to_owned())));
    assert_eq!(members.len(), members_before.len() + 1);
    let teams = app.get("/v1/orgs/acme/teams/ml", &alice).await;
    assert!(teams.assert_status(200).to_string().contains(&user));
    assert_eq!(
        app.get("/v1/users/me", &token).await.assert_status(200)["email"],
        dave
    );
    // The session reaches the private app through the team.
    assert_eq!(
        app.get("/v1/accounts/acme/apps/vision", &token)
            .await
            .assert_status(200)["id"],
        "vision"
    );
    let allowed = app
        .post(
            "/v1/check",
            &alice,
            check(
                &token,
                "app.view",
                json!({"account": "acme", "app": "vision"}),
            ),
        )
        .await;
    let allowed = allowed.assert_status(200);
    assert_eq!(allowed["allowed"], true, "{allowed}");
    assert!(
        allowed.to_string().contains("ml"),
        "granted via the team: {allowed}"
    );
    let codes = audit(&app, "acme").await;
    assert_eq!(count(&codes, SSO_SUCCESS), 1);
    assert_eq!(count(&codes, SSO_JIT), 1);
    assert_eq!(count(&codes, SSO_TEAM_SYNC), 1);
    assert_eq!(sessions_of(&app, &user).await, 1);

    // Replay of the same response: refused, no new session, nothing changed.
    let revision = app.service.revision();
    acs(&app, "acme", "okta", &response)
        .await
        .assert_problem(403, "saml.replay");
    assert_eq!(app.service.revision(), revision);
    assert_eq!(sessions_of(&app, &user).await, 1);
    assert_eq!(count(&audit(&app, "acme").await, SSO_SUCCESS), 1);
    // The same assertion under a fresh request is still a replay (the cache is per assertion).
    let again = start_login(&app, "acme", "okta").await;
    let mut replayed = good.clone();
    replayed.in_response_to = Some(again.clone());
    acs(&app, "acme", "okta", &replayed.signed())
        .await
        .assert_problem(403, "saml.replay");
    assert_eq!(sessions_of(&app, &user).await, 1);

    // The next login (same NameID) without the group: the same account, team mapping re-applied.
    let mut later = Assertion::new("6", Some(&again), &sp, dave);
    later.groups = vec!["unmapped".into()];
    let second = acs(&app, "acme", "okta", &later.signed()).await;
    let second = second.assert_status(303).clone();
    assert_eq!(second["user"], user.as_str());
    let token2 = second["session_token"].as_str().unwrap();
    app.get("/v1/accounts/acme/apps/vision", token2)
        .await
        .assert_problem(404, "not_found");
    assert_eq!(sessions_of(&app, &user).await, 2);
    assert_eq!(count(&audit(&app, "acme").await, SSO_TEAM_SYNC), 2);
    assert_eq!(count(&audit(&app, "acme").await, SSO_JIT), 1);
}

#[tokio::test]
async fn sso_enforcement_requires_an_sso_session_except_for_break_glass_admins() {
    let (app, _clock) = clocked().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let bob = app.user("bob").await;
    join(&app, &alice, "acme", &bob, "bob", "org_user").await;
    create_app(&app, &alice, "acme", "vision", "private").await;
    let enforce = "/v1/orgs/acme/sso-enforcement";

    app.put(enforce, &alice, json!({"enforced": true}))
        .await
        .assert_problem(409, "sso.no_enabled_idp");
    let sp = create_idp(&app, &alice, "acme", "okta", json!({})).await;
    app.put(enforce, &bob, json!({"enforced": true}))
        .await
        .assert_problem(403, "permission.denied");
    app.put(
        enforce,
        &alice,
        json!({"enforced": true, "break_glass": ["bob"]}),
    )
    .await
    .assert_problem(422, "sso.break_glass_invalid");
    assert_eq!(
        app.get(enforce, &alice).await.assert_status(200)["enforced"],
        false
    );
    let on = app
        .put(
            enforce,
            &alice,
            json!({"enforced": true, "break_glass": ["alice"]}),
        )
        .await;
    assert_eq!(
        on.assert_status(200).clone(),
        json!({"enforced": true, "break_glass": ["alice"]})
    );
    assert_eq!(count(&audit(&app, "acme").await, SSO_ENFORCEMENT), 1);

    // Bob's password session: the check API explains, the org's endpoints refuse.
    let org_view = check(&bob, "sidebar.view", json!({"org": "acme"}));
    let denied = app.post("/v1/check", &alice, org_view.clone()).await;
    let denied = denied.assert_status(200);
    assert_eq!(denied["allowed"], false);
    assert_eq!(denied["reason"], "sso_required");
    // A member knows the org exists: every endpoint says why, whether it checks a permission
    // or only that the caller may see the org.
    for path in [
        "/v1/accounts/acme/apps/vision",
        "/v1/accounts/acme/apps",
        "/v1/orgs/acme",
        "/v1/orgs/acme/members",
        "/v1/orgs/acme/teams",
        "/v1/orgs/acme/password-policy",
        "/v1/orgs/acme/identity-providers",
    ] {
        let reply = app.get(path, &bob).await;
        assert_eq!(reply.status.as_u16(), 403, "{path}: {:?}", reply.body);
        reply.assert_problem(403, "sso_required");
    }
    // A non-member still learns nothing about the org.
    let carol = app.user("carol").await;
    for path in [
        "/v1/accounts/acme/apps/vision",
        "/v1/orgs/acme",
        "/v1/orgs/acme/members",
        "/v1/orgs/acme/teams",
    ] {
        let reply = app.get(path, &carol).await;
        assert_eq!(reply.status.as_u16(), 404, "{path}: {:?}", reply.body);
        reply.assert_problem(404, "not_found");
    }
    let outsider = app
        .post(
            "/v1/check",
            &alice,
            check(&carol, "sidebar.view", json!({"org": "acme"})),
        )
        .await;
    // (A token is opaque to anyone but its owner and its own org's administrators.)
    assert_eq!(outsider.assert_status(200)["reason"], "denied");
    // The break-glass admin's password session is exempt.
    app.get("/v1/orgs/acme/members", &alice)
        .await
        .assert_status(200);
    app.get("/v1/accounts/acme/apps/vision", &alice)
        .await
        .assert_status(200);

    // Bob cannot sign in through the IdP: his account is his own, not the org's.
    let request = start_login(&app, "acme", "okta").await;
    acs(
        &app,
        "acme",
        "okta",
        &Assertion::new("b1", Some(&request), &sp, "bob@example.com").signed(),
    )
    .await
    .assert_problem(403, "saml.account_not_owned");
    // Dave, provisioned by the IdP (managed by acme), gets an SSO session that passes.
    let request = start_login(&app, "acme", "okta").await;
    let login = acs(
        &app,
        "acme",
        "okta",
        &Assertion::new("d1", Some(&request), &sp, "dave@corp.example").signed(),
    )
    .await;
    let sso = login.assert_status(303)["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let sso = sso.as_str();
    app.get("/v1/orgs/acme", sso).await.assert_status(200);
    let allowed = app
        .post(
            "/v1/check",
            &alice,
            check(sso, "sidebar.view", json!({"org": "acme"})),
        )
        .await;
    assert_eq!(allowed.assert_status(200)["allowed"], true);
    // Bob's password session is still refused.
    app.get("/v1/accounts/acme/apps/vision", &bob)
        .await
        .assert_problem(403, "sso_required");

    // Turned off: the password session works again.
    app.put(enforce, &alice, json!({"enforced": false}))
        .await
        .assert_status(200);
    app.get("/v1/orgs/acme/members", &bob)
        .await
        .assert_status(200);
}

/// Signs `who` in through acme's `okta` (JIT: managed by acme); returns the session token.
pub async fn sso_session(app: &TestApp, sp: &Value, assertion_id: &str, who: &str) -> String {
    let request = start_login(app, "acme", "okta").await;
    let login = acs(
        app,
        "acme",
        "okta",
        &Assertion::new(assertion_id, Some(&request), sp, who).signed(),
    )
    .await;
    login.assert_status(303)["session_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_pat_reaches_an_sso_enforced_org_only_after_an_sso_login_authorizes_it() {
    let (app, _clock) = clocked().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let bob = app.user("bob").await;
    join(&app, &alice, "acme", &bob, "bob", "org_user").await;
    create_app(&app, &alice, "acme", "vision", "public").await;
    let sp = create_idp(&app, &alice, "acme", "okta", json!({})).await;
    app.put(
        "/v1/orgs/acme/sso-enforcement",
        &alice,
        json!({"enforced": true, "break_glass": ["alice"]}),
    )
    .await
    .assert_status(200);

    // Dave (managed by acme) makes a PAT from his SSO session: bound to acme, and not yet
    // SSO-authorized, so kept out like any token that did not come from an SSO login.
    let sso = sso_session(&app, &sp, "p0", "dave@corp.example").await;
    let created = app
        .post("/v1/users/me/keys", &sso, json!({"scopes": ["all"]}))
        .await;
    let created = created.assert_status(201).clone();
    assert_eq!(
        created["key"]["org"], "acme",
        "bound to the SSO session's org: {created}"
    );
    let (key_id, pat) = (
        created["id"].as_str().unwrap(),
        created["token"].as_str().unwrap(),
    );
    app.get("/v1/orgs/acme/members", pat)
        .await
        .assert_problem(403, "sso_required");
    app.get("/v1/accounts/acme/apps/vision", pat)
        .await
        .assert_problem(403, "sso_required");
    let asked = check(pat, "app.view", json!({"account": "acme", "app": "vision"}));
    let denied = app.post("/v1/check", &alice, asked.clone()).await;
    assert_eq!(denied.assert_status(200)["reason"], "sso_required");

    // Authorizing needs a session from acme's SSO: not the PAT, not someone else's session.
    let authorize = format!("/v1/users/me/keys/{key_id}/sso-authorize/acme");
    app.post(&authorize, pat, json!({}))
        .await
        .assert_problem(403, "sso.session_required");
    app.post(&authorize, &bob, json!({}))
        .await
        .assert_problem(403, "sso.session_required");
    assert_eq!(count(&audit(&app, "acme").await, SSO_PAT_AUTHORIZE), 0);
    // Only his own keys: alice's PAT id and an unknown id are not found.
    let alice_key = app
        .post("/v1/users/me/keys", &alice, json!({"scopes": ["all"]}))
        .await;
    let alice_key = alice_key.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/v1/users/me/keys/{alice_key}/sso-authorize/acme"),
        &sso,
        json!({}),
    )
    .await
    .assert_problem(404, "not_found");
    app.post("/v1/users/me/keys/nope/sso-authorize/acme", &sso, json!({}))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(count(&audit(&app, "acme").await, SSO_PAT_AUTHORIZE), 0);

    app.post(&authorize, &sso, json!({}))
        .await
        .assert_status(204);
    assert_eq!(count(&audit(&app, "acme").await, SSO_PAT_AUTHORIZE), 1);
    app.get("/v1/orgs/acme/members", pat)
        .await
        .assert_status(200);
    app.get("/v1/accounts/acme/apps/vision", pat)
        .await
        .assert_status(200);
    let allowed = app.post("/v1/check", &alice, asked).await;
    assert_eq!(allowed.assert_status(200)["allowed"], true);
    // Bob's password session is still refused.
    app.get("/v1/orgs/acme/members", &bob)
        .await
        .assert_problem(403, "sso_required");

    // The authorization survives a restart: a fresh index loaded from the store agrees.
    let key = app.service.resolve_org("acme").unwrap();
    let index = app.service.store().load_index(NOW).await.unwrap();
    let dave = app.get("/v1/users/me", &sso).await.assert_status(200)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let marked = app
        .service
        .store()
        .credentials_of_user(
            app.service.resolve_user(&dave).unwrap(),
            &[CredentialKind::PersonalAccessToken],
        )
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.public_id == key_id)
        .map(|c| index.sso_orgs_of(c.id).contains(&key))
        .collect::<Vec<_>>();
    assert_eq!(marked, vec![true]);
}

/// The replay cache is in the store: an assertion accepted by one server is refused by a
/// second server on the same database, in either direction (SQLite here, PostgreSQL with
/// `PORTCULLIS_TEST_BACKEND=postgres`).
#[tokio::test]
async fn an_assertion_accepted_by_one_server_is_a_replay_on_another_sharing_the_store() {
    let (app, clock) = clocked().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let sp = create_idp(&app, &alice, "acme", "okta", json!({})).await;
    let peer = app.peer_with_clock(Arc::new(clock.clone())).await;
    let dave = "dave@corp.example";

    let request = start_login(&app, "acme", "okta").await;
    let response = Assertion::new("x1", Some(&request), &sp, dave).signed();
    let first = acs(&app, "acme", "okta", &response).await;
    let user = first.assert_status(303)["user"]
        .as_str()
        .unwrap()
        .to_owned();
    let revision = app.service.revision();
    acs(&peer, "acme", "okta", &response)
        .await
        .assert_problem(403, "saml.replay");
    assert_eq!(app.service.revision(), revision, "a replay changes no data");

    // The other way round: a login started here, answered at the peer, replayed here.
    let request = start_login(&app, "acme", "okta").await;
    let response = Assertion::new("x2", Some(&request), &sp, dave).signed();
    acs(&peer, "acme", "okta", &response)
        .await
        .assert_status(303);
    acs(&app, "acme", "okta", &response)
        .await
        .assert_problem(403, "saml.replay");
    assert_eq!(
        sessions_of(&app, &user).await,
        2,
        "one session per accepted login"
    );
}

/// The fixtures' throw-away SP key pair (crates/saml/tests/fixtures/encrypted).
pub fn sp_key() -> Arc<portcullis_service::SpKey> {
    let read = |name: &str| std::fs::read(fixture_path(&format!("encrypted/{name}"))).unwrap();
    Arc::new(portcullis_service::SpKey::from_pem(&read("sp.key"), &read("sp.crt")).unwrap())
}

#[tokio::test]
async fn signed_requests_need_the_sp_key_which_the_metadata_then_publishes() {
    // Without an SP key: sign_requests is refused on create and on update, data unchanged.
    let (app, _clock) = clocked().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    app.post(
        "/v1/orgs/acme/identity-providers",
        &alice,
        json!({"id": "okta", "sign_requests": true,
               "metadata_xml": metadata_xml(IDP_ENTITY, SSO_URL, &cert("idp.crt"))}),
    )
    .await
    .assert_problem(422, "idp.sp_key_missing");
    create_idp(&app, &alice, "acme", "okta", json!({})).await;
    app.patch(
        "/v1/orgs/acme/identity-providers/okta",
        &alice,
        json!({"sign_requests": true}),
    )
    .await
    .assert_problem(422, "idp.sp_key_missing");
    let metadata = app
        .client
        .get(format!("{}/saml/acme/okta/metadata", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metadata.contains(r#"AuthnRequestsSigned="false""#));
    assert!(
        !metadata.contains("KeyDescriptor"),
        "no key, no KeyDescriptor"
    );

    // With the SP key: accepted; the metadata carries the certificate for both uses.
    let clock = FixedClock::at(NOW);
    let config = ServiceConfig {
        saml_sp_key: Some(sp_key()),
        ..ServiceConfig::default()
    };
    let app = spawn_app_with_clock(config, Arc::new(clock)).await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    create_idp(&app, &alice, "acme", "okta", json!({})).await;
    let metadata_url = format!("{}/saml/acme/okta/metadata", app.address);
    let metadata = app
        .client
        .get(&metadata_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metadata.contains(r#"AuthnRequestsSigned="false""#));
    assert!(metadata.contains(r#"WantAssertionsSigned="true""#));
    let sp_cert = cert("encrypted/sp.crt");
    assert!(metadata.contains(&format!(
        "<ds:X509Certificate>{sp_cert}</ds:X509Certificate>"
    )));
    assert!(metadata.contains(r#"use="signing""#) && metadata.contains(r#"use="encryption""#));
    let unsigned = no_redirects()
        .get(format!("{}/saml/acme/okta/login", app.address))
        .send()
        .await
        .unwrap();
    let location = unsigned.headers()["location"].to_str().unwrap().to_owned();
    assert!(!location.contains("Signature="), "{location}");

    let updated = app
        .patch(
            "/v1/orgs/acme/identity-providers/okta",
            &alice,
            json!({"sign_requests": true}),
        )
        .await;
    assert_eq!(updated.assert_status(200)["sign_requests"], true);
    let metadata = app
        .client
        .get(&metadata_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metadata.contains(r#"AuthnRequestsSigned="true""#));
    let signed = no_redirects()
        .get(format!(
            "{}/saml/acme/okta/login?relay_state=/apps/vision",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status().as_u16(), 303);
    let location = signed.headers()["location"].to_str().unwrap().to_owned();
    // The signature verifies with the SP certificate over SAMLRequest&RelayState&SigAlg.
    let query = location.split_once('?').unwrap().1;
    let (signed_part, signature) = query.rsplit_once("&Signature=").unwrap();
    assert!(signed_part.starts_with("SAMLRequest="));
    assert!(signed_part.contains("&RelayState=%2Fapps%2Fvision&SigAlg="));
    let signature: String = reqwest::Url::parse(&format!("http://x/?s={signature}"))
        .unwrap()
        .query_pairs()
        .next()
        .unwrap()
        .1
        .into_owned();
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .unwrap();
    let pem = std::fs::read(fixture_path("encrypted/sp.crt")).unwrap();
    let public = openssl::x509::X509::from_pem(&pem)
        .unwrap()
        .public_key()
        .unwrap();
    let verify = |data: &str| {
        let mut v =
            openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &public).unwrap();
        v.update(data.as_bytes()).unwrap();
        v.verify(&signature).unwrap_or(false)
    };
    assert!(verify(signed_part));
    assert!(!verify(&signed_part.replace("vision", "admin")));
}
