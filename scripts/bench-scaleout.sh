#!/usr/bin/env bash
# Scale-out figures for docs/deployment.md, on release builds, with wrk:
#   1. check throughput: one server vs two on the same PostgreSQL, direct and through nginx;
#   2. write throughput (team creations) with one server and with two;
#   3. revision lag: how long after a write on A answers until B's index reaches its revision,
#      sampled while a write load runs on A (p50/p90/p99/max);
#   4. catch-up: B frozen (SIGSTOP) while A writes, then resumed; and B restarted after writes.
# Not run in CI. Creates and drops its own database on PORTCULLIS_TEST_POSTGRES_URL's server.
# DURATION (seconds per wrk run, default 10), CONNECTIONS (default 32), PORTCULLIS_BIN (a
# binary to measure instead of building the release one).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

postgres_url="${PORTCULLIS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
ADMIN_URL="${postgres_url%/*}/postgres"
DB="pcl_bench_scaleout_$$"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-32}"
for tool in wrk nginx psql python3 curl jq; do
    command -v "$tool" > /dev/null || { echo "needs $tool" >&2; exit 1; }
done

if [[ -n "${PORTCULLIS_BIN:-}" ]]; then
    BIN="$PORTCULLIS_BIN" # e.g. a debug build, when a release build is out of reach
else
    cargo build -q --release -p portcullis
    BIN="$repo/target/release/portcullis"
fi

work="$(mktemp -d)"
chmod 755 "$work"
cd "$work"
PID_A="" PID_B="" PID_NGINX=""
cleanup() {
    for pid in $PID_NGINX $PID_A $PID_B; do
        kill -CONT "$pid" 2> /dev/null || true
        kill -TERM "$pid" 2> /dev/null || true
        wait "$pid" 2> /dev/null || true
    done
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" > /dev/null 2>&1 || true
    cd /
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 30000))
        if ! (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
            echo "$port"
            return
        fi
    done
}

psql "$ADMIN_URL" -qc "CREATE DATABASE $DB"
export PORTCULLIS_DATABASE_URL="${ADMIN_URL%/*}/$DB"
PORTCULLIS_SECRET_KEYS="$("$BIN" secrets new-key)"
export PORTCULLIS_SECRET_KEYS
export PORTCULLIS_ADMIN_PASSWORD="bench-operator-password"
export RUST_LOG=warn
OP="$("$BIN" init --id op --email op@example.com --print-token)"
export OP

# start_server NAME: starts `serve` on a free port; sets PORT_<NAME> and PID_<NAME>.
start_server() {
    local port
    port="$(free_port)"
    "$BIN" serve --listen "127.0.0.1:$port" > "$1.out" 2> "$1.log" &
    printf -v "PID_$1" '%s' "$!"
    printf -v "PORT_$1" '%s' "$port"
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2> /dev/null && return 0
        sleep 0.05
    done
    echo "server $1 did not start" >&2
    exit 1
}
start_server A
start_server B
A="http://127.0.0.1:$PORT_A"
B="http://127.0.0.1:$PORT_B"

