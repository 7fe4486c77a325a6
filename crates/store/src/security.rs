//! Password security state: policies (stored as JSON, validated by the service), per-account
//! failure counting and lockout, per-IP throttling, password history and instance settings.
//!
//! Failure counting is one conditional `UPDATE`: SQLite serialises it, PostgreSQL re-checks
//! the `WHERE` on the locked row, so parallel wrong guesses can never count past the limit.

use portcullis_core::{OrgKey, Timestamp, UserKey};

use crate::audit::{Actor, AuditRecord, insert_audit};
use crate::credentials::{CREDENTIAL_COLUMNS, CredentialRecord, credential_from_row};
use crate::rows::{id_of, org_key, user_key};
use crate::write::{audit_write_failed, count_audit};
use crate::{Result, Store, Write};

/// `locked_until` value of a lockout that only an administrator lifts.
pub const LOCKED_UNTIL_UNLOCKED: Timestamp = i64::MAX;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginState {
    pub failed_attempts: i64,
    pub locked_until: Option<Timestamp>,
    pub password_changed_at: Option<Timestamp>,
}

impl LoginState {
    pub fn locked_at(&self, now: Timestamp) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }
}

/// What counting one failed login did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCount {
    /// The account was already locked: nothing counted.
    AlreadyLocked,
    /// Counted; `locked` when this failure reached the limit.
    Counted { attempts: i64, locked: bool },
}

fn scope_key(org: Option<OrgKey>) -> String {
    match org {
        Some(org) => format!("org:{}", org.0),
        None => "global".to_owned(),
    }
}

