"""Reader for the polyphonic piano-roll benchmarks of Boulanger-Lewandowski, Bengio &
Vincent (ICML 2012): JSB Chorales, Nottingham, MuseData and Piano-midi.de.

File format (JSON, or the original Python 2 pickles)::

    {"train": [sequence, ...], "valid": [...], "test": [...]}

A sequence is a non-empty list of frames; a frame is a list of the MIDI note numbers
(ints 21..108) that sound during it; ``[]`` is a silent frame. JSB Chorales has one frame
per quarter note, the other three sets one per eighth (see :data:`DATASETS`). Other
top-level keys are ignored. A note repeated within a frame is accepted and counts once
(a frame is a *set* of sounding keys; the published files never repeat one).

:func:`read_boulanger` returns each split as a list of ``(T, 88)`` uint8 piano rolls
(column ``k`` is MIDI note ``21 + k``), the layout of
:class:`tunesmith.representations.pianoroll.PianoRoll`.

Pickles are read with a restricted unpickler that resolves **no** global name at all (no
class, no function) and no persistent id, so loading one cannot run code: a file that
needs any is refused, naming what it asked for. The loaded structure must then hold only
dicts, lists, ints and strings.

Every problem with a file is a one-line :class:`TunesmithError` naming the file and where
in it: ``split 'valid', sequence 2, frame 17: note 12 outside 21-108``. Sequence and
frame numbers count from 0, as Python indexes the lists.
"""

from __future__ import annotations

import json
import pickle
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import NoReturn

import numpy as np

from tunesmith.errors import TunesmithError
from tunesmith.io.limits import check_file_size, limits
from tunesmith.io.paths import input_file
from tunesmith.representations.pianoroll import HIGH, LOW, N_KEYS, frames_from_notes

SPLITS = ("train", "valid", "test")
SUFFIXES = (".json", ".pickle", ".pkl")
_ACCEPTED = "only lists, dicts, ints and strings are accepted"


@dataclass(frozen=True)
class BoulangerSet:
    key: str  # short name used on the command line
    name: str  # display name
    files: tuple[str, ...]  # file names to look for, in order of preference
    steps_per_beat: int  # frames per quarter note


DATASETS: dict[str, BoulangerSet] = {s.key: s for s in (
    BoulangerSet("jsb", "JSB Chorales", ("jsb_chorales.json", "JSB Chorales.pickle"), 1),
    BoulangerSet("nottingham", "Nottingham", ("nottingham.json", "Nottingham.pickle"), 2),
    BoulangerSet("musedata", "MuseData", ("musedata.json", "MuseData.pickle"), 2),
    BoulangerSet("piano", "Piano-midi.de", ("piano_midi_de.json", "Piano-midi.de.pickle"), 2),
)}


def find_dataset(folder: str | Path, key: str) -> Path:
    """The first of ``DATASETS[key].files`` that exists in ``folder``."""
    if key not in DATASETS:
        raise TunesmithError(f"unknown Boulanger data set {key!r}; choose one of "
                             f"{', '.join(DATASETS)}")
    folder = Path(folder)
    if not folder.is_dir():
        raise TunesmithError("no such folder", folder)
    spec = DATASETS[key]
    for name in spec.files:
        if (folder / name).is_file():
            return folder / name
    raise TunesmithError(f"no {spec.name} file here; looked for "
                         f"{', '.join(repr(n) for n in spec.files)}", folder)


def is_boulanger_file(path: str | Path) -> bool:
    """True for an existing ``.json`` / ``.pickle`` / ``.pkl`` file: the CLI reads such a
    corpus path with :func:`read_boulanger` (and keeps its train/valid/test split). Looks
    at the name only; the content is checked when it is read."""
    path = Path(path)
    return path.suffix.lower() in SUFFIXES and path.is_file()


def dataset_for(path: str | Path) -> BoulangerSet | None:
    """The entry of :data:`DATASETS` whose file names include ``path``'s (ignoring case),
    e.g. to know a file's ``steps_per_beat``; None for any other name."""
    name = Path(path).name.lower()
    return next((s for s in DATASETS.values() if name in (f.lower() for f in s.files)),
                None)


