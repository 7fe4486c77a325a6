//! Apps: lifecycle, limits, per-field edit permissions, visibility, personal apps, cascades,
//! pagination.

use reqwest::Method;
use serde_json::{Value, json};

use crate::api::helpers::{TestApp, spawn_app};
use crate::api::teams::{audit_codes, create_app, join};

async fn anonymous_get(app: &TestApp, path: &str) -> crate::api::helpers::Reply {
    app.request(Method::GET, path, None, None).await
}

fn ids(list: &Value) -> Vec<String> {
    list["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn app_lifecycle_limits_and_errors() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;

    let created = app
        .post(
            "/v1/accounts/acme/apps",
            &alice,
            json!({"id": "Vision", "name": "Vision", "description": "sees things", "notes": "# Notes\n\nline two"}),
        )
        .await;
    let body = created.assert_status(201);
    assert_eq!(body["id"], "Vision");
    assert_eq!(body["owner"], "acme");
    assert_eq!(body["visibility"], "private");
    assert_eq!(body["base_workflow"], Value::Null);
    assert_eq!(body["notes"], "# Notes\n\nline two");
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));

    let post = |body: Value| app.post("/v1/accounts/acme/apps", &alice, body);
    post(json!({"id": "vision", "name": "Dup"}))
        .await
        .assert_problem(409, "conflict");
    post(json!({"id": "no way", "name": "x"}))
        .await
        .assert_problem(422, "id.invalid");
    post(json!({"id": "a1", "name": ""}))
        .await
        .assert_problem(422, "field.required");
    for (field, body) in [
        ("name", json!({"id": "a1", "name": "n".repeat(201)})),
        (
            "description",
            json!({"id": "a1", "name": "x", "description": "d".repeat(2001)}),
        ),
        (
            "notes",
            json!({"id": "a1", "name": "x", "notes": "n".repeat(65537)}),
        ),
    ] {
        let reply = post(body).await;
        reply.assert_problem(422, "field.too_long");
        assert_eq!(reply.body["field"], field);
    }
    // Multi-byte characters count as bytes against the 64 KiB notes limit.
    post(json!({"id": "a1", "name": "x", "notes": "é".repeat(32769)}))
        .await
        .assert_problem(422, "field.too_long");
    post(json!({"id": "a1", "name": "x", "notes": "nul\u{0}"}))
        .await
        .assert_problem(422, "field.invalid");
    post(json!({"id": "a1", "name": "x", "visibility": "secret"}))
        .await
        .assert_problem(422, "field.invalid");
    post(json!({"id": "a1", "name": "x", "owner": "me"}))
        .await
        .assert_problem(400, "request.invalid_body");
    app.post(
        "/v1/accounts/nobody/apps",
        &alice,
        json!({"id": "a1", "name": "x"}),
    )
    .await
    .assert_problem(404, "not_found");
    app.request(
        Method::POST,
        "/v1/accounts/acme/apps",
        None,
        Some(json!({"id": "a1", "name": "x"})),
    )
    .await
    .assert_problem(401, "auth.required");
    // At the limits exactly, it works.
    let big = post(json!({"id": "big", "name": "n".repeat(200), "description": "d".repeat(2000), "notes": "n".repeat(65536)})).await;
    assert_eq!(
        big.assert_status(201)["notes"].as_str().unwrap().len(),
        65536
    );
    let listed = app.get("/v1/accounts/acme/apps", &alice).await;
    assert_eq!(ids(listed.assert_status(200)), ["big", "Vision"]);

    assert_eq!(
        app.get("/v1/accounts/ACME/apps/vision", &alice)
            .await
            .assert_status(200)["description"],
        "sees things"
    );

    let patch = |body: Value| app.patch("/v1/accounts/acme/apps/vision", &alice, body);
    // The base workflow must be one of the app's workflows.
    patch(json!({"base_workflow": "wf-1"}))
        .await
        .assert_problem(422, "app.unknown_workflow");
    app.post(
        "/v1/accounts/acme/apps/vision/workflows",
        &alice,
        json!({"id": "wf-1"}),
    )
    .await
    .assert_status(201);
    let updated = patch(
        json!({"description": "new", "notes": "", "visibility": "org", "base_workflow": "wf-1"}),
    )
    .await;
    let body = updated.assert_status(200);
    assert_eq!(body["description"], "new");
    assert_eq!(body["notes"], "");
    assert_eq!(body["visibility"], "org");
    assert_eq!(body["base_workflow"], "wf-1");
    // Absent keeps the base workflow, null clears it.
    assert_eq!(
        patch(json!({"description": "newer"}))
            .await
            .assert_status(200)["base_workflow"],
        "wf-1"
    );
    assert_eq!(
        patch(json!({"base_workflow": null}))
            .await
            .assert_status(200)["base_workflow"],
        Value::Null
    );
    patch(json!({"base_workflow": "not a workflow"}))
        .await
        .assert_problem(422, "id.invalid");
    patch(json!({})).await.assert_problem(422, "field.required");
    patch(json!({"name": "x"}))
        .await
        .assert_problem(400, "request.invalid_body");
    patch(json!({"visibility": "everyone"}))
        .await
        .assert_problem(422, "field.invalid");
    patch(json!({"description": "d".repeat(2001)}))
        .await
        .assert_problem(422, "field.too_long");
    patch(json!({"id": "BIG"}))
        .await
        .assert_problem(409, "conflict");
    // A refused edit changed nothing, not even the fields that were valid.
    let before = app.get("/v1/accounts/acme/apps/vision", &alice).await.body;
    patch(json!({"description": "sneaky", "visibility": "everyone"}))
        .await
        .assert_problem(422, "field.invalid");
    assert_eq!(
        app.get("/v1/accounts/acme/apps/vision", &alice).await.body,
        before
    );

    let renamed = patch(json!({"id": "sight"})).await;
    assert_eq!(renamed.assert_status(200)["id"], "sight");
    app.get("/v1/accounts/acme/apps/vision", &alice)
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/accounts/acme/apps/sight", &alice)
        .await
        .assert_status(200);

    app.delete("/v1/accounts/acme/apps/sight", &alice)
        .await
        .assert_status(204);
    app.get("/v1/accounts/acme/apps/sight", &alice)
        .await
        .assert_problem(404, "not_found");
    app.delete("/v1/accounts/acme/apps/sight", &alice)
        .await
        .assert_problem(404, "not_found");

    let codes = audit_codes(&app, "acme").await;
    for code in [600, 601, 602] {
        assert!(codes.contains(&code), "audit codes {codes:?} lack {code}");
    }
    let key = app.service.resolve_org("acme").unwrap();
    let entries = app.service.store().audit_entries(Some(key)).await.unwrap();
    let first_update = entries.iter().find(|e| e.operation == 601).unwrap();
    let details: Value = serde_json::from_str(&first_update.details).unwrap();
    assert_eq!(details["before"]["description"], "sees things");
    assert_eq!(details["after"]["visibility"], "org");
    assert!(
        details["after"].get("id").is_none(),
        "unchanged fields are not recorded: {details}"
    );
}

