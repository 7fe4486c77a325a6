//! The organization roles an organization's SCIM groups give the members it provisioned, in
//! their order (the service decides which one a member holds), and what deciding it reads.

use portcullis_core::{OrgKey, OrgRole, TeamKey, UserKey};

use crate::rows::{id_of, org_role, team_key, user_key};
use crate::{Result, Store, Write};

/// One group's role: the team, its id, the role, in the order the organization gave them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimGroupRole {
    pub team: TeamKey,
    pub team_id: String,
    pub role: OrgRole,
}

const ROLES: &str = "SELECT r.team_id, t.handle, r.role FROM scim_group_roles r \
                     JOIN teams t ON t.id = r.team_id WHERE r.org_id = $1 ORDER BY r.position";

fn into_roles(rows: Vec<(i64, String, String)>) -> Result<Vec<ScimGroupRole>> {
    rows.into_iter()
        .map(|(team, team_id, role)| {
            Ok(ScimGroupRole {
                team: team_key(team)?,
                team_id,
                role: org_role(&role)?,
            })
        })
        .collect()
}

impl Store {
    /// `org`'s group roles, first one first.
    pub async fn scim_group_roles(&self, org: OrgKey) -> Result<Vec<ScimGroupRole>> {
        let rows = sqlx::query_as(ROLES)
            .bind(id_of(org.0))
            .fetch_all(&self.pool)
            .await?;
        into_roles(rows)
    }
}

impl Write {
    /// [`Store::scim_group_roles`] as this transaction sees it.
    pub async fn scim_group_roles(&mut self, org: OrgKey) -> Result<Vec<ScimGroupRole>> {
        let rows = sqlx::query_as(ROLES)
            .bind(id_of(org.0))
            .fetch_all(self.conn())
            .await?;
        into_roles(rows)
    }

    /// Replaces `org`'s group roles with `roles`, in this order (teams of `org`).
    pub async fn set_scim_group_roles(
        &mut self,
        org: OrgKey,
        roles: &[(TeamKey, OrgRole)],
    ) -> Result<()> {
        sqlx::query("DELETE FROM scim_group_roles WHERE org_id = $1")
            .bind(id_of(org.0))
            .execute(self.conn())
            .await?;
        for (position, (team, role)) in (0_i64..).zip(roles) {
            sqlx::query(
                "INSERT INTO scim_group_roles (team_id, org_id, role, position) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id_of(team.0))
            .bind(id_of(org.0))
            .bind(role.as_str())
            .bind(position)
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }

    /// The members `org` provisioned through SCIM, by user row.
    pub async fn scim_user_keys(&mut self, org: OrgKey) -> Result<Vec<UserKey>> {
        let rows: Vec<i64> =
            sqlx::query_scalar("SELECT user_id FROM scim_users WHERE org_id = $1 ORDER BY user_id")
                .bind(id_of(org.0))
                .fetch_all(self.conn())
                .await?;
        rows.into_iter().map(user_key).collect()
    }

    /// The teams of `org` that `user` belongs to, as this transaction sees them.
    pub async fn team_memberships(&mut self, org: OrgKey, user: UserKey) -> Result<Vec<TeamKey>> {
        let rows: Vec<i64> = sqlx::query_scalar(
            "SELECT t.id FROM team_members tm JOIN teams t ON t.id = tm.team_id \
             WHERE t.org_id = $1 AND tm.user_id = $2 ORDER BY t.id",
        )
        .bind(id_of(org.0))
        .bind(id_of(user.0))
        .fetch_all(self.conn())
        .await?;
        rows.into_iter().map(team_key).collect()
    }

    /// The members of `team`, as this transaction sees them.
    pub async fn team_member_keys(&mut self, team: TeamKey) -> Result<Vec<UserKey>> {
        let rows: Vec<i64> = sqlx::query_scalar(
            "SELECT user_id FROM team_members WHERE team_id = $1 ORDER BY user_id",
        )
        .bind(id_of(team.0))
        .fetch_all(self.conn())
        .await?;
        rows.into_iter().map(user_key).collect()
    }
}
