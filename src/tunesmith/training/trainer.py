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

from tunesmith.errors import CheckpointError, TunesmithError, first_line
from tunesmith.evaluation.likelihood import derived, evaluate, to_device
from tunesmith.training.checkpoint import (
    load_training_state,
    pack_training_state,
    recover,
    save_checkpoint,
)
from tunesmith.training.config import TrainConfig
from tunesmith.training.logging import RunLogger


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU; an unknown or absent device is a user
    error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TunesmithError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TunesmithError(f"device {name!r} asked for, but this machine has no CUDA GPU")
    if device.type == "cuda" and device.index is not None \
            and device.index >= torch.cuda.device_count():
        raise TunesmithError(f"device {name!r}: only {torch.cuda.device_count()} GPU(s) here")
    return device


class Trainer:
    def __init__(self, model, representation, train_data, valid_data, config: TrainConfig,
                 run_dir: str | Path, *, resume: bool = False, progress: bool = True,
                 summary_extra: dict | None = None, tensorboard: bool = True):
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
        self.logger = RunLogger(self.run_dir, resume_step=resume_step, tensorboard=tensorboard)
        self._stop_requested = False
        self._postfix: dict[str, str] = {}

    # --- state ---------------------------------------------------------------------------
    def _restore(self, folder: Path) -> None:
        from safetensors.torch import load_file

        from tunesmith.training.checkpoint import WEIGHTS_FILE, read_meta

        read_meta(folder)
        try:
            self.model.load_state_dict(load_file(str(folder / WEIGHTS_FILE),
                                                 device=str(self.device)))
        except RuntimeError as e:
            raise CheckpointError(f"weights do not fit this run's model ({first_line(e)})",
                                  folder) from None
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
    def _request_stop(self, signum, frame):
        self._stop_requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C is hard

    def fit(self, stop_at: int | None = None) -> dict:
        """Train until ``cfg.steps`` (or ``stop_at``, or early stopping, or a signal)."""
        cfg = self.cfg
        end = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
        previous = {}
        try:  # signal handlers can only be set from the main thread
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._request_stop)
        except ValueError:
            previous = {}
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.steps, initial=self.step, unit="step", dynamic_ncols=True,
                       desc=f"train {self.model.family}")
        self.model.train()
        t_window, tok_window, t_start = time.perf_counter(), 0, time.perf_counter()
        interrupted = False
        try:
            while self.step < end and not self.stopped_early:
                if self._stop_requested:
                    interrupted = True
                    break
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
                tok_window += int(n)
                self.acc["count"] += n
                for k, v in out.items():
                    if k != "count":
                        self.acc["sums"][k] = self.acc["sums"].get(k, 0.0) + float(v.detach()) * n
                if not math.isfinite(loss_value):
                    raise TunesmithError(f"training diverged: loss became {loss_value} at step "
                                         f"{self.step} (try a lower --lr, or --clip 1)",
                                         self.run_dir)
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    now = time.perf_counter()
                    metrics = derived({k: v / max(self.acc["count"], 1.0)
                                       for k, v in self.acc["sums"].items()})
                    metrics.update(lr=lr, tokens_per_s=tok_window / max(now - t_window, 1e-9),
                                   elapsed_s=now - t_start)
                    self.logger.log(self.step, "train", metrics)
                    self.acc = {"sums": {}, "count": 0.0}
                    t_window, tok_window = now, 0
                    self._postfix["loss"] = f"{metrics['loss']:.3f}"
                    if bar is not None:
                        bar.set_postfix(self._postfix, refresh=False)
                validated = False
                if self.step % cfg.eval_every == 0 or self.step == cfg.steps:
                    self._validate(bar)
                    validated = True
                if validated or (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0):
                    self.save("last")
                if bar is not None:
                    bar.update(1)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if bar is not None:
                bar.close()
        if interrupted or self.step == end or self.stopped_early:
            self.save("last")
        self.logger.plot()
        self.logger.close()
        summary = self._summary()
        summary["interrupted"] = interrupted
        return summary

    def _validate(self, bar=None) -> dict:
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
        if bar is not None:
            bar.set_postfix(self._postfix, refresh=False)
        return metrics
