//! ACS validation time per response: criterion's estimate for a valid
//! signed response and for one signed with an unconfigured key (refused by xmlsec), then the
//! median and p99 over individually timed validations of the valid one (criterion reports no
//! percentiles). Fixtures: `tests/fixtures` (throw-away key, clock fixed at 2030-01-01).
//!
//! `cargo bench -p portcullis-saml --bench acs` (`SAML_BENCH_SAMPLES=N` for the timed run).
#![expect(clippy::unwrap_used, reason = "a benchmark")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine;
use criterion::Criterion;
use portcullis_saml::{IdpTrust, SpEndpoints, validate_response};

const NOW: i64 = 1_893_456_000_000;
const ACS: &str = "http://localhost:8080/saml/acme/okta/acs";
const AUD: &str = "http://localhost:8080/saml/acme/okta/metadata";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn encoded(name: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(fixture(name))
}

fn certificates() -> Vec<String> {
    vec![
        fixture("idp.crt")
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect(),
    ]
}

fn validate(response: &str, certificates: &[String]) -> bool {
    let idp = IdpTrust {
        entity_id: "https://idp.example/",
        certificates,
        allow_sha1: false,
        clock_skew_secs: 60,
    };
    let sp = SpEndpoints {
        entity_id: AUD,
        acs_url: ACS,
        decryption_key: None,
    };
    validate_response(response, &idp, &sp, NOW).is_ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let certs = certificates();
    let valid = encoded("valid.xml");
    let forged = encoded("other_key.xml");
    assert!(validate(&valid, &certs), "the valid fixture validates");
    assert!(!validate(&forged, &certs), "the forged fixture is refused");

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("acs_validation");
    group.bench_function("valid_signed_response", |b| {
        b.iter(|| validate(black_box(&valid), &certs));
    });
    group.bench_function("refused_unconfigured_key", |b| {
        b.iter(|| validate(black_box(&forged), &certs));
    });
    group.finish();
    criterion.final_summary();

    // `cargo test --benches` runs this binary without `--bench`: keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let samples: usize = std::env::var("SAML_BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    for _ in 0..100 {
        validate(&valid, &certs);
    }
    let mut times: Vec<Duration> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            assert!(validate(black_box(&valid), &certs));
            start.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "acs_validation/valid_signed_response over {samples} timed validations: \
         median {:?}, p99 {:?}, max {:?}",
        percentile(&times, 0.50),
        percentile(&times, 0.99),
        times[times.len() - 1],
    );
}
