"""What a run could not send to MLflow, kept on disk beside it until ``nst-sweep-sync``.

Every call a tracker makes is an ``Op`` (params, tags, metrics, an image, a text or file
artifact, the run's end). ``send`` is the one place that turns an op into MLflow calls, for the
live run and for the replay alike. While the store cannot be reached, ``Spool`` appends ops to
``<folder>/mlflow_spool/<run id>/ops.jsonl`` (images and files beside it); ``sync`` replays
them in order and removes what was sent, so running it again never sends anything twice
(the command is ``sync.py``).
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from hydra_plugins.nst_optuna_sweeper import redact
from nst_sweep.errors import disk_full, first_line
from nst_sweep.names import FAILURE_REASON_TAG, SPOOL_FOLDER

OPS_FILE = "ops.jsonl"
RUN_FILE = "run.json"
SYNC_COMMAND = "nst-sweep-sync"
BATCH_PARAMS = 100  # MLflow's limit of params per log_batch call
BATCH_METRICS = 1000  # MLflow's limit of metrics per log_batch call
# Codes MLflow gives a request that is wrong in itself: sending it again cannot help.
REFUSED_CODES = frozenset(
    {"INVALID_PARAMETER_VALUE", "RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST",
     "INVALID_STATE", "BAD_REQUEST"}
)  # fmt: skip


@dataclass
class Op:
    """One tracking call. ``data`` is JSON; ``payload`` an image array, a file or a figure."""

    kind: str  # params | tags | metrics | image | text | artifact | figure | end
    data: dict[str, Any]
    payload: Any = field(default=None, repr=False)


def send(client: Any, run_id: str, op: Op) -> None:
    """Make the MLflow calls of ``op`` for run ``run_id``."""
    from mlflow.entities import Metric, Param, RunTag

    data = op.data
    if op.kind == "params":
        items = [Param(k, v) for k, v in data["params"].items()]
        for i in range(0, len(items), BATCH_PARAMS):
            client.log_batch(run_id, params=items[i : i + BATCH_PARAMS])
    elif op.kind == "tags":
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in data["tags"].items()])
    elif op.kind == "metrics":
        items = [Metric(*m) for m in data["metrics"]]
        for i in range(0, len(items), BATCH_METRICS):
            client.log_batch(run_id, metrics=items[i : i + BATCH_METRICS], synchronous=True)
    elif op.kind == "image":
        image = op.payload if op.payload is not None else np.asarray(Image.open(data["file"]))
        client.log_image(
            run_id, image, key=data["key"], step=data["step"], timestamp=data["timestamp"]
        )
    elif op.kind == "text":
        client.log_text(run_id, data["text"], data["artifact_file"])
    elif op.kind == "artifact":
        client.log_artifact(run_id, str(op.payload or data["file"]), data.get("artifact_path"))
    elif op.kind == "figure":
        client.log_figure(run_id, op.payload, data["artifact_file"])
    elif op.kind == "end":
        if data.get("reason"):
            client.set_tag(run_id, FAILURE_REASON_TAG, data["reason"])
        client.set_terminated(run_id, status=data["status"], end_time=data["end_time"])
    else:
        raise ValueError(f"unknown tracking op {op.kind!r}")


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` says the store could not take a call (unreachable, timed out, full),
    rather than that the call itself was wrong (then sending it later fails the same way)."""
    from mlflow.exceptions import MlflowException

    if disk_full(exc):  # keeping calls on a full disk cannot work: the run fails in one line
        return False
    if isinstance(exc, MlflowException):
        return exc.error_code not in REFUSED_CODES
    import requests
    import sqlalchemy.exc

    return isinstance(exc, OSError | requests.RequestException | sqlalchemy.exc.SQLAlchemyError)


def outage_reason(exc: BaseException) -> str:
    """The short reason a call failed: "Connection refused", "timed out", or MLflow's line."""
    text = str(exc)
    errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if errno:
        return errno.group(1).strip()
    if "timed out" in text or "timeout" in text.lower():
        return "timed out"
    return redact(first_line(exc, 200))


