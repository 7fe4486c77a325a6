#!/usr/bin/env bash
# API fuzzing against the OpenAPI document with schemathesis.
#
# Builds Portcullis, starts `portcullis serve` on a fresh SQLite data dir and a free port,
# creates the platform operator with `portcullis init --print-token`, seeds one organization
# with a member, a team, an app with a model/workflow/module, a key, compute resources and an
# invitation (so generated requests also hit ids that exist), then runs schemathesis driven by
# the server's own /v1/openapi.json for a bounded time:
#   - not_a_server_error: no 5xx, ever;
#   - status_code_conformance, content_type_conformance, response_schema_conformance,
#     response_headers_conformance: every response is one the document declares;
#   - problem_json (scripts/schemathesis/portcullis_checks.py): every 4xx/5xx is
#     application/problem+json with matching `status` and a stable `code`;
#   - unsupported_method and negative_data_rejection: wrong methods and invalid input are refused;
#   - the stateful phase follows the document's OpenAPI links (and schemathesis's own
#     inference from Location headers and parameter names) through create → read → delete.
#
# Schemathesis (pinned below) is installed once per machine and linked at target/schemathesis-venv
# (scripts/lib/cached-env.sh).
# SCHEMATHESIS_MAX_TIME (seconds, default 130) bounds the main run, SCHEMATHESIS_SCIM_TIME
# (default 30) the pass over the SCIM endpoint with a SCIM token; SCHEMATHESIS_SEED fixes the
# seed (default: random, printed so a failure can be replayed).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION="4.32.5"
venv="target/schemathesis-venv"
max_time="${SCHEMATHESIS_MAX_TIME:-130}"
scim_time="${SCHEMATHESIS_SCIM_TIME:-30}"
seed="${SCHEMATHESIS_SEED:-$((RANDOM * 32768 + RANDOM))}"

source "$(dirname "${BASH_SOURCE[0]}")/lib/cached-env.sh"
cached_venv "$venv" "$( (echo "$SCHEMATHESIS_VERSION"; python3 --version) | digest)" \
    "schemathesis==$SCHEMATHESIS_VERSION"

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
echo "Portcullis at $BASE (schemathesis seed $seed, budget ${max_time}s)"

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
field() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/body" "$1"
}

curl -sS -o "$work/body" -X POST "$BASE/v1/login" -H 'Content-Type: application/json' \
    -d "{\"email\": \"operator@example.com\", \"password\": \"$PORTCULLIS_ADMIN_PASSWORD\"}"
SESSION="$(field session_token)"
curl -sS -o /dev/null -X POST "$BASE/v1/signup" -H 'Content-Type: application/json' \
    -d '{"id": "bob", "email": "bob@example.com", "password": "correct-horse-bob", "first_name": "Bob", "last_name": "B"}'
curl -sS -o "$work/body" -X POST "$BASE/v1/login" -H 'Content-Type: application/json' \
    -d '{"email": "bob@example.com", "password": "correct-horse-bob"}'
BOB="$(field session_token)"
call POST /v1/orgs "$TOKEN" '{"id": "acme", "name": "Acme", "billing_email": "billing@example.com"}'
# Bob's address is vouched for by the operator (an unverified account accepts nothing by id).
call POST /v1/users/bob/verify-email "$TOKEN" '{}'
call POST /v1/orgs/acme/invitations "$TOKEN" '{"email": "bob@example.com", "role": "org_contributor"}'
call POST "/v1/invitations/$(field id)/accept" "$BOB" '{}'
call POST /v1/orgs/acme/invitations "$TOKEN" '{"email": "carol@example.com", "role": "org_user"}'
INVITATION="$(field id)"
call POST /v1/orgs/acme/teams "$TOKEN" '{"id": "core", "name": "Core"}'
call POST /v1/accounts/acme/apps "$TOKEN" '{"id": "vision", "name": "Vision"}'
call PUT /v1/orgs/acme/teams/core/apps/vision "$TOKEN" '{"role": "model_trainer"}'
call PUT /v1/orgs/acme/teams/core/members/bob "$TOKEN" '{}'
call POST /v1/accounts/acme/apps/vision/models "$TOKEN" '{"id": "resnet"}'
call POST /v1/accounts/acme/apps/vision/workflows "$TOKEN" '{"id": "classify"}'
call POST /v1/accounts/acme/apps/vision/modules "$TOKEN" '{"id": "labeler"}'
call POST /v1/accounts/acme/apps/vision/keys "$SESSION" '{"scopes": ["app.view"]}'
APP_KEY="$(field id)"
call POST /v1/users/me/keys "$BOB" '{"scopes": ["all"], "description": "fuzz"}'
USER_KEY="$(field id)"
call POST /v1/orgs/acme/compute-clusters "$TOKEN" \
    '{"id": "gpu", "cloud_provider": "aws", "region": "us-east-1", "cluster_type": "dedicated"}'
