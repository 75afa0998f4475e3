"""``tunesmith benchmark boulanger``: train (or take, or resume) one model per dataset and
architecture through :mod:`tunesmith.app.training`, early-stopped on ``valid``; evaluate
``test`` by the paper's protocol (:mod:`tunesmith.evaluation.boulanger`); write
``results.csv`` and ``results.md`` after every result, so a later failure loses nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.errors import OptionError, TunesmithError
from tunesmith.options import opt
from tunesmith.progress import Progress


def _comma(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s.strip() for s in str(text).split(",") if s.strip()))


@dataclass(frozen=True)
class BoulangerRequest:
    data: str = opt("", "folder holding jsb_chorales.json, nottingham.json, musedata.json, "
                    "piano_midi_de.json (or the original 'JSB Chorales.pickle', ...)")
    datasets: tuple[str, ...] = opt(("all",), "comma list of jsb, nottingham, musedata, "
                                    "piano, or all", cast=_comma)
    arch: tuple[str, ...] = opt(("rnn_nade",), "comma list of piano-roll architectures",
                                cast=_comma)
    preset: str = opt("small", "debug or small (every architecture); paper and tuned "
                      "(rnn_nade, rnn_rbm); big (transformer_nade)")
    out: str = opt("bench/boulanger", "runs and result tables; a finished run there is "
                   "taken, not retrained (a run's folder names its preset and the training "
                   "settings given over it)")
    retrain: bool = opt(False, "train again even if a run exists")
    slice: int = opt(0, "use only the first N sequences of each split (a quick check)")
    train: Mapping[str, Any] = opt(factory=dict, help="training settings over the "
                                   "preset's (steps, lr, eval_every, eval_max_items, "
                                   "patience, seed)")
    ais_chains: int = opt(16, "RBM: AIS chains per frame")
    ais_betas: int = opt(1000, "RBM: AIS inverse temperatures")
    ais_runs: int = opt(2, "RBM: independent AIS estimates (their spread is reported)")
    device: str = opt("auto", "auto, cpu, cuda, cuda:N")

    def __post_init__(self):
        if self.slice < 0:
            raise OptionError("slice", "must be >= 0")
        for name in ("ais_chains", "ais_betas", "ais_runs"):
            if getattr(self, name) < 1:
                raise OptionError(name, "must be >= 1")


def check_request(request: BoulangerRequest) -> dict[str, Path]:
    """Fail on a bad dataset, file, architecture or preset before anything trains.
    Returns dataset key -> file."""
    from tunesmith import families
    from tunesmith.io.boulanger import DATASETS, find_dataset
    from tunesmith.presets import preset

    if not request.data:
        raise OptionError("data", "is needed: the folder that holds the benchmark's JSON or "
                          "pickle files")
    data = Path(request.data)
    if data.is_file():
        raise TunesmithError("is a file; --data takes the folder that holds it (the "
                             "datasets are found there by name)", data)
    if not data.is_dir():
        raise TunesmithError("no such folder (give the folder that holds the benchmark's "
                             "JSON or pickle files)", data)
    if not request.datasets:
        raise OptionError("datasets", f"is empty: give some of {', '.join(DATASETS)}, or all")
    keys = list(DATASETS) if request.datasets == ("all",) else list(request.datasets)
    files = {}
    for key in keys:
        if key not in DATASETS:
            raise TunesmithError(f"unknown dataset {key!r} (choose from: {', '.join(DATASETS)})")
        files[key] = find_dataset(data, key)
    models = families.get("pianoroll").models()
    if not request.arch:
        raise OptionError("arch", f"is empty: give some of {', '.join(models)}")
    for arch in request.arch:
        if arch not in models:
            raise OptionError("arch", f"{arch}: choose from {', '.join(models)}")
        preset(arch, request.preset)
    return files


def run(request: BoulangerRequest, progress: Progress | None = None, log=None) -> list:
    """The table's rows (:class:`tunesmith.evaluation.boulanger.Row`), one per dataset
    and architecture."""
    from tunesmith.app.models import load_model
    from tunesmith.evaluation.boulanger import (
        PUBLISHED,
        Row,
        format_row,
        frame_protocol,
        train_seconds,
        write_slice,
        write_tables,
    )
    from tunesmith.io.boulanger import DATASETS, read_boulanger
    from tunesmith.training.device import resolve_device

    log = log or _quiet
    files = check_request(request)
    from tunesmith.evaluation.boulanger import read_rows

    read_rows(Path(request.out) / "results.csv")  # not ours, or damaged: said before training
    device = str(resolve_device(request.device))
    out, rows = Path(request.out), []
    for key, path in files.items():
        if request.slice:  # under the canonical name, so that the file's grid is still known
            path = write_slice(path, out / f"data-slice{request.slice}" / DATASETS[key].files[0],
                               request.slice, replace=request.retrain)
        test = read_boulanger(path)["test"]
        for arch in request.arch:
            run_dir = _run_dir(request, out, key, arch)
            if _train_or_take(request, key, arch, path, run_dir, device, progress, log):
                raise Interrupted(run_dir)
            ckpt = load_model(run_dir / "best", device=device)
            log(f"== {DATASETS[key].name} / {arch}: evaluating {len(test)} test sequences")
            m = frame_protocol(ckpt.model, test, device, request.ais_chains, request.ais_betas,
                               request.ais_runs)
            summary = ckpt.meta.get("summary", {})
            rows.append(Row(key, arch, request.preset + _given_over(request, " "),
                            m["nll"], m["nll_spread"],
                            m["accuracy"], m["accuracy_bl2012"], m["frames"],
                            train_seconds(run_dir), m["seconds"],
                            int(summary.get("step", 0)), bool(summary.get("stopped_early")),
                            str(run_dir.resolve()), m["ais"],
                            PUBLISHED.get(arch, {}).get(key, (None, None, ""))))
            log(format_row(rows[-1]))
            write_tables(rows, out)
    return rows


BOOKKEEPING = frozenset({"device", "log_every", "checkpoint_every", "compile"})  # not the model's


def _run_dir(request: BoulangerRequest, out: Path, key: str, arch: str) -> Path:
    """``OUT/jsb-rnn_nade-small[-lr0.01...][-sliceN]``: a run of settings given over the
    preset is another run. A run made before the folder named them (the preset's name
    alone) is taken when its recorded settings are the ones given."""
    sliced = f"-slice{request.slice}" if request.slice else ""
    named = out / f"{key}-{arch}-{request.preset}{_given_over(request, '-')}{sliced}"
    plain = out / f"{key}-{arch}-{request.preset}{sliced}"
    if named == plain or named.exists() or not plain.exists():
        return named
    recorded = _last_summary(plain).get("train_config", {})
    given = {k: v for k, v in request.train.items() if k not in BOOKKEEPING}
    return plain if given and all(recorded.get(k) == v for k, v in given.items()) else named


def _given_over(request: BoulangerRequest, sep: str) -> str:
    """The training settings given over the preset, as a run's folder and its table row
    name them (``-lr0.01-steps10000``, `` lr=0.01 steps=10000``; '' for none): runs of
    other settings are other runs. Bookkeeping (the device, how often to log or save)
    is not a setting of the model."""
    given = sorted((k, v) for k, v in request.train.items() if k not in BOOKKEEPING)
    if sep == "-":
        return "".join(f"-{k}{v}" for k, v in given)
    return "".join(f"{sep}{k}={v}" for k, v in given)


class Interrupted(Exception):
    """Training was interrupted (Ctrl-C): the run's checkpoint is saved and no result was
    written for it; running the same command again resumes it."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        super().__init__(f"interrupted while training {run_dir}; checkpoint saved")


