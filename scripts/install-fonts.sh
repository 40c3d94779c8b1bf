#!/usr/bin/env bash
# Install the handwriting-style fonts of training/fonts/catalogue.py (all SIL OFL 1.1,
# npm @fontsource/*, each with its LICENSE) into $HTR_FONTS_DIR (default .fonts/).
# Training and the font tests need them; nothing is downloaded at run time.
# Re-runs are cheap: npm is skipped while the package list is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${HTR_FONTS_DIR:-$PWD/.fonts}
py=${PYTHON:-.venv/bin/python}
[ -x "$py" ] || py=python3
mkdir -p "$dir"
list=$(PYTHONPATH=. "$py" -m training.fonts.catalogue)
want=$(printf '%s' "$list" | sha256sum | cut -d' ' -f1)
stamp="$dir/.installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is needed to install the training fonts (apt-get install npm)" >&2
  exit 1
fi
echo "installing $(echo "$list" | wc -l) fonts into $dir" >&2
[ -f "$dir/package.json" ] || echo '{"name": "htr-fonts", "private": true}' > "$dir/package.json"
# shellcheck disable=SC2086
npm install --prefix "$dir" --no-audit --no-fund --silent --no-save $list
echo "$want" > "$stamp"
