//! Invitations: create, list, cancel, accept, decline, expiry, and every error code.

use portcullis_service::ServiceConfig;
use serde_json::{Value, json};

use crate::api::helpers::{TestApp, spawn_app, spawn_app_with};

async fn invite(app: &TestApp, token: &str, org: &str, email: &str, role: &str) -> Value {
    app.post(
        &format!("/v1/orgs/{org}/invitations"),
        token,
        json!({"email": email, "role": role}),
    )
    .await
    .assert_status(201)
    .clone()
}

fn id_of(invitation: &Value) -> String {
    invitation["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn invite_accept_change_remove() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.org(&alice, "acme").await;

    let invitation = invite(&app, &alice, "acme", "Bob@Example.com", "org_user").await;
    let id = id_of(&invitation);
    assert!(
        id.starts_with("inv_")
            && id.len() == 24
            && id[4..]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    );
    assert_eq!(invitation["org"], "acme");
    assert_eq!(invitation["role"], "org_user");
    assert_eq!(invitation["state"], "pending");
    assert_eq!(invitation["invited_by"], "alice");
    assert!(
        invitation["expires_at"].as_str().unwrap() > invitation["created_at"].as_str().unwrap()
    );

    let mine = app.get("/v1/users/me/invitations", &bob).await;
    assert_eq!(mine.assert_status(200)["invitations"][0]["id"], id.as_str());
    assert_eq!(
        app.get("/v1/users/me/invitations", &alice)
            .await
            .assert_status(200)["invitations"],
        json!([])
    );

    let accepted = app
        .post(&format!("/v1/invitations/{id}/accept"), &bob, json!({}))
        .await;
    assert_eq!(accepted.assert_status(200)["state"], "accepted");
    let members = app.get("/v1/orgs/acme/members", &bob).await;
    assert_eq!(members.assert_status(200)["members"][1]["user"], "bob");
    assert_eq!(members.body["members"][1]["role"], "org_user");
    assert_eq!(
        app.get("/v1/users/me/orgs", &bob).await.assert_status(200)[0]["id"],
        "acme"
    );
    let listed = app.get("/v1/orgs/acme/invitations", &alice).await;
    assert_eq!(
        listed.assert_status(200)["invitations"][0]["state"],
        "accepted"
    );
    app.post(&format!("/v1/invitations/{id}/accept"), &bob, json!({}))
        .await
        .assert_problem(409, "invitation.not_pending");

    app.put(
        "/v1/orgs/acme/members/bob",
        &alice,
        json!({"role": "org_contributor"}),
    )
    .await
    .assert_status(200);
    app.delete("/v1/orgs/acme/members/bob", &alice)
        .await
        .assert_status(204);
    // Removed from its only organization, bob is signed out everywhere.
    app.get("/v1/orgs/acme/members", &bob)
        .await
        .assert_problem(401, "auth.required");

    let org = app.service.with_index(|i| i.org_by_id("acme"));
    let ops: Vec<i64> = app
        .service
        .store()
        .audit_entries(org)
        .await
        .unwrap()
        .iter()
        .map(|e| e.operation)
        .collect();
    assert_eq!(ops, vec![1200, 103, 105, 100, 101, 102]);
}

#[tokio::test]
async fn invitation_errors() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    app.org(&alice, "acme").await;

    // Input.
    app.post(
        "/v1/orgs/acme/invitations",
        &alice,
        json!({"email": "nope", "role": "org_user"}),
    )
    .await
    .assert_problem(422, "email.invalid");
    app.post(
        "/v1/orgs/acme/invitations",
        &alice,
        json!({"email": "bob@example.com", "role": "king"}),
    )
    .await
    .assert_problem(422, "role.unknown");
    app.post(
        "/v1/orgs/acme/invitations",
        &alice,
        json!({"email": "bob@example.com", "role": "admin", "team": "x"}),
    )
    .await
    .assert_problem(400, "request.invalid_body");
    // Existing member; pending duplicate (case-insensitively).
    app.post(
        "/v1/orgs/acme/invitations",
        &alice,
        json!({"email": "ALICE@example.com", "role": "admin"}),
    )
    .await
    .assert_problem(409, "invitation.already_member");
    let invitation = invite(&app, &alice, "acme", "bob@example.com", "org_contributor").await;
    let id = id_of(&invitation);
    app.post(
        "/v1/orgs/acme/invitations",
        &alice,
        json!({"email": "BOB@example.com", "role": "admin"}),
    )
    .await
    .assert_problem(409, "invitation.pending_exists");

    // Outsiders cannot see or manage the org's invitations; nobody but bob can answer his.
    app.get("/v1/orgs/acme/invitations", &carol)
        .await
        .assert_problem(404, "not_found");
    app.post(
        "/v1/orgs/acme/invitations",
        &carol,
        json!({"email": "carol@example.com", "role": "admin"}),
    )
    .await
    .assert_problem(404, "not_found");
    app.delete(&format!("/v1/orgs/acme/invitations/{id}"), &carol)
        .await
        .assert_problem(404, "not_found");
    let wrong = app
        .post(&format!("/v1/invitations/{id}/accept"), &carol, json!({}))
        .await;
    let missing = app
        .post(
            "/v1/invitations/inv_doesnotexist0000000/accept",
            &carol,
            json!({}),
        )
        .await;
    wrong.assert_problem(404, "not_found");
    assert_eq!(wrong.body, missing.body);
    app.post(&format!("/v1/invitations/{id}/decline"), &alice, json!({}))
        .await
        .assert_problem(404, "not_found");
    assert!(
        app.get("/v1/orgs/acme/members", &carol)
            .await
            .status
            .as_u16()
            == 404
    );

    // A member without members.manage is refused and nothing changes.
    let invite_carol = invite(&app, &alice, "acme", "carol@example.com", "org_contributor").await;
    app.post(
        &format!("/v1/invitations/{}/accept", id_of(&invite_carol)),
        &carol,
        json!({}),
    )
    .await
    .assert_status(200);
    let denied = app
        .post(
            "/v1/orgs/acme/invitations",
            &carol,
            json!({"email": "dave@example.com", "role": "admin"}),
        )
        .await;
    denied.assert_problem(403, "permission.denied");
    assert_eq!(denied.body["permission"], "members.manage");
    app.get("/v1/orgs/acme/invitations", &carol)
        .await
        .assert_problem(403, "permission.denied");
    app.delete(&format!("/v1/orgs/acme/invitations/{id}"), &carol)
        .await
        .assert_problem(403, "permission.denied");
    let listed = app.get("/v1/orgs/acme/invitations", &alice).await;
    let listed = listed.assert_status(200)["invitations"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|i| i["email"] != "dave@example.com"));
    assert!(
        listed
            .iter()
            .any(|i| i["id"] == id.as_str() && i["state"] == "pending")
    );

    // Cancel: only pending ones.
    app.delete(&format!("/v1/orgs/acme/invitations/{id}"), &alice)
        .await
        .assert_status(204);
    app.delete(&format!("/v1/orgs/acme/invitations/{id}"), &alice)
        .await
        .assert_problem(409, "invitation.not_pending");
    app.post(&format!("/v1/invitations/{id}/accept"), &bob, json!({}))
        .await
        .assert_problem(409, "invitation.not_pending");
    app.delete("/v1/orgs/acme/invitations/inv_doesnotexist0000000", &alice)
        .await
        .assert_problem(404, "not_found");

    // Decline, then a new invitation may be sent.
    let again = id_of(&invite(&app, &alice, "acme", "bob@example.com", "org_user").await);
    let declined = app
        .post(&format!("/v1/invitations/{again}/decline"), &bob, json!({}))
        .await;
    assert_eq!(declined.assert_status(200)["state"], "declined");
    app.post(&format!("/v1/invitations/{again}/accept"), &bob, json!({}))
        .await
        .assert_problem(409, "invitation.not_pending");
    app.get("/v1/orgs/acme/members", &bob)
        .await
        .assert_problem(404, "not_found");
    let states: Vec<String> = app
        .get("/v1/orgs/acme/invitations", &alice)
        .await
        .assert_status(200)["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["state"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        states.contains(&"cancelled".to_owned()) && states.contains(&"declined".to_owned()),
        "{states:?}"
    );

    // Already a member by the time of acceptance (joined through another invitation's path).
    let third = id_of(&invite(&app, &alice, "acme", "bob@example.com", "org_user").await);
    let org = app.service.with_index(|i| i.org_by_id("acme")).unwrap();
    let bob_key = app.service.with_index(|i| i.user_by_id("bob")).unwrap();
    let mut w = app
        .service
        .store()
        .begin_write(&Default::default(), 0)
        .await
        .unwrap();
    w.add_member(org, bob_key, portcullis_service::core::OrgRole::OrgUser)
        .await
        .unwrap();
    w.commit().await.unwrap();
    app.post(&format!("/v1/invitations/{third}/accept"), &bob, json!({}))
        .await
        .assert_problem(409, "invitation.already_member");
}

