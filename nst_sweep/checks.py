"""Checks of single config values: each returns the value parsed or raises a ``UserError``
that names the key, the value and the fix (one line)."""

from __future__ import annotations

import errno
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
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


def as_name(value: Any, key: str) -> str:
    """A name that also names a folder (an MLflow experiment's artifacts): not "." or ".."."""
    text = as_text(value, key)
    if not text.strip("."):
        raise UserError(
            f"{key}={text}: a name of dots only would be a path outside its folder; "
            f"use letters or digits, e.g. {key}=nst-sweep"
        )
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


def writable_folder(folder: str | Path, key: str, value: Any = None) -> Path:
    """A folder files can be created in (made later if missing), else a UserError naming
    ``key=value``: its nearest existing ancestor must be a folder that takes a new file.

    Probed with a real one-byte file, not permission bits: root ignores those, a read-only
    mount and a full disk do not show in them. The probe is removed; nothing else is created.
    """
    folder = Path(folder).expanduser()
    shown = f"{key}={folder if value is None else value}"
    existing = folder.absolute()
    try:
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise UserError(f"{shown}: {existing} is a file, not a folder; pass a path in a folder")
        handle, probe = tempfile.mkstemp(dir=existing, prefix=".nst-probe-")
        try:
            os.write(handle, b"\0")  # a full disk may still take an empty file
        finally:
            os.close(handle)
            os.unlink(probe)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            fix = "free space on that disk or pass a path on another disk"
        else:
            fix = "pass a path in a folder you can write to"
        raise UserError(
            f"{shown}: cannot write in {existing} ({exc.strerror or exc}); {fix}"
        ) from exc
    return folder


def writable_file(path: str | Path, key: str) -> Path:
    """A file that can be written (created or replaced), else a UserError naming ``key``."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise UserError(f"{key}={path}: is a folder, not a file; pass the path of a file")
    writable_folder(path.parent, key, path)
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{key}={path}: the file is read-only; pass another path")
    return path
