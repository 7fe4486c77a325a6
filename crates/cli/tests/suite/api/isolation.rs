//! Tenant isolation over the whole HTTP API.
//!
//! A seeded generator builds two organizations with members in all six roles, teams, apps with
//! models/workflows/modules, collaborators, app keys, PATs, compute, a budget and an identity
//! provider. Then every operation of the OpenAPI document (enumerated from the document, so new
//! endpoints are covered without touching this file) is called by every principal of org A
//! (session and PAT of each role, and an app key) with org B's ids in its path and query
//! parameters (and in body fields of the same names). The properties:
//! - no 2xx on an operation that names one of B's resources;
//! - the answer for B's real ids equals, status and body, the answer for ids that do not exist
//!   (so a 404 or any other refusal discloses nothing about what B holds);
//! - no answer to any principal of A ever contains B's marker (in every name of B's data);
//! - afterwards every read B's admin and members can make returns what it returned before,
//!   and B's audit log is unchanged and verifies.
//!
//! The seed is random unless `PORTCULLIS_ISOLATION_SEED` is set; it is printed, so a failure
//! can be replayed with the same population.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::api::helpers::{Reply, TestApp, spawn_app};

/// In every name, description and person name of org B: must never reach a principal of A.
const MARKER: &str = "zqbsecret";

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

    /// 1..=max
    fn count(&mut self, max: u64) -> usize {
        (self.next() % max + 1) as usize
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
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

/// One caller of org A.
struct Principal {
    label: String,
    token: String,
}

/// The ids of one org's data, by the OpenAPI parameter name they fill.
#[derive(Default)]
struct Org {
    id: String,
    admin: String,
    /// Session tokens of every member (admin included), for the "unchanged" snapshot.
    member_sessions: Vec<String>,
    principals: Vec<Principal>,
    /// Parameter kind → every id of that kind (the first is the parent used for nested paths).
    ids: BTreeMap<&'static str, Vec<String>>,
    /// The org's SCIM token, and the ids of a user and a group it provisioned.
    scim_token: String,
    scim_user: String,
    scim_group: String,
}

impl Org {
    fn add(&mut self, kind: &'static str, id: impl Into<String>) {
        self.ids.entry(kind).or_default().push(id.into());
    }
}

async fn populate(app: &TestApp, rng: &mut Rng, tag: &str) -> Org {
    let mut org = Org {
        id: format!("{tag}-org"),
        ..Org::default()
    };
    // Names carry the marker only in org B; A's own names are plain.
    let mark = if tag == "b" { MARKER } else { "plain" };
    let admin_id = format!("{tag}-admin");
    let admin = signup(app, &admin_id, mark).await;
    app.post(
        "/v1/orgs",
        &admin,
        json!({"id": org.id, "name": format!("Org {mark}"), "billing_email": format!("billing-{mark}@example.com")}),
    )
    .await
    .assert_status(201);
    org.admin = admin.clone();
    let org_id = org.id.clone();
    org.add("org", org_id);
    org.add("user", &admin_id);
    let mut members = vec![("admin", admin_id.clone(), admin.clone())];
    for (i, role) in ROLES.iter().enumerate().skip(1) {
        for n in 0..rng.count(2) {
            let id = format!("{tag}-{i}-{n}");
            let token = signup(app, &id, mark).await;
            crate::api::helpers::invite_and_accept(app, &admin, &org.id, &token, &id, role).await;
            org.add("user", &id);
            members.push((role, id, token));
        }
    }
    // A pending invitation.
    let invitation = app
        .post(
            &format!("/v1/orgs/{}/invitations", org.id),
            &admin,
            json!({"email": format!("{tag}-invitee-{mark}@example.com"), "role": "org_user"}),
        )
        .await;
    org.add(
        "invitation",
        invitation.assert_status(201)["id"].as_str().unwrap(),
    );

    // Teams, apps with their items, collaborators, app keys.
    for t in 0..rng.count(2) {
        let team = format!("{tag}-team-{t}");
        app.post(
            &format!("/v1/orgs/{}/teams", org.id),
            &admin,
            json!({"id": team, "name": format!("Team {mark}")}),
        )
        .await
        .assert_status(201);
        org.add("team", &team);
    }
    let base = format!("/v1/accounts/{}/apps", org.id);
    for a in 0..rng.count(2) {
        let id = format!("{tag}-app-{a}");
        // Public apps are visible to everyone by design; B's stay inside B.
        let visibility = rng.pick(&["private", "org"]);
        app.post(
            &base,
            &admin,
            json!({"id": id, "name": format!("App {mark}"), "description": mark, "visibility": visibility}),
        )
        .await
        .assert_status(201);
        org.add("app", &id);
    }
    let first_app = org.ids["app"][0].clone();
    let first_team = org.ids["team"][0].clone();
    app.put(
        &format!("/v1/orgs/{}/teams/{first_team}/apps/{first_app}", org.id),
        &admin,
        json!({"role": "model_trainer"}),
    )
    .await
    .assert_status(200);
    let team_member = members
        .iter()
        .find(|(role, _, _)| *role == "team_contributor")
        .map(|(_, id, _)| id.clone())
        .unwrap();
    let added = app
        .request(
            Method::PUT,
            &format!(
                "/v1/orgs/{}/teams/{first_team}/members/{team_member}",
                org.id
            ),
            Some(&admin),
            None,
        )
        .await;
    assert!(added.status.is_success(), "{}", added.body);
    for (kind, path) in [
        ("model", "models"),
        ("workflow", "workflows"),
        ("module", "modules"),
    ] {
        for n in 0..rng.count(2) {
            let id = format!("{tag}-{kind}-{n}");
            app.post(
                &format!("{base}/{first_app}/{path}"),
                &admin,
                json!({"id": id, "name": format!("{kind} {mark}"), "description": mark}),
            )
            .await
            .assert_status(201);
            org.add(kind, &id);
        }
    }
    let collaborator = format!("{tag}-collab");
    signup(app, &collaborator, mark).await;
    app.put(
        &format!("{base}/{first_app}/collaborators/{collaborator}"),
        &admin,
        json!({"permissions": ["app.view", "models.create"]}),
    )
    .await
    .assert_status(200);
    org.add("user", &collaborator);
    let app_key = app
        .post(
            &format!("{base}/{first_app}/keys"),
            &admin,
            json!({"description": format!("key {mark}"), "scopes": app_scopes()}),
        )
        .await;
    let app_key = app_key.assert_status(201).clone();
    org.add("app_key", app_key["id"].as_str().unwrap());

    // Compute, budget, an identity provider.
    let compute = format!("/v1/orgs/{}", org.id);
    let cluster = format!("{tag}-gpu");
    app.post(
        &format!("{compute}/compute-clusters"),
        &admin,
        json!({"id": cluster, "description": mark, "cloud_provider": "aws", "region": "us-east-1", "cluster_type": "dedicated"}),
    )
    .await
    .assert_status(201);
    org.add("cluster", &cluster);
    let nodepool = format!("{tag}-np");
    app.post(
        &format!("{compute}/compute-clusters/{cluster}/nodepools"),
        &admin,
        json!({"id": nodepool, "instance_types": ["g5.xlarge"], "capacity_type": "spot", "min_instances": 0, "max_instances": 2}),
    )
    .await
    .assert_status(201);
    org.add("nodepool", &nodepool);
    let deployment = format!("{tag}-deploy");
    app.post(
        &format!("{compute}/deployments"),
        &admin,
        json!({"id": deployment, "model": {"account": org.id, "app": first_app, "id": org.ids["model"][0]},
               "nodepools": [{"cluster": cluster, "nodepool": nodepool, "priority": 0}], "min_replicas": 1, "max_replicas": 2}),
    )
    .await
    .assert_status(201);
    org.add("deployment", &deployment);
    app.put(
        &format!("{compute}/budget"),
        &admin,
        json!({"monthly_budget_cents": 1000, "currency": "USD", "alert_threshold_percent": 80}),
    )
    .await
    .assert_status(200);
    let idp = format!("{tag}-idp");
    crate::api::saml::create_idp(app, &admin, &org.id, &idp, json!({})).await;
    org.add("idp", &idp);
    let domain = format!("{tag}-corp.example");
    app.post(
        &format!("/v1/orgs/{}/domains", org.id),
        &admin,
        json!({"domain": domain}),
    )
    .await
    .assert_status(201);
    org.add("domain", &domain);

    // SCIM: a token, a provisioned user and a group (names marked like the rest).
    let scim = app
        .post(
            &format!("/v1/orgs/{}/scim/tokens", org.id),
            &admin,
            json!({"description": format!("scim {mark}")}),
        )
        .await;
    let scim = scim.assert_status(201).clone();
    org.add("scim_token", scim["scim_token"]["id"].as_str().unwrap());
    org.scim_token = scim["token"].as_str().unwrap().to_owned();
    let scim_base = format!("/scim/v2/orgs/{}", org.id);
    let user = app
        .post(
            &format!("{scim_base}/Users"),
            &org.scim_token,
            json!({"userName": format!("{tag}-scim-{mark}@example.com"), "externalId": mark,
                   "name": {"givenName": mark, "familyName": mark}}),
        )
        .await;
    org.scim_user = user.assert_status(201)["id"].as_str().unwrap().to_owned();
    let group = app
        .post(
            &format!("{scim_base}/Groups"),
            &org.scim_token,
            json!({"displayName": format!("group {mark}"), "members": [{"value": org.scim_user}]}),
        )
        .await;
    org.scim_group = group.assert_status(201)["id"].as_str().unwrap().to_owned();

    // Principals: a session and an unbound PAT of every member, and the app key.
    for (role, id, token) in &members {
        let pat = app
            .post(
                "/v1/users/me/keys",
                token,
                json!({"description": format!("pat {mark}"), "scopes": ["all"]}),
            )
            .await;
        let pat = pat.assert_status(201).clone();
        org.add("user_key", pat["id"].as_str().unwrap());
        org.principals.push(Principal {
            label: format!("{role} session ({id})"),
            token: token.clone(),
        });
        org.principals.push(Principal {
            label: format!("{role} PAT ({id})"),
            token: pat["token"].as_str().unwrap().to_owned(),
        });
        let sessions = app.get("/v1/users/me/sessions", token).await;
        for session in sessions.assert_status(200).as_array().unwrap() {
            org.add("session", session["id"].as_str().unwrap());
        }
        org.member_sessions.push(token.clone());
    }
    org.principals.push(Principal {
        label: "app key".to_owned(),
        token: app_key["token"].as_str().unwrap().to_owned(),
    });
    org
}

async fn signup(app: &TestApp, id: &str, mark: &str) -> String {
    app.request(
        Method::POST,
        "/v1/signup",
        None,
        Some(json!({"id": id, "email": format!("{id}@example.com"), "password": format!("password-{id}"),
                    "first_name": mark, "last_name": mark})),
    )
    .await
    .assert_status(201);
    app.follow_verification(&format!("{id}@example.com")).await;
    app.login(id).await
}

fn app_scopes() -> Vec<&'static str> {
    use portcullis_service::core::permissions::{Level, Permission};
    Permission::ALL
        .iter()
        .filter(|p| p.level() == Level::App)
        .map(|p| p.as_str())
        .collect()
}

