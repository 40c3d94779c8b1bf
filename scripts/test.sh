#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/install-fonts.sh  # the font tests render every installed font
bash scripts/services.sh
export TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=${KERAS_BACKEND:-tensorflow}
exec .venv/bin/python -m pytest -q "$@"
