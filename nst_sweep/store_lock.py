"""One process at a time opens a sqlite MLflow store: a file lock beside the database.

MLflow creates and migrates a store's schema the first time a process opens it, and that is not
safe when several processes do it at once (four searches started together on a new store: "table
... already exists", "duplicate column name"). Holding ``<db>.lock`` while opening serialises
them; the first creates the schema, the others find it ready. The lock is a separate file:
opening and closing the database file itself would drop sqlite's own locks of this process.
The Optuna sweeper locks its storage the same way (``hydra_plugins/nst_optuna_sweeper/_study.py``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"


@contextlib.contextmanager
def store_lock(database: Path | None) -> Iterator[None]:
    """Hold the file lock of sqlite ``database`` (no lock for None: a server or another backend).

    Where the lock cannot be taken (no ``fcntl``, a folder without write access, a file system
    without locks) this goes on without it: the store's own errors then say what is wrong.
    """
    try:
        import fcntl
    except ImportError:  # Windows
        fcntl = None  # type: ignore[assignment]
    if database is None or fcntl is None:
        yield
        return
    try:
        handle = open(database.with_name(database.name + LOCK_SUFFIX), "a")  # noqa: SIM115
    except OSError as exc:
        log.debug("no lock beside %s: %s", database, exc)
        yield
        return
    with handle:  # closing it releases the lock
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError as exc:
            log.debug("no lock beside %s: %s", database, exc)
        yield
