#!/usr/bin/env bash
# Install what the tests need and run the whole suite. The README's test command
# and CI (.ci/run) both run this.
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser tests drive Debian's Chromium through Playwright; browsers are
# never downloaded (no `playwright install`), so install the system one when missing.
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# The PostgreSQL tests start a throwaway server from Debian's binaries
# (tests/postgres.py) unless PRIVACYBOT_TEST_DATABASE_URL names one.
if [ -z "${PRIVACYBOT_TEST_DATABASE_URL:-}" ] \
    && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null \
    && ! command -v initdb >/dev/null 2>&1; then
    missing+=(postgresql)
fi
if [ ${#missing[@]} -gt 0 ]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python3 -m venv .venv
.venv/bin/pip install -q -e '.[test]'
# Two passes: the suite on SQLite, then again on PostgreSQL (every store a test
# opens becomes a PostgreSQL database of its own: tests/conftest.py). Both use
# the server PRIVACYBOT_TEST_DATABASE_URL names, or one throwaway server.
if [ -z "${PRIVACYBOT_TEST_DATABASE_URL:-}" ]; then
    url_file="$(mktemp)"
    .venv/bin/python -m tests.postgres --serve "$url_file" &
    server=$!
    trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -f "$url_file"' EXIT
    for _ in $(seq 300); do [ -s "$url_file" ] && break; sleep 0.1; done
    [ -s "$url_file" ] || { echo "the throwaway PostgreSQL server did not start" >&2; exit 1; }
    PRIVACYBOT_TEST_DATABASE_URL="$(cat "$url_file")"
    export PRIVACYBOT_TEST_DATABASE_URL
fi
.venv/bin/python -m pytest "$@"
PRIVACYBOT_TEST_BACKEND=postgresql .venv/bin/python -m pytest "$@"
