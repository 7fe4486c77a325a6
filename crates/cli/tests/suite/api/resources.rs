//! Models, workflows, modules and the base workflow: the matrix rows they carry driven through
//! their real endpoints for every role on a team app and a non-team app, each visibility level
//! (in listings, reads and the check API), PAT scopes, the index after a restart, and bad input.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};

use crate::api::helpers::{Reply, TestApp, spawn_app};
use crate::api::matrix::{ROLES, corpus, populated_org};
use crate::api::teams::{create_app, join};

#[track_caller]
pub fn assert_outcome(reply: &Reply, allowed: bool, visible: bool, what: &str) {
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

fn ids(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("no `{key}` in {list}"))
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The operation codes of the successful audit entries of `org`, oldest first (refusals may
/// be audited as failures; they must not appear here).
pub async fn successful_codes(app: &TestApp, org: &str) -> Vec<i64> {
    let key = app.service.resolve_org(org).unwrap();
    let entries = app.service.store().audit_entries(Some(key)).await.unwrap();
    entries
        .into_iter()
        .filter(|e| e.success)
        .map(|e| e.operation)
        .collect()
}

async fn anonymous(app: &TestApp, path: &str) -> Reply {
    app.request(Method::GET, path, None, None).await
}

#[tokio::test]
async fn every_resource_row_is_enforced_by_its_endpoint() {
    let app = spawn_app().await;
    let sessions = populated_org(&app).await;
    let admin = sessions["admin"].clone();
    app.user("guest").await;
    let corpus = corpus();

    for target in ["in-team", "outside"] {
        let base = format!("/v1/accounts/acme/apps/{target}");
        app.post(&format!("{base}/modules"), &admin, json!({"id": "shared"}))
            .await
            .assert_status(201);
    }

    for (i, role) in ROLES.iter().enumerate() {
        let me = &sessions[role];
        let tag = role.replace('_', "-");
        for target in ["in-team", "outside"] {
            let base = format!("/v1/accounts/acme/apps/{target}");
            let allowed = |p: &str| corpus.expected(i, p, Some(target), "full_access").0;
            let visible = allowed("app.view");
            let what = |p: &str| format!("{role} {p} on {target}");
            let exists = async |path: String| app.get(&path, &admin).await.status.is_success();

            // models.create / workflows.create / modules.manage: creating.
            for (kind, permission) in [
                ("models", "models.create"),
                ("workflows", "workflows.create"),
                ("modules", "modules.manage"),
            ] {
                let reply = app
                    .post(
                        &format!("{base}/{kind}"),
                        me,
                        json!({"id": format!("c-{tag}")}),
                    )
                    .await;
                assert_outcome(&reply, allowed(permission), visible, &what(permission));
                assert_eq!(
                    exists(format!("{base}/{kind}/c-{tag}")).await,
                    allowed(permission),
                    "{}: stored iff allowed",
                    what(permission)
                );
            }

            // resources.change_visibility on a model, a workflow and a module.
            for kind in ["models", "workflows", "modules"] {
                let path = format!("{base}/{kind}/v-{tag}");
                app.post(
                    &format!("{base}/{kind}"),
                    &admin,
                    json!({"id": format!("v-{tag}")}),
                )
                .await
                .assert_status(201);
                let reply = app.patch(&path, me, json!({"visibility": "org"})).await;
                let permission = "resources.change_visibility";
                assert_outcome(&reply, allowed(permission), visible, &what(permission));
                let stored = app.get(&path, &admin).await.body["visibility"].clone();
                let expected = if allowed(permission) {
                    "org"
                } else {
                    "private"
                };
                assert_eq!(stored, expected, "{} {kind}", what(permission));
            }

            // Reading: app.view for models and workflows, modules.use for modules.
            for (kind, permission) in [
                ("models", "app.view"),
                ("workflows", "app.view"),
                ("modules", "modules.use"),
            ] {
                let reply = app.get(&format!("{base}/{kind}"), me).await;
                assert_outcome(&reply, allowed(permission), visible, &what(permission));
                let reply = app.get(&format!("{base}/{kind}/v-{tag}"), me).await;
                assert_outcome(&reply, allowed(permission), visible, &what(permission));
            }
            let reply = app.get(&format!("{base}/installed-modules"), me).await;
            assert_outcome(
                &reply,
                allowed("modules.use"),
                visible,
                &what("modules.use"),
            );

            // base_workflow.view.
            let reply = app.get(&format!("{base}/base-workflow"), me).await;
            let permission = "base_workflow.view";
            assert_outcome(&reply, allowed(permission), visible, &what(permission));

            // collaborators.view / collaborators.edit.
            let reply = app.get(&format!("{base}/collaborators"), me).await;
            let permission = "collaborators.view";
            assert_outcome(&reply, allowed(permission), visible, &what(permission));
            let reply = app
                .put(
                    &format!("{base}/collaborators/guest"),
                    me,
                    json!({"permissions": ["app.view"]}),
                )
                .await;
            let permission = "collaborators.edit";
            assert_outcome(&reply, allowed(permission), visible, &what(permission));
            let listed = app.get(&format!("{base}/collaborators"), &admin).await;
            let has_guest = listed.assert_status(200).to_string().contains("\"guest\"");
            assert_eq!(has_guest, allowed(permission), "{}", what(permission));
            if has_guest {
                app.delete(&format!("{base}/collaborators/guest"), &admin)
                    .await
                    .assert_status(204);
            }
            app.put(
                &format!("{base}/collaborators/guest"),
                &admin,
                json!({"permissions": ["app.view"]}),
            )
            .await
            .assert_status(200);
            let reply = app.delete(&format!("{base}/collaborators/guest"), me).await;
            assert_outcome(&reply, allowed(permission), visible, &what(permission));
            if !allowed(permission) {
                app.delete(&format!("{base}/collaborators/guest"), &admin)
                    .await
                    .assert_status(204);
            }

            // modules.install: install and uninstall the admin's module.
            let permission = "modules.install";
            let installed = format!("{base}/installed-modules/shared");
            let reply = app.put(&installed, me, json!({})).await;
            assert_outcome(&reply, allowed(permission), visible, &what(permission));
            let listed = app.get(&format!("{base}/installed-modules"), &admin).await;
            let count = listed.assert_status(200).as_array().unwrap().len();
            assert_eq!(
                count,
                usize::from(allowed(permission)),
                "{}",
                what(permission)
            );
            app.put(&installed, &admin, json!({}))
                .await
                .assert_status(200);
            let reply = app.delete(&installed, me).await;
            assert_outcome(&reply, allowed(permission), visible, &what(permission));
            let listed = app.get(&format!("{base}/installed-modules"), &admin).await;
            let count = listed.assert_status(200).as_array().unwrap().len();
            assert_eq!(
                count,
                usize::from(!allowed(permission)),
                "{}",
                what(permission)
            );
            if count == 1 {
                app.delete(&installed, &admin).await.assert_status(204);
            }

            // Deleting one: models.delete_all (model), workflows.create (workflow),
            // modules.manage (module).
            for (kind, permission) in [
                ("models", "models.delete_all"),
                ("workflows", "workflows.create"),
                ("modules", "modules.manage"),
            ] {
                let path = format!("{base}/{kind}/v-{tag}");
                let reply = app.delete(&path, me).await;
                assert_outcome(&reply, allowed(permission), visible, &what(permission));
                assert_eq!(
                    exists(path.clone()).await,
                    !allowed(permission),
                    "{}: deleted iff allowed",
                    what(permission)
                );
                if !allowed(permission) {
                    app.delete(&path, &admin).await.assert_status(204);
                }
            }

            // models.delete_all: every model of the app.
            app.post(
                &format!("{base}/models"),
                &admin,
                json!({"id": "keep-or-go"}),
            )
            .await
            .assert_status(201);
            let permission = "models.delete_all";
            let reply = app.delete(&format!("{base}/models"), me).await;
            assert_outcome(&reply, allowed(permission), visible, &what(permission));
            let left = app.get(&format!("{base}/models"), &admin).await;
            let left = ids(left.assert_status(200), "items");
            assert_eq!(
                left.is_empty(),
                allowed(permission),
                "{}: {left:?}",
                what(permission)
            );
            app.delete(&format!("{base}/models"), &admin)
                .await
                .assert_status(200);
        }
    }

    // A team contributor whose team holds `model_trainer` on the app: models yes, workflows no.
    app.put(
        "/v1/orgs/acme/teams/ml/apps/in-team",
        &admin,
        json!({"role": "model_trainer"}),
    )
    .await
    .assert_status(200);
    let tc = &sessions["team_contributor"];
    let base = "/v1/accounts/acme/apps/in-team";
    app.post(&format!("{base}/models"), tc, json!({"id": "trained"}))
        .await
        .assert_status(201);
    let reply = app
        .post(&format!("{base}/workflows"), tc, json!({"id": "flow"}))
        .await;
    reply.assert_problem(403, "permission.denied");
    assert_eq!(reply.body["permission"], "workflows.create");
    app.get(&format!("{base}/collaborators"), tc)
        .await
        .assert_problem(403, "permission.denied");
    app.get(&format!("{base}/modules"), tc)
        .await
        .assert_status(200);
    app.put(&format!("{base}/installed-modules/shared"), tc, json!({}))
        .await
        .assert_problem(403, "permission.denied");
}

#[tokio::test]
async fn visibility_of_items_in_lists_reads_and_checks() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    let fin = join(&app, &alice, "acme", "fin", "financial_manager").await;
    let outsider = app.user("outsider").await;

    create_app(&app, &alice, "acme", "pub", "public").await;
    create_app(&app, &alice, "acme", "orgapp", "org").await;
    create_app(&app, &alice, "acme", "priv", "private").await;
    for vis in ["private", "org", "public"] {
        for target in ["pub", "orgapp", "priv"] {
            app.post(
                &format!("/v1/accounts/acme/apps/{target}/models"),
                &alice,
                json!({"id": format!("m-{vis}"), "name": format!("Model {vis}"), "visibility": vis}),
            )
            .await
            .assert_status(201);
        }
    }
    let list = async |token: Option<&str>, target: &str| {
        let path = format!("/v1/accounts/acme/apps/{target}/models");
        app.request(Method::GET, &path, token, None).await
    };
    // Public app: anonymous and outsiders read public models only; an org member without
    // app-level cells reads org and public ones; the admin reads all.
    assert_eq!(
        ids(list(None, "pub").await.assert_status(200), "items"),
        ["m-public"]
    );
    assert_eq!(
        ids(
            list(Some(&outsider), "pub").await.assert_status(200),
            "items"
        ),
        ["m-public"]
    );
    assert_eq!(
        ids(list(Some(&fin), "pub").await.assert_status(200), "items"),
        ["m-org", "m-public"]
    );
    assert_eq!(
        ids(list(Some(&alice), "pub").await.assert_status(200), "items"),
        ["m-org", "m-private", "m-public"]
    );
    anonymous(&app, "/v1/accounts/acme/apps/pub/models/m-public")
        .await
        .assert_status(200);
    anonymous(&app, "/v1/accounts/acme/apps/pub/models/m-org")
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/accounts/acme/apps/pub/models/m-org", &fin)
        .await
        .assert_status(200);
    app.get("/v1/accounts/acme/apps/pub/models/m-private", &fin)
        .await
        .assert_problem(404, "not_found");
    // An org-visible app caps its public model at org.
    list(None, "orgapp").await.assert_problem(404, "not_found");
    anonymous(&app, "/v1/accounts/acme/apps/orgapp/models/m-public")
        .await
        .assert_problem(404, "not_found");
    assert_eq!(
        ids(list(Some(&fin), "orgapp").await.assert_status(200), "items"),
        ["m-org", "m-public"]
    );
    // A private app's public model is not public.
    anonymous(&app, "/v1/accounts/acme/apps/priv/models/m-public")
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/accounts/acme/apps/priv/models/m-public", &fin)
        .await
        .assert_problem(404, "not_found");
    // Nobody without a grant may change a visibility, not even of a model it can read.
    app.patch(
        "/v1/accounts/acme/apps/pub/models/m-public",
        &fin,
        json!({"visibility": "private"}),
    )
    .await
    .assert_problem(403, "permission.denied");
    app.request(
        Method::PATCH,
        "/v1/accounts/acme/apps/pub/models/m-public",
        None,
        Some(json!({"visibility": "private"})),
    )
    .await
    .assert_problem(401, "auth.required");

    // The check API answers about items with their own visibility.
    let ask = |who: &str, target: &str, kind: &str, id: &str| {
        json!({"subject": {"user": who}, "permission": "app.view",
               "resource": {"account": "acme", "app": target, "kind": kind, "id": id}})
    };
    let answer = app
        .post(
            "/v1/check",
            &alice,
            ask("outsider", "pub", "model", "m-public"),
        )
        .await;
    let body = answer.assert_status(200);
    assert_eq!(body["allowed"], true, "{body}");
    assert_eq!(body["via"], json!(["visibility:public"]));
    let answer = app
        .post(
            "/v1/check",
            &alice,
            ask("outsider", "pub", "model", "M-PRIVATE"),
        )
        .await;
    assert_eq!(answer.assert_status(200)["allowed"], false);
    let answer = app
        .post(
            "/v1/check",
            &alice,
            ask("fin", "orgapp", "model", "m-public"),
        )
        .await;
    assert_eq!(answer.assert_status(200)["via"], json!(["visibility:org"]));
    let answer = app
        .post(
            "/v1/check",
            &alice,
            ask("outsider", "priv", "model", "m-public"),
        )
        .await;
    assert_eq!(answer.assert_status(200)["allowed"], false);
    let answer = app
        .post("/v1/check", &alice, ask("fin", "pub", "model", "nope"))
        .await;
    assert_eq!(answer.assert_status(200)["reason"], "not_found");
    let answer = app
        .post(
            "/v1/check",
            &alice,
            ask("fin", "pub", "workflow", "m-public"),
        )
        .await;
    assert_eq!(answer.assert_status(200)["reason"], "not_found");
    app.post("/v1/check", &alice, ask("fin", "pub", "gizmo", "m-public"))
        .await
        .assert_problem(422, "check.unknown_kind");
    // Workflows and modules likewise.
    app.post(
        "/v1/accounts/acme/apps/pub/workflows",
        &alice,
        json!({"id": "wf", "visibility": "public"}),
    )
    .await
    .assert_status(201);
    app.post(
        "/v1/accounts/acme/apps/pub/modules",
        &alice,
        json!({"id": "mod", "visibility": "org"}),
    )
    .await
    .assert_status(201);
    for (who, kind, id, allowed) in [
        ("outsider", "workflow", "wf", true),
        ("outsider", "module", "mod", false),
        ("fin", "module", "mod", true),
        ("fin", "module", "wf", false),
    ] {
        let answer = app
            .post("/v1/check", &alice, ask(who, "pub", kind, id))
            .await;
        assert_eq!(
            answer.assert_status(200)["allowed"],
            allowed,
            "{who} {kind} {id}"
        );
    }
    // An outsider asking about itself learns nothing about a private model.
    let own = app
        .post(
            "/v1/check",
            &outsider,
            ask("outsider", "pub", "model", "m-private"),
        )
        .await;
    assert_eq!(own.assert_status(200)["reason"], "not_found");

    // Changing a visibility takes effect at once, in reads and in checks.
    app.patch(
        "/v1/accounts/acme/apps/pub/models/m-private",
        &alice,
        json!({"visibility": "public"}),
    )
    .await
    .assert_status(200);
    anonymous(&app, "/v1/accounts/acme/apps/pub/models/m-private")
        .await
        .assert_status(200);
    let answer = app
        .post(
            "/v1/check",
            &alice,
            ask("outsider", "pub", "model", "m-private"),
        )
        .await;
    assert_eq!(answer.assert_status(200)["allowed"], true);

    // A restarted server loads the items with their visibility from the store.
    let restarted = portcullis_service::Portcullis::start(
        app.service.store().clone(),
        Arc::new(portcullis_service::core::SystemClock),
        portcullis_service::ServiceConfig::default(),
    )
    .await
    .unwrap();
    let (_, pub_key) = restarted.resolve_app("acme", "pub").unwrap();
    let loaded = restarted.with_index(|index| {
        ["m-private", "m-org", "m-public", "m-gone"].map(|id| {
            index.item(
                pub_key,
                portcullis_service::core::index::ItemKind::Model,
                id,
            )
        })
    });
    use portcullis_service::core::Visibility::*;
    assert_eq!(loaded, [Some(Public), Some(Org), Some(Public), None]);
    // Deleting the app drops its items from the index.
    app.delete("/v1/accounts/acme/apps/pub", &alice)
        .await
        .assert_status(204);
    let gone = app.service.with_index(|index| {
        index.item(
            pub_key,
            portcullis_service::core::index::ItemKind::Model,
            "m-public",
        )
    });
    assert_eq!(gone, None);
}

#[tokio::test]
async fn item_lifecycle_base_workflow_pat_scopes_and_bad_input() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.org(&alice, "acme").await;
    create_app(&app, &alice, "acme", "vision", "private").await;
    let base = "/v1/accounts/acme/apps/vision";

    let created = app
        .post(
            &format!("{base}/models"),
            &alice,
            json!({"id": "General", "name": "General model", "description": "d", "visibility": "org"}),
        )
        .await;
    let body = created.assert_status(201);
    assert_eq!(body["id"], "General");
    assert_eq!(body["name"], "General model");
    assert_eq!(body["visibility"], "org");
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
    // Name defaults to the id; ids are unique per app, case-insensitive.
    let plain = app
        .post(&format!("{base}/models"), &alice, json!({"id": "plain"}))
        .await;
    assert_eq!(plain.assert_status(201)["name"], "plain");
    let models = format!("{base}/models");
    let post = |body: Value| app.post(&models, &alice, body);
    post(json!({"id": "GENERAL"}))
        .await
        .assert_problem(409, "conflict");
    post(json!({"id": "no way"}))
        .await
        .assert_problem(422, "id.invalid");
    post(json!({"id": "x".repeat(33)}))
        .await
        .assert_problem(422, "id.invalid");
    post(json!({"id": "ok", "name": "n".repeat(201)}))
        .await
        .assert_problem(422, "field.too_long");
    post(json!({"id": "ok", "name": "  "}))
        .await
        .assert_problem(422, "field.required");
    post(json!({"id": "ok", "description": "d".repeat(2001)}))
        .await
        .assert_problem(422, "field.too_long");
    post(json!({"id": "ok", "visibility": "secret"}))
        .await
        .assert_problem(422, "field.invalid");
    post(json!({"id": "ok", "owner": "me"}))
        .await
        .assert_problem(400, "request.invalid_body");
    app.patch(
        &format!("{base}/models/general"),
        &alice,
        json!({"visibility": "loud"}),
    )
    .await
    .assert_problem(422, "field.invalid");
    app.patch(
        &format!("{base}/models/missing"),
        &alice,
        json!({"visibility": "org"}),
    )
    .await
    .assert_problem(404, "not_found");
    app.get(&format!("{base}/models?limit=0"), &alice)
        .await
        .assert_problem(422, "pagination.invalid_limit");
    // The same id may exist in another app, and as a workflow.
    create_app(&app, &alice, "acme", "other", "private").await;
    app.post(
        "/v1/accounts/acme/apps/other/models",
        &alice,
        json!({"id": "general"}),
    )
    .await
    .assert_status(201);
    app.post(
        &format!("{base}/workflows"),
        &alice,
        json!({"id": "general"}),
    )
    .await
    .assert_status(201);
    // Nothing refused was stored.
    let listed = app.get(&format!("{base}/models"), &alice).await;
    assert_eq!(
        ids(listed.assert_status(200), "items"),
        ["General", "plain"]
    );
    // Pagination.
    let page = app.get(&format!("{base}/models?limit=1"), &alice).await;
    let page = page.assert_status(200).clone();
    assert_eq!(ids(&page, "items"), ["General"]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = app
        .get(&format!("{base}/models?limit=1&cursor={cursor}"), &alice)
        .await;
    let next = next.assert_status(200);
    assert_eq!(ids(next, "items"), ["plain"]);
    assert_eq!(next["next_cursor"], Value::Null);

    // Base workflow: only one of the app's workflows, stored with its casing, cleared when
    // the workflow is deleted.
    let bw = format!("{base}/base-workflow");
    assert_eq!(
        app.get(&bw, &alice).await.assert_status(200)["base_workflow"],
        Value::Null
    );
    app.patch(base, &alice, json!({"base_workflow": "Main"}))
        .await
        .assert_problem(422, "app.unknown_workflow");
    app.patch(base, &alice, json!({"base_workflow": "plain"}))
        .await
        .assert_problem(422, "app.unknown_workflow");
    app.post(&format!("{base}/workflows"), &alice, json!({"id": "Main"}))
        .await
        .assert_status(201);
    let set = app
        .patch(base, &alice, json!({"base_workflow": "MAIN"}))
        .await;
    assert_eq!(set.assert_status(200)["base_workflow"], "Main");
    assert_eq!(
        app.get(&bw, &alice).await.assert_status(200)["base_workflow"],
        "Main"
    );
    app.delete(&format!("{base}/workflows/general"), &alice)
        .await
        .assert_status(204);
    assert_eq!(
        app.get(&bw, &alice).await.assert_status(200)["base_workflow"],
        "Main"
    );
    app.delete(&format!("{base}/workflows/main"), &alice)
        .await
        .assert_status(204);
    assert_eq!(
        app.get(&bw, &alice).await.assert_status(200)["base_workflow"],
        Value::Null
    );
    app.delete(&format!("{base}/workflows/main"), &alice)
        .await
        .assert_problem(404, "not_found");

    // A PAT acts within its scopes.
    let pat = app
        .post(
            "/v1/users/me/keys",
            &alice,
            json!({"description": "read", "scopes": ["app.view", "modules.use"]}),
        )
        .await;
    let pat = pat.assert_status(201)["token"].as_str().unwrap().to_owned();
    app.get(&format!("{base}/models"), &pat)
        .await
        .assert_status(200);
    let refused = app
        .post(&format!("{base}/models"), &pat, json!({"id": "by-pat"}))
        .await;
    refused.assert_problem(403, "permission.denied");
    assert_eq!(refused.body["permission"], "models.create");
    app.delete(&format!("{base}/models"), &pat)
        .await
        .assert_problem(403, "permission.denied");
    app.patch(
        &format!("{base}/models/plain"),
        &pat,
        json!({"visibility": "public"}),
    )
    .await
    .assert_problem(403, "permission.denied");
    app.get(&format!("{base}/modules"), &pat)
        .await
        .assert_status(200);
    app.post(&format!("{base}/modules"), &pat, json!({"id": "m"}))
        .await
        .assert_problem(403, "permission.denied");

    let changed = app
        .patch(
            &format!("{base}/models/general"),
            &alice,
            json!({"visibility": "public"}),
        )
        .await;
    assert_eq!(changed.assert_status(200)["visibility"], "public");

    // Delete one, then all.
    app.delete(&format!("{base}/models/plain"), &alice)
        .await
        .assert_status(204);
    app.post(&format!("{base}/models"), &alice, json!({"id": "second"}))
        .await
        .assert_status(201);
    let deleted = app.delete(&format!("{base}/models"), &alice).await;
    assert_eq!(deleted.assert_status(200)["deleted"], 2);
    let listed = app.get(&format!("{base}/models"), &alice).await;
    assert!(ids(listed.assert_status(200), "items").is_empty());

    // Modules: installed from another app the caller can read; both or neither source field.
    app.post(
        "/v1/accounts/acme/apps/other/modules",
        &alice,
        json!({"id": "ocr", "visibility": "org"}),
    )
    .await
    .assert_status(201);
    let installed = format!("{base}/installed-modules/ocr");
    app.put(&installed, &alice, json!({}))
        .await
        .assert_problem(404, "not_found");
    app.put(&installed, &alice, json!({"account": "acme"}))
        .await
        .assert_problem(422, "field.required");
    app.put(
        &installed,
        &alice,
        json!({"account": "acme", "app": "other", "x": 1}),
    )
    .await
    .assert_problem(400, "request.invalid_body");
    let done = app
        .put(
            &installed,
            &alice,
            json!({"account": "acme", "app": "other"}),
        )
        .await;
    let done = done.assert_status(200);
    assert_eq!(done["module"]["id"], "ocr");
    assert_eq!(done["app"], "other");
    // Installing again is not an error and records nothing new.
    app.put(
        &installed,
        &alice,
        json!({"account": "acme", "app": "other"}),
    )
    .await
    .assert_status(200);
    let listed = app.get(&format!("{base}/installed-modules"), &alice).await;
    assert_eq!(listed.assert_status(200).as_array().unwrap().len(), 1);
    // An outsider cannot install a module it cannot read, even into its own app.
    let bob = app.user("bob").await;
    create_app(&app, &bob, "bob", "mine", "private").await;
    app.put(
        "/v1/accounts/bob/apps/mine/installed-modules/ocr",
        &bob,
        json!({"account": "acme", "app": "other"}),
    )
    .await
    .assert_problem(404, "not_found");
    // ... until the module and its app are public.
    app.patch(
        "/v1/accounts/acme/apps/other",
        &alice,
        json!({"visibility": "public"}),
    )
    .await
    .assert_status(200);
    app.patch(
        "/v1/accounts/acme/apps/other/modules/ocr",
        &alice,
        json!({"visibility": "public"}),
    )
    .await
    .assert_status(200);
    app.put(
        "/v1/accounts/bob/apps/mine/installed-modules/ocr",
        &bob,
        json!({"account": "acme", "app": "other"}),
    )
    .await
    .assert_status(200);
    // Uninstalling names the source in the query; deleting the module removes installations.
    app.delete(&installed, &alice)
        .await
        .assert_problem(404, "not_found");
    app.delete(&format!("{installed}?account=acme&app=other"), &alice)
        .await
        .assert_status(204);
    app.delete("/v1/accounts/acme/apps/other/modules/ocr", &alice)
        .await
        .assert_status(204);
    let bobs = app
        .get("/v1/accounts/bob/apps/mine/installed-modules", &bob)
        .await;
    assert!(bobs.assert_status(200).as_array().unwrap().is_empty());

    let codes = successful_codes(&app, "acme").await;
    for code in [300, 301, 302, 303, 400, 402, 500, 501, 502, 503, 504, 601] {
        assert!(codes.contains(&code), "audit {code} missing from {codes:?}");
    }
    // Refused requests wrote no audit entries of these kinds.
    assert_eq!(codes.iter().filter(|c| **c == 300).count(), 4, "{codes:?}");
}
