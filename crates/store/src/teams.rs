//! Teams of an organization: their members and the apps they give those members, each with a
//! team role. The store keeps the rows consistent (members must belong to the org, apps must be
//! owned by it); who may change a team is the service's decision.

use portcullis_core::{AccountId, AppKey, OrgKey, TeamKey, TeamRole, Timestamp, UserKey};

use crate::error::conflict_as;
use crate::rows::{id_of, org_key, team_key, team_role};
use crate::{Result, Store, StoreError, Write};

#[derive(Debug, Clone)]
pub struct NewTeam {
    pub org: OrgKey,
    pub id: AccountId,
    pub name: String,
    pub default_role: TeamRole,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TeamRecord {
    pub key: TeamKey,
    pub org: OrgKey,
    pub id: String,
    pub name: String,
    pub default_role: TeamRole,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

/// What a team update changes; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct TeamChanges {
    pub id: Option<AccountId>,
    pub name: Option<String>,
    pub default_role: Option<TeamRole>,
}

/// The outcome of adding a member to a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamMemberAdd {
    Added,
    AlreadyMember,
    /// The user does not belong to the team's organization.
    NotOrgMember,
}

/// The outcome of linking an app to a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamAppSet {
    Added,
    /// The link existed with this previous role.
    Updated(TeamRole),
    /// The app is not owned by the team's organization.
    NotInOrg,
}

type TeamRow = (i64, i64, String, String, String, i64, i64);

const TEAM_COLUMNS: &str = "id, org_id, handle, name, default_role, created_at, modified_at";

fn team_from_row(
    (id, org, handle, name, default_role, created_at, modified_at): TeamRow,
) -> Result<TeamRecord> {
    Ok(TeamRecord {
        key: team_key(id)?,
        org: org_key(org)?,
        id: handle,
        name,
        default_role: team_role(&default_role)?,
        created_at,
        modified_at,
    })
}

impl Store {
    pub async fn team(&self, team: TeamKey) -> Result<Option<TeamRecord>> {
        let row: Option<TeamRow> =
            sqlx::query_as(&format!("SELECT {TEAM_COLUMNS} FROM teams WHERE id = $1"))
                .bind(id_of(team.0))
                .fetch_optional(&self.pool)
                .await?;
        row.map(team_from_row).transpose()
    }

    /// The teams of an organization, by id.
    pub async fn teams_of_org(&self, org: OrgKey) -> Result<Vec<TeamRecord>> {
        let rows: Vec<TeamRow> = sqlx::query_as(&format!(
            "SELECT {TEAM_COLUMNS} FROM teams WHERE org_id = $1 ORDER BY handle_key"
        ))
        .bind(id_of(org.0))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(team_from_row).collect()
    }

    /// The user ids of a team's members, in id order.
    pub async fn team_member_ids(&self, team: TeamKey) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT a.handle FROM team_members m JOIN accounts a ON a.id = m.user_id \
             WHERE m.team_id = $1 ORDER BY a.handle_key",
        )
        .bind(id_of(team.0))
        .fetch_all(&self.pool)
        .await?)
    }

    /// The app ids linked to a team with the team's role on each, in id order.
    pub async fn team_app_links(&self, team: TeamKey) -> Result<Vec<(String, TeamRole)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT p.handle, t.role FROM team_apps t JOIN apps p ON p.id = t.app_id \
             WHERE t.team_id = $1 ORDER BY p.handle_key",
        )
        .bind(id_of(team.0))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(app, role)| Ok((app, team_role(&role)?)))
            .collect()
    }
}

