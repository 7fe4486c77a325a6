//! Races: many parallel requests over HTTP, spread over two servers on one store (each with
//! its own index and write lock, so only the store transaction can arbitrate), for the
//! invariants that concurrency could break: an organization keeps an administrator, a
//! failure count never exceeds the limit, an invitation is accepted once, a deleted team
//! leaves no memberships behind, and a revoked credential stops working as soon as the
//! revocation is answered. No request may get a 5xx, and afterwards each server's index
//! equals one loaded afresh from the store.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_service::core::index::AccessIndex;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::api::helpers::{Reply, TestApp, spawn_app};
use crate::api::members::join;

/// What the index knows about people: users, their memberships with roles and teams, and
/// every team with its members, as sorted text (the index has no equality of its own).
fn summary(index: &AccessIndex) -> BTreeSet<String> {
    let mut facts = BTreeSet::new();
    for (_, user) in index.users() {
        facts.insert(format!("user {} active={}", user.id, user.active));
        for membership in &user.memberships {
            let org = index.org(membership.org).map(|o| o.id.to_string());
            facts.insert(format!(
                "member {} of {org:?} as {}",
                user.id,
                membership.role.as_str()
            ));
            for &team in &membership.teams {
                let entry = index.team(team);
                facts.insert(format!(
                    "team {:?} of {org:?} has {} (listed={})",
                    entry.map(|t| t.id.to_string()),
                    user.id,
                    entry.is_some_and(|t| t
                        .members
                        .iter()
                        .any(|m| index.user(*m).is_some_and(|u| u.id == user.id)))
                ));
            }
        }
    }
    for (_, org) in index.orgs() {
        let mut members: Vec<_> = org
            .members
            .iter()
            .map(|m| index.user(*m).map(|u| u.id.to_string()))
            .collect();
        members.sort();
        facts.insert(format!("org {} members {members:?}", org.id));
    }
    facts
}

/// Both servers catch up with every committed write; each index must then equal an index
/// loaded afresh from the store (the data), so no race left the two apart.
async fn assert_indexes_match_the_store(servers: &[&TestApp]) {
    let store = servers[0].service.store();
    let fresh = store.load_index(servers[0].service.now()).await.unwrap();
    let expected = summary(&fresh);
    for server in servers {
        server.service.catch_up().await.unwrap();
        let live = server.service.with_index(summary);
        assert_eq!(
            live.symmetric_difference(&expected).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "the index of {} differs from the store",
            server.address
        );
    }
}

/// Every server has applied every write committed so far (so a session made on one
/// authenticates on the other).
async fn settle(servers: &[&TestApp]) {
    for server in servers {
        server.service.catch_up().await.unwrap();
    }
}

fn spawn_request(
    app: &Arc<TestApp>,
    method: Method,
    path: String,
    token: &str,
    body: Option<Value>,
) -> JoinHandle<Reply> {
    let app = app.clone();
    let token = token.to_owned();
    tokio::spawn(async move { app.request(method, &path, Some(&token), body).await })
}

#[track_caller]
fn assert_no_server_error(what: &str, reply: &Reply) {
    assert!(
        reply.status.as_u16() < 500,
        "{what}: {} {}",
        reply.status,
        reply.body
    );
    if !reply.status.is_success() {
        assert_eq!(
            reply.content_type, "application/problem+json",
            "{what}: {}",
            reply.body
        );
    }
}