# Two proxies in one nginx: PROXY1 over A only, PROXY2 over A and B.
PORT_P1="$(free_port)"
PORT_P2="$(free_port)"
cat > nginx.conf << EOF
worker_processes 1;
pid $PWD/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $PWD/nginx-temp;
    proxy_temp_path $PWD/nginx-temp;
    fastcgi_temp_path $PWD/nginx-temp;
    upstream one { server 127.0.0.1:$PORT_A; keepalive 64; }
    upstream two { server 127.0.0.1:$PORT_A; server 127.0.0.1:$PORT_B; keepalive 64; }
    server {
        listen 127.0.0.1:$PORT_P1;
        location / { proxy_pass http://one; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
    server {
        listen 127.0.0.1:$PORT_P2;
        location / { proxy_pass http://two; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
EOF
nginx -p "$PWD" -e "$PWD/nginx.log" -c "$PWD/nginx.conf" -g 'daemon off;' &
PID_NGINX=$!
sleep 0.5
P1="http://127.0.0.1:$PORT_P1"
P2="http://127.0.0.1:$PORT_P2"

curl -fsS -o /dev/null -X POST "$A/v1/orgs" -H "Authorization: Bearer $OP" \
    -H 'Content-Type: application/json' \
    -d '{"id": "acme", "name": "Acme", "billing_email": "billing@example.com"}'

cat > check.lua << 'EOF'
wrk.method = "POST"
wrk.body = '{"subject":{"user":"op"},"permission":"members.manage","resource":{"org":"acme"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("OP")
EOF
cat > write.lua << 'EOF'
-- Each request creates a new team in acme (a write: team row, audit entry, change-feed row).
local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("tid", threads)
end
local counter = 0
function request()
    counter = counter + 1
    local id = os.getenv("PREFIX") .. "-" .. tid .. "-" .. counter
    return wrk.format("POST", "/v1/orgs/acme/teams",
        {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("OP")},
        '{"id":"' .. id .. '","name":"' .. id .. '"}')
end
EOF

# wrk_run LABEL URL SCRIPT [PREFIX]: runs wrk, prints requests/s, latency and errors.
wrk_run() {
    local label="$1" url="$2" script="$3"
    PREFIX="${4:-x}" wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$script" "$url" > "wrk-$label.txt"
    rps="$(awk '/^Requests\/sec/ { print $2 }' "wrk-$label.txt")"
    local p50 p99 errors
    p50="$(awk '$1 == "50%" { print $2 }' "wrk-$label.txt")"
    p99="$(awk '$1 == "99%" { print $2 }' "wrk-$label.txt")"
    errors="$(awk '/Non-2xx/ { print $5 }' "wrk-$label.txt")"
    printf '%-44s %10s req/s   p50 %-9s p99 %-9s non-2xx %s   (load %s)\n' \
        "$label" "$rps" "$p50" "$p99" "${errors:-0}" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# Two wrk runs at once (one per server); prints the sum.
wrk_pair() {
    local label="$1" url1="$2" url2="$3" script="$4"
    PREFIX=p1 wrk -t1 -c$((CONNECTIONS / 2)) -d"${DURATION}s" -s "$script" "$url1" > "wrk-$label-1.txt" &
    local first=$!
    PREFIX=p2 wrk -t1 -c$((CONNECTIONS / 2)) -d"${DURATION}s" -s "$script" "$url2" > "wrk-$label-2.txt"
    wait "$first"
    local r1 r2
    r1="$(awk '/^Requests\/sec/ { print $2 }' "wrk-$label-1.txt")"
    r2="$(awk '/^Requests\/sec/ { print $2 }' "wrk-$label-2.txt")"
    printf '%-44s %10s req/s   (%s + %s)   (load %s)\n' "$label" "$(python3 -c "print(round($r1 + $r2))")" \
        "$r1" "$r2" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

echo "## binary: $BIN"
echo "## machine: $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg); wrk -c$CONNECTIONS, ${DURATION}s a run"
echo "## 1. check throughput (POST /v1/check, allowed via role:admin)"
wrk_run "checks, one server direct" "$A/v1/check" check.lua
wrk_pair "checks, two servers direct (sum)" "$A/v1/check" "$B/v1/check" check.lua
wrk_run "checks via nginx, one upstream" "$P1/v1/check" check.lua
wrk_run "checks via nginx, two upstreams" "$P2/v1/check" check.lua

echo "## 2. write throughput (POST /v1/orgs/acme/teams)"
wrk_run "writes, one server direct" "$A/" write.lua w1
wrk_pair "writes, two servers direct (sum)" "$A/" "$B/" write.lua
wrk_run "writes via nginx, two upstreams" "$P2/" write.lua w3

echo "## 3. revision lag on B of writes made on A, under a write load on A"
cat > lag.py << 'EOF'
import http.client, json, os, sys, time
a = http.client.HTTPConnection("127.0.0.1", int(os.environ["PORT_A"]))
b = http.client.HTTPConnection("127.0.0.1", int(os.environ["PORT_B"]))
auth = {"Authorization": "Bearer " + os.environ["OP"], "Content-Type": "application/json"}
check = json.dumps({"subject": {"user": "op"}, "permission": "members.manage", "resource": {"org": "acme"}})
samples, polls = [], 0
for i in range(int(sys.argv[1])):
    body = json.dumps({"id": f"lag-{sys.argv[2]}-{i}", "name": "lag"})
    a.request("POST", "/v1/orgs/acme/teams", body, auth)
    r = a.getresponse(); r.read()
    assert r.status == 201, r.status
    revision = int(r.getheader("portcullis-revision"))
    written = time.perf_counter()
    while True:
        b.request("POST", "/v1/check", check, auth)
        r = b.getresponse(); answer = json.loads(r.read())
        polls += 1
        if answer["revision"] >= revision:
            samples.append((time.perf_counter() - written) * 1000)
            break
    time.sleep(0.01)
samples.sort()
q = lambda p: samples[min(len(samples) - 1, int(p * len(samples)))]
print(f"{len(samples)} writes: lag p50 {q(0.5):.1f} ms, p90 {q(0.9):.1f} ms, p99 {q(0.99):.1f} ms, max {samples[-1]:.1f} ms ({polls} polls of B)")
EOF
export PORT_A PORT_B
printf '%-44s ' "idle (no other load)"
python3 lag.py 200 idle
PREFIX=bg wrk -t1 -c8 -d60s -s write.lua "$A/" > wrk-background.txt &
wrk_bg=$!
sleep 1
printf '%-44s ' "under a write load on A (wrk -c8)"
python3 lag.py 300 loaded
kill "$wrk_bg" 2> /dev/null || true
wait "$wrk_bg" 2> /dev/null || true

echo "## 4. catch-up"
store_revision() { curl -fsS "$A/readyz" | jq .store_revision; }
b_revision() {
    curl -fsS -X POST "$B/v1/check" -H "Authorization: Bearer $OP" -H 'Content-Type: application/json' \
        -d '{"subject":{"user":"op"},"permission":"members.manage","resource":{"org":"acme"}}' | jq .revision
}
now_ms() { date +%s%3N; }
kill -STOP "$PID_B"
before="$(store_revision)"
PREFIX=frozen wrk -t2 -c16 -d5s -s write.lua "$A/" > wrk-frozen.txt
target="$(store_revision)"
kill -CONT "$PID_B"
started="$(now_ms)"
while (($(b_revision) < target)); do sleep 0.005; done
echo "B frozen for $((target - before)) writes, resumed: caught up in $(($(now_ms) - started)) ms (feed, incremental)"

kill -KILL "$PID_B"
wait "$PID_B" 2> /dev/null || true
PREFIX=down wrk -t2 -c16 -d5s -s write.lua "$A/" > wrk-down.txt
target="$(store_revision)"
teams="$(psql "$PORTCULLIS_DATABASE_URL" -Atc 'SELECT count(*) FROM teams')"
started="$(now_ms)"
"$BIN" serve --listen "127.0.0.1:$PORT_B" > B.out 2> B.log &
PID_B=$!
until curl -fsS -o /dev/null "$B/readyz" 2> /dev/null; do sleep 0.005; done
while (($(b_revision) < target)); do sleep 0.005; done
echo "B killed (-9), $teams teams / revision $target in the store: restarted and ready at it in $(($(now_ms) - started)) ms (process start + index load)"
echo "## load after: $(cut -d' ' -f1-3 /proc/loadavg)"
