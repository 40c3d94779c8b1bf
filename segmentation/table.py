"""Registers and tables: a ruled page → its columns, header band, rows and cells.

A pre-printed register is a table: printed column headers at the top, then one
handwritten entry per row, each as tall as its longest cell. Everything is
found on the page itself (deskewed binary page, ink = True):

- **columns**: vertical rulings, long straight runs of ink (a morphological
  opening with a kernel three writing heights tall, on a half-size copy),
  grouped by position and fitted as ``x = x0 + slope · y``, so a residual skew
  or a microfilm's shear is followed. A ruling runs through a large part of
  the table; a stroke of writing does not. Double rules are one boundary. A
  span beyond the outermost rulings is a column when the header band holds
  print over it and the header's rules run on across it (a column cut by the
  page's edge, a frame lost to the scan's border); an outer column without a
  header is a margin (a sheet's edge or fold seen as a rule) and is dropped.
  On a page without vertical rulings, columns are the white gaps that run
  down the body's ink where the header's printed words also leave a gap.
- **header band**: from the table's top to the first horizontal ruling below
  it that crosses most of the table (the rule under the printed headers),
  else to the first blank band below the header's printed lines. Where a
  vertical ruling starts inside the band (below a super-header: ``NATURE ET
  ESPÈCE`` over ``EN BREVETS | EN MINUTES``), the header words above its top
  belong to the columns on both sides (:meth:`Table.header_columns`).
- **rows** (:func:`assign_rows`, from the lines found in each column by
  ``page.segment_page``): in a table ruled between its rows, the bands between
  the rules. Otherwise from the entries' first lines: a column's items are
  runs of lines less than half a writing height apart, its paragraphs runs
  less than a blank line apart. Columns whose paragraphs start together group;
  the largest group is the columns written from an entry's first line (number,
  date, kind, names), another the columns written at its last line
  (registration dates and fees). In the first, the anchor column is the one
  whose items agree best with the others' paragraphs: the entry number, one
  item per entry. Each anchor item starts a row, half a writing height above
  the highest first line of its entry among those columns; above the first
  entry (a heading, the end of the previous page's entry) each paragraph of
  the column written most makes a row of its own.
- **cells**: the lines of one row and column.

Coordinates are deskewed page pixels; ``page.segment_page`` maps boxes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import cv2
import numpy as np

from .layout import Box
from .lines import ruled_paper

MIN_COLUMNS = 3  # a table has at least this many columns
RULE_REACH = 0.25  # the longest vertical ruling spans at least this share of the page height
RULE_SHARE = 0.4  # ... and each other ruling at least this share of the longest
HEADER_RULE_COVER = 0.5  # the rule under the header crosses at least this share of the table's width
ROW_RULE_COVER = 0.8  # a rule between rows crosses at least this share of it
ITEM_GAP = 0.5  # writing heights between two lines of one cell at most
ANCHOR_TOLERANCE = 0.8  # line pitches between the starts of one entry's cells at most
MIN_ROW = 0.75  # line pitches between the tops of two entries at least
PARAGRAPH = 1.5  # line pitches between the tops of two lines a blank line apart at least


@dataclass(frozen=True)
class Rule:
    """A vertical ruling: ``x = x0 + slope * y`` from ``top`` to ``bottom``."""

    x0: float
    slope: float
    top: int
    bottom: int
    half_width: float = 0.0  # ink either side of the fitted line (a double rule: both of its lines)

    def x(self, y: float) -> float:
        return self.x0 + self.slope * y

    def to_list(self) -> list[float]:
        return [round(self.x0, 2), round(self.slope, 6), self.top, self.bottom, round(self.half_width, 1)]


@dataclass
class Column:
    left: Rule
    right: Rule
    key: str = ""  # the header's text over the column (``printed_ocr.read_header``)

    def span(self, y: float) -> tuple[float, float]:
        return self.left.x(y), self.right.x(y)


@dataclass(frozen=True)
class Row:
    y0: int
    y1: int
    anchored: bool  # started by an entry of the anchor column (False: the lines above the first entry)


@dataclass
class Cell:
    row: int
    column: int
    lines: list[int]  # indices of the page's lines, top to bottom
    box: Box


@dataclass
class Table:
    box: Box  # the table, header included
    header: Box  # the header band
    columns: list[Column]
    rows: list[Row] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)
    anchor: int | None = None  # the column whose entries start rows
    row_rules: list[int] = field(default_factory=list)  # horizontal rulings between the body's rows (a ruled table)

    @property
    def keys(self) -> list[str]:
        return [c.key for c in self.columns]

    def column_at(self, x: float, y: float) -> int:
        """The column holding ``x`` at height ``y`` (the nearest one when none does)."""
        best, dist = 0, float("inf")
        for i, c in enumerate(self.columns):
            a, b = c.span(y)
            d = 0.0 if a <= x < b else min(abs(x - a), abs(x - b))
            if d < dist:
                best, dist = i, d
        return best

    def header_columns(self, x0: float, x1: float, y: float) -> list[int]:
        """The columns a header word at ``x0..x1``, height ``y``, stands over: the column of its
        middle, widened across every boundary whose ruling starts below ``y`` (a super-header)."""
        first = last = self.column_at((x0 + x1) / 2.0, y)
        while first > 0 and self.columns[first].left.top > y:
            first -= 1
        while last < len(self.columns) - 1 and self.columns[last].right.top > y:
            last += 1
        return list(range(first, last + 1))

    def to_json(self) -> dict[str, Any]:
        return {
            "box": self.box.to_list(),
            "header": self.header.to_list(),
            "columns": [{"left": c.left.to_list(), "right": c.right.to_list(), "key": c.key} for c in self.columns],
            "rows": [[r.y0, r.y1, r.anchored] for r in self.rows],
            "cells": [{"row": c.row, "column": c.column, "lines": c.lines, "box": c.box.to_list()} for c in self.cells],
            "anchor": self.anchor,
            "row_rules": self.row_rules,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Table:
        def rule(v: Sequence[float]) -> Rule:
            return Rule(float(v[0]), float(v[1]), int(v[2]), int(v[3]), float(v[4]) if len(v) > 4 else 0.0)

        return cls(
            Box(*data["box"]),
            Box(*data["header"]),
            [Column(rule(c["left"]), rule(c["right"]), c.get("key", "")) for c in data["columns"]],
            [Row(int(a), int(b), bool(k)) for a, b, k in data.get("rows", [])],
            [Cell(int(c["row"]), int(c["column"]), [int(i) for i in c["lines"]], Box(*c["box"])) for c in data.get("cells", [])],
            data.get("anchor"),
            [int(y) for y in data.get("row_rules", [])],
        )


# --- the grid: rulings, columns, header band --------------------------------------------------


def _half(m: np.ndarray) -> np.ndarray:
    """A 0/1 mask at half size; a pixel there is ink if any of its four is."""
    h, w = m.shape
    return cast(
        np.ndarray,
        (cv2.resize(m.astype(np.uint8), (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8),
    )


def _covered(intervals: list[tuple[int, int]]) -> int:
    """Length of the union of ``[a, b)`` intervals."""
    total, end = 0, -(10**9)
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def vertical_rules(mask: np.ndarray, ch: float) -> list[Rule]:
    """Vertical rulings of a page, left to right: straight vertical runs at least three writing
    heights long, grouped by position, each group fitted as a line and kept when it spans a
    large part of the page (``RULE_REACH``, ``RULE_SHARE``). Runs at the image's edge (what
    is left of a scan's border) are not rulings."""
    h, w = mask.shape
    half = _half(mask)
    run = max(12, int(round(1.5 * ch)))  # half-size pixels: three writing heights
    v = cv2.morphologyEx(half, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, run)))
    n, labels, stats, cents = cv2.connectedComponentsWithStats(v, connectivity=8)
    if n <= 1:
        return []
    order = np.argsort(cents[1:, 0]) + 1
    tol = max(3.0, min(10.0, ch / 4.0))  # half-size pixels: double rules and a tilted rule's pieces join
    groups: list[list[int]] = []
    for i in order:
        if groups and cents[i, 0] - cents[groups[-1][-1], 0] <= tol:
            groups[-1].append(int(i))
        else:
            groups.append([int(i)])
    found: list[tuple[int, Rule]] = []
    for g in groups:
        cover = 2 * _covered(
            [(int(stats[i, cv2.CC_STAT_TOP]), int(stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT])) for i in g]
        )
        xa = int(min(stats[i, cv2.CC_STAT_LEFT] for i in g))
        xb = int(max(stats[i, cv2.CC_STAT_LEFT] + stats[i, cv2.CC_STAT_WIDTH] for i in g))
        ya = int(min(stats[i, cv2.CC_STAT_TOP] for i in g))
        yb = int(max(stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT] for i in g))
        if 2 * xb < 0.01 * w or 2 * xa > 0.99 * w:
            continue
        ys, xs = np.nonzero(np.isin(labels[ya:yb, xa:xb], g))
        ys, xs = ys + ya, xs + xa
        if np.ptp(ys) > 4:
            slope, icept = np.polyfit(ys.astype(np.float64), xs.astype(np.float64), 1)
        else:
            slope, icept = 0.0, float(xs.mean())
        if abs(slope) > 0.05:  # not upright: a stroke, or rules of different columns chained
            continue
        spread = float(np.percentile(np.abs(xs - (icept + slope * ys)), 98)) + 0.5
        found.append((cover, Rule(2.0 * float(icept) + 0.5, float(slope), 2 * ya, min(h, 2 * yb), 2.0 * spread)))
    if not found:
        return []
    longest = max(c for c, _ in found)
    if longest < max(RULE_REACH * h, 8 * ch):
        return []
    rules = sorted((r for c, r in found if c >= RULE_SHARE * longest), key=lambda r: r.x(h / 2.0))
    return _merge_double_rules(rules, ch, h / 2.0)


