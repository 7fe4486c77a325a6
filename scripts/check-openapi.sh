#!/usr/bin/env bash
# Fails when docs/openapi.json differs from what the code generates.
set -euo pipefail
cd "$(dirname "$0")/.."

generated="$(mktemp)"
trap 'rm -f "$generated"' EXIT
source scripts/lib/portcullis-bin.sh
"$binary" openapi > "$generated"

if ! diff -u docs/openapi.json "$generated"; then
    echo >&2
    echo "docs/openapi.json is out of date with the code. Update it with:" >&2
    echo "    cargo run -q -p portcullis -- openapi > docs/openapi.json" >&2
    exit 1
fi
echo "docs/openapi.json matches the code"
