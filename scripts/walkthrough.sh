#!/usr/bin/env bash
# The README's 5-minute walkthrough, runnable and checked: two users, an organization, an
# invitation, a team, an app, and the check API explaining a denied and an allowed decision.
#
# By default it builds Portcullis and starts a server on a temp data dir and a free port, then
# stops it. Set PORTCULLIS_URL=http://127.0.0.1:8080 to run it against a fresh server you
# started yourself (the ids alice, bob, acme are created there).
# Needs curl, and jq or python3.
set -euo pipefail
cd "$(dirname "$0")/.."

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

# --- helpers ------------------------------------------------------------------------------

# json_get FILTER: reads JSON on stdin, prints the value at a jq-style path (.a.b, .a[0]).
json_get() {
    if command -v jq > /dev/null; then
        jq -c "$1"
    else
        python3 -c '
import json, re, sys
value = json.load(sys.stdin)
for key in re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", sys.argv[1]):
    value = value[key[0]] if key[0] else value[int(key[1])]
print(json.dumps(value, separators=(",", ":")))' "$1"
    fi
}

# api METHOD PATH TOKEN_VAR|- BODY|- EXPECTED_STATUS (a regex, e.g. 200|204): prints the curl command (as the README
# shows it), runs it, checks the status and leaves the response body in $body.
api() {
    local method="$1" path="$2" token_var="$3" data="$4" expected="$5"
    local args=(-sS -X "$method" "$BASE$path" -o "$work/body" -w '%{http_code}')
    local shown="curl -X $method \"\$BASE$path\""
    if [[ "$token_var" != "-" ]]; then
        args+=(-H "Authorization: Bearer ${!token_var}")
        shown+=" -H \"Authorization: Bearer \$$token_var\""
    fi
    if [[ "$data" != "-" ]]; then
        args+=(-H 'Content-Type: application/json' -d "$data")
        shown+=" -H 'Content-Type: application/json' -d '$data'"
    fi
    echo "\$ $shown"
    local status
    status="$(curl "${args[@]}")"
    body="$(cat "$work/body")"
    [[ -n "$body" ]] && echo "  → $status $body" || echo "  → $status"
    if [[ ! "$status" =~ ^($expected)$ ]]; then
        echo "FAILED: expected HTTP $expected" >&2
        exit 1
    fi
}

# expect FILTER VALUE: asserts a field of the last response body (compact JSON).
expect() {
    local actual
    actual="$(json_get "$1" <<< "$body")"
    if [[ "$actual" != "$2" ]]; then
        echo "FAILED: $1 is $actual, expected $2" >&2
        exit 1
    fi
}

field() {
    json_get "$1" <<< "$body" | tr -d '"'
}

# mailed_token RECIPIENT PREFIX: the token of the newest link mailed to RECIPIENT. Without
# `smtp_url` mail waits in the outbox, which `portcullis outbox` prints.
mailed_token() {
    "$binary" outbox "${store_args[@]}" --limit 100 | grep "\"recipient\":\"$1\"" \
        | grep -o "token=$2_[A-Za-z0-9]*" | head -1 | cut -d= -f2
}

step() {
    printf '\n## %s\n' "$*"
}

# --- a server -----------------------------------------------------------------------------

source "$(dirname "${BASH_SOURCE[0]}")/lib/portcullis-bin.sh"
# Where `portcullis outbox` reads the mail from (its own PORTCULLIS_DATA_DIR or
# PORTCULLIS_DATABASE_URL for a server you started).
store_args=()
if [[ -n "${PORTCULLIS_URL:-}" ]]; then
    BASE="${PORTCULLIS_URL%/}"
