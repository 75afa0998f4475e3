"""Training from the page: one job at a time, in its own process.

Why a process and not a thread: training keeps every core busy for minutes to hours; in
a child process (niced) it cannot take the server's GIL or torch's process-wide thread
pool from the composers and the page, a crash or an out-of-memory kill there cannot take
the server down, and stopping it is the trainer's own graceful stop (SIGTERM, as Ctrl-C:
it finishes the step, writes ``last`` and returns), so nothing in the application layer
had to change. The child is :mod:`tunesmith.studio.train_child`; it calls
:func:`tunesmith.app.train` / :func:`tunesmith.app.resume` and reports as JSON lines.

Runs live in ``runs/`` under the studio's data folder; the run folders in the other
runs folders the studio was started with can be resumed too. A request names a corpus,
a run or a model by an id, never by a path. While a run trains, each new ``best``
checkpoint is sampled (one piece, in the compose lane, when it has room) and the piece
joins the gallery and the training panel.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import deque
from functools import partial
from pathlib import Path

from tunesmith.errors import OptionError, TunesmithError, first_line
from tunesmith.studio.jobs import Job, no_paths
from tunesmith.studio.store import NotFound, new_id

MAX_METRICS_BYTES = 16 << 20
SAMPLE_WAIT = 120.0  # seconds a finished run waits for its last sample before it ends


def run_id(folder: Path) -> str:
    return "run-" + hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:12]


class Training:
    def __init__(self, studio):
        self.studio = studio
        self.runs_dir = studio.data / "runs"
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.job: Job | None = None
        self._proc: subprocess.Popen | None = None
        self._stop_asked = False
        self._launched: dict[str, Path] = {}  # run id -> folder, before it holds a run

    # --- what can be trained and resumed -------------------------------------------------
    def runs(self) -> list[dict]:
        out = []
        for runs in [self.runs_dir, *self.studio.catalog.runs_dirs]:
            try:
                folders = sorted(p.parent for p in runs.glob("*/config.json"))
            except OSError:
                continue
            for folder in folders:
                rid = run_id(folder)
                if any(r["id"] == rid for r in out):
                    continue
                out.append(_describe_run(folder, rid))
        return out

    def run_folder(self, rid: str) -> Path:
        if rid in self._launched:
            return self._launched[rid]
        for runs in [self.runs_dir, *self.studio.catalog.runs_dirs]:
            for cfg in runs.glob("*/config.json") if runs.is_dir() else ():
                if run_id(cfg.parent) == rid:
                    return cfg.parent
        raise NotFound(f"no run {rid!r}")

    # --- start, resume, stop -------------------------------------------------------------
    def start(self, body: dict) -> Job:
        from tunesmith import app

        if not isinstance(body, dict):
            raise OptionError("", "the request must be a JSON object")
        unknown = set(body) - {"corpus", "family", "arch", "preset", "steps", "name"}
        if unknown:
            raise OptionError(sorted(unknown)[0], "is not part of a training request "
                              "(corpus, family, arch, preset, steps, name)")
        family = body.get("family", "abc")
        if not isinstance(family, str):
            raise OptionError("family", "must be a family name")
        corpus_id = body.get("corpus")
        if corpus_id is not None and not isinstance(corpus_id, str):
            raise OptionError("corpus", "must be a corpus id (GET /api/corpora)")
        try:
            entry = self.studio.catalog.corpus(corpus_id) if corpus_id else None
        except LookupError:
            raise OptionError("corpus", f"{corpus_id[:60]!r} is not a corpus of this studio "
                              "(built-in, or a folder it was started with)") from None
        corpus = entry.path if entry else None
        if entry is not None:
            _check_kind(entry, family)
        train = {}
        steps = body.get("steps")
        if steps is not None:
            if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
                raise OptionError("steps", f"must be a whole number >= 1, got {steps!r}")
            train["steps"] = steps
        for name in ("arch", "preset"):
            if body.get(name) is not None and not isinstance(body[name], str):
                raise OptionError(name, "must be a name")
        label = body.get("name") or ""
        if not isinstance(label, str):
            raise OptionError("name", "must be text")
        folder = self._new_folder(label or f"{family}-{body.get('preset') or 'small'}")
        request = app.TrainRequest(family=family, arch=body.get("arch") or None,
                                   preset=body.get("preset") or "small", corpus=corpus,
                                   out=str(folder), samples=0, train=train,
                                   command="tunesmith studio")
        app.plan(request)  # every setting checked now, named in the answer
        fields = {"family": request.family, "arch": request.arch, "preset": request.preset,
                  "corpus": request.corpus, "out": request.out, "samples": 0,
                  "train": train, "command": request.command}
        return self._launch("train", fields, folder,
                            {"family": family, "preset": request.preset,
                             "corpus": corpus_id or "", "run": run_id(folder),
                             "name": folder.name}, cleanup=folder)

    def resume(self, body: dict) -> Job:
        if not isinstance(body, dict):
            raise OptionError("", "the request must be a JSON object")
        unknown = set(body) - {"run", "steps"}
        if unknown:
            raise OptionError(sorted(unknown)[0], "is not part of a resume request (run, "
                              "steps)")
        rid = body.get("run")
        if not isinstance(rid, str):
            raise OptionError("run", "must be a run id (GET /api/runs)")
        try:
            folder = self.run_folder(rid)
        except LookupError:
            raise OptionError("run", f"{rid[:60]!r} is not a run of this studio") from None
        if not (folder / "last").is_dir():
            raise OptionError("run", f"{folder.name} has no 'last' checkpoint to resume from")
        fields = {"run": str(folder), "samples": 0, "command": "tunesmith studio (resume)"}
        steps = body.get("steps")
        if steps is not None:
            if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
                raise OptionError("steps", f"must be a whole number >= 1, got {steps!r}")
            fields["steps"] = steps
        from tunesmith.app.training import ResumeRequest, check_resume, steps_done

        plan = check_resume(ResumeRequest(run=str(folder), steps=steps))  # a 400 now
        done = steps_done(folder)
        if done is not None and (steps or plan.train.steps) <= done:
            raise OptionError("steps", f"the run is already at step {done}: ask for more "
                              "steps to go on")
        about = _describe_run(folder, rid)
        return self._launch("resume", fields, folder,
                            {"family": about.get("family", ""), "run": rid,
                             "name": folder.name, "resumed": True})

    def _new_folder(self, label: str) -> Path:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-.")[:40] or "run"
        n = 1
        while True:
            folder = self.runs_dir / (slug if n == 1 else f"{slug}-{n}")
            if not folder.exists():
                return folder
            n += 1

    def _launch(self, kind: str, fields: dict, folder: Path, about: dict,
                cleanup: Path | None = None) -> Job:
        with self._lock:
            if self.job is not None and not self.job.finished:
                raise Busy409(f"a training job is already running ({self.job.about.get('name')})"
                              "; stop it first")
            job = Job(new_id(), "train", about)
            self.studio.track(job, {"kind": kind, **{k: v for k, v in fields.items()
                                                     if k not in ("out", "run", "corpus")},
                                    **about})
            env = dict(os.environ, PYTHONUNBUFFERED="1")
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "tunesmith.studio.train_child"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    cwd=str(self.studio.data), env=env, text=True, bufsize=1)
            except OSError as e:
                raise TunesmithError(f"cannot start the training process ({e})") from None
            proc.stdin.write(json.dumps({"kind": kind, "request": fields}) + "\n")
            proc.stdin.flush()
            self.job, self._proc, self._stop_asked = job, proc, False
            self._launched[about["run"]] = folder
        job.start()
        threading.Thread(target=self._follow, args=(job, proc, folder, cleanup),
                         name=f"train-{job.id}", daemon=True).start()
        return job

    def stop(self, job_id: str) -> Job:
        with self._lock:
            job, proc = self.job, self._proc
            if job is None or job.id != job_id:
                raise NotFound(job_id)
            if job.finished or proc is None:
                return job
            self._stop_asked = True
        job.emit("log", message="stopping after this step; the run keeps its last checkpoint",
                 level="info")
        try:
            proc.stdin.write("stop\n")
            proc.stdin.flush()
        except (OSError, ValueError):
            pass
        return job

    def shutdown(self, wait: float = 20.0) -> None:
        with self._lock:
            job, proc = self.job, self._proc
        if proc is None or proc.poll() is not None:
            return
        if job is not None:
            self.stop(job.id)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    # --- following the child -------------------------------------------------------------
    def _follow(self, job: Job, proc: subprocess.Popen, folder: Path, cleanup) -> None:
        errors: deque[str] = deque(maxlen=20)
        threading.Thread(target=_drain, args=(proc.stderr, errors), daemon=True).start()
        outcome: dict = {}
        samples = _Samples(_mtime(folder / "best" / "tunesmith.json"))
        for line in proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if not isinstance(msg, dict):
                continue
            kind = msg.pop("type", "")
            if kind == "progress":
                job.emit("progress", **msg)
                self._maybe_sample(job, folder, samples)
            elif kind == "log":
                job.emit("log", message=no_paths(str(msg.get("message", "")))[:500],
                         level=msg.get("level", "info"))
            elif kind in ("done", "error"):
                outcome = {"type": kind, **msg}
        code = proc.wait()
        # The job's last events are its samples, then its end: wait for the piece in
        # flight, then compose one from the final best unless this job already has one.
        samples.wait(SAMPLE_WAIT)
        self._maybe_sample(job, folder, samples, final=True)
        samples.wait(SAMPLE_WAIT)
        if outcome.get("type") == "done":
            stopped = outcome.get("interrupted") or self._stop_asked
            summary = outcome.get("summary") or {}
            job.finish("stopped" if stopped else "done", step=summary.get("step"),
                       best=summary.get("best_valid"), seconds=outcome.get("seconds"),
                       run=job.about.get("run"))
        elif self._stop_asked:
            job.finish("stopped", "stopped before training began", run=job.about.get("run"))
        else:
            reason = outcome.get("message") or (errors[-1] if errors else "") or (
                f"the training process ended with code {code}")
            job.finish("failed", reason, run=job.about.get("run"))
        if cleanup is not None and not (cleanup / "last").exists() and not (
                cleanup / "best").exists():
            import shutil

            shutil.rmtree(cleanup, ignore_errors=True)  # nothing trained: no run to keep
        with self._lock:
            if self._proc is proc:
                self._proc = None

    def _maybe_sample(self, job: Job, folder: Path, samples: _Samples,
                      final: bool = False) -> None:
        """Compose one piece from a new ``best`` (when the compose lane has room); with
        ``final``, from the last best unless this job has sampled it already."""
        from tunesmith.families.base import ComposeOptions
        from tunesmith.studio import composer
        from tunesmith.studio.jobs import Busy

        if samples.busy:
            return
        stamp = _mtime(folder / "best" / "tunesmith.json")
        if stamp == 0.0 or stamp == samples.stamp and (not final or samples.made):
            return
        if not final and time.time() - stamp < 0.5:
            return  # let a write that just happened settle
        entry = self.studio.catalog.model_for_path(folder / "best")
        if entry is None or entry.error:
            return
        try:
            ckpt = self.studio.cache.load(entry)
            from tunesmith import families

            family = families.for_representation(ckpt.representation.name)
            # a short piece: a model early in training rarely ends one by itself
            short = {"max_len": max(1, family.defaults["max_len"] // 3)} if (
                "max_len" in family.controls and "max_len" in family.defaults) else {}
            opts = family.compose_options(ComposeOptions(num=1, seed=int(entry.step or 0),
                                                         **short))
            plan = composer.Plan(entry, ckpt, family, opts, source=f"train:{job.id}",
                                 title_prefix=f"{folder.name} at step {entry.step}")
            sample = Job(new_id(), "compose", {"model": entry.id, "sample_of": job.id})
            sample.on_finish.append(partial(_tell, job, entry.step))
            self.studio.submit_compose(sample, plan)
        except Busy:
            return  # the lane is full: the next report tries again
        except (TunesmithError, OSError, ValueError) as e:
            samples.stamp = stamp  # this best cannot be sampled: do not try it again
            job.emit("log", message=f"no sample from step {entry.step}: {first_line(e)}",
                     level="warning")
            return
        samples.started(stamp, sample)

    # --- curves --------------------------------------------------------------------------
    def metrics(self, rid: str) -> list[dict]:
        folder = self.run_folder(rid)
        return read_metrics(folder / "metrics.csv")


class _Samples:
    """The pieces one training job composes from its ``best`` checkpoints: the stamp of
    the last best sampled, and the compose job in flight (one at a time)."""

    def __init__(self, stamp: float):
        self.stamp = stamp
        self.made = False
        self.current: Job | None = None

    @property
    def busy(self) -> bool:
        return self.current is not None and not self.current.finished

    def started(self, stamp: float, job: Job) -> None:
        self.stamp, self.made, self.current = stamp, True, job

    def wait(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while self.busy and time.monotonic() < end:
            self.current.wait(len(self.current.events), min(1.0, end - time.monotonic()))


def _tell(job: Job, step, sample: Job) -> None:
    """A sample's end, told on its training job: its pieces, or why there are none."""
    pieces = sample.result.get("pieces", [])
    for i in pieces:
        job.emit("sample", id=i, step=step)
    if not pieces:
        job.emit("log", message=f"no sample from step {step}: "
                 f"{sample.error or 'the model wrote no piece'}", level="warning")


