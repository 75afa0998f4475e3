"""music21 Score -> Piece (used by the ABC and MusicXML readers), and :func:`quiet`, which
keeps music21's own warnings off the user's terminal while those readers parse."""

from __future__ import annotations

import contextlib
import warnings

from tunesmith.music import DEFAULT_QPM, Note, Piece, Tempo, TimeSignature, Track


@contextlib.contextmanager
def quiet():
    """Silence music21 while parsing: the lines its ``Environment.warn`` writes straight to
    stderr (``music21.abcFormat.translate: WARNING: ...``) and the ``warnings`` its modules
    issue (MusicXMLWarning, Music21DeprecationWarning, ...). tunesmith's own warnings and
    messages pass: only warnings issued from music21's modules, or of music21's warning
    classes, are filtered."""
    from music21 import environment

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"music21(\.|$)")
        for category in _music21_warnings():
            warnings.filterwarnings("ignore", category=category)
        loud = environment.Environment.__dict__["warn"]
        environment.Environment.warn = _no_warning
        try:
            yield
        finally:
            environment.Environment.warn = loud


def _no_warning(self, msg, header=None) -> None:
    """Stands in for music21's ``Environment.warn`` inside :func:`quiet`."""


def _music21_warnings() -> list[type[Warning]]:
    """music21's own warning classes (those of its modules that are loaded)."""
    import sys

    found = []
    for module, name in (("music21.exceptions21", "Music21DeprecationWarning"),
                         ("music21.musicxml.xmlObjects", "MusicXMLWarning"),
                         ("music21.midi.translate", "TranslateWarning"),
                         ("music21.stream.base", "StreamDeprecationWarning"),
                         ("music21.stream.iterator", "StreamIteratorInefficientWarning"),
                         ("music21.key", "KeyWarning")):
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and issubclass(cls, Warning):
            found.append(cls)
    return found


def score_to_piece(score, repeats: bool = True) -> Piece:
    """Convert a parsed music21 score. Repeats are expanded when music21 can (so audio
    plays what a musician would), unless that makes it over 4x as long or
    ``repeats`` is False; ties are merged; grace notes (no duration) are skipped.

    The score is modified in place (ties merged): pass one you own. Both steps copy the
    whole score in music21 otherwise, which was most of the time of a compose run.

    ``bar_lines`` are the first part's measures as written (after repeat expansion when
    repeats were expanded): each measure's offset, then where the last one ends; a bar
    written too short or too long keeps its length. Empty when that part holds no
    measures (music21 makes none for some ABC tunes).

    ``fermatas`` are the spans of the notes (of any part) that carry a fermata."""
    from music21 import bar, expressions, key, meter, stream

    if repeats and score.recurse().getElementsByClass(bar.Repeat).first() is not None:
        try:
            expanded = score.expandRepeats()
            written = len(score.recurse().notes)
            # well-formed repeats (and endings, da capo) play a passage a few times at
            # most; more means repeat marks that nest badly: keep the written order
            if 0 < len(expanded.recurse().notes) <= 4 * written:
                score = expanded
        except Exception:  # noqa: BLE001 - malformed repeat marks: keep the written order
            pass
    parts = list(score.parts) if isinstance(score, stream.Score) and score.parts else [score]
    tracks = []
    fermatas: set[tuple[float, float]] = set()
    for part in parts:
        part.stripTies(inPlace=True)
        flat = part.flatten()
        notes = []
        for el in flat.notes:
            dur = float(el.quarterLength)
            if dur <= 0:
                continue
            start = float(el.offset)
            if any(isinstance(x, expressions.Fermata) for x in el.expressions):
                fermatas.add((start, start + dur))
            for p in el.pitches:
                notes.append(Note(start, start + dur, int(p.midi), 80))
        tracks.append(Track(notes=sorted(notes), program=0, name=str(part.partName or "")))
    tempos = []
    try:
        for start, _end, mark in score.metronomeMarkBoundaries():
            qpm = mark.getQuarterBPM()
            if qpm:
                tempos.append(Tempo(float(start), float(qpm)))
    except Exception:  # noqa: BLE001
        pass
    sigs = sorted({TimeSignature(float(ts.offset), int(ts.numerator), int(ts.denominator))
                   for ts in parts[0].flatten().getElementsByClass(meter.TimeSignature)},
                  key=lambda s: s.beat)
    bar_lines = _bar_lines(parts[0])
    key_name = ""
    for k in score.flatten().getElementsByClass(key.KeySignature):
        k = k if isinstance(k, key.Key) else k.asKey()
        key_name = k.name.replace("-", "b")
        break
    title = ""
    if score.metadata is not None and score.metadata.title:
        title = str(score.metadata.title)
    return Piece(
        tracks=tracks,
        tempos=_dedupe_tempos(tempos) or [Tempo(0.0, DEFAULT_QPM)],
        time_signatures=sigs,
        key=key_name,
        title=title,
        bar_lines=bar_lines,
        fermatas=sorted(fermatas),
    )


def _bar_lines(part) -> list[float]:
    """Beats of the written bar lines of a music21 part: the offset of each of its
    measures, then the end of the last (see :attr:`Piece.bar_lines`)."""
    from music21 import stream

    measures = list(part.getElementsByClass(stream.Measure))
    if not measures:
        return []
    lines: list[float] = []
    for m in measures:
        start = float(m.offset)
        if lines and start <= lines[-1] + 1e-9:
            continue  # a measure at the same offset as the previous: not a new bar line
        lines.append(start)
    last = measures[-1]
    end = float(last.offset) + float(last.highestTime)
    if end > lines[-1] + 1e-9:
        lines.append(end)
    return lines if len(lines) >= 2 else []


def _dedupe_tempos(tempos: list[Tempo]) -> list[Tempo]:
    out: list[Tempo] = []
    for t in sorted(tempos, key=lambda t: t.beat):
        if out and abs(out[-1].qpm - t.qpm) < 1e-9:
            continue
        out.append(t)
    return out
