//! The benchmark at a tiny size, run as a test (no timing is asserted):
//!
//! - every engine compiled in (the `cedar` and `casbin` features; CI's build enables `casbin`)
//!   and both floors answer the same query stream as Portcullis, query by query;
//! - an index bulk-loaded from the store under test (`PORTCULLIS_TEST_BACKEND`: SQLite or
//!   PostgreSQL) answers identically to the in-memory build, and every role change, team change
//!   and grant is visible to the next check.
//!
//! Both run the `bench` binary exactly as `scripts/bench.sh` does, which fails (exit 1) on any
//! disagreement.

use std::process::Command;

use portcullis_store::Backend;
use portcullis_store::testing::{backend_under_test, fresh_database_url};
use serde_json::Value;

const MEMBERS: &str = "2000";
const QUERIES: &str = "20000";

fn bench(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(args)
        .output()
        .expect("the bench binary runs");
    assert!(
        output.status.success(),
        "bench {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("bench prints one JSON document")
}

#[test]
fn every_engine_compiled_in_agrees_with_portcullis() {
    // The engines run in memory: once, in the SQLite pass, is enough.
    if backend_under_test() != Backend::Sqlite {
        return;
    }
    let out = bench(&["engines", MEMBERS, QUERIES]);
    assert_eq!(out["agree"], true);
    let engines: Vec<&str> = out["engines"]
        .as_array()
        .expect("a list of engines")
        .iter()
        .filter_map(|e| e["engine"].as_str())
        .collect();
    for expected in ["hash-map floor", "dense floor"]
        .into_iter()
        .chain(cfg!(feature = "casbin").then_some("casbin 2.20.0"))
        .chain(cfg!(feature = "cedar").then_some("cedar-policy 4.14.1"))
    {
        assert!(
            engines.contains(&expected),
            "{expected} missing from {engines:?}"
        );
    }
    for engine in out["engines"].as_array().into_iter().flatten() {
        assert_eq!(engine["disagreements"], 0, "{engine}");
        assert_eq!(engine["queries"].as_u64(), Some(20_000), "{engine}");
    }
}

#[tokio::test]
async fn an_index_loaded_from_the_store_answers_identically() {
    let backend = backend_under_test();
    let (url, _dir) = fresh_database_url(backend).await.expect("a fresh database");
    let out = bench(&["store", &url, MEMBERS, QUERIES, "4"]);
    // "backend" is true for PostgreSQL: the URL reached the backend under test.
    assert_eq!(out["backend"], backend == Backend::Postgres, "{out}");
    assert_eq!(out["verified_queries"].as_u64(), Some(20_000), "{out}");
    assert_eq!(out["every_write_visible_to_next_check"], true, "{out}");
}
