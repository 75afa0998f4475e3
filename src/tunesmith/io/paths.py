"""The paths a user gives: a file to read, a folder to write into. Each problem is a
one-line :class:`TunesmithError` naming the path, said the same way by every command:
``x: no such file``, ``x: is a folder, not a file``, ``x: is a file, not a folder``."""

from __future__ import annotations

from pathlib import Path

from tunesmith.errors import TunesmithError


def input_file(path: str | Path) -> Path:
    """``path`` when it is a file to read; otherwise why it is not (missing, a folder,
    or something else, such as a device or a pipe)."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        raise TunesmithError("is a folder, not a file", path)
    if path.exists():
        raise TunesmithError("not a file", path)
    raise TunesmithError("no such file", path)


def output_folder(path: str | Path, make: bool = True) -> Path:
    """``path`` as a folder to write into, made (with its parents) when ``make``. A path
    that is a file, or under one, is refused before anything is written; a folder that
    cannot be made says why (no permission, a full disk)."""
    path = Path(path)
    for p in (path, *path.parents):  # the nearest part that exists must be a folder
        if p.exists():
            if not p.is_dir():
                raise TunesmithError("is a file, not a folder" if p.is_file()
                                     else "not a folder", p)
            break
    if make:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TunesmithError(f"cannot make this folder ({e.strerror or e})",
                                 path) from None
    return path


def first_missing(path: str | Path) -> Path | None:
    """The outermost part of ``path`` that does not exist yet (``a`` of ``a/b/c`` when
    none does; None when ``path`` exists): what :func:`remove_made` may take away again."""
    path = Path(path)
    missing = None
    for p in (path, *path.parents):
        if p.exists():
            break
        missing = p
    return missing


def remove_made(path: Path, top: Path | None) -> None:
    """Remove ``path`` and its parents up to ``top`` (:func:`first_missing` before they
    were made) while they are empty folders: a command refused at once leaves none."""
    if top is None:
        return
    for p in (path, *path.parents):
        if not p.is_dir() or any(p.iterdir()):
            return
        p.rmdir()
        if p == top:
            return
