//! Teams: create / rename / delete with a default role, add and remove members (only members of
//! the organization) and apps (only apps the organization owns) with a team role.
//!
//! Every member of the organization may read its teams; changing them needs `teams.manage`,
//! `teams.add_members` or `teams.add_apps`. Whether a user belongs to the organization and an
//! app to it is re-checked inside the write transaction, so a concurrent change cannot slip
//! past it.

use portcullis_core::audit::Operation;
use portcullis_core::decision::{Resource, binding_reaches};
use portcullis_core::index::Account;
use portcullis_core::{Change, OrgKey, Permission, TeamRole};
use portcullis_store::{AuditRecord, NewTeam, TeamAppSet, TeamChanges, TeamMemberAdd, TeamRecord};
use serde_json::json;

use crate::authentication::{check_name, parse_id};
use crate::orgs::non_empty;
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

pub const MAX_TEAM_NAME_CHARS: usize = 200;

#[derive(Debug, Default)]
pub struct TeamPatch {
    pub id: Option<String>,
    pub name: Option<String>,
    pub default_role: Option<String>,
}

/// A team with its members (user ids) and apps (app id and the team's role on it).
#[derive(Debug, Clone)]
pub struct TeamDetail {
    pub team: TeamRecord,
    pub members: Vec<String>,
    pub apps: Vec<(String, TeamRole)>,
}

/// A team member as it stands after being added: the team's and the user's ids.
#[derive(Debug, Clone)]
pub struct TeamMemberLink {
    pub team: String,
    pub user: String,
}

/// A team–app link as it stands after a change.
#[derive(Debug, Clone)]
pub struct TeamAppLink {
    pub app: String,
    pub role: TeamRole,
}

