"""The sweeper's settings checked before a sweep, for apps that check before they start work.

Public: an app's Hydra callback can call :func:`check_config` at ``on_multirun_start``, which
Hydra runs before it builds the sweeper, so that a bad setting stops the command before the
app creates anything for the sweep. The sweeper itself checks the same things when it starts.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._settings import Settings, SweeperConfigError, read_settings

# Database driver module -> the extra of pyproject.toml that installs it. SQLAlchemy 2.1+ (which
# the extra asks for) maps postgresql:// to psycopg (3); an explicit postgresql+psycopg2:// URL
# needs psycopg2, which no extra installs (the message then names psycopg2 itself).
DRIVER_EXTRAS = {"psycopg": "postgres"}


@dataclass(frozen=True)
class CheckedConfig:
    """What :func:`check_config` found: the settings, and the keys the search changes."""

    settings: Settings
    searched: list[str]  # each searched param's key as written: loss.tv_weight, +w, layers


def check_config(
    sweeper: Mapping[str, Any], base_dir: str | Path, arguments: Sequence[str] = ()
) -> CheckedConfig:
    """The ``hydra.sweeper`` node's settings, storage, sampler, pruner, custom search space
    and search space (its ``params`` and the command line's ``arguments``), checked as the
    sweep will use them, without running anything. Raises the sweep's own one-line error
    naming the key. ``base_dir`` is the launch folder that relative sqlite paths mean.
    """
    from ._fixed import check_stored
    from ._sampler import custom_search_space, make_pruner, sampler_factory
    from ._search_space import build_search_space, parse_overrides

    settings = read_settings({str(k): v for k, v in sweeper.items()})
    check_storage(settings.storage, base_dir)
    check_stored(settings, base_dir)  # a study made for other values
    sampler_factory(settings.sampler)(dict)  # an empty grid: the search space is the sweep's
    make_pruner(settings.pruner)
    custom_search_space(settings.custom_search_space)
    space = build_search_space(parse_overrides(settings.params, [str(a) for a in arguments]))
    return CheckedConfig(settings, list(space.distributions))


def check_storage(url: str | None, base_dir: str | Path) -> None:
    """Fail now, in one line naming ``hydra.sweeper.storage``, for a storage the sweep could
    not open: not a URL, no such database driver, or a sqlite file that cannot be written.
    Nothing is created or connected to.
    """
    if url is None:
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from ._study import _sqlite_path, resolve_storage_url
    from .secrets import redact_url

    shown = f"hydra.sweeper.storage={redact_url(url)}"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SweeperConfigError(
            f"{shown}: not a database URL; pass e.g. sqlite:///optuna.db, "
            "postgresql://user@host/db, or null (in memory)"
        ) from None
    try:
        parsed.get_dialect()
    except NoSuchModuleError:
        raise SweeperConfigError(
            f"{shown}: no database driver for {parsed.drivername!r}; pass a sqlite://, "
            "postgresql:// or mysql:// URL, or null (in memory)"
        ) from None
    missing = missing_driver(url)
    if missing is not None:
        raise SweeperConfigError(f"{shown}: {missing}")
    path = _sqlite_path(resolve_storage_url(url, base_dir))
    if path is not None:
        _check_writable(path, shown)


def missing_driver(url: str) -> str | None:
    """What to install when the database driver of ``url`` (a SQLAlchemy URL) cannot be
    imported, as the end of a one-line message; None when it imports (or the URL names none).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(url).get_dialect().import_dbapi()
    except (ArgumentError, NoSuchModuleError):
        return None  # not a database URL: the callers say so in their own words
    except ImportError as exc:
        module = (exc.name or "").split(".")[0]
        extra = DRIVER_EXTRAS.get(module)
        fix = f'pip install -e ".[{extra}]"' if extra else f"pip install {module or 'it'}"
        return f"its database driver {module or '(unknown)'} is not installed; {fix}"
    return None


def _check_writable(path: Path, shown: str) -> None:
    """A sqlite file SQLite can write: its folder takes new files (the journal), it is a file."""
    if path.is_dir():
        raise SweeperConfigError(f"{shown}: {path} is a folder; pass the path of a database file")
    existing = path.parent
    try:
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise SweeperConfigError(f"{shown}: {existing} is a file, not a folder")
        # A real file, not permission bits: root ignores those, a read-only mount does not.
        handle, probe = tempfile.mkstemp(dir=existing, prefix=".optuna-probe-")
        try:
            os.write(handle, b"\0")  # a full disk may still take an empty file
        finally:
            os.close(handle)
            os.unlink(probe)
    except OSError as exc:
        raise SweeperConfigError(
            f"{shown}: cannot write in {existing} ({exc.strerror or exc}); pass a storage in a "
            "folder you can write to"
        ) from None
    if path.exists() and not os.access(path, os.W_OK):
        raise SweeperConfigError(f"{shown}: the database file is read-only; make it writable")
