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
    /// The disk (or the database's volume) is full: nothing of the write was committed.
    #[error("the store is out of space: {0}")]
    Full(#[source] sqlx::Error),
    /// The store cannot be reached (refused, connection lost, the pool's acquire timeout):
    /// worth retrying.
    #[error("the store is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The store answers but did not finish within its bounds (a lock held by a stuck peer, a
    /// statement timeout, a serialization conflict): worth retrying.
    #[error("the store is busy: {0}")]
    Busy(#[source] sqlx::Error),
    #[error(transparent)]
    Database(sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Reading the start-up snapshot of an SQLite file (see `snapshot.rs`).
    #[error("reading the SQLite snapshot: {0}")]
    SqliteSnapshot(#[from] rusqlite::Error),
    /// Another process holds the claim this operation needs (see `in_use.rs`).
    #[error("{0}")]
    InUse(String),
    #[error("cannot prepare the data directory: {0}")]
    DataDir(#[from] std::io::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match fault_of(&err) {
            Some(Fault::Full) => StoreError::Full(err),
            Some(Fault::Unavailable) => StoreError::Unavailable(err),
            Some(Fault::Busy) => StoreError::Busy(err),
            None => StoreError::Database(err),
        }
    }
}

impl StoreError {
    /// True for faults that a later retry may not meet (full disk, store unreachable or busy).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Full(_) | StoreError::Unavailable(_) | StoreError::Busy(_)
        )
    }
}

enum Fault {
    Full,
    Unavailable,
    Busy,
}

/// Sorts a driver error into the faults clients can act on; `None` for everything else.
fn fault_of(err: &sqlx::Error) -> Option<Fault> {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => Some(Fault::Unavailable),
        sqlx::Error::Database(db) => {
            let code = db.code()?;
            match code.as_ref() {
                // PostgreSQL: disk_full, out of memory, too many connections.
                "53100" => Some(Fault::Full),
                "53200" | "53300" => Some(Fault::Busy),
                // lock_not_available (lock_timeout), query_canceled (statement_timeout),
                // idle-in-transaction timeout, serialization and deadlock.
                "55P03" | "57014" | "25P03" | "40001" | "40P01" => Some(Fault::Busy),
                // Shutting down, or not accepting connections yet.
                "57P01" | "57P02" | "57P03" => Some(Fault::Unavailable),
                c if c.starts_with("08") => Some(Fault::Unavailable),
                // SQLite (extended result codes, never five characters like PostgreSQL's):
                // SQLITE_FULL; SQLITE_BUSY and SQLITE_LOCKED.
                c if c.len() >= 5 => None,
                c => match c.parse::<i32>().map(|n| n & 0xff) {
                    Ok(13) => Some(Fault::Full),
                    Ok(5 | 6) => Some(Fault::Busy),
                    _ => None,
                },
            }
        }
        _ => None,
    }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`], leaving other errors as is.
pub(crate) fn conflict_as(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |err| match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::from(err),
    }
}
