"""The studio's state, apart from the web framework: the gallery, the models, the lanes
of work (compose: a few workers and a bounded queue; evaluate: one worker; train: one
process) and the jobs. :mod:`tunesmith.studio.server` maps HTTP onto it.
"""

from __future__ import annotations

from pathlib import Path

from tunesmith.errors import OptionError
from tunesmith.studio.config import StudioSettings
from tunesmith.studio.jobs import Board, Busy, Job, Lane, no_paths
from tunesmith.studio.store import Store, new_id


class Studio:
    def __init__(self, settings: StudioSettings, cwd: Path | None = None):
        from tunesmith.studio import engrave
        from tunesmith.studio.catalog import Catalog, ModelCache
        from tunesmith.studio.training import Training
        from tunesmith.studio.uploads import Uploads

        self.settings = settings
        self.data = settings.data_path()
        self.store = Store(self.data)
        self.store.abandon_unfinished()
        cwd = cwd or Path.cwd()
        runs = [self.data / "runs", cwd / "runs", *(Path(p).expanduser()
                                                     for p in settings.runs_dirs)]
        unique: list[Path] = []
        for r in runs:
            if r.resolve() not in [u.resolve() for u in unique]:
                unique.append(r)
        self.catalog = Catalog(unique, [Path(p).expanduser().resolve()
                                        for p in settings.corpus_dirs])
        self.cache = ModelCache(settings.device)
        self.uploads = Uploads(self.data / "uploads", settings.max_upload_bytes)
        self.board = Board()
        self.compose_lane = Lane("compose", settings.workers, settings.queue)
        self.eval_lane = Lane("evaluate", 1, 2)
        self.engrave = engrave.available()
        self.training = Training(self)
        if self.engrave:  # the score's music21 child is forked: import music21 here once
            import threading

            threading.Thread(target=engrave.warm, name="studio-warm", daemon=True).start()

    # --- jobs ----------------------------------------------------------------------------
    def track(self, job: Job, request: dict) -> Job:
        """Record a job (memory and database) and its end."""
        self.board.add(job)
        self.store.add_job(job.id, job.kind, request)
        job.on_finish.append(lambda j: self.store.finish_job(j.id, j.status, j.result,
                                                             j.error))
        return job

    def submit_compose(self, job: Job, plan) -> Job:
        from tunesmith.options import to_dict
        from tunesmith.studio import composer

        self.track(job, {"model": plan.entry.id, "options": _plain(to_dict(plan.options))})
        return self._submit(self.compose_lane, job, lambda j: composer.compose(self, plan, j))

    def _submit(self, lane: Lane, job: Job, work) -> Job:
        try:
            return lane.submit(job, work)
        except Busy as e:
            job.finish("rejected", str(e))
            raise

    def compose(self, body: dict) -> Job:
        from tunesmith.studio import composer

        plan = composer.plan(self, body)
        return self.submit_compose(Job(new_id(), "compose", {"model": plan.entry.id,
                                                             "label": plan.entry.label}), plan)

    def stop_compose(self, job_id: str) -> Job:
        """Stop a compose job: one still queued at once, a running one within a few
        tokens (the GAN, which draws a piece in one pass, between batches), keeping the
        pieces it sampled; a finished one is left as it is. A
        training stops through :meth:`Training.stop
        <tunesmith.studio.training.Training.stop>` (it keeps its last checkpoint)."""
        from tunesmith.studio.store import NotFound

        job = self.board.get(job_id)
        if job is None or job.kind != "compose":
            raise NotFound(f"compose job {job_id[:40]!r}")
        if not job.finished:
            job.ask_stop()
        return job

    def evaluate(self, body: dict) -> Job:
        """Likelihood figures (``app.evaluate``) or the musical report
        (``app.music_report``) of a model, in the evaluation lane."""
        from tunesmith import app

        if not isinstance(body, dict):
            raise OptionError("", "the request must be a JSON object")
        unknown = set(body) - {"model", "kind", "num"}
        if unknown:
            raise OptionError(sorted(unknown)[0], "is not part of an evaluation request "
                              "(model, kind, num)")
        kind = body.get("kind", "likelihood")
        if kind not in ("likelihood", "music"):
            raise OptionError("kind", "must be 'likelihood' or 'music'")
        model_id = body.get("model")
        try:
            entry = self.catalog.model(model_id if isinstance(model_id, str) else "")
        except LookupError:
            raise OptionError("model", "is not a model of this studio") from None
        num = body.get("num")
        if num is not None and (not isinstance(num, int) or isinstance(num, bool)
                                or not 1 <= num <= 200):
            raise OptionError("num", "must be a whole number from 1 to 200")
        out = self.data / "reports" / entry.id
        if kind == "likelihood":
            request = app.EvaluateRequest(model=str(entry.path), samples=num or 20,
                                          device=self.settings.device)

            def work(job: Job) -> dict:
                ev = app.evaluate(request, progress=_progress(job), log=_log(job))
                return {"model": entry.id, "unit": ev.unit, "results": ev.results,
                        "items": ev.items, "validity": ev.validity, "notes": ev.notes}
        else:
            request = app.MusicRequest(model=str(entry.path), num=num, out=str(out),
                                       device=self.settings.device, overwrite=True,
                                       label=entry.label)

            def work(job: Job) -> dict:
                app.music_report(request, progress=_progress(job), log=_log(job))
                return {"model": entry.id, "report": f"/api/models/{entry.id}/report"}

        job = Job(new_id(), "evaluate", {"model": entry.id, "label": entry.label,
                                         "what": kind})
        self.track(job, {"model": entry.id, "kind": kind, "num": num})
        return self._submit(self.eval_lane, job, work)

    def report_path(self, model_id: str) -> Path | None:
        for m in self.catalog.models():
            if m.id == model_id:
                path = self.data / "reports" / m.id / "report.html"
                return path if path.is_file() else None
        return None

    def close(self) -> None:
        self.compose_lane.shutdown()
        self.eval_lane.shutdown()
        self.training.shutdown()


def _progress(job: Job):
    def progress(e) -> None:
        job.emit("progress", task=e.task, done=e.done, total=e.total, unit=e.unit)

    return progress


def _log(job: Job):
    def log(message: str, level: str = "info") -> None:
        job.emit("log", message=no_paths(str(message))[:500], level=level)

    return log


def _plain(d: dict) -> dict:
    return {k: v for k, v in d.items() if not (k == "primer" and isinstance(v, str)
                                               and v.startswith("/"))}


__all__ = ["Studio"]
