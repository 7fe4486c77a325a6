//! Which organization role a member the organization provisioned through SCIM holds: the role
//! of the first of the org's role-giving groups it belongs to, else the SCIM default role.
//!
//! Applied whenever provisioning changes what decides it: a group's members (SCIM), a group
//! deleted (SCIM), the settings changed (v1 API). Administrators are left alone both ways: no
//! group gives `admin`, and provisioning never changes an administrator's role (so it can never
//! take the last one away). Members the organization did not provision keep the role an
//! administrator gave them, whatever groups they are in.

use std::collections::BTreeSet;

use portcullis_core::{Change, OrgKey, OrgRole, TeamKey, UserKey};
use portcullis_store::Write;
use serde_json::json;

use crate::members::role_change_record;
use crate::{Portcullis, Result};

impl Portcullis {
    /// Brings each of `users` that `org` provisioned to the role its groups give, within the
    /// caller's write; each change is audited as a member role change and pushed to `changes`.
    pub(crate) async fn apply_provisioned_roles(
        &self,
        w: &mut Write,
        org: OrgKey,
        users: Vec<UserKey>,
        changes: &mut Vec<Change>,
    ) -> Result<()> {
        let default_role = w.scim_default_role(org).await?;
        let group_roles = w.scim_group_roles(org).await?;
        let org_label = self.member_org_handle(org);
        for user in users {
            let Some(current) = w.member_role(org, user).await? else {
                continue;
            };
            if current == OrgRole::Admin || !w.is_scim_user(org, user).await? {
                continue;
            }
            let teams: BTreeSet<TeamKey> =
                w.team_memberships(org, user).await?.into_iter().collect();
            let (role, group) = group_roles
                .iter()
                .find(|g| teams.contains(&g.team))
                .map_or((default_role, None), |g| (g.role, Some(g.team_id.as_str())));
            if role == current {
                continue;
            }
            w.set_member_role(org, user, role).await?;
            let member = w.member(org, user).await?;
            let mut record = role_change_record(org, &org_label, &member.id, current, role);
            record.details["provisioned_by_group"] = json!(group);
            w.audit(record);
            changes.push(Change::MemberSet { org, user, role });
        }
        Ok(())
    }
}
