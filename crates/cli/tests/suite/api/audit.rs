//! The audit log through the API: one entry per mutation with the right code, refused
//! mutations recorded as failures without changing anything, verify, filters, exports, and
//! cursor pagination that neither skips nor repeats under concurrent writes.

use std::collections::HashSet;

use portcullis_service::core::audit::Operation;
use portcullis_service::store::{Actor, AuditRecord};
use reqwest::Method;
use serde_json::{Value, json};

use crate::api::helpers::{TestApp, spawn_app};
use crate::api::teams::join;

/// (success, code) of the entries of `org` after the first `skip`.
async fn entries_since(app: &TestApp, org_key: u32, skip: usize) -> Vec<(bool, i64, String)> {
    app.service
        .store()
        .audit_entries(Some(portcullis_service::core::OrgKey(org_key)))
        .await
        .unwrap()
        .into_iter()
        .skip(skip)
        .map(|e| (e.success, e.operation, e.targets))
        .collect()
}

#[tokio::test]
async fn every_mutation_of_the_foundation_writes_one_entry_with_its_code() {
    let app = spawn_app().await;
    let admin = app.user("ada").await;
    app.org(&admin, "acme").await;
    let org = app.service.resolve_org("acme").unwrap().0;
    let bob = join(&app, &admin, "acme", "bob", "org_user").await;
    let carl = app.user("carl").await;
    let dora = app.user("dora").await;
    let invite = |email: &str| json!({"email": email, "role": "org_user"});
    let invitation = app
        .post(
            "/v1/orgs/acme/invitations",
            &admin,
            invite("carl@example.com"),
        )
        .await;
    let carl_invitation = invitation.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invitation = app
        .post(
            "/v1/orgs/acme/invitations",
            &admin,
            invite("dora@example.com"),
        )
        .await;
    let dora_invitation = invitation.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // (method, path, token, body, expected codes in order)
    type Step<'a> = (Method, String, &'a str, Option<Value>, Vec<Operation>);
    let steps: Vec<Step> = vec![
        (
            Method::PATCH,
            "/v1/orgs/acme".into(),
            &admin,
            Some(json!({"name": "Acme 2"})),
            vec![Operation::OrgUpdate],
        ),
        (
            Method::POST,
            "/v1/orgs/acme/invitations".into(),
            &admin,
            Some(invite("eve@example.com")),
            vec![Operation::InvitationCreate],
        ),
        (
            Method::POST,
            format!("/v1/invitations/{dora_invitation}/decline"),
            &dora,
            Some(json!({})),
            vec![Operation::InvitationDecline],
        ),
        (
            Method::POST,
            format!("/v1/invitations/{carl_invitation}/accept"),
            &carl,
            Some(json!({})),
            vec![Operation::InvitationAccept, Operation::MemberAdd],
        ),
        (
            Method::PUT,
            "/v1/orgs/acme/members/carl".into(),
            &admin,
            Some(json!({"role": "org_contributor"})),
            vec![Operation::MemberChange],
        ),
        (
            Method::POST,
            "/v1/orgs/acme/teams".into(),
            &admin,
            Some(json!({"id": "ml", "name": "ML"})),
            vec![Operation::TeamCreate],
        ),
        (
            Method::PATCH,
            "/v1/orgs/acme/teams/ml".into(),
            &admin,
            Some(json!({"name": "ML team"})),
            vec![Operation::TeamUpdate],
        ),
        (
            Method::PUT,
            "/v1/orgs/acme/teams/ml/members/bob".into(),
            &admin,
            Some(json!({})),
            vec![Operation::TeamMemberAdd],
        ),
        (
            Method::POST,
            "/v1/accounts/acme/apps".into(),
            &admin,
            Some(json!({"id": "vision", "name": "Vision"})),
            vec![Operation::AppCreate],
        ),
        (
            Method::PUT,
            "/v1/orgs/acme/teams/ml/apps/vision".into(),
            &admin,
            Some(json!({"role": "model_trainer"})),
            vec![Operation::TeamAppAdd],
        ),
        (
            Method::PATCH,
            "/v1/accounts/acme/apps/vision".into(),
            &admin,
            Some(json!({"description": "eyes"})),
            vec![Operation::AppUpdate],
        ),
        (
            Method::DELETE,
            "/v1/orgs/acme/teams/ml/apps/vision".into(),
            &admin,
            None,
            vec![Operation::TeamAppRemove],
        ),
        (
            Method::DELETE,
            "/v1/orgs/acme/teams/ml/members/bob".into(),
            &admin,
            None,
            vec![Operation::TeamMemberRemove],
        ),
        (
            Method::DELETE,
            "/v1/orgs/acme/teams/ml".into(),
            &admin,
            None,
            vec![Operation::TeamDelete],
        ),
        (
            Method::DELETE,
            "/v1/accounts/acme/apps/vision".into(),
            &admin,
            None,
            vec![Operation::AppDelete],
        ),
        (
            Method::DELETE,
            "/v1/orgs/acme/members/carl".into(),
            &admin,
            None,
            vec![Operation::MemberRemove],
        ),
        (
            Method::POST,
            "/v1/orgs/acme/leave".into(),
            &bob,
            Some(json!({})),
            vec![Operation::MemberLeave],
        ),
        (
            Method::DELETE,
            "/v1/orgs/acme".into(),
            &admin,
            None,
            vec![Operation::OrgDelete],
        ),
    ];
    for (method, path, token, body, expected) in steps {
        let before = entries_since(&app, org, 0).await.len();
        let reply = app.request(method.clone(), &path, Some(token), body).await;
        assert!(
            reply.status.is_success(),
            "{method} {path}: {:?}",
            reply.body
        );
        let added = entries_since(&app, org, before).await;
        let codes: Vec<i64> = added.iter().map(|(_, c, _)| *c).collect();
        let wanted: Vec<i64> = expected.iter().map(|o| o.code()).collect();
        assert_eq!(codes, wanted, "{method} {path}");
        assert!(
            added
                .iter()
                .all(|(ok, _, targets)| *ok && targets.contains("acme")),
            "{method} {path}: {added:?}"
        );
    }
    // The chain of the deleted organization still verifies from the store.
    let v = app
        .service
        .store()
        .verify_audit_chain(Some(portcullis_service::core::OrgKey(org)))
        .await
        .unwrap();
    assert!(v.ok, "{v:?}");
}

