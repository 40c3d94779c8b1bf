"""``htr finetune``: adapt a model bundle to new lines (people's corrections)
without forgetting what it reads already.

The new lines are split by a hash of their file name into a training part
and a held-out part (``holdout``), which the run never trains on. Batches
mix the new lines (augmented) with replayed lines of the standing training
sets; the base model's weights are the start, its batch normalization
frozen, the learning rate small, the run bounded by time. Every ``check_every``
steps the held-out lines are read, and the run ends on the weights that read
them best (a few lines of one hand are learnt in a few hundred steps; past
that, the model learns those lines by heart and forgets the rest). The
candidate's weights are then the largest blend of the fine-tuned and the base
weights that keeps the standing sets within the gate's tolerance, measured as
the gate measures them. Before and after, greedy CER is measured on the
held-out new lines and on the standing validation sets; the report says both,
and the candidate bundle (the base's calibration, n-gram and lexicon with the
new weights) records it with its lineage, for the promotion gate.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import keras
import numpy as np

from recognition.bundle import Bundle, load_bundle
from recognition.model import ctc_loss
from recognition.predictor import Predictor

from .datasets import Dataset, DatasetError, open_dataset
from .datasets.folder import LabelsFolder
from .evaluate import STANDING, STANDING_LIMIT, standing
from .metrics import rates
from .sequence import TrainSequence
from .train import FREEZE, TimeLimit, freeze_layers

# The weight type a fine-tune ships in, by its base's: weights moved by a few hundred small steps
# would round back to the base in int8 (a step there is a 254th of a channel's range).
FINETUNE_DTYPE = {"int8": "float16"}
REPLAY = (
    ("copiste:train", 0.3),
    ("iam-ondb:train", 0.3),
    ("washington:cv1/train", 0.15),
    ("fonts:train", 0.1),
    ("form-names:train", 0.15),
)


@dataclass
class FinetuneOptions:
    time_limit: float = 600.0  # seconds of training; evaluation adds 1-3 minutes (64 lines, three blends: ~1 minute)
    steps: int | None = None  # stop after this many steps instead (whichever comes first)
    holdout: float = 0.25  # share of the new lines kept out of training, for the check
    new_share: float = 0.6  # share of batches drawn from the new lines (the rest replays the standing sets)
    lr: float = 2e-4
    batch_size: int = 8
    augment: float = 1.0
    standing: tuple[str, ...] = STANDING
    standing_limit: int = STANDING_LIMIT  # first N of each standing validation set
    replay: tuple[tuple[str, float], ...] = REPLAY
    freeze: str = "batchnorm"  # "none", "batchnorm" (normalization statistics stay the base's) or "convs" (and the convolutions)
    # Shares of the fine-tuned weights to try, largest first (the rest is the base's).
    blend: tuple[float, ...] = (1.0, 0.7, 0.5, 0.3)
    # A blend is kept when no standing set is worse than the base's by more than this (the gate's
    # tolerance, measured on the same crops with the weights as they ship).
    tolerance: float = 0.005
    # Read the held-out lines every this many steps and end on the best weights (0: never).
    check_every: int = 40
    # After every step each trained weight moves this share of the way back to the base's (0: off).
    pull: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.freeze not in FREEZE:
            raise ValueError(f"freeze: one of {', '.join(FREEZE)}, not {self.freeze!r}")
        if not 0.0 <= self.pull < 1.0:
            raise ValueError(f"pull: at least 0 and below 1, not {self.pull}")
        if not 0.0 < self.new_share <= 1.0:
            raise ValueError(f"new_share: above 0 and at most 1, not {self.new_share}")
        if not self.blend or not all(0.0 < a <= 1.0 for a in self.blend):
            raise ValueError(f"blend: shares of the fine-tuned weights above 0 and at most 1, not {self.blend}")


@dataclass
class FinetuneReport:
    base: str  # "name version"
    candidate: str
    output: str
    train_lines: int
    heldout_lines: int
    heldout_cer_before: float | None
    heldout_cer_after: float | None
    standing: dict = field(default_factory=dict)  # spec -> {"before": cer, "after": cer}
    steps: int = 0
    seconds: float = 0.0
    replayed: list = field(default_factory=list)
    data: list = field(default_factory=list)
    recipe: dict = field(default_factory=dict)
    blends: list = field(default_factory=list)  # each share of fine-tuned weights tried -> standing CER
    heldout_curve: list = field(default_factory=list)  # (step, held-out CER) at each check

    def to_json(self) -> dict:
        return asdict(self)


def _is_heldout(name: str, share: float) -> bool:
    h = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return h < share


def split_new_lines(folders: Sequence[str | Path], holdout: float) -> tuple[Dataset, Dataset]:
    """(training part, held-out part) of the lines in ``labels.tsv`` folders, split by a hash
    of each line's file name (the same lines are held out on every run)."""
    items = [it for f in folders for it in LabelsFolder(f).items]
    if not items:
        raise DatasetError("no lines to fine-tune on")
    held = [it for it in items if _is_heldout(it.id, holdout)]
    train = [it for it in items if not _is_heldout(it.id, holdout)]
    if holdout > 0 and not held and len(train) > 1:
        held = [train.pop()]
    if not train:
        train = [held.pop()]
    return Dataset(train), Dataset(held)


