//! Permission checks for use cases, on top of the pure decision function.

use portcullis_core::audit::Operation;
use portcullis_core::decision::{Binding, Decision, Denial, Resource, Subject, check};
use portcullis_core::index::{AccessIndex, Account};
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
        if decision.denial == Some(Denial::SsoRequired) {
            return Err(sso_required());
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
            Resource::Account(account) => (
                match account {
                    Account::Org(org) => Some(org),
                    Account::User(_) => None,
                },
                json!({"account": index.account_id(account)}),
            ),
            Resource::App(app) | Resource::AppItem { app, .. } => {
                let entry = index.app(app);
                let owner = entry.map(|a| a.owner);
                (
                    match owner {
                        Some(Account::Org(org)) => Some(org),
                        _ => None,
                    },
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

    /// Refuses a member whose credential SSO enforcement keeps out of `org` (`sso_required`),
    /// for listings that would otherwise answer such a member with an empty page.
    pub fn require_sso(&self, caller: &Caller, org: OrgKey) -> Result<()> {
        if self.with_index(|index| sso_blocked(index, &caller.subject, org)) {
            Err(sso_required())
        } else {
            Ok(())
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
        let blocked = self.with_index(|index| {
            let org = match resource {
                Resource::Account(Account::Org(org)) => Some(org),
                Resource::Account(Account::User(_)) => None,
                Resource::App(app) | Resource::AppItem { app, .. } => {
                    index.app(app).and_then(|entry| match entry.owner {
                        Account::Org(org) => Some(org),
                        Account::User(_) => None,
                    })
                }
            };
            org.is_some_and(|org| sso_blocked(index, &caller.subject, org))
        });
        if blocked {
            sso_required()
        } else {
            ServiceError::NotFound(what)
        }
    }

    /// Whether the caller may know that `resource` exists: members see their organization,
    /// anyone with `app.view` sees an app. Credential scopes do not hide existence.
    pub fn can_see(&self, caller: &Caller, resource: Resource) -> bool {
        let Some(user) = caller.user() else {
            return match resource {
                Resource::App(_) | Resource::AppItem { .. } => {
                    self.decide(caller, Permission::AppView, resource).allowed
                }
                Resource::Account(_) => false,
            };
        };
        // A credential bound to one organization (an SSO session, a bound PAT) does not even
        // see the user's other organizations or personal account.
        let beyond_binding = |account: Account| match &caller.subject.binding {
            Binding::Org(bound) => account != Account::Org(*bound),
            _ => false,
        };
        self.with_index(|index| match resource {
            Resource::Account(Account::Org(org)) => {
                index.membership(user, org).is_some()
                    && !sso_blocked(index, &caller.subject, org)
                    && !beyond_binding(Account::Org(org))
            }
            Resource::Account(Account::User(owner)) => {
                owner == user && !beyond_binding(Account::User(owner))
            }
            Resource::App(_) | Resource::AppItem { .. } => {
                let mut unscoped = Subject::user(user);
                unscoped.sso_orgs.clone_from(&caller.subject.sso_orgs);
                check(index, &unscoped, Permission::AppView, resource).allowed
            }
        })
    }

    /// The acting user, or `unauthenticated`.
    pub fn require_user(&self, caller: &Caller) -> Result<UserKey> {
        caller.user().ok_or(ServiceError::Unauthenticated)
    }
}

/// The refusal for a member whose credential SSO enforcement keeps out of the organization.
fn sso_required() -> ServiceError {
    ServiceError::NotAllowed {
        code: "sso_required",
        message: "this organization requires signing in through its identity provider".to_owned(),
    }
}

/// Whether SSO enforcement keeps this member's credential out of `org` (docs/contract.md §4 step 3): the
/// org enforces SSO, the user is a member and not a break-glass admin, and the credential did
/// not come from (and was not authorized by) an SSO login of the org.
fn sso_blocked(index: &AccessIndex, subject: &Subject, org: OrgKey) -> bool {
    let Some(user) = subject.user else {
        return false;
    };
    index
        .org(org)
        .is_some_and(|o| o.sso_enforced && !o.sso_exempt.contains(&user))
        && index.membership(user, org).is_some()
        && !subject.sso_orgs.contains(&org)
}
