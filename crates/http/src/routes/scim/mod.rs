//! SCIM 2.0 (RFC 7644) at `/scim/v2/orgs/{org}/`: the transport of the service's SCIM use
//! cases. Only a live SCIM token of that very organization is accepted (anything else is 401,
//! in the protocol's error format); bodies are `application/scim+json` (`application/json`
//! accepted), answers `application/scim+json` with `ETag` and `Location` where RFC 7644 asks.
//!
//! These routes are not part of the v1 OpenAPI document: their schema is the protocol's own
//! (served at `/Schemas`). The v1 routes of the organization's SCIM tokens are in `tokens`.

mod discovery;
pub mod tokens;

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, extract::Query};
use portcullis_console::request_meta;
use portcullis_service::scim::{
    ENTERPRISE_SCHEMA, ERROR_SCHEMA, GROUP_SCHEMA, ScimList, ScimListQuery, ScimResource,
    USER_SCHEMA,
};
use portcullis_service::{Caller, ServiceError};
use serde_json::{Value, json};

use crate::AppState;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

pub fn router() -> Router<AppState> {
    let org = Router::new()
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config),
        )
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{id}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema))
        .route("/.search", axum::routing::post(search_everything))
        .route("/Users/.search", axum::routing::post(search_users))
        .route("/Groups/.search", axum::routing::post(search_groups))
        .route("/Users", get(list_users).post(create_user))
        .route(
            "/Users/{id}",
            get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route("/Groups", get(list_groups).post(create_group))
        .route(
            "/Groups/{id}",
            get(get_group)
                .put(replace_group)
                .patch(patch_group)
                .delete(delete_group),
        )
        .fallback(unknown_endpoint)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new().nest("/scim/v2/orgs/{org}", org)
}

/// A SCIM request's caller: the organization of the path and a SCIM token of it.
pub struct ScimCaller {
    pub caller: Caller,
    pub org: String,
}

impl FromRequestParts<AppState> for ScimCaller {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ScimError> {
        // A path that does not decode (not UTF-8) names no resource at all.
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ScimError(ServiceError::NotFound("SCIM resource")))?;
        let org = params
            .iter()
            .find(|(name, _)| *name == "org")
            .map(|(_, value)| value.to_owned())
            .ok_or(ScimError(ServiceError::Unauthenticated))?;
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_owned())
            .ok_or(ScimError(ServiceError::Unauthenticated))?;
        let caller = state
            .authenticate_scim(&token, &org, request_meta(parts))
            .await?;
        Ok(Self { caller, org })
    }
}

/// The resource id of a SCIM path; an undecodable path is a SCIM error, not axum's plain text.
pub struct ScimId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ScimId {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ScimError> {
        let axum::extract::Path((_, id)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|_| ScimError(ServiceError::NotFound("SCIM resource")))?;
        Ok(Self(id))
    }
}

/// The query parameters of a SCIM request; an undecodable query string is a SCIM error.
pub struct ScimQuery(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for ScimQuery {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ScimError> {
        let Query(params) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                ScimError::protocol(
                    StatusCode::BAD_REQUEST,
                    Some("invalidSyntax"),
                    "the query string is not valid URL-encoded text",
                )
            })?;
        Ok(Self(params))
    }
}

/// A SCIM request body: JSON sent as `application/scim+json` or `application/json`.
pub struct ScimBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for ScimBody {
    type Rejection = ScimError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ScimError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if content_type != SCIM_CONTENT_TYPE && content_type != "application/json" {
            return Err(ScimError::protocol(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                "expected `Content-Type: application/scim+json`",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|_| {
            ScimError::protocol(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                "the request body is too large",
            )
        })?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ScimError::protocol(
                StatusCode::BAD_REQUEST,
                Some("invalidSyntax"),
                format!("the body is not JSON: {e}"),
            )
        })?;
        Ok(Self(value))
    }
}

/// A SCIM error answer (RFC 7644 §3.12): the `Error` message with a string `status` and,
/// where one applies, a `scimType`.
#[derive(Debug)]
pub struct ScimError(pub ServiceError);

