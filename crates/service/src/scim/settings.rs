//! An organization's SCIM settings: the role a provisioned member gets, and the endpoint to
//! give the identity provider.

use portcullis_core::audit::Operation;
use portcullis_core::decision::Resource;
use portcullis_core::index::Account;
use portcullis_core::{OrgRole, Permission};
use portcullis_store::AuditRecord;
use serde_json::json;

use crate::members::parse_role;
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

#[derive(Debug, Clone, PartialEq)]
pub struct ScimSettings {
    /// The role a member provisioned through SCIM gets (`org_user` unless set).
    pub default_role: OrgRole,
    /// `<public_url>/scim/v2/orgs/<org>`.
    pub endpoint: String,
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
            endpoint: self.scim_endpoint(org),
        })
    }

    /// Sets the role provisioned members get (`security.manage`). Not `admin`: a provisioning
    /// client never mints administrators by default.
    pub async fn set_scim_settings(
        &self,
        caller: &Caller,
        org_id: &str,
        default_role: &str,
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
        let role = parse_role("default_role", default_role)?;
        if role == OrgRole::Admin {
            return Err(ServiceError::invalid(
                "scim.default_role_admin",
                "default_role",
                "provisioned members cannot become administrators by default",
            ));
        }
        let label = self.member_org_handle(org);
        let endpoint = self.scim_endpoint(org);
        self.commit(caller, async |w| {
            let before = w.scim_default_role(org).await?;
            w.set_scim_default_role(org, role).await?;
            w.audit(
                AuditRecord::new(
                    Some(org),
                    Operation::ScimSettingsUpdate,
                    json!({"org": label}),
                )
                .with_details(json!({
                    "before": {"default_role": before.as_str()},
                    "after": {"default_role": role.as_str()},
                })),
            );
            Ok((
                ScimSettings {
                    default_role: role,
                    endpoint: endpoint.clone(),
                },
                Vec::new(),
            ))
        })
        .await
    }
}
