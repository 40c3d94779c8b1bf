#!/usr/bin/env bash
# Set up (if needed) and read the sample crops shipped in examples/ with the bundled model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
.venv/bin/htr recognize examples/line.png examples/word.png
