#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy, the whole test suite on SQLite and on
# PostgreSQL, the OpenAPI drift check, the README walkthrough, the console in a browser,
# scim2-tester against the SCIM endpoint, cargo deny and a short run of every fuzz target.
#
# PostgreSQL: PORTCULLIS_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test)
# names a server where the user may CREATE DATABASE; each test gets a fresh `pcl_t_*` database.
# Outside CI (CI unset) the PostgreSQL suite is skipped, loudly, when no server answers.
set -euo pipefail
cd "$(dirname "$0")/.."

export PORTCULLIS_TEST_POSTGRES_URL="${PORTCULLIS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
skipped=()

# Each heading also says how long the previous section took, so a slow stage shows in the CI log.
started=$SECONDS
section_started=$SECONDS
section() {
    printf '\n[previous section %ds, total %ds]\n==== %s ====\n' \
        $((SECONDS - section_started)) $((SECONDS - started)) "$*"
    section_started=$SECONDS
}

postgres_up() {
    if command -v pg_isready > /dev/null; then
        pg_isready -q -d "$PORTCULLIS_TEST_POSTGRES_URL"
    else
        # Without the client tools, at least require the port to answer.
        local hostport="${PORTCULLIS_TEST_POSTGRES_URL#*@}"
        hostport="${hostport%%/*}"
        (exec 3<> "/dev/tcp/${hostport%%:*}/${hostport##*:}") 2> /dev/null
    fi
}

section "set-up: the tools the suite needs (scripts/setup.sh)"
[[ -n "${PORTCULLIS_SETUP_DONE:-}" ]] || bash scripts/setup.sh

section "cargo fmt --check"
cargo fmt --all -- --check

# The fuzz targets are a separate build (instrumented, another workspace), started once the main
# build is done (below).
fuzz_run=""
lanes=()
stop_background() {
    for pid in $fuzz_run "${lanes[@]}"; do
        pkill -TERM -P "$pid" 2> /dev/null || true
        kill "$pid" 2> /dev/null || true
    done
}
trap stop_background EXIT
# waits for a background job; its log only if it failed.
finish_build() {
    if ! wait "$1"; then
        cat "$2" >&2
        echo "the background build logged in $2 failed" >&2
        exit 1
    fi
}

have_nextest() { cargo nextest --version > /dev/null 2>&1; }

