#!/usr/bin/env bash
# A short run of the benchmark at a tiny size: Portcullis, the two floors and the
# comparison engines compiled in answer the same query stream and must agree with Portcullis on
# every query; the SQLite bulk load (and the PostgreSQL one when PostgreSQL answers at
# PORTCULLIS_TEST_POSTGRES_URL) must give an index that answers identically, and every role
# change, team change and grant must be visible to the next check. Exits non-zero on any
# disagreement. No timing is asserted.
#
# BENCH_SMOKE_ENGINES picks the comparison engines compiled in (cargo features of bench/):
# "cedar,casbin" by default; CI passes one ("casbin") to bound the cold compile time.
# Builds in bench/target with the `smoke` profile (unoptimised, no debug info: the fastest cold
# build; the tiny sizes need no optimiser).
set -euo pipefail
cd "$(dirname "$0")/../bench"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
engines="${BENCH_SMOKE_ENGINES-cedar,casbin}"
cargo build --profile smoke --no-default-features --features "$engines" --bin bench
# BENCH_SMOKE_BUILD_ONLY=1: compile and stop (scripts/test.sh builds it in the background).
if [[ -n "${BENCH_SMOKE_BUILD_ONLY:-}" ]]; then
    exit 0
fi
bin=target/smoke/bench
out="$("$bin" engines 2000 20000)"
agreed=$(grep -o '"engine": "[^"]*"' <<< "$out" | cut -d'"' -f4 | paste -sd, -)
dir="$(mktemp -d)"
pg_db=""
pg_admin="${PORTCULLIS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
cleanup() {
    rm -rf "$dir"
    if [[ -n "$pg_db" ]]; then psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pg_db" || true; fi
}
trap cleanup EXIT
"$bin" store "sqlite://$dir/portcullis.db?mode=rwc" 2000 20000 4 > /dev/null
stores="SQLite"
if command -v psql > /dev/null && pg_isready -q -d "$pg_admin" 2> /dev/null; then
    pg_db="pcl_t_bench_smoke_$$"
    psql -q "$pg_admin" -c "CREATE DATABASE $pg_db"
    "$bin" store "${pg_admin%/*}/$pg_db" 2000 20000 4 > /dev/null
    stores="SQLite, PostgreSQL"
fi
echo "bench smoke: every answer identical ($agreed); index loaded from $stores identical; every write visible to the next check"
