"""Corpora of Pieces for the event-based families: MIDI, MusicXML and ABC in, a report out.

A corpus is a built-in name (:data:`tunesmith.corpora.BUILTIN`, e.g. ``bach-chorales``),
a file, or a folder searched recursively for ``.mid .midi .xml .mxl .musicxml .abc``
(every tune of an ABC tune book is one piece). Each input becomes one
:class:`~tunesmith.corpora.report.IngestRow`, kept or dropped with a reason; nothing is
dropped silently, and no bad file stops a corpus. When the input is a single file, or
nothing at all is usable, the reason is a one-line :class:`TunesmithError` instead.

Every file is read by :func:`tunesmith.io.read.read_piece` (its content decides the
format, then its suffix). Built-in corpora are cached as JSON
(:mod:`tunesmith.corpora.cache`); the :class:`IngestFilter` is applied on every load, so
changing it costs no parse. User files and folders are not cached: MIDI parses fast; big
MusicXML folders parse again.

Every read has its budgets (:mod:`tunesmith.io.limits`): a file or tune over one is
dropped with the limit's message. MusicXML and ABC (music21) are read in worker
processes with a time budget per item (:func:`tunesmith.io.deadline.run_all`): one that
takes longer than ``parse_seconds`` is killed and dropped ("took longer than 30 s to
read"), and the others go on. MIDI is read here (symusic is fast).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tunesmith.corpora import builtin
from tunesmith.corpora.cache import CacheEntry, cache_path, read_cache, write_cache
from tunesmith.corpora.filter import IngestFilter, _apply_filter
from tunesmith.corpora.report import IngestRow, PieceCorpus
from tunesmith.errors import TunesmithError
from tunesmith.io import deadline
from tunesmith.io.paths import corpus_walk, said_left_out
from tunesmith.io.read import (
    MIDI_SUFFIXES,
    MUSIC21,
    SUPPORTED_SUFFIXES,
    file_format,
    read_abc_tune,
    read_piece,
)
from tunesmith.music import Piece
from tunesmith.progress import Progress, report


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


def load_piece_corpus(name: str, filt: IngestFilter = IngestFilter(),
                      progress: Progress | None = None,
                      workers: int | None = None) -> PieceCorpus:
    """Load a corpus of Pieces: a built-in name, a file, or a folder (recursive).

    Every input gets a row; unusable ones are dropped with a reason. Raises a one-line
    :class:`TunesmithError` for a missing path, a folder with no music files, a single
    input that is dropped (its reason), or a corpus where nothing is usable.
    ``progress`` hears of every file parsed (:func:`tunesmith.progress.report`, unit
    ``file``; nothing when a built-in comes whole from its cache); ``workers`` caps the
    processes that parse with music21 (default: up to 2 CPU cores; MIDI is parsed
    in-process), each item within the ``parse_seconds`` limit."""
    if name in builtin.BUILTIN:
        results, ignored, where = _load_builtin(name, progress, workers), [], Path(name)
        left_out = []
    else:
        where = Path(name).expanduser()
        items, ignored, left_out = _user_items(where)
        results = _parse_all(items, progress, workers, task=where.name or str(where))
    corpus = PieceCorpus(name=name, ignored=ignored,
                         left_out=said_left_out(left_out, where) if left_out else "")
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


# --- the inputs of a corpus ----------------------------------------------------------------

def _user_items(path: Path) -> tuple[list[_Item], list[str], list]:
    """The inputs under a user's file or folder, the folder's non-music files, and its
    sub-folders that tunesmith wrote, left out (:func:`~tunesmith.io.paths.corpus_walk`).
    A folder's music files are chosen by suffix; a single file by its content too."""
    if not path.exists():
        if "=" in str(path) or "," in str(path):
            raise TunesmithError("no such file or folder (LABEL=PATH parts and repeated "
                                 "--corpus are for --family continue-events or "
                                 "continue-remi)", path)
        raise TunesmithError(f"no such file or folder (built-in corpora: "
                             f"{', '.join(builtin.BUILTIN)})", path)
    if path.is_file():
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            file_format(path)  # raises the "unsupported file type" error unless it is music
        return _items(path, path.name), [], []
    files, left_out = corpus_walk(path)
    music = [p for p in files if p.suffix.lower() in SUPPORTED_SUFFIXES]
    if not music:
        said = said_left_out(left_out, path)
        raise TunesmithError(f"no music files in this folder (searched recursively for "
                             f"{' '.join(SUPPORTED_SUFFIXES)}" + (f"; {said}" if said else "")
                             + ")", path)
    items = [it for p in music for it in _items(p, p.relative_to(path).as_posix())]
    return (items, [str(p) for p in files if p.suffix.lower() not in SUPPORTED_SUFFIXES],
            left_out)