class Spool:
    """The ops of one run that MLflow did not take, in order, on disk. Safe across threads."""

    def __init__(
        self, folder: str | Path, run_id: str, uri: str, create: dict[str, Any] | None = None
    ):
        self.path = Path(folder) / SPOOL_FOLDER / run_id
        self.run_id, self.uri, self.create = run_id, uri, create  # create: a run not made yet
        self._added = 0  # numbers the files of its ops
        self._lock = threading.Lock()

    def add(self, op: Op) -> None:
        """Append ``op``; its image, file or figure is copied into the spool folder."""
        with self._lock:
            number, self._added = self._added, self._added + 1
            if not (self.path / RUN_FILE).is_file():
                self.path.mkdir(parents=True, exist_ok=True)
                record = {"run_id": self.run_id, "uri": self.uri, "create": self.create}
                (self.path / RUN_FILE).write_text(json.dumps(record))
            data = dict(op.data)
            kind = op.kind
            if kind == "image":
                data["file"] = self._file(number, f"{data['key']}.png")
                Image.fromarray(op.payload).save(self.path / data["file"])
            elif kind == "artifact":
                data["file"] = self._file(number, Path(op.payload).name)
                shutil.copyfile(op.payload, self.path / data["file"])
            elif kind == "figure":  # kept as the PNG MLflow would have stored
                artifact = Path(data.pop("artifact_file"))
                data["file"] = self._file(number, artifact.name)
                op.payload.savefig(self.path / data["file"])
                data["artifact_path"] = (
                    None if artifact.parent == Path(".") else str(artifact.parent)
                )
                kind = "artifact"
            with open(self.path / OPS_FILE, "a") as handle:
                handle.write(json.dumps({"kind": kind, **data}) + "\n")

    def is_empty(self) -> bool:
        return not (self.path / OPS_FILE).is_file()

    def _file(self, number: int, name: str) -> str:
        (self.path / "files" / str(number)).mkdir(parents=True, exist_ok=True)
        return f"files/{number}/{name}"

    def describe(self) -> str:
        """What it holds, e.g. "57 metric values, 3 images, 2 artifacts and the run's end"."""
        ops = self.path / OPS_FILE
        lines = ops.read_text().splitlines() if ops.is_file() else []
        return describe(sum((_count(json.loads(line)) for line in lines), Counter()))


def _count(data: dict[str, Any]) -> Counter[str]:
    """One op's share of a description: a metrics op counts its values."""
    kind = data["kind"]
    return Counter({kind: len(data["metrics"]) if kind == "metrics" else 1})


def describe(counts: Counter[str]) -> str:
    names = {
        "metrics": ("metric value", "metric values"), "image": ("image", "images"),
        "params": ("param batch", "param batches"), "tags": ("tag batch", "tag batches"),
        "text": ("text artifact", "text artifacts"), "artifact": ("artifact", "artifacts"),
    }  # fmt: skip
    parts = [f"{counts[k]} {name[counts[k] != 1]}" for k, name in names.items() if counts[k]]
    if counts["end"]:
        parts.append("the run's end")
    if not parts:
        return "nothing"
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def pending(root: str | Path) -> list[Path]:
    """The spool folders of runs under ``root`` (itself one, or any folder above them)."""
    root = Path(root)
    if (root / OPS_FILE).is_file():
        return [root]
    return sorted(p.parent for p in root.rglob(f"{SPOOL_FOLDER}/*/{OPS_FILE}"))


CreateRun = Callable[[Any, dict[str, Any]], str]  # (client, experiment/run_name/tags) -> run id


def sync(path: Path, client: Any, create: CreateRun, sent: Counter[str] | None = None) -> str:
    """Send one run's spool in order (creating the run first if it started kept); what was sent
    is removed, even when a later op fails, so nothing is sent twice.

    Returns the run's id and adds what was sent to ``sent``; raises the first error, with the
    rest still in the spool.
    """
    record = json.loads((path / RUN_FILE).read_text())
    if record.get("create"):
        record = {"run_id": create(client, record["create"]), "uri": record["uri"]}
        (path / RUN_FILE).write_text(json.dumps(record))
    lines = [line for line in (path / OPS_FILE).read_text().splitlines() if line.strip()]
    sent = Counter() if sent is None else sent
    run_id = record["run_id"]
    for done, line in enumerate(lines):
        data = json.loads(line)
        kind = data.pop("kind")
        if "file" in data:
            data["file"] = str(path / data["file"])
        try:
            # It ended well: a sweep may have marked it dead while MLflow was away.
            ended_well = kind == "end" and not data.get("reason")
            if ended_well and FAILURE_REASON_TAG in client.get_run(run_id).data.tags:
                client.delete_tag(run_id, FAILURE_REASON_TAG)
            send(client, run_id, Op(kind, data))
        except BaseException:
            (path / OPS_FILE).write_text("".join(f"{rest}\n" for rest in lines[done:]))
            raise
        sent.update(_count({"kind": kind, **data}))
    shutil.rmtree(path)
    if not any(path.parent.iterdir()):
        path.parent.rmdir()
    return run_id


def shown(path: Path) -> str:
    """``path`` relative to the current folder when it is below it, for a shorter command."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
