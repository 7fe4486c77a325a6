//! Members: list with pagination, change role, remove, leave, and the last admin rule.

use serde_json::{Value, json};

use crate::api::helpers::{TestApp, spawn_app};

pub use crate::api::helpers::invite_and_accept as join;

fn member_ids(page: &Value) -> Vec<String> {
    page["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"].as_str().unwrap().to_owned())
        .collect()
}

async fn role_of(app: &TestApp, token: &str, org: &str, user: &str) -> Option<String> {
    let page = app
        .get(&format!("/v1/orgs/{org}/members?limit=200"), token)
        .await;
    page.assert_status(200)["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"] == user)
        .map(|m| m["role"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn change_role_and_remove() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.org(&alice, "acme").await;
    join(&app, &alice, "acme", &bob, "bob", "org_user").await;

    let listed = app.get("/v1/orgs/acme/members", &bob).await;
    let body = listed.assert_status(200);
    assert_eq!(member_ids(body), vec!["alice", "bob"]);
    assert_eq!(body["members"][1]["email"], "bob@example.com");
    assert_eq!(body["members"][1]["role"], "org_user");
    assert_eq!(body["members"][1]["last_name"], "bob");
    assert!(
        body["members"][1]["joined_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(body["next_cursor"], Value::Null);

    let changed = app
        .put(
            "/v1/orgs/acme/members/bob",
            &alice,
            json!({"role": "org_contributor"}),
        )
        .await;
    assert_eq!(changed.assert_status(200)["role"], "org_contributor");
    assert_eq!(
        role_of(&app, &alice, "acme", "bob").await.as_deref(),
        Some("org_contributor")
    );

    // A forbidden attempt is refused with the missing permission and changes nothing.
    let denied = app
        .put(
            "/v1/orgs/acme/members/alice",
            &bob,
            json!({"role": "org_user"}),
        )
        .await;
    denied.assert_problem(403, "permission.denied");
    assert_eq!(denied.body["permission"], "members.manage");
    app.delete("/v1/orgs/acme/members/alice", &bob)
        .await
        .assert_problem(403, "permission.denied");
    assert_eq!(
        role_of(&app, &alice, "acme", "alice").await.as_deref(),
        Some("admin")
    );

    // Input errors.
    app.put(
        "/v1/orgs/acme/members/bob",
        &alice,
        json!({"role": "owner"}),
    )
    .await
    .assert_problem(422, "role.unknown");
    app.put(
        "/v1/orgs/acme/members/bob",
        &alice,
        json!({"role": "admin", "x": 1}),
    )
    .await
    .assert_problem(400, "request.invalid_body");
    assert_eq!(
        role_of(&app, &alice, "acme", "bob").await.as_deref(),
        Some("org_contributor")
    );

    app.delete("/v1/orgs/acme/members/bob", &alice)
        .await
        .assert_status(204);
    assert_eq!(role_of(&app, &alice, "acme", "bob").await, None);
    // Acme was bob's only organization: its session ended with the membership.
    app.get("/v1/orgs/acme/members", &bob)
        .await
        .assert_problem(401, "auth.required");
    let entries = app
        .service
        .store()
        .audit_entries(app.service.with_index(|i| i.org_by_id("acme")))
        .await
        .unwrap();
    let ops: Vec<i64> = entries
        .iter()
        .filter(|e| e.success)
        .map(|e| e.operation)
        .collect();
    assert!(ops.ends_with(&[101, 102]), "{ops:?}");
    assert!(entries.iter().any(|e| e.operation == 101
        && e.details.contains("org_user")
        && e.details.contains("org_contributor")));
}

#[tokio::test]
async fn non_members_and_unknown_members_get_404() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let eve = app.user("eve").await;
    app.org(&alice, "acme").await;
    for reply in [
        app.get("/v1/orgs/acme/members", &eve).await,
        app.put(
            "/v1/orgs/acme/members/alice",
            &eve,
            json!({"role": "org_user"}),
        )
        .await,
        app.delete("/v1/orgs/acme/members/alice", &eve).await,
        app.post("/v1/orgs/acme/leave", &eve, json!({})).await,
        app.get("/v1/orgs/nope/members", &eve).await,
    ] {
        reply.assert_problem(404, "not_found");
    }
    // eve exists but is not a member: changing or removing her is not_found too.
    app.put(
        "/v1/orgs/acme/members/eve",
        &alice,
        json!({"role": "org_user"}),
    )
    .await
    .assert_problem(404, "not_found");
    app.delete("/v1/orgs/acme/members/eve", &alice)
        .await
        .assert_problem(404, "not_found");
    app.put(
        "/v1/orgs/acme/members/ghost",
        &alice,
        json!({"role": "org_user"}),
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(role_of(&app, &alice, "acme", "eve").await, None);
    let unauthenticated = app
        .request(reqwest::Method::GET, "/v1/orgs/acme/members", None, None)
        .await;
    unauthenticated.assert_problem(401, "auth.required");
}

#[tokio::test]
async fn the_last_admin_cannot_leave_be_demoted_or_removed() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.org(&alice, "acme").await;
    join(&app, &alice, "acme", &bob, "bob", "org_user").await;

    app.post("/v1/orgs/acme/leave", &alice, json!({}))
        .await
        .assert_problem(409, "member.last_admin");
    app.put(
        "/v1/orgs/acme/members/alice",
        &alice,
        json!({"role": "org_contributor"}),
    )
    .await
    .assert_problem(409, "member.last_admin");
    app.delete("/v1/orgs/acme/members/alice", &alice)
        .await
        .assert_problem(409, "member.last_admin");
    assert_eq!(
        role_of(&app, &alice, "acme", "alice").await.as_deref(),
        Some("admin")
    );
    // Re-asserting the admin role is fine.
    app.put(
        "/v1/orgs/acme/members/alice",
        &alice,
        json!({"role": "admin"}),
    )
    .await
    .assert_status(200);

    // With a second admin, the first may step down, and then the second is the last.
    app.put(
        "/v1/orgs/acme/members/bob",
        &alice,
        json!({"role": "admin"}),
    )
    .await
    .assert_status(200);
    app.put(
        "/v1/orgs/acme/members/alice",
        &alice,
        json!({"role": "org_user"}),
    )
    .await
    .assert_status(200);
    app.post("/v1/orgs/acme/leave", &bob, json!({}))
        .await
        .assert_problem(409, "member.last_admin");
    app.post("/v1/orgs/acme/leave", &alice, json!({}))
        .await
        .assert_status(204);
    assert_eq!(
        member_ids(
            app.get("/v1/orgs/acme/members", &bob)
                .await
                .assert_status(200)
        ),
        vec!["bob"]
    );
    let leave = app
        .service
        .store()
        .audit_entries(app.service.with_index(|i| i.org_by_id("acme")))
        .await
        .unwrap();
    assert_eq!(leave.last().unwrap().operation, 1203);
}

#[tokio::test]
async fn pagination_returns_every_member_once() {
    let app = spawn_app().await;
    let admin = app.user("zed").await;
    app.org(&admin, "acme").await;
    let mut expected = vec!["zed".to_owned()];
    for i in 0..6 {
        let id = format!("M{i}-user");
        let token = app.user(&id).await;
        join(&app, &admin, "acme", &token, &id, "org_user").await;
        expected.push(id);
    }
    expected.sort_by_key(|id| id.to_ascii_lowercase());

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/orgs/acme/members?limit=3&cursor={c}"),
            None => "/v1/orgs/acme/members?limit=3".to_owned(),
        };
        let page = app.get(&path, &admin).await;
        let body = page.assert_status(200);
        assert!(body["members"].as_array().unwrap().len() <= 3);
        seen.extend(member_ids(body));
        pages += 1;
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);
    // The default page holds everyone.
    assert_eq!(
        member_ids(
            app.get("/v1/orgs/acme/members", &admin)
                .await
                .assert_status(200)
        )
        .len(),
        7
    );

    for bad in ["0", "201", "-1", "abc"] {
        app.get(&format!("/v1/orgs/acme/members?limit={bad}"), &admin)
            .await
            .assert_problem(422, "pagination.invalid_limit");
    }
    app.get("/v1/orgs/acme/members?limit=200", &admin)
        .await
        .assert_status(200);
    app.get("/v1/orgs/acme/members?cursor=not%20a%20cursor", &admin)
        .await
        .assert_problem(422, "pagination.invalid_cursor");
}

