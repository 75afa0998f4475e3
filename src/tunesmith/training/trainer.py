"""The one training loop for every model family.

Nothing here knows which model it trains. It needs:

- ``model``: an ``nn.Module`` with ``family``, ``config`` and ``loss(batch) -> dict`` (a
  ``loss`` tensor to minimise, ``count`` = tokens it averages over, other scalars to log);
- ``representation`` with ``to_dict()`` (saved in checkpoints);
- ``train_data.batch(step) -> dict of tensors``, a pure function of the step (exact resume
  without sampler state) and ``train_data.tokens_per_batch``;
- ``valid_data``: an iterable of batches, re-iterable.

Exact resume: weights, Adam state and torch RNG state are checkpointed; the learning rate
and the data are functions of the step. A resumed run logs the same losses as an
uninterrupted one. Ctrl-C / SIGTERM finish the current step, write ``last`` and return.
"""

from __future__ import annotations

import math
import signal
import time
from dataclasses import asdict
from pathlib import Path

import torch

from tunesmith.errors import CheckpointError, TunesmithError
from tunesmith.evaluation.likelihood import derived, evaluate, to_device
from tunesmith.progress import Progress, report
from tunesmith.training.checkpoint import (
    load_training_state,
    pack_training_state,
    recover,
    save_checkpoint,
)
from tunesmith.training.config import TrainConfig
from tunesmith.training.device import resolve_device
from tunesmith.training.logging import RunLogger


