//! SCIM provisioning state of an organization: its SCIM tokens (hashed), the SCIM attributes
//! of the members it provisioned (userName, externalId, enterprise attributes), the SCIM
//! metadata of its teams (groups), suspended memberships and the default role.
//!
//! The store keeps these rows consistent (a SCIM user leaves with its membership, a token with
//! its org); what a SCIM request may change is the service's decision.

use portcullis_core::{OrgKey, OrgRole, TeamKey, Timestamp, UserKey};

use crate::audit_query::AuditEntry;
use crate::error::conflict_as;
use crate::rows::{id_of, org_key, org_role, team_key, user_key};
use crate::{Result, Store, StoreError, Write};

/// A SCIM token as listed (never its secret or hash).
#[derive(Debug, Clone, PartialEq)]
pub struct ScimTokenRow {
    /// Store row id (the audit entries' credential id).
    pub row: i64,
    pub public_id: String,
    pub org: OrgKey,
    pub description: String,
    /// The account id of the administrator who created it, while that account exists.
    pub created_by: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl ScimTokenRow {
    /// Whether the token is usable at `now`.
    pub fn live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    public_id: String,
    org_id: i64,
    description: String,
    created_by: Option<String>,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

const TOKEN_COLUMNS: &str = "t.id, t.public_id, t.org_id, t.description, a.handle AS created_by, \
                             t.created_at, t.expires_at, t.last_used_at, t.revoked_at";
const TOKEN_FROM: &str = "scim_tokens t LEFT JOIN accounts a ON a.id = t.created_by";

impl TokenRow {
    fn into_record(self) -> Result<ScimTokenRow> {
        Ok(ScimTokenRow {
            row: self.id,
            public_id: self.public_id,
            org: org_key(self.org_id)?,
            description: self.description,
            created_by: self.created_by,
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
            revoked_at: self.revoked_at,
        })
    }
}

/// A token to store: its public id, the SHA-256 of its secret and who made it.
#[derive(Debug, Clone)]
pub struct NewScimToken {
    pub public_id: String,
    pub org: OrgKey,
    pub token_hash: [u8; 32],
    pub description: String,
    pub created_by: Option<UserKey>,
}

/// A member provisioned through SCIM, with the account's profile and the membership's state.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimUserRecord {
    pub key: UserKey,
    /// The account id (the SCIM `id`).
    pub id: String,
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    /// The enterprise-extension attributes kept, as a JSON object.
    pub attributes: String,
    pub email: String,
    pub email_verified: bool,
    pub first_name: String,
    pub last_name: String,
    pub suspended: bool,
    /// The revision of its last SCIM change (its ETag).
    pub version: i64,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    user_id: i64,
    handle: String,
    user_name: String,
    external_id: Option<String>,
    display_name: Option<String>,
    attributes: String,
    email: String,
    email_verified_at: Option<i64>,
    first_name: String,
    last_name: String,
    suspended_at: Option<i64>,
    version: i64,
    created_at: i64,
    modified_at: i64,
}

const USER_COLUMNS: &str = "s.user_id, a.handle, s.user_name, s.external_id, s.display_name, \
     s.attributes, u.email, u.email_verified_at, u.first_name, u.last_name, m.suspended_at, \
     s.version, s.created_at, s.modified_at";
const USER_FROM: &str = "scim_users s \
     JOIN memberships m ON m.org_id = s.org_id AND m.user_id = s.user_id \
     JOIN users u ON u.account_id = s.user_id JOIN accounts a ON a.id = s.user_id";

impl UserRow {
    fn into_record(self) -> Result<ScimUserRecord> {
        Ok(ScimUserRecord {
            key: user_key(self.user_id)?,
            id: self.handle,
            user_name: self.user_name,
            external_id: self.external_id,
            display_name: self.display_name,
            attributes: self.attributes,
            email: self.email,
            email_verified: self.email_verified_at.is_some(),
            first_name: self.first_name,
            last_name: self.last_name,
            suspended: self.suspended_at.is_some(),
            version: self.version,
            created_at: self.created_at,
            modified_at: self.modified_at,
        })
    }
}

/// The SCIM attributes of a provisioned member.
#[derive(Debug, Clone)]
pub struct ScimUserAttributes {
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    /// A JSON object.
    pub attributes: String,
}

/// A team seen as a SCIM group: its SCIM metadata when it has any.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimGroupRecord {
    pub key: TeamKey,
    /// The team id (the SCIM `id`).
    pub id: String,
    /// The team's name (the SCIM `displayName`).
    pub name: String,
    pub external_id: Option<String>,
    /// The revision of its last SCIM change, or 0 for a team SCIM never touched.
    pub version: i64,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: i64,
    handle: String,
    name: String,
    external_id: Option<String>,
    version: Option<i64>,
    created_at: i64,
    modified_at: i64,
}

