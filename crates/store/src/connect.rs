//! Opening a store: the SQLite data directory or a PostgreSQL URL, pragmas and migrations.

use std::path::Path;
use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, ConnectOptions, Executor};

use crate::Result;

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
        let path = dir.join(SQLITE_FILE);
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self::open(&url).await
    }

    /// Opens a store from a URL: `sqlite://path?mode=rwc`, `sqlite::memory:` or `postgres://…`.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        // Statement logging would put every bound value (token hashes among them) in the logs.
        let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(if url.contains(":memory:") { 1 } else { 8 })
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // FULL: an acknowledged write survives power loss, not only a crash.
                            conn.execute(
                                "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                                 PRAGMA synchronous = FULL;",
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
                    .connect_with(options)
                    .await?
            }
        };
        let bulk = match backend {
            _ if url.contains(":memory:") => BulkSource::Pool,
            Backend::Sqlite => BulkSource::Sqlite(
                SqliteConnectOptions::from_str(url)?
                    .get_filename()
                    .to_owned(),
            ),
            Backend::Postgres => BulkSource::Postgres(Box::new(
                PgConnectOptions::from_str(url)?.disable_statement_logging(),
            )),
        };
        let store = Self {
            pool,
            backend,
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

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
