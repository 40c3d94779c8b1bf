"""How far fine-tuning alone takes one hand: the test CER as training goes, no blend, no gate.

    python benchmarks/finetune_curve.py [--lines 64] [--lr 1e-4] [--new-share 0.6] [--seconds 600]
                                        [--every 150] [--standing]

The first ``--lines`` ground-truth lines of ``peraire:train`` (pages in name order, lines in
reading order; crops cut from their polygons) are all trained on, mixed with the replay of
``htr finetune`` (``training.finetune.REPLAY``), batch normalization frozen; every ``--every``
seconds of training, greedy CER on every ``peraire:test`` line. ``--standing``: the standing
validation sets (the gate's) of the base and of the last weights. Prints one JSON list per check
``[seconds, steps, cer]``, then everything as one object.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--new-share", type=float, default=0.6, help="share of each batch from the hand")
    ap.add_argument("--freeze", default="batchnorm", choices=["none", "batchnorm", "convs"])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--every", type=float, default=150, help="seconds of training between checks")
    ap.add_argument("--standing", action="store_true")
    args = ap.parse_args()
    from worker.cli.common import configure_training

    configure_training()  # HTR_DATA_DIR, HTR_FONTS_DIR

    import keras

    from recognition.bundle import load_bundle
    from recognition.model import ctc_loss
    from recognition.predictor import Predictor
    from training.datasets import RealPages, open_dataset
    from training.evaluate import standing
    from training.finetune import FinetuneOptions, _replay_sets
    from training.metrics import rates
    from training.sequence import TrainSequence
    from training.train import freeze_layers

    bundle = load_bundle(None)
    train = open_dataset("peraire:train")
    assert isinstance(train, RealPages)
    order = {p.name: k for k, p in enumerate(sorted(train.pages, key=lambda p: p.name))}
    picked = sorted(range(len(train.lines)), key=lambda i: (order[train.lines[i][0].name], i))[: args.lines]
    hand = copy.copy(train)
    hand.lines, hand.items = [train.lines[i] for i in picked], [train.items[i] for i in picked]
    test = open_dataset("peraire:test")
    samples = [test.load(i, None) for i in range(len(test))]

    def cer() -> float:
        hyps = [r.text for r in Predictor.from_bundle(bundle).predict([im for im, _ in samples])]
        return round(float(rates([t for _, t in samples], hyps)["cer"]), 4)

    log: dict = {"args": vars(args), "curve": [(0, 0, cer())]}
    print(json.dumps(log["curve"][-1]), flush=True)
    replay = _replay_sets(FinetuneOptions(), None)
    total = sum(w for _, w, _ in replay)
    sets = [(hand, args.new_share)] + [(ds, (1 - args.new_share) * w / total) for ds, w, _ in replay]
    model = bundle.model
    assert model is not None
    freeze_layers(model, args.freeze)
    model.compile(optimizer=keras.optimizers.Adam(args.lr, clipnorm=5.0), loss=ctc_loss, jit_compile=False)
    seq = TrainSequence(
        sets, bundle.charset, bundle.preprocess, bundle.model_config.width_stride, args.batch, 10, seed=0,
        workers=1, use_multiprocessing=False, max_queue_size=4,
    )  # fmt: skip
    steps, trained = 0, 0.0
    while trained < args.seconds:
        t0 = time.time()
        while time.time() - t0 < args.every:
            model.fit(seq, epochs=1, verbose=0)
            steps += 10
        trained += time.time() - t0
        log["curve"].append((round(trained), steps, cer()))
        print(json.dumps(log["curve"][-1]), flush=True)
    if args.standing:
        log["standing_base"] = standing(Predictor.from_bundle(load_bundle(None)))
        log["standing_after"] = standing(Predictor.from_bundle(bundle))
    print(json.dumps(log), flush=True)


if __name__ == "__main__":
    main()
