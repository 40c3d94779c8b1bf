#!/usr/bin/env bash
# Train on a lent GPU machine (the `device` tool): KERAS_BACKEND=jax, no TensorFlow there.
#
#   bash scripts/device-train.sh pack
#       Here, once: copies ../shared/data to .device/data and fetches the wheels the GPU image
#       lacks (keras, namex, optree, editdistance for its Python 3.12) into .device/whl.
#       .device/ is git-ignored; about 50 MB with the data, under the 64 MiB a call may carry.
#
#   bash scripts/device-train.sh run CONFIG SECONDS
#       On the device, as the command of a `run` call that carries [".device"]:
#         bash scripts/device-train.sh run training/configs/htr-large.yaml 500
#       Trains with --resume until the last epoch that fits in SECONDS (runs/ stays on the
#       machine between calls while it is warm, so the next call goes on), exports the bundle,
#       and copies it, state.json and log.csv to $OUT. Back here, copy the files from the
#       reply's files_at into the config's output folder and measure it (scripts/measure-model.sh).
#
# A call may run 10 minutes and a session has 30 minutes of device time: keep SECONDS near 500
# (the export and start-up take the rest) and make the calls back to back.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
pack)
    mkdir -p .device/whl
    rsync -a --delete ../shared/data/ .device/data/
    for pkg in "keras==$(.venv/bin/python -c 'import keras; print(keras.__version__)')" namex optree editdistance; do
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            -d .device/whl "$pkg"
    done
    du -sh .device
    ;;
run)
    config=${2:?config}
    seconds=${3:-500}
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .device/whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader || true
    mkdir -p "$OUT"
    python3 -m worker.cli train --config "$config" --resume --data-root .device/data --time-limit "$seconds" > "$OUT/train.log" 2>&1 \
        || { tail -c 6000 "$OUT/train.log"; exit 1; }
    grep -a "val: CER\|time limit\|resuming\|exported\|ReduceLR" "$OUT/train.log" | tail -n 40
    out=$(python3 -c "import yaml,sys; c=yaml.safe_load(open(sys.argv[1])); print(c['output'], c['run_dir'])" "$config")
    read -r bundle run <<<"$out"
    cp "$bundle"/* "$run/state.json" "$run/log.csv" "$OUT/"
    ls -la "$OUT"
    ;;
*)
    sed -n 2,18p "$0"
    exit 2
    ;;
esac
