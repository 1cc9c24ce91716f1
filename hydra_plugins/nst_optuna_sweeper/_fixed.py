"""``fixed_per_study``: values a study is made for, kept in it; another launch's differ -> refused.

A study compares its trials' values, which only mean the same for the same question (an app's
images and sizes, say). The first launch stores the values in the study's user attr
``fixed_per_study``; a launch of the same study with other values is refused in one line naming
the study and the difference, before the sweep (``check_config``) and again when it opens.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._settings import Settings, SweeperConfigError
from .secrets import redact

log = logging.getLogger(__name__)

FIXED_ATTR = "fixed_per_study"


def check_fixed(study: Any, fixed: Mapping[str, str] | None, *, store: bool = True) -> None:
    """Refuse a study made for other values; store them in a study that has none yet."""
    if not fixed:
        return
    kept = study.user_attrs.get(FIXED_ATTR)
    if kept is None:
        if store:
            study.set_user_attr(FIXED_ATTR, dict(fixed))
        return
    differ = [
        f"{key}={fixed.get(key)} (the study's: {value})"
        for key, value in kept.items()
        if fixed.get(key) != value
    ]
    if differ:
        raise SweeperConfigError(
            f"hydra.sweeper.study_name={study.study_name}: this study was made for other values; "
            f"this launch has {', '.join(differ)}; its scores would not compare: pass another "
            "hydra.sweeper.study_name, or the study's values"
        )


def check_stored(settings: Settings, base_dir: str | Path) -> None:
    """``check_fixed`` against a study already in a sqlite file, without creating anything."""
    from ._study import _sqlite_path, load_existing_study, resolve_storage_url

    if not settings.fixed_per_study or settings.storage is None or settings.study_name is None:
        return
    path = _sqlite_path(resolve_storage_url(settings.storage, base_dir))
    if path is None or not path.is_file():  # a server is reached only by the sweep itself
        return
    try:
        study = load_existing_study(settings.storage, settings.study_name, base_dir)
    except Exception as exc:  # an old or busy file: the sweep opens it with retries, checks then
        log.debug(
            "fixed_per_study of %s: checked when the sweep opens it (%s)",
            settings.study_name,
            redact(str(exc)),
        )
        return
    if study is not None:  # None: no such study yet
        check_fixed(study, settings.fixed_per_study, store=False)
