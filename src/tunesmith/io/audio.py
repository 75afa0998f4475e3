"""WAV rendering through FluidSynth (pyfluidsynth, via pretty_midi's synthesiser).

The default soundfont is the small General MIDI one that ships inside pretty_midi
(TimGM6mb.sf2); pass ``soundfont=`` for a better one (e.g. Debian's FluidR3_GM.sf2).
"""

from __future__ import annotations

import tempfile
import wave
from pathlib import Path

from tunesmith.errors import TunesmithError
from tunesmith.music import Piece

SAMPLE_RATE = 44100


def default_soundfont() -> Path:
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def fluidsynth_available() -> bool:
    try:
        import fluidsynth  # noqa: F401 - pyfluidsynth loads libfluidsynth at import
    except (ImportError, OSError):
        return False
    return True


def write_wav(piece: Piece, path: str | Path, soundfont: str | Path | None = None,
              sample_rate: int = SAMPLE_RATE) -> Path:
    """Synthesise ``piece`` to a 16-bit mono WAV file."""
    import numpy as np
    import pretty_midi

    from tunesmith.io.midi import write_midi

    sf = Path(soundfont) if soundfont else default_soundfont()
    if not sf.exists():
        raise TunesmithError("soundfont not found", sf)
    if not fluidsynth_available():
        raise TunesmithError("FluidSynth is not installed (Debian: apt-get install libfluidsynth3)")
    with tempfile.TemporaryDirectory() as tmp:
        mid = write_midi(piece, Path(tmp) / "piece.mid")
        pm = pretty_midi.PrettyMIDI(str(mid))
    audio = pm.fluidsynth(fs=sample_rate, synthesizer=str(sf)) if pm.instruments else None
    if audio is None or audio.size == 0:
        audio = np.zeros(sample_rate // 10)
    peak = float(np.abs(audio).max()) or 1.0
    pcm = (audio / peak * 0.9 * 32767).astype("<i2")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return path
