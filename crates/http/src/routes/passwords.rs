//! Password change (with the current password, or the change token of a forced change),
//! reset by a single-use link delivered through the outbox, and the outbox itself.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portcullis_service::password_change::{ChangeAuthority, DEFAULT_OUTBOX_LIMIT};
use portcullis_service::store::OutboxMessage;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::rfc3339;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, Authenticated, MaybeAuthenticated};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(change_password))
        .routes(routes!(request_reset))
        .routes(routes!(confirm_reset))
        .routes(routes!(outbox))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[schema(value_type = String, format = Password)]
    pub current_password: SecretString,
    #[schema(value_type = String, format = Password)]
    pub new_password: SecretString,
    /// The `change_token` of a `password_change_required` login (then no session is needed).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub change_token: Option<SecretString>,
}

/// Changes the caller's password; the user's other sessions are revoked.
#[utoipa::path(post, path = "/v1/users/me/password", tag = "auth", security(("bearer" = [])),
    request_body = ChangePasswordRequest, responses(
    (status = 204),
    (status = 401, body = Problem),
    (status = 422, body = Problem, description = "wrong current password, policy violation or bad token"),
))]
async fn change_password(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    use secrecy::ExposeSecret;
    let authority = match &body.change_token {
        Some(token) => ChangeAuthority::ChangeToken(&caller, token.expose_secret()),
        None => ChangeAuthority::Caller(&caller),
    };
    service
        .change_password(authority, body.current_password, body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub email: String,
}

/// Starts a password reset. Always 202: the answer does not reveal whether the account exists.
#[utoipa::path(post, path = "/v1/password-reset", tag = "auth", security((), ("bearer" = [])), request_body = ResetRequest,
    responses((status = 202)))]
async fn request_reset(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    ApiJson(body): ApiJson<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    service.request_password_reset(&caller, &body.email).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmRequest {
    #[schema(value_type = String, format = Password)]
    pub token: SecretString,
    #[schema(value_type = String, format = Password)]
    pub new_password: SecretString,
}

/// Completes a reset with the single-use token; every session of the user ends.
#[utoipa::path(post, path = "/v1/password-reset/confirm", tag = "auth", security((), ("bearer" = [])),
    request_body = ResetConfirmRequest, responses(
    (status = 204),
    (status = 422, body = Problem, description = "bad token or policy violation"),
))]
async fn confirm_reset(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    ApiJson(body): ApiJson<ResetConfirmRequest>,
) -> Result<StatusCode, ApiError> {
    use secrecy::ExposeSecret;
    service
        .confirm_password_reset(&caller, body.token.expose_secret(), body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// At most this many messages, newest first (1–500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// One queued message as the API answers it and `portcullis outbox` prints it (one per line).
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxMessageDto {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub created_at: String,
    /// `pending` (waiting or retrying), `sent` or `failed` (gave up; see `last_error`).
    pub state: String,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// The error of the latest failed attempt.
    pub last_error: Option<String>,
    pub sent_at: Option<String>,
    pub failed_at: Option<String>,
}

impl From<OutboxMessage> for OutboxMessageDto {
    fn from(m: OutboxMessage) -> Self {
        Self {
            state: m.state().to_owned(),
            id: m.id,
            recipient: m.recipient,
            subject: m.subject,
            body: m.body,
            created_at: rfc3339(m.created_at),
            attempts: m.attempts,
            last_error: m.last_error,
            sent_at: m.sent_at.map(rfc3339),
            failed_at: m.failed_at.map(rfc3339),
        }
    }
}

/// The outbox, newest first, with each message's delivery state (the platform operator only).
#[utoipa::path(get, path = "/v1/outbox", tag = "auth", security(("bearer" = [])),
    params(OutboxQuery), responses(
    (status = 200, body = Vec<OutboxMessageDto>),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem),
))]
async fn outbox(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiQuery(query): ApiQuery<OutboxQuery>,
) -> Result<Json<Vec<OutboxMessageDto>>, ApiError> {
    let messages = service
        .outbox(&caller, query.limit.unwrap_or(DEFAULT_OUTBOX_LIMIT))
        .await?;
    Ok(Json(messages.into_iter().map(Into::into).collect()))
}