/// The kind of id an OpenAPI parameter takes, from its name and the path it is in.
fn kind_of(name: &str, path: &str) -> Option<&'static str> {
    Some(match name {
        "org" | "account" => "org",
        "app" => "app",
        "team" => "team",
        "user" => "user",
        "model" => "model",
        "workflow" => "workflow",
        "module" => "module",
        "cluster" => "cluster",
        "nodepool" => "nodepool",
        "deployment" => "deployment",
        "idp" => "idp",
        "domain" => "domain",
        "key" => "user_key",
        "token" => "scim_token",
        "id" if path.contains("/invitations") => "invitation",
        "id" if path.contains("/apps/{app}/keys") => "app_key",
        "id" if path.starts_with("/v1/users/me/keys") => "user_key",
        "id" if path.starts_with("/v1/users/me/sessions") => "session",
        _ => return None,
    })
}

/// One call: method, path with ids filled in, query, body.
#[derive(Clone, Debug)]
struct Call {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Option<Value>,
}

/// An operation of the document with the parameters that take ids.
struct Operation {
    method: Method,
    template: String,
    /// (name, kind, in path)
    params: Vec<(String, &'static str, bool)>,
    body: Option<Value>,
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let mut params = Vec::new();
            for param in op["parameters"].as_array().into_iter().flatten() {
                let name = param["name"].as_str().unwrap();
                let location = param["in"].as_str().unwrap();
                let kind = kind_of(name, template);
                match (location, kind) {
                    (_, Some(kind)) => params.push((name.to_owned(), kind, location == "path")),
                    ("path", None) => panic!(
                        "{method} {template}: unknown path parameter `{name}`; teach kind_of about it"
                    ),
                    _ => {}
                }
            }
            let body = op["requestBody"]["content"]["application/json"]["schema"]
                .as_object()
                .map(|schema| example(doc, &Value::Object(schema.clone()), "", 0));
            out.push(Operation {
                method,
                template: template.clone(),
                params,
                body,
            });
        }
    }
    out
}

