//! Access review: for a randomly generated organization every cell of the app review and the
//! member review equals the check API's decision (and its grant paths); what-if predicts
//! exactly what applying the change then does; the CSV matrix; access needs `audit.view`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::api::helpers::{TestApp, spawn_app};
use crate::api::teams::{create_app, join};

const ROLES: &[&str] = &[
    "admin",
    "financial_manager",
    "org_contributor",
    "team_contributor",
    "org_user",
    "infrastructure_manager",
];
const TEAM_ROLES: &[&str] = &[
    "full_access",
    "model_trainer",
    "labeler_lead",
    "labeler_worker",
];
const VISIBILITIES: &[&str] = &["private", "org", "public"];
const COLLABORATOR_PERMISSIONS: &[&str] = &[
    "app.view",
    "models.create",
    "collaborators.view",
    "collaborators.edit",
    "modules.use",
    "base_workflow.edit",
];

/// A small deterministic generator (the seed is printed so a failure can be replayed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn level_permissions(roles: &Value, level: &str) -> Vec<String> {
    roles["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["level"] == level)
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Permission -> paths, from a list of `{permission, via}`.
fn held(list: &Value) -> BTreeMap<String, Vec<String>> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let via = h["via"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            (h["permission"].as_str().unwrap().to_owned(), via)
        })
        .collect()
}

