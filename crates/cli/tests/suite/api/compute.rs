//! Compute through the API: clusters, nodepools and deployments under `compute.manage`,
//! `compute.deploy` and `compute.view` for every role, visibility, and every bad input of
//! the compute contract (min above max, priority 10, a model or nodepool of another org, duplicates, in-use
//! deletions) answered with a problem and no change.

use reqwest::Method;
use serde_json::{Value, json};

use crate::api::helpers::{Reply, TestApp, spawn_app};
use crate::api::matrix::{ROLES, corpus, populated_org};

const ORG: &str = "/v1/orgs/acme";

fn cluster_body(id: &str, visibility: &str) -> Value {
    json!({"id": id, "description": "GPU cluster", "cloud_provider": "aws", "region": "us-east-1",
           "cluster_type": "dedicated", "visibility": visibility})
}

fn nodepool_body(id: &str, min: i64, max: i64) -> Value {
    json!({"id": id, "instance_types": ["g5.xlarge", "g5.2xlarge"], "capacity_type": "spot",
           "min_instances": min, "max_instances": max})
}

fn deployment_body(id: &str, app: &str, model: &str, targets: Value) -> Value {
    json!({"id": id, "model": {"account": "acme", "app": app, "id": model}, "nodepools": targets,
           "min_replicas": 1, "max_replicas": 3})
}

#[track_caller]
fn assert_outcome(reply: &Reply, allowed: bool, what: &str) {
    if allowed {
        assert!(
            reply.status.is_success(),
            "{what}: expected success, got {} {}",
            reply.status,
            reply.body
        );
    } else {
        reply.assert_problem(403, "permission.denied");
    }
}

async fn exists(app: &TestApp, path: &str, token: &str) -> bool {
    let reply = app.get(path, token).await;
    match reply.status.as_u16() {
        200 => true,
        404 => false,
        other => panic!("GET {path}: unexpected {other} {}", reply.body),
    }
}

/// A model `model` in a new app `app` of acme, both with `visibility`, created by `token`
/// through the models API.
async fn model(app: &TestApp, token: &str, app_id: &str, model: &str, visibility: &str) {
    app.post(
        "/v1/accounts/acme/apps",
        token,
        json!({"id": app_id, "name": app_id, "visibility": visibility}),
    )
    .await
    .assert_status(201);
    app.post(
        &format!("/v1/accounts/acme/apps/{app_id}/models"),
        token,
        json!({"id": model, "visibility": visibility}),
    )
    .await
    .assert_status(201);
}

