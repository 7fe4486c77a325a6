//! Domain verification against a real DNS server on loopback (dnslib's, tests/dns/txt_server.py,
//! run from target/idp-venv) whose TXT records each test writes to a file.

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Stdio};

use portcullis_service::ServiceConfig;
use serde_json::{Value, json};

use crate::api::helpers::{TestApp, invite_and_accept, spawn_app_with};

fn python() -> Option<PathBuf> {
    let path = std::env::var_os("PORTCULLIS_IDP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/idp-venv/bin/python")
        });
    path.exists().then_some(path)
}

/// The DNS server process (killed when the test ends) and the records file it answers from.
struct Dns {
    child: Child,
    records: tempfile::NamedTempFile,
    address: SocketAddr,
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Dns {
    /// Replaces every record: name → TXT values (or `"SERVFAIL"`).
    fn publish(&self, records: Value) {
        std::fs::write(self.records.path(), records.to_string()).unwrap();
    }
}

/// Starts the DNS server, or `None` (skipped, with a message) outside CI when the venv is
/// missing.
async fn start_dns() -> Option<Dns> {
    let Some(python) = python() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "dnslib is not installed in target/idp-venv (scripts/setup.sh installs it)"
        );
        eprintln!("skipped: no target/idp-venv (bash scripts/setup.sh)");
        return None;
    };
    let records = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(records.path(), "{}").unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dns/txt_server.py");
    let mut child = std::process::Command::new(python)
        .arg(script)
        .arg(records.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the DNS server starts");
    let stdout = child.stdout.take().unwrap();
    let port = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map(|_| line)
    });
    let port = tokio::time::timeout(std::time::Duration::from_secs(30), port)
        .await
        .expect("the DNS server is ready within 30 s")
        .unwrap()
        .unwrap();
    let port: u16 = port.trim().parse().expect("the DNS server prints its port");
    Some(Dns {
        child,
        records,
        address: SocketAddr::from(([127, 0, 0, 1], port)),
    })
}

/// A server whose domain verification asks `dns`, and `alice`, admin of `acme`.
async fn app_with(dns: &Dns) -> (TestApp, String) {
    let app = spawn_app_with(ServiceConfig {
        dns_nameserver: Some(dns.address),
        ..ServiceConfig::default()
    })
    .await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    (app, alice)
}

/// Adds `domain` to `org`; returns (record name, record value).
async fn add(app: &TestApp, token: &str, org: &str, domain: &str) -> (String, String) {
    let added = app
        .post(
            &format!("/v1/orgs/{org}/domains"),
            token,
            json!({"domain": domain}),
        )
        .await;
    let body = added.assert_status(201);
    (
        body["record_name"].as_str().unwrap().to_owned(),
        body["record_value"].as_str().unwrap().to_owned(),
    )
}

async fn status_of(app: &TestApp, token: &str, org: &str, domain: &str) -> Value {
    let list = app.get(&format!("/v1/orgs/{org}/domains"), token).await;
    list.assert_status(200)["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == domain)
        .map_or(Value::Null, |d| d["status"].clone())
}

/// Audit entries of `org` with this operation name, newest first: (success, details).
async fn audited(app: &TestApp, token: &str, org: &str, name: &str) -> Vec<(bool, Value)> {
    let log = app
        .get(&format!("/v1/orgs/{org}/audit-log?limit=200"), token)
        .await;
    log.assert_status(200)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["operation_name"] == name)
        .map(|e| (e["success"].as_bool().unwrap(), e["details"].clone()))
        .collect()
}

