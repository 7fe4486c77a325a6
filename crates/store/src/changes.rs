//! The change feed: every committed write leaves one `changes` row, at its revision, holding the
//! index [`Change`]s it made (possibly none). Rows are written in the write's own transaction and
//! writers are serialised by the revision bump, so the rows are contiguous and committed in
//! revision order: a server that applies them in order keeps its index a prefix of the global
//! history. Old rows are pruned; a server that fell behind the oldest row reloads the index.
//!
//! The payload's encoding is in [`codec`].

mod codec;

use portcullis_core::{Change, Timestamp};
use sqlx::AnyConnection;

pub use codec::{decode_changes, encode_changes};

use crate::connect::Backend;
use crate::{Result, Store};

/// The PostgreSQL notification channel a write signals on commit.
pub const CHANGES_CHANNEL: &str = "portcullis_changes";

/// One committed revision and the index changes it made.
#[derive(Debug, Clone)]
pub struct ChangeRow {
    pub revision: u64,
    pub changes: Vec<Change>,
}

/// What [`Store::changes_after`] found.
#[derive(Debug, Clone)]
pub enum ChangeFeed {
    /// The rows after the asked revision, in order, contiguous (possibly none).
    Rows(Vec<ChangeRow>),
    /// The next revision is no longer (or not yet ever was) in the feed: reload the index.
    Pruned,
}

impl Store {
    /// The committed changes with revision in `(after, up_to]` (`up_to` `None`: all committed),
    /// at most `limit` rows, in order. Reports [`ChangeFeed::Pruned`] when a revision in that
    /// range is missing from the feed (pruned, or written before the feed existed).
    pub async fn changes_after(
        &self,
        after: u64,
        up_to: Option<u64>,
        limit: u32,
    ) -> Result<ChangeFeed> {
        // The committed revision first: every row up to it is visible to the next query.
        let current = self.revision().await?;
        let last = up_to
            .map_or(current, |r| r.min(current))
            .min(after.saturating_add(u64::from(limit)));
        if last <= after {
            return Ok(ChangeFeed::Rows(Vec::new()));
        }
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT revision, payload FROM changes WHERE revision > $1 AND revision <= $2 \
             ORDER BY revision",
        )
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(i64::try_from(last).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut expected = after + 1;
        for (revision, payload) in rows {
            if u64::try_from(revision).ok() != Some(expected) {
                return Ok(ChangeFeed::Pruned);
            }
            out.push(ChangeRow {
                revision: expected,
                changes: decode_changes(&payload)?,
            });
            expected += 1;
        }
        if expected != last + 1 {
            return Ok(ChangeFeed::Pruned);
        }
        Ok(ChangeFeed::Rows(out))
    }

    /// Deletes feed rows written before `before`, always keeping the newest `keep` rows.
    /// Returns how many rows went.
    pub async fn prune_changes(&self, before: Timestamp, keep: u64) -> Result<u64> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let result = sqlx::query(
            "DELETE FROM changes WHERE at < $1 \
             AND revision <= (SELECT COALESCE(MAX(revision), 0) FROM changes) - $2",
        )
        .bind(before)
        .bind(keep)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    /// The URL of a PostgreSQL store (for a dedicated `LISTEN` connection).
    pub fn listen_url(&self) -> Option<String> {
        (self.backend() == Backend::Postgres)
            .then(|| self.pool.connect_options().database_url.to_string())
    }
}

/// Inserts the feed row of `revision` (inside the write's transaction) and, on PostgreSQL,
/// queues the notification that is delivered when the transaction commits.
pub(crate) async fn insert_changes(
    conn: &mut AnyConnection,
    backend: Backend,
    revision: u64,
    now: Timestamp,
    changes: &[Change],
) -> Result<()> {
    sqlx::query("INSERT INTO changes (revision, payload, at) VALUES ($1, $2, $3)")
        .bind(i64::try_from(revision).unwrap_or(i64::MAX))
        .bind(encode_changes(changes)?)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    if backend == Backend::Postgres {
        sqlx::query(&format!("NOTIFY {CHANGES_CHANNEL}"))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A dedicated PostgreSQL connection `LISTEN`ing on [`CHANGES_CHANNEL`]: a prompt wake-up for
/// followers. Notifications carry nothing; the feed table stays the source of truth.
#[derive(Debug)]
pub struct ChangeListener(sqlx::postgres::PgListener);

impl ChangeListener {
    /// Listens on the store's database; `None` for SQLite (one process, nothing to hear).
    pub async fn connect(store: &Store) -> Result<Option<Self>> {
        let Some(url) = store.listen_url() else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
        listener.listen(CHANGES_CHANNEL).await?;
        Ok(Some(Self(listener)))
    }

    /// Waits for the next notification (reconnecting if the connection dropped).
    pub async fn next(&mut self) -> Result<()> {
        self.0.recv().await?;
        Ok(())
    }
}
