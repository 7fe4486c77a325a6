use reqwest::Method;

use crate::api::helpers::spawn_app;

#[tokio::test]
async fn health_roles_openapi_and_offline_docs() {
    let app = spawn_app().await;
    let health = app.request(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.assert_status(200)["status"], "ok");

    let roles = app.request(Method::GET, "/v1/roles", None, None).await;
    let roles = roles.assert_status(200);
    assert_eq!(roles["roles"].as_array().unwrap().len(), 6);
    assert_eq!(roles["permissions"].as_array().unwrap().len(), 34);
    let billing = roles["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "billing.view")
        .unwrap();
    assert_eq!(
        billing["roles"],
        serde_json::json!(["admin", "financial_manager"])
    );

    let spec = app
        .request(Method::GET, "/v1/openapi.json", None, None)
        .await;
    let spec = spec.assert_status(200);
    for path in [
        "/v1/check",
        "/v1/orgs/{org}",
        "/v1/signup",
        "/v1/users/me/keys",
    ] {
        assert!(spec["paths"].get(path).is_some(), "{path} is documented");
    }

    // The interactive reference is served from vendored files: no CDN.
    let page = app
        .client
        .get(format!("{}/docs/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("https://"),
        "docs page must not load anything from the network"
    );
    let bundle = app
        .client
        .get(format!("{}/docs/swagger-ui-bundle.js", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);

    let unknown = app.request(Method::GET, "/v1/nope", None, None).await;
    unknown.assert_problem(404, "route.not_found");
}

/// The documentation may not be framed or run foreign scripts, and no response (JSON, problem,
/// documentation, console) may be content-sniffed.
#[tokio::test]
async fn docs_and_json_responses_carry_protective_headers() {
    let app = spawn_app().await;
    let get = async |path: &str| {
        app.client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap()
    };
    for path in ["/docs/", "/docs/swagger-ui-bundle.js"] {
        let page = get(path).await;
        assert_eq!(page.status(), 200, "{path}");
        let csp = page.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-eval"), "{path}: {csp}");
        assert_eq!(page.headers()["x-frame-options"], "DENY", "{path}");
        assert_eq!(
            page.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
    }
    for path in [
        "/healthz",
        "/v1/roles",
        "/v1/users/me",
        "/v1/nope",
        "/v1/openapi.json",
    ] {
        let reply = get(path).await;
        assert_eq!(
            reply.headers()["x-content-type-options"],
            "nosniff",
            "{path}: {}",
            reply.status()
        );
    }
    // The console keeps its own, stricter policy.
    let console = get("/sign-in").await;
    let csp = console.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(!csp.contains("unsafe-inline"), "{csp}");
}
