#!/usr/bin/env bash
# Reproduces the benchmarks and writes docs/benchmarks.md and
# docs/benchmarks-scaling.svg from one run:
#   1. every engine in process (Portcullis, hash-map and dense floors, cedar-policy, casbin) on
#      the same data and query stream, at each size of BENCH_SIZES (answers must agree);
#   2. cold start: the data set bulk-loaded into SQLite and PostgreSQL, `Store::load_index`
#      timed and verified, rebuild from memory, role changes through the service;
#   3. HTTP: `portcullis serve` (release) over that SQLite data with a platform service key,
#      against a minimal axum endpoint, same wrk settings; CPU per request from /proc; then the
#      same checks over gRPC on the same port (bench/src/bin/grpc_load.rs: ghz is in no registry).
# Needs: wrk (apt-get install -y wrk), curl, jq, PostgreSQL at BENCH_POSTGRES_URL.
# Takes tens of minutes at the default sizes; BENCH_SIZES="10000" for a quick pass.
# BENCH_PARTS (default "engines store http") runs only some parts: "http" alone loads the
# SQLite data set (BENCH_STORE_MEMBERS) and prints the HTTP figures without writing the report,
# e.g. BENCH_PARTS=http BENCH_STORE_MEMBERS=10000 BENCH_WRK_ARGS="-t1 -c32 -d10s".
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

