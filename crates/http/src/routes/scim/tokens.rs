//! An organization's SCIM tokens under the v1 API: create (shown once), list, rotate, revoke;
//! and the SCIM activity of the organization's log.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portcullis_service::scim::{CreatedScimToken, ScimTokenRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::rfc3339;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, Authenticated, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_scim_token, list_scim_tokens))
        .routes(routes!(rotate_scim_token))
        .routes(routes!(revoke_scim_token))
        .routes(routes!(scim_activity))
        .routes(routes!(get_scim_settings, set_scim_settings))
}

/// An organization's SCIM settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScimSettingsDto {
    /// The role a member provisioned through SCIM gets when none of its groups gives one.
    pub default_role: String,
    /// The groups that give a role, first match first.
    pub group_roles: Vec<ScimGroupRoleDto>,
    /// The SCIM base URL to give the identity provider.
    pub endpoint: String,
}

/// A group (a team of the organization, by id) and the organization role it gives the
/// members the organization provisioned.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScimGroupRoleDto {
    pub group: String,
    /// Any organization role but `admin`.
    pub role: String,
}

impl From<portcullis_service::scim::ScimSettings> for ScimSettingsDto {
    fn from(s: portcullis_service::scim::ScimSettings) -> Self {
        Self {
            default_role: s.default_role.as_str().to_owned(),
            group_roles: s
                .group_roles
                .into_iter()
                .map(|g| ScimGroupRoleDto {
                    group: g.group,
                    role: g.role.as_str().to_owned(),
                })
                .collect(),
            endpoint: s.endpoint,
        }
    }
}

/// The roles provisioned members get. A provisioned member holds the role of the first group
/// in `group_roles` it belongs to, else `default_role`; administrators and members the
/// organization did not provision keep their roles.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScimSettingsRequest {
    /// Any organization role but `admin`.
    pub default_role: String,
    /// At most 100; none when left out.
    #[serde(default)]
    pub group_roles: Vec<ScimGroupRoleDto>,
}

/// The organization's SCIM settings (`security.view`).
#[utoipa::path(get, path = "/v1/orgs/{org}/scim/settings", tag = "scim", security(("bearer" = [])),
    params(("org" = String, Path)), responses(
    (status = 200, body = ScimSettingsDto), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem),
))]
async fn get_scim_settings(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
) -> Result<Json<ScimSettingsDto>, ApiError> {
    Ok(Json(service.scim_settings(&caller, &org).await?.into()))
}

/// Sets the roles provisioned members get (`security.manage`); every provisioned member is
/// brought to its role at once.
#[utoipa::path(put, path = "/v1/orgs/{org}/scim/settings", tag = "scim", security(("bearer" = [])),
    params(("org" = String, Path)), request_body = ScimSettingsRequest, responses(
    (status = 200, body = ScimSettingsDto), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem), (status = 422, body = Problem),
))]
async fn set_scim_settings(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<ScimSettingsRequest>,
) -> Result<Json<ScimSettingsDto>, ApiError> {
    let group_roles: Vec<(String, String)> = body
        .group_roles
        .into_iter()
        .map(|g| (g.group, g.role))
        .collect();
    let settings = service
        .set_scim_settings(&caller, &org, &body.default_role, &group_roles)
        .await?;
    Ok(Json(settings.value.into()))
}

/// A SCIM token (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ScimTokenDto {
    pub id: String,
    pub description: String,
    pub created_at: String,
    /// The administrator who created it, while the account exists.
    pub created_by: Option<String>,
    pub last_used_at: Option<String>,
    /// When a rotated token stops working.
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<ScimTokenRecord> for ScimTokenDto {
    fn from(r: ScimTokenRecord) -> Self {
        Self {
            id: r.id,
            description: r.description,
            created_at: rfc3339(r.created_at),
            created_by: r.created_by,
            last_used_at: r.last_used_at.map(rfc3339),
            expires_at: r.expires_at.map(rfc3339),
            revoked_at: r.revoked_at.map(rfc3339),
        }
    }
}

/// A new SCIM token: the secret is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedScimTokenDto {
    pub token: String,
    pub scim_token: ScimTokenDto,
    /// The organization's SCIM base URL to give the identity provider.
    pub endpoint: String,
}

