#!/usr/bin/env bash
# Builds Portcullis (release) and serves it on http://127.0.0.1:8080 with the embedded SQLite
# store in ./portcullis-data. Extra arguments go to `portcullis serve` (e.g. --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/build-deps.sh
install_build_deps
exec cargo run --release -p portcullis -- serve "$@"
