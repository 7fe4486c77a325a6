//! Teams: lifecycle, members (org members only), apps (org apps only), permissions, audit.

use reqwest::Method;
use serde_json::{Value, json};

use crate::api::helpers::{TestApp, spawn_app};

/// Signs `id` up and brings it into `org` in `role` through an invitation from `admin`;
/// returns its session token.
pub async fn join(app: &TestApp, admin: &str, org: &str, id: &str, role: &str) -> String {
    let token = app.user(id).await;
    crate::api::helpers::invite_and_accept(app, admin, org, &token, id, role).await;
    token
}

/// Creates app `id` in `account` (visibility as given) as the holder of `token`.
pub async fn create_app(
    app: &TestApp,
    token: &str,
    account: &str,
    id: &str,
    visibility: &str,
) -> Value {
    app.post(
        &format!("/v1/accounts/{account}/apps"),
        token,
        json!({"id": id, "name": format!("App {id}"), "visibility": visibility}),
    )
    .await
    .assert_status(201)
    .clone()
}

/// The audit operation codes recorded for `org`, oldest first.
pub async fn audit_codes(app: &TestApp, org: &str) -> Vec<i64> {
    let key = app.service.resolve_org(org).unwrap();
    app.service
        .store()
        .audit_entries(Some(key))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.operation)
        .collect()
}

#[tokio::test]
async fn team_lifecycle_and_input_errors() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;

    let created = app
        .post(
            "/v1/orgs/acme/teams",
            &alice,
            json!({"id": "ML-Team", "name": "Machine learning"}),
        )
        .await;
    let body = created.assert_status(201);
    assert_eq!(body["id"], "ML-Team");
    assert_eq!(body["default_role"], "full_access");

    // Ids are unique per org, case-insensitively.
    app.post(
        "/v1/orgs/acme/teams",
        &alice,
        json!({"id": "ml-team", "name": "Dup"}),
    )
    .await
    .assert_problem(409, "conflict");
    app.post(
        "/v1/orgs/acme/teams",
        &alice,
        json!({"id": "bad id", "name": "x"}),
    )
    .await
    .assert_problem(422, "id.invalid");
    app.post(
        "/v1/orgs/acme/teams",
        &alice,
        json!({"id": "t", "name": "x", "default_role": "boss"}),
    )
    .await
    .assert_problem(422, "field.invalid");
    app.post(
        "/v1/orgs/acme/teams",
        &alice,
        json!({"id": "t", "name": "x".repeat(201)}),
    )
    .await
    .assert_problem(422, "field.too_long");
    app.post(
        "/v1/orgs/acme/teams",
        &alice,
        json!({"id": "t", "name": "  "}),
    )
    .await
    .assert_problem(422, "field.required");
    app.post(
        "/v1/orgs/acme/teams",
        &alice,
        json!({"id": "t", "name": "x", "colour": "red"}),
    )
    .await
    .assert_problem(400, "request.invalid_body");
    app.post(
        "/v1/orgs/nope/teams",
        &alice,
        json!({"id": "t", "name": "x"}),
    )
    .await
    .assert_problem(404, "not_found");

    let labelers = app
        .post(
            "/v1/orgs/acme/teams",
            &alice,
            json!({"id": "labelers", "name": "Labelers", "default_role": "labeler_worker"}),
        )
        .await;
    assert_eq!(
        labelers.assert_status(201)["default_role"],
        "labeler_worker"
    );

    let list = app.get("/v1/orgs/acme/teams", &alice).await;
    let ids: Vec<&str> = list.assert_status(200)["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["labelers", "ML-Team"]);

    let team = app.get("/v1/orgs/acme/teams/ml-team", &alice).await;
    let team = team.assert_status(200);
    assert_eq!(team["members"], json!([]));
    assert_eq!(team["apps"], json!([]));

    let updated = app
        .patch(
            "/v1/orgs/acme/teams/ML-Team",
            &alice,
            json!({"name": "ML", "default_role": "model_trainer"}),
        )
        .await;
    assert_eq!(updated.assert_status(200)["default_role"], "model_trainer");
    assert_eq!(updated.body["name"], "ML");
    app.patch("/v1/orgs/acme/teams/ML-Team", &alice, json!({}))
        .await
        .assert_problem(422, "field.required");
    app.patch(
        "/v1/orgs/acme/teams/ML-Team",
        &alice,
        json!({"default_role": "root"}),
    )
    .await
    .assert_problem(422, "field.invalid");
    app.patch(
        "/v1/orgs/acme/teams/ML-Team",
        &alice,
        json!({"id": "Labelers"}),
    )
    .await
    .assert_problem(409, "conflict");
    app.patch("/v1/orgs/acme/teams/ghost", &alice, json!({"name": "x"}))
        .await
        .assert_problem(404, "not_found");

    // Renaming the id moves the team.
    app.patch("/v1/orgs/acme/teams/ML-Team", &alice, json!({"id": "ml"}))
        .await
        .assert_status(200);
    app.get("/v1/orgs/acme/teams/ML-Team", &alice)
        .await
        .assert_problem(404, "not_found");
    assert_eq!(
        app.get("/v1/orgs/acme/teams/ml", &alice)
            .await
            .assert_status(200)["name"],
        "ML"
    );

    app.delete("/v1/orgs/acme/teams/ml", &alice)
        .await
        .assert_status(204);
    app.get("/v1/orgs/acme/teams/ml", &alice)
        .await
        .assert_problem(404, "not_found");
    app.delete("/v1/orgs/acme/teams/ml", &alice)
        .await
        .assert_problem(404, "not_found");
    // The id is free again.
    app.post(
        "/v1/orgs/acme/teams",
        &alice,
        json!({"id": "ml", "name": "Again"}),
    )
    .await
    .assert_status(201);

    let codes = audit_codes(&app, "acme").await;
    for code in [107, 108, 109] {
        assert!(codes.contains(&code), "audit codes {codes:?} lack {code}");
    }
    let update = app
        .service
        .store()
        .audit_entries(Some(app.service.resolve_org("acme").unwrap()))
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.operation == 108)
        .unwrap();
    let details: Value = serde_json::from_str(&update.details).unwrap();
    assert_eq!(details["before"]["default_role"], "full_access");
    assert_eq!(details["after"]["default_role"], "model_trainer");
}

