"""Read one music file into a Piece, whatever its format: MIDI, MusicXML or ABC.

The format is what the file holds, then what its name says: :func:`sniff` looks at the
first bytes (``MThd``, or a RIFF ``RMID`` wrapper: MIDI; a zip: compressed MusicXML;
``<?xml``, ``<score-partwise``, ``<score-timewise``: MusicXML; text with a line starting
``X:`` or ``K:``: ABC), and only when they say nothing the suffix decides
(:data:`SUPPORTED_SUFFIXES`). Content wins: a MIDI file named ``.abc`` is read as MIDI. A
file whose suffix promises a format its content is not (text named ``.mid``), or that is
no format at all, is a one-line :class:`TunesmithError` naming the file.

Every reader here checks the piece it read (:func:`piece_problem`): a tempo outside
[:data:`MIN_QPM`, :data:`MAX_QPM`] is corrupt data, not music, and a piece over the
:class:`~tunesmith.io.limits.Limits` (notes, length in beats and seconds, one note's
length, tempo and meter changes) is refused; the file's size is checked before it is read.
MusicXML and ABC, which music21 parses, are read in a child process with a time budget
(:mod:`tunesmith.io.deadline`: ``parse_seconds``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Literal

from tunesmith.errors import TunesmithError
from tunesmith.io import deadline
from tunesmith.io.abc import MUSIC21  # imported before a child is forked (it inherits it)
from tunesmith.io.limits import OverLimit, check_file_size, limits
from tunesmith.io.paths import input_file
from tunesmith.music import Piece

MIDI_SUFFIXES = (".mid", ".midi")
SCORE_SUFFIXES = (".xml", ".mxl", ".musicxml")
ABC_SUFFIXES = (".abc",)
SUPPORTED_SUFFIXES = MIDI_SUFFIXES + SCORE_SUFFIXES + ABC_SUFFIXES
MIN_QPM, MAX_QPM = 5.0, 1000.0  # tempos outside this range are corrupt data, not music
SNIFF_BYTES = 8192  # how much of a file :func:`sniff` looks at

AbcPlayer = Literal["music21", "abc2midi"]
_NAMES = {"midi": "MIDI", "musicxml": "MusicXML", "abc": "ABC"}


class TuneOutOfRange(TunesmithError):
    """``read_piece(path, tune=n)`` for an ABC book with fewer than ``n`` tunes."""

    def __init__(self, tune: int, count: int, path: str | Path):
        self.tune, self.count = tune, count
        super().__init__(f"tune {tune} out of range (the file has {count} tunes)", path)


def sniff(head: bytes) -> str | None:
    """What the first bytes of a file say it is: ``"midi"`` (``MThd``), ``"rmid"`` (MIDI
    in a RIFF ``RMID`` wrapper), ``"mxl"`` (a zip: compressed MusicXML), ``"musicxml"``,
    ``"abc"`` (text with a line starting ``X:`` or ``K:``), or None (none of these)."""
    if head.startswith(b"MThd"):
        return "midi"
    if head.startswith(b"RIFF") and head[8:12] == b"RMID":
        return "rmid"
    if head.startswith(b"PK\x03\x04"):
        return "mxl"
    text = _text(head)
    if text is None:
        return None
    start = text.lstrip()
    if start.startswith(("<?xml", "<score-partwise", "<score-timewise")) or (
            start.startswith("<!") and ("<score-partwise" in start
                                        or "<score-timewise" in start)):
        return "musicxml"
    if any(line.startswith(("X:", "K:")) for line in text.splitlines()):
        return "abc"
    return None


def _text(head: bytes) -> str | None:
    """The bytes as text (UTF-8, BOM dropped; UTF-16 with a BOM), None for binary data."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head[: len(head) - len(head) % 2].decode("utf-16", errors="replace")
    if b"\x00" in head:
        return None
    return head.decode("utf-8", errors="replace").removeprefix("\ufeff")


def _what(head: bytes) -> str:
    """How a message names content none of the readers take."""
    if not head:
        return "empty file"
    return "the file holds text" if _text(head) is not None else "the file holds binary data"


def _head(path: Path) -> bytes:
    input_file(path)
    check_file_size(path)
    try:
        with open(path, "rb") as fh:
            return fh.read(SNIFF_BYTES)
    except OSError as e:
        raise TunesmithError(f"cannot read ({e.strerror})", path) from None


