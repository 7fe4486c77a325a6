//! `spawn_app()`: a real Portcullis server on 127.0.0.1:0 over a fresh store, and a small HTTP
//! client with helpers for the common steps (sign up, log in, create an org...).

use std::sync::Arc;

use portcullis::app::{App, Parts};
use portcullis_service::core::SystemClock;
use portcullis_service::store::testing::{TestStore, fresh_store};
use portcullis_service::{Portcullis, ServiceConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub service: Arc<Portcullis>,
    store: Arc<TestStore>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(ServiceConfig::default()).await
}

pub async fn spawn_app_with(config: ServiceConfig) -> TestApp {
    spawn_app_with_clock(config, Arc::new(SystemClock)).await
}

/// Like [`spawn_app_with`], reading time from `clock` (a `FixedClock` moves only when told).
pub async fn spawn_app_with_clock(
    config: ServiceConfig,
    clock: Arc<dyn portcullis_service::core::Clock>,
) -> TestApp {
    let test_store = fresh_store().await.expect("fresh store");
    let service = serve(test_store.store.clone(), clock, config, None).await;
    TestApp {
        address: service.0,
        client: reqwest::Client::new(),
        service: service.1,
        store: Arc::new(test_store),
    }
}

/// Starts the application on `store` as `serve` does ([`App::start`]: the service, its
/// follower, domain re-check and other background tasks, the router) on a free loopback port.
async fn serve(
    store: portcullis_service::store::Store,
    clock: Arc<dyn portcullis_service::core::Clock>,
    config: ServiceConfig,
    audit_retention_days: Option<u32>,
) -> (String, Arc<Portcullis>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = App::start(Parts {
        store,
        clock,
        config,
        listener,
        mail: None,
        audit_retention_days,
        https: None,
    })
    .await
    .expect("the app starts");
    let address = format!("http://{}", app.address());
    let service = app.service().clone();
    tokio::spawn(app.run_until(std::future::pending()));
    (address, service)
}

/// A response: status, body as JSON (or `Null`), and the content type.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub content_type: String,
}

impl Reply {
    /// Asserts a problem+json error with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(
            self.content_type, "application/problem+json",
            "body: {}",
            self.body
        );
        assert_eq!(self.body["code"], code, "body: {}", self.body);
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        &self.body
    }
}

impl TestApp {
    /// A second server over the same store: its own service, index and write lock, both
    /// following each other's writes through the change feed. Requests spread over the two
    /// can only be arbitrated by the store transaction, as between `serve` processes.
    pub async fn peer(&self) -> TestApp {
        self.peer_with_clock(Arc::new(SystemClock)).await
    }

    /// Like [`TestApp::peer`], reading time from `clock`.
    pub async fn peer_with_clock(
        &self,
        clock: Arc<dyn portcullis_service::core::Clock>,
    ) -> TestApp {
        self.peer_with_retention(clock, None).await
    }

    /// Like [`TestApp::peer_with_clock`], pruning audit entries older than
    /// `audit_retention_days` as `serve` does with that setting.
    pub async fn peer_with_retention(
        &self,
        clock: Arc<dyn portcullis_service::core::Clock>,
        audit_retention_days: Option<u32>,
    ) -> TestApp {
        let store = portcullis_service::store::Store::open(&self.store.url)
            .await
            .expect("the store opens again");
        // Both servers follow each other's writes: App::start spawns each one's follower.
        let (address, service) = serve(
            store,
            clock,
            self.service.config().clone(),
            audit_retention_days,
        )
        .await;
        TestApp {
            address,
            client: reqwest::Client::new(),
            service,
            store: self.store.clone(),
        }
    }

    /// The URL of the store under this server (for queries on the data itself).
    pub fn store_url(&self) -> &str {
        &self.store.url
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.address, path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            content_type,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::PUT, path, Some(token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    /// Signs up `id` (email `<id>@example.com`, password `password-<id>`), verifies the
    /// address by following the mailed link, and logs in; returns the session token.
    pub async fn user(&self, id: &str) -> String {
        let token = self.unverified_user(id).await;
        self.follow_verification(&format!("{id}@example.com")).await;
        token
    }

    /// Signs up `id` like [`Self::user`] but leaves its address unverified.
    pub async fn unverified_user(&self, id: &str) -> String {
        self.request(
            Method::POST,
            "/v1/signup",
            None,
            Some(json!({"id": id, "email": format!("{id}@example.com"), "password": format!("password-{id}"),
                        "first_name": "Test", "last_name": id})),
        )
        .await
        .assert_status(201);
        self.login(id).await
    }

    /// The token of the newest link carrying `token=<prefix>_…` in a message queued for
    /// `recipient` (the outbox as the store holds it; nothing is delivered in these tests).
    pub async fn mailed_token(&self, recipient: &str, prefix: &str) -> Option<String> {
        let messages = self.service.store().outbox(500).await.unwrap();
        messages
            .iter()
            .filter(|m| m.recipient == recipient)
            .find_map(|m| link_token(&m.body, prefix))
    }

    /// Follows the newest verification link mailed to `recipient`.
    pub async fn follow_verification(&self, recipient: &str) -> Reply {
        let token = self
            .mailed_token(recipient, "pcv")
            .await
            .expect("a verification link was mailed");
        let reply = self
            .request(
                Method::POST,
                "/v1/email/confirm",
                None,
                Some(json!({"token": token})),
            )
            .await;
        reply.assert_status(200);
        reply
    }

    pub async fn login(&self, id: &str) -> String {
        let reply = self
            .request(
                Method::POST,
                "/v1/login",
                None,
                Some(json!({"email": format!("{id}@example.com"), "password": format!("password-{id}")})),
            )
            .await;
        reply.assert_status(200)["session_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates organization `id` as the holder of `token` (who becomes its admin).
    pub async fn org(&self, token: &str, id: &str) {
        self.post(
            "/v1/orgs",
            token,
            json!({"id": id, "name": format!("Org {id}"), "billing_email": "billing@example.com"}),
        )
        .await
        .assert_status(201);
    }
}

/// Invites `id` (a signed-up user whose session is `member`) into `org` as `role`, and has it
/// accept.
pub async fn invite_and_accept(
    app: &TestApp,
    admin: &str,
    org: &str,
    member: &str,
    id: &str,
    role: &str,
) {
    let invitation = app
        .post(
            &format!("/v1/orgs/{org}/invitations"),
            admin,
            json!({"email": format!("{id}@example.com"), "role": role}),
        )
        .await;
    let invitation_id = invitation.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/v1/invitations/{invitation_id}/accept"),
        member,
        json!({}),
    )
    .await
    .assert_status(200);
}

/// The token of the first link in `body` carrying `token=<prefix>_…`.
pub fn link_token(body: &str, prefix: &str) -> Option<String> {
    let marker = format!("token={prefix}_");
    let start = body.find(&marker)? + "token=".len();
    Some(
        body[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect(),
    )
}
