//! Every refused change is on the record: the test walks every mutating operation of the
//! OpenAPI document on an organization or its apps, sends it as a member whose role lacks the
//! permission (with a body built from the operation's own schema), and asserts a `403` and a
//! failed entry in the organization's log naming the missing permission, the actor, its
//! credential and its address. A new operation is walked as soon as it is documented.

use serde_json::{Map, Value, json};

use crate::api::helpers::spawn_app;
use crate::api::teams::{create_app, join};

/// Operations under an org or app prefix that are not permission-gated changes of the org.
const NOT_PERMISSION_GATED: &[(&str, &str)] = &[
    // Any member may leave; answering an invitation is the invitee's.
    ("post", "/v1/orgs/{org}/leave"),
    // Questions, not changes.
    ("post", "/v1/orgs/{org}/access/what-if"),
    // Only personal apps move; an org's app is refused to everyone (not a permission).
    ("post", "/v1/accounts/{account}/apps/{app}/transfer"),
    // Another member's app key is not found for anyone but a key manager (its existence is
    // not the caller's to know).
    ("delete", "/v1/accounts/{account}/apps/{app}/keys/{id}"),
];

/// A JSON value the schema accepts, with only its required properties.
fn sample(spec: &Value, schema: &Value) -> Value {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        return sample(spec, &spec["components"]["schemas"][name]);
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(first) = schema[combinator].as_array().and_then(|v| v.first()) {
            return sample(spec, first);
        }
    }
    if let Some(first) = schema["enum"].as_array().and_then(|v| v.first()) {
        return first.clone();
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds
            .iter()
            .find(|k| *k != "null")
            .cloned()
            .unwrap_or(Value::Null),
        other => other.clone(),
    };
    match kind.as_str() {
        Some("string") => json!("x1"),
        Some("integer" | "number") => json!(1),
        Some("boolean") => json!(false),
        Some("array") => json!([]),
        Some("object") | None => {
            let mut object = Map::new();
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap();
                object.insert(name.to_owned(), sample(spec, &schema["properties"][name]));
            }
            Value::Object(object)
        }
        Some(_) => Value::Null,
    }
}

/// Where the sample body would be refused before the permission could be (a schema cannot say
/// it), a body that decodes and asks for something only a permission holder may have.
fn body_override(method: &str, path: &str) -> Option<Value> {
    Some(match (method, path) {
        ("post", "/v1/accounts/{account}/apps/{app}/keys") => json!({"scopes": ["app.delete"]}),
        // An empty patch asks for nothing (422 for anyone who may see the app).
        ("patch", "/v1/accounts/{account}/apps/{app}") => json!({"description": "changed"}),
        ("put", "/v1/accounts/{account}/apps/{app}/installed-modules/{module}") => json!({}),
        _ => return None,
    })
}