#[tokio::test]
async fn every_role_against_the_compute_rows() {
    let app = spawn_app().await;
    let sessions = populated_org(&app).await;
    let admin = sessions["admin"].clone();
    let corpus = corpus();
    let cell = |i: usize, p: &str| corpus.expected(i, p, None, "full_access").0;
    let outsider = app.user("outsider").await;

    app.post(
        &format!("{ORG}/compute-clusters"),
        &admin,
        cluster_body("gpu", "private"),
    )
    .await
    .assert_status(201);
    app.post(
        &format!("{ORG}/compute-clusters/gpu/nodepools"),
        &admin,
        nodepool_body("np1", 0, 4),
    )
    .await
    .assert_status(201);
    // An org-visible app and model: every member holds app.view on it, so deploying it is
    // decided by compute.deploy alone.
    model(&app, &admin, "shared", "detector", "org").await;
    let target = json!([{"cluster": "gpu", "nodepool": "np1", "priority": 0}]);
    app.post(
        &format!("{ORG}/deployments"),
        &admin,
        deployment_body("base", "shared", "detector", target.clone()),
    )
    .await
    .assert_status(201);

    for (i, role) in ROLES.iter().enumerate() {
        let me = &sessions[role];
        let tag = role.replace('_', "-");
        let what = |p: &str| format!("{role} {p}");

        // compute.manage: create, edit and delete clusters; create nodepools.
        let manage = cell(i, "compute.manage");
        let reply = app
            .post(
                &format!("{ORG}/compute-clusters"),
                me,
                cluster_body(&format!("c-{tag}"), "private"),
            )
            .await;
        assert_outcome(&reply, manage, &what("creates a cluster"));
        assert_eq!(
            exists(&app, &format!("{ORG}/compute-clusters/c-{tag}"), &admin).await,
            manage,
            "{role}: cluster stored iff allowed"
        );
        let before = app
            .get(&format!("{ORG}/compute-clusters/gpu"), &admin)
            .await
            .body;
        let reply = app
            .patch(
                &format!("{ORG}/compute-clusters/gpu"),
                me,
                json!({"description": format!("by {tag}")}),
            )
            .await;
        assert_outcome(&reply, manage, &what("edits a cluster"));
        let after = app
            .get(&format!("{ORG}/compute-clusters/gpu"), &admin)
            .await
            .body;
        if manage {
            assert_eq!(after["description"], format!("by {tag}"));
        } else {
            assert_eq!(after, before, "{role}: a refused edit changes nothing");
        }
        app.post(
            &format!("{ORG}/compute-clusters"),
            &admin,
            cluster_body(&format!("d-{tag}"), "private"),
        )
        .await
        .assert_status(201);
        let reply = app
            .delete(&format!("{ORG}/compute-clusters/d-{tag}"), me)
            .await;
        assert_outcome(&reply, manage, &what("deletes a cluster"));
        assert_eq!(
            exists(&app, &format!("{ORG}/compute-clusters/d-{tag}"), &admin).await,
            !manage,
            "{role}: cluster deleted iff allowed"
        );
        let reply = app
            .post(
                &format!("{ORG}/compute-clusters/gpu/nodepools"),
                me,
                nodepool_body(&format!("np-{tag}"), 1, 2),
            )
            .await;
        assert_outcome(&reply, manage, &what("creates a nodepool"));
        assert_eq!(
            exists(
                &app,
                &format!("{ORG}/compute-clusters/gpu/nodepools/np-{tag}"),
                &admin
            )
            .await,
            manage,
            "{role}: nodepool stored iff allowed"
        );
        let reply = app
            .patch(
                &format!("{ORG}/compute-clusters/gpu/nodepools/np1"),
                me,
                json!({"max_instances": 10 + i}),
            )
            .await;
        assert_outcome(&reply, manage, &what("edits a nodepool"));
        let max = app
            .get(&format!("{ORG}/compute-clusters/gpu/nodepools/np1"), &admin)
            .await
            .body["max_instances"]
            .clone();
        assert_eq!(
            max == json!(10 + i),
            manage,
            "{role}: nodepool edited iff allowed"
        );

        // compute.view: reading a private cluster, its nodepools and a deployment.
        let view = cell(i, "compute.view");
        for path in [
            format!("{ORG}/compute-clusters/gpu"),
            format!("{ORG}/compute-clusters/gpu/nodepools"),
            format!("{ORG}/compute-clusters/gpu/nodepools/np1"),
            format!("{ORG}/deployments/base"),
        ] {
            assert_outcome(
                &app.get(&path, me).await,
                view,
                &what(&format!("reads {path}")),
            );
        }
        let listed = app.get(&format!("{ORG}/compute-clusters"), me).await;
        let names = listed.assert_status(200)["clusters"].to_string();
        assert_eq!(
            names.contains("\"gpu\""),
            view,
            "{role}: private cluster listed iff compute.view"
        );

        // compute.deploy: deploy, edit and delete deployments.
        let deploy = cell(i, "compute.deploy");
        let reply = app
            .post(
                &format!("{ORG}/deployments"),
                me,
                deployment_body(&format!("dep-{tag}"), "shared", "detector", target.clone()),
            )
            .await;
        assert_outcome(&reply, deploy, &what("deploys"));
        assert_eq!(
            exists(&app, &format!("{ORG}/deployments/dep-{tag}"), &admin).await,
            deploy,
            "{role}: deployment stored iff allowed"
        );
        let before = app
            .get(&format!("{ORG}/deployments/base"), &admin)
            .await
            .body;
        let reply = app
            .patch(
                &format!("{ORG}/deployments/base"),
                me,
                json!({"max_replicas": 20 + i}),
            )
            .await;
        assert_outcome(&reply, deploy, &what("edits a deployment"));
        let after = app
            .get(&format!("{ORG}/deployments/base"), &admin)
            .await
            .body;
        if deploy {
            assert_eq!(after["max_replicas"], json!(20 + i));
        } else {
            assert_eq!(
                after, before,
                "{role}: a refused deployment edit changes nothing"
            );
        }
        app.post(
            &format!("{ORG}/deployments"),
            &admin,
            deployment_body(
                &format!("victim-{tag}"),
                "shared",
                "detector",
                target.clone(),
            ),
        )
        .await
        .assert_status(201);
        let reply = app
            .delete(&format!("{ORG}/deployments/victim-{tag}"), me)
            .await;
        assert_outcome(&reply, deploy, &what("deletes a deployment"));
        assert_eq!(
            exists(&app, &format!("{ORG}/deployments/victim-{tag}"), &admin).await,
            !deploy,
            "{role}: deployment deleted iff allowed"
        );
    }

    // Outsiders learn nothing: every call is 404.
    for reply in [
        app.get(&format!("{ORG}/compute-clusters"), &outsider).await,
        app.get(&format!("{ORG}/compute-clusters/gpu"), &outsider)
            .await,
        app.get(&format!("{ORG}/compute-clusters/gpu/nodepools"), &outsider)
            .await,
        app.get(&format!("{ORG}/deployments"), &outsider).await,
        app.get(&format!("{ORG}/deployments/base"), &outsider).await,
        app.post(
            &format!("{ORG}/compute-clusters"),
            &outsider,
            cluster_body("x", "private"),
        )
        .await,
        app.patch(
            &format!("{ORG}/compute-clusters/gpu"),
            &outsider,
            json!({"visibility": "public"}),
        )
        .await,
        app.delete(
            &format!("{ORG}/compute-clusters/gpu/nodepools/np1"),
            &outsider,
        )
        .await,
        app.post(
            &format!("{ORG}/deployments"),
            &outsider,
            deployment_body("x", "shared", "detector", target.clone()),
        )
        .await,
        app.delete(&format!("{ORG}/deployments/base"), &outsider)
            .await,
    ] {
        reply.assert_problem(404, "not_found");
    }
    assert_eq!(
        app.get(&format!("{ORG}/compute-clusters/gpu"), &admin)
            .await
            .body["visibility"],
        "private"
    );

    // compute.deploy is not enough without app.view on the model: the infrastructure manager
    // (compute.deploy, no app-level cells) cannot see a private app's model.
    model(&app, &admin, "secret", "m1", "private").await;
    app.post(
        &format!("{ORG}/deployments"),
        &sessions["infrastructure_manager"],
        deployment_body("sneaky", "secret", "m1", target.clone()),
    )
    .await
    .assert_problem(404, "not_found");
    assert!(!exists(&app, &format!("{ORG}/deployments/sneaky"), &admin).await);
    app.post(
        &format!("{ORG}/deployments"),
        &admin,
        deployment_body("allowed", "secret", "m1", target),
    )
    .await
    .assert_status(201);
}

