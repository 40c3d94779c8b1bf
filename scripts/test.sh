#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite.
#   bash scripts/test.sh            everything (CI)
#   bash scripts/test.sh --fast     the edit loop: checks, then the tests that need no services and train nothing
#   bash scripts/test.sh tests/...  what it is given
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${1:-}" = "--fast" ]; then
  export TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=${KERAS_BACKEND:-tensorflow}
  .venv/bin/ruff check --quiet .
  .venv/bin/ruff format --check --quiet .
  .venv/bin/mypy --no-error-summary
  .venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache
  exec .venv/bin/python -m pytest -q -n 2 -m "not services and not slow" --durations=5
fi
bash scripts/install-fonts.sh  # the font tests render every installed font
bash scripts/install-browser.sh  # the review app's browser tests
bash scripts/services.sh
export TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=${KERAS_BACKEND:-tensorflow}
# Lint, format and types first: a red check fails the run like a failing test.
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
.venv/bin/mypy --no-error-summary
.venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache  # layers point down (pyproject.toml)
if [ $# -gt 0 ]; then
  exec .venv/bin/python -m pytest -q "$@"
fi
# The whole suite: two test files at a time (most tests wait on processes and services), then the
# queue's worker-process tests alone (they kill, stop and time workers; load would skew them); the
# slowest tests are listed at the end of each.
rc=0
.venv/bin/python -m pytest -q -n 2 --dist loadfile --durations=15 --ignore=tests/test_queue.py || rc=$?
.venv/bin/python -m pytest -q -p no:xdist --durations=5 tests/test_queue.py || rc=$?
exit "$rc"
