//! The decision function of docs/contract.md §4: pure, synchronous, deny by default.
//!
//! `check` reads only the [`AccessIndex`] it is given and allocates nothing: grant paths are
//! collected into an inline vector of copyable keys, and callers render names when (and only
//! when) they explain a decision.

use smallvec::SmallVec;

use crate::index::{AccessIndex, Account, AppKey, OrgKey, TeamKey, UserKey};
use crate::permissions::{Level, Permission, PermissionSet, role_permissions};
use crate::roles::{OrgRole, TeamRole, Visibility, collaborator_forbidden};

/// Who is asking, after the credential was resolved (docs/contract.md §4 step 2 happens when the credential
/// is looked up; a revoked or expired credential never becomes a `Subject`).
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    /// `None` for an anonymous caller.
    pub user: Option<UserKey>,
    /// What the credential may be used for; the grants are intersected with it.
    pub scopes: PermissionSet,
    /// Where the credential may be used at all.
    pub binding: Binding,
    /// A platform service key: holds its scoped org-level permissions in the bound orgs
    /// without being a member.
    pub platform_service: bool,
    /// Whether the credential came from an SSO login of the resource's org (docs/contract.md §4 step 3).
    pub sso_orgs: SmallVec<[OrgKey; 1]>,
}

impl Subject {
    /// A user acting with the full power of its own account (a session, or a check about it).
    pub fn user(user: UserKey) -> Self {
        Self {
            user: Some(user),
            scopes: PermissionSet::all(),
            binding: Binding::Anywhere,
            platform_service: false,
            sso_orgs: SmallVec::new(),
        }
    }

    pub fn anonymous() -> Self {
        Self {
            user: None,
            scopes: PermissionSet::from_iter([Permission::AppView]),
            binding: Binding::Anywhere,
            platform_service: false,
            sso_orgs: SmallVec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Binding {
    Anywhere,
    /// A PAT bound to one organization (and the apps it owns).
    Org(OrgKey),
    /// An app key: only that app.
    App(AppKey),
    /// A platform service key limited to a few organizations.
    Orgs(SmallVec<[OrgKey; 2]>),
}

/// What a decision is about, with every id already resolved through the index. Resolution
/// failures are `not_found` before `check` is ever called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// An account (an organization, or a user's personal account) for org-level permissions.
    Account(Account),
    /// An app for app-level permissions.
    App(AppKey),
    /// A resource inside an app (model, workflow, module...) with its own visibility.
    AppItem { app: AppKey, visibility: Visibility },
}

/// One path by which a permission was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    Role(OrgRole),
    Team { team: TeamKey, role: TeamRole },
    Collaborator,
    Owner,
    Visibility(Visibility),
    PlatformService,
}

/// Why a decision denied, in the order docs/contract.md §4 evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    NotFound,
    /// An org-level permission asked about an app, or the reverse.
    LevelMismatch,
    CredentialInvalid,
    Suspended,
    /// The org suspended the user's membership (SCIM `active: false`).
    MembershipSuspended,
    SsoRequired,
    /// The org requires a second factor and the member has none yet.
    TwoFactorRequired,
    Unauthenticated,
    NotMember,
    RoleLacksPermission(OrgRole),
    AppNotInTeams,
    TeamRoleLacksPermission,
    /// The credential is bound to another organization or app.
    CredentialBoundElsewhere,
    ScopeExcludesPermission,
}

