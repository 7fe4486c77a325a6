//! What this server knows about its store, kept from a background probe so readiness and
//! writers can tell "down" or "full" at once instead of waiting for a timeout each time.
//!
//! Decisions never need the store (they answer from the index in memory); this only governs
//! writes and what `/readyz` reports.

use std::sync::Weak;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use portcullis_store::StoreError;

use crate::{Portcullis, ServiceError};

/// How often the probe asks the store for its revision.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// How long one probe waits for an answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Consecutive failed probes after which writes are refused at once (not after a timeout).
const DOWN_AFTER: u32 = 2;

/// The store's state as last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreState {
    /// Answering and accepting writes.
    Up,
    /// Answering, but its disk is full: writes fail until space is freed.
    Full,
    /// Not answering (or not within the probe's timeout).
    Down,
}

#[derive(Debug, Default)]
pub(crate) struct Health {
    failed_probes: AtomicU32,
    full: AtomicBool,
    /// The store's revision at the last successful probe.
    store_revision: AtomicU64,
}

impl Health {
    pub(crate) fn new(revision: u64) -> Self {
        let health = Self::default();
        health.store_revision.store(revision, Ordering::Relaxed);
        health
    }

    pub(crate) fn state(&self) -> StoreState {
        if self.failed_probes.load(Ordering::Relaxed) >= DOWN_AFTER {
            StoreState::Down
        } else if self.full.load(Ordering::Relaxed) {
            StoreState::Full
        } else {
            StoreState::Up
        }
    }

    /// Records what a write's outcome says about the store.
    pub(crate) fn note_write<T>(&self, result: &crate::Result<T>) {
        match result {
            Ok(_) => {
                self.full.store(false, Ordering::Relaxed);
                self.failed_probes.store(0, Ordering::Relaxed);
            }
            Err(ServiceError::StoreFull) => self.full.store(true, Ordering::Relaxed),
            // Unreachable: the writes queued behind this one fail at once, not one pool timeout
            // each, until the probe reaches the store again.
            Err(ServiceError::Unavailable {
                code: "store.unavailable",
                ..
            }) => self.failed_probes.store(DOWN_AFTER, Ordering::Relaxed),
            Err(_) => {}
        }
    }
}

impl Portcullis {
    /// The store's state from the background probe (no I/O).
    pub fn store_state(&self) -> StoreState {
        self.health.state()
    }

    /// The store's revision at the last successful probe (no I/O).
    pub fn probed_store_revision(&self) -> u64 {
        self.health.store_revision.load(Ordering::Relaxed)
    }

    /// Fails fast when the probe already knows the store cannot take a write.
    pub(crate) fn writable(&self) -> crate::Result<()> {
        match self.health.state() {
            StoreState::Down => Err(unavailable()),
            StoreState::Up | StoreState::Full => Ok(()),
        }
    }

    pub(crate) fn spawn_health_probe(self: &std::sync::Arc<Self>) {
        tokio::spawn(probe(std::sync::Arc::downgrade(self)));
    }
}

pub(crate) fn unavailable() -> ServiceError {
    ServiceError::Unavailable {
        code: "store.unavailable",
        message: "the store is unavailable; retry shortly".to_owned(),
    }
}

async fn probe(service: Weak<Portcullis>) {
    let mut tick = tokio::time::interval(PROBE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(s) = service.upgrade() else { return };
        let health = &s.health;
        match tokio::time::timeout(PROBE_TIMEOUT, s.store().revision()).await {
            Ok(Ok(revision)) => {
                health.store_revision.fetch_max(revision, Ordering::Relaxed);
                if health.failed_probes.swap(0, Ordering::Relaxed) >= DOWN_AFTER {
                    tracing::info!(revision, "the store answers again");
                }
            }
            Ok(Err(err)) => {
                if health.failed_probes.fetch_add(1, Ordering::Relaxed) + 1 == DOWN_AFTER {
                    tracing::warn!(error = %err, "the store does not answer; writes refused, checks answer from memory");
                }
                continue;
            }
            Err(_) => {
                if health.failed_probes.fetch_add(1, Ordering::Relaxed) + 1 == DOWN_AFTER {
                    tracing::warn!(
                        "the store does not answer in time; writes refused, checks answer from memory"
                    );
                }
                continue;
            }
        }
        // After a full disk: writes resume by themselves once one fits again.
        if health.full.load(Ordering::Relaxed) {
            match tokio::time::timeout(PROBE_TIMEOUT, s.store().probe_write()).await {
                Ok(Ok(())) => {
                    health.full.store(false, Ordering::Relaxed);
                    tracing::info!("the store accepts writes again");
                }
                Ok(Err(StoreError::Full(_))) | Err(_) => {}
                Ok(Err(err)) => tracing::debug!(error = %err, "write probe failed"),
            }
        }
    }
}