#[tokio::test]
async fn team_members_and_apps() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    join(&app, &alice, "acme", "bob", "team_contributor").await;
    app.user("carol").await;
    create_app(&app, &alice, "acme", "vision", "private").await;
    app.post(
        "/v1/orgs/acme/teams",
        &alice,
        json!({"id": "ml", "name": "ML"}),
    )
    .await
    .assert_status(201);

    app.put("/v1/orgs/acme/teams/ml/members/bob", &alice, json!({}))
        .await
        .assert_status(200);
    // Idempotent.
    let again = app
        .put("/v1/orgs/acme/teams/ML/members/BOB", &alice, json!({}))
        .await;
    assert_eq!(
        again.assert_status(200),
        &json!({"team": "ml", "user": "bob"})
    );
    // Only members of the organization, and an unknown user looks the same as an outsider.
    let outsider = app
        .put("/v1/orgs/acme/teams/ml/members/carol", &alice, json!({}))
        .await;
    outsider.assert_problem(422, "team.not_org_member");
    assert_eq!(outsider.body["field"], "user");
    app.put("/v1/orgs/acme/teams/ml/members/ghost", &alice, json!({}))
        .await
        .assert_problem(422, "team.not_org_member");
    app.put("/v1/orgs/acme/teams/nope/members/bob", &alice, json!({}))
        .await
        .assert_problem(404, "not_found");

    // The role defaults to the team's default role; setting again updates it.
    let linked = app
        .request(
            Method::PUT,
            "/v1/orgs/acme/teams/ml/apps/vision",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(linked.assert_status(200)["role"], "full_access");
    let relinked = app
        .put(
            "/v1/orgs/acme/teams/ml/apps/VISION",
            &alice,
            json!({"role": "labeler_worker"}),
        )
        .await;
    assert_eq!(relinked.assert_status(200)["role"], "labeler_worker");
    assert_eq!(relinked.body["app"], "vision");
    app.put(
        "/v1/orgs/acme/teams/ml/apps/vision",
        &alice,
        json!({"role": "god"}),
    )
    .await
    .assert_problem(422, "field.invalid");
    app.put("/v1/orgs/acme/teams/ml/apps/nope", &alice, json!({}))
        .await
        .assert_problem(404, "not_found");
    app.put(
        "/v1/orgs/acme/teams/ml/apps/vision",
        &alice,
        json!({"rol": "x"}),
    )
    .await
    .assert_problem(400, "request.invalid_body");

    let team = app.get("/v1/orgs/acme/teams/ml", &alice).await;
    let team = team.assert_status(200);
    assert_eq!(team["members"], json!(["bob"]));
    assert_eq!(
        team["apps"],
        json!([{"app": "vision", "role": "labeler_worker"}])
    );

    app.delete("/v1/orgs/acme/teams/ml/apps/vision", &alice)
        .await
        .assert_status(204);
    app.delete("/v1/orgs/acme/teams/ml/apps/vision", &alice)
        .await
        .assert_problem(404, "not_found");
    app.delete("/v1/orgs/acme/teams/ml/members/bob", &alice)
        .await
        .assert_status(204);
    app.delete("/v1/orgs/acme/teams/ml/members/bob", &alice)
        .await
        .assert_problem(404, "not_found");
    let team = app.get("/v1/orgs/acme/teams/ml", &alice).await;
    assert_eq!(team.assert_status(200)["members"], json!([]));
    assert_eq!(team.body["apps"], json!([]));

    let codes = audit_codes(&app, "acme").await;
    for code in [110, 111, 112, 113] {
        assert!(codes.contains(&code), "audit codes {codes:?} lack {code}");
    }
    // The idempotent repeat added no second entry.
    assert_eq!(codes.iter().filter(|c| **c == 110).count(), 1);
}

