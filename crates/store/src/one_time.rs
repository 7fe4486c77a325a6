//! Single-use, expiring tokens (password reset, forced password change, the second login
//! step), stored by hash only. Messages are queued in the outbox (`outbox.rs`).

use portcullis_core::{Timestamp, UserKey};

use crate::rows::{flag, id_of, user_key};
use crate::{Result, Store, Write};

/// What a one-time token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    PasswordReset,
    PasswordChange,
    SecondFactor,
    TwoFactorEnrolment,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::PasswordReset => "password_reset",
            TokenPurpose::PasswordChange => "password_change",
            TokenPurpose::SecondFactor => "second_factor",
            TokenPurpose::TwoFactorEnrolment => "two_factor_enrolment",
        }
    }
}

/// A consumed token: whose it was and whether its login asked to be remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedeemedToken {
    pub user: UserKey,
    pub remember_me: bool,
}

impl Store {
    /// Issues a token outside any data write (login steps are not data changes).
    pub async fn issue_one_time_token(
        &self,
        token_hash: &str,
        user: UserKey,
        purpose: TokenPurpose,
        now: Timestamp,
        expires_at: Timestamp,
        remember_me: bool,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO one_time_tokens (token_hash, user_id, purpose, created_at, expires_at, remember_me) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(id_of(user.0))
        .bind(purpose.as_str())
        .bind(now)
        .bind(expires_at)
        .bind(i64::from(remember_me))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether a token is live (unused, unexpired) for `purpose`, without using it up.
    pub async fn peek_one_time_token(
        &self,
        token_hash: &str,
        purpose: TokenPurpose,
        now: Timestamp,
    ) -> Result<Option<RedeemedToken>> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT user_id, remember_me FROM one_time_tokens \
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(token_hash)
        .bind(purpose.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(user, remember)| {
            Ok(RedeemedToken {
                user: user_key(user)?,
                remember_me: flag(remember),
            })
        })
        .transpose()
    }
}

impl Write {
    pub async fn issue_one_time_token(
        &mut self,
        token_hash: &str,
        user: UserKey,
        purpose: TokenPurpose,
        expires_at: Timestamp,
    ) -> Result<()> {
        let now = self.now();
        sqlx::query(
            "INSERT INTO one_time_tokens (token_hash, user_id, purpose, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(id_of(user.0))
        .bind(purpose.as_str())
        .bind(now)
        .bind(expires_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Uses a token up: only once, only before it expires, only for its purpose.
    pub async fn redeem_one_time_token(
        &mut self,
        token_hash: &str,
        purpose: TokenPurpose,
    ) -> Result<Option<RedeemedToken>> {
        let now = self.now();
        let row: Option<(i64, i64)> = sqlx::query_as(
            "UPDATE one_time_tokens SET used_at = $1 \
             WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 \
             RETURNING user_id, remember_me",
        )
        .bind(now)
        .bind(token_hash)
        .bind(purpose.as_str())
        .fetch_optional(self.conn())
        .await?;
        row.map(|(user, remember)| {
            Ok(RedeemedToken {
                user: user_key(user)?,
                remember_me: flag(remember),
            })
        })
        .transpose()
    }

    /// Voids every live token of `user` for `purpose` (a new reset supersedes older ones).
    pub async fn void_one_time_tokens(
        &mut self,
        user: UserKey,
        purpose: TokenPurpose,
    ) -> Result<()> {
        let now = self.now();
        sqlx::query(
            "UPDATE one_time_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL",
        )
        .bind(now)
        .bind(id_of(user.0))
        .bind(purpose.as_str())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Queues a message (plain text, and HTML when given) for delivery, due at once.
    pub async fn enqueue_message(
        &mut self,
        recipient: &str,
        subject: &str,
        body: &str,
        html_body: Option<&str>,
    ) -> Result<i64> {
        let now = self.now();
        let message = crate::NewMessage {
            recipient: recipient.to_owned(),
            subject: subject.to_owned(),
            body: body.to_owned(),
            html_body: html_body.map(str::to_owned),
        };
        crate::outbox::insert_message(self.conn(), now, &message).await
    }
}
