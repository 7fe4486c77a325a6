//! The last administrator rule and the members/invitations use cases at the service level:
//! concurrency (two services sharing one store, so only the store transaction can arbitrate),
//! a model-based property test over random member operations, and invitation expiry under a
//! fixed clock. The backend follows `PORTCULLIS_TEST_BACKEND` (SQLite by default), except the
//! property test, which always runs on SQLite.

use std::collections::BTreeMap;
use std::sync::Arc;

use portcullis_core::{
    AccountId, Clock, CredentialKind, Email, FixedClock, OrgKey, OrgRole, PermissionSet,
    SystemClock, TeamKey, TeamRole, UserKey,
};
use portcullis_service::store::testing::{TestStore, fresh_store, fresh_store_of};
use portcullis_service::store::{
    Actor, Backend, NewCredential, NewOrg, NewTeam, NewUser, Store, TeamMemberAdd,
};
use portcullis_service::{Caller, Portcullis, ServiceConfig, ServiceError};
use proptest::prelude::*;

const T0: i64 = 1_700_000_000_000;

fn user_name(i: usize) -> String {
    format!("user{i}")
}

fn org_name(i: usize) -> String {
    format!("org{i}")
}

/// Creates `users` users and one org per entry of `orgs` (each a list of (user, role)),
/// directly in the store, so the service loads them at start.
async fn seed(
    store: &Store,
    users: usize,
    orgs: &[Vec<(usize, OrgRole)>],
) -> (Vec<UserKey>, Vec<OrgKey>) {
    let mut w = store.begin_write(&Actor::system(), T0).await.unwrap();
    let mut user_keys = Vec::new();
    for i in 0..users {
        let key = w
            .create_user(&NewUser {
                id: AccountId::parse(&user_name(i)).unwrap(),
                email: Email::parse(&format!("{}@example.com", user_name(i))).unwrap(),
                first_name: "Test".into(),
                last_name: user_name(i),
                password_hash: None,
                operator: false,
            })
            .await
            .unwrap();
        // Verified addresses: these users answer invitations.
        let email = Email::parse(&format!("{}@example.com", user_name(i))).unwrap();
        assert!(w.mark_email_verified(key, &email.key()).await.unwrap());
        user_keys.push(key);
    }
    let mut org_keys = Vec::new();
    for (i, members) in orgs.iter().enumerate() {
        let (creator, role) = members[0];
        assert_eq!(role, OrgRole::Admin, "the creator is the first admin");
        let org = w
            .create_org(
                &NewOrg {
                    id: AccountId::parse(&org_name(i)).unwrap(),
                    name: org_name(i),
                    billing_email: Email::parse("billing@example.com").unwrap(),
                },
                user_keys[creator],
            )
            .await
            .unwrap();
        for &(user, role) in &members[1..] {
            w.add_member(org, user_keys[user], role).await.unwrap();
        }
        org_keys.push(org);
    }
    w.commit().await.unwrap();
    (user_keys, org_keys)
}

async fn start(store: &Store, clock: Arc<dyn Clock>, config: ServiceConfig) -> Arc<Portcullis> {
    Portcullis::start(store.clone(), clock, config)
        .await
        .unwrap()
}

fn as_user(user: UserKey) -> Caller {
    Caller::user_directly(user)
}

async fn admins(store: &Store, org: OrgKey) -> usize {
    store
        .member_roles(org)
        .await
        .unwrap()
        .iter()
        .filter(|(_, r)| *r == OrgRole::Admin)
        .count()
}

/// The memberships of every org as the store has them and as the service's index has them.
async fn assert_index_matches_store(service: &Portcullis, users: &[UserKey], orgs: &[OrgKey]) {
    for &org in orgs {
        let stored: BTreeMap<u32, OrgRole> = service
            .store()
            .member_roles(org)
            .await
            .unwrap()
            .into_iter()
            .map(|(u, r)| (u.0, r))
            .collect();
        let indexed: BTreeMap<u32, OrgRole> = service.with_index(|i| {
            users
                .iter()
                .filter_map(|&u| i.membership(u, org).map(|m| (u.0, m.role)))
                .collect()
        });
        assert_eq!(stored, indexed, "index and store disagree on org {org:?}");
    }
}

#[derive(Debug, Clone, Copy)]
enum Race {
    /// Each admin demotes the other.
    DemoteEachOther,
    /// Each admin removes the other.
    RemoveEachOther,
    /// Both admins leave.
    BothLeave,
}

