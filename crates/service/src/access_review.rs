//! Access review: who can reach an app and with what (and why), what one member can do across
//! an organization, and what a proposed change would grant or take away.
//!
//! Every cell is the core `check` itself, run over the same index the check API reads, so the
//! review equals `POST /v1/check` by construction. What-if runs `check` on a clone of the index
//! with the change applied; nothing is stored.

use std::io;

use portcullis_core::decision::{Resource, Subject, check};
use portcullis_core::index::{Account, CredentialEntry};
use portcullis_core::{
    AccessIndex, AppKey, Change, Level, OrgKey, OrgRole, Permission, PermissionSet, TeamRole,
    UserKey,
};

use crate::authentication::subject_of;
use crate::check::render_grant;
use crate::csv_export::CsvWriter;
use crate::members::page_size;
use crate::{Caller, Portcullis, Result, ServiceError};

/// One permission a principal holds, and every grant path that gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldPermission {
    pub permission: Permission,
    pub via: Vec<String>,
}

/// Who a principal is.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    /// A user (member, collaborator or owner), with its org role when it is a member.
    User {
        id: String,
        role: Option<OrgRole>,
        /// `team(role)` for each team of the user linked to the app.
        teams: Vec<String>,
        collaborator: bool,
    },
    /// A key bound to the app, held by `user`.
    AppKey { id: String, user: String },
    /// Anyone, signed in or not (the app is public).
    Anyone,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PrincipalAccess {
    pub principal: Principal,
    pub permissions: Vec<HeldPermission>,
}

#[derive(Debug, Clone)]
pub struct AppAccessPage {
    pub account: String,
    pub app: String,
    pub visibility: String,
    pub principals: Vec<PrincipalAccess>,
    pub next_cursor: Option<String>,
    pub revision: u64,
}

#[derive(Debug, Clone)]
pub struct AppPermissions {
    pub account: String,
    pub app: String,
    pub permissions: Vec<HeldPermission>,
}

#[derive(Debug, Clone)]
pub struct MemberAccess {
    pub user: String,
    pub role: OrgRole,
    pub org_permissions: Vec<HeldPermission>,
    /// Every app of the organization on which the member holds at least one permission.
    pub apps: Vec<AppPermissions>,
    pub revision: u64,
}

/// A proposed change for what-if, by external ids.
#[derive(Debug, Clone)]
pub enum ProposedChange {
    Role {
        user: String,
        role: String,
    },
    TeamMember {
        team: String,
        user: String,
        add: bool,
    },
    /// `role: None` removes the link; `Some(None)` adds it with the team's default role.
    TeamApp {
        team: String,
        app: String,
        role: Option<Option<String>>,
    },
    /// `permissions: None` removes the collaborator.
    Collaborator {
        app: String,
        user: String,
        permissions: Option<Vec<String>>,
    },
}

/// Permissions gained and lost by one user on one resource (`app: None`: the organization).
#[derive(Debug, Clone, PartialEq)]
pub struct AccessDelta {
    pub user: String,
    pub app: Option<String>,
    pub gained: Vec<Permission>,
    pub lost: Vec<Permission>,
}

/// One row of the org-wide matrix: member × app (or the org itself) × permission.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixCell {
    pub user: String,
    pub role: OrgRole,
    pub app: Option<String>,
    pub permission: Permission,
    pub allowed: bool,
    pub via: Vec<String>,
}

impl MatrixCell {
    /// The cell as one line of the JSON-lines download (the API's and the CLI's).
    pub fn json_line(&self) -> String {
        serde_json::json!({
            "user": self.user, "role": self.role.as_str(), "app": self.app,
            "permission": self.permission.as_str(), "allowed": self.allowed, "via": self.via,
        })
        .to_string()
    }
}

/// The access matrix as CSV (`user,role,app,permission,allowed,via`, the grant paths joined
/// by spaces): the one rendering the API and the CLI download. Written as the cells come, so
/// the CLI streams a large organization's matrix.
#[derive(Debug)]
pub struct AccessMatrixCsv<W: io::Write>(CsvWriter<W>);

impl<W: io::Write> AccessMatrixCsv<W> {
    /// Starts the export with its header.
    pub fn new(out: W) -> io::Result<Self> {
        let mut csv = CsvWriter::new(out);
        csv.row(["user", "role", "app", "permission", "allowed", "via"])?;
        Ok(Self(csv))
    }

