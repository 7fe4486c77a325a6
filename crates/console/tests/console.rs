//! The console's handlers over a real service and store: security headers, the session
//! cookie, CSRF refusals that change nothing, and page weights.
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
    let page = console.get("/sign-in", "").await;
    assert!(!page.body.contains("<script"));
    assert!(!page.body.contains("style="));
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
    let mut pages = vec![("/sign-in", String::new()), ("/sign-up", String::new())];
    for path in [
        "/account",
        "/roles",
        "/a/acme/apps",
        "/a/acme/apps/faces",
        "/a/acme/members",
        "/a/acme/teams",
        "/a/acme/teams/vision",
        "/a/acme/security",
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
        assert!(!reply.body.contains("<script"), "{path}");
        let total = reply.body.len() + css;
        assert!(total < 100 * 1024, "{path} weighs {total} bytes");
    }
}