def _merge_double_rules(rules: list[Rule], ch: float, mid: float) -> list[Rule]:
    """Rules (left to right) closer than a writing height at height ``mid`` as one boundary (double rules)."""
    merged: list[Rule] = []
    for r in rules:
        if merged and r.x(mid) - merged[-1].x(mid) < ch:
            p = merged[-1]
            gap = (r.x(mid) - p.x(mid)) / 2.0
            merged[-1] = Rule(
                (p.x0 + r.x0) / 2.0,
                (p.slope + r.slope) / 2.0,
                min(p.top, r.top),
                max(p.bottom, r.bottom),
                gap + max(p.half_width, r.half_width),
            )
        else:
            merged.append(r)
    return merged


def _rule_rows(mask: np.ndarray, ch: float, box: Box, cover: float) -> list[int]:
    """Heights of the horizontal rulings inside ``box`` that cross at least ``cover`` of its width."""
    sub = mask[box.y0 : box.y1, box.x0 : box.x1]
    if sub.size == 0:
        return []
    half = _half(sub)
    run = max(12, int(round(1.5 * ch)))
    hz = cv2.morphologyEx(half, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (run, 1)))
    hz = cv2.dilate(hz, np.ones((3, 1), np.uint8))  # a rule bowed or tilted by a pixel or two
    share = hz.sum(axis=1) / float(max(1, half.shape[1]))
    on = np.concatenate([[0], (share >= cover).astype(np.int8), [0]])
    d = np.diff(on)
    return [box.y0 + int(a + b) for a, b in zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0])]  # 2 * (a + b) / 2


