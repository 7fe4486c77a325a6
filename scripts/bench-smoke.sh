#!/usr/bin/env bash
# A seconds-long run of the benchmark at a tiny size (issue 8): every engine (Portcullis, the
# two floors, cedar-policy, casbin) answers the same query stream and must agree with
# Portcullis on every query; the SQLite bulk load must give an index that answers identically.
# Exits non-zero on any disagreement. No timing is asserted.
set -euo pipefail
cd "$(dirname "$0")/../bench"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# The release profile: the same artifacts as scripts/bench.sh, and on a fresh clone it
# compiles in about the time of an unoptimised build with optimised dependencies.
cargo build --release --bin bench
bin=target/release/bench
"$bin" engines 2000 20000 > /dev/null
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
"$bin" store "sqlite://$dir/portcullis.db?mode=rwc" 2000 20000 4 > /dev/null
echo "bench smoke: all engines agree"