const GROUP_COLUMNS: &str = "t.id, t.handle, t.name, g.external_id, g.version, t.created_at, \
                             t.modified_at";
const GROUP_FROM: &str = "teams t LEFT JOIN scim_groups g ON g.team_id = t.id";

impl GroupRow {
    fn into_record(self) -> Result<ScimGroupRecord> {
        Ok(ScimGroupRecord {
            key: team_key(self.id)?,
            id: self.handle,
            name: self.name,
            external_id: self.external_id,
            version: self.version.unwrap_or_default(),
            created_at: self.created_at,
            modified_at: self.modified_at,
        })
    }
}

impl Store {
    /// The token whose secret hashes to `hash`, live or not.
    pub async fn scim_token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ScimTokenRow>> {
        let row: Option<TokenRow> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM {TOKEN_FROM} WHERE t.token_hash = $1"
        ))
        .bind(hex::encode(hash))
        .fetch_optional(&self.pool)
        .await?;
        row.map(TokenRow::into_record).transpose()
    }

    /// Notes a token's use (bookkeeping: no revision, no audit entry).
    pub async fn touch_scim_token(&self, row: i64, now: Timestamp) -> Result<()> {
        sqlx::query("UPDATE scim_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(row)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every token of `org`, newest first (revoked and expired ones included).
    pub async fn scim_tokens(&self, org: OrgKey) -> Result<Vec<ScimTokenRow>> {
        let rows: Vec<TokenRow> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM {TOKEN_FROM} WHERE t.org_id = $1 ORDER BY t.id DESC"
        ))
        .bind(id_of(org.0))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TokenRow::into_record).collect()
    }

    /// Every member `org` provisioned through SCIM, oldest first.
    pub async fn scim_users(&self, org: OrgKey) -> Result<Vec<ScimUserRecord>> {
        let rows: Vec<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM {USER_FROM} WHERE s.org_id = $1 ORDER BY s.user_id"
        ))
        .bind(id_of(org.0))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(UserRow::into_record).collect()
    }

    pub async fn scim_user(&self, org: OrgKey, user: UserKey) -> Result<Option<ScimUserRecord>> {
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM {USER_FROM} WHERE s.org_id = $1 AND s.user_id = $2"
        ))
        .bind(id_of(org.0))
        .bind(id_of(user.0))
        .fetch_optional(&self.pool)
        .await?;
        row.map(UserRow::into_record).transpose()
    }

    /// The member of `org` provisioned with this userName (compared without regard to case).
    pub async fn scim_user_by_name(
        &self,
        org: OrgKey,
        user_name: &str,
    ) -> Result<Option<ScimUserRecord>> {
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM {USER_FROM} WHERE s.org_id = $1 AND s.user_name_key = $2"
        ))
        .bind(id_of(org.0))
        .bind(user_name_key(user_name))
        .fetch_optional(&self.pool)
        .await?;
        row.map(UserRow::into_record).transpose()
    }

    /// Every team of `org` as a SCIM group, by team row.
    pub async fn scim_groups(&self, org: OrgKey) -> Result<Vec<ScimGroupRecord>> {
        let rows: Vec<GroupRow> = sqlx::query_as(&format!(
            "SELECT {GROUP_COLUMNS} FROM {GROUP_FROM} WHERE t.org_id = $1 ORDER BY t.id"
        ))
        .bind(id_of(org.0))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(GroupRow::into_record).collect()
    }

    pub async fn scim_group(&self, org: OrgKey, team: TeamKey) -> Result<Option<ScimGroupRecord>> {
        let row: Option<GroupRow> = sqlx::query_as(&format!(
            "SELECT {GROUP_COLUMNS} FROM {GROUP_FROM} WHERE t.org_id = $1 AND t.id = $2"
        ))
        .bind(id_of(org.0))
        .bind(id_of(team.0))
        .fetch_optional(&self.pool)
        .await?;
        row.map(GroupRow::into_record).transpose()
    }

    /// The members of a team: (user row, account id), by user row.
    pub async fn team_members_with_keys(&self, team: TeamKey) -> Result<Vec<(UserKey, String)>> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT a.id, a.handle FROM team_members tm JOIN accounts a ON a.id = tm.user_id \
             WHERE tm.team_id = $1 ORDER BY a.id",
        )
        .bind(id_of(team.0))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, handle)| Ok((user_key(id)?, handle)))
            .collect()
    }

    /// The role a member provisioned through SCIM gets in `org`.
    pub async fn scim_default_role(&self, org: OrgKey) -> Result<OrgRole> {
        let role: Option<String> =
            sqlx::query_scalar("SELECT scim_default_role FROM orgs WHERE account_id = $1")
                .bind(id_of(org.0))
                .fetch_optional(&self.pool)
                .await?;
        org_role(&role.ok_or(StoreError::NotFound("organization"))?)
    }

    /// The latest `limit` entries of `org`'s log written with a SCIM token, failures
    /// included, newest first.
    pub async fn scim_activity(&self, org: OrgKey, limit: i64) -> Result<Vec<AuditEntry>> {
        crate::audit_query::entries_by_credential_kind(&self.pool, org, "scim_token", limit).await
    }
}

