import json

import keras
import numpy as np
import pytest

from recognition.bundle import load_bundle
from recognition.charset import Charset
from recognition.model import ModelConfig, build_crnn, ctc_loss
from recognition.predictor import DecoderOptions, Predictor
from recognition.preprocess import PreprocessConfig, normalize, preprocess
from tests.fixtures import TINY, WORDS, text_image, write_tiny_config
from training.datasets import open_dataset
from training.datasets.folder import write_labels_folder
from training.sequence import TrainSequence, ctc_feasible, make_batch
from training.train import TrainConfig, train

pytestmark = [pytest.mark.slow]

PRE = PreprocessConfig(height=32)


def tiny_model(charset):
    cfg = ModelConfig.from_json({**ModelConfig().to_json(), **TINY, "height": 32, "num_classes": charset.num_classes})
    return cfg, build_crnn(cfg)


def test_a_few_training_steps_lower_the_loss():
    keras.utils.set_random_seed(0)
    cs = Charset()
    cfg, model = tiny_model(cs)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=ctc_loss)
    images = [preprocess(text_image(w), PRE) for w in WORDS]
    x, y = make_batch(images, [cs.encode(w) for w in WORDS], cfg.width_stride)
    first = float(model.train_on_batch(x, y))
    for _ in range(40):
        last = float(model.train_on_batch(x, y))
    assert np.isfinite(first) and last < 0.6 * first


def test_batches_carry_frame_counts_and_padding():
    cs = Charset()
    imgs = [np.ones((32, 40), np.float32), np.ones((32, 70), np.float32)]
    x, y = make_batch(imgs, [cs.encode("ab"), cs.encode("abc")], stride=4)
    assert x.shape == (2, 32, 96, 1) and x[0, :, 40:].max() == 0
    assert y[0, -1] == 10 and y[1, -1] == 18
    assert list(y[1, :3]) == cs.encode("abc") and y[0, 2] == 0
    assert not ctc_feasible(cs.encode("aaaa"), 6) and ctc_feasible(cs.encode("abab"), 4)


def test_sequence_is_backend_neutral_pydataset(tmp_path):
    folder = write_labels_folder(tmp_path / "f", [(f"{w}.png", text_image(w), w) for w in WORDS])
    seq = TrainSequence([(open_dataset(str(folder)), 1.0)], Charset(), PRE, 4, batch_size=3, steps=2)
    assert isinstance(seq, keras.utils.PyDataset) and len(seq) == 2
    x, y = seq[0]
    assert x.shape[0] == 3 and x.shape[1] == 32 and x.dtype == np.float32
    x2, _ = seq[0]
    assert np.array_equal(x, x2)  # a batch is reproducible from (seed, epoch, index)
    coarse = TrainSequence(
        [(open_dataset(str(folder)), 1.0)], Charset(), PRE, 4, batch_size=3, steps=2, width_quantum=256, label_quantum=32
    )
    x, y = coarse[0]  # few shapes for JAX to compile: widths and label lengths padded to the quanta
    assert x.shape[2] == 256 and y.shape[1] - 1 == 32