class Trainer:
    def __init__(self, model, representation, train_data, valid_data, config: TrainConfig,
                 run_dir: str | Path, *, resume: bool = False, progress: Progress | None = None,
                 summary_extra: dict | None = None, tensorboard: bool = True, log=None):
        self.cfg = config
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for name in ("last", "best"):  # this run's own interrupted writes, from its journals
            recover(self.run_dir / name)
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        self.representation = representation
        self.train_data, self.valid_data = train_data, valid_data
        self.progress = progress
        self.summary_extra = summary_extra or {}
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr,
                                          weight_decay=config.weight_decay)
        self.step = 0
        self.best: dict | None = None  # best validation metrics so far
        self.evals_since_best = 0
        self.acc = {"sums": {}, "count": 0.0}  # training metrics since the last log row
        self.stopped_early = False
        torch.manual_seed(config.seed)
        resume_step = None
        if resume:
            self._restore(self.run_dir / "last")
            resume_step = self.step
        # ``log(message, level)`` hears what resuming found damaged in metrics.csv
        self.logger = RunLogger(self.run_dir, resume_step=resume_step, tensorboard=tensorboard,
                                log=log)
        self._stop_requested = False
        self._postfix: dict[str, str] = {}

    # --- state ---------------------------------------------------------------------------
    def _restore(self, folder: Path) -> None:
        """Weights, optimiser, RNG and loop state from the run's ``last`` checkpoint, each
        checked first (:func:`~tunesmith.training.checkpoint.read_meta`,
        :func:`~tunesmith.training.checkpoint.load_training_state`): a damaged one is a
        one-line CheckpointError naming the file, never a traceback."""
        from tunesmith.training.checkpoint import WEIGHTS_FILE, checked_weights, load_weights

        meta, weights = checked_weights(folder)
        if meta["family"] != self.model.family:
            raise CheckpointError(f"holds a {meta['family']} model; this run trains "
                                  f"{self.model.family}", folder)
        load_weights(self.model, weights, folder / WEIGHTS_FILE)
        info = load_training_state(folder, self.optimizer)
        self.step = info["step"]
        self.best = info.get("best")
        self.evals_since_best = info.get("evals_since_best", 0)
        self.acc = info.get("acc", self.acc)
        # a run that stopped early goes on when it is resumed with a larger patience
        self.stopped_early = (info.get("stopped_early", False) and bool(self.cfg.patience)
                              and self.evals_since_best >= self.cfg.patience)

    def _summary(self) -> dict:
        return {"step": self.step, "best_valid": self.best, "train_config": asdict(self.cfg),
                "stopped_early": self.stopped_early, **self.summary_extra}

    def save(self, name: str = "last", with_state: bool = True) -> Path:
        state = None
        if with_state:
            state = pack_training_state(self.optimizer, {
                "step": self.step, "best": self.best, "evals_since_best": self.evals_since_best,
                "acc": self.acc, "stopped_early": self.stopped_early})
        return save_checkpoint(self.run_dir / name, self.model, self.representation,
                               summary=self._summary(), training_state=state)

    # --- loop ----------------------------------------------------------------------------
    def _request_stop(self, signum=None, frame=None):
        """Finish the current step, write ``last`` and return (Ctrl-C, SIGTERM, or a
        caller on another thread, e.g. a web page's Stop button)."""
        self._stop_requested = True
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C is hard

    request_stop = _request_stop

    def fit(self, stop_at: int | None = None) -> dict:
        """Train until ``cfg.steps`` (or ``stop_at``, or early stopping, or a stop request:
        a signal, or :meth:`request_stop`)."""
        cfg = self.cfg
        end = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
        previous = {}
        try:  # signal handlers can only be set from the main thread
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._request_stop)
        except ValueError:
            previous = {}
        self.model.train()
        self._clock = {"window": time.perf_counter(), "tokens": 0, "start": time.perf_counter()}
        start, interrupted = self.step, False
        self._report(start)
        try:
            while self.step < end and not self.stopped_early:
                if self._stop_requested:
                    interrupted = True
                    break
                self._train_step()
                if self.step % cfg.eval_every == 0 or self.step == cfg.steps:
                    self._validate()
                    self.save("last")
                elif cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self.save("last")
                self._report(start)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if interrupted or self.step == end or self.stopped_early:
            self.save("last")
        self.logger.plot()
        self.logger.close()
        summary = self._summary()
        summary["interrupted"] = interrupted
        return summary

    def _report(self, start: int) -> None:
        report(self.progress, f"train {self.model.family}", self.step, self.cfg.steps, "step",
               self._postfix, initial=start)

    def _train_step(self) -> None:
        """One optimiser step, its metrics summed into the current log window."""
        cfg = self.cfg
        lr = cfg.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        batch = to_device(self.train_data.batch(self.step), self.device)
        out = self.model.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        if cfg.clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip)
        self.optimizer.step()
        self.step += 1
        n = float(out["count"])
        loss_value = float(out["loss"].detach())
        self._clock["tokens"] += int(n)
        self.acc["count"] += n
        for k, v in out.items():
            if k != "count":
                self.acc["sums"][k] = self.acc["sums"].get(k, 0.0) + float(v.detach()) * n
        if not math.isfinite(loss_value):
            raise TunesmithError(f"training diverged: loss became {loss_value} at step "
                                 f"{self.step} (try a lower --lr, or --clip 1)", self.run_dir)
        if self.step % cfg.log_every == 0 or self.step == cfg.steps:
            self._log_window(lr)

    def _log_window(self, lr: float) -> None:
        """A ``train`` row of metrics.csv: the means since the last row, and speed."""
        now, clock = time.perf_counter(), self._clock
        metrics = derived({k: v / max(self.acc["count"], 1.0)
                           for k, v in self.acc["sums"].items()})
        metrics.update(lr=lr, tokens_per_s=clock["tokens"] / max(now - clock["window"], 1e-9),
                       elapsed_s=now - clock["start"])
        self.logger.log(self.step, "train", metrics)
        self.acc = {"sums": {}, "count": 0.0}
        clock["window"], clock["tokens"] = now, 0
        self._postfix["loss"] = f"{metrics['loss']:.3f}"

    def _validate(self) -> dict:
        metrics = evaluate(self.model, self.valid_data, self.device)
        self.model.train()
        if not metrics:
            return metrics
        self.logger.log(self.step, "valid", metrics)
        if self.best is None or metrics["loss"] < self.best["loss"]:
            self.best = {k: float(v) for k, v in metrics.items()} | {"step": self.step}
            self.evals_since_best = 0
            self.save("best", with_state=False)
        else:
            self.evals_since_best += 1
            if self.cfg.patience and self.evals_since_best >= self.cfg.patience:
                self.stopped_early = True
        self._postfix["val"] = f"{metrics['loss']:.3f}"
        return metrics
