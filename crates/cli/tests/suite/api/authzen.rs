//! The AuthZEN Authorization API 1.0 (`/access/v1/evaluation`, `/access/v1/evaluations`,
//! `/.well-known/authzen-configuration`) against a real server: every mapping onto `/v1/check`,
//! batch defaults and semantics, the metadata document, the HTTPS binding's errors and request
//! ids, who may ask, the AuthZEN 1.0 certification scenario's protocol cases on a Portcullis
//! fixture (docs/authzen.md says which apply), and decisions compared with `/v1/check` on a
//! seeded random population.
//!
//! The population's seed is random unless `AUTHZEN_COMPARE_SEED` is set; it is printed, so a
//! failure can be replayed.

use reqwest::Method;
use serde_json::{Value, json};

use crate::api::helpers::{Reply, TestApp, invite_and_accept, spawn_app, spawn_app_with};

const EVALUATION: &str = "/access/v1/evaluation";
const EVALUATIONS: &str = "/access/v1/evaluations";

/// A platform service key holding `authz.check` (everywhere, or bound to `org`).
async fn service_key(app: &TestApp, operator: &str, org: Option<&str>) -> String {
    let mut body = json!({"description": "pep", "service": true, "scopes": ["authz.check"]});
    if let Some(org) = org {
        body["org"] = json!(org);
    }
    let key = app.post("/v1/users/me/keys", operator, body).await;
    key.assert_status(201)["token"].as_str().unwrap().to_owned()
}

async fn pat(app: &TestApp, session: &str, body: Value) -> String {
    let key = app.post("/v1/users/me/keys", session, body).await;
    key.assert_status(201)["token"].as_str().unwrap().to_owned()
}

/// `acme` (admin `boss`) with `alice` (org_contributor) and `bob` (org_user), a private app
/// `vision` with a model, workflow and module, and `bob`'s personal app `side`.
struct Fixture {
    app: TestApp,
    boss: String,
    alice: String,
    bob: String,
    operator: String,
    pep: String,
}

async fn fixture_on(app: TestApp) -> Fixture {
    let boss = app.user("boss").await;
    app.org(&boss, "acme").await;
    let alice = app.user("alice").await;
    invite_and_accept(&app, &boss, "acme", &alice, "alice", "org_contributor").await;
    let bob = app.user("bob").await;
    invite_and_accept(&app, &boss, "acme", &bob, "bob", "org_user").await;
    let apps = "/v1/accounts/acme/apps";
    app.post(apps, &boss, json!({"id": "vision", "name": "Vision"}))
        .await
        .assert_status(201);
    for (path, id) in [
        ("models", "resnet"),
        ("workflows", "classify"),
        ("modules", "labeler"),
    ] {
        app.post(&format!("{apps}/vision/{path}"), &boss, json!({"id": id}))
            .await
            .assert_status(201);
    }
    app.post(
        "/v1/accounts/bob/apps",
        &bob,
        json!({"id": "side", "name": "Side"}),
    )
    .await
    .assert_status(201);
    let operator = crate::api::policy::operator(&app).await;
    let pep = service_key(&app, &operator, None).await;
    Fixture {
        app,
        boss,
        alice,
        bob,
        operator,
        pep,
    }
}

async fn fixture() -> Fixture {
    fixture_on(spawn_app().await).await
}

/// Asserts that an AuthZEN decision says what a `/v1/check` answer says.
#[track_caller]
fn assert_same_decision(authzen: &Value, check: &Value, what: &str) {
    assert_eq!(
        authzen["decision"], check["allowed"],
        "{what}: {authzen} vs {check}"
    );
    let context = &authzen["context"];
    assert_eq!(context["via"], check["via"], "{what}: {authzen} vs {check}");
    assert_eq!(context["revision"], check["revision"], "{what}");
    // `null` reasons are omitted (the specification asks for no nulls).
    match check["reason"].as_str() {
        Some(reason) => assert_eq!(context["reason"], reason, "{what}"),
        None => assert!(context.get("reason").is_none(), "{what}: {authzen}"),
    }
}

/// Asserts that an AuthZEN answer (whole reply) equals `/v1/check`'s: the same decision, or
/// the same problem (the v1 API's 422 is AuthZEN's 400).
#[track_caller]
fn assert_same_reply(authzen: &Reply, check: &Reply, what: &str) {
    if check.status == 200 {
        assert_same_decision(authzen.assert_status(200), &check.body, what);
        return;
    }
    let status = if check.status == 422 {
        400
    } else {
        check.status.as_u16()
    };
    assert_eq!(
        authzen.status.as_u16(),
        status,
        "{what}: {} vs {}",
        authzen.body,
        check.body
    );
    assert_eq!(authzen.content_type, "application/problem+json", "{what}");
    assert_eq!(authzen.body["code"], check.body["code"], "{what}");
    assert_eq!(authzen.body["detail"], check.body["detail"], "{what}");
}

/// The same question to both APIs.
async fn both(
    app: &TestApp,
    caller: &str,
    subject: &Value,
    permission: &str,
    resource: &(Value, Value),
) -> (Reply, Reply) {
    let authzen = app
        .post(
            EVALUATION,
            caller,
            json!({"subject": subject, "action": {"name": permission}, "resource": resource.0}),
        )
        .await;
    let check_subject = match subject["type"].as_str().unwrap() {
        "user" => json!({"user": subject["id"]}),
        _ => json!({"token": subject["id"]}),
    };
    let check = app
        .post(
            "/v1/check",
            caller,
            json!({"subject": check_subject, "permission": permission, "resource": resource.1}),
        )
        .await;
    (authzen, check)
}

fn user(id: &str) -> Value {
    json!({"type": "user", "id": id})
}

fn token(secret: &str) -> Value {
    json!({"type": "token", "id": secret})
}

fn org(id: &str) -> (Value, Value) {
    (json!({"type": "org", "id": id}), json!({"org": id}))
}

fn app_resource(account: &str, app: &str) -> (Value, Value) {
    (
        json!({"type": "app", "id": format!("{account}/{app}")}),
        json!({"account": account, "app": app}),
    )
}

fn item(kind: &str, account: &str, app: &str, id: &str) -> (Value, Value) {
    (
        json!({"type": kind, "id": format!("{account}/{app}/{id}")}),
        json!({"account": account, "app": app, "kind": kind, "id": id}),
    )
}

