"""MIDI / MusicXML corpora whose pieces carry a style label (the ``continue-events``
family conditions on it).

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
from pathlib import Path

from tunesmith.corpora.filter import IngestFilter
from tunesmith.corpora.report import PieceCorpus
from tunesmith.corpora.styles import UNKNOWN
from tunesmith.errors import TunesmithError

_LABEL = re.compile(r"^[a-z0-9][a-z0-9 _.-]{0,39}$")


def parts(corpus: str) -> list[tuple[str, str]]:
    """``label=source`` parts of a corpus spec, in order: ``[(label, source), ...]``;
    ``[]`` for a plain corpus (a name, folder or file without ``=``). A part without a
    label, a label used twice or one that is not a short name is a one-line error."""
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
        if label in (lbl for lbl, _ in out):
            raise TunesmithError(f"corpus label {label!r} is given twice", corpus)
        out.append((label, source))
    return out


def load_labelled(corpus: str, filt: IngestFilter = IngestFilter(), progress=None
                  ) -> tuple[PieceCorpus, list[str]]:
    """The corpus's pieces (as :func:`~tunesmith.corpora.load_piece_corpus` loads them,
    labelled parts one after another) and each piece's label (see the module docstring).
    A piece keeps the key its own corpus gives it, so it lands in the same split
    (:func:`~tunesmith.data.splits.split_items` hashes keys) as when that corpus is
    trained on alone: a model of ``bach=bach-chorales,...`` holds out the chorales that
    the events family's models hold out."""
    from tunesmith.corpora import builtin
    from tunesmith.corpora.pieces import load_piece_corpus

    named = parts(corpus)
    if not named:
        c = load_piece_corpus(corpus, filt, progress=progress)
        if corpus in builtin.BUILTIN or Path(corpus).expanduser().is_file():
            return c, [Path(corpus).stem.lower()] * len(c.pieces)
        return c, [key.split("/")[0].strip().lower() if "/" in key else UNKNOWN
                   for key in c.keys]
    joined = PieceCorpus(name=corpus)
    labels: list[str] = []
    for label, source in named:
        c = load_piece_corpus(source, filt, progress=progress)
        joined.pieces += c.pieces
        joined.keys += c.keys
        joined.rows += c.rows
        joined.ignored += c.ignored
        labels += [label] * len(c.pieces)
    return joined, labels