else
    store_args=(--data-dir "$work/data")
    "$binary" serve --data-dir "$work/data" --listen 127.0.0.1:0 > "$work/stdout" 2> "$work/server.log" &
    server_pid=$!
    for _ in $(seq 1 100); do
        grep -q 'listening on' "$work/stdout" 2> /dev/null && break
        kill -0 "$server_pid" 2> /dev/null || { cat "$work/server.log" >&2; exit 1; }
        sleep 0.1
    done
    BASE="$(sed -n 's/^portcullis listening on //p' "$work/stdout")"
    [[ -n "$BASE" ]] || { echo "the server did not start" >&2; cat "$work/server.log" >&2; exit 1; }
fi
echo "Portcullis at $BASE"

# --- the walkthrough ----------------------------------------------------------------------

step "1. Sign up two users and log in"
api POST /v1/signup - '{"id": "alice", "email": "alice@example.com", "password": "correct-horse-alice", "first_name": "Alice", "last_name": "Admin"}' 201
api POST /v1/signup - '{"id": "bob", "email": "bob@example.com", "password": "correct-horse-bob", "first_name": "Bob", "last_name": "Builder"}' 201
api POST /v1/login - '{"email": "alice@example.com", "password": "correct-horse-alice"}' 200
ALICE="$(field .session_token)"
api POST /v1/login - '{"email": "bob@example.com", "password": "correct-horse-bob"}' 200
BOB="$(field .session_token)"

step "2. Alice creates the organization acme (she becomes its admin)"
api POST /v1/orgs ALICE '{"id": "acme", "name": "Acme Corp", "billing_email": "billing@acme.example"}' 201

step "3. Alice invites Bob as a team contributor; Bob accepts through the link mailed to him"
api POST /v1/orgs/acme/invitations ALICE '{"email": "bob@example.com", "role": "team_contributor"}' 201
expect .state '"pending"'
INVITE_TOKEN="$(mailed_token bob@example.com pci)"
[[ -n "$INVITE_TOKEN" ]] || { echo "FAILED: no invitation mail for bob" >&2; exit 1; }
echo "\$ INVITE_TOKEN=\$(portcullis outbox | ...)   # the token of the link in Bob's invitation mail"
api POST /v1/invitations/accept BOB "{\"token\": \"$INVITE_TOKEN\"}" 200
expect .state '"accepted"'

step "4. Alice creates the team ml-team and the app vision"
api POST /v1/orgs/acme/teams ALICE '{"id": "ml-team", "name": "ML team"}' 201
api POST /v1/accounts/acme/apps ALICE '{"id": "vision", "name": "Vision"}' 201

step "5. The team gets the app as model_trainer, and Bob joins the team"
api PUT /v1/orgs/acme/teams/ml-team/apps/vision ALICE '{"role": "model_trainer"}' 200
expect .role '"model_trainer"'
api PUT /v1/orgs/acme/teams/ml-team/members/bob ALICE - '200|204'

step "6. May Bob delete the app? No: his org role does not carry app.delete"
api POST /v1/check ALICE '{"subject": {"user": "bob"}, "permission": "app.delete", "resource": {"account": "acme", "app": "vision"}}' 200
expect .allowed false
expect .reason '"role_lacks_permission"'
expect .via '[]'

step "7. May Bob edit its description? No: his role could, but the team role is the ceiling"
api POST /v1/check ALICE '{"subject": {"user": "bob"}, "permission": "app.edit_description", "resource": {"account": "acme", "app": "vision"}}' 200
expect .allowed false
expect .reason '"team_role_lacks_permission"'

step "8. May Bob create models in it? Yes, through his team"
api POST /v1/check ALICE '{"subject": {"user": "bob"}, "permission": "models.create", "resource": {"account": "acme", "app": "vision"}}' 200
expect .allowed true
expect .reason null
expect .via '["team:ml-team(model_trainer)"]'

step "9. The API enforces the same decision: Bob cannot delete the app"
api DELETE /v1/accounts/acme/apps/vision BOB - 403
expect .code '"permission.denied"'

step "10. Bob's own effective permissions on the app"
api GET "/v1/me/permissions?account=acme&app=vision" BOB - 200
expect .app '"vision"'

printf '\nwalkthrough passed\n'
