"""Registers: table detection, column keys and rows measured on real register pages.

    python benchmarks/registers.py [--data DIR] [--pages N] [--misses] [--json]

``DIR`` (default ``$HTR_DATA_DIR/registers/riant``) is one register: page
images and ALTO files whose text blocks are tagged ``header`` (the printed
column headers) and ``Col_1`` … ``Col_N`` (the handwritten columns); each text
line is one line of a cell, ``First_line`` marks an entry's first line. Every
page goes through ``segment_page`` (table, columns, rows, the lines of each
cell) and ``printed_ocr.read_header`` (Tesseract); no recognition runs.

The truth, from the ALTO files alone:

- a column's key is the text of the header lines above it, top to bottom: a
  column reaches from the median left end of its lines to the median right
  end, and halfway to its neighbours (at most a quarter of its width); a header
  line is above it when they overlap by half the width of either, and a line
  centred right under a header line that is above several columns is above
  them too (``DES ACTES`` under ``NATURE ET ESPÈCE``). The register's key of
  ``Col_k`` is the most typical (medoid) of its pages' keys: one printed form,
  one key per column, and on a few pages the hand-drawn header polygons miss a
  super-header over a narrow column;
- an entry starts at the top of its first line (``First_line`` lines); on pages
  without them, a quarter of a median line height above the top of its number
  (the lines of ``Col_1``: on the pages that have both, this gives the same
  entries for 98% of the lines). A line belongs to the last entry starting
  above its middle; lines above the first entry make an entry of their own.

A true line is matched to the detected line whose box overlaps its box most,
by at least half the smaller of the two (else it is missed). Its **key is
right** when the key given to the detected line's column is closer (normalized
edit distance; case, accents and punctuation ignored) to the line's true key
than to any other true key of the page's columns. Its **row is right** when the
detected row holding it is the one paired with its entry (detected rows and
true entries paired in page order, one to one, by the most lines shared). A
**cell** (the lines of one entry and column) is right when all its lines are.
Keys are judged twice: ``page_by_page``, as read on each page alone, and
``document``, the pages taken as one document (a register's volume) whose keys
``printed_ocr.consensus_keys`` makes one set, as ``htr process`` stores them.
Also reported: the edit distance from the key given to each column to its true
key (key CER), the columns found per page, and seconds per page.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from segmentation.printed_ocr import align_in_order, key_distance

COLUMN_TAG = re.compile(r"^Col_(\d+)$")


def _box(points) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def truth(page) -> dict:
    """Columns (key, lines), entries and each cell line's entry from a ``PageTruth``."""
    header = [(_box(ln.polygon), ln.text) for ln in page.lines if "header" in ln.tags and ln.polygon]
    lines = []  # (box, column, first)
    for ln in page.lines:
        cols = [int(m.group(1)) for t in ln.tags if (m := COLUMN_TAG.match(t))]
        if cols and ln.polygon and "marginal" not in ln.tags:
            lines.append((_box(ln.polygon), cols[0], "First_line" in ln.tags))
    cols = sorted({c for _b, c, _f in lines})
    spans = {}
    for c in cols:
        own = [b for b, cc, _f in lines if cc == c]
        spans[c] = (float(np.median([b[0] for b in own])), float(np.median([b[2] for b in own])))
    # Each column reaches halfway to its neighbours, at most a quarter of its width out (a
    # column without lines on the page leaves a gap).
    reach = {}
    for i, c in enumerate(cols):
        x0, x1 = spans[c]
        out = 0.25 * (x1 - x0)
        left = max(x0 - out, (spans[cols[i - 1]][1] + x0) / 2.0) if i > 0 else x0 - out
        right = min(x1 + out, (x1 + spans[cols[i + 1]][0]) / 2.0) if i + 1 < len(cols) else x1 + out
        reach[c] = (left, right)
    over: dict[int, set[int]] = {}  # header line -> the columns it is above
    for k, (b, _t) in enumerate(header):
        for c in cols:
            x0, x1 = reach[c]
            overlap = max(0.0, min(b[2], x1) - max(b[0], x0))
            if overlap >= 0.5 * (b[2] - b[0]) or overlap >= 0.5 * (x1 - x0):
                over.setdefault(k, set()).add(c)
    # A line centred right under a header line over several columns continues it (DES ACTES under NATURE ET ESPÈCE).
    for k, (b, _t) in sorted(enumerate(header), key=lambda kb: kb[1][0][1]):
        for k2, (b2, _t2) in enumerate(header):
            width, mid, mid2 = b[2] - b[0], (b[0] + b[2]) / 2.0, (b2[0] + b2[2]) / 2.0
            below = (b[1] + b[3]) / 2.0 < b2[1] <= b[3] + (b[3] - b[1])
            if len(over.get(k, ())) > 1 and below and abs(mid2 - mid) <= 0.1 * width:
                over[k2] = over.get(k2, set()) | over[k]
    keys: dict[int, str] = {}
    for c in cols:
        mine = sorted(
            (b for k, b in enumerate(header) if c in over.get(k, ())), key=lambda bt: ((bt[0][1] + bt[0][3]) / 2.0, bt[0][0])
        )
        keys[c] = " ".join(t for _b, t in mine)
    firsts, slack = [b for b, _c, f in lines if f], 0.0
    if not firsts:  # the entry numbers sit a little lower than the entry's first line
        firsts = [b for b, c, _f in lines if c == 1]
        slack = 0.25 * float(np.median([b[3] - b[1] for b, _c, _f in lines])) if lines else 0.0
    starts = sorted(b[1] for b in firsts)
    entry = [int(np.searchsorted(np.array(starts) - slack, (b[1] + b[3]) / 2.0, side="right")) for b, _c, _f in lines]
    return {"keys": keys, "lines": lines, "entry": entry}


