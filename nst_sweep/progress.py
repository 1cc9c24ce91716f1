"""Per-step reporting at the edge: a progress bar and the tracker, as one ``stylize`` callback."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tqdm import tqdm

from nst_sweep.records import StepRecord
from nst_sweep.tracking import NullTracker


class StepReporter:
    """Callback for ``stylize``: logs losses and snapshots, advances a progress bar."""

    def __init__(
        self,
        tracker: NullTracker,
        total_steps: int,
        image_every: int = 0,
        show: bool = True,
        hooks: Sequence[Callable[[StepRecord], None]] = (),
    ):
        self.tracker = tracker
        self.hooks = list(hooks)
        self.image_every = image_every
        self.total_steps = total_steps
        self.bar = tqdm(total=total_steps, unit="step", dynamic_ncols=True, disable=not show)

    def __call__(self, record: StepRecord) -> None:
        self.tracker.log_step(record)
        # Step 0 is the initial image; the last step is the result.
        every = self.image_every and record.step % self.image_every == 0
        if record.step == 0 or every or record.step >= self.total_steps:
            self.tracker.log_image("progress", record.image(), step=record.step)
        if record.step > 0:
            self.bar.set_postfix_str(f"loss={record.total:.4g}", refresh=False)
            self.bar.update(record.step - self.bar.n)
        for hook in self.hooks:
            hook(record)

    def close(self) -> None:
        self.bar.close()


class ScoreReporter:
    """Scores the image every ``every`` steps: logs ``score*`` metrics and lets Optuna prune.

    ``trial`` is the Optuna trial of the job (None outside a search); when its pruner says so,
    this raises ``optuna.TrialPruned`` out of the loop.
    """

    def __init__(
        self, scorer: Callable[[Any], Any], tracker: NullTracker, every: int, total_steps: int,
        trial: Any,
    ):  # fmt: skip
        self.scorer, self.tracker, self.every, self.trial = scorer, tracker, every, trial
        self.total_steps = total_steps
        # Optuna cannot prune (or take intermediate values of) multi-objective studies.
        self.can_prune = trial is not None and len(trial.study.directions) == 1

    def __call__(self, record: StepRecord) -> None:
        # The last step is scored by the app once the loop is over.
        if record.step == 0 or record.step % self.every or record.step >= self.total_steps:
            return
        score = self.scorer(record.image())
        self.tracker.log_metrics(score.metrics(), step=record.step)
        if self.can_prune:
            import optuna

            self.trial.report(score.score, record.step)
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"step {record.step}, score {score.score:.4g}")
