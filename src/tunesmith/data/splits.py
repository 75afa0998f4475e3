"""Deterministic train/valid/test splits by item content.

An item's split is a function of its own content alone (a SHA-1 of its text), so the same
tune always lands in the same split whatever else the corpus holds, and exact duplicates
never straddle train and validation.
"""

from __future__ import annotations

import hashlib

SPLITS = ("train", "valid", "test")


def split_of(key: str, valid: float = 0.05, test: float = 0.05) -> str:
    """``"train"``, ``"valid"`` or ``"test"`` for an item whose content is ``key``."""
    h = int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") / 2**64
    if h < valid:
        return "valid"
    if h < valid + test:
        return "test"
    return "train"


def split_items(keys: list[str], valid: float = 0.05, test: float = 0.05) -> dict[str, list[int]]:
    """Indices of ``keys`` per split (order kept)."""
    out: dict[str, list[int]] = {s: [] for s in SPLITS}
    for i, k in enumerate(keys):
        out[split_of(k, valid, test)].append(i)
    return out
