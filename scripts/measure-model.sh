#!/usr/bin/env bash
# Measure a model bundle and rewrite its MODEL_CARD.md from the figures:
# greedy CER/WER on the test sets (real pages' lines, synthetic lone punctuation, and with ink of neighbouring lines),
# whole pages through segmentation and reading,
# greedy / beam / beam+lexicon on the first 150 samples, throughput and memory. About 3 minutes on 2 cores; stop a
# training run first (its CPU use skews the throughput figures).
#
#   scripts/measure-model.sh [MODEL_DIR]      # default recognition/models/htr-base
#   NOTES="training history ..." scripts/measure-model.sh
#   CONFIG=training/configs/htr-base-device.yaml TRAIN_COMMAND="..." scripts/measure-model.sh   # trained elsewhere
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-recognition/models/htr-base}
out=runs/measure
mkdir -p "$out"
py=.venv/bin/python
[ -x "$py" ] || py=python
htr() { "$py" -m worker.cli "$@"; }

htr evaluate --model "$model" --slice caps,allcaps,punct iam-ondb:test iam-ondb-words:test washington:cv1/test \
    washington-words:cv1/test fonts:test fonts-words:test form-names:test punctuation:test \
    copiste:test poilus:test stanford:test peraire:test riant:test > "$out/eval-greedy.json"
htr evaluate-pages --model "$model" copiste:test poilus:test stanford:test peraire:test > "$out/eval-pages.json"
HTR_DECODER=greedy htr evaluate-pages --model "$model" copiste:test poilus:test stanford:test peraire:test > "$out/eval-pages-greedy.json"
first150=(iam-ondb:test washington:cv1/test iam-ondb-words:test fonts:test form-names:test copiste:test)
htr evaluate --model "$model" --limit 150 "${first150[@]}" > "$out/eval-greedy150.json"
htr evaluate --model "$model" --limit 150 --decoder beam "${first150[@]}" > "$out/eval-beam150.json"
htr evaluate --model "$model" --limit 150 --decoder beam --lexicon "${first150[@]}" > "$out/eval-beamlex150.json"
htr evaluate --model "$model" iam-ondb:test+neighbours iam-ondb-words:test+neighbours washington:cv1/test+neighbours > "$out/eval-neighbours.json"
"$py" benchmarks/recognition.py --model "$model" > "$out/bench.json"
"$py" scripts/model_card.py "$model" --eval "$out/eval-greedy.json" \
    --decoders greedy="$out/eval-greedy150.json" beam="$out/eval-beam150.json" beam+lexicon="$out/eval-beamlex150.json" \
    --robustness "$out/eval-neighbours.json" --pages "$out/eval-pages.json" --pages-greedy "$out/eval-pages-greedy.json" --bench "$out/bench.json" --notes "${NOTES:-}" \
    --config "${CONFIG:-training/configs/htr-base.yaml}" --train-command "${TRAIN_COMMAND:-}"
cat "$out/eval-greedy.json" "$out/eval-pages.json" "$out/eval-neighbours.json" "$out/bench.json"