def _pair_rows(found: list[int | None], entries: list[int]) -> dict[int, int]:
    """Detected rows paired with true entries in page order, one to one, by the most lines
    shared (a monotone alignment: rows and entries both run down the page)."""
    shared = Counter((r, e) for r, e in zip(found, entries) if r is not None)
    rows = sorted({r for r, _e in shared})
    ents = sorted({e for _r, e in shared})
    found_entry = align_in_order([[shared.get((r, e), 0) for e in ents] for r in rows])
    return {rows[i]: ents[j] for i, j in enumerate(found_entry) if j is not None}


def measure_page(xml: Path, show_misses: bool = False) -> dict:
    import cv2

    from segmentation import segment_page
    from segmentation.printed_ocr import read_header
    from training.datasets.layout_xml import read_alto

    page = read_alto(xml)
    gt = truth(page)
    gray = cv2.imread(str(page.image), cv2.IMREAD_GRAYSCALE)
    t0 = time.perf_counter()
    layout = segment_page(gray)
    t1 = time.perf_counter()
    table = layout.table
    keys = read_header(layout.deskewed, table) if table is not None and layout.deskewed is not None else []
    t2 = time.perf_counter()
    cell_of: dict[int, tuple[int, int]] = {}
    for cell in table.cells if table is not None else []:
        for li in cell.lines:
            cell_of[li] = (cell.row, cell.column)
    detected = [(ln.page_box, cell_of.get(i)) for i, ln in enumerate(layout.lines)]
    matched: list[tuple[int, int] | None] = []
    for (x0, y0, x1, y1), _c, _f in gt["lines"]:
        area = max(1.0, (x1 - x0) * (y1 - y0))
        best, most = None, 0.0
        for box, rc in detected:
            ix = max(0.0, min(x1, box.x1) - max(x0, box.x0))
            iy = max(0.0, min(y1, box.y1) - max(y0, box.y0))
            if rc is not None and ix * iy > most and ix * iy >= 0.5 * min(area, max(1, box.area)):
                best, most = rc, ix * iy
        matched.append(best)
    out = {
        "page": xml.stem,
        "table": table is not None,
        "columns": len(table.columns) if table is not None else 0,
        "true_columns": len(gt["keys"]),
        "rows": len(table.rows) if table is not None else 0,
        "true_entries": len(set(gt["entry"])),
        "lines": len(gt["lines"]),
        "found": sum(m is not None for m in matched),
        "keys": keys,
        "true_keys": [gt["keys"][c] for c in sorted(gt["keys"])],
        "seconds_segment": t1 - t0,
        "seconds_ocr": t2 - t1,
        "_gt": gt,
        "_matched": matched,
    }
    out.update(judge(out, keys))
    if not show_misses:
        out.pop("misses")
    return out


def register_keys(results: list[dict]) -> dict[int, str]:
    """The true key of each column of a register: one printed form, so one key per column on
    every page, the most typical (medoid) of the keys its pages give it. Header polygons are
    drawn by hand, and on a few pages they miss a super-header over a narrow column."""
    per: dict[int, list[str]] = {}
    for r in results:
        for c, k in r["_gt"]["keys"].items():
            if k:
                per.setdefault(c, []).append(k)
    return {c: min(ks, key=lambda k: sum(key_distance(k, o) for o in ks)) for c, ks in per.items()}


