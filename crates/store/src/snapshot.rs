//! Loading the whole access index from committed data, at one consistent revision.
//!
//! The one place the store leaves the `Any` driver: start-up reads every account,
//! membership and link (millions of rows at a million members), and the `Any` driver turns
//! each row into boxed `AnyValue`s and owned strings before the index sees it, which made the
//! load several times slower than the database itself. So the snapshot is read through a
//! native connection with the same SQL for every backend; each row is decoded in place
//! (borrowed text) and applied to the index as it streams, with no intermediate list of
//! changes.
//!
//! - PostgreSQL: a `PgConnection` opened for the load, in a repeatable-read transaction.
//! - SQLite file: `rusqlite` on a blocking thread. sqlx's SQLite driver copies every column of
//!   every row into its own `sqlite3_value` on its worker thread and hands rows over through a
//!   channel; at a million members that was most of a 10 s start. rusqlite steps the statement
//!   in place (the same libsqlite3 sqlx links).
//! - In-memory SQLite: through the pool (a second connection would see another database).

use futures_util::FutureExt as _;
use futures_util::TryStreamExt;
use futures_util::future::BoxFuture;
use portcullis_core::index::{Account, CredentialEntry, ItemKind};
use portcullis_core::{AccessIndex, Change, Timestamp};
use sqlx::{Connection, Row};

use crate::connect::{Backend, BulkSource};
use crate::credentials::{CREDENTIAL_COLUMNS, credential_from_row};
use crate::rows::{
    app_key, flag, org_key, org_role, scopes_from_text, team_key, team_role, user_key, visibility,
};
use crate::{Result, Store, StoreError};

/// What the loader needs of a driver: stream a query's rows, read integer and text columns.
trait Rows {
    type Conn: Send;
    type Row<'r>;
    fn each<'a, F>(
        conn: &'a mut Self::Conn,
        sql: &'a str,
        bind: Option<i64>,
        f: F,
    ) -> BoxFuture<'a, Result<()>>
    where
        F: for<'r> FnMut(&Self::Row<'r>) -> Result<()> + Send + 'a;
    fn int(row: &Self::Row<'_>, i: usize) -> Result<i64>;
    fn opt_int(row: &Self::Row<'_>, i: usize) -> Result<Option<i64>>;
    fn text<'r>(row: &'r Self::Row<'_>, i: usize) -> Result<&'r str>;
}

/// The same implementation for each sqlx driver (a macro: sqlx's generic executor bounds do
/// not carry through async code).
macro_rules! rows_impl {
    ($($db:ty),*) => {$(
        impl Rows for $db {
            type Conn = <$db as sqlx::Database>::Connection;
            type Row<'r> = <$db as sqlx::Database>::Row;

            fn each<'a, F>(
                conn: &'a mut Self::Conn,
                sql: &'a str,
                bind: Option<i64>,
                mut f: F,
            ) -> BoxFuture<'a, Result<()>>
            where
                F: for<'r> FnMut(&Self::Row<'r>) -> Result<()> + Send + 'a,
            {
                Box::pin(async move {
                    let mut query = sqlx::query::<$db>(sql);
                    if let Some(value) = bind {
                        query = query.bind(value);
                    }
                    let mut rows = query.fetch(&mut *conn);
                    while let Some(row) = rows.try_next().await? {
                        f(&row)?;
                    }
                    Ok(())
                })
            }

            fn int(row: &Self::Row<'_>, i: usize) -> Result<i64> {
                Ok(row.try_get(i)?)
            }

            fn opt_int(row: &Self::Row<'_>, i: usize) -> Result<Option<i64>> {
                Ok(row.try_get(i)?)
            }

            fn text<'r>(row: &'r Self::Row<'_>, i: usize) -> Result<&'r str> {
                Ok(row.try_get(i)?)
            }
        }
    )*};
}

rows_impl!(sqlx::Any, sqlx::Postgres);

/// An SQLite file read with rusqlite. Its futures complete on first poll (the work is
/// synchronous; the whole load runs on a blocking thread).
struct Rusqlite;

impl Rows for Rusqlite {
    type Conn = rusqlite::Connection;
    type Row<'r> = rusqlite::Row<'r>;

    fn each<'a, F>(
        conn: &'a mut Self::Conn,
        sql: &'a str,
        bind: Option<i64>,
        mut f: F,
    ) -> BoxFuture<'a, Result<()>>
    where
        F: for<'r> FnMut(&Self::Row<'r>) -> Result<()> + Send + 'a,
    {
        let result: Result<()> = (|| {
            // The loader's SQL is written for PostgreSQL's `$1`; SQLite reads it as a
            // numbered parameter too.
            let mut statement = conn.prepare(sql)?;
            let mut rows = match bind {
                Some(value) => statement.query([value]),
                None => statement.query([]),
            }?;
            while let Some(row) = rows.next()? {
                f(row)?;
            }
            Ok(())
        })();
        Box::pin(std::future::ready(result))
    }

    fn int(row: &Self::Row<'_>, i: usize) -> Result<i64> {
        row.get(i).map_err(StoreError::from)
    }

    fn opt_int(row: &Self::Row<'_>, i: usize) -> Result<Option<i64>> {
        row.get(i).map_err(StoreError::from)
    }

    fn text<'r>(row: &'r Self::Row<'_>, i: usize) -> Result<&'r str> {
        Ok(row.get_ref(i)?.as_str().map_err(rusqlite::Error::from)?)
    }
}

