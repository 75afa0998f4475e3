"""Named corpora: built-ins that ship inside pip packages, and the user's own files.

- :mod:`~tunesmith.corpora.builtin`: the built-in corpora (:data:`BUILTIN`), their files,
  the user's ABC files, :func:`count_tunes`.
- :mod:`~tunesmith.corpora.abc`: ABC tunes as model text (:func:`load_abc_corpus`).
- :mod:`~tunesmith.corpora.pieces`: corpora of Pieces from MIDI / MusicXML / ABC
  (:func:`load_piece_corpus`), with the report (:mod:`~tunesmith.corpora.report`), the
  filter (:mod:`~tunesmith.corpora.filter`) and the built-ins' JSON cache
  (:mod:`~tunesmith.corpora.cache`).

Importing this package is light: music21, symusic and tqdm are imported only by the
functions that read files.
"""

from __future__ import annotations

from tunesmith.corpora.abc import AbcCorpus, corpus_files, load_abc_corpus
from tunesmith.corpora.builtin import (
    BUILTIN,
    BuiltinCorpus,
    builtin_files,
    count_tunes,
    music21_corpus_dir,
    user_abc_files,
)
from tunesmith.corpora.cache import CACHE_FORMAT, cache_dir, cache_path
from tunesmith.corpora.filter import PIANO_PROGRAMS, IngestFilter, filter_piece, parse_programs
from tunesmith.corpora.pieces import load_piece_corpus
from tunesmith.corpora.report import CSV_COLUMNS, IngestRow, PieceCorpus

__all__ = [
    "BUILTIN", "CACHE_FORMAT", "CSV_COLUMNS", "PIANO_PROGRAMS", "AbcCorpus", "BuiltinCorpus",
    "IngestFilter", "IngestRow", "PieceCorpus", "builtin_files", "cache_dir", "cache_path",
    "corpus_files", "count_tunes", "filter_piece", "load_abc_corpus", "load_piece_corpus",
    "music21_corpus_dir", "parse_programs", "user_abc_files",
]
