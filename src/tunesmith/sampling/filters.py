"""Logit filters as pure functions: (logits (..., V)) -> new logits. Removed entries are -inf.

- temperature T: logits / T (T < 1 sharpens, T > 1 flattens);
- top-k: keep the k largest logits (Fan et al. 2018);
- top-p (nucleus): keep the smallest set of tokens whose probability reaches p
  (Holtzman et al. 2020), always at least the most probable one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from tunesmith.errors import TunesmithError


@dataclass(frozen=True)
class SamplingSettings:
    temperature: float = 1.0
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1 = off

    def __post_init__(self):
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise TunesmithError(f"temperature must be > 0 and finite, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise TunesmithError(f"top-p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise TunesmithError(f"top-k must be >= 0, got {self.top_k}")


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


def per_head(heads, temperature=1.0, top_k=0, top_p=1.0) -> dict[str, SamplingSettings]:
    """Settings per head. Each of ``temperature``, ``top_k``, ``top_p`` is one value for
    every head (a number, or a string holding one) or ``"head=value,head=value"``; heads
    not named keep the default (1.0, 0, 1.0). E.g. ``temperature="note=0.9,time=0.7"``."""
    values: dict[str, dict] = {h: {} for h in heads}
    for name, raw, cast in (("temperature", temperature, float), ("top_k", top_k, int),
                            ("top_p", top_p, float)):
        flag = name.replace("_", "-")
        if raw is None:
            continue
        text = str(raw).strip()
        try:
            if "=" not in text:
                for h in heads:
                    values[h][name] = cast(text)
                continue
            for part in text.split(","):
                head, _, value = part.partition("=")
                head = head.strip()
                if head not in values:
                    raise TunesmithError(f"--{flag}: unknown head {head!r} (this model's heads: "
                                         f"{', '.join(heads)})")
                values[head][name] = cast(value)
        except ValueError:
            raise TunesmithError(f"--{flag}: expected a number or head=number,... "
                                 f"(heads: {', '.join(heads)}), got {text!r}") from None
    return {h: SamplingSettings(**v) for h, v in values.items()}
