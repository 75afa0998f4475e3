"""What each command that reads a user's file is given: a :class:`~tests.fuzz.runner.Case`
per input, from the hostile files (:mod:`tests.fuzz.hostile`) and from Hypothesis
strategies that damage a valid file (:mod:`tests.fuzz.mutate`).

The commands: ``render``, ``analyze``, ``compose --primer`` (the events and piano-roll
models), ``prepare`` and ``train`` on a folder corpus, ``--config`` files,
``train --family pianoroll`` / ``evaluate`` / ``benchmark boulanger`` on Boulanger
files, and ``compose --model``, ``evaluate --model``, ``export`` and ``train --resume``
on damaged checkpoint and run folders (beside folders named like a checkpoint's
leftovers, ``model.tmp-1``, ``model.old``, which no reader may touch).

:data:`HOSTILE` maps an id to a function of the :class:`Models` that makes its case;
:data:`GROUPS` lists the strategies by (command, kind of input), with the share of the
drawn cases each gets (:func:`share`).
"""

from __future__ import annotations

import json
import pickle
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

from tests.conftest import make_tune
from tests.fuzz import hostile
from tests.fuzz.hostile import Sparse
from tests.fuzz.mutate import damaged
from tests.fuzz.runner import Case
from tests.music_files import BOOK, musicxml


@dataclass(frozen=True)
class Models:
    """The checkpoints the model commands are given (copied into each case's sandbox)."""

    run: str  # a run folder of the abc family: config.json, best/, last/, metrics.csv
    events: str  # a checkpoint folder of the events family
    pianoroll: str  # a checkpoint folder of the piano-roll family
    frames: str = ""  # a piano-roll checkpoint without inputs: it reads benchmark files

    @classmethod
    def with_run(cls, run: str | Path, frames: str | Path = "") -> Models:
        """``run``, the shipped events and piano-roll models, and ``frames`` (the shipped
        piano-roll model reads bars and fermatas, which a benchmark file has not)."""
        from tunesmith import families

        return cls(str(run), str(families.pretrained_dir("events")),
                   str(families.pretrained_dir("pianoroll")), str(frames))

    def checkpoint(self, family: str) -> str:
        return str(Path(self.run) / "best") if family == "abc" else getattr(self, family)


SUFFIX = {"midi": ".mid", "abc": ".abc", "musicxml": ".musicxml", "mxl": ".mxl"}
DECOYS = (("model.tmp-important/notes.txt", b"keep me"), ("model.old/notes.txt", b"keep me"),
          ("run.tmp-1/notes.txt", b"keep me"))


def book(tunes: int = 40) -> bytes:
    """An ABC book of ``tunes`` fixture tunes (enough for train / valid / test)."""
    import random

    rng = random.Random(0)
    return "\n".join(make_tune(i + 1, rng) for i in range(tunes)).encode()


def _piano_rolls() -> bytes:
    """A small Boulanger-format corpus (JSON): 3 + 2 + 2 sequences of chords."""
    seq = [[60, 64, 67], [62, 65], [], [64, 67, 72], [60]] * 4
    return json.dumps({"train": [seq] * 3, "valid": [seq] * 2, "test": [seq] * 2}).encode()


# --- the commands, given one file ----------------------------------------------------------

def render(name: str, data: bytes, kind: str) -> Case:
    return Case("render", kind, name, ("render", name, "--to", "both", "--out", "out"),
                files=((name, data),), outputs=("out",))


def analyze(name: str, data: bytes, kind: str) -> Case:
    return Case("analyze", kind, name, ("analyze", name, "--out", "analysis", "--no-progress"),
                files=((name, data),), outputs=("analysis",))


def primer(name: str, data: bytes, kind: str, family: str = "events") -> Case:
    return Case("compose --primer", kind, name,
                ("compose", "--family", family, "--primer", name, "--num", "1", "--max-len", "8",
                 "--no-wav", "--seed", "1", "--out", "composed", "--no-progress"),
                files=((name, data),), outputs=("composed",))


def prepare(name: str, data: bytes, kind: str) -> Case:
    """The file in a folder beside a valid MIDI file."""
    return Case("prepare", kind, name,
                ("prepare", "--corpus", "corpus", "--report", "report.csv", "--no-progress"),
                files=((f"corpus/{name}", data), ("corpus/good.mid", hostile.seed_midi())),
                outputs=("report.csv",))


