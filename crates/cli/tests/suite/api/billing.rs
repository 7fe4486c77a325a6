//! Financial data through the API: usage ingestion (admins and platform service keys),
//! idempotency, the costs report in JSON and CSV, the budget, every role against
//! `billing.view` / `billing.manage` / `usage.write`, and bad input refused without change.

use portcullis_service::authentication::SignupInput;
use serde_json::{Value, json};

use crate::api::helpers::{Reply, TestApp, spawn_app};
use crate::api::matrix::{ROLES, corpus, populated_org};

const ORG: &str = "/v1/orgs/acme";
const RANGE: &str = "from=2024-01-01&to=2024-12-31";

fn record(id: &str, category: &str, amount: Value, model: Option<&str>, day: &str) -> Value {
    json!({"id": id, "category": category, "amount_cents": amount, "currency": "USD", "model": model, "day": day})
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

async fn costs(app: &TestApp, token: &str) -> Value {
    app.get(&format!("{ORG}/costs?{RANGE}"), token)
        .await
        .assert_status(200)
        .clone()
}

/// The body of a successful GET sent with `credential` (a header name and value: the API's
/// bearer token or the console's session cookie).
async fn download(app: &TestApp, path: &str, credential: (&str, String)) -> String {
    let response = app
        .client
        .get(format!("{}{path}", app.address))
        .header(credential.0, credential.1)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{path}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn every_role_against_the_billing_rows() {
    let app = spawn_app().await;
    let sessions = populated_org(&app).await;
    let admin = sessions["admin"].clone();
    let corpus = corpus();
    let cell = |i: usize, p: &str| corpus.expected(i, p, None, "full_access").0;
    let outsider = app.user("outsider").await;
    app.put(
        &format!("{ORG}/budget"),
        &admin,
        json!({"monthly_budget_cents": 1000, "currency": "USD", "alert_threshold_percent": 80}),
    )
    .await
    .assert_status(200);

    for (i, role) in ROLES.iter().enumerate() {
        let me = &sessions[role];
        let what = |p: &str| format!("{role} {p}");
        let view = cell(i, "billing.view");
        assert_outcome(
            &app.get(&format!("{ORG}/costs?{RANGE}"), me).await,
            view,
            &what("reads costs"),
        );
        assert_outcome(
            &app.get(&format!("{ORG}/costs?{RANGE}&format=csv"), me)
                .await,
            view,
            &what("downloads costs"),
        );
        assert_outcome(
            &app.get(&format!("{ORG}/budget"), me).await,
            view,
            &what("reads the budget"),
        );

        let manage = cell(i, "billing.manage");
        let amount = 5000 + i64::try_from(i).unwrap();
        let reply = app
            .put(
                &format!("{ORG}/budget"),
                me,
                json!({"monthly_budget_cents": amount, "currency": "EUR", "alert_threshold_percent": 50}),
            )
            .await;
        assert_outcome(&reply, manage, &what("sets the budget"));
        let budget = app.get(&format!("{ORG}/budget"), &admin).await.body["budget"].clone();
        assert_eq!(
            budget["monthly_budget_cents"] == json!(amount),
            manage,
            "{role}: budget changed iff allowed: {budget}"
        );
        let reply = app.delete(&format!("{ORG}/budget"), me).await;
        assert_outcome(&reply, manage, &what("clears the budget"));
        let budget = app.get(&format!("{ORG}/budget"), &admin).await.body["budget"].clone();
        assert_eq!(
            budget.is_null(),
            manage,
            "{role}: budget cleared iff allowed: {budget}"
        );
        if manage {
            // Clearing twice is harmless.
            assert_eq!(app.delete(&format!("{ORG}/budget"), me).await.status, 204);
        }
        // The next role starts from a budget again.
        app.put(
            &format!("{ORG}/budget"),
            &admin,
            json!({"monthly_budget_cents": 1000, "currency": "USD", "alert_threshold_percent": 80}),
        )
        .await
        .assert_status(200);

        let write = cell(i, "usage.write");
        let id = format!("rec-{i}");
        let before = costs(&app, &admin).await;
        let reply = app
            .post(
                &format!("{ORG}/usage"),
                me,
                json!({"records": [record(&id, "prediction", json!(100), None, "2024-03-01")]}),
            )
            .await;
        assert_outcome(&reply, write, &what("ingests usage"));
        let after = costs(&app, &admin).await;
        assert_eq!(after != before, write, "{role}: usage stored iff allowed");
    }

    for reply in [
        app.get(&format!("{ORG}/costs?{RANGE}"), &outsider).await,
        app.get(&format!("{ORG}/budget"), &outsider).await,
        app.put(
            &format!("{ORG}/budget"),
            &outsider,
            json!({"monthly_budget_cents": 1, "currency": "USD", "alert_threshold_percent": 1}),
        )
        .await,
        app.delete(&format!("{ORG}/budget"), &outsider).await,
        app.post(
            &format!("{ORG}/usage"),
            &outsider,
            json!({"records": [record("x", "prediction", json!(1), None, "2024-03-01")]}),
        )
        .await,
    ] {
        reply.assert_problem(404, "not_found");
    }
    // A token scoped to billing.view reads costs but cannot set the budget.
    let key = app
        .post(
            "/v1/users/me/keys",
            &admin,
            json!({"description": "finance", "scopes": ["billing.view"]}),
        )
        .await;
    let token = key.assert_status(201)["token"].as_str().unwrap().to_owned();
    app.get(&format!("{ORG}/costs?{RANGE}"), &token)
        .await
        .assert_status(200);
    app.put(
        &format!("{ORG}/budget"),
        &token,
        json!({"monthly_budget_cents": 1, "currency": "USD", "alert_threshold_percent": 1}),
    )
    .await
    .assert_problem(403, "permission.denied");
}

#[tokio::test]
async fn usage_is_idempotent_and_reported_by_category_day_and_model() {
    let app = spawn_app().await;
    let admin = app.user("boss").await;
    app.org(&admin, "acme").await;

    // The platform's service key, created by the operator, ingests usage.
    app.service
        .init_operator(SignupInput {
            id: "operator".into(),
            email: "operator@example.com".into(),
            password: "password-operator".to_owned().into(),
            first_name: "Op".into(),
            last_name: "Erator".into(),
        })
        .await
        .unwrap();
    let operator = app.login("operator").await;
    let key = app
        .post(
            "/v1/users/me/keys",
            &operator,
            json!({"description": "gateway", "service": true, "scopes": ["usage.write"]}),
        )
        .await;
    let service_key = key.assert_status(201)["token"].as_str().unwrap().to_owned();
    // The operator itself is no member: its session cannot ingest.
    app.post(
        &format!("{ORG}/usage"),
        &operator,
        json!({"records": [record("x", "prediction", json!(1), None, "2024-01-01")]}),
    )
    .await
    .assert_problem(404, "not_found");

    let batch = json!({"records": [
        record("r1", "prediction", json!(150), Some("acme/vision/detector"), "2024-01-01"),
        record("r2", "prediction", json!(50), Some("acme/vision/detector"), "2024-01-02"),
        record("r3", "training", json!(1000), Some("acme/vision/detector"), "2024-01-02"),
        record("r4", "storage", json!(7), None, "2024-01-02"),
        {"id": "r5", "category": "search", "amount_cents": 3, "currency": "EUR", "day": "2024-01-03"},
    ]});
    let first = app
        .post(&format!("{ORG}/usage"), &service_key, batch.clone())
        .await;
    assert_eq!(
        first.assert_status(200),
        &json!({"inserted": 5, "unchanged": 0})
    );
    // The same batch again (a retry) stores nothing new.
    let again = app.post(&format!("{ORG}/usage"), &service_key, batch).await;
    assert_eq!(
        again.assert_status(200),
        &json!({"inserted": 0, "unchanged": 5})
    );
    // The service key holds usage.write only: it cannot read the costs.
    app.get(&format!("{ORG}/costs?{RANGE}"), &service_key)
        .await
        .assert_problem(404, "not_found");

    let report = costs(&app, &admin).await;
    assert_eq!(
        report["by_category"],
        json!([
            {"key": "prediction", "currency": "USD", "amount_cents": 200},
            {"key": "search", "currency": "EUR", "amount_cents": 3},
            {"key": "storage", "currency": "USD", "amount_cents": 7},
            {"key": "training", "currency": "USD", "amount_cents": 1000},
        ])
    );
    assert_eq!(
        report["by_day"],
        json!([
            {"key": "2024-01-01", "currency": "USD", "amount_cents": 150},
            {"key": "2024-01-02", "currency": "USD", "amount_cents": 1057},
            {"key": "2024-01-03", "currency": "EUR", "amount_cents": 3},
        ])
    );
    assert_eq!(
        report["by_model"],
        json!([
            {"key": null, "currency": "EUR", "amount_cents": 3},
            {"key": null, "currency": "USD", "amount_cents": 7},
            {"key": "acme/vision/detector", "currency": "USD", "amount_cents": 1200},
        ])
    );
    assert_eq!(
        report["totals"],
        json!([
            {"key": null, "currency": "EUR", "amount_cents": 3},
            {"key": null, "currency": "USD", "amount_cents": 1207},
        ])
    );
    // A narrower range.
    let day = app
        .get(
            &format!("{ORG}/costs?from=2024-01-02&to=2024-01-02"),
            &admin,
        )
        .await;
    assert_eq!(
        day.assert_status(200)["totals"],
        json!([{"key": null, "currency": "USD", "amount_cents": 1057}])
    );

    // CSV download.
    let resp = app
        .client
        .get(format!(
            "{}{ORG}/costs?from=2024-01-01&to=2024-01-31&format=csv",
            app.address
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(
        resp.headers()["content-disposition"].to_str().unwrap(),
        "attachment; filename=\"costs-acme-2024-01-01-2024-01-31.csv\""
    );
    let csv = resp.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "day,category,model,currency,amount_cents,records");
    assert!(
        lines.contains(&"2024-01-02,training,acme/vision/detector,USD,1000,1"),
        "{csv}"
    );
    assert!(lines.contains(&"2024-01-03,search,,EUR,3,1"), "{csv}");
    assert_eq!(lines.len(), 6, "{csv}");

    // A known id with other content refuses the whole batch; the new record in it is not stored.
    let conflicting = json!({"records": [
        record("r6", "prediction", json!(1), None, "2024-01-05"),
        record("r1", "prediction", json!(151), Some("acme/vision/detector"), "2024-01-01"),
    ]});
    app.post(&format!("{ORG}/usage"), &service_key, conflicting)
        .await
        .assert_problem(409, "usage.conflict");
    assert_eq!(costs(&app, &admin).await, report);
    // One audit entry: the first batch (the retry and the refused batch stored nothing).
    let log = app.get(&format!("{ORG}/audit-log?limit=200"), &admin).await;
    let ingests: Vec<Value> = log.assert_status(200)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["operation"] == 1300 && e["success"] == true)
        .cloned()
        .collect();
    assert_eq!(ingests.len(), 1, "{ingests:?}");
    assert_eq!(ingests[0]["details"]["inserted"], 5);
    assert_eq!(
        ingests[0]["details"]["amount_cents"],
        json!({"EUR": 3, "USD": 1207})
    );
    assert_eq!(ingests[0]["actor"]["credential_kind"], "service_key");

    // A spreadsheet never reads a model reference as a formula.
    app.post(
        &format!("{ORG}/usage"),
        &service_key,
        json!({"records": [record("f1", "compute", json!(1), Some("=HYPERLINK(\"x\",\"y\")"), "2024-02-01")]}),
    )
    .await
    .assert_status(200);
    let resp = app
        .client
        .get(format!(
            "{}{ORG}/costs?from=2024-02-01&to=2024-02-01&format=csv",
            app.address
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let csv = resp.text().await.unwrap();
    assert_eq!(
        csv,
        "day,category,model,currency,amount_cents,records\r\n\
         2024-02-01,compute,\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\",USD,1,1\r\n"
    );

    // The console's download of the same range is the same bytes.
    for range in ["from=2024-02-01&to=2024-02-01", RANGE] {
        let api = download(
            &app,
            &format!("{ORG}/costs?{range}&format=csv"),
            ("authorization", format!("Bearer {admin}")),
        )
        .await;
        let console = download(
            &app,
            &format!("/a/acme/billing/costs.csv?{range}"),
            ("cookie", format!("__Host-portcullis={admin}")),
        )
        .await;
        assert_eq!(api, console);
        assert!(api.lines().count() > 1, "{api}");
    }
}

#[tokio::test]
async fn bad_usage_costs_and_budget_input_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.user("boss").await;
    app.org(&admin, "acme").await;
    app.post(
        &format!("{ORG}/usage"),
        &admin,
        json!({"records": [record("base", "compute", json!(10), None, "2024-06-01")]}),
    )
    .await
    .assert_status(200);
    let start = costs(&app, &admin).await;
    let ok = || record("new", "prediction", json!(1), None, "2024-06-02");

    let amount = |a: Value| {
        let mut r = ok();
        r["amount_cents"] = a;
        json!({"records": [ok(), r]})
    };
    let big: Vec<Value> = (0..1001)
        .map(|i| record(&format!("b{i}"), "search", json!(1), None, "2024-06-03"))
        .collect();
    let cases: Vec<(Value, u16, &str)> = vec![
        (amount(json!(-1)), 422, "usage.invalid_amount"),
        (amount(json!(1.5)), 422, "usage.invalid_amount"),
        (amount(json!(2.0)), 422, "usage.invalid_amount"),
        (
            amount(json!(1_000_000_000_001_i64)),
            422,
            "usage.invalid_amount",
        ),
        (amount(json!(i64::MAX)), 422, "usage.invalid_amount"),
        (amount(json!(u64::MAX)), 422, "usage.invalid_amount"),
        (amount(json!(1e30)), 422, "usage.invalid_amount"),
        (amount(json!("100")), 422, "usage.invalid_amount"),
        (amount(Value::Null), 422, "usage.invalid_amount"),
        (json!({"records": [ok(), ok()]}), 422, "usage.duplicate_id"),
        (json!({"records": []}), 422, "usage.invalid_batch"),
        (json!({"records": big}), 422, "usage.invalid_batch"),
        (
            json!({"records": [record("x", "gpu", json!(1), None, "2024-06-02")]}),
            422,
            "usage.invalid_category",
        ),
        (
            json!({"records": [record("x y", "search", json!(1), None, "2024-06-02")]}),
            422,
            "usage.invalid_id",
        ),
        (
            json!({"records": [record("", "search", json!(1), None, "2024-06-02")]}),
            422,
            "usage.invalid_id",
        ),
        (
            json!({"records": [record(&"i".repeat(129), "search", json!(1), None, "2024-06-02")]}),
            422,
            "usage.invalid_id",
        ),
        (
            json!({"records": [record("x", "search", json!(1), None, "2024-02-30")]}),
            422,
            "usage.invalid_day",
        ),
        (
            json!({"records": [record("x", "search", json!(1), None, "02/06/2024")]}),
            422,
            "usage.invalid_day",
        ),
        (
            json!({"records": [record("x", "search", json!(1), Some(""), "2024-06-02")]}),
            422,
            "usage.invalid_model",
        ),
        (
            json!({"records": [{"id": "x", "category": "search", "amount_cents": 1, "currency": "usd", "day": "2024-06-02"}]}),
            422,
            "usage.invalid_currency",
        ),
        (
            json!({"records": [{"id": "x", "category": "search", "amount_cents": 1, "currency": "US", "day": "2024-06-02"}]}),
            422,
            "usage.invalid_currency",
        ),
        (
            json!({"records": [{"id": "x", "category": "search", "amount_cents": 1, "currency": "USD", "day": "2024-06-02",
                              "discount": 5}]}),
            400,
            "request.invalid_body",
        ),
        // Same id as a stored record, other content.
        (
            json!({"records": [ok(), record("base", "compute", json!(11), None, "2024-06-01")]}),
            409,
            "usage.conflict",
        ),
    ];
    for (body, status, code) in cases {
        let reply = app
            .post(&format!("{ORG}/usage"), &admin, body.clone())
            .await;
        reply.assert_problem(status, code);
        assert_eq!(costs(&app, &admin).await, start, "{code}: usage changed");
    }

    for (query, field) in [
        ("from=2024-02-01&to=2024-01-01", "from"),
        ("from=2024-01-01&to=2025-01-01", "to"),
        // (Without `to` the report ends today: more than 366 days after 2024.)
        ("from=2024-01-01", "to"),
        ("from=2024-1-1&to=2024-01-02", "from"),
        ("from=2024-01-01&to=yesterday", "to"),
    ] {
        let reply = app.get(&format!("{ORG}/costs?{query}"), &admin).await;
        reply.assert_problem(422, "costs.invalid_range");
        assert_eq!(reply.body["field"], field, "{query}");
    }
    // 366 days (a leap year) is the longest report.
    app.get(
        &format!("{ORG}/costs?from=2024-01-01&to=2024-12-31"),
        &admin,
    )
    .await
    .assert_status(200);
    app.get(&format!("{ORG}/costs?{RANGE}&format=xml"), &admin)
        .await
        .assert_problem(422, "costs.invalid_format");

    // Budget.
    let empty = app.get(&format!("{ORG}/budget"), &admin).await;
    assert_eq!(empty.assert_status(200)["budget"], Value::Null);
    let budget = |cents: Value, currency: &str, threshold: Value| json!({"monthly_budget_cents": cents, "currency": currency, "alert_threshold_percent": threshold});
    for (body, code) in [
        (budget(json!(-5), "USD", json!(50)), "budget.invalid_amount"),
        (
            budget(json!(10.5), "USD", json!(50)),
            "budget.invalid_amount",
        ),
        (
            budget(json!(1_000_000_000_001_i64), "USD", json!(50)),
            "budget.invalid_amount",
        ),
        (
            budget(json!(100), "dollars", json!(50)),
            "budget.invalid_currency",
        ),
        (
            budget(json!(100), "USD", json!(0)),
            "budget.invalid_threshold",
        ),
        (
            budget(json!(100), "USD", json!(101)),
            "budget.invalid_threshold",
        ),
        (
            budget(json!(100), "USD", json!(50.5)),
            "budget.invalid_threshold",
        ),
    ] {
        app.put(&format!("{ORG}/budget"), &admin, body)
            .await
            .assert_problem(422, code);
        let after = app.get(&format!("{ORG}/budget"), &admin).await;
        assert_eq!(after.assert_status(200)["budget"], Value::Null, "{code}");
    }

    // Spend this month against the budget.
    let today = portcullis_service::billing::format_day(app.service.now().div_euclid(86_400_000));
    app.put(
        &format!("{ORG}/budget"),
        &admin,
        budget(json!(1000), "USD", json!(80)),
    )
    .await
    .assert_status(200);
    app.post(
        &format!("{ORG}/usage"),
        &admin,
        json!({"records": [
            record("m1", "prediction", json!(850), None, &today),
            {"id": "m2", "category": "search", "amount_cents": 99, "currency": "EUR", "day": today},
        ]}),
    )
    .await
    .assert_status(200);
    let status = app.get(&format!("{ORG}/budget"), &admin).await;
    let status = status.assert_status(200);
    assert_eq!(status["budget"]["monthly_budget_cents"], 1000);
    assert_eq!(status["budget"]["alert_threshold_percent"], 80);
    assert_eq!(status["month"], today[..7]);
    assert_eq!(status["spent_cents"], 850);
    assert_eq!(status["percent_used"], 85);
    assert_eq!(status["alert"], true);
    assert!(
        status["spend"]
            .as_array()
            .unwrap()
            .contains(&json!({"key": null, "currency": "EUR", "amount_cents": 99}))
    );
    // Only the accepted budget change is in the audit log, with its before and after.
    let log = app.get(&format!("{ORG}/audit-log?limit=200"), &admin).await;
    let changes: Vec<Value> = log.assert_status(200)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["operation"] == 1301 && e["success"] == true)
        .cloned()
        .collect();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["details"]["before"], Value::Null);
    assert_eq!(
        changes[0]["details"]["after"],
        json!({"monthly_budget_cents": 1000, "currency": "USD", "alert_threshold_percent": 80})
    );
}
