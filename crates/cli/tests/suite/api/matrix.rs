//! The permission matrix through the real HTTP API: the hand-written corpus of docs/contract.md §2 and §4
//! (crates/core/tests/corpus/matrix.txt) drives `POST /v1/check` for every (role × permission)
//! cell on an app inside a team contributor's team and one outside it, under every team role,
//! and drives the real endpoints of the rows this server implements.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::api::helpers::{TestApp, spawn_app};

const CORPUS: &str = include_str!("../../../../core/tests/corpus/matrix.txt");
pub const ROLES: [&str; 6] = [
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

/// The corpus: per permission its level and the six cells; per team role its permissions.
pub struct Corpus {
    pub rows: Vec<(String, String, [bool; 6])>,
    pub team_roles: HashMap<String, Vec<String>>,
    pub reach: HashMap<String, String>,
}

pub fn corpus() -> Corpus {
    let mut section = "";
    let mut rows = Vec::new();
    let mut team_roles = HashMap::new();
    let mut reach = HashMap::new();
    for line in CORPUS
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
    {
        if line.starts_with('[') {
            section = if line == "[matrix]" {
                "matrix"
            } else if line == "[team_roles]" {
                "team"
            } else {
                "roles"
            };
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        match section {
            "matrix" => {
                let cells: Vec<bool> = fields[2..8].iter().map(|c| *c == "Y").collect();
                rows.push((
                    fields[0].to_owned(),
                    fields[1].to_owned(),
                    cells.try_into().unwrap(),
                ));
            }
            "team" => {
                team_roles.insert(
                    fields[0].to_owned(),
                    fields[1..].iter().map(|s| s.to_string()).collect(),
                );
            }
            _ => {
                reach.insert(fields[0].to_owned(), fields[1].to_owned());
            }
        }
    }
    Corpus {
        rows,
        team_roles,
        reach,
    }
}

impl Corpus {
    /// What docs/contract.md §2 and §4 say a member of `role` gets for `permission` on `app` ("in-team" or
    /// "outside"; `None` for org-level), with the team holding `team_role` on "in-team".
    pub fn expected(
        &self,
        role_index: usize,
        permission: &str,
        app: Option<&str>,
        team_role: &str,
    ) -> (bool, Option<String>, &'static str) {
        let (_, level, cells) = self.rows.iter().find(|(p, _, _)| p == permission).unwrap();
        let role = ROLES[role_index];
        let cell = cells[role_index];
        if level == "org" || app.is_none() {
            return if cell {
                (true, Some(format!("role:{role}")), "")
            } else {
                (false, None, "role_lacks_permission")
            };
        }
        match self.reach[role].as_str() {
            "all-apps" if cell => (true, Some(format!("role:{role}")), ""),
            "team-apps" if cell => {
                if app != Some("in-team") {
                    return (false, None, "app_not_in_teams");
                }
                let allowed = self.team_roles[team_role]
                    .iter()
                    .any(|p| p == "*" || p == permission);
                if allowed {
                    (true, Some(format!("team:ml({team_role})")), "")
                } else {
                    (false, None, "team_role_lacks_permission")
                }
            }
            _ => (false, None, "role_lacks_permission"),
        }
    }
}

/// An org `acme` with one member per role (user ids = role names with `-`), a team `ml` that
/// holds the team contributor and the app `in-team`, and an app `outside`. Returns the
/// sessions by role.
pub async fn populated_org(app: &TestApp) -> HashMap<&'static str, String> {
    let mut sessions = HashMap::new();
    let admin = app.user("admin").await;
    app.org(&admin, "acme").await;
    sessions.insert("admin", admin.clone());
    for role in &ROLES[1..] {
        let id = role.replace('_', "-");
        let session = app.user(&id).await;
        crate::api::helpers::invite_and_accept(app, &admin, "acme", &session, &id, role).await;
        sessions.insert(*role, session);
    }
    app.post(
        "/v1/orgs/acme/teams",
        &admin,
        json!({"id": "ml", "name": "ML"}),
    )
    .await
    .assert_status(201);
    app.put(
        "/v1/orgs/acme/teams/ml/members/team-contributor",
        &admin,
        json!({}),
    )
    .await
    .assert_status(200);
    for id in ["in-team", "outside"] {
        app.post(
            "/v1/accounts/acme/apps",
            &admin,
            json!({"id": id, "name": id}),
        )
        .await
        .assert_status(201);
    }
    app.put(
        "/v1/orgs/acme/teams/ml/apps/in-team",
        &admin,
        json!({"role": "full_access"}),
    )
    .await
    .assert_status(200);
    sessions
}

fn user_of(role: &str) -> String {
    role.replace('_', "-")
}

fn check_body(role: &str, permission: &str, level: &str, app: Option<&str>) -> Value {
    let resource = match (level, app) {
        ("org", _) | (_, None) => json!({"org": "acme"}),
        (_, Some(app)) => json!({"account": "acme", "app": app}),
    };
    json!({"subject": {"user": user_of(role)}, "permission": permission, "resource": resource})
}

#[track_caller]
fn assert_cell(answer: &Value, expected: (bool, Option<String>, &str), what: &str) {
    assert_eq!(answer["allowed"], expected.0, "{what}: {answer}");
    match expected.1 {
        Some(via) => assert!(
            answer["via"].as_array().unwrap().iter().any(|v| v == &via),
            "{what}: expected via {via}: {answer}"
        ),
        None => assert_eq!(answer["reason"], expected.2, "{what}: {answer}"),
    }
    assert!(answer["revision"].as_u64().unwrap() > 0, "{what}: {answer}");
}

#[tokio::test]
async fn every_cell_of_the_matrix_through_the_check_api() {
    let app = spawn_app().await;
    let sessions = populated_org(&app).await;
    let admin = &sessions["admin"];
    let corpus = corpus();
    assert_eq!(corpus.rows.len(), 34, "the corpus covers every permission");

    // full_access: every cell through single POST /v1/check.
    for (permission, level, _) in &corpus.rows {
        let apps: &[Option<&str>] = if level == "org" {
            &[None]
        } else {
            &[Some("in-team"), Some("outside")]
        };
        for (i, role) in ROLES.iter().enumerate() {
            for target in apps {
                let reply = app
                    .post(
                        "/v1/check",
                        admin,
                        check_body(role, permission, level, *target),
                    )
                    .await;
                let what = format!("{role} {permission} {target:?} full_access");
                assert_cell(
                    reply.assert_status(200),
                    corpus.expected(i, permission, *target, "full_access"),
                    &what,
                );
            }
        }
    }

    // Every other team role: the same cells through the batch endpoint.
    for team_role in TEAM_ROLES {
        app.put(
            "/v1/orgs/acme/teams/ml/apps/in-team",
            admin,
            json!({"role": team_role}),
        )
        .await
        .assert_status(200);
        let mut checks = Vec::new();
        let mut expectations = Vec::new();
        for (permission, level, _) in corpus.rows.iter().filter(|(_, level, _)| level == "app") {
            for (i, role) in ROLES.iter().enumerate() {
                for target in ["in-team", "outside"] {
                    checks.push(check_body(role, permission, level, Some(target)));
                    expectations.push((
                        format!("{role} {permission} {target} {team_role}"),
                        corpus.expected(i, permission, Some(target), team_role),
                    ));
                }
            }
        }
        let reply = app
            .post("/v1/check/batch", admin, json!({"checks": checks}))
            .await;
        let results = reply.assert_status(200)["results"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(results.len(), expectations.len());
        for (answer, (what, expected)) in results.iter().zip(expectations) {
            assert_cell(answer, expected, &what);
        }
    }
}

#[tokio::test]
async fn asking_about_others_needs_authz_check_and_hides_private_things() {
    let app = spawn_app().await;
    let sessions = populated_org(&app).await;
    let contributor = &sessions["org_contributor"];
    // Asking about itself is fine.
    let own = app
        .post(
            "/v1/check",
            contributor,
            check_body("org_contributor", "app.delete", "app", Some("outside")),
        )
        .await;
    assert_eq!(own.assert_status(200)["allowed"], true);
    // Asking about someone else needs authz.check.
    app.post(
        "/v1/check",
        contributor,
        check_body("admin", "app.view", "app", Some("outside")),
    )
    .await
    .assert_problem(403, "permission.denied");
    // An outsider asking about itself on a private app learns only "not_found".
    let outsider = app.user("outsider").await;
    let body = json!({"subject": {"user": "outsider"}, "permission": "app.view", "resource": {"account": "acme", "app": "outside"}});
    let answer = app.post("/v1/check", &outsider, body).await;
    assert_eq!(answer.assert_status(200)["reason"], "not_found");
    // ... and cannot ask about members.
    app.post(
        "/v1/check",
        &outsider,
        check_body("admin", "app.view", "app", Some("outside")),
    )
    .await
    .assert_problem(404, "not_found");
    // Malformed requests.
    let bad = json!({"subject": {"user": "admin", "token": "x"}, "permission": "app.view", "resource": {"org": "acme"}});
    app.post("/v1/check", contributor, bad)
        .await
        .assert_problem(422, "check.invalid_request");
    let unknown =
        json!({"subject": {"user": "admin"}, "permission": "app.fly", "resource": {"org": "acme"}});
    app.post("/v1/check", &sessions["admin"], unknown)
        .await
        .assert_problem(422, "check.unknown_permission");
    // A revision from the future is refused rather than answered stale.
    let future = json!({"subject": {"user": "admin"}, "permission": "app.view", "resource": {"org": "acme"},
                        "consistency": {"at_least": 1_000_000}});
    app.post("/v1/check", &sessions["admin"], future)
        .await
        .assert_problem(503, "check.revision_unavailable");
}

#[tokio::test]
async fn token_subjects_scopes_and_my_permissions() {
    let app = spawn_app().await;
    let sessions = populated_org(&app).await;
    let admin = &sessions["admin"];
    let session = &sessions["org_contributor"];
    let created = app
        .post(
            "/v1/users/me/keys",
            session,
            json!({"description": "view only", "scopes": ["app.view"]}),
        )
        .await;
    let token = created.assert_status(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let ask = |permission: &str| json!({"subject": {"token": token}, "permission": permission, "resource": {"account": "acme", "app": "outside"}});
    let view = app.post("/v1/check", admin, ask("app.view")).await;
    assert_eq!(view.assert_status(200)["allowed"], true);
    let delete = app.post("/v1/check", admin, ask("app.delete")).await;
    assert_eq!(
        delete.assert_status(200)["reason"],
        "scope_excludes_permission"
    );
    // A token that is not live is judged like no credential, with the one opaque reason.
    let bogus = json!({"subject": {"token": "pcl_pat_nope"}, "permission": "app.view", "resource": {"org": "acme"}});
    assert_eq!(
        app.post("/v1/check", admin, bogus).await.assert_status(200)["reason"],
        "denied"
    );
    // The caller's own permissions, narrowed by its token's scopes.
    let mine = app
        .get("/v1/me/permissions?account=acme&app=outside", &token)
        .await;
    assert_eq!(mine.assert_status(200)["permissions"], json!(["app.view"]));
    let full = app
        .get("/v1/me/permissions?account=acme&app=outside", session)
        .await;
    assert!(
        full.assert_status(200)["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("app.delete"))
    );
    let org_level = app
        .get(
            "/v1/me/permissions?account=acme",
            &sessions["financial_manager"],
        )
        .await;
    assert_eq!(
        org_level.assert_status(200)["permissions"],
        json!(["billing.view"])
    );
    let outsider = app.user("stranger").await;
    app.get("/v1/me/permissions?account=acme&app=outside", &outsider)
        .await
        .assert_problem(404, "not_found");
    // Write responses carry the revision to use as a consistency token.
    let resp = app
        .client
        .post(format!("{}/v1/orgs/acme/teams", app.address))
        .bearer_auth(admin)
        .json(&json!({"id": "t2", "name": "T2"}))
        .send()
        .await
        .unwrap();
    let revision: u64 = resp.headers()["portcullis-revision"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let at_least = json!({"subject": {"user": "admin"}, "permission": "teams.manage", "resource": {"org": "acme"},
                          "consistency": {"at_least": revision}});
    assert_eq!(
        app.post("/v1/check", admin, at_least)
            .await
            .assert_status(200)["allowed"],
        true
    );
}

/// Whether `role` may see app `target` at all (decides 403 versus 404 on a denial).
fn sees_app(corpus: &Corpus, role_index: usize, target: &str) -> bool {
    corpus
        .expected(role_index, "app.view", Some(target), "full_access")
        .0
}

#[track_caller]
fn assert_outcome(reply: &crate::api::helpers::Reply, allowed: bool, visible: bool, what: &str) {
    if allowed {
        assert!(
            reply.status.is_success(),
            "{what}: expected success, got {} {}",
            reply.status,
            reply.body
        );
    } else if visible {
        reply.assert_problem(403, "permission.denied");
    } else {
        reply.assert_problem(404, "not_found");
    }
}

#[tokio::test]
async fn every_row_with_an_endpoint_is_enforced_by_that_endpoint() {
    let app = spawn_app().await;
    let sessions = populated_org(&app).await;
    let admin = sessions["admin"].clone();
    let corpus = corpus();
    let org_cell = |i: usize, p: &str| corpus.expected(i, p, None, "full_access").0;

    for (i, role) in ROLES.iter().enumerate() {
        let me = &sessions[role];
        let tag = user_of(role);

        // members.manage: inviting.
        let reply = app
            .post(
                "/v1/orgs/acme/invitations",
                me,
                json!({"email": format!("new-{tag}@example.com"), "role": "org_user"}),
            )
            .await;
        assert_outcome(
            &reply,
            org_cell(i, "members.manage"),
            true,
            &format!("{role} invites"),
        );
        let invited = app
            .get("/v1/orgs/acme/invitations", &admin)
            .await
            .body
            .to_string()
            .contains(&format!("new-{tag}@"));
        assert_eq!(
            invited,
            org_cell(i, "members.manage"),
            "{role}: invitation stored iff allowed"
        );

        // teams.manage: creating a team.
        let reply = app
            .post(
                "/v1/orgs/acme/teams",
                me,
                json!({"id": format!("t-{tag}"), "name": "T"}),
            )
            .await;
        assert_outcome(
            &reply,
            org_cell(i, "teams.manage"),
            true,
            &format!("{role} creates a team"),
        );
        let exists = app
            .get(&format!("/v1/orgs/acme/teams/t-{tag}"), &admin)
            .await
            .status
            .is_success();
        assert_eq!(
            exists,
            org_cell(i, "teams.manage"),
            "{role}: team stored iff allowed"
        );

        // teams.add_members and teams.add_apps on team `ml`, undone by the admin.
        let reply = app
            .put("/v1/orgs/acme/teams/ml/members/org-user", me, json!({}))
            .await;
        assert_outcome(
            &reply,
            org_cell(i, "teams.add_members"),
            true,
            &format!("{role} adds a team member"),
        );
        let team = app.get("/v1/orgs/acme/teams/ml", &admin).await.body;
        let has_member = team["members"]
            .as_array()
            .unwrap()
            .contains(&json!("org-user"));
        assert_eq!(
            has_member,
            org_cell(i, "teams.add_members"),
            "{role}: team member stored iff allowed"
        );
        app.delete("/v1/orgs/acme/teams/ml/members/org-user", &admin)
            .await;
        let reply = app
            .put(
                "/v1/orgs/acme/teams/ml/apps/outside",
                me,
                json!({"role": "labeler_worker"}),
            )
            .await;
        assert_outcome(
            &reply,
            org_cell(i, "teams.add_apps"),
            true,
            &format!("{role} adds a team app"),
        );
        let team = app.get("/v1/orgs/acme/teams/ml", &admin).await.body;
        let has_app = team["apps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["app"] == "outside");
        assert_eq!(
            has_app,
            org_cell(i, "teams.add_apps"),
            "{role}: team app stored iff allowed"
        );
        app.delete("/v1/orgs/acme/teams/ml/apps/outside", &admin)
            .await;

        // apps.create.
        let reply = app
            .post(
                "/v1/accounts/acme/apps",
                me,
                json!({"id": format!("new-{tag}"), "name": "n"}),
            )
            .await;
        assert_outcome(
            &reply,
            org_cell(i, "apps.create"),
            true,
            &format!("{role} creates an app"),
        );
        let exists = app
            .get(&format!("/v1/accounts/acme/apps/new-{tag}"), &admin)
            .await
            .status
            .is_success();
        assert_eq!(
            exists,
            org_cell(i, "apps.create"),
            "{role}: app stored iff allowed"
        );

        // org.manage.
        let reply = app
            .patch(
                "/v1/orgs/acme",
                me,
                json!({"name": format!("Acme by {tag}")}),
            )
            .await;
        assert_outcome(
            &reply,
            org_cell(i, "org.manage"),
            true,
            &format!("{role} renames the org"),
        );
        let name = app.get("/v1/orgs/acme", &admin).await.body["name"].clone();
        assert_eq!(
            name == format!("Acme by {tag}"),
            org_cell(i, "org.manage"),
            "{role}: org renamed iff allowed"
        );

        for target in ["in-team", "outside"] {
            let path = format!("/v1/accounts/acme/apps/{target}");
            let visible = sees_app(&corpus, i, target);
            let allowed = |p: &str| corpus.expected(i, p, Some(target), "full_access").0;
            let what = |p: &str| format!("{role} {p} on {target}");
            // The base workflow must exist in the app.
            app.post(
                &format!("{path}/workflows"),
                &admin,
                json!({"id": format!("wf-{tag}")}),
            )
            .await
            .assert_status(201);
            let fields = [
                (
                    "app.edit_description",
                    json!({"description": format!("by {tag}")}),
                    "description",
                    json!(format!("by {tag}")),
                ),
                (
                    "app.edit_notes",
                    json!({"notes": format!("notes by {tag}")}),
                    "notes",
                    json!(format!("notes by {tag}")),
                ),
                (
                    "app.change_visibility",
                    json!({"visibility": "org"}),
                    "visibility",
                    json!("org"),
                ),
                (
                    "base_workflow.edit",
                    json!({"base_workflow": format!("wf-{tag}")}),
                    "base_workflow",
                    json!(format!("wf-{tag}")),
                ),
            ];
            for (permission, body, field, value) in fields {
                let before = app.get(&path, &admin).await.body;
                let reply = app.patch(&path, me, body).await;
                assert_outcome(&reply, allowed(permission), visible, &what(permission));
                let after = app.get(&path, &admin).await.body;
                if allowed(permission) {
                    assert_eq!(after[field], value, "{}", what(permission));
                } else {
                    assert_eq!(
                        after,
                        before,
                        "{}: a refused PATCH changes nothing",
                        what(permission)
                    );
                }
            }
            app.patch(&path, &admin, json!({"visibility": "private"}))
                .await
                .assert_status(200);

            // app.edit_id: rename and have the admin rename it back.
            let reply = app
                .patch(&path, me, json!({"id": format!("{target}-x")}))
                .await;
            assert_outcome(
                &reply,
                allowed("app.edit_id"),
                visible,
                &what("app.edit_id"),
            );
            if allowed("app.edit_id") {
                app.patch(&format!("{path}-x"), &admin, json!({"id": target}))
                    .await
                    .assert_status(200);
            }
            app.get(&path, &admin).await.assert_status(200);

            // app.delete on a throw-away app placed like the target.
            let victim = format!("v-{target}-{i}");
            app.post(
                "/v1/accounts/acme/apps",
                &admin,
                json!({"id": victim, "name": "v"}),
            )
            .await
            .assert_status(201);
            if target == "in-team" {
                app.put(
                    &format!("/v1/orgs/acme/teams/ml/apps/{victim}"),
                    &admin,
                    json!({"role": "full_access"}),
                )
                .await
                .assert_status(200);
            }
            let reply = app
                .delete(&format!("/v1/accounts/acme/apps/{victim}"), me)
                .await;
            assert_outcome(&reply, allowed("app.delete"), visible, &what("app.delete"));
            let still_there = app
                .get(&format!("/v1/accounts/acme/apps/{victim}"), &admin)
                .await
                .status
                .is_success();
            assert_eq!(
                still_there,
                !allowed("app.delete"),
                "{}",
                what("app.delete")
            );
        }
    }
}
