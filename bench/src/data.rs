//! The Clarifai-shaped data set, generated from pure integer formulas so the same facts can be
//! produced in Rust (for the in-memory engines) and in set-based SQL (for the cold-start
//! measurements on SQLite and PostgreSQL): see [`crate::sql`].
//!
//! Per organization: `members_per_org` members (a role mix with many team contributors), teams
//! of `team_size` members (some members in a second team), each team holding
//! `apps_per_team` of the org's `apps_per_org` apps with mixed team roles, app visibility
//! mostly private, and one app in ten with an outside collaborator.
//!
//! Row ids (the index keys): orgs are accounts `1..=orgs`, users the accounts after them; apps
//! and teams are numbered from 1 in org order.

use portcullis_core::{OrgRole, Permission, PermissionSet, TeamRole, Visibility};

/// The fixed seed of every published run.
pub const SEED: i64 = 8;

/// `(x * 1103515245 + 12345) mod 2^31`: stays far below `i64::MAX` for any input the data
/// set produces, in Rust, SQLite and PostgreSQL alike.
#[inline]
pub fn lcg(x: i64) -> i64 {
    (x * 1_103_515_245 + 12_345) % 2_147_483_648
}

/// A pseudo-random number in `0..32768` for `x` and a `salt`, identical to [`hash_sql`].
#[inline]
pub fn hash(seed: i64, x: i64, salt: i64) -> i64 {
    lcg(lcg(x + salt * 1_000_003 + seed) + x) / 65_536
}

/// The SQL text of [`hash`] over an integer SQL expression `x`.
pub fn hash_sql(seed: i64, x: &str, salt: i64) -> String {
    let s = salt * 1_000_003 + seed;
    format!(
        "((((((({x}) + {s}) * 1103515245 + 12345) % 2147483648) + ({x})) * 1103515245 + 12345) % 2147483648 / 65536)"
    )
}

/// Team roles in the order the formulas pick them.
pub const TEAM_ROLES: [TeamRole; 4] = [
    TeamRole::FullAccess,
    TeamRole::ModelTrainer,
    TeamRole::LabelerLead,
    TeamRole::LabelerWorker,
];

/// Collaborator permission sets the formulas pick from (the last ones carry permissions a
/// collaboration may never hold, which every engine must ignore).
pub const COLLAB_SETS: [&str; 3] = [
    "app.view models.create",
    "app.view collaborators.view base_workflow.view app.delete",
    "app.edit_notes modules.use app.edit_id",
];

/// The role of member `j` (its place in the org, 0-based) from its hash `r` in `0..100`.
/// Member 0 of every org is an administrator.
pub fn role_from(j: i64, r: i64) -> OrgRole {
    if j == 0 || r < 2 {
        OrgRole::Admin
    } else if r < 7 {
        OrgRole::OrgContributor
    } else if r < 17 {
        OrgRole::OrgUser
    } else if r < 19 {
        OrgRole::FinancialManager
    } else if r < 21 {
        OrgRole::InfrastructureManager
    } else {
        OrgRole::TeamContributor
    }
}

/// The same choice in SQL, over `j` and the hash `r`.
pub fn role_sql(j: &str, r: &str) -> String {
    format!(
        "CASE WHEN {j} = 0 OR {r} < 2 THEN 'admin' WHEN {r} < 7 THEN 'org_contributor' \
         WHEN {r} < 17 THEN 'org_user' WHEN {r} < 19 THEN 'financial_manager' \
         WHEN {r} < 21 THEN 'infrastructure_manager' ELSE 'team_contributor' END"
    )
}

pub fn visibility_from(v: i64) -> Visibility {
    match v {
        0 => Visibility::Public,
        1 | 2 => Visibility::Org,
        _ => Visibility::Private,
    }
}

/// Salts of the formulas.
pub mod salt {
    pub const ROLE: i64 = 1;
    pub const SECOND_TEAM: i64 = 2;
    pub const SECOND_TEAM_WHICH: i64 = 3;
    pub const TEAM_APP_BASE: i64 = 4;
    pub const TEAM_APP_ROLE: i64 = 5;
    pub const VISIBILITY: i64 = 6;
    pub const COLLAB: i64 = 7;
    pub const COLLAB_USER_HI: i64 = 8;
    pub const COLLAB_USER_LO: i64 = 9;
    pub const COLLAB_SET: i64 = 10;
}