/// For each gated PATCH field: a role that lacks its permission is refused with 403 naming
/// it and the app is unchanged; a role that holds it succeeds.
#[tokio::test]
async fn each_patch_field_is_gated_by_its_own_permission() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let oc = join(&app, &alice, "acme", "oc", "org_contributor").await;
    let tc = join(&app, &alice, "acme", "tc", "team_contributor").await;
    let ou = join(&app, &alice, "acme", "ou", "org_user").await;
    let fm = join(&app, &alice, "acme", "fm", "financial_manager").await;
    create_app(&app, &alice, "acme", "vision", "private").await;
    app.post(
        "/v1/orgs/acme/teams",
        &alice,
        json!({"id": "ml", "name": "ML"}),
    )
    .await
    .assert_status(201);
    app.put("/v1/orgs/acme/teams/ml/members/tc", &alice, json!({}))
        .await
        .assert_status(200);
    app.put(
        "/v1/orgs/acme/teams/ml/apps/vision",
        &alice,
        json!({"role": "full_access"}),
    )
    .await
    .assert_status(200);

    // (field, value, permission, roles without it, a role with it)
    let cases = [
        (
            "description",
            json!("described"),
            "app.edit_description",
            vec![&ou],
            &tc,
        ),
        ("notes", json!("noted"), "app.edit_notes", vec![&ou], &tc),
        (
            "visibility",
            json!("org"),
            "app.change_visibility",
            vec![&tc, &ou],
            &oc,
        ),
        (
            "base_workflow",
            json!("general"),
            "base_workflow.edit",
            vec![&tc, &ou],
            &oc,
        ),
        ("id", json!("renamed"), "app.edit_id", vec![&tc, &ou], &oc),
    ];
    let mut path = "/v1/accounts/acme/apps/vision".to_owned();
    app.post(
        &format!("{path}/workflows"),
        &alice,
        json!({"id": "general"}),
    )
    .await
    .assert_status(201);
    for (field, value, permission, denied, allowed) in cases {
        let before = app.get(&path, &alice).await.assert_status(200).clone();
        for token in denied {
            let reply = app.patch(&path, token, json!({ field: value })).await;
            reply.assert_problem(403, "permission.denied");
            assert_eq!(reply.body["permission"], permission, "{field}");
            assert_eq!(
                app.get(&path, &alice).await.body,
                before,
                "{field} changed by a refused edit"
            );
        }
        // A member who cannot view the app at all gets 404, not 403 (once the app is
        // org-visible it can view it, and then learns what it lacks).
        let reply = app.patch(&path, &fm, json!({ field: value })).await;
        if before["visibility"] == "private" {
            reply.assert_problem(404, "not_found");
        } else {
            reply.assert_problem(403, "permission.denied");
        }
        assert_eq!(
            app.get(&path, &alice).await.body,
            before,
            "{field} changed by a refused edit"
        );
        let reply = app.patch(&path, allowed, json!({ field: value })).await;
        assert_eq!(reply.assert_status(200)[field], value, "{field}");
        if field == "id" {
            path = "/v1/accounts/acme/apps/renamed".to_owned();
        }
    }

    // One missing permission refuses the whole edit: the permitted field is not applied.
    let before = app.get(&path, &alice).await.body;
    let reply = app
        .patch(
            &path,
            &tc,
            json!({"description": "partial", "visibility": "public"}),
        )
        .await;
    reply.assert_problem(403, "permission.denied");
    assert_eq!(reply.body["permission"], "app.change_visibility");
    assert_eq!(app.get(&path, &alice).await.body, before);

    // Deleting needs app.delete: a full-access team contributor lacks it (the org role is the
    // ceiling), an org user too; an org contributor has it. The team link survived the rename.
    let team = app.get("/v1/orgs/acme/teams/ml", &alice).await;
    assert_eq!(
        team.body["apps"],
        json!([{"app": "renamed", "role": "full_access"}])
    );
    for token in [&tc, &ou] {
        let reply = app.delete(&path, token).await;
        reply.assert_problem(403, "permission.denied");
        assert_eq!(reply.body["permission"], "app.delete");
    }
    app.get(&path, &alice).await.assert_status(200);
    app.delete(&path, &oc).await.assert_status(204);

    // apps.create: admin and org contributor only.
    for token in [&tc, &ou, &fm] {
        let reply = app
            .post(
                "/v1/accounts/acme/apps",
                token,
                json!({"id": "x", "name": "x"}),
            )
            .await;
        reply.assert_problem(403, "permission.denied");
        assert_eq!(reply.body["permission"], "apps.create");
    }
    app.post(
        "/v1/accounts/acme/apps",
        &oc,
        json!({"id": "x", "name": "x"}),
    )
    .await
    .assert_status(201);
}

