"""``htr train``: fit the CRNN-CTC model from a YAML config, with resume.

Every epoch writes ``RUN/last.keras`` (model + optimizer) and ``RUN/state.json``
(epoch, learning rate, best CER) atomically, so ``--resume`` continues an
interrupted run where it stopped. The best weights by validation CER go to
``RUN/best.weights.h5``. At the end (or with ``--export-only``) the best
weights are exported as a model bundle with a character n-gram model and a
lexicon built from the training text only, and a confidence calibration
fitted on validation words.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import yaml

from recognition.bundle import Bundle
from recognition.calibration import Calibrator, reliability_table
from recognition.charset import IAM_CHARS, WESTERN_CHARS, Charset
from recognition.lm import CharNgramLM, Lexicon
from recognition.model import ModelConfig, build_crnn, ctc_loss
from recognition.predictor import DecoderOptions, Predictor
from recognition.preprocess import PreprocessConfig, preprocess

from . import paths
from .datasets import Dataset, DatasetError, open_dataset
from .metrics import rates
from .sequence import TrainSequence

log = logging.getLogger(__name__)
LR_SCHEDULES = ("plateau", "cosine", "cosine-time")


def half_cosine(t: float, lr: float, min_lr: float) -> float:
    """The learning rate at ``t`` (0 to 1) of a half cosine from ``lr`` down to ``min_lr``."""
    return float(min_lr + 0.5 * (lr - min_lr) * (1 + np.cos(np.pi * min(max(t, 0.0), 1.0))))


def cosine_lr(epoch: int, epochs: int, lr: float, min_lr: float) -> float:
    """Learning rate of ``epoch`` (0-based) on a half cosine from ``lr`` to ``min_lr``."""
    return half_cosine(epoch / max(epochs - 1, 1), lr, min_lr)


def cosine_by_time(started: float, seconds: float, lr: float, min_lr: float):
    """A Keras schedule (epoch, lr) -> lr on a half cosine from ``lr`` to ``min_lr`` over
    ``seconds`` from ``started`` (time.time()), by the time gone when an epoch starts."""

    def schedule(_epoch: int, _lr: float) -> float:
        return half_cosine((time.time() - started) / seconds, lr, min_lr)

    return schedule


@dataclass
class TrainConfig:
    name: str = "htr-base"
    version: str = "1"
    run_dir: str = "runs/htr-base"
    output: str = "recognition/models/htr-base"
    data_root: str | None = None
    chars: str = IAM_CHARS  # the characters, or a named set: "iam", "western"
    model: dict = field(default_factory=dict)
    preprocess: dict = field(default_factory=dict)
    train: list = field(default_factory=list)  # [{spec, weight}]
    val: list = field(default_factory=list)  # [spec]
    val_limit: int = 400
    batch_size: int = 16
    steps_per_epoch: int = 400
    epochs: int = 40
    lr: float = 1e-3
    lr_factor: float = 0.5
    lr_patience: int = 3
    min_lr: float = 1e-5
    # "plateau": lr times lr_factor after lr_patience epochs without validation gain; "cosine": from
    # lr down to min_lr over the run's epochs (a fixed budget, unmoved by noisy validation);
    # "cosine-time": the same over the --time-limit window by the time gone at each epoch's start
    # (a lent machine's minutes, when how many epochs fit is not known before).
    lr_schedule: str = "plateau"
    early_stop_patience: int = 8
    seed: int = 1234
    augment: float = 1.0
    neighbours: float = 0.0  # share of training crops given ink of neighbouring lines at their edges
    width_quantum: int = 32  # batches padded to a multiple of this width (px) ...
    label_quantum: int = 16  # ... and label length: larger on a GPU (fewer shapes to compile)
    workers: int = 2
    # Batches made in worker processes (forked) instead of threads: for a GPU that outruns one
    # Python process's augmentation (the GIL); the model's backend never runs in the workers.
    multiprocessing: bool = False
    lm_order: int = 6
    # Words of a language's common vocabulary added to the lexicon beside the training text's:
    # {language: how many of its most frequent words} (wordfreq), e.g. {fr: 20000}.
    lexicon_words: dict = field(default_factory=dict)
    weights_dtype: str = "float32"  # float16 halves the shipped weights file (measured after rounding)
    pen_variety: float = 0.0  # share of rendered training strokes drawn with a wider writer and pen style (render.PenStyle)
    # Batch normalization: "train" (batch statistics) or "frozen" (the --init-from bundle's running
    # statistics, in inference mode). Batches hold one source each, so batch statistics in training
    # differ from the running mixture used when reading; frozen, training sees what reading sees.
    batchnorm: str = "train"

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        data = yaml.safe_load(Path(path).read_text()) or {}
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: unknown config keys {sorted(unknown)}")
        cfg = cls(**data)
        if cfg.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"{path}: lr_schedule must be one of {', '.join(LR_SCHEDULES)}, not {cfg.lr_schedule!r}")
        return cfg

    def resolve(self, p: str) -> Path:
        q = Path(p)
        return q if q.is_absolute() else paths.project_root() / q


# ----------------------------------------------------------------------------
# Validation


class ValSet:
    def __init__(self, spec: str, ds: Dataset, limit: int, pre: PreprocessConfig):
        self.spec = spec
        n = len(ds)
        idx = np.linspace(0, n - 1, min(n, limit)).round().astype(int) if n else np.zeros(0, int)
        self.images, self.texts = [], []
        for i in sorted({int(i) for i in idx}):
            try:
                img, text = ds.load(i, None)
            except DatasetError:
                continue
            self.images.append(preprocess(img, pre))
            self.texts.append(text)


class ValidationCER(keras.callbacks.Callback):
    """Greedy CER on each validation set; logs ``val_cer`` (their mean)."""

    def __init__(self, valsets: list[ValSet], charset: Charset, pre: PreprocessConfig, stride: int, width_quantum: int = 32):
        super().__init__()
        self.valsets = valsets
        self.charset, self.pre, self.stride, self.width_quantum = charset, pre, stride, width_quantum

    def evaluate(self) -> dict:
        pred = Predictor(self.model, self.charset, self.pre, self.stride, width_quantum=self.width_quantum)
        out = {}
        for vs in self.valsets:
            hyps = [pred.decode(p).text for p in pred.probabilities(vs.images)]
            out[vs.spec] = rates(vs.texts, hyps)
        return out

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if not self.valsets:
            return
        res = self.evaluate()
        for spec, r in res.items():
            key = spec.replace(":", "_").replace("/", "_")
            logs[f"val_cer_{key}"] = r["cer"]
        logs["val_cer"] = float(np.mean([r["cer"] for r in res.values()]))
        print(" - ".join(f"{s}: CER {r['cer']:.4f} WER {r['wer']:.4f}" for s, r in res.items()), flush=True)


class Checkpointer(keras.callbacks.Callback):
    """Atomic per-epoch checkpoint (model + optimizer + state) and best weights."""

    def __init__(self, run_dir: Path, state: dict):
        super().__init__()
        self.run_dir = run_dir
        self.state = state

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        cer = float(logs.get("val_cer", np.inf))
        measured = "val_cer" in logs
        if not measured:
            # No validation sets (measured elsewhere): keep every epoch's weights, the last as best.
            self.model.save_weights(self.run_dir / f"epoch-{epoch + 1:03d}.weights.h5")
        if not measured or cer < self.state.get("best_cer", np.inf):
            if measured:
                self.state["best_cer"] = cer
            self.state["best_epoch"] = epoch + 1
            tmp = self.run_dir / "best.tmp.weights.h5"
            self.model.save_weights(tmp)
            os.replace(tmp, self.run_dir / "best.weights.h5")
        tmp = self.run_dir / "last.tmp.keras"
        self.model.save(tmp)
        os.replace(tmp, self.run_dir / "last.keras")
        self.state["epoch"] = epoch + 1
        self.state["backend"], self.state["machine"] = keras.backend.backend(), machine()
        self.state["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.state["elapsed_s"] = self.state.get("elapsed_s", 0.0) + (time.time() - self.state.pop("_t0", time.time()))
        self.state["_t0"] = time.time()
        (self.run_dir / "state.tmp.json").write_text(
            json.dumps({k: v for k, v in self.state.items() if not k.startswith("_")}, indent=2)
        )
        os.replace(self.run_dir / "state.tmp.json", self.run_dir / "state.json")


class TimeLimit(keras.callbacks.Callback):
    """Stop after the epoch whose successor would end past ``seconds`` (a
    nightly window, a lent GPU's minutes): the run stops on a checkpoint."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds, self.t0, self.longest = seconds, time.time(), 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        self.longest = max(self.longest, time.time() - self.started)
        if time.time() - self.t0 + self.longest > self.seconds:
            print(
                f"time limit: stopping after epoch {epoch + 1} ({time.time() - self.t0:.0f} of {self.seconds:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
            self.model.stop_training = True


FREEZE = ("none", "batchnorm", "convs")


def freeze_layers(model: keras.Model, what: str) -> None:
    """Fix layers before compiling: ``batchnorm`` (frozen batch normalization runs in inference
    mode, on the running statistics it has), ``convs`` (and the convolutions), ``none``."""
    for layer in model.layers:
        if (what != "none" and isinstance(layer, keras.layers.BatchNormalization)) or (
            what == "convs" and isinstance(layer, keras.layers.Conv2D)
        ):
            layer.trainable = False


def machine() -> str:
    """This machine in a few words: processor, cores and the accelerator training uses, if any."""
    out = f"{platform.machine()} {os.cpu_count()} cores"
    if keras.backend.backend() == "jax":
        import jax

        gpus = [d.device_kind for d in jax.devices() if d.platform != "cpu"]
        out += f", {gpus[0]}" if gpus else ""
    return out


def jit_compile() -> bool:
    """XLA-compile the training step under JAX (uncompiled, every op of every step would run
    one by one); under TensorFlow the step runs as a graph without XLA (its CTC is not compiled)."""
    return keras.backend.backend() == "jax"


def _tensorboard_available() -> bool:
    try:
        import tensorboard  # noqa: F401
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return keras.backend.backend() == "tensorflow"


# ----------------------------------------------------------------------------


CHARSETS = {"iam": IAM_CHARS, "western": WESTERN_CHARS}


def setup(cfg: TrainConfig):
    charset = Charset(CHARSETS.get(cfg.chars, cfg.chars))
    pre = PreprocessConfig.from_json(cfg.preprocess)
    mcfg = ModelConfig.from_json(
        {**ModelConfig().to_json(), **cfg.model, "height": pre.height, "num_classes": charset.num_classes}
    )
    return charset, pre, mcfg


def init_weights(model, bundle_path: str | Path, charset: Charset | None = None) -> tuple[list[str], list[str]]:
    """Copy a bundle's weights into ``model`` layer by layer, where name and
    shapes match (all of them for the same architecture; the shared layers
    when growing one, e.g. a BiLSTM layer more). With ``charset`` (the model's,
    larger than the bundle's) the output layer grows: see ``grow_logits``.
    Returns (copied, left fresh)."""
    from recognition.bundle import load_bundle

    bundle = load_bundle(bundle_path)
    src = bundle.model
    assert src is not None
    copied, fresh = [], []
    for layer in model.layers:
        if not layer.weights:
            continue
        try:
            other = src.get_layer(layer.name)
        except ValueError:
            other = None
        if other is not None and [tuple(w.shape) for w in other.weights] == [tuple(w.shape) for w in layer.weights]:
            layer.set_weights(other.get_weights())
            copied.append(layer.name)
        elif other is not None and layer.name == "logits" and charset is not None:
            layer.set_weights(grow_logits(other.get_weights(), bundle.charset, charset))
            copied.append(layer.name)
        else:
            fresh.append(layer.name)
    if not copied:
        raise ValueError(f"{bundle_path}: no layer matches the configured model")
    return copied, fresh


NEW_CHAR_PENALTY = 3.0  # logit bias a new character starts below the letter it is copied from
# Base letters of new characters the old set cannot spell by folding.
_BASE = {
    "«": '"',
    "»": '"',
    "°": "o",
    "œ": "o",
    "Œ": "O",
    "æ": "a",
    "Æ": "A",
    "ß": "B",
    "€": "E",
    "£": "L",
    "§": "S",
    "=": "-",
    "_": "-",
}


def grow_logits(weights: list[np.ndarray], old: Charset, new: Charset) -> list[np.ndarray]:
    """Output layer weights (kernel, bias) for ``new`` from those of ``old``: the blank and
    every character both sets hold keep their column; a new character starts as the column
    of its base letter (``é`` from ``e``, ``«`` from ``"``, where the old set has one) with its bias
    ``NEW_CHAR_PENALTY`` lower, so the grown model reads as before until training moves it;
    characters without a base start from the mean column, as unlikely."""
    kernel, bias = weights
    k = np.zeros((kernel.shape[0], new.num_classes), kernel.dtype)
    b = np.full(new.num_classes, float(bias.min()) - NEW_CHAR_PENALTY, bias.dtype)
    k[:, :] = kernel.mean(axis=1, keepdims=True)
    k[:, 0], b[0] = kernel[:, 0], bias[0]
    index = {c: i + 1 for i, c in enumerate(old.chars)}
    for j, ch in enumerate(new.chars, 1):
        if ch in index:
            k[:, j], b[j] = kernel[:, index[ch]], bias[index[ch]]
            continue
        base = _BASE.get(ch) or old.normalize(ch)[:1]
        if base in index:
            k[:, j], b[j] = kernel[:, index[base]], bias[index[base]] - NEW_CHAR_PENALTY
    return [k, b]


def ensure_fonts(cfg: TrainConfig) -> None:
    """Install the training fonts (``scripts/install-fonts.sh``) when a
    config reads ``fonts:`` sets and they are not there yet."""
    import subprocess

    specs = [t["spec"] for t in cfg.train] + list(cfg.val)
    if not any(s.startswith("fonts") for s in specs):
        return
    from .fonts.faces import FontError, find_faces

    try:
        if find_faces()[0]:
            return
    except FontError:
        pass
    script = paths.project_root() / "scripts" / "install-fonts.sh"
    if not script.is_file():
        raise FontError(
            f"no handwriting fonts in {paths.fonts_dir()}: install them (scripts/install-fonts.sh) and set HTR_FONTS_DIR"
        )
    subprocess.run(["bash", str(script)], check=True, env={**os.environ, "HTR_FONTS_DIR": str(paths.fonts_dir())})
    from .fonts import faces

    faces._scan.cache_clear()


def train(
    cfg: TrainConfig,
    resume: bool = False,
    epochs: int | None = None,
    init_from: str | Path | None = None,
    time_limit: float | None = None,
    lr: float | None = None,
    export_bundle: bool = True,
) -> dict:
    """Train (or resume) and export (unless ``export_bundle`` is false). ``lr`` sets the learning rate: of a fresh
    run in place of the config's, of a resumed run in place of the checkpoint's."""
    if cfg.lr_schedule == "cosine-time" and not time_limit:
        raise ValueError("lr_schedule: cosine-time needs --time-limit")
    if lr is not None and not resume:
        cfg.lr = lr
    charset, pre, mcfg = setup(cfg)
    run_dir = cfg.resolve(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    train_sets, valsets = _datasets(cfg, pre)
    model, state = _model_and_state(cfg, charset, mcfg, run_dir, resume, init_from, lr)
    state["_t0"] = time.time()
    seq = _sequence(cfg, train_sets, charset, pre, mcfg.width_stride, state["epoch"])
    total = epochs if epochs is not None else cfg.epochs
    callbacks = [
        ValidationCER(valsets, charset, pre, mcfg.width_stride, cfg.width_quantum),
        Checkpointer(run_dir, state),
        _schedule(cfg, total, lr if lr is not None else cfg.lr, time_limit),
        *(
            [keras.callbacks.EarlyStopping(monitor="val_cer", mode="min", patience=cfg.early_stop_patience, verbose=1)]
            if valsets
            else []
        ),
        keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=True),
        *([TimeLimit(time_limit)] if time_limit else []),
        *([keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), write_graph=False)] if _tensorboard_available() else []),
    ]
    if state["epoch"] < total:
        model.fit(seq, epochs=total, initial_epoch=state["epoch"], callbacks=callbacks, verbose=1)
    if not export_bundle:
        return {k: v for k, v in state.items() if not k.startswith("_")}
    return export(cfg)


