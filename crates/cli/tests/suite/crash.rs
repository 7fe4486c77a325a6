//! Crash safety: a real `portcullis serve` under a write load is killed with SIGKILL at random
//! moments and restarted on the same store (an SQLite data directory, or a PostgreSQL
//! database with `PORTCULLIS_TEST_BACKEND=postgres`), again and again. After every restart:
//! every write the client saw acknowledged (a 2xx carrying its revision) is in the data, no
//! multi-row change is half applied (each scripted sequence is in the state after its last
//! acknowledged step, or after the one in flight at the kill, never in between), the
//! restarted server's index answers as the data says, and every audit chain verifies.
//!
//! The kill moments come from a seeded RNG; the seed is printed first (stderr, shown on
//! failure) and `PORTCULLIS_CRASH_SEED=<n>` replays one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::{Location, Server};
use portcullis_store::Backend;
use portcullis_store::testing::{backend_under_test, fresh_database_url};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sqlx::Connection;

const CYCLES: usize = 20;
const WORKERS: usize = 3;

/// One worker's script, run again and again with fresh ids. Each step is one write; several
/// change many rows at once (an acceptance adds the membership and closes the invitation, a
/// team deletion takes its memberships, a member removal takes the member's teams, an
/// organization comes with its first administrator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Signup,
    Login,
    Invite,
    Accept,
    CreateTeam,
    AddToTeam,
    /// By iteration: delete the team, remove the member from the org, or create an org.
    Finish,
}

const STEPS: [Step; 7] = [
    Step::Signup,
    Step::Login,
    Step::Invite,
    Step::Accept,
    Step::CreateTeam,
    Step::AddToTeam,
    Step::Finish,
];

/// What the data says about one iteration (read from the store itself).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Facts {
    user: bool,
    invitation: Option<String>,
    member: bool,
    team: bool,
    in_team: bool,
    own_org: bool,
    admin_of_own_org: bool,
}

/// One iteration of one worker: ids, how many steps were acknowledged, and whether the next
/// one was in flight when the server died.
#[derive(Debug, Clone)]
struct Iteration {
    worker: usize,
    n: usize,
    acknowledged: usize,
    in_flight: bool,
}

impl Iteration {
    fn user(&self) -> String {
        format!("w{}u{}", self.worker, self.n)
    }
    fn team(&self) -> String {
        format!("w{}t{}", self.worker, self.n)
    }
    fn own_org(&self) -> String {
        format!("w{}o{}", self.worker, self.n)
    }
    fn finish(&self) -> usize {
        self.n % 3
    }

    /// The facts after the first `steps` steps.
    fn expected(&self, steps: usize) -> Facts {
        let done = |step: Step| STEPS[..steps.min(STEPS.len())].contains(&step);
        let finished = done(Step::Finish);
        let team_deleted = finished && self.finish() == 0;
        let removed = finished && self.finish() == 1;
        Facts {
            user: done(Step::Signup),
            invitation: if done(Step::Accept) {
                Some("accepted".into())
            } else if done(Step::Invite) {
                Some("pending".into())
            } else {
                None
            },
            member: done(Step::Accept) && !removed,
            team: done(Step::CreateTeam) && !team_deleted,
            in_team: done(Step::AddToTeam) && !team_deleted && !removed,
            own_org: finished && self.finish() == 2,
            admin_of_own_org: finished && self.finish() == 2,
        }
    }
}

fn org_of(worker: usize) -> String {
    format!("crash{worker}")
}

/// The data, read straight from the store with SQL.
#[derive(Debug, Default)]
struct Data {
    accounts: BTreeMap<String, i64>,
    memberships: BTreeMap<(i64, i64), String>,
    /// (org, email key) to the state of its newest invitation.
    invitations: BTreeMap<(i64, String), String>,
    teams: BTreeMap<(i64, String), i64>,
    team_members: BTreeSet<(i64, i64)>,
    revision: i64,
}