#[tokio::test]
async fn visibility_opens_reading_to_members_and_to_everyone() {
    let app = spawn_app().await;
    let admin = app.user("boss").await;
    app.org(&admin, "acme").await;
    let member = app.user("fin").await;
    let invitation = app
        .post(
            &format!("{ORG}/invitations"),
            &admin,
            json!({"email": "fin@example.com", "role": "financial_manager"}),
        )
        .await;
    let id = invitation.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(&format!("/v1/invitations/{id}/accept"), &member, json!({}))
        .await
        .assert_status(200);
    let outsider = app.user("stranger").await;
    let anonymous = |path: String| {
        let app = &app;
        async move { app.request(Method::GET, &path, None, None).await }
    };

    for (id, visibility) in [("priv", "private"), ("inorg", "org"), ("pub", "public")] {
        app.post(
            &format!("{ORG}/compute-clusters"),
            &admin,
            cluster_body(id, visibility),
        )
        .await
        .assert_status(201);
    }
    // A member without compute.view: private is forbidden, org and public readable.
    app.get(&format!("{ORG}/compute-clusters/priv"), &member)
        .await
        .assert_problem(403, "permission.denied");
    app.get(&format!("{ORG}/compute-clusters/inorg"), &member)
        .await
        .assert_status(200);
    app.get(&format!("{ORG}/compute-clusters/pub"), &member)
        .await
        .assert_status(200);
    let listed = app.get(&format!("{ORG}/compute-clusters"), &member).await;
    let ids: Vec<&str> = listed.assert_status(200)["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["inorg", "pub"]);
    // Outsiders and anonymous callers: public only; the rest does not exist for them.
    for reply in [
        app.get(&format!("{ORG}/compute-clusters/priv"), &outsider)
            .await,
        app.get(&format!("{ORG}/compute-clusters/inorg"), &outsider)
            .await,
        anonymous(format!("{ORG}/compute-clusters/inorg")).await,
        anonymous(format!("{ORG}/compute-clusters/nope")).await,
    ] {
        reply.assert_problem(404, "not_found");
    }
    anonymous(format!("{ORG}/compute-clusters/pub"))
        .await
        .assert_status(200);
    let listed = anonymous(format!("{ORG}/compute-clusters")).await;
    assert_eq!(
        listed.assert_status(200)["clusters"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A nodepool is never more visible than its cluster.
    let mut public_pool = nodepool_body("np", 0, 1);
    public_pool["visibility"] = json!("public");
    for cluster in ["priv", "pub"] {
        app.post(
            &format!("{ORG}/compute-clusters/{cluster}/nodepools"),
            &admin,
            public_pool.clone(),
        )
        .await
        .assert_status(201);
    }
    anonymous(format!("{ORG}/compute-clusters/pub/nodepools/np"))
        .await
        .assert_status(200);
    anonymous(format!("{ORG}/compute-clusters/priv/nodepools/np"))
        .await
        .assert_problem(404, "not_found");
    let np = app
        .get(&format!("{ORG}/compute-clusters/priv/nodepools/np"), &admin)
        .await;
    assert_eq!(np.assert_status(200)["effective_visibility"], "private");

    // A deployment is never more visible than its model's app: a public deployment of a
    // private model stays hidden from anonymous callers.
    model(&app, &admin, "open", "m-pub", "public").await;
    model(&app, &admin, "closed", "m-priv", "private").await;
    let target = json!([{"cluster": "pub", "nodepool": "np", "priority": 3}]);
    for (id, app_id, model_id) in [
        ("d-open", "open", "m-pub"),
        ("d-closed", "closed", "m-priv"),
    ] {
        let mut body = deployment_body(id, app_id, model_id, target.clone());
        body["visibility"] = json!("public");
        app.post(&format!("{ORG}/deployments"), &admin, body)
            .await
            .assert_status(201);
    }
    anonymous(format!("{ORG}/deployments/d-open"))
        .await
        .assert_status(200);
    anonymous(format!("{ORG}/deployments/d-closed"))
        .await
        .assert_problem(404, "not_found");
    let listed = anonymous(format!("{ORG}/deployments")).await;
    let deployments = listed.assert_status(200)["deployments"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(deployments.len(), 1);
    assert_eq!(
        deployments[0]["model"],
        json!({"account": "acme", "app": "open", "id": "m-pub"})
    );
    assert_eq!(
        deployments[0]["nodepools"],
        json!([{"cluster": "pub", "nodepool": "np", "priority": 3}])
    );

    // A PATCH of visibility takes effect for the next reader.
    app.patch(
        &format!("{ORG}/compute-clusters/pub"),
        &admin,
        json!({"visibility": "private"}),
    )
    .await
    .assert_status(200);
    anonymous(format!("{ORG}/compute-clusters/pub"))
        .await
        .assert_problem(404, "not_found");
    anonymous(format!("{ORG}/deployments/d-open"))
        .await
        .assert_problem(404, "not_found");
}

/// Everything the compute API holds for acme, read by its admin.
async fn snapshot(app: &TestApp, admin: &str) -> Value {
    let clusters = app
        .get(&format!("{ORG}/compute-clusters"), admin)
        .await
        .body;
    let mut pools = Vec::new();
    for c in clusters["clusters"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        pools.push(
            app.get(&format!("{ORG}/compute-clusters/{id}/nodepools"), admin)
                .await
                .body,
        );
    }
    let deployments = app.get(&format!("{ORG}/deployments"), admin).await.body;
    json!({"clusters": clusters, "nodepools": pools, "deployments": deployments})
}

#[tokio::test]
async fn bad_compute_input_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.user("boss").await;
    app.org(&admin, "acme").await;
    let other = app.user("rival").await;
    app.org(&other, "other").await;
    // The rival org has the same names: a cluster `gpu` with nodepool `np1` and a model.
    for (token, org) in [(&admin, "acme"), (&other, "other")] {
        app.post(
            &format!("/v1/orgs/{org}/compute-clusters"),
            token,
            cluster_body("gpu", "private"),
        )
        .await
        .assert_status(201);
        app.post(
            &format!("/v1/orgs/{org}/compute-clusters/gpu/nodepools"),
            token,
            nodepool_body("np1", 0, 2),
        )
        .await
        .assert_status(201);
    }
    app.post(
        "/v1/orgs/other/compute-clusters",
        &other,
        cluster_body("theirs", "private"),
    )
    .await
    .assert_status(201);
    app.post(
        "/v1/orgs/other/compute-clusters/theirs/nodepools",
        &other,
        nodepool_body("np9", 0, 2),
    )
    .await
    .assert_status(201);
    model(&app, &admin, "vision", "detector", "private").await;
    app.post(
        "/v1/accounts/other/apps",
        &other,
        json!({"id": "vision", "name": "v"}),
    )
    .await
    .assert_status(201);
    app.post(
        "/v1/accounts/other/apps/vision/models",
        &other,
        json!({"id": "foreign"}),
    )
    .await
    .assert_status(201);
    let target = json!([{"cluster": "gpu", "nodepool": "np1", "priority": 0}]);
    app.post(
        &format!("{ORG}/deployments"),
        &admin,
        deployment_body("live", "vision", "detector", target.clone()),
    )
    .await
    .assert_status(201);
    let start = snapshot(&app, &admin).await;

    let cases: Vec<(Method, String, Value, u16, &str)> = vec![
        // Clusters.
        (
            Method::POST,
            format!("{ORG}/compute-clusters"),
            cluster_body("gpu", "private"),
            409,
            "conflict",
        ),
        (
            Method::POST,
            format!("{ORG}/compute-clusters"),
            cluster_body("GPU", "private"),
            409,
            "conflict",
        ),
        (
            Method::POST,
            format!("{ORG}/compute-clusters"),
            cluster_body("bad id!", "private"),
            422,
            "id.invalid",
        ),
        (
            Method::POST,
            format!("{ORG}/compute-clusters"),
            cluster_body("ok", "secret"),
            422,
            "field.invalid",
        ),
        (
            Method::POST,
            format!("{ORG}/compute-clusters"),
            json!({"id": "ok", "cloud_provider": "", "region": "r", "cluster_type": "t"}),
            422,
            "field.invalid",
        ),
        (
            Method::POST,
            format!("{ORG}/compute-clusters"),
            json!({"id": "ok", "cloud_provider": "aws", "region": "r".repeat(65), "cluster_type": "t"}),
            422,
            "field.invalid",
        ),
        (
            Method::POST,
            format!("{ORG}/compute-clusters"),
            json!({"id": "ok", "cloud_provider": "aws", "region": "r", "cluster_type": "t", "description": "d".repeat(2001)}),
            422,
            "field.too_long",
        ),
        (
            Method::POST,
            format!("{ORG}/compute-clusters"),
            json!({"id": "ok", "cloud_provider": "aws", "region": "r", "cluster_type": "t", "gpus": 8}),
            400,
            "request.invalid_body",
        ),
        (
            Method::PATCH,
            format!("{ORG}/compute-clusters/gpu"),
            json!({}),
            422,
            "field.required",
        ),
        (
            Method::PATCH,
            format!("{ORG}/compute-clusters/nope"),
            json!({"description": "x"}),
            404,
            "not_found",
        ),
        // Nodepools.
        (
            Method::POST,
            format!("{ORG}/compute-clusters/gpu/nodepools"),
            nodepool_body("np2", 5, 4),
            422,
            "nodepool.min_above_max",
        ),
        (
            Method::POST,
            format!("{ORG}/compute-clusters/gpu/nodepools"),
            nodepool_body("np2", -1, 4),
            422,
            "nodepool.invalid_instances",
        ),
        (
            Method::POST,
            format!("{ORG}/compute-clusters/gpu/nodepools"),
            nodepool_body("np2", 0, 1001),
            422,
            "nodepool.invalid_instances",
        ),
        (
            Method::POST,
            format!("{ORG}/compute-clusters/gpu/nodepools"),
            nodepool_body("np1", 0, 1),
            409,
            "conflict",
        ),
        (
            Method::POST,
            format!("{ORG}/compute-clusters/gpu/nodepools"),
            json!({"id": "np2", "instance_types": [], "capacity_type": "spot", "min_instances": 0, "max_instances": 1}),
            422,
            "nodepool.invalid_instance_types",
        ),
        (
            Method::POST,
            format!("{ORG}/compute-clusters/gpu/nodepools"),
            json!({"id": "np2", "instance_types": [""], "capacity_type": "spot", "min_instances": 0, "max_instances": 1}),
            422,
            "field.invalid",
        ),
        (
            Method::POST,
            format!("{ORG}/compute-clusters/gpu/nodepools"),
            json!({"id": "np2", "instance_types": (0..21).map(|i| format!("t{i}")).collect::<Vec<_>>(), "capacity_type": "spot",
                "min_instances": 0, "max_instances": 1}),
            422,
            "nodepool.invalid_instance_types",
        ),
        (
            Method::POST,
            format!("{ORG}/compute-clusters/gpu/nodepools"),
            json!({"id": "np2", "instance_types": ["a"], "capacity_type": "reserved", "min_instances": 0, "max_instances": 1}),
            422,
            "field.invalid",
        ),
        (
            Method::POST,
            format!("{ORG}/compute-clusters/nope/nodepools"),
            nodepool_body("np2", 0, 1),
            404,
            "not_found",
        ),
        // Merged with the stored max (2), a min of 3 is above it.
        (
            Method::PATCH,
            format!("{ORG}/compute-clusters/gpu/nodepools/np1"),
            json!({"min_instances": 3}),
            422,
            "nodepool.min_above_max",
        ),
        (
            Method::DELETE,
            format!("{ORG}/compute-clusters/gpu/nodepools/np1"),
            Value::Null,
            409,
            "nodepool.in_use",
        ),
        (
            Method::DELETE,
            format!("{ORG}/compute-clusters/gpu"),
            Value::Null,
            409,
            "cluster.in_use",
        ),
        // Deployments.
        (
            Method::POST,
            format!("{ORG}/deployments"),
            deployment_body(
                "d2",
                "vision",
                "detector",
                json!([{"cluster": "gpu", "nodepool": "np1", "priority": 10}]),
            ),
            422,
            "deployment.invalid_priority",
        ),
        (
            Method::POST,
            format!("{ORG}/deployments"),
            deployment_body(
                "d2",
                "vision",
                "detector",
                json!([{"cluster": "gpu", "nodepool": "np1", "priority": -1}]),
            ),
            422,
            "deployment.invalid_priority",
        ),
        (
            Method::POST,
            format!("{ORG}/deployments"),
            json!({"id": "d2", "model": {"account": "other", "app": "vision", "id": "foreign"}, "nodepools": target.clone(),
                "min_replicas": 0, "max_replicas": 1}),
            422,
            "deployment.model_not_in_org",
        ),
        (
            Method::POST,
            format!("{ORG}/deployments"),
            deployment_body(
                "d2",
                "vision",
                "detector",
                json!([{"org": "other", "cluster": "gpu", "nodepool": "np1", "priority": 0}]),
            ),
            422,
            "deployment.nodepool_not_in_org",
        ),
        (
            Method::POST,
            format!("{ORG}/deployments"),
            deployment_body(
                "d2",
                "vision",
                "detector",
                json!([{"cluster": "theirs", "nodepool": "np9", "priority": 0}]),
            ),
            422,
            "deployment.nodepool_not_in_org",
        ),
        (
            Method::POST,
            format!("{ORG}/deployments"),
            deployment_body(
                "d2",
                "vision",
                "detector",
                json!([
             {"cluster": "gpu", "nodepool": "np1", "priority": 0}, {"cluster": "GPU", "nodepool": "NP1", "priority": 1}]),
            ),
            422,
            "deployment.duplicate_nodepool",
        ),
        (
            Method::POST,
            format!("{ORG}/deployments"),
            deployment_body("d2", "vision", "detector", json!([])),
            422,
            "deployment.invalid_nodepools",
        ),
        (
            Method::POST,
            format!("{ORG}/deployments"),
            deployment_body("live", "vision", "detector", target.clone()),
            409,
            "conflict",
        ),
        (
            Method::POST,
            format!("{ORG}/deployments"),
            deployment_body("d2", "vision", "nope", target.clone()),
            404,
            "not_found",
        ),
        (
            Method::POST,
            format!("{ORG}/deployments"),
            json!({"id": "d2", "model": {"account": "acme", "app": "vision", "id": "detector"}, "nodepools": target.clone(),
                "min_replicas": 4, "max_replicas": 3}),
            422,
            "deployment.min_above_max",
        ),
        (
            Method::PATCH,
            format!("{ORG}/deployments/live"),
            json!({"min_replicas": 9}),
            422,
            "deployment.min_above_max",
        ),
        (
            Method::PATCH,
            format!("{ORG}/deployments/live"),
            json!({"nodepools": [{"cluster": "theirs", "nodepool": "np9", "priority": 1}]}),
            422,
            "deployment.nodepool_not_in_org",
        ),
        (
            Method::PATCH,
            format!("{ORG}/deployments/live"),
            json!({"nodepools": [{"cluster": "gpu", "nodepool": "np1", "priority": 10}]}),
            422,
            "deployment.invalid_priority",
        ),
        (
            Method::DELETE,
            format!("{ORG}/deployments/nope"),
            Value::Null,
            404,
            "not_found",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let body = (!body.is_null()).then_some(body);
        let reply = app
            .request(method.clone(), &path, Some(&admin), body.clone())
            .await;
        assert_eq!(
            reply.status.as_u16(),
            status,
            "{method} {path} {body:?}: {}",
            reply.body
        );
        reply.assert_problem(status, code);
        assert_eq!(
            snapshot(&app, &admin).await,
            start,
            "{method} {path} {body:?} changed data"
        );
    }
    // The rival org is untouched too.
    let theirs = app.get("/v1/orgs/other/deployments", &other).await;
    assert_eq!(theirs.assert_status(200)["deployments"], json!([]));

    // Once the deployment is gone, the cluster can be deleted and takes its nodepools along.
    app.delete(&format!("{ORG}/deployments/live"), &admin)
        .await
        .assert_status(204);
    app.delete(&format!("{ORG}/compute-clusters/gpu"), &admin)
        .await
        .assert_status(204);
    app.get(&format!("{ORG}/compute-clusters/gpu/nodepools/np1"), &admin)
        .await
        .assert_problem(404, "not_found");
    // Re-creating the same names works (nothing was left behind).
    app.post(
        &format!("{ORG}/compute-clusters"),
        &admin,
        cluster_body("gpu", "private"),
    )
    .await
    .assert_status(201);
    let pools = app
        .get(&format!("{ORG}/compute-clusters/gpu/nodepools"), &admin)
        .await;
    assert_eq!(pools.assert_status(200)["nodepools"], json!([]));
}

#[tokio::test]
async fn deleting_the_org_or_the_app_takes_deployments_along() {
    let app = spawn_app().await;
    let admin = app.user("boss").await;
    app.org(&admin, "acme").await;
    app.post(
        &format!("{ORG}/compute-clusters"),
        &admin,
        cluster_body("gpu", "private"),
    )
    .await
    .assert_status(201);
    app.post(
        &format!("{ORG}/compute-clusters/gpu/nodepools"),
        &admin,
        nodepool_body("np1", 0, 2),
    )
    .await
    .assert_status(201);
    model(&app, &admin, "vision", "detector", "private").await;
    model(&app, &admin, "speech", "asr", "private").await;
    let target = json!([{"cluster": "gpu", "nodepool": "np1", "priority": 0}]);
    for (id, app_id, model_id) in [("d1", "vision", "detector"), ("d2", "speech", "asr")] {
        app.post(
            &format!("{ORG}/deployments"),
            &admin,
            deployment_body(id, app_id, model_id, target.clone()),
        )
        .await
        .assert_status(201);
    }
    let created = app.get(&format!("{ORG}/deployments/d1"), &admin).await;
    let body = created.assert_status(200);
    assert_eq!(
        body["model"],
        json!({"account": "acme", "app": "vision", "id": "detector"})
    );
    assert_eq!(
        (body["min_replicas"].clone(), body["max_replicas"].clone()),
        (json!(1), json!(3))
    );

    // Deleting an app deletes the deployments of its models.
    app.delete("/v1/accounts/acme/apps/vision", &admin)
        .await
        .assert_status(204);
    app.get(&format!("{ORG}/deployments/d1"), &admin)
        .await
        .assert_problem(404, "not_found");
    app.get(&format!("{ORG}/deployments/d2"), &admin)
        .await
        .assert_status(200);

    // Every mutation left its audit entry, with before/after for edits; an edit that changes
    // nothing (`max_instances` set to 5 again) leaves none.
    let d3 = deployment_body("d3", "speech", "asr", target.clone());
    let np1 = "/compute-clusters/gpu/nodepools/np1";
    #[rustfmt::skip]
    let mutations = [
        (Method::PATCH, "/compute-clusters/gpu", json!({"visibility": "org"}), 200),
        (Method::PATCH, np1, json!({"max_instances": 5}), 200),
        (Method::PATCH, "/deployments/d2", json!({"min_replicas": 2}), 200),
        (Method::POST, "/compute-clusters/gpu/nodepools", nodepool_body("spare", 0, 1), 201),
        (Method::DELETE, "/compute-clusters/gpu/nodepools/spare", Value::Null, 204),
        (Method::PATCH, np1, json!({"max_instances": 5}), 200),
        (Method::POST, "/deployments", d3, 201),
        (Method::DELETE, "/deployments/d3", Value::Null, 204),
        (Method::POST, "/compute-clusters", cluster_body("cpu", "org"), 201),
        (Method::POST, "/compute-clusters/cpu/nodepools", nodepool_body("small", 1, 1), 201),
        (Method::DELETE, "/compute-clusters/cpu", Value::Null, 204),
    ];
    for (method, path, body, status) in mutations {
        let body = (!body.is_null()).then_some(body);
        app.request(method, &format!("{ORG}{path}"), Some(&admin), body)
            .await
            .assert_status(status);
    }
    let log = app.get(&format!("{ORG}/audit-log?limit=200"), &admin).await;
    let entries = log.assert_status(200)["entries"]
        .as_array()
        .unwrap()
        .clone();
    let compute: Vec<Value> = entries
        .iter()
        .filter(|e| (900..1200).contains(&e["operation"].as_i64().unwrap()))
        .map(|e| json!([e["operation"], e["targets"], e["details"]]))
        .rev()
        .collect();
    assert_eq!(Value::Array(compute), expected_compute_entries());

    // Deleting the org deletes everything, deployments on nodepools included.
    app.delete(ORG, &admin).await.assert_status(204);
    app.get(&format!("{ORG}/deployments"), &admin)
        .await
        .assert_problem(404, "not_found");
}

/// Every compute entry `deleting_the_org_or_the_app_takes_deployments_along` writes, oldest
/// first: (operation, targets, details).
fn expected_compute_entries() -> Value {
    let cluster = |id: &str| json!({"org": "acme", "cluster": id});
    let nodepool =
        |cluster: &str, id: &str| json!({"org": "acme", "cluster": cluster, "nodepool": id});
    let deployment = |id: &str| json!({"org": "acme", "deployment": id});
    let cluster_fields = |visibility: &str| {
        json!({"description": "GPU cluster", "cloud_provider": "aws", "region": "us-east-1",
               "cluster_type": "dedicated", "visibility": visibility})
    };
    let nodepool_fields = |min: i64, max: i64| {
        json!({"instance_types": ["g5.xlarge", "g5.2xlarge"], "capacity_type": "spot",
               "min_instances": min, "max_instances": max, "visibility": "private"})
    };
    let deployment_fields = |app: &str, model: &str| {
        json!({"model": {"account": "acme", "app": app, "id": model},
               "nodepools": [{"cluster": "gpu", "nodepool": "np1", "priority": 0}],
               "min_replicas": 1, "max_replicas": 3, "visibility": "private"})
    };
    let edit = |field: &str, before: Value, after: Value| json!({"before": {field: before}, "after": {field: after}});
    json!([
        [900, cluster("gpu"), cluster_fields("private")],
        [1000, nodepool("gpu", "np1"), nodepool_fields(0, 2)],
        [1100, deployment("d1"), deployment_fields("vision", "detector")],
        [1100, deployment("d2"), deployment_fields("speech", "asr")],
        [901, cluster("gpu"), edit("visibility", json!("private"), json!("org"))],
        [1001, nodepool("gpu", "np1"), edit("max_instances", json!(2), json!(5))],
        [1101, deployment("d2"), edit("min_replicas", json!(1), json!(2))],
        [1000, nodepool("gpu", "spare"), nodepool_fields(0, 1)],
        [1002, nodepool("gpu", "spare"), {}],
        [1100, deployment("d3"), deployment_fields("speech", "asr")],
        [1102, deployment("d3"), deployment_fields("speech", "asr")],
        [900, cluster("cpu"), cluster_fields("org")],
        [1000, nodepool("cpu", "small"), nodepool_fields(1, 1)],
        [902, cluster("cpu"), {"nodepools_deleted": ["small"]}],
    ])
}