call POST /v1/orgs/acme/compute-clusters/gpu/nodepools "$TOKEN" \
    '{"id": "np1", "instance_types": ["g5.xlarge"], "capacity_type": "spot", "min_instances": 0, "max_instances": 2}'
call POST /v1/orgs/acme/deployments "$TOKEN" \
    '{"id": "serve", "model": {"account": "acme", "app": "vision", "id": "resnet"}, "nodepools": [{"cluster": "gpu", "nodepool": "np1", "priority": 0}], "min_replicas": 1, "max_replicas": 2}'

# The SCIM endpoint takes only a SCIM token of its own organization (a session gets 401) and
# is described by the protocol, not by /v1/openapi.json: it runs in a separate pass against
# scripts/schemathesis/scim-openapi.yaml with acme's SCIM token, one provisioned user and
# group giving their ids to half of the generated ids.
call POST /v1/orgs/acme/scim/tokens "$TOKEN" '{"description": "schemathesis"}'
SCIM_TOKEN="$(field token)"
scim_seed() {
    curl -sS -o "$work/body" -X POST "$BASE/scim/v2/orgs/acme/$1" -H "Authorization: Bearer $SCIM_TOKEN" \
        -H 'Content-Type: application/scim+json' -d "$2"
}
scim_seed Users '{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "sam@scim.example", "emails": [{"value": "sam@scim.example", "primary": true}], "name": {"givenName": "Sam", "familyName": "S"}}'
SCIM_USER="$(field id)"
scim_seed Groups "{\"schemas\": [\"urn:ietf:params:scim:schemas:core:2.0:Group\"], \"displayName\": \"Provisioned\", \"members\": [{\"value\": \"$SCIM_USER\"}]}"
SCIM_GROUP="$(field id)"

# Known ids are offered for half of the generated path parameters; the rest stay random.
cat > "$work/schemathesis.toml" <<EOF
hooks = "portcullis_checks"
headers = { Authorization = "Bearer $SESSION" }
# One worker: schemathesis' workers are threads, and on Python 3.11 hypothesis describing a
# strategy (ast.parse) in two threads at once fails now and then with "SystemError: AST
# constructor recursion depth mismatch" (CPython gh-106905), a runtime error that fails the run.
workers = 1
seed = $seed

[generation]
max-examples = 25

[checks]
# Not run: the operator's PAT is accepted on every route, so auth-bypass probes do not apply,
# and positive_data_acceptance would demand 2xx for inputs that name ids that do not exist.
ignored_auth.enabled = false
positive_data_acceptance.enabled = false
use_after_free.enabled = false
ensure_resource_availability.enabled = false

[phases.stateful]
max-steps = 30

[dictionaries]
orgs = { values = ["acme"] }
apps = { values = ["vision"] }
teams = { values = ["core"] }
users = { values = ["bob"] }
models = { values = ["resnet"] }
workflows = { values = ["classify"] }
modules = { values = ["labeler"] }
ids = { values = ["$APP_KEY", "$USER_KEY", "$INVITATION"] }
clusters = { values = ["gpu"] }
nodepools = { values = ["np1"] }
deployments = { values = ["serve"] }