/// Asks the check API (as `admin`, who holds `authz.check`) every (user, permission, resource)
/// in batches; returns (allowed, via) per question.
async fn check_all(
    app: &TestApp,
    admin: &str,
    questions: &[(String, String, Value)],
) -> Vec<(bool, Vec<String>)> {
    let mut answers = Vec::new();
    for chunk in questions.chunks(1000) {
        let checks: Vec<Value> = chunk
            .iter()
            .map(|(user, permission, resource)| json!({"subject": {"user": user}, "permission": permission, "resource": resource}))
            .collect();
        let reply = app
            .post("/v1/check/batch", admin, json!({"checks": checks}))
            .await;
        for r in reply.assert_status(200)["results"].as_array().unwrap() {
            assert!(r.get("error").is_none(), "{r}");
            let via = r["via"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            answers.push((r["allowed"].as_bool().unwrap(), via));
        }
    }
    answers
}

#[tokio::test]
async fn access_review_equals_check_for_a_random_org() {
    let seed = std::env::var("PORTCULLIS_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| u64::from(uuid::Uuid::new_v4().as_fields().0));
    eprintln!("access review seed: {seed} (PORTCULLIS_TEST_SEED to replay)");
    let mut rng = Rng(seed);
    let app = spawn_app().await;
    let admin = app.user("ada").await;
    app.org(&admin, "acme").await;
    let roles = app
        .request(reqwest::Method::GET, "/v1/roles", None, None)
        .await;
    let app_permissions = level_permissions(&roles.body, "app");
    let org_permissions = level_permissions(&roles.body, "org");
    assert!(
        !app_permissions.is_empty() && !org_permissions.is_empty(),
        "{}",
        roles.body
    );

    // Members: one per role, then a few random ones; one outsider who only collaborates.
    let mut members = vec!["ada".to_owned()];
    for i in 0..9 {
        let id = format!("u{i}");
        let role = ROLES
            .get(i)
            .copied()
            .unwrap_or_else(|| ROLES[rng.below(ROLES.len())]);
        join(&app, &admin, "acme", &id, role).await;
        members.push(id);
    }
    app.user("out").await;
    let mut users = members.clone();
    users.push("out".to_owned());

    let apps: Vec<String> = (0..4).map(|i| format!("a{i}")).collect();
    for a in &apps {
        create_app(&app, &admin, "acme", a, VISIBILITIES[rng.below(3)]).await;
    }
    for t in 0..3 {
        let team = format!("t{t}");
        app.post(
            "/v1/orgs/acme/teams",
            &admin,
            json!({"id": team, "name": team, "default_role": TEAM_ROLES[rng.below(4)]}),
        )
        .await
        .assert_status(201);
        for m in &members[1..] {
            if rng.chance(40) {
                app.put(
                    &format!("/v1/orgs/acme/teams/{team}/members/{m}"),
                    &admin,
                    json!({}),
                )
                .await
                .assert_status(200);
            }
        }
        for a in &apps {
            if rng.chance(50) {
                let body = if rng.chance(30) {
                    json!({})
                } else {
                    json!({"role": TEAM_ROLES[rng.below(4)]})
                };
                app.put(
                    &format!("/v1/orgs/acme/teams/{team}/apps/{a}"),
                    &admin,
                    body,
                )
                .await
                .assert_status(200);
            }
        }
    }
    for a in &apps {
        for u in &users[1..] {
            if rng.chance(20) {
                let permissions: BTreeSet<&str> = (0..3)
                    .map(|_| COLLABORATOR_PERMISSIONS[rng.below(COLLABORATOR_PERMISSIONS.len())])
                    .collect();
                app.put(
                    &format!("/v1/accounts/acme/apps/{a}/collaborators/{u}"),
                    &admin,
                    json!({"permissions": permissions}),
                )
                .await
                .assert_status(200);
            }
        }
    }
    // An app key: a principal of its app with its scopes.
    let key = app
        .post(
            "/v1/accounts/acme/apps/a0/keys",
            &admin,
            json!({"description": "ci", "scopes": ["app.view", "models.create"]}),
        )
        .await;
    let key_id = key.assert_status(201)["id"].as_str().unwrap().to_owned();

    // The app review, page by page (small pages: the cursor is exercised).
    let mut review: BTreeMap<(String, String), BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut anyone: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for a in &apps {
        let mut cursor: Option<String> = None;
        let mut seen = BTreeSet::new();
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/accounts/acme/apps/{a}/access?limit=3&cursor={c}"),
                None => format!("/v1/accounts/acme/apps/{a}/access?limit=3"),
            };
            let page = app.get(&path, &admin).await;
            let page = page.assert_status(200);
            for p in page["principals"].as_array().unwrap() {
                let principal = format!(
                    "{}:{}",
                    p["kind"].as_str().unwrap(),
                    p["id"].as_str().unwrap_or("")
                );
                assert!(
                    seen.insert(principal.clone()),
                    "{principal} listed twice on {a}"
                );
                let permissions = held(&p["permissions"]);
                assert!(
                    !permissions.is_empty(),
                    "{principal} listed without permissions"
                );
                if p["kind"] == "app_key" {
                    assert_eq!(a, "a0");
                    assert_eq!(p["id"], key_id.as_str());
                    assert_eq!(p["holder"], "ada");
                    assert_eq!(
                        permissions.keys().cloned().collect::<Vec<_>>(),
                        ["app.view", "models.create"]
                    );
                } else if p["kind"] == "anyone" {
                    // Users not listed by name reach the app only through this row.
                    anyone.insert(a.clone(), permissions.clone());
                    assert_eq!(
                        permissions.keys().cloned().collect::<Vec<_>>(),
                        ["app.view"]
                    );
                    assert_eq!(permissions["app.view"], ["visibility:public"]);
                } else {
                    review.insert(
                        (p["id"].as_str().unwrap().to_owned(), a.clone()),
                        permissions,
                    );
                }
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let visibility = app
            .get(&format!("/v1/accounts/acme/apps/{a}"), &admin)
            .await
            .body["visibility"]
            .clone();
        assert_eq!(seen.contains("anyone:"), visibility == "public", "{a}");
        assert_eq!(seen.contains(&format!("app_key:{key_id}")), a == "a0");
    }

    // Every cell against the check API.
    let mut questions = Vec::new();
    for u in &users {
        for a in &apps {
            for p in &app_permissions {
                questions.push((u.clone(), p.clone(), json!({"account": "acme", "app": a})));
            }
        }
    }
    let answers = check_all(&app, &admin, &questions).await;
    let mut allowed_cells = 0;
    for ((user, permission, resource), (allowed, via)) in questions.iter().zip(answers) {
        let a = resource["app"].as_str().unwrap().to_owned();
        let reviewed = review
            .get(&(user.clone(), a.clone()))
            .or_else(|| anyone.get(&a))
            .and_then(|m| m.get(permission));
        assert_eq!(
            reviewed.is_some(),
            allowed,
            "seed {seed}: {user} {permission} {a}"
        );
        if let Some(paths) = reviewed {
            allowed_cells += 1;
            assert_eq!(paths, &via, "seed {seed}: {user} {permission} {a}");
        }
    }
    assert!(allowed_cells > 0);

    // The member review: org-level and app-level permissions, against check.
    let mut questions = Vec::new();
    let mut reviewed = Vec::new();
    for m in &members {
        let access = app
            .get(&format!("/v1/orgs/acme/members/{m}/access"), &admin)
            .await;
        let access = access.assert_status(200).clone();
        let org_held = held(&access["org_permissions"]);
        for p in &org_permissions {
            questions.push((m.clone(), p.clone(), json!({"org": "acme"})));
            reviewed.push(org_held.get(p).cloned());
        }
        let by_app: BTreeMap<String, BTreeMap<String, Vec<String>>> = access["apps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["app"].as_str().unwrap().to_owned(),
                    held(&x["permissions"]),
                )
            })
            .collect();
        for a in &apps {
            for p in &app_permissions {
                questions.push((m.clone(), p.clone(), json!({"account": "acme", "app": a})));
                reviewed.push(by_app.get(a).and_then(|h| h.get(p)).cloned());
            }
        }
    }
    let answers = check_all(&app, &admin, &questions).await;
    for (((user, permission, resource), (allowed, via)), reviewed) in
        questions.iter().zip(answers).zip(reviewed)
    {
        assert_eq!(
            reviewed.is_some(),
            allowed,
            "seed {seed}: member {user} {permission} {resource}"
        );
        if let Some(paths) = reviewed {
            assert_eq!(
                paths, via,
                "seed {seed}: member {user} {permission} {resource}"
            );
        }
    }

    // The CSV matrix: members × (org + apps) × permissions, each cell as check decided.
    let resp = app
        .client
        .get(format!("{}/v1/orgs/acme/access-matrix", app.address))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let csv = resp.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "user,role,app,permission,allowed,via"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(
        rows.len(),
        members.len() * (org_permissions.len() + apps.len() * app_permissions.len())
    );
}

