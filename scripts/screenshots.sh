#!/usr/bin/env bash
# Regenerates docs/screenshots/*.png: runs the console browser flows with screenshots on.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p docs/screenshots
SCREENSHOTS=1 exec scripts/console-tests.sh
