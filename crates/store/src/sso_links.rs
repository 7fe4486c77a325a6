//! Identity-provider identities linked to an account, and the links an account's owner asks
//! for: the IdP authenticates the identity, then a single-use secret mailed to the account's
//! address confirms it. Secrets are stored by hash only.

use portcullis_core::{OrgKey, Timestamp, UserKey};
use sqlx::Any;

use crate::credentials::{CREDENTIAL_COLUMNS, CredentialRow, credential_from_row};
use crate::rows::{id_of, org_key, user_key};
use crate::{Result, Store, Write};

/// One identity-provider identity that signs an account in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoLink {
    pub org: OrgKey,
    /// The identity provider's id within its organization.
    pub identity_provider: String,
    pub name_id: String,
    pub created_at: Timestamp,
    pub last_login_at: Timestamp,
    /// When the account's owner confirmed the link (`None`: the organization's own rules
    /// linked it: it provisioned the account, or verified its address's domain).
    pub owner_linked_at: Option<Timestamp>,
}

/// A link the IdP authenticated, redeemed from its mailed secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSsoLink {
    pub user: UserKey,
    pub idp: i64,
    pub name_id: String,
}

/// How confirming a link went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkConfirmed {
    Linked,
    /// The identity already signs in another account.
    TakenByAnother,
}

/// Whether the owner of `user` linked (`idp`, `name_id`) to it themselves.
async fn owner_linked<'e>(
    db: impl sqlx::Executor<'e, Database = Any>,
    idp: i64,
    name_id: &str,
    user: UserKey,
) -> Result<bool> {
    let at: Option<Option<i64>> = sqlx::query_scalar(
        "SELECT owner_linked_at FROM sso_accounts \
         WHERE idp_id = $1 AND name_id = $2 AND user_id = $3",
    )
    .bind(idp)
    .bind(name_id)
    .bind(id_of(user.0))
    .fetch_optional(db)
    .await?;
    Ok(at.flatten().is_some())
}

type LinkRow = (i64, String, String, i64, i64, Option<i64>);

impl Store {
    /// Whether the owner of `user` linked (`idp`, `name_id`) to it themselves.
    pub async fn owner_linked(&self, idp: i64, name_id: &str, user: UserKey) -> Result<bool> {
        owner_linked(&self.pool, idp, name_id, user).await
    }

    /// The identities that sign `user` in, by organization and identity provider.
    pub async fn sso_links_of(&self, user: UserKey) -> Result<Vec<SsoLink>> {
        let rows: Vec<LinkRow> = sqlx::query_as(
            "SELECT i.org_id, i.handle, s.name_id, s.created_at, s.last_login_at, \
             s.owner_linked_at FROM sso_accounts s JOIN identity_providers i ON i.id = s.idp_id \
             WHERE s.user_id = $1 ORDER BY i.org_id, i.handle_key, s.name_id",
        )
        .bind(id_of(user.0))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(
                |(org, identity_provider, name_id, created_at, last_login_at, owner_linked_at)| {
                    Ok(SsoLink {
                        org: org_key(org)?,
                        identity_provider,
                        name_id,
                        created_at,
                        last_login_at,
                        owner_linked_at,
                    })
                },
            )
            .collect()
    }
}

impl Write {
    /// Whether the owner of `user` linked (`idp`, `name_id`) to it themselves, as this
    /// transaction sees it.
    pub async fn owner_linked(&mut self, idp: i64, name_id: &str, user: UserKey) -> Result<bool> {
        owner_linked(self.conn(), idp, name_id, user).await
    }

