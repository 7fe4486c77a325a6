//! The benchmark runner. Subcommands (all print one JSON document on stdout):
//!
//! - `engines <members> <queries>`: every engine on the same data and query stream; fails
//!   (exit 1) when any engine's answer differs from Portcullis on any query.
//!   `--skip cedar,casbin` leaves engines out (they are then reported as skipped);
//!   `--slow-queries N` runs cedar and casbin on the first N queries only (at 1M members a
//!   whole million-query stream would take them most of an hour).
//! - `store <url> <members> <queries>`: bulk-fills an empty store, times `Store::load_index`,
//!   verifies its answers against the in-memory build, then times role changes through the
//!   service and proves each is visible to the next check.

use std::sync::Arc;
use std::time::Instant;

use portcullis_bench::alloc::{self, Counting};
use portcullis_bench::data::{self, Query, Shape};
use portcullis_bench::engines::Engine;
#[cfg(feature = "casbin")]
use portcullis_bench::engines::casbin_rbac::Casbin;
#[cfg(feature = "cedar")]
use portcullis_bench::engines::cedar::Cedar;
use portcullis_bench::engines::dense::Dense;
use portcullis_bench::engines::hashfloor::HashFloor;
use portcullis_bench::engines::portcullis::{self as pc, ByIds, Keyed};
use portcullis_bench::measure;
use portcullis_core::{
    AccessIndex, AppKey, Change, OrgKey, OrgRole, Permission, Resource, Subject, UserKey, check,
};
use serde_json::{Value, json};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn arg(args: &[String], i: usize, default: i64) -> i64 {
    args.get(i)
        .and_then(|s| s.replace('_', "").parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("engines") => engines(&args).await,
        Some("store") => store(&args).await,
        Some("lua") => lua(&args),
        Some("load") => load(&args).await,
        Some("rebuild") => rebuild(&args),
        _ => {
            eprintln!(
                "usage: bench engines <members> <queries> [--skip cedar,casbin] [--slow-queries N] | bench store <url> <members> <queries>"
            );
            std::process::exit(2);
        }
    };
    match result {
        Ok(v) => println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default()),
        Err(e) => {
            eprintln!("FAILED: {e}");
            std::process::exit(1);
        }
    }
}

struct Run<'a> {
    queries: &'a [Query],
    reference: Option<Vec<bool>>,
    results: Vec<Value>,
    mismatches: Vec<String>,
}

impl Run<'_> {
    /// Times `engine` over the stream and in isolated calls, checks its answers.
    fn measure<E: Engine>(&mut self, name: &str, engine: &E, build: Value, samples: usize) {
        self.measure_prefix(name, engine, build, samples, self.queries.len());
    }

    /// As `measure`, over the first `len` queries of the stream only (the slow engines at 1M
    /// members), their answers checked against the reference's answers to the same queries.
    fn measure_prefix<E: Engine>(
        &mut self,
        name: &str,
        engine: &E,
        build: Value,
        samples: usize,
        len: usize,
    ) {
        let queries = &self.queries[..len.min(self.queries.len())];
        let (answers, mean) = measure::stream(engine, queries);
        let (p50, p99, n) = measure::isolated(engine, queries, samples);
        let allowed = answers.iter().filter(|a| **a).count();
        let disagree = match &self.reference {
            None => {
                self.reference = Some(answers);
                0
            }
            Some(reference) => {
                let bad: Vec<usize> = (0..answers.len())
                    .filter(|i| reference[*i] != answers[*i])
                    .collect();
                for i in bad.iter().take(10) {
                    self.mismatches.push(format!(
                        "{name} query {i} {:?}: portcullis {} {name} {}",
                        queries[*i], reference[*i], answers[*i]
                    ));
                }
                bad.len()
            }
        };
        eprintln!(
            "{name:>22}: mean {mean:>9.1} ns  p50 {p50:>8.0} ns  p99 {p99:>8.0} ns  allowed {allowed}  disagreements {disagree}"
        );
        let mut v = json!({
            "engine": name, "mean_ns": mean, "p50_ns": p50, "p99_ns": p99, "isolated_samples": n,
            "allowed": allowed, "queries": queries.len(), "disagreements": disagree,
        });
        if let (Value::Object(v), Value::Object(b)) = (&mut v, build) {
            v.extend(b);
        }
        self.results.push(v);
    }
}

