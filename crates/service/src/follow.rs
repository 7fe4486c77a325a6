//! Keeping the index current with writes made by other servers on the same database.
//!
//! Every write leaves a row in the store's change feed at its revision (see
//! `portcullis_store::changes`). A server applies those rows strictly in revision order, so its
//! index is always a prefix of the global history: after its own commits (which first apply
//! every earlier row), and in the background from a follower that wakes on PostgreSQL
//! notifications and polls the feed every [`POLL_INTERVAL`] as the source of truth. A server
//! that fell behind the pruned part of the feed reloads the whole index.

use std::sync::{Arc, Weak};
use std::time::Duration;

use portcullis_core::Change;
use portcullis_store::changes::{ChangeFeed, ChangeListener, ChangeRow};

use crate::{Portcullis, Result};

/// How often the follower looks at the feed when no notification arrives.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Feed rows fetched per query while catching up.
const BATCH: u32 = 2_000;
/// Feed rows older than this may be pruned...
const FEED_RETENTION_MS: i64 = 24 * 3_600_000;
/// ...but the newest this many always stay.
const FEED_KEEP_ROWS: u64 = 100_000;

impl Portcullis {
    /// Applies, in order, every committed change the index has not seen yet; returns the
    /// revision the index reached.
    pub async fn catch_up(&self) -> Result<u64> {
        self.catch_up_to(None).await
    }

    /// Applies feed rows up to `up_to` (or all committed), reloading the whole index if the
    /// feed no longer holds the next revision.
    pub(crate) async fn catch_up_to(&self, up_to: Option<u64>) -> Result<u64> {
        loop {
            let from = self.revision();
            if up_to.is_some_and(|target| from >= target) {
                return Ok(from);
            }
            match self.store().changes_after(from, up_to, BATCH).await? {
                ChangeFeed::Rows(rows) if rows.is_empty() => return Ok(self.revision()),
                ChangeFeed::Rows(rows) => {
                    self.apply_rows(&rows);
                }
                ChangeFeed::Pruned => {
                    self.reload().await?;
                    return Ok(self.revision());
                }
            }
        }
    }

    /// Applies rows that directly follow the index's revision; rows another task applied in
    /// the meantime are skipped, so concurrent appliers never apply twice or out of order.
    fn apply_rows(&self, rows: &[ChangeRow]) {
        let mut index = self.index.write();
        for row in rows {
            if row.revision == index.revision() + 1 {
                index.apply(row.revision, &row.changes);
            }
        }
    }

    /// After this server committed `revision` with `changes`: applies every earlier revision
    /// it has not seen (other servers' writes), then its own.
    pub(crate) async fn apply_committed(&self, revision: u64, changes: &[Change]) -> Result<()> {
        if revision > self.revision() + 1 {
            self.catch_up_to(Some(revision - 1)).await?;
        }
        let mut index = self.index.write();
        if index.revision() + 1 == revision {
            index.apply(revision, changes);
        }
        // Else the follower (or a reload) already covered it.
        Ok(())
    }

    /// Replaces the index with a fresh load from the store (when the feed cannot bridge the
    /// gap). Keeps the current index if it is somehow newer.
    async fn reload(&self) -> Result<()> {
        let loaded = self.store().load_index(self.now()).await?;
        let mut index = self.index.write();
        if loaded.revision() > index.revision() {
            tracing::warn!(
                from = index.revision(),
                to = loaded.revision(),
                "index behind the change feed horizon: reloaded"
            );
            *index = loaded;
        }
        Ok(())
    }

    /// How many revisions the index is behind the store.
    pub async fn revision_lag(&self) -> Result<u64> {
        let store = self.store().revision().await?;
        Ok(store.saturating_sub(self.revision()))
    }

    /// Starts the background follower: applies other servers' writes as they commit. It stops
    /// by itself when the service is dropped.
    pub fn spawn_follower(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(follow(Arc::downgrade(self)))
    }
}

async fn follow(service: Weak<Portcullis>) {
    let mut listener = match service.upgrade() {
        Some(s) => match ChangeListener::connect(s.store()).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "cannot LISTEN for changes; polling only");
                None
            }
        },
        None => return,
    };
    let mut poll = tokio::time::interval(POLL_INTERVAL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut prune = tokio::time::interval(Duration::from_secs(3_600));
    loop {
        let mut notified = false;
        tokio::select! {
            _ = poll.tick() => {}
            result = next_notification(&mut listener) => {
                notified = true;
                if let Err(err) = result {
                    tracing::warn!(error = %err, "change notifications lost; polling only");
                    listener = None;
                }
            }
            _ = prune.tick() => {
                let Some(s) = service.upgrade() else { return };
                let before = s.now() - FEED_RETENTION_MS;
                match s.store().prune_changes(before, FEED_KEEP_ROWS).await {
                    Ok(rows) if rows > 0 => tracing::info!(rows, "change feed pruned"),
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "change feed pruning failed"),
                }
            }
        }
        let Some(s) = service.upgrade() else { return };
        match s.catch_up().await {
            Ok(revision) => {
                tracing::trace!(revision, notified, "index caught up");
            }
            Err(err) => tracing::warn!(error = %err, "cannot follow the change feed"),
        }
    }
}

async fn next_notification(listener: &mut Option<ChangeListener>) -> Result<()> {
    match listener {
        Some(l) => Ok(l.next().await?),
        None => std::future::pending().await,
    }
}

impl Portcullis {
    /// Waits until the index reflects at least `revision` (a consistency token from a write on
    /// any server), polling the feed itself so a request never waits for the follower's next
    /// round; after `timeout`, a 503-class error.
    pub async fn wait_for_revision(&self, revision: u64, timeout: Duration) -> Result<()> {
        let unavailable = || crate::ServiceError::Unavailable {
            code: "consistency.revision_unavailable",
            message: format!("this server has not reached revision {revision} yet"),
        };
        if self.revision() >= revision || self.catch_up_to(Some(revision)).await? >= revision {
            return Ok(());
        }
        // Not committed anywhere (yet): no point waiting for a revision from the future.
        if self.store().revision().await? < revision {
            return Err(unavailable());
        }
        let deadline = tokio::time::Instant::now() + timeout;
        while self.catch_up_to(Some(revision)).await? < revision {
            if tokio::time::Instant::now() >= deadline {
                return Err(unavailable());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}
