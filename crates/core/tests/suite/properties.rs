//! Property tests of the decision's invariants over random populations:
//!
//! - tenant isolation: nobody outside an organization reaches its account or its apps;
//! - scopes never widen: a scoped credential is exactly its user's grants intersected with its
//!   scopes;
//! - an index kept current by applying changes decides exactly like one rebuilt from scratch out
//!   of the final facts (the store rebuilds at start-up, then applies changes).

use std::collections::{BTreeMap, BTreeSet};

use portcullis_core::decision::Binding;
use portcullis_core::index::Account;
use portcullis_core::{
    AccessIndex, AppKey, Change, Decision, OrgKey, OrgRole, Permission, PermissionSet, Resource,
    Subject, TeamKey, TeamRole, UserKey, Visibility, check,
};
use proptest::prelude::*;
use proptest::sample::{Index, select};

const ORGS: [OrgKey; 2] = [OrgKey(1), OrgKey(2)];

fn user_key(i: usize) -> UserKey {
    UserKey(100 + i as u32)
}

fn org_role() -> impl Strategy<Value = OrgRole> {
    select(OrgRole::ALL.to_vec())
}

fn team_role() -> impl Strategy<Value = TeamRole> {
    select(TeamRole::ALL.to_vec())
}

fn permission_set() -> impl Strategy<Value = PermissionSet> {
    let all = PermissionSet::all();
    prop_oneof![
        1 => Just(all),
        1 => Just(PermissionSet::EMPTY),
        2 => select(Permission::ALL.to_vec()).prop_map(|p| PermissionSet::EMPTY.with(p)),
        4 => any::<u64>().prop_map(move |bits| PermissionSet::from_bits(bits).intersection(all)),
    ]
}

/// Every resource a decision can be asked about in a population: both organizations, every
/// personal account, every app and a public item of every app. Every permission is asked about
/// each, so level mismatches are exercised too.
fn resources(users: usize, apps: usize) -> Vec<Resource> {
    let mut all: Vec<Resource> = ORGS
        .iter()
        .map(|o| Resource::Account(Account::Org(*o)))
        .collect();
    all.extend((0..users).map(|u| Resource::Account(Account::User(user_key(u)))));
    for a in 0..apps as u32 {
        all.push(Resource::App(AppKey(a)));
        all.push(Resource::AppItem {
            app: AppKey(a),
            visibility: Visibility::Public,
        });
    }
    all
}

// ---------------------------------------------------------------------------------------------
// A random population of two organizations
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Owner {
    Org(usize),
    User(Index),
}

#[derive(Debug, Clone)]
struct Population {
    /// Per user, its role in each of the two organizations.
    users: Vec<[Option<OrgRole>; 2]>,
    /// Per team, its organization.
    teams: Vec<usize>,
    team_members: Vec<(Index, Index)>,
    apps: Vec<(Owner, Visibility)>,
    links: Vec<(Index, Index, TeamRole)>,
    collaborators: Vec<(Index, Index, PermissionSet)>,
}

fn population(visibilities: &[Visibility]) -> impl Strategy<Value = Population> {
    let owner = prop_oneof![
        3 => (0..2usize).prop_map(Owner::Org),
        1 => any::<Index>().prop_map(Owner::User),
    ];
    (
        prop::collection::vec(
            [prop::option::of(org_role()), prop::option::of(org_role())],
            1..8,
        ),
        prop::collection::vec(0..2usize, 0..4),
        prop::collection::vec(any::<(Index, Index)>(), 0..10),
        prop::collection::vec((owner, select(visibilities.to_vec())), 1..6),
        prop::collection::vec((any::<Index>(), any::<Index>(), team_role()), 0..8),
        prop::collection::vec((any::<Index>(), any::<Index>(), permission_set()), 0..6),
    )
        .prop_map(
            |(users, teams, team_members, apps, links, collaborators)| Population {
                users,
                teams,
                team_members,
                apps,
                links,
                collaborators,
            },
        )
}

impl Population {
    fn is_member(&self, user: usize, org: usize) -> bool {
        self.users[user][org].is_some()
    }

    fn app_owner(&self, app: usize) -> Account {
        match &self.apps[app].0 {
            Owner::Org(o) => Account::Org(ORGS[*o]),
            Owner::User(u) => Account::User(user_key(u.index(self.users.len()))),
        }
    }

