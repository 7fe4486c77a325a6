#!/usr/bin/env bash
# Builds Portcullis (release) and serves it on http://127.0.0.1:8080 with the embedded SQLite
# store in ./portcullis-data. Extra arguments go to `portcullis serve` (e.g. --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
# The SAML support links libxmlsec1 (and its build needs libclang): install when missing.
if ! pkg-config --exists xmlsec1-openssl 2> /dev/null || ! ls /usr/lib/llvm-*/lib/libclang*.so* > /dev/null 2>&1; then
    echo "installing libxmlsec1/libclang build dependencies (apt-get)"
    sudo_cmd=""
    [[ "$(id -u)" != 0 ]] && sudo_cmd="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq libclang-dev libxmlsec1-dev libxml2-dev pkg-config > /dev/null
fi
exec cargo run --release -p portcullis -- serve "$@"
