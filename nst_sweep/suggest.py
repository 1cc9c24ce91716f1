"""The closest valid key for a mistyped one (``optimizer.step=10`` -> ``optimizer.steps=10``).

Hydra says only ``Key 'step' is not in struct``; the keys of the composed config (composed
again, without the override that failed) are compared with ``difflib``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

# "Key 'step' is not in struct"; under hydra.sweeper: "Key 'n_trial' not in 'BasicSweeperConf'"
_NOT_IN_STRUCT = re.compile(r"Could not override '([^']+)'.*Key '[^']+' (is )?not in ", re.DOTALL)


def unknown_key_message(text: str, arguments: Sequence[str], config_dir: str) -> str | None:
    """One line with the fix for Hydra's "Could not override 'k'" error, else None."""
    found = _NOT_IN_STRUCT.search(text)
    if found is None:
        return None
    key = found.group(1)
    override = next((a for a in arguments if a.split("=", 1)[0].lstrip("+~") == key), key)
    value = override.split("=", 1)[1] if "=" in override else None
    others = [a for a in arguments if a != override and not a.startswith("-")]
    shown = override if value is not None else key
    return f"{shown}: no such key; {did_you_mean(key, value, known_keys(config_dir, others))}"


def closest_key(key: str, keys: Sequence[str]) -> str | None:
    """The key most like ``key``: a sibling by its last name first (``optimizer.step``), then
    any key by its whole path (``optimzer.steps``), more strictly."""
    group, _, leaf = key.rpartition(".")
    siblings = {k.rpartition(".")[2]: k for k in keys if k.rpartition(".")[0] == group}
    match = difflib.get_close_matches(leaf, list(siblings), n=1, cutoff=0.6)
    if match:
        return siblings[match[0]]
    match = difflib.get_close_matches(key, list(keys), n=1, cutoff=0.85)
    return match[0] if match else None


def did_you_mean(key: str, value: str | None, keys: Sequence[str]) -> str:
    """The fix for an unknown ``key``: the closest key, or where the keys are listed."""
    close = closest_key(key, keys)
    if close is not None:
        return f"did you mean {close if value is None else f'{close}={value}'}?"
    listing = "--cfg hydra" if key.startswith("hydra.") else "--cfg job"
    return f"nst-sweep {listing} lists the keys (add a new one with +{key}=...)"


def config_keys(cfg: Any) -> list[str]:
    """Every dotted key of a config (a DictConfig or a mapping), unresolved."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=False)
    return list(_dotted(cfg))


def known_keys(config_dir: str, overrides: Sequence[str]) -> list[str]:
    """Every dotted key of the composed config (``hydra.*`` included)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
        try:
            cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
        except Exception:  # another override is wrong too: the defaults' keys still help
            cfg = compose("config", return_hydra_config=True)
    return config_keys(cfg)


def _dotted(node: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for name, value in node.items():
        key = f"{prefix}{name}"
        yield key
        if isinstance(value, Mapping):
            yield from _dotted(value, f"{key}.")