#[tokio::test]
async fn every_subject_and_resource_type_maps_onto_check() {
    let f = fixture().await;
    let app = &f.app;
    let alice_pat = pat(app, &f.alice, json!({"scopes": ["app.view"]})).await;
    let resources = [
        org("acme"),
        org("bob"),
        app_resource("acme", "vision"),
        app_resource("bob", "side"),
        item("model", "acme", "vision", "resnet"),
        item("workflow", "acme", "vision", "classify"),
        item("module", "acme", "vision", "labeler"),
        item("cluster", "acme", "vision", "gpu"),
        item("nodepool", "acme", "vision", "np1"),
        item("deployment", "acme", "vision", "serve"),
        item("model", "acme", "vision", "missing"),
        app_resource("acme", "missing"),
    ];
    let subjects = [
        user("alice"),
        user("bob"),
        user("boss"),
        user("nobody"),
        token(&alice_pat),
        token(&f.bob),
        token("pcl_not_a_real_token"),
    ];
    let mut allowed = 0;
    let mut denied = 0;
    for resource in &resources {
        for subject in &subjects {
            for permission in [
                "app.view",
                "models.create",
                "members.manage",
                "compute.view",
            ] {
                let (authzen, check) = both(app, &f.pep, subject, permission, resource).await;
                let what = format!("{subject} {permission} {}", resource.0);
                assert_same_reply(&authzen, &check, &what);
                if check.body["allowed"] == true {
                    allowed += 1;
                } else {
                    denied += 1;
                }
            }
        }
    }
    // The fixture exercises both outcomes broadly.
    assert!(
        allowed >= 15 && denied >= 100,
        "{allowed} allowed, {denied} denied"
    );

    // Spot checks of what the mapping means.
    let reply = app
        .post(
            EVALUATION,
            &f.pep,
            json!({"subject": user("alice"), "action": {"name": "models.create"},
                   "resource": {"type": "model", "id": "acme/vision/resnet"}}),
        )
        .await;
    let body = reply.assert_status(200);
    assert_eq!(body["decision"], true);
    assert_eq!(body["context"]["via"], json!(["role:org_contributor"]));
    assert!(body["context"]["revision"].as_u64().unwrap() > 0);
    let reply = app
        .post(
            EVALUATION,
            &f.pep,
            json!({"subject": user("bob"), "action": {"name": "app.delete"},
                   "resource": {"type": "app", "id": "acme/vision"}}),
        )
        .await;
    let body = reply.assert_status(200);
    assert_eq!(body["decision"], false);
    assert_eq!(body["context"]["reason"], "role_lacks_permission");
    assert_eq!(body["context"]["via"], json!([]));
    // A personal app's owner holds every app-level permission.
    let reply = app
        .post(
            EVALUATION,
            &f.pep,
            json!({"subject": user("bob"), "action": {"name": "app.delete"},
                   "resource": {"type": "app", "id": "bob/side"}}),
        )
        .await;
    assert_eq!(reply.assert_status(200)["context"]["via"], json!(["owner"]));
}

#[tokio::test]
async fn properties_and_unknown_fields_are_ignored() {
    let f = fixture().await;
    // bob (org_user) may not edit; no property the caller asserts changes that.
    let body = json!({
        "subject": {"type": "user", "id": "bob", "properties": {"role": "admin", "ip_address": "10.0.0.1"}},
        "action": {"name": "app.edit_description", "properties": {"method": "PATCH"}},
        "resource": {"type": "app", "id": "acme/vision", "properties": {"owner": "bob", "visibility": "public"}},
        "context": {"time": "2025-06-27T18:03-07:00", "role": "admin"},
        "foo": "bar",
        "futureField": {"nested": true},
    });
    let reply = f.app.post(EVALUATION, &f.pep, body).await;
    let answer = reply.assert_status(200);
    assert_eq!(answer["decision"], false);
    assert_eq!(answer["context"]["reason"], "role_lacks_permission");
    // null properties and context are absent ones.
    let reply = f
        .app
        .post(
            EVALUATION,
            &f.pep,
            json!({"subject": {"type": "user", "id": "alice", "properties": null},
                   "action": {"name": "app.view"}, "resource": {"type": "app", "id": "acme/vision"},
                   "context": null}),
        )
        .await;
    assert_eq!(reply.assert_status(200)["decision"], true);
}

/// `{subject, action, resource}` for the fixture's questions.
fn ask(subject: &str, action: &str, resource: &str) -> Value {
    json!({"subject": user(subject), "action": {"name": action}, "resource": {"type": "app", "id": resource}})
}

