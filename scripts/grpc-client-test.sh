#!/usr/bin/env bash
# The gRPC check API through an independent client (docs/grpc.md): Python grpcio, its stubs
# generated from the committed crates/grpc/proto by grpcio-tools at test time. Starts
# `portcullis serve` on a fresh SQLite data dir and a free port, creates the operator's PAT
# (`init --print-token`), an organization with an app and an outsider over HTTP, then runs
# scripts/grpc/client_test.py against the same port (h2c). The Python environment (pinned in
# scripts/grpc/requirements.txt) is made once per machine (scripts/lib/cached-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib/cached-env.sh
requirements=scripts/grpc/requirements.txt
cached_venv target/grpc-venv "$( (cat "$requirements"; python3 --version) | digest)" \
    -r "$requirements"

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2> /dev/null; then
        kill -TERM "$server_pid"
        wait "$server_pid" || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

source scripts/lib/portcullis-bin.sh

export PORTCULLIS_ADMIN_PASSWORD="operator-password-$RANDOM$RANDOM"
TOKEN="$("$binary" init --data-dir "$work/data" --id operator --email operator@example.com --print-token 2> /dev/null)"
"$binary" serve --data-dir "$work/data" --listen 127.0.0.1:0 > "$work/stdout" 2> "$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
    grep -q 'listening on' "$work/stdout" 2> /dev/null && break
    kill -0 "$server_pid" 2> /dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done
BASE="$(sed -n 's/^portcullis listening on //p' "$work/stdout")"
[[ -n "$BASE" ]] || { echo "the server did not start" >&2; exit 1; }

# call METHOD PATH TOKEN BODY: one seeding request; fails the script on any non-2xx.
call() {
    local status
    status="$(curl -sS -o "$work/body" -w '%{http_code}' -X "$1" "$BASE$2" \
        -H "Authorization: Bearer $3" -H 'Content-Type: application/json' ${4:+-d "$4"})"
    if [[ ! "$status" =~ ^2 ]]; then
        echo "seeding $1 $2 failed with $status: $(cat "$work/body")" >&2
        exit 1
    fi
}
call POST /v1/orgs "$TOKEN" '{"id": "acme", "name": "Acme", "billing_email": "billing@example.com"}'
call POST /v1/accounts/acme/apps "$TOKEN" '{"id": "vision", "name": "Vision", "visibility": "private"}'
curl -sS -o /dev/null -X POST "$BASE/v1/signup" -H 'Content-Type: application/json' \
    -d '{"id": "bob", "email": "bob@example.com", "password": "correct-horse-bob", "first_name": "Bob", "last_name": "B"}'
curl -sS -o "$work/body" -X POST "$BASE/v1/login" -H 'Content-Type: application/json' \
    -d '{"email": "bob@example.com", "password": "correct-horse-bob"}'
BOB="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["session_token"])' "$work/body")"

mkdir -p "$work/stubs"
target/grpc-venv/bin/python scripts/grpc/client_test.py "${BASE#http://}" "$TOKEN" "$BOB" \
    crates/grpc/proto "$work/stubs"
