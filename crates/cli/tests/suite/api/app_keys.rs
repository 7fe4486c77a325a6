//! App keys: bound to one app, scopes within the creator's own permissions there, reaching
//! nothing outside that app (through real endpoints and through the check API), revocable.

use serde_json::{Value, json};

use crate::api::helpers::spawn_app;
use crate::api::resources::successful_codes;
use crate::api::teams::{create_app, join};

#[tokio::test]
async fn app_keys_are_bound_to_their_app_and_never_widen_a_grant() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let oc = join(&app, &alice, "acme", "oc", "org_contributor").await;
    let ou = join(&app, &alice, "acme", "ou", "org_user").await;
    let outsider = app.user("outsider").await;
    create_app(&app, &alice, "acme", "vision", "private").await;
    create_app(&app, &alice, "acme", "other", "private").await;
    let keys = "/v1/accounts/acme/apps/vision/keys";

    // Bad input and widening attempts store nothing.
    for (body, status, code) in [
        (json!({"scopes": []}), 422, "key.scopes_required"),
        (json!({"scopes": ["all"]}), 422, "key.unknown_scope"),
        (json!({"scopes": ["app.fly"]}), 422, "key.unknown_scope"),
        (
            json!({"scopes": ["members.manage"]}),
            422,
            "key.scope_not_app_level",
        ),
        (
            json!({"scopes": ["app.view"], "expires_at": "2001-01-01T00:00:00Z"}),
            422,
            "key.expiry_in_past",
        ),
        (
            json!({"scopes": ["app.view"], "expires_at": "soon"}),
            422,
            "field.invalid",
        ),
        (
            json!({"scopes": ["app.view"], "app": "other"}),
            400,
            "request.invalid_body",
        ),
    ] {
        app.post(keys, &oc, body).await.assert_problem(status, code);
    }
    let widen = app
        .post(
            keys,
            &ou,
            json!({"description": "w", "scopes": ["app.view", "models.create"]}),
        )
        .await;
    widen.assert_problem(403, "permission.denied");
    assert_eq!(widen.body["permission"], "models.create");
    app.post(keys, &outsider, json!({"scopes": ["app.view"]}))
        .await
        .assert_problem(404, "not_found");
    let pat = app
        .post(
            "/v1/users/me/keys",
            &oc,
            json!({"description": "p", "scopes": ["all"]}),
        )
        .await;
    let pat = pat.assert_status(201)["token"].as_str().unwrap().to_owned();
    app.post(keys, &pat, json!({"scopes": ["app.view"]}))
        .await
        .assert_problem(403, "key.session_required");
    assert_eq!(app.get(keys, &alice).await.assert_status(200), &json!([]));

    let created = app
        .post(
            keys,
            &oc,
            json!({"description": "ci", "scopes": ["app.view", "models.create"],
                   "expires_at": "2999-01-01T00:00:00Z"}),
        )
        .await;
    let created = created.assert_status(201).clone();
    let token = created["token"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    assert!(token.starts_with("pcl_key_"), "{token}");
    assert_eq!(created["key"]["kind"], "app_key");
    assert_eq!(
        created["key"]["scopes"],
        json!(["models.create", "app.view"])
    );

    // Inside its app, within its scopes.
    app.get("/v1/accounts/acme/apps/vision", &token)
        .await
        .assert_status(200);
    app.post(
        "/v1/accounts/acme/apps/vision/models",
        &token,
        json!({"id": "by-key"}),
    )
    .await
    .assert_status(201);
    let refused = app
        .delete("/v1/accounts/acme/apps/vision/models", &token)
        .await;
    refused.assert_problem(403, "permission.denied");
    assert_eq!(refused.body["permission"], "models.delete_all");
    // Nothing outside it: another app, the org, the creator's account.
    let other = app
        .post(
            "/v1/accounts/acme/apps/other/models",
            &token,
            json!({"id": "escape"}),
        )
        .await;
    assert!(other.status.is_client_error(), "{other:?}");
    let other = app.get("/v1/accounts/acme/apps/other/models", &token).await;
    assert!(other.status.is_client_error(), "{other:?}");
    let created_app = app
        .post(
            "/v1/accounts/acme/apps",
            &token,
            json!({"id": "new", "name": "n"}),
        )
        .await;
    assert!(created_app.status.is_client_error(), "{created_app:?}");
    let listed = app.get("/v1/accounts/acme/apps/other/models", &alice).await;
    assert_eq!(listed.assert_status(200)["items"], json!([]));
    app.get("/v1/accounts/acme/apps/new", &alice)
        .await
        .assert_problem(404, "not_found");
    app.post("/v1/users/me/keys", &token, json!({"scopes": ["app.view"]}))
        .await
        .assert_problem(403, "key.session_required");
    app.post(keys, &token, json!({"scopes": ["app.view"]}))
        .await
        .assert_problem(403, "key.session_required");

    // The check API agrees.
    let ask = |permission: &str, target: &str| {
        json!({"subject": {"token": token}, "permission": permission,
               "resource": {"account": "acme", "app": target}})
    };
    let answer = app
        .post("/v1/check", &alice, ask("models.create", "vision"))
        .await;
    assert_eq!(answer.assert_status(200)["allowed"], true);
    let answer = app
        .post("/v1/check", &alice, ask("models.create", "other"))
        .await;
    assert_eq!(
        answer.assert_status(200)["reason"],
        "credential_bound_elsewhere"
    );
    let answer = app
        .post("/v1/check", &alice, ask("app.delete", "vision"))
        .await;
    assert_eq!(
        answer.assert_status(200)["reason"],
        "scope_excludes_permission"
    );
    let item = json!({"subject": {"token": token}, "permission": "app.view",
                      "resource": {"account": "acme", "app": "vision", "kind": "model", "id": "by-key"}});
    let answer = app.post("/v1/check", &alice, item).await;
    assert_eq!(answer.assert_status(200)["allowed"], true);
    let org = json!({"subject": {"token": token}, "permission": "sidebar.view", "resource": {"org": "acme"}});
    let answer = app.post("/v1/check", &alice, org).await;
    assert_eq!(answer.assert_status(200)["allowed"], false);

    // A key acts as its creator: when the creator loses the grant, so does the key.
    app.put(
        "/v1/orgs/acme/members/oc",
        &alice,
        json!({"role": "org_user"}),
    )
    .await
    .assert_status(200);
    app.post(
        "/v1/accounts/acme/apps/vision/models",
        &token,
        json!({"id": "by-key-2"}),
    )
    .await
    .assert_problem(403, "permission.denied");
    app.put(
        "/v1/orgs/acme/members/oc",
        &alice,
        json!({"role": "org_contributor"}),
    )
    .await
    .assert_status(200);

    // Listing: the creator sees its keys, a holder of collaborators.edit sees all, others none.
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(app.get(keys, &oc).await.assert_status(200)),
        std::slice::from_ref(&key_id)
    );
    assert_eq!(
        ids(app.get(keys, &alice).await.assert_status(200)),
        std::slice::from_ref(&key_id)
    );
    assert!(ids(app.get(keys, &ou).await.assert_status(200)).is_empty());
    app.get(keys, &outsider)
        .await
        .assert_problem(404, "not_found");
    // Revoking: not by others, yes by an app manager; then the key stops working.
    app.delete(&format!("{keys}/{key_id}"), &ou)
        .await
        .assert_problem(404, "not_found");
    app.delete(&format!("{keys}/{key_id}"), &alice)
        .await
        .assert_status(204);
    app.get("/v1/accounts/acme/apps/vision", &token)
        .await
        .assert_problem(401, "auth.required");
    app.delete(&format!("{keys}/{key_id}"), &alice)
        .await
        .assert_problem(404, "not_found");

    // Deleting the app kills its keys.
    let other_key = app
        .post(
            "/v1/accounts/acme/apps/other/keys",
            &oc,
            json!({"scopes": ["app.view"]}),
        )
        .await;
    let other_key = other_key.assert_status(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get("/v1/accounts/acme/apps/other", &other_key)
        .await
        .assert_status(200);
    app.delete("/v1/accounts/acme/apps/other", &alice)
        .await
        .assert_status(204);
    app.get("/v1/accounts/acme/apps/vision", &other_key)
        .await
        .assert_problem(401, "auth.required");

    let codes = successful_codes(&app, "acme").await;
    assert_eq!(codes.iter().filter(|c| **c == 2012).count(), 2, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 2013).count(), 1, "{codes:?}");
}