#[tokio::test]
async fn team_permissions_follow_the_matrix() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let contributor = join(&app, &alice, "acme", "oc", "org_contributor").await;
    let team_contributor = join(&app, &alice, "acme", "tc", "team_contributor").await;
    let org_user = join(&app, &alice, "acme", "ou", "org_user").await;
    let outsider = app.user("mallory").await;
    create_app(&app, &alice, "acme", "vision", "private").await;
    app.post(
        "/v1/orgs/acme/teams",
        &alice,
        json!({"id": "ml", "name": "ML"}),
    )
    .await
    .assert_status(201);

    // Every member reads teams; outsiders cannot tell the org or team exists.
    for token in [&team_contributor, &org_user, &contributor] {
        app.get("/v1/orgs/acme/teams", token)
            .await
            .assert_status(200);
        app.get("/v1/orgs/acme/teams/ml", token)
            .await
            .assert_status(200);
    }
    app.get("/v1/orgs/acme/teams", &outsider)
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/orgs/acme/teams/ml", &outsider)
        .await
        .assert_problem(404, "not_found");
    app.post(
        "/v1/orgs/acme/teams",
        &outsider,
        json!({"id": "x", "name": "x"}),
    )
    .await
    .assert_problem(404, "not_found");
    app.request(Method::GET, "/v1/orgs/acme/teams", None, None)
        .await
        .assert_problem(401, "auth.required");

    // Roles without the permission are refused with 403 naming it, and nothing changes.
    for token in [&team_contributor, &org_user] {
        let denied = app
            .post(
                "/v1/orgs/acme/teams",
                token,
                json!({"id": "x", "name": "x"}),
            )
            .await;
        denied.assert_problem(403, "permission.denied");
        assert_eq!(denied.body["permission"], "teams.manage");
        let denied = app
            .patch("/v1/orgs/acme/teams/ml", token, json!({"name": "Hijacked"}))
            .await;
        assert_eq!(denied.body["permission"], "teams.manage");
        app.delete("/v1/orgs/acme/teams/ml", token)
            .await
            .assert_problem(403, "permission.denied");
        let denied = app
            .put("/v1/orgs/acme/teams/ml/members/tc", token, json!({}))
            .await;
        assert_eq!(denied.body["permission"], "teams.add_members");
        let denied = app
            .put("/v1/orgs/acme/teams/ml/apps/vision", token, json!({}))
            .await;
        assert_eq!(denied.body["permission"], "teams.add_apps");
    }
    let team = app.get("/v1/orgs/acme/teams/ml", &alice).await;
    let team = team.assert_status(200);
    assert_eq!(team["name"], "ML");
    assert_eq!(team["members"], json!([]));
    assert_eq!(team["apps"], json!([]));
    assert_eq!(
        app.get("/v1/orgs/acme/teams", &alice).await.body["teams"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // An organization contributor holds all three team permissions.
    app.post(
        "/v1/orgs/acme/teams",
        &contributor,
        json!({"id": "cv", "name": "CV"}),
    )
    .await
    .assert_status(201);
    app.patch(
        "/v1/orgs/acme/teams/cv",
        &contributor,
        json!({"name": "Vision"}),
    )
    .await
    .assert_status(200);
    app.put("/v1/orgs/acme/teams/cv/members/tc", &contributor, json!({}))
        .await
        .assert_status(200);
    app.put(
        "/v1/orgs/acme/teams/cv/apps/vision",
        &contributor,
        json!({}),
    )
    .await
    .assert_status(200);
    app.delete("/v1/orgs/acme/teams/cv/apps/vision", &contributor)
        .await
        .assert_status(204);
    app.delete("/v1/orgs/acme/teams/cv/members/tc", &contributor)
        .await
        .assert_status(204);
    app.delete("/v1/orgs/acme/teams/cv", &contributor)
        .await
        .assert_status(204);
}

#[tokio::test]
async fn apps_of_other_accounts_cannot_join_a_team() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let other = app.user("olga").await;
    app.org(&alice, "acme").await;
    app.org(&alice, "globex").await;
    app.org(&other, "initech").await;
    create_app(&app, &alice, "globex", "radar", "private").await;
    create_app(&app, &alice, "alice", "mine", "private").await;
    create_app(&app, &other, "initech", "secret", "private").await;
    app.post(
        "/v1/orgs/acme/teams",
        &alice,
        json!({"id": "ml", "name": "ML"}),
    )
    .await
    .assert_status(201);

    // Named within this org, another org's app does not exist here.
    app.put("/v1/orgs/acme/teams/ml/apps/radar", &alice, json!({}))
        .await
        .assert_problem(404, "not_found");
    // Named with its owner, it is refused for what it is.
    let refused = app
        .put(
            "/v1/orgs/acme/teams/ml/apps/radar",
            &alice,
            json!({"account": "globex"}),
        )
        .await;
    refused.assert_problem(422, "team.app_not_in_org");
    app.put(
        "/v1/orgs/acme/teams/ml/apps/mine",
        &alice,
        json!({"account": "alice"}),
    )
    .await
    .assert_problem(422, "team.app_not_in_org");
    // An app the caller cannot see stays hidden.
    app.put(
        "/v1/orgs/acme/teams/ml/apps/secret",
        &alice,
        json!({"account": "initech"}),
    )
    .await
    .assert_problem(404, "not_found");
    // Naming this org as the owner is the default case.
    create_app(&app, &alice, "acme", "vision", "private").await;
    app.put(
        "/v1/orgs/acme/teams/ml/apps/vision",
        &alice,
        json!({"account": "ACME"}),
    )
    .await
    .assert_status(200);

    let team = app.get("/v1/orgs/acme/teams/ml", &alice).await;
    assert_eq!(
        team.assert_status(200)["apps"],
        json!([{"app": "vision", "role": "full_access"}])
    );
}