def _cer(pred: Predictor, ds: Dataset) -> float | None:
    if not len(ds):
        return None
    images, texts = zip(*(ds.load(i, None) for i in range(len(ds))))
    return round(float(rates(list(texts), [r.text for r in pred.predict(list(images))])["cer"]), 4)


def _replay_sets(opts: FinetuneOptions, data_root) -> list[tuple[Dataset, float, str]]:
    sets = []
    for spec, weight in opts.replay:
        try:
            sets.append((open_dataset(spec, data_root), weight, spec))
        except DatasetError:
            continue
    return sets


def _choose_blend(bundle: Bundle, base_weights: list, before: dict, opts: FinetuneOptions, data_root) -> tuple[float, dict, list]:
    """Weight-space blends ``(1 - a) * base + a * tuned`` (robust fine-tuning, Wortsman et al.
    2022), largest ``a`` first, each rounded to the bundle's weight type as it will ship: keep
    the first whose standing sets are no worse than ``before`` by more than ``opts.tolerance``
    (else the smallest tried). -> (share, its standing CER, every blend tried)."""
    model = bundle.model
    assert model is not None
    tuned = model.get_weights()
    tried: list[dict] = []
    for share in sorted(set(opts.blend), reverse=True):
        model.set_weights([(1.0 - share) * b + share * t for b, t in zip(base_weights, tuned)])
        bundle.round_weights(bundle.weights_dtype)
        cer = standing(Predictor.from_bundle(bundle), opts.standing, data_root, opts.standing_limit)
        tried.append({"share": share, "standing_cer": cer})
        if all(cer[s] <= before[s] + opts.tolerance for s in cer if s in before):
            break
    return tried[-1]["share"], tried[-1]["standing_cer"], tried


class BestOnHeldout(keras.callbacks.Callback):
    """Every ``every`` epochs, greedy CER on the held-out lines; the weights that read them
    best (the base's first) are put back when training ends."""

    def __init__(self, bundle: Bundle, heldout: Dataset, every: int, before: float | None):
        super().__init__()
        self.bundle, self.heldout, self.every = bundle, heldout, every
        self.best_cer = before if before is not None else float("inf")
        self.best_epoch = 0
        self.best: list | None = None
        self.curve: list[tuple[int, float]] = []

    def on_train_begin(self, logs=None):
        self.best = self.model.get_weights()

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self._check(epoch + 1)

    def on_train_end(self, logs=None):
        epochs = len(self.model.history.history.get("loss", [])) if self.model.history else 0
        if epochs and (not self.curve or self.curve[-1][0] != epochs):
            self._check(epochs)
        if self.best is not None:
            self.model.set_weights(self.best)

    def _check(self, epoch: int) -> None:
        cer = _cer(Predictor.from_bundle(self.bundle), self.heldout)
        if cer is None:
            return
        self.curve.append((epoch, cer))
        if cer < self.best_cer:
            self.best_cer, self.best_epoch, self.best = cer, epoch, self.model.get_weights()


class PullToBase(keras.callbacks.Callback):
    """After every step, each trained weight moves ``share`` of the way back to the base's
    (a decoupled L2-SP penalty, Li et al. 2018: the weights the new lines want, tethered to
    those the standing sets were learnt with)."""

    def __init__(self, share: float):
        super().__init__()
        self.share = share
        self.anchors: list = []

    def on_train_begin(self, logs=None):
        self.anchors = [(v, keras.ops.convert_to_tensor(np.array(v.numpy()))) for v in self.model.trainable_weights]

    def on_train_batch_end(self, batch, logs=None):
        for v, base in self.anchors:
            v.assign(v.value + self.share * (base - v.value))


STEPS_PER_EPOCH = 10


