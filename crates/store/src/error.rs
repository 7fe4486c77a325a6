//! Store errors. Constraint violations become domain errors; anything else stays opaque and
//! is only ever logged, never shown to a client.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint: the named thing already exists.
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The change would leave an organization without an administrator.
    #[error("the last administrator of an organization cannot be removed or demoted")]
    LastAdmin,
    /// A row that violates what the code expects (an unknown role string, an id out of range).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Reading the start-up snapshot of an SQLite file (see `snapshot.rs`).
    #[error("reading the SQLite snapshot: {0}")]
    SqliteSnapshot(#[from] rusqlite::Error),
    #[error("cannot prepare the data directory: {0}")]
    DataDir(#[from] std::io::Error),
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`], leaving other errors as is.
pub(crate) fn conflict_as(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |err| match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(err),
    }
}