/// An error that never reached the service (a body that is not JSON, a wrong content type).
#[derive(Debug)]
struct Protocol {
    status: StatusCode,
    scim_type: Option<&'static str>,
    detail: String,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for Protocol {}

impl ScimError {
    fn protocol(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self(ServiceError::Internal(Box::new(Protocol {
            status,
            scim_type,
            detail: detail.into(),
        })))
    }
}

impl From<ServiceError> for ScimError {
    fn from(err: ServiceError) -> Self {
        Self(err)
    }
}

/// The status, `scimType` and detail a service error is answered with.
fn scim_status(err: &ServiceError) -> (StatusCode, Option<&'static str>, String) {
    use ServiceError as E;
    let detail = err.to_string();
    match err {
        E::Unauthenticated | E::InvalidCredentials => (
            StatusCode::UNAUTHORIZED,
            None,
            "a valid SCIM token of this organization is required".to_owned(),
        ),
        E::NotFound(_) => (StatusCode::NOT_FOUND, None, detail),
        E::Conflict(_) => (StatusCode::CONFLICT, Some("uniqueness"), detail),
        E::LastAdmin => (StatusCode::BAD_REQUEST, Some("mutability"), detail),
        E::Invalid { code, .. } => {
            let scim_type = match *code {
                "scim.invalid_filter" => "invalidFilter",
                "scim.invalid_syntax" => "invalidSyntax",
                "scim.invalid_path" => "invalidPath",
                "scim.no_target" => "noTarget",
                "scim.mutability" => "mutability",
                "scim.too_many" => "tooMany",
                _ => "invalidValue",
            };
            (StatusCode::BAD_REQUEST, Some(scim_type), detail)
        }
        E::State { code, .. } if *code == "scim.precondition_failed" => {
            (StatusCode::PRECONDITION_FAILED, None, detail)
        }
        E::State { .. } => (StatusCode::CONFLICT, None, detail),
        E::NotAllowed { code, .. } if *code == "scim.mutability" => {
            (StatusCode::BAD_REQUEST, Some("mutability"), detail)
        }
        E::NotAllowed { .. } | E::Forbidden(_) => (StatusCode::FORBIDDEN, None, detail),
        E::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, None, detail),
        E::StoreFull => (StatusCode::INSUFFICIENT_STORAGE, None, detail),
        E::Throttled { .. } | E::TooSoon { .. } => (StatusCode::TOO_MANY_REQUESTS, None, detail),
        E::Internal(inner) => match inner.downcast_ref::<Protocol>() {
            Some(p) => (p.status, p.scim_type, p.detail.clone()),
            None => {
                tracing::error!(error = %err, "SCIM request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    "internal error".to_owned(),
                )
            }
        },
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let (status, scim_type, detail) = scim_status(&self.0);
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": status.as_u16().to_string(),
            "detail": detail,
        });
        if let Some(scim_type) = scim_type {
            body["scimType"] = json!(scim_type);
        }
        let mut response = scim_json(status, &body);
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim\""),
            );
        }
        response
    }
}

/// A method the endpoint does not offer: 405 in the protocol's error format.
async fn method_not_allowed() -> ScimError {
    ScimError::protocol(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        "this endpoint does not offer this method",
    )
}

async fn unknown_endpoint() -> ScimError {
    ScimError(ServiceError::NotFound("SCIM endpoint"))
}

pub(crate) fn scim_json(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(SCIM_CONTENT_TYPE),
        )],
        body.to_string(),
    )
        .into_response()
}

