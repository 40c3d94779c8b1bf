"""CRNN-CTC architecture in backend-neutral Keras 3 (layers and ``keras.ops``).

Input: (batch, height, width, 1) float ink images, width variable.
Output: (batch, width // 4, num_classes) logits; class 0 is the CTC blank.
The same code runs under the TensorFlow backend and the JAX backend. Keras is
imported when a model is built, not with this module: :class:`ModelConfig` is
all that reading a bundle for ONNX Runtime needs (``recognition/onnx_export.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras


@dataclass(frozen=True)
class ModelConfig:
    height: int = 40
    conv_filters: tuple[int, ...] = (32, 64, 96, 96, 128)
    # Pooling after each conv block: (pool_h, pool_w); width pooled by 4 in all.
    pools: tuple[tuple[int, int], ...] = ((2, 2), (2, 2), (1, 1), (2, 1), (2, 1))
    rnn_units: int = 128
    rnn_layers: int = 2
    # BiLSTM layers more, each added to its input through a projection that starts at zero
    # (x + W·BiLSTM(x), W = 0): grown onto a trained model, the model starts as the one it grew from.
    rnn_residual: int = 0
    dropout: float = 0.2
    num_classes: int = 80
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def width_stride(self) -> int:
        s = 1
        for _, pw in self.pools:
            s *= pw
        return s

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["conv_filters"] = list(self.conv_filters)
        d["pools"] = [list(p) for p in self.pools]
        return d

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelConfig:
        data = dict(data)
        data["conv_filters"] = tuple(data["conv_filters"])
        data["pools"] = tuple(tuple(p) for p in data["pools"])
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def output_length(width: Any, stride: int) -> Any:
    """Frames the model emits for an input of `width` columns."""
    if isinstance(width, int):
        return (width + stride - 1) // stride
    from keras import ops

    return ops.floor_divide(width + stride - 1, stride)


def build_crnn(config: ModelConfig) -> keras.Model:
    import keras
    from keras import layers

    if len(config.conv_filters) != len(config.pools):
        raise ValueError("conv_filters and pools must have the same length")
    image = keras.Input(shape=(config.height, None, 1), name="image")
    x = image
    h = config.height
    for i, (filters, (ph, pw)) in enumerate(zip(config.conv_filters, config.pools)):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
        if ph > 1 or pw > 1:
            x = layers.MaxPooling2D((ph, pw), padding="same", name=f"pool{i}")(x)
            h = (h + ph - 1) // ph
    # (B, h, W', C) -> (B, W', h*C): columns become time steps.
    x = layers.Permute((2, 1, 3), name="to_sequence")(x)
    x = layers.Reshape((-1, h * config.conv_filters[-1]), name="flatten_columns")(x)
    x = layers.Dense(config.rnn_units * 2, activation="relu", name="project")(x)
    x = layers.Dropout(config.dropout, name="drop_in")(x)
    for i in range(config.rnn_layers):
        x = layers.Bidirectional(layers.LSTM(config.rnn_units, return_sequences=True), name=f"bilstm{i}")(x)
        x = layers.Dropout(config.dropout, name=f"drop{i}")(x)
    for i in range(config.rnn_layers, config.rnn_layers + config.rnn_residual):
        y = layers.Bidirectional(layers.LSTM(config.rnn_units, return_sequences=True), name=f"bilstm{i}")(x)
        y = layers.Dropout(config.dropout, name=f"drop{i}")(y)
        y = layers.Dense(config.rnn_units * 2, kernel_initializer="zeros", name=f"residual{i}")(y)
        x = layers.Add(name=f"add{i}")([x, y])
    logits = layers.Dense(config.num_classes, name="logits")(x)
    return keras.Model(image, logits, name="crnn_ctc")


def ctc_loss(y_true: Any, y_pred: Any) -> Any:
    """CTC loss for ``model.fit``.

    ``y_true`` is (batch, max_label + 1) int: labels padded with 0 (the blank,
    which never occurs in a label) and, in the last column, the number of
    valid output frames for that sample (its unpadded width / stride).
    """
    from keras import ops

    y_true = ops.cast(y_true, "int32")
    labels = y_true[:, :-1]
    frames = y_true[:, -1]
    label_length = ops.sum(ops.cast(ops.greater(labels, 0), "int32"), axis=-1)
    loss = ops.ctc_loss(labels, y_pred, label_length, frames, mask_index=0)
    return ops.mean(loss)
