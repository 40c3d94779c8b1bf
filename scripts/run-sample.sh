#!/usr/bin/env bash
# Set up (if needed), then run the main job on embedded defaults: SQLite in var/,
# a local folder store in var/store, in-process execution, the bundled model.
# Processes the sample documents in examples/, prints a transcript and a search.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
htr=.venv/bin/htr
$htr db upgrade
$htr process examples/letter.pdf examples/line.png
echo "--- transcript of examples/letter.pdf (document 1)"
$htr show 1
echo "--- search: the"
$htr search "the" --limit 5 || true
echo "--- the cropped samples, read directly (path, text, confidence)"
$htr recognize examples/line.png examples/word.png