def _rule_top(mask: np.ndarray, rule: Rule, start: int, stop: int, gap: int = 4) -> int:
    """Walk a ruling up from ``start`` while its ink continues (within its width and 3 px, gaps
    of ``gap`` px bridged); the top reached (≥ ``stop``)."""
    h, w = mask.shape
    top, miss = start, 0
    reach = int(np.ceil(rule.half_width)) + 3
    for y in range(min(start, h - 1), max(stop, 0) - 1, -1):
        x = int(round(rule.x(y)))
        if mask[y, max(0, x - reach) : min(w, x + reach + 1)].any():
            top, miss = y, 0
        else:
            miss += 1
            if miss > gap:
                break
    return top


def _rule_continues(mask: np.ndarray, ch: float, ys: tuple[int, int], xa: int, xb: int) -> bool:
    """Whether a horizontal ruling near height ``ys[0]`` or ``ys[1]`` (within half a writing
    height) crosses most (60%) of the columns ``xa..xb``."""
    h, w = mask.shape
    xa, xb = max(0, xa), min(w, xb)
    if xb - xa < 3:
        return False
    run = max(3, min(xb - xa, int(1.5 * ch)))
    for y in ys:
        sub = mask[max(0, y - int(ch / 2)) : min(h, y + int(ch / 2) + 1), xa:xb].astype(np.uint8)
        hz = cv2.morphologyEx(sub, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (run, 1)))
        if hz.any(axis=0).mean() >= 0.6:
            return True
    return False