def train(name: str, data: bytes, kind: str, family: str = "abc") -> Case:
    """Two steps of a debug model on a folder corpus that holds the file beside valid
    ones (40 tunes for the abc family; MIDI, MusicXML and ABC for the others)."""
    good = ((("corpus/book.abc", book()),) if family == "abc" else
            (("corpus/a.mid", hostile.seed_midi()), ("corpus/b.musicxml", musicxml().encode()),
             ("corpus/c.abc", BOOK.encode())))
    return Case(f"train {family}", kind, name,
                ("train", "--family", family, "--preset", "debug", "--corpus", "corpus", "--out",
                 "run", "--steps", "2", "--samples", "0", "--no-progress"),
                files=((f"corpus/{name}", data), *good), outputs=("run",))


def config(name: str, data: bytes | Sparse, command: str) -> Case:
    """A ``--config`` file for ``render`` or ``compose``."""
    argv = {"render": ("render", "good.mid", "--to", "png", "--out", "out"),
            "compose": ("compose", "--family", "events", "--num", "1", "--max-len", "8",
                        "--no-wav", "--out", "out", "--no-progress")}[command]
    return Case(f"{command} --config", "config", name, (*argv, "--config", name),
                files=((name, data), ("good.mid", hostile.seed_midi())), outputs=("out",))


def boulanger(name: str, data: bytes, kind: str, command: str, models: Models) -> Case:
    """A Boulanger piano-roll file for ``train --family pianoroll``, ``evaluate`` (the
    piano-roll model) or ``benchmark boulanger`` (as JSB Chorales)."""
    if command == "benchmark":
        target = ("data/jsb_chorales.json" if name.endswith(".json")
                  else "data/JSB Chorales.pickle")
        return Case("benchmark boulanger", kind, name,
                    ("benchmark", "boulanger", "--data", "data", "--datasets", "jsb",
                     "--preset", "debug", "--steps", "1", "--out", "bench", "--no-progress"),
                    files=((target, data),), outputs=("bench",))
    if command == "evaluate":
        return Case("evaluate --corpus", kind, name,
                    ("evaluate", "--model", "model", "--corpus", name, "--samples", "0",
                     "--ais-chains", "2", "--ais-betas", "10"),
                    files=((name, data),), copies=(("model", models.frames),))
    return Case("train pianoroll", kind, name,
                ("train", "--family", "pianoroll", "--preset", "debug", "--corpus", name,
                 "--out", "run", "--steps", "2", "--samples", "0", "--no-progress"),
                files=((name, data),), outputs=("run",))


def model_case(command: str, kind: str, name: str, damage: dict[str, bytes | Sparse],
               models: Models, family: str = "abc") -> Case:
    """``command`` on a copy of a model whose files ``damage`` replaces (paths under
    ``model/``, or under ``run/`` for ``export`` and ``train --resume``), beside decoys."""
    files = (*damage.items(), *DECOYS)
    if command in ("export", "train --resume"):
        argv = (("export", "run", "--out", "shipped") if command == "export" else
                ("train", "--resume", "run", "--samples", "0", "--no-progress"))
        return Case(command, kind, name, argv, files=files, copies=(("run", models.run),),
                    outputs=("shipped",) if command == "export" else ("run",))
    if command == "evaluate --model":
        argv = ("evaluate", "--model", "model", "--corpus", "book.abc", "--splits", "valid",
                "--samples", "0")
        return Case(command, kind, name, argv, files=(*files, ("book.abc", book())),
                    copies=(("model", models.checkpoint(family)),))
    argv = ("compose", "--model", "model", "--num", "1", "--max-len", "8", "--no-wav",
            "--seed", "1", "--out", "composed", "--no-progress")
    return Case(command, kind, name, argv, files=files,
                copies=(("model", models.checkpoint(family)),), outputs=("composed",))


# --- the hostile cases, by id ----------------------------------------------------------------

def _music(name: str) -> bytes:
    return hostile.music_files()[name]


