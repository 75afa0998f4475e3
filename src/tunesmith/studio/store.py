"""The gallery and the job history: one SQLite database in the studio's data folder.

- **WAL** journal (readers never wait for the writer; a crash loses no committed row) and
  ``synchronous=NORMAL``; one connection shared by the server's threads behind a lock
  (each statement is short).
- **Migrations**: :data:`MIGRATIONS` is a list of SQL scripts; the database's
  ``PRAGMA user_version`` says how many have run, and opening it runs the rest, each in
  one transaction. A database from a newer tunesmith (a higher version) is refused with
  a one-line error rather than guessed at.
- A composition's files live in ``pieces/<id>/`` beside the database; a row is written
  only after its files are, so a listed piece always has them.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tunesmith.errors import TunesmithError

DB_NAME = "studio.sqlite3"
ID = re.compile(r"^[0-9a-f]{16}$")  # every id the studio makes: compositions, jobs, uploads

MIGRATIONS: list[str] = [
    # 1: the gallery and the jobs
    """
    CREATE TABLE compositions (
        id TEXT PRIMARY KEY,
        job_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        title TEXT NOT NULL,
        model_id TEXT NOT NULL,
        model_label TEXT NOT NULL,
        family TEXT NOT NULL,
        style TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL,
        starred INTEGER NOT NULL DEFAULT 0,
        valid INTEGER NOT NULL,
        error TEXT NOT NULL DEFAULT '',
        seconds REAL,
        notes INTEGER,
        text TEXT NOT NULL DEFAULT '',
        options TEXT NOT NULL DEFAULT '{}',
        files TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        created REAL NOT NULL,
        finished REAL,
        request TEXT NOT NULL DEFAULT '{}',
        result TEXT NOT NULL DEFAULT '{}',
        error TEXT NOT NULL DEFAULT ''
    );
    """,
    # 2: what the gallery is searched by; where a composition came from
    """
    CREATE INDEX compositions_created ON compositions (created);
    CREATE INDEX compositions_model ON compositions (model_id, created);
    CREATE INDEX compositions_starred ON compositions (starred, created);
    ALTER TABLE compositions ADD COLUMN source TEXT NOT NULL DEFAULT 'compose';
    CREATE INDEX jobs_kind ON jobs (kind, created);
    """,
]

COLUMNS = ("id", "job_id", "idx", "title", "model_id", "model_label", "family", "style",
           "created", "starred", "valid", "error", "seconds", "notes", "text", "options",
           "files", "source")


class NotFound(LookupError):
    """A request named something (an id) that is not there: a 404."""


def new_id() -> str:
    return uuid.uuid4().hex[:16]


def valid_id(text: str) -> bool:
    return bool(ID.match(text or ""))


@dataclass
class Composition:
    """One row of the gallery."""

    id: str
    job_id: str
    idx: int
    title: str
    model_id: str
    model_label: str
    family: str
    created: float
    valid: bool
    style: str = ""
    starred: bool = False
    error: str = ""
    seconds: float | None = None
    notes: int | None = None
    text: str = ""
    options: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)  # kind (abc, mid, wav, png, svg, xml) -> name
    source: str = "compose"

    def to_json(self) -> dict:
        out = {k: getattr(self, k) for k in COLUMNS}
        out["valid"], out["starred"] = bool(self.valid), bool(self.starred)
        out["kinds"] = sorted(self.files)
        del out["files"]
        return out


@dataclass(frozen=True)
class Query:
    """What the gallery is searched by; every field optional."""

    model: str | None = None
    family: str | None = None
    style: str | None = None
    text: str | None = None  # in the title or the model's name
    starred: bool | None = None
    since: float | None = None  # unix seconds
    until: float | None = None
    job: str | None = None
    limit: int = 50
    offset: int = 0

    @property
    def filtered(self) -> bool:
        """Whether any filter is set (paging is not one)."""
        return any(getattr(self, f.name) not in (None, "") for f in fields(self)
                   if f.name not in ("limit", "offset"))


class Store:
    """The database (see the module docstring)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._numbered = 0  # the last title number given (next_number)
        self.pieces = self.folder / "pieces"
        try:
            self.pieces.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TunesmithError(f"cannot make the studio's data folder ({e.strerror or e})",
                                 self.folder) from None
        self.path = self.folder / DB_NAME
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30,
                                       isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self.version = self._migrate()
        except sqlite3.DatabaseError as e:
            raise TunesmithError(f"cannot open the gallery database ({e})", self.path) from None

    # --- schema --------------------------------------------------------------------------
    def _migrate(self) -> int:
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise TunesmithError(f"the gallery database is of a newer tunesmith (schema "
                                     f"{version}; this one knows {len(MIGRATIONS)})", self.path)
            for n in range(version, len(MIGRATIONS)):
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _statements(MIGRATIONS[n]):
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {n + 1}")
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            return len(MIGRATIONS)

    def journal_mode(self) -> str:
        with self._lock:
            return self._db.execute("PRAGMA journal_mode").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- compositions --------------------------------------------------------------------
    def folder_of(self, comp_id: str) -> Path:
        if not valid_id(comp_id):
            raise ValueError(f"not an id: {comp_id!r}")
        return self.pieces / comp_id

    def add(self, c: Composition) -> None:
        row = c.to_json() | {"valid": int(c.valid), "starred": int(c.starred),
                             "options": json.dumps(c.options, default=str),
                             "files": json.dumps(c.files)}
        del row["kinds"]
        with self._lock:
            self._db.execute(f"INSERT INTO compositions ({', '.join(COLUMNS)}) VALUES "
                             f"({', '.join('?' * len(COLUMNS))})", [row[k] for k in COLUMNS])

    def get(self, comp_id: str) -> Composition | None:
        if not valid_id(comp_id):
            return None
        with self._lock:
            row = self._db.execute("SELECT * FROM compositions WHERE id = ?",
                                   (comp_id,)).fetchone()
        return _composition(row) if row else None

    def update(self, comp_id: str, *, title: str | None = None,
               starred: bool | None = None) -> Composition | None:
        sets, args = [], []
        if title is not None:
            sets.append("title = ?")
            args.append(title)
        if starred is not None:
            sets.append("starred = ?")
            args.append(int(starred))
        if sets:
            with self._lock:
                self._db.execute(f"UPDATE compositions SET {', '.join(sets)} WHERE id = ?",
                                 [*args, comp_id])
        return self.get(comp_id)

    def delete(self, comp_id: str) -> bool:
        import shutil

        if not valid_id(comp_id):
            return False
        with self._lock:
            gone = self._db.execute("DELETE FROM compositions WHERE id = ?",
                                    (comp_id,)).rowcount
        shutil.rmtree(self.folder_of(comp_id), ignore_errors=True)
        return bool(gone)

    def search(self, q: Query = Query()) -> tuple[list[Composition], int]:
        """The compositions that match, newest first, and how many match in all."""
        where, args = [], []
        for column, value in (("model_id", q.model), ("family", q.family), ("style", q.style),
                              ("job_id", q.job)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        if q.text:
            like = "%" + q.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append("(title LIKE ? ESCAPE '\\' OR model_label LIKE ? ESCAPE '\\')")
            args += [like, like]
        if q.starred is not None:
            where.append("starred = ?")
            args.append(int(q.starred))
        if q.since is not None:
            where.append("created >= ?")
            args.append(q.since)
        if q.until is not None:
            where.append("created < ?")
            args.append(q.until)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM compositions {clause}",
                                     args).fetchone()[0]
            rows = self._db.execute(f"SELECT * FROM compositions {clause} ORDER BY created "
                                    "DESC, idx DESC LIMIT ? OFFSET ?",
                                    [*args, q.limit, q.offset]).fetchall()
        return [_composition(r) for r in rows], total

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM compositions").fetchone()[0]

    def next_number(self) -> int:
        """A number for a new piece's title ("Piece 12") that no piece of this gallery
        has been given before: two compositions running at once, or a deleted piece,
        never make two titles alike (the gallery's count did)."""
        with self._lock:
            top = self._db.execute("SELECT MAX(rowid) FROM compositions").fetchone()[0] or 0
            self._numbered = max(self._numbered, top) + 1
            return self._numbered

    def facets(self) -> dict[str, list]:
        """The models, families and styles the gallery holds (for its filters)."""
        with self._lock:
            models = self._db.execute("SELECT model_id, model_label, COUNT(*) FROM "
                                      "compositions GROUP BY model_id ORDER BY 2").fetchall()
            families = [r[0] for r in self._db.execute(
                "SELECT DISTINCT family FROM compositions ORDER BY 1")]
            styles = [r[0] for r in self._db.execute(
                "SELECT DISTINCT style FROM compositions WHERE style != '' ORDER BY 1")]
        return {"models": [{"id": m[0], "label": m[1], "count": m[2]} for m in models],
                "families": families, "styles": styles}

    # --- jobs ----------------------------------------------------------------------------
    def add_job(self, job_id: str, kind: str, request: dict, status: str = "queued") -> None:
        with self._lock:
            self._db.execute("INSERT INTO jobs (id, kind, status, created, request) VALUES "
                             "(?, ?, ?, ?, ?)", (job_id, kind, status, time.time(),
                                                 json.dumps(request, default=str)))

    def finish_job(self, job_id: str, status: str, result: dict | None = None,
                   error: str = "") -> None:
        with self._lock:
            self._db.execute("UPDATE jobs SET status = ?, finished = ?, result = ?, error = ? "
                             "WHERE id = ?", (status, time.time(),
                                              json.dumps(result or {}, default=str), error,
                                              job_id))

    def set_job_status(self, job_id: str, status: str) -> None:
        with self._lock:
            self._db.execute("UPDATE jobs SET status = ? WHERE id = ?", (status, job_id))

    def job(self, job_id: str) -> dict | None:
        if not valid_id(job_id):
            return None
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def jobs(self, kind: str | None = None, limit: int = 20) -> list[dict]:
        with self._lock:
            if kind:
                rows = self._db.execute("SELECT * FROM jobs WHERE kind = ? ORDER BY created "
                                        "DESC LIMIT ?", (kind, limit)).fetchall()
            else:
                rows = self._db.execute("SELECT * FROM jobs ORDER BY created DESC LIMIT ?",
                                        (limit,)).fetchall()
        return [_job(r) for r in rows]

    def abandon_unfinished(self) -> int:
        """Jobs a previous server left queued or running: they cannot go on; say so."""
        with self._lock:
            return self._db.execute(
                "UPDATE jobs SET status = 'failed', finished = ?, error = 'the studio stopped "
                "before this job finished' WHERE status IN ('queued', 'running')",
                (time.time(),)).rowcount


def _statements(script: str) -> Iterable[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _composition(row: sqlite3.Row) -> Composition:
    d: dict[str, Any] = dict(row)
    d["options"] = _json(d.get("options"))
    d["files"] = _json(d.get("files"))
    d["valid"], d["starred"] = bool(d["valid"]), bool(d["starred"])
    return Composition(**{k: d[k] for k in COLUMNS})


def _job(row: sqlite3.Row) -> dict:
    d = dict(row)
    d["request"], d["result"] = _json(d["request"]), _json(d["result"])
    return d


def _json(text) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


__all__ = ["DB_NAME", "MIGRATIONS", "Composition", "NotFound", "Query", "Store", "new_id",
           "valid_id"]
