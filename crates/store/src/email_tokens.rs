//! Verified email addresses and the single-use links that prove them: a `verify` link proves
//! the account's current address, a `change` link moves the account to the address it was sent
//! to. Tokens are stored by hash only and bound to the address they were sent to, so a link
//! sent before an address change verifies nothing afterwards.

use portcullis_core::{Timestamp, UserKey};

use crate::error::conflict_as;
use crate::rows::{id_of, user_key};
use crate::{Result, Store, StoreError, Write};

/// What an email link does when followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTokenPurpose {
    Verify,
    Change,
}

impl EmailTokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Change => "change",
        }
    }

    fn parse(raw: &str) -> Result<Self> {
        match raw {
            "verify" => Ok(Self::Verify),
            "change" => Ok(Self::Change),
            other => Err(StoreError::Corrupt(format!(
                "unknown email token purpose `{other}`"
            ))),
        }
    }
}

/// A consumed email link: whose, what for, and the address it was sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedeemedEmailToken {
    pub user: UserKey,
    pub purpose: EmailTokenPurpose,
    pub email: String,
    pub email_key: String,
}

impl Store {
    /// When `user` proved owning its current address (`None`: unverified).
    pub async fn email_verified_at(&self, user: UserKey) -> Result<Option<Timestamp>> {
        let row: Option<Option<i64>> =
            sqlx::query_scalar("SELECT email_verified_at FROM users WHERE account_id = $1")
                .bind(id_of(user.0))
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.flatten())
    }

    /// When `user` was last sent a link for `purpose` (for throttling resends).
    pub async fn last_email_token_at(
        &self,
        user: UserKey,
        purpose: EmailTokenPurpose,
    ) -> Result<Option<Timestamp>> {
        Ok(sqlx::query_scalar(
            "SELECT MAX(created_at) FROM email_tokens WHERE user_id = $1 AND purpose = $2",
        )
        .bind(id_of(user.0))
        .bind(purpose.as_str())
        .fetch_one(&self.pool)
        .await?)
    }
}

impl Write {
    /// The account id (handle) of `user`, as this transaction sees it.
    pub async fn user_handle(&mut self, user: UserKey) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT handle FROM accounts WHERE id = $1 AND kind = 'user'")
                .bind(id_of(user.0))
                .fetch_optional(self.conn())
                .await?,
        )
    }

    /// When `user` proved owning its current address, as this transaction sees it.
    pub async fn email_verified_at(&mut self, user: UserKey) -> Result<Option<Timestamp>> {
        let row: Option<Option<i64>> =
            sqlx::query_scalar("SELECT email_verified_at FROM users WHERE account_id = $1")
                .bind(id_of(user.0))
                .fetch_optional(self.conn())
                .await?;
        Ok(row.flatten())
    }

    /// Issues a link for `purpose` sent to `email`; earlier live links of the same purpose
    /// stop working (only the newest mail counts).
    pub async fn issue_email_token(
        &mut self,
        token_hash: &str,
        user: UserKey,
        purpose: EmailTokenPurpose,
        email: &str,
        email_key: &str,
        expires_at: Timestamp,
    ) -> Result<()> {
        let now = self.now();
        sqlx::query(
            "UPDATE email_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL",
        )
        .bind(now)
        .bind(id_of(user.0))
        .bind(purpose.as_str())
        .execute(self.conn())
        .await?;
        sqlx::query(
            "INSERT INTO email_tokens (token_hash, user_id, purpose, email, email_key, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token_hash)
        .bind(id_of(user.0))
        .bind(purpose.as_str())
        .bind(email)
        .bind(email_key)
        .bind(now)
        .bind(expires_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Uses a link up: only once, only before it expires.
    pub async fn redeem_email_token(
        &mut self,
        token_hash: &str,
    ) -> Result<Option<RedeemedEmailToken>> {
        let now = self.now();
        let row: Option<(i64, String, String, String)> = sqlx::query_as(
            "UPDATE email_tokens SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             RETURNING user_id, purpose, email, email_key",
        )
        .bind(now)
        .bind(token_hash)
        .fetch_optional(self.conn())
        .await?;
        row.map(|(user, purpose, email, email_key)| {
            Ok(RedeemedEmailToken {
                user: user_key(user)?,
                purpose: EmailTokenPurpose::parse(&purpose)?,
                email,
                email_key,
            })
        })
        .transpose()
    }

    /// Marks `user`'s address verified, only while it is still `email_key` (the address the
    /// proof was for). Returns whether it was.
    pub async fn mark_email_verified(&mut self, user: UserKey, email_key: &str) -> Result<bool> {
        let now = self.now();
        let updated = sqlx::query(
            "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1) \
             WHERE account_id = $2 AND email_key = $3",
        )
        .bind(now)
        .bind(id_of(user.0))
        .bind(email_key)
        .execute(self.conn())
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Moves `user` to a proven new address (verified at once); `Conflict("email")` when
    /// another account holds it.
    pub async fn change_email(
        &mut self,
        user: UserKey,
        email: &str,
        email_key: &str,
    ) -> Result<()> {
        let now = self.now();
        let updated = sqlx::query(
            "UPDATE users SET email = $1, email_key = $2, email_verified_at = $3 WHERE account_id = $4",
        )
        .bind(email)
        .bind(email_key)
        .bind(now)
        .bind(id_of(user.0))
        .execute(self.conn())
        .await
        .map_err(conflict_as("email"))?
        .rows_affected();
        if updated == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(())
    }
}
