"""Where to look at a run: links to MLflow's runs table, and the UI that ``make ui`` serves.

MLflow 3 opens an experiment on its GenAI "Overview" (traces, latency: all empty for this tool)
unless the URL asks for the model-training view. Every link the tool prints, and the ones
``make ui`` prints, open the experiment's runs table, where a sweep's jobs are nested under it.
``python -m nst_sweep.links [STORE]`` (what ``make ui`` runs) prints them and starts the UI.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from nst_sweep.stores import SQLITE_PREFIX, sqlite_path

REPO = Path(__file__).resolve().parent.parent
UI_HOST = "127.0.0.1"
UI_PORT = 5000
DEFAULT_STORE = f"{SQLITE_PREFIX}runs/mlflow.db"  # what ``make ui`` serves, from the checkout
# MLflow 3's route to an experiment's runs table in its model-training ("machine_learning")
# view; without the parameter the UI falls back to the view last chosen (GenAI at first).
RUNS_TABLE = "#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def ui_address(port: int = UI_PORT) -> str:
    """The address ``make ui`` serves on."""
    return f"http://{UI_HOST}:{port}"


def runs_table(server: str, experiment_id: str) -> str:
    """The runs table of an experiment on a tracking server (or ``make ui``)."""
    return f"{server.rstrip('/')}/{RUNS_TABLE.format(experiment_id=experiment_id)}"


def tracking_server(uri: str) -> str | None:
    """An http(s) tracking URI without its ``user:password@`` (browsers ask for those)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return None
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query="", fragment=""))


def ui_command(path: Path) -> str:
    """The command that serves the sqlite store ``path`` on ``ui_address()``."""
    store = path.resolve()
    default = (REPO / DEFAULT_STORE[len(SQLITE_PREFIX) :]).resolve()
    if not (REPO / "Makefile").is_file():  # installed from a wheel: no checkout
        return f"python -m nst_sweep.links {SQLITE_PREFIX}{store}"
    where = "" if Path.cwd().resolve() == REPO else f"-C {REPO} "
    extra = "" if store == default else f" ARGS={SQLITE_PREFIX}{store}"
    return f"make {where}ui{extra}"


def view_line(kind: str, name: str | None, uri: str, experiment_id: str | None) -> str | None:
    """``view run 'job 3 · tv_weight=10': <link>``; for a sqlite store the command to serve it
    first. None when there is nothing to open (an offline run, another kind of store)."""
    if experiment_id is None:
        return None
    label = f"view {kind} {name!r}" if name else f"view {kind}"
    server = tracking_server(uri)
    if server is not None:
        return f"{label}: {runs_table(server, experiment_id)}"
    path = sqlite_path(uri)
    if path is None:
        return None
    return f"{label}: {ui_command(path)}, then open {runs_table(ui_address(), experiment_id)}"


def experiments(path: Path) -> list[tuple[str, str]]:
    """``(id, name)`` of the store's active experiments that hold runs (none for a new store)."""
    if not path.is_file():
        return []
    query = (
        "SELECT e.experiment_id, e.name FROM experiments e WHERE e.lifecycle_stage = 'active' "
        "AND EXISTS (SELECT 1 FROM runs r WHERE r.experiment_id = e.experiment_id) "
        "ORDER BY e.experiment_id"
    )
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return [(str(i), str(n)) for i, n in db.execute(query)]
    except sqlite3.Error:  # not an MLflow store yet: MLflow makes its tables when it starts
        return []


def main(argv: list[str] | None = None) -> None:
    """Print each experiment's runs-table link, then serve the store with ``mlflow ui``."""
    parser = argparse.ArgumentParser(prog="python -m nst_sweep.links", description=main.__doc__)
    parser.add_argument("store", nargs="?", default=DEFAULT_STORE, help="a sqlite:/// store")
    parser.add_argument("--port", type=int, default=UI_PORT)
    args = parser.parse_args(argv)
    path = sqlite_path(args.store)
    if path is None:
        print(
            f"nst-sweep: error: {args.store}: not a sqlite:/// store; a tracking server shows its "
            "runs itself (the links the runs print open them)",
            file=sys.stderr,
        )
        sys.exit(2)
    found = experiments(path)
    for experiment_id, name in found:
        print(f"MLflow runs of {name!r}: {runs_table(ui_address(args.port), experiment_id)}")
    if not found:
        print(f"MLflow UI: {ui_address(args.port)} (no runs in {path} yet)")
    sys.stdout.flush()
    # One worker and no background job processes: a UI for one user, light on 2 cores.
    os.environ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", args.store,
               "--host", UI_HOST, "--port", str(args.port), "--workers", "1"]  # fmt: skip
    os.execv(sys.executable, command)


if __name__ == "__main__":
    main()
