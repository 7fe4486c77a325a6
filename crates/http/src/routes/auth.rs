//! Signup, login, logout and the caller's own account.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portcullis_service::sessions::SignupInput;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{OrgDto, UserDto, rfc3339};
use crate::error::{ApiError, Problem};
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
#[utoipa::path(post, path = "/v1/signup", tag = "auth", request_body = SignupRequest, responses(
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
    /// Send as `Authorization: Bearer <session_token>`. Shown once.
    pub session_token: String,
    pub expires_at: String,
    pub user: UserDto,
}

/// Password login. The answer for an unknown email and a wrong password is the same.
#[utoipa::path(post, path = "/v1/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = LoginResponse),
    (status = 401, body = Problem, description = "invalid email or password"),
))]
async fn login(
    State(service): State<AppState>,
    Meta(meta): Meta,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    use secrecy::ExposeSecret;
    let session = service
        .login(meta, &body.email, body.password, body.remember_me)
        .await?;
    Ok(Json(LoginResponse {
        session_token: session.token.expose_secret().to_owned(),
        expires_at: rfc3339(session.expires_at),
        user: session.user.into(),
    }))
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
