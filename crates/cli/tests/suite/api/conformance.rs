//! Regression tests for what the schemathesis run (`scripts/schemathesis.sh`) found: the served
//! OpenAPI document must describe every error as `application/problem+json` and declare the
//! extractors' failures, and the server must answer those failures in that form.

use reqwest::Method;
use serde_json::Value;

use crate::api::helpers::spawn_app;

async fn document(app: &crate::api::helpers::TestApp) -> Value {
    let resp = app
        .client
        .get(format!("{}/v1/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.clone(), path.clone(), op));
        }
    }
    out
}

#[tokio::test]
async fn every_documented_error_is_problem_json_and_extractor_failures_are_declared() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    // The served document is the one `portcullis openapi` prints (and docs/openapi.json holds).
    let printed: Value = serde_json::from_str(&portcullis_http::openapi_json()).unwrap();
    assert_eq!(doc, printed);
    for (method, path, op) in operations(&doc) {
        let responses = op["responses"].as_object().unwrap();
        for (status, response) in responses {
            if status.as_str() >= "400" {
                let content = response["content"].as_object();
                assert!(
                    content.is_some_and(|c| c.keys().eq(["application/problem+json"])),
                    "{method} {path} {status}: {response}"
                );
            }
        }
        let secured = op["security"]
            .as_array()
            .is_some_and(|reqs| reqs.iter().any(|r| r.get("bearer").is_some()));
        if secured {
            assert!(responses.contains_key("401"), "{method} {path}: no 401");
        }
        if op.get("requestBody").is_some() {
            // AuthZEN's HTTPS binding answers a body that is not JSON with 400, not 415.
            let statuses: &[&str] = if path.starts_with("/access/") {
                &["400", "413"]
            } else {
                &["400", "413", "415"]
            };
            for status in statuses {
                assert!(
                    responses.contains_key(*status),
                    "{method} {path}: no {status}"
                );
            }
        }
    }
}

#[tokio::test]
async fn created_resources_link_to_their_operations() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let links = &doc["paths"]["/v1/orgs/{org}/teams"]["post"]["responses"]["201"]["links"];
    let get = links
        .as_object()
        .unwrap()
        .values()
        .find(|l| {
            let id = l["operationId"].as_str().unwrap();
            doc["paths"]["/v1/orgs/{org}/teams/{team}"]["get"]["operationId"] == id
        })
        .expect("a link from the created team to reading it");
    assert_eq!(get["parameters"]["team"], "$response.body#/id");
    assert_eq!(get["parameters"]["org"], "$request.path.org");
    // Every link names an operation that exists.
    let ids: Vec<&str> = operations(&doc)
        .iter()
        .filter_map(|(_, _, op)| op["operationId"].as_str())
        .collect();
    let mut count = 0;
    for (_, _, op) in operations(&doc) {
        for response in op["responses"].as_object().unwrap().values() {
            for link in response["links"].as_object().into_iter().flatten() {
                assert!(ids.contains(&link.1["operationId"].as_str().unwrap()));
                count += 1;
            }
        }
    }
    assert!(count >= 20, "{count} links");
}

