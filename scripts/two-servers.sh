#!/usr/bin/env bash
# The tested example of docs/deployment.md: two `portcullis serve` processes on one PostgreSQL
# database behind nginx. Creates its own database on the server at PORTCULLIS_TEST_POSTGRES_URL
# (default postgres://postgres@127.0.0.1:5432/test), starts both servers and the proxy on free
# loopback ports, runs a short scenario through the proxy and directly on each server, then
# stops everything and drops the database. Exits non-zero on any failure.
#
# Needs: psql, pg_dump, pg_restore, nginx (Debian: nginx-light), curl, jq. Builds the binary
# unless PORTCULLIS_BIN names one. Every command block of the doc's example section appears
# verbatim below (checked first).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

postgres_url="${PORTCULLIS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

# --- the doc shows these commands: check they are the ones run here -----------------------
doc_blocks() {
    awk '/^## Example: two servers behind nginx/ { on = 1; next }
         on && /^## / { on = 0 }
         on && /^```sh$/ { block = ""; inside = 1; next }
         on && inside && /^```$/ { printf "%s\0", block; inside = 0; next }
         on && inside { block = block $0 "\n" }' docs/deployment.md
}
self="$(cat "$0")"
blocks=0
while IFS= read -r -d '' block; do
    blocks=$((blocks + 1))
    if [[ "$self" != *"$block"* ]]; then
        printf 'FAILED: this block of docs/deployment.md is not what scripts/two-servers.sh runs:\n%s' "$block" >&2
        exit 1
    fi
done < <(doc_blocks)
if ((blocks < 5)); then
    echo "FAILED: found only $blocks command blocks in docs/deployment.md" >&2
    exit 1
fi

# --- set-up the doc leaves to the reader: binary, ports, a unique database -----------------
source "$repo/scripts/lib/portcullis-bin.sh"
PORTCULLIS_BIN="$(realpath "$binary")"
bin_dir="$(mktemp -d)"
ln -s "$PORTCULLIS_BIN" "$bin_dir/portcullis"
export PATH="$bin_dir:$PATH"

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
PORT_A="$(free_port)"
PORT_B="$(free_port)"
PORT_PROXY="$(free_port)"
while [[ "$PORT_B" == "$PORT_A" ]]; do PORT_B="$(free_port)"; done
while [[ "$PORT_PROXY" == "$PORT_A" || "$PORT_PROXY" == "$PORT_B" ]]; do PORT_PROXY="$(free_port)"; done
ADMIN_URL="${postgres_url%/*}/postgres"
DB="pcl_t_two_servers_$$"
export PORTCULLIS_ADMIN_PASSWORD="operator-password-$RANDOM$RANDOM"

work="$(mktemp -d)"
cd "$work"
chmod 755 "$work" # nginx workers run as nobody when started by root
PID_A="" PID_B="" PID_NGINX=""
cleanup() {
    local status=$?
    for pid in $PID_NGINX $PID_A $PID_B; do
        kill -TERM "$pid" 2> /dev/null || true
        wait "$pid" 2> /dev/null || true
    done
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" > /dev/null 2>&1 || true
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS ${DB}_restored WITH (FORCE)" > /dev/null 2>&1 || true
    if ((status != 0)); then
        for log in a.log b.log nginx.log; do
            [[ -f "$log" ]] && { echo "--- $log (last 20 lines)"; tail -n 20 "$log"; }
        done
    fi
    cd /
    rm -rf "$work" "$bin_dir"
    exit "$status"
}
trap cleanup EXIT

trap 'echo "FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR

fail() {
    echo "FAILED: $*" >&2
    exit 1
}

# expect WHAT ACTUAL WANTED
expect() {
    if [[ "$2" != "$3" ]]; then
        fail "$1: got $2, expected $3"
    fi
    echo "ok: $1 ($2)"
}

# Waits until URL answers 200 (at most 30 s).
wait_ready() {
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null "$1" 2> /dev/null && return 0
        sleep 0.1
    done
    fail "$1 did not become ready"
}

