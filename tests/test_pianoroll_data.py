"""The piano-roll representation and the Boulanger-Lewandowski (2012) benchmark reader.

A piano roll is a ``(T, 88)`` 0/1 array: frame ``t`` covers beats ``[t/spb, (t+1)/spb)``,
column ``k`` is MIDI note ``21 + k``. The benchmark files hold the same frames as lists of
MIDI numbers: ``{"train": [[[60, 64], [], ...], ...], "valid": [...], "test": [...]}``.
"""

from __future__ import annotations

import builtins
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from tunesmith import representations
from tunesmith.errors import TunesmithError
from tunesmith.io.boulanger import (
    DATASETS,
    dataset_for,
    find_dataset,
    frames_summary,
    is_boulanger_file,
    read_boulanger,
)
from tunesmith.music import Note, Piece, Tempo, Track
from tunesmith.representations.pianoroll import N_KEYS, PianoRoll

BOULANGER = Path(__file__).resolve().parents[2] / "shared" / "data" / "boulanger2012"


def piece(*notes: Note, drums: tuple[Note, ...] = ()) -> Piece:
    tracks = [Track(notes=list(notes))]
    if drums:
        tracks.append(Track(notes=list(drums), is_drum=True))
    return Piece(tracks=tracks)


# --- the representation ------------------------------------------------------------------

def test_notes_on_the_grid_round_trip_exactly():
    rep = PianoRoll(steps_per_beat=2)  # eighth-note frames
    p = piece(Note(0.0, 1.0, 60), Note(0.0, 2.0, 64), Note(1.5, 2.0, 67), Note(3.0, 3.5, 21),
              Note(2.5, 4.0, 108))
    frames = rep.encode(p)
    assert frames.shape == (8, N_KEYS) and frames.dtype == np.uint8
    assert frames[:, 60 - 21].tolist() == [1, 1, 0, 0, 0, 0, 0, 0]
    assert frames[:, 67 - 21].tolist() == [0, 0, 0, 1, 0, 0, 0, 0]
    back = rep.decode(frames)
    assert back.notes == p.notes
    assert [t.qpm for t in back.tempos] == [120.0]
    assert [(t.program, t.is_drum) for t in back.tracks] == [(0, False)]


def test_off_grid_notes_reach_a_fixed_point_after_one_round_trip():
    rep = PianoRoll(steps_per_beat=4)
    p = piece(Note(0.1, 0.2, 60), Note(0.33, 1.01, 62), Note(2.9, 3.0, 64))
    once = rep.quantise(p)
    assert rep.encode(once).tolist() == rep.encode(p).tolist()
    assert rep.quantise(once).notes == once.notes
    # a note shorter than a frame keeps one frame (it never vanishes, never has length 0)
    assert Note(0.0, 0.25, 60, 80) in once.notes
    assert all(n.end > n.start for n in once.notes)


def test_re_striking_a_held_key_merges_into_one_note():
    rep = PianoRoll(steps_per_beat=1)
    back = rep.quantise(piece(Note(0, 1, 60), Note(1, 2, 60)))
    assert back.notes == [Note(0.0, 2.0, 60, 80)]  # 1, 1 in a binary roll is one note


def test_silence_drums_and_keys_off_the_piano():
    rep = PianoRoll()
    assert rep.encode(Piece()).shape == (0, N_KEYS)
    assert rep.decode(np.zeros((0, N_KEYS))).notes == []
    assert rep.decode([]).notes == []
    frames = rep.encode(piece(Note(0, 1, 20), Note(0, 1, 109), Note(1, 2, 60),
                              drums=(Note(0, 8, 36),)))
    assert frames.shape == (4, N_KEYS)  # the drum note (8 beats) does not set T
    assert PianoRoll.to_lists(frames) == [[], [], [60], [60]]  # leading silence kept


def test_decode_accepts_bool_int_and_probabilities():
    rep = PianoRoll(steps_per_beat=1, qpm=90.0, velocity=100)
    probs = np.zeros((3, N_KEYS))
    probs[0:2, 39] = [0.9, 0.6]
    probs[2, 39] = 0.5  # not above 0.5: off
    for frames in (probs, probs > 0.5, (probs > 0.5).astype(int)):
        back = rep.decode(frames)
        assert back.notes == [Note(0.0, 2.0, 60, 100)] and back.tempos == [Tempo(0.0, 90.0)]
    with pytest.raises(ValueError, match="shape"):
        rep.decode(np.zeros((3, 87)))


