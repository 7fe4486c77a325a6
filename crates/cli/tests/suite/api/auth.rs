use reqwest::Method;
use serde_json::json;

use crate::api::helpers::spawn_app;

#[tokio::test]
async fn signup_login_me_logout() {
    let app = spawn_app().await;
    let token = app.user("alice").await;
    let me = app.get("/v1/users/me", &token).await;
    assert_eq!(me.assert_status(200)["id"], "alice");
    assert!(me.body.get("password_hash").is_none());
    app.request(Method::POST, "/v1/logout", Some(&token), None)
        .await
        .assert_status(204);
    app.get("/v1/users/me", &token)
        .await
        .assert_problem(401, "auth.required");
}

#[tokio::test]
async fn login_does_not_reveal_whether_an_account_exists() {
    let app = spawn_app().await;
    app.user("bob").await;
    let wrong = app
        .request(
            Method::POST,
            "/v1/login",
            None,
            Some(json!({"email": "bob@example.com", "password": "not-it-at-all"})),
        )
        .await;
    let unknown = app
        .request(
            Method::POST,
            "/v1/login",
            None,
            Some(json!({"email": "nobody@example.com", "password": "not-it-at-all"})),
        )
        .await;
    wrong.assert_problem(401, "auth.invalid_credentials");
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.body, unknown.body);
}

#[tokio::test]
async fn personal_access_tokens_are_shown_once_and_revocable() {
    let app = spawn_app().await;
    let session = app.user("carol").await;
    let created = app
        .post(
            "/v1/users/me/keys",
            &session,
            json!({"description": "ci", "scopes": ["app.view"]}),
        )
        .await;
    let body = created.assert_status(201).clone();
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("pcl_pat_"));
    let listed = app.get("/v1/users/me/keys", &session).await;
    let listed = listed.assert_status(200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(
        !listed.to_string().contains(&token),
        "the secret must never be listed"
    );
    // Works with both schemes.
    let key_scheme = app
        .client
        .get(format!("{}/v1/users/me", app.address))
        .header("Authorization", format!("Key {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(key_scheme.status(), 200);
    app.get("/v1/users/me", &token).await.assert_status(200);
    // A token cannot mint tokens.
    app.post("/v1/users/me/keys", &token, json!({"scopes": ["all"]}))
        .await
        .assert_problem(403, "key.session_required");
    let id = body["id"].as_str().unwrap();
    app.delete(&format!("/v1/users/me/keys/{id}"), &session)
        .await
        .assert_status(204);
    app.get("/v1/users/me", &token)
        .await
        .assert_problem(401, "auth.required");
}

#[tokio::test]
async fn malformed_requests_are_problems() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(format!("{}/v1/signup", app.address))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let unknown_field = app
        .request(Method::POST, "/v1/signup", None, Some(json!({"id": "x", "email": "x@example.com", "password": "password-x", "admin": true})))
        .await;
    unknown_field.assert_problem(400, "request.invalid_body");
    let bad_id = app
        .request(
            Method::POST,
            "/v1/signup",
            None,
            Some(json!({"id": "bad id", "email": "x@example.com", "password": "password-x"})),
        )
        .await;
    bad_id.assert_problem(422, "id.invalid");
    app.request(Method::GET, "/v1/users/me", Some("pcl_pat_garbage"), None)
        .await
        .assert_problem(401, "auth.required");
}
