#!/usr/bin/env bash
# Installs everything the whole test suite needs on a fresh Debian/Ubuntu machine, and nothing
# when it is all present (each step checks first): the build's system libraries, the test
# identity provider's Python environment, scim2-tester's, Chromium and the console test tools,
# the PostgreSQL server binaries (the TLS tests' own clusters), nginx and jq, cargo-fuzz,
# cargo-deny and cargo-deb. scripts/test.sh runs it first; .ci/run adds only CI's own steps (starting
# PostgreSQL, clearing leftover test databases).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_updated=""
apt_install() {
    local sudo_cmd=""
    [[ "$(id -u)" != 0 ]] && sudo_cmd="sudo"
    if [[ -z "$apt_updated" ]]; then
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@" > /dev/null
}

source scripts/lib/build-deps.sh
install_build_deps

# The Python test servers (the SAML identity provider, the SMTP relay, the DNS server) share
# one virtual environment, made once per set of requirements (scripts/lib/cached-env.sh).
source scripts/lib/cached-env.sh
if ! python3 -m venv --help > /dev/null 2>&1 || ! python3 -c 'import ensurepip' 2> /dev/null; then
    apt_install python3 python3-venv
fi
requirements=crates/cli/tests/idp/requirements.txt
cached_venv target/idp-venv \
    "$( (cat "$requirements"; python3 --version) | digest)" -r "$requirements"
# The independent gRPC client (scripts/grpc-client-test.sh): grpcio and grpcio-tools, pinned.
requirements=scripts/grpc/requirements.txt
cached_venv target/grpc-venv \
    "$( (cat "$requirements"; python3 --version) | digest)" -r "$requirements"

# scim2-tester, the SCIM conformance checker of scripts/scim-tester.sh (pinned there).
requirements=scripts/scim-tester/requirements.txt
cached_venv target/scim-tester-venv \
    "$( (cat "$requirements"; python3 --version) | digest)" -r "$requirements"

if ! command -v chromium > /dev/null || ! command -v chromedriver > /dev/null; then
    echo "installing Chromium"
    apt_install chromium chromium-driver
fi
# Separately: a machine whose Node.js comes from NodeSource already has npm, and Debian's npm
# package conflicts with it.
if ! command -v npm > /dev/null; then
    echo "installing Node.js and npm"
    apt_install nodejs npm
fi
# The console tests' node modules, likewise made once per lock file.
modules="$portcullis_cache/console-tests-$( (cat console-tests/package-lock.json; node --version) | digest)"
if [[ ! -f "$modules/.complete" ]]; then
    rm -rf "$modules"
    mkdir -p "$modules"
    cp console-tests/package.json console-tests/package-lock.json "$modules/"
    (cd "$modules" && npm ci --no-audit --no-fund)
    touch "$modules/.complete"
fi
link_to console-tests/node_modules "$modules/node_modules"

# The console browser tests make their SMTP relay's test CA with the openssl command.
if ! command -v openssl > /dev/null; then
    echo "installing openssl"
    apt_install openssl
fi

# The TLS tests start PostgreSQL clusters of their own (initdb and postgres, as the postgres
# user when run as root: runuser), whatever backend the suite runs on.
if ! ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1 && ! command -v initdb > /dev/null; then
    echo "installing the PostgreSQL server binaries"
    apt_install postgresql
fi

if ! command -v nginx > /dev/null || ! command -v jq > /dev/null; then
    echo "installing nginx and jq"
    apt_install nginx-light jq
fi

# Both cargo tools are built unoptimised (--debug): that halves their build on a fresh machine,
# and their own running time is seconds either way.
if ! command -v cargo-fuzz > /dev/null; then
    cargo install --locked --debug cargo-fuzz
fi
if ! command -v cargo-deny > /dev/null; then
    cargo install --locked --debug cargo-deny
fi
# cargo-deb builds the Debian package (scripts/package.sh, scripts/package-test.sh). Optimised,
# unlike the two above: most of its run is compressing the packaged binary. Held to major
# version 3, where `--profile dev` (the package test's) is deprecated but still works.
if ! command -v cargo-deb > /dev/null; then
    cargo install --locked --version '^3' cargo-deb
fi
