"""Real servers for the tests, on loopback: a throwaway PostgreSQL and ``mlflow server``.

``Postgres`` runs Debian's ``postgresql`` binaries (``initdb`` into a temporary folder,
``pg_ctl`` on a free port, stopped with ``-m immediate`` and the folder removed). As root they
run as the ``postgres`` user, which PostgreSQL requires. ``MlflowServer`` serves a backend store
(sqlite or that PostgreSQL) and artifacts from a folder, in its own process group.

When the PostgreSQL binaries are missing, tests that need them fail if ``CI`` is set (``.ci/run``
installs them: ``make services``) and are skipped otherwise, with the reason.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

DATABASES = ("optuna", "mlflow")  # one for the study, one for the MLflow server's store
START_TIMEOUT_S = 120


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl`` (newest Debian version first), or None."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(Path(folder) / "initdb", os.X_OK) and os.access(
            Path(folder) / "pg_ctl", os.X_OK
        ):
            return Path(folder)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and shutil.which("initdb") else None


def missing(reason: str) -> None:
    """Fail in CI (where ``.ci/run`` installs what is missing), skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: .ci/run installs it with make services)")
    pytest.skip(f"{reason}; install it (make services, as root) to run this test")


class Postgres:
    """A PostgreSQL server in a temporary folder, owned by ``postgres`` when run as root."""

    def __init__(self, binaries: Path):
        self.bin = binaries
        self.port = free_port()
        # Not under pytest's 0700 tmp folders: the postgres user must reach it.
        self.folder = Path(tempfile.mkdtemp(prefix="nst-pg-"))
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.folder, "postgres", "postgres")
        self.data = self.folder / "data"
        self.seconds_to_start: float | None = None

    def url(self, database: str) -> str:
        """``postgresql://`` URL of ``database`` (psycopg 3, the postgres extra's driver)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        command = [*(["runuser", "-u", "postgres", "--"] if self.as_root else []), *args]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_S)
        if proc.returncode:
            raise RuntimeError(f"{' '.join(args[:1])} failed: {proc.stdout}{proc.stderr}")

    def start(self) -> None:
        began = time.monotonic()
        # trust on loopback only; no fsync: a throwaway server, fast on any disk.
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--no-sync")  # fmt: skip
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=200")  # fmt: skip
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"),
                  "-w", "-t", str(START_TIMEOUT_S), "start", "-o", options)  # fmt: skip
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            for name in DATABASES:
                connection.execute(f"CREATE DATABASE {name}")
        self.seconds_to_start = time.monotonic() - began

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):  # already gone: the folder goes all the same
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


class MlflowServer:
    """``mlflow server`` on loopback over ``backend`` (default: a sqlite file in ``folder``),
    serving artifacts from ``folder/artifacts``; startable again after a kill."""

    def __init__(self, folder: Path, backend: str | None = None):
        self.folder, self.port = folder, free_port()
        self.backend = backend or f"sqlite:///{folder / 'server.db'}"
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.seconds_to_start: float | None = None

    def start(self) -> None:
        began = time.monotonic()
        env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.backend,
             "--artifacts-destination", str(self.folder / "artifacts"), "--serve-artifacts",
             "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, killed as a whole
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"mlflow server exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2):
                    self.seconds_to_start = time.monotonic() - began
                    return
            except OSError:
                time.sleep(0.25)
        self.kill()
        pytest.fail("mlflow server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
