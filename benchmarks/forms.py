"""Registered forms: template matching, field accuracy per type, and fields accepted without review.

    python benchmarks/forms.py [--forms N] [--others N] [--alpha 0.02] [--seed S] [--json]

Generates ``N`` filled copies of each of the three designs in ``benchmarks/synth_forms.py``
(real name fields from ``form-names`` test, other fields in the test split's handwriting
fonts, checkboxes ticked by pen, scanned shifted, turned up to 3°, scaled, blurred, noisy),
registers the three blank forms as templates, and reads every copy as ``read_page`` does
(match → align → cut → read each field held to its type). ``--others`` pages that are no
form (real scanned pages of ``real-pages``, register pages of ``registers``) must match no
template. The first ``--label-forms`` copies of each design are also read with no template
registered (answer boxes named by their printed labels, Tesseract): share of written fields
found under their label, and their values' exact share and CER.

Reported: template match rate (right template) and false matches; per field type, exact
value accuracy (a typed value compared in normal form: ISO date, digits, amount, the
vocabulary's entry; names and text as written; checkboxes ticked or not; an empty field
read as empty), field CER (edit distance over the true value's length; not for checkboxes)
and the share of values flagged as not fitting their type. The copies are split in two
halves: the first calibrates the acceptance thresholds, one per field type
(``recognition.acceptance.calibrate_kinds``: at most ``alpha`` wrong among accepted fields,
with probability 90%); the second reports the share of its fields they accept (in all and per
type) and their error rate. Seconds per page.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import editdistance
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import synth_forms as sf


def right(kind: str, truth: str, read: str, parsed: str, vocabulary: tuple[str, ...]) -> bool:
    """Whether a field's reading is its true value (typed kinds compared in normal form)."""
    from recognition.field_types import FieldType, parse
    from recognition.text import normalize_text

    if not truth:
        return read == ""
    if kind in ("text", "name", "checkbox"):
        return normalize_text(read) == normalize_text(truth)
    want = parse(FieldType(kind, vocabulary), truth)
    return bool(parsed) and parsed == want


def key_form(text: str) -> str:
    """A label as compared: its words before any bracket, lower case, accents folded."""
    from recognition.text import normalize_term

    return normalize_term(text.split("(")[0])


def without_template(page, design: str, truth: dict[str, str]) -> list[dict]:
    """Each field of a copy read with no template: whether a field keyed by its printed label
    was found, and whether its value is the value written (as written: no type is known)."""
    from recognition.text import normalize_text

    got = {key_form(f.key): f for f in page.fields}
    out = []
    for spec in sf.DESIGNS[design][2]:
        f = got.get(key_form(spec.label))
        read = normalize_text(f.value) if f else ""
        want = truth[spec.name]
        out.append({"truth": want, "found": f is not None, "right": f is not None and read == normalize_text(want),
                    "edits": editdistance.eval(read, want)})  # fmt: skip
    return out