#[tokio::test]
async fn removal_revokes_org_bound_tokens() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.org(&alice, "acme").await;
    join(&app, &alice, "acme", &bob, "bob", "org_contributor").await;
    // Bob stays in a second org, so only acme-bound credentials should die with acme.
    app.org(&alice, "other").await;
    join(&app, &alice, "other", &bob, "bob", "org_user").await;
    let bound = app
        .post(
            "/v1/users/me/keys",
            &bob,
            json!({"description": "ci", "scopes": ["all"], "org": "acme"}),
        )
        .await;
    let bound_token = bound.assert_status(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let free = app
        .post(
            "/v1/users/me/keys",
            &bob,
            json!({"description": "mine", "scopes": ["all"]}),
        )
        .await;
    let free_token = free.assert_status(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get("/v1/orgs/acme/members", &bound_token)
        .await
        .assert_status(200);

    app.delete("/v1/orgs/acme/members/bob", &alice)
        .await
        .assert_status(204);
    app.get("/v1/users/me", &bound_token)
        .await
        .assert_problem(401, "auth.required");
    app.get("/v1/users/me", &free_token)
        .await
        .assert_status(200);
    let keys = app.get("/v1/users/me/keys", &bob).await;
    let listed = keys.assert_status(200).to_string();
    assert!(!listed.contains("\"ci\""), "{listed}");
}

#[tokio::test]
async fn restricted_tokens_cannot_leave() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.org(&alice, "acme").await;
    join(&app, &alice, "acme", &bob, "bob", "org_user").await;
    let narrow = app
        .post(
            "/v1/users/me/keys",
            &bob,
            json!({"description": "ro", "scopes": ["app.view"]}),
        )
        .await;
    let narrow = narrow.assert_status(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post("/v1/orgs/acme/leave", &narrow, json!({}))
        .await
        .assert_problem(403, "credential.restricted");
    assert_eq!(
        role_of(&app, &alice, "acme", "bob").await.as_deref(),
        Some("org_user")
    );
    app.post("/v1/orgs/acme/leave", &bob, json!({}))
        .await
        .assert_status(204);
    assert_eq!(role_of(&app, &alice, "acme", "bob").await, None);
}

#[tokio::test]
async fn removal_from_the_last_org_revokes_every_credential_but_leaving_does_not() {
    let app = spawn_app().await;
    let admin = app.user("admin").await;
    app.org(&admin, "acme").await;
    app.org(&admin, "beta").await;
    let bob = app.user("bob").await;
    join(&app, &admin, "acme", &bob, "bob", "org_user").await;
    join(&app, &admin, "beta", &bob, "bob", "org_user").await;
    let carol = app.user("carol").await;
    join(&app, &admin, "acme", &carol, "carol", "org_user").await;

    // Still a member of beta: bob's session survives removal from acme.
    app.delete("/v1/orgs/acme/members/bob", &admin)
        .await
        .assert_status(204);
    app.get("/v1/users/me", &bob).await.assert_status(200);
    // Removed from its last organization: the session is gone.
    app.delete("/v1/orgs/beta/members/bob", &admin)
        .await
        .assert_status(204);
    app.get("/v1/users/me", &bob)
        .await
        .assert_problem(401, "auth.required");
    // Leaving on one's own keeps the session.
    app.post("/v1/orgs/acme/leave", &carol, json!({}))
        .await
        .assert_status(204);
    app.get("/v1/users/me", &carol).await.assert_status(200);
}