impl Denial {
    /// The stable reason code used by the API and the audit log.
    pub fn code(self) -> &'static str {
        match self {
            Denial::NotFound => "not_found",
            Denial::LevelMismatch => "level_mismatch",
            Denial::CredentialInvalid => "credential_invalid",
            Denial::Suspended => "suspended",
            Denial::MembershipSuspended => "membership_suspended",
            Denial::SsoRequired => "sso_required",
            Denial::TwoFactorRequired => "two_factor_required",
            Denial::Unauthenticated => "unauthenticated",
            Denial::NotMember => "not_member",
            Denial::RoleLacksPermission(_) => "role_lacks_permission",
            Denial::AppNotInTeams => "app_not_in_teams",
            Denial::TeamRoleLacksPermission => "team_role_lacks_permission",
            Denial::CredentialBoundElsewhere => "credential_bound_elsewhere",
            Denial::ScopeExcludesPermission => "scope_excludes_permission",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    /// Every grant path that holds the permission (before scopes), when allowed.
    pub via: SmallVec<[Grant; 3]>,
    pub denial: Option<Denial>,
    /// The index revision the decision was made at.
    pub revision: u64,
}

impl Decision {
    fn deny(denial: Denial, revision: u64) -> Self {
        Self {
            allowed: false,
            via: SmallVec::new(),
            denial: Some(denial),
            revision,
        }
    }
}

/// Decides whether `subject` holds `permission` on `resource`.
pub fn check(
    index: &AccessIndex,
    subject: &Subject,
    permission: Permission,
    resource: Resource,
) -> Decision {
    let revision = index.revision();
    let deny = |denial| Decision::deny(denial, revision);

    // 1. The resource exists, at the permission's level.
    let (org, app) = match (permission.level(), resource) {
        (Level::Org, Resource::Account(account)) => {
            if index.account_id(account).is_none() {
                return deny(Denial::NotFound);
            }
            (account, None)
        }
        (Level::App, Resource::App(key) | Resource::AppItem { app: key, .. }) => {
            match index.app(key) {
                Some(entry) => (entry.owner, Some((key, entry))),
                None => return deny(Denial::NotFound),
            }
        }
        _ => return deny(Denial::LevelMismatch),
    };

    // 2. The credential's user is still there and active.
    if let Some(user) = subject.user {
        match index.user(user) {
            None => return deny(Denial::CredentialInvalid),
            Some(entry) if !entry.active => return deny(Denial::Suspended),
            Some(_) => {}
        }
    }

    // 3. The org's sign-in requirements: SSO enforcement, then a second factor (members only:
    // visibility and collaborations are not org access).
    if let Account::Org(org_key) = org
        && let Some(denial) = org_gate(index, subject, org_key)
    {
        return deny(denial);
    }

    // 4. The union of the grants.
    let mut via: SmallVec<[Grant; 3]> = SmallVec::new();
    let grant_denial = match app {
        None => org_grants(index, subject, permission, org, &mut via),
        Some((key, entry)) => {
            let visibility = match resource {
                Resource::AppItem { visibility, .. } => least_visible(entry.visibility, visibility),
                _ => entry.visibility,
            };
            app_grants(index, subject, permission, key, entry, visibility, &mut via)
        }
    };
    if via.is_empty() {
        return deny(grant_denial);
    }

    // 5. The credential's reach and scopes.
    if !binding_reaches(&subject.binding, org, app.map(|(key, _)| key)) {
        return deny(Denial::CredentialBoundElsewhere);
    }
    if !subject.scopes.contains(permission) {
        return deny(Denial::ScopeExcludesPermission);
    }
    Decision {
        allowed: true,
        via,
        denial: None,
        revision,
    }
}

/// Whether an org's sign-in requirements keep this member's credential out of `org` (docs/contract.md
/// section 4, step 3): a membership the org suspended (SCIM `active: false`), SSO enforcement (unless the user is a break-glass administrator or the credential
/// came from, or was authorized by, an SSO login of the org), then the org's two-factor
/// requirement while the user has no confirmed second factor. Applies to every credential of
/// the member at once, sessions and tokens issued before the requirement included.
pub fn org_gate(index: &AccessIndex, subject: &Subject, org: OrgKey) -> Option<Denial> {
    let user = subject.user?;
    let entry = index.org(org)?;
    if index.membership(user, org)?.suspended {
        return Some(Denial::MembershipSuspended);
    }
    if entry.sso_enforced && !entry.sso_exempt.contains(&user) && !subject.sso_orgs.contains(&org) {
        return Some(Denial::SsoRequired);
    }
    if entry.two_factor_required && !index.user(user).is_some_and(|u| u.two_factor) {
        return Some(Denial::TwoFactorRequired);
    }
    None
}

/// Whether a credential bound by `binding` may act on a resource of `owner` (inside `app`,
/// when the resource is an app or in one). An org-bound token reaches its org and the apps it
/// owns; an app key only its app; an unbound credential everything.
pub fn binding_reaches(binding: &Binding, owner: Account, app: Option<AppKey>) -> bool {
    match binding {
        Binding::Anywhere => true,
        Binding::Org(bound) => owner == Account::Org(*bound),
        Binding::App(bound) => app == Some(*bound),
        Binding::Orgs(bound) => matches!(owner, Account::Org(o) if bound.contains(&o)),
    }
}

/// The permissions of `permission.level()` that `subject` holds on `resource`.
pub fn effective_permissions(
    index: &AccessIndex,
    subject: &Subject,
    resource: Resource,
) -> PermissionSet {
    let level = match resource {
        Resource::Account(_) => Level::Org,
        Resource::App(_) | Resource::AppItem { .. } => Level::App,
    };
    Permission::ALL
        .iter()
        .copied()
        .filter(|p| p.level() == level && check(index, subject, *p, resource).allowed)
        .collect()
}

fn least_visible(a: Visibility, b: Visibility) -> Visibility {
    a.min(b)
}

fn org_grants(
    index: &AccessIndex,
    subject: &Subject,
    permission: Permission,
    account: Account,
    via: &mut SmallVec<[Grant; 3]>,
) -> Denial {
    let mut denial = Denial::Unauthenticated;
    match account {
        Account::Org(org) => {
            if let Some(user) = subject.user {
                denial = Denial::NotMember;
                if let Some(membership) = index.membership(user, org) {
                    if role_permissions(membership.role).contains(permission) {
                        via.push(Grant::Role(membership.role));
                    } else {
                        denial = Denial::RoleLacksPermission(membership.role);
                    }
                }
            }
            if subject.platform_service
                && matches!(permission, Permission::AuthzCheck | Permission::UsageWrite)
            {
                via.push(Grant::PlatformService);
            }
        }
        Account::User(owner) => {
            // A personal account is not an organization: its owner may create apps in it.
            if subject.user == Some(owner) && permission == Permission::AppsCreate {
                via.push(Grant::Owner);
            } else if subject.user.is_some() {
                denial = Denial::NotMember;
            }
        }
    }
    denial
}

fn app_grants(
    index: &AccessIndex,
    subject: &Subject,
    permission: Permission,
    app_key: AppKey,
    app: &crate::index::AppEntry,
    visibility: Visibility,
    via: &mut SmallVec<[Grant; 3]>,
) -> Denial {
    let mut denial = Denial::Unauthenticated;
    let mut member_of_owner = false;
    if let Some(user) = subject.user {
        denial = Denial::NotMember;
        match app.owner {
            Account::User(owner) if owner == user => via.push(Grant::Owner),
            Account::User(_) => {}
            Account::Org(org) => {
                if let Some(membership) = index.membership(user, org) {
                    member_of_owner = true;
                    denial = role_and_team_grants(index, permission, app_key, membership, via);
                }
            }
        }
        if let Some((_, granted)) = app.collaborators.iter().find(|(u, _)| *u == user) {
            // docs/contract.md §4: a collaboration never carries these, whatever reached the index. Any
            // grant implies seeing the app it is on.
            let granted = granted.difference(collaborator_forbidden());
            if granted.contains(permission)
                || (permission == Permission::AppView && !granted.is_empty())
            {
                via.push(Grant::Collaborator);
            }
        }
    }
    if permission == Permission::AppView {
        match visibility {
            Visibility::Public => via.push(Grant::Visibility(Visibility::Public)),
            Visibility::Org if member_of_owner => via.push(Grant::Visibility(Visibility::Org)),
            _ => {}
        }
    }
    denial
}

fn role_and_team_grants(
    index: &AccessIndex,
    permission: Permission,
    app: AppKey,
    membership: &crate::index::Membership,
    via: &mut SmallVec<[Grant; 3]>,
) -> Denial {
    let role = membership.role;
    if !role_permissions(role).contains(permission) {
        return Denial::RoleLacksPermission(role);
    }
    if role.covers_all_apps() {
        via.push(Grant::Role(role));
        return Denial::RoleLacksPermission(role);
    }
    if role != OrgRole::TeamContributor {
        return Denial::RoleLacksPermission(role);
    }
    let mut linked = false;
    for team_key in &membership.teams {
        let Some(team) = index.team(*team_key) else {
            continue;
        };
        if let Some((_, team_role)) = team.apps.iter().find(|(a, _)| *a == app) {
            linked = true;
            if team_role.permissions().contains(permission) {
                via.push(Grant::Team {
                    team: *team_key,
                    role: *team_role,
                });
            }
        }
    }
    if linked {
        Denial::TeamRoleLacksPermission
    } else {
        Denial::AppNotInTeams
    }
}
