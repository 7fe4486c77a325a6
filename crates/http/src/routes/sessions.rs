//! The caller's login sessions, and the operator's suspension of users.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portcullis_service::session_revocation::SessionInfo;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::rfc3339;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, Authenticated, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(suspend_user))
        .routes(routes!(unsuspend_user))
        .routes(routes!(get_session_settings, put_session_settings))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDto {
    pub id: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    /// The session this request was made with.
    pub current: bool,
}

impl From<SessionInfo> for SessionDto {
    fn from(s: SessionInfo) -> Self {
        Self {
            id: s.record.public_id,
            created_at: rfc3339(s.record.created_at),
            expires_at: s.record.expires_at.map(rfc3339),
            last_used_at: s.record.last_used_at.map(rfc3339),
            current: s.current,
        }
    }
}

/// The caller's live login sessions, newest first.
#[utoipa::path(get, path = "/v1/users/me/sessions", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Vec<SessionDto>), (status = 401, body = Problem)))]
async fn list_sessions(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<SessionDto>>, ApiError> {
    let sessions = service.my_sessions(&caller).await?;
    Ok(Json(sessions.into_iter().map(Into::into).collect()))
}

/// Ends one of the caller's sessions.
#[utoipa::path(delete, path = "/v1/users/me/sessions/{id}", tag = "auth",
    security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 204), (status = 401, body = Problem), (status = 404, body = Problem),
))]
async fn revoke_session(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service.revoke_my_session(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuspensionResponse {
    pub user: String,
    pub state: String,
    /// Sessions and tokens ended by the suspension.
    pub credentials_revoked: usize,
}

/// Suspends a user: every session and token stops working at once (the platform operator).
#[utoipa::path(post, path = "/v1/users/{user}/suspend", tag = "auth", security(("bearer" = [])),
    params(("user" = String, Path)), responses(
    (status = 200, body = SuspensionResponse), (status = 401, body = Problem),
    (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 409, body = Problem, description = "the user is an organization's last administrator"),
))]
async fn suspend_user(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(user): Path<String>,
) -> Result<Json<SuspensionResponse>, ApiError> {
    let revoked = service.suspend_user(&caller, &user).await?.value;
    Ok(Json(SuspensionResponse {
        user,
        state: "suspended".to_owned(),
        credentials_revoked: revoked,
    }))
}

/// Lifts a suspension (the platform operator); the user signs in again.
#[utoipa::path(post, path = "/v1/users/{user}/unsuspend", tag = "auth", security(("bearer" = [])),
    params(("user" = String, Path)), responses(
    (status = 200, body = SuspensionResponse), (status = 401, body = Problem),
    (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn unsuspend_user(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(user): Path<String>,
) -> Result<Json<SuspensionResponse>, ApiError> {
    service.unsuspend_user(&caller, &user).await?;
    Ok(Json(SuspensionResponse {
        user,
        state: "active".to_owned(),
        credentials_revoked: 0,
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    /// A session unused this long stops working (0: no idle timeout).
    pub idle_minutes: u32,
}

/// Instance-wide session settings.
#[utoipa::path(get, path = "/v1/session-settings", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = SessionSettings), (status = 401, body = Problem)))]
async fn get_session_settings(
    State(service): State<AppState>,
    Authenticated(_caller): Authenticated,
) -> Json<SessionSettings> {
    Json(SessionSettings {
        idle_minutes: service.session_idle_minutes(),
    })
}

/// Changes the session idle timeout (the platform operator only).
#[utoipa::path(put, path = "/v1/session-settings", tag = "auth", security(("bearer" = [])),
    request_body = SessionSettings, responses(
    (status = 200, body = SessionSettings), (status = 401, body = Problem),
    (status = 403, body = Problem), (status = 422, body = Problem),
))]
async fn put_session_settings(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<SessionSettings>,
) -> Result<Json<SessionSettings>, ApiError> {
    let idle_minutes = service
        .set_session_idle_minutes(&caller, body.idle_minutes)
        .await?
        .value;
    Ok(Json(SessionSettings { idle_minutes }))
}