async fn admins_of(app: &TestApp, org: &str) -> Vec<String> {
    let key = app.service.resolve_org(org).unwrap();
    let members = app.service.store().members(key, None, 1000).await.unwrap();
    members
        .into_iter()
        .filter(|m| m.role.as_str() == "admin")
        .map(|m| m.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_demotions_and_removals_always_leave_an_admin() {
    let a = Arc::new(spawn_app().await);
    let b = Arc::new(a.peer().await);
    let servers = [a.clone(), b.clone()];
    for round in 0..3 {
        let org = format!("acme{round}");
        let mut admins: Vec<(String, String)> = Vec::new();
        for i in 0..6 {
            let id = format!("r{round}admin{i}");
            let token = a.user(&id).await;
            if i == 0 {
                a.org(&token, &org).await;
            } else {
                join(&a, &admins[0].1, &org, &token, &id, "admin").await;
            }
            admins.push((id, token));
        }
        settle(&[&a, &b]).await;

        // Every admin demotes the next, removes the one after, and leaves: everything at once.
        let mut requests = Vec::new();
        for (i, (_, token)) in admins.iter().enumerate() {
            let next = &admins[(i + 1) % admins.len()].0;
            let after = &admins[(i + 2) % admins.len()].0;
            let on = &servers[i % 2];
            let other = &servers[(i + 1) % 2];
            requests.push(spawn_request(
                on,
                Method::PUT,
                format!("/v1/orgs/{org}/members/{next}"),
                token,
                Some(json!({"role": "org_user"})),
            ));
            requests.push(spawn_request(
                other,
                Method::DELETE,
                format!("/v1/orgs/{org}/members/{after}"),
                token,
                None,
            ));
            requests.push(spawn_request(
                on,
                Method::POST,
                format!("/v1/orgs/{org}/leave"),
                token,
                Some(json!({})),
            ));
        }
        let mut refused_as_last = 0;
        for request in requests {
            let reply = request.await.unwrap();
            assert_no_server_error("demote/remove/leave", &reply);
            match reply.status.as_u16() {
                200 | 204 => {}
                // The caller was removed from its only organization, which revoked its
                // credentials, by a request serialised before this one.
                401 => assert_eq!(reply.body["code"], "auth.required", "{}", reply.body),
                // The caller lost its role or its membership to an earlier request.
                403 => assert_eq!(reply.body["code"], "permission.denied", "{}", reply.body),
                404 => assert_eq!(reply.body["code"], "not_found", "{}", reply.body),
                409 => {
                    assert_eq!(reply.body["code"], "member.last_admin", "{}", reply.body);
                    refused_as_last += 1;
                }
                other => panic!("unexpected {other}: {}", reply.body),
            }
        }
        let left = admins_of(&a, &org).await;
        assert!(!left.is_empty(), "round {round}: {org} lost its last admin");
        assert!(
            refused_as_last > 0 || left.len() > 1,
            "round {round}: nothing was refused, yet {left:?} remain"
        );
    }
    assert_indexes_match_the_store(&[&a, &b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_on_two_servers_count_at_most_the_limit() {
    let a = Arc::new(spawn_app().await);
    let alice = a.user("alice").await;
    a.org(&alice, "acme").await;
    a.put(
        "/v1/orgs/acme/password-policy",
        &alice,
        json!({"max_failed_attempts": 4, "lockout_minutes": 15}),
    )
    .await
    .assert_status(200);
    let b = Arc::new(a.peer().await);
    let servers = [a.clone(), b.clone()];
    let guesses: Vec<_> = (0..40)
        .map(|i| {
            let server = servers[i % 2].clone();
            tokio::spawn(async move {
                server
                    .request(
                        Method::POST,
                        "/v1/login",
                        None,
                        Some(
                            json!({"email": "alice@example.com", "password": format!("wrong-{i}")}),
                        ),
                    )
                    .await
            })
        })
        .collect();
    for guess in guesses {
        guess
            .await
            .unwrap()
            .assert_problem(401, "auth.invalid_credentials");
    }
    let user = a.service.resolve_user("alice").unwrap();
    let state = a.service.store().login_state(user).await.unwrap();
    assert_eq!(state.failed_attempts, 4, "counted failures: {state:?}");
    assert!(state.locked_until.is_some(), "{state:?}");
    let entries = a.service.store().audit_entries(None).await.unwrap();
    let count = |code| entries.iter().filter(|e| e.operation == code).count();
    assert_eq!(count(2002), 40, "every failure is audited");
    assert_eq!(count(2102), 1, "exactly one lockout");
    // Locked on both servers, whichever counted the last failure.
    for server in &servers {
        server
            .request(
                Method::POST,
                "/v1/login",
                None,
                Some(json!({"email": "alice@example.com", "password": "password-alice"})),
            )
            .await
            .assert_problem(401, "auth.invalid_credentials");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_acceptances_of_one_invitation_add_one_membership() {
    let a = Arc::new(spawn_app().await);
    let b = Arc::new(a.peer().await);
    let servers = [a.clone(), b.clone()];
    let alice = a.user("alice").await;
    a.org(&alice, "acme").await;
    for round in 0..4 {
        let id = format!("invitee{round}");
        let token = a.user(&id).await;
        let invitation = a
            .post(
                "/v1/orgs/acme/invitations",
                &alice,
                json!({"email": format!("{id}@example.com"), "role": "org_user"}),
            )
            .await;
        let invitation = invitation.assert_status(201)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        settle(&[&a, &b]).await;
        let accepts: Vec<_> = (0..16)
            .map(|i| {
                spawn_request(
                    &servers[i % 2],
                    Method::POST,
                    format!("/v1/invitations/{invitation}/accept"),
                    &token,
                    Some(json!({})),
                )
            })
            .collect();
        let mut accepted = 0;
        for accept in accepts {
            let reply = accept.await.unwrap();
            assert_no_server_error("accept", &reply);
            match reply.status.as_u16() {
                200 => accepted += 1,
                409 => assert!(
                    ["invitation.not_pending", "invitation.already_member"]
                        .contains(&reply.body["code"].as_str().unwrap_or_default()),
                    "{}",
                    reply.body
                ),
                other => panic!("unexpected {other}: {}", reply.body),
            }
        }
        assert_eq!(
            accepted, 1,
            "round {round}: exactly one acceptance succeeds"
        );
        let org = a.service.resolve_org("acme").unwrap();
        let members = a.service.store().members(org, None, 1000).await.unwrap();
        assert_eq!(
            members.iter().filter(|m| m.id == id).count(),
            1,
            "round {round}: one membership"
        );
        let entries = a.service.store().audit_entries(Some(org)).await.unwrap();
        let accepted_entries = entries
            .iter()
            .filter(|e| e.operation == 105 && e.targets.contains(&invitation))
            .count();
        assert_eq!(accepted_entries, 1, "round {round}: one acceptance audited");
    }
    assert_indexes_match_the_store(&[&a, &b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_team_while_members_are_added_leaves_no_orphans() {
    let a = Arc::new(spawn_app().await);
    let b = Arc::new(a.peer().await);
    let servers = [a.clone(), b.clone()];
    let alice = a.user("alice").await;
    a.org(&alice, "acme").await;
    let mut people = Vec::new();
    for i in 0..8 {
        let id = format!("person{i}");
        let token = a.user(&id).await;
        join(&a, &alice, "acme", &token, &id, "team_contributor").await;
        people.push(id);
    }
    for round in 0..5 {
        let team = format!("team{round}");
        a.post(
            "/v1/orgs/acme/teams",
            &alice,
            json!({"id": team, "name": team}),
        )
        .await
        .assert_status(201);
        settle(&[&a, &b]).await;
        let mut adds = Vec::new();
        let mut others = Vec::new();
        for (i, person) in people.iter().enumerate() {
            adds.push(spawn_request(
                &servers[i % 2],
                Method::PUT,
                format!("/v1/orgs/acme/teams/{team}/members/{person}"),
                &alice,
                None,
            ));
            if i == people.len() / 2 {
                others.push(spawn_request(
                    &servers[(i + 1) % 2],
                    Method::DELETE,
                    format!("/v1/orgs/acme/teams/{team}"),
                    &alice,
                    None,
                ));
                // One person also leaves the organization meanwhile (re-invited below).
                others.push(spawn_request(
                    &servers[i % 2],
                    Method::DELETE,
                    format!("/v1/orgs/acme/members/{}", people[round]),
                    &alice,
                    None,
                ));
            }
        }
        for add in adds {
            let reply = add.await.unwrap();
            assert_no_server_error("add team member", &reply);
            match reply.status.as_u16() {
                200 => {}
                404 => assert_eq!(reply.body["code"], "not_found", "{}", reply.body),
                422 => assert_eq!(reply.body["code"], "team.not_org_member", "{}", reply.body),
                other => panic!("unexpected {other}: {}", reply.body),
            }
        }
        for other in others {
            other.await.unwrap().assert_status(204);
        }
        settle(&[&a, &b]).await;
        for server in &servers {
            server
                .get(&format!("/v1/orgs/acme/teams/{team}"), &alice)
                .await
                .assert_problem(404, "not_found");
        }
        assert_eq!(
            orphan_team_members(&a).await,
            0,
            "round {round}: team memberships outside a team or the organization"
        );
        // Back into the organization for the next rounds.
        let id = &people[round];
        let token = a.login(id).await;
        join(&a, &alice, "acme", &token, id, "team_contributor").await;
    }
    assert_indexes_match_the_store(&[&a, &b]).await;
}

/// Team memberships whose team is gone or whose user is not a member of the team's
/// organization, counted in the store itself.
async fn orphan_team_members(app: &TestApp) -> i64 {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(app.store_url()).await.unwrap();
    let orphans: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM team_members tm \
         LEFT JOIN teams t ON t.id = tm.team_id \
         LEFT JOIN memberships m ON m.org_id = t.org_id AND m.user_id = tm.user_id \
         WHERE t.id IS NULL OR m.user_id IS NULL",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    orphans
}

/// Uses `token` from several tasks on both servers while `revoke` runs; after its answer no
/// use may succeed (on the other server, a request carrying the revocation's revision).
async fn revocation_races_use(
    a: &Arc<TestApp>,
    b: &Arc<TestApp>,
    token: &str,
    revoke: reqwest::RequestBuilder,
    revoked_on_b: bool,
) {
    let revoked: Arc<std::sync::OnceLock<(Instant, String)>> = Arc::default();
    // Uses go on until 300 ms after the revocation was answered, however long it took under
    // load (bounded, so a revocation that never answers fails the test instead of hanging).
    let give_up = Instant::now() + Duration::from_secs(30);
    let keep_going = {
        let revoked = revoked.clone();
        move || match revoked.get() {
            Some((answered, _)) => Instant::now() < *answered + Duration::from_millis(300),
            None => Instant::now() < give_up,
        }
    };
    let users: Vec<_> = (0..6)
        .map(|i| {
            let server = if i % 2 == 0 { a.clone() } else { b.clone() };
            let token = token.to_owned();
            let revoked = revoked.clone();
            let keep_going = keep_going.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while keep_going() {
                    let known = revoked.get().cloned();
                    let mut request = server
                        .client
                        .get(format!("{}/v1/users/me", server.address))
                        .bearer_auth(&token);
                    // The revoking server needs no token (read-your-writes); the other one
                    // is told which revision to wait for.
                    if let Some((_, revision)) =
                        known.as_ref().filter(|_| (i % 2 == 1) != revoked_on_b)
                    {
                        request = request.header("portcullis-revision", revision);
                    }
                    let status = request.send().await.unwrap().status().as_u16();
                    seen.push((known.is_some(), status));
                }
                seen
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let response = revoke.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let revision = response.headers()["portcullis-revision"]
        .to_str()
        .unwrap()
        .to_owned();
    revoked.set((Instant::now(), revision)).unwrap();
    let (mut before, mut after) = (0, 0);
    for user in users {
        for (after_revocation, status) in user.await.unwrap() {
            assert!(status < 500, "a use of the credential got {status}");
            if after_revocation {
                assert_eq!(status, 401, "the revoked credential still works");
                after += 1;
            } else {
                assert!(status == 200 || status == 401, "{status}");
                before += usize::from(status == 200);
            }
        }
    }
    assert!(
        before > 0 && after > 0,
        "no overlap: {before} before, {after} after"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_token_or_session_stops_working_once_the_revocation_is_answered() {
    let a = Arc::new(spawn_app().await);
    let b = Arc::new(a.peer().await);
    let bob = a.user("bob").await;
    let key = a
        .post(
            "/v1/users/me/keys",
            &bob,
            json!({"description": "ci", "scopes": ["all"]}),
        )
        .await;
    let key = key.assert_status(201);
    let (pat, key_id) = (
        key["token"].as_str().unwrap().to_owned(),
        key["id"].as_str().unwrap().to_owned(),
    );
    settle(&[&a, &b]).await;
    let revoke = a
        .client
        .delete(format!("{}/v1/users/me/keys/{key_id}", a.address))
        .bearer_auth(&bob);
    revocation_races_use(&a, &b, &pat, revoke, false).await;

    // A session revoked by another of the user's sessions, on the other server.
    let second = a.login("bob").await;
    let sessions = a.get("/v1/users/me/sessions", &second).await;
    let current = sessions
        .assert_status(200)
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    settle(&[&a, &b]).await;
    let revoke = b
        .client
        .delete(format!("{}/v1/users/me/sessions/{current}", b.address))
        .bearer_auth(&bob);
    revocation_races_use(&a, &b, &second, revoke, true).await;
    assert_indexes_match_the_store(&[&a, &b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_write_made_with_a_token_commits_after_its_revocation() {
    let a = Arc::new(spawn_app().await);
    let b = Arc::new(a.peer().await);
    let bob = a.user("bob").await;
    a.org(&bob, "acme").await;
    let key = a
        .post(
            "/v1/users/me/keys",
            &bob,
            json!({"description": "ci", "scopes": ["all"]}),
        )
        .await;
    let key = key.assert_status(201);
    let (pat, key_id) = (
        key["token"].as_str().unwrap().to_owned(),
        key["id"].as_str().unwrap().to_owned(),
    );
    settle(&[&a, &b]).await;
    let stop = Instant::now() + Duration::from_millis(800);
    let writers: Vec<_> = (0..8)
        .map(|i| {
            let server = if i % 2 == 0 { a.clone() } else { b.clone() };
            let pat = pat.clone();
            tokio::spawn(async move {
                let mut committed = Vec::new();
                let mut n = 0;
                while Instant::now() < stop {
                    n += 1;
                    let id = format!("w{i}n{n}");
                    let response = server
                        .client
                        .post(format!("{}/v1/orgs/acme/teams", server.address))
                        .bearer_auth(&pat)
                        .json(&json!({"id": id, "name": id}))
                        .send()
                        .await
                        .unwrap();
                    let status = response.status().as_u16();
                    assert!(
                        status == 201 || status == 401,
                        "a write with the token got {status}"
                    );
                    if status == 201 {
                        let revision: u64 = response.headers()["portcullis-revision"]
                            .to_str()
                            .unwrap()
                            .parse()
                            .unwrap();
                        committed.push((id, revision));
                    }
                }
                committed
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let response = a
        .client
        .delete(format!("{}/v1/users/me/keys/{key_id}", a.address))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let mut succeeded = 0;
    for writer in writers {
        succeeded += writer.await.unwrap().len();
    }
    assert!(succeeded > 0, "no write succeeded before the revocation");
    let (revoked, late) = writes_after_revocation(&a, &key_id).await;
    assert_eq!(
        late,
        Vec::<i64>::new(),
        "writes committed with the token after its revocation at revision {revoked}"
    );
}

/// The revision at which the key `public_id` was revoked, and the revisions of successful
/// writes made with it after that, read from the audit log in the store.
async fn writes_after_revocation(app: &TestApp, public_id: &str) -> (i64, Vec<i64>) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(app.store_url()).await.unwrap();
    let revoked: i64 = sqlx::query_scalar(
        "SELECT revision FROM audit_log WHERE operation = 2011 AND success = 1 \
         AND targets LIKE $1",
    )
    .bind(format!("%{public_id}%"))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let late: Vec<i64> = sqlx::query_scalar(
        "SELECT a.revision FROM audit_log a JOIN credentials c ON c.id = a.actor_credential_id \
         WHERE c.public_id = $1 AND a.success = 1 AND a.revision > $2 ORDER BY a.revision",
    )
    .bind(public_id)
    .bind(revoked)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    (revoked, late)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_write_authorized_by_a_role_commits_after_the_demotion() {
    let a = Arc::new(spawn_app().await);
    let b = Arc::new(a.peer().await);
    let alice = a.user("alice").await;
    let carol = a.user("carol").await;
    a.org(&alice, "acme").await;
    join(&a, &alice, "acme", &carol, "carol", "admin").await;
    settle(&[&a, &b]).await;
    let stop = Instant::now() + Duration::from_millis(800);
    let writers: Vec<_> = (0..8)
        .map(|i| {
            let server = if i % 2 == 0 { a.clone() } else { b.clone() };
            let carol = carol.clone();
            tokio::spawn(async move {
                let (mut created, mut n) = (0, 0);
                while Instant::now() < stop {
                    n += 1;
                    let id = format!("w{i}n{n}");
                    let reply = server
                        .post("/v1/orgs/acme/teams", &carol, json!({"id": id, "name": id}))
                        .await;
                    assert_no_server_error("create team", &reply);
                    match reply.status.as_u16() {
                        201 => created += 1,
                        403 => assert_eq!(reply.body["code"], "permission.denied"),
                        other => panic!("unexpected {other}: {}", reply.body),
                    }
                }
                created
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.put(
        "/v1/orgs/acme/members/carol",
        &alice,
        json!({"role": "org_user"}),
    )
    .await
    .assert_status(200);
    let mut created = 0;
    for writer in writers {
        created += writer.await.unwrap();
    }
    assert!(created > 0, "no write succeeded before the demotion");
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(a.store_url()).await.unwrap();
    let carol_key = i64::from(a.service.resolve_user("carol").unwrap().0);
    // The demotion (a member role change by alice), then carol's successful writes after it.
    let demoted: i64 = sqlx::query_scalar(
        "SELECT MAX(revision) FROM audit_log WHERE operation = 101 AND success = 1 \
         AND actor_user_id <> $1",
    )
    .bind(carol_key)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let late: Vec<i64> = sqlx::query_scalar(
        "SELECT revision FROM audit_log WHERE actor_user_id = $1 AND success = 1 \
         AND revision > $2 ORDER BY revision",
    )
    .bind(carol_key)
    .bind(demoted)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    assert_eq!(
        late,
        Vec::<i64>::new(),
        "writes committed on the strength of the admin role after its removal at {demoted}"
    );
}
