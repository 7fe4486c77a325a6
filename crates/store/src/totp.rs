//! Two-factor state: the TOTP factor of a user (secret, confirmed or pending, the last time
//! step used so a code cannot be replayed), recovery codes (hashes only) and the per-org
//! "two-factor required" switch.
//!
//! The secret is stored as the service gives it: sealed (`sealed:v1:…`, see the service's
//! `sealing` module) or, in rows written before sealing existed, plain base32. The store never
//! sees a key and never opens a value.

use portcullis_core::{OrgKey, Timestamp, UserKey};

use crate::rows::{flag, id_of, user_key};
use crate::{Result, Store, Write};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpFactor {
    /// The stored form: sealed, or legacy plain base32 (RFC 4648, no padding).
    pub secret: String,
    pub enabled: bool,
    pub last_step: i64,
}

impl Store {
    pub async fn totp_factor(&self, user: UserKey) -> Result<Option<TotpFactor>> {
        let row: Option<(String, i64, i64)> = sqlx::query_as(
            "SELECT secret, enabled, last_step FROM totp_factors WHERE user_id = $1",
        )
        .bind(id_of(user.0))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(secret, enabled, last_step)| TotpFactor {
            secret,
            enabled: flag(enabled),
            last_step,
        }))
    }

    /// Up to `limit` stored TOTP secrets of users after `after` (row id order), for re-sealing
    /// and the start-up check: each user and the stored form of its secret.
    pub async fn totp_secrets_after(
        &self,
        after: UserKey,
        limit: i64,
    ) -> Result<Vec<(UserKey, String)>> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT user_id, secret FROM totp_factors WHERE user_id > $1 ORDER BY user_id LIMIT $2",
        )
        .bind(id_of(after.0))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, secret)| Ok((user_key(id)?, secret)))
            .collect()
    }

    /// Whether any stored secret is sealed (then a new key ring must never replace a lost one).
    pub async fn has_sealed_secrets(&self) -> Result<bool> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM totp_factors WHERE secret LIKE 'sealed:%'")
                .fetch_one(&self.pool)
                .await?;
        Ok(count > 0)
    }

    /// Marks time step `step` used for an enabled factor; `false` if it (or a later one)
    /// already was: each code works once.
    pub async fn use_totp_step(&self, user: UserKey, step: i64) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE totp_factors SET last_step = $2 WHERE user_id = $1 AND enabled = 1 AND last_step < $2",
        )
        .bind(id_of(user.0))
        .bind(step)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Uses up a recovery code; `false` if there is no such unused code.
    pub async fn use_recovery_code(
        &self,
        user: UserKey,
        code_hash: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(now)
        .bind(id_of(user.0))
        .bind(code_hash)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    pub async fn unused_recovery_codes(&self, user: UserKey) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(id_of(user.0))
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn org_requires_two_factor(&self, org: OrgKey) -> Result<bool> {
        let flagged: Option<i64> =
            sqlx::query_scalar("SELECT require_two_factor FROM org_security WHERE org_id = $1")
                .bind(id_of(org.0))
                .fetch_optional(&self.pool)
                .await?;
        Ok(flagged.is_some_and(flag))
    }

    /// Whether any organization `user` belongs to requires two-factor.
    pub async fn two_factor_required_for(&self, user: UserKey) -> Result<bool> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM org_security s JOIN memberships m ON m.org_id = s.org_id \
             WHERE m.user_id = $1 AND s.require_two_factor = 1",
        )
        .bind(id_of(user.0))
        .fetch_one(&self.pool)
        .await?;
        Ok(count > 0)
    }
}

impl Write {
    /// Starts (or restarts) enrolment with a new secret; refused (`false`) once enabled.
    pub async fn put_pending_totp(&mut self, user: UserKey, secret: &str) -> Result<bool> {
        let now = self.now();
        let updated = sqlx::query(
            "INSERT INTO totp_factors (user_id, secret, enabled, last_step, created_at) \
             VALUES ($1, $2, 0, 0, $3) \
             ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, last_step = 0, \
             created_at = excluded.created_at WHERE totp_factors.enabled = 0",
        )
        .bind(id_of(user.0))
        .bind(secret)
        .bind(now)
        .execute(self.conn())
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Confirms a pending factor with the step of the code that proved it.
    pub async fn enable_totp(&mut self, user: UserKey, step: i64) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE totp_factors SET enabled = 1, last_step = $2 WHERE user_id = $1 AND enabled = 0",
        )
        .bind(id_of(user.0))
        .bind(step)
        .execute(self.conn())
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Records the step of a code used inside a write (disable); `false` on replay.
    pub async fn use_totp_step_in_tx(&mut self, user: UserKey, step: i64) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE totp_factors SET last_step = $2 WHERE user_id = $1 AND enabled = 1 AND last_step < $2",
        )
        .bind(id_of(user.0))
        .bind(step)
        .execute(self.conn())
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Replaces the stored form of a user's secret if it is still `old` (a concurrent
    /// enrolment wins); `false` when it changed meanwhile.
    pub async fn reseal_totp_secret(
        &mut self,
        user: UserKey,
        old: &str,
        new: &str,
    ) -> Result<bool> {
        let updated =
            sqlx::query("UPDATE totp_factors SET secret = $3 WHERE user_id = $1 AND secret = $2")
                .bind(id_of(user.0))
                .bind(old)
                .bind(new)
                .execute(self.conn())
                .await?
                .rows_affected();
        Ok(updated == 1)
    }

    pub async fn delete_totp(&mut self, user: UserKey) -> Result<()> {
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(id_of(user.0))
            .execute(self.conn())
            .await?;
        sqlx::query("DELETE FROM totp_factors WHERE user_id = $1")
            .bind(id_of(user.0))
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn replace_recovery_codes(&mut self, user: UserKey, hashes: &[String]) -> Result<()> {
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(id_of(user.0))
            .execute(self.conn())
            .await?;
        for hash in hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(id_of(user.0))
                .bind(hash)
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }

    pub async fn set_org_require_two_factor(&mut self, org: OrgKey, required: bool) -> Result<()> {
        sqlx::query(
            "INSERT INTO org_security (org_id, require_two_factor) VALUES ($1, $2) \
             ON CONFLICT (org_id) DO UPDATE SET require_two_factor = excluded.require_two_factor",
        )
        .bind(id_of(org.0))
        .bind(i64::from(required))
        .execute(self.conn())
        .await?;
        Ok(())
    }
}
