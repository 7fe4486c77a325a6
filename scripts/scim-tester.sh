#!/usr/bin/env bash
# SCIM 2.0 conformance with an independent checker: scim2-tester (PyPI, pinned in
# scripts/scim-tester/requirements.txt) against every organization's SCIM endpoint.
#
# Starts `portcullis serve` on a fresh SQLite data dir and a free port (public_url set to it, so
# `meta.location` and the `$ref`s the checker follows are this server's), creates the platform
# operator with `portcullis init --print-token`, two organizations with a SCIM token each
# (`POST /v1/orgs/{org}/scim/tokens`), then:
#   - runs every scim2-tester check against each org's `/scim/v2/orgs/{org}/`
#     (scripts/scim-tester/check.py: any failed check fails the script);
#   - checks tenant isolation: org A's token on org B's endpoint, a SCIM token on a /v1 route,
#     the operator's PAT on a SCIM endpoint and no token at all are each refused with 401, and
#     org B's users created by the checker are not visible through org A's endpoint.
# The Python environment is made once per machine (scripts/lib/cached-env.sh; scripts/setup.sh
# makes it too).
set -euo pipefail
cd "$(dirname "$0")/.."

source "$(dirname "${BASH_SOURCE[0]}")/lib/cached-env.sh"
requirements=scripts/scim-tester/requirements.txt
venv=target/scim-tester-venv
cached_venv "$venv" "$( (cat "$requirements"; python3 --version) | digest)" -r "$requirements"

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

source "$(dirname "${BASH_SOURCE[0]}")/lib/portcullis-bin.sh"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
export PORTCULLIS_ADMIN_PASSWORD="operator-password-$RANDOM$RANDOM"
operator="$("$binary" init --data-dir "$work/data" --id operator --email operator@example.com --print-token 2> /dev/null)"
unset PORTCULLIS_ADMIN_PASSWORD
"$binary" serve --data-dir "$work/data" --listen "127.0.0.1:$port" --public-url "$base" \
    > "$work/stdout" 2> "$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
    grep -q 'listening on' "$work/stdout" 2> /dev/null && break
    kill -0 "$server_pid" 2> /dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done
grep -q 'listening on' "$work/stdout" || { echo "the server did not start" >&2; exit 1; }
echo "Portcullis at $base"

# call METHOD PATH TOKEN [BODY]: one set-up request; fails the script on any non-2xx.
call() {
    local status
    status="$(curl -sS -o "$work/body" -w '%{http_code}' -X "$1" "$base$2" \
        -H "Authorization: Bearer $3" -H 'Content-Type: application/json' ${4:+-d "$4"})"
    if [[ ! "$status" =~ ^2 ]]; then
        echo "set-up $1 $2 failed with $status: $(cat "$work/body")" >&2
        exit 1
    fi
}
field() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/body" "$1"
}

declare -A scim_token
for org in acme globex; do
    call POST /v1/orgs "$operator" "{\"id\": \"$org\", \"name\": \"$org\", \"billing_email\": \"billing@$org.example\"}"
    call POST "/v1/orgs/$org/scim/tokens" "$operator" '{"description": "scim2-tester"}'
    scim_token[$org]="$(field token)"
done

status=0
for org in acme globex; do
    echo "==== scim2-tester against $base/scim/v2/orgs/$org/ ===="
    SCIM_TOKEN="${scim_token[$org]}" "$venv/bin/python" scripts/scim-tester/check.py \
        "$base/scim/v2/orgs/$org/" "$org" || status=1
done

echo "==== tenant isolation ===="
# expect STATUS METHOD PATH TOKEN WHAT: the request must answer STATUS.
expect() {
    local got
    got="$(curl -sS -o "$work/body" -w '%{http_code}' -X "$2" "$base$3" ${4:+-H "Authorization: Bearer $4"})"
    if [[ "$got" == "$1" ]]; then
        echo "ok   $5: $got"
    else
        echo "FAIL $5: expected $1, got $got: $(head -c 300 "$work/body")"
        status=1
    fi
}
expect 401 GET /scim/v2/orgs/globex/Users "${scim_token[acme]}" "acme's SCIM token on globex's Users"
expect 401 GET /scim/v2/orgs/globex/ServiceProviderConfig "${scim_token[acme]}" \
    "acme's SCIM token on globex's ServiceProviderConfig"
expect 401 GET /v1/orgs/acme "${scim_token[acme]}" "acme's SCIM token on /v1/orgs/acme"
expect 401 GET /v1/orgs/acme/members "${scim_token[acme]}" "acme's SCIM token on /v1/orgs/acme/members"
expect 401 GET /scim/v2/orgs/acme/Users "$operator" "the operator's PAT on acme's SCIM endpoint"
expect 401 GET /scim/v2/orgs/acme/Users "" "no token on acme's SCIM endpoint"
expect 200 GET /scim/v2/orgs/acme/Users "${scim_token[acme]}" "acme's SCIM token on its own Users"
# A user provisioned in globex is out of reach through acme's endpoint: not by id, not by any
# filter (the checker cleans up what it made, so this one is made here).
scim() {
    curl -sS -o "$work/body" -w '%{http_code}' -X "$1" "$base/scim/v2/orgs/$2" \
        -H "Authorization: Bearer $3" -H 'Content-Type: application/scim+json' ${4:+-d "$4"}
}
created="$(scim POST globex/Users "${scim_token[globex]}" \
    '{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "gina@globex.example", "externalId": "globex-gina", "name": {"givenName": "Gina", "familyName": "G"}, "emails": [{"value": "gina@globex.example", "primary": true}]}')"
if [[ "$created" != 201 ]]; then
    echo "FAIL creating a user in globex: $created $(head -c 300 "$work/body")"
    status=1
else
    gina="$(field id)"
    expect 404 GET "/scim/v2/orgs/acme/Users/$gina" "${scim_token[acme]}" "globex's user by id through acme"
    for filter in 'userName eq "gina@globex.example"' 'externalId eq "globex-gina"' \
        'emails.value co "globex"' 'userName sw "gina"' 'userName pr' \
        'userName eq "gina@globex.example" or externalId pr'; do
        scim GET "acme/Users?filter=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$filter")" \
            "${scim_token[acme]}" > "$work/code"
        found="$(python3 -c 'import json, sys; print(sum(u.get("userName") == "gina@globex.example" for u in json.load(open(sys.argv[1])).get("Resources", [])))' "$work/body" 2> /dev/null || echo error)"
        if [[ "$(cat "$work/code")" == 200 && "$found" == 0 ]]; then
            echo "ok   acme's filter '$filter' does not reach globex's user"
        else
            echo "FAIL acme's filter '$filter': $(cat "$work/code"), found $found: $(head -c 300 "$work/body")"
            status=1
        fi
    done
fi

if grep -qE 'panicked| ERROR ' "$work/server.log"; then
    echo "the server logged errors:" >&2
    grep -E 'ERROR|panicked' "$work/server.log" | head -20 >&2
    status=1
fi
if ((status != 0)); then
    cp "$work/server.log" target/scim-tester-server.log
    echo "scim2-tester or the isolation checks failed; server log: target/scim-tester-server.log" >&2
    exit 1
fi
echo "scim2-tester passed on every organization's endpoint; isolation holds"