def _sequence(
    cfg: TrainConfig, sets: list[tuple[Dataset, float]], charset: Charset, pre: PreprocessConfig, stride: int, epoch: int
) -> TrainSequence:
    """The training batches, from ``epoch`` on."""
    if cfg.multiprocessing:
        import cv2

        cv2.setNumThreads(1)  # no OpenCV thread pool in a process that forks batch workers
    seq = TrainSequence(
        sets,
        charset,
        pre,
        stride,
        cfg.batch_size,
        cfg.steps_per_epoch,
        seed=cfg.seed,
        augment_strength=cfg.augment,
        neighbours=cfg.neighbours,
        width_quantum=cfg.width_quantum,
        label_quantum=cfg.label_quantum,
        workers=cfg.workers,
        use_multiprocessing=cfg.multiprocessing,
        max_queue_size=max(8, 2 * cfg.workers),
    )
    seq.epoch = epoch
    return seq


def _datasets(cfg: TrainConfig, pre: PreprocessConfig) -> tuple[list[tuple[Dataset, float]], list[ValSet]]:
    """The weighted training sets (fonts installed first where asked for) and the validation sets."""
    ensure_fonts(cfg)
    train_sets = [(open_dataset(t["spec"], cfg.data_root), float(t.get("weight", 1.0))) for t in cfg.train]
    for ds, _ in train_sets:
        if hasattr(ds, "variety"):
            ds.variety = cfg.pen_variety
    return train_sets, [ValSet(spec, open_dataset(spec, cfg.data_root), cfg.val_limit, pre) for spec in cfg.val]


