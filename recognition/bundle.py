"""A model bundle on disk: everything inference needs, in one folder.

``model.json``       format, name, version, charset, preprocessing, architecture,
                     confidence calibration, metrics
``model.weights.h5`` Keras weights (backend-neutral; float32, or float16 to halve
                     a shipped model's size: Keras casts them back on loading), or
                     ``int8``: the model's arrays in order, each matrix and kernel in
                     int8 with a float32 scale per output channel, vectors in float16
                     (a quarter of the size)
``lm.json.gz``        optional character n-gram model (beam search)
``lexicon.txt``      optional lexicon (beam search)
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .calibration import Calibrator
from .charset import Charset
from .lm import CharNgramLM, Lexicon
from .model import ModelConfig, build_crnn
from .preprocess import PreprocessConfig

if TYPE_CHECKING:
    import h5py
    import keras
    import numpy as np

FORMAT = "htr-crnn-ctc/1"
WEIGHT_DTYPES = ("float32", "float16", "int8")


def quantize_int8(w: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(int8 values, float32 scale per last-axis channel) of a matrix or kernel; None for a
    vector (stored in float16). ``dequantize`` gives back what loads."""
    import numpy as np

    w = np.asarray(w, np.float32)
    if w.ndim < 2:
        return None
    scale = (np.abs(w).reshape(-1, w.shape[-1]).max(axis=0) / 127).astype(np.float32)
    scale[scale == 0] = 1.0
    # A scale that the rounded weights give back (their maximum, 127·scale, over 127): then
    # quantizing rounded weights again finds the same values, and a saved file loads exactly.
    for _ in range(8):
        moved = (scale * np.float32(127)) / np.float32(127) != scale
        if not moved.any():
            break
        scale = np.where(moved, np.nextafter(scale, np.float32(np.inf)), scale)
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale


def dequantize(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    import numpy as np

    return cast(np.ndarray, q.astype(np.float32) * scale)


def _rounded(w: np.ndarray, dtype: str) -> np.ndarray:
    """What a ``dtype`` weights file gives back for the array ``w``."""
    import numpy as np

    w = np.asarray(w)
    if dtype == "int8":
        packed = quantize_int8(w)
        return w.astype(np.float16).astype(w.dtype) if packed is None else dequantize(*packed).astype(w.dtype)
    return w.astype(dtype).astype(w.dtype)


DEFAULT_MODEL_NAME = "htr-base"


def default_model_path() -> Path:
    """The bundled model (``htr`` passes ``$HTR_MODEL`` or ``--model`` instead when given)."""
    return Path(__file__).resolve().parent / "models" / DEFAULT_MODEL_NAME


@dataclass
class Bundle:
    name: str
    version: str
    charset: Charset
    preprocess: PreprocessConfig
    model_config: ModelConfig
    calibration: Calibrator = field(default_factory=Calibrator.identity)  # greedy decoding
    calibration_beam: Calibrator | None = None  # beam search + n-gram (the LM mends low-scored words); None: as greedy
    metrics: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    model: keras.Model | None = None
    lm: CharNgramLM | None = None
    lexicon: Lexicon | None = None
    weights_dtype: str = "float32"  # how model.weights.h5 stores them

    def calibration_for(self, decoder: str) -> Calibrator:
        """The confidence map fitted for a decoder's readings."""
        if decoder == "beam" and self.calibration_beam is not None:
            return self.calibration_beam
        return self.calibration

    def build(self) -> keras.Model:
        self.model = build_crnn(self.model_config)
        return self.model

    def round_weights(self, dtype: str) -> None:
        """Round the model's weights to what a ``dtype`` file holds, so that what
        is measured before saving is exactly what loads back."""
        if dtype not in WEIGHT_DTYPES:
            raise ValueError(f"weights dtype {dtype!r}: expected one of {', '.join(WEIGHT_DTYPES)}")
        assert self.model is not None, "build() or load first"
        self.model.set_weights([_rounded(w, dtype) for w in self.model.get_weights()])
        self.weights_dtype = dtype

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
            **({"calibration_beam": self.calibration_beam.to_json()} if self.calibration_beam is not None else {}),
            "metrics": self.metrics,
            "weights_dtype": self.weights_dtype,
        }
        (path / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
        assert self.model is not None, "no model to save"
        if self.weights_dtype == "int8":
            _save_int8(self.model, path / "model.weights.h5")
        else:
            self.model.save_weights(path / "model.weights.h5")
            if self.weights_dtype != "float32":
                _store_weights_as(path / "model.weights.h5", self.weights_dtype)
        if self.lm is not None:
            self.lm.save(path / "lm.json.gz")
        if self.lexicon is not None:
            self.lexicon.save(path / "lexicon.txt")
        self.path = path
        return path


def _store_weights_as(file: Path, dtype: str) -> None:
    """Rewrite a Keras weights file with its float arrays in ``dtype`` (a fresh
    file: HDF5 does not give back the space of replaced datasets)."""
    import h5py
    import numpy as np

    tmp = file.with_name(file.name + ".tmp")

    def copy(src: h5py.Group, dst: h5py.Group) -> None:
        dst.attrs.update(src.attrs)
        for key, item in src.items():
            if isinstance(item, h5py.Group):
                copy(item, dst.create_group(key))
            else:
                data = item[()]
                if isinstance(data, np.ndarray) and data.dtype.kind == "f":
                    data = data.astype(dtype)
                dst.create_dataset(key, data=data).attrs.update(item.attrs)

    with h5py.File(file, "r") as src, h5py.File(tmp, "w") as dst:
        copy(src, dst)
    shutil.move(tmp, file)


def _save_int8(model: keras.Model, file: Path) -> None:
    """The model's arrays in ``get_weights`` order: ``w000``... int8 with a ``scale``
    attribute per output channel (matrices, kernels) or float16 (vectors). Weights already
    rounded (``round_weights("int8")``) quantize to the same values again: a maximum is
    127 times its scale, so the scale and every value are found again."""
    import h5py

    tmp = file.with_name(file.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["layout"] = "htr-int8/1"
        for i, w in enumerate(model.get_weights()):
            packed = quantize_int8(w)
            if packed is None:
                f.create_dataset(f"w{i:03d}", data=w.astype("float16"))
            else:
                f.create_dataset(f"w{i:03d}", data=packed[0]).attrs["scale"] = packed[1]
    shutil.move(tmp, file)


def _load_int8(model: keras.Model, file: Path) -> None:
    import h5py
    import numpy as np

    with h5py.File(file, "r") as f:
        if f.attrs.get("layout") != "htr-int8/1":
            raise ModelLoadError(f"{file}: not an int8 weights file")
        arrays = []
        for i, w in enumerate(model.get_weights()):
            data = f[f"w{i:03d}"]
            values = dequantize(data[()], data.attrs["scale"]) if "scale" in data.attrs else data[()].astype(np.float32)
            if values.shape != w.shape:
                raise ModelLoadError(f"{file}: array {i} is {values.shape}, the model's {w.shape}")
            arrays.append(values.astype(w.dtype))
    model.set_weights(arrays)


class ModelLoadError(Exception):
    pass


def load_weights(bundle: Bundle) -> keras.Model:
    """Build the bundle's Keras model and load its weights from ``bundle.path``."""
    assert bundle.path is not None, "a bundle read from a folder"
    model = bundle.build()
    if bundle.weights_dtype == "int8":
        _load_int8(model, bundle.path / "model.weights.h5")
    else:
        model.load_weights(bundle.path / "model.weights.h5")
    return model


def load_bundle(path: str | Path | None = None, build: bool = True, language: bool = True) -> Bundle:
    """The bundle in ``path`` (default: the bundled model). ``build=False`` leaves ``model``
    unset and Keras unimported: for ONNX Runtime, which reads the weights file itself
    (``recognition/backends.py``). ``language=False`` leaves the n-gram model and the lexicon
    unread (greedy decoding without the keyword index needs neither)."""
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
        calibration_beam=Calibrator.from_json(meta["calibration_beam"]) if meta.get("calibration_beam") else None,
        metrics=meta.get("metrics", {}),
        path=path,
        weights_dtype=meta.get("weights_dtype", "float32"),
    )
    if not (path / "model.weights.h5").is_file():
        raise ModelLoadError(f"no model at {path} (model.weights.h5 missing)")
    if build:
        load_weights(bundle)
    if language and (path / "lm.json.gz").is_file():
        bundle.lm = CharNgramLM.load(path / "lm.json.gz")
    if language and (path / "lexicon.txt").is_file():
        bundle.lexicon = Lexicon.load(path / "lexicon.txt")
    return bundle