def test_train_checkpoints_resumes_and_exports_a_bundle(tmp_path):
    cfg = TrainConfig.load(write_tiny_config(tmp_path))
    train(cfg)
    run = tmp_path / "run"
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 1 and (run / "last.keras").is_file() and (run / "best.weights.h5").is_file()
    assert (run / "log.csv").read_text().count("\n") == 2  # header + one epoch
    # An interrupted run continues from its checkpoint instead of restarting.
    train(cfg, resume=True, epochs=2, lr=2.5e-4)  # ... at a learning rate set for the rest of the run
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 2
    assert (run / "log.csv").read_text().count("\n") == 3
    assert "0.00025" in (run / "log.csv").read_text().splitlines()[-1]  # the resumed epoch ran at it
    bundle = load_bundle(tmp_path / "model")
    assert bundle.name == "tiny" and bundle.lm is not None and "cat" in bundle.lexicon.words
    assert bundle.metrics["epochs_trained"] == 2
    # A confidence map per decoder, each with its held-out reliability table.
    assert bundle.calibration_beam is not None
    assert bundle.metrics["reliability_held_out"] and bundle.metrics["reliability_held_out_beam"]
    assert Predictor.from_bundle(bundle, decoder=DecoderOptions("beam")).calibration is bundle.calibration_beam
    assert Predictor.from_bundle(bundle).calibration is bundle.calibration
    # Bundles from before beam had a map of its own use the greedy one.
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    del meta["calibration_beam"]
    (tmp_path / "model" / "model.json").write_text(json.dumps(meta))
    old = load_bundle(tmp_path / "model")
    assert old.calibration_beam is None and old.calibration_for("beam") is old.calibration


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    cfg = TrainConfig.load(write_tiny_config(tmp_path))
    train(cfg)
    bundle = load_bundle(tmp_path / "model")
    again = load_bundle(tmp_path / "model")
    for a, b in zip(bundle.model.get_weights(), again.model.get_weights(), strict=True):
        assert np.array_equal(a, b)
    x = np.random.default_rng(0).random((2, 32, 64, 1)).astype(np.float32)
    assert np.array_equal(np.asarray(bundle.model.predict_on_batch(x)), np.asarray(again.model.predict_on_batch(x)))
    # The same reading through the predictor. (A model trained for two steps is near a tie between
    # characters everywhere: compare probabilities, which the CPU's thread scheduling may move in the
    # last bits, not the argmax texts that such a move can flip.)
    p1, p2 = Predictor.from_bundle(bundle), Predictor.from_bundle(again)
    imgs = [text_image(w) for w in WORDS]
    arrays = [normalize(im, bundle.preprocess).image for im in imgs]
    read = p1.probabilities(arrays)
    for a, b in zip(read, p2.probabilities(arrays), strict=True):
        assert a.shape == b.shape and np.allclose(a, b, atol=1e-5)

    # Shipped at half the size: float16 weights, measured as rounded, loading back exactly.
    import h5py

    from training.train import export

    cfg.output, cfg.weights_dtype = str(tmp_path / "model16"), "float16"
    export(cfg)
    half = load_bundle(tmp_path / "model16")
    f32, f16 = tmp_path / "model" / "model.weights.h5", tmp_path / "model16" / "model.weights.h5"

    def floats(file):  # (dtypes, bytes) of the stored float arrays
        kinds, size = set(), [0]
        with h5py.File(file) as f:
            f.visititems(
                lambda _, o: (
                    (kinds.add(o.dtype.name), size.append(o.nbytes))
                    if isinstance(o, h5py.Dataset) and o.dtype.kind == "f"
                    else None
                )
            )
        return kinds, sum(size)

    assert half.weights_dtype == "float16" and f16.stat().st_size < f32.stat().st_size
    assert floats(f32)[0] == {"float32"} and floats(f16) == ({"float16"}, floats(f32)[1] // 2)
    for a, b in zip(bundle.model.get_weights(), half.model.get_weights()):
        assert b.dtype == np.float32 and np.array_equal(a.astype(np.float16).astype(np.float32), b)
    x16 = load_bundle(tmp_path / "model16")
    assert np.array_equal(np.asarray(half.model.predict_on_batch(x)), np.asarray(x16.model.predict_on_batch(x)))

    # A quarter of the size: int8 per output channel, loading back exactly what was measured.
    from recognition.bundle import dequantize, quantize_int8

    cfg.output, cfg.weights_dtype = str(tmp_path / "model8"), "int8"
    export(cfg)
    q8 = load_bundle(tmp_path / "model8")
    assert q8.weights_dtype == "int8" and (tmp_path / "model8" / "model.weights.h5").stat().st_size < f16.stat().st_size
    measured = load_bundle(tmp_path / "model")
    measured.round_weights("int8")
    for a, b, c in zip(bundle.model.get_weights(), measured.model.get_weights(), q8.model.get_weights()):
        assert np.array_equal(b, c)  # as measured at export, so as loaded
        packed = quantize_int8(a)
        if packed is not None:
            assert packed[0].dtype == np.int8 and np.array_equal(dequantize(*packed), c)
            assert np.abs(a - c).max() <= np.abs(a).max() / 254 + 1e-7  # half a step of the largest channel's scale
    assert np.abs(np.asarray(q8.model.predict_on_batch(x)) - np.asarray(bundle.model.predict_on_batch(x))).max() < 0.5
    # ... and through the predictor (probabilities: a two-step model's argmax texts flip on near-ties).
    moved = [np.abs(a - b).max() for a, b in zip(Predictor.from_bundle(q8).probabilities(arrays), read)]
    assert max(moved) < 1e-3


def test_training_can_start_from_a_bundle(tmp_path):
    cfg = TrainConfig.load(write_tiny_config(tmp_path))
    train(cfg)
    first = load_bundle(tmp_path / "model")
    # Through the command line: --lr 1e-12 leaves the weights effectively frozen.
    from worker.cli import main

    assert (
        main(
            [
                "train",
                "--config",
                str(write_tiny_config(tmp_path / "second")),
                "--init-from",
                str(tmp_path / "model"),
                "--lr",
                "1e-12",
                "--augment",
                "0.5",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "second" / "run" / "state.json").read_text())["lr"] == pytest.approx(1e-12)
    assert json.loads((tmp_path / "second" / "run" / "config.json").read_text())["train"]["augment"] == 0.5
    second = load_bundle(tmp_path / "second" / "model")
    # Trainable weights are the bundle's (batch-norm statistics still move).
    for a, b in zip(first.model.trainable_weights, second.model.trainable_weights):
        assert np.allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), atol=1e-6)


