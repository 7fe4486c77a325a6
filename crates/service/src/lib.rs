//! Portcullis use cases. Every state-changing function takes the acting [`Caller`], checks the
//! permission itself against the in-memory index, writes the change and its audit entry in one
//! store transaction, then applies the change to the index before returning, so the next
//! check on this server already sees it (read-your-writes).
//!
//! Handlers never decide permissions; a forgotten check in an adapter cannot open a hole.

pub mod access_review;
pub mod app_keys;
pub mod apps;
pub mod audit;
pub mod authentication;
mod authorize;
pub mod billing;
mod caller;
pub mod check;
pub mod collaborators;
pub mod compute;
mod config;
mod credential_use;
pub mod csv_export;
pub mod domains;
pub mod email_keys;
pub mod email_verification;
mod error;
pub mod follow;
pub mod health;
pub mod identity_providers;
mod input;
pub mod invitations;
pub mod items;
pub mod keys;
pub mod lockout;
mod mail;
pub mod mail_delivery;
pub mod members;
pub mod orgs;
pub mod outbound;
pub mod password_change;
pub mod password_hashing;
pub mod policy;
pub mod scim;
pub mod sealing;
pub mod secrets;
pub mod session_revocation;
pub mod sso;
pub mod sso_links;
mod sso_trust;
pub mod teams;
pub mod totp;
pub mod transfer;

use std::sync::Arc;

use parking_lot::RwLock;
use portcullis_core::{AccessIndex, Change, Clock};
use portcullis_store::{Store, Write};

pub use caller::{Caller, Grants, RequestMeta};
pub use config::ServiceConfig;
pub use error::ServiceError;
pub use portcullis_core as core;
pub use portcullis_saml::SpKey;
pub use portcullis_store as store;

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// A committed write: its result and the data revision it committed at.
#[derive(Debug, Clone)]
pub struct Committed<T> {
    pub value: T,
    pub revision: u64,
}

/// The service: the store, the access index kept current with it, and the configuration.
#[derive(Debug)]
pub struct Portcullis {
    store: Store,
    index: RwLock<AccessIndex>,
    /// Serialises this process's writes so index changes are applied in revision order.
    write_lock: tokio::sync::Mutex<()>,
    clock: Arc<dyn Clock>,
    config: ServiceConfig,
    passwords: password_hashing::PasswordHasher,
    activity: session_revocation::SessionActivity,
    health: health::Health,
}

/// How long a write waits for this server's earlier writes before answering 503 `store.busy`.
pub const WRITE_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// The longest one write may take from `BEGIN` to `COMMIT` (longer than the store's lock
/// timeout); past it the transaction is abandoned (rolled back) and answered 503, so a store
/// that stopped answering (a network partition) cannot hold a request or the write queue.
pub const WRITE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