#[tokio::test]
async fn a_domain_is_verified_by_its_txt_record_and_only_by_it() {
    let Some(dns) = start_dns().await else { return };
    let (app, alice) = app_with(&dns).await;

    // Canonical names: UTS-46 ASCII, lower case, no trailing dot.
    let added = app
        .post(
            "/v1/orgs/acme/domains",
            &alice,
            json!({"domain": " Example.COM. "}),
        )
        .await;
    let body = added.assert_status(201).clone();
    assert_eq!(body["domain"], "example.com");
    assert_eq!(body["status"], "pending");
    assert_eq!(body["record_name"], "_portcullis-challenge.example.com");
    let value = body["record_value"].as_str().unwrap().to_owned();
    let token = value
        .strip_prefix("portcullis-domain-verification=")
        .unwrap();
    assert!(token.len() >= 32, "{value}");
    let idn = app
        .post(
            "/v1/orgs/acme/domains",
            &alice,
            json!({"domain": "Bücher.example"}),
        )
        .await;
    assert_eq!(idn.assert_status(201)["domain"], "xn--bcher-kva.example");
    // A second claim by the same org on the same name, and names that are not domains.
    app.post(
        "/v1/orgs/acme/domains",
        &alice,
        json!({"domain": "EXAMPLE.com"}),
    )
    .await
    .assert_problem(409, "conflict");
    for bad in [
        "not a domain",
        "localhost",
        "10.0.0.1",
        "a..b.com",
        "",
        "-x.com",
    ] {
        app.post("/v1/orgs/acme/domains", &alice, json!({"domain": bad}))
            .await
            .assert_problem(422, "domain.invalid");
    }

    // No record at all, a record with another value, a server that fails: refused, audited,
    // and the claim stays pending.
    let name = "_portcullis-challenge.example.com";
    let verify = "/v1/orgs/acme/domains/example.com/verify";
    app.post(verify, &alice, json!({}))
        .await
        .assert_problem(409, "domain.record_not_found");
    dns.publish(json!({name: ["portcullis-domain-verification=somebody-else", "v=spf1 -all"]}));
    app.post(verify, &alice, json!({}))
        .await
        .assert_problem(409, "domain.record_mismatch");
    dns.publish(json!({name: "SERVFAIL"}));
    app.post(verify, &alice, json!({}))
        .await
        .assert_problem(503, "domain.dns_unavailable");
    assert_eq!(
        status_of(&app, &alice, "acme", "example.com").await,
        "pending"
    );
    let refused = audited(&app, &alice, "acme", "security.domain.verify").await;
    let reasons: Vec<&Value> = refused
        .iter()
        .map(|(ok, d)| {
            assert!(!ok);
            &d["denied"]
        })
        .collect();
    assert_eq!(
        reasons,
        [
            &json!("dns_unavailable"),
            &json!("domain.record_mismatch"),
            &json!("domain.record_not_found")
        ]
    );

    // The right value among other TXT records verifies it (the path may use any spelling).
    dns.publish(json!({name: ["v=spf1 -all", value]}));
    let verified = app
        .post(
            "/v1/orgs/acme/domains/EXAMPLE.com./verify",
            &alice,
            json!({}),
        )
        .await;
    let verified = verified.assert_status(200);
    assert_eq!(verified["status"], "verified");
    assert!(verified["verified_at"].is_string());
    assert_eq!(
        status_of(&app, &alice, "acme", "example.com").await,
        "verified"
    );
    assert_eq!(
        audited(&app, &alice, "acme", "security.domain.add")
            .await
            .len(),
        2
    );
    assert!(audited(&app, &alice, "acme", "security.domain.verify").await[0].0);

    // Delete: audited, gone.
    app.delete("/v1/orgs/acme/domains/example.com", &alice)
        .await
        .assert_status(204);
    assert_eq!(
        status_of(&app, &alice, "acme", "example.com").await,
        Value::Null
    );
    assert_eq!(
        audited(&app, &alice, "acme", "security.domain.delete")
            .await
            .len(),
        1
    );
    app.post(verify, &alice, json!({}))
        .await
        .assert_problem(404, "not_found");
    let chain = app.get("/v1/orgs/acme/audit-log/verify", &alice).await;
    assert_eq!(chain.assert_status(200)["ok"], true);
}