def _model_and_state(
    cfg: TrainConfig,
    charset: Charset,
    mcfg: ModelConfig,
    run_dir: Path,
    resume: bool,
    init_from: str | Path | None,
    lr: float | None,
) -> tuple[keras.Model, dict]:
    """The run's model and state: the checkpoint's when resuming (at ``lr`` if given), else a
    new model (from ``init_from``'s weights if given), compiled."""
    state: dict = {"best_cer": float("inf"), "epoch": 0}
    last = run_dir / "last.keras"
    if resume and last.is_file():
        model = keras.models.load_model(last, custom_objects={"ctc_loss": ctc_loss})
        state.update(json.loads((run_dir / "state.json").read_text()))
        if lr is not None:
            state["lr"] = lr
        model.optimizer.learning_rate.assign(state["lr"])
        print(
            f"resuming {run_dir} at epoch {state['epoch']} (best CER {state['best_cer']:.4f}, lr {state['lr']:.2e})", flush=True
        )
        return model, state
    if resume:
        print(f"no checkpoint in {run_dir}: starting fresh", flush=True)
    model = build_crnn(mcfg)
    if init_from:
        # Fine-tune, continue or grow from a shipped bundle (fresh optimizer).
        copied, fresh = init_weights(model, init_from, charset)
        print(
            f"initialized from {init_from}: {len(copied)} layers copied" + (f", new: {', '.join(fresh)}" if fresh else ""),
            flush=True,
        )
    if cfg.batchnorm == "frozen":
        if not init_from:
            raise ValueError("batchnorm: frozen needs --init-from (statistics to keep)")
        freeze_layers(model, "batchnorm")
    model.compile(optimizer=keras.optimizers.Adam(cfg.lr, clipnorm=5.0), loss=ctc_loss, jit_compile=jit_compile())
    (run_dir / "config.json").write_text(json.dumps({"train": cfg.__dict__, "model": mcfg.to_json()}, indent=2, default=str))
    return model, state


