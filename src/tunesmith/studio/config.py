"""The studio's settings (``tunesmith studio`` makes its flags from these fields), where
its data lives, and who may talk to it.

Nothing here imports the web framework: the CLI builds its parser from
:class:`StudioSettings` without loading FastAPI.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from tunesmith.errors import OptionError
from tunesmith.options import opt


def _paths(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in str(text).split(",") if p.strip())


@dataclass(frozen=True)
class StudioSettings:
    """How the studio runs. The defaults are safe: loopback only, no token needed there."""

    host: str = opt("127.0.0.1", "address to listen on; anything but loopback requires a "
                    "token on every request (one is generated and printed if not given)")
    port: int = opt(8000, "port to listen on (0: any free port)")
    data_dir: str | None = opt(None, "where the gallery database and the compositions live "
                               "(default: $XDG_DATA_HOME/tunesmith/studio, i.e. "
                               "~/.local/share/tunesmith/studio)")
    token: str | None = opt(None, "the access token (required on every request when given, "
                            "and always off loopback)")
    corpus_dirs: tuple[str, ...] = opt((), "comma list of folders on this machine the page "
                                       "may train on (besides the built-in corpora)",
                                       cast=_paths)
    runs_dirs: tuple[str, ...] = opt((), "comma list of folders whose */best checkpoints "
                                     "are offered as models (besides ./runs and the "
                                     "studio's own runs)", cast=_paths)
    workers: int = opt(2, "compose jobs that run at once")
    queue: int = opt(16, "compose jobs that may wait; beyond that a request is answered "
                     "429 (busy)")
    max_upload_mb: float = opt(5.0, "the largest file a page may upload, in MB")
    max_num: int = opt(16, "the most pieces one compose request may ask for")
    device: str = opt("auto", "where models compose: auto, cpu, cuda, cuda:N")

    def __post_init__(self):
        if not 0 <= self.port < 65536:
            raise OptionError("port", f"must be between 0 and 65535, got {self.port}")
        for name in ("workers", "max_num"):
            if getattr(self, name) < 1:
                raise OptionError(name, f"must be >= 1, got {getattr(self, name)}")
        if self.queue < 0:
            raise OptionError("queue", f"must be >= 0, got {self.queue}")
        if not 0 < self.max_upload_mb <= 1024:
            raise OptionError("max_upload_mb", f"must be > 0 and at most 1024, got "
                              f"{self.max_upload_mb}")
        if self.token is not None and len(self.token) < 8:
            raise OptionError("token", "must be at least 8 characters long")

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def needs_token(self) -> bool:
        return self.token is not None or not self.loopback

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser() if self.data_dir else default_data_dir()

    def with_token(self) -> StudioSettings:
        """These settings with a token generated where one is needed and none was given."""
        if self.token or not self.needs_token:
            return self
        return replace(self, token=secrets.token_urlsafe(24))


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/tunesmith/studio`` (``~/.local/share/tunesmith/studio``)."""
    base = os.environ.get("XDG_DATA_HOME") or ""
    root = Path(base).expanduser() if base and Path(base).is_absolute() else (
        Path.home() / ".local" / "share")
    return root / "tunesmith" / "studio"


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


__all__ = ["StudioSettings", "default_data_dir", "is_loopback"]
