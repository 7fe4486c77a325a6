//! Timing loops: the mean over the whole stream (answers recorded for the agreement check)
//! and isolated calls for percentiles.

use std::hint::black_box;
use std::time::Instant;

use crate::data::Query;
use crate::engines::Engine;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Timing {
    pub mean_ns: f64,
    pub p50_ns: f64,
    pub p99_ns: f64,
    pub isolated_samples: usize,
}

/// Answers every query once, timing the whole pass; returns the answers.
pub fn stream<E: Engine>(engine: &E, queries: &[Query]) -> (Vec<bool>, f64) {
    let mut answers = vec![false; queries.len()];
    let start = Instant::now();
    for (i, q) in queries.iter().enumerate() {
        answers[i] = engine.check(i, black_box(q));
    }
    let elapsed = start.elapsed().as_nanos() as f64;
    (answers, elapsed / queries.len().max(1) as f64)
}

/// Times `samples` calls one by one (spread over the stream); p50 and p99 in ns. The clock
/// reads cost about 20–40 ns and are included (reported as measured).
pub fn isolated<E: Engine>(engine: &E, queries: &[Query], samples: usize) -> (f64, f64, usize) {
    let step = (queries.len() / samples.max(1)).max(1);
    let mut times: Vec<u64> = Vec::with_capacity(samples);
    let mut i = 0;
    while i < queries.len() && times.len() < samples {
        let q = &queries[i];
        let start = Instant::now();
        black_box(engine.check(i, black_box(q)));
        times.push(start.elapsed().as_nanos() as u64);
        i += step;
    }
    times.sort_unstable();
    let pick = |p: f64| {
        if times.is_empty() {
            0.0
        } else {
            times[((times.len() as f64 * p) as usize).min(times.len() - 1)] as f64
        }
    };
    (pick(0.50), pick(0.99), times.len())
}

/// The cost of the clock itself, to read the isolated figures against.
pub fn clock_overhead_ns() -> f64 {
    let n = 100_000;
    let start = Instant::now();
    for _ in 0..n {
        black_box(Instant::now());
    }
    start.elapsed().as_nanos() as f64 / n as f64
}
