"""Style labels of ABC tunes: the **tradition** a tune comes from and its **tune type**.

Two small label sets, made from what the files already say (no music is parsed: tunes are
cut from their text, :func:`tunesmith.io.abc.read_tune_book`, so counting folk-abc's
~13,000 tunes takes a second or two):

- **tradition**: for the built-in ``folk-abc``, from the collection (folder) and, inside
  the Essen collection, the file a tune comes from (:func:`builtin_tradition`); for a
  user's folder, from the sub-folder under the given root (``DIR/irish/x.abc`` ->
  ``irish``; files directly in ``DIR`` -> ``unknown``; :func:`folder_tradition`, which
  MIDI and MusicXML folders can use as well).
- **tune type**: from the ``R:`` (rhythm) field, lower-cased and normalised by its first
  keyword (:func:`tune_type_from_rhythm`: ``slipjig`` -> ``slip jig``, ``liebes - lied``
  -> ``love song``, ``xiaodiao]`` -> ``xiaodiao``, ``???`` -> nothing); where that gives
  nothing, a dance type named in a title (``Acacia Reel`` -> ``reel``,
  :func:`tune_type_from_title`); then, for O'Neill's *Music of Ireland*, the section of
  the book the tune's number falls in (:data:`ONEILLS_SECTIONS`); else ``unknown``.

:func:`style_of` gives one tune's fine labels; :func:`corpus_styles` gives every tune of a
corpus its labels with the rare ones (fewer than :data:`MIN_LABEL_TUNES` tunes in that
corpus) folded into ``other``; :func:`style_counts` counts them. Standard library only.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tunesmith.abc_text import AbcTune

if TYPE_CHECKING:
    from collections.abc import Collection

UNKNOWN = "unknown"  # the file says nothing usable (no R:, '???', 'yyy', a top-level file)
OTHER = "other"  # said, but too rare to be a label of its own (or a mixed/test collection)
# A label given to fewer tunes than this in a corpus becomes OTHER (per corpus: a user's
# small folder keeps its labels only if each has this many tunes; pass min_tunes=1 to keep
# them all).
MIN_LABEL_TUNES = 100


@dataclass(frozen=True)
class StyleLabels:
    tradition: str
    tune_type: str


# --- tradition ------------------------------------------------------------------------------

# folk-abc's collections (folders of music21's corpus) that are one tradition each.
#  - oneills1850: Francis O'Neill, "The Music of Ireland" (Chicago 1903; 1850 tunes).
#  - airdsAirs: James Aird, "A Selection of Scotch, English, Irish and Foreign Airs"
#    (Glasgow, 1778-1803): printed in Scotland, Scotch airs first in its title; labelled
#    scottish (not checked tune by tune).
#  - ryansMammoth: "Ryan's Mammoth Collection" (Boston, 1883), 1,059 tunes. Measured
#    (music21 10.5 corpus): of the titles that name a place or people, 86 are Irish
#    (Paddy, Dublin, O'..., Mc...), 41 Scottish (Highland, Bonnie, Edinboro, ...) and 55
#    American (Boston, California, Arkansas, ...; the rest name none); its R: fields hold
#    49 strathspeys and 16 (highland) flings, Scottish dance types, and 37 clogs and 3
#    walkarounds, American stage dances. "irish" would mislabel more than half of what the
#    titles place, so the collection is labelled for where it was printed and played:
#    american (19th-century American dance-band repertoire of Irish, Scottish and
#    American tunes).
#  - miscFolk/northumbrianminstrelsyopus.abc: Bruce & Stokoe, "Northumbrian Minstrelsy"
#    (1882), song and pipe tunes of Northumberland: english.
#  - miscFolk/americanfifeopus.abc: colonial and Civil War American fife music: american.
#  - nottingham-dataset: 2 tunes here (one "S:Scottish", one "Little Czech Number"): other.
_COLLECTIONS = {
    "oneills1850": "irish",
    "airdsAirs": "scottish",
    "ryansMammoth": "american",
    "northumbrianminstrelsyopus": "english",
    "americanfifeopus": "american",
    "nottingham-dataset": OTHER,
}

# The Essen Folksong Collection (essenFolksong/), by file-name prefix (the files' O:
# fields, counted per prefix, are the evidence):
#  - han*: Chinese folk songs (O: China, 1,211 of 1,224).
#  - erk, boehme, altdeu, fink, kinder, dva, ballad: German songs (O: Deutschland for
#    most; ballad* also holds German-language ballads from German-speaking villages in
#    eastern and south-eastern Europe, dva* 68 songs from German-speaking Lorraine).
#  - zuccal*: Kretzschmer & Zuccalmaglio, "Deutsche Volkslieder mit ihren Original-Weisen"
#    (1838-40): German, not Italian (O: Deutschland 608 of 701, Austria/Switzerland/Tyrol
#    the rest; German titles).
#  - lux: Luxembourg (O: Luxemburg, all 614; "Singendes Volk", Kintzele "An der Ucht"),
#    German and Luxembourgish texts: luxembourgish.
#  - lot: Lorraine (O: Lothringen, all 504; Louis Pinck, "Verklingende Weisen", Metz
#    1928-62), German-language songs of Lorraine: lorraine. Both are German-speaking
#    regional traditions with more tunes than MIN_LABEL_TUNES, so they keep labels of
#    their own; merge them into german where a coarser label is wanted.
#  - irl: 62 Irish songs (O: Irland; Sean O Boyle, "25 Irish Folksongs"): irish.
#  - test*, variant*, folkHaydn: the collection's test files (mixed origins: Germany,
#    America, China, the Near East), Swiss variants, and Haydn's settings of (mostly
#    Scottish) songs: other, not excluded, so that every tune of the corpus has a label.
_ESSEN_PREFIXES = (
    ("han", "chinese"), ("erk", "german"), ("boehme", "german"), ("altdeu", "german"),
    ("ballad", "german"), ("kinder", "german"), ("dva", "german"), ("fink", "german"),
    ("zuccal", "german"), ("lux", "luxembourgish"), ("lot", "lorraine"), ("irl", "irish"),
)


def builtin_tradition(path: str | Path) -> str:
    """The tradition of a file of music21's folk corpus, from its folder and name
    (``.../essenFolksong/han1.abc`` -> ``chinese``); ``unknown`` for any other file."""
    path = Path(path)
    if path.parent.name == "essenFolksong":
        stem = path.stem.lower()
        return next((label for prefix, label in _ESSEN_PREFIXES if stem.startswith(prefix)),
                    OTHER)
    return _COLLECTIONS.get(path.stem, _COLLECTIONS.get(path.parent.name, UNKNOWN))


def folder_tradition(root: str | Path, path: str | Path) -> str:
    """The tradition of a file of a user's corpus: the name of the sub-folder of ``root``
    it lies in, lower-cased (``root/Irish/a/x.abc`` -> ``irish``); ``unknown`` for a file
    directly in ``root``, for ``root`` itself, or for a file outside it. Works for any
    kind of file (ABC, MIDI, MusicXML)."""
    try:
        parts = Path(path).relative_to(Path(root)).parts
    except ValueError:
        return UNKNOWN
    name = parts[0].strip().lower() if len(parts) > 1 else ""
    return name or UNKNOWN


# --- tune type -------------------------------------------------------------------------------

# The first keyword of R:, reduced to its letters (umlauts spelt out: "Geistliches,
# religiöses Lied]" -> "geistliches"), is looked up by prefix in this table, first match
# wins. English dance types: "double jig" and "single jig" are jigs (6/8); "slip jig"
# (9/8) and "slide" (12/8) keep labels of their own because their meters differ. Essen's
# German genres (first keyword decides: "Romanze, Ballade, Lied" -> ballad) fold into a few
# English names; Chinese genres keep their names (xiaodiao "little tune", shange "mountain
# song") or are translated (haozi -> work song, wuge -> dance song, erge -> children's
# song, qingge -> love song). Counts in folk-abc: see the module's test and the CLI.
_TYPE_PREFIXES: tuple[tuple[str, str], ...] = (
    # dances and instrumental types (O'Neill's, Ryan's, Aird's)
    ("slipjig", "slip jig"), ("hopjig", "slip jig"), ("doublejig", "jig"),
    ("singlejig", "jig"), ("jig", "jig"), ("reel", "reel"), ("hornpipe", "hornpipe"),
    ("strathspey", "strathspey"), ("highlandfling", "highland fling"),
    ("fling", "highland fling"), ("clog", "clog"), ("lancashireclog", "clog"),
    ("polka", "polka"), ("waltz", "waltz"), ("walzer", "waltz"), ("march", "march"),
    ("slide", "slide"),
    ("walkaround", "walkaround"), ("air", "air"), ("slowair", "air"),
    ("mazurka", "mazurka"), ("schottis", "schottische"), ("barndance", "barn dance"),
    ("setdance", "set dance"), ("song", "song"),
    # Essen, German genres: Ständelieder (songs of estates and trades: soldiers, hunters,
    # craftsmen, students) are "occupational", except the soldiers' ones listed first
    ("liebe", "love song"), ("brautwerbung", "love song"), ("kilt", "love song"),
    ("untreue", "love song"), ("tageszeit", "lyric song"), ("tagelied", "love song"),
    ("tage", "love song"),  # Tagelied: lovers parting at dawn
    ("ballade", "ballad"), ("romanze", "ballad"), ("erzaehl", "ballad"),
    ("sage", "ballad"), ("moritat", "ballad"),
    ("kinder", "children's song"), ("wiegen", "children's song"),
    ("geistlich", "religious song"), ("religi", "religious song"),
    ("erbauung", "religious song"), ("trost", "religious song"),
    ("legende", "religious song"), ("marien", "religious song"),
    ("weihnacht", "religious song"), ("barbara", "religious song"),
    ("tanz", "dance song"), ("reigen", "dance song"),
    ("trink", "drinking song"), ("zech", "drinking song"),
    ("geselligkeit", "drinking song"), ("studenten", "drinking song"),
    ("soldat", "soldier song"), ("krieg", "soldier song"), ("helden", "soldier song"),
    ("histor", "historical song"), ("vaterland", "historical song"),
    ("politisch", "historical song"), ("national", "historical song"),
    ("staende", "occupational song"), ("beruf", "occupational song"),
    ("handwerk", "occupational song"), ("jaeger", "occupational song"),
    ("jagd", "occupational song"), ("hirten", "occupational song"),
    ("schiffer", "occupational song"), ("fuhrmann", "occupational song"),
    ("scherz", "humorous song"), ("spott", "humorous song"), ("luegen", "humorous song"),
    ("hochzeit", "custom song"), ("ehestand", "custom song"), ("brautlied", "custom song"),
    ("ansinge", "custom song"), ("brauch", "custom song"), ("jahreszeit", "custom song"),
    ("lyrisch", "lyric song"), ("natur", "lyric song"), ("stimmung", "lyric song"),
    ("heimat", "lyric song"), ("wander", "lyric song"), ("abschied", "lyric song"),
    ("klage", "lyric song"), ("trauer", "lyric song"),
    # Erk's "Jugendlied" (songs of young people's life: courting, games) and a bare
    # "Lied" name no genre
    ("jugend", OTHER), ("lied", OTHER),
    # Essen, Chinese genres (han*)
    ("xiaodiao", "xiaodiao"), ("shange", "shange"), ("haozi", "work song"),
    ("arbeit", "work song"), ("wuge", "dance song"), ("erge", "children's song"),
    ("qingge", "love song"),
)

# Essen's placeholders for "not known" (after reduction to letters).
_NOTHING = {"", "yyy", "unknown", "unbekannt"}

_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss",
                          # some Essen files hold DOS (cp437) umlauts as these code points
                          "\x84": "ae", "\x94": "oe", "\x81": "ue", "\xe1": "ss"})


def _letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower().translate(_UMLAUTS))


def tune_type_from_rhythm(rhythm: str) -> str | None:
    """The tune type an ``R:`` field names, by its first keyword (the first stretch with
    letters between ``,`` ``;`` ``.`` ``]`` ``?`` ``(`` ``)`` ``/`` ``:``), or None when it
    names nothing (empty, ``???``, ``yyy``). A keyword the table does not know comes back
    as its letters (``Polska`` -> ``polska``), so a user's own types are kept."""
    for chunk in re.split(r"[,;.\]?()/:]", rhythm):
        key = _letters(chunk)
        if key:
            break
    else:
        return None
    if key in _NOTHING:
        return None
    return next((label for prefix, label in _TYPE_PREFIXES if key.startswith(prefix)), key)