fn decisions(body: &Value) -> Vec<bool> {
    body["evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["decision"].as_bool().unwrap())
        .collect()
}

#[tokio::test]
async fn evaluations_take_defaults_and_replace_them_whole() {
    let f = fixture().await;
    let app = &f.app;
    // Top-level subject and action; resources per evaluation; one evaluation replaces the
    // action, another the subject.
    let body = json!({
        "subject": user("bob"),
        "action": {"name": "app.view"},
        "evaluations": [
            {"resource": {"type": "app", "id": "acme/vision"}},
            {"resource": {"type": "app", "id": "acme/vision"}, "action": {"name": "app.delete"}},
            {"resource": {"type": "app", "id": "bob/side"}, "action": {"name": "app.delete"}},
            {"resource": {"type": "org", "id": "acme"}, "action": {"name": "members.manage"}, "subject": user("boss")},
            {"resource": {"type": "app", "id": "acme/missing"}},
        ],
    });
    let reply = app.post(EVALUATIONS, &f.pep, body).await;
    let answer = reply.assert_status(200).clone();
    assert_eq!(decisions(&answer), [true, false, true, true, false]);
    assert!(answer.get("decision").is_none(), "{answer}");
    assert_eq!(
        answer["evaluations"][1]["context"]["reason"],
        "role_lacks_permission"
    );
    assert_eq!(
        answer["evaluations"][3]["context"]["via"],
        json!(["role:admin"])
    );
    assert_eq!(answer["evaluations"][4]["context"]["reason"], "not_found");
    // Each answer is the single evaluation's.
    for (i, (subject, action, resource)) in [
        ("bob", "app.view", "acme/vision"),
        ("bob", "app.delete", "acme/vision"),
        ("bob", "app.delete", "bob/side"),
    ]
    .into_iter()
    .enumerate()
    {
        let single = app
            .post(EVALUATION, &f.pep, ask(subject, action, resource))
            .await;
        assert_eq!(single.assert_status(200), &answer["evaluations"][i]);
    }

    // Everything in each evaluation, nothing at the top.
    let body = json!({"evaluations": [ask("alice", "app.edit_description", "acme/vision"), ask("bob", "app.edit_description", "acme/vision")]});
    let reply = app.post(EVALUATIONS, &f.pep, body).await;
    assert_eq!(decisions(reply.assert_status(200)), [true, false]);

    // Everything at the top, an empty evaluation inherits it all; a resource replaces the
    // default whole (its properties are not merged in).
    let body = json!({
        "subject": user("alice"),
        "action": {"name": "app.edit_description"},
        "resource": {"type": "app", "id": "acme/vision", "properties": {"status": "active"}},
        "evaluations": [{}, {"resource": {"type": "app", "id": "bob/side"}}],
    });
    let reply = app.post(EVALUATIONS, &f.pep, body).await;
    assert_eq!(decisions(reply.assert_status(200)), [true, false]);
}

#[tokio::test]
async fn evaluations_semantics_short_circuit() {
    let f = fixture().await;
    let app = &f.app;
    // bob: view vision (permit), delete vision (deny), view vision again (permit).
    let batch = |semantic: Option<&str>| {
        let mut body = json!({
            "subject": user("bob"),
            "resource": {"type": "app", "id": "acme/vision"},
            "evaluations": [
                {"action": {"name": "app.view"}},
                {"action": {"name": "app.delete"}},
                {"action": {"name": "app.view"}},
            ],
        });
        if let Some(semantic) = semantic {
            body["options"] = json!({"evaluations_semantic": semantic, "another_option": 1});
        }
        body
    };
    for (semantic, expected) in [
        (None, vec![true, false, true]),
        (Some("execute_all"), vec![true, false, true]),
        (Some("deny_on_first_deny"), vec![true, false]),
        (Some("permit_on_first_permit"), vec![true]),
    ] {
        let reply = app.post(EVALUATIONS, &f.pep, batch(semantic)).await;
        assert_eq!(
            decisions(reply.assert_status(200)),
            expected,
            "{semantic:?}"
        );
    }
    // A failure is a denial: deny_on_first_deny stops there.
    let body = json!({
        "subject": user("bob"),
        "action": {"name": "app.view"},
        "options": {"evaluations_semantic": "deny_on_first_deny"},
        "evaluations": [
            {"resource": {"type": "app", "id": "acme/vision"}},
            {"resource": {"type": "app", "id": "other/thing"}, "subject": user("bob")},
            {"subject": user("alice")},
            {"resource": {"type": "app", "id": "acme/vision"}},
        ],
    });
    let reply = app.post(EVALUATIONS, &f.pep, body).await;
    let answer = reply.assert_status(200);
    // The second is bob asked about an account that does not exist: not_found, a denial.
    assert_eq!(decisions(answer), [true, false]);
    // permit_on_first_permit runs on past denials.
    let body = json!({
        "subject": user("bob"),
        "resource": {"type": "app", "id": "acme/vision"},
        "options": {"evaluations_semantic": "permit_on_first_permit"},
        "evaluations": [
            {"action": {"name": "app.delete"}},
            {"action": {"name": "collaborators.edit"}},
            {"action": {"name": "modules.use"}},
            {"action": {"name": "app.view"}},
        ],
    });
    let reply = app.post(EVALUATIONS, &f.pep, body).await;
    assert_eq!(decisions(reply.assert_status(200)), [false, false, true]);
    // An unknown semantic is a bad request.
    let mut body = batch(Some("first_wins"));
    body["options"]["evaluations_semantic"] = json!("first_wins");
    app.post(EVALUATIONS, &f.pep, body)
        .await
        .assert_problem(400, "request.invalid_body");
}

#[tokio::test]
async fn evaluations_without_an_array_are_one_evaluation() {
    let f = fixture().await;
    for body in [ask("alice", "app.view", "acme/vision"), {
        let mut b = ask("alice", "app.view", "acme/vision");
        b["evaluations"] = json!([]);
        b
    }] {
        let reply = f.app.post(EVALUATIONS, &f.pep, body.clone()).await;
        let answer = reply.assert_status(200);
        assert_eq!(answer["decision"], true, "{answer}");
        assert!(answer.get("evaluations").is_none());
        let single = f.app.post(EVALUATION, &f.pep, body).await;
        assert_eq!(single.assert_status(200), answer);
    }
    // Then the top-level entities are required.
    for missing in ["subject", "action", "resource"] {
        let mut body = ask("alice", "app.view", "acme/vision");
        body.as_object_mut().unwrap().remove(missing);
        let reply = f.app.post(EVALUATIONS, &f.pep, body).await;
        reply.assert_problem(400, "request.invalid_body");
        assert_eq!(reply.body["field"], missing);
    }
}

#[tokio::test]
async fn an_evaluation_missing_an_entity_fails_alone() {
    let f = fixture().await;
    let body = json!({
        "subject": user("alice"),
        "action": {"name": "app.view"},
        "options": {"evaluations_semantic": "execute_all"},
        "evaluations": [
            {"resource": {"type": "app", "id": "acme/vision"}},
            {},
            {"resource": {"type": "app", "id": "acme/vision"}},
        ],
    });
    let reply = f.app.post(EVALUATIONS, &f.pep, body).await;
    let answer = reply.assert_status(200);
    assert_eq!(decisions(answer), [true, false, true]);
    let error = &answer["evaluations"][1]["context"]["error"];
    assert_eq!(error["status"], 400);
    assert_eq!(error["code"], "authzen.missing_entity");
    assert_eq!(error["field"], "evaluations[1].resource");
    // Without a default subject, the evaluation that has none fails, the others answer.
    let body = json!({
        "action": {"name": "app.view"},
        "resource": {"type": "app", "id": "acme/vision"},
        "evaluations": [{"subject": user("bob")}, {"action": {"name": "app.delete"}}],
    });
    let reply = f.app.post(EVALUATIONS, &f.pep, body).await;
    let answer = reply.assert_status(200);
    assert_eq!(decisions(answer), [true, false]);
    assert_eq!(
        answer["evaluations"][1]["context"]["error"]["field"],
        "evaluations[1].subject"
    );
}

#[tokio::test]
async fn malformed_requests_are_400_problems() {
    let f = fixture().await;
    let app = &f.app;
    let good = ask("alice", "app.view", "acme/vision");
    let with = |pointer: &str, value: Option<Value>| {
        let mut body = good.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let target = body.pointer_mut(parent).unwrap().as_object_mut().unwrap();
        match value {
            Some(value) => target.insert(key.to_owned(), value),
            None => target.remove(key),
        };
        body
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "missing subject",
            with("/subject", None),
            "request.invalid_body",
        ),
        (
            "missing action",
            with("/action", None),
            "request.invalid_body",
        ),
        (
            "missing resource",
            with("/resource", None),
            "request.invalid_body",
        ),
        (
            "subject without type",
            with("/subject/type", None),
            "request.invalid_body",
        ),
        (
            "subject without id",
            with("/subject/id", None),
            "request.invalid_body",
        ),
        (
            "action without name",
            with("/action/name", None),
            "request.invalid_body",
        ),
        (
            "resource without type",
            with("/resource/type", None),
            "request.invalid_body",
        ),
        (
            "resource without id",
            with("/resource/id", None),
            "request.invalid_body",
        ),
        (
            "subject a string",
            with("/subject", Some(json!("alice"))),
            "request.invalid_body",
        ),
        (
            "subject an array",
            with("/subject", Some(json!([1]))),
            "request.invalid_body",
        ),
        (
            "action name a number",
            with("/action/name", Some(json!(123))),
            "request.invalid_body",
        ),
        (
            "properties a string",
            with("/subject/properties", Some(json!("x"))),
            "request.invalid_body",
        ),
        (
            "context an array",
            with("/context", Some(json!([]))),
            "request.invalid_body",
        ),
        (
            "unknown subject type",
            with("/subject/type", Some(json!("identity"))),
            "request.invalid_body",
        ),
        (
            "unknown resource type",
            with("/resource/type", Some(json!("record"))),
            "request.invalid_body",
        ),
        (
            "unknown action",
            with("/action/name", Some(json!("can_read"))),
            "authzen.unknown_action",
        ),
        (
            "app id without account",
            with("/resource/id", Some(json!("vision"))),
            "authzen.invalid_resource_id",
        ),
        (
            "app id with an empty part",
            with("/resource/id", Some(json!("acme/"))),
            "authzen.invalid_resource_id",
        ),
        (
            "app id too long",
            with("/resource/id", Some(json!("acme/vision/resnet"))),
            "authzen.invalid_resource_id",
        ),
        (
            "negative revision",
            with("/context", Some(json!({"consistency": {"at_least": -1}}))),
            "request.invalid_body",
        ),
        (
            "revision past int64",
            with(
                "/context",
                Some(json!({"consistency": {"at_least": 9_223_372_036_854_775_808u64}})),
            ),
            "authzen.invalid_consistency",
        ),
        (
            "both consistencies",
            with(
                "/context",
                Some(json!({"consistency": {"at_least": 1, "fully_consistent": true}})),
            ),
            "authzen.invalid_consistency",
        ),
        (
            "a top-level array",
            json!([good.clone()]),
            "request.invalid_body",
        ),
    ];
    for (what, body, code) in cases {
        for path in [EVALUATION, EVALUATIONS] {
            let reply = app.post(path, &f.pep, body.clone()).await;
            assert_eq!(reply.status, 400, "{what} on {path}: {}", reply.body);
            assert_eq!(reply.content_type, "application/problem+json", "{what}");
            assert_eq!(reply.body["code"], code, "{what} on {path}: {}", reply.body);
            assert_eq!(reply.body["status"], 400, "{what}");
        }
    }
    let other = app_resource("acme", "vision");
    assert_eq!(
        app.post(EVALUATION, &f.pep, with("/resource", Some(other.0)))
            .await
            .body["decision"],
        true
    );

    // Not JSON, malformed JSON, an empty body: 400 (the binding has no 415).
    for (content_type, body) in [
        (Some("text/plain"), good.to_string()),
        (None, good.to_string()),
        (Some("application/json"), "{\"subject\": ".to_owned()),
        (Some("application/json"), String::new()),
    ] {
        for path in [EVALUATION, EVALUATIONS] {
            let mut request = app
                .client
                .post(format!("{}{path}", app.address))
                .bearer_auth(&f.pep)
                .body(body.clone());
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                400,
                "{content_type:?} {body:?} on {path}"
            );
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
        }
    }

    // A malformed evaluation refuses the whole batch, naming it.
    let body = json!({
        "subject": user("alice"),
        "action": {"name": "app.view"},
        "evaluations": [
            {"resource": {"type": "app", "id": "acme/vision"}},
            {"resource": {"type": "app", "id": "acme"}},
        ],
    });
    let reply = app.post(EVALUATIONS, &f.pep, body).await;
    reply.assert_problem(400, "authzen.invalid_resource_id");
    assert_eq!(reply.body["field"], "evaluations[1].resource.id");
    let body = json!({
        "subject": user("alice"),
        "resource": {"type": "app", "id": "acme/vision"},
        "evaluations": [{"action": {"name": "app.view"}}, {"action": {"name": "fly"}}],
    });
    let reply = app.post(EVALUATIONS, &f.pep, body).await;
    reply.assert_problem(400, "authzen.unknown_action");
    assert_eq!(reply.body["field"], "evaluations[1].action.name");
    // So does a malformed default, even if every evaluation replaces it.
    let body = json!({
        "subject": user("alice"),
        "action": {"name": "app.view"},
        "resource": {"type": "org", "id": "acme/vision"},
        "evaluations": [{"resource": {"type": "app", "id": "acme/vision"}}],
    });
    let reply = app.post(EVALUATIONS, &f.pep, body).await;
    reply.assert_problem(400, "authzen.invalid_resource_id");
    assert_eq!(reply.body["field"], "resource.id");
    // At most 1000 evaluations.
    let body = json!({
        "subject": user("alice"),
        "action": {"name": "app.view"},
        "evaluations": vec![json!({"resource": {"type": "app", "id": "acme/vision"}}); 1001],
    });
    app.post(EVALUATIONS, &f.pep, body)
        .await
        .assert_problem(400, "authzen.too_many_evaluations");
    let body = json!({
        "subject": user("alice"),
        "action": {"name": "app.view"},
        "evaluations": vec![json!({"resource": {"type": "app", "id": "acme/vision"}}); 1000],
    });
    let reply = app.post(EVALUATIONS, &f.pep, body).await;
    assert_eq!(decisions(reply.assert_status(200)), vec![true; 1000]);
    // `evaluations` must be an array of objects.
    for evaluations in [json!({}), json!([1]), json!("x")] {
        let mut body = ask("alice", "app.view", "acme/vision");
        body["evaluations"] = evaluations;
        app.post(EVALUATIONS, &f.pep, body)
            .await
            .assert_problem(400, "request.invalid_body");
    }
}

