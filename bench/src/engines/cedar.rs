//! cedar-policy 4.14: the role matrix as policies over action groups.
//!
//! Entities: `User` (parents: its `RoleGroup` per membership and its `Team`s), `RoleGroup`
//! `"<org>#<role>"` (parent: `OrgMembers::"<org>"`), `Team`, `Org` (attributes naming its role
//! groups and members group), `App` (its org, visibility, the teams holding it per team role,
//! and collaborators per permission). Actions: one per permission, each a member of the groups
//! `role_<role>` that hold it, `team_<team role>` (the team role under the team contributor's
//! ceiling) and `collab` (what a collaboration may carry).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, Request, RestrictedExpression,
};
use portcullis_core::permissions::role_permissions;
use portcullis_core::roles::collaborator_forbidden;
use portcullis_core::{Level, OrgRole, Permission, TeamRole, Visibility};

use super::Engine;
use crate::data::{Query, QueryIds, Shape, TEAM_ROLES};

fn uid(ty: &str, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(
        EntityTypeName::from_str(ty).expect("a valid type name"),
        EntityId::new(id),
    )
}

fn attr_name(p: Permission) -> String {
    format!("c_{}", p.as_str().replace('.', "_"))
}

/// The policies: a handful, independent of the data's size.
pub fn policies() -> String {
    let mut text = String::new();
    for role in OrgRole::ALL {
        let r = role.as_str();
        text.push_str(&format!(
            "permit(principal, action in Action::\"role_{r}\", resource is Org) \
             when {{ principal in resource.r_{r} }};\n"
        ));
        if role.covers_all_apps() {
            text.push_str(&format!(
                "permit(principal, action in Action::\"role_{r}\", resource is App) \
                 when {{ principal in resource.org.r_{r} }};\n"
            ));
        }
    }
    for tr in TEAM_ROLES {
        let t = tr.as_str();
        text.push_str(&format!(
            "permit(principal, action in Action::\"team_{t}\", resource is App) \
             when {{ resource has t_{t} && principal in resource.t_{t} \
             && principal in resource.org.r_team_contributor }};\n"
        ));
    }
    text.push_str(
        "permit(principal, action == Action::\"app.view\", resource is App) \
         when { resource.visibility == \"public\" };\n\
         permit(principal, action == Action::\"app.view\", resource is App) \
         when { resource.visibility == \"org\" && principal in resource.org.members };\n",
    );
    for p in Permission::ALL {
        if p.level() == Level::App && !collaborator_forbidden().contains(*p) {
            let a = attr_name(*p);
            text.push_str(&format!(
                "permit(principal, action == Action::\"{}\", resource is App) \
                 when {{ resource has {a} && principal in resource.{a} }};\n",
                p.as_str()
            ));
        }
    }
    text
}

fn set(uids: impl IntoIterator<Item = EntityUid>) -> RestrictedExpression {
    RestrictedExpression::new_set(uids.into_iter().map(RestrictedExpression::new_entity_uid))
}

