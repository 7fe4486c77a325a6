//! JSON request bodies of the main endpoints through the real router: the production
//! `portcullis_http::service` over a real service on a temporary SQLite store, reached with
//! `tower::ServiceExt::oneshot` as an authenticated organization administrator. The first byte
//! picks the endpoint ([`ENDPOINTS`]), the rest is the body. Whatever the body, the server
//! never panics and never answers 5xx, and every refusal is problem+json with a stable `code`.
//!
//! The store keeps what accepted bodies write (orgs, teams, keys...), as a real server would;
//! paths name the fixtures made at start-up (org and account `acme`, app `ml`, user `owner`).
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, Response, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use portcullis_http::Server as HttpServer;
use portcullis_service::core::SystemClock;
use portcullis_service::{Portcullis, ServiceConfig};
use portcullis_store::Backend;
use portcullis_store::testing::{TestStore, fresh_store_of};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The endpoints the selector byte picks from (modulo their number), in the order of the seed
/// corpus (`fuzz/make_corpus.py`).
const ENDPOINTS: &[(Method, &str)] = &[
    (Method::POST, "/v1/check"),
    (Method::POST, "/v1/check/batch"),
    (Method::POST, "/v1/orgs"),
    (Method::PATCH, "/v1/orgs/acme"),
    (Method::POST, "/v1/accounts/acme/apps"),
    (Method::PATCH, "/v1/accounts/acme/apps/ml"),
    (Method::POST, "/v1/orgs/acme/invitations"),
    (Method::PUT, "/v1/orgs/acme/members/owner"),
    (Method::POST, "/v1/orgs/acme/teams"),
    (Method::POST, "/v1/signup"),
    (Method::POST, "/v1/login"),
    (Method::PUT, "/v1/orgs/acme/password-policy"),
    (Method::POST, "/v1/validate-password"),
    (Method::POST, "/v1/users/me/keys"),
    (Method::POST, "/v1/orgs/acme/identity-providers"),
];

/// The server under test, built once per fuzzing process.
struct Server {
    runtime: tokio::runtime::Runtime,
    router: HttpServer,
    /// The session of `owner`, administrator of `acme`.
    token: String,
    _store: TestStore,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
        let (router, token, store) = runtime.block_on(start());
        Server {
            runtime,
            router,
            token,
            _store: store,
        }
    })
}

async fn start() -> (HttpServer, String, TestStore) {
    let store = fresh_store_of(Backend::Sqlite).await.expect("a fresh store");
    let config = ServiceConfig {
        // An identity provider's metadata URL is fetched; there is no network to wait for.
        metadata_fetch_timeout: std::time::Duration::from_secs(1),
        ..ServiceConfig::default()
    };
    let service = Portcullis::start(store.store.clone(), Arc::new(SystemClock), config)
        .await
        .expect("the service starts");
    let router = portcullis_http::service(service.clone());

    let signup = json!({"id": "owner", "email": "owner@example.com",
                        "password": "correct horse battery", "first_name": "Owner"});
    expect(&router, Method::POST, "/v1/signup", None, signup, StatusCode::CREATED).await;
    let messages = service.store().outbox(10).await.expect("the outbox");
    let verification = messages
        .iter()
        .find_map(|m| link_token(&m.body, "pcv"))
        .expect("a verification link was mailed");
    let confirm = json!({"token": verification});
    expect(&router, Method::POST, "/v1/email/confirm", None, confirm, StatusCode::OK).await;
    let login = json!({"email": "owner@example.com", "password": "correct horse battery"});
    let session = expect(&router, Method::POST, "/v1/login", None, login, StatusCode::OK).await;
    let token = session["session_token"].as_str().expect("a session token").to_owned();
    let org = json!({"id": "acme", "name": "Acme", "billing_email": "billing@acme.example"});
    expect(&router, Method::POST, "/v1/orgs", Some(&token), org, StatusCode::CREATED).await;
    let app = json!({"id": "ml", "name": "ML"});
    let apps = "/v1/accounts/acme/apps";
    expect(&router, Method::POST, apps, Some(&token), app, StatusCode::CREATED).await;
    (router, token, store)
}

fn request(method: Method, path: &str, token: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .extension(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(Body::from(body)).expect("a valid request")
}

async fn send(router: &HttpServer, request: Request<Body>) -> (StatusCode, String, Vec<u8>) {
    let response: Response<Body> = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a readable body");
    (status, content_type, body.to_vec())
}

/// A set-up step: `body` sent, `status` expected; returns the JSON answer.
async fn expect(
    router: &HttpServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Value,
    status: StatusCode,
) -> Value {
    let body = serde_json::to_vec(&body).expect("JSON");
    let (got, _, answer) = send(router, request(method, path, token, body)).await;
    let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
    assert_eq!(got, status, "set-up step {path}: {answer}");
    answer
}

/// The token of the first link in `body` carrying `token=<prefix>_…`.
fn link_token(body: &str, prefix: &str) -> Option<String> {
    let start = body.find(&format!("token={prefix}_"))? + "token=".len();
    Some(
        body[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect(),
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let server = server();
    let (method, path) = &ENDPOINTS[usize::from(which) % ENDPOINTS.len()];
    let request = request(method.clone(), path, Some(&server.token), body.to_vec());
    let (status, content_type, answer) = server.runtime.block_on(send(&server.router, request));
    assert!(
        !status.is_server_error(),
        "{method} {path} answered {status}: {}",
        String::from_utf8_lossy(&answer)
    );
    if status.is_client_error() {
        assert_eq!(
            content_type, "application/problem+json",
            "{method} {path} refused with {status}"
        );
        let problem: Value = serde_json::from_slice(&answer).expect("problem+json is JSON");
        let code = problem["code"].as_str().expect("a problem has a code");
        assert!(
            !code.is_empty() && code.is_ascii(),
            "bad problem code `{code}`"
        );
    }
});