/// Stride between the apps of one team (coprime with `apps_per_org`, so they are distinct).
pub const TEAM_APP_STRIDE: i64 = 13;

#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub orgs: i64,
    pub members_per_org: i64,
    pub apps_per_org: i64,
    pub team_size: i64,
    pub apps_per_team: i64,
    pub seed: i64,
}

impl Shape {
    /// `members` in orgs of 1,000 (fewer members: one org of them all), 100 apps per org.
    pub fn with_members(members: i64) -> Self {
        let per_org = members.clamp(1, 1000);
        Self {
            orgs: (members / per_org).max(1),
            members_per_org: per_org,
            apps_per_org: 100,
            team_size: 20,
            apps_per_team: 10,
            seed: SEED,
        }
    }

    pub fn members(&self) -> i64 {
        self.orgs * self.members_per_org
    }

    pub fn apps(&self) -> i64 {
        self.orgs * self.apps_per_org
    }

    pub fn teams_per_org(&self) -> i64 {
        (self.members_per_org + self.team_size - 1) / self.team_size
    }

    pub fn teams(&self) -> i64 {
        self.orgs * self.teams_per_org()
    }

    fn h(&self, x: i64, salt: i64) -> i64 {
        hash(self.seed, x, salt)
    }

    // ---- ids ----

    pub fn org_id(&self, o: i64) -> i64 {
        o + 1
    }

    pub fn user_id(&self, m: i64) -> i64 {
        self.orgs + m + 1
    }

    pub fn app_id(&self, a: i64) -> i64 {
        a + 1
    }

    pub fn team_id(&self, t: i64) -> i64 {
        t + 1
    }

    pub fn org_handle(o: i64) -> String {
        format!("org{o}")
    }

    pub fn user_handle(m: i64) -> String {
        format!("u{m}")
    }

    /// Apps are named per owner.
    pub fn app_handle(&self, a: i64) -> String {
        format!("app{}", a % self.apps_per_org)
    }

    pub fn team_handle(&self, t: i64) -> String {
        format!("team{}", t % self.teams_per_org())
    }

    // ---- facts ----

    pub fn org_of_member(&self, m: i64) -> i64 {
        m / self.members_per_org
    }

    pub fn org_of_app(&self, a: i64) -> i64 {
        a / self.apps_per_org
    }

    pub fn role(&self, m: i64) -> OrgRole {
        let j = m % self.members_per_org;
        role_from(j, self.h(m, salt::ROLE) % 100)
    }

    /// The teams (global numbers) of member `m`: one, and a second for about 5 %.
    pub fn teams_of(&self, m: i64) -> ([i64; 2], usize) {
        let o = self.org_of_member(m);
        let tpo = self.teams_per_org();
        let local = (m % self.members_per_org) / self.team_size;
        let first = o * tpo + local;
        if let Some(second) = self.second_team_local(m) {
            ([first, o * tpo + second], 2)
        } else {
            ([first, 0], 1)
        }
    }

    fn second_team_local(&self, m: i64) -> Option<i64> {
        let tpo = self.teams_per_org();
        if tpo < 2 || self.h(m, salt::SECOND_TEAM) % 100 >= 5 {
            return None;
        }
        let local = (m % self.members_per_org) / self.team_size;
        Some((local + 1 + self.h(m, salt::SECOND_TEAM_WHICH) % (tpo - 1)) % tpo)
    }

    /// The apps (global numbers) team `t` holds, with its role on each.
    pub fn team_apps(&self, t: i64) -> impl Iterator<Item = (i64, TeamRole)> + '_ {
        let o = t / self.teams_per_org();
        let base = self.h(t, salt::TEAM_APP_BASE) % self.apps_per_org;
        (0..self.apps_per_team).map(move |i| {
            let local = (base + TEAM_APP_STRIDE * i) % self.apps_per_org;
            let role = TEAM_ROLES[(self.h(t * 16 + i, salt::TEAM_APP_ROLE) % 4) as usize];
            (o * self.apps_per_org + local, role)
        })
    }

    pub fn visibility(&self, a: i64) -> Visibility {
        visibility_from(self.h(a, salt::VISIBILITY) % 10)
    }

    /// The collaborator of app `a` (a member of some org, usually another) and its grant.
    pub fn collaborator(&self, a: i64) -> Option<(i64, PermissionSet)> {
        if self.h(a, salt::COLLAB) % 10 != 0 {
            return None;
        }
        let user = (self.h(a, salt::COLLAB_USER_HI) * 32_768 + self.h(a, salt::COLLAB_USER_LO))
            % self.members();
        let set = COLLAB_SETS[(self.h(a, salt::COLLAB_SET) % 3) as usize];
        Some((user, parse_set(set)))
    }
}

