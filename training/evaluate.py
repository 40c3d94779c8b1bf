"""``htr evaluate``: CER, WER and exact match of a model on named datasets."""

from __future__ import annotations

import time
from collections.abc import Sequence

from recognition.predictor import Predictor
from recognition.text import fold_accents

from .datasets import DatasetError, open_dataset
from .metrics import rates, slice_rates

STANDING = ("iam-ondb:val", "washington:cv1/valid", "fonts:val", "form-names:val", "copiste:val")  # the gate's validation sets
STANDING_LIMIT = 200  # ... their first crops measured (fewer: a few characters decide on name fields)


def standing(pred: Predictor, specs: Sequence[str] = STANDING, data_root=None, limit: int = STANDING_LIMIT) -> dict:
    """Greedy CER on each standing validation set this machine has (the gate's yardstick)."""
    out = {}
    for spec in specs:
        try:
            out[spec] = evaluate(pred, [spec], data_root, limit)[spec]["cer"]
        except DatasetError:
            continue  # that data set is not on this machine
    return out


def standing_cer(bundle_dir, specs: Sequence[str] = STANDING, data_root=None, limit: int = STANDING_LIMIT) -> dict:
    """``standing`` of a model bundle."""
    from recognition.bundle import load_bundle

    return standing(Predictor.from_bundle(load_bundle(bundle_dir)), specs, data_root, limit)


def evaluate(
    predictor: Predictor, specs: list[str], data_root=None, limit: int | None = None, batch: int = 256, slices: Sequence[str] = ()
) -> dict:
    """Per dataset: CER, WER, exact match, case-insensitive and accent-blind CER, and the
    figures of each slice (``training.metrics.SLICES``) asked for."""
    results = {}
    for spec in specs:
        ds = open_dataset(spec, data_root)
        n = len(ds) if not limit else min(limit, len(ds))
        refs, hyps, skipped = [], [], 0
        t0 = time.perf_counter()
        for start in range(0, n, batch):
            images, texts = [], []
            for i in range(start, min(n, start + batch)):
                try:
                    img, text = ds.load(i, None)
                except DatasetError:
                    skipped += 1
                    continue
                images.append(img)
                texts.append(text)
            for rec, ref in zip(predictor.predict(images), texts):
                refs.append(ref)
                hyps.append(rec.text)
        r = rates(refs, hyps)
        r["cer_case_insensitive"] = rates([t.lower() for t in refs], [t.lower() for t in hyps])["cer"]
        r["cer_accents_folded"] = rates([fold_accents(t) for t in refs], [fold_accents(t) for t in hyps])["cer"]
        if slices:
            r["slices"] = {
                k: {m: round(v, 4) if isinstance(v, float) else v for m, v in fig.items()}
                for k, fig in slice_rates(refs, hyps, list(slices)).items()
            }
        r["seconds"] = round(time.perf_counter() - t0, 2)
        r["skipped"] = skipped
        r = {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}
        results[spec] = r
    return results
