"""Logit filters as pure functions: (logits (..., V)) -> new logits. Removed entries are -inf.

- temperature T: logits / T (T < 1 sharpens, T > 1 flattens);
- top-k: keep the k largest logits (Fan et al. 2018);
- top-p (nucleus): keep the smallest set of tokens whose probability reaches p
  (Holtzman et al. 2020), always at least the most probable one.

The settings themselves (:class:`SamplingSettings`, one per head) live in the torch-free
:mod:`tunesmith.sampling.settings`.
"""

from __future__ import annotations

import torch

from tunesmith.sampling.settings import SamplingSettings

__all__ = ["SamplingSettings", "filtered", "temperature", "top_k", "top_p"]


def temperature(logits: torch.Tensor, t: float) -> torch.Tensor:
    return logits / t


def top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(-1)
    # drop a token when the mass of the tokens before it (exclusive cumsum) already reaches p
    before = torch.cat([torch.zeros_like(probs[..., :1]), probs.cumsum(-1)[..., :-1]], dim=-1)
    drop_sorted = before >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def filtered(logits: torch.Tensor, s: SamplingSettings) -> torch.Tensor:
    return top_p(top_k(temperature(logits, s.temperature), s.top_k), s.top_p)
