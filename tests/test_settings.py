"""Settings: conf/ and the dataclass defaults agree, parsing validates, one object per run."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from nst_sweep.errors import UserError
from nst_sweep.settings import OPTIMIZERS, OptimizerSettings, RunSettings, TrackingSettings

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")


def composed(*overrides: str) -> dict[str, Any]:
    """``conf/`` composed as the command line does, unresolved (output names Hydra's run dir)."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=False)  # type: ignore[return-value]


def settings_value(settings: RunSettings, dotted: str) -> Any:
    """The settings field a config key lands in (model.* -> transfer.model.*, ...)."""
    head = dotted.split(".")[0]
    node: Any = settings
    if head in ("model", "layers", "loss", "optimizer", "image", "seed"):
        node = settings.transfer
    for part in dotted.split("."):
        node = getattr(node, part)
    value = node
    return list(value) if isinstance(value, tuple) else value


def leaves(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            out.update(leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_conf_defaults_equal_settings_from_an_empty_mapping(optimizer: str) -> None:
    config = composed(f"optimizer={optimizer}")
    config.pop("output")  # ${hydra:runtime.output_dir}/result.png: only a Hydra run has one
    from_conf = RunSettings.from_mapping(config)
    from_code = RunSettings.from_mapping({"optimizer": {"name": optimizer}})
    assert from_conf == from_code
    # Every key written in conf/ reaches a settings field with the same value (none ignored).
    for key, value in leaves(config).items():
        assert settings_value(from_code, key) == value, key


def test_each_optimizer_has_its_own_defaults() -> None:
    assert OptimizerSettings.defaults("sgd").lr == 1e-8
    assert OptimizerSettings.defaults("adam").lr == 0.02
    assert OptimizerSettings.defaults("lbfgs").steps == 100
    # A value given explicitly wins over the optimizer's default.
    assert OptimizerSettings.from_mapping({"name": "sgd", "lr": 0.5}).lr == 0.5


def test_tracking_none_only_turns_tracking_off() -> None:
    tracking = TrackingSettings.from_mapping(composed("tracking=none"))
    assert tracking == TrackingSettings(enabled=False)


@pytest.mark.parametrize(
    ("mapping", "key"),
    [
        ({"output": "out.gif"}, "output="),
        ({"progress": "maybe"}, "progress=maybe"),
        ({"tracking": {"image_every": -1}}, "tracking.image_every=-1"),
        ({"tracking": {"flush_every": 0}}, "tracking.flush_every=0"),
        ({"tracking": {"uri": ""}}, "tracking.uri"),
        ({"score": {"every": 2.5}}, "score.every=2.5"),
        ({"score": {"enabled": "perhaps"}}, "score.enabled=perhaps"),
        ({"optimizer": {"name": "rmsprop"}}, "optimizer=rmsprop"),
        ({"optimizer": {"name": "sgd", "momentum": 1.0}}, "optimizer.momentum=1.0"),
        ({"loss": 3}, "loss=3"),
        ({"seed": -1}, "seed=-1"),
        ({"image": {"size": 64, "levels": 3}}, "image.levels=3: the coarsest level would be 16"),
        ({"image": {"levels": 2}, "optimizer": {"level_steps": [5]}}, "optimizer.level_steps"),
        ({"loss": {"style_layer_weights": [1, 1]}}, "loss.style_layer_weights has 2 entries"),
        ({"loss": {"style_blend": [1, 0]}}, "loss.style_blend has 2 weights for 1 style"),
        ({"loss": {"style_blend": [0, 0]}, "style": ["a", "b"]}, "loss.style_blend=[0, 0]"),
        ({"image": {"init": "nowhere.png"}}, "image.init=nowhere.png"),
        ({"image": {"preserve_colors": "sepia"}}, "image.preserve_colors=sepia"),
        ({"style": []}, "style=[]"),
    ],
)
def test_bad_values_name_their_key(mapping: dict[str, Any], key: str) -> None:
    with pytest.raises(UserError) as caught:
        RunSettings.from_mapping(mapping)
    message = str(caught.value)
    assert key in message and "\n" not in message


def test_settings_are_plain_data() -> None:
    settings = RunSettings.from_mapping({"content": "chelsea", "seed": 3})
    assert settings.seed == 3 and settings.content == "chelsea"
    assert asdict(settings)["transfer"]["optimizer"]["name"] == "adam"