_MUSIC_NAMES = ["truncated-header.mid", "truncated-half.mid", "bit-flipped.mid",
                "track-count-65535.mid", "chunk-4gb.mid", "header-4gb.mid", "far-notes.mid",
                "endless-number.mid", "sysex-256mb.mid", "notes-at-zero.mid",
                "tracks-10000.mid", "zero-division.mid", "zero-tempo.mid", "rmid-lying.mid",
                "tiny-hang.abc", "one-line-100kb.abc", "long-note.abc", "stacked-chord.abc",
                "nested-repeats.abc", "tuplets.abc", "truncated.abc", "binary.abc",
                "billion-laughs.musicxml", "quadratic-blowup.musicxml",
                "entity-dev-zero.musicxml", "entity-file.musicxml",
                "parameter-entity.musicxml", "public-dtd.musicxml", "long-note.musicxml",
                "zero-divisions.musicxml", "negative-divisions.musicxml", "deep.musicxml",
                "truncated.musicxml", "zip-bomb.mxl", "zip-bomb-lying.mxl",
                "zip-many-members.mxl", "outside-relative.mxl", "outside-absolute.mxl",
                "truncated.mxl", "bit-flipped.mxl", "evil.pkl", "evil.pt", "empty.mid"]
SECRET = ("secret.txt", b"the user's secret\n")  # beside the files that point at it


def _with_secret(case: Case) -> Case:
    from dataclasses import replace

    return replace(case, files=(*case.files, SECRET))


def _music_cases() -> dict[str, Callable[[Models], Case]]:
    out = {}
    for name in _MUSIC_NAMES:
        for command, make in (("render", render), ("analyze", analyze),
                              ("primer-events", primer),
                              ("primer-pianoroll",
                               lambda n, d, k: primer(n, d, k, "pianoroll")),
                              ("prepare", prepare)):
            out[f"{command}:{name}"] = (lambda models, n=name, m=make:
                                        _with_secret(m(n, _music(n), "hostile file")))
    for command in ("prepare", "analyze", "train-events", "train-abc"):
        out[f"{command}:all-in-one-folder"] = lambda models, c=command: folder(c)
    for name in ("tiny-hang.abc", "one-line-100kb.abc", "long-note.abc", "evil.pkl"):
        out[f"train-abc:{name}"] = lambda models, n=name: train(n, _music(n), "hostile file")
    for name in ("tiny-hang.abc", "tracks-10000.mid", "zip-bomb-lying.mxl",
                 "billion-laughs.musicxml", "long-note.abc", "evil.pt"):
        out[f"train-events:{name}"] = (lambda models, n=name:
                                       train(n, _music(n), "hostile file", "events"))
        out[f"train-pianoroll:{name}"] = (lambda models, n=name:
                                          train(n, _music(n), "hostile file", "pianoroll"))
    return out


def folder(command: str) -> Case:
    """Every hostile music file in one folder, beside valid files: a corpus for
    ``prepare``, ``analyze``, ``train --family events`` or (its ABC files and a book of
    40 tunes) ``train`` of the abc family; each file dropped with its reason, the rest
    kept, within the time limit."""
    names = [n for n in _MUSIC_NAMES if command != "train-abc" or n.endswith(".abc")]
    files = tuple((f"corpus/{n}", _music(n)) for n in names)
    good = ((("corpus/book.abc", book()),) if command == "train-abc" else
            (("corpus/a.mid", hostile.seed_midi()), ("corpus/b.musicxml", musicxml().encode()),
             ("corpus/c.abc", BOOK.encode())))
    argv, outputs = {
        "prepare": (("prepare", "--corpus", "corpus", "--report", "report.csv",
                     "--no-progress"), ("report.csv",)),
        "analyze": (("analyze", "corpus", "--out", "analysis", "--no-progress"),
                    ("analysis",)),
        "train-events": (("train", "--family", "events", "--preset", "debug", "--corpus",
                          "corpus", "--out", "run", "--steps", "2", "--samples", "0",
                          "--no-progress"), ("run",)),
        "train-abc": (("train", "--preset", "debug", "--corpus", "corpus", "--out", "run",
                       "--steps", "2", "--samples", "0", "--no-progress"), ("run",)),
    }[command]
    return Case(command.replace("-", " "), "hostile folder", f"{len(names)} files", argv,
                files=(*files, *good, SECRET), outputs=outputs)


