//! The in-memory access index: memberships, teams, team–app links, apps, collaborators and live
//! credentials, shaped for the decision function.
//!
//! The index is built once from the store at start-up and then kept current by applying the
//! [`Change`]s of each committed write, in revision order. It never reads the store itself.
//! Entities are addressed by small integer keys (the store's row ids), so a decision touches a
//! few vectors and at most one hash lookup per external id, and allocates nothing.

use rustc_hash::{FxHashMap, FxHashSet};
use smallvec::SmallVec;

use crate::clock::Timestamp;
use crate::permissions::PermissionSet;
use crate::roles::{OrgRole, TeamRole, Visibility};

macro_rules! key {
    ($($(#[$meta:meta])* $name:ident;)*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);
    )*};
}

key! {
    /// A user account (row id of its account).
    UserKey;
    /// An organization account (row id of its account; same id space as users).
    OrgKey;
    /// An app (row id).
    AppKey;
    /// A team (row id).
    TeamKey;
}

/// Users and organizations share one namespace of account ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Account {
    User(UserKey),
    Org(OrgKey),
}

impl Account {
    /// The organization this account is, if it is one: the org an app of this owner, and the
    /// audit entries about it, belong to (a user's personal account has none).
    pub fn org(self) -> Option<OrgKey> {
        match self {
            Account::Org(org) => Some(org),
            Account::User(_) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// A login session (console or API).
    Session,
    /// A personal access token.
    PersonalAccessToken,
    /// A key bound to one app.
    AppKey,
    /// A platform service key: `authz.check` / `usage.write` across organizations.
    ServiceKey,
    /// An organization's SCIM provisioning token: only that org's SCIM endpoint. Never in the
    /// index (the SCIM endpoint looks it up in the store); it names the credential of the
    /// audit entries its requests write.
    ScimToken,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Session => "session",
            CredentialKind::PersonalAccessToken => "pat",
            CredentialKind::AppKey => "app_key",
            CredentialKind::ServiceKey => "service_key",
            CredentialKind::ScimToken => "scim_token",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Session,
            Self::PersonalAccessToken,
            Self::AppKey,
            Self::ServiceKey,
            Self::ScimToken,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw)
    }
}

/// The kinds of resources that live inside an app and carry their own visibility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemKind {
    Model,
    Workflow,
    Module,
}

impl ItemKind {
    pub const ALL: [ItemKind; 3] = [ItemKind::Model, ItemKind::Workflow, ItemKind::Module];

