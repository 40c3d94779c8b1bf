"""A model bundle on disk: everything inference needs, in one folder.

``model.json``       format, name, version, charset, preprocessing, architecture,
                     confidence calibration, metrics
``model.weights.h5`` Keras weights (backend-neutral)
``lm.json.gz``        optional character n-gram model (beam search)
``lexicon.txt``      optional lexicon (beam search)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .calibration import Calibrator
from .charset import Charset
from .lm import CharNgramLM, Lexicon
from .model import ModelConfig, build_crnn
from .preprocess import PreprocessConfig

FORMAT = "htr-crnn-ctc/1"
DEFAULT_MODEL_NAME = "htr-base"


def default_model_path() -> Path:
    env = os.environ.get("HTR_MODEL")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent / "models" / DEFAULT_MODEL_NAME


@dataclass
class Bundle:
    name: str
    version: str
    charset: Charset
    preprocess: PreprocessConfig
    model_config: ModelConfig
    calibration: Calibrator = field(default_factory=Calibrator.identity)
    metrics: dict = field(default_factory=dict)
    path: Path | None = None
    model: object = None
    lm: CharNgramLM | None = None
    lexicon: Lexicon | None = None

    def build(self):
        self.model = build_crnn(self.model_config)
        return self.model

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "charset": self.charset.to_json(),
            "preprocess": self.preprocess.to_json(),
            "model": self.model_config.to_json(),
            "calibration": self.calibration.to_json(),
            "metrics": self.metrics,
        }
        (path / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
        self.model.save_weights(path / "model.weights.h5")
        if self.lm is not None:
            self.lm.save(path / "lm.json.gz")
        if self.lexicon is not None:
            self.lexicon.save(path / "lexicon.txt")
        self.path = path
        return path


class ModelLoadError(Exception):
    pass


def load_bundle(path: str | Path | None = None) -> Bundle:
    path = Path(path) if path else default_model_path()
    meta_file = path / "model.json"
    if not meta_file.is_file():
        raise ModelLoadError(f"no model at {path} (model.json missing)")
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != FORMAT:
        raise ModelLoadError(f"{path}: unsupported model format {meta.get('format')!r}")
    bundle = Bundle(
        name=meta["name"],
        version=meta["version"],
        charset=Charset.from_json(meta["charset"]),
        preprocess=PreprocessConfig.from_json(meta["preprocess"]),
        model_config=ModelConfig.from_json(meta["model"]),
        calibration=Calibrator.from_json(meta.get("calibration")),
        metrics=meta.get("metrics", {}),
        path=path,
    )
    bundle.build()
    bundle.model.load_weights(path / "model.weights.h5")
    if (path / "lm.json.gz").is_file():
        bundle.lm = CharNgramLM.load(path / "lm.json.gz")
    if (path / "lexicon.txt").is_file():
        bundle.lexicon = Lexicon.load(path / "lexicon.txt")
    return bundle