def _config_cases() -> dict[str, Callable[[Models], Case]]:
    out = {}
    for name in hostile.config_files():
        for command in ("render", "compose"):
            out[f"config-{command}:{name}"] = (lambda models, n=name, c=command:
                                               config(n, hostile.config_files()[n], c))
    return out


def _corpus_cases() -> dict[str, Callable[[Models], Case]]:
    out = {}
    for name in hostile.corpus_files():
        for command in ("train", "evaluate", "benchmark"):
            out[f"boulanger-{command}:{name}"] = (
                lambda models, n=name, c=command:
                boulanger(n, hostile.corpus_files()[n], "hostile corpus", c, models))
    return out


def _safetensors(header: dict, data: bytes = b"", length: int | None = None) -> bytes:
    text = json.dumps(header).encode()
    return (len(text) if length is None else length).to_bytes(8, "little") + text + data


CHECKPOINT_DAMAGE: dict[str, Callable[[], dict[str, bytes | Sparse]]] = {
    "weights-evil-pickle": lambda: {"model.safetensors": hostile.evil_pickle(shell=True)},
    "weights-evil-torch": lambda: {"model.safetensors": hostile.evil_torch_file()},
    "evil-pt-beside": lambda: {"model.pt": hostile.evil_torch_file(),
                               "pytorch_model.bin": hostile.evil_torch_file(shell=True),
                               "model.ckpt": hostile.evil_pickle(), "model.pkl":
                               hostile.evil_pickle()},
    "weights-sparse-65mb": lambda: {"model.safetensors": Sparse(65 << 20)},
    "weights-header-2^63": lambda: {"model.safetensors": _safetensors({}, length=1 << 63)},
    "weights-huge-shape": lambda: {"model.safetensors": _safetensors(
        {"embed.weight": {"dtype": "F32", "shape": [1 << 31, 1 << 31],
                          "data_offsets": [0, 1 << 64]}})},
    "weights-offsets-past-end": lambda: {"model.safetensors": _safetensors(
        {"embed.weight": {"dtype": "F32", "shape": [4], "data_offsets": [0, 1 << 40]}},
        bytes(16))},
    "weights-deep-header": lambda: {"model.safetensors": hostile.deep_json(50_000)},
    "meta-deep": lambda: {"tunesmith.json": hostile.deep_json()},
    "meta-deep-objects": lambda: {"tunesmith.json": hostile.deep_json_objects()},
    "meta-sparse-65mb": lambda: {"tunesmith.json": Sparse(65 << 20)},
    "meta-evil-pickle": lambda: {"tunesmith.json": hostile.evil_pickle()},
    "meta-yaml-laughs": lambda: {"tunesmith.json": hostile.yaml_laughs()},
    "meta-empty": lambda: {"tunesmith.json": b""},
    "meta-huge-numbers": lambda: {"tunesmith.json": b'{"format_version": 1e999, '
                                  b'"family": "abc", "model_config": {"hidden_size": '
                                  b'99999999999999999999999}}'},
}
RUN_DAMAGE: dict[str, Callable[[], dict[str, bytes | Sparse]]] = {
    "config-deep": lambda: {"run/config.json": hostile.deep_json()},
    "config-evil-pickle": lambda: {"run/config.json": hostile.evil_pickle(shell=True)},
    "config-sparse-65mb": lambda: {"run/config.json": Sparse(65 << 20)},
    "state-evil-pickle": lambda: {"run/last/training_state.safetensors":
                                  hostile.evil_pickle(shell=True)},
    "state-deep": lambda: {"run/last/training_state.json": hostile.deep_json()},
    "metrics-binary": lambda: {"run/metrics.csv": bytes(range(256)) * 64},
    "decoys-in-run": lambda: {"run/best.tmp-1/notes.txt": b"keep me",
                              "run/best.old/notes.txt": b"keep me",
                              "run/last.swap/notes.txt": b"keep me"},
}


def _under(prefix: str, damage: dict) -> dict:
    return {f"{prefix}/{k}": v for k, v in damage.items()}


