"""Opening the study (storage, sampler, pruner) the same way in the sweep process and its jobs."""

from __future__ import annotations

import contextlib
import logging
import random
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, InMemoryStorage, RDBStorage
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ._settings import SweeperConfigError, first_line
from .secrets import redact, redact_url

log = logging.getLogger(__name__)

# Seconds a sqlite writer waits for another process's lock before giving up; several sweeps
# and their jobs share one file, and a trial's writes are short.
SQLITE_TIMEOUT_S = 120.0
_INIT_ATTEMPTS = 5

# storage: null keeps the study in this process; jobs of the basic launcher find it here.
_IN_PROCESS: dict[str, tuple[BaseStorage, optuna.pruners.BasePruner]] = {}
# One engine per URL and process: a joblib worker runs many trials.
_STORAGES: dict[str, RDBStorage] = {}


def resolve_storage_url(url: str, base_dir: str | Path) -> str:
    """Make a relative sqlite path absolute against ``base_dir`` (the launch directory).

    Jobs may run in their own output directory (``hydra.job.chdir``), so they must not resolve
    the path against their working directory.
    """
    sqlite_path = _sqlite_path(url)
    if sqlite_path is None or sqlite_path.is_absolute():
        return url
    absolute = (Path(base_dir) / sqlite_path).resolve()
    return make_url(url).set(database=str(absolute)).render_as_string(hide_password=False)


def _sqlite_path(url: str) -> Path | None:
    """The database file of a sqlite URL; None for other backends and in-memory sqlite."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def _engine_kwargs(url: str) -> dict[str, Any]:
    if make_url(url).get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    return {}


@contextlib.contextmanager
def _init_lock(url: str) -> Iterator[None]:
    """Serialize first-time schema creation between processes sharing one sqlite file.

    Two sweeps started together on a new file would otherwise race in ``CREATE TABLE`` and the
    alembic stamp. The lock is a separate file: opening and closing the database file itself
    would drop sqlite's own POSIX locks held by this process.
    """
    path = _sqlite_path(url)
    try:
        import fcntl
    except ImportError:  # Windows: rely on the retries in create_study
        fcntl = None  # type: ignore[assignment]
    if path is None or fcntl is None:
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# The key of the PostgreSQL advisory lock every nst_optuna process takes ("nst_op" in ASCII).
ADVISORY_LOCK_KEY = 0x6E73745F6F70


def storage_lock(url: str | None) -> contextlib.AbstractContextManager[None]:
    """What makes check-then-write on the study atomic between processes (claiming promotions,
    failing dead trials): the file lock of a sqlite storage (``_init_lock``), an advisory lock
    on a PostgreSQL one (workers on several machines); nothing for an in-memory study."""
    if url is None:
        return contextlib.nullcontext()
    if make_url(url).get_backend_name() == "postgresql":
        return _advisory_lock(url)
    return _init_lock(url)


@contextlib.contextmanager
def _advisory_lock(url: str) -> Iterator[None]:
    """A session-level ``pg_advisory_lock`` on a connection of its own (not pooled: closing it
    releases the lock even if the unlock is never sent)."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            key = {"key": ADVISORY_LOCK_KEY}
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), key)
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), key)
    finally:
        engine.dispose()


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's INFO lines on stderr off for a moment (the sweep logs what they say)."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(verbosity, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _retrying(what: str, func: Any) -> Any:
    """Run ``func`` again after transient database errors (lock timeouts, creation races)."""
    for attempt in range(1, _INIT_ATTEMPTS + 1):
        try:
            return func()
        except Exception as exc:
            if attempt == _INIT_ATTEMPTS or not _is_transient(exc):
                raise
            log.warning("%s failed (%s); retrying", what, exc)
            time.sleep(0.2 + random.random())
    raise AssertionError("unreachable")


def _is_transient(exc: Exception) -> bool:
    from sqlalchemy.exc import IntegrityError, OperationalError

    return isinstance(
        exc, OperationalError | IntegrityError | optuna.exceptions.StorageInternalError
    )