def _header_bottom_by_ink(clean: np.ndarray, ch: float, x0: int, x1: int, y0: int, y1: int) -> int | None:
    """Without a rule under the header: the middle of the first blank band (0.6 writing
    heights) below the first ink of the table's top."""
    rows = clean[y0:y1, x0:x1].sum(axis=1)
    ink = np.nonzero(rows > 0)[0]
    if not ink.size:
        return None
    need = max(3, int(0.6 * ch))
    run = 0
    for y in range(int(ink[0]), len(rows)):
        run = run + 1 if rows[y] == 0 else 0
        if run >= need:
            return y0 + y - run // 2
    return None


def _gap_rules(clean: np.ndarray, ch: float, x0: int, x1: int, header: tuple[int, int], body: tuple[int, int]) -> list[Rule]:
    """Column boundaries on a page without vertical rulings: runs of columns at least half a
    writing height wide where at most 2% of the body's rows hold ink and the column labels (the
    lower half of the header band) leave a gap too; a boundary at each run's middle, from below
    the lowest header print that crosses it (a super-header over both columns) down."""
    b = clean[body[0] : body[1], x0:x1]
    hd = clean[header[0] : header[1], x0:x1]
    if b.size == 0 or hd.size == 0:
        return []
    rows = max(1, int(b.any(axis=1).sum()))
    col_share = b.sum(axis=0) / float(rows)
    pad = max(1, int(0.15 * ch))
    lower = hd[hd.shape[0] // 2 :].astype(np.uint8)
    n, lab, st, _c = cv2.connectedComponentsWithStats(lower, connectivity=8)
    letter = np.zeros(n, bool)  # print, not specks or what is left of a removed rule's end
    letter[1:] = (st[1:, cv2.CC_STAT_HEIGHT] >= 0.25 * ch) & (st[1:, cv2.CC_STAT_AREA] >= (ch / 4.0) ** 2)
    labels = letter[lab].any(axis=0).astype(np.uint8).reshape(1, -1)
    head_ink = cv2.dilate(labels, np.ones((1, 2 * pad + 1), np.uint8)).ravel()
    free = (col_share <= 0.02) & (head_ink == 0)
    inked = np.nonzero(col_share > 0.02)[0]
    if not inked.size:
        return []
    on = np.concatenate([[0], free.astype(np.int8), [0]])
    d = np.diff(on)
    rules = []
    for a, z in zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]):
        if z - a >= max(3, 0.5 * ch) and a > inked[0] and z < inked[-1]:
            x = (a + z) // 2
            crossing = np.nonzero(hd[:, max(0, x - pad) : x + pad + 1].any(axis=1))[0]
            top = header[0] + (int(crossing.max()) + 1 if crossing.size else 0)
            rules.append(Rule(float(x0 + x), 0.0, top, body[1]))
    return rules


