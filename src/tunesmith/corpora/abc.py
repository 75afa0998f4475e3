"""ABC corpora for the text family: every tune of a corpus as the text a model learns.

Loading returns the usable tunes and a list of problems (``file#n (X:..): reason``), so
that one broken tune or file is reported and skipped instead of stopping a run; a tune
over the ABC limits (:func:`tunesmith.io.abc.check_abc_text`: its length, its longest
line, its ``M:`` / ``L:`` fields) or a file over ``file_bytes`` is one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tunesmith.abc_text import AbcTune, model_text
from tunesmith.corpora.builtin import BUILTIN, builtin_files, user_abc_files
from tunesmith.errors import TunesmithError
from tunesmith.io.abc import check_abc_text, read_tune_book


@dataclass
class AbcCorpus:
    """Tunes ready for a text model: ``texts[i]`` is the model text of ``tunes[i]``."""

    name: str
    tunes: list[AbcTune] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # reported and skipped
    left_out: list[str] = field(default_factory=list)  # folders tunesmith wrote, not read

    def __len__(self) -> int:
        return len(self.texts)


def corpus_files(name: str, left_out: list | None = None) -> list[Path]:
    """The files behind a corpus name or path, sorted (so loading order is deterministic);
    ``left_out`` hears of the sub-folders tunesmith wrote, not read."""
    if name in BUILTIN:
        return builtin_files(BUILTIN[name])
    return user_abc_files(name, left_out)


def load_abc_corpus(name: str, clean: bool = False) -> AbcCorpus:
    """Load every tune of a corpus as model text. Unusable tunes and files go to
    ``problems``; a corpus with no usable tune at all is a :class:`TunesmithError`.

    ``clean=True`` also skips every tune whose model text abc2midi reports an error for
    (1,003 of folk-abc's 12,949 tunes: unmatched ties, '[1' before '|:', bad chord
    symbols, ...)."""
    left_out: list = []
    files = corpus_files(name, left_out)
    corpus = AbcCorpus(name=name)
    corpus.left_out = [f"{folder}: left out, {what} tunesmith wrote"
                       for folder, what in left_out]
    single_file = len(files) == 1
    for f in files:
        try:
            tunes = read_tune_book(f)
        except TunesmithError as e:
            if single_file:
                raise
            corpus.problems.append(str(e))
            continue
        for tune in tunes:
            try:
                check_abc_text(tune.text)
                text = model_text(tune)
            except ValueError as e:  # OverLimit is a ValueError too
                corpus.problems.append(f"{tune.label}: {e}")
                continue
            corpus.tunes.append(tune)
            corpus.texts.append(text)
    if clean and corpus.texts:
        from tunesmith.io.abc2midi import abc2midi_errors

        bad = abc2midi_errors(corpus.texts)
        for i in sorted(bad):
            corpus.problems.append(f"{corpus.tunes[i].label}: abc2midi: {bad[i]}")
        keep = [i for i in range(len(corpus.texts)) if i not in bad]
        corpus.tunes = [corpus.tunes[i] for i in keep]
        corpus.texts = [corpus.texts[i] for i in keep]
    if not corpus.texts:
        where = files[0] if single_file else Path(name)
        raise TunesmithError(f"empty corpus: no usable tunes ({len(corpus.problems)} skipped)",
                             where)
    return corpus