#[tokio::test]
async fn request_ids_are_echoed() {
    let f = fixture().await;
    let app = &f.app;
    let id = "bfe9eb29-ab87-4ca3-be83-a1d5d8305716";
    for (path, body) in [
        (EVALUATION, ask("alice", "app.view", "acme/vision")),
        (EVALUATIONS, ask("alice", "app.view", "acme/vision")),
        (EVALUATION, json!({"subject": user("alice")})),
    ] {
        let response = app
            .client
            .post(format!("{}{path}", app.address))
            .bearer_auth(&f.pep)
            .header("x-request-id", id)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["x-request-id"], id, "{path} {body}");
        // Without one, the server names the request itself.
        let response = app
            .client
            .post(format!("{}{path}", app.address))
            .bearer_auth(&f.pep)
            .json(&body)
            .send()
            .await
            .unwrap();
        let made = response.headers()["x-request-id"].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(made).is_ok(), "{made}");
    }
    // Also on a refused credential.
    let response = app
        .client
        .post(format!("{}{EVALUATION}", app.address))
        .header("x-request-id", "pep-42")
        .json(&ask("alice", "app.view", "acme/vision"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["x-request-id"], "pep-42");
}

#[tokio::test]
async fn callers_are_authenticated_and_authorized_as_for_check() {
    let f = fixture().await;
    let app = &f.app;
    let question = ask("bob", "app.view", "acme/vision");
    // No credential, a wrong scheme, an unknown token: 401 naming the Bearer scheme.
    for authorization in [None, Some("Basic Ym9iOnB3"), Some("Bearer pcl_nothing")] {
        for path in [EVALUATION, EVALUATIONS] {
            let mut request = app
                .client
                .post(format!("{}{path}", app.address))
                .json(&question);
            if let Some(value) = authorization {
                request = request.header("authorization", value);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{authorization:?}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["code"], "auth.required");
        }
    }
    // A refused credential is refused before the body is read.
    let response = app
        .client
        .post(format!("{}{EVALUATION}", app.address))
        .header("content-type", "text/plain")
        .body("nonsense")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    let outsider = app.user("stranger").await;
    app.org(&outsider, "other").await;
    let narrow = pat(app, &f.boss, json!({"scopes": ["app.view"]})).await;
    let bound_elsewhere = pat(app, &f.boss, json!({"scopes": ["all"], "org": "acme"})).await;
    let acme_only_pep = service_key(app, &f.operator, Some("acme")).await;
    let callers = [
        ("platform service key", f.pep.clone()),
        ("admin session", f.boss.clone()),
        ("member without authz.check", f.alice.clone()),
        ("the subject itself", f.bob.clone()),
        ("outsider", outsider.clone()),
        ("admin PAT without authz.check", narrow),
        ("admin PAT bound to acme", bound_elsewhere),
        ("service key bound to acme", acme_only_pep),
    ];
    let questions = [
        (user("bob"), "app.view", app_resource("acme", "vision")),
        (user("alice"), "app.view", app_resource("acme", "vision")),
        (user("stranger"), "org.manage", org("other")),
        (user("bob"), "app.view", app_resource("other", "nothing")),
        (user("bob"), "app.delete", app_resource("bob", "side")),
        (user("alice"), "app.view", app_resource("bob", "side")),
    ];
    let mut refusals = std::collections::BTreeMap::<String, usize>::new();
    for (label, caller) in &callers {
        for (subject, permission, resource) in &questions {
            let (authzen, check) = both(app, caller, subject, permission, resource).await;
            let what = format!("{label} asks {subject} {permission} {}", resource.0);
            assert_same_reply(&authzen, &check, &what);
            if check.status != 200 {
                *refusals
                    .entry(format!("{} {}", check.status.as_u16(), check.body["code"]))
                    .or_default() += 1;
            }
            // In a batch, the same refusal is that evaluation's error.
            let batch = app
                .post(
                    EVALUATIONS,
                    caller,
                    json!({"evaluations": [{"subject": subject, "action": {"name": permission}, "resource": resource.0}]}),
                )
                .await;
            let item = &batch.assert_status(200)["evaluations"][0];
            if check.status == 200 {
                assert_same_decision(item, &check.body, &what);
            } else {
                assert_eq!(item["decision"], false, "{what}");
                assert_eq!(
                    item["context"]["error"]["code"], check.body["code"],
                    "{what}"
                );
                assert_eq!(
                    item["context"]["error"]["status"],
                    check.status.as_u16(),
                    "{what}"
                );
            }
        }
    }
    // Both kinds of refusal occurred: 403 for a member lacking authz.check, 404 for a caller
    // that may not know the resource exists.
    assert!(
        refusals.contains_key("403 \"permission.denied\""),
        "{refusals:?}"
    );
    assert!(refusals.contains_key("404 \"not_found\""), "{refusals:?}");
    // Specifically: the outsider learns nothing about acme; alice may ask about herself only.
    app.post(EVALUATION, &outsider, ask("bob", "app.view", "acme/vision"))
        .await
        .assert_problem(404, "not_found");
    app.post(EVALUATION, &f.alice, ask("bob", "app.view", "acme/vision"))
        .await
        .assert_problem(403, "permission.denied");
    let own = app
        .post(
            EVALUATION,
            &f.alice,
            ask("alice", "app.view", "acme/vision"),
        )
        .await;
    assert_eq!(own.assert_status(200)["decision"], true);
}