# Dance types a title may end in ("Acacia Reel", "Andrew Carey's Slipjig", "Avalanche
# Lancashire Clog"); the last one named wins ("Butcher's March Jig" is a jig).
_TITLE_TYPES = re.compile(
    r"(slip ?jig|double jig|jig|reel|hornpipe|strathspey|(?:highland )?fling|clog|polka|"
    r"waltz|march|walk ?around)(?:s|es)?\b", re.IGNORECASE)


def tune_type_from_title(*titles: str) -> str | None:
    """The dance type a title names, or None: word-initial ``Reel``, ``Hornpipe``, ``Jig``,
    ``Slip Jig``, ``Strathspey``, ``Fling``, ``Clog``, ``Polka``, ``Waltz``, ``March``,
    ``Walkaround`` (CamelCase file names too: ``BlueVelvetClog``), the last one named.

    A title is weaker evidence than ``R:``, so it is only a fallback: in Ryan's Mammoth 26
    tunes titled "... -- Jig" are reels in 2/4 or C| by their R: (an American stage "jig"),
    and 10 are slip jigs in 9/8."""
    found = None
    for title in titles:
        spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", title)
        for m in _TITLE_TYPES.finditer(spaced):
            start = m.start()
            if start == 0 or not spaced[start - 1].isalpha():
                found = m.group(1)
    return tune_type_from_rhythm(found) if found else None


