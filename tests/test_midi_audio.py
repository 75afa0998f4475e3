import wave

import pytest

from tunesmith.io.audio import fluidsynth_available, write_wav
from tunesmith.io.midi import read_midi, write_midi
from tunesmith.io.plots import write_pianoroll_png
from tunesmith.music import Note, Piece, Tempo, TimeSignature, Track

PIECE = Piece(
    tracks=[Track(notes=[Note(0.0, 1.0, 60, 90), Note(1.0, 1.5, 64, 70), Note(1.5, 3.0, 67)],
                  program=0), Track(notes=[Note(0.0, 3.0, 48, 60)], program=32)],
    tempos=[Tempo(0.0, 100.0), Tempo(2.0, 150.0)],
    time_signatures=[TimeSignature(0.0, 3, 4)],
)


def test_midi_round_trip(tmp_path):
    back = read_midi(write_midi(PIECE, tmp_path / "p.mid"))
    assert [t.notes for t in back.tracks] == [t.notes for t in PIECE.tracks]
    assert [t.program for t in back.tracks] == [0, 32]
    assert [(t.beat, round(t.qpm, 3)) for t in back.tempos] == [(0.0, 100.0), (2.0, 150.0)]
    assert back.time_signatures == PIECE.time_signatures


def test_a_time_signature_midi_cannot_hold_is_left_out_not_a_crash(tmp_path):
    """music21 reads a sampled tune's odd bar as e.g. 297/32; a MIDI time signature holds
    its numerator in a byte: the file is written with the notes and the other meters."""
    import dataclasses

    odd = dataclasses.replace(PIECE, time_signatures=[TimeSignature(0.0, 3, 4),
                                                      TimeSignature(2.0, 297, 32)])
    back = read_midi(write_midi(odd, tmp_path / "odd.mid"))
    assert [t.notes for t in back.tracks] == [t.notes for t in PIECE.tracks]
    assert back.time_signatures == [TimeSignature(0.0, 3, 4)]


def _beats(path) -> float:
    """How long the MIDI file is, in beats (symusic ends a track one tick after its last
    event)."""
    import mido

    midi = mido.MidiFile(path)
    return round(max(sum(m.time for m in t) for t in midi.tracks) / midi.ticks_per_beat, 2)


def test_a_midi_file_ends_on_the_bar_line_after_its_last_note(tmp_path):
    """As notation programs write it: a DAW or a loop player gets the whole last bar. The
    notes read back are the same; a piece that ends on a bar line gets nothing more."""
    import dataclasses

    assert _beats(write_midi(PIECE, tmp_path / "whole.mid")) == 3  # 3/4, ends at 3
    longer = dataclasses.replace(PIECE, tracks=[Track(notes=[Note(0.0, 4.0, 60)])])
    path = write_midi(longer, tmp_path / "longer.mid")
    assert _beats(path) == 6  # the second 3/4 bar's end
    assert read_midi(path).tracks[0].notes == longer.tracks[0].notes
    pickup = dataclasses.replace(longer, time_signatures=[TimeSignature(0.0, 1, 4),
                                                          TimeSignature(1.0, 4, 4)])
    assert _beats(write_midi(pickup, tmp_path / "pickup.mid")) == 5
    # a meter MIDI cannot hold is not the file's: its bar is not the file's either
    odd = dataclasses.replace(longer, time_signatures=[TimeSignature(0.0, 3, 4),
                                                       TimeSignature(2.0, 297, 32)])
    assert _beats(write_midi(odd, tmp_path / "odd.mid")) == 6
    free = dataclasses.replace(longer, time_signatures=[])
    assert _beats(write_midi(free, tmp_path / "free.mid")) == 4


def test_seconds_follow_the_tempo_map():
    assert PIECE.seconds(2.0) == pytest.approx(1.2)  # 2 beats at 100 qpm
    assert PIECE.seconds(3.0) == pytest.approx(1.6)  # + 1 beat at 150 qpm


@pytest.mark.skipif(not fluidsynth_available(), reason="libfluidsynth not installed")
def test_wav_has_sound_for_the_piece_duration(tmp_path):
    path = write_wav(PIECE, tmp_path / "p.wav")
    with wave.open(str(path)) as w:
        seconds = w.getnframes() / w.getframerate()
    assert seconds >= PIECE.duration_seconds


def test_pianoroll_png(tmp_path):
    assert write_pianoroll_png(PIECE, tmp_path / "p.png").stat().st_size > 1000


@pytest.mark.parametrize("active", [True, False])
def test_while_wavs_render_torch_uses_one_thread_and_the_gil_goes_round_fast(active):
    import sys

    import torch

    from tunesmith.cli.process import rendering_threads

    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # so that one thread inside is a change, even on a 1-core box
    try:
        before = torch.get_num_threads(), sys.getswitchinterval()
        with rendering_threads(active):
            inside = torch.get_num_threads(), sys.getswitchinterval()
        assert (torch.get_num_threads(), sys.getswitchinterval()) == before
        assert inside == ((1, pytest.approx(2e-4)) if active else before)
    finally:
        torch.set_num_threads(threads)
