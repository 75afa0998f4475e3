"""Training: ``train(TrainRequest) -> RunResult`` starts a run, ``resume(ResumeRequest)``
continues one. A run folder holds ``config.json`` (the :class:`RunPlan`: what the run is),
checkpoints, metrics and samples; see the README.

Under torchrun every process calls the same function (the CLI has joined them in a
process group, :mod:`tunesmith.training.distributed`): rank 0 prepares the data first
(filling caches the others then read) and alone writes the run folder; a job that torchrun
restarts (``--max-restarts``) continues its run from the last checkpoint.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.errors import OptionError, TunesmithError
from tunesmith.io.paths import WRITING
from tunesmith.options import opt, to_dict
from tunesmith.progress import Progress


@dataclass(frozen=True)
class TrainRequest:
    """A new run: a family, an architecture and a preset, with settings over the preset's
    (``model``, ``train``, ``data``: field name -> value of the architecture's config, of
    :class:`~tunesmith.training.config.TrainConfig`, of the family's data options)."""

    family: str = opt("abc", "model family: abc, events, pianoroll, remi, continue, "
                      "continue-events, continue-remi or gan")
    arch: str | None = opt(None, "architecture (default: the family's first)")
    preset: str = opt("small", "named settings to start from")
    corpus: str | None = opt(None, "a built-in corpus (`tunesmith corpora`) or a file or "
                             "folder (default: the family's); continue-events and "
                             "continue-remi take "
                             "LABEL=CORPUS, repeated, one style each", repeat=",")
    out: str | None = opt(None, "run folder (default: runs/FAMILY-PRESET, or "
                          "runs/FAMILY-ARCH-PRESET for a model other than the family's own)")
    force: bool = opt(False, "start over in a folder that holds a run")
    samples: int = opt(4, "pieces to compose from the best checkpoint at the end (0 = none)")
    model: Mapping[str, Any] = opt(factory=dict, help="model settings over the preset's")
    train: Mapping[str, Any] = opt(factory=dict, help="training settings over the preset's")
    data: Mapping[str, Any] = opt(factory=dict, help="data settings over the preset's")
    stop_at: int | None = opt(None, "stop at this step, as an interruption would (tests)",
                              derived=True)
    command: str = opt("", "the command line that asked for it (config.json records it)",
                       derived=True)

    def __post_init__(self):
        if self.samples < 0:
            raise OptionError("samples", f"must be >= 0, got {self.samples}")


@dataclass(frozen=True)
class ResumeRequest:
    """Continue the run in ``run`` from its last checkpoint, with its own settings; only
    how long it goes on may change (``steps``, ``patience``) and where (``device``)."""

    run: str = opt("", "run folder")
    steps: int | None = opt(None, "go on until this step (the schedule stretches from here)")
    patience: int | None = opt(None, "validations without improvement before stopping")
    device: str | None = opt(None, "auto, cpu, cuda, cuda:N (default: the run's)")
    samples: int | None = opt(None, "pieces to compose from the best checkpoint at the end "
                              "(default: the run's own --samples)")
    corpus: str | None = opt(None, "where the run's corpus is now, when it has moved (it "
                             "must read as the same pieces)")
    data: Mapping[str, Any] = opt(factory=dict, help="data settings the run goes on with "
                                  "from here, of those its family lets change (abc: "
                                  "ending_weight)")
    stop_at: int | None = opt(None, "stop at this step, as an interruption would (tests)",
                              derived=True)
    command: str = opt("", "the command line that asked for it", derived=True)

    MAY_CHANGE = ("steps", "patience", "device", "corpus", "data")


@dataclass
class RunPlan:
    """What a run is: written as its ``config.json``, read back on resume."""

    family: str
    arch: str
    preset: str
    corpus: str
    data: Any  # the family's data options (a frozen dataclass)
    model: dict  # the architecture's settings (sizes from the representation added later)
    train: Any  # TrainConfig
    command: str = ""
    samples: int = 4  # pieces composed at the end (resuming composes as many)
    resumed_with: list[str] = field(default_factory=list)
    # how it was last launched: world_size, backend, global / per-rank / micro batch
    distributed: dict | None = None

    def to_json(self) -> dict:
        out = {"family": self.family, "arch": self.arch, "corpus": self.corpus,
               "data": to_dict(self.data), "preset": self.preset, "model": dict(self.model),
               "train": to_dict(self.train), "samples": self.samples,
               "command": self.command}
        if self.resumed_with:
            out["resumed_with"] = list(self.resumed_with)
        if self.distributed is not None:
            out["distributed"] = dict(self.distributed)
        return out


@dataclass
class RunResult:
    run_dir: Path
    summary: dict  # the trainer's: step, best_valid, stopped_early, interrupted, ...
    seconds: float
    unit: str  # what the model's loss is counted in (characters, messages, frames)
    samples: object = None  # ComposeResult of the samples composed at the end
    resumed: bool = False  # ``seconds`` is this session's, not the run's whole training

    @property
    def interrupted(self) -> bool:
        return bool(self.summary.get("interrupted"))


def plan(request: TrainRequest) -> RunPlan:
    """The settings of a new run: the preset's, then the request's over them, checked."""
    from tunesmith import families, models
    from tunesmith.options import build, replace, settings
    from tunesmith.presets import preset

    fam = families.get(request.family)
    if request.corpus and not fam.reads_pieces:  # an ABC-text family
        from tunesmith.io.boulanger import is_boulanger_file

        if is_boulanger_file(request.corpus):  # before a config is printed for it
            raise OptionError("family", f"is {fam.name}, which learns from ABC tunes; "
                              f"{request.corpus} is a piano-roll benchmark file: give "
                              "--family pianoroll")
    arch = fam.check_arch(request.arch)
    p = preset(arch, request.preset)
    config_class = models.registry()[arch].config_class
    # every setting of the model written out, its defaults too: a printed config or a
    # run's config.json pins the model whatever a later version's defaults are
    model = {s.name: s.default for s in settings(config_class)} | dict(p.model) \
        | dict(request.model)
    known = {s.name for s in settings(config_class)}
    for name in request.model:
        if name not in known:
            raise OptionError(name, f"is not a setting of the {arch} model (--family "
                              f"{request.family}; its settings: {', '.join(sorted(known))})")
    train = replace(p.train, "training", **dict(request.train))
    data = build(fam.data_options, dict(p.data) | dict(request.data),
                 f"the {fam.name} family's data")
    return RunPlan(family=fam.name, arch=arch, preset=request.preset,
                   corpus=corpus_on_disk(request.corpus or fam.default_corpus, fam.name),
                   data=data, model=model, train=train, command=request.command,
                   samples=request.samples)


def corpus_on_disk(corpus: str, family: str) -> str:
    """``corpus`` with every part that is a file or folder on disk made absolute, so that
    the run's record (config.json, its checkpoints) reads the same corpus from any folder
    (``train --resume``, ``evaluate``). A built-in name, a path that is not there (its
    error names it as given) and continue-events' ``LABEL=`` labels stay as they are."""
    from tunesmith.corpora import BUILTIN
    from tunesmith.corpora.labelled import sources

    def absolute(source: str) -> str:
        try:
            path = Path(source).expanduser()
        except RuntimeError:  # ~user of no such user: not on disk
            return source
        return str(path.absolute()) if source not in BUILTIN and path.exists() else source

    return ",".join(absolute(source) if label is None else f"{label}={absolute(source)}"
                    for label, source in sources(corpus, family))


def read_plan(run_dir: Path) -> RunPlan:
    """A run's ``config.json`` as a :class:`RunPlan` (one-line errors for a damaged one)."""
    from tunesmith import families
    from tunesmith.jsonfile import read_json
    from tunesmith.options import build
    from tunesmith.training.config import TrainConfig

    cfg_path = run_dir / "config.json"
    if not run_dir.exists():
        raise TunesmithError("no such run folder", run_dir)
    if not cfg_path.is_file():
        raise TunesmithError("not a run folder (no config.json)", run_dir)
    run = read_json(cfg_path)
    try:
        if not isinstance(run, dict) or not {"family", "corpus", "model", "train"} <= set(run):
            raise ValueError("missing keys")
        fam = families.get(run["family"])
        data = run.get("data", {"clean": run.get("clean", False)})  # runs before "data"
        samples = run.get("samples", 4)  # runs before "samples" composed the default
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 0:
            raise ValueError(f"samples is {samples!r}, not a count")
        return RunPlan(family=fam.name, arch=run.get("arch", fam.default_model),
                       preset=str(run.get("preset", "")), corpus=str(run["corpus"]),
                       data=build(fam.data_options, data), model=dict(run["model"]),
                       train=build(TrainConfig, run["train"]),
                       command=str(run.get("command", "")), samples=samples,
                       resumed_with=list(run.get("resumed_with", [])),
                       distributed=_record(run.get("distributed")))
    except (ValueError, TypeError, AttributeError, TunesmithError) as e:
        raise TunesmithError(f"damaged config.json ({e})", run_dir) from None


def _record(value) -> dict | None:
    """config.json's "distributed" record as written (None when absent or not an object:
    it only describes the last launch, resuming writes it anew)."""
    return dict(value) if isinstance(value, dict) else None


# --- train ----------------------------------------------------------------------------

def default_run_dir(p: RunPlan) -> str:
    """``runs/FAMILY-PRESET`` for the family's own model, ``runs/FAMILY-ARCH-PRESET`` for
    another (a Transformer run never lands in the LSTM's folder)."""
    from tunesmith import families

    if p.arch == families.get(p.family).default_model:
        return f"runs/{p.family}-{p.preset}"
    return f"runs/{p.family}-{p.arch}-{p.preset}"


def train(request: TrainRequest, progress: Progress | None = None, log=None) -> RunResult:
    """Start a run (the folder must not hold one, unless ``request.force``). A job that
    torchrun has restarted continues the run from its last checkpoint, if it has one."""
    from tunesmith.training import distributed

    log = log or _quiet
    p = plan(request)
    run_dir = Path(request.out or default_run_dir(p))
    restarted = distributed.restarts() > 0
    if restarted and distributed.from_main(_has_last(run_dir)):
        log(f"torchrun restarted the job ({distributed.restarts()}): continuing {run_dir} "
            "from its last checkpoint")
        return resume(ResumeRequest(run=str(run_dir), samples=request.samples,
                                    stop_at=request.stop_at, command=request.command),
                      progress, log)
    if (run_dir / "last").exists() and not request.force and not restarted:
        raise TunesmithError("run folder already holds a run: continue it with "
                             f"`tunesmith train --resume {run_dir}`, or pass --force "
                             "to start over", run_dir)
    from tunesmith.io.paths import output_folder

    output_folder(run_dir, make=False)  # a file in the way fails before the data too
    _check_run_folder(run_dir, p)
    with _holding(run_dir, "train"):  # a second train into this folder meanwhile: refused
        p.distributed = _launch(p.train)  # a bad device or batch split fails before the data
        prepared = _prepare(p, None, progress, log)
        from tunesmith import models
        from tunesmith.families.base import model_sizes

        config_class = models.registry()[p.arch].config_class
        p.model.update(model_sizes(_family(p), config_class, prepared.representation))
        if distributed.current().main:
            _start_folder(run_dir, p, fresh=request.force or restarted)
        return _fit(p, run_dir, prepared, resume=False, samples=request.samples,
                    stop_at=request.stop_at, progress=progress, log=log)


@contextmanager
def _holding(run_dir: Path, command: str):
    """Rank 0 holds the run folder while it writes there
    (:func:`~tunesmith.io.paths.writing_lock`: a second command into it meanwhile is
    refused rather than mixing its files with this one's); a folder made here and left
    empty (the data failed) is removed again."""
    from tunesmith.io.paths import first_missing, remove_made, writing_lock
    from tunesmith.training import distributed

    if not distributed.from_env().main:
        yield
        return
    made = first_missing(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with writing_lock(run_dir, command):
            yield
    finally:
        remove_made(run_dir, made)


def _check_run_folder(run_dir: Path, p: RunPlan) -> None:
    """Refuse a run folder inside the corpus it reads (its sample pieces would join the
    corpus the next time it is read) and a folder that holds files but no run (a run
    writes its own files there: someone's folder of music is not one)."""
    from tunesmith.corpora.labelled import sources

    here = run_dir.resolve()
    for _, source in sources(p.corpus, p.family):
        folder = Path(source)
        if folder.is_dir() and here.is_relative_to(folder.resolve()):
            raise TunesmithError(f"lies inside the corpus folder {source}: the run's sample "
                                 "pieces would be read as corpus pieces next time; choose an "
                                 "--out outside it", run_dir)
    names = sorted(x.name for x in run_dir.iterdir() if x.name != WRITING) if (
        run_dir.is_dir()) else []
    if names and not (run_dir / "config.json").exists():
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise TunesmithError(f"holds files but no run ({shown}; no config.json): "
                             "choose an empty or new --out", run_dir)


def resume(request: ResumeRequest, progress: Progress | None = None, log=None) -> RunResult:
    """Continue a run from its ``last`` checkpoint (finishing an interrupted checkpoint
    write first: this is the run's writer). ``steps`` below the step the run is at is an
    OptionError, and the run folder is left as it was. A second command writing into the
    run meanwhile is refused (:func:`_holding`)."""
    run_dir = Path(request.run)
    if not run_dir.is_dir():
        read_plan(run_dir)  # says what it is instead: missing, or a file
    with _holding(run_dir, "train --resume"):
        return _resume(request, progress, log)


def _resume(request: ResumeRequest, progress: Progress | None, log) -> RunResult:
    import dataclasses

    from tunesmith.options import replace
    from tunesmith.training import distributed
    from tunesmith.training.checkpoint import load_checkpoint, write_json

    log = log or _quiet
    run_dir = Path(request.run)
    p = check_resume(request)
    if request.device:
        p.train = dataclasses.replace(p.train, device=request.device)
    longer = {k: getattr(request, k) for k in ("steps", "patience")
              if getattr(request, k) is not None}
    changes = dict(request.data)
    fixed = sorted(set(changes) - set(_family(p).resumable_data))
    if fixed:
        raise OptionError(fixed[0], f"is part of what the run is ({run_dir / 'config.json'}); "
                          "a run goes on with its own")
    if changes:  # e.g. abc's ending weight: the loss changes from here, the model does not
        p.data = replace(p.data, "data", **changes)
    if longer:  # the run goes on for longer: config.json says so from now on
        p.train = replace(p.train, "training", **longer)
    if longer or changes:
        p.resumed_with.append(request.command or f"resume {longer | changes}")
    moved = _moved_corpus(p, request, run_dir)
    launch = _launch(p.train)
    distributed.barrier()  # the others read the checkpoint once rank 0 has recovered it
    last = load_checkpoint(run_dir / "last")
    prepared = _prepare(p, last.representation, progress, log)
    changed = _corpus_change(last.meta.get("summary", {}).get("corpus"), prepared.info)
    if changed and moved:
        raise TunesmithError(f"does not read as the corpus the run was trained on "
                             f"({changed}): give --corpus the folder or file it was",
                             request.corpus)
    if changed:
        log(f"the corpus has changed since the run's last checkpoint ({changed}): the run "
            "goes on with it as it is now, so it no longer continues exactly", "warning")
    if moved:
        log(f"the run's corpus is now read from {p.corpus}")
        if not (longer or changes):  # (else the command is recorded already)
            p.resumed_with.append(request.command or f"resume --corpus {request.corpus}")
    # config.json changes once the run can go on (a missing corpus leaves it as it was)
    if (longer or changes or moved or launch != p.distributed) and distributed.current().main:
        p.distributed = launch
        write_json(run_dir / "config.json", p.to_json())
    samples = p.samples if request.samples is None else request.samples
    retrained = _data_changed(last.meta.get("summary", {}).get("data"), p.data)
    if retrained:
        log(f"the run goes on with {retrained}: its best checkpoint is chosen afresh from "
            "here (validation stays unweighted)")
    return _fit(p, run_dir, prepared, resume=True, samples=samples,
                stop_at=request.stop_at, progress=progress, log=log,
                samples_asked=request.samples is not None, fresh_best=bool(retrained))


def _data_changed(before: dict | None, data) -> str:
    """The data settings ``data`` holds that the checkpoint was not trained with (a setting
    the checkpoint does not record counts as its default), as ``name=value, ...``."""
    import dataclasses

    before = before or {}
    changed = [f"{f.name}={getattr(data, f.name)}" for f in dataclasses.fields(data)
               if before.get(f.name, f.default) != getattr(data, f.name)]
    return ", ".join(changed)


def _moved_corpus(p: RunPlan, request: ResumeRequest, run_dir: Path) -> bool:
    """Whether ``request`` names where a run's moved corpus is now (``p.corpus`` then
    reads from there). A recorded corpus that is missing without it is a one-line error
    saying so; ``--corpus`` while the recorded one is still there is refused."""
    from tunesmith.corpora.labelled import missing_sources

    missing = missing_sources(p.corpus, p.family)
    if request.corpus is None:
        if missing:
            raise TunesmithError(f"the corpus this run was trained on, {missing[0]}, is not "
                                 "here: give --corpus where it is now to resume from it",
                                 run_dir)
        return False
    if not missing:
        raise OptionError("corpus", f"is for a corpus that moved; the run's own, {p.corpus}, "
                          "is still there: drop --corpus")
    p.corpus = corpus_on_disk(request.corpus, p.family)
    return True


def _has_last(run_dir: Path) -> bool:
    """Whether the run has a ``last`` checkpoint (finishing an interrupted write of it
    first: call it on rank 0 only, the run's writer)."""
    from tunesmith.training import distributed
    from tunesmith.training.checkpoint import recover

    if not distributed.current().main:
        return False  # not asked: rank 0's answer is the one taken
    return (recover(run_dir / "last") / "tunesmith.json").is_file()


def _corpus_change(before, now: dict) -> str:
    """How the splits of the corpus a run resumes on differ from what its checkpoint
    recorded (``"train 24 -> 18 pieces, ..."``), or "" when they are alike (or the
    checkpoint did not record them)."""
    if not isinstance(before, dict):
        return ""
    unit = now.get("unit", "tokens")
    out = []
    for key, name in (("tunes", "items"), ("tokens", unit)):
        old, new = before.get(key), now.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            out += [f"{split} {old.get(split)} -> {new.get(split)} {name}"
                    for split in ("train", "valid", "test") if old.get(split) != new.get(split)]
    return ", ".join(out)


def check_resume(request: ResumeRequest) -> RunPlan:
    """The run's plan, when ``request`` may resume it: it has a ``last`` checkpoint, and
    ``steps`` (if given) is not below the step it is at; one-line errors otherwise."""
    from tunesmith.training import distributed

    run_dir = Path(request.run)
    p = read_plan(run_dir)
    if not distributed.from_main(_has_last(run_dir)):
        raise TunesmithError("nothing to resume: the run has no 'last' checkpoint (it "
                             "stopped before its first one: run its train command again, "
                             "with --force to start it afresh in this folder)", run_dir)
    if request.steps is not None:
        done = distributed.from_main(steps_done(run_dir))
        if done is not None and request.steps < done:
            raise OptionError("steps", f"is {request.steps}, but the run is already at step "
                              f"{done}: ask for more")
    return p


def steps_done(run_dir: Path) -> int | None:
    """The step of the run's ``last`` checkpoint, from its summary (rank 0 only; None
    where it does not say: loading the checkpoint then says what is wrong)."""
    from tunesmith.jsonfile import read_json
    from tunesmith.training import distributed
    from tunesmith.training.checkpoint import META_FILE

    if not distributed.current().main:
        return None  # not asked: rank 0's answer is the one taken
    try:
        meta = read_json(run_dir / "last" / META_FILE)
    except TunesmithError:
        return None
    summary = meta.get("summary") if isinstance(meta, dict) else None
    step = summary.get("step") if isinstance(summary, dict) else None
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def _launch(train) -> dict:
    """How this process group will compute the run (``config.json``'s "distributed"):
    checks the device and that the batch splits over the processes."""
    from tunesmith.training import distributed
    from tunesmith.training.device import resolve_device

    ranks = distributed.current()
    device = distributed.local_device(resolve_device(train.device), ranks)
    share = distributed.Share(train.batch_size, ranks.world, train.grad_accum)
    return share.record(ranks, device)


def _family(p: RunPlan):
    from tunesmith import families

    return families.get(p.family)


def _prepare(p: RunPlan, rep, progress, log):
    from tunesmith.training import distributed

    fam = _family(p)
    with distributed.main_first():  # rank 0 fills the corpus caches the others then read
        prepared = fam.prepare_data(p.corpus, p.data, representation=rep, progress=progress,
                                    log=log)
    log(corpus_line(prepared.info))
    if not prepared.sequences["valid"] and prepared.info.get("split") == "benchmark":
        raise TunesmithError("its valid split is empty (a benchmark file's splits are its "
                             "own: give it valid pieces)", prepared.info["corpus"])
    if not prepared.sequences["valid"]:
        # say how many *distinct* items there are: copies of one tune share a split
        import numpy as np

        items = [s for seqs in prepared.sequences.values() for s in seqs]

        def key(item):  # a sequence, or a pair of them and its style (continue families)
            parts = item[:2] if isinstance(item, tuple) else (item,)
            return tuple((a.shape, a.dtype.str, a.tobytes()) for a in map(np.asarray, parts))

        distinct = len(set(map(key, items)))
        abc = prepared.info.get("unit") == "characters"
        one, many = ("tune", "tunes") if abc else ("piece", "pieces")
        if distinct < len(items):
            why = (" (copies always land in the same split: the split is a hash of each "
                   "tune's text)" if abc else "")
            counts = (f"its {len(items):,} {many if len(items) != 1 else one} are only "
                      f"{distinct:,} distinct {many if distinct != 1 else one}{why}")
        else:
            counts = f"{len(items):,} {many if len(items) != 1 else one}"
        need = "at least 3 distinct tunes" if abc else f"about 20 distinct {many} or more"
        raise TunesmithError(f"corpus too small: nothing landed in the validation split: "
                             f"{counts}; it needs {need}", prepared.info["corpus"])
    return prepared


def corpus_line(info: dict) -> str:
    unit = info.get("unit", "tokens")
    return (f"corpus {info['corpus']}: " + ", ".join(
        f"{s} {info['tunes'][s]} items / {info['tokens'][s]:,} {unit}" for s in info["tunes"])
        + (f"; {info['skipped']} skipped" if info["skipped"] else "")
        + (f"; split by {info['split']}" if info.get("split") else ""))


def _start_folder(run_dir: Path, p: RunPlan, fresh: bool) -> None:
    """Make the run folder; with ``fresh`` (--force) nothing of an old run stays in it."""
    from tunesmith.training.checkpoint import write_json

    if fresh and run_dir.exists():
        for old in ("last", "best", "tensorboard", "samples", "metrics.csv", "curves.png"):
            target = run_dir / old
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", p.to_json())


def _fit(p: RunPlan, run_dir: Path, prepared, resume: bool, samples: int, stop_at,
         progress, log, samples_asked: bool = False, fresh_best: bool = False) -> RunResult:
    """Train (or go on training) and, at the end, compose ``samples`` pieces; a finished
    run resumed composes its samples again only when they were asked for. ``fresh_best``:
    the run goes on with another loss, so its best checkpoint is chosen anew from here."""
    import torch

    from tunesmith import models
    from tunesmith.training import distributed
    from tunesmith.training.trainer import Trainer

    fam = _family(p)
    main = distributed.current().main
    if prepared.corpus is not None and main:
        log(f"ingest report: {prepared.corpus.write_csv(run_dir / 'ingest_report.csv')}")
    torch.manual_seed(p.train.seed)  # the seed decides the initial weights too
    try:
        model = models.build(p.arch, p.model)
    except (TypeError, ValueError) as e:
        raise TunesmithError(f"bad model settings: {e}") from None
    if not resume:
        fam.init_model(model, prepared)  # a data-dependent start (piano roll: key rates)
    n_params = sum(x.numel() for x in model.parameters())
    log(f"model {model.family} {n_params:,} parameters; run folder {run_dir}")
    data = to_dict(p.data)
    train_data, valid_data = fam.batches(prepared, p.train, p.data)
    trainer = Trainer(model, prepared.representation, train_data, valid_data, p.train,
                      run_dir, resume=resume, progress=progress, log=log,
                      fresh_best=fresh_best,
                      summary_extra={"corpus": prepared.info, "data": data})
    finished = resume and trainer.step >= p.train.steps
    if finished:  # nothing to train: said, and its samples are not composed again
        log(f"the run is finished (step {trainer.step} of {p.train.steps}): nothing to "
            "train; give --steps N to train it further"
            + ("" if samples_asked else " (or --samples N for new samples)"), "warning")
    elif resume:
        log(f"resuming at step {trainer.step} of {p.train.steps}")
    t0 = time.perf_counter()
    summary = trainer.fit(stop_at=stop_at)
    result = RunResult(run_dir, summary, time.perf_counter() - t0,
                       prepared.info.get("unit", "tokens"), resumed=resume)
    if (main and not result.interrupted and samples and (samples_asked or not finished)
            and (run_dir / "best").exists()):
        result.samples = _samples(run_dir, samples, p.train.seed, log)
    return result


def _samples(run_dir: Path, num: int, seed: int, log):
    """Compose ``num`` pieces from the run's best checkpoint into ``samples/``."""
    from tunesmith.app.composing import Output, write
    from tunesmith.app.models import load_model
    from tunesmith.families.base import ComposeOptions

    ckpt = load_model(run_dir / "best", device="cpu")
    return write(ckpt, ComposeOptions(num=num, seed=seed), run_dir / "samples",
                 Output(png=True, overwrite=True), log=log)


def _quiet(message: str, level: str = "info") -> None:
    pass
