"""OmegaConf resolvers that ``conf/`` uses, registered before Hydra composes it.

``${nst.unique_dir:<path>}`` names run and sweep folders: ``<path>``, or ``<path>_2`` ... when
another command has it (``folders.py``). Cached, as Hydra's ``${now:...}`` is, so a command and
its jobs agree on one folder.

``${nst.promotions:<tune.promote>,<tune.preview_size>,<image.size>}`` is the search preset's
``hydra.sweeper.promote``: ``tune.promote``, or 0 when trials render at ``image.size`` already
and there is nothing to promote them to. Another Hydra app using the presets imports this
module (as the sweeper tests' toy app does).

``${nst.study:<prefix>,<content>,<style>,<image.size>,<tune.preview_size>,<scorer>}`` is the
search presets' default study name: one study per question, since scores compare only for the
same images, size, trial size and scoring network, e.g. ``nst-sweep-astronaut-the_scream-256px``
(``-preview64`` / ``-full`` for a set trial size, ``-random`` for another scoring network).
``${nst.scorer:<score.weights>,<model.weights>}`` is the scoring network's weights.

``${nst.part:<optimizer.steps>,<n>}`` is the search preset's ``score.every``: the steps split in
``n`` parts (at least 1 step), so a trial reports ``n - 1`` scores before its last step, whatever
its step count, and the pruner, whose first cut is at one report, can stop it early.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from omegaconf import ListConfig, OmegaConf

from nst_sweep.checks import as_integer
from nst_sweep.folders import unique_dir
from nst_sweep.settings import PREVIEW_AUTO, ImageSettings, TuneSettings
from nst_sweep.tune import promotion_count


def _promotions(promote: Any, preview_size: Any, size: Any) -> int:
    tune = TuneSettings.from_mapping({"promote": promote, "preview_size": preview_size})
    return promotion_count(tune, ImageSettings.from_mapping({"size": size}).size)


def _part(steps: Any, parts: Any) -> int:
    whole = as_integer(steps, "optimizer.steps", 1)
    return max(1, whole // as_integer(parts, "nst.part", 1))


def _stem(value: Any) -> str:
    """A short name for an image (or list of images): a sample's name, a file's stem."""
    if isinstance(value, ListConfig | list | tuple):
        return "+".join(_stem(v) for v in value)
    return re.sub(r"[^\w.+-]+", "_", Path(str(value)).stem) or "image"


def _study(prefix: Any, content: Any, style: Any, size: Any, preview: Any, scorer: Any) -> str:
    name = f"{prefix}-{_stem(content)}-{_stem(style)}-{size}px"
    if preview is None:
        name += "-full"
    elif str(preview) != PREVIEW_AUTO:
        name += f"-preview{preview}"
    return name if str(scorer) == "imagenet" else f"{name}-{_stem(scorer)}"


def _scorer(score_weights: Any, model_weights: Any) -> str:
    return str(score_weights or model_weights)


def register_resolvers() -> None:
    """Register the ``nst.*`` resolvers (once per process: a cached one must keep its cache)."""
    if not OmegaConf.has_resolver("nst.unique_dir"):
        OmegaConf.register_new_resolver("nst.unique_dir", unique_dir, use_cache=True)
    if not OmegaConf.has_resolver("nst.promotions"):
        OmegaConf.register_new_resolver("nst.promotions", _promotions)
    if not OmegaConf.has_resolver("nst.part"):
        OmegaConf.register_new_resolver("nst.part", _part)
    if not OmegaConf.has_resolver("nst.study"):
        OmegaConf.register_new_resolver("nst.study", _study)
    if not OmegaConf.has_resolver("nst.scorer"):
        OmegaConf.register_new_resolver("nst.scorer", _scorer)


register_resolvers()
