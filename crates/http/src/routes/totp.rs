//! Two-factor (TOTP) enrolment, confirmation and removal, the second login step, and an
//! organization's two-factor requirement.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use portcullis_service::totp::TotpAuthority;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::LoginResponse;
use crate::AppState;
use crate::error::{ApiError, Problem, login_error_response};
use crate::extract::{ApiJson, Authenticated, MaybeAuthenticated, Meta, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status, enrol))
        .routes(routes!(verify))
        .routes(routes!(disable))
        .routes(routes!(second_factor))
        .routes(routes!(get_org_two_factor, put_org_two_factor))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotpStatus {
    pub enabled: bool,
    pub recovery_codes_left: i64,
}

/// Whether the caller has two-factor on.
#[utoipa::path(get, path = "/v1/users/me/totp", tag = "two-factor", security(("bearer" = [])),
    responses((status = 200, body = TotpStatus), (status = 401, body = Problem)))]
async fn status(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<TotpStatus>, ApiError> {
    let (enabled, recovery_codes_left) = service.totp_status(&caller).await?;
    Ok(Json(TotpStatus {
        enabled,
        recovery_codes_left,
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    /// The `enrolment_token` of a `two_factor_enrolment_required` login (instead of a session).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub enrolment_token: Option<SecretString>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolResponse {
    /// Base32 shared secret; shown once.
    pub secret: String,
    /// `otpauth://` URL for authenticator apps (QR code content).
    pub otpauth_url: String,
}

/// Starts TOTP enrolment (confirm with `POST /v1/users/me/totp/verify`).
#[utoipa::path(post, path = "/v1/users/me/totp", tag = "two-factor", security(("bearer" = [])),
    request_body = EnrolRequest, responses(
    (status = 201, body = EnrolResponse), (status = 401, body = Problem),
    (status = 409, body = Problem, description = "already enabled"),
    (status = 422, body = Problem, description = "bad enrolment token"),
))]
async fn enrol(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    ApiJson(body): ApiJson<EnrolRequest>,
) -> Result<(axum::http::StatusCode, Json<EnrolResponse>), ApiError> {
    let authority = match &body.enrolment_token {
        Some(token) => TotpAuthority::EnrolmentToken(&caller, token.expose_secret()),
        None => TotpAuthority::Caller(&caller),
    };
    let enrolment = service.enrol_totp(authority).await?.value;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(EnrolResponse {
            secret: enrolment.secret.expose_secret().to_owned(),
            otpauth_url: enrolment.otpauth_url.expose_secret().to_owned(),
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub code: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub enrolment_token: Option<SecretString>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Single-use codes for when the authenticator is lost; shown once.
    pub recovery_codes: Vec<String>,
}

/// Confirms enrolment with a current code; turns two-factor on and returns recovery codes.
#[utoipa::path(post, path = "/v1/users/me/totp/verify", tag = "two-factor",
    security(("bearer" = [])), request_body = VerifyRequest, responses(
    (status = 200, body = RecoveryCodes), (status = 401, body = Problem),
    (status = 409, body = Problem), (status = 422, body = Problem, description = "wrong code"),
))]
async fn verify(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let authority = match &body.enrolment_token {
        Some(token) => TotpAuthority::EnrolmentToken(&caller, token.expose_secret()),
        None => TotpAuthority::Caller(&caller),
    };
    let codes = service.confirm_totp(authority, &body.code).await?.value;
    Ok(Json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableRequest {
    /// A current code from the authenticator.
    pub code: String,
}

/// Turns two-factor off (needs a current code).
#[utoipa::path(post, path = "/v1/users/me/totp/disable", tag = "two-factor",
    security(("bearer" = [])), request_body = DisableRequest, responses(
    (status = 204), (status = 401, body = Problem),
    (status = 409, body = Problem, description = "not on, or required by an organization"),
    (status = 422, body = Problem, description = "wrong code"),
))]
async fn disable(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<DisableRequest>,
) -> Result<axum::http::StatusCode, ApiError> {
    service.disable_totp(&caller, &body.code).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecondFactorRequest {
    #[schema(value_type = String)]
    pub login_token: SecretString,
    /// A current TOTP code, or
    #[serde(default)]
    pub code: Option<String>,
    /// an unused recovery code.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub recovery_code: Option<SecretString>,
}

/// The second login step. Failures answer like a wrong password and count toward lockout.
#[utoipa::path(post, path = "/v1/login/second-factor", tag = "auth",
    request_body = SecondFactorRequest, responses(
    (status = 200, body = LoginResponse),
    (status = 401, body = Problem), (status = 429, body = Problem),
))]
async fn second_factor(
    State(service): State<AppState>,
    Meta(meta): Meta,
    ApiJson(body): ApiJson<SecondFactorRequest>,
) -> Result<Json<LoginResponse>, Response> {
    let recovery = body.recovery_code.as_ref().map(|r| r.expose_secret());
    match service
        .login_second_factor(
            meta,
            body.login_token.expose_secret(),
            body.code.as_deref(),
            recovery,
        )
        .await
    {
        Ok(outcome) => Ok(Json(outcome.into())),
        Err(err) => Err(login_error_response(err)),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwoFactorRequirement {
    /// Members must use two-factor; those without it enrol at their next login.
    pub required: bool,
}

/// Whether the organization requires two-factor (any member).
#[utoipa::path(get, path = "/v1/orgs/{org}/two-factor", tag = "two-factor",
    security(("bearer" = [])), params(("org" = String, Path)), responses(
    (status = 200, body = TwoFactorRequirement), (status = 401, body = Problem),
    (status = 404, body = Problem),
))]
async fn get_org_two_factor(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
) -> Result<Json<TwoFactorRequirement>, ApiError> {
    let required = service.org_requires_two_factor(&caller, &org).await?;
    Ok(Json(TwoFactorRequirement { required }))
}

/// Requires two-factor of the organization's members (`security.manage`).
#[utoipa::path(put, path = "/v1/orgs/{org}/two-factor", tag = "two-factor",
    security(("bearer" = [])), params(("org" = String, Path)),
    request_body = TwoFactorRequirement, responses(
    (status = 200, body = TwoFactorRequirement), (status = 401, body = Problem),
    (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn put_org_two_factor(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<TwoFactorRequirement>,
) -> Result<Json<TwoFactorRequirement>, ApiError> {
    let required = service
        .set_org_requires_two_factor(&caller, &org, body.required)
        .await?
        .value;
    Ok(Json(TwoFactorRequirement { required }))
}