SIZES="${BENCH_SIZES:-10000 100000 1000000}"
PARTS=" ${BENCH_PARTS:-engines store http} "
QUERIES="${BENCH_QUERIES:-1000000}"
# The stream cedar and casbin answer (every query, verified against Portcullis): shorter, as
# each check costs them tens to hundreds of microseconds.
SLOW_QUERIES="${BENCH_SLOW_QUERIES:-200000}"
STORE_MEMBERS="${BENCH_STORE_MEMBERS:-1000000}"
WRITES="${BENCH_WRITES:-200}"
PG_ADMIN_URL="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
WRK_ARGS="${BENCH_WRK_ARGS:--t2 -c64 -d15s}"
# Sizes above this skip cedar and casbin (their memory and build time grow fastest: at 1M
# members they need several GiB and most of an hour on this machine).
SLOW_MAX="${BENCH_SLOW_MAX_MEMBERS:-1000000}"
results="$root/target/bench/results"
mkdir -p "$results"
rm -f "$results"/*.json
commands="$results/commands.txt"
: > "$commands"

run() {
    echo "+ $*" | sed "s#$root/##g" | tee -a "$commands" >&2
    "$@"
}

{
    lscpu | grep -E 'Model name|^CPU\(s\)|Thread|MHz|L2|L3' || true
    echo "nproc: $(nproc)"
    free -h
    uname -sr
    rustc -V
    echo "load at the start of the run: $(uptime)"
} > "$results/machine.txt"

if [[ "$PARTS" == *" engines "* ]]; then
    run cargo build --release -p portcullis-bench --features cedar,casbin --bins
else
    run cargo build --release -p portcullis-bench --features casbin --bins
fi
bench="$root/target/release/bench"

# 1. Engines in process.
[[ "$PARTS" == *" engines "* ]] || SIZES=""
for members in $SIZES; do
    if ((members > SLOW_MAX)); then
        run "$bench" engines "$members" "$QUERIES" --skip cedar,casbin > "$results/engines-$members.json"
        jq '.skipped = "cedar-policy, casbin"' "$results/engines-$members.json" > "$results/tmp.json"
        mv "$results/tmp.json" "$results/engines-$members.json"
    elif ((members >= 1000000)); then
        # The whole stream for the fast engines, its first SLOW_QUERIES for cedar and casbin.
        run "$bench" engines "$members" "$QUERIES" --slow-queries "$SLOW_QUERIES" > "$results/engines-$members.json"
    else
        run "$bench" engines "$members" "$SLOW_QUERIES" > "$results/engines-$members.json"
    fi
done

# 2. Cold start and writes.
data="$root/target/bench/http-data"
rm -rf "$data"
mkdir -p "$data"
run "$bench" store "sqlite://$data/portcullis.db?mode=rwc" "$STORE_MEMBERS" "$QUERIES" "$WRITES" > "$results/store-sqlite.json"
if [[ "$PARTS" != *" store "* ]]; then
    : # the SQLite data set above is what the HTTP part serves
elif pg_isready -q -d "$PG_ADMIN_URL" 2> /dev/null; then
    psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS pcl_bench" -c "CREATE DATABASE pcl_bench"
    pg_url="${PG_ADMIN_URL%/*}/pcl_bench"
    run "$bench" store "$pg_url" "$STORE_MEMBERS" "$QUERIES" "$WRITES" > "$results/store-postgres.json"
    psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS pcl_bench"
else
    echo "SKIPPED: PostgreSQL does not answer at $PG_ADMIN_URL" >&2
fi

# 3. HTTP.
if [[ "$PARTS" != *" http "* ]]; then
    echo "BENCH_PARTS=$PARTS: no HTTP part, no report" >&2
    exit 0
fi
run cargo build --release -p portcullis
portcullis="$root/target/release/portcullis"
password="Bench-operator-password-2026"
PORTCULLIS_ADMIN_PASSWORD="$password" run "$portcullis" init --data-dir "$data" \
    --email operator@bench.test --id operator > /dev/null
"$portcullis" serve --data-dir "$data" --listen 127.0.0.1:18090 --log-format json > "$results/serve.log" 2>&1 &
server=$!
floor_pid=""
cleanup() {
    kill "$server" 2> /dev/null || true
    [[ -n "$floor_pid" ]] && kill "$floor_pid" 2> /dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 120); do
    curl -sf http://127.0.0.1:18090/healthz > /dev/null 2>&1 && break
    sleep 1
done
session=$(curl -sf -X POST http://127.0.0.1:18090/v1/login -H 'content-type: application/json' \
    -d "{\"email\":\"operator@bench.test\",\"password\":\"$password\"}" | jq -r .session_token)
TOKEN=$(curl -sf -X POST http://127.0.0.1:18090/v1/users/me/keys -H 'content-type: application/json' \
    -H "authorization: Bearer $session" \
    -d '{"description":"bench","service":true,"scopes":["authz.check"]}' | jq -r .token)
export TOKEN
echo "+ created a platform service key (authz.check) through POST /v1/login and POST /v1/users/me/keys" >> "$commands"

run "$bench" lua "$STORE_MEMBERS" 10000 1 "$results/check.lua" > /dev/null
run "$bench" lua "$STORE_MEMBERS" 1000 100 "$results/batch.lua" > /dev/null

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# load <pid> <script> <url> <name>: wrk against a server, its CPU per request as JSON.
load() {
    local pid=$1 script=$2 url=$3 out="$results/wrk-$4.txt"
    # shellcheck disable=SC2086
    wrk -t2 -c16 -d3s -s "$script" "$url" > /dev/null
    local before after
    before=$(cpu_ticks "$pid")
    # shellcheck disable=SC2086
    run wrk $WRK_ARGS --latency -s "$script" "$url" > "$out"
    after=$(cpu_ticks "$pid")
    if grep -q 'Non-2xx' "$out"; then
        echo "non-2xx answers from $url:" >&2
        cat "$out" >&2
        exit 1
    fi
    local requests rps p99
    requests=$(grep -oE '[0-9]+ requests in' "$out" | awk '{print $1}')
    rps=$(awk '/Requests\/sec/ {print $2}' "$out")
    p99=$(awk '$1 == "99%" {print $2}' "$out")
    jq -n --argjson requests "$requests" --argjson rps "$rps" --arg p99 "$p99" \
        --argjson cpu "$(echo "($after - $before) / $ticks * 1000000 / $requests" | bc -l)" \
        '{requests: $requests, requests_per_s: $rps, latency_p99: $p99, cpu_us_per_request: $cpu}'
}
portcullis_json=$(load "$server" "$results/check.lua" http://127.0.0.1:18090/v1/check portcullis)
batch_json=$(load "$server" "$results/batch.lua" http://127.0.0.1:18090/v1/check/batch batch)
# The same checks over gRPC, same server and port (h2c), 64 callers as wrk's 64 connections.
grpc_load="$root/target/release/grpc_load"
grpc_seconds="${BENCH_GRPC_SECONDS:-15}"
grpc_check=$(run "$grpc_load" http://127.0.0.1:18090 "$STORE_MEMBERS" 10000 1 "$grpc_seconds" 64 "$server")
grpc_batch=$(run "$grpc_load" http://127.0.0.1:18090 "$STORE_MEMBERS" 1000 100 "$grpc_seconds" 64 "$server")
jq -n --argjson c "$grpc_check" --argjson b "$grpc_batch" '{check: $c, batch: $b}' > "$results/grpc.json"
kill "$server"
wait "$server" 2> /dev/null || true

"$root/target/release/floor_server" "$STORE_MEMBERS" 127.0.0.1:18091 2> "$results/floor.log" &
floor_pid=$!
for _ in $(seq 1 120); do
    grep -q listening "$results/floor.log" && break
    sleep 1
done
floor_json=$(load "$floor_pid" "$results/check.lua" http://127.0.0.1:18091/v1/check floor)
kill "$floor_pid"
echo "load at the end of the HTTP runs: $(uptime)" >> "$results/machine.txt"
jq -n --argjson p "$portcullis_json" --argjson b "$batch_json" --argjson f "$floor_json" \
    --arg wrk "wrk $WRK_ARGS --latency -s <script>" \
    '{portcullis: $p, batch: $b, floor: $f, wrk: $wrk}' > "$results/http.json"

# 4. The report (from every part only).
if [[ "$PARTS" != " engines store http " ]]; then
    jq . "$results/http.json"
    echo "BENCH_PARTS=$PARTS: no report written" >&2
    exit 0
fi
run "$root/target/release/report" "$results" docs
echo "wrote docs/benchmarks.md and docs/benchmarks-scaling.svg" >&2
