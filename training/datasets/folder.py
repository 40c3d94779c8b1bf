"""A folder with ``labels.tsv`` (``file<TAB>text``), the corrections export format."""

from __future__ import annotations

from pathlib import Path

from .base import Dataset, DatasetError, Item


class LabelsFolder(Dataset):
    name = "folder"

    def __init__(self, root: str | Path, level: str = "lines"):
        self.root = Path(root)
        self.level = level
        labels = self.root / "labels.tsv"
        if not labels.is_file():
            raise DatasetError(f"{labels} not found")
        items = []
        for n, raw in enumerate(labels.read_text(encoding="utf-8").splitlines(), 1):
            if not raw.strip() or raw.startswith("#"):
                continue
            if "\t" not in raw:
                raise DatasetError(f"{labels}:{n}: expected file<TAB>text")
            name, text = raw.split("\t", 1)
            path = self.root / name
            if not path.is_file():
                raise DatasetError(f"{labels}:{n}: {name} does not exist")
            items.append(Item(name, text.strip(), path))
        super().__init__(items)


def write_labels_folder(root: str | Path, samples) -> Path:
    """Write (filename, image, text) samples as a labels.tsv folder."""
    import cv2

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, image, text in samples:
        cv2.imwrite(str(root / name), image)
        lines.append(f"{name}\t{text}")
    (root / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root
