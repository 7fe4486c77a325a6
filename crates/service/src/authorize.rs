//! Permission checks for use cases, on top of the pure decision function.

use portcullis_core::audit::Operation;
use portcullis_core::decision::{
    Decision, Denial, Resource, Subject, binding_reaches, check, org_gate,
};
use portcullis_core::index::Account;
use portcullis_core::{AppKey, OrgKey, Permission, TeamKey, UserKey};
use portcullis_store::AuditRecord;
use serde_json::json;

use crate::{Caller, Portcullis, Result, ServiceError};

impl Portcullis {
    /// Resolves an organization id; unknown ids and non-organizations are `not_found`.
    pub fn resolve_org(&self, id: &str) -> Result<OrgKey> {
        self.with_index(|index| index.org_by_id(id))
            .ok_or(ServiceError::NotFound("organization"))
    }

    /// Resolves an account id (organization or user).
    pub fn resolve_account(&self, id: &str) -> Result<Account> {
        self.with_index(|index| index.account(id))
            .ok_or(ServiceError::NotFound("account"))
    }

    pub fn resolve_user(&self, id: &str) -> Result<UserKey> {
        self.with_index(|index| index.user_by_id(id))
            .ok_or(ServiceError::NotFound("user"))
    }

    /// Resolves `{account}/apps/{app}`.
    pub fn resolve_app(&self, account: &str, app: &str) -> Result<(Account, AppKey)> {
        self.with_index(|index| {
            let owner = index.account(account)?;
            Some((owner, index.app_by_id(owner, app)?))
        })
        .ok_or(ServiceError::NotFound("app"))
    }

    pub fn resolve_team(&self, org: OrgKey, team: &str) -> Result<TeamKey> {
        self.with_index(|index| index.team_by_id(org, team))
            .ok_or(ServiceError::NotFound("team"))
    }

    pub fn decide(&self, caller: &Caller, permission: Permission, resource: Resource) -> Decision {
        self.with_index(|index| check(index, &caller.subject, permission, resource))
    }

    /// Requires `permission` on `resource`. A caller that may not even see the resource gets
    /// `not_found` (naming `what`), so private things do not leak their existence; one that can
    /// see it gets `forbidden` naming the missing permission.
    pub fn authorize(
        &self,
        caller: &Caller,
        permission: Permission,
        resource: Resource,
        what: &'static str,
    ) -> Result<()> {
        let decision = self.decide(caller, permission, resource);
        if decision.allowed {
            caller.granted.record(permission, resource, what);
            return Ok(());
        }
        if let Some(refusal) = decision.denial.and_then(gate_refusal) {
            return Err(refusal);
        }
        if self.can_see(caller, resource) {
            Err(ServiceError::Forbidden(permission))
        } else {
            Err(ServiceError::NotFound(what))
        }
    }

    /// [`Portcullis::authorize`] for a mutation: a refusal for a missing permission (403) is
    /// recorded as a failed `operation` in the audit log of the resource's organization (the
    /// platform's for personal apps). Callers that may not even see the resource (404) are not
    /// recorded: they learn nothing and must not be able to fill an organization's log.
    pub(crate) async fn authorize_mutation(
        &self,
        operation: Operation,
        caller: &Caller,
        permission: Permission,
        resource: Resource,
        what: &'static str,
    ) -> Result<()> {
        let result = self.authorize(caller, permission, resource, what);
        if let Err(ServiceError::Forbidden(missing)) = &result {
            self.audit_denied(caller, operation, *missing, resource)
                .await;
        }
        result
    }

    /// Records a refused mutation of `resource` (outside any write: nothing changed).
    pub(crate) async fn audit_denied(
        &self,
        caller: &Caller,
        operation: Operation,
        missing: Permission,
        resource: Resource,
    ) {
        let (org, targets) = self.with_index(|index| match resource {
            Resource::Account(account) => {
                (account.org(), json!({"account": index.account_id(account)}))
            }
            Resource::App(app) | Resource::AppItem { app, .. } => {
                let entry = index.app(app);
                let owner = entry.map(|a| a.owner);
                (
                    owner.and_then(Account::org),
                    json!({
                        "account": owner.and_then(|o| index.account_id(o)),
                        "app": entry.map(|a| &*a.id),
                    }),
                )
            }
        });
        let record = AuditRecord::new(org, operation, targets)
            .with_details(json!({"denied": "forbidden", "missing_permission": missing.as_str()}));
        if let Err(err) = self
            .store()
            .record_failure(&caller.actor(), self.now(), record)
            .await
        {
            tracing::warn!(error = %err, "could not record a refused mutation");
        }
    }

