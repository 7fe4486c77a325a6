//! The gRPC check API (`portcullis.v1.CheckService`, crates/grpc) through the generated client
//! over h2c on the HTTP port: the same decisions, problem codes and consistency as the HTTP
//! check API, errors as `google.rpc.Status` with an `ErrorInfo`, health checking and
//! reflection.

use portcullis_grpc::pb::{self, check_service_client::CheckServiceClient};
use serde_json::{Value, json};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::{ErrorInfo, StatusExt};

use crate::api::helpers::{TestApp, invite_and_accept, spawn_app};

async fn client(app: &TestApp) -> CheckServiceClient<Channel> {
    CheckServiceClient::new(channel(app).await)
}

async fn channel(app: &TestApp) -> Channel {
    Channel::from_shared(app.address.clone())
        .unwrap()
        .connect()
        .await
        .expect("an HTTP/2 connection to the HTTP port")
}

/// `message` with `authorization: Bearer <token>` metadata.
fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn user(id: &str) -> Option<pb::Subject> {
    Some(pb::Subject {
        kind: Some(pb::subject::Kind::User(id.to_owned())),
    })
}

fn org(id: &str) -> Option<pb::Resource> {
    Some(pb::Resource {
        kind: Some(pb::resource::Kind::Org(id.to_owned())),
    })
}

fn app_resource(account: &str, app: &str) -> Option<pb::Resource> {
    Some(pb::Resource {
        kind: Some(pb::resource::Kind::App(pb::AppResource {
            account: account.to_owned(),
            app: app.to_owned(),
        })),
    })
}

fn ask(subject: &str, permission: &str, resource: Option<pb::Resource>) -> pb::CheckRequest {
    pb::CheckRequest {
        subject: user(subject),
        permission: permission.to_owned(),
        resource,
        consistency: None,
    }
}

/// The HTTP check body of the same question about an org.
fn ask_json(subject: &str, permission: &str, org: &str) -> Value {
    json!({"subject": {"user": subject}, "permission": permission, "resource": {"org": org}})
}

/// Asserts the status code and the `ErrorInfo` (domain `portcullis`, reason `reason`); returns
/// the `ErrorInfo` for further checks of its metadata.
#[track_caller]
fn assert_error(status: &Status, code: Code, reason: &str) -> ErrorInfo {
    assert_eq!(status.code(), code, "{status:?}");
    let info = status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("an ErrorInfo detail in {status:?}"));
    assert_eq!(info.domain, "portcullis", "{status:?}");
    assert_eq!(info.reason, reason, "{status:?}");
    info
}