impl Portcullis {
    pub async fn create_team(
        &self,
        caller: &Caller,
        org_id: &str,
        id: &str,
        name: &str,
        default_role: Option<&str>,
    ) -> Result<Committed<TeamRecord>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_mutation(
            Operation::TeamCreate,
            caller,
            Permission::TeamsManage,
            org_resource(org),
            "organization",
        )
        .await?;
        let new = NewTeam {
            org,
            id: parse_id("id", id)?,
            name: team_name(name)?,
            default_role: default_role
                .map(parse_team_role("default_role"))
                .transpose()?
                .unwrap_or(TeamRole::FullAccess),
        };
        let org_name = org_label(self, org);
        let now = self.now();
        self.commit(caller, async |w| {
            let key = w.create_team(&new).await?;
            w.audit(
                AuditRecord::new(
                    Some(org),
                    Operation::TeamCreate,
                    json!({"org": org_name, "team": new.id.as_str()}),
                )
                .with_details(json!({"name": new.name, "default_role": new.default_role.as_str()})),
            );
            let record = TeamRecord {
                key,
                org,
                id: new.id.as_str().to_owned(),
                name: new.name.clone(),
                default_role: new.default_role,
                created_at: now,
                modified_at: now,
            };
            let change = Change::TeamCreated {
                key,
                org,
                id: record.id.clone(),
                default_role: record.default_role,
            };
            Ok((record, vec![change]))
        })
        .await
    }

    /// The teams of an organization, for its members (others get `not_found`).
    pub async fn list_teams(&self, caller: &Caller, org_id: &str) -> Result<Vec<TeamRecord>> {
        let org = member_org(self, caller, org_id)?;
        Ok(self.store().teams_of_org(org).await?)
    }

    /// One team with its members and apps, for members of the organization.
    pub async fn get_team(
        &self,
        caller: &Caller,
        org_id: &str,
        team_id: &str,
    ) -> Result<TeamDetail> {
        let org = member_org(self, caller, org_id)?;
        let key = self.resolve_team(org, team_id)?;
        let team = self
            .store()
            .team(key)
            .await?
            .ok_or(ServiceError::NotFound("team"))?;
        let members = self.store().team_member_ids(key).await?;
        let apps = self.store().team_app_links(key).await?;
        Ok(TeamDetail {
            team,
            members,
            apps,
        })
    }

    pub async fn update_team(
        &self,
        caller: &Caller,
        org_id: &str,
        team_id: &str,
        patch: TeamPatch,
    ) -> Result<Committed<TeamRecord>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_mutation(
            Operation::TeamUpdate,
            caller,
            Permission::TeamsManage,
            org_resource(org),
            "organization",
        )
        .await?;
        let key = self.resolve_team(org, team_id)?;
        if patch.id.is_none() && patch.name.is_none() && patch.default_role.is_none() {
            return Err(ServiceError::invalid(
                "field.required",
                "id",
                "give at least one of `id`, `name`, `default_role`",
            ));
        }
        let changes = TeamChanges {
            id: patch
                .id
                .as_deref()
                .map(|id| parse_id("id", id))
                .transpose()?,
            name: patch.name.as_deref().map(team_name).transpose()?,
            default_role: patch
                .default_role
                .as_deref()
                .map(parse_team_role("default_role"))
                .transpose()?,
        };
        let org_name = org_label(self, org);
        self.commit(caller, async |w| {
            let (before, after) = w.update_team(key, &changes).await?;
            w.audit(
                AuditRecord::new(Some(org), Operation::TeamUpdate, json!({"org": org_name, "team": after.id}))
                    .with_details(json!({
                        "before": {"id": before.id, "name": before.name, "default_role": before.default_role.as_str()},
                        "after": {"id": after.id, "name": after.name, "default_role": after.default_role.as_str()},
                    })),
            );
            let change = Change::TeamUpdated { key, id: after.id.clone(), default_role: after.default_role };
            Ok((after, vec![change]))
        })
        .await
    }

    pub async fn delete_team(
        &self,
        caller: &Caller,
        org_id: &str,
        team_id: &str,
    ) -> Result<Committed<()>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_mutation(
            Operation::TeamDelete,
            caller,
            Permission::TeamsManage,
            org_resource(org),
            "organization",
        )
        .await?;
        let key = self.resolve_team(org, team_id)?;
        let org_name = org_label(self, org);
        self.commit(caller, async |w| {
            let team = w.team(key).await?;
            w.delete_team(key).await?;
            w.audit(AuditRecord::new(
                Some(org),
                Operation::TeamDelete,
                json!({"org": org_name, "team": team.id}),
            ));
            Ok(((), vec![Change::TeamDeleted { key }]))
        })
        .await
    }

    /// Adds a member of the organization to the team; adding one already in it changes nothing.
    pub async fn add_team_member(
        &self,
        caller: &Caller,
        org_id: &str,
        team_id: &str,
        user_id: &str,
    ) -> Result<Committed<TeamMemberLink>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_mutation(
            Operation::TeamMemberAdd,
            caller,
            Permission::TeamsAddMembers,
            org_resource(org),
            "organization",
        )
        .await?;
        let key = self.resolve_team(org, team_id)?;
        // An unknown user and an outsider get the same answer: a team cannot reveal who exists.
        let user = self
            .resolve_user(user_id)
            .map_err(|_| not_org_member(user_id))?;
        let org_name = org_label(self, org);
        let user_name = self
            .with_index(|index| index.user(user).map(|u| u.id.to_string()))
            .unwrap_or_default();
        self.commit(caller, async |w| {
            let team = w.team(key).await?;
            let link = TeamMemberLink {
                team: team.id.clone(),
                user: user_name.clone(),
            };
            match w.add_team_member(key, user).await? {
                TeamMemberAdd::NotOrgMember => Err(not_org_member(user_id)),
                TeamMemberAdd::AlreadyMember => Ok((link, vec![])),
                TeamMemberAdd::Added => {
                    w.audit(AuditRecord::new(
                        Some(org),
                        Operation::TeamMemberAdd,
                        json!({"org": org_name, "team": team.id, "user": user_name}),
                    ));
                    Ok((link, vec![Change::TeamMemberAdded { team: key, user }]))
                }
            }
        })
        .await
    }

    pub async fn remove_team_member(
        &self,
        caller: &Caller,
        org_id: &str,
        team_id: &str,
        user_id: &str,
    ) -> Result<Committed<()>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_mutation(
            Operation::TeamMemberRemove,
            caller,
            Permission::TeamsAddMembers,
            org_resource(org),
            "organization",
        )
        .await?;
        let key = self.resolve_team(org, team_id)?;
        let user = self
            .resolve_user(user_id)
            .map_err(|_| ServiceError::NotFound("team member"))?;
        let org_name = org_label(self, org);
        let user_name = self
            .with_index(|index| index.user(user).map(|u| u.id.to_string()))
            .unwrap_or_default();
        self.commit(caller, async |w| {
            let team = w.team(key).await?;
            if !w.remove_team_member(key, user).await? {
                return Err(ServiceError::NotFound("team member"));
            }
            w.audit(AuditRecord::new(
                Some(org),
                Operation::TeamMemberRemove,
                json!({"org": org_name, "team": team.id, "user": user_name}),
            ));
            Ok(((), vec![Change::TeamMemberRemoved { team: key, user }]))
        })
        .await
    }

    /// Links an app of the organization to the team with `role` (default: the team's default
    /// role), or changes the role of an existing link. `account`, when given, names the app's
    /// owner: any owner but this organization is refused with `team.app_not_in_org`.
    pub async fn set_team_app(
        &self,
        caller: &Caller,
        org_id: &str,
        team_id: &str,
        app_id: &str,
        role: Option<&str>,
        account: Option<&str>,
    ) -> Result<Committed<TeamAppLink>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_mutation(
            Operation::TeamAppAdd,
            caller,
            Permission::TeamsAddApps,
            org_resource(org),
            "organization",
        )
        .await?;
        let key = self.resolve_team(org, team_id)?;
        if let Some(account) = account {
            let owner = self
                .resolve_account(account)
                .map_err(|_| ServiceError::NotFound("app"))?;
            if owner != Account::Org(org) {
                // Only say "not in this org" about an app the caller may know exists.
                let (_, app) = self.resolve_app(account, app_id)?;
                self.require_visible(caller, Resource::App(app), "app")?;
                return Err(app_not_in_org(app_id));
            }
        }
        let app = self
            .with_index(|index| index.app_by_id(Account::Org(org), app_id))
            .ok_or(ServiceError::NotFound("app"))?;
        let role = role.map(parse_team_role("role")).transpose()?;
        let org_name = org_label(self, org);
        self.commit(caller, async |w| {
            let team = w.team(key).await?;
            let role = role.unwrap_or(team.default_role);
            let app_record = w.app(app).await?;
            let previous = match w.set_team_app(key, app, role).await? {
                TeamAppSet::NotInOrg => return Err(app_not_in_org(app_id)),
                TeamAppSet::Added => None,
                TeamAppSet::Updated(previous) => Some(previous),
            };
            if previous != Some(role) {
                w.audit(
                    AuditRecord::new(
                        Some(org),
                        Operation::TeamAppAdd,
                        json!({"org": org_name, "team": team.id, "app": app_record.id}),
                    )
                    .with_details(
                        json!({"before": previous.map(TeamRole::as_str), "after": role.as_str()}),
                    ),
                );
            }
            let link = TeamAppLink {
                app: app_record.id,
                role,
            };
            Ok((
                link,
                vec![Change::TeamAppSet {
                    team: key,
                    app,
                    role,
                }],
            ))
        })
        .await
    }

    pub async fn remove_team_app(
        &self,
        caller: &Caller,
        org_id: &str,
        team_id: &str,
        app_id: &str,
    ) -> Result<Committed<()>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_mutation(
            Operation::TeamAppRemove,
            caller,
            Permission::TeamsAddApps,
            org_resource(org),
            "organization",
        )
        .await?;
        let key = self.resolve_team(org, team_id)?;
        let app = self
            .with_index(|index| index.app_by_id(Account::Org(org), app_id))
            .ok_or(ServiceError::NotFound("app"))?;
        let org_name = org_label(self, org);
        self.commit(caller, async |w| {
            let team = w.team(key).await?;
            let app_record = w.app(app).await?;
            let Some(role) = w.remove_team_app(key, app).await? else {
                return Err(ServiceError::NotFound("team app"));
            };
            w.audit(
                AuditRecord::new(
                    Some(org),
                    Operation::TeamAppRemove,
                    json!({"org": org_name, "team": team.id, "app": app_record.id}),
                )
                .with_details(json!({"role": role.as_str()})),
            );
            Ok(((), vec![Change::TeamAppRemoved { team: key, app }]))
        })
        .await
    }
}