def judge(page: dict, keys: list[str], register: dict[int, str] | None = None) -> dict:
    """A page's figures for the column ``keys`` given to its detected columns (the true keys:
    the ``register``'s, else the page's own)."""
    gt, matched = page["_gt"], page["_matched"]
    true_keys = {c: register.get(c, "") for c in gt["keys"]} if register is not None else gt["keys"]
    key_right = []
    for m, (_b, c, _f) in zip(matched, gt["lines"]):
        if m is None or not keys or not true_keys[c]:  # no header text over the column in the ALTO: no truth to meet
            key_right.append(False)
            continue
        ds = {cc: key_distance(keys[m[1]], k) for cc, k in true_keys.items()}
        nearest = min(ds.values())
        key_right.append(ds[c] == nearest and sum(1 for d in ds.values() if d == nearest) == 1)
    pairs = _pair_rows([m[0] if m else None for m in matched], gt["entry"])
    row_right = [m is not None and pairs.get(m[0]) == e for m, e in zip(matched, gt["entry"])]
    both = [k and r for k, r in zip(key_right, row_right)]
    cells: dict[tuple[int, int], bool] = {}
    for ok, e, (_b, c, _f) in zip(both, gt["entry"], gt["lines"]):
        cells[(e, c)] = cells.get((e, c), True) and ok
    # Key CER: each true column's key against the key of the column most of its lines landed in.
    key_cer = []
    for c, k in true_keys.items():
        landed = Counter(m[1] for m, (_b, cc, _f) in zip(matched, gt["lines"]) if m is not None and cc == c)
        if landed and keys:
            key_cer.append(key_distance(keys[landed.most_common(1)[0][0]], k))
    return {
        "key_right": sum(key_right),
        "row_right": sum(row_right),
        "right": sum(both),
        "cells": len(cells),
        "cells_right": sum(cells.values()),
        "key_cer": key_cer,
        "misses": [
            {"box": [round(v) for v in b], "column": c, "entry": e, "found": m, "key": k, "row": r}
            for (b, c, _f), e, m, k, r in zip(gt["lines"], gt["entry"], matched, key_right, row_right)
            if not (k and r)
        ],
    }


def totals(results: list[dict]) -> dict:
    n = sum(r["lines"] for r in results)
    cells = sum(r["cells"] for r in results)
    cer = [c for r in results for c in r["key_cer"]]
    return {
        "key_right": round(sum(r["key_right"] for r in results) / max(1, n), 4),
        "row_right": round(sum(r["row_right"] for r in results) / max(1, n), 4),
        "key_and_row_right": round(sum(r["right"] for r in results) / max(1, n), 4),
        "cells_right": round(sum(r["cells_right"] for r in results) / max(1, cells), 4),
        "key_cer": round(float(np.mean(cer)), 4) if cer else None,
    }


def main(argv: list[str] | None = None) -> int:
    from segmentation.printed_ocr import consensus_keys
    from training.datasets import default_data_root
    from worker.cli.common import configure_training

    configure_training()  # HTR_DATA_DIR, HTR_FONTS_DIR
    from training.datasets.layout_xml import page_files

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(default_data_root() / "registers" / "riant"))
    ap.add_argument("--pages", type=int, help="only the first N pages")
    ap.add_argument("--misses", action="store_true", help="list the lines whose key or row is wrong")
    ap.add_argument("--json", action="store_true", help="per page figures as JSON lines, then the totals")
    args = ap.parse_args(argv)
    files = page_files(args.data)[: args.pages]
    results = []
    for xml in files:
        r = measure_page(xml, args.misses)
        results.append(r)
        if args.json:
            print(json.dumps({k: v for k, v in r.items() if not k.startswith("_")}, ensure_ascii=False), flush=True)
        else:
            print(
                f"{r['page']}: table {'yes' if r['table'] else 'NO'}, columns {r['columns']}/{r['true_columns']}, "
                f"rows {r['rows']}/{r['true_entries']}, lines {r['lines']}: found {r['found']}, key {r['key_right']}, "
                f"row {r['row_right']}, both {r['right']}; cells {r['cells_right']}/{r['cells']}; keys {r['keys']}",
                flush=True,
            )
            for m in r.get("misses", []):
                print("   ", m)
    # The pages as one document (a register's volume): its keys made one set, as stored.
    register = register_keys(results)
    unified = consensus_keys([r["keys"] for r in results])
    document = [judge(r, k, register) for r, k in zip(results, unified)]
    page_by_page = [judge(r, r["keys"], register) for r in results]
    n = sum(r["lines"] for r in results)
    total = {
        "pages": len(results),
        "tables": sum(r["table"] for r in results),
        "columns_found": dict(sorted(Counter(r["columns"] for r in results).items())),  # columns: pages
        "cell_lines": n,
        "cells": sum(r["cells"] for r in results),
        "found": round(sum(r["found"] for r in results) / max(1, n), 4),
        "document": totals([{**r, **d} for r, d in zip(results, document)]),
        "page_by_page": totals([{**r, **d} for r, d in zip(results, page_by_page)]),
        "true_keys": [register[c] for c in sorted(register)],
        "document_keys": max(unified, key=len) if unified else [],
        "seconds_segment_per_page": round(float(np.mean([r["seconds_segment"] for r in results])), 3),
        "seconds_ocr_per_page": round(float(np.mean([r["seconds_ocr"] for r in results])), 3),
    }
    print(json.dumps(total, indent=None if args.json else 2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