def _table_band(mask: np.ndarray, clean: np.ndarray, ch: float, rules: list[Rule]) -> tuple[Box, int, int, list[int]] | None:
    """Where the table is: its span, the top of its header, its bottom, and the rows of the
    horizontal rulings across it. With vertical rulings, from them; without, a rule under a
    printed header and the writing's extent."""
    h, w = mask.shape
    if len(rules) >= 2:
        long = [r for r in rules if r.bottom - r.top >= 0.6 * max(q.bottom - q.top for q in rules)]
        top = int(np.median([r.top for r in long]))
        bottom = int(max(r.bottom for r in long))
        xs = [r.x(y) for r in rules for y in (top, bottom)]
        span = Box(max(0, int(min(xs))), max(0, top - int(ch)), min(w, int(max(xs)) + 1), bottom)
        hrows = _rule_rows(mask, ch, span, HEADER_RULE_COVER)
        header_top = next((y for y in hrows if top - 2 * ch <= y <= top + ch), top)
        return span, header_top, bottom, hrows
    ink_rows = np.nonzero(clean.any(axis=1))[0]
    ink_cols = np.nonzero(clean.any(axis=0))[0]
    if not ink_rows.size:
        return None
    span = Box(int(ink_cols[0]), 0, int(ink_cols[-1]) + 1, h)
    hrows = _rule_rows(mask, ch, span, HEADER_RULE_COVER)
    first_ink = int(ink_rows[0])
    above = [y for y in hrows if y <= first_ink + ch]
    header_top = above[-1] if above else max(0, first_ink - 2)
    hrows = [y for y in hrows if y > header_top]
    return (span, header_top, min(h, int(ink_rows[-1]) + int(ch)), hrows) if hrows else None


def _headed_columns(
    mask: np.ndarray, clean: np.ndarray, ch: float, columns: list[Column], band: tuple[int, int], bottom: int, ruled: bool
) -> list[Column]:
    """The columns with a printed header (``band``: the header's top and bottom; ``ruled``: the
    band is closed by a rule): the outer ones without are margins beyond the table's frame; a
    header beyond the outermost rulings adds a column cut by the page's edge."""
    header_top, header_bottom = band
    w = mask.shape[1]
    letters = 2.0 * (ch / 3.0) ** 2  # ink of a couple of printed letters
    pad = max(3, int(0.3 * ch))  # what ruling removal leaves beside a rule

    def headed(xa: float, xb: float) -> bool:
        """A header over ``xa..xb``: printed ink in the band, and (where the header is ruled) its rules across."""
        ink = clean[header_top + 3 : header_bottom - 2, max(0, int(xa) + pad) : max(0, int(xb) - pad)].sum() >= letters
        return bool(ink) and (not ruled or _rule_continues(mask, ch, band, int(xa) + pad, int(xb) - pad))

    while columns and not headed(*columns[0].span(header_bottom)):
        columns.pop(0)
    while columns and not headed(*columns[-1].span(header_bottom)):
        columns.pop()
    if not columns:
        return columns
    first, last = columns[0].left, columns[-1].right
    xa, xb = first.x(header_bottom), last.x(header_bottom)
    reach = 4 * ch
    if xa >= ch and headed(max(0.0, xa - reach), xa):
        columns.insert(0, Column(Rule(0.0, 0.0, header_top, bottom), first))
    if w - xb >= ch and headed(xb, min(float(w), xb + reach)):
        columns.append(Column(last, Rule(float(w), 0.0, header_top, bottom)))
    return columns


