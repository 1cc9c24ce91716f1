"""Per-step reporting at the edge: a progress bar and the tracker, as one ``stylize`` callback."""

from __future__ import annotations

from tqdm import tqdm

from nst_sweep.records import StepRecord
from nst_sweep.tracking import NullTracker


class StepReporter:
    """Callback for ``stylize``: logs losses and snapshots, advances a progress bar."""

    def __init__(
        self, tracker: NullTracker, total_steps: int, image_every: int = 0, show: bool = True
    ):
        self.tracker = tracker
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

    def close(self) -> None:
        self.bar.close()
