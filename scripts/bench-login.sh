#!/usr/bin/env bash
# Login cost with the OWASP argon2id parameters, and proof that hashing does not block other
# requests: check latency alone, then again while a login flood runs.
# Needs wrk (Debian package `wrk`). Loopback only; each load runs for a fixed, short time.
# Usage: scripts/bench-login.sh [seconds]   (prints a Markdown table)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
command -v wrk > /dev/null || { apt-get update -qq && apt-get install -y -qq wrk > /dev/null; }
cargo build -q --release -p portcullis
bin=target/release/portcullis
dir="$(mktemp -d)"
trap 'kill "$pid" 2> /dev/null || true; rm -rf "$dir"' EXIT

"$bin" serve --data-dir "$dir/data" --listen 127.0.0.1:0 > "$dir/out" 2> "$dir/err" &
pid=$!
for _ in $(seq 1 100); do grep -q listening "$dir/out" 2> /dev/null && break; sleep 0.1; done
base="$(sed -n 's/.*listening on //p' "$dir/out")"

json='Content-Type: application/json'
curl -sf -X POST "$base/v1/signup" -H "$json" \
  -d '{"id":"bench","email":"bench@example.com","password":"bench-password-123","first_name":"B","last_name":"B"}' > /dev/null
token="$(curl -sf -X POST "$base/v1/login" -H "$json" \
  -d '{"email":"bench@example.com","password":"bench-password-123"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["session_token"])')"
curl -sf -X POST "$base/v1/orgs" -H "Authorization: Bearer $token" -H "$json" \
  -d '{"id":"acme","name":"Acme","billing_email":"b@example.com"}' > /dev/null

cat > "$dir/check.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
wrk.body = '{"subject":{"user":"bench"},"permission":"apps.create","resource":{"org":"acme"}}'
LUA
cat > "$dir/login.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"bench@example.com","password":"bench-password-123"}'
LUA

# wrk's latency distribution: p50 and p99 lines, and requests/s.
summary() { awk '/^ +50%/{p50=$2} /^ +99%/{p99=$2} /^Requests\/sec/{rps=$2} END{print p50, p99, rps}' "$1"; }

wrk -t1 -c4 -d"${secs}s" --latency -s "$dir/check.lua" "$base/v1/check" > "$dir/check-alone"
wrk -t1 -c4 -d"${secs}s" --latency -s "$dir/login.lua" "$base/v1/login" > "$dir/login-alone"
wrk -t1 -c8 -d"${secs}s" --latency -s "$dir/login.lua" "$base/v1/login" > "$dir/login-flood" &
flood=$!
sleep 1
wrk -t1 -c4 -d"$((secs - 2))s" --latency -s "$dir/check.lua" "$base/v1/check" > "$dir/check-flood"
wait "$flood"

read -r c50 c99 crps < <(summary "$dir/check-alone")
read -r l50 l99 lrps < <(summary "$dir/login-alone")
read -r f50 f99 frps < <(summary "$dir/login-flood")
read -r cf50 cf99 cfrps < <(summary "$dir/check-flood")
echo "| measurement ($(nproc) cores, ${secs}s each) | p50 | p99 | requests/s |"
echo "|---|---|---|---|"
echo "| POST /v1/login, 4 connections | $l50 | $l99 | $lrps |"
echo "| POST /v1/check alone, 4 connections | $c50 | $c99 | $crps |"
echo "| POST /v1/login flood, 8 connections | $f50 | $f99 | $frps |"
echo "| POST /v1/check during the login flood | $cf50 | $cf99 | $cfrps |"
