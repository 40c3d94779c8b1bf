"""Learning a real new hand from a few corrected lines, through the product's own path.

    python benchmarks/new_hand.py [--lines 16 64 256] [--order page|queue|spread|teach] [--seconds 600]
                                  [--pages 12] [--self-train] [--test-limit 200] [--workdir DIR]

The hand: ``peraire`` (``../shared/data/real-pages/peraire``), one writer's notebooks, kept out of
the base model's training. Its ``train_`` pages (first ``--pages`` in name order) go through
``htr process`` into a fresh SQLite database and a local store, as a user's scans would. Each
found line is matched to a ground-truth line (region IoU >= 0.5, as ``htr evaluate-pages``
matches them) and, for every N, the first N matched lines are corrected with the ground truth
through ``review_line`` (what the review page saves), in page order or in the review queue's
order (``--order queue``: the least sure first; ``spread`` and ``teach``: see ``choose``), on a copy of the database. Then
``htr finetune --from-corrections`` makes a candidate (its own held-out share and standing
sets, the promotion gate's), and CER is measured on every ``test_`` line of the hand, cut
from its polygon, before and after, with the first ``--test-limit`` crops of the standing test
sets (``iam-ondb:test``, ``washington:cv1/test``, ``form-names:test``, ``copiste:test``).
``--self-train``: a candidate from the processed pages'
surely read words alone (``htr finetune --self-train``), no correction at all.
Prints one JSON object per run, then the summary.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def htr(*argv: str) -> str:
    """One ``htr`` command in this process; its standard output."""
    from worker.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    if code != 0:
        raise SystemExit(f"htr {' '.join(argv)}: exit {code}")
    return out.getvalue()


def use_database(path: Path, store: Path) -> None:
    os.environ["HTR_DATABASE_URL"] = f"sqlite:///{path}"
    os.environ["HTR_STORE_URL"] = f"file://{store}"


def matched_lines(pages) -> list[dict]:
    """Every stored line matched to a ground-truth line of its page: id, page, index,
    confidence and the true text."""
    from sqlalchemy import select

    from training.datasets.real_pages import clean_transcription
    from worker.cli.common import sessions
    from worker.db.models import Document, Line, Page
    from worker.pipeline.evaluate import match_pairs, region_ious
    from worker.settings import Settings

    truth = {Path(p.image).stem: p for p in pages}
    out = []
    with sessions(Settings.from_env())() as s:
        for doc in s.scalars(select(Document).order_by(Document.id)):
            gt = truth.get(Path(doc.source).stem)
            if gt is None:
                continue
            page = s.scalar(select(Page).where(Page.document_id == doc.id, Page.index == 0))
            lines = list(s.scalars(select(Line).where(Line.page_id == page.id).order_by(Line.index))) if page else []
            polys = [ln.polygon for ln in gt.lines]
            texts = [clean_transcription(ln.text) for ln in gt.lines]
            if not lines or not polys:
                continue
            ious = region_ious([(ln.x0, ln.y0, ln.x1, ln.y1) for ln in lines], polys, page.width, page.height)
            for i, j in sorted(match_pairs(ious)):
                if texts[j]:
                    line = lines[i]
                    out.append(
                        {
                            "id": line.id,
                            "document": doc.id,
                            "page": gt.name,
                            "index": line.index,
                            "confidence": line.confidence,
                            "text": texts[j],
                        }
                    )
    return out


def correct(lines: list[dict]) -> None:
    from worker.cli.common import sessions
    from worker.db.corrections import review_line
    from worker.settings import Settings

    with sessions(Settings.from_env())() as s:
        for ln in lines:
            review_line(s, ln["id"], "benchmark", ln["text"])
        s.commit()


def choose(lines: list[dict], n: int, order: str) -> list[dict]:
    """The first ``n`` lines to correct: in page order, or in the order the review queue offers
    them (``review_queue``: the least sure first; ``spread``: each page's least sure first, then
    each page's second, ...; ``teach``: spread so, the most characters expected wrong first),
    skipping lines with no true counterpart."""
    if order == "page":
        return lines[:n]
    from worker.cli.common import sessions
    from worker.db.corrections import review_queue
    from worker.settings import Settings

    with sessions(Settings.from_env())() as s:
        queue = review_queue(s, None, limit=100_000, spread=order == "spread", teach=order == "teach")
        rank = {item.line_id: k for k, item in enumerate(queue)}
    return sorted(lines, key=lambda ln: rank.get(ln["id"], len(rank)))[:n]


def test_cer(model: str | Path, samples) -> float:
    from recognition.predictor import Predictor
    from training.metrics import rates

    pred = Predictor.load(model)
    hyps = [r.text for r in pred.predict([im for im, _ in samples])]
    return round(float(rates([t for _, t in samples], hyps)["cer"]), 4)


STANDING_TESTS = ("iam-ondb:test", "washington:cv1/test", "form-names:test", "copiste:test")


def standing_tests(model: str | Path, limit: int) -> dict:
    """Greedy CER of a bundle on the first ``limit`` crops of each standing test set."""
    from training.evaluate import standing_cer

    return {k: round(v, 4) for k, v in standing_cer(model, STANDING_TESTS, None, limit).items()}


def one_run(
    work: Path, kind: str, n: int, lines: list[dict], common: list[str], order: str, samples, before: float, limit: int
) -> dict:
    """One candidate on a copy of the processed database: from ``n`` corrected lines, or (``kind``
    self-train) from the surely read words; its CER on the hand's test lines, and its recipe."""
    store = work / "store"
    db = work / f"{kind}-{n}.sqlite"
    shutil.copyfile(work / "processed.sqlite", db)
    use_database(db, store)
    cand = work / f"candidate-{kind}-{n}"
    shutil.rmtree(cand, ignore_errors=True)
    t1 = time.perf_counter()
    if kind == "corrections":
        correct(choose(lines, n, order))
        report = json.loads(htr("finetune", "--from-corrections", "--output", str(cand), *common))
    else:
        docs = sorted({str(ln["document"]) for ln in lines})
        report = json.loads(htr("finetune", "--self-train", *docs, "--output", str(cand), *common))
    seconds = round(time.perf_counter() - t1, 1)
    after = test_cer(cand, samples)
    tests = standing_tests(cand, limit) if limit else {}
    return {
        "source": kind,
        "lines": n,
        "train_lines": report["train_lines"],
        "heldout_lines": report["heldout_lines"],
        "cer_after": after,
        "relative_drop": round((before - after) / before, 3) if before else None,
        "seconds": seconds,
        "steps": report["steps"],
        "recipe": report["recipe"],
        "heldout_curve": report.get("heldout_curve"),
        "standing": report["standing"],
        "standing_tests_after": tests,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--lines", type=int, nargs="*", default=[16, 64, 256], help="corrected lines per run (none: --self-train alone)"
    )
    ap.add_argument("--order", choices=["page", "queue", "spread", "teach"], default="page")
    ap.add_argument("--seconds", type=float, default=600.0, help="training time of each fine-tune (htr finetune --time-limit)")
    ap.add_argument("--pages", type=int, default=12, help="train_ pages processed (about 30 lines each)")
    ap.add_argument("--self-train", action="store_true")
    ap.add_argument("--finetune-args", default="", help='more options of htr finetune, e.g. "--lr 3e-4 --tolerance 0.005"')
    ap.add_argument("--model", help="base bundle (default: the bundled model)")
    ap.add_argument("--test-limit", type=int, default=200, help="first crops of each standing test set measured (0: none)")
    ap.add_argument("--data-root")
    ap.add_argument(
        "--workdir", help="keep the databases and candidates here (default: a temporary folder); given again, its pages are kept"
    )
    args = ap.parse_args()
    from worker.cli.common import configure_training

    configure_training()  # HTR_DATA_DIR, HTR_FONTS_DIR

    from recognition.bundle import default_model_path
    from training.datasets import RealPages, open_dataset

    base = Path(args.model or default_model_path())
    os.environ["HTR_MODEL"] = str(base)
    if args.data_root:
        os.environ["HTR_DATA_DIR"] = args.data_root
    work = Path(args.workdir or tempfile.mkdtemp(prefix="htr-new-hand-"))
    work.mkdir(parents=True, exist_ok=True)
    test = open_dataset("peraire:test", args.data_root)
    samples = [test.load(i, None) for i in range(len(test))]
    train_set = open_dataset("peraire:train", args.data_root)
    assert isinstance(train_set, RealPages)
    train_pages = sorted(train_set.pages, key=lambda p: p.name)[: args.pages]

    t0 = time.perf_counter()
    store = work / "store"
    use_database(work / "processed.sqlite", store)
    if not (work / "processed.sqlite").is_file():  # a --workdir of an earlier run: its pages as read then
        htr("process", *[str(p.image) for p in train_pages])
    lines = matched_lines(train_pages)
    summary: dict = {
        "hand": "peraire (one writer, never trained on)",
        "base": str(base),
        "pages_processed": len(train_pages),
        "lines_matched": len(lines),
        "process_seconds": round(time.perf_counter() - t0, 1),
        "test_lines": len(samples),
        "cer_before": test_cer(base, samples),
        "standing_tests_before": standing_tests(base, args.test_limit) if args.test_limit else {},
        "order": args.order,
        "runs": [],
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}), flush=True)
    common = ["--time-limit", str(args.seconds), *args.finetune_args.split()]
    summary["finetune_args"] = args.finetune_args
    runs = [("corrections", n) for n in args.lines] + ([("self-train", 0)] if args.self_train else [])
    for kind, n in runs:
        run = one_run(work, kind, n, lines, common, args.order, samples, summary["cer_before"], args.test_limit)
        summary["runs"].append(run)
        print(json.dumps(run), flush=True)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
