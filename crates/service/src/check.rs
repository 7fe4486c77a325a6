//! The check API: decisions about any principal for platform services (`authz.check`), a
//! principal asking about itself, and a caller's own effective permissions.

use portcullis_core::decision::{Decision, Grant, Resource, Subject, check, effective_permissions};
use portcullis_core::index::{Account, ItemKind};
use portcullis_core::{AccessIndex, Permission, PermissionSet, token};

use crate::authentication::subject_of;
use crate::{Caller, Portcullis, Result, ServiceError};

/// Whom a check is about.
#[derive(Debug, Clone)]
pub enum CheckSubject {
    User(String),
    /// A presented token (as a gateway would forward it).
    Token(String),
}

/// What a check is about, by external ids.
#[derive(Debug, Clone)]
pub enum CheckResource {
    Org(String),
    App {
        account: String,
        app: String,
    },
    Item {
        account: String,
        app: String,
        kind: String,
        id: String,
    },
}

#[derive(Debug, Clone, Copy)]
pub enum Consistency {
    /// Whatever this server's index has now.
    Latest,
    AtLeast(u64),
    /// At least the store's last committed revision.
    Full,
}

#[derive(Debug, Clone)]
pub struct CheckRequest {
    pub subject: CheckSubject,
    pub permission: String,
    pub resource: CheckResource,
    pub consistency: Consistency,
}

/// A decision rendered for callers: grant paths as strings, denial as a stable code.
#[derive(Debug, Clone, PartialEq)]
pub struct Explained {
    pub allowed: bool,
    pub reason: Option<&'static str>,
    pub via: Vec<String>,
    pub revision: u64,
}

/// Item kinds the check API names (their records arrive with the resources work).
pub const ITEM_KINDS: &[&str] = &[
    "model",
    "workflow",
    "module",
    "cluster",
    "nodepool",
    "deployment",
];

/// Renders a grant path: `role:org_contributor`, `team:ml-team(model_trainer)`, ...
pub fn render_grant(index: &AccessIndex, grant: Grant) -> String {
    match grant {
        Grant::Role(role) => format!("role:{role}"),
        Grant::Team { team, role } => {
            let id = index.team(team).map_or("?", |t| &*t.id);
            format!("team:{id}({role})")
        }
        Grant::Collaborator => "collaborator".to_owned(),
        Grant::Owner => "owner".to_owned(),
        Grant::Visibility(v) => format!("visibility:{v}"),
        Grant::PlatformService => "platform_service".to_owned(),
    }
}

pub fn explain(index: &AccessIndex, decision: &Decision) -> Explained {
    Explained {
        allowed: decision.allowed,
        reason: decision.denial.map(|d| d.code()),
        via: decision
            .via
            .iter()
            .map(|g| render_grant(index, *g))
            .collect(),
        revision: decision.revision,
    }
}

fn parse_permission(raw: &str) -> Result<Permission> {
    Permission::parse(raw).ok_or_else(|| {
        ServiceError::invalid(
            "check.unknown_permission",
            "permission",
            format!("unknown permission `{raw}`"),
        )
    })
}

/// Resolves a resource; `None` when it does not exist. The account is returned when known so
/// that the caller's right to ask can still be judged.
fn resolve(
    index: &AccessIndex,
    resource: &CheckResource,
) -> Result<(Option<Account>, Option<Resource>)> {
    Ok(match resource {
        CheckResource::Org(id) => {
            let account = index.account(id);
            (account, account.map(Resource::Account))
        }
        CheckResource::App { account, app } => {
            let owner = index.account(account);
            let app = owner.and_then(|o| index.app_by_id(o, app));
            (owner, app.map(Resource::App))
        }
        CheckResource::Item {
            account,
            app,
            kind,
            id,
        } => {
            if !ITEM_KINDS.contains(&kind.as_str()) {
                return Err(ServiceError::invalid(
                    "check.unknown_kind",
                    "resource.kind",
                    format!("unknown resource kind `{kind}`"),
                ));
            }
            let owner = index.account(account);
            // Models, workflows and modules live in the index with their own visibility.
            let item = ItemKind::parse(kind).and_then(|kind| {
                let app = index.app_by_id(owner?, app)?;
                let visibility = index.item(app, kind, id)?;
                Some(Resource::AppItem { app, visibility })
            });
            (owner, item)
        }
    })
}