#[tokio::test]
async fn a_domain_verified_by_one_organization_cannot_be_claimed_by_another() {
    let Some(dns) = start_dns().await else { return };
    let (app, alice) = app_with(&dns).await;
    let mallory = app.user("mallory").await;
    app.org(&mallory, "globex").await;
    let (name, acme_value) = add(&app, &alice, "acme", "example.com").await;
    let (_, globex_value) = add(&app, &mallory, "globex", "example.com").await;
    assert_ne!(acme_value, globex_value, "each claim has its own token");
    // Both records are published (e.g. by someone who controls the zone for a while): the
    // first verification wins and the second is refused with its own code.
    dns.publish(json!({name: [acme_value, globex_value]}));
    app.post(
        "/v1/orgs/acme/domains/example.com/verify",
        &alice,
        json!({}),
    )
    .await
    .assert_status(200);
    app.post(
        "/v1/orgs/globex/domains/example.com/verify",
        &mallory,
        json!({}),
    )
    .await
    .assert_problem(409, "domain.claimed_elsewhere");
    assert_eq!(
        status_of(&app, &mallory, "globex", "example.com").await,
        "pending"
    );
    assert_eq!(
        status_of(&app, &alice, "acme", "example.com").await,
        "verified"
    );
    let refused = audited(&app, &mallory, "globex", "security.domain.verify").await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0], (false, json!({"denied": "claimed_elsewhere"})));
    // Once acme gives it up, globex can verify it.
    app.delete("/v1/orgs/acme/domains/example.com", &alice)
        .await
        .assert_status(204);
    app.post(
        "/v1/orgs/globex/domains/example.com/verify",
        &mallory,
        json!({}),
    )
    .await
    .assert_status(200);
}

#[tokio::test]
async fn a_recheck_that_no_longer_finds_the_record_suspends_the_claim() {
    let Some(dns) = start_dns().await else { return };
    let (app, alice) = app_with(&dns).await;
    let bob = app.user("bob").await;
    invite_and_accept(&app, &alice, "acme", &bob, "bob", "org_user").await;
    let (name, value) = add(&app, &alice, "acme", "example.com").await;
    dns.publish(json!({name.clone(): [value.clone()]}));
    app.post(
        "/v1/orgs/acme/domains/example.com/verify",
        &alice,
        json!({}),
    )
    .await
    .assert_status(200);

    // Still there: nothing changes.
    let report = app.service.recheck_domains().await.unwrap();
    assert_eq!((report.checked, report.suspended.len()), (1, 0));
    // A failing server is not proof the record is gone: the claim stays verified.
    dns.publish(json!({name.clone(): "SERVFAIL"}));
    let report = app.service.recheck_domains().await.unwrap();
    assert_eq!(report.unresolved, ["example.com"]);
    assert_eq!(
        status_of(&app, &alice, "acme", "example.com").await,
        "verified"
    );

    // Gone: suspended, audited, the administrators (not other members) mailed.
    let outbox_before = app.service.store().outbox(100).await.unwrap().len();
    dns.publish(json!({}));
    let report = app.service.recheck_domains().await.unwrap();
    assert_eq!(report.suspended, ["example.com"]);
    assert_eq!(
        status_of(&app, &alice, "acme", "example.com").await,
        "suspended"
    );
    let suspended = audited(&app, &alice, "acme", "security.domain.suspend").await;
    assert_eq!(suspended.len(), 1);
    assert!(suspended[0].0);
    assert_eq!(suspended[0].1["reason"], "record_not_found");
    let outbox = app.service.store().outbox(100).await.unwrap();
    let mailed: Vec<&str> = outbox[..outbox.len() - outbox_before]
        .iter()
        .map(|m| m.recipient.as_str())
        .collect();
    assert_eq!(mailed, ["alice@example.com"]);
    assert!(outbox[0].body.contains("example.com"));
    // A suspended claim is not re-checked again, and verifying restores it.
    let report = app.service.recheck_domains().await.unwrap();
    assert_eq!(report.checked, 0);
    dns.publish(json!({name: [value]}));
    let restored = app
        .post(
            "/v1/orgs/acme/domains/example.com/verify",
            &alice,
            json!({}),
        )
        .await;
    assert_eq!(restored.assert_status(200)["status"], "verified");
}