async fn ensure_login_state(conn: &mut sqlx::AnyConnection, user: UserKey) -> Result<()> {
    sqlx::query(
        "INSERT INTO login_state (user_id, failed_attempts) VALUES ($1, 0) \
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(id_of(user.0))
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// The stored policy JSON of an organization, or of the instance (`None`).
    pub async fn password_policy(&self, org: Option<OrgKey>) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT policy FROM password_policies WHERE scope = $1")
                .bind(scope_key(org))
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The policies of every organization `user` belongs to.
    pub async fn member_org_policies(&self, user: UserKey) -> Result<Vec<(OrgKey, String)>> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT p.org_id, p.policy FROM password_policies p \
             JOIN memberships m ON m.org_id = p.org_id WHERE m.user_id = $1 ORDER BY p.org_id",
        )
        .bind(id_of(user.0))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(org, policy)| Ok((org_key(org)?, policy)))
            .collect()
    }

    pub async fn security_setting(&self, name: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM security_settings WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The members of `org` whose account is locked at `now`, with when the lockout ends
    /// ([`LOCKED_UNTIL_UNLOCKED`]: when an administrator lifts it).
    pub async fn locked_members(
        &self,
        org: OrgKey,
        now: Timestamp,
    ) -> Result<Vec<(UserKey, Timestamp)>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT s.user_id, s.locked_until FROM login_state s \
             JOIN memberships m ON m.user_id = s.user_id \
             WHERE m.org_id = $1 AND s.locked_until IS NOT NULL AND s.locked_until > $2 \
             ORDER BY s.user_id",
        )
        .bind(id_of(org.0))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(user, until)| Ok((user_key(user)?, until)))
            .collect()
    }

    pub async fn login_state(&self, user: UserKey) -> Result<LoginState> {
        let row: Option<(i64, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT failed_attempts, locked_until, password_changed_at FROM login_state WHERE user_id = $1",
        )
        .bind(id_of(user.0))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(
                |(failed_attempts, locked_until, password_changed_at)| LoginState {
                    failed_attempts,
                    locked_until,
                    password_changed_at,
                },
            )
            .unwrap_or_default())
    }

    /// Counts one failed login atomically and records `failure` (and `lockout` when this
    /// failure locks the account) in the same transaction. `max_attempts` 0 never locks;
    /// `lock_until` is when a lockout reached now would end.
    #[allow(
        clippy::too_many_arguments,
        reason = "one atomic step: the count, its limit and both audit entries"
    )]
    pub async fn count_login_failure(
        &self,
        user: UserKey,
        now: Timestamp,
        max_attempts: u32,
        lock_until: Timestamp,
        actor: &Actor,
        failure: &AuditRecord,
        lockout: &AuditRecord,
        lockout_notice: Option<&crate::NewMessage>,
    ) -> Result<FailureCount> {
        let mut tx = crate::tx::Tx::begin(&self.pool).await?;
        ensure_login_state(&mut tx, user).await?;
        // An expired lockout starts the count afresh.
        let row: Option<(i64, Option<i64>)> = sqlx::query_as(
            "UPDATE login_state SET \
               failed_attempts = CASE WHEN locked_until IS NOT NULL AND locked_until <= $2 THEN 1 \
                                      ELSE failed_attempts + 1 END, \
               locked_until = CASE \
                 WHEN $3 > 0 AND (CASE WHEN locked_until IS NOT NULL AND locked_until <= $2 THEN 1 \
                                       ELSE failed_attempts + 1 END) >= $3 THEN $4 \
                 WHEN locked_until IS NOT NULL AND locked_until <= $2 THEN NULL \
                 ELSE locked_until END \
             WHERE user_id = $1 AND (locked_until IS NULL OR locked_until <= $2) \
             RETURNING failed_attempts, locked_until",
        )
        .bind(id_of(user.0))
        .bind(now)
        .bind(i64::from(max_attempts))
        .bind(lock_until)
        .fetch_optional(&mut *tx)
        .await?;
        let revision = current_revision(&mut tx).await?;
        let outcome = match row {
            None => FailureCount::AlreadyLocked,
            Some((attempts, locked_until)) => FailureCount::Counted {
                attempts,
                locked: locked_until.is_some_and(|until| until > now),
            },
        };
        let locked = matches!(outcome, FailureCount::Counted { locked: true, .. });
        insert_audit(&mut tx, actor, now, revision, failure, false)
            .await
            .inspect_err(|_| audit_write_failed())?;
        if locked {
            insert_audit(&mut tx, actor, now, revision, lockout, true)
                .await
                .inspect_err(|_| audit_write_failed())?;
            // The owner hears of the lockout in the same transaction that records it.
            if let Some(notice) = lockout_notice {
                crate::outbox::insert_message(&mut tx, now, notice).await?;
            }
        }
        tx.commit().await.inspect_err(|_| audit_write_failed())?;
        // The metrics count what was recorded: the failure, and the lockout it caused.
        count_audit(failure, true, false);
        if locked {
            count_audit(lockout, true, true);
        }
        Ok(outcome)
    }

    /// After a correct password: clears the failure count unless the account is locked.
    /// Returns `false` (and changes nothing) when it is locked.
    pub async fn clear_login_failures(&self, user: UserKey, now: Timestamp) -> Result<bool> {
        let mut conn = self.pool.acquire().await?;
        ensure_login_state(&mut conn, user).await?;
        let updated = sqlx::query(
            "UPDATE login_state SET failed_attempts = 0, locked_until = NULL \
             WHERE user_id = $1 AND (locked_until IS NULL OR locked_until <= $2)",
        )
        .bind(id_of(user.0))
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Failed logins from `ip` in the window that is current at `now`, and when it ends.
    pub async fn ip_failures(
        &self,
        ip: &str,
        now: Timestamp,
        window_ms: i64,
    ) -> Result<Option<(i64, Timestamp)>> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT failures, window_start FROM login_throttle WHERE source_ip = $1",
        )
        .bind(ip)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|(failures, start)| {
            (start + window_ms > now).then_some((failures, start + window_ms))
        }))
    }

    /// Counts one failed login from `ip` (fixed windows of `window_ms`).
    pub async fn count_ip_failure(&self, ip: &str, now: Timestamp, window_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO login_throttle (source_ip, window_start, failures) VALUES ($1, $2, 1) \
             ON CONFLICT (source_ip) DO UPDATE SET \
               failures = CASE WHEN login_throttle.window_start + $3 <= $2 THEN 1 \
                               ELSE login_throttle.failures + 1 END, \
               window_start = CASE WHEN login_throttle.window_start + $3 <= $2 THEN $2 \
                                   ELSE login_throttle.window_start END",
        )
        .bind(ip)
        .bind(now)
        .bind(window_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest `limit` remembered password hashes of `user`.
    pub async fn password_history(&self, user: UserKey, limit: u32) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT password_hash FROM password_history WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(id_of(user.0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }
}

async fn current_revision(conn: &mut sqlx::AnyConnection) -> Result<u64> {
    let revision: i64 = sqlx::query_scalar("SELECT value FROM meta WHERE name = 'revision'")
        .fetch_one(conn)
        .await?;
    Ok(u64::try_from(revision).unwrap_or_default())
}

impl Write {
    /// The stored policy JSON as this transaction sees it.
    pub async fn password_policy_in_tx(&mut self, org: Option<OrgKey>) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT policy FROM password_policies WHERE scope = $1")
                .bind(scope_key(org))
                .fetch_optional(self.conn())
                .await?,
        )
    }

    pub async fn put_password_policy(&mut self, org: Option<OrgKey>, policy: &str) -> Result<()> {
        let now = self.now();
        sqlx::query(
            "INSERT INTO password_policies (scope, org_id, policy, modified_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (scope) DO UPDATE SET policy = excluded.policy, modified_at = excluded.modified_at",
        )
        .bind(scope_key(org))
        .bind(org.map(|o| id_of(o.0)))
        .bind(policy)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Removes an organization's own policy (it then follows the global one).
    pub async fn delete_password_policy(&mut self, org: OrgKey) -> Result<bool> {
        let deleted = sqlx::query("DELETE FROM password_policies WHERE scope = $1")
            .bind(scope_key(Some(org)))
            .execute(self.conn())
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }

    pub async fn put_security_setting(&mut self, name: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO security_settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Revokes a user's live credentials: sessions only, or every kind (`sessions_only`
    /// false), except the one whose hash is `except`. Returns what was revoked.
    pub async fn revoke_user_credentials(
        &mut self,
        user: UserKey,
        sessions_only: bool,
        except: Option<&[u8; 32]>,
    ) -> Result<Vec<CredentialRecord>> {
        let now = self.now();
        let except = except.map(hex::encode).unwrap_or_default();
        let kind_filter = if sessions_only {
            "AND kind = 'session'"
        } else {
            ""
        };
        sqlx::query_as(&format!(
            "UPDATE credentials SET revoked_at = $1 \
             WHERE user_id = $2 AND revoked_at IS NULL AND token_hash <> $3 {kind_filter} \
             RETURNING {CREDENTIAL_COLUMNS}"
        ))
        .bind(now)
        .bind(id_of(user.0))
        .bind(except)
        .fetch_all(self.conn())
        .await?
        .into_iter()
        .map(credential_from_row)
        .collect()
    }

    /// After a membership ends: when `user` belongs to no organization any more, revokes
    /// every credential it holds (sessions and tokens) and returns them; else nothing.
    pub async fn revoke_credentials_if_orgless(
        &mut self,
        user: UserKey,
    ) -> Result<Vec<CredentialRecord>> {
        let memberships: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE user_id = $1")
                .bind(id_of(user.0))
                .fetch_one(self.conn())
                .await?;
        if memberships > 0 {
            return Ok(Vec::new());
        }
        self.revoke_user_credentials(user, false, None).await
    }

    /// Lifts a lockout; `false` when the account was not locked.
    pub async fn unlock_user(&mut self, user: UserKey) -> Result<bool> {
        let now = self.now();
        let updated = sqlx::query(
            "UPDATE login_state SET failed_attempts = 0, locked_until = NULL \
             WHERE user_id = $1 AND locked_until IS NOT NULL AND locked_until > $2",
        )
        .bind(id_of(user.0))
        .bind(now)
        .execute(self.conn())
        .await?
        .rows_affected();
        Ok(updated > 0)
    }

    /// Records a newly set password: its hash joins the history and its age restarts.
    pub async fn record_password_set(&mut self, user: UserKey, hash: &str) -> Result<()> {
        let now = self.now();
        ensure_login_state(self.conn(), user).await?;
        sqlx::query("UPDATE login_state SET password_changed_at = $1 WHERE user_id = $2")
            .bind(now)
            .bind(id_of(user.0))
            .execute(self.conn())
            .await?;
        sqlx::query(
            "INSERT INTO password_history (user_id, password_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(id_of(user.0))
        .bind(hash)
        .bind(now)
        .execute(self.conn())
        .await?;
        sqlx::query(
            "DELETE FROM password_history WHERE user_id = $1 AND id NOT IN \
             (SELECT id FROM password_history WHERE user_id = $1 ORDER BY id DESC LIMIT 50)",
        )
        .bind(id_of(user.0))
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

impl Write {
    /// Sets a user's state (`active` or `suspended`).
    pub async fn set_user_active(&mut self, user: UserKey, active: bool) -> Result<()> {
        let updated = sqlx::query("UPDATE users SET state = $1 WHERE account_id = $2")
            .bind(if active { "active" } else { "suspended" })
            .bind(id_of(user.0))
            .execute(self.conn())
            .await?
            .rows_affected();
        if updated == 0 {
            return Err(crate::StoreError::NotFound("user"));
        }
        Ok(())
    }

    /// How many organizations have `user` as their only active administrator.
    pub async fn orgs_where_last_active_admin(&mut self, user: UserKey) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM memberships m WHERE m.user_id = $1 AND m.role = 'admin' \
             AND NOT EXISTS (SELECT 1 FROM memberships o JOIN users u ON u.account_id = o.user_id \
                             WHERE o.org_id = m.org_id AND o.role = 'admin' AND o.user_id <> $1 \
                             AND u.state = 'active')",
        )
        .bind(id_of(user.0))
        .fetch_one(self.conn())
        .await?)
    }
}