class Busy409(TunesmithError):
    """A training job is already running."""


def _check_kind(entry, family: str) -> None:
    """A built-in corpus of MIDI pieces for a family that learns from ABC text alone
    (abc, continue): a 400 now (the run would fail in its first minute). The families
    that read pieces read ABC tunes too, as pieces. A family it does not know is left to
    :func:`tunesmith.app.plan`, which names the known ones."""
    from tunesmith import families

    if entry.kind != "score":
        return  # ABC tunes, or a folder: what a folder holds is found when it is read
    try:
        fam = families.get(family)
    except OptionError:
        return
    if not fam.reads_pieces:
        raise OptionError("corpus", f"{entry.label} holds MIDI and MusicXML pieces; the "
                          f"{fam.name} family learns from ABC tunes")


def read_metrics(path: Path) -> list[dict]:
    """The rows of a run's ``metrics.csv`` as numbers (the last 16 MB at most)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            header = fh.readline()
            if size > MAX_METRICS_BYTES:
                fh.seek(size - MAX_METRICS_BYTES)
                fh.readline()
            data = fh.read()
    except OSError:
        return []
    text = (header + data).decode("utf-8", errors="replace")
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        out: dict = {"split": row.get("split", "")}
        try:
            out["step"] = int(row.get("step", ""))
        except ValueError:
            continue
        for k, v in row.items():
            if k in ("step", "split") or v in (None, ""):
                continue
            try:
                out[k] = float(v)
            except (TypeError, ValueError):
                pass
        rows.append(out)
    return rows


def _describe_run(folder: Path, rid: str) -> dict:
    from tunesmith.jsonfile import read_json

    out = {"id": rid, "name": folder.name, "family": "", "preset": "", "corpus": "",
           "steps": None, "step": None, "can_resume": (folder / "last").is_dir(),
           "has_best": (folder / "best").is_dir()}
    try:
        cfg = read_json(folder / "config.json")
        out.update(family=str(cfg.get("family", "")), preset=str(cfg.get("preset", "")),
                   corpus=Path(str(cfg.get("corpus", ""))).name,
                   steps=(cfg.get("train") or {}).get("steps"))
        meta = read_json(folder / "last" / "tunesmith.json") if out["can_resume"] else {}
        out["step"] = (meta.get("summary") or {}).get("step")
    except (TunesmithError, AttributeError, TypeError):
        pass
    return out


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _drain(stream, keep: deque) -> None:
    for line in stream:
        line = line.strip()
        if line:
            keep.append(line[:500])


__all__ = ["Busy409", "Training", "read_metrics", "run_id"]