/// Builds something, returning it with its build time, kept bytes and peak bytes.
fn built<T>(f: impl FnOnce() -> T) -> (T, Value) {
    let before = alloc::live();
    alloc::reset_peak();
    let start = Instant::now();
    let value = f();
    let secs = start.elapsed().as_secs_f64();
    let kept = alloc::live().saturating_sub(before);
    let peak = alloc::peak().saturating_sub(before);
    (
        value,
        json!({"build_s": secs, "memory_bytes": kept, "peak_bytes": peak}),
    )
}

async fn engines(args: &[String]) -> Result<Value, String> {
    let shape = Shape::with_members(arg(args, 2, 10_000));
    let n = arg(args, 3, 1_000_000) as usize;
    let skip = args
        .iter()
        .position(|a| a == "--skip")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_default();
    let slow_queries = args
        .iter()
        .position(|a| a == "--slow-queries")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(n);
    eprintln!(
        "data set: {} orgs, {} members, {} apps, {} teams; {n} queries",
        shape.orgs,
        shape.members(),
        shape.apps(),
        shape.teams()
    );
    let queries = data::queries(&shape, n);
    let ids = data::query_ids(&shape, &queries);
    let mut run = Run {
        queries: &queries,
        reference: None,
        results: Vec::new(),
        mismatches: Vec::new(),
    };
    let fast = 200_000;
    let slow = 20_000;

    // Portcullis: the index built by applying the store's changes, structure by structure.
    let changes = pc::changes(&shape);
    let (index, build) = built(|| {
        let mut index = AccessIndex::new();
        index.apply(1, &changes);
        index
    });
    let breakdown = breakdown(&changes);
    drop(changes);
    let orgs = u32::try_from(shape.orgs).unwrap_or(0);
    run.measure(
        "portcullis",
        &Keyed {
            index: &index,
            orgs,
        },
        build.clone(),
        fast,
    );
    run.measure(
        "portcullis (string ids)",
        &ByIds {
            index: &index,
            ids: &ids,
        },
        build,
        fast,
    );
    let incremental = incremental_write(&index, &shape);

    let (floor, build) = built(|| HashFloor::build(&shape));
    run.measure("hash-map floor", &floor, build, fast);
    drop(floor);
    let (dense, build) = built(|| Dense::build(&shape));
    run.measure("dense floor", &dense, build, fast);
    drop(dense);

    #[cfg(feature = "cedar")]
    if !skip.contains("cedar") {
        let (cedar, build) = built(|| Cedar::build(&shape, &ids));
        run.measure_prefix("cedar-policy 4.14.1", &cedar, build, slow, slow_queries);
        drop(cedar);
    }
    #[cfg(feature = "casbin")]
    if !skip.contains("casbin") {
        let before = alloc::live();
        alloc::reset_peak();
        let start = Instant::now();
        let casbin = Casbin::build(&shape, &ids).await;
        let build = json!({
            "build_s": start.elapsed().as_secs_f64(),
            "memory_bytes": alloc::live().saturating_sub(before),
            "peak_bytes": alloc::peak().saturating_sub(before),
        });
        run.measure_prefix("casbin 2.20.0", &casbin, build, slow, slow_queries);
        drop(casbin);
    }
    // Built without one of the comparison engines (the CI smoke run): nothing else to use.
    let _ = (&skip, slow, slow_queries);
    if !run.mismatches.is_empty() {
        for m in &run.mismatches {
            eprintln!("DISAGREEMENT {m}");
        }
        return Err("the engines disagree".into());
    }
    Ok(json!({
        "members": shape.members(), "orgs": shape.orgs, "apps": shape.apps(), "teams": shape.teams(),
        "queries": n, "clock_overhead_ns": measure::clock_overhead_ns(),
        "engines": run.results, "portcullis_breakdown": breakdown, "incremental_write": incremental,
        "agree": true,
    }))
}

