#!/usr/bin/env bash
# RUSTC_WRAPPER for CI's short fuzz runs (scripts/fuzz.sh with FUZZ_INSTRUMENT=own): coverage
# instrumentation only for the crates of this repository (Portcullis and the fuzz targets), not
# for the ~330 registry crates beneath them, whose instrumented build was most of the fuzz
# build's time. The fuzz/README.md runs keep cargo-fuzz's full instrumentation.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rustc="$1"
shift
case "${CARGO_MANIFEST_DIR:-}" in
    "$root"/*) exec "$rustc" "$@" ;;
esac
args=()
for arg in "$@"; do
    case "$arg" in
        -Cpasses=sancov-module | -Cllvm-args=-sanitizer-coverage-*) ;;
        *) args+=("$arg") ;;
    esac
done
exec "$rustc" "${args[@]}"
