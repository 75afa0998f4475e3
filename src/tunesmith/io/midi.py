"""MIDI files <-> Piece, through symusic (fast C++ parser; times in quarter notes = beats).

Before symusic sees a file we check its chunk structure ourselves (:func:`midi_header`):
symusic silently accepts a file cut off after its header, and refuses SMPTE timing,
which we convert (see :func:`read_midi_bytes`). That check reads only the 14-byte
``MThd`` header and the 8-byte header of each chunk, so it costs nothing next to a parse
(mido would decode every event in Python just to find the same errors).

The budgets (:mod:`tunesmith.io.limits`) are checked before the work they guard: the file's
size before it is read, the header's track count before symusic parses, and the notes,
the length in beats, the longest note and the tempo and meter changes on symusic's score
(its arrays, in C++) before a Python object is made per note.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import TunesmithError, first_line
from tunesmith.io.limits import OverLimit, check_file_size, limits
from tunesmith.io.paths import input_file, output_folder
from tunesmith.music import Piece, Tempo
from tunesmith.scores import (
    TICKS_PER_QUARTER,
    end_at_bar_line,
    piece_to_score,
    score_to_piece,
)

# SMPTE frame-rate codes (the negated top byte of the division) -> frames per second;
# 29 means "30 drop-frame", i.e. 29.97 fps.
SMPTE_FPS = {24: 24.0, 25: 25.0, 29: 30000 / 1001, 30: 30.0}


class MidiFormatError(ValueError):
    """The bytes are not a well-formed Standard MIDI File; the message says why."""


@dataclass(frozen=True)
class MidiHeader:
    """What the ``MThd`` chunk says. ``division`` is the raw 16-bit field: ticks per
    quarter note, or (top bit set) SMPTE frames per second and ticks per frame."""

    format: int  # 0 (one track), 1 (simultaneous tracks), 2 (independent sequences)
    ntracks: int
    division: int

    @property
    def smpte(self) -> bool:
        return bool(self.division & 0x8000)

    @property
    def smpte_fps(self) -> float:
        """Frames per second of an SMPTE division (KeyError for an invalid code)."""
        return SMPTE_FPS[256 - (self.division >> 8)]


def midi_header(data: bytes) -> MidiHeader:
    """Check the chunk structure of a Standard MIDI File and return its header.

    Raises :class:`MidiFormatError` for: no ``MThd`` header, an unknown format, a
    zero or invalid division, fewer ``MTrk`` chunks than the header announces, or a chunk
    longer than the bytes left (a truncated file). Chunk contents are not decoded."""
    if not data:
        raise MidiFormatError("empty file")
    if len(data) < 14 or data[:4] != b"MThd":
        raise MidiFormatError("no MThd header")
    hdr_len = int.from_bytes(data[4:8], "big")
    if hdr_len < 6:
        raise MidiFormatError(f"MThd header of {hdr_len} bytes, expected 6")
    header = MidiHeader(format=int.from_bytes(data[8:10], "big"),
                        ntracks=int.from_bytes(data[10:12], "big"),
                        division=int.from_bytes(data[12:14], "big"))
    if header.format > 2:
        raise MidiFormatError(f"unknown MIDI format {header.format}")
    _check_division(header)
    _check_chunks(data, 8 + hdr_len, header.ntracks)
    return header


def _check_division(header: MidiHeader) -> None:
    if not header.smpte:
        if header.division == 0:
            raise MidiFormatError("0 ticks per quarter note")
        return
    code, ticks_per_frame = 256 - (header.division >> 8), header.division & 0xFF
    if code not in SMPTE_FPS or ticks_per_frame == 0:
        raise MidiFormatError(f"invalid SMPTE division 0x{header.division:04X}")


def _check_chunks(data: bytes, pos: int, ntracks: int) -> None:
    """Walk the chunks from byte ``pos`` until ``ntracks`` MTrk chunks are found."""
    found = 0
    while found < ntracks:
        if pos + 8 > len(data):
            raise MidiFormatError(f"truncated: the header announces {ntracks} tracks, "
                                  f"the file holds {found}")
        length = int.from_bytes(data[pos + 4 : pos + 8], "big")
        if pos + 8 + length > len(data):
            raise MidiFormatError(f"truncated: the chunk at byte {pos} needs {length} "
                                  f"bytes, {len(data) - pos - 8} are left")
        found += data[pos : pos + 4] == b"MTrk"  # other chunk types are skipped (SMF spec)
        pos += 8 + length


def read_midi(path: str | Path) -> Piece:
    """Read a MIDI file (type 0 or 1). Every problem with the file is a one-line
    :class:`TunesmithError` naming it: missing, not MIDI, truncated, type 2, ..."""
    path = Path(path)
    input_file(path)
    check_file_size(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise TunesmithError(f"cannot read ({e.strerror})", path) from None
    try:
        piece = read_midi_bytes(data)
    except MidiFormatError as e:
        raise TunesmithError(f"not a readable MIDI file ({e})", path) from None
    except OverLimit as e:
        raise OverLimit(e.reason, e.name, path) from None
    piece.title = path.stem
    return piece


def read_midi_bytes(data: bytes) -> Piece:
    """Parse the bytes of a Standard MIDI File (type 0 or 1) into a Piece.

    Tracks are symusic's: one per (MIDI track, channel, program); channel 10 is
    ``is_drum``. Notes of zero length are dropped. Running status, tempo and meter
    changes are symusic's job.

    SMPTE timing (division top bit set: frames per second x ticks per frame, time in
    seconds, tempo events meaningless) is converted exactly: the division is rewritten as
    ``fps_code x ticks_per_frame`` ticks per quarter, and the tempo map is the one tempo
    that makes a beat last what those ticks last (60 qpm; about 62.0 at 29.97 fps); the
    file's tempo events are ignored, as the SMF spec says.

    Raises :class:`MidiFormatError` for anything that is not a readable type 0/1 file,
    :class:`OverLimit` (naming no file) for one over the ``file_bytes``, ``tracks``,
    ``notes``, ``beats``, ``note_beats`` or ``changes`` limit."""
    import symusic

    lim = limits()
    lim.check("file_bytes", len(data), "file size (bytes)")
    header = midi_header(data)
    if header.format == 2:
        raise MidiFormatError("MIDI type 2 (independent sequences) is not supported")
    lim.check("tracks", header.ntracks, "tracks")
    smpte_qpm = None
    if header.smpte:
        code, ticks_per_frame = 256 - (header.division >> 8), header.division & 0xFF
        tpq = code * ticks_per_frame  # <= 30 * 255, fits the 15-bit metrical division
        smpte_qpm = 60.0 * header.smpte_fps * ticks_per_frame / tpq
        data = data[:12] + tpq.to_bytes(2, "big") + data[14:]
    try:
        score = symusic.Score.from_midi(data, ttype="quarter")
    except Exception as e:  # noqa: BLE001 - symusic raises RuntimeError/ValueError variants
        raise MidiFormatError(first_line(e)) from None
    _check_score(score)
    piece = score_to_piece(score)
    if smpte_qpm is not None:
        piece.tempos = [Tempo(0.0, smpte_qpm)]
    return piece


def _check_score(score) -> None:
    """The limits on a parsed symusic score, read off its arrays (no Python object per
    note): notes, the longest note, the length in beats, tempo and meter changes. The
    seconds (through the tempo map) are checked on the Piece (``piece_problem``)."""
    lim = limits()
    lim.check("notes", score.note_num(), "notes")
    end, longest = 0.0, 0.0
    for track in score.tracks:
        if not track.note_num():
            continue
        arrays = track.notes.numpy()
        ends = arrays["time"] + arrays["duration"]
        end, longest = max(end, float(ends.max())), max(longest,
                                                        float(arrays["duration"].max()))
    lim.check("note_beats", longest, "a note's length in beats")
    lim.check("beats", end, "length in beats")
    lim.check("changes", len(score.tempos) + len(score.time_signatures),
              "tempo and meter changes")


def write_midi(piece: Piece, path: str | Path) -> Path:
    """Write ``piece`` as a type-1 MIDI file (one track per Piece track) that ends on the
    bar line after its last note (:func:`~tunesmith.scores.end_at_bar_line`)."""
    path = Path(path)
    score = piece_to_score(piece, TICKS_PER_QUARTER)
    end_at_bar_line(score, piece)
    output_folder(path.parent)
    score.dump_midi(str(path))
    return path
