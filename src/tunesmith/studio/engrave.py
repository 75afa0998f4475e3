"""Sheet music as SVG, engraved on the server by Verovio (its PyPI wheel carries its fonts:
nothing is fetched).

- An ABC tune goes to Verovio as ABC; music21 writes its MusicXML, kept as a download
  (in a forked child with a time budget, as below).
- Any other piece (events, piano rolls) is split at middle C onto a grand staff and goes
  MIDI -> music21 (quantised to sixteenths and triplets) -> MusicXML -> Verovio. music21
  runs in a forked child with a time budget (:mod:`tunesmith.io.deadline`), as every
  music21 read of tunesmith does, so an odd piece cannot hang a worker; the MusicXML is
  kept beside the SVG as a download.
- Verovio runs in a child too, a fresh interpreter (``verovio_child.py``) rather than a
  fork of the threaded server: an input that crashes it costs one score.

Verovio lays the music out on pages as tall as it needs; a piece longer than one page
gets its pages stacked in one SVG. A piece that cannot be engraved gets no score and a
one-line reason; the rest of the composition is unaffected.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tunesmith.errors import TunesmithError, first_line

CHILD = Path(__file__).with_name("verovio_child.py")  # run as a script, never imported
OPTIONS = {"pageWidth": 2200, "pageHeight": 60000, "adjustPageHeight": True, "scale": 40,
           "header": "none", "footer": "none", "breaks": "auto", "pageMarginTop": 40,
           "pageMarginBottom": 40, "pageMarginLeft": 40, "pageMarginRight": 40}
SECONDS = 20.0  # budget of the MIDI -> MusicXML step, and of Verovio


def available() -> bool:
    try:
        import verovio  # noqa: F401
    except ImportError:
        return False
    return True


def warm() -> None:
    """Import what an engraving needs, so that each forked music21 child inherits it
    (about 0.8 s less per score)."""
    try:
        import music21.converter  # noqa: F401
        import music21.musicxml.m21ToXml  # noqa: F401
    except ImportError:
        pass


def engrave_abc(text: str) -> str:
    """An ABC tune as one SVG (title lines dropped: the gallery names the piece)."""
    body = "\n".join(line for line in text.splitlines() if not line.startswith("T:"))
    return _verovio(body, "abc")


def engrave_piece(piece, xml_path: Path | None = None) -> str:
    """A Piece as one SVG on a grand staff, through MusicXML (written to ``xml_path`` when
    given)."""
    from tunesmith.io import deadline

    xml = deadline.call(musicxml_of_piece, piece, where="score", seconds=SECONDS)
    if xml_path is not None:
        xml_path.write_text(xml, encoding="utf-8")
    return _verovio(xml, "musicxml")


def write_abc_musicxml(text: str, xml_path: Path) -> None:
    """An ABC tune's MusicXML (music21's reading of it, title kept) written to
    ``xml_path``; TunesmithError when music21 cannot read the tune in time."""
    from tunesmith.io import deadline

    xml = deadline.call(musicxml_of_abc, text, where="score", seconds=SECONDS)
    xml_path.write_text(xml, encoding="utf-8")


def musicxml_of_abc(text: str) -> str:
    """MusicXML text of one ABC tune, as music21 reads it, its invisible and whole-bar
    rests written as rests (:func:`~tunesmith.abc_meter.music21_rests`: music21 drops
    them, which would shift every note after one)."""
    from music21 import converter
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    from tunesmith.abc_meter import music21_rests
    from tunesmith.io.m21 import quiet

    with quiet():
        try:  # parseData: the text is never read as a path
            score = converter.parseData(music21_rests(text), format="abc")
            return GeneralObjectExporter().parse(score).decode("utf-8")
        except Exception as e:  # noqa: BLE001 - music21 raises many kinds on a bad tune
            raise TunesmithError(f"music21 cannot write this tune as MusicXML "
                                 f"({first_line(e) or type(e).__name__})") from None


SPLIT = 60  # middle C: notes from here up go to the treble staff, the rest to the bass


def musicxml_of_piece(piece) -> str:
    """MusicXML text of a piece for a pianist: its notes split at middle C onto a treble
    and a bass staff joined by a brace, quantised by music21 to sixteenths and triplets
    (no title: the gallery names the piece)."""
    import tempfile

    from music21 import clef, converter, layout, metadata
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    from tunesmith.io.m21 import quiet
    from tunesmith.io.midi import write_midi
    from tunesmith.music import Piece, Track

    notes = piece.notes
    hands = [(Track(notes=[n for n in notes if n.pitch >= SPLIT]), clef.TrebleClef),
             (Track(notes=[n for n in notes if n.pitch < SPLIT]), clef.BassClef)]
    hands = [(t, c) for t, c in hands if t.notes]
    if not hands:
        raise TunesmithError("no notes to notate")
    two = Piece(tracks=[t for t, _ in hands], tempos=piece.tempos,
                time_signatures=piece.time_signatures)
    with tempfile.TemporaryDirectory(prefix="tunesmith-score-") as tmp, quiet():
        path = Path(tmp) / "hands.mid"
        write_midi(two, path)
        try:
            score = converter.parse(str(path), format="midi", quantizePost=True)
            _one_meter(score)
            for part, (_, kind) in zip(score.parts, hands, strict=False):
                part.partName = part.partAbbreviation = ""
                for old in list(part.recurse().getElementsByClass(clef.Clef)):
                    old.activeSite.replace(old, kind())
            if len(score.parts) > 1:
                score.insert(0, layout.StaffGroup(list(score.parts), symbol="brace",
                                                  barTogether=True))
            score.metadata = metadata.Metadata()
            score.metadata.title = ""
            data = GeneralObjectExporter(score).parse()
        except Exception as e:  # noqa: BLE001 - music21 raises many kinds; one line back
            raise TunesmithError(f"music21 could not notate it ({first_line(e)})") from None
    return data.decode("utf-8")


def _one_meter(score) -> None:
    """Every part of ``score`` barred in the first part's time signatures (each at its
    offset): music21 reads a MIDI file's time signatures into its first part only, and
    bars the others in 4/4 (a 3/4 piece's bass staff came out in 4/4, its bar lines out of
    line)."""
    import copy

    from music21 import meter, stream

    parts = list(score.parts)
    if not parts:
        return
    meters = [(float(ts.offset), ts) for ts in
              parts[0].flatten().getElementsByClass(meter.TimeSignature)]
    if not meters:
        return
    wanted = [(at, ts.ratioString) for at, ts in meters]
    for part in parts[1:]:
        flat = part.flatten()
        own = flat.getElementsByClass(meter.TimeSignature)
        if [(float(ts.offset), ts.ratioString) for ts in own] == wanted:
            continue
        for old in list(own):
            flat.remove(old)
        for at, ts in meters:
            flat.insert(at, copy.deepcopy(ts))
        barred = stream.Part()
        for measure in flat.makeMeasures().makeTies():
            barred.append(measure)
        score.replace(part, barred)


def _verovio(data: str, kind: str) -> str:
    """``data`` (ABC or MusicXML text) engraved by Verovio in a child process with a time
    budget: Verovio's readers crash the whole process on some input (a sampled ABC tune
    took its ABC reader down with a segmentation fault, and the studio with it), so a
    crash, like a hang, costs one score, not the server. The child is a fresh interpreter
    (``verovio_child.py``), not a fork: see that file for why."""
    request = json.dumps({"data": data, "kind": kind, "options": OPTIONS,
                          "seconds": SECONDS})
    try:
        done = subprocess.run([sys.executable, str(CHILD)], input=request, text=True,
                              capture_output=True, timeout=SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise TunesmithError(f"took longer than {SECONDS:g} s to engrave", "score") from None
    if done.returncode != 0:
        why = (f"killed by signal {-done.returncode}" if done.returncode < 0
               else f"exit status {done.returncode}")
        said = [ln for ln in done.stderr.splitlines() if ln.strip()]
        raise TunesmithError(f"Verovio's process died ({why}"
                             + (f": {said[-1].strip()[:200]}" if said else "") + ")", "score")
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        raise TunesmithError("Verovio's process gave no score", "score") from None
    if "error" in answer:
        raise TunesmithError(answer["error"])
    pages = answer.get("pages") or []
    if not pages:
        raise TunesmithError("Verovio engraved no page")
    return pages[0] if len(pages) == 1 else stack(pages)


_SIZE = re.compile(r'<svg[^>]*?\swidth="([\d.]+)px"[^>]*?\sheight="([\d.]+)px"')


def stack(pages: list[str]) -> str:
    """Pages of SVG, one under the other, in one SVG document."""
    parts, y, width = [], 0.0, 0.0
    for page in pages:
        m = _SIZE.search(page)
        w, h = (float(m.group(1)), float(m.group(2))) if m else (2200.0, 3000.0)
        body = page[page.index("<svg"):]
        parts.append(f'<g transform="translate(0 {y:g})">{body}</g>')
        y += h
        width = max(width, w)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/'
            f'xlink" width="{width:g}px" height="{y:g}px" viewBox="0 0 {width:g} {y:g}">'
            + "".join(parts) + "</svg>")


__all__ = ["available", "engrave_abc", "engrave_piece", "musicxml_of_abc", "musicxml_of_piece",
           "stack", "write_abc_musicxml"]