def detect_table(mask: np.ndarray, clean: np.ndarray, ch: float) -> Table | None:
    """The table of a page, or None. ``mask``: the binary page with its rulings; ``clean``:
    the same without them (the writing); ``ch``: the writing's height. Rows and cells are
    left empty (:func:`assign_rows` fills them once the columns' lines are found)."""
    w = mask.shape[1]
    if ch <= 0 or not mask.any():
        return None
    rules = vertical_rules(mask, ch)
    found = _table_band(mask, clean, ch, rules)
    if found is None:
        return None
    span, header_top, bottom, hrows = found
    limit = header_top + 0.4 * (bottom - header_top)
    header_bottom = next((y for y in hrows if header_top + 1.5 * ch <= y <= limit), None)
    if header_bottom is None and len(rules) >= 2:
        header_bottom = _header_bottom_by_ink(clean, ch, span.x0, span.x1, header_top + 2, int(limit))
    if header_bottom is None:
        return None
    if len(rules) < 2:
        rules = _gap_rules(clean, ch, span.x0, span.x1, (header_top, header_bottom), (header_bottom, bottom))
        if len(rules) < MIN_COLUMNS - 1:
            return None
        rules = [Rule(float(span.x0), 0.0, header_top, bottom), *rules, Rule(float(span.x1), 0.0, header_top, bottom)]
    else:
        rules = [
            Rule(r.x0, r.slope, min(r.top, _rule_top(mask, r, header_bottom, header_top)), r.bottom, r.half_width) for r in rules
        ]
    columns = [Column(a, b) for a, b in zip(rules[:-1], rules[1:]) if b.x(header_bottom) - a.x(header_bottom) >= 0.8 * ch]
    ruled = header_bottom in hrows  # the header band is closed by a rule (else found by the ink)
    columns = _headed_columns(mask, clean, ch, columns, (header_top, header_bottom), bottom, ruled)
    if len(columns) < MIN_COLUMNS:
        return None
    x0 = int(max(0, min(c.left.x(y) for c in columns[:1] for y in (header_top, bottom))))
    x1 = int(min(w, max(c.right.x(y) for c in columns[-1:] for y in (header_top, bottom)) + 1))
    # Rulings across the body part its rows (not the even rules of ruled paper, which writing sits on).
    body = [
        y
        for y in _rule_rows(mask, ch, Box(x0, header_bottom, max(x1, x0 + 1), bottom), ROW_RULE_COVER)
        if header_bottom + ch < y < bottom - ch
    ]
    row_rules = [] if ruled_paper([(y, y + 1) for y in body]) else body
    return Table(Box(x0, header_top, x1, bottom), Box(x0, header_top, x1, header_bottom), columns, row_rules=row_rules)


def column_masks(table: Table, *masks: np.ndarray, ch: float) -> list[tuple[Box, list[np.ndarray]]]:
    """Per column, the body inside it: (box, each of ``masks`` within the box and the column).
    What lies on a boundary's ruling (its width and two pixels) and on the header's rule is left out."""
    w = masks[0].shape[1]
    y0, y1 = min(table.box.y1 - 1, table.header.y1 + max(3, int(0.3 * ch))), table.box.y1
    out = []
    for col in table.columns:
        pl, pr = col.left.half_width + 2.0, col.right.half_width + 2.0
        xa = int(max(0, np.floor(min(col.left.x(y0), col.left.x(y1)))))
        xb = int(min(w, np.ceil(max(col.right.x(y0), col.right.x(y1))) + 1))
        box = Box(xa, y0, max(xa + 1, xb), max(y0 + 1, y1))
        poly = np.array(
            [
                [col.left.x(y0) + pl - xa, 0],
                [col.right.x(y0) - pr - xa, 0],
                [col.right.x(y1) - pr - xa, y1 - y0],
                [col.left.x(y1) + pl - xa, y1 - y0],
            ],
            np.float64,
        )
        keep = np.zeros((box.height, box.width), np.uint8)
        cv2.fillPoly(keep, [np.round(poly).astype(np.int32)], 1)
        inside = keep.astype(bool)
        out.append((box, [m[box.y0 : box.y1, box.x0 : box.x1] & inside for m in masks]))
    return out


def trim_line(box: Box, mask: np.ndarray, ch: float) -> tuple[Box, np.ndarray] | None:
    """A line found in a column, without the specks that joined it from far above or below (in
    a sparse column the nearest line is far): ink components out of reach of the line's core
    (its ink-weighted middle row, ± 1.2 writing heights) are dropped. None when what is left is
    a speck or a dash (ink under a quarter of a writing height squared, or under half a
    writing height tall)."""
    rows = mask.sum(axis=1).astype(np.float64)
    if rows.sum() <= 0:
        return None
    mid = float(np.searchsorted(np.cumsum(rows), rows.sum() / 2.0))
    _n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    tops, heights = stats[:, cv2.CC_STAT_TOP], stats[:, cv2.CC_STAT_HEIGHT]
    near = (tops <= mid + 1.2 * ch) & (tops + heights >= mid - 1.2 * ch)
    near[0] = False
    kept = near[labels]
    ys, xs = np.nonzero(kept)
    if len(ys) < (ch / 2.0) ** 2 or np.ptp(ys) + 1 < 0.5 * ch:
        return None
    a, b, c, d = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    return Box(box.x0 + a, box.y0 + b, box.x0 + c, box.y0 + d), kept[b:d, a:c]


