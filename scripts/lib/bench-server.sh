# Sourced by the benchmark scripts that drive a whole server (bench-sso.sh, bench-scim.sh): a
# release `portcullis serve` on a free loopback port (SQLite in a scratch directory, or
# PostgreSQL with PORTCULLIS_BENCH_DATABASE_URL), stopped and removed on exit, the account
# `bench` signed up with a session, and the organization `acme`. Sets bin, dir, pid, base,
# json (the Content-Type header) and token (the session).
# PORTCULLIS_BIN=path skips the release build (e.g. to try a script on a debug binary).
bin="${PORTCULLIS_BIN:-target/release/portcullis}"
[[ -n "${PORTCULLIS_BIN:-}" ]] || cargo build -q --release -p portcullis
dir="$(mktemp -d)"
pid=""
trap '[[ -n "$pid" ]] && kill "$pid" 2> /dev/null; rm -rf "$dir"' EXIT

# The public URL names the port (SAML's entity id and ACS, SCIM's locations), so it comes first.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
store=(--data-dir "$dir/data")
if [[ -n "${PORTCULLIS_BENCH_DATABASE_URL:-}" ]]; then
    store=(--database-url "$PORTCULLIS_BENCH_DATABASE_URL")
    PORTCULLIS_SECRET_KEYS="$("$bin" secrets new-key)"
    export PORTCULLIS_SECRET_KEYS
fi
PORTCULLIS_PUBLIC_URL="$base" RUST_LOG=warn "$bin" serve "${store[@]}" --listen "127.0.0.1:$port" \
    > "$dir/out" 2> "$dir/err" &
pid=$!
for _ in $(seq 1 100); do grep -q listening "$dir/out" 2> /dev/null && break; sleep 0.1; done
grep -q listening "$dir/out" || { cat "$dir/err" >&2; exit 1; }

json='Content-Type: application/json'
curl -sf -X POST "$base/v1/signup" -H "$json" \
    -d '{"id":"bench","email":"bench@example.com","password":"bench-password-123","first_name":"B","last_name":"B"}' > /dev/null
token="$(curl -sf -X POST "$base/v1/login" -H "$json" \
    -d '{"email":"bench@example.com","password":"bench-password-123"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["session_token"])')"
curl -sf -X POST "$base/v1/orgs" -H "Authorization: Bearer $token" -H "$json" \
    -d '{"id":"acme","name":"Acme","billing_email":"b@example.com"}' > /dev/null