    /// Requires that the caller may know `resource` exists ([`Portcullis::can_see`]). A member
    /// kept out by SSO enforcement knows the organization exists and is told `sso_required`;
    /// anyone else gets `not_found` naming `what`.
    pub fn require_visible(
        &self,
        caller: &Caller,
        resource: Resource,
        what: &'static str,
    ) -> Result<()> {
        if self.can_see(caller, resource) {
            Ok(())
        } else {
            Err(self.invisible(caller, resource, what))
        }
    }

    /// Refuses a member whose credential the org's sign-in requirements keep out of `org`
    /// (`sso_required`, `two_factor_required`), for listings that would otherwise answer such
    /// a member with an empty page.
    pub fn require_sso(&self, caller: &Caller, org: OrgKey) -> Result<()> {
        match self
            .with_index(|index| org_gate(index, &caller.subject, org))
            .and_then(gate_refusal)
        {
            Some(refusal) => Err(refusal),
            None => Ok(()),
        }
    }

    /// The error for a caller that may not see `resource`: `sso_required` for a member kept out
    /// by SSO enforcement, `not_found` naming `what` otherwise.
    pub fn invisible(
        &self,
        caller: &Caller,
        resource: Resource,
        what: &'static str,
    ) -> ServiceError {
        let gate = self.with_index(|index| {
            let org = match resource {
                Resource::Account(account) => account.org(),
                Resource::App(app) | Resource::AppItem { app, .. } => {
                    index.app(app).and_then(|entry| entry.owner.org())
                }
            };
            org.and_then(|org| org_gate(index, &caller.subject, org))
        });
        gate.and_then(gate_refusal)
            .unwrap_or(ServiceError::NotFound(what))
    }

    /// Whether the caller may know that `resource` exists: members see their organization,
    /// anyone with `app.view` sees an app. Credential scopes do not hide existence; a
    /// credential's binding does: a bound token or app key sees nothing outside it.
    pub fn can_see(&self, caller: &Caller, resource: Resource) -> bool {
        if !self.binding_reaches(caller, resource) {
            return false;
        }
        let Some(user) = caller.user() else {
            return match resource {
                Resource::App(_) | Resource::AppItem { .. } => {
                    self.decide(caller, Permission::AppView, resource).allowed
                }
                Resource::Account(_) => false,
            };
        };
        self.with_index(|index| match resource {
            Resource::Account(Account::Org(org)) => {
                index.membership(user, org).is_some()
                    && org_gate(index, &caller.subject, org).is_none()
            }
            Resource::Account(Account::User(owner)) => owner == user,
            Resource::App(_) | Resource::AppItem { .. } => {
                let mut unscoped = Subject::user(user);
                unscoped.sso_orgs.clone_from(&caller.subject.sso_orgs);
                check(index, &unscoped, Permission::AppView, resource).allowed
            }
        })
    }

    /// Whether the caller's credential binding reaches `resource` at all.
    pub fn binding_reaches(&self, caller: &Caller, resource: Resource) -> bool {
        self.with_index(|index| match resource {
            Resource::Account(account) => binding_reaches(&caller.subject.binding, account, None),
            Resource::App(app) | Resource::AppItem { app, .. } => index
                .app(app)
                .is_some_and(|a| binding_reaches(&caller.subject.binding, a.owner, Some(app))),
        })
    }

    /// The acting user, or `unauthenticated`.
    pub fn require_user(&self, caller: &Caller) -> Result<UserKey> {
        caller.user().ok_or(ServiceError::Unauthenticated)
    }
}

/// The refusal for a member whose credential an org's sign-in requirements keep out; `None`
/// for any other denial.
fn gate_refusal(denial: Denial) -> Option<ServiceError> {
    match denial {
        Denial::SsoRequired => Some(ServiceError::NotAllowed {
            code: "sso_required",
            message: "this organization requires signing in through its identity provider"
                .to_owned(),
        }),
        Denial::MembershipSuspended => Some(ServiceError::NotAllowed {
            code: "membership.suspended",
            message: "your membership of this organization is suspended".to_owned(),
        }),
        Denial::TwoFactorRequired => Some(ServiceError::NotAllowed {
            code: "two_factor_required",
            message: "this organization requires two-factor authentication; enrol a second factor"
                .to_owned(),
        }),
        _ => None,
    }
}