# --- rows and cells -------------------------------------------------------------------------------


def _items(tops: Sequence[int], bottoms: Sequence[int], ch: float) -> list[int]:
    """Tops of a column's items: runs of lines (sorted by top) with less than ``ITEM_GAP``
    writing heights between one's bottom and the next one's top."""
    starts: list[int] = []
    end = None
    for t, b in sorted(zip(tops, bottoms)):
        if end is None or t - end > ITEM_GAP * ch:
            starts.append(int(t))
        end = b if end is None else max(end, b)
    return starts


def _paragraphs(tops: Sequence[int], pitch: float) -> list[int]:
    """Tops of a column's paragraphs: lines more than a blank line apart (tops ``PARAGRAPH``
    pitches apart) start one."""
    ts = sorted(tops)
    return [int(t) for k, t in enumerate(ts) if k == 0 or t - ts[k - 1] > PARAGRAPH * pitch]


def line_pitch(boxes: Sequence[Box], columns: Sequence[int], ch: float) -> float:
    """The distance between the tops of consecutive lines of one cell: the median over every
    column of the gaps between consecutive lines' tops that are under 2.5 line heights (else
    three writing heights)."""
    if not boxes:
        return 3.0 * ch
    height = float(np.median([b.height for b in boxes]))
    steps = []
    for c in set(columns):
        tops = np.sort([b.y0 for b, cc in zip(boxes, columns) if cc == c])
        d = np.diff(tops)
        steps += [float(v) for v in d if 0 < v <= 2.5 * height]
    return float(np.median(steps)) if steps else 3.0 * ch


def _agreement(a: Sequence[int], b: Sequence[int], tol: float) -> float:
    """How well two lists of starts agree: pairs within ``tol`` matched one to one, nearest
    first, as an F-measure (2 · matched / (len(a) + len(b)))."""
    if not a or not b:
        return 0.0
    pairs = sorted((abs(x - y), i, j) for i, x in enumerate(a) for j, y in enumerate(b) if abs(x - y) <= tol)
    used_a, used_b = set(), set()
    for _d, i, j in pairs:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
    return 2.0 * len(used_a) / (len(a) + len(b))


def leading_columns(paragraphs: dict[int, list[int]], tol: float) -> list[int]:
    """The columns written from an entry's first line on. Columns whose paragraphs start
    together (:func:`_agreement` of at least a half, within ``tol`` pixels) group: the entry's
    number, date, kind and names form the largest group; registration dates and fees, written
    at an entry's last line, another. The largest group (ties: the one with the leftmost
    column), left to right."""
    cols = sorted(c for c, st in paragraphs.items() if st)
    group = {c: c for c in cols}
    for i, a in enumerate(cols):  # single linkage
        for b in cols[i + 1 :]:
            if _agreement(paragraphs[a], paragraphs[b], tol) >= 0.5 and group[a] != group[b]:
                ga, gb = group[a], group[b]
                group = {c: ga if g == gb else g for c, g in group.items()}
    members: dict[int, list[int]] = {}
    for c in cols:
        members.setdefault(group[c], []).append(c)
    return max(members.values(), key=lambda m: (len(m), -min(m))) if members else []


def choose_anchor(items: dict[int, list[int]], paragraphs: dict[int, list[int]], tol: float) -> int | None:
    """The column each entry writes exactly one item in, on its first line (the entry number):
    among the leading columns, the one whose items agree best with the others' paragraphs
    (then the leftmost). A column written line after line has more items than entries."""
    lead = leading_columns(paragraphs, tol)
    if not lead:
        return None
    return max(lead, key=lambda c: (round(sum(_agreement(items[c], paragraphs[o], tol) for o in lead if o != c), 6), -c))