impl Portcullis {
    /// Answers one check. The caller may ask about itself; asking about anyone else needs
    /// `authz.check` on the organization that owns the resource.
    pub async fn check(&self, caller: &Caller, request: &CheckRequest) -> Result<Explained> {
        self.await_consistency(request.consistency).await?;
        let permission = parse_permission(&request.permission)?;
        let now = self.now();
        self.with_index(|index| {
            let (account, resource) = resolve(index, &request.resource)?;
            let subject = match &request.subject {
                CheckSubject::User(id) => index.user_by_id(id).map(Subject::user),
                CheckSubject::Token(presented) => token::parse(presented)
                    .and_then(|(_, hash)| index.credential(&hash))
                    .filter(|c| c.expires_at.is_none_or(|at| at > now))
                    .map(|c| {
                        // As `authenticate` sees it: with the orgs its SSO login authorized.
                        let mut subject = subject_of(c);
                        subject.sso_orgs = index.sso_orgs_of(c.id);
                        subject
                    }),
            };
            let about_self = subject
                .as_ref()
                .is_some_and(|s| s.user.is_some() && s.user == caller.user());
            let may_ask = about_self || may_ask_about_others(index, caller, account);
            if !may_ask {
                return Err(match account {
                    Some(Account::Org(org))
                        if caller
                            .user()
                            .is_some_and(|u| index.membership(u, org).is_some()) =>
                    {
                        ServiceError::Forbidden(Permission::AuthzCheck)
                    }
                    _ => ServiceError::NotFound("resource"),
                });
            }
            let revision = index.revision();
            // A token is opaque to anyone but its owner and the administrators of the org it
            // is asked about when its user is a member there (they may ask about that user
            // anyway): an unknown, expired or revoked token is judged like no credential at
            // all, and every denial has the one reason, so the answer never tells a live token
            // from a dead one (only whether it is allowed).
            let member_token = subject.as_ref().is_some_and(|s| {
                matches!((s.user, account), (Some(user), Some(Account::Org(org)))
                    if index.membership(user, org).is_some())
            });
            if matches!(request.subject, CheckSubject::Token(_)) && !about_self && !member_token {
                let Some(resource) = resource else {
                    return Ok(Explained {
                        allowed: false,
                        reason: Some("not_found"),
                        via: vec![],
                        revision,
                    });
                };
                let subject = subject.unwrap_or_else(Subject::anonymous);
                let allowed = check(index, &subject, permission, resource).allowed;
                return Ok(Explained {
                    allowed,
                    reason: (!allowed).then_some("denied"),
                    via: vec![],
                    revision,
                });
            }
            let denied = |reason| Explained {
                allowed: false,
                reason: Some(reason),
                via: vec![],
                revision,
            };
            let Some(subject) = subject else {
                return Ok(denied(match request.subject {
                    CheckSubject::User(_) => "not_found",
                    CheckSubject::Token(_) => "credential_invalid",
                }));
            };
            let Some(resource) = resource else {
                return Ok(denied("not_found"));
            };
            let decision = check(index, &subject, permission, resource);
            // Someone asking about itself learns nothing about apps it cannot see.
            if !decision.allowed
                && about_self
                && !may_ask_about_others(index, caller, account)
                && !sees(index, &subject, resource)
            {
                return Ok(denied("not_found"));
            }
            Ok(explain(index, &decision))
        })
    }

    /// One check of a batch: like [`Portcullis::check`], except that an unknown user (asked
    /// about by a caller allowed to ask) is that item's own `not_found` problem, as the batch
    /// API documents, rather than a denial.
    pub async fn check_in_batch(
        &self,
        caller: &Caller,
        request: &CheckRequest,
    ) -> Result<Explained> {
        let explained = self.check(caller, request).await?;
        if explained.reason == Some("not_found")
            && let CheckSubject::User(id) = &request.subject
            && self.with_index(|index| index.user_by_id(id).is_none())
        {
            return Err(ServiceError::NotFound("user"));
        }
        Ok(explained)
    }

    /// The caller's own effective permissions on an account (org-level) or app (app-level).
    pub fn my_permissions(
        &self,
        caller: &Caller,
        account: &str,
        app: Option<&str>,
    ) -> Result<(PermissionSet, u64)> {
        self.with_index(|index| {
            let owner = index
                .account(account)
                .ok_or(ServiceError::NotFound("account"))?;
            let resource = match app {
                Some(app) => Resource::App(
                    index
                        .app_by_id(owner, app)
                        .ok_or(ServiceError::NotFound("app"))?,
                ),
                None => Resource::Account(owner),
            };
            let visible = match (resource, caller.user()) {
                (Resource::Account(Account::Org(org)), Some(user)) => {
                    index.membership(user, org).is_some()
                }
                (Resource::Account(Account::User(owner)), Some(user)) => owner == user,
                (Resource::Account(_), None) => false,
                _ => sees(index, &caller.subject, resource),
            };
            if !visible {
                return Err(ServiceError::NotFound(if app.is_some() {
                    "app"
                } else {
                    "account"
                }));
            }
            Ok((
                effective_permissions(index, &caller.subject, resource),
                index.revision(),
            ))
        })
    }

    async fn await_consistency(&self, consistency: Consistency) -> Result<()> {
        let wanted = match consistency {
            Consistency::Latest => return Ok(()),
            Consistency::AtLeast(revision) => revision,
            Consistency::Full => self.store().revision().await?,
        };
        // The same wait every request with a revision token gets: it also pulls the change
        // feed, so a token from another server is honoured without waiting for the follower.
        let timeout =
            std::time::Duration::from_millis(u64::from(self.config().consistency_wait_ms));
        self.wait_for_revision(wanted, timeout)
            .await
            .map_err(|err| match err {
                ServiceError::Unavailable { message, .. } => ServiceError::Unavailable {
                    code: "check.revision_unavailable",
                    message,
                },
                other => other,
            })?;
        Ok(())
    }
}

fn may_ask_about_others(index: &AccessIndex, caller: &Caller, account: Option<Account>) -> bool {
    let subject = &caller.subject;
    match account {
        Some(Account::Org(org)) => {
            check(
                index,
                subject,
                Permission::AuthzCheck,
                Resource::Account(Account::Org(org)),
            )
            .allowed
        }
        // Personal accounts have no administrators: only an unbound platform service may ask.
        Some(Account::User(_)) | None => {
            subject.platform_service
                && subject.binding == portcullis_core::decision::Binding::Anywhere
                && subject.scopes.contains(Permission::AuthzCheck)
        }
    }
}

/// Whether `subject` may know `resource` exists (app.view regardless of credential scopes).
fn sees(index: &AccessIndex, subject: &Subject, resource: Resource) -> bool {
    match resource {
        Resource::Account(_) => true,
        Resource::App(_) | Resource::AppItem { .. } => {
            let unscoped = Subject {
                scopes: PermissionSet::all(),
                ..subject.clone()
            };
            check(index, &unscoped, Permission::AppView, resource).allowed
        }
    }
}