def test_frozen_batch_normalization_keeps_the_bundles_statistics_through_a_resume(tmp_path):
    def statistics(model):
        return [
            np.array(w)
            for layer in model.layers
            if isinstance(layer, keras.layers.BatchNormalization)
            for w in layer.get_weights()
        ]

    train(TrainConfig.load(write_tiny_config(tmp_path)))
    base = load_bundle(tmp_path / "model").model
    frozen = TrainConfig.load(write_tiny_config(tmp_path / "frozen", epochs=2, batchnorm="frozen"))
    with pytest.raises(ValueError, match="needs --init-from"):
        train(frozen)
    train(frozen, init_from=tmp_path / "model", epochs=1)
    train(frozen, resume=True)
    assert json.loads((tmp_path / "frozen" / "run" / "state.json").read_text())["epoch"] == 2
    tuned = load_bundle(tmp_path / "frozen" / "model").model
    assert all(np.array_equal(a, b) for a, b in zip(statistics(base), statistics(tuned)))
    assert not np.array_equal(base.get_layer("conv0").get_weights()[0], tuned.get_layer("conv0").get_weights()[0])  # trained


def test_shipped_configs_load_and_htr_base_describes_the_bundled_model():
    from pathlib import Path

    from training.train import setup

    root = Path(__file__).resolve().parents[1]
    sizes = {}
    for path in sorted((root / "training" / "configs").glob("*.yaml")):
        cfg = TrainConfig.load(path)
        _, pre, mcfg = setup(cfg)
        sizes[cfg.name] = build_crnn(mcfg).count_params()
        if path.name == "htr-base.yaml":
            bundle = json.loads((root / cfg.output / "model.json").read_text())
            assert bundle["model"] == mcfg.to_json() and PreprocessConfig.from_json(bundle["preprocess"]) == pre
    # Twice htr-base's capacity, and int8 weights (a byte each) small enough for the repository's 60 MB.
    assert sizes["htr-large"] > 2 * sizes["htr-base"] and sizes["htr-large"] <= 6_000_000
    assert TrainConfig.load(root / "training" / "configs" / "htr-large.yaml").weights_dtype == "int8"
    # The GPU run trains the shipped architecture on the shipped data (less what is not packed).
    base, device = (TrainConfig.load(root / "training" / "configs" / n) for n in ("htr-base.yaml", "htr-base-device.yaml"))
    assert device.model == base.model and device.preprocess == base.preprocess and device.chars == base.chars
    assert {t["spec"] for t in device.train} <= {t["spec"] for t in base.train} and device.batchnorm == "frozen"


def test_time_limit_stops_on_a_checkpoint_and_resume_goes_on(tmp_path):
    from worker.cli import main

    cfg = write_tiny_config(tmp_path, epochs=2)
    assert main(["train", "--config", str(cfg), "--time-limit", "0.01"]) == 0  # one epoch, then out of time
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["epoch"] == 1 and load_bundle(tmp_path / "model").metrics["epochs_trained"] == 1
    assert main(["train", "--config", str(cfg), "--resume"]) == 0
    assert json.loads((tmp_path / "run" / "state.json").read_text())["epoch"] == 2


def test_a_deeper_model_grows_from_a_bundle_with_its_shared_layers_copied(tmp_path):
    from training.train import init_weights, setup

    cfg = TrainConfig.load(write_tiny_config(tmp_path))
    train(cfg)
    small = load_bundle(tmp_path / "model")
    _, _, mcfg = setup(cfg)
    deeper = build_crnn(ModelConfig.from_json({**mcfg.to_json(), "rnn_layers": mcfg.rnn_layers + 1}))
    copied, fresh = init_weights(deeper, tmp_path / "model")
    assert fresh == [f"bilstm{mcfg.rnn_layers}"] and "bilstm0" in copied and "logits" in copied and "conv0" in copied
    for name in copied:
        for a, b in zip(small.model.get_layer(name).get_weights(), deeper.get_layer(name).get_weights()):
            assert np.array_equal(a, b)
    wider = build_crnn(
        ModelConfig.from_json({**mcfg.to_json(), "conv_filters": [f * 2 for f in mcfg.conv_filters], "rnn_units": 32})
    )
    with pytest.raises(ValueError, match="no layer matches"):
        init_weights(wider, tmp_path / "model")


