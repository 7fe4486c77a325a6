#!/usr/bin/env bash
# Soak test (not run by CI): a release build of Portcullis on a fresh SQLite
# data dir on loopback, seeded with one organization (an admin, members in every role, a team,
# an app), then SOAK_SECS (default 600) of mixed traffic from scripts/soak/load.py: permission
# checks, reads, logins with logouts, and self-undoing mutations. The server's RSS is sampled
# every 5 s. Prints throughput, p50/p99, the error count (must be 0) and RSS at the start and
# the end; writes target/soak/results.json and docs/soak.svg (the plot docs/reliability.md shows).
#
#   scripts/soak.sh                 # the full 10 minutes
#   SOAK_SECS=60 SOAK_WORKERS=4 scripts/soak.sh
#   SOAK_BINARY=target/debug/portcullis scripts/soak.sh
#
# Exits non-zero when any request failed. Needs python3 and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${SOAK_SECS:-600}"
workers="${SOAK_WORKERS:-4}"
out_dir="target/soak"
svg="${SOAK_SVG:-docs/soak.svg}"
mkdir -p "$out_dir"

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

# SOAK_BINARY runs an already built binary instead (e.g. a debug build when a release build
# is out of reach; the report must then say so).
if [[ -n "${SOAK_BINARY:-}" ]]; then
    binary="$SOAK_BINARY"
else
    cargo build -q --release -p portcullis
    binary="${CARGO_TARGET_DIR:-target}/release/portcullis"
fi

"$binary" serve --data-dir "$work/data" --listen 127.0.0.1:0 > "$work/stdout" 2> "$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
    grep -q 'listening on' "$work/stdout" 2> /dev/null && break
    kill -0 "$server_pid" 2> /dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done
BASE="$(sed -n 's/^portcullis listening on //p' "$work/stdout")"
[[ -n "$BASE" ]] || { echo "the server did not start" >&2; exit 1; }
echo "Portcullis ($binary) at $BASE, pid $server_pid; ${duration}s with $workers workers"

# Seeding: an admin, one member per role, one team per worker, an app the team holds.
python3 - "$BASE" "$workers" "$binary" "$work/data" > "$work/tokens.json" <<'EOF'
import json, subprocess, sys, urllib.request

base, workers = sys.argv[1], int(sys.argv[2])
binary, data_dir = sys.argv[3], sys.argv[4]

def call(method, path, token=None, body=None, want=(200, 201, 204)):
    req = urllib.request.Request(base + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req) as resp:
        assert resp.status in want, (method, path, resp.status)
        raw = resp.read()
        return json.loads(raw) if raw else None

def user(uid):
    password = f"soak-password-{uid}"
    call("POST", "/v1/signup", body={"id": uid, "email": f"{uid}@example.com", "password": password,
                                      "first_name": "Soak", "last_name": uid})
    # Members answer invitations by id: their addresses must be verified (by the operator here).
    subprocess.run([binary, "users", "verify-email", "--data-dir", data_dir, uid], check=True,
                   stdout=subprocess.DEVNULL)
    token = call("POST", "/v1/login", body={"email": f"{uid}@example.com", "password": password})["session_token"]
    return {"id": uid, "email": f"{uid}@example.com", "password": password, "token": token}

admin = user("admin")
call("POST", "/v1/orgs", admin["token"], {"id": "acme", "name": "Acme", "billing_email": "b@example.com"})
call("POST", "/v1/accounts/acme/apps", admin["token"], {"id": "vision", "name": "Vision"})
members = []
for role in ["org_contributor", "team_contributor", "org_user", "financial_manager", "infrastructure_manager"]:
    member = user(role.replace("_", "-"))
    invitation = call("POST", "/v1/orgs/acme/invitations", admin["token"], {"email": member["email"], "role": role})
    call("POST", f"/v1/invitations/{invitation['id']}/accept", member["token"], {})
    member["role"] = role
    members.append(member)
for i in range(workers):
    call("POST", "/v1/orgs/acme/teams", admin["token"], {"id": f"t{i}", "name": f"Team {i}"})
    call("PUT", f"/v1/orgs/acme/teams/t{i}/apps/vision", admin["token"], {"role": "model_trainer"})
print(json.dumps({"admin": admin["token"], "members": members}))
EOF

status=0
python3 scripts/soak/load.py "$BASE" "$server_pid" "$duration" "$workers" \
    "$out_dir/results.json" "$svg" < "$work/tokens.json" || status=$?
echo "results: $out_dir/results.json, plot: $svg"
if grep -qE 'ERROR|panicked' "$work/server.log"; then
    echo "the server logged errors:" >&2
    grep -E 'ERROR|panicked' "$work/server.log" | head -20 >&2
    status=1
fi
exit "$status"