# --- 1. one database, one operator ----------------------------------------------------------
echo "## database $DB, servers on $PORT_A and $PORT_B, nginx on $PORT_PROXY"
# [doc: database]
psql "$ADMIN_URL" -qc "CREATE DATABASE $DB"
export PORTCULLIS_DATABASE_URL="${ADMIN_URL%/*}/$DB"
# Every server of one database seals and opens stored secrets with the same key ring.
PORTCULLIS_SECRET_KEYS="$(portcullis secrets new-key)"
export PORTCULLIS_SECRET_KEYS
portcullis init --id op --email op@example.com --print-token > op.token
OP="$(cat op.token)"
# [/doc]

# --- 2. two servers -------------------------------------------------------------------------
# [doc: servers]
export PORTCULLIS_LOG_FORMAT=json
portcullis serve --listen "127.0.0.1:$PORT_A" > a.out 2> a.log &
PID_A=$!
portcullis serve --listen "127.0.0.1:$PORT_B" > b.out 2> b.log &
PID_B=$!
# [/doc]
wait_ready "http://127.0.0.1:$PORT_A/readyz"
wait_ready "http://127.0.0.1:$PORT_B/readyz"

# --- 3. nginx in front ----------------------------------------------------------------------
# [doc: nginx]
cat > nginx.conf << EOF
worker_processes 1;
pid $PWD/nginx.pid;
error_log $PWD/nginx.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $PWD/nginx-temp;
    proxy_temp_path $PWD/nginx-temp;
    fastcgi_temp_path $PWD/nginx-temp;
    upstream portcullis {
        server 127.0.0.1:$PORT_A max_fails=1 fail_timeout=5s;
        server 127.0.0.1:$PORT_B max_fails=1 fail_timeout=5s;
        keepalive 32;
    }
    server {
        listen 127.0.0.1:$PORT_PROXY;
        location / {
            proxy_pass http://portcullis;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_set_header X-Request-Id \$request_id;
            add_header X-Upstream \$upstream_addr always;
        }
    }
}
EOF
nginx -p "$PWD" -e "$PWD/nginx.log" -c "$PWD/nginx.conf" -g 'daemon off;' &
PID_NGINX=$!
# [/doc]
wait_ready "http://127.0.0.1:$PORT_PROXY/readyz"
PROXY="http://127.0.0.1:$PORT_PROXY"
A="http://127.0.0.1:$PORT_A"
B="http://127.0.0.1:$PORT_B"

# --- 4. a write through the proxy, its token honoured by the other server ------------------
# [doc: write]
revision_of() { grep -i '^portcullis-revision:' "$1" | tr -dc '0-9'; }
curl -sS -D headers -o org.json -X POST "$PROXY/v1/orgs" -H "Authorization: Bearer $OP" \
    -H 'Content-Type: application/json' \
    -d '{"id": "acme", "name": "Acme", "billing_email": "billing@example.com"}'
REVISION="$(revision_of headers)"
WROTE_ON="$(grep -i '^x-upstream:' headers | tr -d '\r' | cut -d' ' -f2)"
# [/doc]
grep -q '^HTTP/1.1 201' headers || fail "org creation: $(head -n 1 headers)"
[[ -n "$REVISION" ]] || fail "no portcullis-revision header"
case "$WROTE_ON" in
    "127.0.0.1:$PORT_A") OTHER="$B" ;;
    "127.0.0.1:$PORT_B") OTHER="$A" ;;
    *) fail "unknown upstream $WROTE_ON" ;;
esac
echo "org created on $WROTE_ON at revision $REVISION; checking on $OTHER"
# [doc: check]
curl -sS -X POST "$OTHER/v1/check" -H "Authorization: Bearer $OP" \
    -H 'Content-Type: application/json' \
    -d "{\"subject\": {\"user\": \"op\"}, \"permission\": \"members.manage\",
         \"resource\": {\"org\": \"acme\"}, \"consistency\": {\"at_least\": $REVISION}}" > check.json
