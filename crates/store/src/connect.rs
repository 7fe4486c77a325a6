//! Opening a store: the SQLite data directory or a PostgreSQL URL, pragmas and migrations.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection, Executor};

use crate::transport::{self, Transport};
use crate::{Result, StoreError};

/// How long a request waits for a pooled connection before the store counts as unavailable
/// (answered as a retryable 503, not a hang).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long opening a store may take to reach the database before start-up gives up, naming
/// the cause.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// PostgreSQL ends a session that sits idle inside a transaction this long (a frozen or
/// partitioned server), releasing its locks: the longest a stuck peer can stall other writers.
pub const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a PostgreSQL statement waits for a lock (longer than the idle-in-transaction
/// timeout, so a writer behind a frozen peer's lock gets it once the peer's session is ended).
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(6);
/// The longest a single PostgreSQL statement may run.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long SQLite waits for another connection's write lock.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The session settings that bound every wait on PostgreSQL; server-side TCP keepalives end
/// the session of a peer that vanished from the network.
fn postgres_session_settings() -> String {
    format!(
        "SET lock_timeout = {}; SET statement_timeout = {}; \
         SET idle_in_transaction_session_timeout = {}; SET tcp_keepalives_idle = 10; \
         SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3;",
        LOCK_TIMEOUT.as_millis(),
        STATEMENT_TIMEOUT.as_millis(),
        IDLE_IN_TRANSACTION_TIMEOUT.as_millis(),
    )
}

/// The SQLite file inside a data directory.
pub const SQLITE_FILE: &str = "portcullis.db";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
    /// How a PostgreSQL server is reached (`None` for SQLite).
    transport: Option<Transport>,
    /// How `load_index` reads its snapshot (see `snapshot.rs`).
    pub(crate) bulk: BulkSource,
}

/// Where the start-up snapshot is read from: the SQLite file through rusqlite (on a blocking
/// thread), a native sqlx PostgreSQL connection, or the pool itself for an in-memory SQLite
/// database (a new connection would see another, empty database).
#[derive(Clone)]
pub(crate) enum BulkSource {
    /// The database file, read with rusqlite.
    Sqlite(std::path::PathBuf),
    Postgres(Box<PgConnectOptions>),
    Pool,
}

impl std::fmt::Debug for BulkSource {
    // The PostgreSQL options hold the password: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BulkSource::Sqlite(_) => "BulkSource::Sqlite",
            BulkSource::Postgres(_) => "BulkSource::Postgres",
            BulkSource::Pool => "BulkSource::Pool",
        })
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Opens (creating on first start) the embedded SQLite store in `dir`.
    pub async fn open_data_dir(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        // A read-only directory would otherwise surface as a pool timeout after many retries.
        let probe = dir.join(".portcullis-write-test");
        std::fs::write(&probe, b"")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|err| {
                StoreError::DataDir(std::io::Error::new(
                    err.kind(),
                    format!("`{}` is not writable: {err}", dir.display()),
                ))
            })?;
        let path = dir.join(SQLITE_FILE);
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self::open(&url).await
    }

    /// Opens a store from a URL: `sqlite://path?mode=rwc`, `sqlite::memory:` or `postgres://…`
    /// (with `sslmode` and `sslrootcert` read as libpq reads them).
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with_password(url, None).await
    }

    /// [`Store::open`] with the PostgreSQL password given apart from the URL (read from a
    /// file by the caller), so that it appears in no URL an operator writes down.
    pub async fn open_with_password(url: &str, password: Option<&str>) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        // Statement logging would put every bound value (token hashes among them) in the logs.
        let mut options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        let mut transport = None;
        if backend == Backend::Postgres {
            options = transport::postgres_options(options, password)?;
            transport = Some(Transport::of(&PgConnectOptions::try_from(&options)?));
        }
        if !url.contains(":memory:") {
            reachable(&options, backend, transport.as_ref()).await?;
        }
        let bulk = match backend {
            _ if url.contains(":memory:") => BulkSource::Pool,
            Backend::Sqlite => BulkSource::Sqlite(
                SqliteConnectOptions::from_str(url)?
                    .get_filename()
                    .to_owned(),
            ),
            Backend::Postgres => BulkSource::Postgres(Box::new(
                PgConnectOptions::try_from(&options)?.disable_statement_logging(),
            )),
        };
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(if url.contains(":memory:") { 1 } else { 8 })
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // FULL: an acknowledged write survives power loss, not only a crash.
                            conn.execute(
                                format!(
                                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {}; \
                                     PRAGMA synchronous = FULL;",
                                    SQLITE_BUSY_TIMEOUT.as_millis()
                                )
                                .as_str(),
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(postgres_session_settings().as_str()).await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
        };
        let store = Self {
            pool,
            backend,
            transport,
            bulk,
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::query("PRAGMA journal_mode = WAL")
                    .execute(&self.pool)
                    .await?;
                SQLITE_MIGRATIONS.run(&self.pool).await?;
            }
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// How the PostgreSQL server is reached, with the TLS version of a pooled connection
    /// (`None` for SQLite): for start-up warnings and `doctor`.
    pub async fn transport(&self) -> Result<Option<Transport>> {
        let Some(transport) = &self.transport else {
            return Ok(None);
        };
        let version: Option<String> = sqlx::query_scalar(
            "SELECT CASE WHEN ssl THEN version END FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        )
        .fetch_optional(&self.pool)
        .await?
        .flatten();
        Ok(Some(Transport {
            tls_version: version,
            ..transport.clone()
        }))
    }

    /// The last committed data revision.
    pub async fn revision(&self) -> Result<u64> {
        let value: i64 = sqlx::query_scalar("SELECT value FROM meta WHERE name = 'revision'")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(value).unwrap_or_default())
    }

    /// Whether the store answers (for readiness probes).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Proves the store can take a write again after it was full: rewrites one row in place,
    /// which needs free space in the database's journal.
    pub async fn probe_write(&self) -> Result<()> {
        let mut tx = crate::tx::Tx::begin(&self.pool).await?;
        sqlx::query("UPDATE meta SET value = value WHERE name = 'revision'")
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Opens one connection outside the pool and reads the schema, within [`CONNECT_TIMEOUT`], so
/// start-up names the real cause (refused, authentication, a TLS check, not a database) at
/// once instead of a pool timeout after many retries.
async fn reachable(
    options: &AnyConnectOptions,
    backend: Backend,
    transport: Option<&Transport>,
) -> Result<()> {
    let attempt = async {
        let mut conn =
            AnyConnection::connect_with(options)
                .await
                .map_err(|err| match transport {
                    Some(transport) => transport::explain(err, transport),
                    None => err,
                })?;
        // On SQLite this reads the file header: a file that is not a database fails here.
        let sql = match backend {
            Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master",
            Backend::Postgres => "SELECT 1",
        };
        sqlx::query(sql).execute(&mut conn).await?;
        conn.close().await?;
        Ok::<(), sqlx::Error>(())
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(StoreError::Unavailable(sqlx::Error::Io(
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "no answer from the database within {} s",
                    CONNECT_TIMEOUT.as_secs()
                ),
            ),
        ))),
    }
}
