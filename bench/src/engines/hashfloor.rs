//! The hash-map floor: a role bitmask per (user, org), team→apps and user→teams maps, the
//! matrix compiled to masks. The least a hash-based engine has to do per check.

use portcullis_core::permissions::role_permissions;
use portcullis_core::roles::collaborator_forbidden;
use portcullis_core::{OrgRole, Permission, PermissionSet, TeamRole, Visibility};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use super::Engine;
use crate::data::{Query, Shape, Target};

/// Per role: its mask, whether it covers every app, whether it is the team contributor.
#[derive(Debug, Clone, Copy)]
pub struct RoleBits {
    pub mask: u64,
    pub all_apps: bool,
    pub team: bool,
}

pub fn role_bits(role: OrgRole) -> RoleBits {
    RoleBits {
        mask: role_permissions(role).bits(),
        all_apps: role.covers_all_apps(),
        team: role == OrgRole::TeamContributor,
    }
}

/// A team role on an app, under the team contributor's ceiling.
pub fn team_mask(role: TeamRole) -> u64 {
    role_permissions(OrgRole::TeamContributor)
        .intersection(role.permissions())
        .bits()
}

/// What a collaboration carries: its grants less the ones a collaborator may never hold, and
/// seeing the app as soon as it carries anything.
pub fn collab_grants(granted: PermissionSet) -> PermissionSet {
    let carried = granted.difference(collaborator_forbidden());
    if carried.is_empty() {
        carried
    } else {
        carried.with(Permission::AppView)
    }
}

pub fn collab_mask(granted: PermissionSet) -> u64 {
    collab_grants(granted).bits()
}

pub const VIEW: u64 = 1 << (Permission::AppView as u8);

pub fn vis_code(v: Visibility) -> u8 {
    match v {
        Visibility::Private => 0,
        Visibility::Org => 1,
        Visibility::Public => 2,
    }
}

#[derive(Debug, Default)]
pub struct HashFloor {
    roles: FxHashMap<(u32, u32), RoleBits>,
    user_teams: FxHashMap<u32, SmallVec<[u32; 2]>>,
    team_apps: FxHashMap<u32, Vec<(u32, u64)>>,
    apps: FxHashMap<u32, (u32, u8)>,
    collaborators: FxHashMap<(u32, u32), u64>,
}

impl HashFloor {
    pub fn build(shape: &Shape) -> Self {
        let mut f = Self::default();
        for m in 0..shape.members() {
            let o = shape.org_of_member(m) as u32;
            f.roles.insert((m as u32, o), role_bits(shape.role(m)));
            let (teams, count) = shape.teams_of(m);
            f.user_teams
                .insert(m as u32, teams[..count].iter().map(|t| *t as u32).collect());
        }
        for t in 0..shape.teams() {
            let apps = shape
                .team_apps(t)
                .map(|(a, role)| (a as u32, team_mask(role)))
                .collect();
            f.team_apps.insert(t as u32, apps);
        }
        for a in 0..shape.apps() {
            f.apps.insert(
                a as u32,
                (shape.org_of_app(a) as u32, vis_code(shape.visibility(a))),
            );
            if let Some((u, set)) = shape.collaborator(a) {
                f.collaborators
                    .insert((a as u32, u as u32), collab_mask(set));
            }
        }
        f
    }
}

impl Engine for HashFloor {
    #[inline]
    fn check(&self, _: usize, q: &Query) -> bool {
        let bit = q.permission.bit();
        match q.target {
            Target::Org(o) => self
                .roles
                .get(&(q.user, o))
                .is_some_and(|r| r.mask & bit != 0),
            Target::App(a) => {
                let Some(&(org, vis)) = self.apps.get(&a) else {
                    return false;
                };
                if bit == VIEW && vis == 2 {
                    return true;
                }
                if let Some(r) = self.roles.get(&(q.user, org)) {
                    if r.mask & bit != 0 {
                        if r.all_apps {
                            return true;
                        }
                        if r.team
                            && let Some(teams) = self.user_teams.get(&q.user)
                        {
                            for t in teams {
                                if let Some(apps) = self.team_apps.get(t)
                                    && apps.iter().any(|(x, m)| *x == a && m & bit != 0)
                                {
                                    return true;
                                }
                            }
                        }
                    }
                    if bit == VIEW && vis == 1 {
                        return true;
                    }
                }
                self.collaborators
                    .get(&(a, q.user))
                    .is_some_and(|m| m & bit != 0)
            }
        }
    }
}
