//! Collaborators: a user (member of the owning organization or not) granted a set of
//! app-level permissions on one app (docs/contract.md §4). Listing needs `collaborators.view`, granting and
//! removing `collaborators.edit`.
//!
//! A collaboration never carries `app.delete`, `app.edit_id` or `app.change_visibility`, and an
//! editor can only grant permissions it holds on the app itself, so a collaborator with
//! `collaborators.edit` cannot widen its own grant.

use portcullis_core::audit::Operation;
use portcullis_core::decision::{Binding, Resource, effective_permissions};
use portcullis_core::index::Account;
use portcullis_core::roles::collaborator_forbidden;
use portcullis_core::{Change, Level, Permission, PermissionSet};
use portcullis_store::{AuditRecord, CollaborationRecord, CollaboratorRecord};
use serde_json::json;

use crate::{Caller, Committed, Portcullis, Result, ServiceError};

fn names(set: PermissionSet) -> Vec<&'static str> {
    set.iter().map(Permission::as_str).collect()
}

/// Parses a collaborator's permission list: app-level permission ids, never the forbidden ones.
fn parse_permissions(raw: &[String]) -> Result<PermissionSet> {
    if raw.is_empty() {
        return Err(ServiceError::invalid(
            "collaborator.permissions_required",
            "permissions",
            "give at least one permission",
        ));
    }
    let mut set = PermissionSet::default();
    for id in raw {
        let shown: String = id.chars().take(64).collect();
        let permission = Permission::parse(id).ok_or_else(|| {
            ServiceError::invalid(
                "collaborator.unknown_permission",
                "permissions",
                format!("unknown permission `{shown}`"),
            )
        })?;
        if permission.level() != Level::App {
            return Err(ServiceError::invalid(
                "collaborator.not_app_level",
                "permissions",
                format!("`{shown}` is not an app-level permission"),
            ));
        }
        if collaborator_forbidden().contains(permission) {
            return Err(ServiceError::invalid(
                "collaborator.forbidden_permission",
                "permissions",
                format!("a collaborator can never be given `{shown}`"),
            ));
        }
        set = set.with(permission);
    }
    Ok(set)
}

impl Portcullis {
    pub async fn list_collaborators(
        &self,
        caller: &Caller,
        account: &str,
        app: &str,
    ) -> Result<Vec<CollaboratorRecord>> {
        let (_, key) = self.resolve_app(account, app)?;
        self.authorize(
            caller,
            Permission::CollaboratorsView,
            Resource::App(key),
            "app",
        )?;
        Ok(self.store().collaborators_of_app(key).await?)
    }

    /// Grants (or replaces) `user`'s permissions on the app.
    pub async fn set_collaborator(
        &self,
        caller: &Caller,
        account: &str,
        app: &str,
        user: &str,
        permissions: &[String],
    ) -> Result<Committed<PermissionSet>> {
        let (owner, key) = self.resolve_app(account, app)?;
        let resource = Resource::App(key);
        self.authorize_mutation(
            Operation::CollaboratorAdd,
            caller,
            Permission::CollaboratorsEdit,
            resource,
            "app",
        )
        .await?;
        let user_key = self.resolve_user(user)?;
        let permissions = parse_permissions(permissions)?;
        let held = self.with_index(|index| effective_permissions(index, &caller.subject, resource));
        if let Some(missing) = permissions.difference(held).iter().next() {
            return Err(ServiceError::Forbidden(missing));
        }
        let (owner_id, app_id) = self.app_names(owner, key);
        let user_id = self.with_index(|index| {
            index
                .user(user_key)
                .map(|u| u.id.to_string())
                .unwrap_or_default()
        });
        self.commit(caller, async |w| {
            w.app(key).await?;
            let before = w.set_collaborator(key, user_key, permissions).await?;
            let operation = if before.is_some() {
                Operation::CollaboratorUpdate
            } else {
                Operation::CollaboratorAdd
            };
            w.audit(
                AuditRecord::new(
                    owner.org(),
                    operation,
                    json!({"account": owner_id, "app": app_id, "user": user_id}),
                )
                .with_details(json!({
                    "before": before.map(names),
                    "after": names(permissions),
                })),
            );
            let change = Change::CollaboratorSet {
                app: key,
                user: user_key,
                permissions,
            };
            Ok((permissions, vec![change]))
        })
        .await
    }

    pub async fn remove_collaborator(
        &self,
        caller: &Caller,
        account: &str,
        app: &str,
        user: &str,
    ) -> Result<Committed<()>> {
        let (owner, key) = self.resolve_app(account, app)?;
        self.authorize_mutation(
            Operation::CollaboratorRemove,
            caller,
            Permission::CollaboratorsEdit,
            Resource::App(key),
            "app",
        )
        .await?;
        let user_key = self
            .resolve_user(user)
            .map_err(|_| ServiceError::NotFound("collaborator"))?;
        let (owner_id, app_id) = self.app_names(owner, key);
        self.commit(caller, async |w| {
            let before = w.remove_collaborator(key, user_key).await?;
            w.audit(
                AuditRecord::new(
                    owner.org(),
                    Operation::CollaboratorRemove,
                    json!({"account": owner_id, "app": app_id, "user": user}),
                )
                .with_details(json!({"before": names(before)})),
            );
            let change = Change::CollaboratorRemoved {
                app: key,
                user: user_key,
            };
            Ok(((), vec![change]))
        })
        .await
    }

    /// The apps the caller collaborates on; a bound credential sees only those it reaches.
    pub async fn my_collaborations(&self, caller: &Caller) -> Result<Vec<CollaborationRecord>> {
        let user = self.require_user(caller)?;
        let mut collaborations = self.store().collaborations_of_user(user).await?;
        collaborations.retain(|c| match &caller.subject.binding {
            Binding::Anywhere => true,
            Binding::App(app) => c.app == *app,
            Binding::Org(org) => self.with_index(|index| {
                index
                    .app(c.app)
                    .is_some_and(|a| a.owner == Account::Org(*org))
            }),
            Binding::Orgs(_) => false,
        });
        Ok(collaborations)
    }
}
