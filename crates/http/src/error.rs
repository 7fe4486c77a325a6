//! The single mapping from failures to RFC 9457 `application/problem+json` responses with a
//! stable machine `code`. Internal errors are logged with detail and answered generically.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_service::ServiceError;
use serde::Serialize;
use utoipa::ToSchema;

/// An error response body (RFC 9457).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type: `/problems/{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `member.last_admin`.
    pub code: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The permission the caller lacks, for `permission.denied`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub field: Option<String>,
    pub permission: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            field: None,
            permission: None,
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// A request field that fails a check the service does not make (a time's format, a
    /// parameter pair): `422` with `code` and the field named.
    pub fn invalid(code: &'static str, field: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail).with_field(field)
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Places the field at fault inside a containing one: `subject` within `checks[3]`
    /// becomes `checks[3].subject`.
    pub fn within(mut self, parent: &str) -> Self {
        self.field = Some(match self.field.take() {
            Some(field) => format!("{parent}.{field}"),
            None => parent.to_owned(),
        });
        self
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        use ServiceError as E;
        match err {
            E::Unauthenticated => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "auth.required",
                "a valid credential is required",
            ),
            E::InvalidCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "auth.invalid_credentials",
                "invalid email or password",
            ),
            E::Forbidden(permission) => ApiError {
                permission: Some(permission.as_str().to_owned()),
                ..ApiError::new(
                    StatusCode::FORBIDDEN,
                    "permission.denied",
                    format!("missing permission `{permission}`"),
                )
            },
            E::NotAllowed { code, message } => ApiError::new(StatusCode::FORBIDDEN, code, message),
            E::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            E::Conflict(what) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} already exists"),
            ),
            E::LastAdmin => ApiError::new(
                StatusCode::CONFLICT,
                "member.last_admin",
                "the last administrator of an organization cannot be removed, demoted or leave",
            ),
            E::Invalid {
                code,
                field,
                message,
            } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).with_field(field),
            E::State { code, message } => ApiError::new(StatusCode::CONFLICT, code, message),
            E::Unavailable { code, message } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
            }
            E::StoreFull => ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "store.full",
                "the store is out of space; nothing was written",
            ),
            E::Throttled { retry_after_secs } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "auth.throttled",
                format!("too many failed attempts; retry in {retry_after_secs} s"),
            ),
            E::TooSoon {
                code,
                retry_after_secs,
            } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                code,
                format!("asked too soon; retry in {retry_after_secs} s"),
            ),
            E::Internal(source) => {
                tracing::error!(error = %source, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal server error",
                )
            }
        }
    }
}

/// The problem response of a login step, with `Retry-After` when the failure is throttling.
pub fn login_error_response(err: ServiceError) -> Response {
    let retry_after = match &err {
        ServiceError::Throttled { retry_after_secs } => Some(*retry_after_secs),
        _ => None,
    };
    let mut response = ApiError::from(err).into_response();
    if let Some(secs) = retry_after
        && let Ok(value) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

impl ApiError {
    pub fn into_problem(self) -> Problem {
        Problem {
            kind: format!("/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_owned(),
            field: self.field,
            permission: self.permission,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let body = self.into_problem();
        let mut response = (status, axum::Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        // Temporary conditions: the same request may succeed shortly.
        if matches!(
            status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::INSUFFICIENT_STORAGE
        ) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

pub async fn not_found_fallback() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "route.not_found", "no such route")
}

/// A known route called with a method it does not serve (axum still adds the `Allow` header).
pub async fn method_not_allowed_fallback() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "route.method_not_allowed",
        "the route does not accept this method",
    )
}
