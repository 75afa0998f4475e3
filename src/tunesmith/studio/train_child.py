"""The training job's own process: ``python -m tunesmith.studio.train_child``.

It reads one JSON line from stdin, ``{"kind": "train" | "resume", "request": {...}}``,
calls :func:`tunesmith.app.train` or :func:`tunesmith.app.resume` on its main thread, and
writes what happens to stdout as JSON lines: ``progress`` (the trainer's events, at most
a few a second), ``log``, then ``done`` (the run's summary) or ``error`` (one line).

Stopping: a ``stop`` line on stdin, or stdin closing (the studio went away), sends this
process SIGTERM, which the trainer already handles as Ctrl-C: it finishes the current
step, writes the ``last`` checkpoint and returns, so the run can be resumed exactly.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

_out = threading.Lock()


def emit(kind: str, **data) -> None:
    line = json.dumps({"type": kind, **data}, default=str)
    with _out:
        sys.__stdout__.write(line + "\n")
        sys.__stdout__.flush()


def _watch_stdin() -> None:
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    os.kill(os.getpid(), signal.SIGTERM)


def main() -> int:
    from tunesmith.errors import TunesmithError, first_line

    first = sys.stdin.readline()
    try:
        message = json.loads(first)
        kind, fields = message["kind"], dict(message["request"])
    except (ValueError, KeyError, TypeError):
        emit("error", message="the studio sent a malformed job")
        return 2
    sys.stdout = sys.stderr  # stray prints must not look like messages
    try:
        os.nice(5)  # the studio's page and its composers come first
    except OSError:
        pass
    threading.Thread(target=_watch_stdin, daemon=True).start()
    last = [0.0]

    def progress(e) -> None:
        now = time.monotonic()
        if now - last[0] < 0.25 and not e.finished:
            return
        last[0] = now
        emit("progress", task=e.task, done=e.done, total=e.total, unit=e.unit,
             info=dict(e.info), initial=e.initial)

    def log(message: str, level: str = "info") -> None:
        emit("log", message=str(message), level=level)

    from tunesmith import app

    try:
        if kind == "train":
            result = app.train(app.TrainRequest(**fields), progress=progress, log=log)
        elif kind == "resume":
            result = app.resume(app.ResumeRequest(**fields), progress=progress, log=log)
        else:
            emit("error", message=f"unknown job kind {kind!r}")
            return 2
    except TunesmithError as e:
        emit("error", message=str(e))
        return 2
    except Exception as e:  # noqa: BLE001 - one line back to the page, never a traceback
        emit("error", message=f"{type(e).__name__}: {first_line(e)}")
        return 1
    emit("done", summary=result.summary, seconds=round(result.seconds, 2),
         interrupted=result.interrupted, unit=result.unit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