def assign_rows(table: Table, boxes: Sequence[Box], columns: Sequence[int], ch: float) -> list[int]:
    """Rows of a table from its cell lines (``boxes``, each in column ``columns[i]``): sets
    ``table.rows`` and ``table.anchor`` and returns each line's row. A ruled table's rows are
    the bands between its rules; otherwise each item of the anchor column (:func:`choose_anchor`)
    starts a row at the highest first line of the entry's leading columns, half a writing
    height above it, and what lies above the first entry (a heading, the end of an entry begun
    on the page before) makes a row per paragraph of the column written most."""
    y0, y1 = table.header.y1, table.box.y1
    if table.row_rules:
        edges = [y0, *table.row_rules, max(y1, *(b.y1 for b in boxes))] if boxes else [y0, *table.row_rules, y1]
        band = [int(np.searchsorted(np.array(table.row_rules), (b.y0 + b.y1) / 2.0, side="right")) for b in boxes]
        used = sorted(set(band))
        table.anchor = None
        table.rows = [Row(edges[r], edges[r + 1], True) for r in used]
        return [used.index(r) for r in band]
    by_col: dict[int, list[int]] = {}
    for i, c in enumerate(columns):
        by_col.setdefault(c, []).append(i)
    pitch = line_pitch(boxes, columns, ch)
    tol = ANCHOR_TOLERANCE * pitch
    items = {c: _items([boxes[i].y0 for i in idx], [boxes[i].y1 for i in idx], ch) for c, idx in by_col.items()}
    paragraphs = {c: _paragraphs([boxes[i].y0 for i in idx], pitch) for c, idx in by_col.items()}
    anchor = choose_anchor(items, paragraphs, tol)
    table.anchor = anchor
    starts: list[int] = []
    for s in sorted(items.get(anchor, [])) if anchor is not None else []:
        if not starts or s - starts[-1] >= MIN_ROW * pitch:  # closer: one entry (a mark above its number)
            starts.append(s)
    lead = [paragraphs[c] for c in leading_columns(paragraphs, tol) if c != anchor]
    tops = [min([s] + [t for st in lead for t in st if s - tol <= t <= s]) for s in starts]
    before: list[int] = []
    if by_col and tops:
        dense = max(by_col, key=lambda c: len(by_col[c]))
        before = [t for t in paragraphs[dense] if t <= tops[0] - pitch]
    bounds: list[int] = []
    anchored: list[bool] = [False]
    for t, a in [(t, False) for t in before] + [(t, True) for t in tops]:
        bounds.append(max(y0, int(t - 0.5 * ch), bounds[-1] + 1 if bounds else y0))
        anchored.append(a)
    edges = [y0, *bounds, max(y1, *(b.y1 for b in boxes))] if boxes else [y0, y1]
    row_of = [int(np.searchsorted(np.array(edges[1:-1]), (b.y0 + b.y1) / 2.0, side="right")) for b in boxes]
    used = sorted(set(row_of))
    renumber = {r: k for k, r in enumerate(used)}
    table.rows = [Row(edges[r], edges[r + 1], anchored[r]) for r in used]
    return [renumber[r] for r in row_of]


def make_cells(table: Table, boxes: Sequence[Box], columns: Sequence[int], rows: Sequence[int]) -> None:
    """``table.cells``: the lines (their indices in ``boxes``) of each row and column, row by row."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (c, r) in enumerate(zip(columns, rows)):
        groups.setdefault((r, c), []).append(i)
    cells = []
    for (r, c), idx in sorted(groups.items()):
        idx.sort(key=lambda i: (boxes[i].y0, boxes[i].x0))
        cells.append(
            Cell(
                r,
                c,
                idx,
                Box(
                    min(boxes[i].x0 for i in idx),
                    min(boxes[i].y0 for i in idx),
                    max(boxes[i].x1 for i in idx),
                    max(boxes[i].y1 for i in idx),
                ),
            )
        )
    table.cells = cells
