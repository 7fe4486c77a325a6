//! App keys: credentials bound to one app (kind `app_key`, prefix `pcl_key_`), carrying a set
//! of app-level permissions. A key acts as its creator intersected with its scopes and reaches
//! nothing outside its app (the decision's `Binding::App`).
//!
//! A key never widens a grant: every scope must be a permission the creator holds on the app
//! when it creates the key, and only a login session may create one (a token minting keys
//! could outlive itself). The creator lists and revokes its own keys; whoever holds
//! `collaborators.edit` on the app (who decides who else works on it) sees and revokes all.

use portcullis_core::audit::Operation;
use portcullis_core::decision::{Resource, effective_permissions};
use portcullis_core::{AppKey, CredentialKind, Level, Permission, PermissionSet, Timestamp, token};
use portcullis_store::{AuditRecord, CredentialRecord, NewCredential};
use secrecy::SecretString;
use serde_json::json;

use crate::authentication::{check_name, credential_change, public_id};
use crate::credential_use::{CredentialUse, require_credential_for};
use crate::keys::{MAX_DESCRIPTION_CHARS, NewKey};
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

#[derive(Debug, Default)]
pub struct AppKeyInput {
    pub description: String,
    /// App-level permission ids.
    pub scopes: Vec<String>,
    pub expires_at: Option<Timestamp>,
}

fn parse_scopes(raw: &[String]) -> Result<PermissionSet> {
    if raw.is_empty() {
        return Err(ServiceError::invalid(
            "key.scopes_required",
            "scopes",
            "at least one scope is required",
        ));
    }
    let mut set = PermissionSet::default();
    for id in raw {
        let shown: String = id.chars().take(64).collect();
        let permission = Permission::parse(id).ok_or_else(|| {
            ServiceError::invalid(
                "key.unknown_scope",
                "scopes",
                format!("unknown scope `{shown}`; app keys list app-level permission ids"),
            )
        })?;
        if permission.level() != Level::App {
            return Err(ServiceError::invalid(
                "key.scope_not_app_level",
                "scopes",
                format!("`{shown}` is not an app-level permission"),
            ));
        }
        set = set.with(permission);
    }
    Ok(set)
}

impl Portcullis {
    /// Whether the caller manages every key of the app, not only its own.
    fn manages_app_keys(&self, caller: &Caller, app: AppKey) -> bool {
        self.decide(caller, Permission::CollaboratorsEdit, Resource::App(app))
            .allowed
    }

    pub async fn create_app_key(
        &self,
        caller: &Caller,
        account: &str,
        app: &str,
        input: AppKeyInput,
    ) -> Result<Committed<NewKey>> {
        let user = self.require_user(caller)?;
        let (owner, key) = self.resolve_app(account, app)?;
        let resource = Resource::App(key);
        self.require_visible(caller, resource, "app")?;
        require_credential_for(
            caller,
            CredentialUse::SignIn {
                code: "key.session_required",
                what: "creating an app key",
            },
        )?;
        let description = check_name("description", &input.description, MAX_DESCRIPTION_CHARS)?;
        let scopes = parse_scopes(&input.scopes)?;
        let held = self.with_index(|index| effective_permissions(index, &caller.subject, resource));
        if let Some(missing) = scopes.difference(held).iter().next() {
            self.audit_denied(caller, Operation::AppKeyCreate, missing, resource)
                .await;
            return Err(ServiceError::Forbidden(missing));
        }
        let now = self.now();
        if input.expires_at.is_some_and(|at| at <= now) {
            return Err(ServiceError::invalid(
                "key.expiry_in_past",
                "expires_at",
                "expiry must be in the future",
            ));
        }
        let minted = token::mint(CredentialKind::AppKey, &mut rand::thread_rng());
        let new = NewCredential {
            public_id: public_id("key"),
            user,
            kind: CredentialKind::AppKey,
            token_hash: minted.hash,
            description,
            scopes,
            org: None,
            app: Some(key),
            expires_at: input.expires_at,
        };
        let (owner_id, app_id) = self.app_names(owner, key);
        let committed = self
            .commit(caller, async |w| {
                let id = w.create_credential(&new).await?;
                w.audit(
                    AuditRecord::new(
                        owner.org(),
                        Operation::AppKeyCreate,
                        json!({"account": owner_id, "app": app_id, "credential": new.public_id}),
                    )
                    .with_details(json!({
                        "scopes": scopes.iter().map(Permission::as_str).collect::<Vec<_>>(),
                        "expires_at": new.expires_at,
                    })),
                );
                Ok((id, vec![credential_change(id, &new)]))
            })
            .await?;
        let record = CredentialRecord {
            id: committed.value,
            public_id: new.public_id,
            user,
            kind: CredentialKind::AppKey,
            token_hash: new.token_hash,
            description: new.description,
            scopes,
            org: None,
            app: Some(key),
            created_at: now,
            expires_at: new.expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        Ok(Committed {
            value: NewKey {
                token: SecretString::from(minted.secret),
                record,
            },
            revision: committed.revision,
        })
    }

    /// The app's live keys the caller may see: its own, or all of them for a key manager.
    pub async fn list_app_keys(
        &self,
        caller: &Caller,
        account: &str,
        app: &str,
    ) -> Result<Vec<CredentialRecord>> {
        let user = self.require_user(caller)?;
        let (_, key) = self.resolve_app(account, app)?;
        self.require_visible(caller, Resource::App(key), "app")?;
        let all = self.manages_app_keys(caller, key);
        let now = self.now();
        let mut keys = self.store().app_keys(key).await?;
        keys.retain(|k| (all || k.user == user) && k.expires_at.is_none_or(|at| at > now));
        Ok(keys)
    }

    pub async fn revoke_app_key(
        &self,
        caller: &Caller,
        account: &str,
        app: &str,
        public_id: &str,
    ) -> Result<Committed<()>> {
        let user = self.require_user(caller)?;
        let (owner, key) = self.resolve_app(account, app)?;
        self.require_visible(caller, Resource::App(key), "app")?;
        let all = self.manages_app_keys(caller, key);
        let (owner_id, app_id) = self.app_names(owner, key);
        self.commit(caller, async |w| {
            let found = w.app_key(key, public_id).await?;
            if !all && found.user != user {
                return Err(ServiceError::NotFound("app key"));
            }
            let revoked = w.revoke_app_key(key, public_id).await?;
            w.audit(AuditRecord::new(
                owner.org(),
                Operation::AppKeyRevoke,
                json!({"account": owner_id, "app": app_id, "credential": revoked.public_id}),
            ));
            Ok((
                (),
                vec![portcullis_core::Change::CredentialRevoked {
                    hash: revoked.token_hash,
                }],
            ))
        })
        .await
    }
}
