"""VGG19 feature extraction: weights loading, the paper's preprocessing, a network cut to size."""

from __future__ import annotations

import random
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from nst_sweep.cache import Cache
from nst_sweep.errors import UserError, first_line
from nst_sweep.settings import VGG19_CONV_LAYERS
from nst_sweep.weights import (
    IMAGENET_NOTOP_FILE,
    IMAGENET_NOTOP_URL,
    check_weights,
    keras_cache_dir,
)

# ImageNet channel means in BGR order, as VGG was trained (and as the paper states).
VGG_MEAN_BGR = (103.939, 116.779, 123.68)


def preprocess(image: tf.Tensor) -> tf.Tensor:
    """RGB in [0, 1] (..., H, W, 3) -> what VGG19 expects: BGR, 0-255, mean-subtracted."""
    bgr = tf.reverse(tf.cast(image, tf.float32), axis=[-1]) * 255.0
    return bgr - tf.constant(VGG_MEAN_BGR, dtype=tf.float32)


def deprocess(network_image: np.ndarray | tf.Tensor) -> np.ndarray:
    """Inverse of ``preprocess``: network input back to RGB float32 in [0, 1] (not clipped)."""
    bgr = np.asarray(network_image, dtype=np.float32) + np.asarray(VGG_MEAN_BGR, np.float32)
    return bgr[..., ::-1] / 255.0


def _imagenet_vgg19(key: str) -> keras.Model:
    try:
        return keras.applications.VGG19(weights="imagenet", include_top=False)
    except Exception as exc:  # Keras raises a bare Exception for a failed download.
        target = keras_cache_dir() / IMAGENET_NOTOP_FILE
        raise UserError(
            f"{key}=imagenet: cannot get the VGG19 ImageNet weights ({type(exc).__name__}, "
            f"offline?); download {IMAGENET_NOTOP_URL} to {target}, or pass {key}=random "
            f"or {key}=/path/to/vgg19.weights.h5"
        ) from exc


def _file_vgg19(path: Path, key: str) -> keras.Model:
    check_weights(str(path), key)
    model = keras.applications.VGG19(weights=None, include_top=False)
    try:
        _load_strictly(model, path)
        return model
    except Exception as notop_error:
        # A file saved from VGG19(include_top=True) holds the same conv weights plus the
        # classifier; load it into the full network and keep the conv layers.
        try:
            full = keras.applications.VGG19(weights=None, include_top=True)
            _load_strictly(full, path)
        except Exception:
            reason = first_line(notop_error, 160).split(". ")[0]
            raise UserError(
                f"{key}={path}: does not fit VGG19 ({reason}); pass weights saved "
                "from keras.applications.VGG19, or imagenet or random"
            ) from notop_error
        for layer in model.layers:
            if layer.weights:
                layer.set_weights(full.get_layer(layer.name).get_weights())
        return model


