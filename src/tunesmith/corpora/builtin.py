"""The built-in corpora (files that ship inside pip packages) and the user's ABC files.

A corpus name is either a key of :data:`BUILTIN` or a path to a file or folder. This
module only finds files and counts items; reading them is :mod:`tunesmith.corpora.abc`
(ABC tune books as model text) and :mod:`tunesmith.corpora.pieces` (Pieces).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import TunesmithError

# MusicXML, as music21's corpus ships it (.mxl is zipped MusicXML).
SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml")


@dataclass(frozen=True)
class BuiltinCorpus:
    name: str
    kind: str  # "abc" (ABC tune books) or "score" (MusicXML scores, read as Pieces)
    description: str
    package: str  # the pip package whose files it reads
    folders: tuple[str, ...]  # folders inside that package's corpus directory
    exclude: tuple[str, ...] = ()  # file names inside those folders that are left out

    @property
    def suffixes(self) -> tuple[str, ...]:
        """File suffixes (lower case) that hold this corpus's items."""
        return (".abc",) if self.kind == "abc" else SCORE_SUFFIXES


BUILTIN: dict[str, BuiltinCorpus] = {
    "folk-abc": BuiltinCorpus(
        name="folk-abc",
        kind="abc",
        description="Folk tunes in ABC shipped with music21: Essen folk songs, Ryan's Mammoth "
        "Collection, O'Neill's 1850, Aird's Airs, Nottingham, misc. folk",
        package="music21",
        folders=("essenFolksong", "ryansMammoth", "oneills1850", "airdsAirs", "miscFolk",
                 "nottingham-dataset"),
    ),
    "bach-chorales": BuiltinCorpus(
        name="bach-chorales",
        kind="score",
        description="J.S. Bach's chorales in MusicXML shipped with music21: BWV 250-438 "
        "and the chorales of the cantatas, oratorios and passions (SATB, some with their "
        "instrument parts)",
        package="music21",
        folders=("bach",),
        # bwv846 is the C major prelude of the Well-Tempered Clavier, not a chorale; the
        # folder's .krn files duplicate .mxl chorales and its .rntxt files are analyses.
        exclude=("bwv846.mxl",),
    ),
    "classical": BuiltinCorpus(
        name="classical",
        kind="score",
        description="Classical and romantic MusicXML scores shipped with music21: string "
        "quartets, whole and single movements (Beethoven, Haydn, Mozart, R. Schumann), "
        "piano pieces (Joplin, C. Schumann, C.P.E. Bach, a Mozart sonata exposition), a "
        "piano trio movement (C. Schumann), songs with piano (Schubert, Schumann, Handel)",
        package="music21",
        folders=("beethoven", "mozart", "haydn", "schumann_clara", "schumann_robert",
                 "joplin", "handel", "cpebach", "schubert"),
        # dichterliebe_no2.xml is the same song as schumann_robert/opus48no2.mxl.
        # beethoven/opus18no4.mxl (the whole quartet): music21 spends ~7 minutes expanding
        # its repeats into 65 minutes of music (50,728 notes); the quartet lasts ~25.
        exclude=("dichterliebe_no2.xml", "opus18no4.mxl"),
    ),
}


def music21_corpus_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("music21")
    if spec is None or spec.origin is None:
        raise TunesmithError("the built-in corpora need music21 (pip install music21)")
    return Path(spec.origin).parent / "corpus"


def builtin_files(spec: BuiltinCorpus) -> list[Path]:
    """The files of a built-in corpus, sorted: every file with one of ``spec.suffixes``
    under its folders of music21's corpus directory, less ``spec.exclude``."""
    root = music21_corpus_dir()
    return sorted(p for folder in spec.folders for p in (root / folder).rglob("*")
                  if p.suffix.lower() in spec.suffixes and p.name not in spec.exclude
                  and p.is_file())


def user_abc_files(path: str | Path, left_out: list | None = None) -> list[Path]:
    """The ABC files of a user's file or folder (searched recursively for ``.abc``, less
    the sub-folders tunesmith wrote: :func:`~tunesmith.io.paths.corpus_walk`, which
    ``left_out`` hears of), sorted. A missing path, or a folder without any, is a
    :class:`TunesmithError`."""
    from tunesmith.io.paths import corpus_walk, said_left_out

    path = Path(path).expanduser()
    if not path.exists():
        known = ", ".join(BUILTIN)
        raise TunesmithError(f"no such file or folder (built-in corpora: {known})", path)
    if path.is_file():
        return [path]
    everything, own = corpus_walk(path)
    if left_out is not None:
        left_out += own
    files = [p for p in everything if p.suffix.lower() == ".abc"]
    if not files:
        from tunesmith.io.read import MIDI_SUFFIXES, SCORE_SUFFIXES

        music = sum(1 for p in everything if p.suffix.lower() in MIDI_SUFFIXES + SCORE_SUFFIXES)
        hint = (f" (it holds {music} MIDI or MusicXML files: the ABC families read ABC; give "
                "--family events, remi, pianoroll, continue-events, continue-remi or gan)"
                ) if music else ""
        said = said_left_out(own, path)
        raise TunesmithError(f"empty corpus: no .abc files in this folder{hint}"
                             + (f" ({said})" if said else ""), path)
    return files


def count_tunes(name: str) -> int:
    """Tunes in a corpus, counted by ``X:`` lines (fast: no parsing); for a built-in
    score corpus, its number of score files (one piece each)."""
    if name in BUILTIN and BUILTIN[name].kind == "score":
        return len(builtin_files(BUILTIN[name]))
    n = 0
    files = builtin_files(BUILTIN[name]) if name in BUILTIN else user_abc_files(name)
    for f in files:
        with open(f, encoding="utf-8", errors="replace") as fh:
            n += sum(1 for line in fh if line.startswith("X:"))
    return n
