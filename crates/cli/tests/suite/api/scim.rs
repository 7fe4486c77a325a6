//! SCIM 2.0 provisioning per organization (`/scim/v2/orgs/{org}/`), over HTTP on a real
//! server: the tokens (v1 API), the protocol (users, groups, filters, paging, ETags, errors),
//! suspension as `/v1/check` and a suspended member's own credentials see it, tenant
//! isolation, the last administrator, takeover attempts, and replays of the request shapes
//! Okta and Microsoft Entra ID send.

use reqwest::Method;
use serde_json::{Value, json};

use crate::api::helpers::{Reply, TestApp, invite_and_accept, spawn_app};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A SCIM answer: the reply and its `ETag` and `Location` headers.
struct Scim {
    reply: Reply,
    etag: Option<String>,
    location: Option<String>,
}

impl Scim {
    #[track_caller]
    fn ok(&self, status: u16) -> &Value {
        assert_eq!(
            self.reply.status.as_u16(),
            status,
            "body: {}",
            self.reply.body
        );
        if status != 204 {
            assert_eq!(self.reply.content_type, "application/scim+json");
        }
        &self.reply.body
    }

    /// Asserts a SCIM error: the `Error` schema, the status as a string, the `scimType`.
    #[track_caller]
    fn error(&self, status: u16, scim_type: Option<&str>) {
        let body = &self.reply.body;
        assert_eq!(self.reply.status.as_u16(), status, "body: {body}");
        assert_eq!(self.reply.content_type, "application/scim+json");
        assert_eq!(body["schemas"], json!([ERROR]), "{body}");
        assert_eq!(body["status"], json!(status.to_string()), "{body}");
        assert_eq!(body["scimType"].as_str(), scim_type, "{body}");
    }
}

/// Sends a SCIM request as `application/scim+json`.
async fn scim(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> Scim {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(token);
    if let Some(body) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    if let Some(tag) = if_match {
        req = req.header("if-match", tag);
    }
    let resp = req.send().await.expect("request sent");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (etag, location) = (header("etag"), header("location"));
    let status = resp.status();
    let content_type = header("content-type").unwrap_or_default();
    let text = resp.text().await.unwrap_or_default();
    Scim {
        reply: Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            content_type,
        },
        etag,
        location,
    }
}

