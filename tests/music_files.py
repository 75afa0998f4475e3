"""Music files built in code for the reader and corpus tests.

Every MIDI file is built byte by byte here (so running status, SMPTE divisions and
truncations are exactly what the test says), at 480 ticks per quarter unless noted.
"""

from __future__ import annotations

from pathlib import Path

TPQ = 480


# --- a Standard MIDI File writer, by hand -----------------------------------------------

def vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def mtrk(events: list[tuple[int, bytes]]) -> bytes:
    """A track chunk from (absolute tick, raw event bytes); stable-sorted by tick."""
    parts, now = [], 0
    for tick, data in sorted(events, key=lambda e: e[0]):
        parts.append(vlq(tick - now) + data)
        now = tick
    parts.append(vlq(0) + b"\xff\x2f\x00")
    body = b"".join(parts)
    return b"MTrk" + len(body).to_bytes(4, "big") + body


def smf(fmt: int, tracks: list[bytes], division: int = TPQ) -> bytes:
    return (b"MThd" + (6).to_bytes(4, "big") + fmt.to_bytes(2, "big")
            + len(tracks).to_bytes(2, "big") + division.to_bytes(2, "big") + b"".join(tracks))


def notes(ch: int, pitches, start: float = 0.0, beats: float = 1.0, tpq: int = TPQ):
    """Consecutive notes on channel ``ch``, each ``beats`` long (ticks at ``tpq``)."""
    ev = []
    for i, p in enumerate(pitches):
        on, off = round((start + i * beats) * tpq), round((start + (i + 1) * beats) * tpq)
        ev += [(on, bytes([0x90 | ch, p, 80])), (off, bytes([0x80 | ch, p, 0]))]
    return sorted(ev, key=lambda e: (e[0], e[1][0] & 0xF0 == 0x90))  # offs before ons


def tempo(beat: float, qpm: float) -> tuple[int, bytes]:
    return round(beat * TPQ), b"\xff\x51\x03" + round(60e6 / qpm).to_bytes(3, "big")


def meter(beat: float, num: int, den: int) -> tuple[int, bytes]:
    return round(beat * TPQ), b"\xff\x58\x04" + bytes([num, den.bit_length() - 1, 24, 8])


def program(ch: int, prog: int) -> tuple[int, bytes]:
    return 0, bytes([0xC0 | ch, prog])


SCALE = [60, 62, 64, 65, 67, 69, 71, 72]


def multi_track() -> bytes:
    """Type 1: a conductor track (100 qpm, then 150 qpm and 3/4 from beat 4), a piano
    melody and a violin line, 8 one-beat notes each: 4 beats at 100 + 4 at 150 = 4.0 s."""
    conductor = mtrk([tempo(0, 100), meter(0, 4, 4), tempo(4, 150), meter(4, 3, 4)])
    piano = mtrk([program(0, 0)] + notes(0, SCALE))
    violin = mtrk([program(1, 40)] + notes(1, [p - 12 for p in SCALE]))
    return smf(1, [conductor, piano, violin])


def running_status() -> bytes:
    """Type 0, 10 notes, one status byte for the whole track (note-on velocity 0 = off)."""
    body = [(0, b"\x90\x3c\x50")]
    for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72, 74, 76]):
        if i:
            body.append((i * TPQ, bytes([p, 80])))
        body.append(((i + 1) * TPQ, bytes([p, 0])))
    return smf(0, [mtrk(body)])


def smpte() -> bytes:
    """-25 fps x 40 ticks/frame = 1000 ticks/s; 8 notes of 500 ticks = 4.0 s. Its tempo
    event (120 qpm) is meaningless under SMPTE timing and must be ignored."""
    ev = [(0, b"\xff\x51\x03\x07\xa1\x20")] + notes(0, SCALE, beats=0.5, tpq=1000)
    return smf(0, [mtrk(ev)], division=(0xE7 << 8) | 40)