/// Asserts a gRPC decision equals the HTTP API's answer to the same question.
#[track_caller]
fn assert_same(grpc: &pb::CheckResponse, http: &Value) {
    assert_eq!(grpc.allowed, http["allowed"], "{grpc:?} vs {http}");
    assert_eq!(
        grpc.reason.as_deref(),
        http["reason"].as_str(),
        "{grpc:?} vs {http}"
    );
    let via: Vec<&str> = http["via"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(grpc.via, via, "{grpc:?} vs {http}");
    assert_eq!(grpc.revision, http["revision"], "{grpc:?} vs {http}");
}

/// alice (admin of acme, with app `vision`), carol (an org_user of acme), bob (no org).
async fn population(app: &TestApp) -> (String, String, String) {
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    app.post(
        "/v1/accounts/acme/apps",
        &alice,
        json!({"id": "vision", "name": "Vision", "visibility": "private"}),
    )
    .await
    .assert_status(201);
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    invite_and_accept(app, &alice, "acme", &carol, "carol", "org_user").await;
    (alice, bob, carol)
}

#[tokio::test]
async fn grpc_check_decides_as_the_http_check_does() {
    let app = spawn_app().await;
    let (alice, bob, carol) = population(&app).await;
    let mut grpc = client(&app).await;

    // Allowed, and denied with a reason: the same answers as POST /v1/check.
    for (subject, permission, token) in [
        ("alice", "org.manage", &alice),
        ("alice", "authz.check", &alice),
        ("bob", "org.manage", &alice),
        ("carol", "org.manage", &alice),
        ("carol", "compute.view", &carol),
        ("bob", "org.view", &bob),
    ] {
        let answer = grpc
            .check(authed(ask(subject, permission, org("acme")), token))
            .await;
        let http = app
            .post("/v1/check", token, ask_json(subject, permission, "acme"))
            .await;
        match answer {
            Ok(answer) => assert_same(answer.get_ref(), http.assert_status(200)),
            // An unknown permission is refused the same way by both.
            Err(status) => {
                assert_error(&status, Code::InvalidArgument, "check.unknown_permission");
                http.assert_problem(422, "check.unknown_permission");
            }
        }
    }
    let allowed = grpc
        .check(authed(ask("alice", "org.manage", org("acme")), &alice))
        .await
        .unwrap()
        .into_inner();
    assert!(allowed.allowed);
    assert_eq!(allowed.reason, None);
    assert_eq!(allowed.via, ["role:admin"]);
    let denied = grpc
        .check(authed(ask("carol", "org.manage", org("acme")), &alice))
        .await
        .unwrap()
        .into_inner();
    assert!(!denied.allowed);
    assert_eq!(denied.reason.as_deref(), Some("role_lacks_permission"));
    assert!(denied.via.is_empty());
    let outsider = grpc
        .check(authed(
            ask("bob", "app.view", app_resource("acme", "vision")),
            &alice,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(outsider.reason.as_deref(), Some("not_member"));

    // Another org's resource: an outsider asking about a member learns nothing (404).
    let status = grpc
        .check(authed(ask("alice", "org.manage", org("acme")), &bob))
        .await
        .unwrap_err();
    assert_error(&status, Code::NotFound, "not_found");
    // ... and about itself on a private app only "not_found".
    let own = grpc
        .check(authed(
            ask("bob", "app.view", app_resource("acme", "vision")),
            &bob,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.reason.as_deref(), Some("not_found"));
    // A member without authz.check may not ask about others.
    let status = grpc
        .check(authed(ask("alice", "org.manage", org("acme")), &carol))
        .await
        .unwrap_err();
    let info = assert_error(&status, Code::PermissionDenied, "permission.denied");
    assert_eq!(info.metadata["permission"], "authz.check");
    assert_eq!(status.message(), "missing permission `authz.check`");

    // Without a valid credential: UNAUTHENTICATED, whatever was wrong with it.
    let status = grpc
        .check(Request::new(ask("alice", "org.manage", org("acme"))))
        .await
        .unwrap_err();
    assert_error(&status, Code::Unauthenticated, "auth.required");
    for header in [
        "Bearer pcl_pat_not_a_token".to_owned(),
        format!("Basic {alice}"),
        alice.clone(),
    ] {
        let mut request = Request::new(ask("alice", "org.manage", org("acme")));
        request
            .metadata_mut()
            .insert("authorization", header.parse().unwrap());
        let status = grpc.check(request).await.unwrap_err();
        assert_error(&status, Code::Unauthenticated, "auth.required");
    }
    // `Key <token>` is accepted as over HTTP.
    let mut request = Request::new(ask("alice", "org.manage", org("acme")));
    request
        .metadata_mut()
        .insert("authorization", format!("Key {alice}").parse().unwrap());
    assert!(grpc.check(request).await.unwrap().into_inner().allowed);

    // What the schema cannot refuse is INVALID_ARGUMENT naming the field.
    let cases = [
        (
            pb::CheckRequest {
                subject: None,
                ..ask("alice", "org.manage", org("acme"))
            },
            "check.invalid_request",
            "subject",
        ),
        (
            pb::CheckRequest {
                subject: Some(pb::Subject { kind: None }),
                ..ask("alice", "org.manage", org("acme"))
            },
            "check.invalid_request",
            "subject",
        ),
        (
            ask("alice", "org.manage", None),
            "check.invalid_request",
            "resource",
        ),
        (
            ask("alice", "org.fly", org("acme")),
            "check.unknown_permission",
            "permission",
        ),
        (
            ask(
                "alice",
                "app.view",
                Some(pb::Resource {
                    kind: Some(pb::resource::Kind::Item(pb::ItemResource {
                        account: "acme".into(),
                        app: "vision".into(),
                        kind: "spaceship".into(),
                        id: "x".into(),
                    })),
                }),
            ),
            "check.unknown_kind",
            "resource.kind",
        ),
        (
            pb::CheckRequest {
                consistency: Some(pb::Consistency {
                    requirement: Some(pb::consistency::Requirement::AtLeast(u64::MAX)),
                }),
                ..ask("alice", "org.manage", org("acme"))
            },
            "check.invalid_request",
            "consistency.at_least",
        ),
    ];
    for (request, reason, field) in cases {
        let status = grpc.check(authed(request, &alice)).await.unwrap_err();
        let info = assert_error(&status, Code::InvalidArgument, reason);
        assert_eq!(info.metadata["field"], field, "{status:?}");
    }
}

#[tokio::test]
async fn grpc_batch_and_lookup_answer_as_http_does() {
    let app = spawn_app().await;
    let (alice, bob, carol) = population(&app).await;
    let mut grpc = client(&app).await;

    // Each check answers on its own: a decision, or the problem it alone ran into.
    let checks = vec![
        ask("carol", "app.view", app_resource("acme", "vision")),
        ask("carol", "app.delete", app_resource("acme", "vision")),
        ask("nobody", "app.view", app_resource("acme", "vision")),
    ];
    let results = grpc
        .check_batch(authed(
            pb::CheckBatchRequest {
                checks: checks.clone(),
            },
            &alice,
        ))
        .await
        .unwrap()
        .into_inner()
        .results;
    let http = app
        .post(
            "/v1/check/batch",
            &alice,
            json!({"checks": [
                {"subject": {"user": "carol"}, "permission": "app.view", "resource": {"account": "acme", "app": "vision"}},
                {"subject": {"user": "carol"}, "permission": "app.delete", "resource": {"account": "acme", "app": "vision"}},
                {"subject": {"user": "nobody"}, "permission": "app.view", "resource": {"account": "acme", "app": "vision"}},
            ]}),
        )
        .await;
    let http = http.assert_status(200)["results"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(results.len(), 3);
    use pb::check_batch_result::Result as Item;
    match (&results[0].result, &results[1].result, &results[2].result) {
        (Some(Item::Decision(first)), Some(Item::Decision(second)), Some(Item::Error(third))) => {
            assert!(first.allowed);
            assert_same(first, &http[0]);
            assert!(!second.allowed);
            assert_same(second, &http[1]);
            assert_eq!(third.status, Code::NotFound as i32);
            assert_eq!(third.code, "not_found");
            assert_eq!(third.code, http[2]["error"]["code"]);
            assert_eq!(third.message, http[2]["error"]["detail"]);
        }
        other => panic!("unexpected batch answer {other:?}"),
    }
    // A member without authz.check: its own checks decided, the others refused one by one.
    let results = grpc
        .check_batch(authed(
            pb::CheckBatchRequest {
                checks: checks[..2].to_vec(),
            },
            &carol,
        ))
        .await
        .unwrap()
        .into_inner()
        .results;
    assert!(matches!(&results[0].result, Some(Item::Decision(d)) if d.allowed));
    // A malformed check refuses the whole batch, naming it.
    let mut malformed = checks.clone();
    malformed[1].resource = None;
    let status = grpc
        .check_batch(authed(pb::CheckBatchRequest { checks: malformed }, &alice))
        .await
        .unwrap_err();
    let info = assert_error(&status, Code::InvalidArgument, "check.invalid_request");
    assert_eq!(info.metadata["field"], "checks[1].resource");
    for size in [0, 1001] {
        let status = grpc
            .check_batch(authed(
                pb::CheckBatchRequest {
                    checks: vec![checks[0].clone(); size],
                },
                &alice,
            ))
            .await
            .unwrap_err();
        let info = assert_error(&status, Code::InvalidArgument, "check.invalid_request");
        assert_eq!(info.metadata["field"], "checks");
    }
    // A message larger than the HTTP API's body limit is refused before it is decoded.
    let padded = ask("carol", &"x".repeat(300), app_resource("acme", "vision"));
    let status = grpc
        .check_batch(authed(
            pb::CheckBatchRequest {
                checks: vec![padded; 1000],
            },
            &alice,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    let status = grpc
        .check_batch(Request::new(pb::CheckBatchRequest { checks }))
        .await
        .unwrap_err();
    assert_error(&status, Code::Unauthenticated, "auth.required");

    // LookupPermissions is GET /v1/me/permissions.
    for (token, app_id) in [
        (&carol, None),
        (&carol, Some("vision")),
        (&alice, Some("vision")),
    ] {
        let lookup = grpc
            .lookup_permissions(authed(
                pb::LookupPermissionsRequest {
                    account: "acme".into(),
                    app: app_id.map(str::to_owned),
                },
                token,
            ))
            .await
            .unwrap()
            .into_inner();
        let query = app_id.map_or(String::new(), |a| format!("&app={a}"));
        let http = app
            .get(&format!("/v1/me/permissions?account=acme{query}"), token)
            .await;
        let http = http.assert_status(200);
        assert_eq!(lookup.account, "acme");
        assert_eq!(lookup.app.as_deref(), app_id);
        assert_eq!(
            lookup.permissions,
            http["permissions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap())
                .collect::<Vec<_>>()
        );
        assert_eq!(lookup.revision, http["revision"]);
        assert!(!lookup.permissions.is_empty());
    }
    // An outsider (with a credential or none) cannot see a private app.
    for request in [
        authed(
            pb::LookupPermissionsRequest {
                account: "acme".into(),
                app: Some("vision".into()),
            },
            &bob,
        ),
        Request::new(pb::LookupPermissionsRequest {
            account: "acme".into(),
            app: Some("vision".into()),
        }),
    ] {
        let status = grpc.lookup_permissions(request).await.unwrap_err();
        assert_error(&status, Code::NotFound, "not_found");
    }
    // A presented credential must be valid, even where none is needed.
    let status = grpc
        .lookup_permissions(authed(
            pb::LookupPermissionsRequest {
                account: "acme".into(),
                app: None,
            },
            "pcl_pat_forged",
        ))
        .await
        .unwrap_err();
    assert_error(&status, Code::Unauthenticated, "auth.required");
}

#[tokio::test]
async fn grpc_honours_consistency_tokens_across_servers() {
    let app = spawn_app().await;
    let (alice, _bob, _carol) = population(&app).await;
    let peer = app.peer().await;
    let mut on_peer = client(&peer).await;

    // A personal access token works over gRPC, on either server.
    let created = app
        .post(
            "/v1/users/me/keys",
            &alice,
            json!({"description": "grpc", "scopes": ["all"]}),
        )
        .await;
    let created = created.assert_status(201).clone();
    let pat = created["token"].as_str().unwrap().to_owned();
    let revision: u64 = app
        .client
        .post(format!("{}/v1/users/me/keys", app.address))
        .bearer_auth(&alice)
        .json(&json!({"description": "another", "scopes": ["all"]}))
        .send()
        .await
        .unwrap()
        .headers()["portcullis-revision"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut request = authed(ask("alice", "org.manage", org("acme")), &pat);
    request
        .metadata_mut()
        .insert("portcullis-revision", revision.to_string().parse().unwrap());
    let answer = on_peer.check(request).await.unwrap().into_inner();
    assert!(answer.allowed);
    assert!(answer.revision >= revision);

    // Revoked on the first server: refused by the peer for a call carrying the revocation's
    // revision, however far behind the peer's follower is.
    let id = created["id"].as_str().unwrap();
    let revoked = app
        .client
        .delete(format!("{}/v1/users/me/keys/{id}", app.address))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    let revision = revoked.headers()["portcullis-revision"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut request = authed(ask("alice", "org.manage", org("acme")), &pat);
    request
        .metadata_mut()
        .insert("portcullis-revision", revision.parse().unwrap());
    let status = on_peer.check(request).await.unwrap_err();
    assert_error(&status, Code::Unauthenticated, "auth.required");

    // A revision no server has reached: UNAVAILABLE, retry in a second; in the body as well.
    let future = app.service.revision() + 1000;
    let mut request = authed(ask("alice", "org.manage", org("acme")), &alice);
    request
        .metadata_mut()
        .insert("portcullis-revision", future.to_string().parse().unwrap());
    let status = on_peer.check(request).await.unwrap_err();
    assert_error(
        &status,
        Code::Unavailable,
        "consistency.revision_unavailable",
    );
    assert!(status.get_details_retry_info().is_some(), "{status:?}");
    let status = on_peer
        .check(authed(
            pb::CheckRequest {
                consistency: Some(pb::Consistency {
                    requirement: Some(pb::consistency::Requirement::AtLeast(future)),
                }),
                ..ask("alice", "org.manage", org("acme"))
            },
            &alice,
        ))
        .await
        .unwrap_err();
    // The same code as `consistency.at_least` in an HTTP check body.
    assert_error(&status, Code::Unavailable, "check.revision_unavailable");
    // Fully consistent, and a malformed token.
    let answer = on_peer
        .check(authed(
            pb::CheckRequest {
                consistency: Some(pb::Consistency {
                    requirement: Some(pb::consistency::Requirement::FullyConsistent(true)),
                }),
                ..ask("alice", "org.manage", org("acme"))
            },
            &alice,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(answer.allowed);
    assert!(answer.revision >= app.service.revision());
    let mut request = authed(ask("alice", "org.manage", org("acme")), &alice);
    request
        .metadata_mut()
        .insert("portcullis-revision", "soon".parse().unwrap());
    let status = on_peer.check(request).await.unwrap_err();
    assert_error(
        &status,
        Code::InvalidArgument,
        "consistency.invalid_revision",
    );
}

#[tokio::test]
async fn grpc_health_follows_the_store_and_reflection_lists_the_services() {
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };

    let app = spawn_app().await;
    let channel = channel(&app).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in ["", "portcullis.v1.CheckService"] {
        let answer = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.status(), ServingStatus::Serving, "{service:?}");
    }
    let status = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    let mut reflection = ServerReflectionClient::new(channel.clone());
    let requests = futures_util::stream::iter([ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    }]);
    let mut answers = reflection
        .server_reflection_info(requests)
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().expect("one answer");
    let listed = match answer.message_response {
        Some(MessageResponse::ListServicesResponse(listed)) => listed,
        other => panic!("unexpected reflection answer {other:?}"),
    };
    let names: Vec<&str> = listed.service.iter().map(|s| s.name.as_str()).collect();
    for expected in ["portcullis.v1.CheckService", "grpc.health.v1.Health"] {
        assert!(names.contains(&expected), "{names:?}");
    }

    // HTTP/1.1 is still served on the same port.
    let reply = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.version(), reqwest::Version::HTTP_11);
    assert_eq!(reply.status(), 200);
}
