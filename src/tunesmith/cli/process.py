"""Process-wide settings that only the CLI, which owns its process, may change."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tunesmith.errors import TunesmithError, first_line


@contextmanager
def rendering_threads(active: bool = True, interval: float = 2e-4) -> Iterator[None]:
    """While WAV threads render beside the composer (``active``):

    - the GIL goes round faster: pyfluidsynth's render loop takes it once per block of
      samples, and while the main thread runs Python (the sampler, a music21 parse) each
      take waits up to the interpreter's switch interval (5 ms by default);
    - torch computes on one thread: with both cores busy rendering, torch's two-thread
      ops wait for a descheduled thread at every step.

    What each setting bought is in benchmarks/RESULTS.md ("compose with WAV"). Both are
    process-wide, so the application layer (which two callers may run at once on two
    threads) never sets them; the CLI, one composition per process, does."""
    if not active:
        yield
        return
    import torch

    old, threads = sys.getswitchinterval(), torch.get_num_threads()
    sys.setswitchinterval(interval)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        sys.setswitchinterval(old)
        torch.set_num_threads(threads)


@contextmanager
def torchrun_processes(device: str | None = None) -> Iterator:
    """Join the processes torchrun started (``RANK``, ``WORLD_SIZE``, ... in the
    environment) for the length of a command; one process without torchrun. A process
    group is process-wide, so the CLI opens it (:mod:`tunesmith.training.distributed`).
    ``device``: the command's ``--device`` when given (``cpu``: plain gloo).

    A process that loses the others (one died: torchrun ends the job, and with
    ``--max-restarts`` starts it again, continuing from the last checkpoint) says so on
    one line instead of a communication library's traceback."""
    from tunesmith.training import distributed

    with distributed.process_group(device=device) as ranks:
        try:
            yield ranks
        except RuntimeError as e:
            if ranks.world == 1 or not distributed.lost_peer(e):
                raise
            raise TunesmithError(f"rank {ranks.rank} of {ranks.world}: lost the other "
                                 f"processes ({first_line(e, 120)}); torchrun ends the job "
                                 "(--max-restarts N starts it again from the last "
                                 "checkpoint)") from None