#[tokio::test]
async fn a_wrong_method_is_a_problem_405_with_allow() {
    let app = spawn_app().await;
    let resp = app
        .client
        .request(Method::PATCH, format!("{}/v1/signup", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    assert_eq!(resp.headers()["allow"].to_str().unwrap(), "POST");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "route.method_not_allowed");
    assert_eq!(body["status"], 405);
}

#[tokio::test]
async fn an_undecodable_path_parameter_is_a_problem_400() {
    let app = spawn_app().await;
    let token = app.user("alice").await;
    let reply = app.get("/v1/orgs/%FF%FE", &token).await;
    reply.assert_problem(400, "request.invalid_path");
}

/// schemathesis (seed 74267729): serde's derived structs also read a JSON array positionally,
/// so `[null, null]` passed as a body (`PUT /v1/password-policy`) and as a nested object (a
/// batch check's `subject`). Bodies and their nested objects are JSON objects only.
#[tokio::test]
async fn an_array_where_an_object_belongs_is_refused_as_an_invalid_body() {
    let app = spawn_app().await;
    let token = app.user("alice").await;
    app.put(
        "/v1/password-policy",
        &token,
        serde_json::json!([null, null]),
    )
    .await
    .assert_problem(400, "request.invalid_body");
    app.post("/v1/orgs", &token, serde_json::json!(["acme", "Acme"]))
        .await
        .assert_problem(400, "request.invalid_body");
    let check = |subject: Value| {
        serde_json::json!({"checks": [{
            "subject": subject,
            "permission": "sidebar.view",
            "resource": {"org": "acme"},
        }]})
    };
    app.post(
        "/v1/check/batch",
        &token,
        check(serde_json::json!([null, null])),
    )
    .await
    .assert_problem(400, "request.invalid_body");
    let items =
        serde_json::json!({"checks": [[{"user": "alice"}, "apps.view", {"kind": "org"}, null]]});
    app.post("/v1/check/batch", &token, items)
        .await
        .assert_problem(400, "request.invalid_body");
    // The object forms still work.
    let reply = app
        .post(
            "/v1/check/batch",
            &token,
            check(serde_json::json!({"user": "alice"})),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
}

/// schemathesis (seed 387580128) sent a batch whose one check carried `at_least` = 2^63, above
/// the documented `int64`, and got 200 with a per-check 422. A malformed check now refuses the
/// whole batch, naming the check; only problems a well-formed check runs into stay per check.
#[tokio::test]
async fn a_malformed_check_refuses_the_whole_batch() {
    let app = spawn_app().await;
    let token = app.user("alice").await;
    app.org(&token, "acme").await;
    let good = serde_json::json!({
        "subject": {"user": "alice"},
        "permission": "sidebar.view",
        "resource": {"org": "acme"},
    });
    let too_far = serde_json::json!({
        "subject": {"user": "alice"},
        "permission": "sidebar.view",
        "resource": {"org": "acme"},
        "consistency": {"at_least": 9_223_372_036_854_775_808_u64},
    });
    let reply = app
        .post(
            "/v1/check/batch",
            &token,
            serde_json::json!({"checks": [good.clone(), too_far.clone()]}),
        )
        .await;
    reply.assert_problem(422, "check.invalid_request");
    assert_eq!(reply.body["field"], "checks[1].consistency.at_least");
    app.post("/v1/check", &token, too_far)
        .await
        .assert_problem(422, "check.invalid_request");

    let two_subjects = serde_json::json!({
        "subject": {"user": "alice", "token": "x"},
        "permission": "sidebar.view",
        "resource": {"org": "acme"},
    });
    let reply = app
        .post(
            "/v1/check/batch",
            &token,
            serde_json::json!({"checks": [two_subjects, good.clone()]}),
        )
        .await;
    reply.assert_problem(422, "check.invalid_request");
    assert_eq!(reply.body["field"], "checks[0].subject");

    // Well-formed checks answer on their own: a permission the matrix does not know is that
    // check's problem, an unknown user that check's denial.
    let unknown_permission = serde_json::json!({
        "subject": {"user": "alice"},
        "permission": "no.such_permission",
        "resource": {"org": "acme"},
    });
    let unknown_user = serde_json::json!({
        "subject": {"user": "nobody-here"},
        "permission": "sidebar.view",
        "resource": {"org": "acme"},
    });
    let reply = app
        .post(
            "/v1/check/batch",
            &token,
            serde_json::json!({"checks": [good, unknown_permission, unknown_user]}),
        )
        .await;
    let results = reply.assert_status(200)["results"].as_array().unwrap();
    assert_eq!(results[0]["allowed"], true, "{results:?}");
    assert_eq!(
        results[1]["error"]["code"], "check.unknown_permission",
        "{results:?}"
    );
    // An unknown user is that check's own problem, as the batch documents.
    assert_eq!(results[2]["error"]["code"], "not_found", "{results:?}");
}
