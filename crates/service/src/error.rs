//! What a use case can answer besides success. Each variant maps to one HTTP status and one
//! stable problem code in the HTTP crate; internal errors carry no detail outward.

use portcullis_core::Permission;
use portcullis_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No credential, or one that is malformed, unknown, expired or revoked.
    #[error("authentication required")]
    Unauthenticated,
    /// Login failed. Deliberately the same for an unknown email and a wrong password.
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("missing permission `{0}`")]
    Forbidden(Permission),
    /// A refusal that is not a missing permission (e.g. a session-only operation with a key).
    #[error("{message}")]
    NotAllowed { code: &'static str, message: String },
    /// Does not exist, or the caller may not know that it exists.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("the last administrator of an organization cannot be removed, demoted or leave")]
    LastAdmin,
    /// Input that fails validation: the field and why.
    #[error("{message}")]
    Invalid {
        code: &'static str,
        field: &'static str,
        message: String,
    },
    /// A state conflict with its own code (invitation no longer pending, quota reached...).
    #[error("{message}")]
    State { code: &'static str, message: String },
    /// Temporarily unable to answer (e.g. the index is behind a requested revision).
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    /// The store's disk is full: the write was not committed (retry once space is freed).
    #[error("the store is out of space")]
    StoreFull,
    /// Too many failed logins from one source; retry after this many seconds.
    #[error("too many failed attempts; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    /// Asked again too soon (e.g. another verification mail); retry after this many seconds.
    #[error("asked too soon; retry in {retry_after_secs} s")]
    TooSoon {
        code: &'static str,
        retry_after_secs: u64,
    },
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ServiceError {
    pub fn invalid(code: &'static str, field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            field,
            message: message.into(),
        }
    }

    pub fn state(code: &'static str, message: impl Into<String>) -> Self {
        Self::State {
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(what) => ServiceError::Conflict(what),
            StoreError::NotFound(what) => ServiceError::NotFound(what),
            StoreError::LastAdmin => ServiceError::LastAdmin,
            StoreError::Full(_) => ServiceError::StoreFull,
            StoreError::Unavailable(_) => crate::health::unavailable(),
            StoreError::Busy(_) => ServiceError::Unavailable {
                code: "store.busy",
                message: "the store is busy; retry shortly".to_owned(),
            },
            other => ServiceError::Internal(Box::new(other)),
        }
    }
}