/// A resource answer with its `ETag` (and `Location` when created).
fn resource(status: StatusCode, resource: &ScimResource) -> Response {
    let mut response = scim_json(status, &resource.json);
    if let Ok(etag) = HeaderValue::from_str(&resource.etag()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    if status == StatusCode::CREATED
        && let Some(location) = resource.json["meta"]["location"].as_str()
        && let Ok(location) = HeaderValue::from_str(location)
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn if_match(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok())
}

/// The list parameters, by their names without regard to case.
fn list_query(params: &HashMap<String, String>) -> ScimListQuery {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    ScimListQuery {
        filter: get("filter"),
        start_index: get("startIndex"),
        count: get("count"),
        excluded_attributes: get("excludedAttributes"),
    }
}

/// `attributes` and `excludedAttributes` of a request (RFC 7644 §3.4.2.5), comma-separated.
#[derive(Debug, Default)]
struct Selection {
    attributes: Option<String>,
    excluded: Option<String>,
}

impl Selection {
    fn of(params: &HashMap<String, String>) -> Self {
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .filter(|v| !v.trim().is_empty())
        };
        Self {
            attributes: get("attributes"),
            excluded: get("excludedAttributes"),
        }
    }

    /// The top-level attribute a requested name selects: a schema-qualified name loses its
    /// schema (an extension's attribute selects the extension), a sub-attribute its parent.
    fn top_level(raw: &str) -> String {
        let raw = raw.trim();
        let lower = raw.to_ascii_lowercase();
        if lower.starts_with(&ENTERPRISE_SCHEMA.to_ascii_lowercase()) {
            return ENTERPRISE_SCHEMA.to_owned();
        }
        let bare = [USER_SCHEMA, GROUP_SCHEMA]
            .iter()
            .find_map(|schema| {
                lower
                    .starts_with(&format!("{}:", schema.to_ascii_lowercase()))
                    .then(|| &raw[schema.len() + 1..])
            })
            .unwrap_or(raw);
        bare.split('.').next().unwrap_or_default().to_owned()
    }

    fn names(raw: Option<&String>) -> Option<Vec<String>> {
        raw.map(|r| r.split(',').map(Self::top_level).collect())
    }

    /// Applies the selection to one answered resource: `id`, `schemas` and `meta` are always
    /// returned; names are compared without regard to case.
    fn apply(&self, resource: &mut Value) {
        const ALWAYS: [&str; 3] = ["id", "schemas", "meta"];
        let Some(object) = resource.as_object_mut() else {
            return;
        };
        let listed =
            |names: &[String], key: &str| names.iter().any(|n| n.eq_ignore_ascii_case(key));
        if let Some(keep) = Self::names(self.attributes.as_ref()) {
            object.retain(|key, _| ALWAYS.contains(&key.as_str()) || listed(&keep, key));
        } else if let Some(drop) = Self::names(self.excluded.as_ref()) {
            object.retain(|key, _| ALWAYS.contains(&key.as_str()) || !listed(&drop, key));
        }
    }

    fn apply_list(&self, list: &mut ScimList) {
        for resource in &mut list.resources {
            self.apply(resource);
        }
    }
}

/// A `POST .search` body (RFC 7644 §3.4.3) as the list's query and selection.
fn search_request(body: &Value) -> Result<(ScimListQuery, Selection), ScimError> {
    let object = body.as_object().ok_or_else(|| {
        ScimError::protocol(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            "a SearchRequest is a JSON object",
        )
    })?;
    let get = |name: &str| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let text = |name: &str| -> Result<Option<String>, ScimError> {
        match get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(ScimError::protocol(
                StatusCode::BAD_REQUEST,
                Some("invalidValue"),
                format!("`{name}` must be a string or a number"),
            )),
        }
    };
    let names = |name: &str| -> Result<Option<String>, ScimError> {
        match get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(|v| Some(v.join(",")).filter(|j| !j.is_empty()))
                .ok_or_else(|| {
                    ScimError::protocol(
                        StatusCode::BAD_REQUEST,
                        Some("invalidValue"),
                        format!("`{name}` must be an array of attribute names"),
                    )
                }),
            Some(Value::String(s)) => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
            Some(_) => Err(ScimError::protocol(
                StatusCode::BAD_REQUEST,
                Some("invalidValue"),
                format!("`{name}` must be an array of attribute names"),
            )),
        }
    };
    let selection = Selection {
        attributes: names("attributes")?,
        excluded: names("excludedAttributes")?,
    };
    let query = ScimListQuery {
        filter: text("filter")?,
        start_index: text("startIndex")?,
        count: text("count")?,
        excluded_attributes: selection.excluded.clone(),
    };
    Ok((query, selection))
}

/// `POST /.search` over every resource type at once is not offered (RFC 7644 §3.4.3 lets a
/// service provider answer 501); `POST /Users/.search` and `/Groups/.search` are.
async fn search_everything(_scim: ScimCaller) -> ScimError {
    ScimError::protocol(
        StatusCode::NOT_IMPLEMENTED,
        None,
        "searching several resource types at once is not supported: use /Users/.search or \
         /Groups/.search",
    )
}

async fn search_users(
    State(service): State<AppState>,
    scim: ScimCaller,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let (query, selection) = search_request(&body)?;
    let mut list = service
        .scim_list_users(&scim.caller, &scim.org, &query)
        .await?;
    selection.apply_list(&mut list);
    Ok(scim_json(StatusCode::OK, &list.to_json()))
}

