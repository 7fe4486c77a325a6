//! The caller's email address: whether it is verified, another verification link, changing
//! it; following a mailed link (no sign-in needed: the link is the proof); and the operator
//! marking an address verified.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portcullis_service::email_verification::EmailConfirmed;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::rfc3339;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, Authenticated, MaybeAuthenticated, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(email_status, request_change))
        .routes(routes!(resend_verification))
        .routes(routes!(confirm_email))
        .routes(routes!(verify_as_operator))
}

/// The caller's address and whether its owner proved it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailStatusDto {
    pub email: String,
    /// Whether the address is verified; an unverified one is matched to nothing
    /// (invitations, password reset).
    pub verified: bool,
    pub verified_at: Option<String>,
}

/// The caller's email address and its verification.
#[utoipa::path(get, path = "/v1/users/me/email", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = EmailStatusDto), (status = 401, body = Problem)))]
async fn email_status(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<EmailStatusDto>, ApiError> {
    let status = service.email_status(&caller).await?;
    Ok(Json(EmailStatusDto {
        email: status.email,
        verified: status.verified_at.is_some(),
        verified_at: status.verified_at.map(rfc3339),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChangeRequest {
    /// The new address; a confirmation link goes there, a notice to the current one.
    pub email: String,
}

/// Starts changing the caller's address (a login session only). Nothing changes until the
/// link sent to the new address is followed.
#[utoipa::path(post, path = "/v1/users/me/email", tag = "auth", security(("bearer" = [])),
    request_body = EmailChangeRequest, responses(
    (status = 202), (status = 401, body = Problem),
    (status = 403, body = Problem, description = "`credential.session_required`"),
    (status = 422, body = Problem, description = "`email.invalid`, `email.unchanged`"),
))]
async fn request_change(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<EmailChangeRequest>,
) -> Result<StatusCode, ApiError> {
    service.request_email_change(&caller, &body.email).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Sends a new verification link to the caller's address (earlier ones stop working); at most
/// one a minute.
#[utoipa::path(post, path = "/v1/users/me/email/verification", tag = "auth", security(("bearer" = [])),
    responses(
    (status = 202), (status = 401, body = Problem),
    (status = 409, body = Problem, description = "`email.already_verified`"),
    (status = 429, body = Problem, description = "`email.verification_throttled`"),
))]
async fn resend_verification(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<StatusCode, ApiError> {
    service.resend_verification(&caller).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailConfirmRequest {
    /// The token of a verification or email-change link.
    #[schema(value_type = String, format = Password)]
    pub token: SecretString,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailConfirmedDto {
    /// `verified` (the account's address is proven) or `changed` (the account moved to it).
    pub result: String,
    pub user: String,
    pub email: String,
}

/// Follows a verification or email-change link: single use, expiring.
#[utoipa::path(post, path = "/v1/email/confirm", tag = "auth", security((), ("bearer" = [])),
    request_body = EmailConfirmRequest, responses(
    (status = 200, body = EmailConfirmedDto),
    (status = 409, body = Problem, description = "`email.taken`: another account has the new address"),
    (status = 422, body = Problem, description = "`token.invalid`"),
))]
async fn confirm_email(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    ApiJson(body): ApiJson<EmailConfirmRequest>,
) -> Result<Json<EmailConfirmedDto>, ApiError> {
    let confirmed = service
        .confirm_email(&caller, body.token.expose_secret())
        .await?;
    let (result, user, email) = match confirmed {
        EmailConfirmed::Verified { user, email } => ("verified", user, email),
        EmailConfirmed::Changed { user, email } => ("changed", user, email),
    };
    Ok(Json(EmailConfirmedDto {
        result: result.to_owned(),
        user,
        email,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifiedByOperatorDto {
    pub user: String,
    /// False when the address already was verified.
    pub changed: bool,
}

/// Marks a user's current address verified (the platform operator only).
#[utoipa::path(post, path = "/v1/users/{user}/verify-email", tag = "auth", security(("bearer" = [])),
    params(("user" = String, Path)), responses(
    (status = 200, body = VerifiedByOperatorDto), (status = 401, body = Problem),
    (status = 403, body = Problem, description = "`platform.operator_only`"),
    (status = 404, body = Problem),
))]
async fn verify_as_operator(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(user): Path<String>,
) -> Result<Json<VerifiedByOperatorDto>, ApiError> {
    let changed = service.verify_email_as_operator(&caller, &user).await?;
    Ok(Json(VerifiedByOperatorDto { user, changed }))
}
