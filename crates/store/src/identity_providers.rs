//! SAML identity providers of an organization, the accounts they sign in (keyed by org, IdP and
//! NameID), the outstanding AuthnRequests, the assertion-id replay cache shared by every server
//! process on this database, SSO marks on credentials and each org's SSO enforcement.

use std::collections::BTreeMap;

use portcullis_core::{AccountId, OrgKey, OrgRole, Timestamp, UserKey};

use crate::error::conflict_as;
use crate::rows::{flag, id_of, org_key, org_role, user_key};
use crate::{Result, Store, StoreError, Write};

/// Everything an administrator sets on an identity provider.
#[derive(Debug, Clone, PartialEq)]
pub struct IdpSettings {
    pub id: AccountId,
    pub name: String,
    pub enabled: bool,
    pub entity_id: String,
    pub sso_url: String,
    /// Signing certificates, base64 DER (several during a rotation). Never empty.
    pub certificates: Vec<String>,
    pub name_id_format: String,
    /// `email`, `first_name`, `last_name`, `groups` -> attribute name in the assertion.
    pub attribute_mapping: BTreeMap<String, String>,
    pub jit_enabled: bool,
    pub default_role: OrgRole,
    /// IdP group name -> team id of the org.
    pub group_teams: BTreeMap<String, String>,
    pub idp_initiated: bool,
    pub sign_requests: bool,
    pub allow_sha1: bool,
    pub clock_skew_secs: i64,
    pub metadata_url: Option<String>,
    pub metadata_fetched_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IdpRecord {
    /// Store row id.
    pub key: i64,
    pub org: OrgKey,
    pub settings: IdpSettings,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

/// An outstanding SP-initiated AuthnRequest.
#[derive(Debug, Clone, PartialEq)]
pub struct SamlRequest {
    pub request_id: String,
    pub idp: i64,
    pub relay_state: Option<String>,
    pub expires_at: Timestamp,
    /// The signed-in account this request links the IdP identity to (`None`: a sign-in).
    pub link_user: Option<UserKey>,
}

#[derive(sqlx::FromRow)]
struct SamlRequestRow {
    request_id: String,
    idp_id: i64,
    relay_state: Option<String>,
    expires_at: i64,
    link_user: Option<i64>,
}

/// What an answered AuthnRequest was for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedSamlRequest {
    pub relay_state: Option<String>,
    pub link_user: Option<UserKey>,
}

/// An organization's SSO enforcement.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrgSso {
    pub enforced: bool,
    pub break_glass: Vec<UserKey>,
}

type IdpRow = sqlx::any::AnyRow;

const IDP_COLUMNS: &str = "id, org_id, handle, name, enabled, entity_id, sso_url, certificates, \
    name_id_format, attribute_mapping, jit_enabled, default_role, group_teams, idp_initiated, \
    sign_requests, allow_sha1, clock_skew_secs, metadata_url, metadata_fetched_at, created_at, modified_at";

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("identity provider: {e}"))
}

