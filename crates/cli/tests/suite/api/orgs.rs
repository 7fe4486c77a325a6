use serde_json::json;

use crate::api::helpers::spawn_app;

#[tokio::test]
async fn create_get_update_delete_org() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.org(&alice, "acme").await;
    app.post(
        "/v1/orgs",
        &bob,
        json!({"id": "ACME", "name": "Dup", "billing_email": "b@example.com"}),
    )
    .await
    .assert_problem(409, "conflict");
    assert_eq!(
        app.get("/v1/orgs/acme", &alice).await.assert_status(200)["name"],
        "Org acme"
    );
    // Outsiders cannot tell the org exists from a missing one.
    let hidden = app.get("/v1/orgs/acme", &bob).await;
    let missing = app.get("/v1/orgs/nope", &bob).await;
    hidden.assert_problem(404, "not_found");
    assert_eq!(hidden.body, {
        let mut b = missing.body.clone();
        b["detail"] = hidden.body["detail"].clone();
        b
    });
    app.patch("/v1/orgs/acme", &bob, json!({"name": "Mine"}))
        .await
        .assert_problem(404, "not_found");
    let updated = app
        .patch("/v1/orgs/acme", &alice, json!({"name": "Acme Inc"}))
        .await;
    assert_eq!(updated.assert_status(200)["name"], "Acme Inc");
    let mine = app.get("/v1/users/me/orgs", &alice).await;
    assert_eq!(mine.assert_status(200)[0]["role"], "admin");
    app.delete("/v1/orgs/acme", &alice).await.assert_status(204);
    app.get("/v1/orgs/acme", &alice)
        .await
        .assert_problem(404, "not_found");
}