    /// The name the check API and the audit log use.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Model => "model",
            ItemKind::Workflow => "workflow",
            ItemKind::Module => "module",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

#[derive(Debug, Clone)]
pub struct UserEntry {
    pub id: Box<str>,
    pub active: bool,
    pub operator: bool,
    /// Whether the user has a confirmed second factor (an org may require one).
    pub two_factor: bool,
    pub memberships: SmallVec<[Membership; 2]>,
}

#[derive(Debug, Clone)]
pub struct Membership {
    pub org: OrgKey,
    pub role: OrgRole,
    /// The teams of `org` this member belongs to.
    pub teams: SmallVec<[TeamKey; 2]>,
    /// Suspended by the org (SCIM `active: false`): every credential of the member is kept
    /// out of the org until it is restored.
    pub suspended: bool,
}

#[derive(Debug, Clone)]
pub struct OrgEntry {
    pub id: Box<str>,
    pub members: FxHashSet<UserKey>,
    pub sso_enforced: bool,
    /// Break-glass administrators: exempt from SSO enforcement (docs/contract.md §4 step 3).
    pub sso_exempt: SmallVec<[UserKey; 2]>,
    /// Members without a second factor are kept out until they enrol.
    pub two_factor_required: bool,
}

#[derive(Debug, Clone)]
pub struct AppEntry {
    pub id: Box<str>,
    pub owner: Account,
    pub visibility: Visibility,
    pub teams: SmallVec<[(TeamKey, TeamRole); 2]>,
    pub collaborators: SmallVec<[(UserKey, PermissionSet); 1]>,
}

#[derive(Debug, Clone)]
pub struct TeamEntry {
    pub id: Box<str>,
    pub org: OrgKey,
    pub default_role: TeamRole,
    pub apps: SmallVec<[(AppKey, TeamRole); 4]>,
    pub members: FxHashSet<UserKey>,
}

/// A credential that is currently usable (revoked credentials leave the index).
#[derive(Debug, Clone)]
pub struct CredentialEntry {
    /// Store row id of the credential.
    pub id: i64,
    pub user: UserKey,
    pub kind: CredentialKind,
    pub scopes: PermissionSet,
    pub org: Option<OrgKey>,
    pub app: Option<AppKey>,
    pub expires_at: Option<Timestamp>,
}

/// One committed fact, as the store wrote it. Applying a change is O(affected edges).
#[derive(Debug, Clone)]
pub enum Change {
    UserUpserted {
        key: UserKey,
        id: String,
        active: bool,
        operator: bool,
    },
    OrgCreated {
        key: OrgKey,
        id: String,
    },
    OrgDeleted {
        key: OrgKey,
    },
    OrgSsoEnforced {
        key: OrgKey,
        enforced: bool,
    },
    /// The org requires (or stops requiring) a second factor of its members.
    OrgTwoFactorRequired {
        key: OrgKey,
        required: bool,
    },
    /// The user's second factor was confirmed (`true`) or removed.
    UserTwoFactor {
        key: UserKey,
        enabled: bool,
    },
    MemberSet {
        org: OrgKey,
        user: UserKey,
        role: OrgRole,
    },
    MemberRemoved {
        org: OrgKey,
        user: UserKey,
    },
    /// The org suspended (`true`) or restored a membership.
    MemberSuspended {
        org: OrgKey,
        user: UserKey,
        suspended: bool,
    },
    TeamCreated {
        key: TeamKey,
        org: OrgKey,
        id: String,
        default_role: TeamRole,
    },
    TeamUpdated {
        key: TeamKey,
        id: String,
        default_role: TeamRole,
    },
    TeamDeleted {
        key: TeamKey,
    },
    TeamMemberAdded {
        team: TeamKey,
        user: UserKey,
    },
    TeamMemberRemoved {
        team: TeamKey,
        user: UserKey,
    },
    TeamAppSet {
        team: TeamKey,
        app: AppKey,
        role: TeamRole,
    },
    TeamAppRemoved {
        team: TeamKey,
        app: AppKey,
    },
    AppUpserted {
        key: AppKey,
        owner: Account,
        id: String,
        visibility: Visibility,
    },
    AppDeleted {
        key: AppKey,
    },
    CollaboratorSet {
        app: AppKey,
        user: UserKey,
        permissions: PermissionSet,
    },
    /// A model, workflow or module was created or changed visibility.
    ItemUpserted {
        app: AppKey,
        kind: ItemKind,
        id: String,
        visibility: Visibility,
    },
    ItemDeleted {
        app: AppKey,
        kind: ItemKind,
        id: String,
    },
    CollaboratorRemoved {
        app: AppKey,
        user: UserKey,
    },
    CredentialAdded {
        hash: [u8; 32],
        entry: CredentialEntry,
    },
    CredentialRevoked {
        hash: [u8; 32],
    },
    /// The credential (store id) is SSO-authorized for the org: an SSO session of one of its
    /// identity providers, or a PAT whose user completed an SSO login for it.
    CredentialSsoAuthorized {
        credential: i64,
        org: OrgKey,
    },
    /// The org's break-glass administrators (exempt from SSO enforcement), replacing the list.
    OrgSsoBreakGlass {
        key: OrgKey,
        users: Vec<UserKey>,
    },
}

/// Entities in a vector indexed by key; a removed entity leaves `None`.
#[derive(Debug, Clone)]
struct Slab<T>(Vec<Option<T>>);

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> Slab<T> {
    #[inline]
    fn get(&self, key: u32) -> Option<&T> {
        self.0.get(key as usize).and_then(Option::as_ref)
    }

    fn get_mut(&mut self, key: u32) -> Option<&mut T> {
        self.0.get_mut(key as usize).and_then(Option::as_mut)
    }

    fn insert(&mut self, key: u32, value: T) {
        let i = key as usize;
        if self.0.len() <= i {
            self.0.resize_with(i + 1, || None);
        }
        self.0[i] = Some(value);
    }

    fn remove(&mut self, key: u32) -> Option<T> {
        self.0.get_mut(key as usize).and_then(Option::take)
    }

    fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.0
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_ref().map(|v| (i as u32, v)))
    }
}