def read_boulanger(path: str | Path) -> dict[str, list[np.ndarray]]:
    """``{"train": [...], "valid": [...], "test": [...]}``, each sequence a ``(T, 88)``
    uint8 piano roll. TunesmithError (one line, naming the file) for any problem."""
    path = Path(path)
    input_file(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise TunesmithError(f"not a Boulanger piano-roll file: expected a name ending in "
                             f"{', '.join(SUFFIXES)}", path)
    check_file_size(path)
    if suffix == ".json":
        return _rolls(_load_json(path), path)
    return _rolls_from_pickle(path)


def _rolls(data, path: Path) -> dict[str, list[np.ndarray]]:
    """Check the loaded structure and turn every sequence into a piano roll."""
    if not isinstance(data, dict):
        raise TunesmithError(f"expected a dict with keys 'train', 'valid', 'test', found "
                             f"{_kind(data)}", path)
    for split in SPLITS:
        if split not in data:
            found = ", ".join(_short(k) for k in list(data)[:6]) or "none"
            raise TunesmithError(f"missing split {split!r} (keys found: {found})", path)
    out = {}
    for split in SPLITS:
        seqs = data[split]
        if not isinstance(seqs, list):
            raise TunesmithError(f"split {split!r}: expected a list of sequences, found "
                                 f"{_kind(seqs)}", path)
    _check_unpacked_size(data, path)
    for split in SPLITS:
        seqs = data[split]
        rolls = []
        for i, seq in enumerate(seqs):
            try:
                rolls.append(_roll(seq))
            except _BadData as e:
                raise TunesmithError(f"split {split!r}, sequence {i}{e}", path) from None
        out[split] = rolls
    return out


def _check_unpacked_size(data: dict, path: Path) -> None:
    """The piano rolls the file unpacks to (88 bytes a frame, 8 a note) must fit the
    ``file_bytes`` limit, counted before any is made: a pickle may hold one list many
    times over by reference, so 800 KB of pickle can stand for 10^10 frames (880 GB),
    which took the reader past every time limit. The frames are counted first (one
    ``len`` per sequence), the notes only once the frames are within the limit."""
    limit = limits().file_bytes
    seqs = [seq for split in SPLITS for seq in data[split] if isinstance(seq, list)]
    size = N_KEYS * sum(map(len, seqs))
    if size <= limit:
        size += 8 * sum(len(frame) for seq in seqs for frame in seq
                        if isinstance(frame, list))
    limits().check("file_bytes", size, "piano rolls unpacked (bytes)", path)


def frames_summary(splits: dict[str, list[np.ndarray]]) -> dict[str, dict]:
    """Per split: ``sequences``, ``frames`` (their total), and the lowest and highest MIDI
    note that sounds (``low`` / ``high``; None in a split without notes)."""
    out = {}
    for split, rolls in splits.items():
        keys = np.zeros(N_KEYS, bool)
        for r in rolls:
            keys |= np.asarray(r).any(axis=0)
        sounding = np.flatnonzero(keys)
        out[split] = {"sequences": len(rolls), "frames": sum(len(r) for r in rolls),
                      "low": int(sounding[0]) + LOW if sounding.size else None,
                      "high": int(sounding[-1]) + LOW if sounding.size else None}
    return out


# --- loading ------------------------------------------------------------------------------

def _load_json(path: Path):
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise TunesmithError(f"cannot read: {e.strerror or e}", path) from None
    except UnicodeDecodeError as e:
        raise TunesmithError(f"not UTF-8 text (byte {e.start}); expected JSON", path) from None
    if not text.strip():
        raise TunesmithError("the file is empty (expected the benchmark's JSON: train, valid "
                             "and test lists of pieces)", path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise TunesmithError(f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}",
                             path) from None
    except RecursionError:  # absurdly deep nesting: no benchmark file looks like that
        raise TunesmithError("not valid JSON: nested too deeply", path) from None


class _Refused(pickle.UnpicklingError):
    """A pickle asked for something a plain-container pickle never needs."""


class _ContainersOnly(pickle.Unpickler):
    """An unpickler that resolves no global name and no persistent id.

    Code runs during unpickling only through a callable the pickle names (GLOBAL /
    STACK_GLOBAL / EXT opcodes, all of which go through :meth:`find_class`, then REDUCE,
    NEWOBJ, INST, OBJ or BUILD) or through :meth:`persistent_load`. Refusing both leaves
    only the built-in containers and scalars the opcodes make themselves.
    """

    def find_class(self, module, name):
        raise _Refused(f"an object of type {module}.{name}")

    def persistent_load(self, pid):
        raise _Refused(f"a persistent reference {str(pid)[:40]!r}")


# what a truncated or foreign file raises inside the unpickler (no code of the file's runs)
_PICKLE_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, KeyError, IndexError,
                  TypeError, AttributeError, struct.error, UnicodeDecodeError, OverflowError,
                  RecursionError, MemoryError)