[parameters]
"path.org" = { dictionary = "orgs", probability = 0.5 }
"path.account" = { dictionary = "orgs", probability = 0.5 }
"path.app" = { dictionary = "apps", probability = 0.5 }
"path.team" = { dictionary = "teams", probability = 0.5 }
"path.user" = { dictionary = "users", probability = 0.5 }
"path.model" = { dictionary = "models", probability = 0.5 }
"path.workflow" = { dictionary = "workflows", probability = 0.5 }
"path.module" = { dictionary = "modules", probability = 0.5 }
"path.id" = { dictionary = "ids", probability = 0.5 }
"path.key" = { dictionary = "ids", probability = 0.5 }
"path.cluster" = { dictionary = "clusters", probability = 0.5 }
"path.nodepool" = { dictionary = "nodepools", probability = 0.5 }
"path.deployment" = { dictionary = "deployments", probability = 0.5 }

EOF
# The SCIM pass: the same checks (problem_json checks SCIM's own error format under /scim/) and
# ignored_auth too, since the SCIM token is the only credential these operations accept.
sed -e "s/^headers = .*/headers = { Authorization = \"Bearer $SCIM_TOKEN\" }/" \
    -e 's/^ignored_auth.enabled = false/ignored_auth.enabled = true/' \
    -e "s/^ids = .*/ids = { values = [\"$SCIM_USER\", \"$SCIM_GROUP\"] }/" \
    "$work/schemathesis.toml" > "$work/schemathesis-scim.toml"

# Operations that end the run's own credential or delete the seeded organization: logout,
# revoking sessions, suspending accounts, changing the password, TOTP enrolment (after which the
# credential needs a second factor), deleting or leaving the organization. The main run skips
# them so it keeps reaching real data; a short last run fuzzes only them.
destructive='^(POST /v1/logout|DELETE /v1/users/me/sessions/\{id\}|POST /v1/users/\{user\}/suspend|POST /v1/users/me/password|POST /v1/users/me/totp.*|DELETE /v1/orgs/\{org\}|POST /v1/orgs/\{org\}/leave)$'

# fuzz MAX_TIME FILTER...: one schemathesis run with every check (FUZZ_CONFIG, FUZZ_SCHEMA
# and FUZZ_EXCLUDED_CHECKS override the configuration file, the document and the checks left
# out).
fuzz() {
    local budget="$1"
    shift
    PYTHONPATH="scripts/schemathesis${PYTHONPATH:+:$PYTHONPATH}" "$venv/bin/schemathesis" \
        --config-file "${FUZZ_CONFIG:-$work/schemathesis.toml}" run "${FUZZ_SCHEMA:-$BASE/v1/openapi.json}" \
        --max-time "$budget" --checks all \
        --exclude-checks "${FUZZ_EXCLUDED_CHECKS:-ignored_auth,positive_data_acceptance,use_after_free,ensure_resource_availability}" \
        --no-color --output-truncate false "$@" \
        --report "${SCHEMATHESIS_REPORT:-junit}" --report-dir target/schemathesis-report
}

set +e
fuzz "$max_time" --exclude-name-regex "$destructive" 2>&1 | tee "$work/schemathesis.log"
status=${PIPESTATUS[0]}
echo "==== the SCIM endpoint, with acme's SCIM token ===="
FUZZ_CONFIG="$work/schemathesis-scim.toml" FUZZ_SCHEMA=scripts/schemathesis/scim-openapi.yaml \
    FUZZ_EXCLUDED_CHECKS=positive_data_acceptance,use_after_free,ensure_resource_availability \
    fuzz "$scim_time" --url "$BASE/scim/v2/orgs/acme" 2>&1 | tee -a "$work/schemathesis.log"
last=${PIPESTATUS[0]}
((status == 0)) && status=$last
echo "==== the operations that end the credential or delete the organization ===="
fuzz 25 --phases coverage,fuzzing --include-name-regex "$destructive" 2>&1 | tee -a "$work/schemathesis.log"
last=${PIPESTATUS[0]}
((status == 0)) && status=$last
set -e

if grep -q ' 500 \|panicked' "$work/server.log"; then
    echo "the server logged errors:" >&2
    grep -E 'ERROR|panicked' "$work/server.log" | head -20 >&2
fi
if ((status != 0)); then
    cp "$work/server.log" target/schemathesis-server.log
    echo "server log: target/schemathesis-server.log" >&2
    echo "schemathesis failed (seed $seed); replay with SCHEMATHESIS_SEED=$seed $0" >&2
    exit "$status"
fi
echo "schemathesis passed (seed $seed)"
