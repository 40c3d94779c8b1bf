"""Recognition throughput and peak memory of the batch predictor.

    python benchmarks/recognition.py [--model PATH] [--words 2000] [--lines 400] [--backend tf|onnx|onnx-int8]
    python benchmarks/recognition.py --compare tf,onnx,onnx-int8 [--cer 300]

Crops are IAM-OnDB test words and lines rendered as scans (from ../shared/data,
or $HTR_DATA_DIR); preprocessing and decoding are included in the timing. Prints
one JSON object: words/s and lines/s per decoder (and greedy with the keyword
index's probable spellings, what documents are read with; with the index's
entries per word and the time it adds), batch size, backend, cores, peak
resident memory.

``--compare`` measures the backends against each other on a machine whose speed drifts: each
in a process of its own (so the ONNX ones never import TensorFlow, and each has its own peak
memory), the processes taking turns: in every round (``--rounds``) each figure is measured for all
backends back to back. Figures: words/s and lines/s per decoder and through the network alone
(batches of normalized crops; the median over rounds), each rate's ratio to the first backend's
(the median of the rounds' ratios), CER on the first ``--cer`` crops of ``iam-ondb:test``
(greedy), peak memory, and the start-up of ``htr recognize`` on one crop (greedy and the default
beam, the ONNX graph already cached; best of 3).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
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


def best_rate(run, items, repeat: int) -> float:
    """Items per second of ``run(items)``, best of ``repeat`` after a warm-up on 64 of them."""
    run(items[: min(len(items), 64)])  # warm up / trace
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        run(items)
        best = min(best, time.perf_counter() - t0)
    return len(items) / best


def timed(pred, images, repeat: int = 2) -> float:
    return best_rate(pred.predict, images, repeat)


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


def peak_rss_mb() -> float:
    """This process's peak resident memory (``VmHWM``: unlike ``ru_maxrss``, not the parent's
    peak carried over a fork and exec)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def network_rate(pred, images, repeat: int = 3) -> float:
    """Crops per second through the backend alone: normalized crops, batched as the predictor
    batches them (best of ``repeat``)."""
    from recognition.preprocess import normalize

    return best_rate(pred.probabilities, [normalize(im, pred.pre).image for im in images], repeat)


def start_up(backend: str, decoder: str, model: str | None, repeat: int = 3) -> float:
    """Seconds of ``htr recognize --backend BACKEND --decoder DECODER`` on one word crop, best of
    ``repeat`` (a first run before them writes the ONNX graph to its cache)."""
    cmd = [sys.executable, "-m", "worker.cli", "recognize", "--backend", backend, "--decoder", decoder, "examples/word.png"]
    if model:
        cmd += ["--model", model]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


def cer(pred, n: int) -> float:
    from training.evaluate import evaluate

    return evaluate(pred, ["iam-ondb:test"], limit=n)["iam-ondb:test"]["cer"]


FIGURES = (  # --compare: (figure, rate function, decoder, crops)
    ("greedy_words_per_s", "timed", "greedy", "words"),
    ("greedy_lines_per_s", "timed", "greedy", "lines"),
    ("beam_words_per_s", "timed", "beam", "beam_words"),
    ("beam_lines_per_s", "timed", "beam", "beam_lines"),
    ("network_words_per_s", "network", "greedy", "words"),
    ("network_lines_per_s", "network", "greedy", "lines"),
)