#[tokio::test]
async fn pdp_metadata_names_the_endpoints_under_public_url() {
    let config = portcullis_service::ServiceConfig {
        public_url: "https://pdp.example.com/authz".to_owned(),
        ..Default::default()
    };
    let app = spawn_app_with(config).await;
    let response = app
        .client
        .get(format!("{}/.well-known/authzen-configuration", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "max-age=3600");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "policy_decision_point": "https://pdp.example.com/authz",
            "access_evaluation_endpoint": "https://pdp.example.com/authz/access/v1/evaluation",
            "access_evaluations_endpoint": "https://pdp.example.com/authz/access/v1/evaluations",
        })
    );
    // Without credentials, and only with GET.
    let reply = app
        .request(
            Method::POST,
            "/.well-known/authzen-configuration",
            None,
            Some(json!({})),
        )
        .await;
    reply.assert_problem(405, "route.method_not_allowed");
    // The default public URL is the listening address's.
    let app = spawn_app().await;
    let reply = app
        .request(
            Method::GET,
            "/.well-known/authzen-configuration",
            None,
            None,
        )
        .await;
    let body = reply.assert_status(200);
    let pdp = body["policy_decision_point"].as_str().unwrap();
    assert!(!pdp.ends_with('/'), "{pdp}");
    assert_eq!(
        body["access_evaluation_endpoint"],
        format!("{pdp}/access/v1/evaluation")
    );
}

