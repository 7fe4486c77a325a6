//! An organization's SCIM settings: the role a provisioned member gets (the default, and the
//! roles groups give, in order: `roles.rs` applies them), and the endpoint to give the
//! identity provider.

use std::collections::BTreeSet;

use portcullis_core::audit::Operation;
use portcullis_core::decision::Resource;
use portcullis_core::index::Account;
use portcullis_core::{OrgKey, OrgRole, Permission};
use portcullis_store::{AuditRecord, ScimGroupRole};
use serde_json::{Value, json};

use crate::members::parse_role;
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

/// The most groups that may give a role.
pub const MAX_GROUP_ROLES: usize = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct ScimSettings {
    /// The role a member provisioned through SCIM gets when none of its groups gives one
    /// (`org_user` unless set).
    pub default_role: OrgRole,
    /// The roles groups give, first match first.
    pub group_roles: Vec<ScimGroupRoleSetting>,
    /// `<public_url>/scim/v2/orgs/<org>`.
    pub endpoint: String,
}

/// A group (a team of the organization, by id) and the role it gives.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimGroupRoleSetting {
    pub group: String,
    pub role: OrgRole,
}

impl From<ScimGroupRole> for ScimGroupRoleSetting {
    fn from(g: ScimGroupRole) -> Self {
        Self {
            group: g.team_id,
            role: g.role,
        }
    }
}

/// A role that provisioning may give: any but `admin` (a provisioning client never mints
/// administrators).
fn provisioned_role(field: &'static str, code: &'static str, raw: &str) -> Result<OrgRole> {
    let role = parse_role(field, raw)?;
    if role == OrgRole::Admin {
        return Err(ServiceError::invalid(
            code,
            field,
            "provisioning cannot make administrators",
        ));
    }
    Ok(role)
}

fn settings_json(default_role: OrgRole, group_roles: &[ScimGroupRoleSetting]) -> Value {
    let groups: Vec<Value> = group_roles
        .iter()
        .map(|g| json!({"group": g.group, "role": g.role.as_str()}))
        .collect();
    json!({"default_role": default_role.as_str(), "group_roles": groups})
}

impl Portcullis {
    /// The org's SCIM settings (`security.view`).
    pub async fn scim_settings(&self, caller: &Caller, org_id: &str) -> Result<ScimSettings> {
        let org = self.resolve_org(org_id)?;
        self.authorize(
            caller,
            Permission::SecurityView,
            Resource::Account(Account::Org(org)),
            "organization",
        )?;
        Ok(ScimSettings {
            default_role: self.store().scim_default_role(org).await?,
            group_roles: self.group_role_settings(org).await?,
            endpoint: self.scim_endpoint(org),
        })
    }

    async fn group_role_settings(&self, org: OrgKey) -> Result<Vec<ScimGroupRoleSetting>> {
        Ok(self
            .store()
            .scim_group_roles(org)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Sets the roles provisioned members get (`security.manage`): the default, and the
    /// groups (`(team id, role)`, first match first) that give another. Every provisioned
    /// member is brought to its role at once.
    pub async fn set_scim_settings(
        &self,
        caller: &Caller,
        org_id: &str,
        default_role: &str,
        group_roles: &[(String, String)],
    ) -> Result<Committed<ScimSettings>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_mutation(
            Operation::ScimSettingsUpdate,
            caller,
            Permission::SecurityManage,
            Resource::Account(Account::Org(org)),
            "organization",
        )
        .await?;
        let default_role =
            provisioned_role("default_role", "scim.default_role_admin", default_role)?;
        if group_roles.len() > MAX_GROUP_ROLES {
            return Err(ServiceError::invalid(
                "scim.too_many_group_roles",
                "group_roles",
                format!("at most {MAX_GROUP_ROLES} groups may give a role"),
            ));
        }
        let mut seen = BTreeSet::new();
        let mut resolved = Vec::with_capacity(group_roles.len());
        let mut settings = Vec::with_capacity(group_roles.len());
        for (group, role) in group_roles {
            let team = self.resolve_team(org, group).map_err(|_| {
                ServiceError::invalid(
                    "scim.unknown_group",
                    "group_roles",
                    format!("`{group}` is not a group (team) of this organization"),
                )
            })?;
            if !seen.insert(team) {
                return Err(ServiceError::invalid(
                    "scim.duplicate_group",
                    "group_roles",
                    format!("`{group}` is listed twice"),
                ));
            }
            let role = provisioned_role("group_roles", "scim.group_role_admin", role)?;
            resolved.push((team, role));
            settings.push(ScimGroupRoleSetting {
                group: group.clone(),
                role,
            });
        }
        let label = self.member_org_handle(org);
        let endpoint = self.scim_endpoint(org);
        self.commit(caller, async |w| {
            let before_default = w.scim_default_role(org).await?;
            let before_groups: Vec<ScimGroupRoleSetting> = w
                .scim_group_roles(org)
                .await?
                .into_iter()
                .map(Into::into)
                .collect();
            w.set_scim_default_role(org, default_role).await?;
            w.set_scim_group_roles(org, &resolved).await?;
            w.audit(
                AuditRecord::new(
                    Some(org),
                    Operation::ScimSettingsUpdate,
                    json!({"org": label}),
                )
                .with_details(json!({
                    "before": settings_json(before_default, &before_groups),
                    "after": settings_json(default_role, &settings),
                })),
            );
            let mut changes = Vec::new();
            let provisioned = w.scim_user_keys(org).await?;
            self.apply_provisioned_roles(w, org, provisioned, &mut changes)
                .await?;
            Ok((
                ScimSettings {
                    default_role,
                    group_roles: settings.clone(),
                    endpoint: endpoint.clone(),
                },
                changes,
            ))
        })
        .await
    }
}
