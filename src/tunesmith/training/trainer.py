"""The one training loop for every model family, on one process or many.

Nothing here knows which model it trains. It needs:

- ``model``: an ``nn.Module`` with ``family``, ``config`` and ``loss(batch) -> dict`` (a
  ``loss`` tensor to minimise, ``count`` = tokens it averages over, other scalars to log);
- ``representation`` with ``to_dict()`` (saved in checkpoints);
- ``train_data.batch(step) -> dict of tensors``, a pure function of the step (exact resume
  without sampler state), every tensor with the batch on its first axis, and
  ``train_data.tokens_per_batch``;
- ``valid_data``: an iterable of batches, re-iterable.

A model may declare ``param_groups()`` (:func:`tunesmith.models.param_groups`): named
optimiser groups, each with its own learning-rate scale (and Adam betas), whose gradient
norms the log shows (``grad_norm_<name>``, before clipping) and which are clipped each by
itself. A GAN's two players train this way in one loss and one backward pass
(:mod:`tunesmith.models.rnn_gan`), so nothing here knows it trains a GAN.

A step whose loss or gradient is not finite stops the run before its update, with a
one-line error naming the step and the last good checkpoint (nothing after it is written).

Exact resume: weights, Adam state and torch RNG state are checkpointed; the learning rate
and the data are functions of the step. A resumed run logs the same losses as an
uninterrupted one. Ctrl-C / SIGTERM finish the current step, write ``last`` and return.

**Several processes** (``torchrun``; :mod:`tunesmith.training.distributed`): the model is
wrapped in DistributedDataParallel and rank ``r`` computes its rows of each step's global
batch (with ``grad_accum`` K, in K micro-batches). Each micro-batch's loss is weighted by
the tokens it counts and the summed gradient is divided by the step's tokens over all
ranks, so the step is the token-weighted mean over the global batch, as one process
computes it. The step's statistics (tokens, metric sums, a stop request) are summed over
the ranks in one all-reduce, so every rank logs, validates, stops early, stops on a signal
and saves at the same steps; rank 0 alone writes files. Validation is shared out batch by
batch and its sums added up. A rank that dies makes the others fail in their next
collective; torchrun ends the job (and with ``--max-restarts`` starts it again, and the run
continues from ``last``).

**On a GPU**: batches are copied from pinned memory, the training step's fp32 matmuls run
in TF32 (``cfg.tf32``; not for the models that declare ``autocast = False``, which need
fp32: the RBMs, RNN-NADE), the loss runs under bf16 autocast where ``cfg.precision`` and
the model allow it (:func:`~tunesmith.training.device.autocast_dtype`) with the
recurrent layers kept in fp32 (:func:`~tunesmith.training.device.fp32_recurrent`: CUDA
autocast would run them in fp16), and ``cfg.compile`` wraps the loss in
``torch.compile``. Validation runs in fp32, without TF32 or autocast. Every one of these
paths also runs on CPU (the tests run them there).
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from tunesmith.errors import CheckpointError, TunesmithError
from tunesmith.evaluation.likelihood import means, metric_sums
from tunesmith.progress import Progress, report
from tunesmith.training import distributed
from tunesmith.training.checkpoint import (
    has_rank_rng,
    load_training_state,
    pack_training_state,
    recover,
    save_checkpoint,
)
from tunesmith.training.config import TrainConfig
from tunesmith.training.device import (
    autocast_dtype,
    batch_to,
    fast_matmuls,
    fp32_recurrent,
    recurrent_in_fp32,
    resolve_device,
)
from tunesmith.training.logging import RunLogger, SilentLogger


class LossOf(nn.Module):
    """A model's ``loss(batch)`` as ``forward``: what DDP and torch.compile wrap."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: dict) -> dict:
        return self.model.loss(batch)