def _suffix_format(suffix: str) -> str | None:
    for fmt, suffixes in (("midi", MIDI_SUFFIXES), ("musicxml", SCORE_SUFFIXES),
                          ("abc", ABC_SUFFIXES)):
        if suffix in suffixes:
            return fmt
    return None


def _format(path: Path) -> tuple[str, str | None]:
    """(format, what sniff said) for :func:`read_piece`; raises for no format at all, or
    content that contradicts the suffix."""
    head = _head(path)
    found = sniff(head)
    if found is not None:
        return {"rmid": "midi", "mxl": "musicxml"}.get(found, found), found
    suffix = path.suffix.lower()
    fmt = _suffix_format(suffix)
    if fmt is None:
        raise TunesmithError(f"unsupported file type {suffix or '(no suffix)'!r} "
                             f"(expected one of {' '.join(SUPPORTED_SUFFIXES)})", path)
    if fmt == "midi":
        detail = _what(head)
        raise TunesmithError("not a readable MIDI file ("
                             + (detail if not head else f"no MThd header: {detail}") + ")",
                             path)
    if fmt == "musicxml" and not (_text(head) or "").lstrip().startswith("<"):
        raise TunesmithError(f"not a readable MusicXML file ({_what(head)})", path)
    return fmt, None  # ABC: read_tune_book says what is wrong (binary data, no tunes)


def file_format(path: str | Path) -> str:
    """``"midi"``, ``"musicxml"`` or ``"abc"``: how :func:`read_piece` reads ``path``
    (its content, else its suffix). Raises a one-line :class:`TunesmithError` naming the
    file when it is missing, unreadable, no format at all or not what its suffix says."""
    return _format(Path(path))[0]


def read_piece(path: str | Path, tune: int = 1, abc_player: AbcPlayer = "music21") -> Piece:
    """Read one file: MIDI (symusic), MusicXML (music21; compressed ``.mxl`` too) or ABC,
    as its content says (else its suffix; see the module doc).

    ``tune``: which tune of an ABC book (1-based; :class:`TuneOutOfRange` past the last).
    ``abc_player``: ``"music21"`` parses ABC with music21; ``"abc2midi"`` plays it as
    abc2midi does (repeats, endings, chord symbols) when abc2midi is installed and accepts
    the tune, else as music21 reads it (:func:`tunesmith.io.abc2midi.tune_piece`).

    Raises a one-line :class:`TunesmithError` naming the file for every problem: missing,
    unsupported, unreadable, not what its suffix says, over a limit
    (:class:`~tunesmith.io.limits.OverLimit`), corrupt timing (:func:`piece_problem`), or
    longer than ``parse_seconds`` to read (MusicXML and ABC)."""
    path = Path(path)
    fmt, found = _format(path)
    if fmt == "midi":
        piece = _read_rmid(path) if found == "rmid" else _read_midi(path)
    elif fmt == "musicxml":
        piece = _read_musicxml(path, found)
    else:
        from tunesmith.io.abc import read_tune_book

        tunes = read_tune_book(path)
        if not 1 <= tune <= len(tunes):
            raise TuneOutOfRange(tune, len(tunes), path)
        return read_abc_tune(tunes[tune - 1].text, path, abc_player)
    problem = piece_problem(piece)
    if problem:
        raise TunesmithError(problem, path)
    return piece


def read_abc_tune(text: str, where: str | Path, abc_player: AbcPlayer = "music21") -> Piece:
    """One ABC tune's text as a Piece (``abc_player`` as for :func:`read_piece`); a tune
    over a limit (:func:`tunesmith.io.abc.check_abc_text`, before any parser), that does
    not parse, that takes longer than ``parse_seconds`` (parsed in a child process:
    :mod:`tunesmith.io.deadline`), or whose timing is corrupt, is a one-line
    :class:`TunesmithError` naming ``where``."""
    from tunesmith.io.abc import check_abc_text

    if abc_player == "music21":
        why = "not a readable ABC tune"
    elif abc_player == "abc2midi":
        why = "invalid ABC"
    else:
        raise ValueError(f"abc_player must be 'music21' or 'abc2midi', not {abc_player!r}")
    try:
        check_abc_text(text)  # here, before a child is forked for a tune refused anyway
        piece = Piece.from_dict(deadline.call(_abc_dict, text, abc_player, where=where,
                                              imports=MUSIC21))
    except OverLimit as e:
        raise OverLimit(e.reason, e.name, where) from None
    except TunesmithError:
        raise
    except ValueError as e:
        raise TunesmithError(f"{why} ({e})", where) from None
    problem = piece_problem(piece)
    if problem:
        raise TunesmithError(problem, where)
    return piece


