"""``nst-sweep-sync FOLDER``: send what runs kept while MLflow did not answer (``spool.py``).

nst-sweep-sync runs/outputs/2026-11-25/17-50-01     # a run's folder
nst-sweep-sync runs/multirun/2026-11-25/17-50-01    # a sweep's: every run under it
python -m nst_sweep.sync runs/multirun/2026-11-25/17-50-01 --uri http://host:5000
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from hydra_plugins.nst_optuna_sweeper import redact_log_records
from nst_sweep.connection import bound_requests, without_credentials
from nst_sweep.spool import (
    RUN_FILE,
    SYNC_COMMAND,
    describe,
    is_outage,
    outage_reason,
    pending,
    shown,
    sync,
)
from nst_sweep.tracking import create_run, quiet_mlflow_logging


def main(argv: list[str] | None = None) -> None:
    """Send what the runs under FOLDER kept while MLflow did not answer, in order, and end
    them on the server. Exit 0 when all is sent, 1 when some is still kept, 2 for bad input."""
    from mlflow.tracking import MlflowClient

    parser = argparse.ArgumentParser(prog=SYNC_COMMAND, description=main.__doc__)
    parser.add_argument("folder", help="a run's or a sweep's folder")
    parser.add_argument("--uri", help="send to this tracking URI instead of the runs' own")
    args = parser.parse_args(argv)
    redact_log_records()
    quiet_mlflow_logging()
    root = Path(args.folder)
    if not root.is_dir():
        print(f"{SYNC_COMMAND}: error: {root}: no such folder; pass a run's or a sweep's folder",
              file=sys.stderr)  # fmt: skip
        sys.exit(2)
    bound_requests()
    sent: Counter[str] = Counter()
    left: list[str] = []
    kept = pending(root)
    for number, path in enumerate(kept):
        uri = without_credentials(args.uri or json.loads((path / RUN_FILE).read_text())["uri"])

        def create(client: Any, run: dict[str, Any], uri: str = uri) -> str:
            return create_run(client, uri, run)[1]

        try:
            sync(path, MlflowClient(tracking_uri=uri), create, sent)
        except Exception as exc:
            left.append(f"{shown(path)} ({outage_reason(exc)})")
            if is_outage(exc):  # the server is away: the other runs would wait for it too
                left += [shown(p) for p in kept[number + 1 :]]
                break
    if left:
        print(f"{SYNC_COMMAND}: sent {describe(sent)}; still kept: {'; '.join(left)}; run the "
              "same command again once the tracking server answers", file=sys.stderr)  # fmt: skip
        sys.exit(1)
    print(f"{SYNC_COMMAND}: sent {describe(sent)} from {root}")


if __name__ == "__main__":
    main()