impl Portcullis {
    /// Loads the index from `store` and returns a ready service.
    pub async fn start(
        store: Store,
        clock: Arc<dyn Clock>,
        config: ServiceConfig,
    ) -> Result<Arc<Self>> {
        let index = store.load_index(clock.now()).await?;
        let passwords = password_hashing::PasswordHasher::new().await?;
        let service = Arc::new(Self {
            activity: session_revocation::SessionActivity::load(&store).await?,
            store,
            health: health::Health::new(index.revision()),
            index: RwLock::new(index),
            write_lock: tokio::sync::Mutex::new(()),
            clock,
            config,
            passwords,
        });
        service.spawn_health_probe();
        Ok(service)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    pub fn now(&self) -> portcullis_core::Timestamp {
        self.clock.now()
    }

    /// The revision the index reflects.
    pub fn revision(&self) -> u64 {
        self.index.read().revision()
    }

    /// Read access to the index (short critical sections only; never across an await).
    pub fn with_index<R>(&self, f: impl FnOnce(&AccessIndex) -> R) -> R {
        f(&self.index.read())
    }

    /// Runs `op` in one store transaction with the caller as the audited actor, commits it,
    /// and applies the index changes it returns. An error rolls everything back. The write is
    /// acknowledged (and the index changed) only once its commit succeeded.
    pub(crate) async fn commit<T>(
        &self,
        caller: &Caller,
        op: impl AsyncFnOnce(&mut Write) -> Result<(T, Vec<Change>)>,
    ) -> Result<Committed<T>> {
        self.writable()?;
        let Ok(_serialised) = tokio::time::timeout(WRITE_QUEUE_WAIT, self.write_lock.lock()).await
        else {
            return Err(ServiceError::Unavailable {
                code: "store.busy",
                message: "too many writes are waiting for the store; retry shortly".to_owned(),
            });
        };
        // The store may have been found unreachable while this write waited its turn.
        self.writable()?;
        // Dropping the write at the deadline closes its connection: the database rolls it back.
        let result = tokio::time::timeout(WRITE_DEADLINE, self.commit_serialised(caller, op))
            .await
            .unwrap_or_else(|_| {
                tracing::warn!("a write did not finish within its deadline; abandoned");
                Err(health::unavailable())
            });
        self.health.note_write(&result);
        let (value, revision, changes) = match result {
            Ok(committed) => committed,
            Err(err) => {
                if let ServiceError::StoreFull | ServiceError::Unavailable { .. } = &err {
                    tracing::warn!(error = %err, "write refused by the store");
                }
                return Err(err);
            }
        };
        // Committed: from here on the answer is success. Other servers' earlier writes first,
        // so the index stays a prefix of the history; the follower retries a failed catch-up.
        if let Err(err) = self.apply_committed(revision, &changes).await {
            tracing::error!(error = %err, revision, "cannot apply a committed write to the index");
        }
        Ok(Committed { value, revision })
    }

    /// Begin to commit of one write; returns its value, revision and index changes.
    async fn commit_serialised<T>(
        &self,
        caller: &Caller,
        op: impl AsyncFnOnce(&mut Write) -> Result<(T, Vec<Change>)>,
    ) -> Result<(T, u64, Vec<Change>)> {
        let mut write = self
            .store
            .begin_write(&caller.actor(), self.clock.now())
            .await?;
        let outcome = self.run_write(caller, &mut write, op).await;
        let (value, changes) = match outcome {
            Ok(done) => done,
            Err(err) => {
                // A failed rollback closes the connection instead (see the store's `Tx`).
                if let Err(rollback) = write.rollback().await {
                    tracing::warn!(error = %rollback, "rollback failed; connection discarded");
                }
                return Err(err);
            }
        };
        write.set_changes(&changes);
        let revision = match write.commit().await {
            Ok(revision) => revision,
            Err(err) => {
                // Nothing was acknowledged; if the database did commit before the connection
                // was lost, the follower applies it from the change feed like any other write.
                return Err(err.into());
            }
        };
        Ok((value, revision, changes))
    }

    /// The checks and the operation of a write, inside its transaction.
    async fn run_write<T>(
        &self,
        caller: &Caller,
        write: &mut Write,
        op: impl AsyncFnOnce(&mut Write) -> Result<(T, Vec<Change>)>,
    ) -> Result<(T, Vec<Change>)> {
        // The request was authenticated against the index before the write was serialised; a
        // revocation (or suspension) committed in between, here or on another server, wins.
        if let Some((credential, kind)) = caller.credential {
            let live = if kind == portcullis_core::CredentialKind::ScimToken {
                write.scim_token_live(credential).await?
            } else {
                write.credential_live(credential).await?
            };
            if !live {
                return Err(ServiceError::Unauthenticated);
            }
        }
        // Likewise for permissions: with every earlier write (from any server) in the index,
        // what authorized this request must still hold.
        let grants = caller.granted.list();
        if !grants.is_empty() {
            self.catch_up_to(Some(write.revision().saturating_sub(1)))
                .await?;
            for (permission, resource, what) in grants {
                self.authorize(caller, permission, resource, what)?;
            }
        }
        op(write).await
    }
}