impl Write {
    pub async fn create_scim_token(&mut self, new: &NewScimToken) -> Result<i64> {
        let now = self.now();
        sqlx::query_scalar(
            "INSERT INTO scim_tokens (public_id, org_id, token_hash, description, created_by, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&new.public_id)
        .bind(id_of(new.org.0))
        .bind(hex::encode(new.token_hash))
        .bind(&new.description)
        .bind(new.created_by.map(|u| id_of(u.0)))
        .bind(now)
        .fetch_one(self.conn())
        .await
        .map_err(conflict_as("scim token"))
    }

    /// The token `public_id` of `org`, as this transaction sees it.
    pub async fn scim_token(&mut self, org: OrgKey, public_id: &str) -> Result<ScimTokenRow> {
        let row: Option<TokenRow> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM {TOKEN_FROM} WHERE t.org_id = $1 AND t.public_id = $2"
        ))
        .bind(id_of(org.0))
        .bind(public_id)
        .fetch_optional(self.conn())
        .await?;
        row.map(TokenRow::into_record)
            .transpose()?
            .ok_or(StoreError::NotFound("scim token"))
    }

    /// Ends a token at `at` (a rotation's overlap), unless it already ends sooner.
    pub async fn expire_scim_token(&mut self, row: i64, at: Timestamp) -> Result<()> {
        sqlx::query(
            "UPDATE scim_tokens SET expires_at = $1 WHERE id = $2 \
             AND (expires_at IS NULL OR expires_at > $1)",
        )
        .bind(at)
        .bind(row)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Revokes a token; `false` when it already was.
    pub async fn revoke_scim_token(&mut self, row: i64) -> Result<bool> {
        let now = self.now();
        let done = sqlx::query(
            "UPDATE scim_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(row)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether the token is still usable, as this transaction sees it (a revocation committed
    /// while a SCIM request waited for its turn wins).
    pub async fn scim_token_live(&mut self, row: i64) -> Result<bool> {
        let now = self.now();
        let live: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM scim_tokens WHERE id = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(row)
        .bind(now)
        .fetch_optional(self.conn())
        .await?;
        Ok(live.is_some())
    }

    /// The member of `org` provisioned with this userName (compared without regard to case).
    pub async fn scim_user_by_name(
        &mut self,
        org: OrgKey,
        user_name: &str,
    ) -> Result<Option<UserKey>> {
        let user: Option<i64> = sqlx::query_scalar(
            "SELECT user_id FROM scim_users WHERE org_id = $1 AND user_name_key = $2",
        )
        .bind(id_of(org.0))
        .bind(user_name_key(user_name))
        .fetch_optional(self.conn())
        .await?;
        user.map(user_key).transpose()
    }

    /// Whether `user` is a member `org` provisioned through SCIM.
    pub async fn is_scim_user(&mut self, org: OrgKey, user: UserKey) -> Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT user_id FROM scim_users WHERE org_id = $1 AND user_id = $2")
                .bind(id_of(org.0))
                .bind(id_of(user.0))
                .fetch_optional(self.conn())
                .await?;
        Ok(found.is_some())
    }

    /// Records `user` (already a member of `org`) as provisioned through SCIM.
    pub async fn insert_scim_user(
        &mut self,
        org: OrgKey,
        user: UserKey,
        attributes: &ScimUserAttributes,
    ) -> Result<()> {
        let (now, version) = (self.now(), self.version());
        sqlx::query(
            "INSERT INTO scim_users (org_id, user_id, user_name, user_name_key, external_id, \
             display_name, attributes, version, created_at, modified_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(id_of(org.0))
        .bind(id_of(user.0))
        .bind(&attributes.user_name)
        .bind(user_name_key(&attributes.user_name))
        .bind(attributes.external_id.as_deref())
        .bind(attributes.display_name.as_deref())
        .bind(&attributes.attributes)
        .bind(version)
        .bind(now)
        .execute(self.conn())
        .await
        .map_err(conflict_as("userName"))?;
        Ok(())
    }

    pub async fn update_scim_user(
        &mut self,
        org: OrgKey,
        user: UserKey,
        attributes: &ScimUserAttributes,
    ) -> Result<()> {
        let (now, version) = (self.now(), self.version());
        let done = sqlx::query(
            "UPDATE scim_users SET user_name = $1, user_name_key = $2, external_id = $3, \
             display_name = $4, attributes = $5, version = $6, modified_at = $7 \
             WHERE org_id = $8 AND user_id = $9",
        )
        .bind(&attributes.user_name)
        .bind(user_name_key(&attributes.user_name))
        .bind(attributes.external_id.as_deref())
        .bind(attributes.display_name.as_deref())
        .bind(&attributes.attributes)
        .bind(version)
        .bind(now)
        .bind(id_of(org.0))
        .bind(id_of(user.0))
        .execute(self.conn())
        .await
        .map_err(conflict_as("userName"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(())
    }

    /// Changes the names of an account the organization manages.
    pub async fn set_user_names(&mut self, user: UserKey, first: &str, last: &str) -> Result<()> {
        let now = self.now();
        sqlx::query("UPDATE users SET first_name = $1, last_name = $2 WHERE account_id = $3")
            .bind(first)
            .bind(last)
            .bind(id_of(user.0))
            .execute(self.conn())
            .await?;
        sqlx::query("UPDATE accounts SET modified_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id_of(user.0))
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Suspends (`true`) or restores a membership; `false` when it already was in that state.
    /// Suspending the last active administrator fails with `LastAdmin`.
    pub async fn set_member_suspended(
        &mut self,
        org: OrgKey,
        user: UserKey,
        suspended: bool,
    ) -> Result<bool> {
        let now = self.now();
        let done = if suspended {
            sqlx::query(
                "UPDATE memberships SET suspended_at = $1 WHERE org_id = $2 AND user_id = $3 \
                 AND suspended_at IS NULL",
            )
            .bind(now)
            .bind(id_of(org.0))
            .bind(id_of(user.0))
            .execute(self.conn())
            .await?
        } else {
            sqlx::query(
                "UPDATE memberships SET suspended_at = NULL WHERE org_id = $1 AND user_id = $2 \
                 AND suspended_at IS NOT NULL",
            )
            .bind(id_of(org.0))
            .bind(id_of(user.0))
            .execute(self.conn())
            .await?
        };
        let changed = done.rows_affected() > 0;
        if changed
            && suspended
            && self.member_role(org, user).await? == Some(OrgRole::Admin)
            && self.admin_count(org).await? == 0
        {
            return Err(StoreError::LastAdmin);
        }
        Ok(changed)
    }

    /// Sets the SCIM metadata of a team (creating it on first use) and bumps its version.
    pub async fn touch_scim_group(
        &mut self,
        org: OrgKey,
        team: TeamKey,
        external_id: Option<Option<&str>>,
    ) -> Result<()> {
        let (now, version) = (self.now(), self.version());
        let updated = match external_id {
            Some(external_id) => sqlx::query(
                "UPDATE scim_groups SET external_id = $1, version = $2 WHERE team_id = $3",
            )
            .bind(external_id)
            .bind(version)
            .bind(id_of(team.0))
            .execute(self.conn())
            .await?
            .rows_affected(),
            None => sqlx::query("UPDATE scim_groups SET version = $1 WHERE team_id = $2")
                .bind(version)
                .bind(id_of(team.0))
                .execute(self.conn())
                .await?
                .rows_affected(),
        };
        if updated == 0 {
            sqlx::query(
                "INSERT INTO scim_groups (team_id, org_id, external_id, version, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id_of(team.0))
            .bind(id_of(org.0))
            .bind(external_id.flatten())
            .bind(version)
            .bind(now)
            .execute(self.conn())
            .await?;
        }
        sqlx::query("UPDATE teams SET modified_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id_of(team.0))
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Sets the role members provisioned through SCIM get in `org`.
    pub async fn set_scim_default_role(&mut self, org: OrgKey, role: OrgRole) -> Result<()> {
        sqlx::query("UPDATE orgs SET scim_default_role = $1 WHERE account_id = $2")
            .bind(role.as_str())
            .bind(id_of(org.0))
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// [`Store::scim_default_role`] as this transaction sees it.
    pub async fn scim_default_role(&mut self, org: OrgKey) -> Result<OrgRole> {
        let role: Option<String> =
            sqlx::query_scalar("SELECT scim_default_role FROM orgs WHERE account_id = $1")
                .bind(id_of(org.0))
                .fetch_optional(self.conn())
                .await?;
        org_role(&role.ok_or(StoreError::NotFound("organization"))?)
    }

    /// The revision this write commits at, as a version number.
    fn version(&self) -> i64 {
        i64::try_from(self.revision()).unwrap_or(i64::MAX)
    }
}

/// The key a SCIM userName is unique by within an organization (case-insensitive, as RFC 7643
/// defines `userName`).
pub fn user_name_key(user_name: &str) -> String {
    user_name.to_lowercase()
}

impl Write {
    /// Changes the address of an account the organization manages; verified or not as the
    /// caller decided (the org's verified domain vouches for it, or a mail must).
    pub async fn set_managed_email(
        &mut self,
        user: UserKey,
        email: &str,
        email_key: &str,
        verified: bool,
    ) -> Result<()> {
        let verified_at = verified.then(|| self.now());
        let updated = sqlx::query(
            "UPDATE users SET email = $1, email_key = $2, email_verified_at = $3 \
             WHERE account_id = $4",
        )
        .bind(email)
        .bind(email_key)
        .bind(verified_at)
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
