"""What the run layer reports to: the ``Tracker`` interface and a tracker that records nothing.

The run layer never imports MLflow; the app hands it an ``MlflowTracker`` (``tracking.py``) or a
``NullTracker`` (``tracking=none``, notebooks, tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nst_sweep.records import StepRecord


class Tracker:
    """One tracked run: params, tags, per-step losses, metrics, images, artifacts, status.

    This base records nothing; ``MlflowTracker`` (``tracking.py``) records to MLflow.
    """

    run_id: str | None = None

    def log_params(self, params: Mapping[str, Any]) -> None: ...
    def set_tags(self, tags: Mapping[str, str]) -> None: ...
    def log_step(self, record: StepRecord) -> None: ...
    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None: ...
    def log_image(self, key: str, image: np.ndarray, step: int = 0) -> None: ...
    def log_text(self, text: str, artifact_file: str) -> None: ...
    def log_artifact(self, path: str | Path) -> None: ...
    def log_figure(self, figure: Any, artifact_file: str) -> None: ...
    def flush(self) -> None: ...
    def finish(self, status: str = "FINISHED", reason: str | None = None) -> None: ...

    def __enter__(self) -> Tracker:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: Any
    ) -> None:
        """Ends the run: FINISHED, FAILED with the error (KILLED for Ctrl-C and exits)."""
        if error is None:
            self.finish("FINISHED")
        else:
            status = "FAILED" if isinstance(error, Exception) else "KILLED"
            self.finish(status, f"{type(error).__name__}: {error}")


class NullTracker(Tracker):
    """Tracks nothing (``tracking=none``, notebooks, tests)."""
