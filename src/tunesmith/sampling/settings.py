"""Sampling settings, torch-free: what a composer asks of each head's draw.

A value is given once for every head (``1.0``) or per head (``{"note": 0.9, "time":
0.8}``); :func:`per_head` turns the two forms into one :class:`SamplingSettings` per head
of a model, and :func:`parse_head_values` reads the text form a front end receives
(``"0.9"`` or ``"note=0.9,time=0.8"``) exactly once, at the front end.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from tunesmith.errors import OptionError


@dataclass(frozen=True)
class SamplingSettings:
    temperature: float = 1.0  # > 0: below 1 sharpens the distribution, above 1 flattens it
    top_k: int = 0  # keep the k most probable tokens; 0 = off
    top_p: float = 1.0  # keep the smallest set whose probability reaches p; 1 = off

    def __post_init__(self):
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise OptionError("temperature", f"must be > 0 and finite, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise OptionError("top_p", f"must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise OptionError("top_k", f"must be >= 0, got {self.top_k}")


HeadValue = float | Mapping[str, float]  # one value for every head, or {head: value}
DEFAULTS = SamplingSettings()


def per_head(heads: Iterable[str], temperature: HeadValue = DEFAULTS.temperature,
             top_k: HeadValue = DEFAULTS.top_k,
             top_p: HeadValue = DEFAULTS.top_p) -> dict[str, SamplingSettings]:
    """One :class:`SamplingSettings` per head. Each value is one number for every head or
    a ``{head: number}`` map; heads a map does not name keep the default. A name that is
    not one of ``heads`` is an :class:`OptionError`."""
    heads = list(heads)
    values: dict[str, dict] = {h: {} for h in heads}
    for name, given in (("temperature", temperature), ("top_k", top_k), ("top_p", top_p)):
        if isinstance(given, Mapping):
            for head, value in given.items():
                if head not in values:
                    raise OptionError(name, f": unknown head {head!r} (this model's heads: "
                                      f"{', '.join(heads)})")
                values[head][name] = value
        else:
            for head in heads:
                values[head][name] = given
    return {h: SamplingSettings(**v) for h, v in values.items()}


def parse_head_values(text: str, cast: Callable[[str], float] = float) -> HeadValue:
    """``"0.8"`` -> 0.8; ``"note=0.9, time=0.8"`` -> {"note": 0.9, "time": 0.8}.
    Raises ValueError for anything else (the front end names the flag)."""
    text = str(text).strip()
    if "=" not in text:
        return cast(text)
    out = {}
    for part in text.split(","):
        head, sep, value = part.partition("=")
        if not sep or not head.strip():
            raise ValueError(f"expected head=number, got {part.strip()!r}")
        out[head.strip()] = cast(value.strip())
    return out


def parse_head_ints(text: str) -> int | Mapping[str, int]:
    return parse_head_values(text, int)
