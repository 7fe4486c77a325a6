//! The console's handlers over a real service and store: security headers, the session
//! cookie, CSRF refusals that change nothing, page weights, the live password check, and
//! refusals of the editing screens to members without the permission.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use portcullis_service::core::SystemClock;
use portcullis_service::store::testing::{TestStore, fresh_store};
use portcullis_service::{Portcullis, ServiceConfig};
use tower::ServiceExt;

struct Console {
    app: Router,
    service: Arc<Portcullis>,
    _store: TestStore,
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Reply {
    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a form with a csrf field") + marker.len();
        self.body[start..start + 64].to_owned()
    }

    /// The value of the `Set-Cookie` named `name`, and the whole header line.
    fn set_cookie(&self, name: &str) -> Option<(String, String)> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(|line| {
                let value = line[name.len() + 1..].split(';').next().unwrap().to_owned();
                (value, line)
            })
    }
}

async fn console() -> Console {
    let store = fresh_store().await.unwrap();
    let service = Portcullis::start(
        store.store.clone(),
        Arc::new(SystemClock),
        ServiceConfig::default(),
    )
    .await
    .unwrap();
    Console {
        app: portcullis_console::router(service.clone()),
        service,
        _store: store,
    }
}

impl Console {
    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        Reply {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn get(&self, path: &str, cookies: &str) -> Reply {
        let request = Request::get(path)
            .header(header::COOKIE, cookies)
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    async fn post(&self, path: &str, cookies: &str, form: &str) -> Reply {
        let request = Request::post(path)
            .header(header::COOKIE, cookies)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .unwrap();
        self.send(request).await
    }

    /// Signs up `id` through the console and returns its session cookie header.
    async fn sign_up(&self, id: &str) -> String {
        let page = self.get("/sign-up", "").await;
        let (pre, _) = page.set_cookie("__Host-portcullis-pre").unwrap();
        let cookies = format!("__Host-portcullis-pre={pre}");
        let form = format!(
            "csrf={}&id={id}&email={id}%40example.com&password=correct-horse-battery-staple-42",
            page.csrf()
        );
        let reply = self.post("/sign-up", &cookies, &form).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let (token, _) = reply.set_cookie("__Host-portcullis").unwrap();
        format!("__Host-portcullis={token}")
    }
}

#[tokio::test]
async fn every_page_carries_the_security_headers() {
    let console = console().await;
    for path in [
        "/sign-in",
        "/sign-up",
        "/assets/console.css",
        "/assets/password-check.js",
        "/password-reset",
        "/nowhere-at-all",
    ] {
        let reply = console.get(path, "").await;
        let csp = reply.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(reply.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(reply.headers[header::X_FRAME_OPTIONS], "DENY");
        assert!(reply.headers.contains_key(header::REFERRER_POLICY));
    }
    // No inline script or style anywhere: everything is a same-origin file.
    let page = console.get("/sign-up", "").await;
    assert_only_external_scripts("/sign-up", &page.body);
    assert!(
        page.body
            .contains("<script src=\"/assets/password-check.js\"")
    );
    assert!(!page.body.contains("style="));
}

/// Every `<script` of a page loads a console asset; none carries code of its own.
fn assert_only_external_scripts(path: &str, body: &str) {
    let scripts = body.matches("<script").count();
    let external = body
        .matches("<script src=\"/assets/password-check.js\" defer></script>")
        .count();
    assert_eq!(scripts, external, "{path} has an inline script");
    assert!(
        !body.contains("onclick=") && !body.contains("javascript:"),
        "{path}"
    );
}

impl Console {
    fn caller(&self, cookie: &str) -> portcullis_service::Caller {
        self.service
            .authenticate(&cookie["__Host-portcullis=".len()..], Default::default())
            .unwrap()
    }

    /// `alice` creates `acme` and invites `bob` as a Team Contributor, who accepts.
    async fn org_with_member(&self) -> (String, String) {
        let alice = self.sign_up("alice").await;
        let csrf = self.get("/account", &alice).await.csrf();
        self.post(
            "/account/orgs",
            &alice,
            &format!("csrf={csrf}&id=acme&name=Acme"),
        )
        .await;
        let bob = self.sign_up("bob").await;
        self.service.verify_email_directly("bob").await.unwrap();
        let invitation = self
            .service
            .create_invitation(
                &self.caller(&alice),
                "acme",
                "bob@example.com",
                "team_contributor",
            )
            .await
            .unwrap();
        self.service
            .accept_invitation(&self.caller(&bob), &invitation.value.id)
            .await
            .unwrap();
        (alice, bob)
    }
}

#[tokio::test]
async fn the_live_password_check_needs_the_csrf_token_and_names_every_broken_rule() {
    let console = console().await;
    // Signed out: the double-submit token of the page.
    let page = console.get("/sign-up", "").await;
    let (pre, _) = page.set_cookie("__Host-portcullis-pre").unwrap();
    let pre_cookie = format!("__Host-portcullis-pre={pre}");
    let refused = console
        .post("/password-check", &pre_cookie, "password=abc")
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let reply = console
        .post(
            "/password-check",
            &pre_cookie,
            &format!("csrf={}&password=abc", page.csrf()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
    let answer: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(answer["valid"], false);
    let rules: Vec<&str> = answer["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["field"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"minimum_length"), "{answer}");
    assert!(!reply.body.contains("abc"), "the password is never echoed");

    // Signed in: the member's effective policy, here its organization's `nist` (15 characters).
    let (alice, _) = console.org_with_member().await;
    console
        .service
        .set_org_password_policy(&console.caller(&alice), "acme", Some("nist"), |p| p)
        .await
        .unwrap();
    let csrf = console.get("/account", &alice).await.csrf();
    let twelve = "Tr0ub4dor%263x";
    let reply = console
        .post(
            "/password-check",
            &alice,
            &format!("csrf={csrf}&password={twelve}"),
        )
        .await;
    let answer: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(
        answer["violations"][0]["field"], "minimum_length",
        "{answer}"
    );
    // The same password passes the server-wide default a signed-out page checks against.
    let reply = console
        .post(
            "/password-check",
            &pre_cookie,
            &format!("csrf={}&password={twelve}", page.csrf()),
        )
        .await;
    let answer: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(answer["valid"], true, "{answer}");
    // The session's token is not the signed-out one and vice versa.
    let reply = console
        .post(
            "/password-check",
            &alice,
            &format!("csrf={}&password=abc", page.csrf()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn editing_screens_refuse_a_member_without_the_permission_and_change_nothing() {
    let console = console().await;
    let (alice, bob) = console.org_with_member().await;
    let admin_csrf = console.get("/account", &alice).await.csrf();
    let reply = console
        .post(
            "/a/acme/billing/budget",
            &alice,
            &format!("csrf={admin_csrf}&amount=10.50&currency=usd&alert_threshold_percent=80"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let admin = console.caller(&alice);
    let budget = console.service.budget(&admin, "acme").await.unwrap();
    assert_eq!(budget.budget.as_ref().unwrap().monthly_budget_cents, 1050);
    assert_eq!(budget.budget.as_ref().unwrap().currency, "USD");

    // The Team Contributor's pages show no such controls...
    let costs = console.get("/a/acme/compute", &bob).await;
    assert!(!costs.body.contains("action=\"/a/acme/compute/clusters\""));
    let app_csrf = console.get("/account", &bob).await.csrf();
    // ...and its posts, with its own valid CSRF token, are refused by the service.
    for (path, form) in [
        ("/a/acme/billing/budget/clear", String::new()),
        (
            "/a/acme/billing/budget",
            "amount=1&currency=USD&alert_threshold_percent=10".to_owned(),
        ),
        (
            "/a/acme/compute/clusters",
            "id=rogue&cloud_provider=aws&region=x&cluster_type=eks".to_owned(),
        ),
        ("/a/acme/security/sso", "enforced=on".to_owned()),
        ("/a/acme/security/two-factor", "required=on".to_owned()),
        (
            "/a/acme/security/idps/okta/delete",
            "confirm=okta".to_owned(),
        ),
        ("/a/acme/scim/tokens", "description=rogue".to_owned()),
    ] {
        let reply = console
            .post(path, &bob, &format!("csrf={app_csrf}&{form}"))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            reply.body
        );
    }
    let budget = console.service.budget(&admin, "acme").await.unwrap();
    assert_eq!(budget.budget.unwrap().monthly_budget_cents, 1050);
    assert!(
        console
            .service
            .list_scim_tokens(&admin, "acme")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        console
            .service
            .list_clusters(&admin, "acme")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !console
            .service
            .sso_enforcement(&admin, "acme")
            .await
            .unwrap()
            .0
    );
    assert!(
        !console
            .service
            .org_requires_two_factor(&admin, "acme")
            .await
            .unwrap()
    );

    // A budget amount that is not money is refused by name and changes nothing.
    let reply = console
        .post(
            "/a/acme/billing/budget",
            &alice,
            &format!("csrf={admin_csrf}&amount=ten&currency=USD&alert_threshold_percent=80"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let (flash, _) = reply.set_cookie("__Host-portcullis-flash").unwrap();
    let flash = String::from_utf8(hex::decode(&flash).unwrap()).unwrap();
    assert!(flash.contains("monthly_budget_cents"), "{flash}");
    let reply = console
        .post(
            "/a/acme/billing/budget/clear",
            &alice,
            &format!("csrf={admin_csrf}"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(
        console
            .service
            .budget(&admin, "acme")
            .await
            .unwrap()
            .budget
            .is_none()
    );
}

#[tokio::test]
async fn the_session_cookie_is_host_only_secure_http_only_and_strict() {
    let console = console().await;
    let page = console.get("/sign-up", "").await;
    let (pre, _) = page.set_cookie("__Host-portcullis-pre").unwrap();
    let form = format!(
        "csrf={}&id=alice&email=alice%40example.com&password=correct-horse-battery-staple-42",
        page.csrf()
    );
    let reply = console
        .post("/sign-up", &format!("__Host-portcullis-pre={pre}"), &form)
        .await;
    let (_, line) = reply.set_cookie("__Host-portcullis").unwrap();
    for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(line.contains(attribute), "{line}");
    }
    assert!(!line.contains("Domain"), "{line}");
    // Without "remember me" it is a browser-session cookie.
    assert!(!line.contains("Max-Age"), "{line}");
}

#[tokio::test]
async fn posts_without_the_csrf_token_are_refused_and_change_nothing() {
    let console = console().await;
    // Signed out: no double-submit cookie or a mismatch is refused.
    let reply = console
        .post("/sign-up", "", "id=eve&email=eve%40example.com&password=x")
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = console
        .post(
            "/sign-in",
            &format!("__Host-portcullis-pre={}", "a".repeat(64)),
            &format!("csrf={}&email=a%40b.c&password=x", "b".repeat(64)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    let alice = console.sign_up("alice").await;
    let bob = console.sign_up("bob").await;
    let alice_csrf = console.get("/account", &alice).await.csrf();
    let bob_csrf = console.get("/account", &bob).await.csrf();
    assert_ne!(alice_csrf, bob_csrf);

    for form in [
        "id=acme&name=Acme".to_owned(),
        "csrf=&id=acme&name=Acme".to_owned(),
        format!("csrf={bob_csrf}&id=acme&name=Acme"),
    ] {
        let reply = console.post("/account/orgs", &alice, &form).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{form}");
        assert!(reply.body.contains("CSRF"));
    }
    let caller = console
        .service
        .authenticate(&alice["__Host-portcullis=".len()..], Default::default())
        .unwrap();
    assert!(console.service.my_orgs(&caller).await.unwrap().is_empty());

    let reply = console
        .post(
            "/account/orgs",
            &alice,
            &format!("csrf={alice_csrf}&id=acme&name=Acme"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(console.service.my_orgs(&caller).await.unwrap().len(), 1);

    // Sign-out is a form too.
    let reply = console.post("/sign-out", &alice, "").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(console.service.my_orgs(&caller).await.is_ok());
}

#[tokio::test]
async fn other_accounts_pages_are_not_found_and_signed_out_browsers_go_to_sign_in() {
    let console = console().await;
    let reply = console.get("/account", "").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers[header::LOCATION], "/sign-in");
    let reply = console
        .get("/account", "__Host-portcullis=pcl_ses_forged")
        .await;
    assert_eq!(reply.headers[header::LOCATION], "/sign-in");

    let alice = console.sign_up("alice").await;
    let csrf = console.get("/account", &alice).await.csrf();
    console
        .post(
            "/account/orgs",
            &alice,
            &format!("csrf={csrf}&id=acme&name=Acme"),
        )
        .await;
    let bob = console.sign_up("bob").await;
    for path in [
        "/a/acme/apps",
        "/a/acme/members",
        "/a/acme/security",
        "/a/alice/apps",
    ] {
        let reply = console.get(path, &bob).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn every_page_weighs_less_than_100_kb_with_its_stylesheet() {
    let console = console().await;
    let alice = console.sign_up("alice").await;
    let csrf = console.get("/account", &alice).await.csrf();
    console
        .post(
            "/account/orgs",
            &alice,
            &format!("csrf={csrf}&id=acme&name=Acme"),
        )
        .await;
    console
        .post("/a/acme/apps", &alice, &format!("csrf={csrf}&id=faces"))
        .await;
    console
        .post("/a/acme/teams", &alice, &format!("csrf={csrf}&id=vision"))
        .await;
    let css = console.get("/assets/console.css", "").await.body.len();
    let js = console
        .get("/assets/password-check.js", "")
        .await
        .body
        .len();
    let mut pages = vec![
        ("/sign-in", String::new()),
        ("/sign-in?org=acme", String::new()),
        ("/sign-up", String::new()),
        ("/password-reset", String::new()),
        ("/password-reset/confirm", String::new()),
    ];
    for path in [
        "/account",
        "/roles",
        "/a/acme/apps",
        "/a/acme/apps/faces",
        "/a/acme/members",
        "/a/acme/teams",
        "/a/acme/teams/vision",
        "/a/acme/security",
        "/a/acme/scim",
        "/a/acme/roles",
        "/a/acme/audit",
        "/a/acme/access-review?app=faces&member=alice",
        "/a/acme/compute",
        "/a/acme/billing",
    ] {
        pages.push((path, alice.clone()));
    }
    for (path, cookies) in pages {
        let reply = console.get(path, &cookies).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        assert_only_external_scripts(path, &reply.body);
        let script = if reply.body.contains("<script") {
            js
        } else {
            0
        };
        let total = reply.body.len() + css + script;
        assert!(total < 100 * 1024, "{path} weighs {total} bytes");
    }
}

/// The text of the element with `id` (its first text node), as the page shows it.
fn text_of(body: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let start = body.find(&marker).expect(id);
    let open = start + body[start..].find('>').unwrap() + 1;
    let close = open + body[open..].find('<').unwrap();
    body[open..close].to_owned()
}

#[tokio::test]
async fn two_factor_is_set_up_confirmed_and_turned_off_from_the_account_page() {
    use portcullis_service::totp::code_at;

    let console = console().await;
    let alice = console.sign_up("alice").await;
    let account = console.get("/account", &alice).await;
    assert!(account.body.contains("Two-factor authentication"));
    assert!(
        account
            .body
            .contains("action=\"/account/two-factor/setup\"")
    );
    let csrf = account.csrf();

    // Without the CSRF token nothing starts.
    let refused = console.post("/account/two-factor/setup", &alice, "").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let setup = console
        .post("/account/two-factor/setup", &alice, &format!("csrf={csrf}"))
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    assert_only_external_scripts("/account/two-factor/setup", &setup.body);
    assert!(setup.body.contains("<svg class=\"qr\" role=\"img\""));
    assert!(!setup.body.contains("style="));
    let css = console.get("/assets/console.css", "").await.body.len();
    assert!(setup.body.len() + css < 100 * 1024, "{}", setup.body.len());
    let secret: String = text_of(&setup.body, "totp-secret").replace(' ', "");
    assert_eq!(secret.len(), 32, "{secret}");
    assert!(
        text_of(&setup.body, "totp-uri")
            .starts_with(&format!("otpauth://totp/Portcullis:alice?secret={secret}&"))
    );

    // A wrong code: the form again with the reason beside the field, and no secret.
    let now = console.service.now();
    let right = code_at(&secret, now).unwrap();
    // A code no step of the accepted window (±30 s) shows.
    let window: Vec<String> = [-30_000, 0, 30_000, 60_000]
        .iter()
        .map(|d| code_at(&secret, now + d).unwrap())
        .collect();
    let wrong = ["000000", "111111", "222222", "333333", "444444"]
        .into_iter()
        .find(|c| !window.iter().any(|w| w == c))
        .unwrap();
    let again = console
        .post(
            "/account/two-factor/confirm",
            &alice,
            &format!("csrf={csrf}&code={wrong}"),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert!(again.body.contains("id=\"code-error\""), "{}", again.body);
    assert!(again.body.contains("the code is not valid"));
    assert!(!again.body.contains(&secret));
    let caller = console.caller(&alice);
    assert!(!console.service.totp_status(&caller).await.unwrap().0);

    let codes = console
        .post(
            "/account/two-factor/confirm",
            &alice,
            &format!("csrf={csrf}&code={right}"),
        )
        .await;
    assert_eq!(codes.status, StatusCode::OK, "{}", codes.body);
    assert!(codes.body.contains("Store these codes now"));
    assert_eq!(codes.body.matches("<li><code>").count(), 10);
    assert_eq!(
        console.service.totp_status(&caller).await.unwrap(),
        (true, 10)
    );
    let account = console.get("/account", &alice).await;
    assert!(account.body.contains("10 of 10 recovery codes left"));
    assert!(account.body.contains("Turn off two-factor"));

    // Turning it off needs a current code the service has not seen used yet.
    let reply = console
        .post(
            "/account/two-factor/disable",
            &alice,
            &format!("csrf={csrf}&code={wrong}"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(console.service.totp_status(&caller).await.unwrap().0);
    let next = code_at(&secret, console.service.now() + 30_000).unwrap();
    let reply = console
        .post(
            "/account/two-factor/disable",
            &alice,
            &format!("csrf={csrf}&code={next}"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers[header::LOCATION], "/account#two-factor-h");
    assert!(!console.service.totp_status(&caller).await.unwrap().0);
}

#[tokio::test]
async fn a_locked_out_member_is_shown_and_unlocked_on_the_members_page() {
    use secrecy::SecretString;

    let console = console().await;
    let (alice, _) = console.org_with_member().await;
    let page = console.get("/a/acme/members", &alice).await;
    assert!(!page.body.contains("Locked"));
    assert!(!page.body.contains("/members/bob/unlock"));
    let csrf = page.csrf();

    let limit = console
        .service
        .effective_policy(console.caller(&alice).user().unwrap())
        .await
        .unwrap()
        .max_failed_attempts;
    for _ in 0..limit {
        let wrong = SecretString::from("not-the-password".to_owned());
        let refused = console
            .service
            .login(Default::default(), "bob@example.com", wrong, false)
            .await;
        assert!(refused.is_err());
    }
    let page = console.get("/a/acme/members", &alice).await;
    assert!(page.body.contains("Locked"), "{}", page.body);
    assert!(page.body.contains("/members/bob/unlock"));

    let reply = console
        .post(
            "/a/acme/members/bob/unlock",
            &alice,
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let page = console.get("/a/acme/members", &alice).await;
    assert!(!page.body.contains("Locked"));
    let right = SecretString::from("correct-horse-battery-staple-42".to_owned());
    assert!(
        console
            .service
            .login(Default::default(), "bob@example.com", right, false)
            .await
            .is_ok()
    );
}

/// The links of the sidebar, by their targets.
fn sidebar_links(body: &str) -> Vec<String> {
    let Some(start) = body.find("<nav class=\"sidebar\"") else {
        return Vec::new();
    };
    let nav = &body[start..start + body[start..].find("</nav>").unwrap()];
    nav.split("href=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

#[tokio::test]
async fn every_role_sees_links_to_every_page_it_may_use() {
    let console = console().await;
    let (alice, _) = console.org_with_member().await;
    let admin = console.caller(&alice);
    let everything = [
        "apps", "teams", "members", "compute", "billing", "security", "scim",
    ];
    for (role, expected) in [
        ("admin", &everything[..]),
        (
            "org_contributor",
            &["apps", "teams", "members", "compute"][..],
        ),
        ("org_user", &["apps", "teams", "members", "compute"][..]),
        ("team_contributor", &["apps", "teams", "members"][..]),
        ("infrastructure_manager", &["compute"][..]),
        ("financial_manager", &["billing"][..]),
    ] {
        let id = format!("u-{}", role.replace('_', "-"));
        let cookie = if role == "admin" {
            alice.clone()
        } else {
            let cookie = console.sign_up(&id).await;
            console.service.verify_email_directly(&id).await.unwrap();
            let invitation = console
                .service
                .create_invitation(&admin, "acme", &format!("{id}@example.com"), role)
                .await
                .unwrap();
            console
                .service
                .accept_invitation(&console.caller(&cookie), &invitation.value.id)
                .await
                .unwrap();
            cookie
        };
        let want: Vec<String> = expected.iter().map(|p| format!("/a/acme/{p}")).collect();
        let home = console.get(&want[0], &cookie).await;
        assert_eq!(home.status, StatusCode::OK, "{role}");
        let links = sidebar_links(&home.body);
        assert_eq!(links, want, "{role}");
        assert!(!home.body.contains("no sidebar items"), "{role}");
        // Every link opens for this role.
        for link in &links {
            let page = console.get(link, &cookie).await;
            assert_eq!(page.status, StatusCode::OK, "{role}: {link}");
        }
        if role == "financial_manager" {
            assert!(
                home.body.contains(">Costs</a>"),
                "the menu names the page Costs"
            );
            assert!(!home.body.contains(">Billing</a>"));
        }
    }
}

/// The value of the `<input>` with `id`, as the page shows it.
fn input_value(body: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let start = body.find(&marker).expect(id);
    let end = start + body[start..].find('>').unwrap();
    let value = start + body[start..end].find("value=\"").expect("a value") + "value=\"".len();
    body[value..value + body[value..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn the_scim_page_shows_the_endpoint_and_a_new_token_once_then_rotates_and_revokes_it() {
    let console = console().await;
    let (alice, bob) = console.org_with_member().await;
    let admin = console.caller(&alice);
    let page = console.get("/a/acme/scim", &alice).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let endpoint = input_value(&page.body, "scim-endpoint");
    assert!(endpoint.ends_with("/scim/v2/orgs/acme/"), "{endpoint}");
    assert!(page.body.contains("No SCIM token yet"));
    let csrf = page.csrf();

    // Create: the answer is the page with the secret, which the service never shows again.
    let created = console
        .post(
            "/a/acme/scim/tokens",
            &alice,
            &format!("csrf={csrf}&description=Okta+production"),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let secret = input_value(&created.body, "scim-secret");
    assert!(secret.starts_with("pcl_scim_"), "{secret}");
    let tokens = console
        .service
        .list_scim_tokens(&admin, "acme")
        .await
        .unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].description, "Okta production");
    let id = tokens[0].id.clone();
    let again = console.get("/a/acme/scim", &alice).await;
    assert!(!again.body.contains(&secret), "the secret is shown once");
    assert!(!again.body.contains("scim-secret"));
    assert!(again.body.contains("Okta production"));
    assert!(
        again
            .body
            .contains(&format!("/a/acme/scim/tokens/{id}/revoke"))
    );

    // A Team Contributor has no SCIM page, and its posts (with its own CSRF token) are
    // refused by the service and change nothing.
    assert_eq!(
        console.get("/a/acme/scim", &bob).await.status,
        StatusCode::FORBIDDEN
    );
    let bob_csrf = console.get("/account", &bob).await.csrf();
    for path in [
        format!("/a/acme/scim/tokens/{id}/rotate"),
        format!("/a/acme/scim/tokens/{id}/revoke"),
    ] {
        let reply = console.post(&path, &bob, &format!("csrf={bob_csrf}")).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}");
    }
    // Without the CSRF token even the administrator's post changes nothing.
    let reply = console
        .post(&format!("/a/acme/scim/tokens/{id}/revoke"), &alice, "")
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let tokens = console
        .service
        .list_scim_tokens(&admin, "acme")
        .await
        .unwrap();
    assert_eq!(tokens.len(), 1);
    assert!(tokens[0].revoked_at.is_none() && tokens[0].expires_at.is_none());

    // Rotate: a new secret on the answer page; the old token now ends after the overlap.
    let rotated = console
        .post(
            &format!("/a/acme/scim/tokens/{id}/rotate"),
            &alice,
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let new_secret = input_value(&rotated.body, "scim-secret");
    assert_ne!(new_secret, secret);
    let tokens = console
        .service
        .list_scim_tokens(&admin, "acme")
        .await
        .unwrap();
    assert_eq!(tokens.len(), 2);
    let old = tokens.iter().find(|t| t.id == id).unwrap();
    assert!(old.expires_at.is_some() && old.revoked_at.is_none());

    // Revoke: flashed, shown as revoked, and no revoke button left for it.
    let reply = console
        .post(
            &format!("/a/acme/scim/tokens/{id}/revoke"),
            &alice,
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let tokens = console
        .service
        .list_scim_tokens(&admin, "acme")
        .await
        .unwrap();
    assert!(
        tokens
            .iter()
            .find(|t| t.id == id)
            .unwrap()
            .revoked_at
            .is_some()
    );
    let page = console.get("/a/acme/scim", &alice).await;
    assert!(page.body.contains("revoked"));
    assert!(
        !page
            .body
            .contains(&format!("/a/acme/scim/tokens/{id}/revoke"))
    );
}
