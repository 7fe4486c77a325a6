#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy, the whole test suite on SQLite and on
# PostgreSQL, the OpenAPI drift check, the README walkthrough, the console in a browser,
# cargo deny and a short run of every fuzz target.
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

section "cargo fmt --check"
cargo fmt --all -- --check

section "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

section "tests on SQLite"
PORTCULLIS_TEST_BACKEND=sqlite cargo test --workspace

section "tests on PostgreSQL ($PORTCULLIS_TEST_POSTGRES_URL)"
if postgres_up; then
    PORTCULLIS_TEST_BACKEND=postgres cargo test --workspace
elif [[ "${CI:-}" == "true" ]]; then
    echo "PostgreSQL does not answer at $PORTCULLIS_TEST_POSTGRES_URL" >&2
    exit 1
else
    echo "SKIPPED: PostgreSQL does not answer at $PORTCULLIS_TEST_POSTGRES_URL"
    skipped+=("PostgreSQL test suite")
fi

section "OpenAPI drift"
scripts/check-openapi.sh

section "README walkthrough"
scripts/walkthrough.sh


section "console in headless Chromium (issue 7)"; scripts/console-tests.sh
section "two servers on one PostgreSQL behind nginx (docs/deployment.md)"; if postgres_up; then scripts/two-servers.sh; else skipped+=("two-server example"); fi
section "cargo deny: advisories (offline snapshot), licences, bans, sources"; scripts/deny.sh
section "fuzz targets, 15 s each (fuzz/README.md)"; FUZZ_SECONDS=15 scripts/fuzz.sh
section "API fuzzing with schemathesis (issue 10)"; scripts/schemathesis.sh
section "benchmark smoke: engines agree, store loads identical (issue 8)"; BENCH_SMOKE_ENGINES=casbin scripts/bench-smoke.sh

section "summary"
if ((${#skipped[@]})); then
    printf 'all run checks passed; SKIPPED: %s\n' "${skipped[*]}"
else
    echo "all checks passed"
fi
