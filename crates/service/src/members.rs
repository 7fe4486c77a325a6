//! Members of an organization: list (paginated), change role, remove, leave.
//!
//! Members are added only by accepting an invitation (see `invitations`). The last
//! administrator rule is the store's: every demotion or removal re-counts administrators inside
//! its transaction and fails with [`ServiceError::LastAdmin`], whichever path asked for it.

use portcullis_core::audit::Operation;
use portcullis_core::decision::Resource;
use portcullis_core::index::Account;
use portcullis_core::{AccountId, Change, OrgKey, OrgRole, Permission, UserKey};
use portcullis_store::{AuditRecord, MemberRecord, RemovedMember};
use serde_json::json;

use crate::credential_use::{CredentialUse, require_credential_for};
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

/// Page size when none is asked for, and the largest accepted.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 200;

/// One page of members, ordered by user id.
#[derive(Debug, Clone)]
pub struct MemberPage {
    pub members: Vec<MemberRecord>,
    /// Pass it back as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A role change: the member after it and the role it had before.
#[derive(Debug, Clone)]
pub struct RoleChange {
    pub member: MemberRecord,
    pub before: OrgRole,
}

pub(crate) fn parse_role(field: &'static str, raw: &str) -> Result<OrgRole> {
    OrgRole::parse(raw).ok_or_else(|| {
        ServiceError::invalid(
            "role.unknown",
            field,
            format!("unknown organization role `{raw}`"),
        )
    })
}

/// The page size from a raw `limit` query parameter: 1 to [`MAX_PAGE_SIZE`], default
/// [`DEFAULT_PAGE_SIZE`]; anything else is `pagination.invalid_limit`.
pub(crate) fn page_size(limit: Option<&str>) -> Result<u32> {
    match limit.map(str::parse::<u32>) {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(Ok(n)) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        Some(_) => Err(ServiceError::invalid(
            "pagination.invalid_limit",
            "limit",
            format!("`limit` must be between 1 and {MAX_PAGE_SIZE}"),
        )),
    }
}

impl Portcullis {
    /// A page of the members of `org`, for its members (others get `not_found`).
    pub async fn list_members(
        &self,
        caller: &Caller,
        org: &str,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<MemberPage> {
        let org = self.resolve_org(org)?;
        self.require_visible(caller, Resource::Account(Account::Org(org)), "organization")?;
        let limit = page_size(limit)?;
        let after = cursor
            .map(|c| {
                AccountId::parse(c).map(|id| id.key()).map_err(|_| {
                    ServiceError::invalid(
                        "pagination.invalid_cursor",
                        "cursor",
                        "`cursor` is not a cursor this list returned",
                    )
                })
            })
            .transpose()?;
        let mut members = self
            .store()
            .members(org, after.as_deref(), limit + 1)
            .await?;
        let next_cursor = if members.len() > limit as usize {
            members.truncate(limit as usize);
            members.last().map(|m| m.id.clone())
        } else {
            None
        };
        Ok(MemberPage {
            members,
            next_cursor,
        })
    }

    /// Changes the role of an existing member (`members.manage`).
    pub async fn change_member_role(
        &self,
        caller: &Caller,
        org: &str,
        user: &str,
        role: &str,
    ) -> Result<Committed<RoleChange>> {
        let org = self.resolve_org(org)?;
        self.authorize_mutation(
            Operation::MemberChange,
            caller,
            Permission::MembersManage,
            org_resource(org),
            "organization",
        )
        .await?;
        let role = parse_role("role", role)?;
        let user = self.resolve_org_member(org, user)?;
        let org_id = self.member_org_handle(org);
        self.commit(caller, async |w| {
            let before = w.set_member_role(org, user, role).await?;
            let member = w.member(org, user).await?;
            w.audit(role_change_record(org, &org_id, &member.id, before, role));
            Ok((
                RoleChange { member, before },
                vec![Change::MemberSet { org, user, role }],
            ))
        })
        .await
    }

    /// Removes a member (`members.manage`) with its team memberships in the organization and
    /// its credentials bound to the organization.
    pub async fn remove_member(
        &self,
        caller: &Caller,
        org: &str,
        user: &str,
    ) -> Result<Committed<RemovedMember>> {
        let org = self.resolve_org(org)?;
        self.authorize_mutation(
            Operation::MemberRemove,
            caller,
            Permission::MembersManage,
            org_resource(org),
            "organization",
        )
        .await?;
        let user = self.resolve_org_member(org, user)?;
        self.take_member_out(caller, org, user, Operation::MemberRemove)
            .await
    }

    /// The caller leaves `org` (any member, with a credential that reaches the organization
    /// and is not limited in scope).
    pub async fn leave_org(&self, caller: &Caller, org: &str) -> Result<Committed<RemovedMember>> {
        let org = self.resolve_org(org)?;
        let user = self.require_user(caller)?;
        self.require_visible(caller, org_resource(org), "organization")?;
        require_credential_for(caller, CredentialUse::Membership(org))?;
        self.take_member_out(caller, org, user, Operation::MemberLeave)
            .await
    }

    async fn take_member_out(
        &self,
        caller: &Caller,
        org: OrgKey,
        user: UserKey,
        operation: Operation,
    ) -> Result<Committed<RemovedMember>> {
        let org_id = self.member_org_handle(org);
        let user_id = self
            .with_index(|i| i.user(user).map(|u| u.id.to_string()))
            .unwrap_or_default();
        self.commit(caller, async |w| {
            let mut removed = w.remove_member(org, user).await?;
            // Removed from its last organization, a user keeps no live credential:
            // nothing it could reach is left. Leaving on one's own does not sign one out.
            if operation == Operation::MemberRemove {
                let orphaned = w.revoke_credentials_if_orgless(user).await?;
                removed.revoked.extend(orphaned);
            }
            let credentials: Vec<&str> = removed
                .revoked
                .iter()
                .map(|c| c.public_id.as_str())
                .collect();
            w.audit(
                AuditRecord::new(
                    Some(org),
                    operation,
                    json!({"org": org_id, "user": user_id}),
                )
                .with_details(json!({
                    "before": {"role": removed.role.as_str()},
                    "teams_left": removed.teams.len(),
                    "credentials_revoked": credentials,
                })),
            );
            let mut changes = vec![Change::MemberRemoved { org, user }];
            changes.extend(
                removed
                    .revoked
                    .iter()
                    .map(|c| Change::CredentialRevoked { hash: c.token_hash }),
            );
            Ok((removed, changes))
        })
        .await
    }

    /// Resolves a user id that must name a member of `org` (else `not_found`, naming the
    /// member: the caller already knows the organization).
    fn resolve_org_member(&self, org: OrgKey, user: &str) -> Result<UserKey> {
        self.with_index(|index| {
            let user = index.user_by_id(user)?;
            index.membership(user, org).map(|_| user)
        })
        .ok_or(ServiceError::NotFound("member"))
    }

    pub(crate) fn member_org_handle(&self, org: OrgKey) -> String {
        self.with_index(|i| i.org(org).map(|o| o.id.to_string()))
            .unwrap_or_default()
    }
}

fn org_resource(org: OrgKey) -> Resource {
    Resource::Account(Account::Org(org))
}

/// The audit entry of a member's role change, whoever made it.
pub(crate) fn role_change_record(
    org: OrgKey,
    org_id: &str,
    user_id: &str,
    before: OrgRole,
    after: OrgRole,
) -> AuditRecord {
    AuditRecord::new(
        Some(org),
        Operation::MemberChange,
        json!({"org": org_id, "user": user_id}),
    )
    .with_details(json!({"before": {"role": before.as_str()}, "after": {"role": after.as_str()}}))
}