/// A value of `schema` with every property filled (types right, enums valid), so a request
/// gets past decoding and reaches the service's authorization.
fn example(doc: &Value, schema: &Value, name: &str, depth: usize) -> Value {
    if depth > 8 {
        return Value::Null;
    }
    if let Some(reference) = schema["$ref"].as_str() {
        let target = reference.trim_start_matches("#/components/schemas/");
        return example(doc, &doc["components"]["schemas"][target], name, depth + 1);
    }
    for combinator in ["oneOf", "anyOf"] {
        if let Some(first) = schema[combinator]
            .as_array()
            .and_then(|v| v.iter().find(|s| s["type"] != "null"))
        {
            return example(doc, first, name, depth + 1);
        }
    }
    if let Some(all) = schema["allOf"].as_array() {
        let mut merged = Map::new();
        for part in all {
            if let Value::Object(fields) = example(doc, part, name, depth + 1) {
                merged.extend(fields);
            }
        }
        return Value::Object(merged);
    }
    if let Some(first) = schema["enum"].as_array().and_then(|v| v.first()) {
        return first.clone();
    }
    let ty = match &schema["type"] {
        Value::Array(types) => types
            .iter()
            .find(|t| *t != "null")
            .and_then(Value::as_str)
            .unwrap_or("null"),
        other => other.as_str().unwrap_or("object"),
    };
    match ty {
        "object" => {
            let mut fields = Map::new();
            for (key, sub) in schema["properties"].as_object().into_iter().flatten() {
                fields.insert(key.clone(), example(doc, sub, key, depth + 1));
            }
            Value::Object(fields)
        }
        "array" => json!([example(doc, &schema["items"], name, depth + 1)]),
        "integer" | "number" => json!(1),
        "boolean" => json!(false),
        "string" => Value::String(
            match name {
                n if n.contains("email") => "probe@example.com",
                n if n.contains("password") => "probe-password-12345",
                n if n.ends_with("_at") => "2999-01-01T00:00:00Z",
                "day" | "from" | "to" => "2024-03-01",
                "currency" => "USD",
                "permission" => "app.view",
                "role" | "default_role" => "org_user",
                "scopes" | "permissions" => "app.view",
                _ => "probe",
            }
            .to_owned(),
        ),
        _ => Value::Null,
    }
}