#[tokio::test]
async fn expired_invitations_cannot_be_accepted() {
    let app = spawn_app_with(ServiceConfig {
        invitation_ttl_ms: 1,
        ..ServiceConfig::default()
    })
    .await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.org(&alice, "acme").await;
    let id = id_of(&invite(&app, &alice, "acme", "bob@example.com", "org_user").await);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.post(&format!("/v1/invitations/{id}/accept"), &bob, json!({}))
        .await
        .assert_problem(409, "invitation.expired");
    app.post(&format!("/v1/invitations/{id}/decline"), &bob, json!({}))
        .await
        .assert_problem(409, "invitation.expired");
    app.delete(&format!("/v1/orgs/acme/invitations/{id}"), &alice)
        .await
        .assert_problem(409, "invitation.not_pending");
    let listed = app.get("/v1/orgs/acme/invitations", &alice).await;
    assert_eq!(
        listed.assert_status(200)["invitations"][0]["state"],
        "expired"
    );
    assert_eq!(
        app.get("/v1/users/me/invitations", &bob)
            .await
            .assert_status(200)["invitations"],
        json!([])
    );
    app.get("/v1/orgs/acme/members", &bob)
        .await
        .assert_problem(404, "not_found");
    // The stale invitation does not block a new one.
    invite(&app, &alice, "acme", "bob@example.com", "org_user").await;
}

