//! An organization's SCIM bearer tokens: created by an administrator (`security.manage`),
//! shown once, stored hashed, rotated with an overlap, revoked; and the authentication of a
//! SCIM request, which a token allows only on its own organization's SCIM endpoint.

use portcullis_core::audit::Operation;
use portcullis_core::decision::{Binding, Resource, Subject};
use portcullis_core::index::Account;
use portcullis_core::{CredentialKind, OrgKey, Permission, PermissionSet, Timestamp, token};
use portcullis_store::{AuditEntry, AuditRecord, NewScimToken, ScimTokenRow};
use serde_json::json;

use crate::authentication::{check_name, public_id};
use crate::{Caller, Committed, Portcullis, RequestMeta, Result, ServiceError};

/// How long a rotated token keeps working beside its successor.
pub const ROTATION_OVERLAP_MS: i64 = 24 * 60 * 60 * 1000;
pub const MAX_DESCRIPTION_CHARS: usize = 200;
/// The most SCIM activity entries one call returns.
pub const MAX_ACTIVITY: usize = 500;

/// A SCIM token as listed: never its secret.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimTokenRecord {
    /// The token's public id (to rotate or revoke it).
    pub id: String,
    pub description: String,
    pub created_at: Timestamp,
    /// The account id of the administrator who created it, while it exists.
    pub created_by: Option<String>,
    pub last_used_at: Option<Timestamp>,
    /// Set once the token was rotated: it stops working then.
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl From<ScimTokenRow> for ScimTokenRecord {
    fn from(row: ScimTokenRow) -> Self {
        Self {
            id: row.public_id,
            description: row.description,
            created_at: row.created_at,
            created_by: row.created_by,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// A new token: its record and the secret, shown this once.
#[derive(Clone)]
pub struct CreatedScimToken {
    pub record: ScimTokenRecord,
    pub token: String,
}

impl std::fmt::Debug for CreatedScimToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedScimToken")
            .field("record", &self.record)
            .field("token", &"<redacted>")
            .finish()
    }
}

fn org_resource(org: OrgKey) -> Resource {
    Resource::Account(Account::Org(org))
}

impl Portcullis {
    /// Creates a SCIM token for `org_id` (`security.manage`); the secret is returned once.
    pub async fn create_scim_token(
        &self,
        caller: &Caller,
        org_id: &str,
        description: &str,
    ) -> Result<Committed<CreatedScimToken>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_mutation(
            Operation::ScimTokenCreate,
            caller,
            Permission::SecurityManage,
            org_resource(org),
            "organization",
        )
        .await?;
        let description = check_name("description", description, MAX_DESCRIPTION_CHARS)?;
        let label = self.member_org_handle(org);
        let by = self.caller_handle(caller);
        self.commit(caller, async |w| {
            let created = mint(w, org, caller, by.clone(), &description).await?;
            w.audit(
                AuditRecord::new(
                    Some(org),
                    Operation::ScimTokenCreate,
                    json!({"org": label, "scim_token": created.record.id}),
                )
                .with_details(json!({"description": description})),
            );
            Ok((created, Vec::new()))
        })
        .await
    }

    /// The SCIM tokens of `org_id`, newest first, revoked and expired ones included
    /// (`security.view`).
    pub async fn list_scim_tokens(
        &self,
        caller: &Caller,
        org_id: &str,
    ) -> Result<Vec<ScimTokenRecord>> {
        let org = self.resolve_org(org_id)?;
        self.authorize(
            caller,
            Permission::SecurityView,
            org_resource(org),
            "organization",
        )?;
        let rows = self.store().scim_tokens(org).await?;
        Ok(rows.into_iter().map(ScimTokenRecord::from).collect())
    }

    /// Replaces a token with a new one (`security.manage`): the old one keeps working for
    /// [`ROTATION_OVERLAP_MS`] (or less if it was to end sooner), so the identity provider can
    /// be switched over without a gap.
    pub async fn rotate_scim_token(
        &self,
        caller: &Caller,
        org_id: &str,
        token_id: &str,
    ) -> Result<Committed<CreatedScimToken>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_mutation(
            Operation::ScimTokenRotate,
            caller,
            Permission::SecurityManage,
            org_resource(org),
            "organization",
        )
        .await?;
        let label = self.member_org_handle(org);
        let by = self.caller_handle(caller);
        self.commit(caller, async |w| {
            let old = w.scim_token(org, token_id).await?;
            if !old.live(w.now()) {
                return Err(ServiceError::state(
                    "scim.token_not_live",
                    "this token is revoked or expired; create a new one",
                ));
            }
            let ends = w.now() + ROTATION_OVERLAP_MS;
            w.expire_scim_token(old.row, ends).await?;
            let created = mint(w, org, caller, by.clone(), &old.description).await?;
            w.audit(
                AuditRecord::new(
                    Some(org),
                    Operation::ScimTokenRotate,
                    json!({"org": label, "scim_token": old.public_id}),
                )
                .with_details(json!({
                    "successor": created.record.id,
                    "old_token_expires_at": old.expires_at.map_or(ends, |at| at.min(ends)),
                })),
            );
            Ok((created, Vec::new()))
        })
        .await
    }

    /// Revokes a token at once (`security.manage`).
    pub async fn revoke_scim_token(
        &self,
        caller: &Caller,
        org_id: &str,
        token_id: &str,
    ) -> Result<Committed<()>> {
        let org = self.resolve_org(org_id)?;
        self.authorize_mutation(
            Operation::ScimTokenRevoke,
            caller,
            Permission::SecurityManage,
            org_resource(org),
            "organization",
        )
        .await?;
        let label = self.member_org_handle(org);
        self.commit(caller, async |w| {
            let token = w.scim_token(org, token_id).await?;
            if !w.revoke_scim_token(token.row).await? {
                return Err(ServiceError::state(
                    "scim.token_revoked",
                    "this token is already revoked",
                ));
            }
            w.audit(AuditRecord::new(
                Some(org),
                Operation::ScimTokenRevoke,
                json!({"org": label, "scim_token": token.public_id}),
            ));
            Ok(((), Vec::new()))
        })
        .await
    }

    /// The latest `limit` entries of `org_id`'s audit log made with a SCIM token, failures
    /// included, newest first (`audit.view`): the last sync activity and its errors.
    pub async fn scim_activity(
        &self,
        caller: &Caller,
        org_id: &str,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        let org = self.resolve_org(org_id)?;
        self.authorize(
            caller,
            Permission::AuditView,
            org_resource(org),
            "organization",
        )?;
        let limit = i64::try_from(limit.clamp(1, MAX_ACTIVITY)).unwrap_or(1);
        Ok(self.store().scim_activity(org, limit).await?)
    }

    /// The caller of a SCIM request to `org_id`'s endpoint: a live SCIM token of that very
    /// organization, or `unauthenticated` (any other credential, another org's token, a
    /// revoked or expired one, an unknown org). Notes the token's use.
    pub async fn authenticate_scim(
        &self,
        presented: &str,
        org_id: &str,
        meta: RequestMeta,
    ) -> Result<Caller> {
        let (kind, hash) = token::parse(presented).ok_or(ServiceError::Unauthenticated)?;
        if kind != CredentialKind::ScimToken {
            return Err(ServiceError::Unauthenticated);
        }
        let org = self
            .resolve_org(org_id)
            .map_err(|_| ServiceError::Unauthenticated)?;
        let now = self.now();
        let token = self
            .store()
            .scim_token_by_hash(&hash)
            .await?
            .filter(|t| t.org == org && t.live(now))
            .ok_or(ServiceError::Unauthenticated)?;
        if let Err(err) = self.store().touch_scim_token(token.row, now).await {
            tracing::warn!(error = %err, "could not note a SCIM token's use");
        }
        Ok(Caller {
            subject: Subject {
                user: None,
                scopes: PermissionSet::from_bits(0),
                binding: Binding::Org(org),
                platform_service: false,
                sso_orgs: Default::default(),
            },
            credential: Some((token.row, CredentialKind::ScimToken)),
            token_hash: Some(hash),
            meta,
            granted: crate::caller::Grants::default(),
        })
    }

    fn caller_handle(&self, caller: &Caller) -> Option<String> {
        let user = caller.user()?;
        self.with_index(|i| i.user(user).map(|u| u.id.to_string()))
    }

    /// The organization a SCIM caller acts for, which must be `org_id`'s.
    pub(crate) fn scim_org(&self, caller: &Caller, org_id: &str) -> Result<OrgKey> {
        let org = self
            .resolve_org(org_id)
            .map_err(|_| ServiceError::Unauthenticated)?;
        match (caller.kind(), &caller.subject.binding) {
            (Some(CredentialKind::ScimToken), Binding::Org(bound)) if *bound == org => Ok(org),
            _ => Err(ServiceError::Unauthenticated),
        }
    }
}

/// Mints and stores a token of `org` for `caller`.
async fn mint(
    w: &mut portcullis_store::Write,
    org: OrgKey,
    caller: &Caller,
    created_by: Option<String>,
    description: &str,
) -> Result<CreatedScimToken> {
    let minted = token::mint(CredentialKind::ScimToken, &mut rand::thread_rng());
    let new = NewScimToken {
        public_id: public_id("scim"),
        org,
        token_hash: minted.hash,
        description: description.to_owned(),
        created_by: caller.user(),
    };
    w.create_scim_token(&new).await?;
    let record = ScimTokenRecord {
        id: new.public_id,
        description: new.description,
        created_at: w.now(),
        created_by,
        last_used_at: None,
        expires_at: None,
        revoked_at: None,
    };
    Ok(CreatedScimToken {
        record,
        token: minted.secret,
    })
}
