"""Recognition throughput and peak memory of the batch predictor.

    python benchmarks/recognition.py [--model PATH] [--words 2000] [--lines 400]

Crops are IAM-OnDB test words and lines rendered as scans (from ../shared/data,
or $HTR_DATA_DIR); preprocessing and decoding are included in the timing. Prints
one JSON object: words/s and lines/s per decoder (and greedy with the keyword
index's probable spellings, what documents are read with; with the index's
entries per word and the time it adds), batch size, backend, cores, peak
resident memory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def crops(spec: str, n: int):
    from training.datasets import DatasetError, open_dataset

    ds = open_dataset(spec)
    out: list = []
    i = 0
    while len(out) < n and i < 20 * n:
        with contextlib.suppress(DatasetError):  # a line that gives no clean word split
            out.append(ds.load(i % len(ds), None)[0])
        i += 1
    return out


def timed(pred, images, repeat: int = 2) -> float:
    pred.predict(images[: min(len(images), 64)])  # warm up / trace
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        pred.predict(images)
        best = min(best, time.perf_counter() - t0)
    return len(images) / best


def index_overhead(with_index, without, images, repeat: int = 5) -> float:
    """Median over ``repeat`` back-to-back pairs of runs of the time the keyword index adds
    to reading ``images`` (caches warm), as a share: steadier than two separate rates on a
    machine whose speed drifts."""
    import statistics

    with_index.predict(images)
    without.predict(images)
    shares = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        without.predict(images)
        t1 = time.perf_counter()
        with_index.predict(images)
        shares.append((time.perf_counter() - t1) / (t1 - t0) - 1)
    return statistics.median(shares)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--words", type=int, default=2000)
    ap.add_argument("--lines", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()

    import keras
    import numpy as np

    from recognition.predictor import DecoderOptions, Predictor

    words = crops("iam-ondb-words:test", args.words)
    lines = crops("iam-ondb:test", args.lines)
    out = {
        "backend": keras.backend.backend(),
        "cores": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "batch_size": args.batch_size,
        "mean_line_width_px": round(float(np.mean([im.shape[1] for im in lines])), 1),
    }
    plain: dict[str, Predictor] = {}
    for name in ("greedy", "beam"):
        pred = plain[name] = Predictor.load(args.model, decoder=DecoderOptions(name=name), batch_size=args.batch_size)
        n_lines = lines if name == "greedy" else lines[: max(20, len(lines) // 10)]
        n_words = words if name == "greedy" else words[: max(100, len(words) // 10)]
        out[f"{name}_words_per_s"] = round(timed(pred, n_words), 1)
        out[f"{name}_lines_per_s"] = round(timed(pred, n_lines), 1)
    pred = Predictor.load(args.model, batch_size=args.batch_size, keywords=True)
    out["greedy_keywords_words_per_s"] = round(timed(pred, words), 1)
    out["greedy_keywords_lines_per_s"] = round(timed(pred, lines), 1)
    for name, images in (("words", words), ("lines", lines)):
        out[f"index_overhead_{name}_percent"] = round(100 * index_overhead(pred, plain["greedy"], images), 1)
    recs = pred.predict(lines)
    n_words = sum(len(r.words) for r in recs)
    out["index_entries_per_word"] = round(sum(len(w.alternatives) for r in recs for w in r.words) / max(1, n_words), 2)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