# O'Neill's "Music of Ireland" (1903) is ordered by type; where a tune has neither R: nor
# a type in its title, the section of the book it is in says it. The sections are measured
# from the tunes that have R: (files oneills1850/NNNN-MMMM.abc, by first number): 721-1115
# are all jigs or double jigs (one slide), 1116-1175 slip jigs, 1176-1555 reels,
# 1556-1780 hornpipes, and the untagged files inside them agree in meter (0811-0899,
# 0951-0981, 1001-1031 all 6/8; 1376-1475 C|; 1625-1700 C| and 2/4); 1801-1850 are the
# marches. 1-700 (airs, songs and O'Carolan's pieces, with some jigs and waltzes among
# them) and 1781-1800 (set dances) get no section.
ONEILLS_SECTIONS: tuple[tuple[int, int, str], ...] = (
    (701, 1115, "jig"), (1116, 1175, "slip jig"), (1176, 1555, "reel"),
    (1556, 1780, "hornpipe"), (1801, 1850, "march"),
)


def _oneills_section(path: Path) -> str | None:
    m = re.match(r"(\d+)-", path.name)
    if path.parent.name != "oneills1850" or not m:
        return None
    number = int(m.group(1))
    return next((t for lo, hi, t in ONEILLS_SECTIONS if lo <= number <= hi), None)


