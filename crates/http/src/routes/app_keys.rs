//! App keys: credentials bound to one app with app-level scopes (shown once, revocable).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portcullis_service::app_keys::AppKeyInput;
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
        .routes(routes!(create_app_key, list_app_keys))
        .routes(routes!(revoke_app_key))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppKeyRequest {
    #[serde(default)]
    pub description: String,
    /// App-level permission ids, each held by the creator on the app.
    pub scopes: Vec<String>,
    /// RFC 3339; omitted = no expiry.
    pub expires_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedAppKey {
    pub id: String,
    /// The secret (`pcl_key_...`), shown only in this response.
    pub token: String,
    pub key: KeyDto,
}

/// Creates a key bound to this app (from a login session; scopes within the creator's own
/// permissions on the app).
#[utoipa::path(post, path = "/v1/accounts/{account}/apps/{app}/keys", tag = "keys", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path)), request_body = CreateAppKeyRequest, responses(
    (status = 201, body = CreatedAppKey), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem),
))]
async fn create_app_key(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((account, app)): Path<(String, String)>,
    ApiJson(body): ApiJson<CreateAppKeyRequest>,
) -> Result<(StatusCode, Json<CreatedAppKey>), ApiError> {
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
    let input = AppKeyInput {
        description: body.description,
        scopes: body.scopes,
        expires_at,
    };
    let created = service
        .create_app_key(&caller, &account, &app, input)
        .await?
        .value;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAppKey {
            id: created.record.public_id.clone(),
            token: created.token.expose_secret().to_owned(),
            key: KeyDto::new(created.record, None),
        }),
    ))
}

/// The app's live keys: the caller's own, or all of them for holders of
/// `collaborators.edit` on the app.
#[utoipa::path(get, path = "/v1/accounts/{account}/apps/{app}/keys", tag = "keys", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path)), responses(
    (status = 200, body = Vec<KeyDto>), (status = 401, body = Problem), (status = 404, body = Problem),
))]
async fn list_app_keys(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((account, app)): Path<(String, String)>,
) -> Result<Json<Vec<KeyDto>>, ApiError> {
    let keys = service.list_app_keys(&caller, &account, &app).await?;
    Ok(Json(
        keys.into_iter().map(|k| KeyDto::new(k, None)).collect(),
    ))
}

/// Revokes a key of the app (its creator, or a holder of `collaborators.edit`).
#[utoipa::path(delete, path = "/v1/accounts/{account}/apps/{app}/keys/{id}", tag = "keys", security(("bearer" = [])),
    params(("account" = String, Path), ("app" = String, Path), ("id" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem), (status = 404, body = Problem),
))]
async fn revoke_app_key(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((account, app, id)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    service.revoke_app_key(&caller, &account, &app, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
