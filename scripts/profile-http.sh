#!/usr/bin/env bash
# Where the CPU of one `POST /v1/check` goes, against the minimal axum floor:
# both servers run under `valgrind --tool=callgrind`, which counts instructions (repeatable
# whatever else the machine does), with counters zeroed after warm-up and dumped after a fixed
# load. Writes target/bench/profile/{portcullis,floor}.txt (inclusive cost per function) and
# prints instructions per request for each. Kernel time (socket reads and writes) is not
# counted: callgrind sees user space only.
#
# Needs: valgrind, wrk, curl, jq; release builds of `portcullis` and of the bench crate (scripts/bench.sh
# builds both). MEMBERS (default 10000) sizes the data set; DURATION (default 20) the load.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
MEMBERS="${MEMBERS:-10000}"
DURATION="${DURATION:-20}"
out="$root/target/bench/profile"
mkdir -p "$out"
cargo build -q --release -p portcullis
cargo build -q --release -p portcullis-bench --bin bench --bin floor_server
portcullis="$root/target/release/portcullis"
bench="$root/target/release/bench"
floor="$root/target/release/floor_server"

work="$(mktemp -d)"
pid=""
cleanup() {
    [[ -n "$pid" ]] && kill "$pid" 2> /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# profile <name> <port> <command...>: the command under callgrind, TOKEN and the lua script set.
profile() {
    local name=$1 port=$2
    shift 2
    valgrind --tool=callgrind --callgrind-out-file="$out/$name.callgrind" "$@" \
        > "$work/$name.stdout" 2> "$work/$name.log" &
    pid=$!
    for _ in $(seq 1 300); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && break
        sleep 1
    done
    if [[ "$name" == portcullis ]]; then
        local session
        session=$(curl -sf -X POST "http://127.0.0.1:$port/v1/login" -H 'content-type: application/json' \
            -d '{"email":"operator@profile.test","password":"Profile-operator-password-2026"}' | jq -r .session_token)
        TOKEN=$(curl -sf -X POST "http://127.0.0.1:$port/v1/users/me/keys" -H 'content-type: application/json' \
            -H "authorization: Bearer $session" \
            -d '{"description":"profile","service":true,"scopes":["authz.check"]}' | jq -r .token)
        export TOKEN
    fi
    wrk -t1 -c4 -d5s -s "$work/check.lua" "http://127.0.0.1:$port/v1/check" > /dev/null
    callgrind_control -z "$pid" > /dev/null
    wrk -t1 -c4 -d"${DURATION}s" -s "$work/check.lua" "http://127.0.0.1:$port/v1/check" > "$work/$name.wrk"
    callgrind_control -d "$pid" > /dev/null
    kill "$pid"
    wait "$pid" 2> /dev/null || true
    pid=""
    local requests dump total
    requests=$(grep -oE '[0-9]+ requests in' "$work/$name.wrk" | awk '{print $1}')
    if grep -q 'Non-2xx' "$work/$name.wrk"; then
        echo "$name answered errors under load" >&2
        exit 1
    fi
    dump="$(ls -t "$out/$name.callgrind".* | head -n 1)"
    callgrind_annotate --inclusive=yes --threshold=99.5 "$dump" > "$out/$name.txt"
    total=$(sed -n 's/^\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' "$out/$name.txt" | tr -d ,)
    echo "$name: $requests requests, $((total / requests)) instructions per request (user space)"
    rm -f "$out/$name.callgrind"*
}

# The same data set the benchmark loads, in a fresh SQLite data directory.
mkdir -p "$work/data"
"$bench" store "sqlite://$work/data/portcullis.db?mode=rwc" "$MEMBERS" 1000 0 > /dev/null
PORTCULLIS_ADMIN_PASSWORD=Profile-operator-password-2026 "$portcullis" init --data-dir "$work/data" \
    --email operator@profile.test --id operator > /dev/null
"$bench" lua "$MEMBERS" 2000 1 "$work/check.lua" > /dev/null

profile portcullis 18095 "$portcullis" serve --data-dir "$work/data" --listen 127.0.0.1:18095 --log-format json
profile floor 18096 "$floor" "$MEMBERS" 127.0.0.1:18096
echo "inclusive costs per function: $out/portcullis.txt, $out/floor.txt"