def _checkpoint_cases() -> dict[str, Callable[[Models], Case]]:
    out = {}
    for name, damage in CHECKPOINT_DAMAGE.items():
        for command in ("compose --model", "evaluate --model"):
            out[f"{command.split()[0]}:{name}"] = (
                lambda models, n=name, d=damage, c=command:
                model_case(c, "damaged checkpoint", n, _under("model", d()), models))
        out[f"export:{name}"] = (lambda models, n=name, d=damage:
                                 model_case("export", "damaged checkpoint", n,
                                            _under("run/best", d()), models))
        out[f"resume:{name}"] = (lambda models, n=name, d=damage:
                                 model_case("train --resume", "damaged checkpoint", n,
                                            _under("run/last", d()), models))
    for name, damage in RUN_DAMAGE.items():
        for command, key in (("export", "export-run"), ("train --resume", "resume-run")):
            out[f"{key}:{name}"] = (
                lambda models, n=name, d=damage, c=command:
                model_case(c, "damaged run", n, d(), models))
    for family in ("events", "pianoroll"):
        for name in ("weights-evil-pickle", "meta-deep", "evil-pt-beside"):
            out[f"compose-{family}:{name}"] = (
                lambda models, n=name, f=family:
                model_case("compose --model", "damaged checkpoint", n,
                           _under("model", CHECKPOINT_DAMAGE[n]()), models, f))
    out["compose:model-is-evil-file"] = lambda models: Case(
        "compose --model", "damaged checkpoint", "model-is-evil-file",
        ("compose", "--model", "model.pt", "--num", "1", "--no-wav", "--out", "composed"),
        files=(("model.pt", hostile.evil_torch_file(shell=True)), *DECOYS),
        outputs=("composed",))
    return out


HOSTILE: dict[str, Callable[[Models], Case]] = {
    **_music_cases(), **_config_cases(), **_corpus_cases(), **_checkpoint_cases()}


# --- strategies -----------------------------------------------------------------------------

SEEDS: dict[str, Callable[[], bytes]] = {"midi": hostile.seed_midi, "abc": hostile.seed_abc,
                                         "musicxml": hostile.seed_musicxml,
                                         "mxl": hostile.seed_mxl}


def damaged_music(kind: str) -> st.SearchStrategy[tuple[str, bytes]]:
    """(file name, damaged bytes) of a valid ``kind`` file. ``.mxl``: the zip damaged, or
    a damaged score zipped whole."""
    data = damaged(SEEDS[kind](), kind)
    if kind == "mxl":
        data = st.one_of(data, damaged(hostile.seed_musicxml(), "musicxml").map(
            hostile.seed_mxl))
    return data.map(lambda d: (f"in-{zlib.crc32(d):08x}{SUFFIX[kind]}", d))


def _music_group(command: str, kind: str) -> Callable[[Models], st.SearchStrategy[Case]]:
    def make(models: Models) -> st.SearchStrategy[Case]:
        def case(drawn, family):
            name, data = drawn
            if command == "compose --primer":
                return primer(name, data, kind, family)
            if command.startswith("train"):
                return train(name, data, kind, command.split()[1])
            return {"render": render, "analyze": analyze, "prepare": prepare}[command](
                name, data, kind)
        return st.builds(case, damaged_music(kind), st.sampled_from(["events", "pianoroll"]))
    return make


def _json_of(path: str | Path) -> bytes:
    return Path(path).read_bytes()


def _model_group(command: str, target: str) -> Callable[[Models], st.SearchStrategy[Case]]:
    """Damaged ``target`` (``tunesmith.json``, the safetensors header, ``config.json``) of
    a model of a drawn family (abc only for export and evaluate)."""
    def make(models: Models) -> st.SearchStrategy[Case]:
        families = (["abc", "events", "pianoroll"] if command == "compose --model"
                    else ["abc"])

        def for_family(family: str) -> st.SearchStrategy[Case]:
            folder = Path(models.checkpoint(family))
            if target == "config.json":
                return damaged(_json_of(Path(models.run) / "config.json"), "json").map(
                    lambda d: model_case(command, target, f"{family}-{zlib.crc32(d):08x}",
                                         {"run/config.json": d}, models))
            prefix = "run/best" if command == "export" else "model"
            rest = b""
            if target == "tunesmith.json":
                seed, kind = _json_of(folder / "tunesmith.json"), "json"
            else:  # the safetensors header (its length, its JSON); the tensors kept
                weights = (folder / "model.safetensors").read_bytes()
                size = int.from_bytes(weights[:8], "little")
                seed, kind, rest = weights[: 8 + size], "safetensors", weights[8 + size:]
            name = target if target == "tunesmith.json" else "model.safetensors"
            return damaged(seed, kind).map(
                lambda d: model_case(command, target, f"{family}-{zlib.crc32(d):08x}",
                                     {f"{prefix}/{name}": d + rest}, models, family))

        return st.sampled_from(families).flatmap(for_family)
    return make


