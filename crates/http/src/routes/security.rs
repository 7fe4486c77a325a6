//! Security settings: password policies (per organization and global), password validation,
//! the per-IP login throttle and unlocking a locked-out member.

use axum::Json;
use axum::extract::State;
use portcullis_core::password_policy::{PasswordPolicy, Violation};
use portcullis_service::lockout::ThrottleSettings;
use portcullis_service::policy::PolicyView;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, Authenticated, MaybeAuthenticated, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_org_policy, put_org_policy))
        .routes(routes!(get_global_policy, put_global_policy))
        .routes(routes!(validate_password))
        .routes(routes!(get_throttle, put_throttle))
        .routes(routes!(unlock_member))
}

/// Declares the policy DTO and the `PUT` request from one field list.
macro_rules! policy_dtos {
    ($($field:ident: $ty:ty),* $(,)?) => {
        /// A password policy (docs/contract.md §7).
        #[derive(Debug, Serialize, ToSchema)]
        pub struct PasswordPolicyDto { $(pub $field: $ty,)* }

        impl From<PasswordPolicy> for PasswordPolicyDto {
            fn from(p: PasswordPolicy) -> Self {
                Self { $($field: p.$field,)* }
            }
        }

        /// Replaces a policy: start from `preset` (`nist` or `legacy`; default: the built-in
        /// default) and override any field given.
        #[derive(Debug, Deserialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct PutPasswordPolicyRequest {
            #[serde(default)]
            pub preset: Option<String>,
            $(#[serde(default)] pub $field: Option<$ty>,)*
        }

        impl PutPasswordPolicyRequest {
            pub(super) fn apply(&self, mut policy: PasswordPolicy) -> PasswordPolicy {
                $(if let Some(value) = self.$field { policy.$field = value; })*
                policy
            }
        }
    };
}

policy_dtos! {
    minimum_length: u32,
    maximum_length: u32,
    upper_case_needed: bool,
    lower_case_needed: bool,
    numeric_needed: bool,
    non_alphanumeric_needed: bool,
    password_life_span_days: u32,
    password_reuse_epoch: u32,
    exclude_names: bool,
    exclude_email: bool,
    no_confusing_letters: bool,
    no_simple_passwords: bool,
    no_common_vocabs: bool,
    no_overlap_with_old: bool,
    max_failed_attempts: u32,
    lockout_minutes: u32,
}

/// A policy field and why it matters.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldMessage {
    pub field: String,
    pub message: String,
}

impl From<Violation> for FieldMessage {
    fn from(v: Violation) -> Self {
        Self {
            field: v.field.to_owned(),
            message: v.message,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordPolicyResponse {
    /// The policy set at this scope (an organization without its own shows the global one).
    pub policy: PasswordPolicyDto,
    /// The organization has no policy of its own and follows the global one.
    pub inherited: bool,
    /// What members are held to here: this policy combined with the global one.
    pub effective: PasswordPolicyDto,
    /// Settings that contradict NIST SP 800-63B (accepted nevertheless).
    pub warnings: Vec<FieldMessage>,
}

impl From<PolicyView> for PasswordPolicyResponse {
    fn from(view: PolicyView) -> Self {
        Self {
            policy: view.policy.into(),
            inherited: view.inherited,
            effective: view.effective.into(),
            warnings: view.warnings.into_iter().map(Into::into).collect(),
        }
    }
}

/// The password policy that applies in an organization (any member).
#[utoipa::path(get, path = "/v1/orgs/{org}/password-policy", tag = "security",
    security(("bearer" = [])), params(("org" = String, Path)), responses(
    (status = 200, body = PasswordPolicyResponse),
    (status = 401, body = Problem), (status = 404, body = Problem),
))]
async fn get_org_policy(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
) -> Result<Json<PasswordPolicyResponse>, ApiError> {
    Ok(Json(
        service.org_password_policy(&caller, &org).await?.into(),
    ))
}

/// Replaces an organization's password policy (`security.manage`).
#[utoipa::path(put, path = "/v1/orgs/{org}/password-policy", tag = "security",
    security(("bearer" = [])), params(("org" = String, Path)),
    request_body = PutPasswordPolicyRequest, responses(
    (status = 200, body = PasswordPolicyResponse),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
    (status = 422, body = Problem, description = "invalid policy values or unknown preset"),
))]
async fn put_org_policy(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<PutPasswordPolicyRequest>,
) -> Result<Json<PasswordPolicyResponse>, ApiError> {
    let view = service
        .set_org_password_policy(&caller, &org, body.preset.as_deref(), |base| {
            body.apply(base)
        })
        .await?;
    Ok(Json(view.value.into()))
}