/// Reads the snapshot of an SQLite file on the calling (blocking) thread, in one read
/// transaction: one WAL snapshot for every table.
fn load_sqlite_file(path: &std::path::Path, now: Timestamp) -> Result<AccessIndex> {
    use rusqlite::OpenFlags;
    let mut conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch("BEGIN")?;
    let index = load::<Rusqlite>(&mut conn, now)
        .now_or_never()
        .ok_or_else(|| StoreError::Corrupt("the SQLite snapshot read suspended".into()))??;
    conn.execute_batch("ROLLBACK")?;
    Ok(index)
}

impl Store {
    /// Builds the index from the store: every account, membership, team, link, app,
    /// collaborator and live credential, read in one snapshot.
    pub async fn load_index(&self, now: Timestamp) -> Result<AccessIndex> {
        match &self.bulk {
            BulkSource::Sqlite(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || load_sqlite_file(&path, now))
                    .await
                    .map_err(|e| StoreError::Corrupt(format!("the snapshot reader failed: {e}")))?
            }
            BulkSource::Postgres(options) => {
                let mut conn = sqlx::PgConnection::connect_with(options).await?;
                let mut tx = conn.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .execute(&mut *tx)
                    .await?;
                let index = load::<sqlx::Postgres>(&mut tx, now).await?;
                tx.rollback().await?;
                conn.close().await?;
                Ok(index)
            }
            BulkSource::Pool => {
                let mut tx = self.pool.begin().await?;
                if self.backend() == Backend::Postgres {
                    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                        .execute(&mut *tx)
                        .await?;
                }
                let index = load::<sqlx::Any>(&mut tx, now).await?;
                tx.rollback().await?;
                Ok(index)
            }
        }
    }
}