def _titles(tune: AbcTune) -> list[str]:
    """Every ``T:`` line of the tune's header (a tune may have several names)."""
    titles = []
    for line in tune.text.splitlines():
        if line.startswith("K:"):
            break
        if line.startswith("T:"):
            titles.append(line[2:].strip())
    return titles or [tune.title]


def tune_type_of(tune: AbcTune, path: str | Path | None = None) -> str:
    """A tune's type: from ``R:``, else from its titles, else (O'Neill's) from its section
    of the book, else ``unknown``."""
    path = Path(path if path is not None else tune.source)
    return (tune_type_from_rhythm(tune.fields.get("R", ""))
            or tune_type_from_title(*_titles(tune))
            or _oneills_section(path)
            or UNKNOWN)


# --- both -----------------------------------------------------------------------------------

def style_of(tune: AbcTune, path: str | Path | None = None,
             root: str | Path | None = None) -> StyleLabels:
    """A tune's labels, before rare ones are folded. ``path`` is its file (default: the
    tune's source); with ``root`` (a user's corpus folder) the tradition is the sub-folder
    under it, without, the built-in folk corpus's rule (:func:`builtin_tradition`)."""
    path = Path(path if path is not None else tune.source)
    tradition = folder_tradition(root, path) if root is not None else builtin_tradition(path)
    return StyleLabels(tradition=tradition, tune_type=tune_type_of(tune, path))