    /// The organizations an app belongs to, for tenant isolation: its org, or every org of its
    /// personal owner.
    fn app_tenants(&self, app: usize) -> Vec<usize> {
        match &self.apps[app].0 {
            Owner::Org(o) => vec![*o],
            Owner::User(u) => {
                let owner = u.index(self.users.len());
                (0..2).filter(|o| self.is_member(owner, *o)).collect()
            }
        }
    }

    fn build(&self) -> AccessIndex {
        let mut changes: Vec<Change> = ORGS
            .iter()
            .map(|key| Change::OrgCreated {
                key: *key,
                id: format!("org{}", key.0),
            })
            .collect();
        for (u, roles) in self.users.iter().enumerate() {
            changes.push(Change::UserUpserted {
                key: user_key(u),
                id: format!("u{u}"),
                active: true,
                operator: false,
            });
            for (o, role) in roles.iter().enumerate() {
                if let Some(role) = role {
                    changes.push(Change::MemberSet {
                        org: ORGS[o],
                        user: user_key(u),
                        role: *role,
                    });
                }
            }
        }
        for (t, org) in self.teams.iter().enumerate() {
            changes.push(Change::TeamCreated {
                key: TeamKey(t as u32),
                org: ORGS[*org],
                id: format!("team{t}"),
                default_role: TeamRole::FullAccess,
            });
        }
        for (a, (_, visibility)) in self.apps.iter().enumerate() {
            changes.push(Change::AppUpserted {
                key: AppKey(a as u32),
                owner: self.app_owner(a),
                id: format!("app{a}"),
                visibility: *visibility,
            });
        }
        if !self.teams.is_empty() {
            // A team only holds members of its organization (the service refuses others).
            for (t, u) in &self.team_members {
                let team = t.index(self.teams.len());
                let org = self.teams[team];
                let eligible: Vec<usize> = (0..self.users.len())
                    .filter(|u| self.is_member(*u, org))
                    .collect();
                if !eligible.is_empty() {
                    changes.push(Change::TeamMemberAdded {
                        team: TeamKey(team as u32),
                        user: user_key(eligible[u.index(eligible.len())]),
                    });
                }
            }
            // Links are left unconstrained, even across organizations: the service refuses
            // those, but isolation must not depend on it.
            for (t, a, role) in &self.links {
                changes.push(Change::TeamAppSet {
                    team: TeamKey(t.index(self.teams.len()) as u32),
                    app: AppKey(a.index(self.apps.len()) as u32),
                    role: *role,
                });
            }
        }
        // Collaborators come from the app's own organization(s) only.
        for (a, u, permissions) in &self.collaborators {
            let app = a.index(self.apps.len());
            let tenants = self.app_tenants(app);
            let eligible: Vec<usize> = (0..self.users.len())
                .filter(|u| tenants.iter().any(|o| self.is_member(*u, *o)))
                .collect();
            if !eligible.is_empty() {
                changes.push(Change::CollaboratorSet {
                    app: AppKey(app as u32),
                    user: user_key(eligible[u.index(eligible.len())]),
                    permissions: *permissions,
                });
            }
        }
        let mut index = AccessIndex::new();
        index.apply(1, &changes);
        index
    }
}