#[derive(Debug, Clone, Default)]
pub struct AccessIndex {
    revision: u64,
    accounts: FxHashMap<Box<str>, Account>,
    users: Slab<UserEntry>,
    orgs: Slab<OrgEntry>,
    apps: Slab<AppEntry>,
    teams: Slab<TeamEntry>,
    /// Per owner, app id (lower-case) to app; nested so a lookup by `&str` needs no allocation.
    apps_by_name: FxHashMap<Account, FxHashMap<Box<str>, AppKey>>,
    teams_by_name: FxHashMap<OrgKey, FxHashMap<Box<str>, TeamKey>>,
    credentials: FxHashMap<[u8; 32], CredentialEntry>,
    /// Per app and kind, item id (lower-case) to its own visibility; nested like
    /// `apps_by_name` so a lookup by `&str` needs no allocation.
    items: FxHashMap<(AppKey, ItemKind), FxHashMap<Box<str>, Visibility>>,
    /// Per credential (store id), the orgs it is SSO-authorized for.
    sso_marks: FxHashMap<i64, SmallVec<[OrgKey; 1]>>,
}

/// Ids are at most 32 ASCII characters; lower-casing them on the stack keeps lookups
/// allocation-free. Longer input cannot name anything.
fn with_lowercase<R>(raw: &str, f: impl FnOnce(&str) -> Option<R>) -> Option<R> {
    let mut buf = [0u8; crate::ids::MAX_ID_LEN];
    let bytes = raw.as_bytes();
    if bytes.len() > buf.len() {
        return None;
    }
    for (dst, src) in buf.iter_mut().zip(bytes) {
        *dst = src.to_ascii_lowercase();
    }
    std::str::from_utf8(&buf[..bytes.len()]).ok().and_then(f)
}