async fn search_groups(
    State(service): State<AppState>,
    scim: ScimCaller,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let (query, selection) = search_request(&body)?;
    let mut list = service
        .scim_list_groups(&scim.caller, &scim.org, &query)
        .await?;
    selection.apply_list(&mut list);
    Ok(scim_json(StatusCode::OK, &list.to_json()))
}

type Params = ScimQuery;

async fn list_users(
    State(service): State<AppState>,
    scim: ScimCaller,
    ScimQuery(params): Params,
) -> Result<Response, ScimError> {
    let mut list = service
        .scim_list_users(&scim.caller, &scim.org, &list_query(&params))
        .await?;
    Selection::of(&params).apply_list(&mut list);
    Ok(scim_json(StatusCode::OK, &list.to_json()))
}

async fn create_user(
    State(service): State<AppState>,
    scim: ScimCaller,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let created = service
        .scim_create_user(&scim.caller, &scim.org, &body)
        .await?;
    Ok(resource(StatusCode::CREATED, &created.value))
}

async fn get_user(
    State(service): State<AppState>,
    scim: ScimCaller,
    ScimId(id): ScimId,
    ScimQuery(params): Params,
) -> Result<Response, ScimError> {
    let mut user = service.scim_get_user(&scim.caller, &scim.org, &id).await?;
    Selection::of(&params).apply(&mut user.json);
    Ok(resource(StatusCode::OK, &user))
}

async fn replace_user(
    State(service): State<AppState>,
    scim: ScimCaller,
    ScimId(id): ScimId,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let user = service
        .scim_replace_user(&scim.caller, &scim.org, &id, &body, if_match(&headers))
        .await?;
    Ok(resource(StatusCode::OK, &user.value))
}

async fn patch_user(
    State(service): State<AppState>,
    scim: ScimCaller,
    ScimId(id): ScimId,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let user = service
        .scim_patch_user(&scim.caller, &scim.org, &id, &body, if_match(&headers))
        .await?;
    Ok(resource(StatusCode::OK, &user.value))
}

async fn delete_user(
    State(service): State<AppState>,
    scim: ScimCaller,
    ScimId(id): ScimId,
    headers: HeaderMap,
) -> Result<StatusCode, ScimError> {
    service
        .scim_delete_user(&scim.caller, &scim.org, &id, if_match(&headers))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_groups(
    State(service): State<AppState>,
    scim: ScimCaller,
    ScimQuery(params): Params,
) -> Result<Response, ScimError> {
    let mut list = service
        .scim_list_groups(&scim.caller, &scim.org, &list_query(&params))
        .await?;
    Selection::of(&params).apply_list(&mut list);
    Ok(scim_json(StatusCode::OK, &list.to_json()))
}

async fn create_group(
    State(service): State<AppState>,
    scim: ScimCaller,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let created = service
        .scim_create_group(&scim.caller, &scim.org, &body)
        .await?;
    Ok(resource(StatusCode::CREATED, &created.value))
}

async fn get_group(
    State(service): State<AppState>,
    scim: ScimCaller,
    ScimId(id): ScimId,
    ScimQuery(params): Params,
) -> Result<Response, ScimError> {
    let excluded = list_query(&params).excluded_attributes;
    let mut group = service
        .scim_get_group(&scim.caller, &scim.org, &id, excluded.as_deref())
        .await?;
    Selection::of(&params).apply(&mut group.json);
    Ok(resource(StatusCode::OK, &group))
}

async fn replace_group(
    State(service): State<AppState>,
    scim: ScimCaller,
    ScimId(id): ScimId,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let group = service
        .scim_replace_group(&scim.caller, &scim.org, &id, &body, if_match(&headers))
        .await?;
    Ok(resource(StatusCode::OK, &group.value))
}

async fn patch_group(
    State(service): State<AppState>,
    scim: ScimCaller,
    ScimId(id): ScimId,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let group = service
        .scim_patch_group(&scim.caller, &scim.org, &id, &body, if_match(&headers))
        .await?;
    Ok(resource(StatusCode::OK, &group.value))
}

async fn delete_group(
    State(service): State<AppState>,
    scim: ScimCaller,
    ScimId(id): ScimId,
    headers: HeaderMap,
) -> Result<StatusCode, ScimError> {
    service
        .scim_delete_group(&scim.caller, &scim.org, &id, if_match(&headers))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
