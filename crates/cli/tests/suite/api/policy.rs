//! Password policies through the API: per-org and global policies, validation of policy
//! values and NIST warnings, `validate-password` with every violation by field, the
//! strictest combination across organizations, signup enforcement and the forced change.

use portcullis_service::authentication::SignupInput;
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::api::helpers::{TestApp, spawn_app};
use crate::api::members::join;

/// Signs up with explicit details and logs in; returns the session token.
pub async fn signup_as(
    app: &TestApp,
    id: &str,
    email: &str,
    password: &str,
    first: &str,
) -> String {
    app.request(
        Method::POST,
        "/v1/signup",
        None,
        Some(json!({"id": id, "email": email, "password": password,
                    "first_name": first, "last_name": "Doe"})),
    )
    .await
    .assert_status(201);
    login_as(app, email, password).await["session_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub async fn login_as(app: &TestApp, email: &str, password: &str) -> Value {
    app.request(
        Method::POST,
        "/v1/login",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await
    .assert_status(200)
    .clone()
}

/// Creates the platform operator `root` directly and returns its session token.
pub async fn operator(app: &TestApp) -> String {
    app.service
        .init_operator(SignupInput {
            id: "root".into(),
            email: "root@example.com".into(),
            password: SecretString::from("operator-Passphrase-9"),
            first_name: "Root".into(),
            last_name: "Operator".into(),
        })
        .await
        .unwrap();
    login_as(app, "root@example.com", "operator-Passphrase-9").await["session_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn violation_fields(reply: &Value) -> Vec<String> {
    reply["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["field"].as_str().unwrap().to_owned())
        .collect()
}

fn warning_fields(reply: &Value) -> Vec<String> {
    reply["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["field"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_policy_field_is_reported_alone_and_together() {
    let app = spawn_app().await;
    // id "tess", first name "Wendy", e-mail local part "cwhite": each checkable apart.
    let tess = signup_as(
        &app,
        "tess",
        "cwhite@example.com",
        "Ample-Kettle-Rover-7",
        "Wendy",
    )
    .await;
    app.org(&tess, "acme").await;
    let all_rules = json!({
        "preset": "legacy",
        "minimum_length": 10, "maximum_length": 40, "no_confusing_letters": true,
    });
    app.put("/v1/orgs/acme/password-policy", &tess, all_rules)
        .await
        .assert_status(200);

    let check = async |password: &str| {
        let reply = app
            .post(
                "/v1/validate-password",
                &tess,
                json!({"password": password, "org": "acme"}),
            )
            .await;
        reply.assert_status(200).clone()
    };
    let good = check("Ch3rry-Tr@ck-Vase").await;
    assert_eq!(good["valid"], true, "{good}");
    assert_eq!(violation_fields(&good), Vec::<String>::new());

    let cases = [
        ("minimum_length", "Ch3r-Tr@"),
        (
            "maximum_length",
            "Ch3rry-Tr@ck-Vase-Ch3rry-Tr@ck-Vase-Mep-Q",
        ),
        ("upper_case_needed", "ch3rry-tr@ck-vase"),
        ("lower_case_needed", "CH3RRY-TR@CK-VASE"),
        ("numeric_needed", "Cherry-Tr@ck-Vase"),
        ("non_alphanumeric_needed", "Ch3rryTrackVase"),
        ("exclude_names", "Ch3rry-Wendy-V@se"),
        ("exclude_email", "Ch3rry-cwhite-V@se"),
        ("no_confusing_letters", "Ch3rry-Tr@ck-V0se"),
        ("no_simple_passwords", "Ch3rry-Tr@ck-Vzzzz"),
        ("no_common_vocabs", "P@ssw0rd"),
    ];
    for (field, password) in cases {
        let reply = check(password).await;
        assert_eq!(reply["valid"], false, "{password}: {reply}");
        if field == "no_common_vocabs" {
            // A common password is short and simple too; the list must be among them.
            assert!(
                violation_fields(&reply).contains(&field.to_owned()),
                "{reply}"
            );
        } else {
            assert_eq!(violation_fields(&reply), vec![field], "{password}: {reply}");
        }
    }
    // The id is a name too.
    assert_eq!(
        violation_fields(&check("Ch3rry-tess-V@se").await),
        vec!["exclude_names"]
    );
    // Several at once: every one is listed.
    let many = violation_fields(&check("aaaa").await);
    for field in [
        "minimum_length",
        "upper_case_needed",
        "numeric_needed",
        "non_alphanumeric_needed",
        "no_simple_passwords",
    ] {
        assert!(many.contains(&field.to_owned()), "{field} not in {many:?}");
    }
    // The common list alone (global default policy: length 8 and the list), case-insensitive.
    let reply = app
        .request(
            Method::POST,
            "/v1/validate-password",
            None,
            Some(json!({"password": "BaseBall1"})),
        )
        .await;
    assert_eq!(
        violation_fields(reply.assert_status(200)),
        vec!["no_common_vocabs"]
    );
    // 64+ characters are accepted and not truncated by the default policy.
    let long = "correct horse battery staple ".repeat(4);
    let reply = app
        .request(
            Method::POST,
            "/v1/validate-password",
            None,
            Some(json!({"password": long})),
        )
        .await;
    assert_eq!(reply.assert_status(200)["valid"], true);
}

#[tokio::test]
async fn policy_values_are_validated_warned_and_permission_checked() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let eve = app.user("eve").await;
    app.org(&alice, "acme").await;
    join(&app, &alice, "acme", &bob, "bob", "org_user").await;

    let initial = app.get("/v1/orgs/acme/password-policy", &alice).await;
    let initial = initial.assert_status(200).clone();
    assert_eq!(initial["inherited"], true);

    let bad = [
        (
            json!({"minimum_length": 30, "maximum_length": 20}),
            "minimum_length",
        ),
        (
            json!({"password_life_span_days": 100000}),
            "password_life_span_days",
        ),
        (json!({"minimum_length": 0}), "minimum_length"),
        (json!({"maximum_length": 5000}), "maximum_length"),
        (json!({"max_failed_attempts": 99999}), "max_failed_attempts"),
        (
            json!({"password_reuse_epoch": 1000}),
            "password_reuse_epoch",
        ),
    ];
    for (body, field) in bad {
        let reply = app.put("/v1/orgs/acme/password-policy", &alice, body).await;
        reply.assert_problem(422, "policy.invalid");
        assert_eq!(reply.body["field"], field);
    }
    app.put(
        "/v1/orgs/acme/password-policy",
        &alice,
        json!({"preset": "fort-knox"}),
    )
    .await
    .assert_problem(422, "policy.unknown_preset");
    app.put(
        "/v1/orgs/acme/password-policy",
        &alice,
        json!({"min_len": 3}),
    )
    .await
    .assert_problem(400, "request.invalid_body");
    app.put(
        "/v1/orgs/acme/password-policy",
        &alice,
        json!({"minimum_length": -1}),
    )
    .await
    .assert_problem(400, "request.invalid_body");
    // Nothing changed.
    assert_eq!(
        app.get("/v1/orgs/acme/password-policy", &alice).await.body,
        initial
    );

    // Only security.manage changes it; members read it; outsiders do not learn it exists.
    app.put(
        "/v1/orgs/acme/password-policy",
        &bob,
        json!({"preset": "nist"}),
    )
    .await
    .assert_problem(403, "permission.denied");
    app.put(
        "/v1/orgs/acme/password-policy",
        &eve,
        json!({"preset": "nist"}),
    )
    .await
    .assert_problem(404, "not_found");
    app.get("/v1/orgs/acme/password-policy", &eve)
        .await
        .assert_problem(404, "not_found");

    let nist = app
        .put(
            "/v1/orgs/acme/password-policy",
            &alice,
            json!({"preset": "nist"}),
        )
        .await;
    let nist = nist.assert_status(200);
    assert_eq!(nist["policy"]["minimum_length"], 15);
    assert_eq!(nist["policy"]["upper_case_needed"], false);
    assert_eq!(nist["policy"]["password_life_span_days"], 0);
    assert_eq!(nist["policy"]["no_common_vocabs"], true);
    assert_eq!(warning_fields(nist), Vec::<String>::new());

    let legacy = app
        .put(
            "/v1/orgs/acme/password-policy",
            &alice,
            json!({"preset": "legacy", "maximum_length": 32}),
        )
        .await;
    let legacy = legacy.assert_status(200).clone();
    assert_eq!(legacy["policy"]["upper_case_needed"], true);
    assert_eq!(legacy["policy"]["password_life_span_days"], 90);
    assert_eq!(legacy["policy"]["password_reuse_epoch"], 5);
    assert_eq!(legacy["policy"]["maximum_length"], 32);
    let warnings = warning_fields(&legacy);
    for field in [
        "upper_case_needed",
        "numeric_needed",
        "password_life_span_days",
        "maximum_length",
    ] {
        assert!(
            warnings.contains(&field.to_owned()),
            "{field} not in {warnings:?}"
        );
    }
    let read = app.get("/v1/orgs/acme/password-policy", &bob).await;
    let read = read.assert_status(200);
    assert_eq!(read["inherited"], false);
    assert_eq!(read["policy"], legacy["policy"]);

    // The change is audited in the organization's log with before and after.
    let org = app.service.resolve_org("acme").unwrap();
    let entries = app.service.store().audit_entries(Some(org)).await.unwrap();
    let updates: Vec<_> = entries
        .iter()
        .filter(|e| e.operation == 2100 && e.success)
        .collect();
    assert_eq!(updates.len(), 2);
    assert!(updates[1].details.contains("\"before\""));
}

#[tokio::test]
async fn global_policy_is_the_operators_and_binds_signup() {
    let app = spawn_app().await;
    let root = operator(&app).await;
    let alice = app.user("alice").await;
    app.put("/v1/password-policy", &alice, json!({"preset": "nist"}))
        .await
        .assert_problem(403, "platform.operator_only");
    let global = app
        .request(Method::GET, "/v1/password-policy", None, None)
        .await;
    assert_eq!(global.assert_status(200)["policy"]["minimum_length"], 8);

    app.put("/v1/password-policy", &root, json!({"preset": "nist"}))
        .await
        .assert_status(200);
    // Anonymous validation uses the global policy.
    let reply = app
        .request(
            Method::POST,
            "/v1/validate-password",
            None,
            Some(json!({"password": "fourteen-chars"})),
        )
        .await;
    assert_eq!(
        violation_fields(reply.assert_status(200)),
        vec!["minimum_length"]
    );
    // Signup is held to it, naming the violated fields.
    let refused = app
        .request(
            Method::POST,
            "/v1/signup",
            None,
            Some(json!({"id": "dave", "email": "dave@example.com", "password": "short-pass-1"})),
        )
        .await;
    refused.assert_problem(422, "password.policy_violation");
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("minimum_length")
    );
    assert!(app.service.resolve_user("dave").is_err());
    app.request(
        Method::POST,
        "/v1/signup",
        None,
        Some(json!({"id": "dave", "email": "dave@example.com", "password": "a much longer passphrase"})),
    )
    .await
    .assert_status(201);
    let entries = app.service.store().audit_entries(None).await.unwrap();
    assert!(entries.iter().any(|e| e.operation == 2101));
}

#[tokio::test]
async fn strictest_combination_across_orgs_and_forced_change_after_tightening() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.org(&alice, "long").await;
    app.org(&alice, "upper").await;
    join(&app, &alice, "long", &bob, "bob", "org_user").await;
    join(&app, &alice, "upper", &bob, "bob", "org_user").await;
    app.put(
        "/v1/orgs/long/password-policy",
        &alice,
        json!({"minimum_length": 14}),
    )
    .await
    .assert_status(200);
    app.put(
        "/v1/orgs/upper/password-policy",
        &alice,
        json!({"upper_case_needed": true}),
    )
    .await
    .assert_status(200);

    let validate = async |body: Value| {
        violation_fields(
            app.post("/v1/validate-password", &bob, body)
                .await
                .assert_status(200),
        )
    };
    // Bob is held to both organizations' rules at once.
    assert_eq!(
        validate(json!({"password": "lower-case-only-pass"})).await,
        vec!["upper_case_needed"]
    );
    assert_eq!(
        validate(json!({"password": "Short-Pass-x"})).await,
        vec!["minimum_length"]
    );
    assert_eq!(
        validate(json!({"password": "short-pass-x"})).await,
        vec!["minimum_length", "upper_case_needed"]
    );
    // With `org`, that organization's policy (and the global one) only.
    assert_eq!(
        validate(json!({"password": "short-pass-x", "org": "upper"})).await,
        vec!["upper_case_needed"]
    );
    assert_eq!(
        validate(json!({"password": "Long-Enough-Pass", "org": "long"})).await,
        Vec::<String>::new()
    );

    // Bob's password ("password-bob") no longer complies: login only allows a change.
    let login = login_as(&app, "bob@example.com", "password-bob").await;
    assert_eq!(login["state"], "password_change_required", "{login}");
    assert!(login.get("session_token").is_none());
    let reasons: Vec<&str> = login["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(reasons, vec!["minimum_length", "upper_case_needed"]);
    let change_token = login["change_token"].as_str().unwrap().to_owned();
    // The change token is no credential.
    app.get("/v1/users/me", &change_token)
        .await
        .assert_problem(401, "auth.required");
    // The new password must comply too.
    let change = async |new: &str| {
        app.request(
            Method::POST,
            "/v1/users/me/password",
            None,
            Some(
                json!({"current_password": "password-bob", "new_password": new,
                        "change_token": change_token}),
            ),
        )
        .await
    };
    change("still-too-short")
        .await
        .assert_problem(422, "password.policy_violation");
    change("Now-Long-And-Upper").await.assert_status(204);
    change("Now-Long-And-Upper-2")
        .await
        .assert_problem(422, "token.invalid");
    // Bob's earlier session was revoked with the change.
    app.get("/v1/users/me", &bob)
        .await
        .assert_problem(401, "auth.required");
    let login = login_as(&app, "bob@example.com", "Now-Long-And-Upper").await;
    assert_eq!(login["state"], "authenticated");
    assert!(login["session_token"].as_str().is_some());
}