# [/doc]
expect "check on the other server with the token" "$(jq -c '.allowed' check.json)" true
(($(jq '.revision' check.json) >= REVISION)) || fail "check answered at $(jq '.revision' check.json) < $REVISION"

# --- 5. revocation seen by both servers -----------------------------------------------------
# [doc: revoke]
jq -n --arg password "$PORTCULLIS_ADMIN_PASSWORD" '{email: "op@example.com", password: $password}' |
    curl -sS -D login.headers -X POST "$PROXY/v1/login" -H 'Content-Type: application/json' -d @- > login.json
SESSION="$(jq -r .session_token login.json)"
curl -sS -D key.headers -X POST "$PROXY/v1/users/me/keys" -H "Authorization: Bearer $SESSION" \
    -H "portcullis-revision: $(revision_of login.headers)" \
    -H 'Content-Type: application/json' -d '{"description": "ci", "scopes": ["all"]}' > key.json
PAT="$(jq -r .token key.json)"
KEY_ID="$(jq -r .id key.json)"
curl -sS -D revoke.headers -X DELETE "$PROXY/v1/users/me/keys/$KEY_ID" \
    -H "Authorization: Bearer $SESSION" -H "portcullis-revision: $(revision_of key.headers)"
REVOKED="$(revision_of revoke.headers)"
for server in "$A" "$B"; do
    curl -sS -o /dev/null -w "$server: %{http_code}\n" "$server/v1/users/me" \
        -H "Authorization: Bearer $PAT" -H "portcullis-revision: $REVOKED"
done
# [/doc]
[[ "$SESSION" == pcl_* ]] || fail "no session in $(cat login.json)"
[[ "$PAT" == pcl_* ]] || fail "no token in $(cat key.json)"
grep -q '^HTTP/1.1 204' revoke.headers || fail "revocation: $(head -n 1 revoke.headers)"
for server in "$A" "$B"; do
    status="$(curl -sS -o /dev/null -w '%{http_code}' "$server/v1/users/me" \
        -H "Authorization: Bearer $PAT" -H "portcullis-revision: $REVOKED")"
    expect "revoked token on $server with the token" "$status" 401
    status="$(curl -sS -o /dev/null -w '%{http_code}' "$server/v1/users/me" -H "Authorization: Bearer $PAT")"
    expect "revoked token on $server without the token" "$status" 401
done

# --- 6. health and metrics ------------------------------------------------------------------
# [doc: ops]
curl -sS "$A/readyz"
curl -sS "$B/metrics" | grep -E '^portcullis_index_revision(_lag)? '
# [/doc]
for server in "$A" "$B"; do
    ready="$(curl -sS "$server/readyz")"
    expect "$server ready at the store's revision" "$(jq '.revision == .store_revision' <<< "$ready")" true
    lag="$(curl -sS "$server/metrics" | awk '$1 == "portcullis_index_revision_lag" { print $2 }')"
    expect "$server revision lag" "$lag" 0
done

# --- 7. a backup with pg_dump, restored and verified ------------------------------------------
# [doc: backup]
pg_dump --format=custom --file=portcullis.dump "$PORTCULLIS_DATABASE_URL"
psql "$ADMIN_URL" -qc "CREATE DATABASE ${DB}_restored"
pg_restore --no-owner --dbname="${ADMIN_URL%/*}/${DB}_restored" portcullis.dump
portcullis audit verify --database-url "${ADMIN_URL%/*}/${DB}_restored"
# [/doc]

# --- 8. stop everything -----------------------------------------------------------------------
# [doc: stop]
kill -QUIT "$PID_NGINX"
kill -TERM "$PID_A" "$PID_B"
wait "$PID_NGINX"
wait "$PID_A"
wait "$PID_B"
psql "$ADMIN_URL" -qc "DROP DATABASE ${DB}_restored"
psql "$ADMIN_URL" -qc "DROP DATABASE $DB"
# [/doc]
PID_A="" PID_B="" PID_NGINX=""
echo "two servers behind nginx: all checks passed"
