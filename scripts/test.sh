#!/usr/bin/env bash
# One command, on a fresh machine: installs what the tests need, then runs the linters, the type checker
# and every test. All three run even when one fails; the script fails if any did.
#   ./scripts/test.sh            (extra arguments go to pytest, e.g. -k collector)
set -euo pipefail
cd "$(dirname "$0")/.."

# The web form is tested in Debian's Chromium (no browser download works on these machines), and
# docker-compose.yml is validated by Debian's docker-compose (there is no Docker engine to run it).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev]'

failed=()
.venv/bin/ruff check . || failed+=("ruff check")
.venv/bin/ruff format --check . || failed+=("ruff format")
.venv/bin/mypy services training_jobs benchmarks tests || failed+=(mypy)
.venv/bin/python -m pytest "$@" || failed+=(pytest)

if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
