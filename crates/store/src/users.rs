//! Users: the people who sign in. A user is an account in the shared account namespace.

use portcullis_core::{AccountId, Email, Timestamp, UserKey};

use crate::error::conflict_as;
use crate::rows::{flag, id_of, user_key};
use crate::{Result, Store, StoreError, Write};

#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: AccountId,
    pub email: Email,
    pub first_name: String,
    pub last_name: String,
    /// `None` for users that only sign in through SSO.
    pub password_hash: Option<String>,
    pub operator: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub key: UserKey,
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub active: bool,
    pub operator: bool,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

type UserRow = (i64, String, String, String, String, String, i64, i64, i64);

const USER_COLUMNS: &str = "a.id, a.handle, u.email, u.first_name, u.last_name, u.state, u.is_operator, \
                            a.created_at, a.modified_at";

fn user_from_row(row: UserRow) -> Result<UserRecord> {
    let (id, handle, email, first_name, last_name, state, operator, created_at, modified_at) = row;
    Ok(UserRecord {
        key: user_key(id)?,
        id: handle,
        email,
        first_name,
        last_name,
        active: state == "active",
        operator: flag(operator),
        created_at,
        modified_at,
    })
}

impl Store {
    pub async fn user(&self, key: UserKey) -> Result<Option<UserRecord>> {
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users u JOIN accounts a ON a.id = u.account_id WHERE a.id = $1"
        ))
        .bind(id_of(key.0))
        .fetch_optional(&self.pool)
        .await?;
        row.map(user_from_row).transpose()
    }

    /// A user by email (case-insensitive), with its password hash for verification.
    pub async fn user_with_password(
        &self,
        email: &Email,
    ) -> Result<Option<(UserRecord, Option<String>)>> {
        type Row = (
            i64,
            String,
            String,
            String,
            String,
            String,
            i64,
            i64,
            i64,
            Option<String>,
        );
        let row: Option<Row> =
            sqlx::query_as(&format!(
                "SELECT {USER_COLUMNS}, u.password_hash FROM users u JOIN accounts a ON a.id = u.account_id \
                 WHERE u.email_key = $1"
            ))
            .bind(email.key())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|(a, b, c, d, e, f, g, h, i, hash)| {
            Ok((user_from_row((a, b, c, d, e, f, g, h, i))?, hash))
        })
        .transpose()
    }

    /// A user by email (case-insensitive).
    pub async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>> {
        Ok(self.user_with_password(email).await?.map(|(user, _)| user))
    }

    /// Whether a platform operator exists yet (`portcullis init` creates the first).
    pub async fn operator_exists(&self) -> Result<bool> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE is_operator = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(count > 0)
    }
}

impl Write {
    pub async fn create_user(&mut self, new: &NewUser) -> Result<UserKey> {
        let now = self.now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO accounts (handle, handle_key, kind, created_at, modified_at) \
             VALUES ($1, $2, 'user', $3, $3) RETURNING id",
        )
        .bind(new.id.as_str())
        .bind(new.id.key())
        .bind(now)
        .fetch_one(self.conn())
        .await
        .map_err(conflict_as("account id"))?;
        sqlx::query(
            "INSERT INTO users (account_id, email, email_key, first_name, last_name, password_hash, state, is_operator) \
             VALUES ($1, $2, $3, $4, $5, $6, 'active', $7)",
        )
        .bind(id)
        .bind(new.email.as_str())
        .bind(new.email.key())
        .bind(&new.first_name)
        .bind(&new.last_name)
        .bind(new.password_hash.as_deref())
        .bind(i64::from(new.operator))
        .execute(self.conn())
        .await
        .map_err(conflict_as("email"))?;
        user_key(id)
    }

    /// Replaces a user's password hash (a re-hash with new parameters, or a password change).
    pub async fn set_password_hash(&mut self, user: UserKey, hash: &str) -> Result<()> {
        let updated = sqlx::query("UPDATE users SET password_hash = $1 WHERE account_id = $2")
            .bind(hash)
            .bind(id_of(user.0))
            .execute(self.conn())
            .await?
            .rows_affected();
        if updated == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(())
    }
}
