//! Who is using a store: `serve` holds a shared claim for as long as it runs (any number of
//! servers may share one store); `restore` and `migrate` need the exclusive claim, so they
//! refuse a data directory or database a running server is writing to. On SQLite the claim is
//! an advisory lock on a file in the data directory, on PostgreSQL an advisory lock of the
//! database held by one dedicated session.

use std::fs::{File, TryLockError};
use std::path::Path;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

use crate::{Result, Store, StoreError};

/// The lock file inside a data directory (empty; only its lock matters).
pub const LOCK_FILE: &str = "portcullis.lock";
/// The PostgreSQL advisory lock key ("portcull" in ASCII).
const ADVISORY_KEY: i64 = 0x706f_7274_6375_6c6c;
/// How often a server's PostgreSQL claim is checked, and re-taken after the database restarted.
const RECHECK: Duration = Duration::from_secs(2);

/// A held claim; released when dropped (or when the process ends, however it ends).
#[derive(Debug)]
pub struct Claim {
    _file: Option<File>,
    _session: Option<PgConnection>,
    keeper: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(keeper) = self.keeper.take() {
            keeper.abort();
        }
    }
}

fn in_use(what: String) -> StoreError {
    StoreError::InUse(what)
}

/// A shared claim on a data directory, for `serve`.
pub fn share_data_dir(dir: &Path) -> Result<Claim> {
    let file = lock_file(dir)?;
    match file.try_lock_shared() {
        Ok(()) => Ok(Claim::file(file)),
        Err(TryLockError::WouldBlock) => Err(in_use(format!(
            "`{}` is being restored or migrated by another portcullis command",
            dir.display()
        ))),
        Err(TryLockError::Error(err)) => Err(StoreError::DataDir(err)),
    }
}

/// The exclusive claim on a data directory, for `restore` and `migrate`.
pub fn claim_data_dir(dir: &Path) -> Result<Claim> {
    let file = lock_file(dir)?;
    match file.try_lock() {
        Ok(()) => Ok(Claim::file(file)),
        Err(TryLockError::WouldBlock) => Err(in_use(format!(
            "`{}` is in use by a running `portcullis serve` (or another command); stop it first",
            dir.display()
        ))),
        Err(TryLockError::Error(err)) => Err(StoreError::DataDir(err)),
    }
}

/// The directory must exist: a claim never creates a data directory (an empty store would
/// follow from a typo).
fn lock_file(dir: &Path) -> Result<File> {
    Ok(File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))?)
}

impl Claim {
    fn file(file: File) -> Self {
        Self {
            _file: Some(file),
            _session: None,
            keeper: None,
        }
    }
}

impl Store {
    /// A shared claim on this PostgreSQL database for a running server, kept (and re-taken
    /// after the database restarted) by a background task. On SQLite: nothing to do here
    /// (see [`share_data_dir`]).
    pub async fn share_database(&self) -> Result<Claim> {
        let Some(options) = self.session_options() else {
            return Ok(Claim::none());
        };
        let session = lock_session(&options, "pg_try_advisory_lock_shared").await?;
        let keeper = tokio::spawn(async move {
            let mut session = Some(session);
            loop {
                tokio::time::sleep(RECHECK).await;
                let alive = match session.as_mut() {
                    Some(conn) => conn.ping().await.is_ok(),
                    None => false,
                };
                if !alive {
                    session = lock_session(&options, "pg_try_advisory_lock_shared")
                        .await
                        .inspect_err(|err| {
                            tracing::warn!(error = %err, "cannot re-take the server's claim on the database");
                        })
                        .ok();
                }
            }
        });
        Ok(Claim {
            _file: None,
            _session: None,
            keeper: Some(keeper),
        })
    }

    /// The exclusive claim on this PostgreSQL database, refused while a server holds its
    /// shared one. On SQLite: nothing to do here (see [`claim_data_dir`]).
    pub async fn claim_database(&self) -> Result<Claim> {
        let Some(options) = self.session_options() else {
            return Ok(Claim::none());
        };
        let session = lock_session(&options, "pg_try_advisory_lock").await?;
        Ok(Claim {
            _file: None,
            _session: Some(session),
            keeper: None,
        })
    }

    fn session_options(&self) -> Option<PgConnectOptions> {
        match &self.bulk {
            crate::connect::BulkSource::Postgres(options) => Some((**options).clone()),
            _ => None,
        }
    }
}

impl Claim {
    fn none() -> Self {
        Self {
            _file: None,
            _session: None,
            keeper: None,
        }
    }
}

async fn lock_session(options: &PgConnectOptions, function: &str) -> Result<PgConnection> {
    let mut conn = options.connect().await?;
    let taken: bool = sqlx::query_scalar(&format!("SELECT {function}($1)"))
        .bind(ADVISORY_KEY)
        .fetch_one(&mut conn)
        .await?;
    if taken {
        Ok(conn)
    } else {
        Err(in_use(
            "the database is in use by a running `portcullis serve` (or another command); \
             stop it first"
                .to_owned(),
        ))
    }
}
