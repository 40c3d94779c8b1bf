import keras
import numpy as np

from recognition.adapt import adapt_batchnorm, batchnorm_state, restore_batchnorm
from recognition.model import ModelConfig, build_crnn


def _model():
    return build_crnn(
        ModelConfig(height=16, conv_filters=(4, 8), pools=((2, 2), (2, 2)), rnn_units=8, rnn_layers=1, num_classes=5)
    )


def test_batchnorm_statistics_move_to_the_documents_and_back():
    model = _model()
    rng = np.random.default_rng(0)
    crops = [rng.uniform(0.5, 1.0, (16, int(w))).astype(np.float32) for w in rng.integers(20, 60, 6)]
    trained = batchnorm_state(model)
    adapt_batchnorm(model, crops, alpha=1.0)
    # bn0 sees conv0's output: its moving mean is now that output's mean over
    # every pixel of every crop (each at its own width, no padding).
    probe = keras.Model(model.input, model.get_layer("conv0").output)
    acts = np.concatenate([keras.ops.convert_to_numpy(probe(c[None, :, :, None])).reshape(-1, 4) for c in crops])
    np.testing.assert_allclose(model.get_layer("bn0").moving_mean.numpy(), acts.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.get_layer("bn0").moving_variance.numpy(), acts.var(0), rtol=1e-3, atol=1e-5)
    restore_batchnorm(model, trained)
    for (m0, v0), (m1, v1) in zip(trained, batchnorm_state(model)):
        assert np.array_equal(m0, m1) and np.array_equal(v0, v1)


def test_half_way_adaptation_blends_the_statistics():
    a, b = _model(), _model()
    b.set_weights(a.get_weights())
    crops = [np.full((16, 30), 0.8, np.float32)]
    before = batchnorm_state(a)[0][0]
    adapt_batchnorm(a, crops, alpha=1.0)
    adapt_batchnorm(b, crops, alpha=0.5)
    np.testing.assert_allclose(batchnorm_state(b)[0][0], 0.5 * before + 0.5 * batchnorm_state(a)[0][0], rtol=1e-4, atol=1e-6)
