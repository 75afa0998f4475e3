"""MusicXML (``.xml``, ``.mxl``, ``.musicxml``) -> Piece, through music21.

Notes, repeats, tempo and meter come from :func:`tunesmith.io.m21.score_to_piece`. This
module adds what that function leaves at its defaults (each track's General MIDI program
and drum flag, from the part's instrument) and merges tied notes itself: music21's
``stripTies`` is quadratic in a part's length (60 s for the four parts of Beethoven's
op. 18 no. 3, minutes for a whole quartet), while merging the Piece's notes by the ties
read off the score is linear. Repeats are expanded here, exactly as score_to_piece would,
so that the ties are read in the order the notes are played.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from tunesmith.errors import TunesmithError, first_line
from tunesmith.io.limits import check_file_size, limits
from tunesmith.io.paths import input_file
from tunesmith.music import Note, Piece

MUSICXML_SUFFIXES = (".xml", ".mxl", ".musicxml")
TIE_EPS = 1e-6  # beats: a tied note starts where the previous one ends, up to float error


def read_musicxml(path: str | Path) -> Piece:
    """Parse a MusicXML file into a Piece (velocities are 80: dynamics are not read).

    A track's ``program`` is the part's MIDI program when the file gives one (other than
    a default 0), else the one music21 recognises in the part or instrument name
    ("Violin I" -> 40, "Soprano" -> 53, "Horn 2" -> 60), else 0 (piano); see
    :func:`_program`. A part whose instrument is unpitched percussion, or on MIDI channel
    10, is a drum track. The title is the score's title, else the file name. Raises
    :class:`TunesmithError` (one line, naming the file) when music21 cannot read it, and
    before it tries when the file, or a compressed file unpacked, is over the
    ``file_bytes`` limit. music21's own warnings are silenced (:func:`tunesmith.io.m21.quiet`).
    """
    from music21 import converter

    from tunesmith.io.m21 import quiet, score_to_piece

    path = Path(path)
    input_file(path)
    check_file_size(path)
    _check_unpacked_size(path)
    try:
        with quiet():
            # forceSource: parse the file itself; music21 would otherwise write pickles
            # of its own beside our JSON cache.
            score = converter.parse(str(path), forceSource=True)
            instruments = [_program(p) for p in _parts(score)]
            score = _expand_repeats(score)
            ties = [_untie(p) for p in _parts(score)]
            piece = score_to_piece(score)
    except Exception as e:  # noqa: BLE001 - music21 raises many unrelated types
        raise TunesmithError(f"not a readable MusicXML file ({first_line(e)})", path) from None
    if len(ties) == len(piece.tracks):
        for track, forward in zip(piece.tracks, ties, strict=True):
            track.notes = merge_ties(track.notes, forward)
    if len(instruments) == len(piece.tracks):
        for track, (program, is_drum) in zip(piece.tracks, instruments, strict=True):
            track.program, track.is_drum = program, is_drum
    piece.title = piece.title or path.stem
    return piece


def _check_unpacked_size(path: Path) -> None:
    """A compressed MusicXML file (a zip) must unpack within the ``file_bytes`` limit too:
    a few KB of zip can hold gigabytes. The sizes its headers declare are checked first;
    then each member is unpacked here a MiB at a time, counted and dropped, and one that
    unpacks to more than its header says is refused: zipfile's ``read()``, which music21
    uses, unpacks a member's whole stream at once before cutting it to the declared size
    (2 GB of memory for a 2 MB zip whose header said 1,000 bytes). Not a zip, or a broken
    one: music21 says why."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            members = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    limits().check("file_bytes", sum(m.file_size for m in members), "unpacked size (bytes)",
                   path)
    try:
        with open(path, "rb") as raw:
            for member in members:
                size = _unpacked_size(raw, member, member.file_size + 1)
                if size is None:
                    raise TunesmithError(f"not a readable MusicXML file (zip member "
                                         f"{member.filename!r} is compressed with method "
                                         f"{member.compress_type}; tunesmith reads stored, "
                                         "deflated or bzip2 members)",
                                         path)
                if size > member.file_size:
                    raise TunesmithError(f"not a readable MusicXML file (zip member "
                                         f"{member.filename!r} unpacks to more than the "
                                         f"{member.file_size:,} bytes its header says)", path)
    except (OSError, EOFError, ValueError, zlib.error):
        return  # a broken member: music21 says why