def _schedule(cfg: TrainConfig, epochs: int, peak: float, time_limit: float | None) -> keras.callbacks.Callback:
    """The learning-rate callback the config names (``lr_schedule``)."""
    if cfg.lr_schedule == "cosine":
        return keras.callbacks.LearningRateScheduler(lambda e, _: cosine_lr(e, epochs, peak, cfg.min_lr), verbose=1)
    if cfg.lr_schedule == "cosine-time":
        assert time_limit
        return keras.callbacks.LearningRateScheduler(cosine_by_time(time.time(), time_limit, peak, cfg.min_lr), verbose=1)
    return keras.callbacks.ReduceLROnPlateau(
        monitor="val_cer", mode="min", factor=cfg.lr_factor, patience=cfg.lr_patience, min_lr=cfg.min_lr, verbose=1
    )


# ----------------------------------------------------------------------------
# Export


def word_outcomes(pred: Predictor, images, texts) -> tuple[list[float], list[int]]:
    """Raw score and exactness of every recognized word (aligned to the reference)."""
    raw, ok = [], []
    for rec, ref in zip(pred.predict_normalized(images), texts):
        hyp_words = [w.text for w in rec.words]
        sm = difflib.SequenceMatcher(a=ref.split(), b=hyp_words, autojunk=False)
        good: set[int] = set()
        for tag, _, _, j1, j2 in sm.get_opcodes():
            if tag == "equal":
                good.update(range(j1, j2))
        for j, w in enumerate(rec.words):
            raw.append(w.confidence)
            ok.append(int(j in good))
    return raw, ok


