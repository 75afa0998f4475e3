"""Progress of long work, as plain events to a callback.

Long work (parsing a corpus, training, composing, evaluating) takes a ``progress``
callable and calls it with a :class:`ProgressEvent` as it goes; it never draws anything
itself. The CLI turns the events into tqdm bars (:mod:`tunesmith.cli`), a server can
stream them, a test can collect them. ``None`` means nobody listens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProgressEvent:
    task: str  # what is going on, e.g. "train char_rnn", "parse bach-chorales"
    done: int  # units finished so far
    total: int | None = None  # units in all, when known
    unit: str = "it"  # what a unit is: "step", "file", "piece", "batch"
    info: Mapping[str, str] = field(default_factory=dict)  # e.g. {"loss": "1.234"}
    initial: int = 0  # units already done before this work started (a resumed run)

    @property
    def finished(self) -> bool:
        return self.total is not None and self.done >= self.total


Progress = Callable[[ProgressEvent], None]


def report(progress: Progress | None, task: str, done: int, total: int | None = None,
           unit: str = "it", info: Mapping[str, str] | None = None, initial: int = 0) -> None:
    """Call ``progress`` (if any: None and False mean nobody listens) with one event."""
    if progress:
        progress(ProgressEvent(task, done, total, unit, dict(info or {}), initial))


class StepCounter:
    """Progress of a loop of steps (a sampler's tokens or frames): call it with the steps
    done after each step; it reports every ``every`` steps (a bar per token would cost
    more than the token), and :meth:`close` reports the last count as finished. ``total``
    None: a counter, for a loop that a clock or an end token stops, whose length is not
    known ahead."""

    def __init__(self, progress: Progress | None, task: str, unit: str,
                 total: int | None = None, every: int = 16):
        self.progress, self.task, self.unit, self.total = progress, task, unit, total
        self.every, self.done = every, 0

    def __call__(self, done: int) -> None:
        self.done = done
        if done % self.every == 0 and (self.total is None or done < self.total):
            report(self.progress, self.task, done, self.total, self.unit)

    def after(self, done: int) -> Callable[[int], None]:
        """This counter for a loop that goes on from ``done`` steps (a sampler called
        again for the next bars of the same pieces)."""
        return lambda n: self(done + n)

    def close(self) -> None:
        if self.done:
            report(self.progress, self.task, self.done, self.done, self.unit)
