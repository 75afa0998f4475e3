"""Piece <-> ``symusic.Score``: the one conversion between tunesmith's music object and
symusic's, shared by the MIDI reader and writer (:mod:`tunesmith.io.midi`) and by the
MidiTok-based representation (:mod:`tunesmith.representations.remi`), which hands MidiTok
a score in memory instead of a MIDI file on disk.

Times stay in beats (quarter notes) on both sides: a score is made with
``ttype="quarter"``, and a score of any time type is read through ``score.to("quarter")``.
symusic is imported inside the functions, so importing this module costs nothing.
"""

from __future__ import annotations

from tunesmith.music import DEFAULT_QPM, Note, Piece, Tempo, TimeSignature, Track

TICKS_PER_QUARTER = 480  # the resolution of the scores (and MIDI files) made here
END_MARKER = "end"  # the marker at the bar line that ends a written MIDI file


def _in_a_byte(sig: TimeSignature) -> bool:
    return 1 <= sig.numerator <= 255 and 1 <= sig.denominator <= 255


def bar_line_after(piece: Piece) -> float | None:
    """The first bar line at or after the piece's last note ends (in beats), by its last
    time signature that starts before then (of those a MIDI file can hold: see
    :func:`piece_to_score`); None without notes or such time signatures."""
    end = piece.end_beat
    sigs = sorted((s for s in piece.time_signatures if s.beat < end - 1e-9
                   and _in_a_byte(s)), key=lambda s: s.beat)
    if end <= 0 or not sigs:
        return None
    last = sigs[-1]
    bar = last.numerator * 4 / last.denominator
    bars = -(-round((end - last.beat) / bar, 6) // 1)  # ceil, forgiving float noise
    return last.beat + bars * bar


def end_at_bar_line(score, piece: Piece) -> None:
    """Give ``score`` (made by :func:`piece_to_score`) a marker at the bar line after
    ``piece``'s last note, so that the MIDI file ends on a whole bar, as notation
    programs write it, and a DAW or a loop player gets the full last bar; nothing when
    the last note ends on a bar line. (symusic ends each track at its last event and
    offers no end-of-track time of its own: a marker is the event that carries it.)"""
    import symusic

    line = bar_line_after(piece)
    if line is not None and line > piece.end_beat + 1e-6:
        score.markers.append(symusic.TextMeta(line, END_MARKER, ttype="quarter"))


def piece_to_score(piece: Piece, ticks_per_quarter: int = TICKS_PER_QUARTER):
    """A ``symusic.Score`` (quarter-note times) holding ``piece``'s tempos, time
    signatures and tracks; velocities are clamped to MIDI's 1-127."""
    import symusic

    score = symusic.Score(ticks_per_quarter, ttype="quarter")
    for t in piece.tempos:
        score.tempos.append(symusic.Tempo(t.beat, qpm=t.qpm, ttype="quarter"))
    for s in piece.time_signatures:
        if not _in_a_byte(s):
            # a MIDI time signature holds each in a byte; music21 made 543/32 for
            # a sampled tune's odd bar: left out (the notes are what is heard)
            continue
        score.time_signatures.append(
            symusic.TimeSignature(s.beat, s.numerator, s.denominator, ttype="quarter"))
    for track in piece.tracks:
        out = symusic.Track(name=track.name, program=track.program, is_drum=track.is_drum,
                            ttype="quarter")
        for n in track.notes:
            out.notes.append(symusic.Note(n.start, n.end - n.start, n.pitch,
                                          max(1, min(127, n.velocity)), ttype="quarter"))
        score.tracks.append(out)
    return score


def score_to_piece(score) -> Piece:
    """The Piece of a ``symusic.Score`` of any time type: one track per symusic track,
    notes of zero length dropped, 120 qpm when the score has no tempo."""
    if str(score.ttype).lower().rsplit(".", 1)[-1] != "quarter":
        score = score.to("quarter")
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
                 time_signatures=sigs)
