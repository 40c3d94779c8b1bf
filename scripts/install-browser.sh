#!/usr/bin/env bash
# Headless Chromium and its driver for the browser tests: Debian's packages (no browser download).
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing chromium and chromium-driver" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null
  else
    echo "chromium and chromium-driver are missing; install them (as root: apt-get install chromium chromium-driver)" >&2
    exit 1
  fi
fi
