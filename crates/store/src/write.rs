//! The one way to change stored data: a transaction that bumps the revision and commits the
//! change together with its audit entries.

use portcullis_core::Timestamp;
use sqlx::{Any, AnyConnection, Transaction};

use crate::audit::{Actor, AuditRecord, insert_audit};
use crate::{Result, Store};

#[derive(Debug)]
pub struct Write {
    tx: Transaction<'static, Any>,
    revision: u64,
    now: Timestamp,
    actor: Actor,
    audit: Vec<AuditRecord>,
}

impl Store {
    /// Starts a write. The revision bump is the first statement, so the transaction takes the
    /// write lock at once (SQLite) or the revision row lock (PostgreSQL): writers are serialised
    /// and every check inside the transaction reads committed, current data.
    pub async fn begin_write(&self, actor: &Actor, now: Timestamp) -> Result<Write> {
        let mut tx = self.pool.begin().await?;
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
        let mut tx = self.pool.begin().await?;
        insert_audit(&mut tx, actor, now, revision, &record, false).await?;
        tx.commit().await?;
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

    /// Writes the audit entries and commits; returns the committed revision.
    pub async fn commit(mut self) -> Result<u64> {
        for record in std::mem::take(&mut self.audit) {
            insert_audit(
                &mut self.tx,
                &self.actor,
                self.now,
                self.revision,
                &record,
                true,
            )
            .await?;
        }
        self.tx.commit().await?;
        Ok(self.revision)
    }
}
