//! Personal access tokens: create (shown once), list, revoke.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portcullis_service::keys::KeyInput;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{KeyDto, parse_rfc3339};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, Authenticated, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    #[serde(default)]
    pub description: String,
    /// Permission ids, or `all`.
    pub scopes: Vec<String>,
    /// RFC 3339; omitted = no expiry.
    pub expires_at: Option<String>,
    /// Bind the token to one organization.
    pub org: Option<String>,
    /// A platform service key (operator only).
    #[serde(default)]
    pub service: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    pub id: String,
    /// The secret, shown only in this response.
    pub token: String,
    pub key: KeyDto,
}

/// Creates a personal access token (from a login session only).
#[utoipa::path(post, path = "/v1/users/me/keys", tag = "keys", security(("bearer" = [])), request_body = CreateKeyRequest, responses(
    (status = 201, body = CreatedKey), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem, description = "the organization the token is bound to does not exist"),
    (status = 422, body = Problem),
))]
async fn create_key(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<CreateKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let expires_at = match &body.expires_at {
        Some(raw) => Some(parse_rfc3339(raw).ok_or_else(|| {
            ApiError::invalid(
                "field.invalid",
                "expires_at",
                "`expires_at` must be an RFC 3339 time",
            )
        })?),
        None => None,
    };
    let input = KeyInput {
        description: body.description,
        scopes: body.scopes,
        expires_at,
        org: body.org,
        service: body.service,
    };
    let created = service.create_key(&caller, input).await?.value;
    let id = created.record.public_id.clone();
    // The org the token is bound to, which the service may have chosen (an SSO session's).
    let org = created
        .record
        .org
        .and_then(|o| service.with_index(|i| i.org(o).map(|e| e.id.to_string())));
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            id,
            token: created.token.expose_secret().to_owned(),
            key: KeyDto::new(created.record, org),
        }),
    ))
}

/// The caller's live tokens (never their secrets).
#[utoipa::path(get, path = "/v1/users/me/keys", tag = "keys", security(("bearer" = [])), responses(
    (status = 200, body = Vec<KeyDto>), (status = 401, body = Problem),
))]
async fn list_keys(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<KeyDto>>, ApiError> {
    let keys = service.list_keys(&caller).await?;
    let dtos = keys
        .into_iter()
        .map(|k| {
            let org = k
                .org
                .and_then(|o| service.with_index(|i| i.org(o).map(|e| e.id.to_string())));
            KeyDto::new(k, org)
        })
        .collect();
    Ok(Json(dtos))
}

/// Revokes one of the caller's tokens.
#[utoipa::path(delete, path = "/v1/users/me/keys/{id}", tag = "keys", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem), (status = 404, body = Problem),
))]
async fn revoke_key(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service.revoke_key(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