# Clippy lints the workspace's crates while they are compiled for the tests: clippy-driver is
# their compiler (exactly what `cargo clippy` sets up for its own check build), so the
# dependencies compile once, not once for clippy and again for the tests. Every target is
# linted: libraries, binaries, tests, benches (built as tests) and examples. From here on every
# cargo command keeps these two variables, so nothing compiles twice.
section "build every target for the tests, linted by clippy (-D warnings)"
# The benchmark's smoke test (bench/tests/smoke.rs) compares Portcullis with Casbin too. Every
# cargo command below gets the same features, so nothing compiles twice.
features=(--features portcullis-bench/casbin)
RUSTC_WORKSPACE_WRAPPER="$(rustup which clippy-driver 2> /dev/null || command -v clippy-driver)"
export RUSTC_WORKSPACE_WRAPPER
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
cargo test --workspace --all-targets "${features[@]}" --no-run
# Doc tests (nextest does not run them) only when there are any: compiling every crate's docs
# for none costs a minute on two cores.
if grep -rqE '^\s*//[/!] ```' crates/*/src; then
    cargo test --workspace "${features[@]}" --doc
fi

# The fuzz targets compile now, in the background at a lower priority and instrumented only in
# this repository's crates, and then run at once, 15 s each (bounded by time, not by work). Not from the start: beside the main build, whose
# end everything else waits for, they cost it over three minutes of two cores; the test lanes
# and schemathesis below mostly wait on servers, databases and browsers and leave them the rest.
mkdir -p target
FUZZ_SECONDS=15 FUZZ_INSTRUMENT=own nice -n 10 scripts/fuzz.sh > target/ci-fuzz.log 2>&1 &
fuzz_run=$!

# The suite runs under cargo-nextest when it is installed (.config/nextest.toml: the test
# binaries side by side, the slowest tests first), else under cargo test. A filterset
# (nextest) picks the tests; with cargo test every test runs.
run_tests() {
    if have_nextest; then
        cargo nextest run --workspace "${features[@]}" "$@"
    else
        cargo test --workspace "${features[@]}" --lib --bins --tests
    fi
}

# The crates whose tests reach the store: the PostgreSQL pass runs only these (core's and
# saml's tests never open a database, and already ran on SQLite). Chosen by a filterset, not
# by `-p`: cargo resolves features over the packages it is given, so a subset would rebuild
# part of the dependency graph with other features.
store_tests=(-E 'not (package(portcullis-core) | package(portcullis-saml))')

# The server binary the test build made (with the workspace's unified features): the scripts
# below run it instead of building `-p portcullis` again (scripts/lib/portcullis-bin.sh).
target_dir="$(realpath "${CARGO_TARGET_DIR:-target}")"
export PORTCULLIS_BIN="${PORTCULLIS_BIN:-$target_dir/debug/portcullis}"

if ! postgres_up; then
    if [[ "${CI:-}" == "true" ]]; then
        echo "PostgreSQL does not answer at $PORTCULLIS_TEST_POSTGRES_URL" >&2
        exit 1
    fi
    echo "SKIPPED: PostgreSQL does not answer at $PORTCULLIS_TEST_POSTGRES_URL"
    skipped+=("PostgreSQL test suite" "two-server example")
fi

# Two lanes side by side, each into its own log (printed when both end): the whole suite on
# SQLite then the OpenAPI drift, the walkthrough and the package, and the store's crates on
# PostgreSQL. Each lane waits mostly on I/O, so together they keep two cores busy where one
# after the other each left one idle.
sqlite_lane() {
    PORTCULLIS_TEST_BACKEND=sqlite run_tests
    echo "==== OpenAPI drift ===="
    scripts/check-openapi.sh
    echo "==== README walkthrough ===="
    scripts/walkthrough.sh
    echo "==== Debian package: dpkg -i, the installed server, the walkthrough, purge ===="
    if [[ "$(id -u)" == 0 || "${CI:-}" == "true" ]]; then
        scripts/package-test.sh
    else
        echo "SKIPPED: the Debian package test installs a package and needs root"
    fi
}
postgres_lane() {
    postgres_up || return 0
    # .ci/run drops leftover test databases in the background; wait until it is done.
    if [[ -n "${CI_DB_CLEANUP_LOCK:-}" ]]; then
        flock "$CI_DB_CLEANUP_LOCK" true
    fi
    PORTCULLIS_TEST_BACKEND=postgres run_tests "${store_tests[@]}"
}
section "tests on SQLite (then the OpenAPI drift, the README walkthrough, the Debian package)" \
    "beside the tests on PostgreSQL"
lane_status=0
sqlite_lane > target/ci-sqlite-lane.log 2>&1 &
lanes+=($!)
postgres_lane > target/ci-postgres-lane.log 2>&1 &
lanes+=($!)
for i in 0 1; do
    log=(target/ci-sqlite-lane.log target/ci-postgres-lane.log)
    if wait "${lanes[$i]}"; then result=passed; else result=FAILED; lane_status=1; fi
    printf '\n---- %s (%s) ----\n' "${log[$i]}" "$result"
    cat "${log[$i]}"
done
lanes=()
if ((lane_status)); then
    echo "a test lane failed (above)" >&2
    exit 1
fi

# Schemathesis runs for a fixed time and leaves cores idle; the other checks that drive their
# own servers run beside it, into their own log (printed when it ends).
other_checks() {
    echo "==== cargo deny: advisories (offline snapshot), licences, bans, sources ===="
    scripts/deny.sh
    echo "==== scim2-tester against two organizations' SCIM endpoints ===="
    scripts/scim-tester.sh
    echo "==== console in headless Chromium ===="
    scripts/console-tests.sh
    echo "==== gRPC through an independent client (Python grpcio, stubs from the .proto) ===="
    scripts/grpc-client-test.sh
    if postgres_up; then
        echo "==== two servers on one PostgreSQL behind nginx (docs/deployment.md) ===="
        scripts/two-servers.sh
    fi
}
section "API fuzzing with schemathesis, beside cargo deny, scim2-tester, the console in Chromium" \
    "and two servers behind nginx"
other_checks > target/ci-other-checks.log 2>&1 &
lanes+=($!)
scripts/schemathesis.sh
if wait "${lanes[0]}"; then result=passed; else result=FAILED; fi
lanes=()
printf '\n---- target/ci-other-checks.log (%s) ----\n' "$result"
cat target/ci-other-checks.log
if [[ "$result" == FAILED ]]; then
    echo "a check beside schemathesis failed (above)" >&2
    exit 1
fi
section "fuzz targets, 15 s each (fuzz/README.md)"
finish_build "$fuzz_run" target/ci-fuzz.log
grep -v '^ *Compiling ' target/ci-fuzz.log

section "summary"
if ((${#skipped[@]})); then
    printf 'all run checks passed; SKIPPED: %s\n' "${skipped[*]}"
else
    echo "all checks passed"
fi
