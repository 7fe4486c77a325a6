//! Every view of one question gives the same answer. Over random populations (members in
//! every role, outsiders, teams linking apps with every team role, apps of every visibility,
//! collaborators with random grants), for each user, app and app-level permission: the check
//! about oneself, the check by an administrator, one's own effective permissions, the access
//! review's matrix (for members) and, for `app.view`, the app's own endpoint agree cell by cell.
//! In particular a collaborator, whatever it was granted, sees the app it collaborates on.

use std::sync::Arc;

use portcullis_core::roles::collaborator_forbidden;
use portcullis_core::{
    AccountId, Email, FixedClock, Level, OrgRole, Permission, TeamRole, Visibility,
};
use portcullis_service::apps::AppInput;
use portcullis_service::check::{CheckRequest, CheckResource, CheckSubject, Consistency};
use portcullis_service::store::testing::fresh_store_of;
use portcullis_service::store::{Actor, Backend, NewOrg, NewUser};
use portcullis_service::{Caller, Portcullis, ServiceConfig};
use proptest::prelude::*;

const T0: i64 = 1_700_000_000_000;
const USERS: usize = 5;
const APPS: usize = 3;
const TEAMS: usize = 2;

/// Roles a non-creator may hold (`None`: not a member).
const ROLES: [OrgRole; 5] = [
    OrgRole::OrgContributor,
    OrgRole::TeamContributor,
    OrgRole::OrgUser,
    OrgRole::InfrastructureManager,
    OrgRole::FinancialManager,
];

#[derive(Debug, Clone)]
struct Population {
    /// Users 1..=3 (user 0 is the admin, user 4 always an outsider).
    roles: [Option<usize>; 3],
    visibility: [usize; APPS],
    /// Per team, which of users 1..=3 are in it (members only).
    team_members: [[bool; 3]; TEAMS],
    /// Per team and app, the team role linking them.
    team_apps: [[Option<usize>; APPS]; TEAMS],
    /// Per user 1..=4 and app, a collaboration: indexes into the grantable permissions.
    collaborations: [[Option<(usize, usize)>; APPS]; 4],
}

fn population() -> impl Strategy<Value = Population> {
    (
        prop::array::uniform3(prop::option::of(0..ROLES.len())),
        prop::array::uniform3(0..3usize),
        prop::array::uniform2(prop::array::uniform3(any::<bool>())),
        prop::array::uniform2(prop::array::uniform3(prop::option::of(0..4usize))),
        prop::array::uniform4(prop::array::uniform3(prop::option::weighted(
            0.4,
            (0..64usize, 0..64usize),
        ))),
    )
        .prop_map(
            |(roles, visibility, team_members, team_apps, collaborations)| Population {
                roles,
                visibility,
                team_members,
                team_apps,
                collaborations,
            },
        )
}

fn grantable() -> Vec<Permission> {
    Permission::ALL
        .iter()
        .copied()
        .filter(|p| p.level() == Level::App && !collaborator_forbidden().contains(*p))
        .collect()
}

fn app_permissions() -> Vec<Permission> {
    Permission::ALL
        .iter()
        .copied()
        .filter(|p| p.level() == Level::App)
        .collect()
}