#[tokio::test]
async fn the_revision_header_and_context_token_wait_for_the_write() {
    let config = portcullis_service::ServiceConfig {
        consistency_wait_ms: 100,
        ..Default::default()
    };
    let f = fixture_on(spawn_app_with(config).await).await;
    let app = &f.app;
    let now = app.service.revision();
    for context in [
        json!({"consistency": {"at_least": now}}),
        json!({"consistency": {"fully_consistent": true}}),
        json!({"consistency": {}}),
        json!({"consistency": null}),
    ] {
        let mut body = ask("alice", "app.view", "acme/vision");
        body["context"] = context.clone();
        let reply = app.post(EVALUATION, &f.pep, body).await;
        assert_eq!(reply.assert_status(200)["decision"], true, "{context}");
    }
    let mut body = ask("alice", "app.view", "acme/vision");
    body["context"] = json!({"consistency": {"at_least": now + 1_000}});
    app.post(EVALUATION, &f.pep, body)
        .await
        .assert_problem(503, "check.revision_unavailable");
    // In a batch, a top-level context applies unless an evaluation brings its own, and a wait
    // that runs out is that evaluation's failure.
    let body = json!({
        "subject": user("alice"),
        "action": {"name": "app.view"},
        "context": {"consistency": {"at_least": now}, "time": "2025-06-27T18:03-07:00"},
        "evaluations": [
            {"resource": {"type": "app", "id": "acme/vision"}},
            {"resource": {"type": "app", "id": "acme/vision"}, "context": {"consistency": {"at_least": now + 1_000}}},
            {"resource": {"type": "app", "id": "acme/vision"}, "context": {}},
        ],
    });
    let reply = app.post(EVALUATIONS, &f.pep, body).await;
    let answer = reply.assert_status(200);
    assert_eq!(decisions(answer), [true, false, true]);
    let error = &answer["evaluations"][1]["context"]["error"];
    assert_eq!(error["code"], "check.revision_unavailable");
    assert_eq!(error["status"], 503);
    // A revision that did not come is waited for once per batch, not once per evaluation.
    let started = std::time::Instant::now();
    let body = json!({
        "subject": user("alice"),
        "action": {"name": "app.view"},
        "context": {"consistency": {"at_least": now + 1_000}},
        "evaluations": vec![json!({"resource": {"type": "app", "id": "acme/vision"}}); 30],
    });
    let reply = app.post(EVALUATIONS, &f.pep, body).await;
    let answer = reply.assert_status(200);
    assert_eq!(decisions(answer), vec![false; 30]);
    for evaluation in answer["evaluations"].as_array().unwrap() {
        assert_eq!(
            evaluation["context"]["error"]["code"],
            "check.revision_unavailable"
        );
    }
    // 30 waits of 100 ms would take 3 s.
    assert!(started.elapsed() < std::time::Duration::from_millis(1_500));
    // The top-level default's wait applies to the evaluations that inherit it.
    let body = json!({
        "subject": user("alice"),
        "action": {"name": "app.view"},
        "context": {"consistency": {"at_least": now + 1_000}},
        "evaluations": [
            {"resource": {"type": "app", "id": "acme/vision"}},
            {"resource": {"type": "app", "id": "acme/vision"}, "context": {"consistency": {"at_least": now}}},
        ],
    });
    let reply = app.post(EVALUATIONS, &f.pep, body).await;
    assert_eq!(decisions(reply.assert_status(200)), [false, true]);
    // A write's revision makes the next evaluation see it, here as on /v1/check.
    let removed = app.delete("/v1/orgs/acme/members/alice", &f.boss).await;
    assert!(removed.status.is_success(), "{}", removed.body);
    let mut body = ask("alice", "app.view", "acme/vision");
    body["context"] = json!({"consistency": {"at_least": app.service.revision()}});
    let reply = app.post(EVALUATION, &f.pep, body).await;
    assert_eq!(reply.assert_status(200)["decision"], false);
}

/// The AuthZEN 1.0 certification scenario (openid/authzen `certification/`) on a Portcullis
/// fixture: its `record-1` is the app `acme/record-1`, `read` is `app.view`, `write` is
/// `app.edit_description`, `alice` an org_contributor and `bob` an org_user, so its four Core
/// decision rules hold. The Properties rules (5-8) do not apply: Portcullis never decides from
/// attributes the caller asserts (docs/authzen.md).
mod certification {
    use super::*;

    fn record(id: &str) -> Value {
        json!({"type": "app", "id": format!("acme/{id}")})
    }

    fn read() -> Value {
        json!({"name": "app.view"})
    }

    fn write() -> Value {
        json!({"name": "app.edit_description"})
    }

    async fn scenario() -> Fixture {
        let f = fixture().await;
        for id in ["record-1", "record-2"] {
            f.app
                .post(
                    "/v1/accounts/acme/apps",
                    &f.boss,
                    json!({"id": id, "name": id}),
                )
                .await
                .assert_status(201);
        }
        f
    }

    async fn decide(f: &Fixture, path: &str, body: Value) -> Value {
        let response = f
            .app
            .client
            .post(format!("{}{path}", f.app.address))
            .bearer_auth(&f.pep)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{body}");
        assert_eq!(response.headers()["content-type"], "application/json");
        response.json().await.unwrap()
    }

    #[tokio::test]
    async fn basic_core() {
        let f = scenario().await;
        let rules = [
            ("alice", read(), true),
            ("alice", write(), true),
            ("bob", read(), true),
            ("bob", write(), false),
        ];
        for (subject, action, expected) in &rules {
            let body =
                json!({"subject": user(subject), "action": action, "resource": record("record-1")});
            let answer = decide(&f, EVALUATION, body.clone()).await;
            // C-2-3: a boolean decision, an optional object context.
            assert_eq!(answer["decision"], *expected, "{body}");
            assert!(answer["context"].is_object());
            // C-2-6: idempotent.
            for _ in 0..3 {
                assert_eq!(decide(&f, EVALUATION, body.clone()).await, answer);
            }
        }
        // C-2-2-3: context does not change the fixture decision.
        let body = json!({"subject": user("alice"), "action": read(), "resource": record("record-1"),
                          "context": {"time": "2025-06-27T18:03-07:00", "ip": "192.168.1.1"}});
        assert_eq!(decide(&f, EVALUATION, body).await["decision"], true);
        // C-2-2-8: additional properties.
        let body = json!({
            "subject": {"type": "user", "id": "alice", "properties": {"department": "Sales", "role": "manager"}},
            "action": {"name": "app.view", "properties": {"method": "GET"}},
            "resource": {"type": "app", "id": "acme/record-1", "properties": {"status": "active", "owner": "bob"}},
        });
        assert_eq!(decide(&f, EVALUATION, body).await["decision"], true);
        // C-2-2-9: unknown fields.
        let body = json!({"subject": user("alice"), "action": read(), "resource": record("record-1"),
                          "foo": "bar", "futureField": {"nested": true}});
        assert_eq!(decide(&f, EVALUATION, body).await["decision"], true);
        // C-2-4 (error handling) and C-2-5 (request ids) are `malformed_requests_are_400_problems`
        // and `request_ids_are_echoed`.
    }