FILES = {
    # name: (bytes, expected status, expected reason fragment) under programs=piano
    "type0.mid": (smf(0, [mtrk([tempo(0, 120), program(0, 0), program(1, 1)]
                               + notes(0, SCALE) + notes(1, [48, 55, 52, 53]))]),
                  "kept", ""),
    "multi.mid": (multi_track(), "kept", ""),
    "sub/running.midi": (running_status(), "kept", ""),
    "smpte.mid": (smpte(), "kept", ""),
    "drums.mid": (smf(0, [mtrk(notes(9, [36, 38] * 6))]), "dropped", "drums only"),
    "silent.mid": (smf(1, [mtrk([tempo(0, 90), meter(0, 3, 4)])]), "dropped", "no notes"),
    "truncated.mid": (multi_track()[:-30], "dropped", "not a readable MIDI file (truncated"),
    "header_only.mid": (multi_track()[:14], "dropped",
                        "truncated: the header announces 3 tracks, the file holds 0"),
    "fake.mid": (b"this is not a MIDI file\n", "dropped", "not a readable MIDI file"),
    "bad_smpte.mid": (smf(0, [mtrk(notes(0, SCALE))], division=(0xE7 << 8)), "dropped",
                      "invalid SMPTE division"),
    "type2.mid": (smf(2, [mtrk(notes(0, SCALE))]), "dropped", "type 2"),
    "short.mid": (smf(0, [mtrk(notes(0, SCALE, beats=0.125))]), "dropped",
                  "too short (0.50 s < 2 s)"),
    "violin.mid": (smf(0, [mtrk([program(0, 40)] + notes(0, SCALE))]), "dropped",
                   "no notes after filtering (programs=piano)"),
    "slow.mid": (smf(0, [mtrk([(0, b"\xff\x51\x03\xff\xff\xff")] + notes(0, SCALE))]),
                 "dropped", "absurd tempo (3.576 qpm)"),
    "few.mid": (smf(0, [mtrk(notes(0, [60, 64, 67], beats=2))]), "dropped",
                "too few notes (3 < 8)"),
    "off_keys.mid": (smf(0, [mtrk(notes(0, [p - 55 for p in SCALE] + [p + 50 for p in SCALE]))]),
                     "dropped", "no notes on the piano keys (MIDI 21-108)"),
}




# --- the hostile inputs of issue 24 (each hung a command, or would fill the memory) --------

# 38 bytes: music21's ABC tokenizer spent over 300 s on it
TINY_HANG_ABC = "X:1\nM:99999/1\nL:99999/1\nK:C\nCDEFGABc|\n"


def one_line_abc(chars: int = 100_000) -> str:
    """A tune whose body is one line of ``chars`` characters (abc2midi: "file runaway")."""
    return "X:1\nT:long\nM:4/4\nL:1/8\nK:C\n" + ("CDEF GABc " * (chars // 10 + 1))[:chars] + "\n"


def many_notes(n: int, beats: float = 0.25) -> bytes:
    """Type 0, ``n`` consecutive notes of ``beats`` each."""
    return smf(0, [mtrk(notes(0, [48 + i % 36 for i in range(n)], beats=beats))])


def many_tracks(n: int) -> bytes:
    """Type 1, ``n`` tracks of one one-beat note each."""
    track = mtrk(notes(0, [60]))
    return smf(1, [track] * n)


def long_note(beats: float) -> bytes:
    """Type 0 at 120 qpm: a C, then one note ``beats`` long (77 hours = 554,400 beats)."""
    ev = [tempo(0, 120)] + notes(0, [60]) + [(TPQ, b"\x90\x40\x50"),
                                              (TPQ + round(beats * TPQ), b"\x80\x40\x00")]
    return smf(0, [mtrk(ev)])


def with_tempo(us_per_quarter: int) -> bytes:
    """Type 0, 8 notes under one raw tempo (microseconds per quarter; 0 is a zero tempo,
    1 is 60 million qpm)."""
    ev = [(0, b"\xff\x51\x03" + us_per_quarter.to_bytes(3, "big"))] + notes(0, SCALE)
    return smf(0, [mtrk(ev)])


def write_midi_folder(tmp_path: Path) -> Path:
    """:data:`FILES` under ``tmp_path/midis``, plus a README.txt that is not music."""
    root = tmp_path / "midis"
    for name, (data, _, _) in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "README.txt").write_text("not music")
    return root


MUSICXML = """<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="3.1">
  <part-list><score-part id="P1"><part-name>Violin</part-name></score-part></part-list>
  <part id="P1">
    <measure number="1">
      <attributes><divisions>1</divisions>
        <time><beats>4</beats><beat-type>4</beat-type></time></attributes>
      {notes}
    </measure>
  </part>
</score-partwise>
"""


def musicxml(steps: str = "CDEFGABC") -> str:
    notes = "".join(f"<note><pitch><step>{s}</step><octave>5</octave></pitch>"
                    f"<duration>1</duration></note>" for s in steps)
    return MUSICXML.format(notes=notes)


BOOK = """X:1
T:One
M:4/4
L:1/4
K:C
CDEF|GABc|cBAG|FEDC|]

X:2
T:Two
M:4/4
L:1/4
K:G
GABc|dcBA|G4|]
"""