def test_every_binary_roll_is_a_fixed_point():
    rng = np.random.default_rng(0)
    rep = PianoRoll(steps_per_beat=3)
    frames = (rng.random((50, N_KEYS)) < 0.2).astype(np.uint8)
    assert np.array_equal(rep.encode(rep.decode(frames)), frames[:_last_on(frames) + 1])


def _last_on(frames) -> int:
    return int(np.flatnonzero(frames.any(axis=1))[-1])


def test_lists_round_trip():
    seq = [[60, 64, 67], [], [21, 108], [60]]
    frames = PianoRoll.from_lists(seq)
    assert frames.shape == (4, N_KEYS) and frames.dtype == np.uint8
    assert PianoRoll.to_lists(frames) == seq
    assert PianoRoll.to_lists(PianoRoll.from_lists([[67, 60, 60]])) == [[60, 67]]
    with pytest.raises(ValueError, match="note 12 outside 21-108"):
        PianoRoll.from_lists([[60], [12]])


def test_transpose_drops_keys_pushed_off_the_keyboard():
    frames = PianoRoll.from_lists([[21, 60, 108]])
    assert PianoRoll.to_lists(PianoRoll.transpose(frames, 2)) == [[23, 62]]
    assert PianoRoll.to_lists(PianoRoll.transpose(frames, -2)) == [[58, 106]]
    assert PianoRoll.to_lists(PianoRoll.transpose(frames, 100)) == [[]]


def test_dict_round_trip_registry_and_validation():
    rep = PianoRoll(steps_per_beat=1, qpm=100.0, velocity=64)
    d = rep.to_dict()
    assert d == {"name": "pianoroll", "steps_per_beat": 1, "qpm": 100.0, "velocity": 64,
                 "low": 21, "high": 108}
    assert json.loads(json.dumps(d)) == d
    assert representations.from_dict(d) == rep
    assert representations.REGISTRY["pianoroll"] is PianoRoll
    assert rep.heads == {"frame": 88}
    with pytest.raises(ValueError, match="keys"):
        PianoRoll.from_dict({**d, "low": 0})
    with pytest.raises(ValueError, match="name"):
        PianoRoll.from_dict({**d, "name": "events"})
    for bad in ({"steps_per_beat": 0}, {"steps_per_beat": 49}, {"qpm": 0.0},
                {"velocity": 0}, {"velocity": 128}):
        with pytest.raises(ValueError):
            PianoRoll(**bad)


# --- the benchmark reader ------------------------------------------------------------------

SPLITS = {
    "train": [[[60, 64, 67], [60, 64, 67], [], [62]], [[43], [96, 43]]],
    "valid": [[[72]]],
    "test": [[[21, 108], [55]]],
}


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


def py2_pickle(x) -> bytes:
    """``x`` as Python 2's ``pickle.dumps(x)`` wrote it (protocol 0): byte strings as
    ``S'...'``, which only load as str with ``encoding='latin1'``."""
    def dump(v) -> str:
        if isinstance(v, dict):
            return "(d" + "".join(f"S'{k}'\n{dump(w)}s" for k, w in v.items())
        if isinstance(v, list):
            return "(l" + "".join(dump(w) + "a" for w in v)
        return f"I{v}\n"
    return (dump(x) + ".").encode("ascii")


def as_lists(splits) -> dict:
    return {k: [PianoRoll.to_lists(r) for r in rolls] for k, rolls in splits.items()}


def test_read_json_gives_one_roll_per_sequence(tmp_path):
    splits = read_boulanger(write_json(tmp_path / "tiny.json", {**SPLITS, "extra": 1.5}))
    assert list(splits) == ["train", "valid", "test"]  # extra keys are ignored
    assert [r.shape for r in splits["train"]] == [(4, 88), (2, 88)]
    assert all(r.dtype == np.uint8 for rolls in splits.values() for r in rolls)
    assert as_lists(splits) == {**SPLITS, "train": [SPLITS["train"][0], [[43], [43, 96]]]}
    assert frames_summary(splits) == {
        "train": {"sequences": 2, "frames": 6, "low": 43, "high": 96},
        "valid": {"sequences": 1, "frames": 1, "low": 72, "high": 72},
        "test": {"sequences": 1, "frames": 2, "low": 21, "high": 108}}


@pytest.mark.parametrize("protocol", [0, 2])
def test_pickles_load_like_json(tmp_path, protocol):
    expected = as_lists(read_boulanger(write_json(tmp_path / "tiny.json", SPLITS)))
    path = tmp_path / "tiny.pickle"
    path.write_bytes(pickle.dumps(SPLITS, protocol=protocol))
    assert as_lists(read_boulanger(path)) == expected