def serve(args) -> None:
    """``--serve``: one backend's predictors and crops loaded, then one figure per line read from
    stdin (a FIGURES name, ``cer``, or ``memory``), each answered with a JSON number on stdout."""
    from recognition.bundle import load_bundle
    from recognition.predictor import DecoderOptions, Predictor

    words = crops("iam-ondb-words:test", args.words)
    lines = crops("iam-ondb:test", args.lines)
    images = {"words": words, "lines": lines, "beam_words": words[: max(100, len(words) // 10)]}
    images["beam_lines"] = lines[: max(20, len(lines) // 10)]
    bundle = load_bundle(args.model, build=args.backend == "tf")
    greedy = Predictor.from_bundle(bundle, backend=args.backend, batch_size=args.batch_size)
    beam = Predictor.from_bundle(bundle, backend=greedy.backend, decoder=DecoderOptions("beam"), batch_size=args.batch_size)
    preds = {"greedy": greedy, "beam": beam}
    greedy.predict(lines[:64])  # warm up
    rates = {"timed": timed, "network": network_rate}
    print(json.dumps("ready"), flush=True)
    for line in sys.stdin:
        what = line.strip()
        if what == "cer":
            value = cer(greedy, args.cer)
        elif what == "memory":
            value = peak_rss_mb()
        else:
            _, rate, decoder, crop_set = next(f for f in FIGURES if f[0] == what)
            value = rates[rate](preds[decoder], images[crop_set], 1)
        print(json.dumps(value), flush=True)


def compare(args) -> None:
    """``--compare``: each backend in a process of its own (``--serve``), the processes taking
    turns: in every round each figure is measured for all backends back to back, the others
    waiting asleep. The median over rounds of each rate, and of its ratio to the first backend's
    in the same round."""
    import statistics

    backends = args.compare.split(",")
    workers = {}
    for backend in backends:
        cmd = [sys.executable, __file__, "--serve", "--backend", backend, "--cer", str(args.cer)]
        cmd += ["--words", str(args.words), "--lines", str(args.lines), "--batch-size", str(args.batch_size)]
        if args.model:
            cmd += ["--model", args.model]
        workers[backend] = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(backend: str, what: str):
        worker = workers[backend]
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdin.write(what + "\n")
        worker.stdin.flush()
        return json.loads(worker.stdout.readline())

    for backend, worker in workers.items():
        assert worker.stdout is not None and json.loads(worker.stdout.readline()) == "ready", backend
    rates: dict[str, dict[str, list[float]]] = {b: {f[0]: [] for f in FIGURES} for b in backends}
    for _ in range(args.rounds):
        for figure, *_ in FIGURES:
            for backend in backends:
                rates[backend][figure].append(ask(backend, figure))
    out: dict = {"cores": os.cpu_count(), "machine": platform.processor() or platform.machine(), "rounds": args.rounds}
    first = backends[0]
    for backend in backends:
        res: dict = {figure: round(statistics.median(v), 1) for figure, v in rates[backend].items()}
        if args.cer:
            res["cer"] = ask(backend, "cer")
        res["peak_rss_mb"] = ask(backend, "memory")
        workers[backend].communicate("")
        res["start_up_greedy_s"] = round(start_up(backend, "greedy", args.model), 2)
        res["start_up_beam_s"] = round(start_up(backend, "beam", args.model), 2)
        if backend != first:
            ratios = {
                f: round(statistics.median(a / b for a, b in zip(v, rates[first][f])), 2) for f, v in rates[backend].items()
            }
            if args.cer:
                ratios["cer_points"] = round(100 * (res["cer"] - out[first]["cer"]), 2)
            res[f"vs_{first}"] = ratios
        out[backend] = res
    print(json.dumps(out, indent=2))


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--words", type=int, default=2000)
    ap.add_argument("--lines", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--backend", default="tf", choices=("tf", "onnx", "onnx-int8"), help="what runs the network")
    ap.add_argument("--compare", metavar="B1,B2,...", help="the backends against each other, with the ratios to the first")
    ap.add_argument("--rounds", type=int, default=5, help="--compare: rounds of every figure for every backend")
    ap.add_argument("--cer", type=int, default=0, metavar="N", help="--compare: also CER on the first N crops of iam-ondb:test")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # a --compare worker
    return ap.parse_args()


def _backend_name(backend: str) -> str:
    if backend == "tf":
        import keras

        return f"tf ({keras.backend.backend()})"
    import onnxruntime

    return f"{backend} (onnxruntime {onnxruntime.__version__})"


def main() -> None:
    args = _args()
    from worker.cli.common import configure_training

    configure_training()  # HTR_DATA_DIR, HTR_FONTS_DIR
    if args.compare:
        compare(args)
        return
    if args.serve:
        serve(args)
        return

    import numpy as np

    from recognition.predictor import DecoderOptions, Predictor

    words = crops("iam-ondb-words:test", args.words)
    lines = crops("iam-ondb:test", args.lines)
    out = {
        "backend": _backend_name(args.backend),
        "cores": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "batch_size": args.batch_size,
        "mean_line_width_px": round(float(np.mean([im.shape[1] for im in lines])), 1),
    }
    plain: dict[str, Predictor] = {}
    for name in ("greedy", "beam"):
        pred = plain[name] = Predictor.load(
            args.model, backend=args.backend, decoder=DecoderOptions(name=name), batch_size=args.batch_size
        )
        n_lines = lines if name == "greedy" else lines[: max(20, len(lines) // 10)]
        n_words = words if name == "greedy" else words[: max(100, len(words) // 10)]
        out[f"{name}_words_per_s"] = round(timed(pred, n_words), 1)
        out[f"{name}_lines_per_s"] = round(timed(pred, n_lines), 1)
    pred = Predictor.load(args.model, backend=args.backend, batch_size=args.batch_size, keywords=True)
    out["greedy_keywords_words_per_s"] = round(timed(pred, words), 1)
    out["greedy_keywords_lines_per_s"] = round(timed(pred, lines), 1)
    for name, images in (("words", words), ("lines", lines)):
        out[f"index_overhead_{name}_percent"] = round(100 * index_overhead(pred, plain["greedy"], images), 1)
    recs = pred.predict(lines)
    n_words = sum(len(r.words) for r in recs)
    out["index_entries_per_word"] = round(sum(len(w.alternatives) for r in recs for w in r.words) / max(1, n_words), 2)
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