#[tokio::test]
async fn what_if_predicts_what_the_change_does_and_access_needs_audit_view() {
    let app = spawn_app().await;
    let admin = app.user("ada").await;
    app.org(&admin, "acme").await;
    let bob = join(&app, &admin, "acme", "bob", "team_contributor").await;
    create_app(&app, &admin, "acme", "vision", "private").await;
    create_app(&app, &admin, "acme", "text", "org").await;
    app.post(
        "/v1/orgs/acme/teams",
        &admin,
        json!({"id": "ml", "name": "ML"}),
    )
    .await
    .assert_status(201);
    app.put("/v1/orgs/acme/teams/ml/members/bob", &admin, json!({}))
        .await
        .assert_status(200);

    // Not an auditor: 403; not a member: 404.
    app.get("/v1/accounts/acme/apps/vision/access", &bob)
        .await
        .assert_problem(403, "permission.denied");
    app.post(
        "/v1/orgs/acme/access/what-if",
        &bob,
        json!({"change": {"kind": "role", "user": "bob", "role": "admin"}}),
    )
    .await
    .assert_problem(403, "permission.denied");
    let zed = app.user("zed").await;
    app.get("/v1/orgs/acme/members/bob/access", &zed)
        .await
        .assert_problem(404, "not_found");
    // A member may review itself.
    app.get("/v1/orgs/acme/members/bob/access", &bob)
        .await
        .assert_status(200);

    let snapshot = async |app: &TestApp| -> BTreeMap<String, BTreeSet<String>> {
        let access = app.get("/v1/orgs/acme/members/bob/access", &admin).await;
        let access = access.assert_status(200).clone();
        let mut out = BTreeMap::new();
        out.insert(
            "".to_owned(),
            held(&access["org_permissions"]).into_keys().collect(),
        );
        for x in access["apps"].as_array().unwrap() {
            out.insert(
                x["app"].as_str().unwrap().to_owned(),
                held(&x["permissions"]).into_keys().collect(),
            );
        }
        out
    };
    let changes = [
        json!({"kind": "team_app", "team": "ml", "app": "vision", "role": "model_trainer"}),
        json!({"kind": "collaborator", "app": "text", "user": "bob", "permissions": ["collaborators.edit"]}),
        json!({"kind": "team_member", "team": "ml", "user": "bob", "add": false}),
        json!({"kind": "role", "user": "bob", "role": "org_contributor"}),
    ];
    for change in changes {
        let before = snapshot(&app).await;
        let revision = app.service.store().revision().await.unwrap();
        let predicted = app
            .post(
                "/v1/orgs/acme/access/what-if",
                &admin,
                json!({"change": change}),
            )
            .await;
        let predicted = predicted.assert_status(200)["changes"].clone();
        assert_eq!(
            app.service.store().revision().await.unwrap(),
            revision,
            "what-if stores nothing"
        );
        assert_eq!(snapshot(&app).await, before, "what-if changes nothing");
        // Apply it for real.
        let reply = match change["kind"].as_str().unwrap() {
            "team_app" => {
                app.put(
                    "/v1/orgs/acme/teams/ml/apps/vision",
                    &admin,
                    json!({"role": change["role"]}),
                )
                .await
            }
            "role" => {
                app.put(
                    "/v1/orgs/acme/members/bob",
                    &admin,
                    json!({"role": change["role"]}),
                )
                .await
            }
            "collaborator" => {
                app.put(
                    "/v1/accounts/acme/apps/text/collaborators/bob",
                    &admin,
                    json!({"permissions": change["permissions"]}),
                )
                .await
            }
            _ => {
                app.delete("/v1/orgs/acme/teams/ml/members/bob", &admin)
                    .await
            }
        };
        assert!(reply.status.is_success(), "{}", reply.body);
        let after = snapshot(&app).await;
        let mut actual = Vec::new();
        let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        for k in keys {
            let empty = BTreeSet::new();
            let (was, now) = (
                before.get(k).unwrap_or(&empty),
                after.get(k).unwrap_or(&empty),
            );
            let gained: Vec<&String> = now.difference(was).collect();
            let lost: Vec<&String> = was.difference(now).collect();
            if !gained.is_empty() || !lost.is_empty() {
                let app_name = if k.is_empty() { Value::Null } else { json!(k) };
                actual
                    .push(json!({"user": "bob", "app": app_name, "gained": gained, "lost": lost}));
            }
        }
        assert!(
            !actual.is_empty(),
            "{change}: the scenario should change something"
        );
        let normalise = |v: &Value| {
            let mut items: Vec<Value> = v
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    let mut d = d.clone();
                    for f in ["gained", "lost"] {
                        let mut list: Vec<String> = d[f]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|x| x.as_str().unwrap().to_owned())
                            .collect();
                        list.sort();
                        d[f] = json!(list);
                    }
                    d
                })
                .collect();
            items.sort_by_key(|d| d["app"].to_string());
            items
        };
        assert_eq!(normalise(&predicted), normalise(&json!(actual)), "{change}");
    }
    app.post(
        "/v1/orgs/acme/access/what-if",
        &admin,
        json!({"change": {"kind": "nope"}}),
    )
    .await
    .assert_problem(422, "access.unknown_change");
    app.post(
        "/v1/orgs/acme/access/what-if",
        &admin,
        json!({"change": {"kind": "role", "user": "nobody", "role": "admin"}}),
    )
    .await
    .assert_problem(404, "not_found");
    let _ = bob;
}