fn concrete(path: &str, ids: &[(&str, String)]) -> String {
    let mut out = path.to_owned();
    for (name, value) in ids {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    assert!(!out.contains('{'), "no fixture for a parameter of {path}");
    out
}

#[tokio::test]
async fn every_refused_change_of_the_openapi_document_is_recorded() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    // The refused role sees the org and its org-visible app and items, and may change none.
    let bob = join(&app, &alice, "acme", "bob", "org_user").await;
    join(&app, &alice, "acme", "dave", "org_contributor").await;
    app.user("carol").await;
    create_app(&app, &alice, "acme", "vision", "org").await;
    let base = "/v1/accounts/acme/apps/vision";
    for (kind, id) in [("models", "m1"), ("workflows", "w1"), ("modules", "mod1")] {
        app.post(
            &format!("{base}/{kind}"),
            &alice,
            json!({"id": id, "visibility": "org"}),
        )
        .await
        .assert_status(201);
    }
    app.put(
        &format!("{base}/collaborators/carol"),
        &alice,
        json!({"permissions": ["app.view"]}),
    )
    .await
    .assert_status(200);
    let key = app
        .post(
            &format!("{base}/keys"),
            &alice,
            json!({"scopes": ["app.view"]}),
        )
        .await;
    let key_id = key.assert_status(201)["id"].as_str().unwrap().to_owned();
    app.post(
        "/v1/orgs/acme/teams",
        &alice,
        json!({"id": "t1", "name": "T1"}),
    )
    .await
    .assert_status(201);
    let invitation = app
        .post(
            "/v1/orgs/acme/invitations",
            &alice,
            json!({"email": "erin@example.com", "role": "org_user"}),
        )
        .await;
    let invitation = invitation.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    crate::api::saml::create_idp(&app, &alice, "acme", "okta", json!({})).await;
    app.post(
        "/v1/orgs/acme/domains",
        &alice,
        json!({"domain": "acme.example"}),
    )
    .await
    .assert_status(201);
    app.post(
        "/v1/orgs/acme/compute-clusters",
        &alice,
        json!({"id": "c1", "cloud_provider": "aws", "region": "us-east-1",
               "cluster_type": "dedicated", "visibility": "org"}),
    )
    .await
    .assert_status(201);
    app.post(
        "/v1/orgs/acme/compute-clusters/c1/nodepools",
        &alice,
        json!({"id": "np1", "instance_types": ["g5.xlarge"], "capacity_type": "spot",
               "min_instances": 0, "max_instances": 2}),
    )
    .await
    .assert_status(201);
    app.post(
        "/v1/orgs/acme/deployments",
        &alice,
        json!({"id": "d1", "model": {"account": "acme", "app": "vision", "id": "m1"},
               "nodepools": [{"cluster": "c1", "nodepool": "np1", "priority": 1}],
               "min_replicas": 1, "max_replicas": 2}),
    )
    .await
    .assert_status(201);
    let scim = app
        .post("/v1/orgs/acme/scim/tokens", &alice, json!({}))
        .await;
    let scim_token = scim.assert_status(201)["scim_token"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ids: Vec<(&str, String)> = vec![
        ("token", scim_token),
        ("org", "acme".into()),
        ("account", "acme".into()),
        ("app", "vision".into()),
        ("user", "dave".into()),
        ("team", "t1".into()),
        ("cluster", "c1".into()),
        ("nodepool", "np1".into()),
        ("deployment", "d1".into()),
        ("idp", "okta".into()),
        ("domain", "acme.example".into()),
        ("model", "m1".into()),
        ("workflow", "w1".into()),
        ("module", "mod1".into()),
    ];

    let spec = app.get("/v1/openapi.json", &bob).await.body;
    let org_key = app.service.resolve_org("acme").unwrap();
    let mut walked = 0;
    let mut problems: Vec<String> = Vec::new();
    for (path, operations) in spec["paths"].as_object().unwrap() {
        if !(path.starts_with("/v1/orgs/{org}")
            || path.starts_with("/v1/accounts/{account}/apps/{app}"))
        {
            continue;
        }
        for (method, operation) in operations.as_object().unwrap() {
            if !matches!(method.as_str(), "post" | "put" | "patch" | "delete")
                || NOT_PERMISSION_GATED.contains(&(method.as_str(), path.as_str()))
            {
                continue;
            }
            let mut ids = ids.clone();
            let id = match path.as_str() {
                p if p.contains("/invitations/") => invitation.clone(),
                p if p.contains("/keys/") => key_id.clone(),
                _ => String::new(),
            };
            ids.push(("id", id));
            let target = concrete(path, &ids);
            let body = body_override(method, path).or_else(|| {
                operation["requestBody"]["content"]["application/json"]["schema"]
                    .as_object()
                    .map(|schema| sample(&spec, &Value::Object(schema.clone())))
            });
            let before = app
                .service
                .store()
                .audit_entries(Some(org_key))
                .await
                .unwrap();
            let reply = app
                .request(
                    method.to_uppercase().parse().unwrap(),
                    &target,
                    Some(&bob),
                    body.clone(),
                )
                .await;
            if reply.status.as_u16() != 403 {
                problems.push(format!(
                    "{method} {path} with {body:?}: {} {}",
                    reply.status, reply.body
                ));
                continue;
            }
            let missing = reply.body["detail"].to_string();
            let after = app
                .service
                .store()
                .audit_entries(Some(org_key))
                .await
                .unwrap();
            let new: Vec<_> = after
                .iter()
                .filter(|e| !before.iter().any(|b| b.id == e.id))
                .collect();
            let bob_key = i64::from(app.service.resolve_user("bob").unwrap().0);
            if !new.iter().any(|e| {
                !e.success
                    && e.details.contains("missing_permission")
                    && e.actor_user == Some(bob_key)
            }) {
                problems.push(format!(
                    "{method} {path}: refused ({missing}) but not recorded"
                ));
            }
            walked += 1;
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(walked >= 40, "walked only {walked} operations");
    // Each entry names the credential and the address, as the log shows them.
    let page = app
        .get("/v1/orgs/acme/audit-log?success=false&limit=200", &alice)
        .await;
    let entries = page.assert_status(200)["entries"]
        .as_array()
        .unwrap()
        .clone();
    assert!(entries.len() >= walked, "{} entries", entries.len());
    for entry in &entries {
        assert_eq!(entry["actor"]["user"], "bob", "{entry}");
        assert_eq!(entry["actor"]["credential_kind"], "session", "{entry}");
        assert!(entry["actor"]["credential_id"].is_i64(), "{entry}");
        assert_eq!(entry["source_ip"], "127.0.0.1", "{entry}");
        assert!(
            entry["details"]["missing_permission"].is_string(),
            "{entry}"
        );
    }
}