#[tokio::test]
async fn refused_mutations_are_recorded_as_failures_and_change_nothing() {
    let app = spawn_app().await;
    let admin = app.user("ada").await;
    app.org(&admin, "acme").await;
    let org = app.service.resolve_org("acme").unwrap().0;
    let bob = join(&app, &admin, "acme", "bob", "org_user").await;
    app.post(
        "/v1/accounts/acme/apps",
        &admin,
        json!({"id": "vision", "name": "Vision"}),
    )
    .await
    .assert_status(201);
    app.post(
        "/v1/orgs/acme/teams",
        &admin,
        json!({"id": "ml", "name": "ML"}),
    )
    .await
    .assert_status(201);
    let refused: Vec<(Method, &str, Option<Value>, Operation, &str)> = vec![
        (
            Method::PATCH,
            "/v1/orgs/acme",
            Some(json!({"name": "Mine"})),
            Operation::OrgUpdate,
            "org.manage",
        ),
        (
            Method::DELETE,
            "/v1/orgs/acme",
            None,
            Operation::OrgDelete,
            "org.manage",
        ),
        (
            Method::PUT,
            "/v1/orgs/acme/members/ada",
            Some(json!({"role": "org_user"})),
            Operation::MemberChange,
            "members.manage",
        ),
        (
            Method::DELETE,
            "/v1/orgs/acme/members/ada",
            None,
            Operation::MemberRemove,
            "members.manage",
        ),
        (
            Method::POST,
            "/v1/orgs/acme/invitations",
            Some(json!({"email": "x@example.com", "role": "admin"})),
            Operation::InvitationCreate,
            "members.manage",
        ),
        (
            Method::POST,
            "/v1/orgs/acme/teams",
            Some(json!({"id": "t2", "name": "T"})),
            Operation::TeamCreate,
            "teams.manage",
        ),
        (
            Method::DELETE,
            "/v1/orgs/acme/teams/ml",
            None,
            Operation::TeamDelete,
            "teams.manage",
        ),
        (
            Method::PUT,
            "/v1/orgs/acme/teams/ml/members/bob",
            Some(json!({})),
            Operation::TeamMemberAdd,
            "teams.add_members",
        ),
        (
            Method::PUT,
            "/v1/orgs/acme/teams/ml/apps/vision",
            Some(json!({})),
            Operation::TeamAppAdd,
            "teams.add_apps",
        ),
        (
            Method::POST,
            "/v1/accounts/acme/apps",
            Some(json!({"id": "mine", "name": "Mine"})),
            Operation::AppCreate,
            "apps.create",
        ),
        (
            Method::PATCH,
            "/v1/accounts/acme/apps/vision",
            Some(json!({"description": "x"})),
            Operation::AppUpdate,
            "app.edit_description",
        ),
        (
            Method::DELETE,
            "/v1/accounts/acme/apps/vision",
            None,
            Operation::AppDelete,
            "app.delete",
        ),
    ];
    for (method, path, body, operation, permission) in refused {
        let before = entries_since(&app, org, 0).await.len();
        let revision = app.service.store().revision().await.unwrap();
        app.request(method.clone(), path, Some(&bob), body)
            .await
            .assert_problem(403, "permission.denied");
        let added = entries_since(&app, org, before).await;
        assert_eq!(added.len(), 1, "{method} {path}: {added:?}");
        assert_eq!(
            (added[0].0, added[0].1),
            (false, operation.code()),
            "{method} {path}"
        );
        // No data changed: the revision did not move.
        assert_eq!(
            app.service.store().revision().await.unwrap(),
            revision,
            "{method} {path}"
        );
        let entry = app.get("/v1/orgs/acme/audit-log?limit=1", &admin).await;
        let entry = &entry.assert_status(200)["entries"][0];
        assert_eq!(entry["success"], false);
        assert_eq!(entry["actor"]["user"], "bob");
        assert_eq!(entry["details"]["missing_permission"], permission);
    }
    assert_eq!(
        app.get("/v1/orgs/acme", &admin).await.assert_status(200)["name"],
        "Org acme"
    );
    let v = app.get("/v1/orgs/acme/audit-log/verify", &admin).await;
    assert_eq!(v.assert_status(200)["ok"], true, "{:?}", v.body);
}

