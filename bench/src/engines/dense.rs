//! The dense floor: interned ids, one 12-byte record per member, team→apps arrays. What a
//! purpose-built layout for this shape of data costs (one org per member, at most two teams).

use rustc_hash::FxHashMap;

use super::Engine;
use super::hashfloor::{RoleBits, VIEW, collab_mask, role_bits, team_mask, vis_code};
use crate::data::{Query, Shape, Target};

/// 12 bytes: the org, up to two teams (numbered within the org, +1; 0 = none), the role.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct Member {
    pub org: u32,
    pub teams: [u16; 2],
    pub role: u8,
    _pad: [u8; 3],
}

#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct App {
    pub org: u32,
    pub visibility: u8,
    pub has_collaborator: bool,
    _pad: [u8; 2],
}

#[derive(Debug)]
pub struct Dense {
    members: Vec<Member>,
    roles: Vec<RoleBits>,
    /// First team (global number) of each org.
    org_first_team: Vec<u32>,
    /// CSR: apps of team t are `team_apps[team_start[t]..team_start[t + 1]]`.
    team_start: Vec<u32>,
    team_apps: Vec<(u32, u64)>,
    apps: Vec<App>,
    collaborators: FxHashMap<(u32, u32), u64>,
}

impl Dense {
    pub fn build(shape: &Shape) -> Self {
        let roles: Vec<RoleBits> = portcullis_core::OrgRole::ALL
            .iter()
            .map(|r| role_bits(*r))
            .collect();
        let tpo = shape.teams_per_org();
        let org_first_team = (0..shape.orgs).map(|o| (o * tpo) as u32).collect();
        let members = (0..shape.members())
            .map(|m| {
                let o = shape.org_of_member(m);
                let (teams, count) = shape.teams_of(m);
                let mut local = [0u16; 2];
                for (slot, t) in local.iter_mut().zip(&teams[..count]) {
                    *slot = (t - o * tpo + 1) as u16;
                }
                Member {
                    org: o as u32,
                    teams: local,
                    role: shape.role(m) as u8,
                    _pad: [0; 3],
                }
            })
            .collect();
        let mut team_start = Vec::with_capacity(shape.teams() as usize + 1);
        let mut team_apps = Vec::new();
        for t in 0..shape.teams() {
            team_start.push(team_apps.len() as u32);
            team_apps.extend(shape.team_apps(t).map(|(a, r)| (a as u32, team_mask(r))));
        }
        team_start.push(team_apps.len() as u32);
        let mut collaborators = FxHashMap::default();
        let apps = (0..shape.apps())
            .map(|a| {
                let collab = shape.collaborator(a);
                if let Some((u, set)) = collab {
                    collaborators.insert((a as u32, u as u32), collab_mask(set));
                }
                App {
                    org: shape.org_of_app(a) as u32,
                    visibility: vis_code(shape.visibility(a)),
                    has_collaborator: collab.is_some(),
                    _pad: [0; 2],
                }
            })
            .collect();
        team_apps.shrink_to_fit();
        Self {
            members,
            roles,
            org_first_team,
            team_start,
            team_apps,
            apps,
            collaborators,
        }
    }
}

impl Engine for Dense {
    #[inline]
    fn check(&self, _: usize, q: &Query) -> bool {
        let bit = q.permission.bit();
        let Some(member) = self.members.get(q.user as usize) else {
            return false;
        };
        let role = self.roles[member.role as usize];
        match q.target {
            Target::Org(o) => member.org == o && role.mask & bit != 0,
            Target::App(a) => {
                let Some(app) = self.apps.get(a as usize) else {
                    return false;
                };
                if bit == VIEW && app.visibility == 2 {
                    return true;
                }
                if member.org == app.org {
                    if role.mask & bit != 0 {
                        if role.all_apps {
                            return true;
                        }
                        if role.team {
                            let first = self.org_first_team[app.org as usize];
                            for local in member.teams {
                                if local == 0 {
                                    continue;
                                }
                                let t = (first + u32::from(local) - 1) as usize;
                                let span =
                                    self.team_start[t] as usize..self.team_start[t + 1] as usize;
                                if self.team_apps[span]
                                    .iter()
                                    .any(|(x, m)| *x == a && m & bit != 0)
                                {
                                    return true;
                                }
                            }
                        }
                    }
                    if bit == VIEW && app.visibility == 1 {
                        return true;
                    }
                }
                app.has_collaborator
                    && self
                        .collaborators
                        .get(&(a, q.user))
                        .is_some_and(|m| m & bit != 0)
            }
        }
    }
}