    #[tokio::test]
    async fn batch_core() {
        let f = scenario().await;
        // C-3-2-1: shape.
        let answer = decide(
            &f,
            EVALUATIONS,
            json!({"subject": user("alice"), "action": read(), "evaluations": [
                {"resource": record("record-1")}, {"resource": record("record-2")}]}),
        )
        .await;
        assert_eq!(answer["evaluations"].as_array().unwrap().len(), 2);
        assert!(answer.get("decision").is_none());
        // C-3-2-2: decisions and order.
        let answer = decide(
            &f,
            EVALUATIONS,
            json!({"subject": user("bob"), "resource": record("record-1"), "evaluations": [
                {"action": read()}, {"action": write()}]}),
        )
        .await;
        assert_eq!(decisions(&answer), [true, false]);
        // C-3-2-5: no defaults.
        let answer = decide(
            &f,
            EVALUATIONS,
            json!({"evaluations": [
                {"subject": user("alice"), "action": read(), "resource": record("record-1")},
                {"subject": user("bob"), "action": write(), "resource": record("record-1")}]}),
        )
        .await;
        assert_eq!(decisions(&answer), [true, false]);
        // C-3-2-6: context inheritance is accepted.
        let answer = decide(
            &f,
            EVALUATIONS,
            json!({"subject": user("alice"), "action": read(), "context": {"time": "2025-06-27T18:03-07:00"},
                   "evaluations": [{"resource": record("record-1")},
                                   {"resource": record("record-2"), "context": {"time": "2025-06-27T19:00-07:00", "source": "batch-override"}}]}),
        )
        .await;
        assert_eq!(answer["evaluations"].as_array().unwrap().len(), 2);
        // C-3-4-1: an evaluation missing its resource is `decision: false`, the rest answer.
        let answer = decide(
            &f,
            EVALUATIONS,
            json!({"subject": user("alice"), "action": read(), "options": {"evaluations_semantic": "execute_all"},
                   "evaluations": [{"resource": record("record-1")}, {}]}),
        )
        .await;
        assert_eq!(decisions(&answer), [true, false]);
        assert!(answer["evaluations"][1]["context"].is_object());
        // C-3-4-2 and C-3-4-3: no or empty evaluations: one evaluation's answer.
        for evaluations in [None, Some(json!([]))] {
            let mut body =
                json!({"subject": user("alice"), "action": read(), "resource": record("record-1")});
            if let Some(evaluations) = evaluations {
                body["evaluations"] = evaluations;
            }
            assert_eq!(decide(&f, EVALUATIONS, body).await["decision"], true);
        }
    }

    #[tokio::test]
    async fn discovery() {
        // C-6: the metadata's endpoints are where the evaluations are answered.
        let f = scenario().await;
        let metadata = f
            .app
            .request(
                Method::GET,
                "/.well-known/authzen-configuration",
                None,
                None,
            )
            .await;
        let metadata = metadata.assert_status(200).clone();
        let base = metadata["policy_decision_point"].as_str().unwrap();
        assert_eq!(base, f.app.service.config().public_url);
        for (key, path) in [
            ("access_evaluation_endpoint", EVALUATION),
            ("access_evaluations_endpoint", EVALUATIONS),
        ] {
            assert_eq!(metadata[key], format!("{base}{path}"));
        }
        // No search API is offered, so none is advertised.
        assert!(metadata.get("search_subject_endpoint").is_none());
    }
}

/// A tiny deterministic generator (SplitMix64): the population depends only on the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const ROLES: [&str; 6] = [
    "admin",
    "financial_manager",
    "org_contributor",
    "team_contributor",
    "org_user",
    "infrastructure_manager",
];
const TEAM_ROLES: [&str; 4] = [
    "full_access",
    "model_trainer",
    "labeler_lead",
    "labeler_worker",
];

fn permissions() -> Vec<&'static str> {
    use portcullis_service::core::permissions::Permission;
    Permission::ALL.iter().map(|p| p.as_str()).collect()
}

/// The permissions of one level (`org` or `app`).
fn permissions_of(level: &str) -> Vec<&'static str> {
    use portcullis_service::core::permissions::Permission;
    Permission::ALL
        .iter()
        .filter(|p| p.level().as_str() == level)
        .map(|p| p.as_str())
        .collect()
}

/// Who and what the random questions are about.
struct Population {
    subjects: Vec<Value>,
    resources: Vec<(Value, Value)>,
    /// (label, token) of the callers that ask.
    callers: Vec<(String, String)>,
}