impl AccessIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// The data revision this index reflects.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Applies the changes of one committed write; `revision` is the one it committed.
    pub fn apply(&mut self, revision: u64, changes: &[Change]) {
        for change in changes {
            self.apply_one(change);
        }
        self.revision = self.revision.max(revision);
    }

    /// Applies one change without moving the revision: a bulk load streams its rows through
    /// this, then sets the revision with [`AccessIndex::apply`] and no changes.
    pub fn apply_change(&mut self, change: &Change) {
        self.apply_one(change);
    }

    pub fn account(&self, id: &str) -> Option<Account> {
        with_lowercase(id, |key| self.accounts.get(key).copied())
    }

    pub fn org_by_id(&self, id: &str) -> Option<OrgKey> {
        match self.account(id)? {
            Account::Org(org) => Some(org),
            Account::User(_) => None,
        }
    }

    pub fn user_by_id(&self, id: &str) -> Option<UserKey> {
        match self.account(id)? {
            Account::User(user) => Some(user),
            Account::Org(_) => None,
        }
    }

    pub fn app_by_id(&self, owner: Account, id: &str) -> Option<AppKey> {
        let names = self.apps_by_name.get(&owner)?;
        with_lowercase(id, |key| names.get(key).copied())
    }

    /// The visibility of item `id` of `kind` in `app`, if it exists.
    pub fn item(&self, app: AppKey, kind: ItemKind, id: &str) -> Option<Visibility> {
        let items = self.items.get(&(app, kind))?;
        with_lowercase(id, |key| items.get(key).copied())
    }

    pub fn team_by_id(&self, org: OrgKey, id: &str) -> Option<TeamKey> {
        let names = self.teams_by_name.get(&org)?;
        with_lowercase(id, |key| names.get(key).copied())
    }

    #[inline]
    pub fn user(&self, key: UserKey) -> Option<&UserEntry> {
        self.users.get(key.0)
    }

    #[inline]
    pub fn org(&self, key: OrgKey) -> Option<&OrgEntry> {
        self.orgs.get(key.0)
    }

    #[inline]
    pub fn app(&self, key: AppKey) -> Option<&AppEntry> {
        self.apps.get(key.0)
    }

    #[inline]
    pub fn team(&self, key: TeamKey) -> Option<&TeamEntry> {
        self.teams.get(key.0)
    }

    #[inline]
    pub fn credential(&self, hash: &[u8; 32]) -> Option<&CredentialEntry> {
        self.credentials.get(hash)
    }

    /// The orgs a credential (store id) is SSO-authorized for.
    pub fn sso_orgs_of(&self, credential: i64) -> SmallVec<[OrgKey; 1]> {
        self.sso_marks.get(&credential).cloned().unwrap_or_default()
    }

    pub fn account_id(&self, account: Account) -> Option<&str> {
        match account {
            Account::User(u) => self.user(u).map(|e| &*e.id),
            Account::Org(o) => self.org(o).map(|e| &*e.id),
        }
    }

    /// The membership of `user` in `org`, if any. Users belong to few organizations, so a
    /// linear scan beats hashing.
    #[inline]
    pub fn membership(&self, user: UserKey, org: OrgKey) -> Option<&Membership> {
        self.user(user)?.memberships.iter().find(|m| m.org == org)
    }

    pub fn orgs(&self) -> impl Iterator<Item = (OrgKey, &OrgEntry)> {
        self.orgs.iter().map(|(k, v)| (OrgKey(k), v))
    }

    pub fn apps(&self) -> impl Iterator<Item = (AppKey, &AppEntry)> {
        self.apps.iter().map(|(k, v)| (AppKey(k), v))
    }

    pub fn users(&self) -> impl Iterator<Item = (UserKey, &UserEntry)> {
        self.users.iter().map(|(k, v)| (UserKey(k), v))
    }

    fn apply_one(&mut self, change: &Change) {
        match change {
            Change::UserUpserted {
                key,
                id,
                active,
                operator,
            } => {
                let (memberships, two_factor) = self
                    .users
                    .remove(key.0)
                    .map(|u| (u.memberships, u.two_factor))
                    .unwrap_or_default();
                self.accounts
                    .insert(id.to_ascii_lowercase().into(), Account::User(*key));
                self.users.insert(
                    key.0,
                    UserEntry {
                        id: id.as_str().into(),
                        active: *active,
                        operator: *operator,
                        two_factor,
                        memberships,
                    },
                );
                if !*active {
                    // A suspended user's credentials stop working at once.
                    self.credentials.retain(|_, c| c.user != *key);
                }
            }
            Change::OrgCreated { key, id } => {
                self.accounts
                    .insert(id.to_ascii_lowercase().into(), Account::Org(*key));
                self.orgs.insert(
                    key.0,
                    OrgEntry {
                        id: id.as_str().into(),
                        members: FxHashSet::default(),
                        sso_enforced: false,
                        sso_exempt: SmallVec::new(),
                        two_factor_required: false,
                    },
                );
            }
            Change::OrgDeleted { key } => self.delete_org(*key),
            Change::OrgSsoEnforced { key, enforced } => {
                if let Some(org) = self.orgs.get_mut(key.0) {
                    org.sso_enforced = *enforced;
                }
            }
            Change::OrgTwoFactorRequired { key, required } => {
                if let Some(org) = self.orgs.get_mut(key.0) {
                    org.two_factor_required = *required;
                }
            }
            Change::UserTwoFactor { key, enabled } => {
                if let Some(user) = self.users.get_mut(key.0) {
                    user.two_factor = *enabled;
                }
            }
            Change::MemberSet { org, user, role } => {
                let Some(entry) = self.users.get_mut(user.0) else {
                    return;
                };
                match entry.memberships.iter_mut().find(|m| m.org == *org) {
                    Some(m) => m.role = *role,
                    None => entry.memberships.push(Membership {
                        org: *org,
                        role: *role,
                        teams: SmallVec::new(),
                        suspended: false,
                    }),
                }
                if let Some(o) = self.orgs.get_mut(org.0) {
                    o.members.insert(*user);
                }
            }
            Change::MemberRemoved { org, user } => self.remove_member(*org, *user),
            Change::MemberSuspended {
                org,
                user,
                suspended,
            } => {
                if let Some(m) = self
                    .users
                    .get_mut(user.0)
                    .and_then(|u| u.memberships.iter_mut().find(|m| m.org == *org))
                {
                    m.suspended = *suspended;
                }
            }
            Change::TeamCreated {
                key,
                org,
                id,
                default_role,
            } => {
                self.teams_by_name
                    .entry(*org)
                    .or_default()
                    .insert(id.to_ascii_lowercase().into(), *key);
                self.teams.insert(
                    key.0,
                    TeamEntry {
                        id: id.as_str().into(),
                        org: *org,
                        default_role: *default_role,
                        apps: SmallVec::new(),
                        members: FxHashSet::default(),
                    },
                );
            }
            Change::TeamUpdated {
                key,
                id,
                default_role,
            } => {
                let Some(team) = self.teams.get_mut(key.0) else {
                    return;
                };
                let old_name = team.id.to_ascii_lowercase();
                team.id = id.as_str().into();
                team.default_role = *default_role;
                let org = team.org;
                let names = self.teams_by_name.entry(org).or_default();
                names.remove(old_name.as_str());
                names.insert(id.to_ascii_lowercase().into(), *key);
            }
            Change::TeamDeleted { key } => self.delete_team(*key),
            Change::TeamMemberAdded { team, user } => {
                let Some(t) = self.teams.get_mut(team.0) else {
                    return;
                };
                t.members.insert(*user);
                let org = t.org;
                if let Some(m) = self
                    .users
                    .get_mut(user.0)
                    .and_then(|u| u.memberships.iter_mut().find(|m| m.org == org))
                    && !m.teams.contains(team)
                {
                    m.teams.push(*team);
                }
            }
            Change::TeamMemberRemoved { team, user } => {
                let Some(t) = self.teams.get_mut(team.0) else {
                    return;
                };
                t.members.remove(user);
                let org = t.org;
                if let Some(m) = self
                    .users
                    .get_mut(user.0)
                    .and_then(|u| u.memberships.iter_mut().find(|m| m.org == org))
                {
                    m.teams.retain(|t| t != team);
                }
            }
            Change::TeamAppSet { team, app, role } => {
                let (Some(t), Some(a)) = (self.teams.get_mut(team.0), self.apps.get_mut(app.0))
                else {
                    return;
                };
                upsert_pair(&mut t.apps, *app, *role);
                upsert_pair(&mut a.teams, *team, *role);
            }
            Change::TeamAppRemoved { team, app } => {
                if let Some(t) = self.teams.get_mut(team.0) {
                    t.apps.retain(|(a, _)| a != app);
                }
                if let Some(a) = self.apps.get_mut(app.0) {
                    a.teams.retain(|(t, _)| t != team);
                }
            }
            Change::AppUpserted {
                key,
                owner,
                id,
                visibility,
            } => {
                let (teams, collaborators) = match self.apps.remove(key.0) {
                    Some(old) => {
                        remove_name(&mut self.apps_by_name, old.owner, &old.id);
                        (old.teams, old.collaborators)
                    }
                    None => (SmallVec::new(), SmallVec::new()),
                };
                self.apps_by_name
                    .entry(*owner)
                    .or_default()
                    .insert(id.to_ascii_lowercase().into(), *key);
                self.apps.insert(
                    key.0,
                    AppEntry {
                        id: id.as_str().into(),
                        owner: *owner,
                        visibility: *visibility,
                        teams,
                        collaborators,
                    },
                );
            }
            Change::AppDeleted { key } => self.delete_app(*key),
            Change::CollaboratorSet {
                app,
                user,
                permissions,
            } => {
                if let Some(a) = self.apps.get_mut(app.0) {
                    upsert_pair(&mut a.collaborators, *user, *permissions);
                }
            }
            Change::CollaboratorRemoved { app, user } => {
                if let Some(a) = self.apps.get_mut(app.0) {
                    a.collaborators.retain(|(u, _)| u != user);
                }
            }
            Change::ItemUpserted {
                app,
                kind,
                id,
                visibility,
            } => {
                if self.apps.get(app.0).is_some() {
                    self.items
                        .entry((*app, *kind))
                        .or_default()
                        .insert(id.to_ascii_lowercase().into(), *visibility);
                }
            }
            Change::ItemDeleted { app, kind, id } => {
                remove_name(&mut self.items, (*app, *kind), id);
            }
            Change::CredentialAdded { hash, entry } => {
                self.credentials.insert(*hash, entry.clone());
            }
            Change::CredentialRevoked { hash } => {
                if let Some(entry) = self.credentials.remove(hash) {
                    self.sso_marks.remove(&entry.id);
                }
            }
            Change::CredentialSsoAuthorized { credential, org } => {
                let marks = self.sso_marks.entry(*credential).or_default();
                if !marks.contains(org) {
                    marks.push(*org);
                }
            }
            Change::OrgSsoBreakGlass { key, users } => {
                if let Some(org) = self.orgs.get_mut(key.0) {
                    org.sso_exempt = users.iter().copied().collect();
                }
            }
        }
    }

    fn remove_member(&mut self, org: OrgKey, user: UserKey) {
        if let Some(entry) = self.users.get_mut(user.0)
            && let Some(pos) = entry.memberships.iter().position(|m| m.org == org)
        {
            let membership = entry.memberships.remove(pos);
            for team in membership.teams {
                if let Some(t) = self.teams.get_mut(team.0) {
                    t.members.remove(&user);
                }
            }
        }
        if let Some(o) = self.orgs.get_mut(org.0) {
            o.members.remove(&user);
        }
        // Credentials bound to the organization die with the membership.
        self.credentials
            .retain(|_, c| !(c.user == user && c.org == Some(org)));
    }

    fn delete_team(&mut self, key: TeamKey) {
        let Some(team) = self.teams.remove(key.0) else {
            return;
        };
        remove_name(&mut self.teams_by_name, team.org, &team.id);
        for user in &team.members {
            if let Some(m) = self
                .users
                .get_mut(user.0)
                .and_then(|u| u.memberships.iter_mut().find(|m| m.org == team.org))
            {
                m.teams.retain(|t| *t != key);
            }
        }
        for (app, _) in &team.apps {
            if let Some(a) = self.apps.get_mut(app.0) {
                a.teams.retain(|(t, _)| *t != key);
            }
        }
    }

    fn delete_app(&mut self, key: AppKey) {
        let Some(app) = self.apps.remove(key.0) else {
            return;
        };
        remove_name(&mut self.apps_by_name, app.owner, &app.id);
        for (team, _) in &app.teams {
            if let Some(t) = self.teams.get_mut(team.0) {
                t.apps.retain(|(a, _)| *a != key);
            }
        }
        self.credentials.retain(|_, c| c.app != Some(key));
        for kind in ItemKind::ALL {
            self.items.remove(&(key, kind));
        }
    }

    fn delete_org(&mut self, key: OrgKey) {
        let Some(org) = self.orgs.get(key.0) else {
            return;
        };
        let members: Vec<UserKey> = org.members.iter().copied().collect();
        let teams: Vec<TeamKey> = self
            .teams
            .iter()
            .filter(|(_, t)| t.org == key)
            .map(|(k, _)| TeamKey(k))
            .collect();
        let apps: Vec<AppKey> = self
            .apps
            .iter()
            .filter(|(_, a)| a.owner == Account::Org(key))
            .map(|(k, _)| AppKey(k))
            .collect();
        for user in members {
            self.remove_member(key, user);
        }
        for team in teams {
            self.delete_team(team);
        }
        for app in apps {
            self.delete_app(app);
        }
        if let Some(org) = self.orgs.remove(key.0) {
            self.accounts.remove(&*org.id.to_ascii_lowercase());
        }
        self.apps_by_name.remove(&Account::Org(key));
        self.teams_by_name.remove(&key);
        self.credentials.retain(|_, c| c.org != Some(key));
    }
}

