//! Email addresses in their canonical form: look-alikes refused at every door with their own
//! codes (nothing stored), and one address however it is cased or its domain spelt.

use reqwest::Method;
use serde_json::json;

use crate::api::helpers::{TestApp, spawn_app};

async fn signup(app: &TestApp, id: &str, email: &str) -> crate::api::helpers::Reply {
    app.request(
        Method::POST,
        "/v1/signup",
        None,
        Some(
            json!({"id": id, "email": email, "password": "correct-horse-battery",
                    "first_name": "Test", "last_name": id}),
        ),
    )
    .await
}

#[tokio::test]
async fn look_alike_addresses_are_refused_at_sign_up_and_in_invitations() {
    let app = spawn_app().await;
    // KELVIN SIGN for K, fullwidth k, a ligature: each looks like a plain address.
    for email in [
        "\u{212a}ate.admin@example.com",
        "\u{ff4b}ate.admin@example.com",
        "\u{fb01}nance@example.com",
    ] {
        signup(&app, "squatter", email)
            .await
            .assert_problem(422, "email.not_normalized");
    }
    for email in [
        "kate.admin\u{200b}@example.com",
        "kate\u{202e}moc.elpmaxe@example.com",
    ] {
        signup(&app, "squatter", email)
            .await
            .assert_problem(422, "email.invisible_characters");
    }
    // Nothing was stored: the id is still free.
    signup(&app, "squatter", "squatter@example.com")
        .await
        .assert_status(201);

    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    app.post(
        "/v1/orgs/acme/invitations",
        &alice,
        json!({"email": "\u{212a}ate.admin@example.com", "role": "admin"}),
    )
    .await
    .assert_problem(422, "email.not_normalized");
    app.patch(
        "/v1/orgs/acme",
        &alice,
        json!({"billing_email": "billing\u{200d}@acme.example"}),
    )
    .await
    .assert_problem(422, "email.invisible_characters");
    let invitations = app.get("/v1/orgs/acme/invitations", &alice).await;
    assert_eq!(
        invitations.assert_status(200)["invitations"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
}

#[tokio::test]
async fn one_address_however_its_case_or_domain_is_spelt() {
    let app = spawn_app().await;
    signup(&app, "anna", "Anna@Bücher.example")
        .await
        .assert_status(201);
    for typed in [
        "anna@bücher.example",
        "ANNA@xn--bcher-kva.example",
        "anna@BÜCHER.EXAMPLE",
    ] {
        app.request(
            Method::POST,
            "/v1/login",
            None,
            Some(json!({"email": typed, "password": "correct-horse-battery"})),
        )
        .await
        .assert_status(200);
    }
    let token = app
        .request(
            Method::POST,
            "/v1/login",
            None,
            Some(json!({"email": "anna@bücher.example", "password": "correct-horse-battery"})),
        )
        .await
        .assert_status(200)["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get("/v1/users/me", &token).await.assert_status(200)["email"],
        "Anna@Bücher.example",
        "kept as typed for display"
    );
}