fn idp_from_row(row: IdpRow) -> Result<IdpRecord> {
    use sqlx::Row;
    let key: i64 = row.try_get(0)?;
    let org: i64 = row.try_get(1)?;
    let handle: String = row.try_get(2)?;
    let name: String = row.try_get(3)?;
    let enabled: i64 = row.try_get(4)?;
    let entity_id: String = row.try_get(5)?;
    let sso_url: String = row.try_get(6)?;
    let certificates: String = row.try_get(7)?;
    let name_id_format: String = row.try_get(8)?;
    let attribute_mapping: String = row.try_get(9)?;
    let jit_enabled: i64 = row.try_get(10)?;
    let default_role: String = row.try_get(11)?;
    let group_teams: String = row.try_get(12)?;
    let idp_initiated: i64 = row.try_get(13)?;
    let sign_requests: i64 = row.try_get(14)?;
    let allow_sha1: i64 = row.try_get(15)?;
    let clock_skew_secs: i64 = row.try_get(16)?;
    let metadata_url: Option<String> = row.try_get(17)?;
    let metadata_fetched_at: Option<i64> = row.try_get(18)?;
    let created_at: i64 = row.try_get(19)?;
    let modified_at: i64 = row.try_get(20)?;
    Ok(IdpRecord {
        key,
        org: org_key(org)?,
        settings: IdpSettings {
            id: AccountId::parse(&handle)
                .map_err(|e| StoreError::Corrupt(format!("identity provider id: {e}")))?,
            name,
            enabled: flag(enabled),
            entity_id,
            sso_url,
            certificates: serde_json::from_str(&certificates).map_err(corrupt)?,
            name_id_format,
            attribute_mapping: serde_json::from_str(&attribute_mapping).map_err(corrupt)?,
            jit_enabled: flag(jit_enabled),
            default_role: org_role(&default_role)?,
            group_teams: serde_json::from_str(&group_teams).map_err(corrupt)?,
            idp_initiated: flag(idp_initiated),
            sign_requests: flag(sign_requests),
            allow_sha1: flag(allow_sha1),
            clock_skew_secs,
            metadata_url,
            metadata_fetched_at,
        },
        created_at,
        modified_at,
    })
}

impl Store {
    /// How many identity providers exist across every organization (start-up checks).
    pub async fn identity_provider_count(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM identity_providers")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// The identity providers of an org, by id.
    pub async fn identity_providers(&self, org: OrgKey) -> Result<Vec<IdpRecord>> {
        let rows: Vec<IdpRow> = sqlx::query(&format!(
            "SELECT {IDP_COLUMNS} FROM identity_providers WHERE org_id = $1 ORDER BY handle_key"
        ))
        .bind(id_of(org.0))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(idp_from_row).collect()
    }

    pub async fn identity_provider(&self, org: OrgKey, id: &str) -> Result<Option<IdpRecord>> {
        let row: Option<IdpRow> = sqlx::query(&format!(
            "SELECT {IDP_COLUMNS} FROM identity_providers WHERE org_id = $1 AND handle_key = $2"
        ))
        .bind(id_of(org.0))
        .bind(id.to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        row.map(idp_from_row).transpose()
    }

    /// The outstanding, unexpired AuthnRequest `request_id` of `idp`, if any.
    pub async fn saml_request(
        &self,
        idp: i64,
        request_id: &str,
        now: Timestamp,
    ) -> Result<Option<SamlRequest>> {
        let row: Option<SamlRequestRow> = sqlx::query_as(
            "SELECT request_id, idp_id, relay_state, expires_at, link_user FROM saml_requests \
             WHERE request_id = $1 AND idp_id = $2 AND expires_at > $3",
        )
        .bind(request_id)
        .bind(idp)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(SamlRequest {
                request_id: row.request_id,
                idp: row.idp_id,
                relay_state: row.relay_state,
                expires_at: row.expires_at,
                link_user: row.link_user.map(user_key).transpose()?,
            })
        })
        .transpose()
    }

    /// The user signed in by (`idp`, `name_id`), if any.
    pub async fn sso_account(&self, idp: i64, name_id: &str) -> Result<Option<UserKey>> {
        let user: Option<i64> = sqlx::query_scalar(
            "SELECT user_id FROM sso_accounts WHERE idp_id = $1 AND name_id = $2",
        )
        .bind(idp)
        .bind(name_id)
        .fetch_optional(&self.pool)
        .await?;
        user.map(user_key).transpose()
    }

    /// The organization that provisioned (and so owns) the account, if any.
    pub async fn user_managed_by(&self, user: UserKey) -> Result<Option<OrgKey>> {
        let org: Option<Option<i64>> =
            sqlx::query_scalar("SELECT managed_by FROM users WHERE account_id = $1")
                .bind(id_of(user.0))
                .fetch_optional(&self.pool)
                .await?;
        org.flatten().map(org_key).transpose()
    }

