//! Signup, login, logout and the caller's own account.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_service::authentication::{LoginOutcome, SignupInput};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{OrgDto, UserDto, rfc3339};
use crate::error::{ApiError, Problem, login_error_response};
use crate::extract::{ApiJson, Authenticated, MaybeAuthenticated, Meta};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(my_orgs))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    pub id: String,
    pub email: String,
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
}

/// Creates a user account (when signup is enabled).
#[utoipa::path(post, path = "/v1/signup", tag = "auth", security((), ("bearer" = [])), request_body = SignupRequest, responses(
    (status = 201, body = UserDto),
    (status = 403, body = Problem, description = "signup disabled"),
    (status = 409, body = Problem, description = "id or email taken"),
    (status = 422, body = Problem, description = "invalid input"),
))]
async fn signup(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    ApiJson(body): ApiJson<SignupRequest>,
) -> Result<(StatusCode, Json<UserDto>), ApiError> {
    let input = SignupInput {
        id: body.id,
        email: body.email,
        password: body.password,
        first_name: body.first_name,
        last_name: body.last_name,
    };
    let user = service.signup(&caller, input).await?;
    Ok((StatusCode::CREATED, Json(user.value.into())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    #[serde(default)]
    pub remember_me: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// `authenticated` (a session was issued), `password_change_required` (only
    /// `POST /v1/users/me/password` with `change_token` is allowed) or
    /// `second_factor_required` (complete with `POST /v1/login/second-factor`) or
    /// `two_factor_enrolment_required` (an organization requires two-factor: enrol first).
    pub state: String,
    /// Send as `Authorization: Bearer <session_token>`. Shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// For `password_change_required`: single-use, short-lived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_token: Option<String>,
    /// For `second_factor_required`: single-use, short-lived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_token: Option<String>,
    /// For `two_factor_enrolment_required`: allows only enrolling a second factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrolment_token: Option<String>,
    /// The policy fields the current password breaks (or `password_life_span_days`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    pub expires_at: String,
    pub user: UserDto,
}

impl From<LoginOutcome> for LoginResponse {
    fn from(outcome: LoginOutcome) -> Self {
        use secrecy::ExposeSecret;
        let blank = |state: &str, expires_at, user: portcullis_service::store::UserRecord| Self {
            state: state.to_owned(),
            session_token: None,
            change_token: None,
            login_token: None,
            enrolment_token: None,
            reasons: Vec::new(),
            expires_at: rfc3339(expires_at),
            user: user.into(),
        };
        match outcome {
            LoginOutcome::Session(session) => Self {
                session_token: Some(session.token.expose_secret().to_owned()),
                ..blank("authenticated", session.expires_at, session.user)
            },
            LoginOutcome::PasswordChangeRequired {
                change_token,
                expires_at,
                user,
                reasons,
            } => Self {
                change_token: Some(change_token.expose_secret().to_owned()),
                reasons: reasons.into_iter().map(str::to_owned).collect(),
                ..blank("password_change_required", expires_at, user)
            },
            LoginOutcome::SecondFactorRequired {
                login_token,
                expires_at,
                user,
            } => Self {
                login_token: Some(login_token.expose_secret().to_owned()),
                ..blank("second_factor_required", expires_at, user)
            },
            LoginOutcome::TwoFactorEnrolmentRequired {
                enrolment_token,
                expires_at,
                user,
            } => Self {
                enrolment_token: Some(enrolment_token.expose_secret().to_owned()),
                ..blank("two_factor_enrolment_required", expires_at, user)
            },
        }
    }
}

/// Password login. The answer for an unknown email, a wrong password and a locked account
/// is the same; too many failures from one source answer 429 with `Retry-After`.
#[utoipa::path(post, path = "/v1/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = LoginResponse),
    (status = 401, body = Problem, description = "invalid email or password"),
    (status = 429, body = Problem, description = "too many failed attempts from this source",
     headers(("Retry-After" = u64, description = "seconds to wait"))),
))]
async fn login(
    State(service): State<AppState>,
    Meta(meta): Meta,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, Response> {
    match service
        .login(meta, &body.email, body.password, body.remember_me)
        .await
    {
        Ok(outcome) => Ok(Json(outcome.into())),
        Err(err) => Err(login_error_response(err)),
    }
}

/// Revokes the presented session or token.
#[utoipa::path(post, path = "/v1/logout", tag = "auth", security(("bearer" = [])), responses(
    (status = 204), (status = 401, body = Problem),
))]
async fn logout(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<StatusCode, ApiError> {
    service.logout(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's own account.
#[utoipa::path(get, path = "/v1/users/me", tag = "auth", security(("bearer" = [])), responses(
    (status = 200, body = UserDto), (status = 401, body = Problem),
))]
async fn me(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<UserDto>, ApiError> {
    Ok(Json(service.me(&caller).await?.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyOrgDto {
    #[serde(flatten)]
    pub org: OrgDto,
    /// The caller's role in it.
    pub role: String,
}

/// The organizations the caller belongs to, with its role in each.
#[utoipa::path(get, path = "/v1/users/me/orgs", tag = "auth", security(("bearer" = [])), responses(
    (status = 200, body = Vec<MyOrgDto>), (status = 401, body = Problem),
))]
async fn my_orgs(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<MyOrgDto>>, ApiError> {
    let orgs = service.my_orgs(&caller).await?;
    Ok(Json(
        orgs.into_iter()
            .map(|(org, role)| MyOrgDto {
                org: org.into(),
                role: role.as_str().to_owned(),
            })
            .collect(),
    ))
}
