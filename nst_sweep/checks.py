"""Checks of single config values: each returns the value parsed or raises a ``UserError``
that names the key, the value and the fix (one line)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from nst_sweep.errors import UserError


def as_number(value: Any, key: str, *, minimum: float | None = 0.0, strict: bool = False) -> float:
    """A finite float >= minimum (> when strict), else a UserError naming ``key``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{key}={value}: not a number; pass a numeric value") from None
    if not math.isfinite(number):
        raise UserError(f"{key}={value}: not a finite number; pass a finite value")
    if minimum is not None and (number <= minimum if strict else number < minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise UserError(f"{key}={value}: must be {bound}; pass a value {bound}")
    return number


def as_integer(value: Any, key: str, low: int, high: int | None = None) -> int:
    """An integer in [low, high], else a UserError naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UserError(f"{key}={value}: not an integer; pass a whole number")
    try:
        number = int(value)
        if number != float(value):
            raise ValueError
    except (TypeError, ValueError):
        raise UserError(f"{key}={value}: not an integer; pass a whole number") from None
    if number < low or (high is not None and number > high):
        span = f"between {low} and {high}" if high is not None else f">= {low}"
        raise UserError(f"{key}={value}: out of range; pass a value {span}")
    return number


def as_choice(value: Any, key: str, options: tuple[str, ...]) -> str:
    if str(value) not in options:
        raise UserError(f"{key}={value}: unknown value; use one of: {', '.join(options)}")
    return str(value)


def as_unit(value: Any, key: str) -> float:
    number = as_number(value, key)
    if number >= 1.0:
        raise UserError(f"{key}={value}: must be in [0, 1); pass e.g. 0.9")
    return number


def as_section(cfg: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = cfg.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UserError(f"{key}={value}: not a group of settings; pass {key}.<key>=<value>")
    return value


def as_flag(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise UserError(f"{key}={value}: not true or false; pass {key}=true or {key}=false")


def as_text(value: Any, key: str) -> str:
    text = "" if value is None else str(value).strip()
    if not text:
        raise UserError(f"{key} is empty; pass a value, e.g. {key}=<value>")
    return text


def as_weight_list(value: Any, key: str) -> tuple[float, ...] | None:
    """A list of weights >= 0 with a positive sum, or None."""
    if value is None:
        return None
    items = [value] if isinstance(value, int | float | str) else list(value)
    numbers = tuple(as_number(v, key) for v in items)
    if not numbers or sum(numbers) <= 0:
        raise UserError(f"{key}={list(items)}: needs weights >= 0 with a positive sum")
    return numbers


def as_step_list(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, int | str) else list(value)
    if not items:
        raise UserError("optimizer.level_steps=[]: give one step count per level, or null")
    return tuple(as_integer(v, "optimizer.level_steps", 1, 1_000_000) for v in items)
