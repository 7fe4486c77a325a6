//! Fresh, isolated stores for tests of this crate and of the crates above it.
//!
//! `PORTCULLIS_TEST_BACKEND` picks the backend of [`fresh_store`] (`sqlite`, the default, or
//! `postgres`); `PORTCULLIS_TEST_POSTGRES_URL` names the PostgreSQL server (default
//! `postgres://postgres@127.0.0.1:5432/test`). Each PostgreSQL store is a new database named
//! `pcl_t_<random>`, so tests never see each other's rows; CI drops them before each run.
//!
//! [`cluster`] starts PostgreSQL clusters of the test's own, with and without TLS.
//!
//! Compiled only with the `testing` feature, which crates enable as a dev-dependency feature:
//! the production binary carries none of it.

pub mod cluster;

use tempfile::TempDir;

use crate::{Backend, Result, Store};

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A store plus what keeps it alive (the SQLite temp dir, removed on drop).
#[derive(Debug)]
pub struct TestStore {
    pub store: Store,
    pub url: String,
    _dir: Option<TempDir>,
}

pub fn backend_under_test() -> Backend {
    match std::env::var("PORTCULLIS_TEST_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

pub fn postgres_url() -> String {
    std::env::var("PORTCULLIS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

pub(crate) fn random_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..16)
        .map(|_| char::from(b'a' + rng.gen_range(0..26u8)))
        .collect()
}

/// A URL for a brand-new empty database of `backend` (and, for SQLite, the directory holding
/// it: the database lives as long as the returned `TempDir`).
pub async fn fresh_database_url(backend: Backend) -> Result<(String, Option<TempDir>)> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::Builder::new().prefix("pcl_t_").tempdir()?;
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join(crate::connect::SQLITE_FILE).display()
            );
            Ok((url, Some(dir)))
        }
        Backend::Postgres => {
            sqlx::any::install_default_drivers();
            let admin_url = postgres_url();
            let name = format!("pcl_t_{}", random_suffix());
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await?;
            let base = admin_url
                .rsplit_once('/')
                .map_or(admin_url.as_str(), |(base, _)| base);
            Ok((format!("{base}/{name}"), None))
        }
    }
}

/// A migrated, empty store of `backend`.
pub async fn fresh_store_of(backend: Backend) -> Result<TestStore> {
    let (url, dir) = fresh_database_url(backend).await?;
    let store = Store::open(&url).await?;
    Ok(TestStore {
        store,
        url,
        _dir: dir,
    })
}

/// A migrated, empty store of the backend under test.
pub async fn fresh_store() -> Result<TestStore> {
    fresh_store_of(backend_under_test()).await
}
