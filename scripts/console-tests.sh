#!/usr/bin/env bash
# Browser tests of the web console: builds Portcullis, starts `portcullis serve` on a free
# loopback port with a temp data dir, runs the Playwright flows in console-tests/ against
# Debian's headless Chromium (no browser download), and stops the server.
#
# SCREENSHOTS=1 also rewrites docs/screenshots/*.png (scripts/screenshots.sh does that).
# CHROMIUM=/path overrides the browser (default /usr/bin/chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
    if [[ "${CI:-}" == "true" ]]; then
        echo "Chromium not found at $chromium" >&2
        exit 1
    fi
    echo "SKIPPED: console browser tests (no Chromium at $chromium; apt-get install chromium)"
    exit 0
fi
if [[ ! -d console-tests/node_modules/playwright-core ]]; then
    (cd console-tests && npm ci --no-audit --no-fund)
fi

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
"$binary" serve --data-dir "$work/data" --listen 127.0.0.1:0 > "$work/stdout" 2> "$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
    grep -q 'listening on' "$work/stdout" 2> /dev/null && break
    kill -0 "$server_pid" 2> /dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done
base="$(sed -n 's/^portcullis listening on //p' "$work/stdout")"
[[ -n "$base" ]] || { echo "the server did not start" >&2; cat "$work/server.log" >&2; exit 1; }
echo "console tests against $base"

status=0
(cd console-tests && PORTCULLIS_URL="$base" CHROMIUM="$chromium" \
    PROFILE_DIR="$work/profile" node --test --test-concurrency=1) || status=$?
if ((status != 0)); then
    echo "---- server log (tail) ----" >&2
    tail -n 40 "$work/server.log" >&2
fi
exit "$status"