def test_python2_pickle_loads(tmp_path):
    path = tmp_path / "JSB Chorales.pickle"
    path.write_bytes(py2_pickle(SPLITS))
    assert as_lists(read_boulanger(path))["valid"] == [[[72]]]


class RunsShell:
    """Unpickling this (with plain ``pickle.load``) would run a shell command."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class RunsEval:
    def __init__(self, code: str):
        self.code = code

    def __reduce__(self):
        return builtins.eval, (self.code,)


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_malicious_pickles_are_refused_without_running_anything(tmp_path, protocol):
    pwned = tmp_path / "pwned"
    payloads = [
        (RunsShell(f"touch '{pwned}'"), f"{os.system.__module__}.system"),  # posix.system
        (RunsEval(f"open({str(pwned)!r}, 'w')"),
         "builtins.eval" if protocol >= 3 else "__builtin__.eval"),  # Python 2 name
    ]
    for obj, global_name in payloads:
        path = tmp_path / "evil.pickle"
        path.write_bytes(pickle.dumps({**SPLITS, "train": [[obj]]}, protocol=protocol))
        with pytest.raises(TunesmithError) as err:
            read_boulanger(path)
        message = str(err.value)
        assert message.startswith(f"{path}: refusing to load")
        assert global_name in message and "\n" not in message
        assert not pwned.exists()


def test_persistent_ids_are_refused(tmp_path):
    path = tmp_path / "persistent.pkl"
    path.write_bytes(b"Pdatabase row 7\n.")  # protocol 0 PERSID opcode
    with pytest.raises(TunesmithError, match="refusing to load: it holds a persistent"):
        read_boulanger(path)


@pytest.mark.parametrize("data, where", [
    ([SPLITS["train"]], "expected a dict with keys 'train', 'valid', 'test', found a list"),
    ({"train": [], "valid": []}, "missing split 'test'"),
    ({**SPLITS, "valid": {"a": 1}}, "split 'valid': expected a list of sequences"),
    ({**SPLITS, "train": [[[60]], [[60]], [[60]], []]}, "split 'train', sequence 3: empty"),
    ({**SPLITS, "train": [[[60]], "C major"]}, "split 'train', sequence 1: expected a list"),
    ({**SPLITS, "valid": [[[60]], [[60]], [[60]] * 17 + [[60, 12]]]},
     "split 'valid', sequence 2, frame 17: note 12 outside 21-108"),
    ({**SPLITS, "test": [[[109]]]}, "split 'test', sequence 0, frame 0: note 109 outside"),
    ({**SPLITS, "test": [[[60.0]]]}, "split 'test', sequence 0, frame 0: expected MIDI notes "
                                     "\\(ints\\), found float 60.0"),
    ({**SPLITS, "test": [[60]]}, "split 'test', sequence 0, frame 0: expected a list of MIDI"),
    ({**SPLITS, "test": [[[True]]]}, "frame 0: expected MIDI notes \\(ints\\), found bool"),
    ({**SPLITS, "test": [[[None]]]}, "found NoneType"),
])
def test_malformed_files_name_the_place(tmp_path, data, where):
    path = write_json(tmp_path / "bad.json", data)
    with pytest.raises(TunesmithError, match=where) as err:
        read_boulanger(path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


@pytest.mark.parametrize("value, found", [
    ((60, 64), "a tuple"), (b"60", "bytes"), ({60}, "a set"), (None, "NoneType"),
    (1.5, "float"), (True, "bool"),
])
def test_pickles_hold_only_lists_dicts_ints_and_strings(tmp_path, value, found):
    # protocol 5 makes tuples, bytes and sets with opcodes of their own, without a global
    # (protocol 2 pickles bytes and sets through a global, which is refused outright)
    path = tmp_path / "odd.pickle"
    path.write_bytes(pickle.dumps({**SPLITS, "test": [[[60], value]]}, protocol=5))
    with pytest.raises(TunesmithError, match=f"split 'test', sequence 0, frame 1: "
                                             f"expected .*, found {found}"):
        read_boulanger(path)


@pytest.mark.parametrize("name, content, problem", [
    ("bad.json", b'{"train": [', "not valid JSON: Expecting value at line 1 column 12"),
    ("latin1.json", b'{"t\xe9st": []}', "not UTF-8 text"),
    ("empty.json", b" \n", "the file is empty"),
    ("text.pickle", b"hello, world", "not a readable pickle"),
    ("empty.pkl", b"", "not a readable pickle"),
    ("notes.txt", b"{}", "expected a name ending in .json, .pickle, .pkl"),
])
def test_unreadable_files(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(TunesmithError, match=problem):
        read_boulanger(path)
    with pytest.raises(TunesmithError, match="no such file"):
        read_boulanger(tmp_path / "missing.json")


def test_dataset_registry_and_lookup(tmp_path):
    assert {k: (s.name, s.steps_per_beat) for k, s in DATASETS.items()} == {
        "jsb": ("JSB Chorales", 1), "nottingham": ("Nottingham", 2),
        "musedata": ("MuseData", 2), "piano": ("Piano-midi.de", 2)}
    (tmp_path / "Piano-midi.de.pickle").write_bytes(py2_pickle(SPLITS))
    assert find_dataset(tmp_path, "piano") == tmp_path / "Piano-midi.de.pickle"
    write_json(tmp_path / "piano_midi_de.json", SPLITS)  # the JSON name comes first
    assert find_dataset(tmp_path, "piano") == tmp_path / "piano_midi_de.json"
    with pytest.raises(TunesmithError, match="looked for 'jsb_chorales.json', 'JSB Chorales"):
        find_dataset(tmp_path, "jsb")
    with pytest.raises(TunesmithError, match="unknown Boulanger data set 'bach'"):
        find_dataset(tmp_path, "bach")
    assert is_boulanger_file(tmp_path / "piano_midi_de.json")
    assert not is_boulanger_file(tmp_path / "missing.json")
    assert not is_boulanger_file(tmp_path)
    assert dataset_for(tmp_path / "Nottingham.pickle") is DATASETS["nottingham"]
    assert dataset_for("tunes.json") is None


def test_real_jsb_chorales():
    folder = BOULANGER
    if not (folder / "jsb_chorales.json").is_file():
        pytest.skip(f"no Boulanger benchmark files at {folder}")
    splits = read_boulanger(find_dataset(folder, "jsb"))
    summary = frames_summary(splits)
    assert [summary[s]["sequences"] for s in ("train", "valid", "test")] == [229, 76, 77]
    assert summary["train"]["frames"] == 13_807
    assert (summary["train"]["low"], summary["train"]["high"]) == (43, 96)
    assert max(int(r.sum(axis=1).max()) for r in splits["train"]) == 4  # four voices


def test_a_pickle_that_crashes_the_interpreter_is_only_a_one_line_error(tmp_path):
    # a tuple nested 200,000 deep used as a dict key: hashing it overflows CPython's C
    # stack and kills the process; the reader unpickles in a child process
    path = tmp_path / "deep.pickle"
    path.write_bytes(b"\x80\x02}K\x01" + b"\x85" * 200_000 + b"K\x01s.")
    with pytest.raises(TunesmithError, match="not a readable pickle") as err:
        read_boulanger(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_a_pickle_of_shared_references_is_refused_before_it_is_unpacked(tmp_path):
    """Found by the fuzz suite (issue 24): plain lists only, but each split holds 100,000
    references to one sequence of 100,000 references to one frame; 800 KB that stand for
    10^10 frames. Counted before any roll is made, it is refused at once."""
    seq = [[60, 64, 67]] * 100_000
    path = tmp_path / "bomb.pickle"
    path.write_bytes(pickle.dumps({"train": [seq] * 100_000, "valid": [seq],
                                   "test": [seq]}, protocol=2))
    with pytest.raises(TunesmithError, match=r"piano rolls unpacked \(bytes\): 880,01") as err:
        read_boulanger(path)
    assert str(err.value).startswith(str(path)) and "(file_bytes;" in str(err.value)


def test_a_piano_roll_file_is_measured_unpacked_and_on_disk(tmp_path, monkeypatch):
    path = tmp_path / "rolls.json"
    path.write_text(json.dumps(SPLITS))
    assert len(read_boulanger(path)["train"]) == 2
    monkeypatch.setenv("TUNESMITH_LIMITS", "file_bytes=900")
    with pytest.raises(TunesmithError, match=r"unpacked \(bytes\): 904 is over"):
        read_boulanger(path)  # ~150 bytes of JSON: 9 frames x 88 + 14 notes x 8
    monkeypatch.setenv("TUNESMITH_LIMITS", "file_bytes=50")
    with pytest.raises(TunesmithError, match=r"file size \(bytes\)"):
        read_boulanger(path)
