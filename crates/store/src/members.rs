//! Memberships: who belongs to which organization in which role.
//!
//! Every change that can take a role away from an administrator (a demotion, a removal, a
//! departure) re-counts the organization's administrators inside the same transaction and
//! fails with [`StoreError::LastAdmin`] when none would remain. Writers are serialised by the
//! revision bump of [`Write`], so two concurrent demotions cannot both see "one other admin".

use portcullis_core::{OrgKey, OrgRole, TeamKey, Timestamp, UserKey};

use crate::credentials::{CREDENTIAL_COLUMNS, CredentialRecord, credential_from_row};
use crate::error::conflict_as;
use crate::rows::{id_of, org_role, team_key, user_key};
use crate::{Result, Store, StoreError, Write};

/// One member of an organization, with the user's public profile.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRecord {
    pub user: UserKey,
    /// The user's account id.
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: OrgRole,
    pub joined_at: Timestamp,
}

/// What a removal took away, so the service can audit it and update the index.
#[derive(Debug, Clone, PartialEq)]
pub struct RemovedMember {
    pub role: OrgRole,
    /// The teams of the organization the user was taken out of.
    pub teams: Vec<TeamKey>,
    /// The user's credentials bound to the organization, now revoked.
    pub revoked: Vec<CredentialRecord>,
}

type MemberRow = (i64, String, String, String, String, String, i64);

const MEMBER_COLUMNS: &str =
    "a.id, a.handle, u.email, u.first_name, u.last_name, m.role, m.created_at";
const MEMBER_FROM: &str = "FROM memberships m JOIN users u ON u.account_id = m.user_id \
                           JOIN accounts a ON a.id = m.user_id";

fn member_from_row(row: MemberRow) -> Result<MemberRecord> {
    let (id, handle, email, first_name, last_name, role, joined_at) = row;
    Ok(MemberRecord {
        user: user_key(id)?,
        id: handle,
        email,
        first_name,
        last_name,
        role: org_role(&role)?,
        joined_at,
    })
}

impl Store {
    /// Up to `limit` members of `org` ordered by the canonical (lower-case) user id, starting
    /// after the member whose canonical id is `after`.
    pub async fn members(
        &self,
        org: OrgKey,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<MemberRecord>> {
        let rows: Vec<MemberRow> = sqlx::query_as(&format!(
            "SELECT {MEMBER_COLUMNS} {MEMBER_FROM} \
             WHERE m.org_id = $1 AND ($2 IS NULL OR a.handle_key > $2) \
             ORDER BY a.handle_key LIMIT $3"
        ))
        .bind(id_of(org.0))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(member_from_row).collect()
    }

    /// One member of `org`, if `user` is one.
    pub async fn member(&self, org: OrgKey, user: UserKey) -> Result<Option<MemberRecord>> {
        let row: Option<MemberRow> = sqlx::query_as(&format!(
            "SELECT {MEMBER_COLUMNS} {MEMBER_FROM} WHERE m.org_id = $1 AND m.user_id = $2"
        ))
        .bind(id_of(org.0))
        .bind(id_of(user.0))
        .fetch_optional(&self.pool)
        .await?;
        row.map(member_from_row).transpose()
    }

    /// Every (user, role) of `org`, in no particular order (for consistency checks).
    pub async fn member_roles(&self, org: OrgKey) -> Result<Vec<(UserKey, OrgRole)>> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT user_id, role FROM memberships WHERE org_id = $1")
                .bind(id_of(org.0))
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(user, role)| Ok((user_key(user)?, org_role(&role)?)))
            .collect()
    }

    /// The teams of `org` that `user` belongs to.
    pub async fn team_memberships(&self, org: OrgKey, user: UserKey) -> Result<Vec<TeamKey>> {
        let rows: Vec<i64> = sqlx::query_scalar(
            "SELECT t.id FROM team_members tm JOIN teams t ON t.id = tm.team_id \
             WHERE t.org_id = $1 AND tm.user_id = $2 ORDER BY t.id",
        )
        .bind(id_of(org.0))
        .bind(id_of(user.0))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(team_key).collect()
    }
}

impl Write {
    /// The role of `user` in `org` as this transaction sees it.
    pub async fn member_role(&mut self, org: OrgKey, user: UserKey) -> Result<Option<OrgRole>> {
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
                .bind(id_of(org.0))
                .bind(id_of(user.0))
                .fetch_optional(self.conn())
                .await?;
        role.as_deref().map(org_role).transpose()
    }