def _items(path: Path, key: str, label: str | None = None) -> list[_Item]:
    """One item per file; an ABC book (by content, else suffix) gives one per tune
    (``key#n``). A file that cannot be read stays one item, whose reading reports why."""
    from tunesmith.io.abc import read_tune_book

    label = str(path) if label is None else label
    try:
        if file_format(path) != "abc":
            return [_Item(key, label, path)]
        tunes = read_tune_book(path)
    except TunesmithError:
        return [_Item(key, label, path)]
    return [_Item(f"{key}#{t.index}", f"{label}#{t.index}", path, t.text) for t in tunes]


# --- parsing, in parallel when music21 is involved --------------------------------------

def _read_item(item: _Item) -> Piece:
    """Read one item (raises TunesmithError)."""
    if not item.text:
        return read_piece(item.path)
    return read_abc_tune(item.text, item.label)


def _read_item_dict(item: _Item) -> dict:
    """For worker processes: the piece as a dict (raises TunesmithError)."""
    return _read_item(item).to_dict()


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


class _Counter:
    """Counts finished items and reports each to ``progress``."""

    def __init__(self, progress: Progress | None, task: str, total: int):
        self.progress, self.task, self.total, self.done = progress, task, total, 0
        report(progress, task, 0, total, unit="file")

    def update(self) -> None:
        self.done += 1
        report(self.progress, self.task, self.done, self.total, unit="file")


def _parse_all(items: list[_Item], progress: Progress | None, workers: int | None,
               task: str) -> list[_Result]:
    """Read every item, in order. MIDI is read in this process (symusic is fast);
    MusicXML and ABC (music21, ~0.2-2 s a file) in worker processes, each item within
    the ``parse_seconds`` limit (:func:`_parse_in_workers`)."""
    out: list[_Result | None] = [None] * len(items)
    heavy = [i for i, it in enumerate(items)
             if it.text or it.path.suffix.lower() not in MIDI_SUFFIXES]
    counter = _Counter(progress, task, len(items))
    for i, res in zip(heavy, _parse_in_workers([items[i] for i in heavy], workers, counter),
                      strict=True):
        out[i] = res
    for i, it in enumerate(items):
        if out[i] is None:
            out[i] = _read_result(it)
            counter.update()
    return [r for r in out if r is not None]


def _parse_in_workers(items: list[_Item], workers: int | None,
                      counter: _Counter) -> list[_Result]:
    """Read ``items`` in ``workers`` forked processes (default: up to 2 CPU cores), each
    item killed and dropped when it takes longer than the ``parse_seconds`` limit
    (:func:`tunesmith.io.deadline.run_all`; in this process, without a deadline, where
    forking is not safe: not on Linux)."""
    if not items:
        return []
    n = workers if workers is not None else min(2, os.cpu_count() or 1)
    outcomes = deadline.run_all(_read_item_dict, items, workers=max(1, n),
                                where=lambda it: it.label,
                                done=lambda _i, _o: counter.update(), imports=MUSIC21)
    results = []
    for item, outcome in zip(items, outcomes, strict=True):
        if outcome.error is None:
            results.append(_Result(item.key, item.label, Piece.from_dict(outcome.value), ""))
        elif isinstance(outcome.error, TunesmithError):
            results.append(_Result(item.key, item.label, None, _bare_reason(outcome.error)))
        else:
            raise outcome.error
    return results


# --- built-in corpora, through their cache -------------------------------------------------

def _load_builtin(name: str, progress: Progress | None, workers: int | None) -> list[_Result]:
    """Read a built-in corpus from its cache; files the cache lacks are parsed (all of
    them the first time) and the cache is rewritten."""
    root = builtin.music21_corpus_dir()
    files = [p.relative_to(root).as_posix()
             for p in builtin.builtin_files(builtin.BUILTIN[name])]
    path = cache_path(name)
    cached = {f: [_Result(e.key, e.key, e.piece, e.reason) for e in entries]
              for f, entries in read_cache(path).items()}
    todo = {f: _items(root / f, f, f) for f in files if f not in cached}
    if todo:
        items = [it for its in todo.values() for it in its]
        verb = "parsing once" if not cached else f"parsing {len(todo)} new files"
        results = iter(_parse_all(items, progress, workers,
                                  task=f"{name}: {verb}, cached in {path.parent}"))
        for f, its in todo.items():
            cached[f] = [next(results) for _ in its]
    if todo or set(cached) != set(files):
        write_cache(path, name, {f: [CacheEntry(r.key, r.piece, r.reason) for r in cached[f]]
                                 for f in files})
    return [r for f in files for r in cached[f]]
