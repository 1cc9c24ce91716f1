"""What the loop reports each step; kept free of TensorFlow so the edges import it cheaply."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LOSS_NAMES = ("total", "content", "style", "tv")


@dataclass(frozen=True)
class StepRecord:
    """Losses of the image at ``step`` (unweighted terms and the weighted total, eq (6))."""

    step: int
    total: float
    content: float
    style: float
    tv: float
    seconds: float  # wall time since the loop started
    image: Callable[[], np.ndarray]  # the image at this step, RGB [0, 1]; call it right away
    level: int | None = None  # pyramid level (0 = coarsest) of a multi-scale render, else None
    last_of_level: bool = False  # the last record of its level (its result at that size)

    def losses(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in LOSS_NAMES}
