//! Faults an operator meets, against real `portcullis serve` processes: the SQLite disk filling
//! up during writes (a small tmpfs, mounted here), a peer server frozen with SIGSTOP while
//! holding the write lock, a throw-away PostgreSQL cluster stopped and started under load, and
//! `restore`/`migrate` pointed at a store a server is using. The promises checked: a write is
//! acknowledged only once it is committed (none lost, no revision reused after a restart),
//! faults answer a retryable status with `Retry-After` within the bounds of
//! docs/reliability.md, `/readyz` answers within 1 s, and service resumes without a restart.
//!
//! Mounting a tmpfs and running PostgreSQL's `initdb` need root (initdb itself runs as the
//! `postgres` user). Without root the tests that need it say so loudly and return, except on
//! CI (`CI` set), where they fail.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{BIN, Location, Server, fresh_postgres_url, postgres_under_test};
use portcullis_store::Backend;
use portcullis_store::testing::backend_under_test;
use serde_json::{Value, json};
use sqlx::{Connection, Row};

/// A write behind a frozen peer waits at most for PostgreSQL to end the peer's idle
/// transaction, plus scheduling slack on a busy machine.
const STALL_BOUND: Duration = Duration::from_secs(8);
/// A request that needs a store that is down is answered (503) within this: the pool's 2 s
/// acquire timeout, plus slack for a CI machine running other suites beside this one.
const FAIL_FAST_BOUND: Duration = Duration::from_secs(4);
/// `/readyz` answers within this, whatever the store does.
const READY_BOUND: Duration = Duration::from_millis(1_000);
/// Writes succeed again within this once the store is back.
const RECOVERY_BOUND: Duration = Duration::from_secs(10);

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// True when the test may go on; false (after a loud notice) when it must skip.
fn root_or_skip(test: &str) -> bool {
    if is_root() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} needs root (tmpfs mounts, initdb) and CI is set: run the suite as root"
    );
    eprintln!(
        "\n!!! SKIPPED {test}: it needs root (tmpfs mounts, initdb); CI runs it as root !!!\n"
    );
    false
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    _parent: tempfile::TempDir,
    path: PathBuf,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let parent = tempfile::tempdir().unwrap();
        let path = parent.path().join("mnt");
        std::fs::create_dir(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success(), "mount tmpfs failed");
        Self {
            _parent: parent,
            path,
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Fills the filesystem of `dir` with one file until no byte fits, then frees `keep` bytes.
fn fill(dir: &Path, keep: u64) -> PathBuf {
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = vec![0x5a_u8; 64 * 1024];
    let mut written = 0_u64;
    loop {
        match file.write(&block) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    let _ = file.sync_all();
    file.set_len(written.saturating_sub(keep)).unwrap();
    filler
}

fn revision_of(headers: &reqwest::header::HeaderMap) -> u64 {
    headers["portcullis-revision"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn check_body(user: &str) -> Value {
    json!({"subject": {"user": user}, "permission": "sidebar.view", "resource": {"org": "acme"}})
}

/// The revisions that have a change-feed row (every committed write leaves one), and the
/// stored revision counter, read from the SQLite file itself.
async fn committed_in(file: &Path) -> (std::collections::BTreeSet<u64>, u64) {
    let url = format!("sqlite://{}?mode=ro", file.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let rows = sqlx::query("SELECT revision FROM changes")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let revisions = rows.iter().map(|r| r.get::<i64, _>(0) as u64).collect();
    let counter: i64 = sqlx::query_scalar("SELECT value FROM meta WHERE name = 'revision'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    (revisions, counter as u64)
}

/// The SQLite disk fills while writes come in: each write is either acknowledged and stays
/// (after a restart too), or answered 507 `store.full` with nothing of it stored; `/readyz`
/// says the store is full while checks keep answering; once space is freed, writes resume by
/// themselves; no acknowledged revision is ever handed out again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sqlite_disk_loses_no_acknowledged_write() {
    if backend_under_test() != Backend::Sqlite || !root_or_skip("the disk-full test") {
        return;
    }
    let fs = Tmpfs::mount("8m");
    let dir = fs.path.join("data");
    let mut server = Server::start_at(Location::Dir(dir.clone()));
    let admin = server.user("admin").await;
    server.org(&admin, "acme").await;
    let member = server.user("u1").await;
    server.join(&admin, "acme", &member, "u1", "org_user").await;
    let filler = fill(&fs.path, 1024 * 1024);

    // Big app notes fill what is left; role changes are the small writes that were once
    // acknowledged without being stored.
    let notes = "n".repeat(60_000);
    let mut acknowledged: Vec<(u64, String)> = Vec::new();
    let mut full_answers = 0;
    let mut small_write_refused = false;
    for i in 0..200 {
        let (status, headers, body) = if i % 2 == 0 {
            server
                .call(
                    "POST",
                    "/v1/accounts/acme/apps",
                    Some(&admin),
                    Some(json!({"id": format!("app{i}"), "name": "Notes", "notes": notes})),
                )
                .await
        } else {
            let role = if i % 4 == 1 {
                "org_contributor"
            } else {
                "org_user"
            };
            server
                .call(
                    "PUT",
                    "/v1/orgs/acme/members/u1",
                    Some(&admin),
                    Some(json!({"role": role})),
                )
                .await
        };
        match status {
            200 | 201 => acknowledged.push((revision_of(&headers), format!("write {i}"))),
            507 => {
                full_answers += 1;
                assert_eq!(body["code"], "store.full", "{body}");
                assert_eq!(headers["retry-after"], "1");
                // Stop right after a small write was refused: while a small write still fits,
                // the store rightly counts as writable again once one succeeds.
                if full_answers >= 4 && i % 2 == 1 {
                    small_write_refused = true;
                    break;
                }
            }
            other => panic!("write {i} answered {other}: {body}"),
        }
    }
    assert!(small_write_refused, "the disk never filled");

    // Not ready for writes; decisions still answer from memory.
    let started = Instant::now();
    let (status, _, body) = server.call("GET", "/readyz", None, None).await;
    assert!(
        started.elapsed() < READY_BOUND,
        "/readyz took {:?}",
        started.elapsed()
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "ops.store_full", "{body}");
    assert_eq!(body["state"], "degraded", "{body}");
    let (status, _, body) = server
        .call("POST", "/v1/check", Some(&admin), Some(check_body("u1")))
        .await;
    assert_eq!(status, 200, "{body}");

    // Space back: writes resume without a restart.
    std::fs::remove_file(&filler).unwrap();
    let started = Instant::now();
    loop {
        let (status, headers, body) = server
            .call(
                "PUT",
                "/v1/orgs/acme/members/u1",
                Some(&admin),
                Some(json!({"role": "org_contributor"})),
            )
            .await;
        if status == 200 {
            acknowledged.push((revision_of(&headers), "after space freed".to_owned()));
            break;
        }
        assert!(
            started.elapsed() < RECOVERY_BOUND,
            "writes did not resume: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let started = Instant::now();
    while server
        .try_call("GET", "/readyz", None, None)
        .await
        .unwrap()
        .0
        != 200
    {
        assert!(
            started.elapsed() < RECOVERY_BOUND,
            "/readyz stayed not ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Every acknowledged revision is distinct and committed, also after SIGKILL and restart.
    let mut seen = BTreeMap::new();
    for (revision, what) in &acknowledged {
        assert!(
            seen.insert(*revision, what.clone()).is_none(),
            "revision {revision} acknowledged twice"
        );
    }
    server.kill();
    let (committed, counter) = committed_in(&dir.join(portcullis_store::SQLITE_FILE)).await;
    for (revision, what) in &seen {
        assert!(
            committed.contains(revision),
            "{what} was acknowledged at revision {revision} but is not stored"
        );
    }
    let highest = *seen.keys().last().unwrap();
    assert!(
        counter >= highest,
        "the store is at {counter}, below {highest}"
    );
    server.restart();
    let (status, _, body) = server
        .call("GET", "/v1/orgs/acme/members", Some(&admin), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let u1 = body["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"] == "u1")
        .unwrap();
    assert_eq!(u1["role"], "org_contributor", "{body}");
    let (status, headers, body) = server
        .call(
            "PUT",
            "/v1/orgs/acme/members/u1",
            Some(&admin),
            Some(json!({"role": "org_user"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(revision_of(&headers) > highest, "a revision was reused");
}

/// Sends a signal to a process.
fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Sessions of `url`'s database sitting idle inside a transaction for longer than `ms`.
async fn idle_in_transaction(url: &str, ms: u32) -> i64 {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND state = 'idle in transaction' AND now() - state_change > $1 * interval '1 ms'",
    )
    .bind(f64::from(ms))
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

/// A write loop on `server` until `stop`: (start of the request, status, elapsed) per write.
async fn write_loop(
    server: Server,
    token: String,
    user: &'static str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<(Instant, u16, Duration)> {
    let mut answers = Vec::new();
    let mut i = 0_u32;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        i += 1;
        let role = if i.is_multiple_of(2) {
            "org_user"
        } else {
            "org_contributor"
        };
        let started = Instant::now();
        let status = server
            .try_call(
                "PUT",
                &format!("/v1/orgs/acme/members/{user}"),
                Some(&token),
                Some(json!({"role": role})),
            )
            .await
            .map_or(0, |(status, _, _)| status);
        answers.push((started, status, started.elapsed()));
        if status != 200 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    answers
}

/// Server B is frozen (SIGSTOP) in the middle of a write, holding the revision row's lock:
/// server A keeps acknowledging writes, stalled at most for the documented bound, because
/// PostgreSQL ends B's idle transaction; B resumes and serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_peer_stalls_writes_only_within_the_bound() {
    if !postgres_under_test() {
        return;
    }
    let url = fresh_postgres_url().await;
    let a = Server::start(&url);
    let mut b = Server::start(&url);
    let admin = a.user("admin").await;
    a.org(&admin, "acme").await;
    for user in ["u1", "u2"] {
        let token = a.user(user).await;
        a.join(&admin, "acme", &token, user, "org_user").await;
    }
    let pid = b.pid();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let b_writers: Vec<_> = (0..4)
        .map(|_| tokio::spawn(write_loop(b.handle(), admin.clone(), "u2", stop.clone())))
        .collect();

    // Freeze B until it is caught holding a transaction open (most writes are).
    let mut frozen = false;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        signal(pid, "STOP");
        tokio::time::sleep(Duration::from_millis(300)).await;
        if idle_in_transaction(&url, 200).await > 0 {
            frozen = true;
            break;
        }
        signal(pid, "CONT");
    }
    assert!(frozen, "never caught B inside a transaction");
    let frozen_at = Instant::now();
    let a_stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let a_writer = tokio::spawn(write_loop(a.handle(), admin.clone(), "u1", a_stop.clone()));
    tokio::time::sleep(Duration::from_secs(10)).await;
    a_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let a_answers = a_writer.await.unwrap();
    signal(pid, "CONT");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in b_writers {
        writer.await.unwrap();
    }

    let acknowledged: Vec<_> = a_answers.iter().filter(|(_, s, _)| *s == 200).collect();
    assert!(
        acknowledged.len() >= 5,
        "A acknowledged {} writes while B was frozen: {a_answers:?}",
        acknowledged.len()
    );
    let first = acknowledged[0].0 + acknowledged[0].2 - frozen_at;
    assert!(first < STALL_BOUND, "A's first write took {first:?}");
    let slowest = a_answers.iter().map(|(_, _, took)| *took).max().unwrap();
    eprintln!(
        "B frozen: A's first acknowledged write after {first:?}, slowest write {slowest:?}, \
         {} acknowledged in 10 s",
        acknowledged.len()
    );
    for (_, status, took) in &a_answers {
        assert!(
            *status == 200 || *status == 503,
            "A answered {status} while B was frozen"
        );
        assert!(*took < STALL_BOUND, "a write on A took {took:?}");
    }
    // B comes back by itself.
    let started = Instant::now();
    while b
        .try_call(
            "PUT",
            "/v1/orgs/acme/members/u2",
            Some(&admin),
            Some(json!({"role": "org_user"})),
        )
        .await
        .map_or(0, |(s, _, _)| s)
        != 200
    {
        assert!(started.elapsed() < RECOVERY_BOUND, "B did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.kill();
}

/// A throw-away PostgreSQL cluster (initdb in a temp dir, on a free port), run as the
/// `postgres` user; stopped for good when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl Cluster {
    fn create() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .unwrap()
            .flatten()
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("initdb").exists())
            .expect("PostgreSQL server binaries in /usr/lib/postgresql/*/bin");
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        let cluster = Self { dir, bin, port };
        cluster.as_postgres(
            "initdb",
            &[
                "-D",
                &cluster.data().display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
        );
        cluster.start();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("pg")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn as_postgres(&self, tool: &str, args: &[&str]) {
        let out = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(tool))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tool}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log");
        self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-o",
                &options,
                "-l",
                &log.display().to_string(),
                "-w",
                "start",
            ],
        );
    }

    fn stop(&self) {
        self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args([
                "-D",
                &self.data().display().to_string(),
                "-m",
                "immediate",
                "stop",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// PostgreSQL stopped under a write load: writes answer a retryable 503 with `Retry-After`
/// within the fail-fast bound (never a 500, never a 30 s hang), `/readyz` answers within
/// 1 s saying the server is degraded, checks keep answering from memory; once PostgreSQL is
/// back, writes succeed again without restarting the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_fails_fast_and_recovers_without_restart() {
    if !postgres_under_test() || !root_or_skip("the PostgreSQL stop/start test") {
        return;
    }
    let cluster = Cluster::create();
    let server = Server::start(&cluster.url());
    let admin = server.user("admin").await;
    server.org(&admin, "acme").await;
    let token = server.user("u1").await;
    server.join(&admin, "acme", &token, "u1", "org_user").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = tokio::spawn(write_loop(
        server.handle(),
        admin.clone(),
        "u1",
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;

    cluster.stop();
    let down_at = Instant::now();
    // The first write after the stop, before the probe noticed: bounded by the pool's timeout.
    let (status, _, body) = server
        .call(
            "PUT",
            "/v1/orgs/acme/members/u1",
            Some(&admin),
            Some(json!({"role": "org_user"})),
        )
        .await;
    let first_503 = down_at.elapsed();
    assert_eq!(status, 503, "{body}");
    assert!(
        first_503 < FAIL_FAST_BOUND,
        "the first write took {first_503:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut slowest_503 = Duration::ZERO;
    let mut slowest_ready = Duration::ZERO;
    for _ in 0..3 {
        let started = Instant::now();
        let (status, headers, body) = server
            .call(
                "PUT",
                "/v1/orgs/acme/members/u1",
                Some(&admin),
                Some(json!({"role": "org_contributor"})),
            )
            .await;
        assert!(
            started.elapsed() < FAIL_FAST_BOUND,
            "a write took {:?}",
            started.elapsed()
        );
        slowest_503 = slowest_503.max(started.elapsed());
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["code"], "store.unavailable", "{body}");
        assert_eq!(headers["retry-after"], "1");

        let started = Instant::now();
        let (status, _, body) = server.call("GET", "/readyz", None, None).await;
        assert!(
            started.elapsed() < READY_BOUND,
            "/readyz took {:?}",
            started.elapsed()
        );
        slowest_ready = slowest_ready.max(started.elapsed());
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["state"], "degraded", "{body}");

        let (status, _, body) = server
            .call("POST", "/v1/check", Some(&admin), Some(check_body("u1")))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["allowed"], true, "{body}");
    }
    let outage = down_at.elapsed();

    cluster.start();
    let back_at = Instant::now();
    loop {
        let (status, _, body) = server
            .call(
                "PUT",
                "/v1/orgs/acme/members/u1",
                Some(&admin),
                Some(json!({"role": "org_user"})),
            )
            .await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(back_at.elapsed() < RECOVERY_BOUND, "writes did not resume");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered = back_at.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers = load.await.unwrap();
    for (_, status, took) in &answers {
        assert!(
            matches!(status, 200 | 503),
            "the load saw {status} (outage {outage:?})"
        );
        assert!(
            *took < Duration::from_secs(12),
            "a loaded write took {took:?}"
        );
    }
    eprintln!(
        "PostgreSQL down: first 503 after {first_503:?}, later 503s within {slowest_503:?}, \
         /readyz within {slowest_ready:?}; outage {outage:?}; writes back {recovered:?} after \
         PostgreSQL started"
    );
}

/// `restore` and `migrate` refuse a data directory (and `migrate` a database) a running
/// server uses, with one `error:` line, and change nothing; the server keeps its data.
/// `backup` of the running server reports the revision the file holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_and_migrate_refuse_a_store_in_use() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let mut server = Server::start_at(Location::Dir(dir.clone()));
    let admin = server.user("admin").await;
    server.org(&admin, "acme").await;
    let backup = temp.path().join("backup.db");
    let (code, out, err) = crate::common::run(&[
        "backup",
        "--data-dir",
        dir.to_str().unwrap(),
        "--out",
        backup.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let reported: Value = serde_json::from_str(out.trim()).unwrap();
    let (_, in_file) = committed_in(&backup).await;
    assert_eq!(reported["revision"].as_u64(), Some(in_file), "{out}");

    // A write after the backup, which a restore would silently take away.
    let token = server.user("late").await;
    let (code, _, err) = crate::common::run(&[
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    assert!(err.contains("in use"), "{err}");

    let target = if postgres_under_test() {
        Some(fresh_postgres_url().await)
    } else {
        None
    };
    let (code, _, err) = crate::common::run(&[
        "migrate",
        "--from-data-dir",
        dir.to_str().unwrap(),
        "--to-database-url",
        target
            .as_deref()
            .unwrap_or("postgres://postgres@127.0.0.1:1/none"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("in use"), "{err}");

    // Nothing was replaced: the late user is still there after a restart.
    server.restart();
    let (status, _, body) = server.call("GET", "/v1/users/me", Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    server.stop();

    // With the server stopped, a migrate into a database a server uses is refused too.
    if let Some(url) = target {
        let on_target = Server::start(&url);
        let (code, _, err) = crate::common::run(&[
            "migrate",
            "--from-data-dir",
            dir.to_str().unwrap(),
            "--to-database-url",
            &url,
        ]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("in use"), "{err}");
        drop(on_target);
    }

    // A tampered backup does not verify: exit 1, and nothing is left to serve from.
    let tampered = temp.path().join("tampered.db");
    std::fs::copy(&backup, &tampered).unwrap();
    {
        let url = format!("sqlite://{}?mode=rw", tampered.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("UPDATE audit_log SET details = '{\"forged\":true}' WHERE org_id IS NOT NULL")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let fresh = temp.path().join("fresh");
    let (code, out, err) = crate::common::run(&[
        "restore",
        "--from",
        tampered.to_str().unwrap(),
        "--data-dir",
        fresh.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    assert!(!fresh.join(portcullis_store::SQLITE_FILE).exists(), "{out}");

    // A garbage backup is refused quickly, and leaves the data directory as it was.
    let garbage = temp.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x42_u8; 100_000]).unwrap();
    let started = Instant::now();
    let (code, _, err) = crate::common::run(&[
        "restore",
        "--from",
        garbage.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "--force",
    ]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    let mut server = Server::start_at(Location::Dir(dir.clone()));
    let (status, _, body) = server.call("GET", "/v1/users/me", Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    server.stop();
}

/// Start-up failures name their cause in one `error:` line within seconds.
#[test]
fn start_up_errors_name_the_cause_quickly() {
    let temp = tempfile::tempdir().unwrap();
    let not_sqlite = temp.path().join("notsqlite");
    std::fs::create_dir(&not_sqlite).unwrap();
    std::fs::write(
        not_sqlite.join(portcullis_store::SQLITE_FILE),
        "this is not a database".repeat(1000),
    )
    .unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--database-url".into(),
                "postgres://postgres@127.0.0.1:1/none".into(),
            ],
            "refused",
        ),
        (
            vec!["--data-dir".into(), not_sqlite.display().to_string()],
            "not a database",
        ),
    ];
    // Root ignores file modes: a read-only mount is what makes a directory read-only for it.
    let read_only = is_root().then(|| {
        let fs = Tmpfs::mount("1m");
        std::fs::create_dir(fs.path.join("data")).unwrap();
        let status = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&fs.path)
            .status()
            .unwrap();
        assert!(status.success());
        fs
    });
    let mut cases = cases;
    if let Some(fs) = &read_only {
        cases.push((
            vec![
                "--data-dir".into(),
                fs.path.join("data").display().to_string(),
            ],
            "Read-only file system",
        ));
    }
    for (args, cause) in cases {
        let started = Instant::now();
        let out = Command::new(BIN)
            .arg("serve")
            .args(&args)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{args:?}: {:?}",
            started.elapsed()
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        let errors: Vec<_> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: {err}");
        assert!(err.contains(cause), "{args:?}: {err}");
        assert!(!err.contains("pool timed out"), "{args:?}: {err}");
    }
    // Invalid TOML names its line.
    let config = temp.path().join("bad.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nlog_format = human\n").unwrap();
    let (code, _, err) = crate::common::run(&["config", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 2"), "{err}");
}