def fit_calibration(pred: Predictor, valsets: list[ValSet]) -> tuple[Calibrator, list[dict]]:
    """Confidence map from raw word scores on validation data: fitted on one
    half and checked on the other (the reliability table), shipped fitted on all."""
    raw, ok = [], []
    for vs in valsets:
        r, o = word_outcomes(pred, vs.images, vs.texts)
        raw += r
        ok += o
    raw_a, ok_a = np.array(raw), np.array(ok)
    half = np.arange(len(raw_a)) % 2 == 0
    held_out = Calibrator.fit(raw_a[half], ok_a[half])
    return Calibrator.fit(raw_a, ok_a), reliability_table(held_out(raw_a[~half]), ok_a[~half])


def common_words(counts: dict) -> list[str]:
    """The ``n`` most frequent words of each language asked for (wordfreq), letters only."""
    if not counts:
        return []
    from wordfreq import top_n_list

    return [w for lang, n in counts.items() for w in top_n_list(lang, int(n)) if w.isalpha()]


def export(cfg: TrainConfig, weights: Path | None = None) -> dict:
    charset, pre, mcfg = setup(cfg)
    run_dir = cfg.resolve(cfg.run_dir)
    weights = weights or run_dir / "best.weights.h5"
    tmp = run_dir / "export.weights.h5"
    shutil.copyfile(weights, tmp)  # the trainer may rewrite best while we read
    model = build_crnn(mcfg)
    model.load_weights(tmp)
    bundle = Bundle(name=cfg.name, version=cfg.version, charset=charset, preprocess=pre, model_config=mcfg, model=model)
    bundle.round_weights(cfg.weights_dtype)  # calibrate and measure what will load back

    train_texts = [t for spec in cfg.train for t in open_dataset(spec["spec"], cfg.data_root).texts()]
    lm = CharNgramLM.train(train_texts, order=cfg.lm_order)
    lexicon = Lexicon.from_texts(train_texts + common_words(cfg.lexicon_words))

    # Calibration, one map per decoder (beam's n-gram mends words whose
    # characters scored low, so the same raw score means more there).
    valsets = [ValSet(spec, open_dataset(spec, cfg.data_root), cfg.val_limit, pre) for spec in cfg.val]
    calibrator, reliability = fit_calibration(Predictor(model, charset, pre, mcfg.width_stride), valsets)
    beam = Predictor(model, charset, pre, mcfg.width_stride, lm=lm, decoder=DecoderOptions("beam"))
    calibrator_beam, reliability_beam = fit_calibration(beam, valsets)

    state = json.loads((run_dir / "state.json").read_text()) if (run_dir / "state.json").is_file() else {}
    bundle.calibration, bundle.calibration_beam, bundle.lm, bundle.lexicon = calibrator, calibrator_beam, lm, lexicon
    bundle.metrics = {
        "best_val_cer": state.get("best_cer"),
        "best_epoch": state.get("best_epoch"),
        "epochs_trained": state.get("epoch"),
        "training_time_s": round(state.get("elapsed_s", 0.0)),
        # Where it trained: the run's own record (a run on a lent GPU is exported elsewhere), else here.
        "backend": state.get("backend", keras.backend.backend()),
        "machine": state.get("machine", machine()),
        "reliability_held_out": reliability,
        "reliability_held_out_beam": reliability_beam,
    }
    out = bundle.save(cfg.resolve(cfg.output))
    tmp.unlink(missing_ok=True)
    print(
        json.dumps(
            {"exported": str(out), "reliability_held_out": reliability, "reliability_held_out_beam": reliability_beam}, indent=2
        ),
        flush=True,
    )
    return bundle.metrics