def _fit(
    bundle: Bundle,
    new: Dataset,
    replay: list[tuple[Dataset, float, str]],
    opts: FinetuneOptions,
    heldout: Dataset | None = None,
    heldout_before: float | None = None,
) -> tuple[int, BestOnHeldout | None]:
    """Train the bundle's model on batches of the new lines mixed with replayed standing sets,
    within the options' time or steps, ending on the weights that read ``heldout`` best
    (checked every ``opts.check_every`` steps); -> (the steps taken, the check's record)."""
    model = bundle.model
    assert model is not None
    total = sum(w for _, w, _ in replay)
    sets: list[tuple[Dataset, float]] = [(new, opts.new_share if replay else 1.0)]
    sets += [(ds, (1.0 - opts.new_share) * w / total) for ds, w, _ in replay]
    freeze_layers(model, opts.freeze)
    model.compile(optimizer=keras.optimizers.Adam(opts.lr, clipnorm=5.0), loss=ctc_loss, jit_compile=False)
    steps_per_epoch = STEPS_PER_EPOCH
    seq = TrainSequence(
        sets,
        bundle.charset,
        bundle.preprocess,
        bundle.model_config.width_stride,
        opts.batch_size,
        steps_per_epoch,
        seed=opts.seed,
        augment_strength=opts.augment,
        workers=1,
        use_multiprocessing=False,
        max_queue_size=4,
    )
    epochs = max(1, (opts.steps or 10**6) // steps_per_epoch)
    callbacks: list[keras.callbacks.Callback] = [TimeLimit(opts.time_limit)]
    if opts.pull > 0:
        callbacks.append(PullToBase(opts.pull))
    best = None
    if heldout is not None and len(heldout) and opts.check_every > 0:
        best = BestOnHeldout(bundle, heldout, max(1, opts.check_every // steps_per_epoch), heldout_before)
        callbacks.append(best)
    history = model.fit(seq, epochs=epochs, callbacks=callbacks, verbose=0)
    return len(history.history.get("loss", [])) * steps_per_epoch, best


def finetune(
    base: str | Path | None, data: Sequence[str | Path], output: str | Path, opts: FinetuneOptions | None = None, data_root=None
) -> FinetuneReport:
    opts = opts or FinetuneOptions()
    t0 = time.perf_counter()
    bundle = load_bundle(base)
    train_ds, held_ds = split_new_lines(data, opts.holdout)
    pred = Predictor.from_bundle(bundle)
    held_before = _cer(pred, held_ds)
    standing_before = standing(pred, opts.standing, data_root, opts.standing_limit)

    replay = _replay_sets(opts, data_root)
    model = bundle.model
    assert model is not None
    base_weights = model.get_weights()
    # A fine-tune's steps are smaller than an int8 step of the base's weights: it ships in float16.
    bundle.weights_dtype = FINETUNE_DTYPE.get(bundle.weights_dtype, bundle.weights_dtype)
    steps, best = _fit(bundle, train_ds, replay, opts, held_ds, held_before)
    share, standing_after, blends = _choose_blend(bundle, base_weights, standing_before, opts, data_root)

    pred = Predictor.from_bundle(bundle)
    held_after = _cer(pred, held_ds)
    base_name = f"{bundle.name} {bundle.version}"
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    candidate = Bundle(
        name=bundle.name,
        version=f"{bundle.version}+ft{stamp}",
        charset=bundle.charset,
        preprocess=bundle.preprocess,
        model_config=bundle.model_config,
        calibration=bundle.calibration,
        calibration_beam=bundle.calibration_beam,
        model=model,
        lm=bundle.lm,
        lexicon=bundle.lexicon,
        weights_dtype=bundle.weights_dtype,
    )
    report = FinetuneReport(
        base=base_name,
        candidate=f"{candidate.name} {candidate.version}",
        output=str(output),
        train_lines=len(train_ds),
        heldout_lines=len(held_ds),
        heldout_cer_before=held_before,
        heldout_cer_after=held_after,
        standing={s: {"before": standing_before.get(s), "after": standing_after.get(s)} for s in standing_after},
        steps=steps,
        seconds=round(time.perf_counter() - t0, 1),
        replayed=[spec for _, _, spec in replay],
        data=[str(d) for d in data],
        recipe={
            "lr": opts.lr,
            "new_share": opts.new_share,
            "freeze": opts.freeze,
            "augment": opts.augment,
            "blend": share,
            "pull": opts.pull,
            "best_step": best.best_epoch * STEPS_PER_EPOCH if best else None,
        },
        heldout_curve=[(e * STEPS_PER_EPOCH, c) for e, c in best.curve] if best else [],
        blends=blends,
    )
    candidate.metrics = {
        **{k: v for k, v in bundle.metrics.items() if not k.startswith("reliability")},
        "finetune": report.to_json(),
        "parent": {"name": bundle.name, "version": bundle.version},
    }
    candidate.save(output)
    return report
