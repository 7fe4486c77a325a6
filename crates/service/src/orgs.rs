//! Organizations: create (the creator becomes admin), read, rename / billing email, delete,
//! and the caller's own organizations.

use portcullis_core::audit::Operation;
use portcullis_core::decision::Resource;
use portcullis_core::index::Account;
use portcullis_core::{Change, OrgRole, Permission};
use portcullis_store::{AuditRecord, NewOrg, OrgRecord};
use serde_json::json;

use crate::authentication::{check_name, parse_email, parse_id};
use crate::credential_use::{CredentialUse, require_credential_for};
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

pub const MAX_ORG_NAME_CHARS: usize = 200;

#[derive(Debug, Default)]
pub struct OrgPatch {
    pub name: Option<String>,
    pub billing_email: Option<String>,
}

impl Portcullis {
    pub async fn create_org(
        &self,
        caller: &Caller,
        id: &str,
        name: &str,
        billing_email: &str,
    ) -> Result<Committed<OrgRecord>> {
        let user = self.require_user(caller)?;
        require_credential_for(caller, CredentialUse::ManageAccount)?;
        let new = NewOrg {
            id: parse_id("id", id)?,
            name: non_empty("name", check_name("name", name, MAX_ORG_NAME_CHARS)?)?,
            billing_email: parse_email("billing_email", billing_email)?,
        };
        let quota = self.config().max_orgs_per_user;
        let now = self.now();
        self.commit(caller, async |w| {
            if w.membership_count(user).await? >= quota {
                return Err(ServiceError::state(
                    "org.quota_exceeded",
                    format!("a user may belong to at most {quota} organizations"),
                ));
            }
            let key = w.create_org(&new, user).await?;
            w.audit(
                AuditRecord::new(
                    Some(key),
                    Operation::OrgCreate,
                    json!({"org": new.id.as_str()}),
                )
                .with_details(
                    json!({"name": new.name, "billing_email": new.billing_email.as_str()}),
                ),
            );
            let record = OrgRecord {
                key,
                id: new.id.as_str().to_owned(),
                name: new.name.clone(),
                billing_email: new.billing_email.as_str().to_owned(),
                created_at: now,
                modified_at: now,
            };
            let changes = vec![
                Change::OrgCreated {
                    key,
                    id: record.id.clone(),
                },
                Change::MemberSet {
                    org: key,
                    user,
                    role: OrgRole::Admin,
                },
            ];
            Ok((record, changes))
        })
        .await
    }

    /// An organization, for its members (others get `not_found`).
    pub async fn get_org(&self, caller: &Caller, id: &str) -> Result<OrgRecord> {
        let org = self.resolve_org(id)?;
        self.require_visible(caller, Resource::Account(Account::Org(org)), "organization")?;
        self.store()
            .org(org)
            .await?
            .ok_or(ServiceError::NotFound("organization"))
    }

    pub async fn update_org(
        &self,
        caller: &Caller,
        id: &str,
        patch: OrgPatch,
    ) -> Result<Committed<OrgRecord>> {
        let org = self.resolve_org(id)?;
        self.authorize_mutation(
            Operation::OrgUpdate,
            caller,
            Permission::OrgManage,
            Resource::Account(Account::Org(org)),
            "organization",
        )
        .await?;
        let name = patch
            .name
            .map(|n| check_name("name", &n, MAX_ORG_NAME_CHARS).and_then(|n| non_empty("name", n)))
            .transpose()?;
        let billing_email = patch
            .billing_email
            .map(|e| parse_email("billing_email", &e))
            .transpose()?;
        self.commit(caller, async |w| {
            let (before, after) = w
                .update_org(org, name.as_deref(), billing_email.as_ref())
                .await?;
            w.audit(
                AuditRecord::new(Some(org), Operation::OrgUpdate, json!({"org": after.id}))
                    .with_details(json!({
                        "before": {"name": before.name, "billing_email": before.billing_email},
                        "after": {"name": after.name, "billing_email": after.billing_email},
                    })),
            );
            Ok((after, vec![]))
        })
        .await
    }

    pub async fn delete_org(&self, caller: &Caller, id: &str) -> Result<Committed<()>> {
        let org = self.resolve_org(id)?;
        self.authorize_mutation(
            Operation::OrgDelete,
            caller,
            Permission::OrgManage,
            Resource::Account(Account::Org(org)),
            "organization",
        )
        .await?;
        self.commit(caller, async |w| {
            let record = w.org(org).await?;
            w.delete_org(org).await?;
            w.audit(AuditRecord::new(
                Some(org),
                Operation::OrgDelete,
                json!({"org": record.id}),
            ));
            Ok(((), vec![Change::OrgDeleted { key: org }]))
        })
        .await
    }

    /// The organizations the caller belongs to, with its role in each.
    pub async fn my_orgs(&self, caller: &Caller) -> Result<Vec<(OrgRecord, OrgRole)>> {
        let user = self.require_user(caller)?;
        let mut orgs = self.store().orgs_of_user(user).await?;
        // A bound credential sees only the organizations inside its binding.
        orgs.retain(|(org, _)| {
            self.binding_reaches(caller, Resource::Account(Account::Org(org.key)))
        });
        Ok(orgs)
    }
}

pub(crate) fn non_empty(field: &'static str, value: String) -> Result<String> {
    if value.is_empty() {
        return Err(ServiceError::invalid(
            "field.required",
            field,
            format!("`{field}` must not be empty"),
        ));
    }
    Ok(value)
}
