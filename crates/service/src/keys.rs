//! Personal access tokens (and platform service keys for the operator): created with scopes,
//! an optional expiry and an optional organization binding; shown once; revocable.

use portcullis_core::audit::Operation;
use portcullis_core::decision::{Binding, Resource};
use portcullis_core::index::Account;
use portcullis_core::{Change, CredentialKind, Permission, PermissionSet, Timestamp, token};
use portcullis_store::{AuditRecord, CredentialRecord, NewCredential};
use secrecy::SecretString;
use serde_json::json;

use crate::authentication::{check_name, credential_change, public_id};
use crate::credential_use::{CredentialUse, require_credential_for};
use crate::{Caller, Committed, Portcullis, Result, ServiceError};

pub const MAX_DESCRIPTION_CHARS: usize = 200;

#[derive(Debug, Default)]
pub struct KeyInput {
    pub description: String,
    /// Permission ids, or `all`.
    pub scopes: Vec<String>,
    pub expires_at: Option<Timestamp>,
    /// Bind the token to one organization.
    pub org: Option<String>,
    /// Make it a platform service key (operator only): `authz.check` / `usage.write` in every
    /// organization, or only in `org` when given.
    pub service: bool,
}

#[derive(Debug)]
pub struct NewKey {
    pub token: SecretString,
    pub record: CredentialRecord,
}

impl Portcullis {
    pub async fn create_key(&self, caller: &Caller, input: KeyInput) -> Result<Committed<NewKey>> {
        let user = self.require_user(caller)?;
        // A token must not mint tokens wider than itself: only an interactive session may.
        require_credential_for(
            caller,
            CredentialUse::SignIn {
                code: "key.session_required",
                what: "creating a personal access token",
            },
        )?;
        let description = check_name("description", &input.description, MAX_DESCRIPTION_CHARS)?;
        if input.scopes.is_empty() {
            return Err(ServiceError::invalid(
                "key.scopes_required",
                "scopes",
                "at least one scope is required",
            ));
        }
        let scopes = PermissionSet::parse_scopes(input.scopes.iter().map(String::as_str)).map_err(
            |bad| {
                ServiceError::invalid(
                    "key.unknown_scope",
                    "scopes",
                    format!("unknown scope `{bad}`"),
                )
            },
        )?;
        let now = self.now();
        if input.expires_at.is_some_and(|at| at <= now) {
            return Err(ServiceError::invalid(
                "key.expiry_in_past",
                "expires_at",
                "expiry must be in the future",
            ));
        }
        // A session from an organization's identity provider makes tokens for that
        // organization only.
        let sso_org = match caller.subject.binding {
            Binding::Org(org) if crate::sso_trust::is_sso_session(caller) => Some(org),
            _ => None,
        };
        let org = match (&input.org, sso_org) {
            (None, Some(org)) => Some(org),
            (Some(id), Some(bound)) if self.resolve_org(id)? != bound => {
                return Err(ServiceError::NotAllowed {
                    code: "credential.bound",
                    message: "a session from an organization's identity provider makes tokens for \
                              that organization only"
                        .into(),
                });
            }
            (None, None) => None,
            (Some(id), _) => {
                let org = self.resolve_org(id)?;
                if !input.service {
                    self.require_visible(
                        caller,
                        Resource::Account(Account::Org(org)),
                        "organization",
                    )?;
                }
                Some(org)
            }
        };
        let kind = if input.service {
            let operator = self.with_index(|index| index.user(user).is_some_and(|u| u.operator));
            if !operator {
                return Err(ServiceError::NotAllowed {
                    code: "key.operator_only",
                    message: "only the platform operator can create service keys".into(),
                });
            }
            let service_scopes =
                PermissionSet::from_iter([Permission::AuthzCheck, Permission::UsageWrite]);
            if !scopes.is_subset(service_scopes) {
                return Err(ServiceError::invalid(
                    "key.service_scope",
                    "scopes",
                    "service keys carry only `authz.check` and `usage.write`",
                ));
            }
            CredentialKind::ServiceKey
        } else {
            CredentialKind::PersonalAccessToken
        };
        let minted = token::mint(kind, &mut rand::thread_rng());
        let new = NewCredential {
            public_id: public_id("key"),
            user,
            kind,
            token_hash: minted.hash,
            description,
            scopes,
            org,
            app: None,
            expires_at: input.expires_at,
        };
        let committed = self
            .commit(caller, async |w| {
                let id = w.create_credential(&new).await?;
                w.audit(AuditRecord::new(
                    org,
                    Operation::KeyCreate,
                    json!({"credential": new.public_id, "kind": kind.as_str()}),
                ).with_details(json!({"scopes": scopes.iter().map(Permission::as_str).collect::<Vec<_>>(), "expires_at": new.expires_at})));
                Ok((id, vec![credential_change(id, &new)]))
            })
            .await?;
        let record = CredentialRecord {
            id: committed.value,
            public_id: new.public_id,
            user,
            kind,
            token_hash: new.token_hash,
            description: new.description,
            scopes,
            org,
            app: None,
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

    /// The caller's live tokens and keys (never sessions' or others').
    pub async fn list_keys(&self, caller: &Caller) -> Result<Vec<CredentialRecord>> {
        let user = self.require_user(caller)?;
        require_credential_for(caller, CredentialUse::ManageAccount)?;
        let now = self.now();
        let mut keys = self
            .store()
            .credentials_of_user(
                user,
                &[
                    CredentialKind::PersonalAccessToken,
                    CredentialKind::ServiceKey,
                ],
            )
            .await?;
        keys.retain(|k| k.expires_at.is_none_or(|at| at > now));
        Ok(keys)
    }

    pub async fn revoke_key(&self, caller: &Caller, public_id: &str) -> Result<Committed<()>> {
        let user = self.require_user(caller)?;
        require_credential_for(caller, CredentialUse::ManageAccount)?;
        self.commit(caller, async |w| {
            let revoked = w.revoke_credential(user, public_id).await?;
            if revoked.kind == CredentialKind::Session {
                return Err(ServiceError::NotFound("credential"));
            }
            w.audit(AuditRecord::new(
                revoked.org,
                Operation::KeyRevoke,
                json!({"credential": revoked.public_id}),
            ));
            Ok((
                (),
                vec![Change::CredentialRevoked {
                    hash: revoked.token_hash,
                }],
            ))
        })
        .await
    }
}