/// Fills body fields named like id parameters (recursively) with `value_of(kind)`.
fn substitute_body(body: &mut Value, value_of: &dyn Fn(&'static str) -> Option<String>) {
    match body {
        Value::Object(fields) => {
            for (key, value) in fields.iter_mut() {
                match kind_of(key, "") {
                    Some(kind) if value.is_string() => {
                        if let Some(id) = value_of(kind) {
                            *value = Value::String(id);
                        }
                    }
                    _ => substitute_body(value, value_of),
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| substitute_body(item, value_of)),
        _ => {}
    }
}

/// The calls of `op` against `org`'s ids: the last id parameter takes each of its kind's ids
/// in turn, the others their kind's first id. `missing` replaces ids with ones that do not
/// exist (all but the organization's, or only the last).
fn calls(op: &Operation, org: &Org, missing: Missing) -> Vec<Call> {
    let last = op.params.last().map(|(_, kind, _)| *kind);
    let candidates: Vec<Option<String>> = match last {
        Some(kind) => org
            .ids
            .get(kind)
            .into_iter()
            .flatten()
            .map(|id| Some(id.clone()))
            .collect(),
        None => vec![None],
    };
    candidates
        .into_iter()
        .map(|last_id| {
            let value_of = |kind: &'static str, is_last: bool| -> Option<String> {
                let fake = match missing {
                    Missing::None => false,
                    Missing::AllButOrg => kind != "org",
                    Missing::Last => is_last && kind != "org",
                };
                if fake {
                    return Some(format!("zz-missing-{}", kind.replace('_', "-")));
                }
                if is_last {
                    last_id.clone()
                } else {
                    org.ids.get(kind).and_then(|ids| ids.first().cloned())
                }
            };
            let mut path = op.template.clone();
            let mut query = Vec::new();
            let count = op.params.len();
            for (i, (name, kind, in_path)) in op.params.iter().enumerate() {
                let id = value_of(kind, i + 1 == count).unwrap_or_default();
                if *in_path {
                    path = path.replace(&format!("{{{name}}}"), &id);
                } else {
                    query.push((name.clone(), id));
                }
            }
            let body = op.body.clone().map(|mut body| {
                substitute_body(&mut body, &|kind| value_of(kind, false));
                body
            });
            Call {
                method: op.method.clone(),
                path,
                query,
                body,
            }
        })
        .collect()
}

#[derive(Clone, Copy)]
enum Missing {
    None,
    /// Every id but the organization's: an organization's existence is public (its public
    /// apps are listed, its SSO login page and SP metadata are served to anyone), everything
    /// inside it is not.
    AllButOrg,
    Last,
}

async fn send(app: &TestApp, token: Option<&str>, call: &Call) -> Reply {
    let mut path = call.path.clone();
    if !call.query.is_empty() {
        let query: Vec<String> = call.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        path = format!("{path}?{}", query.join("&"));
    }
    app.request(call.method.clone(), &path, token, call.body.clone())
        .await
}

/// Operations that are out of scope here, with why.
fn skipped(op: &Operation) -> bool {
    // Ends the caller's own session: later calls of that principal would all be 401.
    op.template == "/v1/logout"
        // The SAML endpoints are public by protocol (the IdP fetches the SP metadata and posts
        // assertions unauthenticated); their isolation is the SAML suite's business.
        || op.template.starts_with("/saml/")
        // The sign-in page's list of an organization's identity providers, public by design.
        || op.template == "/v1/auth/methods"
}

/// What B's admin and members can read, for the before/after comparison: every GET of the
/// document over B's ids (as B's admin), and each member's own `/v1/users/me/...` reads.
async fn snapshot(app: &TestApp, ops: &[Operation], b: &Org) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for op in ops
        .iter()
        .filter(|op| op.method == Method::GET && !skipped(op))
    {
        if op.params.is_empty() {
            if !op.template.starts_with("/v1/users/me") {
                continue;
            }
            for (i, token) in b.member_sessions.iter().enumerate() {
                let all = calls(op, b, Missing::None);
                let call = &all[0];
                let reply = send(app, Some(token), call).await;
                out.insert(
                    format!("member {i} GET {}", call.path),
                    stable(json!({"status": reply.status.as_u16(), "body": reply.body})),
                );
            }
            continue;
        }
        for call in calls(op, b, Missing::None) {
            let reply = send(app, Some(&b.admin), &call).await;
            out.insert(
                format!("admin GET {} {:?}", call.path, call.query),
                stable(json!({"status": reply.status.as_u16(), "body": reply.body})),
            );
        }
    }
    out
}

/// Every SCIM request on B's endpoint, with B's ids.
fn scim_calls(b: &Org) -> Vec<(Method, String, Option<Value>)> {
    let base = format!("/scim/v2/orgs/{}", b.id);
    let user = format!("{base}/Users/{}", b.scim_user);
    let group = format!("{base}/Groups/{}", b.scim_group);
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let mut calls = Vec::new();
    for path in [
        "/ServiceProviderConfig",
        "/ResourceTypes",
        "/Schemas",
        "/Users",
        "/Groups",
        "/Users?filter=userName%20pr",
    ] {
        calls.push((Method::GET, format!("{base}{path}"), None));
    }
    for target in [&user, &group] {
        calls.push((Method::GET, target.clone(), None));
        calls.push((Method::PATCH, target.clone(), Some(patch.clone())));
        calls.push((
            Method::PUT,
            target.clone(),
            Some(json!({"userName": "x@example.com", "displayName": "x"})),
        ));
        calls.push((Method::DELETE, target.clone(), None));
    }
    calls.push((
        Method::POST,
        format!("{base}/Users"),
        Some(json!({"userName": "intruder@example.com"})),
    ));
    calls.push((
        Method::POST,
        format!("{base}/Groups"),
        Some(json!({"displayName": "intruders"})),
    ));
    calls
}

/// B's SCIM users and groups as B's own token reads them.
async fn scim_snapshot(app: &TestApp, b: &Org) -> Vec<Value> {
    let base = format!("/scim/v2/orgs/{}", b.id);
    let mut out = Vec::new();
    for path in ["/Users", "/Groups"] {
        let reply = app.get(&format!("{base}{path}"), &b.scim_token).await;
        out.push(stable(reply.assert_status(200).clone()));
    }
    out
}

/// Drops what changes by merely reading (last-use times of the readers' own credentials).
fn stable(mut value: Value) -> Value {
    match &mut value {
        Value::Object(fields) => {
            // `revision` is the global data revision: every write anywhere moves it.
            fields.retain(|key, _| {
                !key.starts_with("last_used") && !key.starts_with("last_seen") && key != "revision"
            });
            for field in fields.values_mut() {
                *field = stable(field.take());
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                *item = stable(item.take());
            }
        }
        _ => {}
    }
    value
}

#[tokio::test]
async fn no_principal_of_one_org_reads_or_changes_another_orgs_data() {
    let seed = std::env::var("PORTCULLIS_ISOLATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("tenant isolation: PORTCULLIS_ISOLATION_SEED={seed}");
    let mut rng = Rng(seed);
    let app = spawn_app().await;
    let a = populate(&app, &mut rng, "a").await;
    let b = populate(&app, &mut rng, "b").await;
    let doc: Value = serde_json::from_str(&portcullis_http::openapi_json()).unwrap();
    let ops = operations(&doc);
    assert!(
        ops.len() > 100,
        "the document lists {} operations",
        ops.len()
    );

    let before = snapshot(&app, &ops, &b).await;
    let audit_before = app
        .get(&format!("/v1/orgs/{}/audit-log?limit=200", b.id), &b.admin)
        .await;
    audit_before.assert_status(200);

    let mut failures = Vec::new();
    let mut requests = 0usize;
    for op in ops.iter().filter(|op| !skipped(op)) {
        let real = calls(op, &b, Missing::None);
        let fake_all = calls(op, &b, Missing::AllButOrg);
        let fake_last = calls(op, &b, Missing::Last);
        for principal in &a.principals {
            for (i, call) in real.iter().enumerate() {
                let reply = send(&app, Some(&principal.token), call).await;
                requests += 1;
                let what = format!(
                    "{} {} {:?} by A's {}",
                    call.method, call.path, call.query, principal.label
                );
                if reply.body.to_string().contains(MARKER) {
                    failures.push(format!("{what}: answer shows B's data: {}", reply.body));
                }
                if op.params.is_empty() {
                    continue;
                }
                // An organization's public apps are listed to anyone (none of B's are public).
                let public_listing = op.method == Method::GET
                    && op.template == "/v1/accounts/{account}/apps"
                    && reply.body["apps"] == json!([]);
                if reply.status.is_success() && !public_listing {
                    failures.push(format!("{what}: {} {}", reply.status, reply.body));
                    continue;
                }
                for fake in [&fake_all[i], &fake_last[i]] {
                    let other = send(&app, Some(&principal.token), fake).await;
                    requests += 1;
                    if (other.status, &other.body) != (reply.status, &reply.body) {
                        failures.push(format!(
                            "{what}: {} {} differs from {} {} for missing ids ({})",
                            reply.status, reply.body, other.status, other.body, fake.path
                        ));
                    }
                }
            }
        }
    }

    // The SCIM endpoint of B, which is no OpenAPI operation: every principal of A, A's own
    // SCIM token included, is refused before anything is read (401, the same for B's real
    // ids and missing ones).
    let scim_before = scim_snapshot(&app, &b).await;
    let mut scim_principals: Vec<(String, String)> = a
        .principals
        .iter()
        .map(|p| (p.label.clone(), p.token.clone()))
        .collect();
    scim_principals.push(("SCIM token".to_owned(), a.scim_token.clone()));
    for (label, token) in &scim_principals {
        for (method, path, body) in scim_calls(&b) {
            let reply = send(
                &app,
                Some(token),
                &Call {
                    method: method.clone(),
                    path: path.clone(),
                    query: Vec::new(),
                    body,
                },
            )
            .await;
            requests += 1;
            if reply.status.as_u16() != 401 || reply.body.to_string().contains(MARKER) {
                failures.push(format!(
                    "{method} {path} by A's {label}: {} {}",
                    reply.status, reply.body
                ));
            }
        }
    }
    if scim_snapshot(&app, &b).await != scim_before {
        failures.push("B's SCIM resources changed".to_owned());
    }

    eprintln!(
        "tenant isolation: {} operations, {} principals, {requests} requests",
        ops.len(),
        a.principals.len()
    );

    let after = snapshot(&app, &ops, &b).await;
    for (key, value) in &before {
        if after.get(key) != Some(value) {
            failures.push(format!(
                "B's view changed: {key}: {value} -> {:?}",
                after.get(key)
            ));
        }
    }
    let audit_after = app
        .get(&format!("/v1/orgs/{}/audit-log?limit=200", b.id), &b.admin)
        .await;
    if audit_after.body != audit_before.body {
        failures.push(format!(
            "B's audit log changed: {} -> {}",
            audit_before.body, audit_after.body
        ));
    }
    let verify = app
        .get(&format!("/v1/orgs/{}/audit-log/verify", b.id), &b.admin)
        .await;
    assert_eq!(verify.assert_status(200)["ok"], true, "{}", verify.body);
    assert!(
        failures.is_empty(),
        "{} isolation failures (seed {seed}):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