def others(data_root: Path, n: int) -> list[Path]:
    """``n`` pages that are no form: real scanned pages and register pages, spread over the sets."""
    pools = [
        sorted((data_root / "real-pages" / s / "images").glob("*.jpg")) for s in ("copiste", "poilus", "stanford", "peraire")
    ]
    pools.append(sorted((data_root / "registers" / "riant" / "images").glob("*.jpg")))
    pools = [p for p in pools if p]
    out: list[Path] = []
    i = 0
    while len(out) < n and any(pools):
        pool = pools[i % len(pools)]
        if pool:
            out.append(pool.pop(len(pool) // 2))
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    from worker.cli.common import configure_training

    configure_training()  # HTR_DATA_DIR, HTR_FONTS_DIR
    from recognition.acceptance import calibrate_kinds
    from recognition.pages import read_page
    from recognition.predictor import DecoderOptions, Predictor
    from segmentation.forms import FormTemplate, load_fields
    from training.datasets import default_data_root

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--forms", type=int, default=80, help="filled copies of each design")
    ap.add_argument("--others", type=int, default=20, help="pages that are no form")
    ap.add_argument("--label-forms", type=int, default=20, help="copies of each design also read with no template")
    ap.add_argument("--alpha", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    data_root = default_data_root()
    templates = [FormTemplate(d, sf.blank(d), load_fields(sf.field_spec(d))) for d in sf.DESIGNS]
    predictor = Predictor.load(backend="onnx", decoder=DecoderOptions(name="beam"))
    hands = sf.Hands(data_root)
    rng = np.random.default_rng(args.seed)
    rows: list[dict] = []  # one per field read
    labelled: list[dict] = []  # one per written field, read without its template
    matched = pages = 0
    seconds = []
    for copy in range(args.forms):
        for design in sf.DESIGNS:
            filled = sf.fill(design, hands, rng)
            scanned = sf.scan(filled.image, rng)
            t0 = time.perf_counter()
            page = read_page(scanned, predictor, templates=templates)
            seconds.append(time.perf_counter() - t0)
            pages += 1
            got = {f.key: f for f in page.fields if f.template == design}
            matched += bool(got)
            if copy < args.label_forms:
                labelled.extend(without_template(read_page(scanned, predictor), design, filled.truth))
            vocab = {s.name: s.vocabulary for s in sf.DESIGNS[design][2]}
            for spec in sf.DESIGNS[design][2]:
                truth = filled.truth[spec.name]
                f = got.get(spec.name)
                read, parsed = (f.value, f.parsed) if f else ("", "")
                rows.append(
                    {
                        "copy": copy,
                        "kind": spec.kind,
                        "truth": truth,
                        "read": read,
                        "right": f is not None and right(spec.kind, truth, read, parsed, vocab[spec.name]),
                        "confidence": f.confidence if f else 0.0,
                        "valid": bool(f and f.valid),
                        "edits": editdistance.eval(read, truth),
                    }
                )
    false_matches = 0
    for path in others(data_root, args.others):
        page = read_page(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), predictor, templates=templates)
        false_matches += any(f.template for f in page.fields)
    report = summarize(rows, pages, matched, false_matches, args, calibrate_kinds, seconds)
    written = [r for r in labelled if r["truth"]]
    report["without_template"] = {
        "pages": min(args.forms, args.label_forms) * len(sf.DESIGNS),
        "fields": len(written),
        "key_found": round(sum(r["found"] for r in written) / max(1, len(written)), 4),
        "value_exact": round(sum(r["right"] for r in written) / max(1, len(written)), 4),
        "value_cer": round(sum(r["edits"] for r in written) / max(1, sum(len(r["truth"]) for r in written)), 4),
    }
    print(json.dumps(report, indent=None if args.json else 2, ensure_ascii=False))
    return 0


def summarize(rows, pages, matched, false_matches, args, calibrate_kinds, seconds) -> dict:
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_kind[r["kind"]].append(r)
    kinds = {}
    for kind, rs in sorted(by_kind.items()):
        written = [r for r in rs if r["truth"]]
        kinds[kind] = {
            "fields": len(rs),
            "exact": round(sum(r["right"] for r in rs) / len(rs), 4),
            "cer": None
            if kind == "checkbox"
            else round(sum(r["edits"] for r in written) / max(1, sum(len(r["truth"]) for r in written)), 4),
            "flagged": round(sum(not r["valid"] for r in rs) / len(rs), 4),
        }
    half = args.forms // 2
    cal = [r for r in rows if r["copy"] < half]
    test = [r for r in rows if r["copy"] >= half]
    acc = calibrate_kinds(
        [r["kind"] for r in cal], [r["confidence"] for r in cal], [r["right"] for r in cal], alpha=args.alpha,
        valid=[r["valid"] for r in cal],
    )  # fmt: skip
    taken = [r for r in test if acc.accepts(r["kind"], r["confidence"], r["valid"])]
    return {
        "pages": pages,
        "template_matched": round(matched / max(1, pages), 4),
        "other_pages": args.others,
        "false_matches": false_matches,
        "fields": len(rows),
        "exact": round(sum(r["right"] for r in rows) / max(1, len(rows)), 4),
        "by_kind": kinds,
        "acceptance": {
            "alpha": args.alpha,
            "thresholds": {k: a.threshold for k, a in sorted(acc.kinds.items())},
            "calibration_fields": len(cal),
            "test_fields": len(test),
            "accepted_share": round(len(taken) / max(1, len(test)), 4),
            "error_among_accepted": round(sum(not r["right"] for r in taken) / max(1, len(taken)), 4),
            "accepted_by_kind": {
                k: round(
                    sum(acc.accepts(k, r["confidence"], r["valid"]) for r in test if r["kind"] == k)
                    / max(1, sum(r["kind"] == k for r in test)),
                    4,
                )
                for k in sorted(by_kind)
            },
        },
        "seconds_per_page": round(float(np.mean(seconds)), 3) if seconds else None,
    }


if __name__ == "__main__":
    raise SystemExit(main())
