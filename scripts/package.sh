#!/usr/bin/env bash
# Builds the Debian package of Portcullis (cargo-deb; metadata in crates/cli/Cargo.toml, files in
# packaging/) and prints the path of the .deb on its last line.
#
#   scripts/package.sh               an optimised build, for operators (target/debian/*.deb)
#   scripts/package.sh --profile dev packages the debug binary already built (what CI installs:
#                                    scripts/package-test.sh), compiling nothing
#
# The manual pages and shell completions come from the binary being packaged (`portcullis man`,
# `portcullis completions`), so they always describe it.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
while (($#)); do
    case "$1" in
        --profile) profile="$2"; shift 2 ;;
        *) echo "usage: scripts/package.sh [--profile release|dev]" >&2; exit 2 ;;
    esac
done

if ! command -v cargo-deb > /dev/null; then
    echo "cargo-deb is missing: run scripts/setup.sh (or cargo install --locked cargo-deb)" >&2
    exit 1
fi

target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
case "$profile" in
    release)
        source scripts/lib/build-deps.sh
        install_build_deps
        cargo build --release --locked -p portcullis
        binary="$target_dir/release/portcullis"
        deb_flags=()
        ;;
    dev)
        # The debug binary the test build made; cargo-deb warns that it packages a dev profile,
        # which is the point here. --fast: xz at its default level takes a minute on the
        # unoptimised binary.
        binary="$target_dir/debug/portcullis"
        [[ -x "$binary" ]] || { echo "no debug binary at $binary: build it first" >&2; exit 1; }
        # cargo-deb packages the profile's binary in the target directory, nothing else.
        if [[ -n "${PORTCULLIS_BIN:-}" && "$(realpath "$PORTCULLIS_BIN")" != "$(realpath "$binary")" ]]; then
            echo "PORTCULLIS_BIN is $PORTCULLIS_BIN, but the dev package takes $binary" >&2
            exit 1
        fi
        deb_flags=(--fast)
        ;;
    *) echo "unknown profile \`$profile\` (release or dev)" >&2; exit 2 ;;
esac

# Where crates/cli/Cargo.toml's assets expect them: outside target/, whose paths cargo-deb
# reserves for what cargo builds.
assets=packaging/generated
rm -rf "$assets"
mkdir -p "$assets/completions"
"$binary" man --out-dir "$assets/man"
"$binary" completions bash > "$assets/completions/portcullis.bash"
"$binary" completions zsh > "$assets/completions/_portcullis"
"$binary" completions fish > "$assets/completions/portcullis.fish"

mkdir -p "$target_dir/debian"
deb="$(cargo deb -p portcullis --no-build --profile "$profile" "${deb_flags[@]}" \
    --output "$target_dir/debian/" | tail -1)"
echo "$deb"
