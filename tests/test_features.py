"""VGG19 loading (random, file, imagenet offline), preprocessing, truncation."""

import keras
import numpy as np
import pytest

from nst_sweep.errors import UserError
from nst_sweep.features import (
    FeatureExtractor,
    deprocess,
    keras_cache_dir,
    load_vgg19,
    preprocess,
    truncated_network,
)


def test_preprocess_by_hand_and_round_trip():
    rgb = np.array([[[1.0, 0.0, 0.5]]], np.float32)
    # BGR order, 0-255, minus the BGR means [103.939, 116.779, 123.68]
    expected = [127.5 - 103.939, 0.0 - 116.779, 255.0 - 123.68]
    np.testing.assert_allclose(preprocess(rgb).numpy()[0, 0], expected, rtol=1e-6)
    img = np.random.default_rng(0).random((4, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(deprocess(preprocess(img).numpy()), img, atol=1e-5)


def test_network_is_cut_after_deepest_layer(vgg_random):
    model = truncated_network(vgg_random, ["block2_conv1", "block1_conv2"])
    names = [layer.name for layer in model.layers]
    assert names[-1] == "block2_conv1" and "block2_conv2" not in names
    feats = FeatureExtractor(vgg_random, ["block2_conv1", "block1_conv2"])(np.zeros((32, 32, 3)))
    assert [tuple(f.shape) for f in feats] == [(1, 16, 16, 128), (1, 32, 32, 64)]


def test_avg_pooling_changes_deeper_features_only(vgg_random):
    img = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    layers = ["block1_conv2", "block2_conv1"]
    max_feats = FeatureExtractor(vgg_random, layers, "max")(img)
    avg_feats = FeatureExtractor(vgg_random, layers, "avg")(img)
    np.testing.assert_allclose(max_feats[0], avg_feats[0])
    assert not np.allclose(max_feats[1], avg_feats[1])


def test_random_weights_are_seeded():
    a, b, c = load_vgg19("random", 3), load_vgg19("random", 3), load_vgg19("random", 4)
    np.testing.assert_array_equal(a.layers[1].get_weights()[0], b.layers[1].get_weights()[0])
    assert not np.array_equal(a.layers[1].get_weights()[0], c.layers[1].get_weights()[0])


def test_random_weights_leave_global_random_state_alone():
    import random

    python_state, numpy_state = random.getstate(), np.random.get_state()
    model = load_vgg19("random", 7)
    assert random.getstate() == python_state
    after = np.random.get_state()
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1])
    # Keras' Glorot-uniform: U(-l, l) with l = sqrt(6 / (fan_in + fan_out)), zero biases.
    kernel, bias = model.get_layer("block3_conv1").get_weights()
    limit = np.sqrt(6.0 / (3 * 3 * 128 + 3 * 3 * 256))
    assert np.abs(kernel).max() <= limit
    assert abs(kernel.std() - limit / np.sqrt(3.0)) < 0.01 * limit
    assert not bias.any()


def test_weights_file_loads(weights_file, vgg_random):
    loaded = load_vgg19(str(weights_file))
    np.testing.assert_array_equal(
        loaded.get_layer("block5_conv4").get_weights()[0],
        vgg_random.get_layer("block5_conv4").get_weights()[0],
    )


def test_weights_file_errors(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        load_vgg19(str(tmp_path / "missing.weights.h5"))
    (tmp_path / "w.bin").write_bytes(b"x")
    with pytest.raises(UserError, match=r"not an \.h5 file"):
        load_vgg19(str(tmp_path / "w.bin"))
    small = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="block1_conv1")])
    small.save_weights(str(tmp_path / "small.weights.h5"))
    with pytest.raises(UserError, match="does not fit VGG19"):
        load_vgg19(str(tmp_path / "small.weights.h5"))


def test_imagenet_offline_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    assert keras_cache_dir() == tmp_path / "keras-home" / "models"

    def no_network(*args, **kwargs):
        raise Exception("URL fetch failure: no network")  # what Keras raises offline

    monkeypatch.setattr(keras.applications.VGG19.__globals__["file_utils"], "get_file", no_network)
    with pytest.raises(UserError) as info:
        load_vgg19("imagenet")
    message = str(info.value)
    assert "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert str(tmp_path / "keras-home" / "models") in message
    assert "model.weights=random" in message