    /// Records a link the IdP authenticated, awaiting the owner's confirmation by the secret
    /// hashed as `token_hash`. An earlier unconfirmed request of `user` for `idp` stops
    /// working (only the newest mail counts).
    pub async fn request_sso_link(
        &mut self,
        token_hash: &str,
        link: &PendingSsoLink,
        expires_at: Timestamp,
    ) -> Result<()> {
        let now = self.now();
        sqlx::query(
            "UPDATE sso_link_requests SET used_at = $1 \
             WHERE user_id = $2 AND idp_id = $3 AND used_at IS NULL",
        )
        .bind(now)
        .bind(id_of(link.user.0))
        .bind(link.idp)
        .execute(self.conn())
        .await?;
        sqlx::query(
            "INSERT INTO sso_link_requests \
             (token_hash, user_id, idp_id, name_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(id_of(link.user.0))
        .bind(link.idp)
        .bind(&link.name_id)
        .bind(now)
        .bind(expires_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Uses a link request up: only once, only before it expires.
    pub async fn redeem_sso_link(&mut self, token_hash: &str) -> Result<Option<PendingSsoLink>> {
        let now = self.now();
        let row: Option<(i64, i64, String)> = sqlx::query_as(
            "UPDATE sso_link_requests SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             RETURNING user_id, idp_id, name_id",
        )
        .bind(now)
        .bind(token_hash)
        .fetch_optional(self.conn())
        .await?;
        row.map(|(user, idp, name_id)| {
            Ok(PendingSsoLink {
                user: user_key(user)?,
                idp,
                name_id,
            })
        })
        .transpose()
    }

    /// Links (`idp`, `name_id`) to `link.user` as its owner's choice, unless the identity
    /// already signs in another account.
    pub async fn confirm_sso_link(&mut self, link: &PendingSsoLink) -> Result<LinkConfirmed> {
        let now = self.now();
        let owner: Option<i64> = sqlx::query_scalar(
            "SELECT user_id FROM sso_accounts WHERE idp_id = $1 AND name_id = $2",
        )
        .bind(link.idp)
        .bind(&link.name_id)
        .fetch_optional(self.conn())
        .await?;
        match owner {
            Some(other) if other != id_of(link.user.0) => Ok(LinkConfirmed::TakenByAnother),
            Some(_) => {
                sqlx::query(
                    "UPDATE sso_accounts SET owner_linked_at = $1 \
                     WHERE idp_id = $2 AND name_id = $3",
                )
                .bind(now)
                .bind(link.idp)
                .bind(&link.name_id)
                .execute(self.conn())
                .await?;
                Ok(LinkConfirmed::Linked)
            }
            None => {
                sqlx::query(
                    "INSERT INTO sso_accounts \
                     (idp_id, name_id, user_id, created_at, last_login_at, owner_linked_at) \
                     VALUES ($1, $2, $3, $4, $4, $4)",
                )
                .bind(link.idp)
                .bind(&link.name_id)
                .bind(id_of(link.user.0))
                .bind(now)
                .execute(self.conn())
                .await?;
                Ok(LinkConfirmed::Linked)
            }
        }
    }

    /// Unlinks every identity of `idp` from `user` and revokes the live sessions that identity
    /// provider produced for it. Returns how many identities were unlinked and the revoked
    /// sessions' token hashes.
    pub async fn unlink_sso(&mut self, user: UserKey, idp: i64) -> Result<(u64, Vec<[u8; 32]>)> {
        let now = self.now();
        let unlinked = sqlx::query("DELETE FROM sso_accounts WHERE user_id = $1 AND idp_id = $2")
            .bind(id_of(user.0))
            .bind(idp)
            .execute(self.conn())
            .await?
            .rows_affected();
        sqlx::query(
            "UPDATE sso_link_requests SET used_at = $1 \
             WHERE user_id = $2 AND idp_id = $3 AND used_at IS NULL",
        )
        .bind(now)
        .bind(id_of(user.0))
        .bind(idp)
        .execute(self.conn())
        .await?;
        let rows: Vec<CredentialRow> = sqlx::query_as(&format!(
            "UPDATE credentials SET revoked_at = $1 WHERE revoked_at IS NULL AND user_id = $2 \
             AND id IN (SELECT credential_id FROM credential_sso WHERE idp_id = $3) \
             RETURNING {CREDENTIAL_COLUMNS}"
        ))
        .bind(now)
        .bind(id_of(user.0))
        .bind(idp)
        .fetch_all(self.conn())
        .await?;
        let revoked = rows
            .into_iter()
            .map(|row| credential_from_row(row).map(|c| c.token_hash))
            .collect::<Result<_>>()?;
        Ok((unlinked, revoked))
    }
}
