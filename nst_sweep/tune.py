"""Preview-and-promote: what a search's trials and promotions render (``tune.*``).

A search that renders every trial at the final size costs one full render per trial. Instead
each trial renders a single-scale *preview* at ``tune.preview_size`` (by default a quarter of
``image.size``), and after the trials the best ``tune.promote`` of them are *promoted*: rendered
at ``image.size`` as the rest of an image pyramid whose first level is the trial's preview
(``image.init=<preview>``). The preview is that pyramid's coarsest level, so a promotion costs
what the finer levels of a multi-scale render cost. Both need ``loss.normalize=true``, under
which the weights mean the same at the preview's size and at the final one (``losses.py``).

The pyramid: ``L = round(log2(image.size / preview))`` promotion levels (at least one) above
the preview; the steps follow the default multi-scale schedule (``steps``, ``steps // 3``, ...)
with the preview taking the first entry, ``optimizer.steps``.
"""

from __future__ import annotations

import math
from dataclasses import replace

from nst_sweep.errors import UserError
from nst_sweep.settings import MIN_SIZE, PREVIEW_AUTO, RunSettings, TuneSettings

PREVIEW_FRACTION = 4  # tune.preview_size=auto: a quarter of image.size


def preview_side(tune: TuneSettings, size: int) -> int | None:
    """The side trials render at, or None when they render at ``size`` (no previews)."""
    if tune.preview_size is None:
        return None
    if tune.preview_size == PREVIEW_AUTO:
        side = max(MIN_SIZE, round(size / PREVIEW_FRACTION))
    else:
        side = int(tune.preview_size)
    return side if side < size else None


def promotion_count(tune: TuneSettings, size: int) -> int:
    """Trials to promote: ``tune.promote``, or none when trials render at ``size`` already."""
    return 0 if preview_side(tune, size) is None else tune.promote


def promotion_levels(size: int, side: int) -> int:
    """Pyramid levels of a promotion from a ``side`` preview to ``size``."""
    return max(1, round(math.log2(size / side)))


def _check_normalized(settings: RunSettings) -> None:
    if not settings.transfer.loss.normalize:
        raise UserError(
            "tune.preview_size needs loss.normalize=true, under which alpha, beta and gamma "
            "mean the same at the preview's size and the final one; pass loss.normalize=true "
            "or tune.preview_size=null (every trial at image.size)"
        )


def preview_settings(settings: RunSettings, side: int) -> RunSettings:
    """A search trial: a single-scale render at ``side`` px with ``optimizer.steps`` steps."""
    _check_normalized(settings)
    transfer = settings.transfer
    image = replace(transfer.image, size=side, levels=1)
    optimizer = replace(transfer.optimizer, level_steps=None)
    return replace(settings, transfer=replace(transfer, image=image, optimizer=optimizer))


def promotion_settings(settings: RunSettings, side: int, preview: str | None) -> RunSettings:
    """The promotion of a trial whose ``side`` px preview is the file ``preview``.

    Without the preview (deleted, or written on another machine) the whole pyramid is rendered
    afresh from ``image.init``, the preview's level included.
    """
    _check_normalized(settings)
    transfer = settings.transfer
    levels = promotion_levels(transfer.image.size, side)
    # The default schedule of the whole pyramid, preview level first.
    schedule = replace(transfer.optimizer, level_steps=None).steps_per_level(levels + 1)
    if preview is None:
        image = replace(transfer.image, levels=levels + 1)
    else:
        image = replace(transfer.image, levels=levels, init=preview)
        schedule = schedule[1:]
    optimizer = replace(transfer.optimizer, level_steps=schedule)
    # No intermediate scores: nothing prunes a promotion, and each costs a full-size pass.
    score = replace(settings.score, every=0)
    return replace(
        settings, transfer=replace(transfer, image=image, optimizer=optimizer), score=score
    )
