//! Transfer of a personal app into an organization (docs/contract.md §6): only its owner may move it, and
//! only into an organization where the owner holds `apps.create`. The app keeps its row, so
//! its models, workflows, modules, installations, collaborators and keys go with it.

use portcullis_core::audit::Operation;
use portcullis_core::decision::Resource;
use portcullis_core::index::Account;
use portcullis_core::{Change, Permission};
use portcullis_store::{AppRecord, AuditRecord};
use serde_json::json;

use crate::{Caller, Committed, Portcullis, Result, ServiceError};

impl Portcullis {
    pub async fn transfer_app(
        &self,
        caller: &Caller,
        account: &str,
        app: &str,
        org: &str,
    ) -> Result<Committed<AppRecord>> {
        let user = self.require_user(caller)?;
        let (owner, key) = self.resolve_app(account, app)?;
        let resource = Resource::App(key);
        self.require_visible(caller, resource, "app")?;
        if owner != Account::User(user) {
            return Err(ServiceError::NotAllowed {
                code: "app.transfer_owner_only",
                message: "only the owner of a personal app can transfer it".into(),
            });
        }
        // Moving the app gives it away; the credential must carry that power over the app.
        self.authorize_mutation(
            Operation::AppTransfer,
            caller,
            Permission::AppDelete,
            resource,
            "app",
        )
        .await?;
        let org_key = self.resolve_org(org)?;
        let target = Account::Org(org_key);
        self.authorize_mutation(
            Operation::AppTransfer,
            caller,
            Permission::AppsCreate,
            Resource::Account(target),
            "organization",
        )
        .await?;
        let (owner_id, app_id) = self.app_names(owner, key);
        let org_id = org.to_owned();
        self.commit(caller, async |w| {
            w.transfer_app(key, target).await?;
            let after = w.app(key).await?;
            w.audit(
                AuditRecord::new(
                    Some(org_key),
                    Operation::AppTransfer,
                    json!({"account": after.owner_id, "app": after.id}),
                )
                .with_details(json!({
                    "before": {"account": owner_id, "app": app_id},
                    "after": {"account": after.owner_id, "org": org_id},
                })),
            );
            let change = Change::AppUpserted {
                key,
                owner: target,
                id: after.id.clone(),
                visibility: after.visibility,
            };
            Ok((after, vec![change]))
        })
        .await
    }
}