def piece_problem(piece: Piece) -> str:
    """"" if the piece is sane and within the limits, else why not (one line): more notes
    than the ``notes`` limit, a note longer than ``note_beats``, a piece longer than
    ``beats``, more tempo and meter changes than ``changes``, a tempo outside
    [MIN_QPM, MAX_QPM] (or not finite) that applies to some note, or a piece longer than
    ``seconds`` through its tempo map. Every reader applies it (render and prepare alike);
    the corpus filter too."""
    lim = limits()
    count = sum(len(t.notes) for t in piece.tracks)
    problem = lim.problem("notes", count, "notes")
    if problem:
        return problem
    end, longest = 0.0, 0.0
    for t in piece.tracks:
        for n in t.notes:
            end = max(end, n.end)
            longest = max(longest, n.end - n.start)
    problem = (lim.problem("note_beats", longest, "a note's length in beats")
               or lim.problem("beats", end, "length in beats")
               or lim.problem("changes", len(piece.tempos) + len(piece.time_signatures),
                              "tempo and meter changes"))
    if problem:
        return problem
    for t in piece.tempos:
        if (t.beat < end or t.beat == 0) and not (MIN_QPM <= t.qpm <= MAX_QPM):
            return f"absurd tempo ({t.qpm:.4g} qpm)"
    return lim.problem("seconds", piece.seconds(end), "length in seconds")


# --- the readers, by format ---------------------------------------------------------------

def _musicxml_dict(path: Path) -> dict:
    """For :func:`read_piece`'s child process: the MusicXML file's piece as a dict."""
    from tunesmith.io.musicxml import read_musicxml

    return read_musicxml(path).to_dict()


def _abc_dict(text: str, abc_player: AbcPlayer) -> dict:
    """For :func:`read_abc_tune`'s child process: the tune's piece as a dict."""
    if abc_player == "abc2midi":
        from tunesmith.io.abc2midi import tune_piece as parse
    else:
        from tunesmith.io.abc import tune_to_piece as parse
    return parse(text).to_dict()


def _read_midi(path: Path) -> Piece:
    from tunesmith.io.midi import read_midi

    return read_midi(path)


def _read_rmid(path: Path) -> Piece:
    """A Standard MIDI File inside a RIFF ``RMID`` wrapper (its ``data`` chunk)."""
    from tunesmith.io.midi import MidiFormatError, read_midi_bytes

    try:
        data = path.read_bytes()
    except OSError as e:
        raise TunesmithError(f"cannot read ({e.strerror})", path) from None
    pos, smf = 12, None
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if data[pos : pos + 4] == b"data":
            smf = data[pos + 8 : pos + 8 + size]
            break
        pos += 8 + size + (size & 1)  # RIFF chunks are padded to an even length
    try:
        if smf is None:
            raise MidiFormatError("RIFF RMID file without a 'data' chunk")
        piece = read_midi_bytes(smf)
    except MidiFormatError as e:
        raise TunesmithError(f"not a readable MIDI file ({e})", path) from None
    except OverLimit as e:
        raise OverLimit(e.reason, e.name, path) from None
    piece.title = path.stem
    return piece


def _read_musicxml(path: Path, found: str | None) -> Piece:
    """Parse in a child process within ``parse_seconds`` (:mod:`tunesmith.io.deadline`).
    music21 picks its reader by suffix: a MusicXML file named otherwise is read from a
    copy with the right suffix (the same stem, so the title is the same), made here so
    that a child killed over time leaves no copy behind."""
    fits = (".mxl",) if found == "mxl" else SCORE_SUFFIXES  # music21 unzips only .mxl
    if found is None or path.suffix.lower() in fits:
        return Piece.from_dict(deadline.call(_musicxml_dict, path, where=path,
                                             imports=MUSIC21))
    with tempfile.TemporaryDirectory(prefix="tunesmith-") as tmp:
        copy = Path(tmp) / f"{path.stem or 'score'}{fits[0] if found == 'mxl' else '.musicxml'}"
        shutil.copyfile(path, copy)
        try:
            return Piece.from_dict(deadline.call(_musicxml_dict, copy, where=path,
                                                 imports=MUSIC21))
        except OverLimit as e:
            raise OverLimit(e.reason, e.name, path) from None
        except TunesmithError as e:
            text = str(e)
            reason = text[len(f"{e.path}: "):] if e.path and text.startswith(e.path) else text
            raise TunesmithError(reason, path) from None