/// What each structure of the index costs: the changes applied group by group.
fn breakdown(changes: &[Change]) -> Value {
    let group = |c: &Change| match c {
        Change::UserUpserted { .. } => "users (entries, id map)",
        Change::OrgCreated { .. } => "orgs",
        Change::MemberSet { .. } => "memberships (per user + per org set)",
        Change::AppUpserted { .. } => "apps (entries, per-owner names)",
        Change::TeamCreated { .. } => "teams",
        Change::TeamMemberAdded { .. } => "team members (per team set + per membership)",
        Change::TeamAppSet { .. } => "team→apps links (both directions)",
        Change::CollaboratorSet { .. } => "collaborators",
        _ => "other",
    };
    let mut out = Vec::new();
    let mut index = AccessIndex::new();
    let mut i = 0;
    while i < changes.len() {
        let name = group(&changes[i]);
        let mut j = i;
        while j < changes.len() && group(&changes[j]) == name {
            j += 1;
        }
        let before = alloc::live();
        index.apply(1, &changes[i..j]);
        out.push(json!({"structure": name, "bytes": alloc::live().saturating_sub(before), "changes": j - i}));
        i = j;
    }
    Value::Array(out)
}

/// Applying one role change to the full index, against rebuilding it.
fn incremental_write(index: &AccessIndex, shape: &Shape) -> Value {
    let mut index = index.clone();
    let user = UserKey(u32::try_from(shape.user_id(1)).unwrap_or(0));
    let org = OrgKey(1);
    let n = 10_000;
    let start = Instant::now();
    for i in 0..n {
        let role = if i % 2 == 0 {
            OrgRole::OrgContributor
        } else {
            OrgRole::TeamContributor
        };
        index.apply(2 + i, &[Change::MemberSet { org, user, role }]);
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    json!({"apply_member_set_ns": ns})
}

// ---------------------------------------------------------------------------------------------

async fn store(args: &[String]) -> Result<Value, String> {
    let url = args.get(2).ok_or("store needs a URL")?.clone();
    let shape = Shape::with_members(arg(args, 3, 10_000));
    let n = arg(args, 4, 100_000) as usize;
    let writes = arg(args, 5, 200);
    let err = |e: &dyn std::fmt::Display| e.to_string();

    let store = portcullis_store::Store::open(&url)
        .await
        .map_err(|e| err(&e))?;
    store.close().await;
    let start = Instant::now();
    portcullis_bench::sql::fill(&url, &shape)
        .await
        .map_err(|e| err(&e))?;
    let fill_s = start.elapsed().as_secs_f64();
    eprintln!("filled {url} in {fill_s:.1} s");

    let store = portcullis_store::Store::open(&url)
        .await
        .map_err(|e| err(&e))?;
    let start = Instant::now();
    let loaded = store.load_index(0).await.map_err(|e| err(&e))?;
    let load_s = start.elapsed().as_secs_f64();
    eprintln!("load_index: {load_s:.2} s");

    // The loaded index answers exactly as the one built in memory.
    let queries = data::queries(&shape, n);
    let changes = pc::changes(&shape);
    let start = Instant::now();
    let mut memory = AccessIndex::new();
    memory.apply(1, &changes);
    let rebuild_s = start.elapsed().as_secs_f64();
    drop(changes);
    let orgs = u32::try_from(shape.orgs).unwrap_or(0);
    let (a, _) = measure::stream(
        &Keyed {
            index: &loaded,
            orgs,
        },
        &queries,
    );
    let (b, _) = measure::stream(
        &Keyed {
            index: &memory,
            orgs,
        },
        &queries,
    );
    let disagree = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    if disagree > 0 {
        return Err(format!(
            "the index loaded from {url} disagrees on {disagree} queries"
        ));
    }
    drop(memory);
    drop(loaded);

    // Writes through the service: role changes, each visible to the next check.
    let service = portcullis_service::Portcullis::start(
        store.clone(),
        Arc::new(portcullis_core::SystemClock),
        portcullis_service::ServiceConfig::default(),
    )
    .await
    .map_err(|e| err(&e))?;
    let admin = portcullis_service::Caller::user_directly(UserKey(orgs + 1));
    // A team contributor of org 0 and an app of org 0 outside its teams.
    let member = (1..shape.members_per_org)
        .find(|m| shape.role(*m) == OrgRole::TeamContributor)
        .ok_or("no team contributor")?;
    let (teams, count) = shape.teams_of(member);
    let app = (0..shape.apps_per_org)
        .find(|a| {
            teams[..count]
                .iter()
                .all(|t| shape.team_apps(*t).all(|(x, _)| x != *a))
        })
        .ok_or("no app outside the teams")?;
    let user = UserKey(u32::try_from(shape.user_id(member)).unwrap_or(0));
    let resource = Resource::App(AppKey(u32::try_from(shape.app_id(app)).unwrap_or(0)));
    let allowed = || {
        service.with_index(|index| {
            check(
                index,
                &Subject::user(user),
                Permission::ModelsCreate,
                resource,
            )
            .allowed
        })
    };
    let handle = Shape::user_handle(member);
    let org = Shape::org_handle(0);
    let start = Instant::now();
    let mut visible = 0;
    for i in 0..writes {
        let role = if i % 2 == 0 {
            "org_contributor"
        } else {
            "team_contributor"
        };
        service
            .change_member_role(&admin, &org, &handle, role)
            .await
            .map_err(|e| err(&e))?;
        if allowed() != (i % 2 == 0) {
            return Err(format!(
                "write {i} ({role}) was not visible to the next check"
            ));
        }
        visible += 1;
    }
    let write_s = start.elapsed().as_secs_f64();
    eprintln!(
        "{writes} role changes in {write_s:.2} s ({:.0}/s), each visible to the next check",
        writes as f64 / write_s
    );
    // The member is a team contributor again: only teams can grant it the app.
    if writes % 2 == 1 {
        service
            .change_member_role(&admin, &org, &handle, "team_contributor")
            .await
            .map_err(|e| err(&e))?;
    }
    // Team changes: joining a team that holds the app grants it, leaving takes it away.
    let holder = (0..shape.teams_per_org())
        .find(|t| {
            !teams[..count].contains(t)
                && shape
                    .team_apps(*t)
                    .any(|(x, r)| x == app && r.permissions().contains(Permission::ModelsCreate))
        })
        .ok_or("no team holding the app")?;
    let holder = shape.team_handle(holder);
    let start = Instant::now();
    for i in 0..writes {
        if i % 2 == 0 {
            service
                .add_team_member(&admin, &org, &holder, &handle)
                .await
                .map_err(|e| err(&e))?;
        } else {
            service
                .remove_team_member(&admin, &org, &holder, &handle)
                .await
                .map_err(|e| err(&e))?;
        }
        if allowed() != (i % 2 == 0) {
            return Err(format!("team change {i} was not visible to the next check"));
        }
    }
    let team_s = start.elapsed().as_secs_f64();
    if writes % 2 == 1 {
        service
            .remove_team_member(&admin, &org, &holder, &handle)
            .await
            .map_err(|e| err(&e))?;
    }
    // Grants: giving one of the member's own teams the app, then taking it back.
    let own = shape.team_handle(teams[0]);
    let app_handle = shape.app_handle(app);
    let start = Instant::now();
    for i in 0..writes {
        if i % 2 == 0 {
            service
                .set_team_app(&admin, &org, &own, &app_handle, Some("model_trainer"), None)
                .await
                .map_err(|e| err(&e))?;
        } else {
            service
                .remove_team_app(&admin, &org, &own, &app_handle)
                .await
                .map_err(|e| err(&e))?;
        }
        if allowed() != (i % 2 == 0) {
            return Err(format!("grant {i} was not visible to the next check"));
        }
    }
    let grant_s = start.elapsed().as_secs_f64();
    eprintln!(
        "{writes} team changes: {:.0}/s, {writes} grants: {:.0}/s, each visible to the next check",
        writes as f64 / team_s,
        writes as f64 / grant_s
    );
    store.close().await;
    Ok(json!({
        "backend": portcullis_bench::sql::Dialect::of(&url) == portcullis_bench::sql::Dialect::Postgres,
        "members": shape.members(), "apps": shape.apps(), "teams": shape.teams(),
        "fill_s": fill_s, "load_index_s": load_s, "rebuild_from_memory_s": rebuild_s,
        "verified_queries": n, "writes": writes, "writes_s": write_s,
        "writes_per_s": writes as f64 / write_s, "writes_visible": visible,
        "team_changes_per_s": writes as f64 / team_s, "grants_per_s": writes as f64 / grant_s,
        "every_write_visible_to_next_check": true,
    }))
}

/// `lua <members> <bodies> <batch> <out>`: a wrk script posting check requests taken from the
/// query stream (`batch` > 1: `/v1/check/batch` bodies of that many checks). The token comes
/// from the `TOKEN` environment variable of wrk.
fn lua(args: &[String]) -> Result<Value, String> {
    let shape = Shape::with_members(arg(args, 2, 1_000_000));
    let count = arg(args, 3, 10_000) as usize;
    let batch = arg(args, 4, 1).max(1) as usize;
    let out = args.get(5).ok_or("lua needs an output path")?;
    let queries = data::queries(&shape, count * batch);
    let ids = data::query_ids(&shape, &queries);
    let one = |i: usize| {
        let q = &queries[i];
        let resource = match &ids[i].app {
            None => json!({"org": ids[i].org}),
            Some(app) => json!({"account": ids[i].org, "app": app}),
        };
        json!({"subject": {"user": ids[i].user}, "permission": q.permission.as_str(), "resource": resource})
    };
    let mut text = String::from("local bodies = {\n");
    for b in 0..count {
        let body = if batch == 1 {
            one(b)
        } else {
            json!({"checks": (b * batch..(b + 1) * batch).map(one).collect::<Vec<_>>()})
        };
        text.push_str(&format!("[==[{body}]==],\n"));
    }
    let path = if batch == 1 {
        "/v1/check"
    } else {
        "/v1/check/batch"
    };
    text.push_str(&format!(
        "}}\nlocal token = os.getenv(\"TOKEN\") or \"\"\nlocal i = 0\n\
         local headers = {{[\"Content-Type\"] = \"application/json\", [\"Authorization\"] = \"Bearer \" .. token}}\n\
         request = function()\n  i = i % #bodies + 1\n  return wrk.format(\"POST\", \"{path}\", headers, bodies[i])\nend\n"
    ));
    std::fs::write(out, text).map_err(|e| e.to_string())?;
    Ok(json!({"bodies": count, "batch": batch, "path": path}))
}

/// `load <url>`: only `Store::load_index` on a filled store (for profiling).
async fn load(args: &[String]) -> Result<Value, String> {
    let url = args.get(2).ok_or("load needs a URL")?;
    let store = portcullis_store::Store::open(url)
        .await
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let index = store.load_index(0).await.map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    Ok(json!({"load_index_s": secs, "users": index.users().count()}))
}

/// `rebuild <members>`: only applying the changes to a new index (for profiling).
fn rebuild(args: &[String]) -> Result<Value, String> {
    let shape = Shape::with_members(arg(args, 2, 1_000_000));
    let changes = pc::changes(&shape);
    let start = Instant::now();
    let mut index = AccessIndex::new();
    index.apply(1, &changes);
    let secs = start.elapsed().as_secs_f64();
    Ok(json!({"rebuild_s": secs, "changes": changes.len(), "users": index.users().count()}))
}