/// A seeded organization: members in every role (sessions and scoped, org-bound or unbound
/// PATs), teams with members and apps under random team roles, apps of every visibility with
/// items, a collaborator, a personal app, an app key, a revoked PAT and a second organization.
async fn populate(app: &TestApp, rng: &mut Rng) -> Population {
    let all_permissions = permissions();
    let boss = app.user("boss").await;
    app.org(&boss, "acme").await;
    let mut subjects = vec![user("boss"), user("ghost"), token("pcl_forged_token_value")];
    let mut members: Vec<(String, &str, String)> = Vec::new();
    for role in ROLES {
        for n in 0..1 + rng.below(2) {
            let id = format!("{}-{n}", role.replace('_', "-"));
            let session = app.user(&id).await;
            invite_and_accept(app, &boss, "acme", &session, &id, role).await;
            subjects.push(user(&id));
            members.push((id, role, session));
        }
    }
    let apps = "/v1/accounts/acme/apps";
    let mut app_ids = Vec::new();
    for a in 0..3 + rng.below(2) {
        let id = format!("app{a}");
        let visibility = *rng.pick(&["private", "org", "public"]);
        app.post(
            apps,
            &boss,
            json!({"id": id, "name": id, "visibility": visibility}),
        )
        .await
        .assert_status(201);
        app_ids.push(id);
    }
    let mut resources = vec![org("acme"), org("nowhere"), app_resource("acme", "nothing")];
    for id in &app_ids {
        resources.push(app_resource("acme", id));
        for (kind, path) in [
            ("model", "models"),
            ("workflow", "workflows"),
            ("module", "modules"),
        ] {
            if rng.chance(60) {
                let item_id = format!("{kind}-{id}");
                let visibility = *rng.pick(&["private", "org", "public"]);
                app.post(
                    &format!("{apps}/{id}/{path}"),
                    &boss,
                    json!({"id": item_id, "visibility": visibility}),
                )
                .await
                .assert_status(201);
                resources.push(item(kind, "acme", id, &item_id));
            }
        }
        resources.push(item("model", "acme", id, "no-such-model"));
    }
    resources.push(item("cluster", "acme", &app_ids[0], "gpu"));
    resources.push(item("deployment", "acme", &app_ids[0], "serve"));
    for t in 0..2 {
        let team = format!("team{t}");
        app.post(
            "/v1/orgs/acme/teams",
            &boss,
            json!({"id": team, "name": team}),
        )
        .await
        .assert_status(201);
        for id in &app_ids {
            if rng.chance(50) {
                app.put(
                    &format!("/v1/orgs/acme/teams/{team}/apps/{id}"),
                    &boss,
                    json!({"role": rng.pick(&TEAM_ROLES)}),
                )
                .await
                .assert_status(200);
            }
        }
        for (member, _, _) in &members {
            if rng.chance(40) {
                let added = app
                    .request(
                        Method::PUT,
                        &format!("/v1/orgs/acme/teams/{team}/members/{member}"),
                        Some(&boss),
                        None,
                    )
                    .await;
                assert!(added.status.is_success(), "{}", added.body);
            }
        }
    }
    // A collaborator from outside with a few app-level permissions.
    app.user("collab").await;
    let app_level = [
        "app.view",
        "models.create",
        "collaborators.view",
        "modules.use",
    ];
    let granted: Vec<&str> = app_level
        .iter()
        .copied()
        .filter(|_| rng.chance(60))
        .collect();
    app.put(
        &format!("{apps}/{}/collaborators/collab", app_ids[0]),
        &boss,
        json!({"permissions": if granted.is_empty() { vec!["app.view"] } else { granted }}),
    )
    .await
    .assert_status(200);
    subjects.push(user("collab"));
    // An outsider with an org and a personal app of its own.
    let stranger = app.user("stranger").await;
    app.org(&stranger, "other").await;
    app.post(
        "/v1/accounts/other/apps",
        &stranger,
        json!({"id": "theirs", "name": "Theirs"}),
    )
    .await
    .assert_status(201);
    app.post(
        "/v1/accounts/stranger/apps",
        &stranger,
        json!({"id": "mine", "name": "Mine", "visibility": rng.pick(&["private", "public"])}),
    )
    .await
    .assert_status(201);
    subjects.push(user("stranger"));
    resources.push(org("other"));
    resources.push(app_resource("other", "theirs"));
    resources.push(app_resource("stranger", "mine"));
    // Credentials as subjects: PATs with random scopes, unbound or bound to acme;
    // sessions; an app key; a revoked PAT.
    for (_, _, session) in &members {
        if rng.chance(50) {
            let scopes: Vec<&str> = if rng.chance(30) {
                vec!["all"]
            } else {
                (0..1 + rng.below(4))
                    .map(|_| *rng.pick(&all_permissions))
                    .collect()
            };
            let mut body = json!({"scopes": scopes});
            if rng.chance(40) {
                body["org"] = json!("acme");
            }
            let secret = pat(app, session, body).await;
            subjects.push(token(&secret));
        }
        if rng.chance(20) {
            subjects.push(token(session));
        }
    }
    let key = app
        .post(
            &format!("{apps}/{}/keys", app_ids[0]),
            &boss,
            json!({"scopes": ["app.view", "models.create"]}),
        )
        .await;
    subjects.push(token(key.assert_status(201)["token"].as_str().unwrap()));
    let revoked = app
        .post("/v1/users/me/keys", &boss, json!({"scopes": ["all"]}))
        .await;
    let revoked = revoked.assert_status(201).clone();
    app.delete(
        &format!("/v1/users/me/keys/{}", revoked["id"].as_str().unwrap()),
        &boss,
    )
    .await
    .assert_status(204);
    subjects.push(token(revoked["token"].as_str().unwrap()));

    let operator = crate::api::policy::operator(app).await;
    let pep = service_key(app, &operator, None).await;
    let (member, _, member_session) = rng.pick(&members);
    let callers = vec![
        ("platform service key".to_owned(), pep),
        ("acme's admin".to_owned(), boss),
        (format!("member {member}"), member_session.clone()),
    ];
    Population {
        subjects,
        resources,
        callers,
    }
}

#[tokio::test]
async fn decisions_equal_check_on_a_random_population() {
    let seed = std::env::var("AUTHZEN_COMPARE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("authzen vs check: AUTHZEN_COMPARE_SEED={seed}");
    let mut rng = Rng(seed);
    let app = spawn_app().await;
    let population = populate(&app, &mut rng).await;
    let permissions = permissions();
    const TRIPLES: usize = 300;
    let mut triples = Vec::with_capacity(TRIPLES);
    let (org_level, app_level) = (permissions_of("org"), permissions_of("app"));
    for _ in 0..TRIPLES {
        let resource = rng.below(population.resources.len());
        // Mostly a permission of the resource's level (the others are `level_mismatch`).
        let own_level = if population.resources[resource].0["type"] == "org" {
            &org_level
        } else {
            &app_level
        };
        let permission = if rng.chance(80) {
            *rng.pick(own_level)
        } else {
            *rng.pick(&permissions)
        };
        triples.push((rng.below(population.subjects.len()), permission, resource));
    }
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for (label, caller) in &population.callers {
        let mut batch = Vec::new();
        let mut expected = Vec::new();
        for (i, (s, permission, r)) in triples.iter().enumerate() {
            let subject = &population.subjects[*s];
            let resource = &population.resources[*r];
            let (authzen, check) = both(&app, caller, subject, permission, resource).await;
            let what = format!(
                "#{i} {label} asks {subject} {permission} {} (seed {seed})",
                resource.0
            );
            assert_same_reply(&authzen, &check, &what);
            let outcome = match check.status.as_u16() {
                200 => format!("{} {}", check.body["allowed"], check.body["reason"]),
                status => format!("{status} {}", check.body["code"]),
            };
            *outcomes.entry(outcome).or_default() += 1;
            batch.push(
                json!({"subject": subject, "action": {"name": permission}, "resource": resource.0}),
            );
            expected.push((what, check));
        }
        // The same questions in one batch (no writes in between: the same revision).
        let reply = app
            .post(EVALUATIONS, caller, json!({"evaluations": batch}))
            .await;
        let answers = reply.assert_status(200)["evaluations"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(answers.len(), expected.len());
        for (answer, (what, check)) in answers.iter().zip(&expected) {
            if check.status == 200 {
                assert_same_decision(answer, &check.body, &format!("batch {what}"));
            } else {
                assert_eq!(answer["decision"], false, "batch {what}");
                assert_eq!(
                    answer["context"]["error"]["code"], check.body["code"],
                    "batch {what}"
                );
            }
        }
    }
    eprintln!("authzen vs check outcomes: {outcomes:?}");
    // The population reaches allowed and denied decisions for several reasons, and refusals.
    let allowed = outcomes
        .iter()
        .filter(|(k, _)| k.starts_with("true"))
        .map(|(_, n)| n)
        .sum::<usize>();
    let denied_reasons = outcomes.keys().filter(|k| k.starts_with("false")).count();
    assert!(allowed >= 10, "{outcomes:?}");
    assert!(denied_reasons >= 3, "{outcomes:?}");
}
