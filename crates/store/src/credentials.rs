//! Credentials: sessions, personal access tokens, app keys and platform service keys. Only the
//! SHA-256 of a token is stored.

use portcullis_core::{AppKey, CredentialKind, OrgKey, PermissionSet, Timestamp, UserKey};

use crate::error::conflict_as;
use crate::rows::{app_key, id_of, org_key, scopes_from_text, scopes_to_text, user_key};
use crate::{Result, Store, StoreError, Write};

#[derive(Debug, Clone)]
pub struct NewCredential {
    /// The id shown to the user to list and revoke it (not a secret).
    pub public_id: String,
    pub user: UserKey,
    pub kind: CredentialKind,
    pub token_hash: [u8; 32],
    pub description: String,
    pub scopes: PermissionSet,
    pub org: Option<OrgKey>,
    pub app: Option<AppKey>,
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CredentialRecord {
    pub id: i64,
    pub public_id: String,
    pub user: UserKey,
    pub kind: CredentialKind,
    pub token_hash: [u8; 32],
    pub description: String,
    pub scopes: PermissionSet,
    pub org: Option<OrgKey>,
    pub app: Option<AppKey>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

pub(crate) type CredentialRow = (
    i64,
    String,
    i64,
    String,
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

pub(crate) const CREDENTIAL_COLUMNS: &str = "id, public_id, user_id, kind, token_hash, description, scopes, \
                                             org_id, app_id, created_at, expires_at, last_used_at, revoked_at";

pub(crate) fn credential_from_row(row: CredentialRow) -> Result<CredentialRecord> {
    let (
        id,
        public_id,
        user,
        kind,
        hash,
        description,
        scopes,
        org,
        app,
        created_at,
        expires_at,
        last_used_at,
        revoked_at,
    ) = row;
    let mut token_hash = [0u8; 32];
    hex::decode_to_slice(&hash, &mut token_hash)
        .map_err(|_| StoreError::Corrupt("token hash is not 64 hex digits".to_owned()))?;
    Ok(CredentialRecord {
        id,
        public_id,
        user: user_key(user)?,
        kind: CredentialKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown credential kind `{kind}`")))?,
        token_hash,
        description,
        scopes: scopes_from_text(&scopes)?,
        org: org.map(org_key).transpose()?,
        app: app.map(app_key).transpose()?,
        created_at,
        expires_at,
        last_used_at,
        revoked_at,
    })
}

impl Store {
    /// A user's credentials of the given kinds that are not revoked, newest first.
    pub async fn credentials_of_user(
        &self,
        user: UserKey,
        kinds: &[CredentialKind],
    ) -> Result<Vec<CredentialRecord>> {
        let rows: Vec<CredentialRow> = sqlx::query_as(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id DESC"
        ))
        .bind(id_of(user.0))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(credential_from_row)
            .filter(|c| c.as_ref().map_or(true, |c| kinds.contains(&c.kind)))
            .collect()
    }

    /// Records that a credential was used. Not a data change: no revision, no audit entry.
    pub async fn touch_credential(&self, id: i64, now: Timestamp) -> Result<()> {
        sqlx::query("UPDATE credentials SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

impl Write {
    /// Whether credential `id` may still act at the write's time: not revoked, not expired,
    /// its user active. Asked inside the transaction, after the revision bump serialised it
    /// behind every earlier write (on any server), so a write cannot commit on the strength of
    /// a credential that a revocation committed before it.
    pub async fn credential_live(&mut self, id: i64) -> Result<bool> {
        let now = self.now();
        let live: Option<i64> = sqlx::query_scalar(
            "SELECT c.id FROM credentials c JOIN users u ON u.account_id = c.user_id \
             WHERE c.id = $1 AND c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > $2) \
             AND u.state = 'active'",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(self.conn())
        .await?;
        Ok(live.is_some())
    }

    pub async fn create_credential(&mut self, new: &NewCredential) -> Result<i64> {
        let now = self.now();
        sqlx::query_scalar(
            "INSERT INTO credentials (public_id, user_id, kind, token_hash, description, scopes, org_id, app_id, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(&new.public_id)
        .bind(id_of(new.user.0))
        .bind(new.kind.as_str())
        .bind(hex::encode(new.token_hash))
        .bind(&new.description)
        .bind(scopes_to_text(new.scopes))
        .bind(new.org.map(|o| id_of(o.0)))
        .bind(new.app.map(|a| id_of(a.0)))
        .bind(now)
        .bind(new.expires_at)
        .fetch_one(self.conn())
        .await
        .map_err(conflict_as("credential"))
    }

    /// Revokes one of `user`'s credentials by its public id (only the owner's, only if live).
    pub async fn revoke_credential(
        &mut self,
        user: UserKey,
        public_id: &str,
    ) -> Result<CredentialRecord> {
        let now = self.now();
        let row: Option<CredentialRow> = sqlx::query_as(&format!(
            "UPDATE credentials SET revoked_at = $1 WHERE user_id = $2 AND public_id = $3 AND revoked_at IS NULL \
             RETURNING {CREDENTIAL_COLUMNS}"
        ))
        .bind(now)
        .bind(id_of(user.0))
        .bind(public_id)
        .fetch_optional(self.conn())
        .await?;
        row.map(credential_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound("credential"))
    }

    /// Revokes a live credential by its token hash (logout); `None` if there was none.
    pub async fn revoke_credential_by_hash(
        &mut self,
        token_hash: &[u8; 32],
    ) -> Result<Option<CredentialRecord>> {
        let now = self.now();
        let row: Option<CredentialRow> = sqlx::query_as(&format!(
            "UPDATE credentials SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL \
             RETURNING {CREDENTIAL_COLUMNS}"
        ))
        .bind(now)
        .bind(hex::encode(token_hash))
        .fetch_optional(self.conn())
        .await?;
        row.map(credential_from_row).transpose()
    }
}