async fn load<DB: Rows>(conn: &mut DB::Conn, now: Timestamp) -> Result<AccessIndex> {
    let mut index = AccessIndex::new();
    let mut revision = 0;
    DB::each(
        conn,
        "SELECT value FROM meta WHERE name = 'revision'",
        None,
        |row| {
            revision = DB::int(row, 0)?;
            Ok(())
        },
    )
    .await?;

    DB::each(
        conn,
        "SELECT a.id, a.handle, u.state, u.is_operator FROM users u JOIN accounts a ON a.id = u.account_id",
        None,
        |row| {
            index.apply_change(&Change::UserUpserted {
                key: user_key(DB::int(row, 0)?)?,
                id: DB::text(row, 1)?.to_owned(),
                active: DB::text(row, 2)? == "active",
                operator: flag(DB::int(row, 3)?),
            });
            Ok(())
        },
    )
    .await?;
    DB::each(
        conn,
        "SELECT a.id, a.handle FROM orgs o JOIN accounts a ON a.id = o.account_id",
        None,
        |row| {
            index.apply_change(&Change::OrgCreated {
                key: org_key(DB::int(row, 0)?)?,
                id: DB::text(row, 1)?.to_owned(),
            });
            Ok(())
        },
    )
    .await?;
    DB::each(
        conn,
        "SELECT org_id, user_id, role, suspended_at FROM memberships",
        None,
        |row| {
            let (org, user) = (org_key(DB::int(row, 0)?)?, user_key(DB::int(row, 1)?)?);
            index.apply_change(&Change::MemberSet {
                org,
                user,
                role: org_role(DB::text(row, 2)?)?,
            });
            if DB::opt_int(row, 3)?.is_some() {
                index.apply_change(&Change::MemberSuspended {
                    org,
                    user,
                    suspended: true,
                });
            }
            Ok(())
        },
    )
    .await?;
    DB::each(
        conn,
        "SELECT p.id, p.owner_id, a.kind, p.handle, p.visibility FROM apps p JOIN accounts a ON a.id = p.owner_id",
        None,
        |row| {
            let owner = DB::int(row, 1)?;
            let owner = match DB::text(row, 2)? {
                "org" => Account::Org(org_key(owner)?),
                "user" => Account::User(user_key(owner)?),
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "unknown account kind `{other}`"
                    )));
                }
            };
            index.apply_change(&Change::AppUpserted {
                key: app_key(DB::int(row, 0)?)?,
                owner,
                id: DB::text(row, 3)?.to_owned(),
                visibility: visibility(DB::text(row, 4)?)?,
            });
            Ok(())
        },
    )
    .await?;
    DB::each(
        conn,
        "SELECT id, org_id, handle, default_role FROM teams",
        None,
        |row| {
            index.apply_change(&Change::TeamCreated {
                key: team_key(DB::int(row, 0)?)?,
                org: org_key(DB::int(row, 1)?)?,
                id: DB::text(row, 2)?.to_owned(),
                default_role: team_role(DB::text(row, 3)?)?,
            });
            Ok(())
        },
    )
    .await?;
    DB::each(
        conn,
        "SELECT team_id, user_id FROM team_members",
        None,
        |row| {
            index.apply_change(&Change::TeamMemberAdded {
                team: team_key(DB::int(row, 0)?)?,
                user: user_key(DB::int(row, 1)?)?,
            });
            Ok(())
        },
    )
    .await?;
    DB::each(
        conn,
        "SELECT team_id, app_id, role FROM team_apps",
        None,
        |row| {
            index.apply_change(&Change::TeamAppSet {
                team: team_key(DB::int(row, 0)?)?,
                app: app_key(DB::int(row, 1)?)?,
                role: team_role(DB::text(row, 2)?)?,
            });
            Ok(())
        },
    )
    .await?;
    DB::each(
        conn,
        "SELECT app_id, user_id, permissions FROM collaborators",
        None,
        |row| {
            index.apply_change(&Change::CollaboratorSet {
                app: app_key(DB::int(row, 0)?)?,
                user: user_key(DB::int(row, 1)?)?,
                permissions: scopes_from_text(DB::text(row, 2)?)?,
            });
            Ok(())
        },
    )
    .await?;
    for kind in ItemKind::ALL {
        let table = match kind {
            ItemKind::Model => "models",
            ItemKind::Workflow => "workflows",
            ItemKind::Module => "modules",
        };
        let sql = format!("SELECT app_id, handle, visibility FROM {table}");
        DB::each(conn, &sql, None, |row| {
            index.apply_change(&Change::ItemUpserted {
                app: app_key(DB::int(row, 0)?)?,
                kind,
                id: DB::text(row, 1)?.to_owned(),
                visibility: visibility(DB::text(row, 2)?)?,
            });
            Ok(())
        })
        .await?;
    }
    let sql = format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials \
         WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)"
    );
    DB::each(conn, &sql, Some(now), |row| {
        let text = |i| DB::text(row, i).map(str::to_owned);
        let record = credential_from_row((
            DB::int(row, 0)?,
            text(1)?,
            DB::int(row, 2)?,
            text(3)?,
            text(4)?,
            text(5)?,
            text(6)?,
            DB::opt_int(row, 7)?,
            DB::opt_int(row, 8)?,
            DB::int(row, 9)?,
            DB::opt_int(row, 10)?,
            DB::opt_int(row, 11)?,
            DB::opt_int(row, 12)?,
        ))?;
        index.apply_change(&Change::CredentialAdded {
            hash: record.token_hash,
            entry: CredentialEntry {
                id: record.id,
                user: record.user,
                kind: record.kind,
                scopes: record.scopes,
                org: record.org,
                app: record.app,
                expires_at: record.expires_at,
            },
        });
        Ok(())
    })
    .await?;

    // Two-factor: which orgs require it and which users have a confirmed factor.
    DB::each(
        conn,
        "SELECT org_id FROM org_security WHERE require_two_factor = 1",
        None,
        |row| {
            index.apply_change(&Change::OrgTwoFactorRequired {
                key: org_key(DB::int(row, 0)?)?,
                required: true,
            });
            Ok(())
        },
    )
    .await?;
    DB::each(
        conn,
        "SELECT user_id FROM totp_factors WHERE enabled = 1",
        None,
        |row| {
            index.apply_change(&Change::UserTwoFactor {
                key: user_key(DB::int(row, 0)?)?,
                enabled: true,
            });
            Ok(())
        },
    )
    .await?;

    // SSO enforcement, break-glass administrators and SSO-authorized credentials.
    DB::each(
        conn,
        "SELECT org_id, enforced, break_glass FROM org_sso",
        None,
        |row| {
            let key = org_key(DB::int(row, 0)?)?;
            index.apply_change(&Change::OrgSsoEnforced {
                key,
                enforced: flag(DB::int(row, 1)?),
            });
            let users = serde_json::from_str::<Vec<i64>>(DB::text(row, 2)?)
                .map_err(|e| StoreError::Corrupt(format!("break-glass list: {e}")))?
                .into_iter()
                .map(user_key)
                .collect::<Result<_>>()?;
            index.apply_change(&Change::OrgSsoBreakGlass { key, users });
            Ok(())
        },
    )
    .await?;
    DB::each(
        conn,
        "SELECT s.credential_id, s.org_id FROM credential_sso s \
         JOIN credentials c ON c.id = s.credential_id WHERE c.revoked_at IS NULL",
        None,
        |row| {
            index.apply_change(&Change::CredentialSsoAuthorized {
                credential: DB::int(row, 0)?,
                org: org_key(DB::int(row, 1)?)?,
            });
            Ok(())
        },
    )
    .await?;

    index.apply(u64::try_from(revision).unwrap_or_default(), &[]);
    Ok(index)
}