def _unpacked_size(raw, member, cap: int) -> int | None:
    """How many bytes ``member`` of the open zip file ``raw`` unpacks to, counting no
    further than ``cap``; None for a compression method other than stored, deflate or
    bzip2. Memory: a MiB at a time."""
    import bz2
    import struct
    import zipfile

    raw.seek(member.header_offset)
    head = raw.read(30)
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        return 0  # broken: zipfile refuses it
    name_length, extra_length = struct.unpack("<HH", head[26:30])
    raw.seek(member.header_offset + 30 + name_length + extra_length)
    if member.compress_type == zipfile.ZIP_STORED:
        return member.compress_size
    if member.compress_type == zipfile.ZIP_DEFLATED:
        unpack = zlib.decompressobj(-15)
    elif member.compress_type == zipfile.ZIP_BZIP2:
        unpack = bz2.BZ2Decompressor()
    else:
        return None
    chunk, left, size, pending = 1 << 20, member.compress_size, 0, b""
    while size < cap:
        if not pending:
            pending = raw.read(min(chunk, left))
            left -= len(pending)
            if not pending:
                break
        if isinstance(unpack, bz2.BZ2Decompressor):
            size += len(unpack.decompress(pending, chunk))
            pending = b""
            while size < cap and not unpack.eof and not unpack.needs_input:
                size += len(unpack.decompress(b"", chunk))
        else:
            size += len(unpack.decompress(pending, chunk))
            pending = unpack.unconsumed_tail
        if getattr(unpack, "eof", False):
            break
    return size


def _expand_repeats(score):
    """The score with repeats written out, as score_to_piece does it (which then finds
    no repeat barlines left and keeps this order); the score itself when that fails."""
    from music21 import bar

    if score.recurse().getElementsByClass(bar.Repeat).first() is None:
        return score
    try:
        expanded = score.expandRepeats()
    except Exception:  # noqa: BLE001 - malformed repeat marks: keep the written order
        return score
    return expanded if expanded.recurse().notes else score


def _untie(part) -> set[tuple[float, int]]:
    """Remove every tie of ``part`` (in place), returning the ``(start beat, MIDI
    pitch)`` of each note tied to the next ("start" or "continue"). Start beats are
    float offsets in the flattened part, as score_to_piece computes them."""
    forward = set()
    for el in part.flatten().notes:
        start = float(el.offset)
        for n in (el.notes if el.isChord else [el]):
            tie, pitch = n.tie, getattr(n, "pitch", None)
            if tie is None or pitch is None:
                continue
            if tie.type in ("start", "continue"):
                forward.add((start, int(pitch.midi)))
            n.tie = None
        if el.isChord:
            el.tie = None
    return forward


def merge_ties(notes: list[Note], forward: set[tuple[float, int]]) -> list[Note]:
    """Join each note whose ``(start, pitch)`` is in ``forward`` (it ties to the next)
    with the next note of its pitch when that one starts where it ends, as music21's
    ``stripTies`` does (which also does not insist on a "stop": expanded repeats can
    lose it), but in linear time."""
    out: list[Note] = []
    open_ties: dict[int, int] = {}  # pitch -> index in out of the note tying forward
    for n in sorted(notes):
        key = (n.start, n.pitch)
        i = open_ties.pop(n.pitch, None)
        if i is not None and abs(out[i].end - n.start) < TIE_EPS:
            out[i] = Note(out[i].start, n.end, n.pitch, out[i].velocity)
        else:
            out.append(n)
            i = len(out) - 1
        if key in forward:
            open_ties[n.pitch] = i
    return sorted(out)


def _parts(score) -> list:
    """The parts score_to_piece makes tracks of, in the same order."""
    from music21 import stream

    return list(score.parts) if isinstance(score, stream.Score) and score.parts else [score]


def _program(part) -> tuple[int, bool]:
    """(General MIDI program 0-127, is_drum) for one music21 part.

    The file's program wins, except a 0 (acoustic grand piano, what notation programs
    write for any part by default) when the part's name names another instrument:
    Haydn's op. 74 no. 1 in music21's corpus has four "Acoustic Grand Piano" parts
    named Violin 1, Violin 2, Viola and Violoncello."""
    from music21 import instrument

    inst = part.getInstrument(returnDefault=False)
    is_drum = isinstance(inst, instrument.UnpitchedPercussion) or (
        inst is not None and inst.midiChannel == 9)
    given = inst.midiProgram if inst is not None else None
    if given is not None and given != 0:
        return int(given), is_drum
    guessed = _guess_program([part.partName, inst.instrumentName if inst is not None else None])
    return (guessed if guessed is not None else 0), is_drum


def _guess_program(names) -> int | None:
    """The GM program of the first name music21 recognises as an instrument, if any."""
    from music21 import instrument

    for name in names:
        if not name:
            continue
        try:
            guessed = instrument.fromString(str(name))
        except Exception:  # noqa: BLE001 - InstrumentException: name not known
            continue
        if guessed.midiProgram is not None:
            return int(guessed.midiProgram)
    return None