#[tokio::test]
async fn who_sees_which_app() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let tc = join(&app, &alice, "acme", "tc", "team_contributor").await;
    let ou = join(&app, &alice, "acme", "ou", "org_user").await;
    let fm = join(&app, &alice, "acme", "fm", "financial_manager").await;
    let outsider = app.user("mallory").await;
    create_app(&app, &alice, "acme", "in-team", "private").await;
    create_app(&app, &alice, "acme", "not-in-team", "private").await;
    create_app(&app, &alice, "acme", "shared", "org").await;
    create_app(&app, &alice, "acme", "showcase", "public").await;
    app.post(
        "/v1/orgs/acme/teams",
        &alice,
        json!({"id": "ml", "name": "ML", "default_role": "labeler_worker"}),
    )
    .await
    .assert_status(201);
    app.put("/v1/orgs/acme/teams/ml/members/tc", &alice, json!({}))
        .await
        .assert_status(200);
    app.put("/v1/orgs/acme/teams/ml/apps/in-team", &alice, json!({}))
        .await
        .assert_status(200);

    let all = ["in-team", "not-in-team", "shared", "showcase"];
    // (caller, apps it sees)
    let cases: [(Option<&String>, &[&str]); 6] = [
        (Some(&alice), &all),
        (Some(&ou), &all),
        (Some(&tc), &["in-team", "shared", "showcase"]),
        (Some(&fm), &["shared", "showcase"]),
        (Some(&outsider), &["showcase"]),
        (None, &["showcase"]),
    ];
    for (token, visible) in cases {
        let list = app
            .request(
                Method::GET,
                "/v1/accounts/acme/apps",
                token.map(String::as_str),
                None,
            )
            .await;
        assert_eq!(ids(list.assert_status(200)), visible, "list for {token:?}");
        for id in all {
            let reply = app
                .request(
                    Method::GET,
                    &format!("/v1/accounts/acme/apps/{id}"),
                    token.map(String::as_str),
                    None,
                )
                .await;
            if visible.contains(&id) {
                reply.assert_status(200);
            } else {
                reply.assert_problem(404, "not_found");
            }
        }
    }
    // A hidden app and a missing one answer alike.
    let hidden = app.get("/v1/accounts/acme/apps/not-in-team", &tc).await;
    let missing = app.get("/v1/accounts/acme/apps/nothing", &tc).await;
    assert_eq!(hidden.body, missing.body);
    anonymous_get(&app, "/v1/accounts/nobody/apps")
        .await
        .assert_problem(404, "not_found");
    // Visibility gives reading only.
    app.patch(
        "/v1/accounts/acme/apps/showcase",
        &outsider,
        json!({"description": "defaced"}),
    )
    .await
    .assert_problem(403, "permission.denied");
    app.request(
        Method::PATCH,
        "/v1/accounts/acme/apps/showcase",
        None,
        Some(json!({"description": "x"})),
    )
    .await
    .assert_problem(401, "auth.required");
}

