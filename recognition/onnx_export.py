"""A bundle's network as an ONNX graph, written from its weights file (no TensorFlow or Keras).

The CRNN of ``model.py`` is small and fixed, so the graph is spelled out op by op:

- input ``image`` (batch, height, width, 1) float32, batch and width dynamic;
- per conv block: Conv 3×3 with the batch normalization folded into its kernel and a bias,
  Relu, MaxPool (``SAME_UPPER``: Keras's ``padding="same"``, the extra row or column at the end);
- columns become time steps, time-major from here on: (width', batch, h · channels), features
  in Keras's order (row, then channel);
- Dense ``project`` (MatMul, Add, Relu); each BiLSTM as one bidirectional LSTM op (Keras's gate
  order i, f, c, o reordered to ONNX's i, o, f, c; the bias in ``Wb``, ``Rb`` zero), its two
  directions concatenated; the residual layers as MatMul, Add onto their input;
- output ``logits`` (batch, width', classes), as ``keras.Model.predict`` gives.

Dropout is the identity at inference and has no node. Padded columns are read as the Keras
model reads them (no sequence lengths), so both see the same input.

The int8 graph (``quantized``) runs the convolutions as QLinearConv and the pools on uint8: the
image quantized in steps of 1/255, each layer's output range taken from its batch normalization (a
channel's output has mean beta and spread |gamma|; the range is the largest beta + 6·|gamma|, the
ReLU is the zero point), so no calibration data is needed; weights per output channel. Its MatMul
and LSTM weights are quantized by ONNX Runtime's dynamic quantization (activations per batch at run
time).

Weights are read from either layout ``bundle.py`` writes: Keras's own (``layers/<class>_<k>/vars/<i>``
in layer order, float32 or float16) or int8 (``w000``… in ``get_weights`` order, per-channel scales).

:func:`cached_model` writes each graph once per weights (a hash of the exporter, the architecture
and the weights file names it) under ``$XDG_CACHE_HOME/htr/onnx/`` (default ``~/.cache/htr/onnx/``);
a later load reads the file and imports neither ``onnx`` nor the quantization tools.
``python -m recognition.onnx_export [MODEL_DIR] [--int8] [--output FILE]`` writes it ahead of use.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .bundle import ModelLoadError, dequantize
from .model import ModelConfig

if TYPE_CHECKING:
    import onnx

EXPORTER = "htr-onnx/1"  # changes whenever the graph written for the same weights changes
OPSET = 17
BN_EPSILON = 1e-3  # keras.layers.BatchNormalization's default, which model.py keeps
# The int8 graph's weights use 7 bits (±63), as ``reduce_range`` does: u8·s8 products summed in
# pairs then fit int16 on CPUs without VNNI (VPMADDUBSW saturates otherwise). Whoever changes these
# changes EXPORTER too (cached graphs are found by it).
CONV_RANGE_SIGMAS = 6.0  # a channel's ReLU'd output is taken to reach beta + 6·|gamma|
INT8_WEIGHT_MAX = 63
QUANTIZED_OPS = ("MatMul", "LSTM")


class OnnxExportError(ModelLoadError):
    """The weights file does not hold the architecture ``model.json`` describes."""


# ---------------------------------------------------------------------------
# Weights, in the order of ``keras.Model.get_weights()``


def _layer_plan(config: ModelConfig) -> list[tuple[str, list[tuple[int, ...]]]]:
    """(Keras class in snake case, shapes of its arrays) per layer with weights, in the model's
    layer order (``model.py``'s ``build_crnn``)."""
    plan: list[tuple[str, list[tuple[int, ...]]]] = []
    h, channels = config.height, 1
    for filters, (ph, _pw) in zip(config.conv_filters, config.pools):
        plan += [("conv2d", [(3, 3, channels, filters)]), ("batch_normalization", [(filters,)] * 4)]
        h, channels = (h + ph - 1) // ph, filters
    features, units = 2 * config.rnn_units, config.rnn_units
    plan.append(("dense", [(h * channels, features), (features,)]))  # project
    lstm = [(features, 4 * units), (units, 4 * units), (4 * units,)] * 2  # forward, backward
    plan += [("bidirectional", lstm)] * config.rnn_layers
    plan += [("bidirectional", lstm), ("dense", [(features, features), (features,)])] * config.rnn_residual
    plan.append(("dense", [(features, config.num_classes), (config.num_classes,)]))  # logits
    return plan


def _keras_paths(config: ModelConfig) -> list[str]:
    """Dataset paths of a Keras 3 ``.weights.h5`` file, in ``get_weights`` order: layers are
    named by class (``dense``, ``dense_1``, …) in layer order; a Bidirectional layer holds its
    forward LSTM's cell, then its backward one's."""
    seen: dict[str, int] = {}
    paths: list[str] = []
    for kind, shapes in _layer_plan(config):
        k = seen.get(kind, 0)
        seen[kind] = k + 1
        name = f"layers/{kind}" + (f"_{k}" if k else "")
        if kind == "bidirectional":
            paths += [f"{name}/{side}/cell/vars/{i}" for side in ("forward_layer", "backward_layer") for i in range(3)]
        else:
            paths += [f"{name}/vars/{i}" for i in range(len(shapes))]
    return paths


def read_weights(file: str | Path, config: ModelConfig) -> list[np.ndarray]:
    """The model's arrays (float32) in ``get_weights`` order, from either weights layout, each
    checked against the shape the architecture in ``model.json`` gives it."""
    import h5py

    shapes = [shape for _, layer in _layer_plan(config) for shape in layer]
    with h5py.File(file, "r") as f:
        if f.attrs.get("layout") == "htr-int8/1":
            names = [f"w{i:03d}" for i in range(len(shapes))]
            if f"w{len(shapes):03d}" in f:
                raise OnnxExportError(f"{file}: more arrays than the architecture in model.json has ({len(shapes)})")
        else:
            names = _keras_paths(config)
        arrays = []
        for name, shape in zip(names, shapes):
            if name not in f:
                raise OnnxExportError(f"{file}: {name} missing: not the architecture in model.json")
            data = f[name]
            if data.shape != shape:
                raise OnnxExportError(f"{file}: {name} is {data.shape}, the architecture in model.json has {shape}")
            arrays.append(dequantize(data[()], data.attrs["scale"]) if "scale" in data.attrs else data[()])
    return [np.asarray(a, np.float32) for a in arrays]


# ---------------------------------------------------------------------------
# The graph


def _lstm_gates(w: np.ndarray, units: int) -> np.ndarray:
    """Keras's gate blocks (i, f, c, o) along the last axis, reordered to ONNX's (i, o, f, c)."""
    i, f, c, o = (w[..., k * units : (k + 1) * units] for k in range(4))
    return np.concatenate([i, o, f, c], axis=-1)


class _Graph:
    """The nodes and initializers of the graph being written, and the weight arrays it takes in order."""

    def __init__(self, config: ModelConfig, arrays: list[np.ndarray]):
        self.config = config
        self.weights = iter(arrays)
        self.inits: list[onnx.TensorProto] = []
        self.nodes: list[onnx.NodeProto] = []

    def const(self, name: str, value: np.ndarray | np.generic) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def dense(self, x: str, name: str, relu: bool = False) -> str:
        kernel, bias = next(self.weights), next(self.weights)
        y = self.node("MatMul", [x, self.const(f"{name}/kernel", kernel)], f"{name}/matmul")
        y = self.node("Add", [y, self.const(f"{name}/bias", bias)], f"{name}/out")
        return self.node("Relu", [y], f"{name}/relu") if relu else y

    def bilstm(self, x: str, name: str) -> str:
        from onnx import helper

        units = self.config.rnn_units
        w, r, b = [], [], []
        for _side in range(2):  # forward, then backward, as Keras stores them
            kernel, recurrent, bias = next(self.weights), next(self.weights), next(self.weights)
            w.append(_lstm_gates(kernel, units).T)
            r.append(_lstm_gates(recurrent, units).T)
            b.append(np.concatenate([_lstm_gates(bias, units), np.zeros(4 * units, np.float32)]))
        y = f"{name}/y"
        weights = [
            self.const(f"{name}/W", np.stack(w)),
            self.const(f"{name}/R", np.stack(r)),
            self.const(f"{name}/B", np.stack(b)),
        ]
        self.nodes.append(helper.make_node("LSTM", [x, *weights], [y], name=name, direction="bidirectional", hidden_size=units))
        # (time, 2, batch, units) -> (time, batch, 2 · units): forward features, then backward.
        y = self.node("Transpose", [y], f"{name}/directions_last", perm=[0, 2, 1, 3])
        return self.node("Reshape", [y, self.const(f"{name}/shape", np.array([0, 0, 2 * units], np.int64))], f"{name}/out")

    def folded_conv(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The next convolution's kernel with its batch normalization folded in: (w, b, beta, gamma)."""
        kernel = next(self.weights).astype(np.float64)  # (3, 3, in, out)
        gamma, beta, mean, var = (next(self.weights).astype(np.float64) for _ in range(4))
        bn_scale = gamma / np.sqrt(var + BN_EPSILON)
        w = (kernel * bn_scale).transpose(3, 2, 0, 1)  # (out, in, 3, 3)
        return w, beta - mean * bn_scale, beta, gamma

    def float_conv(self, i: int, x: str, filters: int) -> str:
        w, b, _beta, _gamma = self.folded_conv()
        inputs = [x, self.const(f"conv{i}/kernel", w.astype(np.float32)), self.const(f"conv{i}/bias", b.astype(np.float32))]
        x = self.node("Conv", inputs, f"conv{i}", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        return self.node("Relu", [x], f"relu{i}")

    def int8_conv(self, i: int, x: str, filters: int, x_scale: float, x_q: str) -> tuple[str, float]:
        """A QLinearConv on uint8 activations (scale ``x_scale``, quantized by node ``x_q``): (output, its scale)."""
        w, b, beta, gamma = self.folded_conv()
        # Batch normalization sets each channel's output to mean beta, spread |gamma|: the ReLU'd
        # output's range is taken as the largest beta + SIGMAS·|gamma|, in uint8 from 0 (the ReLU).
        y_scale = max(float(np.max(beta + CONV_RANGE_SIGMAS * np.abs(gamma))), 1e-3) / 255
        w_max = np.abs(w).reshape(filters, -1).max(axis=1)
        w_scale = np.where(w_max > 0, w_max / INT8_WEIGHT_MAX, 1.0)
        w_q = np.clip(np.round(w / w_scale[:, None, None, None]), -INT8_WEIGHT_MAX, INT8_WEIGHT_MAX).astype(np.int8)
        inputs = [
            x,
            f"{x_q}/scale",
            f"{x_q}/zero",
            self.const(f"conv{i}/kernel", w_q),
            self.const(f"conv{i}/kernel_scale", w_scale.astype(np.float32)),
            self.const(f"conv{i}/kernel_zero", np.zeros(filters, np.int8)),
            self.const(f"conv{i}/scale", np.float32(y_scale)),
            self.const(f"conv{i}/zero", np.uint8(0)),
            self.const(f"conv{i}/bias", np.round(b / (x_scale * w_scale)).astype(np.int32)),
        ]
        return self.node("QLinearConv", inputs, f"conv{i}", kernel_shape=[3, 3], pads=[1, 1, 1, 1]), y_scale

    def convs(self, int8: bool) -> tuple[str, int]:
        """The convolution stack on the input image: its output node and the height left."""
        config = self.config
        x = self.node("Transpose", ["image"], "to_nchw", perm=[0, 3, 1, 2])
        h = config.height
        x_scale, x_q = 1 / 255, "image"  # the uint8 activations into the next int8 convolution: scale, name
        if int8:  # the ink image is in [0, 1]
            scale, zero = self.const("image/scale", np.float32(x_scale)), self.const("image/zero", np.uint8(0))
            x = self.node("QuantizeLinear", [x, scale, zero], "image/q")
        for i, (filters, (ph, pw)) in enumerate(zip(config.conv_filters, config.pools)):
            if int8:
                x, x_scale = self.int8_conv(i, x, filters, x_scale, x_q)
                x_q = f"conv{i}"
            else:
                x = self.float_conv(i, x, filters)
            if ph > 1 or pw > 1:
                x = self.node("MaxPool", [x], f"pool{i}", kernel_shape=[ph, pw], strides=[ph, pw], auto_pad="SAME_UPPER")
                h = (h + ph - 1) // ph
        if int8:
            last = len(config.conv_filters) - 1
            x = self.node("DequantizeLinear", [x, f"conv{last}/scale", f"conv{last}/zero"], f"conv{last}/float")
        return x, h


def build_graph(config: ModelConfig, arrays: list[np.ndarray], int8_conv: bool = False) -> onnx.ModelProto:
    from onnx import TensorProto, helper

    if len(config.conv_filters) != len(config.pools):
        raise OnnxExportError("conv_filters and pools must have the same length")
    g = _Graph(config, arrays)
    x, h = g.convs(int8_conv)
    # (batch, C, h, W') -> (W', batch, h, C) -> (W', batch, h · C): Keras's column features, time-major.
    x = g.node("Transpose", [x], "to_sequence", perm=[3, 0, 2, 1])
    x = g.node(
        "Reshape", [x, g.const("columns_shape", np.array([0, 0, h * config.conv_filters[-1]], np.int64))], "flatten_columns"
    )
    x = g.dense(x, "project", relu=True)
    for i in range(config.rnn_layers):
        x = g.bilstm(x, f"bilstm{i}")
    for i in range(config.rnn_layers, config.rnn_layers + config.rnn_residual):
        y = g.bilstm(x, f"bilstm{i}")
        x = g.node("Add", [x, g.dense(y, f"residual{i}")], f"add{i}")
    x = g.dense(x, "logits_dense")
    g.node("Transpose", [x], "logits", perm=[1, 0, 2])
    if next(g.weights, None) is not None:
        raise OnnxExportError("more weight arrays than the architecture in model.json uses")

    graph = helper.make_graph(
        g.nodes,
        "crnn_ctc",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", config.height, "width", 1])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "frames", config.num_classes])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=EXPORTER)
    model.ir_version = 8  # what opset 17 needs; read by every ONNX Runtime since 1.13
    return model


def export(bundle_dir: str | Path, quantized: bool = False) -> bytes:
    """The serialized ONNX graph of the bundle in ``bundle_dir``: float32, or ``quantized``."""
    bundle_dir = Path(bundle_dir)
    config = ModelConfig.from_json(json.loads((bundle_dir / "model.json").read_text())["model"])
    try:
        arrays = read_weights(bundle_dir / "model.weights.h5", config)
        data: bytes = build_graph(config, arrays, int8_conv=quantized).SerializeToString()
    except StopIteration:
        raise OnnxExportError(f"{bundle_dir}: fewer weight arrays than the architecture in model.json uses") from None
    if not quantized:
        return data
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Its advice on the root logger (pre-process first, the model looks quantized already) is for
    # models it is given whole; here the convolutions are quantized on purpose.
    def advice(record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname

    root = logging.getLogger()
    root.addFilter(advice)
    try:
        with tempfile.TemporaryDirectory() as tmp:  # quantize_dynamic reads and writes files
            src, out = Path(tmp) / "conv8.onnx", Path(tmp) / "int8.onnx"
            src.write_bytes(data)
            quantize_dynamic(src, out, op_types_to_quantize=list(QUANTIZED_OPS), weight_type=QuantType.QInt8, reduce_range=True)
            return out.read_bytes()
    finally:
        root.removeFilter(advice)


# ---------------------------------------------------------------------------
# The cache


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "htr" / "onnx"


def weights_key(bundle_dir: str | Path) -> str:
    """What the exported graph depends on: the exporter, the architecture, the weights."""
    bundle_dir = Path(bundle_dir)
    meta = json.loads((bundle_dir / "model.json").read_text())
    h = hashlib.sha256()
    h.update(EXPORTER.encode())
    h.update(json.dumps(meta["model"], sort_keys=True).encode())
    with open(bundle_dir / "model.weights.h5", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:32]


def _write(path: Path, data: bytes) -> None:
    """``data`` to ``path`` all at once (a temporary file renamed), so concurrent loads never
    read half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached_model(bundle_dir: str | Path, quantized: bool = False, cache: str | Path | None = None) -> Path | bytes:
    """The bundle's ONNX graph (float32, or ``quantized``): the cached file's path, written
    first if missing; the graph's bytes where the cache folder cannot be written."""
    bundle_dir = Path(bundle_dir)
    folder = Path(cache) if cache is not None else cache_dir()
    target = folder / (weights_key(bundle_dir) + ("-int8" if quantized else "") + ".onnx")
    if target.is_file():
        return target
    data = export(bundle_dir, quantized)
    try:
        _write(target, data)
    except OSError:
        return data
    return target


def main(argv: list[str] | None = None) -> None:
    """``python -m recognition.onnx_export [MODEL_DIR] [--int8] [--output FILE]``: write a bundle's
    graph to FILE, or to the cache (a deployment can write it ahead of its first load)."""
    import argparse

    from .bundle import default_model_path

    ap = argparse.ArgumentParser(prog="python -m recognition.onnx_export", description=main.__doc__)
    ap.add_argument("model", nargs="?", help="model folder (default: the bundled model)")
    ap.add_argument("--int8", action="store_true", help="the int8 graph (--backend onnx-int8)")
    ap.add_argument("--output", help="write the graph here instead of to the cache")
    args = ap.parse_args(argv)
    bundle_dir = Path(args.model) if args.model else default_model_path()
    if args.output:
        Path(args.output).write_bytes(export(bundle_dir, args.int8))
        print(args.output)
        return
    graph = cached_model(bundle_dir, quantized=args.int8)
    print(graph if isinstance(graph, Path) else f"{cache_dir()} cannot be written")


if __name__ == "__main__":
    main()