impl Write {
    pub async fn create_team(&mut self, new: &NewTeam) -> Result<TeamKey> {
        let now = self.now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO teams (org_id, handle, handle_key, name, default_role, created_at, modified_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(id_of(new.org.0))
        .bind(new.id.as_str())
        .bind(new.id.key())
        .bind(&new.name)
        .bind(new.default_role.as_str())
        .bind(now)
        .fetch_one(self.conn())
        .await
        .map_err(conflict_as("team"))?;
        team_key(id)
    }

    /// The team as this transaction sees it.
    pub async fn team(&mut self, team: TeamKey) -> Result<TeamRecord> {
        let row: Option<TeamRow> =
            sqlx::query_as(&format!("SELECT {TEAM_COLUMNS} FROM teams WHERE id = $1"))
                .bind(id_of(team.0))
                .fetch_optional(self.conn())
                .await?;
        row.map(team_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound("team"))
    }

    /// Applies `changes`; returns the team before and after.
    pub async fn update_team(
        &mut self,
        team: TeamKey,
        changes: &TeamChanges,
    ) -> Result<(TeamRecord, TeamRecord)> {
        let before = self.team(team).await?;
        let now = self.now();
        sqlx::query(
            "UPDATE teams SET handle = COALESCE($1, handle), handle_key = COALESCE($2, handle_key), \
             name = COALESCE($3, name), default_role = COALESCE($4, default_role), modified_at = $5 WHERE id = $6",
        )
        .bind(changes.id.as_ref().map(AccountId::as_str))
        .bind(changes.id.as_ref().map(AccountId::key))
        .bind(changes.name.as_deref())
        .bind(changes.default_role.map(TeamRole::as_str))
        .bind(now)
        .bind(id_of(team.0))
        .execute(self.conn())
        .await
        .map_err(conflict_as("team"))?;
        let after = self.team(team).await?;
        Ok((before, after))
    }

    /// Deletes the team with its member and app links.
    pub async fn delete_team(&mut self, team: TeamKey) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM teams WHERE id = $1")
            .bind(id_of(team.0))
            .execute(self.conn())
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound("team"));
        }
        Ok(())
    }

    /// Adds `user` to the team if it is a member of the team's organization (checked here, in
    /// the transaction, so a concurrent removal from the org cannot slip a non-member in).
    pub async fn add_team_member(&mut self, team: TeamKey, user: UserKey) -> Result<TeamMemberAdd> {
        let in_org: Option<i64> = sqlx::query_scalar(
            "SELECT m.user_id FROM teams t JOIN memberships m ON m.org_id = t.org_id \
             WHERE t.id = $1 AND m.user_id = $2",
        )
        .bind(id_of(team.0))
        .bind(id_of(user.0))
        .fetch_optional(self.conn())
        .await?;
        if in_org.is_none() {
            return Ok(TeamMemberAdd::NotOrgMember);
        }
        let already: Option<i64> = sqlx::query_scalar(
            "SELECT user_id FROM team_members WHERE team_id = $1 AND user_id = $2",
        )
        .bind(id_of(team.0))
        .bind(id_of(user.0))
        .fetch_optional(self.conn())
        .await?;
        if already.is_some() {
            return Ok(TeamMemberAdd::AlreadyMember);
        }
        let now = self.now();
        sqlx::query("INSERT INTO team_members (team_id, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(id_of(team.0))
            .bind(id_of(user.0))
            .bind(now)
            .execute(self.conn())
            .await?;
        Ok(TeamMemberAdd::Added)
    }

    /// Removes `user` from the team; `false` if it was not in it.
    pub async fn remove_team_member(&mut self, team: TeamKey, user: UserKey) -> Result<bool> {
        let removed = sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
            .bind(id_of(team.0))
            .bind(id_of(user.0))
            .execute(self.conn())
            .await?
            .rows_affected();
        Ok(removed > 0)
    }

    /// Links `app` to the team with `role`, or changes the role of an existing link. The app
    /// must be owned by the team's organization.
    pub async fn set_team_app(
        &mut self,
        team: TeamKey,
        app: AppKey,
        role: TeamRole,
    ) -> Result<TeamAppSet> {
        let same_org: Option<i64> = sqlx::query_scalar(
            "SELECT p.id FROM teams t JOIN apps p ON p.owner_id = t.org_id WHERE t.id = $1 AND p.id = $2",
        )
        .bind(id_of(team.0))
        .bind(id_of(app.0))
        .fetch_optional(self.conn())
        .await?;
        if same_org.is_none() {
            return Ok(TeamAppSet::NotInOrg);
        }
        let previous: Option<String> =
            sqlx::query_scalar("SELECT role FROM team_apps WHERE team_id = $1 AND app_id = $2")
                .bind(id_of(team.0))
                .bind(id_of(app.0))
                .fetch_optional(self.conn())
                .await?;
        match previous {
            Some(previous) => {
                sqlx::query("UPDATE team_apps SET role = $1 WHERE team_id = $2 AND app_id = $3")
                    .bind(role.as_str())
                    .bind(id_of(team.0))
                    .bind(id_of(app.0))
                    .execute(self.conn())
                    .await?;
                Ok(TeamAppSet::Updated(team_role(&previous)?))
            }
            None => {
                let now = self.now();
                sqlx::query("INSERT INTO team_apps (team_id, app_id, role, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(id_of(team.0))
                    .bind(id_of(app.0))
                    .bind(role.as_str())
                    .bind(now)
                    .execute(self.conn())
                    .await?;
                Ok(TeamAppSet::Added)
            }
        }
    }

    /// Unlinks `app` from the team; the removed link's role, or `None` if there was none.
    pub async fn remove_team_app(
        &mut self,
        team: TeamKey,
        app: AppKey,
    ) -> Result<Option<TeamRole>> {
        let role: Option<String> = sqlx::query_scalar(
            "DELETE FROM team_apps WHERE team_id = $1 AND app_id = $2 RETURNING role",
        )
        .bind(id_of(team.0))
        .bind(id_of(app.0))
        .fetch_optional(self.conn())
        .await?;
        role.map(|r| team_role(&r)).transpose()
    }
}
