"""Backend-neutral input pipeline: a ``keras.utils.PyDataset`` of batches.

Each batch comes from one dataset (chosen by weight) so crops in a batch have
similar widths and little padding. Images are loaded (rendered, for strokes),
augmented, preprocessed with the inference preprocessing, padded to a width
rounded up to ``width_quantum`` and labels to ``label_quantum`` (few distinct
shapes, so JAX compiles rarely: on a GPU, where padding is cheap and every new
shape costs a compilation, make them large),
and labelled for :func:`recognition.model.ctc_loss`.
"""

from __future__ import annotations

import logging

import keras
import numpy as np

from recognition.charset import Charset
from recognition.preprocess import PreprocessConfig, preprocess

from .augment import augment, neighbours
from .datasets import Dataset, DatasetError
from .datasets.context import load_donor

log = logging.getLogger(__name__)


def make_batch(
    images: list[np.ndarray],
    labels: list[list[int]],
    stride: int,
    width_quantum: int = 32,
    label_quantum: int = 16,
    min_shape: tuple[int, int] = (0, 0),
):
    height = images[0].shape[0]
    w = max([im.shape[1] for im in images] + [min_shape[0]])
    w = int(np.ceil(w / width_quantum) * width_quantum)
    L = max([1, min_shape[1]] + [len(lb) for lb in labels])
    L = int(np.ceil(L / label_quantum) * label_quantum)
    x = np.zeros((len(images), height, w, 1), np.float32)
    y = np.zeros((len(images), L + 1), np.int32)
    for i, (im, lb) in enumerate(zip(images, labels)):
        x[i, :, : im.shape[1], 0] = im
        y[i, : len(lb)] = lb
        y[i, -1] = (im.shape[1] + stride - 1) // stride
    return x, y


def ctc_feasible(label: list[int], frames: int) -> bool:
    repeats = sum(1 for a, b in zip(label, label[1:]) if a == b)
    return len(label) > 0 and len(label) + repeats <= frames


class TrainSequence(keras.utils.PyDataset):
    def __init__(
        self,
        datasets: list[tuple[Dataset, float]],
        charset: Charset,
        pre: PreprocessConfig,
        stride: int,
        batch_size: int = 16,
        steps: int = 500,
        seed: int = 0,
        augment_strength: float = 1.0,
        neighbours: float = 0.0,
        width_quantum: int = 32,
        label_quantum: int = 16,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.datasets = [d for d, _ in datasets]
        w = np.array([wt for _, wt in datasets], np.float64)
        self.weights = w / w.sum()
        self.charset = charset
        self.pre = pre
        self.stride = stride
        self.batch_size = batch_size
        self.steps = steps
        self.seed = seed
        self.epoch = 0
        self.augment_strength = augment_strength
        self.neighbours = neighbours
        self.width_quantum, self.label_quantum = width_quantum, label_quantum
        self._first_shape: tuple[int, int] | None = None

    def __len__(self) -> int:
        return self.steps

    def on_epoch_end(self):
        self.epoch += 1

    def sample(self, ds: Dataset, rng: np.random.Generator):
        for _ in range(10):
            i = int(rng.integers(len(ds)))
            try:
                raw, text = ds.load(i, rng)
            except DatasetError as exc:  # a broken file in a user's data set
                log.warning("skipping sample: %s", exc)
                continue
            if self.neighbours > 0 and ds.neighbour_ink and rng.random() < self.neighbours:
                raw = neighbours(raw, self._donor(ds, rng), self._donor(ds, rng), rng)
            if self.augment_strength > 0:
                raw = augment(raw, rng, self.augment_strength)
            img = preprocess(raw, self.pre)
            label = self.charset.encode(text)
            if ctc_feasible(label, (img.shape[1] + self.stride - 1) // self.stride):
                return img, label
        raise DatasetError(f"{ds.name}: no usable sample in 10 tries")

    def _donor(self, ds: Dataset, rng: np.random.Generator) -> np.ndarray | None:
        """Another crop of the same set, for neighbouring-line ink (or None)."""
        if rng.random() < 0.25:
            return None
        return load_donor(ds, int(rng.integers(len(ds))), rng)

    def __getitem__(self, idx: int):
        rng = np.random.default_rng((self.seed, self.epoch, idx))
        ds = self.datasets[int(rng.choice(len(self.datasets), p=self.weights))]
        images, labels = [], []
        for _ in range(self.batch_size):
            img, label = self.sample(ds, rng)
            images.append(img)
            labels.append(label)
        min_shape = (0, 0)
        if idx == 0:
            self._first_shape = None
        elif idx == 1 and self._first_shape is not None:
            # Keras (TF backend) infers the input signature from batches 0
            # and 1 and fixes every dimension on which they agree. Make the
            # width and label length differ so both stay variable.
            min_shape = (self._first_shape[0] + 1, self._first_shape[1] + 1)
        x, y = make_batch(images, labels, self.stride, self.width_quantum, self.label_quantum, min_shape=min_shape)
        if idx == 0:
            self._first_shape = (x.shape[2], y.shape[1] - 1)
        return x, y