/// An org `org` administered by `<org>-admin`; returns the admin's session and a SCIM token.
async fn org_with_scim(app: &TestApp, org: &str) -> (String, String) {
    let admin = app.user(&format!("{org}-admin")).await;
    app.org(&admin, org).await;
    let created = app
        .post(
            &format!("/v1/orgs/{org}/scim/tokens"),
            &admin,
            json!({"description": "Okta"}),
        )
        .await;
    let token = created.assert_status(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    (admin, token)
}

fn base(org: &str) -> String {
    format!("/scim/v2/orgs/{org}")
}

fn new_user(user_name: &str) -> Value {
    json!({
        "schemas": [USER],
        "userName": user_name,
        "externalId": format!("ext-{user_name}"),
        "name": {"givenName": "Given", "familyName": "Family"},
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "active": true,
    })
}

async fn create_user(app: &TestApp, org: &str, token: &str, user_name: &str) -> Value {
    let created = scim(
        app,
        Method::POST,
        &format!("{}/Users", base(org)),
        token,
        Some(new_user(user_name)),
        None,
    )
    .await;
    created.ok(201).clone()
}

async fn check(app: &TestApp, asker: &str, user: &str, org: &str) -> Value {
    let ask =
        json!({"subject": {"user": user}, "permission": "sidebar.view", "resource": {"org": org}});
    app.post("/v1/check", asker, ask)
        .await
        .assert_status(200)
        .clone()
}

/// The operation names of `org`'s audit log, newest first, with their success.
async fn audit_ops(app: &TestApp, admin: &str, org: &str) -> Vec<(String, bool, Option<String>)> {
    let page = app
        .get(&format!("/v1/orgs/{org}/audit-log?limit=200"), admin)
        .await;
    page.assert_status(200)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["operation_name"].as_str().unwrap_or_default().to_owned(),
                e["success"].as_bool().unwrap(),
                e["actor"]["credential_kind"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[tokio::test]
async fn scim_tokens_are_shown_once_rotated_with_an_overlap_and_revoked() {
    let app = spawn_app().await;
    let (admin, token) = org_with_scim(&app, "acme").await;
    assert!(token.starts_with("pcl_scim_"), "{token}");
    let listed = app.get("/v1/orgs/acme/scim/tokens", &admin).await;
    let tokens = listed.assert_status(200)["scim_tokens"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(tokens.len(), 1);
    assert!(
        !listed.body.to_string().contains(&token[9..]),
        "the secret is never listed"
    );
    assert_eq!(tokens[0]["created_by"], "acme-admin");
    assert_eq!(tokens[0]["last_used_at"], Value::Null);
    let id = tokens[0]["id"].as_str().unwrap().to_owned();

    scim(
        &app,
        Method::GET,
        &format!("{}/Users", base("acme")),
        &token,
        None,
        None,
    )
    .await
    .ok(200);
    let listed = app.get("/v1/orgs/acme/scim/tokens", &admin).await;
    assert!(listed.body["scim_tokens"][0]["last_used_at"].is_string());

    // Rotation: a new secret; the old one keeps working for the overlap, then ends.
    let rotated = app
        .post(
            &format!("/v1/orgs/acme/scim/tokens/{id}/rotate"),
            &admin,
            json!({}),
        )
        .await;
    let new_token = rotated.assert_status(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_token, token);
    assert!(
        rotated.body["endpoint"]
            .as_str()
            .unwrap()
            .ends_with("/scim/v2/orgs/acme")
    );
    for t in [&token, &new_token] {
        scim(
            &app,
            Method::GET,
            &format!("{}/Users", base("acme")),
            t,
            None,
            None,
        )
        .await
        .ok(200);
    }
    let listed = app.get("/v1/orgs/acme/scim/tokens", &admin).await;
    let old = listed.body["scim_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap()
        .clone();
    assert!(old["expires_at"].is_string(), "{old}");

    // Revocation: at once.
    app.delete(&format!("/v1/orgs/acme/scim/tokens/{id}"), &admin)
        .await
        .assert_status(204);
    scim(
        &app,
        Method::GET,
        &format!("{}/Users", base("acme")),
        &token,
        None,
        None,
    )
    .await
    .error(401, None);
    app.delete(&format!("/v1/orgs/acme/scim/tokens/{id}"), &admin)
        .await
        .assert_problem(409, "scim.token_revoked");
    app.post(
        &format!("/v1/orgs/acme/scim/tokens/{id}/rotate"),
        &admin,
        json!({}),
    )
    .await
    .assert_problem(409, "scim.token_not_live");

    // Only administrators manage tokens; outsiders do not learn the org's.
    let member = app.user("member").await;
    invite_and_accept(&app, &admin, "acme", &member, "member", "org_user").await;
    app.post("/v1/orgs/acme/scim/tokens", &member, json!({}))
        .await
        .assert_problem(403, "permission.denied");
    app.get("/v1/orgs/acme/scim/tokens", &member)
        .await
        .assert_problem(403, "permission.denied");
    let outsider = app.user("outsider").await;
    app.post("/v1/orgs/acme/scim/tokens", &outsider, json!({}))
        .await
        .assert_problem(404, "not_found");
    let ops = audit_ops(&app, &admin, "acme").await;
    for op in [
        "scim.token.create",
        "scim.token.rotate",
        "scim.token.revoke",
    ] {
        assert!(
            ops.iter().any(|(o, ok, _)| o == op && *ok),
            "{op} in {ops:?}"
        );
    }
    assert!(
        ops.iter()
            .any(|(o, ok, _)| o == "scim.token.create" && !*ok),
        "the member's refused create is recorded: {ops:?}"
    );
}

#[tokio::test]
async fn a_scim_token_opens_only_its_own_organizations_scim_endpoint() {
    let app = spawn_app().await;
    let (admin_a, token_a) = org_with_scim(&app, "alpha").await;
    let (_admin_b, token_b) = org_with_scim(&app, "beta").await;
    create_user(&app, "beta", &token_b, "bob@beta.example").await;
    let pat = app
        .post(
            "/v1/users/me/keys",
            &admin_a,
            json!({"description": "ci", "scopes": ["all"]}),
        )
        .await;
    let pat = pat.assert_status(201)["token"].as_str().unwrap().to_owned();
    // Another org's endpoint, an unknown org, a PAT, a session, garbage: all 401, nothing read.
    for (token, org) in [
        (&token_a, "beta"),
        (&token_a, "nobody"),
        (&pat, "alpha"),
        (&admin_a, "alpha"),
        (&"pcl_scim_forged".to_owned(), "alpha"),
    ] {
        for path in ["/Users", "/Groups", "/ServiceProviderConfig", "/Schemas"] {
            let reply = scim(
                &app,
                Method::GET,
                &format!("{}{path}", base(org)),
                token,
                None,
                None,
            )
            .await;
            reply.error(401, None);
            assert!(!reply.reply.body.to_string().contains("bob"));
        }
        scim(
            &app,
            Method::POST,
            &format!("{}/Users", base(org)),
            token,
            Some(new_user("intruder@example.com")),
            None,
        )
        .await
        .error(401, None);
    }
    // A SCIM token is no credential of the v1 API.
    for path in [
        "/v1/orgs/alpha/members",
        "/v1/orgs/alpha",
        "/v1/users/me",
        "/v1/orgs/alpha/scim/tokens",
    ] {
        app.get(path, &token_a)
            .await
            .assert_problem(401, "auth.required");
    }
    // A filter cannot reach another org's users.
    let all = scim(
        &app,
        Method::GET,
        &format!("{}/Users?filter=userName%20pr", base("alpha")),
        &token_a,
        None,
        None,
    )
    .await;
    assert_eq!(all.ok(200)["totalResults"], 0);
    let by_name = scim(
        &app,
        Method::GET,
        &format!(
            "{}/Users?filter=userName%20eq%20%22bob@beta.example%22",
            base("alpha")
        ),
        &token_a,
        None,
        None,
    )
    .await;
    assert_eq!(by_name.ok(200)["totalResults"], 0);
    // Nor can an id.
    let bob = scim(
        &app,
        Method::GET,
        &format!("{}/Users?filter=userName%20pr", base("beta")),
        &token_b,
        None,
        None,
    )
    .await;
    let bob_id = bob.ok(200)["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for method in [Method::GET, Method::DELETE] {
        scim(
            &app,
            method,
            &format!("{}/Users/{bob_id}", base("alpha")),
            &token_a,
            None,
            None,
        )
        .await
        .error(404, None);
    }
}

#[tokio::test]
async fn users_are_created_read_listed_replaced_patched_and_deleted() {
    let app = spawn_app().await;
    let (admin, token) = org_with_scim(&app, "acme").await;
    let users = format!("{}/Users", base("acme"));
    let created = scim(
        &app,
        Method::POST,
        &users,
        &token,
        Some(new_user("Ann@Acme.example")),
        None,
    )
    .await;
    let ann = created.ok(201).clone();
    let id = ann["id"].as_str().unwrap().to_owned();
    assert_eq!(ann["userName"], "Ann@Acme.example");
    assert_eq!(ann["externalId"], "ext-Ann@Acme.example");
    assert_eq!(ann["active"], true);
    assert_eq!(ann["meta"]["resourceType"], "User");
    assert_eq!(
        created.location.as_deref(),
        ann["meta"]["location"].as_str()
    );
    assert_eq!(created.etag.as_deref(), ann["meta"]["version"].as_str());
    // The member exists, with the default role, and its address waits for verification.
    let members = app.get("/v1/orgs/acme/members", &admin).await;
    let member = members.assert_status(200)["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(member["role"], "org_user");
    assert_eq!(member["first_name"], "Given");
    assert!(app.mailed_token("Ann@Acme.example", "pcv").await.is_some());

    let got = scim(
        &app,
        Method::GET,
        &format!("{users}/{id}"),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(got.ok(200), &ann);
    assert_eq!(got.etag, created.etag);

    // Re-creating the same userName (any case) is a uniqueness conflict; nothing changes.
    scim(
        &app,
        Method::POST,
        &users,
        &token,
        Some(new_user("ann@acme.example")),
        None,
    )
    .await
    .error(409, Some("uniqueness"));
    for i in 0..4 {
        create_user(&app, "acme", &token, &format!("user{i}@acme.example")).await;
    }
    let list = async |query: &str| {
        let reply = scim(
            &app,
            Method::GET,
            &format!("{users}?{query}"),
            &token,
            None,
            None,
        )
        .await;
        reply.ok(200).clone()
    };
    let all = list("").await;
    assert_eq!(
        all["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    assert_eq!(all["totalResults"], 5);
    let page = list("startIndex=2&count=2").await;
    assert_eq!(
        (page["totalResults"].as_u64(), page["startIndex"].as_u64()),
        (Some(5), Some(2))
    );
    assert_eq!(page["Resources"].as_array().unwrap().len(), 2);
    assert_eq!(page["Resources"][0], all["Resources"][1]);
    assert_eq!(list("count=0").await["Resources"], json!([]));
    assert_eq!(list("startIndex=0&count=1").await["startIndex"], 1);
    for (filter, expected) in [
        (r#"userName eq "ann@acme.example""#, 1),
        (r#"userName sw "user""#, 4),
        (r#"userName co "1@""#, 1),
        (r#"userName ew "acme.example""#, 5),
        ("externalId pr", 5),
        (r#"externalId eq "ext-user2@acme.example""#, 1),
        (r#"externalId eq "EXT-USER2@acme.example""#, 0),
        (r#"emails.value eq "USER3@acme.example""#, 1),
        (r#"emails[type eq "work" and value sw "user"]"#, 4),
        (
            r#"userName eq "user0@acme.example" or userName eq "user1@acme.example""#,
            2,
        ),
        (r#"userName sw "user" and active eq true"#, 4),
        (r#"not (userName sw "user")"#, 1),
        (r#"userName ne "ann@acme.example""#, 4),
        (r#"displayName pr"#, 0),
    ] {
        let query = format!("filter={}", urlencode(filter));
        assert_eq!(list(&query).await["totalResults"], expected, "{filter}");
    }
    for bad in ["userName zz \"x\"", "userName eq", "(userName eq \"x\""] {
        scim(
            &app,
            Method::GET,
            &format!("{users}?filter={}", urlencode(bad)),
            &token,
            None,
            None,
        )
        .await
        .error(400, Some("invalidFilter"));
    }

    // Replace, guarded by If-Match.
    let mut replacement = new_user("ann@acme.example");
    replacement["name"] = json!({"givenName": "Ann", "familyName": "Able"});
    replacement["displayName"] = json!("Ann Able");
    replacement[ENTERPRISE] = json!({"employeeNumber": "42", "department": "R&D", "manager": {"value": "boss"}, "title": "dropped"});
    scim(
        &app,
        Method::PUT,
        &format!("{users}/{id}"),
        &token,
        Some(replacement.clone()),
        Some("W/\"1\""),
    )
    .await
    .error(412, None);
    let replaced = scim(
        &app,
        Method::PUT,
        &format!("{users}/{id}"),
        &token,
        Some(replacement),
        created.etag.as_deref(),
    )
    .await;
    let body = replaced.ok(200).clone();
    assert_ne!(replaced.etag, created.etag);
    assert_eq!(body["userName"], "ann@acme.example");
    assert_eq!(body["displayName"], "Ann Able");
    assert_eq!(body["name"]["familyName"], "Able");
    assert_eq!(
        body[ENTERPRISE],
        json!({"employeeNumber": "42", "department": "R&D", "manager": {"value": "boss"}})
    );
    assert_eq!(body["schemas"], json!([USER, ENTERPRISE]));

    // PATCH: a stale version is refused, the current one applies.
    let patch = json!({"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "name.givenName", "value": "Anna"},
        {"op": "remove", "path": "displayName"},
    ]});
    scim(
        &app,
        Method::PATCH,
        &format!("{users}/{id}"),
        &token,
        Some(patch.clone()),
        created.etag.as_deref(),
    )
    .await
    .error(412, None);
    let patched = scim(
        &app,
        Method::PATCH,
        &format!("{users}/{id}"),
        &token,
        Some(patch),
        replaced.etag.as_deref(),
    )
    .await;
    assert_eq!(patched.ok(200)["name"]["givenName"], "Anna");
    assert!(patched.reply.body.get("displayName").is_none());
    for (bad, scim_type) in [
        (
            json!({"Operations": [{"op": "add", "path": "title", "value": "x"}]}),
            "invalidSyntax",
        ),
        (
            json!({"schemas": [PATCH], "Operations": [{"op": "jump", "path": "title", "value": 1}]}),
            "invalidSyntax",
        ),
        (
            json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "emails[", "value": 1}]}),
            "invalidPath",
        ),
        (
            json!({"schemas": [PATCH], "Operations": [{"op": "remove"}]}),
            "noTarget",
        ),
        (
            json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": "maybe"}]}),
            "invalidValue",
        ),
        (
            json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": "userName"}]}),
            "invalidValue",
        ),
    ] {
        scim(
            &app,
            Method::PATCH,
            &format!("{users}/{id}"),
            &token,
            Some(bad),
            None,
        )
        .await
        .error(400, Some(scim_type));
    }
    // Bodies that are no SCIM document.
    let raw = app
        .client
        .post(format!("{}{users}", app.address))
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    let raw = app
        .client
        .post(format!("{}{users}", app.address))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(new_user("x@acme.example").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 415);
    scim(
        &app,
        Method::POST,
        &users,
        &token,
        Some(json!({"schemas": [USER], "userName": "no-address"})),
        None,
    )
    .await
    .error(400, Some("invalidValue"));
    // `application/json` is accepted too (the helper sends it).
    app.post(&users, &token, new_user("json@acme.example"))
        .await
        .assert_status(201);

    // Delete: the member is gone, the id too.
    scim(
        &app,
        Method::DELETE,
        &format!("{users}/{id}"),
        &token,
        None,
        Some("W/\"1\""),
    )
    .await
    .error(412, None);
    scim(
        &app,
        Method::DELETE,
        &format!("{users}/{id}"),
        &token,
        None,
        None,
    )
    .await
    .ok(204);
    scim(
        &app,
        Method::GET,
        &format!("{users}/{id}"),
        &token,
        None,
        None,
    )
    .await
    .error(404, None);
    let members = app.get("/v1/orgs/acme/members", &admin).await;
    assert!(!members.body.to_string().contains(&id));
    let ops = audit_ops(&app, &admin, "acme").await;
    for op in ["scim.user.create", "scim.user.update", "scim.user.delete"] {
        assert!(
            ops.iter()
                .any(|(o, ok, kind)| o == op && *ok && kind.as_deref() == Some("scim_token")),
            "{op} in {ops:?}"
        );
    }
    assert!(
        ops.iter().any(|(o, ok, kind)| o == "scim.user.create"
            && !*ok
            && kind.as_deref() == Some("scim_token")),
        "refused creates are recorded: {ops:?}"
    );
    // The same, as the console's activity feed reads it.
    let activity = app.get("/v1/orgs/acme/scim/activity?limit=5", &admin).await;
    let entries = activity.assert_status(200)["entries"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(entries.len(), 5);
    assert_eq!(entries[0]["operation"], "scim.user.delete");
}

#[tokio::test]
async fn undecodable_paths_and_query_strings_get_scim_errors() {
    let app = spawn_app().await;
    let (_, token) = org_with_scim(&app, "acme").await;
    // %FF is no UTF-8: axum's own rejections would answer in plain text.
    for path in ["Users/%FF", "Groups/%FF"] {
        let reply = scim(
            &app,
            Method::GET,
            &format!("{}/{path}", base("acme")),
            &token,
            None,
            None,
        )
        .await;
        reply.error(404, None);
    }
    for list in ["Users", "Groups"] {
        let reply = scim(
            &app,
            Method::GET,
            &format!("{}/{list}?filter=%FF", base("acme")),
            &token,
            None,
            None,
        )
        .await;
        // The query string decodes lossily; what is left is no filter.
        reply.error(400, Some("invalidFilter"));
    }
}

#[tokio::test]
async fn the_discovery_endpoints_describe_what_is_kept() {
    let app = spawn_app().await;
    let (_, token) = org_with_scim(&app, "acme").await;
    let spc = scim(
        &app,
        Method::GET,
        &format!("{}/ServiceProviderConfig", base("acme")),
        &token,
        None,
        None,
    )
    .await;
    let spc = spc.ok(200).clone();
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["filter"]["supported"], true);
    assert_eq!(spc["etag"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], false);
    let types = scim(
        &app,
        Method::GET,
        &format!("{}/ResourceTypes", base("acme")),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(types.ok(200)["totalResults"], 2);
    let user = scim(
        &app,
        Method::GET,
        &format!("{}/ResourceTypes/User", base("acme")),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(user.ok(200)["schema"], USER);
    let schemas = scim(
        &app,
        Method::GET,
        &format!("{}/Schemas", base("acme")),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(schemas.ok(200)["totalResults"], 3);
    let group = scim(
        &app,
        Method::GET,
        &format!("{}/Schemas/{GROUP}", base("acme")),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(group.ok(200)["name"], "Group");
    scim(
        &app,
        Method::GET,
        &format!("{}/Schemas/nope", base("acme")),
        &token,
        None,
        None,
    )
    .await
    .error(404, None);
    scim(
        &app,
        Method::GET,
        &format!("{}/Nothing", base("acme")),
        &token,
        None,
        None,
    )
    .await
    .error(404, None);
}

/// An org `acme` with a SCIM token and an identity provider `okta` (as the SAML suite sets it
/// up): returns the admin's session, the SCIM token and the SP document for sign-ins.
async fn acme_with_scim_and_sso(app: &TestApp) -> (String, String, Value) {
    let (admin, token) = org_with_scim(app, "acme").await;
    let sp = crate::api::saml::create_idp(app, &admin, "acme", "okta", json!({})).await;
    (admin, token, sp)
}

/// A provisioned account signs in through the org's IdP (it manages the account, so the IdP
/// vouches for it) and makes a PAT with that session: two credentials of the member.
async fn sign_in_provisioned(
    app: &TestApp,
    sp: &Value,
    assertion: &str,
    email: &str,
) -> (String, String) {
    let session = crate::api::saml::sso_session(app, sp, assertion, email).await;
    let pat = app
        .post(
            "/v1/users/me/keys",
            &session,
            json!({"description": "cli", "scopes": ["all"]}),
        )
        .await;
    let pat = pat.assert_status(201)["token"].as_str().unwrap().to_owned();
    (session, pat)
}

#[tokio::test]
async fn suspension_denies_every_credential_in_the_org_at_once_and_restoring_allows_again() {
    let (app, _clock) = crate::api::saml::clocked().await;
    let (admin, token, sp) = acme_with_scim_and_sso(&app).await;
    let dave = create_user(&app, "acme", &token, "dave@acme.example").await;
    let id = dave["id"].as_str().unwrap().to_owned();
    let (session, pat) = sign_in_provisioned(&app, &sp, "d1", "dave@acme.example").await;
    for credential in [&session, &pat] {
        app.get("/v1/orgs/acme/members", credential)
            .await
            .assert_status(200);
    }
    assert_eq!(check(&app, &admin, &id, "acme").await["allowed"], true);

    // Entra ID's shape: capitalised op, the boolean as a string.
    let suspend = json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    let suspended = scim(
        &app,
        Method::PATCH,
        &format!("{}/Users/{id}", base("acme")),
        &token,
        Some(suspend),
        None,
    )
    .await;
    assert_eq!(suspended.ok(200)["active"], false);
    let decision = check(&app, &admin, &id, "acme").await;
    assert_eq!(decision["allowed"], false);
    assert_eq!(decision["reason"], "membership_suspended");
    for credential in [&session, &pat] {
        app.get("/v1/orgs/acme/members", credential)
            .await
            .assert_problem(403, "membership.suspended");
        // Its own decision says so too.
        let own = check(&app, credential, &id, "acme").await;
        assert_eq!(own["reason"], "membership_suspended");
    }
    let listed = scim(
        &app,
        Method::GET,
        &format!("{}/Users?filter=active%20eq%20false", base("acme")),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(listed.ok(200)["totalResults"], 1);

    // Okta's shape: no path, a value object.
    let restore =
        json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": true}}]});
    scim(
        &app,
        Method::PATCH,
        &format!("{}/Users/{id}", base("acme")),
        &token,
        Some(restore),
        None,
    )
    .await
    .ok(200);
    assert_eq!(check(&app, &admin, &id, "acme").await["allowed"], true);
    for credential in [&session, &pat] {
        app.get("/v1/orgs/acme/members", credential)
            .await
            .assert_status(200);
    }
    let ops = audit_ops(&app, &admin, "acme").await;
    assert!(
        ops.iter().any(|(o, ok, _)| o == "scim.user.suspend" && *ok),
        "{ops:?}"
    );
    assert!(
        ops.iter().any(|(o, ok, _)| o == "scim.user.restore" && *ok),
        "{ops:?}"
    );
    // A second server over the same store learns the suspension from the change feed.
    let peer = app.peer().await;
    let suspend = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    scim(
        &app,
        Method::PATCH,
        &format!("{}/Users/{id}", base("acme")),
        &token,
        Some(suspend),
        None,
    )
    .await
    .ok(200);
    let mut denied = false;
    for _ in 0..100 {
        if peer
            .get("/v1/orgs/acme/members", &pat)
            .await
            .status
            .as_u16()
            == 403
        {
            denied = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(denied, "the peer denies the suspended member");
}

#[tokio::test]
async fn the_last_administrator_is_neither_suspended_nor_deleted_through_scim() {
    let (app, _clock) = crate::api::saml::clocked().await;
    let (admin, token, sp) = acme_with_scim_and_sso(&app).await;
    let erin = create_user(&app, "acme", &token, "erin@acme.example").await;
    let id = erin["id"].as_str().unwrap().to_owned();
    let (erin_session, _) = sign_in_provisioned(&app, &sp, "e1", "erin@acme.example").await;
    app.put(
        &format!("/v1/orgs/acme/members/{id}"),
        &admin,
        json!({"role": "admin"}),
    )
    .await
    .assert_status(200);
    app.post("/v1/orgs/acme/leave", &admin, json!({}))
        .await
        .assert_status(204);
    let user = format!("{}/Users/{id}", base("acme"));
    let suspend = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    scim(&app, Method::PATCH, &user, &token, Some(suspend), None)
        .await
        .error(400, Some("mutability"));
    scim(&app, Method::DELETE, &user, &token, None, None)
        .await
        .error(400, Some("mutability"));
    // Nothing changed: still an active administrator.
    let got = scim(&app, Method::GET, &user, &token, None, None).await;
    assert_eq!(got.ok(200)["active"], true);
    let members = app.get("/v1/orgs/acme/members", &erin_session).await;
    assert_eq!(members.assert_status(200)["members"][0]["role"], "admin");
    let ops = audit_ops(&app, &erin_session, "acme").await;
    assert!(
        ops.iter().any(|(o, ok, _)| o == "scim.user.update" && !*ok),
        "{ops:?}"
    );
    assert!(
        ops.iter().any(|(o, ok, _)| o == "scim.user.delete" && !*ok),
        "{ops:?}"
    );
}

#[tokio::test]
async fn a_scim_create_never_takes_over_an_account_the_org_does_not_manage() {
    let app = spawn_app().await;
    let (admin, token) = org_with_scim(&app, "acme").await;
    let victim = app.user("victim").await;
    let before = app
        .get("/v1/users/me", &victim)
        .await
        .assert_status(200)
        .clone();
    for user_name in ["victim@example.com", "VICTIM@example.com"] {
        scim(
            &app,
            Method::POST,
            &format!("{}/Users", base("acme")),
            &token,
            Some(new_user(user_name)),
            None,
        )
        .await
        .error(409, Some("uniqueness"));
    }
    // Another userName with the victim's address: refused the same way.
    let mut other = new_user("someone-else");
    other["emails"] = json!([{"value": "victim@example.com", "primary": true}]);
    scim(
        &app,
        Method::POST,
        &format!("{}/Users", base("acme")),
        &token,
        Some(other),
        None,
    )
    .await
    .error(409, Some("uniqueness"));
    assert_eq!(app.get("/v1/users/me", &victim).await.body, before);
    let members = app.get("/v1/orgs/acme/members", &admin).await;
    assert!(!members.body.to_string().contains("victim"));
    app.get("/v1/orgs/acme", &victim)
        .await
        .assert_problem(404, "not_found");
    let ops = audit_ops(&app, &admin, "acme").await;
    assert_eq!(
        ops.iter()
            .filter(|(o, ok, _)| o == "scim.user.create" && !*ok)
            .count(),
        3,
        "{ops:?}"
    );
}

#[tokio::test]
async fn groups_are_teams_with_members_renamed_patched_paged_and_deleted() {
    let app = spawn_app().await;
    let (admin, token) = org_with_scim(&app, "acme").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let user = create_user(&app, "acme", &token, &format!("g{i}@acme.example")).await;
        ids.push(user["id"].as_str().unwrap().to_owned());
    }
    let groups = format!("{}/Groups", base("acme"));
    let created = scim(
        &app,
        Method::POST,
        &groups,
        &token,
        Some(
            json!({"schemas": [GROUP], "displayName": "Engineering", "externalId": "grp-1",
                    "members": [{"value": ids[0]}, {"value": ids[1]}]}),
        ),
        None,
    )
    .await;
    let group = created.ok(201).clone();
    let gid = group["id"].as_str().unwrap().to_owned();
    assert_eq!(group["members"].as_array().unwrap().len(), 2);
    // The team exists with those members.
    let team = app.get(&format!("/v1/orgs/acme/teams/{gid}"), &admin).await;
    assert_eq!(team.assert_status(200)["name"], "Engineering");
    assert_eq!(team.body["members"].as_array().unwrap().len(), 2);
    scim(
        &app,
        Method::POST,
        &groups,
        &token,
        Some(json!({"schemas": [GROUP], "displayName": "engineering"})),
        None,
    )
    .await
    .error(409, Some("uniqueness"));
    scim(
        &app,
        Method::POST,
        &groups,
        &token,
        Some(json!({"schemas": [GROUP], "displayName": "X", "members": [{"value": "stranger"}]})),
        None,
    )
    .await
    .error(400, Some("invalidValue"));

    // Members added, removed by a value filter (the request Okta and Entra ID send).
    let group_url = format!("{groups}/{gid}");
    let patch = json!({"schemas": [PATCH], "Operations": [
        {"op": "Add", "path": "members", "value": [{"value": ids[2]}]},
        {"op": "Remove", "path": format!("members[value eq \"{}\"]", ids[0])},
    ]});
    let patched = scim(
        &app,
        Method::PATCH,
        &group_url,
        &token,
        Some(patch),
        created.etag.as_deref(),
    )
    .await;
    let members: Vec<&str> = patched.ok(200)["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(members.len(), 2);
    assert!(members.contains(&ids[1].as_str()) && members.contains(&ids[2].as_str()));
    let ask = json!({"subject": {"user": ids[0]}, "permission": "sidebar.view", "resource": {"org": "acme"}});
    app.post("/v1/check", &admin, ask).await.assert_status(200);
    // Rename (no path, a value object) keeps the id.
    let rename = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"displayName": "Platform", "externalId": "grp-2"}}]});
    let renamed = scim(&app, Method::PATCH, &group_url, &token, Some(rename), None).await;
    assert_eq!(renamed.ok(200)["displayName"], "Platform");
    assert_eq!(renamed.reply.body["id"], gid.as_str());
    scim(&app, Method::PATCH, &group_url, &token, Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "members", "value": []}]})), created.etag.as_deref())
        .await
        .error(412, None);
    // Listing: large groups page without their members.
    for i in 0..3 {
        scim(
            &app,
            Method::POST,
            &groups,
            &token,
            Some(json!({"schemas": [GROUP], "displayName": format!("Team {i}")})),
            None,
        )
        .await
        .ok(201);
    }
    let list = scim(
        &app,
        Method::GET,
        &format!("{groups}?excludedAttributes=members&startIndex=1&count=2"),
        &token,
        None,
        None,
    )
    .await;
    let list = list.ok(200).clone();
    assert_eq!(list["totalResults"], 4);
    assert_eq!(list["Resources"].as_array().unwrap().len(), 2);
    assert!(list["Resources"][0].get("members").is_none());
    let by_name = scim(
        &app,
        Method::GET,
        &format!(
            "{groups}?filter={}",
            urlencode(r#"displayName eq "platform""#)
        ),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(by_name.ok(200)["totalResults"], 1);
    assert_eq!(
        by_name.reply.body["Resources"][0]["members"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let by_ext = scim(
        &app,
        Method::GET,
        &format!("{groups}?filter={}", urlencode(r#"externalId eq "grp-2""#)),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(by_ext.ok(200)["totalResults"], 1);
    let single = scim(
        &app,
        Method::GET,
        &format!("{group_url}?excludedAttributes=members"),
        &token,
        None,
        None,
    )
    .await;
    assert!(single.ok(200).get("members").is_none());
    // Replace with PUT, then delete.
    let put = scim(
        &app,
        Method::PUT,
        &group_url,
        &token,
        Some(
            json!({"schemas": [GROUP], "displayName": "Platform", "members": [{"value": ids[0]}]}),
        ),
        None,
    )
    .await;
    assert_eq!(put.ok(200)["members"].as_array().unwrap().len(), 1);
    scim(&app, Method::DELETE, &group_url, &token, None, None)
        .await
        .ok(204);
    app.get(&format!("/v1/orgs/acme/teams/{gid}"), &admin)
        .await
        .assert_problem(404, "not_found");
    let ops = audit_ops(&app, &admin, "acme").await;
    for op in [
        "scim.group.create",
        "scim.group.update",
        "scim.group.members",
        "scim.group.delete",
    ] {
        assert!(
            ops.iter().any(|(o, ok, _)| o == op && *ok),
            "{op} in {ops:?}"
        );
    }
}

/// A provisioning run as Okta sends it, then as Microsoft Entra ID sends it, checked through
/// `/v1/check`, the members list and the audit log.
///
/// Okta (its SCIM 2.0 integration guide): `GET /Users?filter=userName eq "..."&startIndex=1&count=100`
/// before each create; `POST /Users` with `userName` = the address, `name`, `emails`,
/// `active: true`; deactivation by `PATCH` `{"op":"replace","value":{"active":false}}`; groups
/// pushed with `POST /Groups` and `PATCH` `{"op":"add","path":"members","value":[...]}` and
/// `{"op":"remove","path":"members[value eq \"id\"]"}`.
///
/// Entra ID (its SCIM validator's requests): `GET /Users?filter=userName eq "..."`; `POST /Users`
/// with the enterprise extension and `"primary": "True"`; `PATCH` with `"op": "Replace"` /
/// `"Add"` capitalised, `"path": "active"` and `"value": "False"`, `emails[type eq "work"].value`,
/// `urn:...:enterprise:2.0:User:department`; group members removed by
/// `{"op":"Remove","path":"members","value":[{"value":"id"}]}`; re-POST of an existing
/// userName answered 409 `uniqueness`.
/// The role of each member of `org`, by account id.
async fn roles(
    app: &TestApp,
    admin: &str,
    org: &str,
) -> std::collections::BTreeMap<String, String> {
    let members = app.get(&format!("/v1/orgs/{org}/members"), admin).await;
    members.assert_status(200)["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let field = |name: &str| m[name].as_str().unwrap().to_owned();
            (field("user"), field("role"))
        })
        .collect()
}

async fn patch_group(app: &TestApp, token: &str, gid: &str, operations: Value) {
    let url = format!("{}/Groups/{gid}", base("acme"));
    let body = json!({"schemas": [PATCH], "Operations": operations});
    scim(app, Method::PATCH, &url, token, Some(body), None)
        .await
        .ok(200);
}

#[tokio::test]
async fn group_roles_give_provisioned_members_their_role_first_match_first() {
    let app = spawn_app().await;
    let (admin, token) = org_with_scim(&app, "acme").await;
    let settings = "/v1/orgs/acme/scim/settings";
    let defaults = app.get(settings, &admin).await;
    assert_eq!(defaults.assert_status(200)["default_role"], "org_user");
    assert_eq!(defaults.body["group_roles"], json!([]));
    let mut ids = Vec::new();
    for name in ["ann", "bea", "cal"] {
        let user = create_user(&app, "acme", &token, &format!("{name}@acme.example")).await;
        ids.push(user["id"].as_str().unwrap().to_owned());
    }
    let (ann, bea, cal) = (&ids[0], &ids[1], &ids[2]);
    // Dave was invited, not provisioned: groups never change his role.
    let dave = app.user("dave").await;
    invite_and_accept(&app, &admin, "acme", &dave, "dave", "org_user").await;
    let group = async |name: &str, members: &[&String]| -> String {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let body = json!({"schemas": [GROUP], "displayName": name, "members": members});
        let url = format!("{}/Groups", base("acme"));
        let created = scim(&app, Method::POST, &url, &token, Some(body), None).await;
        created.ok(201)["id"].as_str().unwrap().to_owned()
    };
    let dave_id = "dave".to_owned();
    let engineering = group("Engineering", &[ann, &dave_id]).await;
    let finance = group("Finance", &[bea]).await;

    // Refused settings change nothing: admin by default or by group, an unknown or repeated
    // group; and the SCIM token cannot reach the settings at all.
    let refused = [
        (json!({"default_role": "admin"}), "scim.default_role_admin"),
        (
            json!({"default_role": "org_user", "group_roles": [{"group": "nope", "role": "org_user"}]}),
            "scim.unknown_group",
        ),
        (
            json!({"default_role": "org_user", "group_roles": [{"group": engineering, "role": "admin"}]}),
            "scim.group_role_admin",
        ),
        (
            json!({"default_role": "org_user", "group_roles": [
                {"group": engineering, "role": "org_user"}, {"group": engineering, "role": "org_contributor"}]}),
            "scim.duplicate_group",
        ),
    ];
    for (body, code) in refused {
        app.put(settings, &admin, body)
            .await
            .assert_problem(422, code);
    }
    app.put(settings, &token, json!({"default_role": "org_user"}))
        .await
        .assert_status(401);
    // Another organization's group is not a group of this one, and its administrator and the
    // SCIM token of that organization cannot change this one's settings; nor can this org's
    // administrator through a PAT made for viewing only.
    let (globex_admin, globex_token) = org_with_scim(&app, "globex").await;
    let body = json!({"schemas": [GROUP], "displayName": "Globex admins"});
    let url = format!("{}/Groups", base("globex"));
    let foreign = scim(&app, Method::POST, &url, &globex_token, Some(body), None).await;
    let foreign = foreign.ok(201)["id"].as_str().unwrap().to_owned();
    let borrowed = json!({"default_role": "org_user", "group_roles": [{"group": foreign, "role": "org_contributor"}]});
    app.put(settings, &admin, borrowed.clone())
        .await
        .assert_problem(422, "scim.unknown_group");
    let outsider = app.put(settings, &globex_admin, borrowed.clone()).await;
    assert!(
        matches!(outsider.status.as_u16(), 403 | 404),
        "{}",
        outsider.body
    );
    app.put(settings, &globex_token, borrowed)
        .await
        .assert_status(401);
    let viewer = app
        .post(
            "/v1/users/me/keys",
            &admin,
            json!({"description": "viewer", "scopes": ["security.view"]}),
        )
        .await;
    let viewer = viewer.assert_status(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get(settings, &viewer).await.assert_status(200),
        &defaults.body
    );
    let narrow = app
        .put(
            settings,
            &viewer,
            json!({"default_role": "org_contributor"}),
        )
        .await;
    assert_eq!(narrow.status.as_u16(), 403, "{}", narrow.body);
    assert_eq!(app.get(settings, &admin).await.body, defaults.body);
    let before = roles(&app, &admin, "acme").await;
    assert!(
        before
            .iter()
            .filter(|(u, _)| u.as_str() != "acme-admin")
            .all(|(_, r)| r == "org_user")
    );

    // Setting them applies them at once: Engineering first, then Finance, else the default.
    let body = json!({"default_role": "team_contributor", "group_roles": [
        {"group": engineering, "role": "org_contributor"},
        {"group": finance, "role": "financial_manager"},
    ]});
    let set = app.put(settings, &admin, body).await;
    assert_eq!(
        set.assert_status(200)["group_roles"],
        json!([{"group": engineering, "role": "org_contributor"}, {"group": finance, "role": "financial_manager"}])
    );
    assert_eq!(app.get(settings, &admin).await.body, set.body);
    let now = roles(&app, &admin, "acme").await;
    assert_eq!(now[ann.as_str()], "org_contributor");
    assert_eq!(now[bea.as_str()], "financial_manager");
    assert_eq!(now[cal.as_str()], "team_contributor");
    assert_eq!(now["dave"], "org_user");
    assert_eq!(now["acme-admin"], "admin");
    // The decision engine agrees: a financial manager sees billing, a team contributor not.
    let billing = |user: &str| json!({"subject": {"user": user}, "permission": "billing.view", "resource": {"org": "acme"}});
    let allowed = app.post("/v1/check", &admin, billing(bea)).await;
    assert_eq!(allowed.assert_status(200)["allowed"], true);
    let denied = app.post("/v1/check", &admin, billing(cal)).await;
    assert_eq!(denied.assert_status(200)["allowed"], false);

    // Group changes through SCIM move the roles: the first matching group wins.
    patch_group(
        &app,
        &token,
        &finance,
        json!([
            {"op": "add", "path": "members", "value": [{"value": ann}, {"value": cal}]},
        ]),
    )
    .await;
    let now = roles(&app, &admin, "acme").await;
    assert_eq!(now[ann.as_str()], "org_contributor");
    assert_eq!(now[cal.as_str()], "financial_manager");
    patch_group(
        &app,
        &token,
        &engineering,
        json!([
            {"op": "remove", "path": format!("members[value eq \"{ann}\"]")},
        ]),
    )
    .await;
    assert_eq!(
        roles(&app, &admin, "acme").await[ann.as_str()],
        "financial_manager"
    );
    // Deleting a group takes its role with it.
    let url = format!("{}/Groups/{finance}", base("acme"));
    scim(&app, Method::DELETE, &url, &token, None, None)
        .await
        .ok(204);
    let now = roles(&app, &admin, "acme").await;
    for user in [ann, bea, cal] {
        assert_eq!(now[user.as_str()], "team_contributor", "{user}");
    }
    // A team change through the v1 API moves no role: whoever may manage teams cannot grant
    // organization roles by putting a provisioned member into a role-giving group.
    app.put(
        &format!("/v1/orgs/acme/teams/{engineering}/members/{bea}"),
        &admin,
        json!({}),
    )
    .await
    .assert_status(200);
    assert_eq!(
        roles(&app, &admin, "acme").await[bea.as_str()],
        "team_contributor"
    );
    // An administrator made by hand stays one, whatever groups provisioning puts it in.
    app.put(
        &format!("/v1/orgs/acme/members/{cal}"),
        &admin,
        json!({"role": "admin"}),
    )
    .await
    .assert_status(200);
    patch_group(
        &app,
        &token,
        &engineering,
        json!([
            {"op": "add", "path": "members", "value": [{"value": cal}]},
        ]),
    )
    .await;
    assert_eq!(roles(&app, &admin, "acme").await[cal.as_str()], "admin");
    assert_eq!(roles(&app, &admin, "acme").await["dave"], "org_user");

    // Each role change is in the log as a member change, by the SCIM token when SCIM moved it.
    let ops = audit_ops(&app, &admin, "acme").await;
    let by_scim = ops
        .iter()
        .filter(|(op, ok, kind)| {
            op == "organization.member.change" && *ok && kind.as_deref() == Some("scim_token")
        })
        .count();
    // cal: financial_manager; ann: financial_manager; then ann, bea, cal: the default.
    assert_eq!(by_scim, 5, "{ops:?}");
    assert!(ops.iter().any(|(op, ok, kind)| op == "scim.settings.update"
        && *ok
        && kind.as_deref() != Some("scim_token")));
}

#[tokio::test]
async fn okta_and_entra_id_provisioning_runs_replay() {
    let app = spawn_app().await;
    let (admin, token) = org_with_scim(&app, "acme").await;
    let users = format!("{}/Users", base("acme"));
    let groups = format!("{}/Groups", base("acme"));

    // Okta.
    let lookup = format!(
        "{users}?filter={}&startIndex=1&count=100",
        urlencode(r#"userName eq "okta.user@acme.example""#)
    );
    let none = scim(&app, Method::GET, &lookup, &token, None, None).await;
    assert_eq!(none.ok(200)["totalResults"], 0);
    let okta_user = json!({
        "schemas": [USER], "userName": "okta.user@acme.example",
        "name": {"givenName": "Okta", "familyName": "User"},
        "emails": [{"primary": true, "value": "okta.user@acme.example", "type": "work"}],
        "displayName": "Okta User", "locale": "en-US", "externalId": "00u1abcd", "groups": [],
        "password": "ignored-1A!", "active": true,
    });
    let created = scim(&app, Method::POST, &users, &token, Some(okta_user), None).await;
    let okta_id = created.ok(201)["id"].as_str().unwrap().to_owned();
    let found = scim(&app, Method::GET, &lookup, &token, None, None).await;
    assert_eq!(found.ok(200)["Resources"][0]["id"], okta_id.as_str());
    let push = scim(
        &app,
        Method::POST,
        &groups,
        &token,
        Some(json!({"schemas": [GROUP], "displayName": "Okta Group", "members": []})),
        None,
    )
    .await;
    let okta_group = push.ok(201)["id"].as_str().unwrap().to_owned();
    scim(&app, Method::PATCH, &format!("{groups}/{okta_group}"), &token, Some(json!({"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": okta_id, "display": "okta.user@acme.example"}]}
    ]})), None).await.ok(200);

    // Entra ID.
    let entra_user = json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": "8e8b2c2f-0a5f-4b48", "userName": "Entra_User@acme.example", "active": true,
        "displayName": "Entra User",
        "emails": [{"primary": "True", "type": "work", "value": "Entra_User@acme.example"}],
        "name": {"formatted": "Entra User", "familyName": "User", "givenName": "Entra"},
        ENTERPRISE: {"employeeNumber": "1001", "department": "Finance"},
        "roles": [],
    });
    let created = scim(
        &app,
        Method::POST,
        &users,
        &token,
        Some(entra_user.clone()),
        None,
    )
    .await;
    let entra_id = created.ok(201)["id"].as_str().unwrap().to_owned();
    scim(&app, Method::POST, &users, &token, Some(entra_user), None)
        .await
        .error(409, Some("uniqueness"));
    let entra_patch = json!({"schemas": [PATCH], "Operations": [
        {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Sales"},
        {"op": "Add", "path": "name.givenName", "value": "Entrada"},
        {"op": "Replace", "path": "active", "value": "False"},
    ]});
    let patched = scim(
        &app,
        Method::PATCH,
        &format!("{users}/{entra_id}"),
        &token,
        Some(entra_patch),
        None,
    )
    .await;
    assert_eq!(patched.ok(200)[ENTERPRISE]["department"], "Sales");
    assert_eq!(patched.reply.body["name"]["givenName"], "Entrada");
    let entra_group = scim(
        &app,
        Method::POST,
        &groups,
        &token,
        Some(
            json!({"schemas": [GROUP], "displayName": "Entra Group", "externalId": "g-1",
        "members": [{"value": entra_id}, {"value": okta_id}]}),
        ),
        None,
    )
    .await;
    let entra_group = entra_group.ok(201)["id"].as_str().unwrap().to_owned();
    scim(
        &app,
        Method::PATCH,
        &format!("{groups}/{entra_group}"),
        &token,
        Some(json!({"schemas": [PATCH], "Operations": [
            {"op": "Remove", "path": "members", "value": [{"value": entra_id}]}
        ]})),
        None,
    )
    .await
    .ok(200);
    // Okta deactivates its user.
    scim(
        &app,
        Method::PATCH,
        &format!("{users}/{okta_id}"),
        &token,
        Some(json!({"schemas": [PATCH], "Operations": [
            {"op": "replace", "value": {"active": false}}
        ]})),
        None,
    )
    .await
    .ok(200);

    // What the rest of Portcullis sees.
    for id in [&okta_id, &entra_id] {
        let decision = check(&app, &admin, id, "acme").await;
        assert_eq!(
            decision["reason"], "membership_suspended",
            "{id}: {decision}"
        );
    }
    let members = app.get("/v1/orgs/acme/members", &admin).await;
    let listed: Vec<&str> = members.assert_status(200)["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"].as_str().unwrap())
        .collect();
    assert!(listed.contains(&okta_id.as_str()) && listed.contains(&entra_id.as_str()));
    let team = app
        .get(&format!("/v1/orgs/acme/teams/{entra_group}"), &admin)
        .await;
    assert_eq!(team.assert_status(200)["members"], json!([okta_id]));
    // Restored, the Okta user is allowed again.
    scim(
        &app,
        Method::PATCH,
        &format!("{users}/{okta_id}"),
        &token,
        Some(json!({"schemas": [PATCH], "Operations": [
            {"op": "replace", "path": "active", "value": true}
        ]})),
        None,
    )
    .await
    .ok(200);
    assert_eq!(check(&app, &admin, &okta_id, "acme").await["allowed"], true);
    let ops = audit_ops(&app, &admin, "acme").await;
    let scim_ops: Vec<&str> = ops
        .iter()
        .filter(|(_, _, kind)| kind.as_deref() == Some("scim_token"))
        .map(|(o, _, _)| o.as_str())
        .collect();
    for op in [
        "scim.user.create",
        "scim.user.suspend",
        "scim.user.restore",
        "scim.group.create",
        "scim.group.members",
    ] {
        assert!(scim_ops.contains(&op), "{op} in {scim_ops:?}");
    }
    let verify = app.get("/v1/orgs/acme/audit-log/verify", &admin).await;
    assert_eq!(verify.assert_status(200)["ok"], true);
}

fn urlencode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
