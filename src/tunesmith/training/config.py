"""Training settings as a frozen dataclass; the CLI fills it, a run writes it as JSON."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tunesmith.options import opt


@dataclass(frozen=True)
class TrainConfig:
    steps: int = opt(3000, "optimiser steps in the whole run")
    batch_size: int = opt(64, "sequences per training batch")
    seq_len: int = opt(256, "tokens (characters, messages or frames) per training window")
    lr: float = opt(2e-3, "peak learning rate (Adam)")
    weight_decay: float = opt(0.0, "Adam weight decay")
    schedule: str = opt("cosine", "learning-rate decay after warm-up",
                        choices=("constant", "cosine", "linear"))
    warmup: int = opt(100, "steps of linear learning-rate warm-up")
    min_lr_ratio: float = opt(0.1, "final lr = lr * this, for cosine and linear")
    clip: float = opt(1.0, "gradient-norm clipping (0 = off; per network for a model of "
                      "several, e.g. a GAN's two)")
    eval_every: int = opt(250, "validate every N steps (and at the end)")
    eval_max_items: int = opt(0, "validate on at most N items (tunes, pieces; 0 = all)")
    patience: int = opt(0, "stop after N validations without improvement (0 = never)")
    checkpoint_every: int = opt(250, "write the `last` checkpoint every N steps (0 = at "
                                "validations only)")
    log_every: int = opt(25, "a row of training metrics every N steps")
    seed: int = opt(0, "random seed: data order, initial weights, dropout")
    device: str = opt("auto", "auto (CUDA when present), cpu, cuda, cuda:N")
    grad_accum: int = opt(1, "cut each step's batch into K micro-batches (one gradient "
                          "step; less memory, or the same global batch on fewer GPUs)")
    precision: str = opt("auto", "auto (bf16 autocast on CUDA for models that allow it, "
                         "else fp32), fp32, bf16", choices=("auto", "fp32", "bf16"))
    compile: bool = opt(False, "torch.compile the training step (slow first step; "
                        "benchmarks/gpu.py measures it against eager)")
    tf32: bool = opt(True, "full-precision fp32 matmuls on CUDA (by default they run in "
                     "TF32 while training)", flag="no-tf32", negate=True)

    def __post_init__(self):
        positive = ("steps", "batch_size", "eval_every", "log_every", "grad_accum")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("warmup", "patience", "checkpoint_every", "eval_max_items", "seed",
                     "weight_decay", "clip"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.seq_len < 2:
            raise ValueError(f"seq_len must be >= 2, got {self.seq_len}")
        if self.schedule not in ("constant", "cosine", "linear"):
            raise ValueError(f"schedule must be constant, cosine or linear, not {self.schedule!r}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be auto, fp32 or bf16, not {self.precision!r}")
        if self.batch_size % self.grad_accum:
            raise ValueError(f"batch_size {self.batch_size} does not split into grad_accum "
                             f"{self.grad_accum} micro-batches; use a multiple of "
                             f"{self.grad_accum}")
        if not (0 < self.lr < math.inf):
            raise ValueError(f"lr must be positive and finite, got {self.lr}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")

    def lr_at(self, step: int) -> float:
        """Learning rate for optimiser step ``step`` (0-based): a pure function of the step,
        so resuming needs no scheduler state."""
        if self.warmup and step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        if self.schedule == "constant":
            return self.lr
        span = max(1, self.steps - self.warmup)
        frac = min(1.0, (step - self.warmup) / span)
        lo = self.lr * self.min_lr_ratio
        if self.schedule == "linear":
            return self.lr - (self.lr - lo) * frac
        return lo + (self.lr - lo) * 0.5 * (1 + math.cos(math.pi * frac))
