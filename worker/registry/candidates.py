"""A candidate model fine-tuned from the database: the one path of ``htr finetune`` and the
nightly refresh. People's corrections (reviewed lines) or the words read surely in chosen
documents (self-training) are exported as crops, the base is fine-tuned on them (with any
other ``labels.tsv`` folders given), and the candidate is written as a bundle."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from ..export.training import export_confident, export_corrections
from ..io.store import Store


class TooFewLines(ValueError):
    """Fewer new lines (or surely read words) than asked for."""

    def __init__(self, count: int, what: str, wanted: int):
        super().__init__(f"{count} {what}, fewer than {wanted}")
        self.count, self.what, self.wanted = count, what, wanted


@dataclass
class TrainingSource:
    """What a candidate learns from."""

    corrections: bool = False  # every reviewed line (of ``document`` if given)
    document: int | None = None
    self_train: list[int] = field(default_factory=list)  # documents whose surely read words are labels
    min_confidence: float = 0.95
    folders: list[Path] = field(default_factory=list)  # labels.tsv folders
    min_lines: int = 1


def finetune_candidate(
    sessions: sessionmaker, store: Store, base: Path, output: Path, source: TrainingSource, opts, data_root=None
):
    """Fine-tune ``base`` into a candidate bundle at ``output``; its ``FinetuneReport``.
    Raises ``TooFewLines`` when the source holds fewer than ``min_lines`` samples."""
    from training.finetune import finetune

    with tempfile.TemporaryDirectory(prefix="htr-candidate-") as tmp:
        data = list(source.folders)
        if source.corrections:
            with sessions() as s:
                manifest = export_corrections(s, store, Path(tmp) / "corrections", source.document)
            _enough(manifest["line_count"], source.min_lines, "reviewed lines")
            data.append(Path(tmp) / "corrections")
        if source.self_train:
            with sessions() as s:
                manifest = export_confident(s, store, Path(tmp) / "self", source.self_train, source.min_confidence)
            _enough(manifest["word_count"], source.min_lines, f"words read at >= {source.min_confidence}")
            data.append(Path(tmp) / "self")
        if not data:
            raise ValueError("nothing to fine-tune on: corrections, self-training documents or labels.tsv folders")
        return finetune(base, data, output, opts, data_root)


def _enough(count: int, wanted: int, what: str) -> None:
    if count < wanted:
        raise TooFewLines(count, what, wanted)
