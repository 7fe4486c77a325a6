# Sourced by the scripts that run a `portcullis` server. Sets `binary` to PORTCULLIS_BIN when
# given, else builds the debug binary.
#
# scripts/test.sh passes the binary `cargo test --workspace` already built: `cargo build -p
# portcullis` alone resolves dependency features without the workspace's dev-dependencies
# (proptest, criterion turn on more regex and getrandom features), so it would rebuild most of
# the dependency graph a second time, about three minutes of CI on two cores.
if [[ -n "${PORTCULLIS_BIN:-}" ]]; then
    binary="$PORTCULLIS_BIN"
else
    cargo build -q -p portcullis
    binary="${CARGO_TARGET_DIR:-target}/debug/portcullis"
fi