    pub fn cell(&mut self, cell: &MatrixCell) -> io::Result<()> {
        self.0.row([
            cell.user.as_str(),
            cell.role.as_str(),
            cell.app.as_deref().unwrap_or_default(),
            cell.permission.as_str(),
            if cell.allowed { "true" } else { "false" },
            &cell.via.join(" "),
        ])
    }

    /// Flushes and hands back the destination.
    pub fn finish(self) -> io::Result<W> {
        self.0.finish()
    }
}

fn level_permissions(level: Level) -> impl Iterator<Item = Permission> {
    Permission::ALL
        .iter()
        .copied()
        .filter(move |p| p.level() == level)
}

/// Every permission of the resource's level that `subject` holds, with its paths.
fn held(index: &AccessIndex, subject: &Subject, resource: Resource) -> Vec<HeldPermission> {
    let level = match resource {
        Resource::Account(_) => Level::Org,
        _ => Level::App,
    };
    level_permissions(level)
        .filter_map(|permission| {
            let decision = check(index, subject, permission, resource);
            decision.allowed.then(|| HeldPermission {
                permission,
                via: decision
                    .via
                    .iter()
                    .map(|g| render_grant(index, *g))
                    .collect(),
            })
        })
        .collect()
}

fn held_set(index: &AccessIndex, user: UserKey, resource: Resource) -> PermissionSet {
    let subject = Subject::user(user);
    held(index, &subject, resource)
        .into_iter()
        .map(|h| h.permission)
        .collect()
}

/// A candidate principal of an app, in listing order: users by id, then keys, then anyone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Candidate {
    User(String, UserKey),
    Key(String, UserKey),
    Anyone,
}

impl Candidate {
    fn cursor(&self) -> String {
        match self {
            Candidate::User(id, _) => format!("user:{}", id.to_ascii_lowercase()),
            Candidate::Key(id, _) => format!("key:{id}"),
            Candidate::Anyone => "anyone".to_owned(),
        }
    }

    fn sort_key(&self) -> (u8, String) {
        match self {
            Candidate::User(id, _) => (0, id.to_ascii_lowercase()),
            Candidate::Key(id, _) => (1, id.clone()),
            Candidate::Anyone => (2, String::new()),
        }
    }
}

fn parse_candidate_cursor(raw: &str) -> Result<(u8, String)> {
    let invalid = || {
        ServiceError::invalid(
            "pagination.invalid_cursor",
            "cursor",
            "`cursor` is not a cursor this list returned",
        )
    };
    match raw.split_once(':') {
        Some(("user", id)) => Ok((0, id.to_owned())),
        Some(("key", id)) => Ok((1, id.to_owned())),
        None if raw == "anyone" => Ok((2, String::new())),
        _ => Err(invalid()),
    }
}

impl Portcullis {
    /// `audit.view` on `org`.
    fn require_review(&self, caller: &Caller, org: OrgKey) -> Result<()> {
        self.authorize(
            caller,
            Permission::AuditView,
            Resource::Account(Account::Org(org)),
            "organization",
        )
    }

