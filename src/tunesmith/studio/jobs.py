"""Jobs: work a request starts and the page watches.

A :class:`Job` keeps the events it emitted (progress, a finished piece, done, failed) in
order, so that a page that connects late, or twice, hears all of them (Server-Sent Events
replay from the start or from ``Last-Event-ID``). A :class:`Lane` runs jobs on a few
worker threads with a **bounded queue**: when ``workers + queue`` jobs are already
waiting or running, :meth:`Lane.submit` raises :class:`Busy` at once (the server answers
429), so a flood of requests never piles up work or hangs.

A job that raises is marked failed with the exception's first line, and the lane goes
on; nothing a job does can stop the server.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from tunesmith.errors import OptionError, TunesmithError, first_line

FINAL = ("done", "failed", "stopped", "rejected")


class Busy(Exception):
    """The lane's queue is full."""


class Stopped(Exception):
    """Raised inside a job's work (from its own callbacks, :meth:`Job.check_stop`) once
    someone asked the job to stop; the work ends there, keeping what it finished."""


class Job:
    def __init__(self, job_id: str, kind: str, about: dict | None = None):
        self.id, self.kind = job_id, kind
        self.about = dict(about or {})
        self.status = "queued"
        self.error = ""
        self.result: dict = {}
        self.created = time.time()
        self.events: list[dict] = []
        self._cond = threading.Condition()
        self.on_finish: list[Callable[[Job], None]] = []
        self.stop_asked = threading.Event()

    def emit(self, kind: str, **data) -> None:
        with self._cond:
            self.events.append({"id": len(self.events) + 1, "event": kind, "data": data})
            self._cond.notify_all()

    def start(self) -> bool:
        """Mark the job running; False (and nothing changed) when it is over already (a
        stop came while it waited)."""
        with self._cond:
            if self.status in FINAL:
                return False
            self.status = "running"
        self.emit("status", status="running")
        return True

    def finish(self, status: str, error: str = "", **result) -> None:
        with self._cond:  # once: a stop and the work's own end may race
            if self.status in FINAL:
                return
            self.status, self.error = status, error
            self.result.update(result)
        self.emit(status, error=error, **result)
        for hook in self.on_finish:
            try:
                hook(self)
            except Exception:  # noqa: BLE001 - a listener's failure must not undo the job
                pass

    def ask_stop(self) -> None:
        """Ask the job to stop: a queued job stops now; a running one at the next check
        its work makes (:meth:`check_stop`: a composer checks between tokens)."""
        self.stop_asked.set()
        with self._cond:  # (not while start() marks it running)
            if self.status == "queued":
                self.finish("stopped", "stopped before it began")

    def check_stop(self) -> None:
        """Raise :class:`Stopped` when the job was asked to stop."""
        if self.stop_asked.is_set():
            raise Stopped

    @property
    def finished(self) -> bool:
        return self.status in FINAL

    def since(self, seen: int) -> list[dict]:
        with self._cond:
            return self.events[seen:]

    def wait(self, seen: int, timeout: float) -> None:
        """Block until there is an event after ``seen`` or the job is over (tests)."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.events) > seen or self.finished, timeout)

    def to_json(self) -> dict:
        return {"id": self.id, "kind": self.kind, "status": self.status, "error": self.error,
                "result": self.result, "created": self.created, "about": self.about,
                "events": len(self.events)}


class Lane:
    """``workers`` threads, at most ``workers + queue`` jobs in it at once."""

    def __init__(self, name: str, workers: int, queue: int):
        self.name = name
        self.capacity = workers + queue
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._inside = 0
        self.closed = False

    @property
    def load(self) -> int:
        return self._inside

    def submit(self, job: Job, work: Callable[[Job], dict | None]) -> Job:
        with self._lock:
            if self.closed:
                raise Busy(f"the {self.name} lane is shutting down")
            if self._inside >= self.capacity:
                raise Busy(f"{self._inside} {self.name} jobs are already waiting or running "
                           "(the queue is full); try again in a moment")
            self._inside += 1
        try:
            self._pool.submit(self._run, job, work)
        except RuntimeError as e:  # the pool shut down meanwhile
            with self._lock:
                self._inside -= 1
            raise Busy(str(e)) from None
        return job

    def _run(self, job: Job, work) -> None:
        try:
            if self.closed:
                job.finish("failed", "the studio is shutting down")
                return
            if not job.start():  # stopped while it waited
                return
            result = work(job) or {}
            job.finish("done", **result)
        except Stopped:
            job.finish("stopped", "stopped on request")
        except OptionError as e:
            job.finish("failed", str(e), field=e.option)
        except TunesmithError as e:
            job.finish("failed", str(e))
        except Exception as e:  # noqa: BLE001 - a crashed job fails; the server goes on
            job.finish("failed", f"{type(e).__name__}: {first_line(e)}")
        finally:
            with self._lock:
                self._inside -= 1

    def shutdown(self, wait: bool = False) -> None:
        self.closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)


class Board:
    """The jobs of this server's life, the most recent ``keep`` of them."""

    def __init__(self, keep: int = 2000):
        self.keep = keep
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, job: Job) -> Job:
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self.keep:
                oldest = next(iter(self._jobs))
                if not self._jobs[oldest].finished:
                    break
                self._jobs.popitem(last=False)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def running(self, kind: str) -> Job | None:
        with self._lock:
            return next((j for j in reversed(self._jobs.values())
                         if j.kind == kind and not j.finished), None)

    def latest(self, kind: str) -> Job | None:
        with self._lock:
            return next((j for j in reversed(self._jobs.values()) if j.kind == kind), None)


_PATH = re.compile(r"(?<![\w.])/(?:[^\s'\":/]+/)+([^\s'\":/]*)")


def no_paths(message: str) -> str:
    """``message`` with every absolute path cut to its last part (a corpus file, a report,
    a run folder): what a log line tells the page, never where the server keeps it."""
    return _PATH.sub(lambda m: m.group(1) or "/", message)


__all__ = ["FINAL", "Board", "Busy", "Job", "Lane", "no_paths"]