#[tokio::test]
async fn outsiders_other_orgs_members_and_narrow_tokens_cannot_manage_domains() {
    let Some(dns) = start_dns().await else { return };
    let (app, alice) = app_with(&dns).await;
    let (name, value) = add(&app, &alice, "acme", "example.com").await;
    dns.publish(json!({name: [value]}));
    let bob = app.user("bob").await;
    invite_and_accept(&app, &alice, "acme", &bob, "bob", "org_user").await;
    let mallory = app.user("mallory").await;
    app.org(&mallory, "globex").await;
    let outsider = app.user("eve").await;
    let pat = |scopes: Value| {
        let app = &app;
        let alice = alice.clone();
        async move {
            app.post(
                "/v1/users/me/keys",
                &alice,
                json!({"description": "ci", "scopes": scopes}),
            )
            .await
            .assert_status(201)["token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let view_only = pat(json!(["security.view"])).await;
    let unrelated = pat(json!(["app.view"])).await;
    let revision = app.service.store().revision().await.unwrap();

    let changes = [
        (
            "POST",
            "/v1/orgs/acme/domains",
            Some(json!({"domain": "other.com"})),
        ),
        (
            "POST",
            "/v1/orgs/acme/domains/example.com/verify",
            Some(json!({})),
        ),
        ("DELETE", "/v1/orgs/acme/domains/example.com", None),
    ];
    for (who, token) in [
        ("outsider", &outsider),
        ("another org's admin", &mallory),
        ("a non-admin member", &bob),
        ("a security.view token", &view_only),
        ("an app.view token", &unrelated),
    ] {
        for (method, path, body) in &changes {
            let reply = app
                .request(method.parse().unwrap(), path, Some(token), body.clone())
                .await;
            assert!(
                matches!(reply.status.as_u16(), 403 | 404),
                "{who}: {method} {path}: {:?}",
                reply.body
            );
            assert_eq!(reply.content_type, "application/problem+json", "{who}");
        }
    }
    for (who, token) in [
        ("outsider", &outsider),
        ("another org's admin", &mallory),
        ("a non-admin member", &bob),
        ("an app.view token", &unrelated),
    ] {
        let list = app.get("/v1/orgs/acme/domains", token).await;
        assert!(
            matches!(list.status.as_u16(), 403 | 404),
            "{who}: {:?}",
            list.body
        );
        assert!(
            !list
                .body
                .to_string()
                .contains("portcullis-domain-verification")
        );
    }
    // Nothing changed, and the member's refused changes are in the audit log.
    assert_eq!(app.service.store().revision().await.unwrap(), revision);
    assert_eq!(
        status_of(&app, &alice, "acme", "example.com").await,
        "pending"
    );
    assert_eq!(
        status_of(&app, &view_only, "acme", "example.com").await,
        "pending"
    );
    let refused = audited(&app, &alice, "acme", "security.domain.add").await;
    assert!(
        refused
            .iter()
            .any(|(ok, d)| !ok && d["missing_permission"] == "security.manage")
    );
    // The admin's own session still can.
    app.post(
        "/v1/orgs/acme/domains/example.com/verify",
        &alice,
        json!({}),
    )
    .await
    .assert_status(200);
}

/// Signs up `id` with `email` (password `password-<id>`); returns the session token.
async fn sign_up(app: &TestApp, id: &str, email: &str) -> String {
    app.request(
        reqwest::Method::POST,
        "/v1/signup",
        None,
        Some(
            json!({"id": id, "email": email, "password": format!("password-{id}"),
                    "first_name": "Test", "last_name": id}),
        ),
    )
    .await
    .assert_status(201);
    let login = app
        .request(
            reqwest::Method::POST,
            "/v1/login",
            None,
            Some(json!({"email": email, "password": format!("password-{id}")})),
        )
        .await;
    login.assert_status(200)["session_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// An organization's IdP signs in an existing account it does not manage only when the
/// account's *verified* address is in a domain the organization verified, and no longer once
/// the claim is suspended (the sessions it gave end at once).
#[tokio::test]
async fn an_idp_signs_in_accounts_verified_in_its_verified_domain_until_the_claim_is_suspended() {
    use std::sync::Arc;

    use portcullis_service::core::FixedClock;

    use crate::api::helpers::spawn_app_with_clock;
    use crate::api::saml::{Assertion, NOW, acs, create_idp, start_login};

    let Some(dns) = start_dns().await else { return };
    let app = spawn_app_with_clock(
        ServiceConfig {
            dns_nameserver: Some(dns.address),
            ..ServiceConfig::default()
        },
        Arc::new(FixedClock::at(NOW)),
    )
    .await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let sp = create_idp(&app, &alice, "acme", "okta", json!({})).await;
    sign_up(&app, "carol", "carol@corp.example").await;
    sign_up(&app, "dan", "dan@corp.example").await;
    sign_up(&app, "erin", "erin@other.example").await;
    assert!(app.service.verify_email_directly("carol").await.unwrap());
    assert!(app.service.verify_email_directly("erin").await.unwrap());
    let mut n = 0;
    let mut sso = |who: &'static str| {
        n += 1;
        let (app, sp) = (&app, &sp);
        async move {
            let request = start_login(app, "acme", "okta").await;
            acs(
                app,
                "acme",
                "okta",
                &Assertion::new(&format!("d{n}"), Some(&request), sp, who).signed(),
            )
            .await
        }
    };

    // A claimed but unverified domain vouches for nobody.
    let (name, value) = add(&app, &alice, "acme", "corp.example").await;
    sso("carol@corp.example")
        .await
        .assert_problem(403, "saml.account_not_owned");
    dns.publish(json!({name: [value]}));
    app.post(
        "/v1/orgs/acme/domains/corp.example/verify",
        &alice,
        json!({}),
    )
    .await
    .assert_status(200);

    // With JIT off, such an account is still found by its address (JIT only creates accounts
    // and memberships): carol is not a member, so she is refused for that, not as unknown.
    app.patch(
        "/v1/orgs/acme/identity-providers/okta",
        &alice,
        json!({"jit_enabled": false}),
    )
    .await
    .assert_status(200);
    sso("carol@corp.example")
        .await
        .assert_problem(403, "saml.not_a_member");
    sso("nobody@corp.example")
        .await
        .assert_problem(403, "saml.no_account");
    app.patch(
        "/v1/orgs/acme/identity-providers/okta",
        &alice,
        json!({"jit_enabled": true}),
    )
    .await
    .assert_status(200);

    // Verified address in the verified domain: signed in (and linked), bound to acme.
    let login = sso("carol@corp.example").await;
    let session = login.assert_status(303)["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get("/v1/users/me", &session).await.assert_status(200)["id"],
        "carol"
    );
    app.get("/v1/orgs/acme/members", &session)
        .await
        .assert_status(200);
    // An unverified address in that domain, a verified one in another: refused.
    for who in ["dan@corp.example", "erin@other.example"] {
        sso(who).await.assert_problem(403, "saml.account_not_owned");
    }

    // The record disappears: the re-check suspends the claim, carol's SSO session ends and
    // her linked identity no longer signs her in.
    dns.publish(json!({}));
    let report = app.service.recheck_domains().await.unwrap();
    assert_eq!(report.suspended, ["corp.example"]);
    app.get("/v1/users/me", &session)
        .await
        .assert_problem(401, "auth.required");
    sso("carol@corp.example")
        .await
        .assert_problem(403, "saml.account_not_owned");
    let suspended = audited(&app, &alice, "acme", "security.domain.suspend").await;
    assert_eq!(suspended[0].1["revoked_credentials"], 1);
}

/// SCIM provisioning trusts an address only in a domain the organization proved: there the
/// account's address counts as verified; anywhere else a verification mail goes out.
#[tokio::test]
async fn scim_provisioned_addresses_are_verified_only_in_the_orgs_verified_domains() {
    let Some(dns) = start_dns().await else { return };
    let (app, alice) = app_with(&dns).await;
    let (name, value) = add(&app, &alice, "acme", "example.com").await;
    dns.publish(json!({name: [value]}));
    app.post(
        "/v1/orgs/acme/domains/example.com/verify",
        &alice,
        json!({}),
    )
    .await
    .assert_status(200);
    let created = app
        .post(
            "/v1/orgs/acme/scim/tokens",
            &alice,
            json!({"description": "IdP"}),
        )
        .await;
    let scim_token = created.assert_status(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for email in ["pat@example.com", "quinn@elsewhere.example"] {
        let resp = app
            .client
            .post(format!("{}/scim/v2/orgs/acme/Users", app.address))
            .bearer_auth(&scim_token)
            .header("content-type", "application/scim+json")
            .body(
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": email,
                    "emails": [{"value": email, "primary": true}],
                })
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    }
    let created = audited(&app, &alice, "acme", "scim.user.create").await;
    assert_eq!(created.len(), 2, "{created:?}");
    // The audit details do not name the user; the entries are newest first.
    assert_eq!(created[1].1["email_verified"], true, "{created:?}");
    assert_eq!(created[0].1["email_verified"], false, "{created:?}");
    assert!(
        app.mailed_token("pat@example.com", "pcv").await.is_none(),
        "no mail for an address in a verified domain"
    );
    assert!(
        app.mailed_token("quinn@elsewhere.example", "pcv")
            .await
            .is_some(),
        "a verification link for an address elsewhere"
    );
}