def _boulanger_group(command: str, fmt: str) -> Callable[[Models], st.SearchStrategy[Case]]:
    def make(models: Models) -> st.SearchStrategy[Case]:
        good = _piano_rolls()
        if fmt == "json":
            data, name = damaged(good, "json"), "rolls.json"
        else:
            data, name = damaged(pickle.dumps(json.loads(good), protocol=2), "pickle"), \
                "rolls.pkl"
        return data.map(lambda d: boulanger(name, d, fmt, command, models))
    return make


def _config_group(command: str) -> Callable[[Models], st.SearchStrategy[Case]]:
    def make(models: Models) -> st.SearchStrategy[Case]:
        seed = b"seed: 3\ntemperature: 0.9\ntop_k: 5\n"
        return damaged(seed, "json").map(
            lambda d: config(f"c-{zlib.crc32(d):08x}.yaml", d, command))
    return make


@dataclass(frozen=True)
class Group:
    """Drawn cases of one (command, kind of input): ``quick`` of them in the default test
    run (0: only under ``-m slow``); ``weight``: the group's share of a larger count
    (:func:`share`; the commands that train or write a report get less, each of their
    cases costs seconds)."""

    command: str
    kind: str
    strategy: Callable[[Models], st.SearchStrategy[Case]]
    quick: int
    weight: float = 1.0


GROUPS: list[Group] = [
    *(Group("render", k, _music_group("render", k), 5, 6) for k in SEEDS),
    *(Group("compose --primer", k, _music_group("compose --primer", k), 2, 3) for k in SEEDS),
    *(Group("prepare", k, _music_group("prepare", k), 1, 2) for k in SEEDS),
    *(Group("analyze", k, _music_group("analyze", k), int(k in ("midi", "abc")), 0.5)
      for k in SEEDS),
    Group("train abc", "abc", _music_group("train abc", "abc"), 1, 0.5),
    Group("train events", "midi", _music_group("train events", "midi"), 1, 0.5),
    Group("train pianoroll", "musicxml", _music_group("train pianoroll", "musicxml"), 0, 0.5),
    *(Group(c, t, _model_group(c, t), 2, 2) for c in ("compose --model", "evaluate --model",
                                                      "export")
      for t in ("tunesmith.json", "safetensors header")),
    Group("export", "config.json", _model_group("export", "config.json"), 1),
    *(Group(f"{c} boulanger", f, _boulanger_group(c, f), q, w)
      for c, q, w in (("evaluate", 2, 1), ("train", 0, 0.5)) for f in ("json", "pickle")),
    *(Group(f"{c} --config", "yaml", _config_group(c), 2) for c in ("render", "compose")),
]


def share(total: int) -> dict[Group, int]:
    """``total`` drawn cases shared among :data:`GROUPS` by weight (each at least 1)."""
    weights = sum(g.weight for g in GROUPS)
    return {g: max(1, round(total * g.weight / weights)) if total else 0 for g in GROUPS}


def quick() -> dict[Group, int]:
    """The default test run's count of each group."""
    return {g: g.quick for g in GROUPS}



def draw(strategy: st.SearchStrategy[Case], count: int, seed: int = 0) -> list[Case]:
    """``count`` cases drawn from ``strategy`` by Hypothesis, reproducibly for a ``seed``
    (outside a test: the benchmark's way to the same strategies; fewer when Hypothesis
    finds no more distinct ones)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as seeded

    out: list[Case] = []
    if count < 1:
        return out

    @seeded(seed)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(case):
        out.append(case)

    collect()
    return out
