//! The outbox: messages queued in the same transaction as the change that causes them, and
//! their delivery state. A delivery worker *claims* due messages by setting a lease (so several
//! servers on one database do not send one message twice in normal operation), then marks each
//! sent, due again later (with its error), or failed for good. A worker that dies mid-send
//! leaves a lease that simply runs out: the message is sent again (at least once).
//!
//! Delivery bookkeeping is not a data change: it does not bump the revision.

use portcullis_core::Timestamp;

use crate::{Backend, Result, Store};

/// A message to queue (rendered already).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub html_body: Option<String>,
}

/// Queues `message` on `conn` (inside the caller's transaction), due at once.
pub(crate) async fn insert_message(
    conn: &mut sqlx::AnyConnection,
    now: Timestamp,
    message: &NewMessage,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO outbox (recipient, subject, body, html_body, created_at, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(&message.recipient)
    .bind(&message.subject)
    .bind(&message.body)
    .bind(message.html_body.as_deref())
    .bind(now)
    .fetch_one(conn)
    .await?)
}

/// A message as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxMessage {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    /// Given up after too many attempts (with `last_error`).
    pub failed_at: Option<Timestamp>,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
}

impl OutboxMessage {
    /// `pending`, `sent` or `failed`.
    pub fn state(&self) -> &'static str {
        if self.sent_at.is_some() {
            "sent"
        } else if self.failed_at.is_some() {
            "failed"
        } else {
            "pending"
        }
    }
}

/// A message a worker holds the lease of, ready to send.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClaimedMessage {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub html_body: Option<String>,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

impl Store {
    /// The newest messages, whatever their state.
    pub async fn outbox(&self, limit: u32) -> Result<Vec<OutboxMessage>> {
        Ok(sqlx::query_as(
            "SELECT id, recipient, subject, body, created_at, sent_at, failed_at, attempts, \
             next_attempt_at, last_error FROM outbox ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Claims up to `limit` due messages (unsent, not failed, due by `now`, no live lease)
    /// until `lease_until`, counting the attempt. PostgreSQL skips rows another server is
    /// claiming at the same moment (`FOR UPDATE SKIP LOCKED`); SQLite runs one writer at a
    /// time, so its single `UPDATE` is the same claim.
    pub async fn claim_due_messages(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>> {
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let mut claimed: Vec<ClaimedMessage> = sqlx::query_as(&format!(
            "UPDATE outbox SET lease_until = $1, attempts = attempts + 1 WHERE id IN (\
             SELECT id FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL \
             AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until <= $2) \
             ORDER BY id LIMIT $3{lock}) \
             RETURNING id, recipient, subject, body, html_body, attempts"
        ))
        .bind(lease_until)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        claimed.sort_by_key(|m| m.id);
        Ok(claimed)
    }

    /// The message went out.
    pub async fn mark_message_sent(&self, id: i64, now: Timestamp) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET sent_at = $1, lease_until = NULL WHERE id = $2 AND sent_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The attempt failed: due again at `next_attempt_at`, with the error kept.
    pub async fn retry_message_later(
        &self,
        id: i64,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET lease_until = NULL, next_attempt_at = $1, last_error = $2 \
             WHERE id = $3 AND sent_at IS NULL",
        )
        .bind(next_attempt_at)
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Too many attempts: the message is failed for good, with its last error, for the
    /// operator to see.
    pub async fn mark_message_failed(&self, id: i64, now: Timestamp, error: &str) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET lease_until = NULL, failed_at = $1, last_error = $2 \
             WHERE id = $3 AND sent_at IS NULL",
        )
        .bind(now)
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
