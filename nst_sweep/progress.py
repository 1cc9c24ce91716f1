"""Per-step reporting in the run layer: a progress bar, the tracker and intermediate scores."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tqdm import tqdm

from nst_sweep.images import resize_to
from nst_sweep.names import PROGRESS_IMAGE
from nst_sweep.records import StepRecord
from nst_sweep.score import Scorer
from nst_sweep.tracker import Tracker

# Called with (score, step) after each intermediate score; may raise to stop the run early
# (the app turns an Optuna pruning decision into such a hook).
ScoreHook = Callable[[float, int], None]


class StepReporter:
    """Callback for ``stylize``: logs losses and snapshots, advances a progress bar."""

    def __init__(
        self,
        tracker: Tracker,
        total_steps: int,
        image_every: int,
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
        # Step 0 is the initial image; the last step of each pyramid level is its result.
        every = self.image_every and record.step % self.image_every == 0
        if record.step == 0 or every or record.last_of_level or record.step >= self.total_steps:
            self.tracker.log_image(PROGRESS_IMAGE, record.image(), step=record.step)
        if record.step > 0:
            self.bar.set_postfix_str(f"loss={record.total:.4g}", refresh=False)
            self.bar.update(record.step - self.bar.n)
        for hook in self.hooks:
            hook(record)

    def close(self) -> None:
        self.bar.close()


class ScoreReporter:
    """Scores the image every ``every`` steps, logs the ``score*`` metrics and calls ``on_score``.

    The last step is not scored here: the run layer scores the result once the loop is over.
    """

    def __init__(
        self,
        scorer: Scorer,
        tracker: Tracker,
        every: int,
        total_steps: int,
        on_score: ScoreHook | None = None,
    ):
        self.scorer, self.tracker, self.every = scorer, tracker, every
        self.total_steps, self.on_score = total_steps, on_score

    def __call__(self, record: StepRecord) -> None:
        if record.step == 0 or record.step % self.every or record.step >= self.total_steps:
            return
        image = record.image()
        target = self.scorer.content.shape[:2]
        if image.shape[:2] != target:  # a coarse pyramid level: judged as upsampled to full size
            image = resize_to(image, *target)
        score = self.scorer(image)
        self.tracker.log_metrics(score.metrics(), step=record.step)
        if self.on_score is not None:
            self.on_score(score.score, record.step)
