"""MIDI / MusicXML corpora whose pieces carry a style label (the ``continue-events`` and
``continue-remi`` families condition on it).

A corpus names its labels in one of two ways:

- a folder with a sub-folder per style, ``--corpus DIR`` (``DIR/jazz/a.mid`` -> ``jazz``,
  as :func:`~tunesmith.corpora.styles.folder_tradition` labels ABC folders; a file
  directly in ``DIR`` -> ``unknown``);
- labelled parts, ``--corpus jazz=DIR1 --corpus folk=DIR2`` (the CLI joins repeated
  ``--corpus`` flags with commas: ``jazz=DIR1,folk=DIR2``); each part is a built-in
  corpus, a folder or a file, so ``bach=bach-chorales,classical=classical`` sets the two
  built-ins against each other.

A plain built-in name or a single file gives every piece one label: its name.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

from tunesmith.corpora.filter import IngestFilter
from tunesmith.corpora.report import PieceCorpus
from tunesmith.corpora.styles import folder_tradition
from tunesmith.errors import TunesmithError
from tunesmith.io.paths import corpus_walk

_LABEL = re.compile(r"^[a-z0-9][a-z0-9 _.-]{0,39}$")
# the families whose corpus spec may name LABEL=PATH parts
LABELLED_FAMILIES = ("continue-events", "continue-remi")


def sources(corpus: str, family: str) -> list[tuple[str | None, str]]:
    """Where a ``family``'s corpus spec reads from: a labelled family's ``LABEL=PATH`` parts
    (:func:`parts`), else the spec itself, unlabelled (``[(None, corpus)]``: every other
    family reads a name or path that may hold ``=`` and ``,``)."""
    named = parts(corpus) if family in LABELLED_FAMILIES else []
    return list(named) or [(None, corpus)]


def missing_sources(corpus: str, family: str) -> list[str]:
    """The :func:`sources` of a corpus spec that are not on this machine (a moved folder,
    a run trained elsewhere); built-in corpora are always here."""
    from tunesmith.corpora.builtin import BUILTIN

    return [s for _, s in sources(corpus, family)
            if s not in BUILTIN and not Path(s).expanduser().exists()]


def parts(corpus: str) -> list[tuple[str, str]]:
    """``label=source`` parts of a corpus spec, in order: ``[(label, source), ...]``;
    ``[]`` for a plain corpus (a name, folder or file without ``=``). A label may name
    several parts (``fast=DIR1,fast=DIR2``: their pieces are one style; as for parts of two
    labels, a piece is keyed by its path within its part, so ``DIR1/a.mid`` and
    ``DIR2/a.mid`` share a key and a split). A part without a
    label, one that is not a short name or a source given twice is a one-line error."""
    if "=" not in corpus:
        return []
    out: list[tuple[str, str]] = []
    for part in (p.strip() for p in corpus.split(",")):
        label, sep, source = part.partition("=")
        label, source = label.strip().lower(), source.strip()
        if not sep or not source or not label:
            raise TunesmithError(f"corpus part {part!r} is not LABEL=PATH_OR_NAME (give "
                                 "every part a label: jazz=DIR1,folk=DIR2)", corpus)
        if not _LABEL.match(label):
            raise TunesmithError(f"corpus label {label!r} must be a short name (letters, "
                                 "digits, space, _ . -)", corpus)
        if _same_source(source) in (_same_source(src) for _, src in out):
            raise TunesmithError(f"corpus part {source!r} is given twice (its pieces would "
                                 "be read twice)", corpus)
        out.append((label, source))  # a label given twice gathers both parts' pieces
    return out


def _same_source(source: str) -> str:
    """A part's source as one name however it is written (a folder by its absolute path,
    a built-in corpus by its name)."""
    from tunesmith.corpora.builtin import BUILTIN

    if source in BUILTIN:
        return source
    try:
        return str(Path(source).expanduser().resolve())
    except (RuntimeError, OSError):  # ~nosuchuser: said where the part is read
        return source


def load_labelled(corpus: str, filt: IngestFilter = IngestFilter(), progress=None
                  ) -> tuple[PieceCorpus, list[str]]:
    """The corpus's pieces (as :func:`~tunesmith.corpora.load_piece_corpus` loads them,
    labelled parts one after another) and each piece's label (see the module docstring);
    every row of the ingest report carries its label. A piece keeps the key its own
    corpus gives it, so it lands in the same split (:func:`~tunesmith.data.splits.
    split_items` hashes keys) as when that corpus is trained on alone: a model of
    ``bach=bach-chorales,...`` holds out the chorales that the events family's models
    hold out. (Not for a part so small that, alone, no piece of it hashes into validation:
    alone it gives its lowest-hash piece to validation, joined it need not.)"""
    from tunesmith.corpora import builtin
    from tunesmith.corpora.pieces import load_piece_corpus

    named = parts(corpus)
    if not named:
        c = load_piece_corpus(corpus, filt, progress=progress)
        root = Path(corpus).expanduser()
        if corpus in builtin.BUILTIN or root.is_file():
            whole = Path(corpus).stem.lower()
            c.rows = [replace(r, label=whole) for r in c.rows]
            return c, [whole] * len(c.pieces)
        c.rows = [replace(r, label=folder_tradition(root, r.path)) for r in c.rows]
        return c, [folder_tradition(root, root / key) for key in c.keys]
    joined = PieceCorpus(name=corpus)
    labels: list[str] = []
    for label, source in named:
        c = load_piece_corpus(source, filt, progress=progress)
        joined.pieces += c.pieces
        joined.keys += c.keys
        joined.rows += [replace(r, label=label) for r in c.rows]
        joined.ignored += c.ignored
        joined.left_out = "; ".join(x for x in (joined.left_out, c.left_out) if x)
        labels += [label] * len(c.pieces)
    return joined, labels


def is_labelled(corpus: str) -> bool:
    """Whether ``tunesmith corpora --styles`` counts ``corpus`` as a MIDI / score corpus
    labelled by sub-folder or part (else it is an ABC corpus, labelled by its fields):
    ``LABEL=`` parts, a built-in score corpus, a folder without ``.abc`` files or a file
    that is not ``.abc``."""
    from tunesmith.corpora import builtin

    if parts(corpus):
        return True
    if corpus in builtin.BUILTIN:
        return builtin.BUILTIN[corpus].kind != "abc"
    path = Path(corpus).expanduser()
    if path.is_dir():
        return not any(p.suffix.lower() == ".abc" for p in corpus_walk(path)[0])
    return path.suffix.lower() != ".abc"


def count_labels(corpus: str) -> Counter:
    """Music files per style label of a MIDI / score corpus, counted without reading
    them (``tunesmith corpora --styles``; training drops what it cannot use)."""
    from tunesmith.corpora import builtin
    from tunesmith.io.read import SUPPORTED_SUFFIXES

    def files(source: str) -> list[Path]:
        if source in builtin.BUILTIN:
            return [Path(source)] * builtin.count_tunes(source)
        path = Path(source).expanduser()
        if not path.exists():
            raise TunesmithError("no such file or folder", path)
        if path.is_file():
            return [path]
        return [p for p in corpus_walk(path)[0] if p.suffix.lower() in SUPPORTED_SUFFIXES]

    named = parts(corpus)
    if named:
        counts = Counter()
        for label, source in named:  # a label may name several parts
            counts[label] += len(files(source))
        return counts
    if corpus in builtin.BUILTIN or Path(corpus).expanduser().is_file():
        return Counter({Path(corpus).stem.lower(): len(files(corpus))})
    root = Path(corpus).expanduser()
    return Counter(folder_tradition(root, p) for p in files(corpus))