def test_residual_layers_grow_a_model_that_reads_as_before_and_then_learns(tmp_path):
    from training.train import init_weights, setup

    cfg = TrainConfig.load(write_tiny_config(tmp_path))
    train(cfg)
    small = load_bundle(tmp_path / "model")
    _, _, mcfg = setup(cfg)
    grown = build_crnn(ModelConfig.from_json({**mcfg.to_json(), "rnn_residual": 2}))
    copied, fresh = init_weights(grown, tmp_path / "model")
    n = mcfg.rnn_layers
    assert fresh == [f"bilstm{n}", f"residual{n}", f"bilstm{n + 1}", f"residual{n + 1}"] and "logits" in copied
    images = [preprocess(text_image(w), PRE) for w in WORDS]
    x, y = make_batch(images, [Charset().encode(w) for w in WORDS], mcfg.width_stride)
    before = small.model.predict(x, verbose=0)
    np.testing.assert_allclose(grown.predict(x, verbose=0), before, atol=1e-5)  # starts as the model it grew from
    grown.compile(optimizer=keras.optimizers.Adam(1e-2), loss=ctc_loss)
    for _ in range(3):
        grown.train_on_batch(x, y)
    assert np.abs(grown.get_layer(f"residual{n}").get_weights()[0]).max() > 0  # the new layers take part
    assert np.abs(grown.predict(x, verbose=0) - before).max() > 1e-3


def test_cosine_schedule_runs_from_lr_to_min_lr_over_the_epochs(tmp_path):
    from training.train import cosine_lr

    rates = [cosine_lr(e, 5, 1e-3, 1e-5) for e in range(5)]
    assert rates[0] == pytest.approx(1e-3) and rates[-1] == pytest.approx(1e-5) and rates == sorted(rates, reverse=True)
    assert rates[2] == pytest.approx((1e-3 + 1e-5) / 2)
    cfg = TrainConfig.load(write_tiny_config(tmp_path, epochs=2, lr_schedule="cosine", lr=1e-3, min_lr=1e-4))
    train(cfg)
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["epoch"] == 2 and state["lr"] == pytest.approx(1e-4)
    bad = write_tiny_config(tmp_path / "bad", lr_schedule="step")
    with pytest.raises(ValueError, match="lr_schedule must be one of plateau, cosine"):
        TrainConfig.load(bad)


def test_a_run_without_validation_keeps_each_epoch_and_trains_in_worker_processes(tmp_path):
    """What a lent GPU runs (training/configs/htr-base-device.yaml): batches made in forked
    workers, no validation there, a cosine over the time window, no export; the epochs'
    weights come back and one is exported where validation and the word lists are."""
    from training.train import setup
    from worker.cli import main

    cfg = write_tiny_config(
        tmp_path, epochs=50, val=[], multiprocessing=True, workers=2, lr_schedule="cosine-time", lr=1e-3, min_lr=1e-4
    )
    assert main(["train", "--config", str(cfg), "--time-limit", "6", "--no-export"]) == 0
    run = tmp_path / "run"
    state = json.loads((run / "state.json").read_text())
    n = state["epoch"]
    assert 1 <= n < 50 and state["best_epoch"] == n and state["backend"] == keras.backend.backend()
    assert sorted(p.name for p in run.glob("epoch-*.weights.h5")) == [f"epoch-{e:03d}.weights.h5" for e in range(1, n + 1)]
    assert not (tmp_path / "model").exists()  # --no-export
    rates = [float(r.split(",")[1]) for r in (run / "log.csv").read_text().splitlines()[1:]]
    assert rates == sorted(rates, reverse=True) and rates[0] <= 1e-3
    # Exported from a chosen epoch's weights with a config that validates (calibration).
    with_val = write_tiny_config(tmp_path / "export", run_dir=str(run), output=str(tmp_path / "model"))
    assert main(["train", "--config", str(with_val), "--export-only", "--weights", str(run / "epoch-001.weights.h5")]) == 0
    bundle = load_bundle(tmp_path / "model")
    assert bundle.metrics["epochs_trained"] == n and bundle.metrics["backend"] == keras.backend.backend()
    _, _, mcfg = setup(TrainConfig.load(with_val))
    first = build_crnn(mcfg)
    first.load_weights(run / "epoch-001.weights.h5")
    np.testing.assert_allclose(
        bundle.model.get_layer("logits").get_weights()[1], first.get_layer("logits").get_weights()[1], atol=1e-2
    )


def test_cosine_by_time_runs_from_lr_to_min_lr_over_the_window():
    import time

    from training.train import cosine_by_time

    now = time.time()
    assert cosine_by_time(now, 100, 1e-3, 1e-5)(0, 0.0) == pytest.approx(1e-3, rel=1e-3)
    assert cosine_by_time(now - 50, 100, 1e-3, 1e-5)(7, 0.0) == pytest.approx((1e-3 + 1e-5) / 2, rel=1e-2)
    assert cosine_by_time(now - 500, 100, 1e-3, 1e-5)(9, 0.0) == pytest.approx(1e-5)  # past the window: the floor
    with pytest.raises(ValueError, match="cosine-time needs --time-limit"):
        train(TrainConfig(lr_schedule="cosine-time"))