/// The global password policy (anyone: signup is held to it).
#[utoipa::path(get, path = "/v1/password-policy", tag = "security", responses(
    (status = 200, body = PasswordPolicyResponse),
))]
async fn get_global_policy(
    State(service): State<AppState>,
) -> Result<Json<PasswordPolicyResponse>, ApiError> {
    Ok(Json(service.global_password_policy().await?.into()))
}

/// Replaces the global password policy (the platform operator only).
#[utoipa::path(put, path = "/v1/password-policy", tag = "security", security(("bearer" = [])),
    request_body = PutPasswordPolicyRequest, responses(
    (status = 200, body = PasswordPolicyResponse),
    (status = 401, body = Problem), (status = 403, body = Problem),
    (status = 422, body = Problem),
))]
async fn put_global_policy(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<PutPasswordPolicyRequest>,
) -> Result<Json<PasswordPolicyResponse>, ApiError> {
    let view = service
        .set_global_password_policy(&caller, body.preset.as_deref(), |base| body.apply(base))
        .await?;
    Ok(Json(view.value.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidatePasswordRequest {
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    /// Check against this organization's policy (combined with the global one).
    #[serde(default)]
    pub org: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ValidatePasswordResponse {
    pub valid: bool,
    /// Every broken rule, by policy field name.
    pub violations: Vec<FieldMessage>,
}

/// Checks a password against the policy that would apply: with `org`, that organization's
/// combined with the global one; signed in, the caller's effective policy; else the global.
#[utoipa::path(post, path = "/v1/validate-password", tag = "security", security((), ("bearer" = [])),
    request_body = ValidatePasswordRequest, responses(
    (status = 200, body = ValidatePasswordResponse),
    (status = 404, body = Problem, description = "unknown organization"),
))]
async fn validate_password(
    State(service): State<AppState>,
    MaybeAuthenticated(caller): MaybeAuthenticated,
    ApiJson(body): ApiJson<ValidatePasswordRequest>,
) -> Result<Json<ValidatePasswordResponse>, ApiError> {
    let password = body.password.expose_secret();
    if password.len() > portcullis_service::password_hashing::MAX_PASSWORD_BYTES {
        return Ok(Json(ValidatePasswordResponse {
            valid: false,
            violations: vec![FieldMessage {
                field: "maximum_length".to_owned(),
                message: format!(
                    "must be at most {} bytes",
                    portcullis_service::password_hashing::MAX_PASSWORD_BYTES
                ),
            }],
        }));
    }
    let violations = service
        .validate_password(&caller, password, body.org.as_deref())
        .await?;
    Ok(Json(ValidatePasswordResponse {
        valid: violations.is_empty(),
        violations: violations.into_iter().map(Into::into).collect(),
    }))
}

/// Failed logins allowed per source IP and window (`max_failures` 0: off).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThrottleDto {
    pub max_failures: u32,
    pub window_seconds: u32,
}

/// The per-IP login throttle.
#[utoipa::path(get, path = "/v1/login-throttle", tag = "security", security(("bearer" = [])),
    responses((status = 200, body = ThrottleDto), (status = 401, body = Problem)))]
async fn get_throttle(
    State(service): State<AppState>,
    Authenticated(_caller): Authenticated,
) -> Result<Json<ThrottleDto>, ApiError> {
    let t = service.throttle_settings().await?;
    Ok(Json(ThrottleDto {
        max_failures: t.max_failures,
        window_seconds: t.window_seconds,
    }))
}

/// Changes the per-IP login throttle (the platform operator only).
#[utoipa::path(put, path = "/v1/login-throttle", tag = "security", security(("bearer" = [])),
    request_body = ThrottleDto, responses(
    (status = 200, body = ThrottleDto), (status = 401, body = Problem),
    (status = 403, body = Problem), (status = 422, body = Problem),
))]
async fn put_throttle(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<ThrottleDto>,
) -> Result<Json<ThrottleDto>, ApiError> {
    let settings = ThrottleSettings {
        max_failures: body.max_failures,
        window_seconds: body.window_seconds,
    };
    let t = service
        .set_throttle_settings(&caller, settings)
        .await?
        .value;
    Ok(Json(ThrottleDto {
        max_failures: t.max_failures,
        window_seconds: t.window_seconds,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnlockResponse {
    /// Whether the account was locked before.
    pub was_locked: bool,
}

/// Lifts a member's lockout (`members.manage`).
#[utoipa::path(post, path = "/v1/orgs/{org}/members/{user}/unlock", tag = "security",
    security(("bearer" = [])), params(("org" = String, Path), ("user" = String, Path)),
    responses(
    (status = 200, body = UnlockResponse),
    (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
))]
async fn unlock_member(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((org, user)): Path<(String, String)>,
) -> Result<Json<UnlockResponse>, ApiError> {
    let was_locked = service.unlock_member(&caller, &org, &user).await?.value;
    Ok(Json(UnlockResponse { was_locked }))
}
