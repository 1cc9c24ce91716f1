"""The MLflow store on disk: checked before a run starts, and a run closed on a full disk.

A sqlite store needs its folder writable (SQLite writes a journal beside the database) and its
file writable; both are checked up front, so a read-only store is one line, not MLflow's
traceback after the run was opened. When the disk fills mid-run, MLflow cannot close the run
either (an update needs room for the journal); ``close_on_full_disk`` closes it with the
journal kept in memory, which needs no new space on disk.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from hydra_plugins.nst_optuna_sweeper import missing_driver, redact
from nst_sweep.checks import writable_folder
from nst_sweep.errors import UserError
from nst_sweep.names import FAILURE_REASON_TAG

SQLITE_PREFIX = "sqlite:///"
# MLflow's database stores other than sqlite (their URL scheme, with or without +driver)
DATABASE_SCHEMES = ("postgresql", "mysql", "mssql")


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (relative to the cwd), else None."""
    return Path(uri[len(SQLITE_PREFIX) :]).expanduser() if uri.startswith(SQLITE_PREFIX) else None


def check_store(uri: str, key: str = "tracking.uri") -> None:
    """A store MLflow can open: a sqlite file that can be written (created if missing), or a
    URI of a kind MLflow has a store for; else a UserError naming ``key``.

    Tracking servers and databases are reached over the network only when the run opens them.
    """
    path = sqlite_path(uri)
    if path is None:
        _check_scheme(uri, key)
        return
    if path.is_dir():
        raise UserError(f"{key}={uri}: {path} is a folder; pass the path of a database file")
    writable_folder(path.parent, key, uri)
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(
            f"{key}={uri}: the database file is read-only; make it writable or pass another {key}"
        )


def _check_scheme(uri: str, key: str) -> None:
    """A URI of a kind MLflow has a tracking store for (its registry, plugins included)."""
    from mlflow.utils.uri import get_uri_scheme

    fix = "pass sqlite:///runs/mlflow.db, an http(s):// tracking server, or tracking=none"
    scheme = get_uri_scheme(uri)
    if scheme in ("", "file"):  # MLflow's file store: refused by MLflow 3 for new runs
        raise UserError(
            f"{key}={uri}: a folder is not an MLflow store (it needs a database); {fix}"
        )
    if scheme in DATABASE_SCHEMES:
        missing = missing_driver(uri)
        if missing is not None:
            raise UserError(f"{key}={redact(uri)}: {missing}")
    try:  # private in MLflow: if it moves, opening the store reports the scheme instead
        from mlflow.tracking._tracking_service.utils import _tracking_store_registry
    except ImportError:
        return
    try:
        _tracking_store_registry.get_store_builder(uri)
    except Exception:
        raise UserError(f"{key}={uri}: MLflow has no store for {scheme}:// URIs; {fix}") from None


def close_on_full_disk(uri: str, run_id: str, status: str, reason: str | None) -> bool:
    """End run ``run_id`` of a sqlite store whose disk is full; True when its status was set.

    Updates MLflow's ``runs`` row, then adds the ``failure.reason`` tag (a new row may need a
    new page, so it is tried second), through a connection whose rollback journal lives in
    memory: no journal file, so no new disk space. Only this connection, for these two small
    writes, runs without a journal file.
    """
    path = sqlite_path(uri)
    if path is None or not path.is_file():
        return False
    end_time = int(time.time() * 1000)
    closed = _write(path, "UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ?",
                    (status, end_time, run_id))  # fmt: skip
    if closed and reason:
        _write(path, "INSERT OR REPLACE INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
               (FAILURE_REASON_TAG, reason, run_id))  # fmt: skip
    return closed


def _write(path: Path, statement: str, values: tuple[object, ...]) -> bool:
    try:
        connection = sqlite3.connect(path, timeout=30)
    except sqlite3.Error:
        return False
    try:
        connection.execute("PRAGMA journal_mode=MEMORY")
        with connection:  # commits, or rolls back on an error
            connection.execute(statement, values)
    except sqlite3.Error:
        return False
    finally:
        connection.close()
    return True