impl Data {
    async fn read(url: &str) -> Self {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
        let mut data = Data::default();
        let rows: Vec<(String, i64)> = sqlx::query_as("SELECT handle_key, id FROM accounts")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        data.accounts = rows.into_iter().collect();
        let rows: Vec<(i64, i64, String)> =
            sqlx::query_as("SELECT org_id, user_id, role FROM memberships")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        data.memberships = rows.into_iter().map(|(o, u, r)| ((o, u), r)).collect();
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT org_id, email_key, state FROM invitations ORDER BY created_at, id",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        data.invitations = rows.into_iter().map(|(o, e, s)| ((o, e), s)).collect();
        let rows: Vec<(i64, String, i64)> =
            sqlx::query_as("SELECT org_id, handle_key, id FROM teams")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        data.teams = rows.into_iter().map(|(o, h, id)| ((o, h), id)).collect();
        let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT team_id, user_id FROM team_members")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        data.team_members = rows.into_iter().collect();
        data.revision = sqlx::query_scalar("SELECT value FROM meta WHERE name = 'revision'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        // Team memberships of a team that is gone or of someone outside the team's org.
        let orphans: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM team_members tm \
             LEFT JOIN teams t ON t.id = tm.team_id \
             LEFT JOIN memberships m ON m.org_id = t.org_id AND m.user_id = tm.user_id \
             WHERE t.id IS NULL OR m.user_id IS NULL",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(orphans, 0, "orphan team memberships in the store");
        conn.close().await.unwrap();
        data
    }

    fn facts(&self, it: &Iteration) -> Facts {
        let org = self.accounts[&org_of(it.worker)];
        let user = self.accounts.get(&it.user()).copied();
        let team = self.teams.get(&(org, it.team())).copied();
        let own = self.accounts.get(&it.own_org()).copied();
        Facts {
            user: user.is_some(),
            invitation: self
                .invitations
                .get(&(org, format!("{}@example.com", it.user())))
                .cloned(),
            member: user.is_some_and(|u| self.memberships.contains_key(&(org, u))),
            team: team.is_some(),
            in_team: matches!((team, user), (Some(t), Some(u)) if self.team_members.contains(&(t, u))),
            own_org: own.is_some(),
            admin_of_own_org: matches!((own, user), (Some(o), Some(u))
                if self.memberships.get(&(o, u)).is_some_and(|r| r == "admin")),
        }
    }
}

/// What one worker keeps across cycles: its admin session and its iterations.
#[derive(Debug)]
struct Worker {
    index: usize,
    admin: String,
    iterations: Vec<Iteration>,
}

/// Outcome of one write: acknowledged (with the body), or no answer (the server died).
async fn write(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
    acknowledged: &AtomicU64,
) -> Option<Value> {
    let (status, headers, body) = server.try_call(method, path, token, Some(body)).await?;
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {body}"
    );
    let revision: u64 = headers
        .get("portcullis-revision")
        .unwrap_or_else(|| panic!("{method} {path}: an acknowledged write without its revision"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    acknowledged.fetch_max(revision, Ordering::SeqCst);
    Some(body)
}

/// Runs iterations until the server stops answering; returns the worker with its record.
async fn run_worker(
    server: Server,
    mut worker: Worker,
    acknowledged: Arc<AtomicU64>,
    progress: Arc<AtomicUsize>,
) -> Worker {
    let org = org_of(worker.index);
    loop {
        let mut it = Iteration {
            worker: worker.index,
            n: worker.iterations.len(),
            acknowledged: 0,
            in_flight: false,
        };
        let user = it.user();
        let email = format!("{user}@example.com");
        let mut session = String::new();
        let mut invitation = String::new();
        for step in STEPS {
            let admin = Some(worker.admin.as_str());
            let answer =
                match step {
                    Step::Signup => write(
                        &server,
                        "POST",
                        "/v1/signup",
                        None,
                        json!({"id": user, "email": email, "password": format!("password-{user}"),
                               "first_name": "Crash", "last_name": user}),
                        &acknowledged,
                    )
                    .await,
                    Step::Login => {
                        write(
                            &server,
                            "POST",
                            "/v1/login",
                            None,
                            json!({"email": email, "password": format!("password-{user}")}),
                            &acknowledged,
                        )
                        .await
                    }
                    Step::Invite => {
                        write(
                            &server,
                            "POST",
                            &format!("/v1/orgs/{org}/invitations"),
                            admin,
                            json!({"email": email, "role": "team_contributor"}),
                            &acknowledged,
                        )
                        .await
                    }
                    // Through the link the invitation mail carries (committed with the
                    // invitation): the addressee's account needs no verification for it.
                    Step::Accept => match server.mailed_token(&email, "pci").await {
                        Some(token) => {
                            write(
                                &server,
                                "POST",
                                "/v1/invitations/accept",
                                Some(&session),
                                json!({"token": token}),
                                &acknowledged,
                            )
                            .await
                        }
                        None => panic!("no invitation mail for {email} ({invitation})"),
                    },
                    Step::CreateTeam => {
                        write(
                            &server,
                            "POST",
                            &format!("/v1/orgs/{org}/teams"),
                            admin,
                            json!({"id": it.team(), "name": it.team()}),
                            &acknowledged,
                        )
                        .await
                    }
                    Step::AddToTeam => {
                        write(
                            &server,
                            "PUT",
                            &format!("/v1/orgs/{org}/teams/{}/members/{user}", it.team()),
                            admin,
                            json!({}),
                            &acknowledged,
                        )
                        .await
                    }
                    Step::Finish => match it.finish() {
                        0 => {
                            write(
                                &server,
                                "DELETE",
                                &format!("/v1/orgs/{org}/teams/{}", it.team()),
                                admin,
                                json!({}),
                                &acknowledged,
                            )
                            .await
                        }
                        1 => {
                            write(
                                &server,
                                "DELETE",
                                &format!("/v1/orgs/{org}/members/{user}"),
                                admin,
                                json!({}),
                                &acknowledged,
                            )
                            .await
                        }
                        _ => {
                            write(
                                &server,
                                "POST",
                                "/v1/orgs",
                                Some(&session),
                                json!({"id": it.own_org(), "name": it.own_org(),
                                   "billing_email": "billing@example.com"}),
                                &acknowledged,
                            )
                            .await
                        }
                    },
                };
            let Some(body) = answer else {
                it.in_flight = true;
                worker.iterations.push(it);
                return worker;
            };
            match step {
                Step::Login => session = body["session_token"].as_str().unwrap().to_owned(),
                Step::Invite => invitation = body["id"].as_str().unwrap().to_owned(),
                _ => {}
            }
            it.acknowledged += 1;
            progress.fetch_add(1, Ordering::SeqCst);
        }
        worker.iterations.push(it);
    }
}

/// Every iteration is in the state after its acknowledged steps, or (if a step was in
/// flight at the kill) after that one too; nothing in between. Returns how many writes in
/// flight at the kill committed without their answer.
fn assert_whole(data: &Data, workers: &[Worker], seed: u64) -> usize {
    let mut committed_unanswered = 0;
    for worker in workers {
        for it in &worker.iterations {
            let seen = data.facts(it);
            let acknowledged = it.expected(it.acknowledged);
            let with_in_flight = it.expected(it.acknowledged + 1);
            assert!(
                seen == acknowledged || (it.in_flight && seen == with_in_flight),
                "seed {seed}: iteration {it:?} is half applied or lost an acknowledged write:\n\
                 seen      {seen:?}\nexpected  {acknowledged:?}\nor        {with_in_flight:?}"
            );
            // Each cycle ends every worker's record with the iteration it cut short.
            let cut_now = std::ptr::eq(it, worker.iterations.last().unwrap());
            committed_unanswered += usize::from(cut_now && seen != acknowledged);
        }
    }
    committed_unanswered
}

/// The restarted server's index answers as the data says: each worker's org admits exactly
/// the users the data has as members.
async fn assert_index_matches(server: &Server, data: &Data, workers: &[Worker], seed: u64) {
    for worker in workers {
        let org = org_of(worker.index);
        let org_key = data.accounts[&org];
        for chunk in worker.iterations.chunks(500) {
            let checks: Vec<Value> = chunk
                .iter()
                .map(|it| {
                    json!({"subject": {"user": it.user()}, "permission": "sidebar.view",
                           "resource": {"org": org}})
                })
                .collect();
            let (status, _, body) = server
                .call(
                    "POST",
                    "/v1/check/batch",
                    Some(&worker.admin),
                    Some(json!({"checks": checks})),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            for (it, answer) in chunk.iter().zip(body["results"].as_array().unwrap()) {
                // A user whose sign-up never committed is unknown to the index too: the batch
                // answers that check with its own `not_found` problem.
                if !data.accounts.contains_key(&it.user()) {
                    assert_eq!(
                        answer["error"]["code"],
                        "not_found",
                        "seed {seed}: {} has no account in the data: {answer}",
                        it.user()
                    );
                    continue;
                }
                let member = data
                    .accounts
                    .get(&it.user())
                    .is_some_and(|u| data.memberships.contains_key(&(org_key, *u)));
                assert_eq!(
                    answer["allowed"].as_bool(),
                    Some(member),
                    "seed {seed}: the index and the data disagree on {} in {org}: {answer}",
                    it.user()
                );
            }
        }
        // Teams: the API lists exactly the teams the data has.
        let (status, _, body) = server
            .call(
                "GET",
                &format!("/v1/orgs/{org}/teams"),
                Some(&worker.admin),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let listed: BTreeSet<String> = body["teams"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_lowercase())
            .collect();
        let stored: BTreeSet<String> = data
            .teams
            .keys()
            .filter(|(o, _)| *o == org_key)
            .map(|(_, h)| h.clone())
            .collect();
        assert_eq!(listed, stored, "seed {seed}: teams of {org}");
    }
}

fn audit_verifies(location: &Location, seed: u64) {
    let args = location.args();
    let mut argv = vec!["audit", "verify"];
    argv.extend(args.iter().map(String::as_str));
    let (code, stdout, stderr) = crate::common::run(&argv);
    assert_eq!(
        code, 0,
        "seed {seed}: audit verify failed:\n{stdout}\n{stderr}"
    );
    for line in stdout.lines() {
        let chain: Value = serde_json::from_str(line).unwrap();
        assert_eq!(chain["ok"], true, "seed {seed}: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_whole_and_audited() {
    let seed: u64 = std::env::var("PORTCULLIS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash test seed {seed} (replay with PORTCULLIS_CRASH_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();

    let temp = tempfile::tempdir().unwrap();
    let (location, sql_url) = match backend_under_test() {
        Backend::Sqlite => {
            let dir: PathBuf = temp.path().join("data");
            let file = dir.join(portcullis_store::SQLITE_FILE);
            (
                Location::Dir(dir),
                format!("sqlite://{}?mode=rw", file.display()),
            )
        }
        Backend::Postgres => {
            let (url, _) = fresh_database_url(Backend::Postgres).await.unwrap();
            (Location::Url(url.clone()), url)
        }
    };
    let mut server = Server::start_at(location.clone());
    let mut workers = Vec::new();
    for index in 0..WORKERS {
        let admin = server.user(&format!("admin{index}")).await;
        server.org(&admin, &org_of(index)).await;
        workers.push(Worker {
            index,
            admin,
            iterations: Vec::new(),
        });
    }

    let acknowledged = Arc::new(AtomicU64::new(server.revision_of_last_write()));
    let mut committed_unanswered = 0;
    for cycle in 0..CYCLES {
        let progress = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = workers
            .drain(..)
            .map(|worker| {
                tokio::spawn(run_worker(
                    server.handle(),
                    worker,
                    acknowledged.clone(),
                    progress.clone(),
                ))
            })
            .collect();
        // At least a few acknowledged writes, then a random moment.
        let wait_for = rng.gen_range(1..12);
        while progress.load(Ordering::SeqCst) < wait_for {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..150))).await;
        server.kill();
        for task in tasks {
            workers.push(task.await.unwrap());
        }
        workers.sort_by_key(|w| w.index);

        // Down: the data as the kill left it, and its audit chains.
        audit_verifies(&location, seed);
        let data = Data::read(&sql_url).await;
        let last = acknowledged.load(Ordering::SeqCst);
        assert!(
            u64::try_from(data.revision).unwrap() >= last,
            "seed {seed}, cycle {cycle}: acknowledged revision {last} but the store is at {}",
            data.revision
        );
        committed_unanswered += assert_whole(&data, &workers, seed);

        // Up again on the same store: the index is the data.
        server.restart();
        let ready = server.ready().await;
        assert_eq!(
            ready["revision"].as_i64(),
            Some(data.revision),
            "seed {seed}: {ready}"
        );
        assert_index_matches(&server, &data, &workers, seed).await;
    }
    let iterations: usize = workers.iter().map(|w| w.iterations.len()).sum();
    eprintln!(
        "{CYCLES} SIGKILL cycles, {iterations} scripted iterations, {committed_unanswered} writes \
         committed without their answer, last acknowledged revision {}, in {:?}",
        acknowledged.load(Ordering::SeqCst),
        started.elapsed()
    );
}
