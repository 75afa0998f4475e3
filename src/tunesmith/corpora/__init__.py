"""Named corpora: built-ins that ship inside pip packages, and the user's own files.

- :mod:`~tunesmith.corpora.builtin`: the built-in corpora (:data:`BUILTIN`), their files,
  the user's ABC files, :func:`count_tunes`.
- :mod:`~tunesmith.corpora.abc`: ABC tunes as model text (:func:`load_abc_corpus`).
- :mod:`~tunesmith.corpora.pieces`: corpora of Pieces from MIDI / MusicXML / ABC
  (:func:`load_piece_corpus`), with the report (:mod:`~tunesmith.corpora.report`), the
  filter (:mod:`~tunesmith.corpora.filter`) and the built-ins' JSON cache
  (:mod:`~tunesmith.corpora.cache`).
- :mod:`~tunesmith.corpora.styles`: style labels of ABC tunes (tradition, tune type).

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
from tunesmith.corpora.styles import (
    MIN_LABEL_TUNES,
    StyleLabels,
    builtin_tradition,
    corpus_styles,
    folder_tradition,
    style_counts,
    style_of,
    tune_type_from_rhythm,
    tune_type_from_title,
)

__all__ = [
    "BUILTIN", "CACHE_FORMAT", "CSV_COLUMNS", "MIN_LABEL_TUNES", "PIANO_PROGRAMS", "AbcCorpus",
    "BuiltinCorpus", "IngestFilter", "IngestRow", "PieceCorpus", "StyleLabels",
    "builtin_files", "builtin_tradition", "cache_dir", "cache_path", "corpus_files",
    "corpus_styles", "count_tunes", "filter_piece", "folder_tradition", "load_abc_corpus",
    "load_piece_corpus", "music21_corpus_dir", "parse_programs", "style_counts", "style_of",
    "tune_type_from_rhythm", "tune_type_from_title", "user_abc_files",
]