/// Benchmark (run with `--ignored --nocapture`): the review work for an org of 10,000 members
/// and 1,000 apps — one app's review (every member × every app permission through `check`)
/// and the whole matrix extrapolated from 20 apps. Debug builds are ~10x slower than release.
#[test]
#[ignore = "benchmark"]
fn bench_access_review_for_10000_members_and_1000_apps() {
    use portcullis_service::core::decision::{Resource, Subject, check};
    use portcullis_service::core::index::Account;
    use portcullis_service::core::{
        AccessIndex, AppKey, Change, Level, OrgKey, OrgRole, Permission, TeamKey, TeamRole,
        UserKey, Visibility,
    };
    use std::time::Instant;

    let org = OrgKey(20_000);
    let roles = [
        OrgRole::Admin,
        OrgRole::OrgContributor,
        OrgRole::TeamContributor,
        OrgRole::TeamContributor,
        OrgRole::OrgUser,
        OrgRole::FinancialManager,
    ];
    let mut changes = vec![Change::OrgCreated {
        key: org,
        id: "big".into(),
    }];
    for u in 1..=10_000u32 {
        changes.push(Change::UserUpserted {
            key: UserKey(u),
            id: format!("u{u}"),
            active: true,
            operator: false,
        });
        changes.push(Change::MemberSet {
            org,
            user: UserKey(u),
            role: roles[u as usize % roles.len()],
        });
    }
    for t in 1..=50u32 {
        changes.push(Change::TeamCreated {
            key: TeamKey(t),
            org,
            id: format!("t{t}"),
            default_role: TeamRole::FullAccess,
        });
    }
    for u in 1..=10_000u32 {
        changes.push(Change::TeamMemberAdded {
            team: TeamKey(1 + u % 50),
            user: UserKey(u),
        });
    }
    for a in 1..=1_000u32 {
        changes.push(Change::AppUpserted {
            key: AppKey(a),
            owner: Account::Org(org),
            id: format!("a{a}"),
            visibility: Visibility::Private,
        });
        changes.push(Change::TeamAppSet {
            team: TeamKey(1 + a % 50),
            app: AppKey(a),
            role: TeamRole::ModelTrainer,
        });
    }
    let mut index = AccessIndex::new();
    index.apply(1, &changes);
    let app_permissions: Vec<Permission> = Permission::ALL
        .iter()
        .copied()
        .filter(|p| p.level() == Level::App)
        .collect();
    let review_app = |app: u32| {
        let mut held = 0usize;
        for u in 1..=10_000u32 {
            let subject = Subject::user(UserKey(u));
            for p in &app_permissions {
                held +=
                    usize::from(check(&index, &subject, *p, Resource::App(AppKey(app))).allowed);
            }
        }
        held
    };
    let started = Instant::now();
    let held = review_app(1);
    let one = started.elapsed();
    let started = Instant::now();
    for a in 1..=20 {
        review_app(a);
    }
    let twenty = started.elapsed();
    eprintln!(
        "one app review (10,000 members x {} permissions, {held} held): {one:?}; \
         20 apps: {twenty:?}; whole matrix (1,000 apps) extrapolated: {:?}",
        app_permissions.len(),
        twenty * 50
    );
}
