"""Where training finds its data, its fonts and the relative paths of a config. The program that
runs training says so once (``configure``: ``htr`` passes its Settings' ``HTR_DATA_DIR`` and
``HTR_FONTS_DIR``); this package reads no environment. Unconfigured: beside the source checkout
training is run from (``../shared/data``, ``.fonts/``), or, from an installed package, beside the
current folder."""

from __future__ import annotations

from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
_configured: dict[str, Path] = {}


def configure(data_root: str | Path | None = None, fonts_dir: str | Path | None = None) -> None:
    """Set the data root and the fonts folder (None: leave as it is)."""
    if data_root:
        _configured["data"] = Path(data_root)
    if fonts_dir:
        _configured["fonts"] = Path(fonts_dir)


def project_root() -> Path:
    """The source checkout training runs from (it holds pyproject.toml), else the current folder:
    where relative paths in a config (runs/, the model's output) are resolved."""
    return PACKAGE_ROOT if (PACKAGE_ROOT / "pyproject.toml").is_file() else Path.cwd()


def data_root() -> Path:
    return _configured.get("data") or project_root().parent / "shared" / "data"


def fonts_dir() -> Path:
    return _configured.get("fonts") or project_root() / ".fonts"