#[tokio::test]
async fn team_membership_grants_its_apps_to_a_team_contributor() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let bob = join(&app, &alice, "acme", "bob", "team_contributor").await;
    create_app(&app, &alice, "acme", "vision", "private").await;
    app.post(
        "/v1/orgs/acme/teams",
        &alice,
        json!({"id": "ml", "name": "ML"}),
    )
    .await
    .assert_status(201);
    app.put("/v1/orgs/acme/teams/ml/apps/vision", &alice, json!({}))
        .await
        .assert_status(200);

    app.get("/v1/accounts/acme/apps/vision", &bob)
        .await
        .assert_problem(404, "not_found");
    app.put("/v1/orgs/acme/teams/ml/members/bob", &alice, json!({}))
        .await
        .assert_status(200);
    app.get("/v1/accounts/acme/apps/vision", &bob)
        .await
        .assert_status(200);
    // Deleting the team takes the grant away at once.
    app.delete("/v1/orgs/acme/teams/ml", &alice)
        .await
        .assert_status(204);
    app.get("/v1/accounts/acme/apps/vision", &bob)
        .await
        .assert_problem(404, "not_found");
}

/// Read-your-writes: a role change, a team change and a grant are each seen
/// by the very next check, in both directions, with no consistency token.
#[tokio::test]
async fn every_access_write_is_visible_to_the_very_next_check() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    join(&app, &alice, "acme", "bob", "team_contributor").await;
    create_app(&app, &alice, "acme", "vision", "private").await;
    for team in ["ml", "ops"] {
        app.post(
            "/v1/orgs/acme/teams",
            &alice,
            json!({"id": team, "name": team}),
        )
        .await
        .assert_status(201);
    }
    app.put(
        "/v1/orgs/acme/teams/ml/apps/vision",
        &alice,
        json!({"role": "model_trainer"}),
    )
    .await
    .assert_status(200);
    app.put("/v1/orgs/acme/teams/ops/members/bob", &alice, json!({}))
        .await
        .assert_status(200);
    let ask = json!({"subject": {"user": "bob"}, "permission": "models.create",
                     "resource": {"account": "acme", "app": "vision"}});
    let allowed = async || {
        app.post("/v1/check", &alice, ask.clone())
            .await
            .assert_status(200)["allowed"]
            .as_bool()
            .unwrap()
    };
    assert!(!allowed().await);
    for round in 0..3 {
        // Role change.
        app.put(
            "/v1/orgs/acme/members/bob",
            &alice,
            json!({"role": "org_contributor"}),
        )
        .await
        .assert_status(200);
        assert!(allowed().await, "round {round}: role change up");
        app.put(
            "/v1/orgs/acme/members/bob",
            &alice,
            json!({"role": "team_contributor"}),
        )
        .await
        .assert_status(200);
        assert!(!allowed().await, "round {round}: role change down");
        // Team change.
        app.put("/v1/orgs/acme/teams/ml/members/bob", &alice, json!({}))
            .await
            .assert_status(200);
        assert!(
            allowed().await,
            "round {round}: joined a team holding the app"
        );
        app.delete("/v1/orgs/acme/teams/ml/members/bob", &alice)
            .await
            .assert_status(204);
        assert!(!allowed().await, "round {round}: left the team");
        // Grant to a team bob is in.
        app.put(
            "/v1/orgs/acme/teams/ops/apps/vision",
            &alice,
            json!({"role": "model_trainer"}),
        )
        .await
        .assert_status(200);
        assert!(allowed().await, "round {round}: app granted to bob's team");
        app.delete("/v1/orgs/acme/teams/ops/apps/vision", &alice)
            .await
            .assert_status(204);
        assert!(!allowed().await, "round {round}: grant taken back");
    }
}
