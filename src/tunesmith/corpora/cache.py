"""The JSON cache of the built-in corpora's parsed pieces (no pickle).

Built-in corpora are parsed by music21 once and cached as JSON (``Piece.to_dict``) in
``$TUNESMITH_CACHE`` (default ``~/.cache/tunesmith``)/corpora, one file per corpus named
by the corpus, music21's version and :data:`CACHE_FORMAT`, holding each source file's
pieces as read (a file added to the corpus later is parsed alone). No filter is applied
before caching, so changing the filter costs no parse.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import NamedTuple

from tunesmith.errors import TunesmithError
from tunesmith.music import Piece

CACHE_FORMAT = 5  # bump when the cached content changes meaning (3: programs, ties; 4: bar
# lines; 5: fermatas)


class CacheEntry(NamedTuple):
    """One input of a cached file as read: a piece, or why it could not be read."""

    key: str  # the input's stable key (relative path, + "#n" for a tune)
    piece: Piece | None
    reason: str  # "" when piece is set


def cache_dir() -> Path:
    """Where built-in corpora are cached: ``$TUNESMITH_CACHE``, else ~/.cache/tunesmith."""
    env = os.environ.get("TUNESMITH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tunesmith"


def cache_path(name: str) -> Path:
    """The JSON cache file of built-in corpus ``name`` for this music21 and format."""
    return cache_dir() / "corpora" / f"{name}-music21-{music21_version()}-v{CACHE_FORMAT}.json"


def music21_version() -> str:
    """The installed music21's version (a :class:`TunesmithError` when it is missing)."""
    # from the installed distribution's metadata: importing music21 takes ~1 s, which
    # would be most of the time of a load from the cache
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("music21")
    except PackageNotFoundError:
        raise TunesmithError("the built-in corpora need music21 (pip install music21)") \
            from None


def read_cache(path: Path) -> dict[str, list[CacheEntry]]:
    """The cached entries by source file; empty when the cache is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if data.get("format") != CACHE_FORMAT:
            return {}
        return {f: [CacheEntry(e["key"], Piece.from_dict(e["piece"])
                               if e["piece"] is not None else None, e["reason"])
                    for e in entries]
                for f, entries in data["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def write_cache(path: Path, name: str, by_file: dict[str, list[CacheEntry]]) -> None:
    """Write the cache atomically (a temporary file renamed over it); a cache folder that
    cannot be written costs a warning, not the run."""
    data = {
        "format": CACHE_FORMAT, "corpus": name, "music21": music21_version(),
        "files": {f: [{"key": e.key, "reason": e.reason,
                       "piece": e.piece.to_dict() if e.piece is not None else None}
                      for e in entries] for f, entries in by_file.items()},
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, separators=(",", ":"))
        os.replace(tmp, path)
    except OSError as e:
        warnings.warn(f"could not write the corpus cache {path} ({e.strerror}); the "
                      f"corpus will be parsed again next time", stacklevel=3)
        tmp.unlink(missing_ok=True)
