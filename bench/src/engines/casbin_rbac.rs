//! casbin 2.20: RBAC with domains.
//!
//! `g(user, role, org)`: the member's role in its org (every role inherits `member` in the
//! org); `g2(permission, group)`: action groups (`role:<role>` per role, `team:<team role>`
//! for a team role under the team contributor's ceiling); `g3`: user → team → `<app>|<team
//! role>` links, user → `<app>|collab:<permission>` grants and app → `public` / `orgvis`.
//! A dozen `p` rules dispatch on a type column, so each check evaluates a dozen matchers.

use casbin::prelude::*;
use portcullis_core::permissions::role_permissions;
use portcullis_core::{Level, OrgRole, Permission, Visibility};

use super::Engine;
use crate::data::{Query, QueryIds, Shape, TEAM_ROLES};

pub const MODEL: &str = r##"
[request_definition]
r = sub, dom, kind, obj, act

[policy_definition]
p = typ, sub, kind, act

[role_definition]
g = _, _, _
g2 = _, _
g3 = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = (p.typ == "role" && r.kind == p.kind && g(r.sub, p.sub, r.dom) && g2(r.act, p.act)) || (p.typ == "team" && r.kind == "app" && g2(r.act, p.act) && g(r.sub, "team_contributor", r.dom) && g3(r.sub, r.obj + "|" + p.sub)) || (p.typ == "public" && r.kind == "app" && r.act == "app.view" && g3(r.obj, "public")) || (p.typ == "orgvis" && r.kind == "app" && r.act == "app.view" && g3(r.obj, "orgvis") && g(r.sub, "member", r.dom)) || (p.typ == "collab" && r.kind == "app" && g3(r.sub, r.obj + "|collab:" + r.act))
"##;

fn s(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| (*p).to_owned()).collect()
}

pub fn policies() -> Vec<Vec<String>> {
    let mut p = Vec::new();
    for role in OrgRole::ALL {
        let r = role.as_str();
        let group = format!("role:{r}");
        p.push(s(&["role", r, "org", &group]));
        if role.covers_all_apps() {
            p.push(s(&["role", r, "app", &group]));
        }
    }
    for tr in TEAM_ROLES {
        p.push(s(&[
            "team",
            tr.as_str(),
            "app",
            &format!("team:{}", tr.as_str()),
        ]));
    }
    p.push(s(&["public", "-", "app", "-"]));
    p.push(s(&["orgvis", "-", "app", "-"]));
    p.push(s(&["collab", "-", "app", "-"]));
    p
}

/// Casbin rules, one string per field.
type Rules = Vec<Vec<String>>;

/// `(g, g2, g3)` rules.
pub fn groupings(shape: &Shape) -> (Rules, Rules, Rules) {
    let mut g = Vec::new();
    let mut g2 = Vec::new();
    let mut g3 = Vec::new();
    let ceiling = role_permissions(OrgRole::TeamContributor);
    for p in Permission::ALL {
        for role in OrgRole::ALL {
            if role_permissions(role).contains(*p) {
                g2.push(s(&[p.as_str(), &format!("role:{}", role.as_str())]));
            }
        }
        if p.level() == Level::App && ceiling.contains(*p) {
            for tr in TEAM_ROLES {
                if tr.permissions().contains(*p) {
                    g2.push(s(&[p.as_str(), &format!("team:{}", tr.as_str())]));
                }
            }
        }
    }
    for o in 0..shape.orgs {
        let org = Shape::org_handle(o);
        for role in OrgRole::ALL {
            g.push(s(&[role.as_str(), "member", &org]));
        }
    }
    for m in 0..shape.members() {
        let org = Shape::org_handle(shape.org_of_member(m));
        let user = Shape::user_handle(m);
        g.push(s(&[&user, shape.role(m).as_str(), &org]));
        let (teams, count) = shape.teams_of(m);
        for t in &teams[..count] {
            g3.push(s(&[&user, &format!("team:{t}")]));
        }
    }
    for t in 0..shape.teams() {
        for (a, role) in shape.team_apps(t) {
            g3.push(s(&[
                &format!("team:{t}"),
                &format!("{}|{}", app_id(shape, a), role.as_str()),
            ]));
        }
    }
    for a in 0..shape.apps() {
        let app = app_id(shape, a);
        match shape.visibility(a) {
            Visibility::Public => g3.push(s(&[&app, "public"])),
            Visibility::Org => g3.push(s(&[&app, "orgvis"])),
            Visibility::Private => {}
        }
        if let Some((u, granted)) = shape.collaborator(a) {
            for p in super::hashfloor::collab_grants(granted).iter() {
                g3.push(s(&[
                    &Shape::user_handle(u),
                    &format!("{app}|collab:{}", p.as_str()),
                ]));
            }
        }
    }
    (g, g2, g3)
}

fn app_id(shape: &Shape, a: i64) -> String {
    format!(
        "{}/{}",
        Shape::org_handle(shape.org_of_app(a)),
        shape.app_handle(a)
    )
}

pub struct Casbin<'a> {
    enforcer: Enforcer,
    ids: &'a [QueryIds],
}

impl std::fmt::Debug for Casbin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Casbin")
    }
}

impl<'a> Casbin<'a> {
    pub async fn build(shape: &Shape, ids: &'a [QueryIds]) -> Self {
        let model = DefaultModel::from_str(MODEL)
            .await
            .expect("the model parses");
        let mut enforcer = Enforcer::new(model, MemoryAdapter::default())
            .await
            .expect("an enforcer");
        enforcer.add_policies(policies()).await.expect("policies");
        let (g, g2, g3) = groupings(shape);
        for (name, rules) in [("g", g), ("g2", g2), ("g3", g3)] {
            for chunk in rules.chunks(100_000) {
                enforcer
                    .add_named_grouping_policies(name, chunk.to_vec())
                    .await
                    .expect("grouping policies");
            }
        }
        Self { enforcer, ids }
    }
}

impl Engine for Casbin<'_> {
    fn check(&self, i: usize, q: &Query) -> bool {
        let ids = &self.ids[i];
        let (kind, obj) = match &ids.app {
            None => ("org", ids.org.clone()),
            Some(app) => ("app", format!("{}/{app}", ids.org)),
        };
        self.enforcer
            .enforce((
                ids.user.as_str(),
                ids.org.as_str(),
                kind,
                obj.as_str(),
                q.permission.as_str(),
            ))
            .unwrap_or(false)
    }
}
