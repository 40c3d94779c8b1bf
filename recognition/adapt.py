"""Test-time adaptation: batch-normalization statistics re-estimated on a document's own crops.

A scan's ink, paper and pen shift the activations the model was normalized
for in training. :func:`adapt_batchnorm` measures the mean and variance of
each ``BatchNormalization`` layer's input over the given (preprocessed)
crops, one layer after the other (so each layer sees its predecessors
already adapted), and moves the layer's moving statistics that share
``alpha`` of the way towards them. Padding never counts: every crop runs at
its own width. The model is changed in place; :func:`batchnorm_state` and
:func:`restore_batchnorm` keep and put back the trained statistics.

Measured by ``benchmarks/tta.py``; not used by the predictor by default.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np


def _bn_layers(model: keras.Model) -> list[Any]:
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def batchnorm_state(model: keras.Model) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(np.array(bn.moving_mean.numpy()), np.array(bn.moving_variance.numpy())) for bn in _bn_layers(model)]


def restore_batchnorm(model: keras.Model, state: list[tuple[np.ndarray, np.ndarray]]) -> None:
    for bn, (mean, var) in zip(_bn_layers(model), state):
        bn.moving_mean.assign(mean)
        bn.moving_variance.assign(var)


def adapt_batchnorm(model: keras.Model, images: list[np.ndarray], alpha: float = 0.5, max_crops: int = 64) -> None:
    """Move BN statistics ``alpha`` of the way to those of ``images``
    (preprocessed float crops, height x width, as the predictor feeds them)."""
    if not images or alpha <= 0:
        return
    picks = images if len(images) <= max_crops else [images[i] for i in np.linspace(0, len(images) - 1, max_crops).astype(int)]
    for bn in _bn_layers(model):
        probe = keras.Model(model.input, bn.input)
        total = np.zeros(0)
        total_sq = np.zeros(0)
        count = 0
        for img in picks:
            x = np.asarray(img, np.float32)[None, :, :, None]
            act = keras.ops.convert_to_numpy(probe(x, training=False)).astype(np.float64)
            flat = act.reshape(-1, act.shape[-1])
            total = flat.sum(0) if count == 0 else total + flat.sum(0)
            total_sq = (flat**2).sum(0) if count == 0 else total_sq + (flat**2).sum(0)
            count += flat.shape[0]
        mean = total / count
        var = np.maximum(total_sq / count - mean**2, 1e-6)
        bn.moving_mean.assign(((1 - alpha) * bn.moving_mean.numpy() + alpha * mean).astype(np.float32))
        bn.moving_variance.assign(((1 - alpha) * bn.moving_variance.numpy() + alpha * var).astype(np.float32))