    /// Every principal that can reach an app, with its permissions and their paths, ordered
    /// users (by id), app keys, then anyone (public apps). Needs `audit.view` on the owning
    /// organization; a personal app's owner may review it.
    pub async fn app_access(
        &self,
        caller: &Caller,
        account: &str,
        app: &str,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<AppAccessPage> {
        let (owner, key) = self.resolve_app(account, app)?;
        match owner {
            // An outsider learns no more than for an app that does not exist.
            Account::Org(org) => self.require_review(caller, org).map_err(|err| match err {
                ServiceError::NotFound(_) => ServiceError::NotFound("app"),
                other => other,
            })?,
            Account::User(user) => {
                if caller.user() != Some(user) {
                    return Err(ServiceError::NotFound("app"));
                }
            }
        }
        let limit = page_size(limit)? as usize;
        let after = cursor.map(parse_candidate_cursor).transpose()?;
        let keys = self.store().live_keys_of_app(key, self.now()).await?;
        self.with_index(|index| {
            let entry = index.app(key).ok_or(ServiceError::NotFound("app"))?;
            let mut candidates: Vec<Candidate> = Vec::new();
            let mut users: Vec<UserKey> = entry.collaborators.iter().map(|(u, _)| *u).collect();
            match entry.owner {
                Account::Org(org) => {
                    if let Some(o) = index.org(org) {
                        users.extend(o.members.iter().copied());
                    }
                }
                Account::User(owner) => users.push(owner),
            }
            users.sort_unstable();
            users.dedup();
            for user in users {
                if let Some(u) = index.user(user) {
                    candidates.push(Candidate::User(u.id.to_string(), user));
                }
            }
            for k in &keys {
                candidates.push(Candidate::Key(k.public_id.clone(), k.user));
            }
            candidates.push(Candidate::Anyone);
            candidates.sort_by_key(Candidate::sort_key);
            let resource = Resource::App(key);
            let mut principals = Vec::new();
            let mut next_cursor = None;
            for candidate in candidates
                .iter()
                .filter(|c| after.as_ref().is_none_or(|a| c.sort_key() > *a))
            {
                let (principal, subject) = match candidate {
                    Candidate::User(id, user) => {
                        let membership = entry
                            .owner
                            .org()
                            .and_then(|org| index.membership(*user, org));
                        let teams = membership
                            .map(|m| {
                                entry
                                    .teams
                                    .iter()
                                    .filter(|(t, _)| m.teams.contains(t))
                                    .map(|(t, role)| {
                                        let name = index.team(*t).map_or("?", |t| &*t.id);
                                        format!("{name}({role})")
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        (
                            Principal::User {
                                id: id.clone(),
                                role: membership.map(|m| m.role),
                                teams,
                                collaborator: entry.collaborators.iter().any(|(u, _)| u == user),
                            },
                            {
                                // Access as the user would have it after signing in properly
                                // (through the org's SSO when the org enforces it).
                                let mut subject = Subject::user(*user);
                                if let Account::Org(org) = entry.owner {
                                    subject.sso_orgs.push(org);
                                }
                                subject
                            },
                        )
                    }
                    Candidate::Key(id, user) => {
                        let Some(record) = keys.iter().find(|k| &k.public_id == id) else {
                            continue;
                        };
                        let mut subject = subject_of(&CredentialEntry {
                            id: record.id,
                            user: record.user,
                            kind: record.kind,
                            scopes: record.scopes,
                            org: record.org,
                            app: record.app,
                            expires_at: record.expires_at,
                        });
                        subject.sso_orgs = index.sso_orgs_of(record.id);
                        let holder = index.user(*user).map_or("?", |u| &*u.id).to_owned();
                        (
                            Principal::AppKey {
                                id: id.clone(),
                                user: holder,
                            },
                            subject,
                        )
                    }
                    Candidate::Anyone => (Principal::Anyone, Subject::anonymous()),
                };
                let permissions = held(index, &subject, resource);
                if permissions.is_empty() {
                    continue;
                }
                if principals.len() == limit {
                    next_cursor = Some(last_cursor(&principals));
                    break;
                }
                principals.push(PrincipalAccess {
                    principal,
                    permissions,
                });
            }
            Ok(AppAccessPage {
                account: index.account_id(entry.owner).unwrap_or("?").to_owned(),
                app: entry.id.to_string(),
                visibility: entry.visibility.to_string(),
                principals,
                next_cursor,
                revision: index.revision(),
            })
        })
    }

    /// Every org-level permission of one member and every app of the organization on which it
    /// holds anything, with paths (`audit.view`, or the member asking about itself).
    pub async fn member_access(
        &self,
        caller: &Caller,
        org: &str,
        user: &str,
    ) -> Result<MemberAccess> {
        let org = self.resolve_org(org)?;
        let user_key = self.with_index(|index| {
            index
                .user_by_id(user)
                .filter(|u| index.membership(*u, org).is_some())
        });
        if user_key.is_none() || caller.user() != user_key {
            self.require_review(caller, org)?;
        }
        let user = user_key.ok_or(ServiceError::NotFound("member"))?;
        self.with_index(|index| {
            let role = index
                .membership(user, org)
                .map(|m| m.role)
                .ok_or(ServiceError::NotFound("member"))?;
            let subject = Subject::user(user);
            let mut apps: Vec<(String, AppKey)> = index
                .apps()
                .filter(|(_, a)| a.owner == Account::Org(org))
                .map(|(k, a)| (a.id.to_ascii_lowercase(), k))
                .collect();
            apps.sort();
            let org_id = index.org(org).map_or("?", |o| &*o.id).to_owned();
            Ok(MemberAccess {
                user: index.user(user).map_or("?", |u| &*u.id).to_owned(),
                role,
                org_permissions: held(index, &subject, Resource::Account(Account::Org(org))),
                apps: apps
                    .into_iter()
                    .filter_map(|(_, key)| {
                        let permissions = held(index, &subject, Resource::App(key));
                        (!permissions.is_empty()).then(|| AppPermissions {
                            account: org_id.clone(),
                            app: index.app(key).map_or("?", |a| &*a.id).to_owned(),
                            permissions,
                        })
                    })
                    .collect(),
                revision: index.revision(),
            })
        })
    }

    /// The whole matrix of an organization: every member × (the organization and every org
    /// app) × every permission of that level, allowed or not (`audit.view`). Members by id,
    /// apps by id.
    pub fn access_matrix(&self, caller: &Caller, org: &str) -> Result<Vec<MatrixCell>> {
        let org = self.resolve_org(org)?;
        self.require_review(caller, org)?;
        Ok(self.org_access_matrix(org))
    }

    /// [`Portcullis::access_matrix`] without a caller, for the operator's CLI on the data
    /// directory (whoever can read the store can read the matrix).
    pub fn org_access_matrix(&self, org: OrgKey) -> Vec<MatrixCell> {
        let mut cells = Vec::new();
        self.each_matrix_cell(org, |cell| cells.push(cell));
        cells
    }

    /// Calls `f` with every cell of the matrix of `org`, members by id, the organization then
    /// its apps by id. Computed on a snapshot (a clone of the index): one revision throughout,
    /// and writers are not held up while a large matrix is produced.
    pub fn each_matrix_cell(&self, org: OrgKey, mut f: impl FnMut(MatrixCell)) {
        let index = self.with_index(AccessIndex::clone);
        let index = &index;
        let mut members: Vec<(String, UserKey)> = index
            .org(org)
            .map(|o| {
                o.members
                    .iter()
                    .filter_map(|u| index.user(*u).map(|e| (e.id.to_string(), *u)))
                    .collect()
            })
            .unwrap_or_default();
        members.sort_by_key(|(id, _)| id.to_ascii_lowercase());
        let mut apps: Vec<(String, AppKey)> = index
            .apps()
            .filter(|(_, a)| a.owner == Account::Org(org))
            .map(|(k, a)| (a.id.to_string(), k))
            .collect();
        apps.sort_by_key(|(id, _)| id.to_ascii_lowercase());
        for (user_id, user) in &members {
            let role = index
                .membership(*user, org)
                .map_or(OrgRole::OrgUser, |m| m.role);
            let subject = Subject::user(*user);
            let resources = std::iter::once((None, Resource::Account(Account::Org(org)))).chain(
                apps.iter()
                    .map(|(id, k)| (Some(id.clone()), Resource::App(*k))),
            );
            for (app, resource) in resources {
                let level = if app.is_some() {
                    Level::App
                } else {
                    Level::Org
                };
                for permission in level_permissions(level) {
                    let decision = check(index, &subject, permission, resource);
                    f(MatrixCell {
                        user: user_id.clone(),
                        role,
                        app: app.clone(),
                        permission,
                        allowed: decision.allowed,
                        via: decision
                            .via
                            .iter()
                            .map(|g| render_grant(index, *g))
                            .collect(),
                    });
                }
            }
        }
    }

    /// What a proposed change would grant and take away, per user and resource, computed on a
    /// clone of the index with the change applied (`audit.view`). Nothing is stored.
    pub fn what_if(
        &self,
        caller: &Caller,
        org: &str,
        change: &ProposedChange,
    ) -> Result<Vec<AccessDelta>> {
        let org = self.resolve_org(org)?;
        self.require_review(caller, org)?;
        let mut after = self.with_index(AccessIndex::clone);
        let before = &after.clone();
        let member = |index: &AccessIndex, user: &str| {
            index
                .user_by_id(user)
                .filter(|u| index.membership(*u, org).is_some())
                .ok_or(ServiceError::NotFound("member"))
        };
        let team = |index: &AccessIndex, team: &str| {
            index
                .team_by_id(org, team)
                .ok_or(ServiceError::NotFound("team"))
        };
        let app = |index: &AccessIndex, app: &str| {
            index
                .app_by_id(Account::Org(org), app)
                .ok_or(ServiceError::NotFound("app"))
        };
        // The users whose access may change, and the change itself.
        let (users, change) = match change {
            ProposedChange::Role { user, role } => {
                let user = member(before, user)?;
                let role = crate::members::parse_role("change.role", role)?;
                (vec![user], Change::MemberSet { org, user, role })
            }
            ProposedChange::TeamMember { team: t, user, add } => {
                let team = team(before, t)?;
                let user = member(before, user)?;
                let change = if *add {
                    Change::TeamMemberAdded { team, user }
                } else {
                    Change::TeamMemberRemoved { team, user }
                };
                (vec![user], change)
            }
            ProposedChange::TeamApp {
                team: t,
                app: a,
                role,
            } => {
                let team = team(before, t)?;
                let app = app(before, a)?;
                let users: Vec<UserKey> = before
                    .team(team)
                    .map(|t| t.members.iter().copied().collect())
                    .unwrap_or_default();
                let change = match role {
                    None => Change::TeamAppRemoved { team, app },
                    Some(role) => {
                        let role = match role {
                            None => before
                                .team(team)
                                .map_or(TeamRole::FullAccess, |t| t.default_role),
                            Some(raw) => TeamRole::parse(raw).ok_or_else(|| {
                                ServiceError::invalid(
                                    "role.unknown",
                                    "change.role",
                                    format!("unknown team role `{raw}`"),
                                )
                            })?,
                        };
                        Change::TeamAppSet { team, app, role }
                    }
                };
                (users, change)
            }
            ProposedChange::Collaborator {
                app: a,
                user,
                permissions,
            } => {
                let app = app(before, a)?;
                let user = before
                    .user_by_id(user)
                    .ok_or(ServiceError::NotFound("user"))?;
                let change = match permissions {
                    None => Change::CollaboratorRemoved { app, user },
                    Some(list) => Change::CollaboratorSet {
                        app,
                        user,
                        permissions: PermissionSet::parse_scopes(list.iter().map(String::as_str))
                            .map_err(|e| {
                            ServiceError::invalid(
                                "collaborator.invalid_permissions",
                                "change.permissions",
                                e,
                            )
                        })?,
                    },
                };
                (vec![user], change)
            }
        };
        after.apply(before.revision(), std::slice::from_ref(&change));
        let mut resources: Vec<(Option<String>, Resource)> =
            vec![(None, Resource::Account(Account::Org(org)))];
        let mut apps: Vec<(String, AppKey)> = before
            .apps()
            .filter(|(_, a)| a.owner == Account::Org(org))
            .map(|(k, a)| (a.id.to_string(), k))
            .collect();
        apps.sort_by_key(|(id, _)| id.to_ascii_lowercase());
        resources.extend(apps.into_iter().map(|(id, k)| (Some(id), Resource::App(k))));
        let mut users = users;
        users.sort_by_key(|u| before.user(*u).map(|e| e.id.to_ascii_lowercase()));
        let mut deltas = Vec::new();
        for user in users {
            let user_id = before.user(user).map_or("?", |u| &*u.id).to_owned();
            for (app, resource) in &resources {
                let was = held_set(before, user, *resource);
                let now = held_set(&after, user, *resource);
                let gained: Vec<Permission> = now.iter().filter(|p| !was.contains(*p)).collect();
                let lost: Vec<Permission> = was.iter().filter(|p| !now.contains(*p)).collect();
                if !gained.is_empty() || !lost.is_empty() {
                    deltas.push(AccessDelta {
                        user: user_id.clone(),
                        app: app.clone(),
                        gained,
                        lost,
                    });
                }
            }
        }
        Ok(deltas)
    }
}

fn last_cursor(principals: &[PrincipalAccess]) -> String {
    match principals.last().map(|p| &p.principal) {
        Some(Principal::User { id, .. }) => Candidate::User(id.clone(), UserKey(0)).cursor(),
        Some(Principal::AppKey { id, .. }) => Candidate::Key(id.clone(), UserKey(0)).cursor(),
        Some(Principal::Anyone) | None => Candidate::Anyone.cursor(),
    }
}