def fold_rare(labels: list[StyleLabels],
              min_tunes: int = MIN_LABEL_TUNES) -> list[StyleLabels]:
    """The same labels with each one given to fewer than ``min_tunes`` of them replaced by
    ``other`` (``unknown`` stays ``unknown``)."""
    keep = {}
    for name in ("tradition", "tune_type"):
        counts = Counter(getattr(s, name) for s in labels)
        keep[name] = {k for k, n in counts.items() if n >= min_tunes or k == UNKNOWN}
    return [replace(s,
                    tradition=s.tradition if s.tradition in keep["tradition"] else OTHER,
                    tune_type=s.tune_type if s.tune_type in keep["tune_type"] else OTHER)
            for s in labels]


def corpus_styles(name: str, min_tunes: int = MIN_LABEL_TUNES
                  ) -> list[tuple[AbcTune, StyleLabels]]:
    """Every tune of an ABC corpus (a built-in name or a user's file or folder) with its
    labels, rare ones folded (:func:`fold_rare`). Tunes are cut from the text, not parsed
    or checked: the list holds the tunes :func:`tunesmith.corpora.load_abc_corpus` would
    skip too, so match by ``(tune.source, tune.index)``. A file that cannot be read is
    left out."""
    from tunesmith.corpora.builtin import BUILTIN, builtin_files, user_abc_files
    from tunesmith.errors import TunesmithError
    from tunesmith.io.abc import read_tune_book

    if name in BUILTIN:
        spec = BUILTIN[name]
        if spec.kind != "abc":
            raise TunesmithError(f"style labels are made from ABC fields; {name} holds "
                                 "MusicXML scores, not ABC tunes")
        files, root = builtin_files(spec), None
    else:
        files = user_abc_files(name)
        root = Path(name).expanduser()
        if not root.is_dir():  # a single tune book: no sub-folder names its tradition
            root = root.parent
    tunes: list[AbcTune] = []
    labels: list[StyleLabels] = []
    for f in files:
        try:
            book = read_tune_book(f)
        except TunesmithError:
            continue
        for tune in book:
            tunes.append(tune)
            labels.append(style_of(tune, f, root))
    return list(zip(tunes, fold_rare(labels, min_tunes), strict=True))


def style_counts(name: str, min_tunes: int = MIN_LABEL_TUNES,
                 kept: Collection[tuple[str, int]] | None = None) -> dict[str, Counter]:
    """Tunes per label of a corpus: ``{"tradition": Counter, "tune_type": Counter}``; with
    ``kept``, of those tunes only (``(str(tune.source), tune.index)``, as training keeps
    them: rare labels are still folded over the whole corpus, as training folds them)."""
    labels = [s for t, s in corpus_styles(name, min_tunes)
              if kept is None or (str(t.source), t.index) in kept]
    return {"tradition": Counter(s.tradition for s in labels),
            "tune_type": Counter(s.tune_type for s in labels)}


def ordered(counts: Counter) -> list[tuple[str, int]]:
    """Labels by count, most first, with ``other`` and ``unknown`` last."""
    tail = (OTHER, UNKNOWN)
    head = sorted(((k, n) for k, n in counts.items() if k not in tail),
                  key=lambda kn: (-kn[1], kn[0]))
    return head + [(k, counts[k]) for k in tail if counts.get(k)]


def format_counts(counts: dict[str, Counter]) -> str:
    """The two tables ``tunesmith corpora --styles`` prints."""
    lines: list[str] = []
    for title, key in (("tradition", "tradition"), ("tune type", "tune_type")):
        rows = ordered(counts[key])
        width = max([len(title)] + [len(k) for k, _ in rows])
        total = sum(n for _, n in rows)
        if lines:
            lines.append("")
        lines.append(f"{title:<{width}}  {'tunes':>6}")
        lines.extend(f"{k:<{width}}  {n:>6}" for k, n in rows)
        lines.append(f"{'(all)':<{width}}  {total:>6}")
    return "\n".join(lines)