#[tokio::test]
async fn personal_apps_belong_to_their_owner() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;

    let created = app
        .post(
            "/v1/accounts/alice/apps",
            &alice,
            json!({"id": "diary", "name": "Diary"}),
        )
        .await;
    assert_eq!(created.assert_status(201)["owner"], "alice");
    create_app(&app, &alice, "alice", "portfolio", "public").await;
    app.get("/v1/accounts/alice/apps/diary", &alice)
        .await
        .assert_status(200);
    // The owner holds every app-level permission.
    app.post(
        "/v1/accounts/alice/apps/diary/workflows",
        &alice,
        json!({"id": "wf"}),
    )
    .await
    .assert_status(201);
    let edited = app
        .patch(
            "/v1/accounts/alice/apps/diary",
            &alice,
            json!({"id": "journal", "description": "d", "notes": "n", "visibility": "private", "base_workflow": "wf"}),
        )
        .await;
    assert_eq!(edited.assert_status(200)["id"], "journal");

    app.get("/v1/accounts/alice/apps/journal", &bob)
        .await
        .assert_problem(404, "not_found");
    app.patch(
        "/v1/accounts/alice/apps/journal",
        &bob,
        json!({"notes": "x"}),
    )
    .await
    .assert_problem(404, "not_found");
    app.delete("/v1/accounts/alice/apps/journal", &bob)
        .await
        .assert_problem(404, "not_found");
    let reply = app
        .post(
            "/v1/accounts/alice/apps",
            &bob,
            json!({"id": "intruder", "name": "x"}),
        )
        .await;
    assert!(matches!(reply.status.as_u16(), 403 | 404), "{reply:?}");
    assert_eq!(
        ids(app
            .get("/v1/accounts/alice/apps", &bob)
            .await
            .assert_status(200)),
        ["portfolio"]
    );
    assert_eq!(
        ids(app
            .get("/v1/accounts/alice/apps", &alice)
            .await
            .assert_status(200)),
        ["journal", "portfolio"]
    );
    // Same app id under another owner is another app.
    app.post(
        "/v1/accounts/bob/apps",
        &bob,
        json!({"id": "journal", "name": "Bob's"}),
    )
    .await
    .assert_status(201);

    app.delete("/v1/accounts/alice/apps/journal", &alice)
        .await
        .assert_status(204);
    app.get("/v1/accounts/bob/apps/journal", &bob)
        .await
        .assert_status(200);

    // Personal apps are audited outside any organization.
    let platform: Vec<i64> = app
        .service
        .store()
        .audit_entries(None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.operation)
        .collect();
    for code in [600, 601, 602] {
        assert!(
            platform.contains(&code),
            "platform audit codes {platform:?} lack {code}"
        );
    }
}

