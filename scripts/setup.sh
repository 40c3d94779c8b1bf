#!/usr/bin/env bash
# Create .venv and install the project with TensorFlow, the training extras and the test tools.
# Re-runs are cheap: pip is skipped while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# poppler renders PDFs (pdf2image calls pdftoppm/pdfinfo).
if ! command -v pdftoppm >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing poppler-utils" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils) >/dev/null
  else
    echo "warning: poppler-utils (pdftoppm) is missing; install it to read PDFs" >&2
  fi
fi
# Tesseract reads printed labels (a register's column headers), in French and English.
if ! command -v tesseract >/dev/null 2>&1 || ! tesseract --list-langs 2>/dev/null | grep -qx fra \
   || ! tesseract --list-langs 2>/dev/null | grep -qx eng; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing tesseract-ocr (fra, eng)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-fra tesseract-ocr-eng) >/dev/null
  else
    echo "warning: tesseract-ocr with its fra and eng data is missing; install it to read registers' printed headers" >&2
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.htr-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log=.venv/pip-install.log
  if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -e ".[tensorflow,train,test]"; } >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
  fi
  # The official PAGE XML schema, as the ocrd-validators package ships it
  # (installed without its many dependencies: only page.xsd is used).
  .venv/bin/python -m pip install -q --no-deps "ocrd-validators==2.67.1" >>"$log" 2>&1
  echo "$want" > "$stamp"
fi