/// Two services over one store (two `serve` processes sharing a database): the in-process
/// write lock does not serialise them, only the store transaction does.
async fn race(backend: Option<Backend>, race: Race, shared_service: bool) {
    let test_store: TestStore = match backend {
        Some(b) => fresh_store_of(b).await.unwrap(),
        None => fresh_store().await.unwrap(),
    };
    let store = &test_store.store;
    let (users, orgs) = seed(store, 2, &[vec![(0, OrgRole::Admin), (1, OrgRole::Admin)]]).await;
    let first = start(store, Arc::new(SystemClock), ServiceConfig::default()).await;
    let second = if shared_service {
        first.clone()
    } else {
        start(store, Arc::new(SystemClock), ServiceConfig::default()).await
    };
    let (a, b) = (as_user(users[0]), as_user(users[1]));
    let (ra, rb) = match race {
        Race::DemoteEachOther => {
            let fa = first.change_member_role(&a, "org0", "user1", "org_user");
            let fb = second.change_member_role(&b, "org0", "user0", "org_user");
            let (ra, rb) = tokio::join!(fa, fb);
            (ra.map(|_| ()), rb.map(|_| ()))
        }
        Race::RemoveEachOther => {
            let fa = first.remove_member(&a, "org0", "user1");
            let fb = second.remove_member(&b, "org0", "user0");
            let (ra, rb) = tokio::join!(fa, fb);
            (ra.map(|_| ()), rb.map(|_| ()))
        }
        Race::BothLeave => {
            let fa = first.leave_org(&a, "org0");
            let fb = second.leave_org(&b, "org0");
            let (ra, rb) = tokio::join!(fa, fb);
            (ra.map(|_| ()), rb.map(|_| ()))
        }
    };
    let failures: Vec<&ServiceError> = [&ra, &rb]
        .into_iter()
        .filter_map(|r| r.as_ref().err())
        .collect();
    assert_eq!(
        failures.len(),
        1,
        "{race:?}: exactly one must fail: {ra:?} {rb:?}"
    );
    // The loser is refused as the last admin, or (once the winner's write is serialised
    // before it) because the winner demoted or removed it, taking the permission it needed.
    assert!(
        matches!(
            failures[0],
            ServiceError::LastAdmin | ServiceError::Forbidden(_) | ServiceError::NotFound(_)
        ),
        "{race:?}: {:?}",
        failures[0]
    );
    assert_eq!(
        admins(store, orgs[0]).await,
        1,
        "{race:?}: one admin remains"
    );
    if shared_service {
        assert_index_matches_store(&first, &users, &orgs).await;
    }
    // A fresh index from the store agrees too (the second process would reload it).
    let reloaded = start(store, Arc::new(SystemClock), ServiceConfig::default()).await;
    assert_index_matches_store(&reloaded, &users, &orgs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_last_two_admins_keep_one_across_processes() {
    for _ in 0..10 {
        for kind in [
            Race::DemoteEachOther,
            Race::RemoveEachOther,
            Race::BothLeave,
        ] {
            race(None, kind, false).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_last_two_admins_keep_one_in_one_process() {
    for _ in 0..10 {
        for kind in [
            Race::DemoteEachOther,
            Race::RemoveEachOther,
            Race::BothLeave,
        ] {
            race(None, kind, true).await;
        }
    }
}

#[tokio::test]
async fn removal_drops_team_memberships_and_org_bound_credentials() {
    let test_store = fresh_store().await.unwrap();
    let store = &test_store.store;
    let (users, orgs) = seed(
        store,
        2,
        &[
            vec![(0, OrgRole::Admin), (1, OrgRole::OrgContributor)],
            vec![(1, OrgRole::Admin)],
        ],
    )
    .await;
    let mut w = store.begin_write(&Actor::system(), T0).await.unwrap();
    let team: TeamKey = w
        .create_team(&NewTeam {
            org: orgs[0],
            id: AccountId::parse("ml").unwrap(),
            name: "ML".into(),
            default_role: TeamRole::FullAccess,
        })
        .await
        .unwrap();
    assert_eq!(
        w.add_team_member(team, users[1]).await.unwrap(),
        TeamMemberAdd::Added
    );
    let credential = |public_id: &str, hash: u8, org: Option<OrgKey>| NewCredential {
        public_id: public_id.into(),
        user: users[1],
        kind: CredentialKind::PersonalAccessToken,
        token_hash: [hash; 32],
        description: String::new(),
        scopes: PermissionSet::all(),
        org,
        app: None,
        expires_at: None,
    };
    w.create_credential(&credential("key_bound", 1, Some(orgs[0])))
        .await
        .unwrap();
    w.create_credential(&credential("key_other", 2, Some(orgs[1])))
        .await
        .unwrap();
    w.create_credential(&credential("key_free", 3, None))
        .await
        .unwrap();
    w.commit().await.unwrap();
    let service = start(store, Arc::new(SystemClock), ServiceConfig::default()).await;
    assert!(service.with_index(|i| i.credential(&[1; 32]).is_some()));

    let removed = service
        .remove_member(&as_user(users[0]), "org0", "user1")
        .await
        .unwrap()
        .value;
    assert_eq!(removed.role, OrgRole::OrgContributor);
    assert_eq!(removed.teams, vec![team]);
    assert_eq!(
        removed
            .revoked
            .iter()
            .map(|c| c.public_id.as_str())
            .collect::<Vec<_>>(),
        vec!["key_bound"]
    );

    assert!(store.member(orgs[0], users[1]).await.unwrap().is_none());
    assert!(
        store
            .team_memberships(orgs[0], users[1])
            .await
            .unwrap()
            .is_empty()
    );
    let live: Vec<String> = store
        .credentials_of_user(users[1], &[CredentialKind::PersonalAccessToken])
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.public_id)
        .collect();
    assert_eq!(live, vec!["key_free".to_owned(), "key_other".to_owned()]);
    service.with_index(|i| {
        assert!(i.credential(&[1; 32]).is_none());
        assert!(i.credential(&[2; 32]).is_some());
        assert!(i.credential(&[3; 32]).is_some());
        assert!(!i.team(team).unwrap().members.contains(&users[1]));
    });
    // A reloaded index agrees with the incrementally maintained one.
    let reloaded = start(store, Arc::new(SystemClock), ServiceConfig::default()).await;
    reloaded.with_index(|i| {
        assert!(i.credential(&[1; 32]).is_none());
        assert!(!i.team(team).unwrap().members.contains(&users[1]));
    });
    assert_index_matches_store(&service, &users, &orgs).await;
    let entries = store.audit_entries(Some(orgs[0])).await.unwrap();
    let last = entries.last().unwrap();
    assert_eq!(last.operation, 102);
    assert!(last.details.contains("key_bound"), "{}", last.details);
}

#[tokio::test]
async fn invitations_expire_by_the_clock_and_can_be_replaced() {
    let test_store = fresh_store().await.unwrap();
    let store = &test_store.store;
    let (users, orgs) = seed(store, 2, &[vec![(0, OrgRole::Admin)]]).await;
    let clock = FixedClock::at(T0);
    let config = ServiceConfig {
        invitation_ttl_ms: 1_000,
        ..ServiceConfig::default()
    };
    let service = start(store, Arc::new(clock.clone()), config).await;
    let admin = as_user(users[0]);
    let bob = as_user(users[1]);

    let first = service
        .create_invitation(&admin, "org0", "USER1@example.com", "org_user")
        .await
        .unwrap()
        .value;
    assert!(
        first.id.starts_with("inv_") && first.id.len() == 24,
        "{}",
        first.id
    );
    assert_eq!(first.expires_at, T0 + 1_000);
    let again = service
        .create_invitation(&admin, "org0", "user1@example.com", "admin")
        .await
        .unwrap_err();
    assert!(
        matches!(
            again,
            ServiceError::State {
                code: "invitation.pending_exists",
                ..
            }
        ),
        "{again:?}"
    );

    clock.advance_ms(1_000);
    let listed = service.list_invitations(&admin, "org0").await.unwrap();
    assert_eq!(listed[0].state.as_str(), "expired");
    assert!(service.my_invitations(&bob).await.unwrap().is_empty());
    let err = service
        .accept_invitation(&bob, &first.id)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ServiceError::State {
                code: "invitation.expired",
                ..
            }
        ),
        "{err:?}"
    );
    let err = service
        .cancel_invitation(&admin, "org0", &first.id)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ServiceError::State {
                code: "invitation.not_pending",
                ..
            }
        ),
        "{err:?}"
    );

    // A stale pending invitation is marked expired and replaced.
    let second = service
        .create_invitation(&admin, "org0", "user1@example.com", "org_user")
        .await
        .unwrap()
        .value;
    let stored_first = store.invitation(&first.id).await.unwrap().unwrap();
    assert_eq!(stored_first.state.as_str(), "expired");
    assert_eq!(service.my_invitations(&bob).await.unwrap().len(), 1);
    let accepted = service
        .accept_invitation(&bob, &second.id)
        .await
        .unwrap()
        .value;
    assert_eq!(accepted.state.as_str(), "accepted");
    assert_eq!(
        store.member(orgs[0], users[1]).await.unwrap().unwrap().role,
        OrgRole::OrgUser
    );
    assert_index_matches_store(&service, &users, &orgs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_acceptance_adds_the_membership_once() {
    let test_store = fresh_store().await.unwrap();
    let store = &test_store.store;
    let (users, orgs) = seed(store, 2, &[vec![(0, OrgRole::Admin)]]).await;
    let first = start(store, Arc::new(SystemClock), ServiceConfig::default()).await;
    let second = start(store, Arc::new(SystemClock), ServiceConfig::default()).await;
    let invitation = first
        .create_invitation(&as_user(users[0]), "org0", "user1@example.com", "org_user")
        .await
        .unwrap()
        .value;
    let bob = as_user(users[1]);
    let (ra, rb) = tokio::join!(
        first.accept_invitation(&bob, &invitation.id),
        second.accept_invitation(&bob, &invitation.id)
    );
    let failures: Vec<&ServiceError> = [&ra, &rb]
        .into_iter()
        .filter_map(|r| r.as_ref().err())
        .collect();
    assert_eq!(failures.len(), 1, "{ra:?} {rb:?}");
    assert!(
        matches!(
            failures[0],
            ServiceError::State {
                code: "invitation.not_pending",
                ..
            }
        ),
        "{:?}",
        failures[0]
    );
    assert_eq!(store.member_roles(orgs[0]).await.unwrap().len(), 2);
    let accepts = store
        .audit_entries(Some(orgs[0]))
        .await
        .unwrap()
        .iter()
        .filter(|e| e.operation == 105)
        .count();
    assert_eq!(accepts, 1);
}

// ---- the property: random member operations never leave an org without an admin ----------

const USERS: usize = 3;
const ORGS: usize = 2;
const ROLES: [OrgRole; 3] = [OrgRole::Admin, OrgRole::OrgContributor, OrgRole::OrgUser];

#[derive(Debug, Clone)]
enum Op {
    SetRole {
        actor: usize,
        org: usize,
        target: usize,
        role: OrgRole,
    },
    Remove {
        actor: usize,
        org: usize,
        target: usize,
    },
    Leave {
        actor: usize,
        org: usize,
    },
    /// The actor invites the target, who accepts.
    Join {
        actor: usize,
        org: usize,
        target: usize,
        role: OrgRole,
    },
}

fn role() -> impl Strategy<Value = OrgRole> {
    prop::sample::select(ROLES.to_vec())
}

/// A target user: often the actor itself (self-demotion and self-removal are where the last
/// admin rule bites), otherwise anyone.
fn target() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![Just(None), (0..USERS).prop_map(Some)]
}

fn op() -> impl Strategy<Value = Op> {
    let user = 0..USERS;
    let org = 0..ORGS;
    prop_oneof![
        3 => (user.clone(), org.clone(), target(), role()).prop_map(|(actor, org, target, role)| Op::SetRole {
            actor,
            org,
            target: target.unwrap_or(actor),
            role,
        }),
        2 => (user.clone(), org.clone(), target())
            .prop_map(|(actor, org, target)| Op::Remove { actor, org, target: target.unwrap_or(actor) }),
        2 => (user.clone(), org.clone()).prop_map(|(actor, org)| Op::Leave { actor, org }),
        2 => (user.clone(), org.clone(), user, role())
            .prop_map(|(actor, org, target, role)| Op::Join { actor, org, target, role }),
    ]
}

/// Initial memberships: org `i` is created by user `i` (admin); the others may join.
fn initial() -> impl Strategy<Value = Vec<Vec<(usize, OrgRole)>>> {
    prop::collection::vec(prop::collection::vec(prop::option::of(role()), USERS), ORGS).prop_map(
        |orgs| {
            orgs.into_iter()
                .enumerate()
                .map(|(o, roles)| {
                    let mut members = vec![(o, OrgRole::Admin)];
                    members.extend(
                        roles
                            .into_iter()
                            .enumerate()
                            .filter(|(u, _)| *u != o)
                            .filter_map(|(u, r)| r.map(|r| (u, r))),
                    );
                    members
                })
                .collect()
        },
    )
}

/// The expected outcome of an operation on the model: `Ok` or the error's stable name.
type Model = Vec<BTreeMap<usize, OrgRole>>;

fn admin_count(members: &BTreeMap<usize, OrgRole>) -> usize {
    members.values().filter(|r| **r == OrgRole::Admin).count()
}

/// Checks the actor may manage members of `org`: not a member → not_found; not admin → forbidden.
fn manage(members: &BTreeMap<usize, OrgRole>, actor: usize) -> Result<(), &'static str> {
    match members.get(&actor) {
        None => Err("not_found"),
        Some(OrgRole::Admin) => Ok(()),
        Some(_) => Err("forbidden"),
    }
}

