//! App keys: credentials bound to one app (rows of `credentials` with kind `app_key`), and
//! the transfer of a personal app into an organization.

use portcullis_core::index::Account;
use portcullis_core::{AppKey, CredentialKind};

use crate::credentials::{CREDENTIAL_COLUMNS, CredentialRecord, credential_from_row};
use crate::error::conflict_as;
use crate::rows::id_of;
use crate::{Result, Store, StoreError, Write};

impl Store {
    /// The live (unrevoked) keys bound to `app`, newest first.
    pub async fn app_keys(&self, app: AppKey) -> Result<Vec<CredentialRecord>> {
        let rows: Vec<_> = sqlx::query_as(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE app_id = $1 AND kind = $2 \
             AND revoked_at IS NULL ORDER BY id DESC"
        ))
        .bind(id_of(app.0))
        .bind(CredentialKind::AppKey.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(credential_from_row).collect()
    }
}

impl Write {
    /// The live key `public_id` bound to `app`, as this transaction sees it.
    pub async fn app_key(&mut self, app: AppKey, public_id: &str) -> Result<CredentialRecord> {
        let row: Option<_> = sqlx::query_as(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE app_id = $1 AND kind = $2 \
             AND public_id = $3 AND revoked_at IS NULL"
        ))
        .bind(id_of(app.0))
        .bind(CredentialKind::AppKey.as_str())
        .bind(public_id)
        .fetch_optional(self.conn())
        .await?;
        row.map(credential_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound("app key"))
    }

    /// Revokes the live key `public_id` bound to `app`.
    pub async fn revoke_app_key(
        &mut self,
        app: AppKey,
        public_id: &str,
    ) -> Result<CredentialRecord> {
        let key = self.app_key(app, public_id).await?;
        let now = self.now();
        sqlx::query("UPDATE credentials SET revoked_at = $1 WHERE id = $2")
            .bind(now)
            .bind(key.id)
            .execute(self.conn())
            .await?;
        Ok(CredentialRecord {
            revoked_at: Some(now),
            ..key
        })
    }

    /// Moves `app` to `owner`, keeping its row (and so its resources, collaborators and keys).
    /// An app with the same id already there is a conflict.
    pub async fn transfer_app(&mut self, app: AppKey, owner: Account) -> Result<()> {
        let owner_row = match owner {
            Account::Org(o) => id_of(o.0),
            Account::User(u) => id_of(u.0),
        };
        let now = self.now();
        let moved = sqlx::query("UPDATE apps SET owner_id = $1, modified_at = $2 WHERE id = $3")
            .bind(owner_row)
            .bind(now)
            .bind(id_of(app.0))
            .execute(self.conn())
            .await
            .map_err(conflict_as("app"))?
            .rows_affected();
        if moved == 0 {
            return Err(StoreError::NotFound("app"));
        }
        Ok(())
    }
}
