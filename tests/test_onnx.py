"""ONNX Runtime as the predictor's backend: the graph written from a bundle's weights reads as the
Keras model does (every weights layout, other architectures and charsets), its int8 variant reads
nearly so, the graphs are cached by weights, and ``htr recognize --backend onnx`` runs without
TensorFlow."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition import onnx_export
from recognition.backends import BACKENDS, KerasBackend, OnnxBackend
from recognition.bundle import Bundle, default_model_path, load_bundle
from recognition.charset import Charset
from recognition.model import ModelConfig, build_crnn
from recognition.predictor import DecoderOptions, Predictor
from recognition.preprocess import PreprocessConfig, normalize
from tests.fixtures import text_image

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["the", "a", "Gaitskell", "recognition", "of", "2026", "Mr. Smith's", "and then some more words on a line"]


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    """A cache folder for the exported graphs, shared by the tests of this file."""
    folder = tmp_path_factory.getbasetemp() / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return folder / "htr" / "onnx"


@pytest.fixture(scope="module")
def bundled():
    return load_bundle()


def crops() -> list[np.ndarray]:
    """Crops of many widths: the sample line and word, the line cut at several places, drawn words."""
    line = cv2.imread(str(ROOT / "examples" / "line.png"), cv2.IMREAD_GRAYSCALE)
    word = cv2.imread(str(ROOT / "examples" / "word.png"), cv2.IMREAD_GRAYSCALE)
    cuts = [line[:, : int(line.shape[1] * f)] for f in (0.3, 0.55, 0.8)]
    return [line, word, *cuts, *(text_image(w) for w in WORDS)]


def random_bundle(path: Path, config: ModelConfig, dtype: str, seed: int = 0) -> Bundle:
    """A bundle of ``config`` with random weights (batch normalization statistics included), saved in ``dtype``."""
    rng = np.random.default_rng(seed)
    model = build_crnn(config)
    arrays = []
    for v in model.weights:
        w = np.asarray(v.numpy())
        if v.path.endswith("moving_variance"):
            w = rng.uniform(0.5, 2.0, w.shape)
        elif v.path.endswith(("moving_mean", "beta", "bias")):
            w = rng.normal(0, 0.2, w.shape)
        elif v.path.endswith("gamma"):
            w = rng.uniform(0.5, 1.5, w.shape)
        elif v.path.startswith("residual"):  # built at zero: give the residual branch a part to play
            w = rng.normal(0, 0.1, w.shape)
        arrays.append(w.astype(np.float32))
    model.set_weights(arrays)
    chars = "".join(chr(c) for c in range(0x21, 0x21 + config.num_classes - 1))
    bundle = Bundle("random", "1", Charset(chars), PreprocessConfig(height=config.height), config, model=model)
    if dtype != "float32":
        bundle.round_weights(dtype)
    bundle.save(path)
    return bundle


ARCHITECTURES = {
    # a larger charset (147 classes), one plain and one residual BiLSTM layer
    "residual": ModelConfig(
        height=32,
        conv_filters=(8, 16, 24),
        pools=((2, 2), (2, 2), (2, 1)),
        rnn_units=16,
        rnn_layers=1,
        rnn_residual=1,
        num_classes=147,
    ),
    # the bundled model's shape of pooling: an odd height pooled by 3, a block without pooling
    "odd": ModelConfig(
        height=24,
        conv_filters=(8, 8, 12, 16),
        pools=((2, 2), (1, 1), (2, 2), (3, 1)),
        rnn_units=12,
        rnn_layers=2,
        rnn_residual=0,
        num_classes=30,
    ),
}


@pytest.mark.parametrize(("arch", "dtype"), [("residual", "float32"), ("residual", "int8"), ("odd", "float16")])
def test_the_graph_gives_the_keras_models_logits(tmp_path, arch, dtype):
    config = ARCHITECTURES[arch]
    random_bundle(tmp_path / "m", config, dtype)
    keras_model = load_bundle(tmp_path / "m").model  # as loaded: what the TF backend runs
    onnx = OnnxBackend.for_bundle(load_bundle(tmp_path / "m", build=False))
    rng = np.random.default_rng(1)
    for width in (5, 33, 64, 130):  # odd widths: "same" pooling pads at the end
        x = rng.random((3, config.height, width, 1)).astype(np.float32)
        want = np.asarray(keras_model.predict_on_batch(x))
        got = onnx.logits(x)
        assert got.shape == want.shape == (3, (width + 3) // 4, config.num_classes)
        assert np.abs(got - want).max() < 1e-4 * max(1.0, np.abs(want).max())


def test_tf_and_onnx_read_the_same_texts_with_the_bundled_model(bundled):
    images = crops()
    tf = Predictor.from_bundle(bundled, backend="tf")
    onnx = Predictor.from_bundle(bundled, backend="onnx")
    assert isinstance(tf.backend, KerasBackend) and isinstance(onnx.backend, OnnxBackend)
    arrays = [normalize(im, bundled.preprocess).image for im in images]
    assert len({a.shape[1] for a in arrays}) == len(arrays)  # all widths differ
    for a, b in zip(tf.probabilities(arrays), onnx.probabilities(arrays), strict=True):
        assert a.shape == b.shape and np.abs(a - b).max() < 1e-4
    read_tf, read_onnx = tf.predict(images), onnx.predict(images)
    assert [r.text for r in read_tf] == [r.text for r in read_onnx]
    assert read_tf[0].text == "There are two basic points"
    assert np.allclose([r.confidence for r in read_tf], [r.confidence for r in read_onnx], atol=1e-3)
    beam = DecoderOptions("beam")
    tf_beam = Predictor.from_bundle(bundled, backend=tf.backend, decoder=beam)
    onnx_beam = Predictor.from_bundle(bundled, backend=onnx.backend, decoder=beam)
    assert [r.text for r in tf_beam.predict(images)] == [r.text for r in onnx_beam.predict(images)]


def test_the_int8_graph_reads_nearly_as_the_float_one(bundled, cache):
    import onnx

    images = crops()
    f32 = Predictor.from_bundle(bundled, backend="onnx")
    q8 = Predictor.from_bundle(bundled, backend="onnx-int8")
    assert q8.backend.name == "onnx-int8"
    arrays = [normalize(im, bundled.preprocess).image for im in images]
    moved = [np.abs(a - b).mean() for a, b in zip(f32.probabilities(arrays), q8.probabilities(arrays), strict=True)]
    assert max(moved) < 0.01, moved
    texts = [(a.text, b.text) for a, b in zip(f32.predict(images), q8.predict(images))]
    assert texts[0] == ("There are two basic points",) * 2
    assert sum(a == b for a, b in texts) >= len(texts) - 2, texts
    key = onnx_export.weights_key(bundled.path)
    plain, int8 = cache / f"{key}.onnx", cache / f"{key}-int8.onnx"
    assert int8.stat().st_size < plain.stat().st_size / 3
    ops = {n.op_type for n in onnx.load(str(int8)).graph.node}
    assert {"QLinearConv", "DynamicQuantizeLSTM", "MatMulInteger"} <= ops and not ops & {"Conv", "LSTM", "MatMul"}


def test_graphs_are_cached_by_weights(tmp_path, monkeypatch):
    config = ARCHITECTURES["residual"]
    random_bundle(tmp_path / "a", config, "float32", seed=0)
    random_bundle(tmp_path / "b", config, "float32", seed=1)
    first = onnx_export.cached_model(tmp_path / "a", cache=tmp_path / "cache")
    assert isinstance(first, Path) and first.parent == tmp_path / "cache"
    assert onnx_export.cached_model(tmp_path / "b", cache=tmp_path / "cache") != first  # other weights, other graph

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_export, "export", no_export)
    assert onnx_export.cached_model(tmp_path / "a", cache=tmp_path / "cache") == first
    monkeypatch.undo()
    # A cache that cannot be written: the graph comes back as bytes, and runs.
    (tmp_path / "not-a-folder").write_text("")
    data = onnx_export.cached_model(tmp_path / "a", cache=tmp_path / "not-a-folder")
    assert isinstance(data, bytes)
    x = np.random.default_rng(0).random((1, config.height, 40, 1)).astype(np.float32)
    assert np.array_equal(OnnxBackend(data).logits(x), OnnxBackend(first).logits(x))
    # Written ahead of use, to a file of one's choosing.
    onnx_export.main([str(tmp_path / "a"), "--output", str(tmp_path / "a.onnx")])
    assert (tmp_path / "a.onnx").read_bytes() == first.read_bytes()


@pytest.mark.parametrize(("dtype", "change"), [("float32", {"rnn_residual": 2}), ("int8", {"num_classes": 100})])
def test_a_weights_file_of_another_architecture_is_a_clear_error(tmp_path, dtype, change):
    random_bundle(tmp_path / "m", ARCHITECTURES["residual"], dtype)
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    meta["model"].update(change)
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(onnx_export.OnnxExportError, match="the architecture in model.json"):
        onnx_export.export(tmp_path / "m")


def test_the_backend_setting(monkeypatch):
    from worker.settings import BACKENDS as SETTING_VALUES
    from worker.settings import Settings, SettingsError

    assert SETTING_VALUES == BACKENDS
    assert Settings.from_env({}).backend == "onnx"  # it reads every test set as tf does
    assert Settings.from_env({"HTR_BACKEND": "TF"}).backend == "tf"
    with pytest.raises(SettingsError, match="HTR_BACKEND"):
        Settings.from_env({"HTR_BACKEND": "torch"})


def run_htr(args: list[str], env: dict) -> tuple[subprocess.CompletedProcess, dict]:
    """``htr ARGS`` in a fresh interpreter; also which of TensorFlow, Keras and ONNX Runtime it imported."""
    code = (
        "import json, sys\n"
        "from worker.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "sys.stdout.flush()\n"
        "print(json.dumps({m: m in sys.modules for m in ('tensorflow', 'keras', 'onnxruntime')}), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, env={**os.environ, **env}, timeout=300
    )
    return res, json.loads(res.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("how", ["flag", "setting"])
def test_htr_recognize_with_onnx_does_not_import_tensorflow(tmp_path, how):
    labels = dict(line.split("\t") for line in (ROOT / "examples" / "labels.tsv").read_text().splitlines())
    files = [f"examples/{name}" for name in labels]
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    args = ["recognize", *files]
    if how == "flag":
        args += ["--backend", "onnx"]
        env["HTR_BACKEND"] = "tf"  # the flag wins
    else:
        env["HTR_BACKEND"] = "onnx"
    res, imported = run_htr(args, env)
    assert res.returncode == 0, res.stderr
    assert imported == {"tensorflow": False, "keras": False, "onnxruntime": True}
    rows = [r.split("\t") for r in res.stdout.splitlines()]
    assert [(path, text) for path, text, _ in rows] == [(f, labels[Path(f).name]) for f in files]
    again, _ = run_htr(args, env)  # the cached graph
    assert again.stdout == res.stdout


def test_htr_evaluate_takes_a_backend(tmp_path):
    res, imported = run_htr(["evaluate", "examples", "--backend", "onnx"], {"XDG_CACHE_HOME": str(tmp_path)})
    assert res.returncode == 0, res.stderr
    assert not imported["tensorflow"]
    assert json.loads(res.stdout)["examples"]["cer"] == 0.0


def test_recognition_loads_a_bundle_without_keras():
    code = (
        "import sys\n"
        "from recognition.bundle import load_bundle\n"
        "from recognition.predictor import Predictor\n"
        "b = load_bundle(build=False)\n"
        "assert b.model is None and b.lm is not None\n"
        "assert not any(m in sys.modules for m in ('keras', 'tensorflow')), 'keras imported'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert load_bundle(default_model_path(), build=False, language=False).lm is None


def test_htr_process_reads_with_onnx_without_tensorflow_as_tf_does(tmp_path):
    texts = {}
    for backend in ("onnx", "tf"):
        env = {
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "HTR_DATABASE_URL": f"sqlite:///{tmp_path / backend}.sqlite",
            "HTR_STORE_URL": f"file://{tmp_path / backend}-store",
            "HTR_BACKEND": backend,
        }
        res, imported = run_htr(["process", "examples/letter.pdf"], env)
        assert res.returncode == 0 and "document 1 done, 2 pages" in res.stdout, res.stderr
        assert imported["tensorflow"] == (backend == "tf") and imported["onnxruntime"] == (backend == "onnx")
        export, _ = run_htr(["export", "1", "--format", "txt"], env)
        texts[backend] = export.stdout
    assert texts["onnx"] == texts["tf"] and "Bulgaria, Poland, and" in texts["onnx"]