fn expect(model: &mut Model, op: &Op) -> Result<(), &'static str> {
    match *op {
        Op::SetRole {
            actor,
            org,
            target,
            role,
        } => {
            let members = &mut model[org];
            manage(members, actor)?;
            let before = *members.get(&target).ok_or("not_found")?;
            if before == OrgRole::Admin && role != OrgRole::Admin && admin_count(members) == 1 {
                return Err("last_admin");
            }
            members.insert(target, role);
            Ok(())
        }
        Op::Remove { actor, org, target } => {
            let members = &mut model[org];
            manage(members, actor)?;
            let before = *members.get(&target).ok_or("not_found")?;
            if before == OrgRole::Admin && admin_count(members) == 1 {
                return Err("last_admin");
            }
            members.remove(&target);
            Ok(())
        }
        Op::Leave { actor, org } => {
            let members = &mut model[org];
            let before = *members.get(&actor).ok_or("not_found")?;
            if before == OrgRole::Admin && admin_count(members) == 1 {
                return Err("last_admin");
            }
            members.remove(&actor);
            Ok(())
        }
        Op::Join {
            actor,
            org,
            target,
            role,
        } => {
            let members = &mut model[org];
            manage(members, actor)?;
            if members.contains_key(&target) {
                return Err("already_member");
            }
            members.insert(target, role);
            Ok(())
        }
    }
}