def _load_strictly(model: keras.Model, path: Path) -> None:
    """``load_weights`` that fails instead of warning when part of the file does not match.

    Keras only warns ("Affected layers will retain their freshly-initialized weights") for some
    mismatches; a half-random VGG19 would quietly ruin every result.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load_weights(str(path))
    skipped = [w for w in caught if "freshly-initialized" in str(w.message)]
    if skipped:
        raise ValueError(f"{len(skipped)} parts of the network are not in the file")


def load_vgg19(weights: str, seed: int = 0, key: str = "model.weights") -> keras.Model:
    """The convolutional part of VGG19 with ``imagenet``, ``random`` (seeded) or file weights.

    ``key`` is the setting the user typed, so that errors name it (``--weights`` in nst-score).
    """
    if weights == "imagenet":
        return _imagenet_vgg19(key)
    if weights == "random":
        return _random_vgg19(seed)
    return _file_vgg19(Path(weights).expanduser(), key)


def _random_vgg19(seed: int) -> keras.Model:
    """VGG19 with Keras' own initialisation (Glorot-uniform kernels, zero biases), drawn from a
    local generator: the same seed gives the same network, and no global seed of Python, NumPy,
    TensorFlow or Keras is touched.
    """
    # Keras seeds each unseeded initializer from Python's global `random` while it builds the
    # network; those draws are overwritten below, so the global stream is put back as it was.
    python_random = random.getstate()
    try:
        model = keras.applications.VGG19(weights=None, include_top=False)
    finally:
        random.setstate(python_random)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Conv2D):
            continue
        kernel, bias = layer.get_weights()
        fan_in = int(np.prod(kernel.shape[:-1]))  # kernel height x width x input channels
        fan_out = int(np.prod(kernel.shape[:-2])) * kernel.shape[-1]
        limit = np.sqrt(6.0 / (fan_in + fan_out))  # Glorot & Bengio (2010), as Keras draws it
        new_kernel = rng.uniform(-limit, limit, size=kernel.shape).astype(np.float32)
        layer.set_weights([new_kernel, np.zeros_like(bias)])
    return model


def truncated_network(vgg: keras.Model, layers: Sequence[str], pooling: str = "max") -> keras.Model:
    """A model from a preprocessed image to the outputs of ``layers`` (in the given order).

    The graph stops at the deepest requested layer, so deeper convolutions cost nothing.
    ``pooling="avg"`` swaps max pooling for average pooling, as Gatys et al. suggest.
    """
    unknown = [name for name in layers if name not in VGG19_CONV_LAYERS]
    if unknown:
        raise UserError(f"unknown VGG19 layer(s) {unknown}; use block1_conv1 .. block5_conv4")
    deepest = max(VGG19_CONV_LAYERS.index(name) for name in layers)
    last_needed = VGG19_CONV_LAYERS[deepest]
    inputs = keras.Input(shape=(None, None, 3), name="vgg_input")
    x, outputs = inputs, {}
    for layer in vgg.layers[1:]:
        if isinstance(layer, keras.layers.MaxPooling2D) and pooling == "avg":
            x = keras.layers.AveragePooling2D(2, 2, name=layer.name)(x)
        else:
            x = layer(x)
        outputs[layer.name] = x
        if layer.name == last_needed:
            break
    model = keras.Model(inputs, [outputs[name] for name in layers], name="vgg19_features")
    model.trainable = False
    return model


class FeatureExtractor:
    """Maps RGB [0, 1] images (H, W, 3) or (B, H, W, 3) to VGG19 feature maps of ``layers``."""

    def __init__(self, vgg: keras.Model, layers: Sequence[str], pooling: str = "max"):
        self.network = vgg  # kept alive: caches key extractors by the network's identity
        self.layers = tuple(layers)
        self.model = truncated_network(vgg, self.layers, pooling)

    def __call__(self, image: tf.Tensor | np.ndarray) -> list[tf.Tensor]:
        image = tf.convert_to_tensor(image, dtype=tf.float32)
        batched = image if image.shape.rank == 4 else image[tf.newaxis]
        outputs = self.model(preprocess(batched), training=False)
        return list(outputs) if isinstance(outputs, list | tuple) else [outputs]


# Kept per process, so that the jobs of a sweep build each network and cut of it once.
NETWORKS: Cache[keras.Model] = Cache(kept=2)
EXTRACTORS: Cache[FeatureExtractor] = Cache(kept=8)


def _network_key(weights: str, seed: int) -> tuple[Any, ...]:
    """What identifies a network: a file by its path, size and time (it may be rewritten)."""
    if weights in ("imagenet", "random"):
        return (weights, seed if weights == "random" else None)
    path = Path(weights).expanduser()
    stat = path.stat() if path.is_file() else None
    return (str(path.resolve()), stat and (stat.st_size, stat.st_mtime_ns))


def cached_vgg19(weights: str, seed: int = 0, key: str = "model.weights") -> keras.Model:
    """``load_vgg19``, loaded once per process for the same weights (and seed, for random)."""
    return NETWORKS.get(_network_key(weights, seed), lambda: load_vgg19(weights, seed, key))


def cached_extractor(
    weights: str, seed: int, layers: Sequence[str], pooling: str = "max", key: str = "model.weights"
) -> FeatureExtractor:
    """A ``FeatureExtractor`` of ``cached_vgg19``, built once per layer set and pooling."""
    network = cached_vgg19(weights, seed, key)
    # The network object is part of the key: a network loaded anew gets new extractors.
    return EXTRACTORS.get(
        (id(network), tuple(layers), pooling), lambda: FeatureExtractor(network, layers, pooling)
    )


def device_name() -> str:
    """``CPU`` or the name of the first GPU TensorFlow sees (where the step will run)."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    details = tf.config.experimental.get_device_details(gpus[0])
    return str(details.get("device_name", gpus[0].name))
