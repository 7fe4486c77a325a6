#!/usr/bin/env bash
# cargo deny over the workspace (deny.toml: RustSec advisories, licences, bans, sources), and a
# check that every lockfile (the workspace's, fuzz/) is committed.
#
# The advisory database: this machine cannot reach its home, so a snapshot of
# rustsec/advisory-db (PORTCULLIS_ADVISORY_DB; default ../shared/advisory-db beside the
# repository, else /work/shared/advisory-db) is copied to a temp dir and used offline
# (cargo-deny 0.20's `--offline`, which replaced `check --disable-fetch`). Without any
# snapshot, cargo deny fetches the database as a normal CI would. DENY_FLAGS: extra global
# flags (e.g. `-L debug`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

for lock in Cargo.lock fuzz/Cargo.lock; do
    if ! git ls-files --error-unmatch "$lock" > /dev/null 2>&1; then
        echo "$lock is not committed" >&2
        exit 1
    fi
done

if ! command -v cargo-deny > /dev/null; then
    echo "cargo-deny is missing: cargo install --locked cargo-deny" >&2
    exit 1
fi

snapshot="${PORTCULLIS_ADVISORY_DB:-}"
if [[ -z "$snapshot" ]]; then
    for candidate in ../shared/advisory-db /work/shared/advisory-db; do
        if [[ -d "$candidate/crates" ]]; then
            snapshot="$candidate"
            break
        fi
    done
fi

fetch=()
if [[ -n "$snapshot" ]]; then
    dbs="$(mktemp -d)"
    trap 'rm -rf "$dbs"' EXIT
    # cargo deny keeps each database in <db-path>/<name derived from its URL>; deny.toml's
    # db-urls entry maps to this name.
    db="$dbs/advisory-db-3157b0e258782691"
    cp -R "$snapshot" "$db"
    chmod -R u+w "$db"
    # cargo deny reads the database's age from its git HEAD: commit the snapshot under the
    # date it was taken (SNAPSHOT.txt), so a stale snapshot still shows as stale.
    taken="$(sed -n 's/.*(\([0-9]\{4\}-[0-9][0-9]-[0-9][0-9]\)).*/\1/p' "$db/SNAPSHOT.txt" 2> /dev/null | head -n 1)"
    export GIT_AUTHOR_DATE="${taken:+${taken}T00:00:00Z}" GIT_COMMITTER_DATE="${taken:+${taken}T00:00:00Z}"
    git -C "$db" init -q
    git -C "$db" add -A
    git -C "$db" -c user.name=snapshot -c user.email=snapshot@localhost commit -q -m snapshot
    unset GIT_AUTHOR_DATE GIT_COMMITTER_DATE
    export PORTCULLIS_ADVISORY_DBS="$dbs"
    fetch=(--offline)
    # --offline also keeps `cargo metadata` offline, and it needs every package of the lockfile,
    # other platforms' too (wasm-bindgen, android_system_properties), which a Linux build never
    # downloads: fetch them all from the registry first.
    cargo fetch --locked
    echo "advisories from the snapshot $snapshot ($(head -c 80 "$snapshot/SNAPSHOT.txt" 2> /dev/null || echo 'no SNAPSHOT.txt'))"
fi

cargo deny --locked "${fetch[@]}" ${DENY_FLAGS:-} check advisories licenses bans sources