/// The widest subject a user can be: a session valid everywhere, SSO-authorized for both orgs.
fn widest(user: UserKey) -> Subject {
    let mut subject = Subject::user(user);
    subject.sso_orgs = ORGS.into_iter().collect();
    subject
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Nobody outside an organization (a member of the other one only, or of none) holds any
    /// permission on its account, its apps, its apps' items, or the personal apps and accounts
    /// of its members who belong to no other organization.
    #[test]
    fn tenant_isolation(pop in population(&[Visibility::Private, Visibility::Org])) {
        let index = pop.build();
        for (target, target_org) in ORGS.iter().enumerate() {
            let only_in_target = |u: usize| pop.is_member(u, target) && !pop.is_member(u, 1 - target);
            let mut guarded = vec![Resource::Account(Account::Org(*target_org))];
            guarded.extend(
                (0..pop.users.len())
                    .filter(|u| only_in_target(*u))
                    .map(|u| Resource::Account(Account::User(user_key(u)))),
            );
            for app in 0..pop.apps.len() {
                let tenants = pop.app_tenants(app);
                if tenants == [target] {
                    let key = AppKey(app as u32);
                    guarded.push(Resource::App(key));
                    for visibility in Visibility::ALL {
                        guarded.push(Resource::AppItem { app: key, visibility });
                    }
                }
            }
            let outsiders = (0..pop.users.len()).filter(|u| !pop.is_member(*u, target));
            let mut subjects: Vec<(String, Subject)> = outsiders
                .map(|u| (format!("u{u} (roles {:?})", pop.users[u]), widest(user_key(u))))
                .collect();
            subjects.push(("anonymous".to_owned(), Subject::anonymous()));
            for (who, subject) in &subjects {
                for resource in &guarded {
                    for permission in Permission::ALL.iter().copied() {
                        let decision = check(&index, subject, permission, *resource);
                        prop_assert!(
                            !decision.allowed,
                            "{who}, outside org{}, got `{permission}` on {resource:?} via {:?}",
                            target_org.0,
                            decision.via
                        );
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scopes never widen
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum BindingChoice {
    Anywhere,
    Org(usize),
    App(Index),
    Orgs(Vec<usize>),
}

#[derive(Debug, Clone)]
struct SubjectSpec {
    user: Option<Index>,
    scopes: PermissionSet,
    binding: BindingChoice,
    platform_service: bool,
    sso: Vec<usize>,
}

fn subject_spec() -> impl Strategy<Value = SubjectSpec> {
    let binding = prop_oneof![
        Just(BindingChoice::Anywhere),
        (0..2usize).prop_map(BindingChoice::Org),
        any::<Index>().prop_map(BindingChoice::App),
        prop::sample::subsequence(vec![0usize, 1], 0..=2).prop_map(BindingChoice::Orgs),
    ];
    (
        prop::option::weighted(0.85, any::<Index>()),
        permission_set(),
        binding,
        prop::bool::weighted(0.2),
        prop::sample::subsequence(vec![0usize, 1], 0..=2),
    )
        .prop_map(
            |(user, scopes, binding, platform_service, sso)| SubjectSpec {
                user,
                scopes,
                binding,
                platform_service,
                sso,
            },
        )
}

impl SubjectSpec {
    fn subject(&self, pop: &Population) -> Subject {
        Subject {
            user: self.user.map(|u| user_key(u.index(pop.users.len()))),
            scopes: self.scopes,
            binding: match &self.binding {
                BindingChoice::Anywhere => Binding::Anywhere,
                BindingChoice::Org(o) => Binding::Org(ORGS[*o]),
                BindingChoice::App(a) => Binding::App(AppKey(a.index(pop.apps.len()) as u32)),
                BindingChoice::Orgs(orgs) => Binding::Orgs(orgs.iter().map(|o| ORGS[*o]).collect()),
            },
            platform_service: self.platform_service,
            sso_orgs: self.sso.iter().map(|o| ORGS[*o]).collect(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// A credential's decision is its holder's grants intersected with its scopes: allowed with
    /// scopes S implies allowed with all scopes and the permission in S (and conversely), by
    /// the same grant paths.
    #[test]
    fn scopes_never_widen(
        pop in population(&Visibility::ALL),
        spec in subject_spec(),
    ) {
        let index = pop.build();
        let scoped = spec.subject(&pop);
        let unscoped = Subject { scopes: PermissionSet::all(), ..scoped.clone() };
        for resource in resources(pop.users.len(), pop.apps.len()) {
            for permission in Permission::ALL.iter().copied() {
                let narrow = check(&index, &scoped, permission, resource);
                let wide = check(&index, &unscoped, permission, resource);
                if narrow.allowed {
                    prop_assert!(
                        wide.allowed && scoped.scopes.contains(permission),
                        "`{permission}` on {resource:?} allowed with scopes {:?} but not with all \
                         scopes ({wide:?}) or outside the scopes",
                        scoped.scopes
                    );
                    prop_assert_eq!(&narrow.via, &wide.via);
                }
                prop_assert_eq!(
                    narrow.allowed,
                    wide.allowed && scoped.scopes.contains(permission),
                    "`{}` on {:?} with scopes {:?}: scoped {:?}, unscoped {:?}",
                    permission, resource, scoped.scopes, narrow, wide
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Incremental equals rebuild
// ---------------------------------------------------------------------------------------------

// Small pools, so that keys are often deleted and reused (as SQLite may reuse a row id).
const USERS: usize = 4;
const TEAM_POOL: u32 = 3;
const APP_POOL: u32 = 4;

/// One store write with concrete keys.
#[derive(Debug, Clone)]
#[rustfmt::skip]
enum Write {
    SetMember { org: usize, user: usize, role: OrgRole },
    RemoveMember { org: usize, user: usize },
    SetActive { user: usize, active: bool },
    CreateTeam { team: u32, org: usize, default_role: TeamRole },
    UpdateTeam { team: u32, default_role: TeamRole },
    DeleteTeam { team: u32 },
    AddTeamMember { team: u32, user: usize },
    RemoveTeamMember { team: u32, user: usize },
    UpsertApp { app: u32, owner: Account, visibility: Visibility },
    DeleteApp { app: u32 },
    SetTeamApp { team: u32, app: u32, role: TeamRole },
    RemoveTeamApp { team: u32, app: u32 },
    SetCollaborator { app: u32, user: usize, permissions: PermissionSet },
    RemoveCollaborator { app: u32, user: usize },
    SetSso { org: usize, enforced: bool },
    DeleteOrg { org: usize },
    CreateOrg { org: usize },
}

/// One generated operation. Its targets are picked (by `Index`) among what exists when it runs,
/// so that most operations change something; `Stray` removals name arbitrary keys and are
/// mostly no-ops, which the index must survive too.
#[derive(Debug, Clone)]
#[rustfmt::skip]
enum Op {
    SetMember { org: Index, user: Index, role: OrgRole },
    RemoveMember { member: Index },
    SetActive { user: Index, active: bool },
    CreateTeam { key: Index, org: Index, default_role: TeamRole },
    UpdateTeam { team: Index, default_role: TeamRole },
    DeleteTeam { team: Index },
    AddTeamMember { team: Index, user: Index },
    RemoveTeamMember { pair: Index },
    UpsertApp { key: Index, owner: Owner, visibility: Visibility },
    DeleteApp { app: Index },
    SetTeamApp { team: Index, app: Index, role: TeamRole },
    RemoveTeamApp { link: Index },
    SetCollaborator { app: Index, user: Index, permissions: PermissionSet },
    RemoveCollaborator { pair: Index },
    SetSso { org: Index, enforced: bool },
    DeleteOrg { org: Index },
    CreateOrg { org: Index },
    Stray(Write),
}

fn stray_removal() -> impl Strategy<Value = Write> {
    let team = || 0..TEAM_POOL + 1;
    let app = || 0..APP_POOL + 1;
    let user = || 0..USERS;
    prop_oneof![
        (0..2usize, user()).prop_map(|(org, user)| Write::RemoveMember { org, user }),
        team().prop_map(|team| Write::DeleteTeam { team }),
        (team(), user()).prop_map(|(team, user)| Write::RemoveTeamMember { team, user }),
        app().prop_map(|app| Write::DeleteApp { app }),
        (team(), app()).prop_map(|(team, app)| Write::RemoveTeamApp { team, app }),
        (app(), user()).prop_map(|(app, user)| Write::RemoveCollaborator { app, user }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let i = any::<Index>;
    let owner = prop_oneof![
        3 => (0..2usize).prop_map(Owner::Org),
        1 => i().prop_map(Owner::User),
    ];
    // Team contributors are the members whose grants depend on teams: favour them.
    let role = prop_oneof![2 => Just(OrgRole::TeamContributor), 3 => org_role()];
    // Weights favour building up (an org deletion wipes half the world, so it is rare).
    prop_oneof![
        12 => (i(), i(), role).prop_map(|(org, user, role)| Op::SetMember { org, user, role }),
        3 => i().prop_map(|member| Op::RemoveMember { member }),
        1 => (i(), prop::bool::weighted(0.6)).prop_map(|(user, active)| Op::SetActive { user, active }),
        6 => (i(), i(), team_role())
            .prop_map(|(key, org, default_role)| Op::CreateTeam { key, org, default_role }),
        2 => (i(), team_role()).prop_map(|(team, default_role)| Op::UpdateTeam { team, default_role }),
        3 => i().prop_map(|team| Op::DeleteTeam { team }),
        12 => (i(), i()).prop_map(|(team, user)| Op::AddTeamMember { team, user }),
        3 => i().prop_map(|pair| Op::RemoveTeamMember { pair }),
        14 => (i(), owner, select(Visibility::ALL.to_vec()))
            .prop_map(|(key, owner, visibility)| Op::UpsertApp { key, owner, visibility }),
        2 => i().prop_map(|app| Op::DeleteApp { app }),
        12 => (i(), i(), team_role()).prop_map(|(team, app, role)| Op::SetTeamApp { team, app, role }),
        3 => i().prop_map(|link| Op::RemoveTeamApp { link }),
        4 => (i(), i(), permission_set())
            .prop_map(|(app, user, permissions)| Op::SetCollaborator { app, user, permissions }),
        2 => i().prop_map(|pair| Op::RemoveCollaborator { pair }),
        1 => (i(), any::<bool>()).prop_map(|(org, enforced)| Op::SetSso { org, enforced }),
        1 => i().prop_map(|org| Op::DeleteOrg { org }),
        4 => i().prop_map(|org| Op::CreateOrg { org }),
        4 => stray_removal().prop_map(Op::Stray),
    ]
}

/// One of `candidates`, or `None` when there are none.
fn pick<T>(candidates: impl IntoIterator<Item = T>, index: &Index) -> Option<T> {
    let mut candidates: Vec<T> = candidates.into_iter().collect();
    (!candidates.is_empty()).then(|| candidates.swap_remove(index.index(candidates.len())))
}

/// The facts as the store would hold them, with the store's cascades; each operation yields
/// the changes the store would commit for it (none when the service would refuse it).
#[derive(Debug, Clone, Default)]
struct Model {
    active: BTreeMap<usize, bool>,
    /// Live organizations and whether they enforce SSO.
    orgs: BTreeMap<usize, bool>,
    members: BTreeMap<(usize, usize), OrgRole>,
    teams: BTreeMap<u32, (usize, TeamRole)>,
    team_members: BTreeSet<(u32, usize)>,
    apps: BTreeMap<u32, (Account, Visibility)>,
    links: BTreeMap<(u32, u32), TeamRole>,
    collaborators: BTreeMap<(u32, usize), PermissionSet>,
}

fn user_change(user: usize, active: bool) -> Change {
    Change::UserUpserted {
        key: user_key(user),
        id: format!("u{user}"),
        active,
        operator: false,
    }
}

fn org_created(org: usize) -> Change {
    Change::OrgCreated {
        key: ORGS[org],
        id: format!("org{org}"),
    }
}

fn app_upserted(app: u32, owner: Account, visibility: Visibility) -> Change {
    Change::AppUpserted {
        key: AppKey(app),
        owner,
        id: format!("app{app}"),
        visibility,
    }
}

impl Model {
    fn initial() -> (Self, Vec<Change>) {
        let mut model = Model::default();
        let mut changes = Vec::new();
        for u in 0..USERS {
            model.active.insert(u, true);
            changes.push(user_change(u, true));
        }
        for o in 0..2 {
            model.orgs.insert(o, false);
            changes.push(org_created(o));
        }
        (model, changes)
    }

    fn delete_team(&mut self, team: u32) {
        self.teams.remove(&team);
        self.team_members.retain(|(t, _)| *t != team);
        self.links.retain(|(t, _), _| *t != team);
    }

    fn delete_app(&mut self, app: u32) {
        self.apps.remove(&app);
        self.links.retain(|(_, a), _| *a != app);
        self.collaborators.retain(|(a, _), _| *a != app);
    }

    fn remove_member(&mut self, org: usize, user: usize) {
        self.members.remove(&(org, user));
        let teams = &self.teams;
        self.team_members
            .retain(|(t, u)| !(*u == user && teams.get(t).is_some_and(|(o, _)| *o == org)));
    }

    /// Resolves an operation against the current facts; `None` when it has no target.
    fn resolve(&self, op: &Op) -> Option<Write> {
        let live_orgs = || self.orgs.keys().copied();
        let live_teams = || self.teams.keys().copied();
        let live_apps = || self.apps.keys().copied();
        Some(match op {
            Op::SetMember { org, user, role } => Write::SetMember {
                org: pick(live_orgs(), org)?,
                user: user.index(USERS),
                role: *role,
            },
            Op::RemoveMember { member } => {
                let (org, user) = pick(self.members.keys().copied(), member)?;
                Write::RemoveMember { org, user }
            }
            Op::SetActive { user, active } => Write::SetActive {
                user: user.index(USERS),
                active: *active,
            },
            Op::CreateTeam {
                key,
                org,
                default_role,
            } => Write::CreateTeam {
                team: pick((0..TEAM_POOL).filter(|t| !self.teams.contains_key(t)), key)?,
                org: pick(live_orgs(), org)?,
                default_role: *default_role,
            },
            Op::UpdateTeam { team, default_role } => Write::UpdateTeam {
                team: pick(live_teams(), team)?,
                default_role: *default_role,
            },
            Op::DeleteTeam { team } => Write::DeleteTeam {
                team: pick(live_teams(), team)?,
            },
            Op::AddTeamMember { team, user } => {
                let team = pick(live_teams(), team)?;
                let org = self.teams[&team].0;
                let members = self
                    .members
                    .keys()
                    .filter(|(o, _)| *o == org)
                    .map(|(_, u)| *u);
                Write::AddTeamMember {
                    team,
                    user: pick(members, user)?,
                }
            }
            Op::RemoveTeamMember { pair } => {
                let (team, user) = pick(self.team_members.iter().copied(), pair)?;
                Write::RemoveTeamMember { team, user }
            }
            Op::UpsertApp {
                key,
                owner,
                visibility,
            } => {
                let app = key.index(APP_POOL as usize) as u32;
                let owner = match (self.apps.get(&app), owner) {
                    // An update keeps the owner (transfers are not modelled).
                    (Some((existing, _)), _) => *existing,
                    (None, Owner::Org(o)) => Account::Org(ORGS[*o]),
                    (None, Owner::User(u)) => Account::User(user_key(u.index(USERS))),
                };
                Write::UpsertApp {
                    app,
                    owner,
                    visibility: *visibility,
                }
            }
            Op::DeleteApp { app } => Write::DeleteApp {
                app: pick(live_apps(), app)?,
            },
            Op::SetTeamApp { team, app, role } => {
                let team = pick(live_teams(), team)?;
                let owner = Account::Org(ORGS[self.teams[&team].0]);
                let apps = self
                    .apps
                    .iter()
                    .filter(|(_, (o, _))| *o == owner)
                    .map(|(a, _)| *a);
                Write::SetTeamApp {
                    team,
                    app: pick(apps, app)?,
                    role: *role,
                }
            }
            Op::RemoveTeamApp { link } => {
                let (team, app) = pick(self.links.keys().copied(), link)?;
                Write::RemoveTeamApp { team, app }
            }
            Op::SetCollaborator {
                app,
                user,
                permissions,
            } => Write::SetCollaborator {
                app: pick(live_apps(), app)?,
                user: user.index(USERS),
                permissions: *permissions,
            },
            Op::RemoveCollaborator { pair } => {
                let (app, user) = pick(self.collaborators.keys().copied(), pair)?;
                Write::RemoveCollaborator { app, user }
            }
            Op::SetSso { org, enforced } => Write::SetSso {
                org: pick(live_orgs(), org)?,
                enforced: *enforced,
            },
            Op::DeleteOrg { org } => Write::DeleteOrg {
                org: pick(live_orgs(), org)?,
            },
            Op::CreateOrg { org } => Write::CreateOrg {
                org: pick((0..2).filter(|o| !self.orgs.contains_key(o)), org)?,
            },
            Op::Stray(write) => write.clone(),
        })
    }

    /// Commits one write, with the store's cascades, returning the changes it would publish.
    fn commit(&mut self, write: &Write) -> Vec<Change> {
        match *write {
            Write::SetMember { org, user, role } => {
                if !self.orgs.contains_key(&org) {
                    return vec![];
                }
                self.members.insert((org, user), role);
                vec![Change::MemberSet {
                    org: ORGS[org],
                    user: user_key(user),
                    role,
                }]
            }
            Write::RemoveMember { org, user } => {
                self.remove_member(org, user);
                vec![Change::MemberRemoved {
                    org: ORGS[org],
                    user: user_key(user),
                }]
            }
            Write::SetActive { user, active } => {
                self.active.insert(user, active);
                vec![user_change(user, active)]
            }
            Write::CreateTeam {
                team,
                org,
                default_role,
            } => {
                if self.teams.contains_key(&team) || !self.orgs.contains_key(&org) {
                    return vec![];
                }
                self.teams.insert(team, (org, default_role));
                vec![Change::TeamCreated {
                    key: TeamKey(team),
                    org: ORGS[org],
                    id: format!("team{team}"),
                    default_role,
                }]
            }
            Write::UpdateTeam { team, default_role } => {
                let Some(entry) = self.teams.get_mut(&team) else {
                    return vec![];
                };
                entry.1 = default_role;
                vec![Change::TeamUpdated {
                    key: TeamKey(team),
                    id: format!("Team{team}"),
                    default_role,
                }]
            }
            Write::DeleteTeam { team } => {
                self.delete_team(team);
                vec![Change::TeamDeleted { key: TeamKey(team) }]
            }
            Write::AddTeamMember { team, user } => {
                let Some((org, _)) = self.teams.get(&team) else {
                    return vec![];
                };
                if !self.members.contains_key(&(*org, user)) {
                    return vec![];
                }
                self.team_members.insert((team, user));
                vec![Change::TeamMemberAdded {
                    team: TeamKey(team),
                    user: user_key(user),
                }]
            }
            Write::RemoveTeamMember { team, user } => {
                self.team_members.remove(&(team, user));
                vec![Change::TeamMemberRemoved {
                    team: TeamKey(team),
                    user: user_key(user),
                }]
            }
            Write::UpsertApp {
                app,
                owner,
                visibility,
            } => {
                let owner = match self.apps.get(&app) {
                    // An update keeps the owner (transfers are not modelled).
                    Some((existing, _)) => *existing,
                    None => match owner {
                        Account::Org(key) => {
                            let org = ORGS.iter().position(|o| *o == key).unwrap();
                            if !self.orgs.contains_key(&org) {
                                return vec![];
                            }
                            owner
                        }
                        Account::User(_) => owner,
                    },
                };
                self.apps.insert(app, (owner, visibility));
                vec![app_upserted(app, owner, visibility)]
            }
            Write::DeleteApp { app } => {
                self.delete_app(app);
                vec![Change::AppDeleted { key: AppKey(app) }]
            }
            Write::SetTeamApp { team, app, role } => {
                let (Some((org, _)), Some((owner, _))) =
                    (self.teams.get(&team), self.apps.get(&app))
                else {
                    return vec![];
                };
                if *owner != Account::Org(ORGS[*org]) {
                    return vec![];
                }
                self.links.insert((team, app), role);
                vec![Change::TeamAppSet {
                    team: TeamKey(team),
                    app: AppKey(app),
                    role,
                }]
            }
            Write::RemoveTeamApp { team, app } => {
                self.links.remove(&(team, app));
                vec![Change::TeamAppRemoved {
                    team: TeamKey(team),
                    app: AppKey(app),
                }]
            }
            Write::SetCollaborator {
                app,
                user,
                permissions,
            } => {
                if !self.apps.contains_key(&app) {
                    return vec![];
                }
                self.collaborators.insert((app, user), permissions);
                vec![Change::CollaboratorSet {
                    app: AppKey(app),
                    user: user_key(user),
                    permissions,
                }]
            }
            Write::RemoveCollaborator { app, user } => {
                self.collaborators.remove(&(app, user));
                vec![Change::CollaboratorRemoved {
                    app: AppKey(app),
                    user: user_key(user),
                }]
            }
            Write::SetSso { org, enforced } => {
                let Some(sso) = self.orgs.get_mut(&org) else {
                    return vec![];
                };
                *sso = enforced;
                vec![Change::OrgSsoEnforced {
                    key: ORGS[org],
                    enforced,
                }]
            }
            Write::DeleteOrg { org } => {
                if self.orgs.remove(&org).is_some() {
                    let members: Vec<usize> = self
                        .members
                        .keys()
                        .filter(|(o, _)| *o == org)
                        .map(|(_, u)| *u)
                        .collect();
                    for user in members {
                        self.remove_member(org, user);
                    }
                    let teams: Vec<u32> = self
                        .teams
                        .iter()
                        .filter(|(_, (o, _))| *o == org)
                        .map(|(t, _)| *t)
                        .collect();
                    for team in teams {
                        self.delete_team(team);
                    }
                    let apps: Vec<u32> = self
                        .apps
                        .iter()
                        .filter(|(_, (owner, _))| *owner == Account::Org(ORGS[org]))
                        .map(|(a, _)| *a)
                        .collect();
                    for app in apps {
                        self.delete_app(app);
                    }
                }
                vec![Change::OrgDeleted { key: ORGS[org] }]
            }
            Write::CreateOrg { org } => {
                if self.orgs.contains_key(&org) {
                    return vec![];
                }
                self.orgs.insert(org, false);
                vec![org_created(org)]
            }
        }
    }

    /// The final facts, in the order a start-up load writes them.
    fn facts(&self) -> Vec<Change> {
        let mut changes: Vec<Change> = self
            .active
            .iter()
            .map(|(u, active)| user_change(*u, *active))
            .collect();
        for (org, sso) in &self.orgs {
            changes.push(org_created(*org));
            changes.push(Change::OrgSsoEnforced {
                key: ORGS[*org],
                enforced: *sso,
            });
        }
        changes.extend(
            self.members
                .iter()
                .map(|((org, user), role)| Change::MemberSet {
                    org: ORGS[*org],
                    user: user_key(*user),
                    role: *role,
                }),
        );
        changes.extend(
            self.teams
                .iter()
                .map(|(team, (org, default_role))| Change::TeamCreated {
                    key: TeamKey(*team),
                    org: ORGS[*org],
                    id: format!("team{team}"),
                    default_role: *default_role,
                }),
        );
        changes.extend(
            self.apps
                .iter()
                .map(|(app, (owner, visibility))| app_upserted(*app, *owner, *visibility)),
        );
        changes.extend(
            self.team_members
                .iter()
                .map(|(team, user)| Change::TeamMemberAdded {
                    team: TeamKey(*team),
                    user: user_key(*user),
                }),
        );
        changes.extend(
            self.links
                .iter()
                .map(|((team, app), role)| Change::TeamAppSet {
                    team: TeamKey(*team),
                    app: AppKey(*app),
                    role: *role,
                }),
        );
        changes.extend(self.collaborators.iter().map(|((app, user), permissions)| {
            Change::CollaboratorSet {
                app: AppKey(*app),
                user: user_key(*user),
                permissions: *permissions,
            }
        }));
        changes
    }
}

/// A decision with its grant paths in a canonical order: the order of `via` follows the order
/// in which teams were joined, which a rebuild cannot reproduce and nothing depends on.
fn canonical(decision: &Decision) -> (bool, Option<String>, Vec<String>, u64) {
    let mut via: Vec<String> = decision.via.iter().map(|g| format!("{g:?}")).collect();
    via.sort();
    (
        decision.allowed,
        decision.denial.map(|d| format!("{d:?}")),
        via,
        decision.revision,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Applying changes one committed write at a time, removals and cascades included, decides
    /// every (user, permission, resource) exactly like an index built from the final facts.
    #[test]
    fn incremental_equals_rebuild(ops in prop::collection::vec(op(), 10..120)) {
        let (mut model, initial) = Model::initial();
        let mut incremental = AccessIndex::new();
        incremental.apply(1, &initial);
        let mut applied = Vec::new();
        for op in &ops {
            let Some(write) = model.resolve(op) else {
                continue;
            };
            let changes = model.commit(&write);
            if !changes.is_empty() {
                incremental.apply(incremental.revision() + 1, &changes);
                applied.push(changes);
            }
        }
        let mut rebuilt = AccessIndex::new();
        rebuilt.apply(incremental.revision(), &model.facts());

        // Each user with a plain session, and with SSO sessions for both organizations (an
        // org enforcing SSO would otherwise hide every other grant from the comparison).
        let mut subjects: Vec<(String, Subject)> = (0..USERS)
            .flat_map(|u| {
                [
                    (format!("u{u}"), Subject::user(user_key(u))),
                    (format!("u{u} via SSO"), widest(user_key(u))),
                ]
            })
            .collect();
        subjects.push(("anonymous".to_owned(), Subject::anonymous()));
        for (who, subject) in &subjects {
            for resource in resources(USERS, APP_POOL as usize) {
                for permission in Permission::ALL.iter().copied() {
                    let after_changes = check(&incremental, subject, permission, resource);
                    let from_scratch = check(&rebuilt, subject, permission, resource);
                    prop_assert_eq!(
                        canonical(&after_changes),
                        canonical(&from_scratch),
                        "{} asking `{}` on {:?}: incremental {:?} vs rebuilt {:?}\nchanges: {:#?}\nfinal model: {:#?}",
                        who, permission, resource, after_changes, from_scratch, applied, model
                    );
                }
            }
        }
    }
}
