"""Progress events (:mod:`tunesmith.progress`) drawn as tqdm bars on stderr, for the CLI.

:func:`tqdm_progress` returns a :data:`~tunesmith.progress.Progress` callback: one bar per
task name, opened at the task's first event and closed when it finishes. A task of fewer
than two units gets no bar (a lone file's error must stay the only line on stderr), and
a bar shows only once its work has lasted a second (``delay``).
"""

from __future__ import annotations

import sys

from tunesmith.progress import Progress, ProgressEvent

BAR_DELAY_S = 1.0  # work that is over within this many seconds draws no bar


def tqdm_progress(delay: float = BAR_DELAY_S) -> Progress:
    """A callback that draws each task's events as a tqdm bar on stderr."""
    bars: dict[str, object] = {}

    def draw(event: ProgressEvent) -> None:
        bar = bars.get(event.task)
        if bar is None:
            if event.total is not None and event.total < 2:
                return
            from tqdm import tqdm

            bar = bars[event.task] = tqdm(total=event.total, desc=event.task, unit=event.unit,
                                          initial=event.initial, delay=delay, file=sys.stderr)
        if event.info:
            bar.set_postfix(event.info, refresh=False)
        step = event.done - bar.n
        if step > 0:
            bar.update(step)
        if event.finished:
            bar.close()
            del bars[event.task]

    return draw