#[tokio::test]
async fn accepting_respects_the_membership_quota() {
    let app = spawn_app_with(ServiceConfig {
        max_orgs_per_user: 1,
        ..ServiceConfig::default()
    })
    .await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.org(&alice, "acme").await;
    app.org(&bob, "bobco").await;
    let id = id_of(&invite(&app, &alice, "acme", "bob@example.com", "org_user").await);
    app.post(&format!("/v1/invitations/{id}/accept"), &bob, json!({}))
        .await
        .assert_problem(409, "org.quota_exceeded");
    app.get("/v1/orgs/acme/members", &bob)
        .await
        .assert_problem(404, "not_found");
    // Still pending: after leaving the other org, bob can accept.
    app.delete("/v1/orgs/bobco", &bob).await.assert_status(204);
    app.post(&format!("/v1/invitations/{id}/accept"), &bob, json!({}))
        .await
        .assert_status(200);
    app.get("/v1/orgs/acme/members", &bob)
        .await
        .assert_status(200);
}

#[tokio::test]
async fn restricted_or_bound_tokens_cannot_answer_invitations() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.org(&alice, "acme").await;
    app.org(&bob, "bobco").await;
    let id = id_of(&invite(&app, &alice, "acme", "bob@example.com", "org_user").await);
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
    let bound = app
        .post(
            "/v1/users/me/keys",
            &bob,
            json!({"description": "b", "scopes": ["all"], "org": "bobco"}),
        )
        .await;
    let bound = bound.assert_status(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(&format!("/v1/invitations/{id}/accept"), &narrow, json!({}))
        .await
        .assert_problem(403, "credential.restricted");
    app.post(&format!("/v1/invitations/{id}/accept"), &bound, json!({}))
        .await
        .assert_problem(403, "credential.bound");
    app.get("/v1/orgs/acme/members", &bob)
        .await
        .assert_problem(404, "not_found");
}
