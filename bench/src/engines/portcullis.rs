//! Portcullis itself: the real [`AccessIndex`] and [`portcullis_core::check`].

use portcullis_core::index::Account;
use portcullis_core::{
    AccessIndex, AppKey, Change, OrgKey, Resource, Subject, TeamKey, UserKey, check,
};

use super::Engine;
use crate::data::{Query, QueryIds, Shape, Target};

/// The changes the store would hand the index at start-up, in `load_index` order.
pub fn changes(shape: &Shape) -> Vec<Change> {
    let key = |id: i64| u32::try_from(id).unwrap_or(u32::MAX);
    let mut changes = Vec::new();
    for m in 0..shape.members() {
        changes.push(Change::UserUpserted {
            key: UserKey(key(shape.user_id(m))),
            id: Shape::user_handle(m),
            active: true,
            operator: false,
        });
    }
    for o in 0..shape.orgs {
        changes.push(Change::OrgCreated {
            key: OrgKey(key(shape.org_id(o))),
            id: Shape::org_handle(o),
        });
    }
    for m in 0..shape.members() {
        changes.push(Change::MemberSet {
            org: OrgKey(key(shape.org_id(shape.org_of_member(m)))),
            user: UserKey(key(shape.user_id(m))),
            role: shape.role(m),
        });
    }
    for a in 0..shape.apps() {
        changes.push(Change::AppUpserted {
            key: AppKey(key(shape.app_id(a))),
            owner: Account::Org(OrgKey(key(shape.org_id(shape.org_of_app(a))))),
            id: shape.app_handle(a),
            visibility: shape.visibility(a),
        });
    }
    for t in 0..shape.teams() {
        changes.push(Change::TeamCreated {
            key: TeamKey(key(shape.team_id(t))),
            org: OrgKey(key(shape.org_id(t / shape.teams_per_org()))),
            id: shape.team_handle(t),
            default_role: portcullis_core::TeamRole::LabelerWorker,
        });
    }
    for m in 0..shape.members() {
        let (teams, count) = shape.teams_of(m);
        for t in &teams[..count] {
            changes.push(Change::TeamMemberAdded {
                team: TeamKey(key(shape.team_id(*t))),
                user: UserKey(key(shape.user_id(m))),
            });
        }
    }
    for t in 0..shape.teams() {
        for (a, role) in shape.team_apps(t) {
            changes.push(Change::TeamAppSet {
                team: TeamKey(key(shape.team_id(t))),
                app: AppKey(key(shape.app_id(a))),
                role,
            });
        }
    }
    for a in 0..shape.apps() {
        if let Some((user, permissions)) = shape.collaborator(a) {
            changes.push(Change::CollaboratorSet {
                app: AppKey(key(shape.app_id(a))),
                user: UserKey(key(shape.user_id(user))),
                permissions,
            });
        }
    }
    changes
}

pub fn build(shape: &Shape) -> AccessIndex {
    let changes = changes(shape);
    let mut index = AccessIndex::new();
    index.apply(1, &changes);
    index
}

/// Checks with keys resolved before the call (as the service holds them after parsing).
#[derive(Debug)]
pub struct Keyed<'a> {
    pub index: &'a AccessIndex,
    pub orgs: u32,
}

impl Keyed<'_> {
    #[inline]
    pub fn resource(&self, target: Target) -> Resource {
        match target {
            Target::Org(o) => Resource::Account(Account::Org(OrgKey(o + 1))),
            Target::App(a) => Resource::App(AppKey(a + 1)),
        }
    }
}

impl Engine for Keyed<'_> {
    #[inline]
    fn check(&self, _: usize, q: &Query) -> bool {
        let subject = Subject::user(UserKey(self.orgs + q.user + 1));
        check(self.index, &subject, q.permission, self.resource(q.target)).allowed
    }
}

/// Checks that first resolve the external ids through the index, as `POST /v1/check` does.
#[derive(Debug)]
pub struct ByIds<'a> {
    pub index: &'a AccessIndex,
    pub ids: &'a [QueryIds],
}

impl Engine for ByIds<'_> {
    #[inline]
    fn check(&self, i: usize, q: &Query) -> bool {
        let ids = &self.ids[i];
        let Some(user) = self.index.user_by_id(&ids.user) else {
            return false;
        };
        let Some(org) = self.index.org_by_id(&ids.org) else {
            return false;
        };
        let resource = match &ids.app {
            None => Resource::Account(Account::Org(org)),
            Some(app) => match self.index.app_by_id(Account::Org(org), app) {
                Some(key) => Resource::App(key),
                None => return false,
            },
        };
        check(self.index, &Subject::user(user), q.permission, resource).allowed
    }
}
