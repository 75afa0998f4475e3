"""Deterministic train/valid/test splits by item content.

An item's split is a function of its own content alone (a SHA-1 of its text), so the same
tune always lands in the same split whatever else the corpus holds, and exact duplicates
never straddle train and validation. One exception keeps a small corpus trainable: where
no item lands in validation (a corpus of a few dozen tunes, 5% each way), the distinct
items of lowest hash go to validation, and to test when that is empty too.
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
    """Indices of ``keys`` per split (order kept); a corpus whose validation split would
    be empty gets one distinct item there, and one in test when that is empty too (the
    train items of lowest hash; only with 3 distinct train items or more, so that some
    train)."""
    which = {k: split_of(k, valid, test) for k in dict.fromkeys(keys)}
    lowest = sorted((k for k, s in which.items() if s == "train"), key=_rank)
    if len(lowest) >= 3 and "valid" not in which.values():
        which[lowest[0]] = "valid"
        if "test" not in which.values():
            which[lowest[1]] = "test"
    out: dict[str, list[int]] = {s: [] for s in SPLITS}
    for i, k in enumerate(keys):
        out[which[k]].append(i)
    return out


def _rank(key: str) -> int:
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big")
