"""MIDI files <-> Piece, through symusic (fast C++ parser; times in quarter notes = beats)."""

from __future__ import annotations

from pathlib import Path

from tunesmith.errors import TunesmithError, first_line
from tunesmith.music import DEFAULT_QPM, Note, Piece, Tempo, TimeSignature, Track

TICKS_PER_QUARTER = 480


def read_midi(path: str | Path) -> Piece:
    """Read a MIDI file. Unreadable or non-MIDI files raise :class:`TunesmithError`."""
    import symusic

    path = Path(path)
    if not path.exists():
        raise TunesmithError("no such file", path)
    try:
        score = symusic.Score(str(path), ttype="quarter")
    except Exception as e:  # noqa: BLE001 - symusic raises RuntimeError/ValueError variants
        raise TunesmithError(f"not a readable MIDI file ({first_line(e)})", path) from None
    tracks = [
        Track(
            notes=sorted(
                Note(float(n.time), float(n.time + n.duration), int(n.pitch), int(n.velocity))
                for n in t.notes
                if n.duration > 0
            ),
            program=int(t.program),
            is_drum=bool(t.is_drum),
            name=str(t.name),
        )
        for t in score.tracks
    ]
    tempos = [Tempo(float(t.time), float(t.qpm)) for t in score.tempos]
    sigs = [TimeSignature(float(s.time), int(s.numerator), int(s.denominator))
            for s in score.time_signatures]
    return Piece(tracks=tracks, tempos=tempos or [Tempo(0.0, DEFAULT_QPM)],
                 time_signatures=sigs, title=path.stem)


def write_midi(piece: Piece, path: str | Path) -> Path:
    """Write ``piece`` as a type-1 MIDI file (one track per Piece track)."""
    import symusic

    path = Path(path)
    score = symusic.Score(TICKS_PER_QUARTER, ttype="quarter")
    for t in piece.tempos:
        score.tempos.append(symusic.Tempo(t.beat, qpm=t.qpm, ttype="quarter"))
    for s in piece.time_signatures:
        score.time_signatures.append(
            symusic.TimeSignature(s.beat, s.numerator, s.denominator, ttype="quarter"))
    for track in piece.tracks:
        out = symusic.Track(name=track.name, program=track.program, is_drum=track.is_drum,
                            ttype="quarter")
        for n in track.notes:
            out.notes.append(symusic.Note(n.start, n.end - n.start, n.pitch,
                                          max(1, min(127, n.velocity)), ttype="quarter"))
        score.tracks.append(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    score.dump_midi(str(path))
    return path
