"""A time budget for reading one file: the read runs in a forked child process that is
killed when it takes longer than ``limits().parse_seconds`` (30 s by default), so that
music21 stuck on odd input (its ABC tokenizer, repeats that nest badly, ...) cannot hang
a command, and one slow file cannot stop a corpus.

The budget counts the reading process's *processor* time (Linux's ``/proc/PID/stat``),
not the clock's: on a machine busy with a training, a file that reads in 20 s alone may
take a minute of wall time, and a wall-clock budget dropped such files from a corpus
only when the machine was loaded (``beethoven/opus74.mxl`` once). A read that stalls
without using the processor (waiting on something) is ended by the clock after
:data:`STALL_FACTOR` times the budget.

:func:`call` runs one read (``read_piece`` of a MusicXML or ABC file: render, compose
``--primer``, analyze); :func:`run_all` runs many in a few worker processes that each
take one item after another, as a process pool would, but with a deadline per item: a
worker over its deadline is killed, its item fails with :func:`timeout_reason`, and a
fresh worker takes its place (the corpus loader, :mod:`tunesmith.corpora.pieces`).

Errors cross back as they were raised: a :class:`TunesmithError` (its reason, its file;
an :class:`OverLimit` stays one), a :class:`ValueError` (what the ABC parsers raise for
a tune that does not parse) as a ValueError; anything else becomes a one-line
TunesmithError naming the file and the exception's type. Results cross as pickles over a
pipe between this process and its own fork, never through a file.

The children are forked (Linux): they inherit the parent's imports (no re-import of
``__main__``, which ``spawn`` would re-run unguarded) and never touch torch, whose
OpenMP threads do not survive a fork: they only run music21 and symusic. Elsewhere
(macOS, Windows: no safe fork) everything runs in this process, *without* a deadline.
Inside a child, :func:`call` and :func:`run_all` run in-process too (no fork of a fork):
the child's own deadline covers them. A child ignores Ctrl-C (the parent, interrupted,
kills its children on the way out) and dies with its parent (``PR_SET_PDEATHSIG``), so
none is left behind stuck in music21.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tunesmith.errors import TunesmithError, first_line
from tunesmith.io.limits import ENV, OverLimit, limits

FORK = sys.platform.startswith("linux")  # where a forked child is safe and cheap
STALL_FACTOR = 4  # a read's wall-clock backstop, in multiples of its processor-time budget
_in_child = False  # set in the children: they read in-process


def available() -> bool:
    """Whether reads run in a child process with a deadline here (Linux, not in a child)."""
    return FORK and not _in_child


def timeout_reason(seconds: float) -> str:
    """Why an item was dropped when its read ran out of time."""
    return (f"took longer than {seconds:g} s to read (parse_seconds limit; raise it with "
            f"{ENV}=parse_seconds=N)")


@dataclass
class Outcome:
    """What one read gave: its ``value``, or the ``error`` it raised."""

    value: Any = None
    error: Exception | None = None

    def result(self):
        """The value, or raise the error."""
        if self.error is not None:
            raise self.error
        return self.value


def call(fn: Callable, *args, where=None, seconds: float | None = None,
         imports: tuple[str, ...] = ()):
    """``fn(*args)`` in a forked child killed after ``seconds`` (default: the
    ``parse_seconds`` limit); a read over time is a one-line :class:`TunesmithError`
    naming ``where``. ``imports``: modules imported here first, so that the child (and
    every later one) inherits them rather than importing them again (music21: ~1.5 s).
    In-process where :func:`available` is False."""
    if not available():
        return fn(*args)
    return run_all(lambda a: fn(*a), [args], workers=1, seconds=seconds,
                   where=lambda _: where, imports=imports)[0].result()


def run_all(fn: Callable, items: Sequence, workers: int = 2, seconds: float | None = None,
            where: Callable[[Any], Any] = lambda item: None,
            done: Callable[[int, Outcome], None] | None = None,
            imports: tuple[str, ...] = ()) -> list[Outcome]:
    """``fn(item)`` for every item, in up to ``workers`` forked children, each item with
    a deadline of ``seconds`` (default: the ``parse_seconds`` limit). Returns an
    :class:`Outcome` per item, in order; ``done(index, outcome)`` hears of each as it
    ends. An item over time, or whose worker dies, fails with a TunesmithError naming
    ``where(item)``; the other items go on. ``imports`` as for :func:`call`. In-process,
    in order, without a deadline where :func:`available` is False."""
    if available() and items:
        import importlib

        for name in imports:
            importlib.import_module(name)
    if not available():
        out = []
        for i, item in enumerate(items):
            outcome = _run_here(fn, item)
            out.append(outcome)
            if done is not None:
                done(i, outcome)
        return out
    return _Pool(fn, items, max(1, min(workers, len(items))),
                 limits().parse_seconds if seconds is None else seconds, where, done).run()


def _run_here(fn: Callable, item) -> Outcome:
    try:
        return Outcome(value=fn(item))
    except (TunesmithError, ValueError) as e:
        return Outcome(error=e)


# --- the children ----------------------------------------------------------------------

def _pack(e: BaseException) -> tuple:
    """An exception as plain data for the pipe (see the module doc)."""
    if isinstance(e, OverLimit):
        return ("limit", e.reason, e.name, e.path)
    if isinstance(e, TunesmithError):
        text, prefix = str(e), f"{e.path}: " if e.path else ""
        return ("tunesmith", text[len(prefix):] if prefix and text.startswith(prefix)
                else text, e.path)
    if isinstance(e, ValueError):
        return ("value", str(e))
    return ("other", f"{type(e).__name__}: {first_line(e)}")


def _unpack(packed: tuple, where) -> Exception:
    kind = packed[0]
    if kind == "limit":
        return OverLimit(packed[1], packed[2], packed[3])
    if kind == "tunesmith":
        return TunesmithError(packed[1], packed[2])
    if kind == "value":
        return ValueError(packed[1])
    return TunesmithError(f"could not be read ({packed[1]})", where)


def _worker(fn: Callable, items: Sequence, conn, parent: int) -> None:
    """A child's loop: read the index of the next item, send back (index, ok, value or
    packed error); stop at None or when the parent is gone."""
    global _in_child
    _in_child = True
    # Ctrl-C is the parent's to handle (it kills its children): no traceback from here
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    # the children run music21 only; should anything start a thread pool, one thread
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    while True:
        try:
            index = conn.recv()
        except (EOFError, OSError):
            return
        if index is None:
            return
        try:
            message = (index, True, fn(items[index]))
        except Exception as e:  # noqa: BLE001 - every error goes back to the parent
            message = (index, False, _pack(e))
        try:
            conn.send(message)
        except (EOFError, OSError):
            return
        except Exception as e:  # noqa: BLE001 - a value that does not pickle
            conn.send((index, False, _pack(e)))


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this child when its parent dies (killed itself, say), so that
    a child stuck in music21 does not run on alone."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the request: go now
            os._exit(1)
    except (OSError, AttributeError):
        pass


@dataclass
class _Slot:
    process: Any
    conn: Any
    index: int | None = None  # the item it is reading
    started: float = 0.0  # the clock when it began reading it
    cpu_started: float = 0.0  # and its processor seconds then


class _Pool:
    def __init__(self, fn, items, workers, seconds, where, done):
        import multiprocessing

        self.ctx = multiprocessing.get_context("fork")
        self.fn, self.items, self.workers, self.seconds = fn, items, workers, seconds
        self.where, self.done = where, done
        self.out: list[Outcome | None] = [None] * len(items)
        self.pending = deque(range(len(items)))
        self.slots: list[_Slot] = []

    def run(self) -> list[Outcome]:
        from multiprocessing.connection import wait

        try:
            for _ in range(self.workers):
                self.slots.append(self._assign(self._spawn()))
            while True:
                busy = [s for s in self.slots if s.index is not None]
                if not busy:
                    break
                # a child's processor time grows no faster than the clock (one thread),
                # so none can run over its budget before the soonest of these
                left = min(self._left(s) for s in busy)
                ready = set(wait([s.conn for s in busy] + [s.process.sentinel for s in busy],
                                 max(0.01, left)))
                for s in busy:
                    if s.conn in ready or s.process.sentinel in ready:
                        self._receive(s)
                    elif self._left(s) <= 0:
                        self._fail(s, TunesmithError(timeout_reason(self.seconds),
                                                     self.where(self.items[s.index])))
        finally:
            self._close()
        return [o if o is not None else Outcome(error=TunesmithError("not read"))
                for o in self.out]

    def _spawn(self) -> _Slot:
        parent, child = self.ctx.Pipe()
        process = self.ctx.Process(target=_worker, daemon=True,
                                   args=(self.fn, self.items, child, os.getpid()))
        process.start()
        child.close()
        return _Slot(process, parent)

    def _assign(self, slot: _Slot) -> _Slot:
        slot.index = None
        if self.pending:
            slot.index = self.pending.popleft()
            slot.started = time.monotonic()
            slot.cpu_started = cpu_seconds(slot.process.pid)
            slot.conn.send(slot.index)
        return slot

    def _left(self, slot: _Slot) -> float:
        """Seconds before ``slot``'s item is over its budget, at the soonest: its
        processor time left, or the clock's backstop (:data:`STALL_FACTOR`) if sooner."""
        cpu = cpu_seconds(slot.process.pid) - slot.cpu_started
        wall = time.monotonic() - slot.started
        return min(self.seconds - cpu, STALL_FACTOR * self.seconds - wall)

    def _finish(self, index: int, outcome: Outcome) -> None:
        self.out[index] = outcome
        if self.done is not None:
            self.done(index, outcome)

    def _receive(self, slot: _Slot) -> None:
        try:
            if not slot.conn.poll():
                raise EOFError
            index, ok, payload = slot.conn.recv()
        except (EOFError, OSError):
            slot.process.join(timeout=1)  # it closed its end: it is ending, or ended
            code = slot.process.exitcode
            why = (f"killed by signal {-code}" if code is not None and code < 0
                   else f"exit status {code}")
            self._fail(slot, TunesmithError(f"the reading process died ({why})",
                                            self.where(self.items[slot.index])))
            return
        item = self.items[index]
        self._finish(index, Outcome(value=payload) if ok
                     else Outcome(error=_unpack(payload, self.where(item))))
        self._assign(slot)

    def _fail(self, slot: _Slot, error: Exception) -> None:
        """End ``slot``'s worker (over time, or dead), fail its item, and put a fresh
        worker in its place while items are left."""
        self._finish(slot.index, Outcome(error=error))
        _stop(slot, kill=True)
        i = self.slots.index(slot)
        if self.pending:
            self.slots[i] = self._assign(self._spawn())
        else:
            slot.index = None

    def _close(self) -> None:
        for s in self.slots:
            _stop(s, kill=s.index is not None)  # a worker still reading is killed


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """The processor seconds (user and system) process ``pid`` has used so far, from
    ``/proc/PID/stat`` (Linux; where children are forked); 0.0 where it cannot be read
    (the process has just ended: its sentinel says so)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return 0.0
    # the name in parentheses may hold spaces: fields 14 and 15 (utime, stime) are the
    # 12th and 13th after it
    fields = stat[stat.rfind(b")") + 2:].split()
    try:
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (IndexError, ValueError):
        return 0.0


def _stop(slot: _Slot, kill: bool) -> None:
    if kill:
        slot.process.kill()
    else:
        try:
            slot.conn.send(None)
        except (EOFError, OSError):
            pass
    slot.process.join(timeout=None if kill else 5)
    if slot.process.is_alive():
        slot.process.kill()
        slot.process.join()
    slot.conn.close()
