//! One error type for the commands: a message for the operator, with its causes.

use std::error::Error as _;

use portcullis_service::ServiceError;
use portcullis_service::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A problem the operator can fix (bad flag value, unknown key, missing password...).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }

    /// Prints the error and its causes on stderr. Causes are store and I/O errors, which carry
    /// no secrets (statement logging is off and URLs are never part of them).
    pub fn report(&self) {
        eprintln!("error: {self}");
        let mut source = match self {
            CliError::Service(inner) => inner.source(),
            CliError::Store(inner) => inner.source(),
            CliError::Io { source, .. } => source.source(),
            CliError::Usage(_) => None,
        };
        while let Some(cause) = source {
            eprintln!("  caused by: {cause}");
            source = cause.source();
        }
    }
}