async fn build(
    p: &Population,
) -> (
    Arc<Portcullis>,
    Vec<portcullis_core::UserKey>,
    portcullis_service::store::testing::TestStore,
) {
    let test_store = fresh_store_of(Backend::Sqlite).await.unwrap();
    let store = test_store.store.clone();
    let mut w = store.begin_write(&Actor::system(), T0).await.unwrap();
    let mut users = Vec::new();
    for i in 0..USERS {
        users.push(
            w.create_user(&NewUser {
                id: AccountId::parse(&format!("u{i}")).unwrap(),
                email: Email::parse(&format!("u{i}@example.com")).unwrap(),
                first_name: "U".into(),
                last_name: format!("{i}"),
                password_hash: None,
                operator: false,
            })
            .await
            .unwrap(),
        );
    }
    let org = w
        .create_org(
            &NewOrg {
                id: AccountId::parse("acme").unwrap(),
                name: "Acme".into(),
                billing_email: Email::parse("billing@example.com").unwrap(),
            },
            users[0],
        )
        .await
        .unwrap();
    for (i, role) in p.roles.iter().enumerate() {
        if let Some(role) = role {
            w.add_member(org, users[i + 1], ROLES[*role]).await.unwrap();
        }
    }
    w.commit().await.unwrap();
    let service = Portcullis::start(
        store,
        Arc::new(FixedClock::at(T0)),
        ServiceConfig::default(),
    )
    .await
    .unwrap();
    let admin = Caller::user_directly(users[0]);
    for (a, visibility) in p.visibility.iter().enumerate() {
        service
            .create_app(
                &admin,
                "acme",
                AppInput {
                    id: format!("a{a}"),
                    name: format!("A{a}"),
                    description: None,
                    notes: None,
                    visibility: Some(Visibility::ALL[*visibility].as_str().to_owned()),
                },
            )
            .await
            .unwrap();
    }
    for t in 0..TEAMS {
        service
            .create_team(&admin, "acme", &format!("t{t}"), &format!("T{t}"), None)
            .await
            .unwrap();
        for (i, member) in p.team_members[t].iter().enumerate() {
            if *member && p.roles[i].is_some() {
                service
                    .add_team_member(&admin, "acme", &format!("t{t}"), &format!("u{}", i + 1))
                    .await
                    .unwrap();
            }
        }
        for (a, role) in p.team_apps[t].iter().enumerate() {
            if let Some(role) = role {
                service
                    .set_team_app(
                        &admin,
                        "acme",
                        &format!("t{t}"),
                        &format!("a{a}"),
                        Some(TeamRole::ALL[*role].as_str()),
                        None,
                    )
                    .await
                    .unwrap();
            }
        }
    }
    let grantable = grantable();
    for (u, apps) in p.collaborations.iter().enumerate() {
        for (a, grant) in apps.iter().enumerate() {
            if let Some((x, y)) = grant {
                let mut granted = vec![grantable[x % grantable.len()].as_str().to_owned()];
                granted.push(grantable[y % grantable.len()].as_str().to_owned());
                granted.dedup();
                service
                    .set_collaborator(
                        &admin,
                        "acme",
                        &format!("a{a}"),
                        &format!("u{}", u + 1),
                        &granted,
                    )
                    .await
                    .unwrap();
            }
        }
    }
    (service, users, test_store)
}

fn ask(user: &str, permission: Permission, app: &str) -> CheckRequest {
    CheckRequest {
        subject: CheckSubject::User(user.to_owned()),
        permission: permission.as_str().to_owned(),
        resource: CheckResource::App {
            account: "acme".into(),
            app: app.to_owned(),
        },
        consistency: Consistency::Latest,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_view_of_a_permission_agrees(p in population()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (service, users, _store) = build(&p).await;
            let admin = Caller::user_directly(users[0]);
            let matrix = service.access_matrix(&admin, "acme").unwrap();
            for (u, key) in users.iter().enumerate().skip(1) {
                let id = format!("u{u}");
                let me = Caller::user_directly(*key);
                let member = u < 4 && p.roles[u - 1].is_some();
                for a in 0..APPS {
                    let app = format!("a{a}");
                    let mine = service
                        .my_permissions(&me, "acme", Some(&app))
                        .map(|(set, _)| set)
                        .unwrap_or_default();
                    let endpoint = service.get_app(&me, "acme", &app).await.is_ok();
                    for permission in app_permissions() {
                        let cell = format!("{id} {app} {permission}");
                        let about_self = service.check(&me, &ask(&id, permission, &app)).await.unwrap();
                        let by_admin = service.check(&admin, &ask(&id, permission, &app)).await.unwrap();
                        assert_eq!(about_self.allowed, by_admin.allowed, "{cell}: self vs admin");
                        assert_eq!(mine.contains(permission), by_admin.allowed, "{cell}: /me/permissions");
                        if member {
                            let reviewed = matrix
                                .iter()
                                .find(|c| c.user == id && c.app.as_deref() == Some(app.as_str()) && c.permission == permission)
                                .unwrap();
                            assert_eq!(reviewed.allowed, by_admin.allowed, "{cell}: access review");
                        }
                        if permission == Permission::AppView {
                            assert_eq!(endpoint, by_admin.allowed, "{cell}: GET app");
                        }
                    }
                    // A collaborator sees the app it collaborates on.
                    if p.collaborations[u - 1][a].is_some() {
                        assert!(endpoint, "{id} collaborates on {app} but cannot see it");
                    }
                }
            }
        });
    }
}
