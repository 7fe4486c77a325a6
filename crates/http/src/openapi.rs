//! The OpenAPI document (generated from the handlers' annotations) and the offline `/docs`.

use axum::Router;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Portcullis", description = "Organization security server: members, teams, apps, permission checks."),
    modifiers(&BearerAuth),
    components(schemas(crate::error::Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

pub(crate) fn base() -> OpenApiDoc {
    ApiDoc::openapi()
}

/// The full document, as served and printed.
pub fn openapi() -> serde_json::Value {
    complete(&crate::routes::api().split_for_parts().1)
}

/// Declares what the per-handler annotations cannot see, uniformly for every operation:
/// - every error response is `application/problem+json` (utoipa writes `application/json`);
/// - the failures of the shared extractors: `401` where a bearer credential is accepted (an
///   invalid one is refused even where it is optional), and `403` there for a credential an
///   organization's sign-in requirements keep out or that was not made for the use, `400` for an undecodable path or query
///   parameter, and `400`/`413`/`415` for a JSON body that is malformed, too large or not JSON;
/// - the allowed values of role, permission and visibility fields and the length of ids, from
///   core's tables (`schema_values`);
/// - OpenAPI links from each `201` of a collection's POST to the operations on the created
///   item (`.../{item}` with the body's `id`), so clients and stateful fuzzers can follow them.
///
/// It works on the JSON form: utoipa's `Link` serializes `operation_id` instead of the
/// `operationId` OpenAPI requires, so the completed document is never turned back into utoipa
/// types.
pub(crate) fn complete(doc: &OpenApiDoc) -> serde_json::Value {
    let mut value = serde_json::to_value(doc).unwrap_or_default();
    add_links(&mut value);
    crate::schema_values::declare(&mut value);
    if let Some(paths) = value
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
    {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in item.iter_mut() {
                let mutating = matches!(method.as_str(), "post" | "put" | "patch" | "delete");
                complete_operation(operation, mutating);
                // AuthZEN's HTTPS binding answers a body that is not JSON with 400.
                if path.starts_with("/access/")
                    && let Some(responses) = operation["responses"].as_object_mut()
                {
                    responses.remove("415");
                }
            }
        }
    }
    value
}

fn complete_operation(operation: &mut serde_json::Value, mutating: bool) {
    use serde_json::{Value, json};
    let has_body = operation.get("requestBody").is_some();
    let parameters = |location: &str| {
        operation["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["in"] == location))
    };
    let has_path = parameters("path");
    let has_query = parameters("query");
    let bearer = operation["security"]
        .as_array()
        .is_some_and(|reqs| reqs.iter().any(|r| r.get("bearer").is_some()));
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (status, response) in responses.iter_mut() {
        if status.as_str() < "400" {
            continue;
        }
        if let Some(content) = response.get_mut("content").and_then(Value::as_object_mut)
            && let Some(json) = content.remove("application/json")
        {
            content.insert("application/problem+json".to_owned(), json);
        }
    }
    let mut add = |status: &str, description: &str| {
        responses.entry(status.to_owned()).or_insert_with(|| {
            json!({
                "description": description,
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
            })
        });
    };
    if bearer {
        add(
            "401",
            "The presented credential is invalid, expired or revoked",
        );
        // Any credential may be refused before the operation's own checks: a member kept out
        // by its organization's sign-in requirements (`sso_required`, `two_factor_required`),
        // or a credential not made for this use (`credential.bound`, `credential.restricted`).
        add(
            "403",
            "The credential may not be used here, or lacks the permission",
        );
    }
    if has_path || has_query || has_body {
        add("400", "A parameter or the body could not be decoded");
    }
    if has_body {
        add("413", "The body is larger than the server accepts");
        add("415", "The body is not `application/json`");
    }
    // Store faults: temporary, and answered with `Retry-After`.
    let retry_after = json!({"Retry-After": {
        "description": "seconds to wait before retrying",
        "schema": {"type": "integer"}
    }});
    let mut add_retryable = |status: &str, description: &str| {
        let response = responses.entry(status.to_owned()).or_insert_with(|| {
            json!({
                "description": description,
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
            })
        });
        response["headers"] = retry_after.clone();
    };
    add_retryable(
        "503",
        "Temporarily unavailable (`store.unavailable`, `store.busy`, or a revision this server \
         has not reached); retry after `Retry-After` seconds",
    );
    if mutating {
        add_retryable(
            "507",
            "The store is out of space (`store.full`); nothing was written",
        );
    }
}

/// The full document as pretty JSON (what `/v1/openapi.json` serves and CI compares).
pub fn openapi_json() -> String {
    serde_json::to_string_pretty(&openapi()).unwrap_or_default()
}

/// `/v1/openapi.json` and the interactive reference at `/docs`, served from vendored files.
pub(crate) fn docs_router(spec: serde_json::Value) -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/docs").external_url_unchecked("/v1/openapi.json", spec))
}

/// Links `201` responses of `POST {collection}` to the operations of `{collection}/{item}`,
/// when the created body has an `id`: `item` is `$response.body#/id`, the collection's own
/// path parameters are passed through from the request.
fn add_links(doc: &mut serde_json::Value) {
    use serde_json::{Map, Value, json};
    let schemas = doc["components"]["schemas"].clone();
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let mut links: Vec<(String, Map<String, Value>)> = Vec::new();
    for (collection, item) in paths.iter() {
        let created = &item["post"]["responses"]["201"]["content"]["application/json"]["schema"];
        let Some(schema) = created["$ref"].as_str() else {
            continue;
        };
        let name = schema.trim_start_matches("#/components/schemas/");
        if schemas[name]["properties"].get("id").is_none() {
            continue;
        }
        let mut found = Map::new();
        for (child, child_item) in paths.iter() {
            let Some(rest) = child.strip_prefix(collection.as_str()) else {
                continue;
            };
            let Some(param) = rest
                .strip_prefix("/{")
                .and_then(|r| r.strip_suffix('}'))
                .filter(|p| !p.contains(['/', '{']))
            else {
                continue;
            };
            let mut parameters = Map::new();
            parameters.insert(param.to_owned(), json!("$response.body#/id"));
            for segment in collection.split('/') {
                if let Some(outer) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    parameters.insert(outer.to_owned(), json!(format!("$request.path.{outer}")));
                }
            }
            for method in ["get", "put", "patch", "delete"] {
                if let Some(id) = child_item[method]["operationId"].as_str() {
                    found.insert(
                        id.to_owned(),
                        json!({"operationId": id, "parameters": parameters}),
                    );
                }
            }
        }
        if !found.is_empty() {
            links.push((collection.clone(), found));
        }
    }
    for (collection, found) in links {
        if let Some(response) = paths
            .get_mut(&collection)
            .and_then(|item| item["post"]["responses"].get_mut("201"))
            .and_then(Value::as_object_mut)
        {
            response.insert("links".to_owned(), Value::Object(found));
        }
    }
}