def _train_or_take(request: BoulangerRequest, key: str, arch: str, path: Path, run_dir: Path,
                   device: str, progress, log) -> bool:
    """Train a new run, resume an interrupted one, or take a finished one; True when the
    training was interrupted. A run trained on another file is refused (its test figures
    would be another benchmark's), unless ``retrain``."""
    from tunesmith.app.training import ResumeRequest, TrainRequest, resume, train
    from tunesmith.io.boulanger import DATASETS
    from tunesmith.training.checkpoint import recover

    name = DATASETS[key].name
    resumable = (recover(run_dir / "last") / "tunesmith.json").is_file()  # we write runs here
    summary = _last_summary(run_dir) if resumable else {}
    if summary and not request.retrain:
        _same_data(summary, run_dir, path)
    if request.retrain or not resumable:
        log(f"== {name} / {arch}: training {request.preset} on {path} into {run_dir}")
        return train(TrainRequest(family="pianoroll", arch=arch, preset=request.preset,
                           corpus=str(path), out=str(run_dir), samples=0, force=request.retrain,
                           train=dict(request.train) | {"device": device}),
                     progress=progress, log=log).interrupted
    if not _finished(run_dir, summary):
        log(f"== {name} / {arch}: resuming {run_dir}")
        return resume(ResumeRequest(run=str(run_dir), samples=0, device=device),
                      progress=progress, log=log).interrupted
    log(f"== {name} / {arch}: taking the finished run in {run_dir}")
    return False


def _last_summary(run_dir: Path) -> dict:
    """The trainer's summary in the run's ``last`` checkpoint ({} where it says none)."""
    from tunesmith.jsonfile import read_json

    try:
        meta = read_json(run_dir / "last" / "tunesmith.json")
    except TunesmithError:
        return {}
    s = meta.get("summary") if isinstance(meta, dict) else None
    return s if isinstance(s, dict) else {}


def _same_data(summary: dict, run_dir: Path, path: Path) -> None:
    """Refuse to take or resume a run trained on another file than ``path``."""
    recorded = summary.get("corpus")
    corpus = recorded.get("corpus") if isinstance(recorded, dict) else None
    if corpus and Path(corpus).resolve() != path.resolve():
        raise TunesmithError(f"was trained on {corpus}, not {path}: give --retrain to train "
                             "it again on this file, or another --out", run_dir)


def _finished(run_dir: Path, summary: dict | None = None) -> bool:
    """Whether the run's ``last`` checkpoint says training is over (all steps, or early
    stopping) and a ``best`` checkpoint exists (``summary``: that checkpoint's, when read
    already)."""
    summary = _last_summary(run_dir) if summary is None else summary
    step, steps = summary.get("step"), summary.get("train_config", {}).get("steps")
    done = bool(summary.get("stopped_early")) or (step is not None and step == steps)
    return done and (run_dir / "best").is_dir()


def _quiet(message: str, level: str = "info") -> None:
    pass
