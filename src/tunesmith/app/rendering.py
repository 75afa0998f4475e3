"""Rendering a music file (ABC, MIDI, MusicXML) as WAV and / or a piano-roll PNG."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import OptionError, TunesmithError
from tunesmith.options import opt


@dataclass(frozen=True)
class RenderRequest:
    to: str = opt("both", "what to write", choices=("wav", "png", "both"))
    tune: int = opt(1, "which tune of an ABC book (1-based)")
    out: str | None = opt(None, "output path without suffix (default: beside the input)")
    soundfont: str | None = opt(None, "a .sf2 soundfont (default: pretty_midi's GM font)")

    def __post_init__(self):
        if self.to not in ("wav", "png", "both"):
            raise OptionError("to", f"must be wav, png or both, not {self.to!r}")
        if self.tune < 1:
            raise OptionError("tune", f"must be >= 1, got {self.tune}")


def render(path: str | Path, request: RenderRequest = RenderRequest()) -> list[Path]:
    """Write ``path``'s music as WAV and / or PNG; returns the files written. ABC is played
    as compose plays it: by abc2midi (repeats, chords), music21 as a fallback."""
    from tunesmith.io.audio import write_wav
    from tunesmith.io.plots import write_pianoroll_png
    from tunesmith.io.read import TuneOutOfRange, read_piece

    path = Path(path)
    try:
        piece = read_piece(path, tune=request.tune, abc_player="abc2midi")
    except TuneOutOfRange as e:
        raise OptionError("tune", f"{e.tune} out of range ({path} has {e.count} tunes)") \
            from None
    if not piece.notes:
        raise TunesmithError("no notes to render", path)
    out = Path(request.out) if request.out else path.with_suffix("")
    wanted = {"wav", "png"} if request.to == "both" else {request.to}
    written = []
    if "wav" in wanted:
        written.append(write_wav(piece, out.with_suffix(".wav"), request.soundfont))
    if "png" in wanted:
        written.append(write_pianoroll_png(piece, out.with_suffix(".png")))
    return written