pub fn parse_set(raw: &str) -> PermissionSet {
    PermissionSet::parse_scopes(raw.split_whitespace()).unwrap_or(PermissionSet::EMPTY)
}

/// What a query is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Org(u32),
    App(u32),
}

/// One check: does member `user` hold `permission` on `target`?
#[derive(Debug, Clone, Copy)]
pub struct Query {
    pub user: u32,
    pub permission: Permission,
    pub target: Target,
}

/// splitmix64, for the query stream (which only Rust produces).
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: i64) -> i64 {
        (self.next_u64() % n.max(1) as u64) as i64
    }

    pub fn percent(&mut self) -> i64 {
        self.below(100)
    }
}

/// The mixed stream: 80 % members of the resource's org (20 % outsiders), 30 % org-level
/// permissions, app-level checks on apps of the member's teams and outside them, on apps
/// with a collaborator asked by that collaborator, and `app.view` often enough to exercise
/// visibility.
pub fn queries(shape: &Shape, n: usize) -> Vec<Query> {
    let org_perms: Vec<Permission> = Permission::ALL
        .iter()
        .copied()
        .filter(|p| p.level() == portcullis_core::Level::Org)
        .collect();
    let app_perms: Vec<Permission> = Permission::ALL
        .iter()
        .copied()
        .filter(|p| p.level() == portcullis_core::Level::App)
        .collect();
    let mut rng = Rng::new(shape.seed as u64 ^ 0x5EED);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let o = rng.below(shape.orgs);
        let member = if rng.percent() < 80 || shape.orgs == 1 {
            o * shape.members_per_org + rng.below(shape.members_per_org)
        } else {
            let other = (o + 1 + rng.below(shape.orgs - 1)) % shape.orgs;
            other * shape.members_per_org + rng.below(shape.members_per_org)
        };
        if rng.percent() < 30 {
            let permission = org_perms[rng.below(org_perms.len() as i64) as usize];
            out.push(Query {
                user: member as u32,
                permission,
                target: Target::Org(o as u32),
            });
            continue;
        }
        let permission = if rng.percent() < 30 {
            Permission::AppView
        } else {
            app_perms[rng.below(app_perms.len() as i64) as usize]
        };
        let pick = rng.percent();
        let (user, app) = if pick < 5 {
            // An app with a collaborator, asked by the collaborator (or by the member).
            let mut found = None;
            for _ in 0..64 {
                let a = rng.below(shape.apps());
                if let Some((u, _)) = shape.collaborator(a) {
                    found = Some((u, a));
                    break;
                }
            }
            found.unwrap_or((member, o * shape.apps_per_org))
        } else if pick < 55 && shape.org_of_member(member) == o {
            // One of the member's teams' apps.
            let (teams, count) = shape.teams_of(member);
            let t = teams[rng.below(count as i64) as usize];
            let i = rng.below(shape.apps_per_team) as usize;
            let (a, _) = shape
                .team_apps(t)
                .nth(i)
                .unwrap_or((o * shape.apps_per_org, TeamRole::LabelerWorker));
            (member, a)
        } else {
            (
                member,
                o * shape.apps_per_org + rng.below(shape.apps_per_org),
            )
        };
        out.push(Query {
            user: user as u32,
            permission,
            target: Target::App(app as u32),
        });
    }
    out
}

/// The external ids of a query, as a caller would send them.
#[derive(Debug, Clone)]
pub struct QueryIds {
    pub user: String,
    pub org: String,
    /// For app-level queries, the app's handle (owned by `org`).
    pub app: Option<String>,
}

pub fn query_ids(shape: &Shape, queries: &[Query]) -> Vec<QueryIds> {
    queries
        .iter()
        .map(|q| {
            let user = Shape::user_handle(q.user.into());
            match q.target {
                Target::Org(o) => QueryIds {
                    user,
                    org: Shape::org_handle(o.into()),
                    app: None,
                },
                Target::App(a) => QueryIds {
                    user,
                    org: Shape::org_handle(shape.org_of_app(a.into())),
                    app: Some(shape.app_handle(a.into())),
                },
            }
        })
        .collect()
}
