"""Average a model's ``loss()`` metrics over batches, weighted by the tokens each counts.

Derived figures (for any model that reports ``nll`` in nats per token):
perplexity = exp(nll); bits per token = nll / ln 2 (bits per character for ``abc_chars``).
Models that report expected true/false positives and false negatives per frame (``tp``,
``fp``, ``fn``: the piano-roll models) get ``accuracy`` = TP / (TP + FP + FN) over all
frames (each is a per-frame mean, so the token-weighted average keeps the ratio exact).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sized

from tunesmith.progress import Progress, report


def to_device(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) if hasattr(v, "to") else v
            for k, v in batch.items()}


def derived(metrics: dict) -> dict:
    out = dict(metrics)
    if "nll" in out:
        out["ppl"] = math.exp(min(out["nll"], 50.0))
        out["bits"] = out["nll"] / math.log(2)
    if {"tp", "fp", "fn"} <= set(out):  # piano-roll models: expected frame-level accuracy
        out["accuracy"] = out["tp"] / max(out["tp"] + out["fp"] + out["fn"], 1e-12)
    if {"tp_pred", "fp_pred", "fn_pred"} <= set(out):  # and of one predicted frame (the
        # means are per frame, so their ratio is that of the sums over all frames)
        total = out["tp_pred"] + out["fp_pred"] + out["fn_pred"]
        out["accuracy_predicted"] = out["tp_pred"] / max(total, 1e-12)
    return out


def evaluate(model, batches: Sized | Iterable[dict], device="cpu",
             progress: Progress | None = None, task: str = "evaluate") -> dict:
    """Token-weighted means of every metric ``model.loss`` returns (no gradients).
    ``progress`` hears ``task`` batch by batch."""
    return means(*metric_sums(model, batches, device, progress, task))


def metric_sums(model, batches: Sized | Iterable[dict], device="cpu",
                progress: Progress | None = None,
                task: str = "evaluate") -> tuple[dict[str, float], float]:
    """(each metric times the tokens it counts, summed over batches; the tokens): what
    :func:`means` averages, and what several processes sharing one evaluation add up."""
    import torch

    n_batches = len(batches) if isinstance(batches, Sized) else None
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    total = 0.0
    with torch.no_grad():
        for i, batch in enumerate(batches):
            report(progress, task, i, n_batches, "batch")
            out = model.loss(to_device(batch, device))
            n = float(out["count"])
            total += n
            for k, v in out.items():
                if k != "count":
                    sums[k] = sums.get(k, 0.0) + float(v) * n
    model.train(was_training)
    if n_batches:
        report(progress, task, n_batches, n_batches, "batch")
    return sums, total


def means(sums: dict[str, float], total: float) -> dict:
    """The token-weighted means of :func:`metric_sums`, derived figures added (empty when
    nothing was counted)."""
    if total == 0:
        return {}
    return derived({k: v / total for k, v in sums.items()} | {"count": total})
