"""What runs the network for the predictor: a batch of normalized crops in, logits out.

- ``tf``: the bundle's Keras model (``keras.Model.predict_on_batch``; TensorFlow, or whichever
  backend ``KERAS_BACKEND`` names).
- ``onnx``: the same network as an ONNX graph in ONNX Runtime (CPU), written from the bundle's
  weights file by ``onnx_export.py`` on first load and cached; neither TensorFlow nor Keras is
  imported. It reads as ``tf`` does (every test set: the same texts).
- ``onnx-int8``: that graph in int8: convolutions on uint8 activations, MatMul and LSTM weights
  quantized dynamically (``onnx_export.py``); faster, its CER within 0.2 points of ``tf``'s.

Both ONNX backends read the weights file at ``bundle.path``: weights changed in memory (a
fine-tune in progress) are the ``tf`` backend's to read.

Preprocessing, batching, decoding and the keyword index's spellings stay in the predictor, the
same for every backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import keras

    from .bundle import Bundle

BACKENDS = ("tf", "onnx", "onnx-int8")  # HTR_BACKEND / --backend values


@runtime_checkable
class Backend(Protocol):
    """Runs the network on one batch."""

    name: str

    def logits(self, images: np.ndarray) -> np.ndarray:
        """(batch, height, width, 1) float32 crops -> (batch, frames, classes) float32 logits."""
        ...


class KerasBackend:
    name = "tf"

    def __init__(self, model: keras.Model) -> None:
        self.model = model

    def logits(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_on_batch(images), np.float32)


class OnnxBackend:
    """An ONNX Runtime session on the CPU; ``logits`` may be called from several threads at once."""

    def __init__(self, model: str | Path | bytes, name: str = "onnx", threads: int | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Threads wait for work asleep, not spinning: the CPU is shared with page preparation
        # (and other workers), where spinning threads only take cores from them.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            opts.intra_op_num_threads = threads
        source = model if isinstance(model, bytes) else str(model)
        self.session = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
        self.name = name

    def logits(self, images: np.ndarray) -> np.ndarray:
        return cast(np.ndarray, self.session.run(["logits"], {"image": np.ascontiguousarray(images, np.float32)})[0])

    @classmethod
    def for_bundle(cls, bundle: Bundle, quantized: bool = False, threads: int | None = None) -> OnnxBackend:
        from .onnx_export import cached_model

        if bundle.path is None:
            raise ValueError("the ONNX backend reads a bundle saved to a folder (bundle.path is unset)")
        return cls(cached_model(bundle.path, quantized=quantized), "onnx-int8" if quantized else "onnx", threads)


def open_backend(bundle: Bundle, name: str) -> Backend:
    """The backend ``name`` (one of :data:`BACKENDS`) for ``bundle``; ``tf`` builds the Keras
    model if the bundle was loaded without it."""
    if name == "tf":
        if bundle.model is None:
            from .bundle import load_weights

            load_weights(bundle)
        return KerasBackend(bundle.model)
    if name in ("onnx", "onnx-int8"):
        return OnnxBackend.for_bundle(bundle, quantized=name == "onnx-int8")
    raise ValueError(f"unknown backend {name!r} (one of {', '.join(BACKENDS)})")
