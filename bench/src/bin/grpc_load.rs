//! The gRPC load generator (ghz is in none of the registries this project installs from):
//! `grpc_load <url> <members> <bodies> <batch> <seconds> <concurrency> <server-pid>`.
//!
//! Sends `Check` (batch 1) or `CheckBatch` calls of `batch` checks taken from the same query
//! stream as the HTTP benchmark's wrk scripts (`bench lua`), with the `TOKEN` environment
//! variable as the bearer credential, from `concurrency` callers spread over 2 HTTP/2
//! connections (wrk's `-t2`), for `seconds` after a 3 s warm-up. Prints one JSON document:
//! calls and checks per second, the p99 call latency, and the server's CPU time per call and
//! per check read from `/proc/<server-pid>/stat` (user + system, as scripts/bench.sh does for
//! wrk). Every call must succeed and every check must be decided, or it exits 1.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use portcullis_bench::data::{self, Shape};
use portcullis_grpc::pb::{self, check_service_client::CheckServiceClient};
use serde_json::json;
use tonic::transport::Channel;

const CONNECTIONS: usize = 2;
const WARM_UP: Duration = Duration::from_secs(3);
/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

fn arg(args: &[String], i: usize) -> Result<u64, String> {
    args.get(i)
        .and_then(|s| s.replace('_', "").parse().ok())
        .ok_or_else(|| format!("argument {i} must be a number"))
}

#[tokio::main]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("FAILED: {err}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .ok_or("usage: grpc_load <url> <members> <bodies> <batch> <seconds> <concurrency> <server-pid>")?
        .clone();
    let members = arg(&args, 2)? as i64;
    let bodies = arg(&args, 3)? as usize;
    let batch = arg(&args, 4)?.max(1) as usize;
    let seconds = arg(&args, 5)?;
    let concurrency = arg(&args, 6)?.max(1) as usize;
    let pid = arg(&args, 7)?;
    let token: tonic::metadata::MetadataValue<_> = format!(
        "Bearer {}",
        std::env::var("TOKEN").map_err(|_| "TOKEN is not set")?
    )
    .parse()
    .map_err(|_| "TOKEN is not a valid metadata value")?;

    let shape = Shape::with_members(members);
    let queries = data::queries(&shape, bodies * batch);
    let ids = data::query_ids(&shape, &queries);
    let checks: Vec<pb::CheckRequest> = queries
        .iter()
        .zip(&ids)
        .map(|(q, ids)| pb::CheckRequest {
            subject: Some(pb::Subject {
                kind: Some(pb::subject::Kind::User(ids.user.clone())),
            }),
            permission: q.permission.as_str().to_owned(),
            resource: Some(pb::Resource {
                kind: Some(match &ids.app {
                    None => pb::resource::Kind::Org(ids.org.clone()),
                    Some(app) => pb::resource::Kind::App(pb::AppResource {
                        account: ids.org.clone(),
                        app: app.clone(),
                    }),
                }),
            }),
            consistency: None,
        })
        .collect();
    let checks = Arc::new(checks);

    let mut channels = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let channel = Channel::from_shared(url.clone())
            .map_err(|e| e.to_string())?
            .connect()
            .await
            .map_err(|e| format!("cannot connect to {url}: {e}"))?;
        channels.push(channel);
    }

    // Warm-up, then the measured run.
    drive(&channels, &checks, batch, concurrency, &token, WARM_UP).await?;
    let cpu_before = cpu_ticks(pid)?;
    let started = Instant::now();
    let mut latencies = drive(
        &channels,
        &checks,
        batch,
        concurrency,
        &token,
        Duration::from_secs(seconds),
    )
    .await?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = (cpu_ticks(pid)? - cpu_before) as f64 / TICKS;
    latencies.sort_unstable();
    let calls = latencies.len();
    let p99 = latencies
        .get((calls * 99 / 100).min(calls.saturating_sub(1)))
        .copied()
        .unwrap_or_default();
    let doc = json!({
        "method": if batch == 1 { "Check" } else { "CheckBatch" },
        "batch": batch,
        "connections": CONNECTIONS,
        "concurrency": concurrency,
        "seconds": elapsed,
        "calls": calls,
        "calls_per_s": calls as f64 / elapsed,
        "checks_per_s": (calls * batch) as f64 / elapsed,
        "latency_p99_us": p99.as_secs_f64() * 1e6,
        "cpu_us_per_call": cpu * 1e6 / calls as f64,
        "cpu_us_per_check": cpu * 1e6 / (calls * batch) as f64,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?
    );
    Ok(())
}

/// `concurrency` callers in a closed loop for `length`; the latency of every call.
async fn drive(
    channels: &[Channel],
    checks: &Arc<Vec<pb::CheckRequest>>,
    batch: usize,
    concurrency: usize,
    token: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    length: Duration,
) -> Result<Vec<Duration>, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::with_capacity(concurrency);
    for n in 0..concurrency {
        let mut client = CheckServiceClient::new(channels[n % channels.len()].clone());
        let checks = checks.clone();
        let stop = stop.clone();
        let token = token.clone();
        callers.push(tokio::spawn(async move {
            let bodies = checks.len() / batch;
            let mut latencies = Vec::new();
            let mut i = n * 7919 % bodies.max(1);
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                if batch == 1 {
                    let mut request = tonic::Request::new(checks[i].clone());
                    request
                        .metadata_mut()
                        .insert("authorization", token.clone());
                    client.check(request).await.map_err(|s| s.to_string())?;
                } else {
                    let slice = checks[i * batch..(i + 1) * batch].to_vec();
                    let mut request = tonic::Request::new(pb::CheckBatchRequest { checks: slice });
                    request
                        .metadata_mut()
                        .insert("authorization", token.clone());
                    let answer = client
                        .check_batch(request)
                        .await
                        .map_err(|s| s.to_string())?
                        .into_inner();
                    if let Some(failed) = answer.results.iter().find(|r| {
                        !matches!(r.result, Some(pb::check_batch_result::Result::Decision(_)))
                    }) {
                        return Err(format!("a check was not decided: {failed:?}"));
                    }
                }
                latencies.push(started.elapsed());
                i = (i + 1) % bodies;
            }
            Ok::<_, String>(latencies)
        }));
    }
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for caller in callers {
        all.extend(caller.await.map_err(|e| e.to_string())??);
    }
    Ok(all)
}

/// User plus system CPU ticks of a process so far.
fn cpu_ticks(pid: u64) -> Result<u64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    // The command name (field 2) may hold spaces; fields are counted after its closing `)`.
    let after = stat.rsplit_once(')').ok_or("unreadable /proc stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| -> Result<u64, String> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("no field {n} in /proc/{pid}/stat"))
    };
    Ok(field(14)? + field(15)?)
}