#[tokio::test]
async fn deleting_an_app_removes_it_from_its_teams() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let tc = join(&app, &alice, "acme", "tc", "team_contributor").await;
    create_app(&app, &alice, "acme", "vision", "private").await;
    for team in ["ml", "cv"] {
        app.post(
            "/v1/orgs/acme/teams",
            &alice,
            json!({"id": team, "name": team}),
        )
        .await
        .assert_status(201);
        app.put(
            &format!("/v1/orgs/acme/teams/{team}/apps/vision"),
            &alice,
            json!({}),
        )
        .await
        .assert_status(200);
    }
    app.put("/v1/orgs/acme/teams/ml/members/tc", &alice, json!({}))
        .await
        .assert_status(200);
    app.get("/v1/accounts/acme/apps/vision", &tc)
        .await
        .assert_status(200);

    app.delete("/v1/accounts/acme/apps/vision", &alice)
        .await
        .assert_status(204);
    for team in ["ml", "cv"] {
        let detail = app
            .get(&format!("/v1/orgs/acme/teams/{team}"), &alice)
            .await;
        assert_eq!(detail.assert_status(200)["apps"], json!([]), "{team}");
    }
    // A new app with the same id inherits nothing.
    create_app(&app, &alice, "acme", "vision", "private").await;
    app.get("/v1/accounts/acme/apps/vision", &tc)
        .await
        .assert_problem(404, "not_found");
    assert_eq!(
        app.get("/v1/orgs/acme/teams/ml", &alice).await.body["apps"],
        json!([])
    );
}

#[tokio::test]
async fn app_lists_are_paginated() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let outsider = app.user("mallory").await;
    for (i, visibility) in ["public", "private", "public", "private", "public"]
        .iter()
        .enumerate()
    {
        create_app(&app, &alice, "acme", &format!("app{i}"), visibility).await;
    }

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/accounts/acme/apps?limit=2&cursor={c}"),
            None => "/v1/accounts/acme/apps?limit=2".to_owned(),
        };
        let page = app.get(&path, &alice).await;
        let page = page.assert_status(200);
        assert!(page["apps"].as_array().unwrap().len() <= 2);
        seen.extend(ids(page));
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["app0", "app1", "app2", "app3", "app4"]);
    assert_eq!(pages, 3);

    // Filtering by what the caller may view does not shorten pages or lose apps.
    let first = app.get("/v1/accounts/acme/apps?limit=2", &outsider).await;
    assert_eq!(ids(first.assert_status(200)), ["app0", "app2"]);
    let next = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = app
        .get(
            &format!("/v1/accounts/acme/apps?limit=2&cursor={next}"),
            &outsider,
        )
        .await;
    assert_eq!(ids(second.assert_status(200)), ["app4"]);
    assert_eq!(second.body["next_cursor"], Value::Null);

    for bad in ["0", "201", "-1", "lots"] {
        app.get(&format!("/v1/accounts/acme/apps?limit={bad}"), &alice)
            .await
            .assert_problem(422, "pagination.invalid_limit");
    }
    app.get("/v1/accounts/acme/apps?cursor=%21%21", &alice)
        .await
        .assert_problem(422, "pagination.invalid_cursor");
    assert_eq!(
        ids(app
            .get("/v1/accounts/acme/apps?limit=200", &alice)
            .await
            .assert_status(200))
        .len(),
        5
    );
}