#[tokio::test]
async fn query_filters_exports_and_access() {
    let app = spawn_app().await;
    let admin = app.user("ada").await;
    app.org(&admin, "acme").await;
    let bob = join(&app, &admin, "acme", "bob", "org_user").await;
    let outsider = app.user("zed").await;
    for i in 0..5 {
        app.post(
            "/v1/orgs/acme/teams",
            &admin,
            json!({"id": format!("t{i}"), "name": "T"}),
        )
        .await
        .assert_status(201);
    }
    app.patch("/v1/orgs/acme", &bob, json!({"name": "x"}))
        .await
        .assert_problem(403, "permission.denied");

    // Access: audit.view only.
    app.get("/v1/orgs/acme/audit-log", &bob)
        .await
        .assert_problem(403, "permission.denied");
    app.get("/v1/orgs/acme/audit-log/verify", &bob)
        .await
        .assert_problem(403, "permission.denied");
    app.get("/v1/orgs/acme/audit-log", &outsider)
        .await
        .assert_problem(404, "not_found");

    let ids = |reply: &Value| -> Vec<i64> {
        reply["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect()
    };
    let all = app.get("/v1/orgs/acme/audit-log?limit=200", &admin).await;
    let all_ids = ids(all.assert_status(200));
    assert!(all_ids.windows(2).all(|w| w[0] > w[1]), "newest first");
    let total = all_ids.len();
    let oldest = app
        .get("/v1/orgs/acme/audit-log?order=oldest&limit=200", &admin)
        .await;
    let mut reversed = ids(&oldest.body);
    reversed.reverse();
    assert_eq!(reversed, all_ids);
    let first = &oldest.body["entries"][0];
    assert_eq!(first["operation"], 1200);
    assert_eq!(first["operation_name"], "organization.create");
    assert_eq!(first["seq"], 1);
    assert_eq!(first["hash"].as_str().unwrap().len(), 64);
    assert_eq!(first["source_ip"], "127.0.0.1");

    let count = |path: String| {
        let app = &app;
        let admin = &admin;
        async move {
            let reply = app.get(&path, admin).await;
            reply.assert_status(200)["entries"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(
        count("/v1/orgs/acme/audit-log?operations=107".into()).await,
        5
    );
    assert_eq!(
        count("/v1/orgs/acme/audit-log?operations=organization.team.create,1200".into()).await,
        6
    );
    assert_eq!(
        count("/v1/orgs/acme/audit-log?success=false".into()).await,
        1
    );
    // The accepted invitation (accept + member add) and the refusal.
    assert_eq!(count("/v1/orgs/acme/audit-log?users=bob".into()).await, 3);
    assert_eq!(
        count("/v1/orgs/acme/audit-log?users=nobody".into()).await,
        0
    );
    assert_eq!(
        count("/v1/orgs/acme/audit-log?target=%22T3%22".into()).await,
        1
    );
    assert_eq!(
        count("/v1/orgs/acme/audit-log?source_ip=127.0.0.1&limit=200".into()).await,
        total
    );
    assert_eq!(
        count(
            "/v1/orgs/acme/audit-log?from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00Z&limit=200"
                .into()
        )
        .await,
        total
    );
    assert_eq!(
        count("/v1/orgs/acme/audit-log?to=2000-01-01T00:00:00Z".into()).await,
        0
    );

    app.get("/v1/orgs/acme/audit-log?from=yesterday", &admin)
        .await
        .assert_problem(422, "audit.invalid_time");
    app.get("/v1/orgs/acme/audit-log?operations=nope", &admin)
        .await
        .assert_problem(422, "audit.unknown_operation");
    app.get("/v1/orgs/acme/audit-log?format=xml", &admin)
        .await
        .assert_problem(422, "audit.invalid_format");
    app.get("/v1/orgs/acme/audit-log?order=up", &admin)
        .await
        .assert_problem(422, "audit.invalid_order");
    app.get("/v1/orgs/acme/audit-log?cursor=x", &admin)
        .await
        .assert_problem(422, "pagination.invalid_cursor");

    // Exports: every entry (past the page size), streamed.
    for i in 0..600 {
        let record = AuditRecord::new(
            Some(app.service.resolve_org("acme").unwrap()),
            Operation::TeamUpdate,
            json!({"n": i}),
        );
        app.service
            .store()
            .record_failure(&Actor::system(), 1, record)
            .await
            .unwrap();
    }
    let text = |path: &str| {
        let app = &app;
        let admin = admin.clone();
        let path = path.to_owned();
        async move {
            let resp = app
                .client
                .get(format!("{}{path}", app.address))
                .bearer_auth(admin)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
            (ct, resp.text().await.unwrap())
        }
    };
    let (ct, jsonl) = text("/v1/orgs/acme/audit-log?format=jsonl&order=oldest").await;
    assert_eq!(ct, "application/jsonl");
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), total + 600);
    let seqs: Vec<i64> = lines.iter().map(|l| l["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=(total as i64 + 600)).collect::<Vec<_>>());
    let (ct, csv) = text("/v1/orgs/acme/audit-log?format=csv&success=true").await;
    assert!(ct.starts_with("text/csv"));
    let mut rows = csv.lines();
    assert!(
        rows.next()
            .unwrap()
            .starts_with("id,at,seq,operation,operation_name,")
    );
    assert_eq!(rows.count(), total - 1);

    let v = app.get("/v1/orgs/acme/audit-log/verify", &admin).await;
    let v = v.assert_status(200);
    assert_eq!(v["ok"], true);
    assert_eq!(v["entries"], total as u64 + 600);
    assert_eq!(v["first_broken"], Value::Null);
}

#[tokio::test]
async fn pagination_neither_skips_nor_repeats_under_concurrent_writes() {
    let app = spawn_app().await;
    let admin = app.user("ada").await;
    app.org(&admin, "acme").await;
    let org = app.service.resolve_org("acme").unwrap();
    let store = app.service.store().clone();
    for i in 0..30 {
        store
            .record_failure(
                &Actor::system(),
                1,
                AuditRecord::new(Some(org), Operation::TeamUpdate, json!({"seed": i})),
            )
            .await
            .unwrap();
    }
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..120 {
                let record = AuditRecord::new(Some(org), Operation::TeamUpdate, json!({"i": i}));
                if i % 2 == 0 {
                    store
                        .record_failure(&Actor::system(), 1, record)
                        .await
                        .unwrap();
                } else {
                    let mut w = store.begin_write(&Actor::system(), 1).await.unwrap();
                    w.audit(record);
                    w.commit().await.unwrap();
                }
                if i % 10 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    // Newest first, started while writing: every entry older than the first page's top, once.
    let mut newest = Vec::new();
    let mut oldest = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/orgs/acme/audit-log?limit=7&cursor={c}"),
            None => "/v1/orgs/acme/audit-log?limit=7".to_owned(),
        };
        let page = app.get(&path, &admin).await;
        let page = page.assert_status(200);
        newest.extend(
            page["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    // Oldest first, following the tail until the writer is done and a page comes back empty.
    let mut cursor: Option<String> = None;
    loop {
        let done = writer.is_finished();
        let path = match &cursor {
            Some(c) => format!("/v1/orgs/acme/audit-log?order=oldest&limit=9&cursor={c}"),
            None => "/v1/orgs/acme/audit-log?order=oldest&limit=9".to_owned(),
        };
        let page = app.get(&path, &admin).await;
        let entries = page.assert_status(200)["entries"]
            .as_array()
            .unwrap()
            .clone();
        oldest.extend(entries.iter().map(|e| e["id"].as_i64().unwrap()));
        if let Some(last) = entries.last() {
            cursor = Some(last["id"].as_i64().unwrap().to_string());
        } else if done {
            break;
        }
    }
    writer.await.unwrap();
    let all: Vec<i64> = store
        .audit_entries(Some(org))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(all.len(), 1 + 30 + 120);
    assert_eq!(
        oldest, all,
        "oldest-first paging saw every entry once, in order"
    );
    let top = newest[0];
    let expected: Vec<i64> = all.iter().rev().copied().filter(|id| *id <= top).collect();
    assert_eq!(
        newest, expected,
        "newest-first paging saw every older entry once"
    );
    assert_eq!(newest.iter().collect::<HashSet<_>>().len(), newest.len());
}

/// `portcullis audit verify`, `audit prune` and `access-review` against the same store the
/// service wrote (the binary opens it by URL, as an operator would).
#[tokio::test]
async fn the_cli_verifies_prunes_and_prints_the_matrix() {
    use std::process::Command;
    use std::sync::Arc;

    use portcullis_service::authentication::SignupInput;
    use portcullis_service::core::{Level, Permission, SystemClock};
    use portcullis_service::store::testing::fresh_store;
    use portcullis_service::{Caller, Portcullis, ServiceConfig};

    let test_store = fresh_store().await.unwrap();
    let service = Portcullis::start(
        test_store.store.clone(),
        Arc::new(SystemClock),
        ServiceConfig::default(),
    )
    .await
    .unwrap();
    let ada = service
        .signup(
            &Caller::system(),
            SignupInput {
                id: "ada".into(),
                email: "ada@example.com".into(),
                password: secrecy::SecretString::from("a-long-Passw0rd-for-ada!"),
                first_name: "Ada".into(),
                last_name: "L".into(),
            },
        )
        .await
        .unwrap()
        .value;
    let ada = Caller::user_directly(ada.key);
    service
        .create_org(&ada, "acme", "Acme", "billing@example.com")
        .await
        .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(args)
            .args(["--database-url", &test_store.url])
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    let (code, stdout) = run(&["audit", "verify"]);
    assert_eq!(code, Some(0), "{stdout}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["chain"], "platform");
    assert_eq!(lines[1]["chain"], "acme");
    assert!(lines.iter().all(|l| l["ok"] == true), "{stdout}");
    let (code, stdout) = run(&["audit", "verify", "--org", "acme"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(stdout.lines().count(), 1);
    let (code, _) = run(&["audit", "verify", "--org", "nope"]);
    assert_eq!(code, Some(2));

    let (code, csv) = run(&["access-review", "--org", "acme", "--format", "csv"]);
    assert_eq!(code, Some(0), "{csv}");
    let org_permissions = Permission::ALL
        .iter()
        .filter(|p| p.level() == Level::Org)
        .count();
    let mut rows = csv.lines();
    assert_eq!(rows.next(), Some("user,role,app,permission,allowed,via"));
    let rows: Vec<&str> = rows.collect();
    assert_eq!(rows.len(), org_permissions, "{csv}");
    assert!(
        rows.contains(&"ada,admin,,audit.view,true,role:admin"),
        "{csv}"
    );

    // Pruning everything older than now (0 days): recorded, and every chain still verifies.
    let (code, stdout) = run(&["audit", "prune", "--older-than-days", "0"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    let (code, stdout) = run(&["audit", "verify"]);
    assert_eq!(code, Some(0), "{stdout}");
}

/// Audit retention as `serve` wires it (the same `App::start`): a server keeping one day's
/// entries, started three days after the writes, prunes them at once and records the pruning;
/// the chain still verifies.
#[tokio::test]
async fn a_server_with_audit_retention_prunes_old_entries_when_it_starts() {
    use std::sync::Arc;

    use portcullis_service::core::FixedClock;

    const DAY_MS: i64 = 24 * 3_600_000;
    let app = spawn_app().await;
    let admin = app.user("ada").await;
    app.org(&admin, "acme").await;
    let operations = |log: &Value| -> Vec<i64> {
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["operation"].as_i64().unwrap())
            .collect()
    };
    let before = operations(
        app.get("/v1/orgs/acme/audit-log", &admin)
            .await
            .assert_status(200),
    );
    assert!(!before.is_empty());
    let prune = Operation::AuditPrune.code();
    assert!(!before.contains(&prune));

    let later = Arc::new(FixedClock::at(app.service.now() + 3 * DAY_MS));
    let _later = app.peer_with_retention(later, Some(1)).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let after = loop {
        let log = app.get("/v1/orgs/acme/audit-log", &admin).await;
        let after = operations(log.assert_status(200));
        if after.contains(&prune) || std::time::Instant::now() > deadline {
            break after;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(after, vec![prune], "only the pruning is left: {after:?}");
    let v = app.get("/v1/orgs/acme/audit-log/verify", &admin).await;
    assert_eq!(v.assert_status(200)["ok"], true, "{:?}", v.body);
}
