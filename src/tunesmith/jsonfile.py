"""Reading JSON that a user may have damaged or crafted (checkpoint and run metadata):
a size cap and a nesting cap checked *before* parsing, so that a 100-level-deep or a
gigabyte file is a one-line error, not a RecursionError or a memory blow-up."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tunesmith.errors import TunesmithError

MAX_BYTES = 64 << 20  # tunesmith's own metadata is a few KB; a vocabulary-heavy one < 1 MB
MAX_DEPTH = 32  # tunesmith writes at most ~6 levels


_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)  # a JSON string literal


def nesting_depth(text: str) -> int:
    """The deepest nesting of ``[`` / ``{`` outside strings: string literals are cut
    out by a regular expression and the brackets counted by numpy, so a 64 MB file takes
    well under a second (a Python loop over its characters took seconds)."""
    import numpy as np

    bare = _STRING.sub("", text).encode("utf-8", "replace")
    b = np.frombuffer(bare, dtype=np.uint8)
    step = ((b == ord("[")) | (b == ord("{"))).astype(np.int32)
    step -= ((b == ord("]")) | (b == ord("}"))).astype(np.int32)
    return int(np.cumsum(step).max(initial=0)) if step.size else 0


def loads(text: str, where: str | Path, what: str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` with the nesting cap; every problem a one-line TunesmithError."""
    if nesting_depth(text) > max_depth:
        raise TunesmithError(f"damaged {what}: nested deeper than {max_depth} levels", where)
    try:
        return json.loads(text)
    except ValueError as e:
        raise TunesmithError(f"damaged {what} ({str(e).splitlines()[0]})", where) from None


def read_json(path: str | Path, what: str | None = None, max_bytes: int = MAX_BYTES,
              max_depth: int = MAX_DEPTH) -> Any:
    """The JSON in ``path``, read with the size and nesting caps."""
    path = Path(path)
    what = what or path.name
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise TunesmithError(f"{what} is {size:,} bytes, over the {max_bytes:,}-byte "
                                 "limit for metadata", path)
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TunesmithError(f"damaged {what} (not UTF-8 text)", path) from None
    except OSError as e:
        raise TunesmithError(f"cannot read {what} ({e.strerror or e})", path) from None
    return loads(text, path, what, max_depth)