    pub async fn org_sso(&self, org: OrgKey) -> Result<OrgSso> {
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT enforced, break_glass FROM org_sso WHERE org_id = $1")
                .bind(id_of(org.0))
                .fetch_optional(&self.pool)
                .await?;
        match row {
            None => Ok(OrgSso::default()),
            Some((enforced, break_glass)) => Ok(OrgSso {
                enforced: flag(enforced),
                break_glass: serde_json::from_str::<Vec<i64>>(&break_glass)
                    .map_err(corrupt)?
                    .into_iter()
                    .map(user_key)
                    .collect::<Result<_>>()?,
            }),
        }
    }
}

impl Write {
    pub async fn create_identity_provider(
        &mut self,
        org: OrgKey,
        s: &IdpSettings,
    ) -> Result<IdpRecord> {
        let now = self.now();
        let row: IdpRow = sqlx::query(&format!(
            "INSERT INTO identity_providers (org_id, handle, handle_key, name, enabled, entity_id, \
             sso_url, certificates, name_id_format, attribute_mapping, jit_enabled, default_role, \
             group_teams, idp_initiated, sign_requests, allow_sha1, clock_skew_secs, metadata_url, \
             metadata_fetched_at, created_at, modified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
             $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20) RETURNING {IDP_COLUMNS}"
        ))
        .bind(id_of(org.0))
        .bind(s.id.as_str())
        .bind(s.id.key())
        .bind(&s.name)
        .bind(i64::from(s.enabled))
        .bind(&s.entity_id)
        .bind(&s.sso_url)
        .bind(serde_json::to_string(&s.certificates).map_err(corrupt)?)
        .bind(&s.name_id_format)
        .bind(serde_json::to_string(&s.attribute_mapping).map_err(corrupt)?)
        .bind(i64::from(s.jit_enabled))
        .bind(s.default_role.as_str())
        .bind(serde_json::to_string(&s.group_teams).map_err(corrupt)?)
        .bind(i64::from(s.idp_initiated))
        .bind(i64::from(s.sign_requests))
        .bind(i64::from(s.allow_sha1))
        .bind(s.clock_skew_secs)
        .bind(s.metadata_url.as_deref())
        .bind(s.metadata_fetched_at)
        .bind(now)
        .fetch_one(self.conn())
        .await
        .map_err(conflict_as("identity provider"))?;
        idp_from_row(row)
    }

    /// The IdP as this transaction sees it.
    pub async fn identity_provider(&mut self, org: OrgKey, id: &str) -> Result<IdpRecord> {
        let row: Option<IdpRow> = sqlx::query(&format!(
            "SELECT {IDP_COLUMNS} FROM identity_providers WHERE org_id = $1 AND handle_key = $2"
        ))
        .bind(id_of(org.0))
        .bind(id.to_ascii_lowercase())
        .fetch_optional(self.conn())
        .await?;
        row.map(idp_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound("identity provider"))
    }

    /// Replaces every setting of the IdP row `key`; returns the record after.
    pub async fn update_identity_provider(
        &mut self,
        key: i64,
        s: &IdpSettings,
    ) -> Result<IdpRecord> {
        let now = self.now();
        let row: Option<IdpRow> = sqlx::query(&format!(
            "UPDATE identity_providers SET handle = $1, handle_key = $2, name = $3, enabled = $4, \
             entity_id = $5, sso_url = $6, certificates = $7, name_id_format = $8, \
             attribute_mapping = $9, jit_enabled = $10, default_role = $11, group_teams = $12, \
             idp_initiated = $13, sign_requests = $14, allow_sha1 = $15, clock_skew_secs = $16, \
             metadata_url = $17, metadata_fetched_at = $18, modified_at = $19 WHERE id = $20 \
             RETURNING {IDP_COLUMNS}"
        ))
        .bind(s.id.as_str())
        .bind(s.id.key())
        .bind(&s.name)
        .bind(i64::from(s.enabled))
        .bind(&s.entity_id)
        .bind(&s.sso_url)
        .bind(serde_json::to_string(&s.certificates).map_err(corrupt)?)
        .bind(&s.name_id_format)
        .bind(serde_json::to_string(&s.attribute_mapping).map_err(corrupt)?)
        .bind(i64::from(s.jit_enabled))
        .bind(s.default_role.as_str())
        .bind(serde_json::to_string(&s.group_teams).map_err(corrupt)?)
        .bind(i64::from(s.idp_initiated))
        .bind(i64::from(s.sign_requests))
        .bind(i64::from(s.allow_sha1))
        .bind(s.clock_skew_secs)
        .bind(s.metadata_url.as_deref())
        .bind(s.metadata_fetched_at)
        .bind(now)
        .bind(key)
        .fetch_optional(self.conn())
        .await
        .map_err(conflict_as("identity provider"))?;
        row.map(idp_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound("identity provider"))
    }

    /// The organization and id of the identity provider `key`, if it still exists.
    pub async fn identity_provider_by_key(&mut self, key: i64) -> Result<Option<(OrgKey, String)>> {
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT org_id, handle FROM identity_providers WHERE id = $1")
                .bind(key)
                .fetch_optional(self.conn())
                .await?;
        row.map(|(org, handle)| Ok((org_key(org)?, handle)))
            .transpose()
    }

    pub async fn delete_identity_provider(&mut self, key: i64) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM identity_providers WHERE id = $1")
            .bind(key)
            .execute(self.conn())
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound("identity provider"));
        }
        Ok(())
    }

    /// Records an AuthnRequest so its response can be matched (InResponseTo) once.
    pub async fn create_saml_request(&mut self, request: &SamlRequest) -> Result<()> {
        let now = self.now();
        sqlx::query("DELETE FROM saml_requests WHERE expires_at <= $1")
            .bind(now)
            .execute(self.conn())
            .await?;
        sqlx::query(
            "INSERT INTO saml_requests \
             (request_id, idp_id, relay_state, created_at, expires_at, link_user) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&request.request_id)
        .bind(request.idp)
        .bind(request.relay_state.as_deref())
        .bind(now)
        .bind(request.expires_at)
        .bind(request.link_user.map(|u| id_of(u.0)))
        .execute(self.conn())
        .await
        .map_err(conflict_as("saml request"))?;
        Ok(())
    }

    /// Consumes the AuthnRequest: `Some` when it was outstanding (and is now gone), `None` when
    /// unknown, expired or already answered.
    pub async fn consume_saml_request(
        &mut self,
        idp: i64,
        request_id: &str,
    ) -> Result<Option<ConsumedSamlRequest>> {
        let now = self.now();
        let row: Option<(Option<String>, Option<i64>)> = sqlx::query_as(
            "DELETE FROM saml_requests WHERE request_id = $1 AND idp_id = $2 AND expires_at > $3 \
             RETURNING relay_state, link_user",
        )
        .bind(request_id)
        .bind(idp)
        .bind(now)
        .fetch_optional(self.conn())
        .await?;
        row.map(|(relay_state, link_user)| {
            Ok(ConsumedSamlRequest {
                relay_state,
                link_user: link_user.map(user_key).transpose()?,
            })
        })
        .transpose()
    }

    /// Consumes an assertion id: false when it was seen before (a replay). The primary key makes
    /// this atomic across transactions and processes. Ids whose assertion has expired anyway are
    /// pruned.
    pub async fn consume_assertion_id(
        &mut self,
        idp: i64,
        assertion_id: &str,
        keep_until: Timestamp,
    ) -> Result<bool> {
        let now = self.now();
        sqlx::query("DELETE FROM saml_assertion_ids WHERE expires_at <= $1")
            .bind(now)
            .execute(self.conn())
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO saml_assertion_ids (idp_id, assertion_id, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (idp_id, assertion_id) DO NOTHING",
        )
        .bind(idp)
        .bind(assertion_id)
        .bind(keep_until)
        .execute(self.conn())
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// The user signed in by (`idp`, `name_id`), as this transaction sees it.
    pub async fn sso_account(&mut self, idp: i64, name_id: &str) -> Result<Option<UserKey>> {
        let user: Option<i64> = sqlx::query_scalar(
            "SELECT user_id FROM sso_accounts WHERE idp_id = $1 AND name_id = $2",
        )
        .bind(idp)
        .bind(name_id)
        .fetch_optional(self.conn())
        .await?;
        user.map(user_key).transpose()
    }

    /// Links (`idp`, `name_id`) to `user`, or notes the login of an existing link.
    pub async fn link_sso_account(&mut self, idp: i64, name_id: &str, user: UserKey) -> Result<()> {
        let now = self.now();
        sqlx::query(
            "INSERT INTO sso_accounts (idp_id, name_id, user_id, created_at, last_login_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (idp_id, name_id) DO UPDATE SET last_login_at = $4",
        )
        .bind(idp)
        .bind(name_id)
        .bind(id_of(user.0))
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Records that `org` provisioned the account and owns it.
    pub async fn set_user_managed_by(&mut self, user: UserKey, org: OrgKey) -> Result<()> {
        sqlx::query("UPDATE users SET managed_by = $1 WHERE account_id = $2")
            .bind(id_of(org.0))
            .bind(id_of(user.0))
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// The organization owning the account, as this transaction sees it.
    pub async fn user_managed_by(&mut self, user: UserKey) -> Result<Option<OrgKey>> {
        let org: Option<Option<i64>> =
            sqlx::query_scalar("SELECT managed_by FROM users WHERE account_id = $1")
                .bind(id_of(user.0))
                .fetch_optional(self.conn())
                .await?;
        org.flatten().map(org_key).transpose()
    }

    /// Marks a credential SSO-authorized for `org`.
    pub async fn mark_credential_sso(
        &mut self,
        credential: i64,
        org: OrgKey,
        idp: Option<i64>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO credential_sso (credential_id, org_id, idp_id) VALUES ($1, $2, $3) \
             ON CONFLICT (credential_id, org_id) DO NOTHING",
        )
        .bind(credential)
        .bind(id_of(org.0))
        .bind(idp)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// The store id of the user's live credential with public id `public_id` and kind `pat`.
    pub async fn live_pat_of(&mut self, user: UserKey, public_id: &str) -> Result<Option<i64>> {
        let now = self.now();
        Ok(sqlx::query_scalar(
            "SELECT id FROM credentials WHERE user_id = $1 AND public_id = $2 AND kind = 'pat' \
             AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3)",
        )
        .bind(id_of(user.0))
        .bind(public_id)
        .bind(now)
        .fetch_optional(self.conn())
        .await?)
    }

    pub async fn org_sso(&mut self, org: OrgKey) -> Result<OrgSso> {
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT enforced, break_glass FROM org_sso WHERE org_id = $1")
                .bind(id_of(org.0))
                .fetch_optional(self.conn())
                .await?;
        match row {
            None => Ok(OrgSso::default()),
            Some((enforced, break_glass)) => Ok(OrgSso {
                enforced: flag(enforced),
                break_glass: serde_json::from_str::<Vec<i64>>(&break_glass)
                    .map_err(corrupt)?
                    .into_iter()
                    .map(user_key)
                    .collect::<Result<_>>()?,
            }),
        }
    }

    pub async fn set_org_sso(&mut self, org: OrgKey, sso: &OrgSso) -> Result<()> {
        let now = self.now();
        let ids: Vec<i64> = sso.break_glass.iter().map(|u| id_of(u.0)).collect();
        sqlx::query(
            "INSERT INTO org_sso (org_id, enforced, break_glass, modified_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (org_id) DO UPDATE SET enforced = $2, break_glass = $3, modified_at = $4",
        )
        .bind(id_of(org.0))
        .bind(i64::from(sso.enforced))
        .bind(serde_json::to_string(&ids).map_err(corrupt)?)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}
