"""OmegaConf resolvers that ``conf/`` uses, registered before Hydra composes it.

``${nst.unique_dir:<path>}`` names run and sweep folders: ``<path>``, or ``<path>_2`` ... when
another command has it (``folders.py``). Cached, as Hydra's ``${now:...}`` is, so a command and
its jobs agree on one folder.

``${nst.promotions:<tune.promote>,<tune.preview_size>,<image.size>}`` is the search preset's
``hydra.sweeper.promote``: ``tune.promote``, or 0 when trials render at ``image.size`` already
and there is nothing to promote them to. Another Hydra app using the presets imports this
module (as the sweeper tests' toy app does).
"""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

from nst_sweep.folders import unique_dir
from nst_sweep.settings import ImageSettings, TuneSettings
from nst_sweep.tune import promotion_count


def _promotions(promote: Any, preview_size: Any, size: Any) -> int:
    tune = TuneSettings.from_mapping({"promote": promote, "preview_size": preview_size})
    return promotion_count(tune, ImageSettings.from_mapping({"size": size}).size)


def register_resolvers() -> None:
    """Register the ``nst.*`` resolvers (once per process: a cached one must keep its cache)."""
    if not OmegaConf.has_resolver("nst.unique_dir"):
        OmegaConf.register_new_resolver("nst.unique_dir", unique_dir, use_cache=True)
    if not OmegaConf.has_resolver("nst.promotions"):
        OmegaConf.register_new_resolver("nst.promotions", _promotions)


register_resolvers()