fn remove_name<O: Eq + std::hash::Hash, K>(
    names: &mut FxHashMap<O, FxHashMap<Box<str>, K>>,
    owner: O,
    id: &str,
) {
    if let Some(map) = names.get_mut(&owner) {
        map.remove(&*id.to_ascii_lowercase());
        if map.is_empty() {
            names.remove(&owner);
        }
    }
}

fn upsert_pair<K: PartialEq + Copy, V: Copy, const N: usize>(
    pairs: &mut SmallVec<[(K, V); N]>,
    key: K,
    value: V,
) where
    [(K, V); N]: smallvec::Array<Item = (K, V)>,
{
    match pairs.iter_mut().find(|(k, _)| *k == key) {
        Some(pair) => pair.1 = value,
        None => pairs.push((key, value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{Denial, Resource, Subject, check};
    use crate::permissions::Permission;

    fn index_with_app(visibility: Visibility) -> AccessIndex {
        let mut index = AccessIndex::new();
        index.apply(
            1,
            &[
                Change::UserUpserted {
                    key: UserKey(1),
                    id: "alice".into(),
                    active: true,
                    operator: false,
                },
                Change::AppUpserted {
                    key: AppKey(7),
                    owner: Account::User(UserKey(1)),
                    id: "diary".into(),
                    visibility,
                },
            ],
        );
        index
    }

    #[test]
    fn items_are_found_case_insensitively_and_leave_with_their_app() {
        let mut index = index_with_app(Visibility::Public);
        let upsert = |id: &str, visibility| Change::ItemUpserted {
            app: AppKey(7),
            kind: ItemKind::Model,
            id: id.into(),
            visibility,
        };
        index.apply(2, &[upsert("General", Visibility::Org)]);
        // An item of an unknown app is ignored.
        index.apply(
            3,
            &[Change::ItemUpserted {
                app: AppKey(9),
                kind: ItemKind::Model,
                id: "x".into(),
                visibility: Visibility::Public,
            }],
        );
        assert_eq!(
            index.item(AppKey(7), ItemKind::Model, "GENERAL"),
            Some(Visibility::Org)
        );
        assert_eq!(index.item(AppKey(7), ItemKind::Workflow, "general"), None);
        assert_eq!(index.item(AppKey(9), ItemKind::Model, "x"), None);
        assert_eq!(
            index.item(AppKey(7), ItemKind::Model, &"g".repeat(40)),
            None
        );
        index.apply(4, &[upsert("general", Visibility::Public)]);
        assert_eq!(
            index.item(AppKey(7), ItemKind::Model, "general"),
            Some(Visibility::Public)
        );
        index.apply(
            5,
            &[Change::ItemDeleted {
                app: AppKey(7),
                kind: ItemKind::Model,
                id: "GENERAL".into(),
            }],
        );
        assert_eq!(index.item(AppKey(7), ItemKind::Model, "general"), None);
        index.apply(6, &[upsert("again", Visibility::Public)]);
        index.apply(7, &[Change::AppDeleted { key: AppKey(7) }]);
        assert_eq!(index.item(AppKey(7), ItemKind::Model, "again"), None);
        assert!(
            ItemKind::ALL
                .iter()
                .all(|k| ItemKind::parse(k.as_str()) == Some(*k))
        );
    }

    #[test]
    fn a_suspended_membership_is_denied_everything_in_its_org_until_restored() {
        let mut index = AccessIndex::new();
        let (user, org) = (UserKey(1), OrgKey(2));
        index.apply(
            1,
            &[
                Change::UserUpserted {
                    key: user,
                    id: "dave".into(),
                    active: true,
                    operator: false,
                },
                Change::OrgCreated {
                    key: org,
                    id: "acme".into(),
                },
                Change::MemberSet {
                    org,
                    user,
                    role: OrgRole::Admin,
                },
                Change::AppUpserted {
                    key: AppKey(3),
                    owner: Account::Org(org),
                    id: "open".into(),
                    visibility: Visibility::Public,
                },
            ],
        );
        let subject = Subject::user(user);
        let org_level = |index: &AccessIndex| {
            check(
                index,
                &subject,
                Permission::SidebarView,
                Resource::Account(Account::Org(org)),
            )
        };
        assert!(org_level(&index).allowed);
        let suspend = |suspended| Change::MemberSuspended {
            org,
            user,
            suspended,
        };
        index.apply(2, &[suspend(true)]);
        let denied = org_level(&index);
        assert_eq!(denied.denial, Some(Denial::MembershipSuspended));
        assert_eq!(Denial::MembershipSuspended.code(), "membership_suspended");
        // Even the org's public app: the member is kept out of the org as a whole.
        let app = check(
            &index,
            &subject,
            Permission::AppView,
            Resource::App(AppKey(3)),
        );
        assert_eq!(app.denial, Some(Denial::MembershipSuspended));
        // A role change keeps the suspension; a restore lifts it.
        index.apply(
            3,
            &[Change::MemberSet {
                org,
                user,
                role: OrgRole::OrgUser,
            }],
        );
        assert!(!org_level(&index).allowed);
        index.apply(4, &[suspend(false)]);
        assert!(org_level(&index).allowed);
    }

    #[test]
    fn an_item_is_never_more_visible_than_its_app() {
        for (app, item, public) in [
            (Visibility::Public, Visibility::Public, true),
            (Visibility::Public, Visibility::Org, false),
            (Visibility::Private, Visibility::Public, false),
            (Visibility::Org, Visibility::Public, false),
        ] {
            let index = index_with_app(app);
            let resource = Resource::AppItem {
                app: AppKey(7),
                visibility: item,
            };
            let decision = check(&index, &Subject::anonymous(), Permission::AppView, resource);
            assert_eq!(decision.allowed, public, "app {app}, item {item}");
        }
    }
}