def _rolls_from_pickle(path: Path) -> dict[str, list[np.ndarray]]:
    """Unpickle, check and convert in a child process, and take back only numpy arrays
    (``.npz`` read with ``allow_pickle=False``).

    The restricted unpickler already refuses every global, so no code of the file runs;
    the child process is for the one attack left: a crafted pickle of containers nested
    hundreds of thousands deep overflows the C stack while CPython builds or hashes it,
    which kills the process outright (no exception to catch). Here that kills only the
    child, and the user gets a one-line error; a child that runs longer than the
    ``parse_seconds`` limit is killed too."""
    import os
    import subprocess
    import sys
    import tempfile

    import tunesmith

    env = dict(os.environ)
    src = str(Path(tunesmith.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="tunesmith-pickle-") as tmp:
        out = Path(tmp) / "rolls.npz"
        code = ("import sys; from tunesmith.io.boulanger import _pickle_child; "
                "sys.exit(_pickle_child(sys.argv[1], sys.argv[2]))")
        seconds = limits().parse_seconds
        try:
            done = subprocess.run([sys.executable, "-c", code, str(path), str(out)],
                                  capture_output=True, text=True, env=env, timeout=seconds)
        except subprocess.TimeoutExpired:  # run() has killed it
            from tunesmith.io.deadline import timeout_reason

            raise TunesmithError(timeout_reason(seconds), path) from None
        if done.returncode == 3:  # a TunesmithError in the child: its one line
            raise TunesmithError(done.stderr.strip().splitlines()[-1])
        if done.returncode != 0 or not out.is_file():
            how = (f"signal {-done.returncode}" if done.returncode < 0
                   else f"exit {done.returncode}")
            raise TunesmithError(f"not a readable pickle (the unpickling process ended "
                                 f"with {how})", path)
        with np.load(out, allow_pickle=False) as z:
            return {split: np.split(z[f"{split}_frames"], np.cumsum(z[f"{split}_lengths"])[:-1])
                    if len(z[f"{split}_lengths"]) else [] for split in SPLITS}


def _pickle_child(path: str, out: str) -> int:
    """The child's side of :func:`_rolls_from_pickle`: 0 and an .npz, or 3 and one line."""
    import sys

    try:
        rolls = _rolls(_load_pickle(Path(path)), Path(path))
    except TunesmithError as e:
        print(str(e).replace("\n", " "), file=sys.stderr)
        return 3
    arrays = {}
    for split, seqs in rolls.items():
        arrays[f"{split}_frames"] = (np.concatenate(seqs) if seqs
                                     else np.zeros((0, N_KEYS), np.uint8))
        arrays[f"{split}_lengths"] = np.array([len(x) for x in seqs], dtype=np.int64)
    np.savez(out, **arrays)
    return 0


def _load_pickle(path: Path):
    # a buffered file, not io.BytesIO: the C unpickler reads a BytesIO opcode by opcode,
    # about twice as slowly (MuseData as a protocol 0 pickle: 2.6 s instead of 1.4 s)
    try:
        with path.open("rb") as f:
            # latin1: the original files are Python 2 pickles, whose byte strings
            # ('train') must come back as str; latin1 maps every byte, so it never fails
            return _ContainersOnly(f, encoding="latin1").load()
    except _Refused as e:
        raise TunesmithError(f"refusing to load: it holds {e}; {_ACCEPTED}", path) from None
    except OSError as e:
        raise TunesmithError(f"cannot read: {e.strerror or e}", path) from None
    except _PICKLE_ERRORS as e:
        raise TunesmithError(f"not a readable pickle ({type(e).__name__}: "
                             f"{str(e).strip()[:80]})", path) from None


# --- checking and converting ------------------------------------------------------------

class _BadData(Exception):
    """What is wrong in one sequence; the message starts with ': ' or ', frame N: '."""


def _roll(seq) -> np.ndarray:
    """One sequence (a list of frames, each a list of MIDI ints) -> ``(T, 88)`` uint8.

    Vectorised: the per-note checks run in C (``map``/``set``/numpy), which keeps the
    390,000 frames of MuseData to a fraction of a second; the slow loop in
    :func:`_locate` runs only to say where a problem is."""
    if not isinstance(seq, list):
        raise _BadData(f": expected a list of frames, found {_kind(seq)}")
    if not seq:
        raise _BadData(": empty sequence")
    if set(map(type, seq)) != {list}:
        _locate(seq)
    flat = list(chain.from_iterable(seq))
    if not set(map(type, flat)) <= {int}:  # bool is a subclass of int: type() excludes it
        _locate(seq)
    try:
        notes = np.array(flat, dtype=np.int64)
    except OverflowError:  # an int beyond 64 bits: certainly out of range
        _locate(seq)
    if notes.size and (notes.min() < LOW or notes.max() > HIGH):
        _locate(seq)
    return frames_from_notes(np.fromiter(map(len, seq), dtype=np.int64, count=len(seq)), notes)


def _locate(seq: Sequence) -> NoReturn:
    """Raise :class:`_BadData` for the first bad frame or note of ``seq``."""
    for j, frame in enumerate(seq):
        if not isinstance(frame, list):
            raise _BadData(f", frame {j}: expected a list of MIDI notes, found "
                           f"{_kind(frame)}")
        for p in frame:
            if type(p) is not int:
                raise _BadData(f", frame {j}: expected MIDI notes (ints), found {_kind(p)}")
            if not LOW <= p <= HIGH:
                raise _BadData(f", frame {j}: note {_short(p)} outside {LOW}-{HIGH}")
    raise AssertionError("_locate found nothing wrong")  # the fast checks disagree: a bug


def _kind(x) -> str:
    """``x`` for a message: its type, and its value when that is short."""
    if isinstance(x, (list, dict, tuple, set, frozenset)):
        return f"a {type(x).__name__} of length {len(x)}"
    return f"{type(x).__name__} {_short(x)}"


def _short(x) -> str:
    text = repr(x)
    return text if len(text) <= 30 else text[:27] + "..."
