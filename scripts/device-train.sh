#!/usr/bin/env bash
# Train on a lent GPU machine (the `device` tool): KERAS_BACKEND=jax, no TensorFlow there.
#
#   bash scripts/device-train.sh pack
#       Here, once: packs ../shared/data and the training fonts into two parts, .device/a and
#       .device/b (scripts/device_pack.py; about 50 MB each: a call carries 64 MiB with the
#       working tree), and fetches the wheels the GPU image lacks (keras, namex, optree,
#       editdistance for its Python 3.12) into .device/b/whl. .device/ is git-ignored.
#
#   bash scripts/device-train.sh seed WEIGHTS
#       Here: an earlier run's epoch weights (a returned epoch-NNN.weights.h5) as a bundle to
#       start the next run from (.device/b/init-bundle: int8 weights, 2.3 MB, where the float32
#       file would not fit in the call), for `run ... .device/b/init-bundle LR`.
#
#   bash scripts/device-train.sh stash
#       On the device, as the command of a first `run` call carrying [".device/a"]: moves part a
#       out of the working tree (/root/htr-stash) and shows the GPU. Make the next call at once
#       (the machine stays warm 30 s after a call).
#
#   bash scripts/device-train.sh run CONFIG SECONDS [INIT_FROM [LR]]
#       On the device, as the command of the second call carrying [".device/b"]:
#         bash scripts/device-train.sh run training/configs/htr-base-device.yaml 480 recognition/models/htr-base
#       Unpacks both parts, trains (--no-export) for SECONDS, and copies to $OUT the log, the
#       state and the weights (model only) of the last epoch and of two earlier ones. Back here,
#       measure each (`htr train --config ... --export-only --weights FILE`, then
#       scripts/measure-model.sh) and ship one only if it is better.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
pack)
    rm -rf .device
    .venv/bin/python scripts/device_pack.py pack ../shared/data "${HTR_FONTS_DIR:-.fonts}" .device
    for pkg in "keras==$(.venv/bin/python -c 'import keras; print(keras.__version__)')" namex optree editdistance; do
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            -d .device/b/whl "$pkg"
    done
    du -sh .device/a .device/b
    ;;
seed)
    weights=${2:?weights file}
    .venv/bin/python - "$weights" <<'EOF'
import sys
from recognition.bundle import Bundle
from recognition.model import build_crnn
from training.train import TrainConfig, setup
charset, pre, mcfg = setup(TrainConfig.load("training/configs/htr-base-device.yaml"))
model = build_crnn(mcfg)
model.load_weights(sys.argv[1])
bundle = Bundle(name="htr-base", version="seed", charset=charset, preprocess=pre, model_config=mcfg, model=model)
bundle.round_weights("int8")
print(bundle.save(".device/b/init-bundle"))
EOF
    ;;
stash)
    rm -rf /root/htr-stash && mkdir -p /root/htr-stash && mv .device/a /root/htr-stash/a
    du -sh /root/htr-stash/a
    nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader || true
    ;;
run)
    config=${2:?config}
    seconds=${3:-480}
    init=${4:-}
    lr=${5:-}
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .device/b/whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1 HTR_FONTS_DIR=/root/htr-fonts
    python3 scripts/device_pack.py unpack /root/htr-stash/a .device/b /root/htr-data "$HTR_FONTS_DIR"
    nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader || true
    mkdir -p "$OUT"
    python3 - "$config" "$seconds" "$init" "$lr" > "$OUT/train.log" 2>&1 <<'EOF' || { tail -c 5000 "$OUT/train.log"; exit 1; }
import sys
from training.train import TrainConfig, train
cfg = TrainConfig.load(sys.argv[1])
cfg.data_root = "/root/htr-data"
lr = float(sys.argv[4]) if sys.argv[4] else None
print(train(cfg, resume=True, init_from=sys.argv[3] or None, time_limit=float(sys.argv[2]), lr=lr, export_bundle=False), flush=True)
EOF
    tr '\r' '\n' < "$OUT/train.log" | grep -a "Epoch [0-9]*/\|time limit\|resuming\|initialized\|Error\|error" | tail -n 12
    python3 - "$config" "$OUT" <<'EOF'
import sys
from pathlib import Path
from training.train import TrainConfig, setup
from recognition.model import build_crnn
cfg = TrainConfig.load(sys.argv[1])
run, out = cfg.resolve(cfg.run_dir), Path(sys.argv[2])
epochs = sorted(run.glob("epoch-*.weights.h5"))
for f in sorted({epochs[len(epochs) // 2], epochs[(3 * len(epochs)) // 4], epochs[-1]}):
    model = build_crnn(setup(cfg)[2])
    model.load_weights(f)  # the file holds the optimizer's state too: keep the model's weights
    model.save_weights(out / f.name)
for name in ("state.json", "log.csv"):
    (out / name).write_bytes((run / name).read_bytes())
EOF
    ls -la "$OUT"
    ;;
*)
    sed -n 2,26p "$0"
    exit 2
    ;;
esac
