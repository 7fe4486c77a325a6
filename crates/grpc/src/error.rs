//! Failures as gRPC statuses: the HTTP crate's one `ServiceError` → `ApiError` mapping (so the
//! problem codes are the HTTP API's), its HTTP status turned into a gRPC code, and the code in a
//! `google.rpc.ErrorInfo` detail. The conversion logs nothing (the HTTP mapping logs internal
//! errors where they are converted).

use std::collections::HashMap;
use std::time::Duration;

use axum::http::StatusCode;
use portcullis_http::ApiError;
use portcullis_service::ServiceError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::pb;

/// `ErrorInfo.domain` of every Portcullis error.
pub const DOMAIN: &str = "portcullis";

/// The gRPC code of an HTTP problem status (docs/grpc.md has the table).
fn code_of(error: &ApiError) -> Code {
    match error.status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => Code::InvalidArgument,
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::FORBIDDEN => Code::PermissionDenied,
        StatusCode::NOT_FOUND => Code::NotFound,
        StatusCode::CONFLICT if error.code == "conflict" => Code::AlreadyExists,
        StatusCode::CONFLICT => Code::FailedPrecondition,
        StatusCode::TOO_MANY_REQUESTS
        | StatusCode::PAYLOAD_TOO_LARGE
        | StatusCode::INSUFFICIENT_STORAGE => Code::ResourceExhausted,
        StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
        StatusCode::INTERNAL_SERVER_ERROR => Code::Internal,
        _ => Code::Unknown,
    }
}

/// A call's error status: the message is the problem's detail; an `ErrorInfo` carries the
/// problem code as `reason` and the field at fault and missing permission as metadata; a
/// temporary failure (503, 507: HTTP's `Retry-After: 1`) adds a `RetryInfo` of one second.
pub(crate) fn status(error: ApiError) -> Status {
    let code = code_of(&error);
    let mut metadata = HashMap::new();
    if let Some(field) = error.field {
        metadata.insert("field".to_owned(), field);
    }
    if let Some(permission) = error.permission {
        metadata.insert("permission".to_owned(), permission);
    }
    let mut details = ErrorDetails::with_error_info(error.code, DOMAIN, metadata);
    if matches!(
        error.status,
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::INSUFFICIENT_STORAGE
    ) {
        details.set_retry_info(Some(Duration::from_secs(1)));
    }
    Status::with_error_details(code, error.detail, details)
}

pub(crate) fn from_service(error: ServiceError) -> Status {
    status(ApiError::from(error))
}

/// The same failure inside a batch answer.
pub(crate) fn problem(error: ServiceError) -> pb::Problem {
    let error = ApiError::from(error);
    pb::Problem {
        status: code_of(&error) as i32,
        code: error.code.to_owned(),
        message: error.detail,
        field: error.field,
        permission: error.permission,
    }
}
