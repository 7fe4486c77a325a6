//! Collaborators (members of the org or not), their grants in decisions and explanations, the
//! apps a user collaborates on, and the transfer of a personal app into an organization.

use serde_json::json;

use crate::api::helpers::spawn_app;
use crate::api::resources::successful_codes;
use crate::api::teams::{create_app, join};

#[tokio::test]
async fn collaborators_grant_app_permissions_and_show_in_explanations() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let ou = join(&app, &alice, "acme", "ou", "org_user").await;
    let fin = join(&app, &alice, "acme", "fin", "financial_manager").await;
    let carol = app.user("carol").await;
    app.user("dave").await;
    create_app(&app, &alice, "acme", "vision", "private").await;
    let base = "/v1/accounts/acme/apps/vision";
    let collaborator = |user: &str| format!("{base}/collaborators/{user}");

    app.get(base, &carol).await.assert_problem(404, "not_found");
    // Bad input changes nothing.
    for (permissions, code) in [
        (
            json!(["app.view", "app.delete"]),
            "collaborator.forbidden_permission",
        ),
        (json!(["app.edit_id"]), "collaborator.forbidden_permission"),
        (
            json!(["app.change_visibility"]),
            "collaborator.forbidden_permission",
        ),
        (json!(["members.manage"]), "collaborator.not_app_level"),
        (json!(["all"]), "collaborator.unknown_permission"),
        (json!(["app.fly"]), "collaborator.unknown_permission"),
        (json!([]), "collaborator.permissions_required"),
    ] {
        let reply = app
            .put(
                &collaborator("carol"),
                &alice,
                json!({"permissions": permissions}),
            )
            .await;
        reply.assert_problem(422, code);
        assert_eq!(reply.body["field"], "permissions");
    }
    app.put(
        &collaborator("nobody"),
        &alice,
        json!({"permissions": ["app.view"]}),
    )
    .await
    .assert_problem(404, "not_found");
    app.put(
        &collaborator("acme"),
        &alice,
        json!({"permissions": ["app.view"]}),
    )
    .await
    .assert_problem(404, "not_found");
    app.put(
        &collaborator("carol"),
        &alice,
        json!({"permissions": "app.view"}),
    )
    .await
    .assert_problem(400, "request.invalid_body");
    let listed = app.get(&format!("{base}/collaborators"), &alice).await;
    assert_eq!(listed.assert_status(200), &json!([]));

    // A user outside the org.
    let set = app
        .put(
            &collaborator("carol"),
            &alice,
            json!({"permissions": ["models.create", "app.view", "collaborators.edit"]}),
        )
        .await;
    assert_eq!(
        set.assert_status(200)["permissions"],
        json!(["models.create", "collaborators.edit", "app.view"])
    );
    app.get(base, &carol).await.assert_status(200);
    app.post(&format!("{base}/models"), &carol, json!({"id": "by-carol"}))
        .await
        .assert_status(201);
    app.delete(&format!("{base}/models"), &carol)
        .await
        .assert_problem(403, "permission.denied");
    app.delete(base, &carol)
        .await
        .assert_problem(403, "permission.denied");
    let ask = json!({"subject": {"user": "carol"}, "permission": "models.create",
                     "resource": {"account": "acme", "app": "vision"}});
    let answer = app.post("/v1/check", &alice, ask).await;
    let body = answer.assert_status(200);
    assert_eq!(body["allowed"], true);
    assert_eq!(body["via"], json!(["collaborator"]));
    let mine = app.get("/v1/users/me/collaborations", &carol).await;
    let mine = mine.assert_status(200);
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["account"], "acme");
    assert_eq!(mine[0]["app"], "vision");
    assert_eq!(
        mine[0]["permissions"],
        json!(["models.create", "collaborators.edit", "app.view"])
    );
    // A collaborator with `collaborators.edit` grants only what it holds itself.
    let widen = app
        .put(
            &collaborator("carol"),
            &carol,
            json!({"permissions": ["app.view", "collaborators.edit", "models.delete_all"]}),
        )
        .await;
    widen.assert_problem(403, "permission.denied");
    assert_eq!(widen.body["permission"], "models.delete_all");
    app.put(
        &collaborator("dave"),
        &carol,
        json!({"permissions": ["app.view"]}),
    )
    .await
    .assert_status(200);

    // A collaborator may hold an app key for the app; bound to it, the key lists only that
    // collaboration.
    create_app(&app, &alice, "acme", "second", "private").await;
    app.put(
        "/v1/accounts/acme/apps/second/collaborators/carol",
        &alice,
        json!({"permissions": ["app.view"]}),
    )
    .await
    .assert_status(200);
    let key = app
        .post(
            &format!("{base}/keys"),
            &carol,
            json!({"scopes": ["app.view"]}),
        )
        .await;
    let key = key.assert_status(201)["token"].as_str().unwrap().to_owned();
    let all = app.get("/v1/users/me/collaborations", &carol).await;
    assert_eq!(all.assert_status(200).as_array().unwrap().len(), 2);
    let bound = app.get("/v1/users/me/collaborations", &key).await;
    let bound = bound.assert_status(200);
    assert_eq!(bound.as_array().unwrap().len(), 1);
    assert_eq!(bound[0]["app"], "vision");
    app.delete("/v1/accounts/acme/apps/second", &alice)
        .await
        .assert_status(204);

    // An org member can be a collaborator too: the grants add up.
    app.post(&format!("{base}/models"), &ou, json!({"id": "by-ou"}))
        .await
        .assert_problem(403, "permission.denied");
    app.put(
        &collaborator("ou"),
        &alice,
        json!({"permissions": ["models.create"]}),
    )
    .await
    .assert_status(200);
    app.post(&format!("{base}/models"), &ou, json!({"id": "by-ou"}))
        .await
        .assert_status(201);
    let ask = json!({"subject": {"user": "ou"}, "permission": "app.view",
                     "resource": {"account": "acme", "app": "vision"}});
    let answer = app.post("/v1/check", &alice, ask).await;
    // (Any collaboration implies seeing the app.)
    assert_eq!(
        answer.assert_status(200)["via"],
        json!(["role:org_user", "collaborator"])
    );
    // Replacing a grant (701).
    app.put(
        &collaborator("ou"),
        &alice,
        json!({"permissions": ["models.delete_all"]}),
    )
    .await
    .assert_status(200);
    app.post(&format!("{base}/models"), &ou, json!({"id": "by-ou-2"}))
        .await
        .assert_problem(403, "permission.denied");

    // Listing: org users hold collaborators.view; a financial manager does not see the app.
    let listed = app.get(&format!("{base}/collaborators"), &ou).await;
    let users: Vec<_> = listed
        .assert_status(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["user"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(users, ["carol", "dave", "ou"]);
    app.get(&format!("{base}/collaborators"), &fin)
        .await
        .assert_problem(404, "not_found");
    app.delete(&collaborator("dave"), &ou)
        .await
        .assert_problem(403, "permission.denied");

    // Removing.
    app.delete(&collaborator("carol"), &alice)
        .await
        .assert_status(204);
    app.get(base, &carol).await.assert_problem(404, "not_found");
    app.delete(&collaborator("carol"), &alice)
        .await
        .assert_problem(404, "not_found");
    let mine = app.get("/v1/users/me/collaborations", &carol).await;
    assert_eq!(mine.assert_status(200), &json!([]));

    // Deleting the app removes its collaborations.
    app.delete(base, &alice).await.assert_status(204);
    let mine = app.get("/v1/users/me/collaborations", &ou).await;
    assert_eq!(mine.assert_status(200), &json!([]));

    let codes = successful_codes(&app, "acme").await;
    for code in [700, 701, 702] {
        assert!(codes.contains(&code), "audit {code} missing from {codes:?}");
    }
    assert_eq!(codes.iter().filter(|c| **c == 700).count(), 4, "{codes:?}");
}

#[tokio::test]
async fn personal_apps_take_collaborators_and_transfer_into_an_org() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let bob = join(&app, &alice, "acme", "bob", "org_user").await;
    let carol = app.user("carol").await;
    app.user("zed").await;

    create_app(&app, &alice, "alice", "diary", "private").await;
    let base = "/v1/accounts/alice/apps/diary";
    app.post(
        &format!("{base}/models"),
        &alice,
        json!({"id": "m1", "visibility": "public"}),
    )
    .await
    .assert_status(201);
    app.post(&format!("{base}/workflows"), &alice, json!({"id": "w1"}))
        .await
        .assert_status(201);
    app.post(&format!("{base}/modules"), &alice, json!({"id": "mod1"}))
        .await
        .assert_status(201);
    app.patch(base, &alice, json!({"base_workflow": "w1"}))
        .await
        .assert_status(200);
    app.put(
        &format!("{base}/collaborators/carol"),
        &alice,
        json!({"permissions": ["app.view", "models.create"]}),
    )
    .await
    .assert_status(200);
    app.get(&format!("{base}/models/m1"), &carol)
        .await
        .assert_status(200);
    let ask = json!({"subject": {"user": "alice"}, "permission": "app.view",
                     "resource": {"account": "alice", "app": "diary"}});
    let answer = app.post("/v1/check", &alice, ask).await;
    assert_eq!(answer.assert_status(200)["via"], json!(["owner"]));

    // Only the owner transfers; only into an org where it holds apps.create.
    let transfer = format!("{base}/transfer");
    app.post(&transfer, &carol, json!({"org": "acme"}))
        .await
        .assert_problem(403, "app.transfer_owner_only");
    app.post(&transfer, &bob, json!({"org": "acme"}))
        .await
        .assert_problem(404, "not_found");
    create_app(&app, &bob, "bob", "notes", "private").await;
    let refused = app
        .post(
            "/v1/accounts/bob/apps/notes/transfer",
            &bob,
            json!({"org": "acme"}),
        )
        .await;
    refused.assert_problem(403, "permission.denied");
    assert_eq!(refused.body["permission"], "apps.create");
    let zed_org = app.user("zed-admin").await;
    app.org(&zed_org, "zedcorp").await;
    app.post(&transfer, &alice, json!({"org": "zedcorp"}))
        .await
        .assert_problem(404, "not_found");
    app.post(&transfer, &alice, json!({"org": "nowhere"}))
        .await
        .assert_problem(404, "not_found");
    app.post(&transfer, &alice, json!({"org": "acme", "x": 1}))
        .await
        .assert_problem(400, "request.invalid_body");
    // An org app with the same id is a conflict.
    create_app(&app, &alice, "acme", "Diary", "private").await;
    app.post(&transfer, &alice, json!({"org": "acme"}))
        .await
        .assert_problem(409, "conflict");
    app.get(base, &alice).await.assert_status(200);
    app.delete("/v1/accounts/acme/apps/diary", &alice)
        .await
        .assert_status(204);
    // An org app cannot be "transferred" again.
    create_app(&app, &alice, "acme", "shared", "private").await;
    app.post(
        "/v1/accounts/acme/apps/shared/transfer",
        &alice,
        json!({"org": "acme"}),
    )
    .await
    .assert_problem(403, "app.transfer_owner_only");

    let moved = app.post(&transfer, &alice, json!({"org": "acme"})).await;
    let moved = moved.assert_status(200);
    assert_eq!(moved["owner"], "acme");
    assert_eq!(moved["base_workflow"], "w1");
    app.get(base, &alice).await.assert_problem(404, "not_found");
    let new_base = "/v1/accounts/acme/apps/diary";
    for item in ["models/m1", "workflows/w1", "modules/mod1"] {
        app.get(&format!("{new_base}/{item}"), &alice)
            .await
            .assert_status(200);
    }
    // Org members now reach it through their role; the collaborator keeps its grant.
    app.get(&format!("{new_base}/models/m1"), &bob)
        .await
        .assert_status(200);
    app.post(&format!("{new_base}/models"), &carol, json!({"id": "m2"}))
        .await
        .assert_status(201);
    let ask = json!({"subject": {"user": "alice"}, "permission": "app.delete",
                     "resource": {"account": "acme", "app": "diary"}});
    let answer = app.post("/v1/check", &alice, ask).await;
    assert_eq!(answer.assert_status(200)["via"], json!(["role:admin"]));
    let codes = successful_codes(&app, "acme").await;
    assert!(codes.contains(&603), "{codes:?}");
}
