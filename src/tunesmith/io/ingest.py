"""Corpora of Pieces for the event-based families: MIDI, MusicXML and ABC in, a report out.

A corpus is a built-in name (:data:`tunesmith.corpora.BUILTIN`, e.g. ``bach-chorales``),
a file, or a folder searched recursively for ``.mid .midi .xml .mxl .musicxml .abc``
(every tune of an ABC tune book is one piece). Each input becomes one
:class:`IngestRow`, kept or dropped with a reason; nothing is dropped silently, and no
bad file stops a corpus. When the input is a single file, or nothing at all is usable, the
reason is a one-line :class:`TunesmithError` instead.

Built-in corpora are parsed by music21 once and cached as JSON (``Piece.to_dict``; no
pickle) in ``$TUNESMITH_CACHE`` (default ``~/.cache/tunesmith``)/corpora, one file per
corpus named by the corpus, music21's version and :data:`CACHE_FORMAT`, holding each
source file's pieces as read (a file added to the corpus later is parsed alone). The
:class:`IngestFilter` is applied on every load, so changing it costs no parse. User
files and folders are not cached: MIDI parses fast; big MusicXML folders parse again.

Units: seconds come from each piece's tempo map (:meth:`Piece.duration_seconds`, from
beat 0 to the end of the last kept note); programs are General MIDI numbers 0-127.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith.errors import TunesmithError
from tunesmith.music import Piece, Track

MIDI_SUFFIXES = (".mid", ".midi")
SCORE_SUFFIXES = (".xml", ".mxl", ".musicxml")
ABC_SUFFIXES = (".abc",)
SUPPORTED_SUFFIXES = MIDI_SUFFIXES + SCORE_SUFFIXES + ABC_SUFFIXES
PIANO_PROGRAMS = frozenset(range(8))  # GM 1-8: acoustic grand ... clavinet
MIN_QPM, MAX_QPM = 5.0, 1000.0  # tempos outside this range are corrupt data, not music
CACHE_FORMAT = 3  # bump when the cached content changes meaning (3: programs, ties)
PARALLEL_MIN_ITEMS = 8  # fewer music21 parses than this are not worth a process pool


# --- the filter -----------------------------------------------------------------------

@dataclass(frozen=True)
class IngestFilter:
    """Which tracks of a piece to keep, and which pieces are usable.

    ``programs``: ``"all"`` (every non-drum track), ``"piano"`` (GM programs 0-7) or a
    comma-separated list of GM programs such as ``"0,1,40"``. Drum tracks are never
    kept. A piece is dropped when its kept tracks hold fewer than ``min_notes`` notes
    or last less than ``min_seconds`` or more than ``max_seconds`` (seconds through the
    tempo map, from beat 0 to the last note's end)."""

    programs: str = "all"
    min_seconds: float = 2.0
    max_seconds: float = 3600.0
    min_notes: int = 8

    def __post_init__(self):
        parse_programs(self.programs)  # raises ValueError
        if not (0.0 <= self.min_seconds < float("inf")):
            raise ValueError(f"min_seconds must be a finite number >= 0, got "
                             f"{self.min_seconds!r}")
        if not (self.min_seconds < self.max_seconds):
            raise ValueError(f"max_seconds ({self.max_seconds!r}) must be greater than "
                             f"min_seconds ({self.min_seconds!r})")
        if isinstance(self.min_notes, bool) or not isinstance(self.min_notes, int) \
                or self.min_notes < 1:
            raise ValueError(f"min_notes must be an integer >= 1, got {self.min_notes!r}")

    def keeps(self, track: Track) -> bool:
        """Whether this track survives the program filter (drum tracks never do)."""
        if track.is_drum:
            return False
        allowed = parse_programs(self.programs)
        return allowed is None or track.program in allowed


def parse_programs(spec: str) -> frozenset[int] | None:
    """``"all"`` -> None (no restriction), ``"piano"`` -> {0..7}, ``"0, 40"`` -> {0, 40}.
    Raises :class:`ValueError` for anything else."""
    text = str(spec).strip().lower()
    if text == "all":
        return None
    if text == "piano":
        return PIANO_PROGRAMS
    try:
        programs = frozenset(int(p) for p in text.split(","))
    except ValueError:
        programs = frozenset({-1})
    if not programs or not all(0 <= p <= 127 for p in programs):
        raise ValueError(f"programs must be 'all', 'piano' or a comma-separated list of "
                         f"General MIDI programs 0-127 (e.g. '0,1,40'), got {spec!r}")
    return programs


# --- the report -----------------------------------------------------------------------

@dataclass
class IngestRow:
    """One input (a file, or one tune of an ABC book) and what became of it."""

    path: str
    status: str  # "kept" | "dropped"
    reason: str  # "" when kept
    notes: int  # notes in the kept tracks (0 when dropped before they were counted)
    seconds: float  # duration of the kept tracks (0 when unknown)
    tracks: int  # tracks kept


CSV_COLUMNS = ("path", "status", "reason", "notes", "seconds", "tracks")


@dataclass
class PieceCorpus:
    """The usable pieces of a corpus, with a row per input saying what was kept.

    ``keys[i]`` names ``pieces[i]`` stably (its path relative to the corpus root, plus
    ``#n`` for the n-th tune of an ABC book, 0-based): split train/valid/test on it.
    ``ignored`` lists files in a folder that are not music by their suffix."""

    name: str
    pieces: list[Piece] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    rows: list[IngestRow] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pieces)

    @property
    def kept(self) -> int:
        return sum(r.status == "kept" for r in self.rows)

    @property
    def dropped(self) -> int:
        return sum(r.status == "dropped" for r in self.rows)

    def reason_counts(self) -> Counter:
        """Dropped rows by kind of reason (the reason up to its parenthesis)."""
        return Counter(r.reason.split(" (")[0] for r in self.rows if r.status == "dropped")

    def write_csv(self, path: str | Path) -> Path:
        """Write the report (columns path,status,reason,notes,seconds,tracks)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(CSV_COLUMNS)
            for r in self.rows:
                writer.writerow([r.path, r.status, r.reason, r.notes, f"{r.seconds:.3f}",
                                 r.tracks])
        return path

    def summary(self) -> str:
        """One line: ``bach-chorales: 409 files, 405 kept, 4 dropped (3 too short, ...)``."""
        noun = "inputs" if any("#" in k for k in self.keys) else "files"
        text = f"{self.name}: {len(self.rows)} {noun}, {self.kept} kept, {self.dropped} dropped"
        if self.dropped:
            text += " (" + ", ".join(f"{n} {why}" for why, n in
                                     self.reason_counts().most_common()) + ")"
        if self.ignored:
            kinds = sorted({Path(p).suffix.lower() or Path(p).name for p in self.ignored})
            text += f"; {len(self.ignored)} other files ignored ({', '.join(kinds[:5])})"
        return text


# --- one piece ------------------------------------------------------------------------

def read_piece(path: str | Path) -> Piece:
    """Read one file: MIDI (``.mid .midi``, symusic), MusicXML (``.xml .mxl .musicxml``,
    music21) or ABC (``.abc``: the first tune of the book). Raises a one-line
    :class:`TunesmithError` naming the file for every problem: missing, unsupported
    suffix, unreadable, or corrupt timing (:func:`piece_problem`)."""
    path = Path(path)
    if not path.is_file():
        raise TunesmithError("no such file", path)
    suffix = path.suffix.lower()
    if suffix in MIDI_SUFFIXES:
        from tunesmith.io.midi import read_midi

        piece = read_midi(path)
    elif suffix in SCORE_SUFFIXES:
        from tunesmith.io.musicxml import read_musicxml

        piece = read_musicxml(path)
    elif suffix in ABC_SUFFIXES:
        from tunesmith.io.abc import read_tune_book

        piece = _abc_piece(read_tune_book(path)[0].text, path)
    else:
        raise TunesmithError(f"unsupported file type {suffix or '(no suffix)'!r} "
                             f"(expected one of {' '.join(SUPPORTED_SUFFIXES)})", path)
    problem = piece_problem(piece)
    if problem:
        raise TunesmithError(problem, path)
    return piece


def _abc_piece(text: str, where: str | Path) -> Piece:
    from tunesmith.io.abc import tune_to_piece

    try:
        return tune_to_piece(text)
    except ValueError as e:
        raise TunesmithError(f"not a readable ABC tune ({e})", where) from None


def piece_problem(piece: Piece) -> str:
    """"" if the piece's timing is sane, else why not: a tempo outside
    [MIN_QPM, MAX_QPM] (or not finite) that applies to some note."""
    end = piece.end_beat
    for t in piece.tempos:
        if (t.beat < end or t.beat == 0) and not (MIN_QPM <= t.qpm <= MAX_QPM):
            return f"absurd tempo ({t.qpm:.4g} qpm)"
    return ""


def filter_piece(piece: Piece, filt: IngestFilter = IngestFilter()) -> tuple[Piece | None, str]:
    """Apply ``filt``: ``(piece with only the kept tracks, "")`` or ``(None, reason)``.
    The input piece is not modified (the result shares its Track objects)."""
    kept, reason = _apply_filter(piece, filt)
    return (None, reason) if reason else (kept, "")


def _apply_filter(piece: Piece, filt: IngestFilter) -> tuple[Piece | None, str]:
    """Like :func:`filter_piece`, but returns the track-filtered piece (when it got that
    far) with the reason, so a report can say how short "too short" was."""
    if not any(t.notes for t in piece.tracks):
        return None, "no notes"
    if all(t.is_drum for t in piece.tracks if t.notes):
        return None, "drums only"
    problem = piece_problem(piece)
    if problem:
        return None, problem
    kept = dataclasses.replace(piece, tracks=[t for t in piece.tracks
                                              if t.notes and filt.keeps(t)])
    if not kept.tracks:
        return None, f"no notes after filtering (programs={filt.programs})"
    n = sum(len(t.notes) for t in kept.tracks)
    seconds = kept.duration_seconds
    if n < filt.min_notes:
        return kept, f"too few notes ({n} < {filt.min_notes})"
    if seconds < filt.min_seconds:
        return kept, f"too short ({seconds:.2f} s < {filt.min_seconds:g} s)"
    if seconds > filt.max_seconds:
        return kept, f"too long ({seconds:.2f} s > {filt.max_seconds:g} s)"
    return kept, ""


# --- a corpus -------------------------------------------------------------------------

@dataclass(frozen=True)
class _Item:
    """One input: a file, or (``text`` set) one tune cut from an ABC book."""

    key: str  # stable identity: relative path, + "#n" for a tune
    label: str  # how a report names it: the path as given, + "#n"
    path: Path
    text: str = ""


@dataclass
class _Result:
    key: str
    label: str
    piece: Piece | None
    reason: str  # why it could not be read ("" when piece is set)


def load_piece_corpus(name: str, filt: IngestFilter = IngestFilter(), progress: bool = True,
                      workers: int | None = None) -> PieceCorpus:
    """Load a corpus of Pieces: a built-in name, a file, or a folder (recursive).

    Every input gets a row; unusable ones are dropped with a reason. Raises a one-line
    :class:`TunesmithError` for a missing path, a folder with no music files, a single
    input that is dropped (its reason), or a corpus where nothing is usable.
    ``progress`` shows a tqdm bar on stderr while parsing; ``workers`` caps the processes
    that parse with music21 (default: up to 2 CPU cores; MIDI is parsed in-process)."""
    from tunesmith.corpora import BUILTIN

    if name in BUILTIN:
        results, ignored, where = _load_builtin(name, progress, workers), [], Path(name)
    else:
        where = Path(name).expanduser()
        items, ignored = _user_items(where)
        results = _parse_all(items, progress, workers, desc=where.name or str(where))
    corpus = PieceCorpus(name=name, ignored=ignored)
    for res in results:
        _add(corpus, res, filt)
    if not corpus.pieces:
        if len(corpus.rows) == 1:
            raise TunesmithError(corpus.rows[0].reason, corpus.rows[0].path)
        counts = ", ".join(f"{n} {why}" for why, n in corpus.reason_counts().most_common())
        raise TunesmithError(f"no usable pieces: all {len(corpus.rows)} inputs dropped "
                             f"({counts})", where)
    return corpus


def _add(corpus: PieceCorpus, res: _Result, filt: IngestFilter) -> None:
    """Filter one read result into the corpus and its report."""
    if res.piece is None:
        corpus.rows.append(IngestRow(res.label, "dropped", res.reason, 0, 0.0, 0))
        return
    kept, reason = _apply_filter(res.piece, filt)
    notes = sum(len(t.notes) for t in kept.tracks) if kept else 0
    seconds = kept.duration_seconds if kept else 0.0
    tracks = len(kept.tracks) if kept else 0
    status = "dropped" if reason else "kept"
    corpus.rows.append(IngestRow(res.label, status, reason, notes, seconds, tracks))
    if not reason:
        corpus.pieces.append(kept)
        corpus.keys.append(res.key)


def _user_items(path: Path) -> tuple[list[_Item], list[str]]:
    """The inputs under a user's file or folder, and the folder's non-music files."""
    if not path.exists():
        from tunesmith.corpora import BUILTIN

        raise TunesmithError(f"no such file or folder (built-in corpora: "
                             f"{', '.join(BUILTIN)})", path)
    if path.is_file():
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            read_piece(path)  # raises the "unsupported file type" error
        return _items(path, path.name), []
    files = sorted(p for p in path.rglob("*") if p.is_file())
    music = [p for p in files if p.suffix.lower() in SUPPORTED_SUFFIXES]
    if not music:
        raise TunesmithError(f"no music files in this folder (searched recursively for "
                             f"{' '.join(SUPPORTED_SUFFIXES)})", path)
    items = [it for p in music for it in _items(p, p.relative_to(path).as_posix())]
    return items, [str(p) for p in files if p.suffix.lower() not in SUPPORTED_SUFFIXES]


def _items(path: Path, key: str, label: str | None = None) -> list[_Item]:
    """One item per file; an ABC book gives one per tune (``key#n``). A book that cannot
    be read stays one item, whose reading reports why."""
    label = str(path) if label is None else label
    if path.suffix.lower() not in ABC_SUFFIXES:
        return [_Item(key, label, path)]
    from tunesmith.io.abc import read_tune_book

    try:
        tunes = read_tune_book(path)
    except TunesmithError:
        return [_Item(key, label, path)]
    return [_Item(f"{key}#{t.index}", f"{label}#{t.index}", path, t.text) for t in tunes]


# --- parsing, in parallel when music21 is involved --------------------------------------

def _read_item(item: _Item) -> Piece:
    """Read one item (raises TunesmithError)."""
    if not item.text:
        return read_piece(item.path)
    piece = _abc_piece(item.text, item.label)
    problem = piece_problem(piece)
    if problem:
        raise TunesmithError(problem, item.label)
    return piece


def _read_item_dict(item: _Item) -> tuple[dict | None, str]:
    """For worker processes: (the piece as a dict, "") or (None, reason)."""
    try:
        return _read_item(item).to_dict(), ""
    except TunesmithError as e:
        return None, _bare_reason(e)


def _read_result(item: _Item) -> _Result:
    try:
        return _Result(item.key, item.label, _read_item(item), "")
    except TunesmithError as e:
        return _Result(item.key, item.label, None, _bare_reason(e))


def _bare_reason(e: TunesmithError) -> str:
    """The message of ``e`` without the ``path: `` prefix TunesmithError adds."""
    text = str(e)
    prefix = f"{e.path}: " if e.path else ""
    return text[len(prefix):] if prefix and text.startswith(prefix) else text


def _parse_all(items: list[_Item], progress: bool, workers: int | None,
               desc: str) -> list[_Result]:
    """Read every item, in order. MIDI is read in this process (symusic is fast);
    MusicXML and ABC (music21, ~0.2-2 s a file) in a process pool when there are enough."""
    from tqdm import tqdm

    out: list[_Result | None] = [None] * len(items)
    heavy = [i for i, it in enumerate(items)
             if it.text or it.path.suffix.lower() not in MIDI_SUFFIXES]
    # no bar for one input (its error must stay the only line on stderr), nor for work
    # that is over within a second (delay)
    with tqdm(total=len(items), desc=desc, unit="file", disable=not progress or len(items) < 2,
              delay=1.0, file=sys.stderr) as bar:
        for i, res in zip(heavy, _parse_pooled([items[i] for i in heavy], workers, bar),
                          strict=True):
            out[i] = res
        for i, it in enumerate(items):
            if out[i] is None:
                out[i] = _read_result(it)
                bar.update()
    return [r for r in out if r is not None]


def _parse_pooled(items: list[_Item], workers: int | None, bar) -> list[_Result]:
    """Read ``items`` in ``workers`` forked processes (default: up to 2 CPU cores) where
    that is available and worth it, else here. A pool that breaks falls back to here."""
    n = workers if workers is not None else min(2, os.cpu_count() or 1)
    if n < 2 or len(items) < PARALLEL_MIN_ITEMS or not sys.platform.startswith("linux"):
        return _parse_serial(items, bar)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    done: list[_Result] = []
    try:
        # fork: workers need no re-import of __main__ (spawn would re-run an unguarded
        # script) and touch only music21, never torch.
        with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("fork")) as ex:
            for item, (d, reason) in zip(items, ex.map(_read_item_dict, items, chunksize=2),
                                         strict=False):
                done.append(_Result(item.key, item.label,
                                    Piece.from_dict(d) if d is not None else None, reason))
                bar.update()
    except (BrokenProcessPool, OSError) as e:
        warnings.warn(f"parallel parsing failed ({e}); continuing in one process",
                      stacklevel=2)
        done += _parse_serial(items[len(done):], bar)
    return done


def _parse_serial(items: list[_Item], bar) -> list[_Result]:
    out = []
    for it in items:
        out.append(_read_result(it))
        bar.update()
    return out


# --- built-in corpora and their cache ---------------------------------------------------

def cache_dir() -> Path:
    """Where built-in corpora are cached: ``$TUNESMITH_CACHE``, else ~/.cache/tunesmith."""
    env = os.environ.get("TUNESMITH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tunesmith"


def cache_path(name: str) -> Path:
    """The JSON cache file of built-in corpus ``name`` for this music21 and format."""
    return cache_dir() / "corpora" / f"{name}-music21-{_music21_version()}-v{CACHE_FORMAT}.json"


def _music21_version() -> str:
    # from the installed distribution's metadata: importing music21 takes ~1 s, which
    # would be most of the time of a load from the cache
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("music21")
    except PackageNotFoundError:
        raise TunesmithError("the built-in corpora need music21 (pip install music21)") \
            from None


def _load_builtin(name: str, progress: bool, workers: int | None) -> list[_Result]:
    """Read a built-in corpus from its cache; files the cache lacks are parsed (all of
    them the first time) and the cache is rewritten."""
    from tunesmith.corpora import BUILTIN, builtin_files, music21_corpus_dir

    root = music21_corpus_dir()
    files = [p.relative_to(root).as_posix() for p in builtin_files(BUILTIN[name])]
    path = cache_path(name)
    cached = _read_cache(path)
    todo = {f: _items(root / f, f, f) for f in files if f not in cached}
    if todo:
        items = [it for its in todo.values() for it in its]
        verb = "parsing once" if not cached else f"parsing {len(todo)} new files"
        results = iter(_parse_all(items, progress, workers,
                                  desc=f"{name}: {verb}, cached in {path.parent}"))
        for f, its in todo.items():
            cached[f] = [next(results) for _ in its]
    if todo or set(cached) != set(files):
        _write_cache(path, name, {f: cached[f] for f in files})
    return [r for f in files for r in cached[f]]


def _read_cache(path: Path) -> dict[str, list[_Result]]:
    """The cached results by file; empty when the cache is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if data.get("format") != CACHE_FORMAT:
            return {}
        return {f: [_Result(e["key"], e["key"], Piece.from_dict(e["piece"])
                            if e["piece"] is not None else None, e["reason"]) for e in entries]
                for f, entries in data["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _write_cache(path: Path, name: str, by_file: dict[str, list[_Result]]) -> None:
    """Write the cache atomically (a temporary file renamed over it); a cache folder that
    cannot be written costs a warning, not the run."""
    data = {
        "format": CACHE_FORMAT, "corpus": name, "music21": _music21_version(),
        "files": {f: [{"key": r.key, "reason": r.reason,
                       "piece": r.piece.to_dict() if r.piece is not None else None}
                      for r in results] for f, results in by_file.items()},
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