class Trainer:
    def __init__(self, model, representation, train_data, valid_data, config: TrainConfig,
                 run_dir: str | Path, *, resume: bool = False, progress: Progress | None = None,
                 summary_extra: dict | None = None, tensorboard: bool = True, log=None,
                 fresh_best: bool = False):
        from tunesmith.models import allows_autocast, param_groups

        self.cfg = config
        self.ranks = distributed.current()
        self.share = distributed.Share(config.batch_size, self.ranks.world, config.grad_accum)
        self.run_dir = Path(run_dir)
        if self.ranks.main:  # the writer: the others only read the run folder
            self.run_dir.mkdir(parents=True, exist_ok=True)
            for name in ("last", "best"):  # this run's own interrupted writes, from journals
                recover(self.run_dir / name)
        distributed.barrier()
        self.device = distributed.local_device(resolve_device(config.device), self.ranks)
        self.model = model.to(self.device)
        self.autocast = autocast_dtype(config.precision, self.device, model)
        if recurrent_in_fp32(self.device, self.autocast):
            fp32_recurrent(self.model)  # CUDA autocast would run cuDNN's RNNs in fp16
        self.tf32 = config.tf32 and allows_autocast(model)  # fp32-only models: true fp32
        self.representation = representation
        self.train_data, self.valid_data = train_data, valid_data
        self.progress = progress if self.ranks.main else None
        self.summary_extra = summary_extra or {}
        # a model may declare named groups (a GAN's two players): each its own lr scale,
        # and each one's gradient norm logged
        self.groups = param_groups(model)
        self.optimizer = torch.optim.Adam(self.groups or model.parameters(), lr=config.lr,
                                          weight_decay=config.weight_decay)
        self.step = 0
        self.best: dict | None = None  # best validation metrics so far
        self.evals_since_best = 0
        self.acc = {"sums": {}, "count": 0.0}  # training metrics since the last log row
        self.elapsed = None  # training seconds before this segment (from the checkpoint)
        self._clock: dict | None = None  # the segment's timing, while fit() runs
        self.stopped_early = False
        torch.manual_seed(distributed.rank_seed(config.seed, self.ranks.rank))
        resume_step = None
        if resume:
            self._restore(self.run_dir / "last")
            resume_step = self.step
            if fresh_best:  # another loss from here (a fine-tune): its best is its own
                self.best, self.evals_since_best, self.stopped_early = None, 0, False
        # ``log(message, level)`` hears what resuming found damaged in metrics.csv
        self.logger = (RunLogger(self.run_dir, resume_step=resume_step, tensorboard=tensorboard,
                                 log=log) if self.ranks.main else SilentLogger())
        self.ddp, self.forward = self._wrap(LossOf(self.model))
        # each micro-batch's loss is weighted by its tokens over this (the expected tokens
        # per rank), so that the weights are near 1
        self._unit = train_data.tokens_per_batch / self.ranks.world
        self._keys: list[str] | None = None  # the metrics model.loss reports, in order
        self._stop_requested = False  # asked of this process
        self._stop_agreed = False  # asked of any process, as of the last step
        self._postfix: dict[str, str] = {}

    def _wrap(self, module: nn.Module):
        """(the DDP wrapper or None, what a training step calls)."""
        ddp = None
        if self.ranks.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device] if self.device.type == "cuda" else None
            module = ddp = DistributedDataParallel(module, device_ids=ids)
        if self.cfg.compile:
            module = torch.compile(module)
        return ddp, module

    @property
    def launch(self) -> dict:
        """How this run is computed: processes, backend, global / per-rank / micro batch."""
        return self.share.record(self.ranks, self.device)

    # --- state ---------------------------------------------------------------------------
    def _restore(self, folder: Path) -> None:
        """Weights, optimiser, RNG and loop state from the run's ``last`` checkpoint, each
        checked first (:func:`~tunesmith.training.checkpoint.read_meta`,
        :func:`~tunesmith.training.checkpoint.load_training_state`): a damaged one is a
        one-line CheckpointError naming the file, never a traceback. Every rank reads the
        same checkpoint; each takes its own generator state (a rank the checkpoint has
        none for, in a run resumed on more processes, starts a new stream)."""
        from tunesmith.training.checkpoint import WEIGHTS_FILE, checked_weights, load_weights

        meta, weights = checked_weights(folder)
        if meta["family"] != self.model.family:
            raise CheckpointError(f"holds a {meta['family']} model; this run trains "
                                  f"{self.model.family}", folder)
        load_weights(self.model, weights, folder / WEIGHTS_FILE)
        rank = self.ranks.rank
        info = load_training_state(folder, self.optimizer, rank=rank)
        self.step = info["step"]
        if not has_rank_rng(folder, rank):
            torch.manual_seed(distributed.rank_seed(self.cfg.seed, rank, self.step))
        self.best = info.get("best")
        self.evals_since_best = info.get("evals_since_best", 0)
        self.acc = info.get("acc", self.acc)
        self.elapsed = info.get("elapsed_s")  # None in a checkpoint written before it
        # a run that stopped early goes on when it is resumed with a larger patience
        self.stopped_early = (info.get("stopped_early", False) and bool(self.cfg.patience)
                              and self.evals_since_best >= self.cfg.patience)

    def _summary(self) -> dict:
        return {"step": self.step, "best_valid": self.best, "train_config": asdict(self.cfg),
                "stopped_early": self.stopped_early, "launch": self.launch,
                **self.summary_extra}

    def save(self, name: str = "last", with_state: bool = True) -> Path:
        """Write checkpoint ``name`` (rank 0; with ``with_state`` every rank must call it,
        as each hands over its generator state)."""
        state = None
        if with_state:
            rank_rng = self._other_ranks_rng()
            if self.ranks.main:
                state = pack_training_state(self.optimizer, {
                    "step": self.step, "best": self.best,
                    "evals_since_best": self.evals_since_best, "acc": self.acc,
                    "stopped_early": self.stopped_early,
                    "elapsed_s": self._elapsed_now()}, rank_rng)
        if not self.ranks.main:
            return self.run_dir / name
        return save_checkpoint(self.run_dir / name, self.model, self.representation,
                               summary=self._summary(), training_state=state)

    def _other_ranks_rng(self) -> dict:
        """Rank -> its generator states, for the ranks other than 0 (gathered on all)."""
        cuda = (torch.cuda.get_rng_state(self.device) if self.device.type == "cuda"
                else None)
        states = distributed.gather({"torch": torch.get_rng_state(), "cuda": cuda})
        return {rank: s for rank, s in enumerate(states) if rank}

    # --- loop ----------------------------------------------------------------------------
    def _request_stop(self, signum=None, frame=None):
        """Finish the current step, write ``last`` and return (Ctrl-C, SIGTERM, or a
        caller on another thread, e.g. a web page's Stop button)."""
        self._stop_requested = True
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C is hard

    request_stop = _request_stop

    def _elapsed_before(self) -> float:
        """Training seconds before this segment: the checkpoint's, else (a checkpoint
        written before it kept them) the ``elapsed_s`` of the last logged row that has a
        usable one, else 0."""
        if self.elapsed is not None:
            return float(self.elapsed)
        for row in reversed(self.logger.rows):
            try:
                e = float(row.get("elapsed_s") or "")
            except ValueError:
                continue
            if math.isfinite(e) and e >= 0:
                return e
        return 0.0

    def _elapsed_now(self) -> float:
        """Training seconds so far, this segment's included."""
        if self._clock is None:  # saved outside fit() (a step-0 checkpoint)
            return self._elapsed_before()
        return time.perf_counter() - self._clock["start"]

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
        now = time.perf_counter()
        # elapsed_s counts the run's training time, across resumes: it goes on from the
        # last row the run logged before this segment
        self._clock = {"window": now, "tokens": 0, "start": now - self._elapsed_before()}
        start, interrupted = self.step, False
        self._report(start)
        try:
            while self.step < end and not self.stopped_early:
                if self._stop_agreed or (self.ranks.world == 1 and self._stop_requested):
                    interrupted = True
                    break
                # TF32 for the step alone: validation scores in true fp32
                with fast_matmuls(self.device, self.tf32):
                    self._train_step()
                if self.step % cfg.eval_every == 0 or self.step == cfg.steps:
                    self._validate()
                    self.save("last")
                elif cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self.save("last")
                self._report(start)
            if interrupted or self.step == end or self.stopped_early:
                self.save("last")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.elapsed, self._clock = self._elapsed_now(), None  # a later fit() goes on
        self.logger.plot()
        self.logger.close()
        summary = self._summary()
        summary["interrupted"] = interrupted
        return summary

    def _report(self, start: int) -> None:
        report(self.progress, f"train {self.model.family}", self.step, self.cfg.steps, "step",
               self._postfix, initial=start)

    def _train_step(self) -> None:
        """One optimiser step over the global batch, its metrics summed into the current
        log window."""
        cfg = self.cfg
        lr = cfg.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        batch = self.train_data.batch(self.step)
        self.optimizer.zero_grad(set_to_none=True)
        stats = None
        micro_rows = self.share.rows(self.ranks.rank)
        for i, rows in enumerate(micro_rows):
            sync = self.ddp is None or i == len(micro_rows) - 1
            with contextlib.nullcontext() if sync else self.ddp.no_sync():
                part = self._forward_backward(distributed.take(batch, rows))
            stats = part if stats is None else stats + part
        n, sums = self._reduce(stats)
        if self.share.parts > 1 and n > 0 and n != self.train_data.tokens_per_batch:
            for p in self.model.parameters():  # the weighted sum -> the mean over n tokens
                if p.grad is not None:
                    p.grad.mul_(self.train_data.tokens_per_batch / n)
        loss_value = sums["loss"] / max(n, 1.0)
        if not math.isfinite(loss_value):  # before the step: the weights stay finite
            self._diverged(f"loss became {loss_value}")
        norms = []  # gradient norms before clipping
        if self.groups:  # each group clipped by itself: one player's large gradient (a
            # GAN's gaussian generator reaches norms near 100 in MLE pre-training) must not
            # scale the other's; each one's norm is logged (sums hold metric x tokens)
            for group in self.optimizer.param_groups:
                norms.append(float(torch.nn.utils.clip_grad_norm_(group["params"],
                                                                  cfg.clip or math.inf)))
                sums[f"grad_norm_{group['name']}"] = norms[-1] * n
        elif cfg.clip:
            norms.append(float(torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                                              cfg.clip)))
        if not all(math.isfinite(x) for x in norms):
            self._diverged("a gradient became infinite or NaN")
        self.optimizer.step()
        self.step += 1
        self._clock["tokens"] += int(n)
        self.acc["count"] += n
        for k, v in sums.items():
            self.acc["sums"][k] = self.acc["sums"].get(k, 0.0) + v
        if self.step % cfg.log_every == 0 or self.step == cfg.steps:
            self._log_window(lr)

    def _diverged(self, what: str) -> None:
        """Stop the run before a non-finite step is taken (nothing of it is written)."""
        raise TunesmithError(f"training diverged: {what} at step {self.step + 1}; "
                             f"{self._last_good()} (a resumed run replays the same steps: "
                             "start a new run with a lower --lr or --clip 1)", self.run_dir)

    def _last_good(self) -> str:
        """Where the last good checkpoint is, for a run that just diverged (nothing after
        it is written)."""
        from tunesmith.training.checkpoint import read_meta

        try:
            step = read_meta(self.run_dir / "last")["summary"].get("step")
        except (CheckpointError, OSError, KeyError):
            step = None
        if step is None:
            return "no checkpoint was written before it"
        return f"the last good checkpoint, {self.run_dir / 'last'}, is from step {step}"

    def _forward_backward(self, batch: dict) -> torch.Tensor:
        """Loss and gradients of one micro-batch: (tokens, each metric times tokens), in
        float64 on the device."""
        batch = batch_to(batch, self.device)
        with torch.autocast(self.device.type, dtype=self.autocast or torch.bfloat16,
                            enabled=self.autocast is not None):
            out = self.forward(batch)
        count = out["count"]
        loss = out["loss"] if self.share.parts == 1 else out["loss"] * (count / self._unit)
        loss.backward()
        if self._keys is None:
            self._keys = [k for k in out if k != "count"]
        values = [torch.as_tensor(v, device=self.device).detach().double()
                  for v in [count] + [out[k] for k in self._keys]]
        stats = torch.stack(values)
        stats[1:] *= stats[0]
        return stats

    def _reduce(self, stats: torch.Tensor) -> tuple[float, dict[str, float]]:
        """The step's tokens and metric sums over all ranks (and whether any rank was
        asked to stop), in one all-reduce."""
        if self.ranks.world > 1:
            stop = torch.tensor([float(self._stop_requested)], dtype=stats.dtype,
                                device=stats.device)
            stats = distributed.all_sum(torch.cat([stats, stop]))
            self._stop_agreed = bool(stats[-1] > 0)
            stats = stats[:-1]
        n, *values = stats.tolist()
        return n, dict(zip(self._keys, values, strict=True))

    def _log_window(self, lr: float) -> None:
        """A ``train`` row of metrics.csv: the means since the last row, and speed."""
        now, clock = time.perf_counter(), self._clock
        metrics = means(self.acc["sums"], max(self.acc["count"], 1.0))
        metrics.pop("count", None)
        metrics.update(lr=lr, tokens_per_s=clock["tokens"] / max(now - clock["window"], 1e-9),
                       elapsed_s=now - clock["start"])
        self.logger.log(self.step, "train", metrics)
        self.acc = {"sums": {}, "count": 0.0}
        clock["window"], clock["tokens"] = now, 0
        self._postfix["loss"] = f"{metrics['loss']:.3f}"

    def _validate(self) -> dict:
        """Validation loss (each rank scores its share of the batches, the sums are
        added), the best checkpoint and early stopping, the same on every rank."""
        batches = distributed.shard(self.valid_data, self.ranks)
        parts = distributed.gather(metric_sums(self.model, batches, self.device))
        total = sum(t for _, t in parts)
        sums: dict[str, float] = {}
        for part, _ in parts:
            for k, v in part.items():
                sums[k] = sums.get(k, 0.0) + v
        metrics = means(sums, total)
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
