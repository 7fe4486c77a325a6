//! The one way to change stored data: a transaction that bumps the revision and commits the
//! change together with its audit entries.

use portcullis_core::audit::Operation;
use portcullis_core::{Change, Timestamp};
use sqlx::AnyConnection;

use crate::audit::{Actor, AuditRecord, insert_audit};
use crate::changes::insert_changes;
use crate::connect::Backend;
use crate::tx::Tx;
use crate::{Result, Store};

#[derive(Debug)]
pub struct Write {
    tx: Tx,
    revision: u64,
    now: Timestamp,
    actor: Actor,
    audit: Vec<AuditRecord>,
    changes: Vec<Change>,
    backend: Backend,
}

impl Store {
    /// Starts a write. The revision bump is the first statement, so the transaction takes the
    /// write lock at once (SQLite) or the revision row lock (PostgreSQL): writers are serialised
    /// and every check inside the transaction reads committed, current data.
    pub async fn begin_write(&self, actor: &Actor, now: Timestamp) -> Result<Write> {
        let mut tx = Tx::begin(&self.pool).await?;
        let revision: i64 = sqlx::query_scalar(
            "UPDATE meta SET value = value + 1 WHERE name = 'revision' RETURNING value",
        )
        .fetch_one(&mut *tx)
        .await?;
        Ok(Write {
            tx,
            revision: u64::try_from(revision).unwrap_or_default(),
            now,
            actor: actor.clone(),
            audit: Vec::new(),
            changes: Vec::new(),
            backend: self.backend(),
        })
    }

    /// Records a refused or failed mutation on its own (there is no change to go with it).
    pub async fn record_failure(
        &self,
        actor: &Actor,
        now: Timestamp,
        record: AuditRecord,
    ) -> Result<()> {
        let revision = self.revision().await?;
        // Its own transaction: the chain head stays locked until the entry is in.
        let mut tx = Tx::begin(&self.pool).await?;
        let result = insert_audit(&mut tx, actor, now, revision, &record, false).await;
        count_audit(&record, result.is_ok(), false);
        result?;
        tx.commit().await.inspect_err(|_| audit_write_failed())?;
        Ok(())
    }
}

impl Write {
    /// The connection of the transaction, for the store's own statements.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Adds the audit entry that describes this change.
    pub fn audit(&mut self, record: AuditRecord) {
        self.audit.push(record);
    }

    /// Sets the index changes this write makes; they go to the change feed with the commit
    /// (a write that sets none still leaves an empty feed row, so revisions stay contiguous).
    pub fn set_changes(&mut self, changes: &[Change]) {
        self.changes = changes.to_vec();
    }

    /// Ends the write without changing anything (the caller's operation failed). Dropping a
    /// `Write` does the same by closing its connection; this keeps the connection for reuse.
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await
    }

    /// Writes the audit entries and the change-feed row, and commits; returns the committed
    /// revision. Only an `Ok` means the write is durable: on any error nothing of it was
    /// committed and its connection is closed, never reused.
    pub async fn commit(mut self) -> Result<u64> {
        let audited = !self.audit.is_empty();
        for record in std::mem::take(&mut self.audit) {
            let result = insert_audit(
                &mut self.tx,
                &self.actor,
                self.now,
                self.revision,
                &record,
                true,
            )
            .await;
            count_audit(&record, result.is_ok(), true);
            result?;
        }
        insert_changes(
            &mut self.tx,
            self.backend,
            self.revision,
            self.now,
            &self.changes,
        )
        .await?;
        let committed = self.tx.commit().await;
        if audited && committed.is_err() {
            audit_write_failed();
        }
        committed?;
        Ok(self.revision)
    }
}

/// Security counters derived from the audit stream (exported at `/metrics`): login failures,
/// lockouts and SSO failures, and audit entries that could not be written.
pub(crate) fn count_audit(record: &AuditRecord, written: bool, success: bool) {
    if !written {
        audit_write_failed();
        return;
    }
    let name = record.operation.name();
    if record.operation == Operation::LoginFailure {
        metrics::counter!("portcullis_login_failures_total").increment(1);
    } else if record.operation == Operation::AccountLockout {
        metrics::counter!("portcullis_lockouts_total").increment(1);
    } else if name.contains("sso") && (!success || name.ends_with("failure")) {
        metrics::counter!("portcullis_sso_failures_total").increment(1);
    }
}

pub(crate) fn audit_write_failed() {
    metrics::counter!("portcullis_audit_write_failures_total").increment(1);
}
