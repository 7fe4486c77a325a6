#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ and runs each for a fixed short budget, starting from
# its committed seed corpus (fuzz/corpus/<target>). Fails on any crash, panic, sanitizer report
# or per-input timeout; the failing input is left in fuzz/artifacts/<target>/.
#
# FUZZ_SECONDS (default 20) is the budget per target; FUZZ_TARGETS (space-separated) picks
# targets; FUZZ_JOBS (default: the number of cores) how many run at once; FUZZ_INSTRUMENT=own
# instruments only this repository's crates (below). See fuzz/README.md for longer runs.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-20}"
# cargo-fuzz passes -Z flags to rustc; this lets the stable toolchain accept them.
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if ! command -v cargo-fuzz > /dev/null; then
    echo "cargo-fuzz is missing: cargo install --locked cargo-fuzz" >&2
    exit 1
fi

read -r -a targets <<< "${FUZZ_TARGETS:-$(cargo fuzz list | tr '\n' ' ')}"
# CI builds unoptimised and without AddressSanitizer: the code under test is safe Rust (and
# libxmlsec1 is a system library ASan would not instrument), and an optimised sanitizer build of
# ~330 crates would not fit CI's time on two cores. FUZZ_BUILD_FLAGS="" gives cargo-fuzz's
# default (optimised, ASan) for long runs.
read -r -a build_flags <<< "${FUZZ_BUILD_FLAGS---dev -s none}"
# FUZZ_INSTRUMENT=own (CI): coverage instrumentation for this repository's crates only
# (scripts/lib/fuzz-rustc.sh); the registry crates build plain, which saves a sixth of the build.
if [[ "${FUZZ_INSTRUMENT:-all}" == own ]]; then
    export RUSTC_WRAPPER="$PWD/scripts/lib/fuzz-rustc.sh"
fi
cargo fuzz build "${build_flags[@]}"
# FUZZ_BUILD_ONLY=1: compile the targets and stop (scripts/test.sh builds them in the background).
if [[ -n "${FUZZ_BUILD_ONLY:-}" ]]; then
    exit 0
fi

# One libFuzzer process per target, FUZZ_JOBS (default: the number of cores) at a time: each is
# single-threaded, and bounded by time, so side by side they finish sooner at the same budget.
fuzz_one() {
    local target="$1"
    # New inputs go to a scratch corpus under fuzz/target; the committed seeds stay untouched.
    local work="fuzz/target/corpus/$target"
    mkdir -p "$work"
    local log="fuzz/target/$target.log"
    if ! cargo fuzz run "${build_flags[@]}" "$target" "$work" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 > "$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/; reproduce with"
        echo "  RUSTC_BOOTSTRAP=1 cargo fuzz run $target fuzz/artifacts/$target/<file>"
        return 1
    fi
    local runs
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    echo "$target: ${runs:-?} inputs in ${seconds}s, no crash"
}

parallel="${FUZZ_JOBS:-$(nproc)}"
failed=0
running=()
# Waits for the oldest running target and prints what it said.
collect() {
    local target="${running[0]}"
    running=("${running[@]:1}")
    wait "${pids[$target]}" || failed=1
    cat "fuzz/target/$target.result"
}
declare -A pids
for target in "${targets[@]}"; do
    if ((${#running[@]} >= parallel)); then
        collect
    fi
    fuzz_one "$target" > "fuzz/target/$target.result" 2>&1 &
    pids[$target]=$!
    running+=("$target")
done
while ((${#running[@]})); do
    collect
done
if ((failed)); then
    echo "fuzzing failed (above)" >&2
    exit 1
fi
echo "fuzzing passed: ${#targets[@]} targets, ${seconds}s each, $parallel at a time"
