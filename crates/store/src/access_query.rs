//! Reads for the access review that the in-memory index does not answer by app: the live keys
//! bound to one app.

use portcullis_core::{AppKey, Timestamp};

use crate::credentials::{CREDENTIAL_COLUMNS, CredentialRecord, credential_from_row};
use crate::rows::id_of;
use crate::{Result, Store};

type Row = (
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

impl Store {
    /// The credentials bound to `app` that are neither revoked nor expired at `now`, oldest
    /// first.
    pub async fn live_keys_of_app(
        &self,
        app: AppKey,
        now: Timestamp,
    ) -> Result<Vec<CredentialRecord>> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE app_id = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2) ORDER BY id"
        ))
        .bind(id_of(app.0))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(credential_from_row).collect()
    }
}
