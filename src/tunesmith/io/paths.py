"""The paths a user gives: a file to read, a folder to write into. Each problem is a
one-line :class:`TunesmithError` naming the path, said the same way by every command:
``x: no such file``, ``x: is a folder, not a file``, ``x: is a file, not a folder``."""

from __future__ import annotations

import os
from contextlib import contextmanager
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


def written_by_tunesmith(folder: Path) -> str | None:
    """What tunesmith wrote ``folder`` as ("a composition", "a checkpoint", "a training
    run"), or None: a corpus folder that holds such a folder would otherwise feed the
    model its own pieces (compose's, or the samples a run writes)."""
    if (folder / "composition.json").is_file():
        return "a composition"
    if (folder / "tunesmith.json").is_file():
        return "a checkpoint"
    if (folder / "config.json").is_file() and (folder / "metrics.csv").is_file():
        return "a training run"
    return None


def corpus_walk(root: str | Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Every file under the folder ``root``, sorted, following linked sub-folders (each
    real folder once: a link to a folder above cannot loop), less the sub-folders that
    tunesmith wrote (:func:`written_by_tunesmith`), which come back as ``(folder,
    what)``. ``root`` itself is read whatever it is: the user named it."""
    root = Path(root)
    top = os.path.realpath(root)
    files: list[Path] = []
    left_out: list[tuple[Path, str]] = []
    seen: set[str] = set()
    # os.walk rather than Path.rglob: rglob does not follow a linked folder (Python 3.11)
    for where, folders, names in os.walk(root, followlinks=True):
        here = Path(where)
        real = os.path.realpath(here)
        what = written_by_tunesmith(here) if here != root else None
        if real in seen or what:
            folders[:] = []
            if what:
                left_out.append((here, what))
            continue
        seen.add(real)
        # a link to a folder inside the root is not followed: that folder is read under
        # its own name (a piece's split and a folder's style label go by it)
        folders[:] = sorted(f for f in folders if not (here / f).is_symlink() or not (
            os.path.realpath(here / f) + os.sep).startswith(top + os.sep))
        files += [here / n for n in names if (here / n).is_file()]
    return sorted(files), left_out


def said_left_out(left_out: list[tuple[Path, str]], root: Path) -> str:
    """``2 folders tunesmith wrote left out (gen: a composition, runs/x: a training
    run)`` for :func:`corpus_walk`'s second list ('' when empty)."""
    if not left_out:
        return ""
    named = [f"{p.relative_to(root).as_posix()}: {what}" for p, what in left_out[:3]]
    more = ", ..." if len(left_out) > 3 else ""
    noun = "folder" if len(left_out) == 1 else "folders"
    return f"{len(left_out)} {noun} tunesmith wrote left out ({', '.join(named)}{more})"


WRITING = ".tunesmith-writing"  # a command writing into a folder holds this file there


@contextmanager
def writing_lock(folder: Path, command: str):
    """Hold ``folder`` for one command while it writes there: a second command given the
    same folder meanwhile is refused (one line naming the first's process) instead of
    mixing its files with the first's. A lock left by a process that is gone is taken
    over. ``folder`` must exist."""
    path = folder / WRITING
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                held, _, other = path.read_text().strip().partition(" ")
                pid = int(held)
            except (OSError, ValueError):
                pid, other = 0, ""
            if pid and pid != os.getpid() and _alive(pid):
                raise TunesmithError(f"another tunesmith {other or command} (process {pid}) "
                                     "is writing into this folder: wait for it to finish, or "
                                     "choose another", folder) from None
            path.unlink(missing_ok=True)  # its writer is gone
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()} {command}\n")
        break
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