fn created(service: &AppState, org: &str, c: CreatedScimToken) -> CreatedScimTokenDto {
    CreatedScimTokenDto {
        token: c.token,
        scim_token: c.record.into(),
        endpoint: portcullis_service::scim::endpoint(&service.config().public_url, org),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScimTokenList {
    pub scim_tokens: Vec<ScimTokenDto>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateScimTokenRequest {
    #[serde(default)]
    pub description: String,
}

/// Creates a SCIM token for the organization (`security.manage`); shown once.
#[utoipa::path(post, path = "/v1/orgs/{org}/scim/tokens", tag = "scim", security(("bearer" = [])),
    params(("org" = String, Path)), request_body = CreateScimTokenRequest, responses(
    (status = 201, body = CreatedScimTokenDto), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem), (status = 422, body = Problem),
))]
async fn create_scim_token(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<CreateScimTokenRequest>,
) -> Result<(StatusCode, Json<CreatedScimTokenDto>), ApiError> {
    let token = service
        .create_scim_token(&caller, &org, &body.description)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(created(&service, &org, token.value)),
    ))
}

/// The organization's SCIM tokens, newest first (`security.view`).
#[utoipa::path(get, path = "/v1/orgs/{org}/scim/tokens", tag = "scim", security(("bearer" = [])),
    params(("org" = String, Path)), responses(
    (status = 200, body = ScimTokenList), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem),
))]
async fn list_scim_tokens(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
) -> Result<Json<ScimTokenList>, ApiError> {
    let tokens = service.list_scim_tokens(&caller, &org).await?;
    Ok(Json(ScimTokenList {
        scim_tokens: tokens.into_iter().map(ScimTokenDto::from).collect(),
    }))
}

/// Replaces a SCIM token with a new one (`security.manage`); the old one keeps working for
/// 24 hours.
#[utoipa::path(post, path = "/v1/orgs/{org}/scim/tokens/{token}/rotate", tag = "scim", security(("bearer" = [])),
    params(("org" = String, Path), ("token" = String, Path)), responses(
    (status = 201, body = CreatedScimTokenDto), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem), (status = 409, body = Problem),
))]
async fn rotate_scim_token(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, token)): Path<(String, String)>,
) -> Result<(StatusCode, Json<CreatedScimTokenDto>), ApiError> {
    let token = service.rotate_scim_token(&caller, &org, &token).await?;
    Ok((
        StatusCode::CREATED,
        Json(created(&service, &org, token.value)),
    ))
}

/// Revokes a SCIM token at once (`security.manage`).
#[utoipa::path(delete, path = "/v1/orgs/{org}/scim/tokens/{token}", tag = "scim", security(("bearer" = [])),
    params(("org" = String, Path), ("token" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem), (status = 409, body = Problem),
))]
async fn revoke_scim_token(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, token)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    service.revoke_scim_token(&caller, &org, &token).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ScimActivityQuery {
    /// At most this many entries (1–500, default 50).
    pub limit: Option<usize>,
}

/// One audit entry made with a SCIM token.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScimActivityDto {
    pub at: String,
    pub operation: String,
    pub success: bool,
    /// The SCIM token's public id is not recorded; this is its row id.
    pub credential: Option<i64>,
    #[schema(value_type = Object)]
    pub targets: serde_json::Value,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScimActivityList {
    pub entries: Vec<ScimActivityDto>,
}

/// The organization's latest SCIM activity, failures included (`audit.view`).
#[utoipa::path(get, path = "/v1/orgs/{org}/scim/activity", tag = "scim", security(("bearer" = [])),
    params(("org" = String, Path), ScimActivityQuery), responses(
    (status = 200, body = ScimActivityList), (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 404, body = Problem),
))]
async fn scim_activity(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
    ApiQuery(query): ApiQuery<ScimActivityQuery>,
) -> Result<Json<ScimActivityList>, ApiError> {
    let entries = service
        .scim_activity(&caller, &org, query.limit.unwrap_or(50))
        .await?;
    Ok(Json(ScimActivityList {
        entries: entries
            .into_iter()
            .map(|e| ScimActivityDto {
                at: rfc3339(e.at),
                operation: portcullis_service::audit::operation_name(e.operation)
                    .unwrap_or("unknown")
                    .to_owned(),
                success: e.success,
                credential: e.actor_credential,
                targets: serde_json::from_str(&e.targets).unwrap_or_default(),
                details: serde_json::from_str(&e.details).unwrap_or_default(),
            })
            .collect(),
    }))
}