def create_study(
    url: str | None,
    base_dir: str | Path,
    study_name: str | None,
    directions: Sequence[str],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    heartbeat: tuple[int | None, int | None] = (None, None),
) -> tuple[optuna.Study, str | None]:
    """Create or continue the study; returns it and the resolved storage URL.

    ``study_name`` None lets optuna name a new study (``no-name-<uuid>``), as the official
    plugin does; the name is then ``study.study_name``. ``heartbeat`` is (interval, grace
    period) in seconds for a database storage (``_heartbeat.py``); (None, None) is off.
    """
    if url is None:
        memory = InMemoryStorage()
        study = optuna.create_study(
            storage=memory,
            sampler=sampler,
            pruner=pruner,
            study_name=study_name,
            directions=list(directions),
        )
        _IN_PROCESS[study.study_name] = (memory, pruner)
        return study, None

    resolved = resolve_storage_url(url, base_dir)
    sqlite_path = _sqlite_path(resolved)
    if sqlite_path is not None:
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)

    def open_study() -> optuna.Study:
        with warnings.catch_warnings():  # optuna calls its heartbeat arguments experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = RDBStorage(
                resolved,
                engine_kwargs=_engine_kwargs(resolved),
                heartbeat_interval=heartbeat[0],
                grace_period=heartbeat[1],
            )
        _STORAGES[resolved] = storage
        with _quiet_optuna():  # its "created"/"using an existing study" line is the sweep's own
            return optuna.create_study(
                storage=storage,
                sampler=sampler,
                pruner=pruner,
                study_name=study_name,
                directions=list(directions),
                load_if_exists=True,
            )

    try:
        with _init_lock(resolved):
            study = _retrying(f"opening study {study_name or '(unnamed)'!r}", open_study)
    except (SQLAlchemyError, ImportError, optuna.exceptions.StorageInternalError) as exc:
        # Unreachable, refused, or not a database: one line, not the driver's traceback.
        raise SweeperConfigError(
            f"hydra.sweeper.storage={redact_url(url)}: cannot open the study "
            f"({redact(first_line(exc))}); check that the database is up and the URL is right"
        ) from None
    return study, resolved


def _existing_storage(url: str, base_dir: str | Path) -> RDBStorage:
    """The storage of a study the sweep created, one engine per URL and process."""
    resolved = resolve_storage_url(url, base_dir)
    if resolved not in _STORAGES:
        # The sweep created the schema already: no DDL from jobs or reports.
        _STORAGES[resolved] = RDBStorage(
            resolved, engine_kwargs=_engine_kwargs(resolved), skip_table_creation=True
        )
    return _STORAGES[resolved]


def load_trial(
    url: str | None,
    base_dir: str | Path,
    study_name: str,
    number: int,
    pruner: optuna.pruners.BasePruner,
) -> optuna.trial.Trial | None:
    """A live handle on trial ``number`` of an existing study, for use inside a job."""
    storage: BaseStorage
    if url is None:
        found = _IN_PROCESS.get(study_name)
        if found is None:
            log.warning(
                "study %r lives in the memory of another process (hydra.sweeper.storage=null); "
                "no trial handle for this job",
                study_name,
            )
            return None
        storage, pruner = found
    else:
        storage = _existing_storage(url, base_dir)
    # Jobs only report and prune; the sweep process samples. An unseeded sampler keeps any
    # extra trial.suggest_*() in a job from repeating the same value in every job.
    study = optuna.load_study(
        study_name=study_name,
        storage=storage,
        sampler=optuna.samplers.RandomSampler(),
        pruner=pruner,
    )
    study_id = storage.get_study_id_from_name(study_name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
    return optuna.trial.Trial(study, trial_id)


def load_existing_study(
    url: str | None, study_name: str, base_dir: str | Path
) -> optuna.Study | None:
    """An existing study for reading (reports); None if it is in another process or missing."""
    if url is None:
        found = _IN_PROCESS.get(study_name)
        if found is None:
            return None
        storage: BaseStorage = found[0]
    else:
        storage = _existing_storage(url, base_dir)
    try:
        return optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:  # optuna's "no such study"
        return None