pub fn entities(shape: &Shape) -> Vec<Entity> {
    let mut out = Vec::new();
    // Actions and their groups.
    let ceiling = role_permissions(OrgRole::TeamContributor);
    for p in Permission::ALL {
        let mut parents = HashSet::new();
        for role in OrgRole::ALL {
            if role_permissions(role).contains(*p) {
                parents.insert(uid("Action", &format!("role_{}", role.as_str())));
            }
        }
        if p.level() == Level::App && ceiling.contains(*p) {
            for tr in TEAM_ROLES {
                if tr.permissions().contains(*p) {
                    parents.insert(uid("Action", &format!("team_{}", tr.as_str())));
                }
            }
        }
        out.push(Entity::new_no_attrs(uid("Action", p.as_str()), parents));
    }
    for role in OrgRole::ALL {
        out.push(Entity::new_no_attrs(
            uid("Action", &format!("role_{}", role.as_str())),
            HashSet::new(),
        ));
    }
    for tr in TEAM_ROLES {
        out.push(Entity::new_no_attrs(
            uid("Action", &format!("team_{}", tr.as_str())),
            HashSet::new(),
        ));
    }
    // Orgs, their role groups and member groups.
    for o in 0..shape.orgs {
        let org = Shape::org_handle(o);
        let members = uid("OrgMembers", &org);
        let mut attrs = HashMap::new();
        for role in OrgRole::ALL {
            let group = uid("RoleGroup", &format!("{org}#{}", role.as_str()));
            attrs.insert(
                format!("r_{}", role.as_str()),
                RestrictedExpression::new_entity_uid(group.clone()),
            );
            out.push(Entity::new_no_attrs(
                group,
                HashSet::from([members.clone()]),
            ));
        }
        attrs.insert(
            "members".into(),
            RestrictedExpression::new_entity_uid(members.clone()),
        );
        out.push(Entity::new_no_attrs(members, HashSet::new()));
        out.push(Entity::new(uid("Org", &org), attrs, HashSet::new()).expect("org entity"));
    }
    // Users with their role group and teams.
    for m in 0..shape.members() {
        let org = Shape::org_handle(shape.org_of_member(m));
        let mut parents = HashSet::new();
        parents.insert(uid(
            "RoleGroup",
            &format!("{org}#{}", shape.role(m).as_str()),
        ));
        let (teams, count) = shape.teams_of(m);
        for t in &teams[..count] {
            parents.insert(uid("Team", &team_id(*t)));
        }
        out.push(Entity::new_no_attrs(
            uid("User", &Shape::user_handle(m)),
            parents,
        ));
    }
    for t in 0..shape.teams() {
        out.push(Entity::new_no_attrs(
            uid("Team", &team_id(t)),
            HashSet::new(),
        ));
    }
    // Apps: the teams holding them per role, collaborators per permission.
    let mut holders: Vec<Vec<(i64, TeamRole)>> = vec![Vec::new(); shape.apps() as usize];
    for t in 0..shape.teams() {
        for (a, role) in shape.team_apps(t) {
            holders[a as usize].push((t, role));
        }
    }
    for a in 0..shape.apps() {
        let org = Shape::org_handle(shape.org_of_app(a));
        let mut attrs = HashMap::new();
        attrs.insert(
            "org".to_owned(),
            RestrictedExpression::new_entity_uid(uid("Org", &org)),
        );
        attrs.insert(
            "visibility".to_owned(),
            RestrictedExpression::new_string(shape.visibility(a).as_str().to_owned()),
        );
        for tr in TEAM_ROLES {
            let teams: Vec<EntityUid> = holders[a as usize]
                .iter()
                .filter(|(_, r)| *r == tr)
                .map(|(t, _)| uid("Team", &team_id(*t)))
                .collect();
            if !teams.is_empty() {
                attrs.insert(format!("t_{}", tr.as_str()), set(teams));
            }
        }
        if let Some((u, granted)) = shape.collaborator(a) {
            for p in super::hashfloor::collab_grants(granted).iter() {
                attrs.insert(attr_name(p), set([uid("User", &Shape::user_handle(u))]));
            }
        }
        out.push(
            Entity::new(uid("App", &app_id(shape, a)), attrs, HashSet::new()).expect("app entity"),
        );
    }
    let _ = Visibility::Private;
    out
}

fn team_id(t: i64) -> String {
    format!("t{t}")
}

fn app_id(shape: &Shape, a: i64) -> String {
    format!(
        "{}/{}",
        Shape::org_handle(shape.org_of_app(a)),
        shape.app_handle(a)
    )
}

#[derive(Debug)]
pub struct Cedar<'a> {
    policies: PolicySet,
    entities: Entities,
    authorizer: Authorizer,
    ids: &'a [QueryIds],
    user: EntityTypeName,
    org: EntityTypeName,
    app: EntityTypeName,
    actions: Vec<EntityUid>,
}

impl<'a> Cedar<'a> {
    pub fn build(shape: &Shape, ids: &'a [QueryIds]) -> Self {
        let policies = PolicySet::from_str(&policies()).expect("the policies parse");
        let entities = Entities::from_entities(entities(shape), None).expect("entities build");
        Self {
            policies,
            entities,
            authorizer: Authorizer::new(),
            ids,
            user: EntityTypeName::from_str("User").expect("type"),
            org: EntityTypeName::from_str("Org").expect("type"),
            app: EntityTypeName::from_str("App").expect("type"),
            actions: Permission::ALL
                .iter()
                .map(|p| uid("Action", p.as_str()))
                .collect(),
        }
    }
}

impl Engine for Cedar<'_> {
    fn check(&self, i: usize, q: &Query) -> bool {
        let ids = &self.ids[i];
        let principal =
            EntityUid::from_type_name_and_id(self.user.clone(), EntityId::new(&ids.user));
        let resource = match &ids.app {
            None => EntityUid::from_type_name_and_id(self.org.clone(), EntityId::new(&ids.org)),
            Some(app) => EntityUid::from_type_name_and_id(
                self.app.clone(),
                EntityId::new(format!("{}/{app}", ids.org)),
            ),
        };
        let action = self.actions[q.permission as usize].clone();
        let Ok(request) = Request::new(principal, action, resource, Context::empty(), None) else {
            return false;
        };
        self.authorizer
            .is_authorized(&request, &self.policies, &self.entities)
            .decision()
            == Decision::Allow
    }
}
