"""Uploaded primer files: checked by content, read by the CLI's own reader, kept by id.

An upload is refused (a 4xx with one line) when it is over the size limit, when its first
bytes are not MIDI, MusicXML or ABC (:func:`tunesmith.io.read.sniff`: the name the
browser sent decides nothing), or when :func:`tunesmith.io.read.read_piece` (what
``tunesmith compose --primer FILE`` uses) cannot read it: its message is shown as the
CLI shows it, with the file's own name in place of the server's path. A kept upload is
``uploads/<id><suffix>`` under the data folder, with ``<id>.json`` saying what it is; a
request names it by that id alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import TunesmithError
from tunesmith.studio.store import new_id, valid_id

SUFFIX = {"midi": ".mid", "rmid": ".mid", "mxl": ".mxl", "musicxml": ".musicxml",
          "abc": ".abc"}
KIND = {"midi": "MIDI", "rmid": "MIDI", "mxl": "MusicXML", "musicxml": "MusicXML",
        "abc": "ABC"}


class UploadError(TunesmithError):
    def __init__(self, message: str, status: int = 400):
        self.status = status
        super().__init__(message)


@dataclass
class Upload:
    id: str
    name: str  # the file's name as the browser sent it (shown, never used as a path)
    format: str  # MIDI, MusicXML, ABC
    title: str
    notes: int
    seconds: float
    primer_text: str = ""  # ABC: the tune's header and first line, for a text primer

    def to_json(self) -> dict:
        return dict(self.__dict__)


def display_name(name: str | None) -> str:
    """The uploaded file's base name, printable, at most 80 characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return (base or "upload")[:80]


class Uploads:
    def __init__(self, folder: Path, max_bytes: int):
        self.folder = folder
        self.max_bytes = max_bytes
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, data: bytes, name: str | None) -> Upload:
        from tunesmith.io.read import SNIFF_BYTES, read_piece, sniff

        shown = display_name(name)
        if len(data) > self.max_bytes:
            raise UploadError(f"{shown}: the file is over the studio's upload limit of "
                              f"{self.max_bytes / 2**20:g} MB (max_upload_mb)", 413)
        if not data:
            raise UploadError(f"{shown}: empty file", 400)
        found = sniff(data[:SNIFF_BYTES])
        if found is None:
            what = "text" if b"\0" not in data[:SNIFF_BYTES] else "binary data"
            raise UploadError(f"{shown}: not a MIDI, MusicXML or ABC file (the file holds "
                              f"{what})", 415)
        uid = new_id()
        path = self.folder / f"{uid}{SUFFIX[found]}"
        path.write_bytes(data)
        try:
            piece = read_piece(path)
            primer = _abc_primer(path) if found == "abc" else ""
        except TunesmithError as e:
            path.unlink(missing_ok=True)
            raise UploadError(_renamed(e, path, shown)) from None
        except (OSError, ValueError) as e:
            path.unlink(missing_ok=True)
            raise UploadError(f"{shown}: could not be read ({e})") from None
        if not piece.plays_piano_keys():
            path.unlink(missing_ok=True)
            raise UploadError(f"{shown}: no notes on the piano keys to continue", 422)
        title = piece.title if piece.title and piece.title != uid else shown  # not the id
        up = Upload(uid, shown, KIND[found], title, len(piece.notes),
                    round(piece.duration_seconds, 2), primer)
        (self.folder / f"{uid}.json").write_text(json.dumps(up.to_json()))
        return up

    def get(self, uid: str) -> tuple[Upload, Path] | None:
        if not valid_id(uid):
            return None
        meta = self.folder / f"{uid}.json"
        if not meta.is_file():
            return None
        try:
            up = Upload(**json.loads(meta.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        files = [p for p in self.folder.glob(f"{uid}.*") if p.suffix != ".json"]
        return (up, files[0]) if files else None


def _renamed(e: TunesmithError, path: Path, shown: str) -> str:
    """The reader's message with the uploaded file's name where the server's path was."""
    return str(e).replace(str(path), shown)


def _abc_primer(path: Path) -> str:
    """The first tune's model text cut after its header and first line of music."""
    from tunesmith.abc_text import model_text, tempo_field
    from tunesmith.io.abc import check_abc_text, read_tune_book

    tune = read_tune_book(path)[0]
    check_abc_text(tune.text)  # the readers' ABC limits, before the tune goes anywhere
    text = model_text(tune)
    lines = text.splitlines()
    k_at = next((i for i, ln in enumerate(lines) if ln.startswith("K:")), len(lines) - 1)
    return tempo_field(tune.text) + "\n".join(lines[: k_at + 2]) + "\n"  # its Q: kept


__all__ = ["Upload", "UploadError", "Uploads", "display_name"]