    /// One member as this transaction sees it.
    pub async fn member(&mut self, org: OrgKey, user: UserKey) -> Result<MemberRecord> {
        let row: Option<MemberRow> = sqlx::query_as(&format!(
            "SELECT {MEMBER_COLUMNS} {MEMBER_FROM} WHERE m.org_id = $1 AND m.user_id = $2"
        ))
        .bind(id_of(org.0))
        .bind(id_of(user.0))
        .fetch_optional(self.conn())
        .await?;
        row.map(member_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound("member"))
    }

    /// Whether a member of `org` has this email, verified (compared by its canonical key): an
    /// unproven address matches nothing.
    pub async fn member_with_email(&mut self, org: OrgKey, email_key: &str) -> Result<bool> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM memberships m JOIN users u ON u.account_id = m.user_id \
             WHERE m.org_id = $1 AND u.email_key = $2 AND u.email_verified_at IS NOT NULL",
        )
        .bind(id_of(org.0))
        .bind(email_key)
        .fetch_one(self.conn())
        .await?;
        Ok(count > 0)
    }

    /// How many administrators `org` has, as this transaction sees it: a suspended one
    /// (SCIM `active: false`) cannot act and does not count.
    pub async fn admin_count(&mut self, org: OrgKey) -> Result<u64> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'admin' \
             AND suspended_at IS NULL",
        )
        .bind(id_of(org.0))
        .fetch_one(self.conn())
        .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// Adds `user` to `org` in `role`; `Conflict("member")` if it already belongs.
    pub async fn add_member(&mut self, org: OrgKey, user: UserKey, role: OrgRole) -> Result<()> {
        let now = self.now();
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id_of(org.0))
        .bind(id_of(user.0))
        .bind(role.as_str())
        .bind(now)
        .execute(self.conn())
        .await
        .map_err(conflict_as("member"))?;
        Ok(())
    }

    /// Changes the role of an existing member; returns the role before. Fails with
    /// `NotFound("member")` for a non-member and `LastAdmin` when it would demote the last
    /// administrator (checked after the change, in this transaction).
    pub async fn set_member_role(
        &mut self,
        org: OrgKey,
        user: UserKey,
        role: OrgRole,
    ) -> Result<OrgRole> {
        let before = self
            .member_role(org, user)
            .await?
            .ok_or(StoreError::NotFound("member"))?;
        sqlx::query("UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3")
            .bind(role.as_str())
            .bind(id_of(org.0))
            .bind(id_of(user.0))
            .execute(self.conn())
            .await?;
        if before == OrgRole::Admin && role != OrgRole::Admin {
            self.require_admin(org).await?;
        }
        Ok(before)
    }

    /// Takes `user` out of `org`: the membership, its team memberships in the organization's
    /// teams, and its credentials bound to the organization (revoked, not deleted). Fails with
    /// `NotFound("member")` for a non-member and `LastAdmin` when no administrator would remain.
    pub async fn remove_member(&mut self, org: OrgKey, user: UserKey) -> Result<RemovedMember> {
        let role = self
            .member_role(org, user)
            .await?
            .ok_or(StoreError::NotFound("member"))?;
        sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(id_of(org.0))
            .bind(id_of(user.0))
            .execute(self.conn())
            .await?;
        if role == OrgRole::Admin {
            self.require_admin(org).await?;
        }
        let teams: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM team_members WHERE user_id = $1 \
             AND team_id IN (SELECT id FROM teams WHERE org_id = $2) RETURNING team_id",
        )
        .bind(id_of(user.0))
        .bind(id_of(org.0))
        .fetch_all(self.conn())
        .await?;
        let mut teams = teams
            .into_iter()
            .map(team_key)
            .collect::<Result<Vec<_>>>()?;
        teams.sort_unstable();
        let now = self.now();
        let revoked = sqlx::query_as(&format!(
            "UPDATE credentials SET revoked_at = $1 \
             WHERE user_id = $2 AND org_id = $3 AND revoked_at IS NULL RETURNING {CREDENTIAL_COLUMNS}"
        ))
        .bind(now)
        .bind(id_of(user.0))
        .bind(id_of(org.0))
        .fetch_all(self.conn())
        .await?
        .into_iter()
        .map(credential_from_row)
        .collect::<Result<Vec<_>>>()?;
        Ok(RemovedMember {
            role,
            teams,
            revoked,
        })
    }

    async fn require_admin(&mut self, org: OrgKey) -> Result<()> {
        if self.admin_count(org).await? == 0 {
            return Err(StoreError::LastAdmin);
        }
        Ok(())
    }
}