fn outcome(result: Result<(), ServiceError>) -> Result<(), &'static str> {
    result.map_err(|e| match e {
        ServiceError::NotFound(_) => "not_found",
        ServiceError::Forbidden(_) => "forbidden",
        ServiceError::LastAdmin => "last_admin",
        ServiceError::State {
            code: "invitation.already_member",
            ..
        } => "already_member",
        other => panic!("unexpected error {other:?}"),
    })
}

async fn apply(service: &Portcullis, users: &[UserKey], op: &Op) -> Result<(), ServiceError> {
    match *op {
        Op::SetRole {
            actor,
            org,
            target,
            role,
        } => service
            .change_member_role(
                &as_user(users[actor]),
                &org_name(org),
                &user_name(target),
                role.as_str(),
            )
            .await
            .map(|_| ()),
        Op::Remove { actor, org, target } => service
            .remove_member(&as_user(users[actor]), &org_name(org), &user_name(target))
            .await
            .map(|_| ()),
        Op::Leave { actor, org } => service
            .leave_org(&as_user(users[actor]), &org_name(org))
            .await
            .map(|_| ()),
        Op::Join {
            actor,
            org,
            target,
            role,
        } => {
            let email = format!("{}@example.com", user_name(target));
            let invitation = service
                .create_invitation(
                    &as_user(users[actor]),
                    &org_name(org),
                    &email,
                    role.as_str(),
                )
                .await?
                .value;
            service
                .accept_invitation(&as_user(users[target]), &invitation.id)
                .await
                .map(|_| ())
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn every_org_keeps_an_admin(initial in initial(), ops in prop::collection::vec(op(), 8..=15)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let test_store = fresh_store_of(Backend::Sqlite).await.unwrap();
            let store = &test_store.store;
            let (users, orgs) = seed(store, USERS, &initial).await;
            let service = start(store, Arc::new(SystemClock), ServiceConfig::default()).await;
            let mut model: Model = initial.iter().map(|m| m.iter().copied().collect()).collect();
            for op in &ops {
                let expected = expect(&mut model, op);
                let actual = outcome(apply(&service, &users, op).await);
                assert_eq!(actual, expected, "{op:?}");
                for (o, &org) in orgs.iter().enumerate() {
                    assert!(admins(store, org).await >= 1, "org{o} lost its last admin after {op:?}");
                    let stored: BTreeMap<usize, OrgRole> = store
                        .member_roles(org)
                        .await
                        .unwrap()
                        .into_iter()
                        .map(|(u, r)| (users.iter().position(|k| *k == u).unwrap(), r))
                        .collect();
                    assert_eq!(stored, model[o], "store and model disagree after {op:?}");
                }
                assert_index_matches_store(&service, &users, &orgs).await;
            }
        });
    }
}
