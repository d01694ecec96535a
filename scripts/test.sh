#!/usr/bin/env bash
# Install what the tests need and run the whole suite. The README's test command
# and CI (.ci/run) both run this.
set -euo pipefail
cd "$(dirname "$0")/.."
# The upload-page browser test drives Debian's Chromium through Playwright; browsers are
# never downloaded (no `playwright install`), so install the system one when missing.
if ! command -v chromium >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
python3 -m venv .venv
.venv/bin/pip install -q -e '.[test]'
exec .venv/bin/python -m pytest "$@"