/// Resolves an organization the caller belongs to; others get `not_found`.
fn member_org(service: &Portcullis, caller: &Caller, org_id: &str) -> Result<OrgKey> {
    let org = service.resolve_org(org_id)?;
    service.require_visible(caller, org_resource(org), "organization")?;
    if !binding_reaches(&caller.subject.binding, Account::Org(org), None) {
        return Err(ServiceError::NotAllowed {
            code: "credential.bound",
            message: "this credential is bound to another organization or app".into(),
        });
    }
    Ok(org)
}

/// The organization's id as its creator spelled it (for audit targets).
pub(crate) fn org_label(service: &Portcullis, org: OrgKey) -> String {
    service
        .with_index(|index| index.org(org).map(|o| o.id.to_string()))
        .unwrap_or_default()
}

fn org_resource(org: OrgKey) -> Resource {
    Resource::Account(Account::Org(org))
}

fn team_name(raw: &str) -> Result<String> {
    non_empty("name", check_name("name", raw, MAX_TEAM_NAME_CHARS)?)
}

fn parse_team_role(field: &'static str) -> impl Fn(&str) -> Result<TeamRole> {
    move |raw| {
        TeamRole::parse(raw).ok_or_else(|| {
            let known: Vec<&str> = TeamRole::ALL.iter().map(|r| r.as_str()).collect();
            ServiceError::invalid(
                "field.invalid",
                field,
                format!(
                    "unknown team role `{raw}`; expected one of {}",
                    known.join(", ")
                ),
            )
        })
    }
}

fn not_org_member(user_id: &str) -> ServiceError {
    let shown: String = user_id.chars().take(64).collect();
    ServiceError::invalid(
        "team.not_org_member",
        "user",
        format!("`{shown}` is not a member of the organization"),
    )
}

fn app_not_in_org(app_id: &str) -> ServiceError {
    let shown: String = app_id.chars().take(64).collect();
    ServiceError::invalid(
        "team.app_not_in_org",
        "app",
        format!("app `{shown}` is not owned by the organization"),
    )
}
