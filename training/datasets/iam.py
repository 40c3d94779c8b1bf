"""The offline IAM Handwriting Database in its standard layout.

``ROOT/words.txt`` + ``ROOT/words/a01/a01-000u/a01-000u-00-00.png`` and
``ROOT/lines.txt`` + ``ROOT/lines/a01/a01-000u/a01-000u-00.png``.
Rows whose segmentation is ``err`` are skipped unless asked for. An optional
split list (one line or form id per row, e.g. ``trainset.txt``) selects rows.

``lines.txt`` splits punctuation into tokens of its own (``Gaitskell|,|and``);
line texts join them back as written (``Gaitskell, and``), the convention of
IAM On-Line and Washington, so one model learns one way to space punctuation.
Word texts are the tokens unchanged.
"""

from __future__ import annotations

from pathlib import Path

from .base import Dataset, DatasetError, Item, join_tokens


def _read_split(path: str | Path) -> set[str]:
    return {ln.strip() for ln in Path(path).read_text().splitlines() if ln.strip() and not ln.startswith("#")}


def _in_split(item_id: str, split: set[str]) -> bool:
    parts = item_id.split("-")
    # a01-000u-00-00 matches a01-000u-00-00, a01-000u-00 or a01-000u.
    return any("-".join(parts[:k]) in split for k in range(2, len(parts) + 1))


class IamOffline(Dataset):
    name = "iam"

    def __init__(self, root: str | Path, level: str = "lines", split: str | Path | None = None, include_err: bool = False):
        if level not in ("lines", "words"):
            raise ValueError("level must be 'lines' or 'words'")
        self.root = Path(root)
        self.level = level
        index = self.root / f"{level}.txt"
        if not index.is_file():
            raise DatasetError(f"{index} not found (expected the IAM {level}.txt)")
        wanted = _read_split(split) if split else None
        n_fields = 9  # id, status, gray level, 5 geometry/tag fields, text
        items = []
        for n, raw in enumerate(index.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if not raw.strip() or raw.startswith("#"):
                continue
            fields = raw.split(" ")
            if len(fields) < n_fields:
                raise DatasetError(f"{index}:{n}: expected at least {n_fields} fields")
            item_id, status = fields[0], fields[1]
            if status not in ("ok", "err"):
                raise DatasetError(f"{index}:{n}: status must be ok or err, got {status!r}")
            if status == "err" and not include_err:
                continue
            if wanted is not None and not _in_split(item_id, wanted):
                continue
            raw_text = " ".join(fields[8:])
            text = " ".join(raw_text.split()) if level == "words" else join_tokens(raw_text.replace("|", " ").split())
            p = item_id.split("-")
            path = self.root / level / p[0] / f"{p[0]}-{p[1]}" / f"{item_id}.png"
            items.append(Item(item_id, text, path))
        super().__init__(items)
