"""Evaluating a model: likelihood per split (NLL, perplexity, bits, accuracy; per head
where the model has several) on its own corpus, and the validity of its raw samples
where the family can judge it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from tunesmith.errors import OptionError, TunesmithError
from tunesmith.options import opt
from tunesmith.progress import Progress
from tunesmith.sampling.settings import DEFAULTS, HeadValue, parse_head_values

SPLITS = ("train", "valid", "test")


def _parse_splits(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s.strip() for s in str(text).split(",") if s.strip()))


@dataclass(frozen=True)
class EvaluateRequest:
    model: str | None = opt(None, "checkpoint folder (default: the shipped ABC model)")
    corpus: str | None = opt(None, "corpus to evaluate on (default: the model's own; "
                             "continue-events, continue-remi: LABEL=CORPUS, repeated)", repeat=",")
    splits: tuple[str, ...] = opt(("valid", "test"), "comma list of the splits to evaluate "
                                  "(train, valid, test)", cast=_parse_splits)
    samples: int = opt(100, "tunes to sample for the validity rate (0 = skip)")
    temperature: HeadValue = opt(DEFAULTS.temperature, "sampling temperature of those tunes",
                                 cast=parse_head_values)
    seed: int = opt(0, "random seed of those tunes")
    ais_chains: int = opt(16, "RBM models: AIS chains per frame")
    ais_betas: int = opt(1000, "RBM models: AIS inverse temperatures")
    device: str = opt("auto", "auto, cpu, cuda, cuda:N")

    def __post_init__(self):
        if not self.splits or not set(self.splits) <= set(SPLITS):
            raise OptionError("splits", f"takes a comma list of train, valid, test; got "
                              f"{','.join(self.splits)!r}")
        if self.samples < 0:
            raise OptionError("samples", f"must be >= 0, got {self.samples}")
        for name in ("ais_chains", "ais_betas"):
            if getattr(self, name) < 1:
                raise OptionError(name, f"must be >= 1, got {getattr(self, name)}")


@dataclass
class Evaluation:
    model: str
    corpus: str
    unit: str  # characters, messages, frames
    split_mode: str  # how the corpus was split ("" for a hash split by item)
    heads: tuple[str, ...]
    results: dict[str, dict] = field(default_factory=dict)  # split -> metrics
    items: dict[str, int] = field(default_factory=dict)  # split -> items evaluated
    validity: float | None = None  # share of raw samples that are valid, where judged
    ais: tuple[int, int] | None = None  # (chains, inverse temperatures) for RBM models
    likelihood: str = "exact"  # the model's declaration: exact, ais or none (a GAN)
    notes: list[str] = field(default_factory=list)


def evaluate(request: EvaluateRequest, progress: Progress | None = None,
             log=None) -> Evaluation:
    from tunesmith import families
    from tunesmith.app.models import load_model
    from tunesmith.evaluation.likelihood import evaluate as mean_metrics
    from tunesmith.sampling.settings import per_head

    ckpt = load_model(request.model, device=request.device)
    fam = families.for_representation(ckpt.representation.name)
    per_head(list(ckpt.representation.heads), request.temperature)  # names and values
    corpus, data, notes = _corpus_and_data(ckpt, fam, request.corpus)
    if request.corpus is None:
        _own_corpus_here(corpus, fam.name)
    prepared = fam.prepare_data(corpus, data, representation=ckpt.representation,
                                progress=progress, log=log or _quiet)
    out = Evaluation(str(ckpt.path), corpus, prepared.info.get("unit", "tokens"),
                     prepared.info.get("split", ""), tuple(ckpt.representation.heads),
                     notes=notes)
    model = ckpt.model
    out.likelihood = model.likelihood
    if model.likelihood == "ais":  # an RBM: the likelihood is an AIS estimate
        model.eval_ais = out.ais = (request.ais_chains, request.ais_betas)
    cfg = _eval_config(ckpt)
    device = next(model.parameters()).device
    for split in request.splits:
        seqs = prepared.sequences[split]
        out.items[split] = len(seqs)
        if not seqs:
            continue
        _, batches = fam.batches(dataclasses.replace(
            prepared, sequences={"train": seqs, "valid": seqs}), cfg, data)
        out.results[split] = mean_metrics(model, batches, device, progress=progress,
                                          task=f"evaluate {split}")
    if request.samples and fam.checks_validity:
        out.validity = fam.sample_validity(ckpt, request.samples, request.temperature,
                                           request.seed, progress=progress)
    return out


def _missing(corpus: str, family: str) -> bool:
    """Whether a recorded corpus (or a part of one) is no longer on this machine."""
    from tunesmith.corpora.labelled import missing_sources

    try:
        return bool(missing_sources(corpus, family))
    except TunesmithError:
        return False


def _own_corpus_here(corpus: str, family: str) -> None:
    """A model's own corpus that is not on this machine (moved, or someone else's): say
    so, and how to evaluate on another, rather than "no such file"."""
    from tunesmith.corpora.labelled import missing_sources

    missing = missing_sources(corpus, family)
    if missing:
        raise TunesmithError("the corpus this model was trained on is not here (moved, "
                             "or trained on another machine): give --corpus to "
                             "evaluate on another", missing[0])


def held_out(ckpt, log=None):
    """A loaded model's own corpus, read with its run's data settings (the same splits)
    and encoded by its representation: ``(corpus, data, prepared)``, for benchmarks that
    read the held-out items themselves."""
    from tunesmith import families

    fam = families.for_representation(ckpt.representation.name)
    corpus, data, _ = _corpus_and_data(ckpt, fam, None)
    return corpus, data, fam.prepare_data(corpus, data, representation=ckpt.representation,
                                          log=log or _quiet)


def _corpus_and_data(ckpt, fam, corpus: str | None):
    """The corpus to evaluate on and the data settings to read it with: the model's own
    settings on its own corpus, so that the splits hold the same items."""
    from tunesmith.options import build

    summary = ckpt.meta.get("summary", {})
    trained_on = summary.get("corpus", {})
    corpus = corpus or trained_on.get("corpus") or fam.default_corpus
    values, notes = {}, []
    from tunesmith.app.training import corpus_on_disk

    recorded = trained_on.get("corpus")
    if recorded in (corpus, corpus_on_disk(corpus, fam.name)) or (
            recorded and _missing(recorded, fam.name)):  # its own, however the path is
        # written (runs before absolute paths recorded it as given), or given anew for a
        # corpus that moved: read with the run's own data settings, so its splits hold
        values = dict(summary.get("data") or {"clean": trained_on.get("clean", False)})
    values = {k: v for k, v in values.items()
              if k in {f.name for f in dataclasses.fields(fam.data_options)}}
    data = build(fam.data_options, values)
    return corpus, fam.usable_data(data, notes), notes


def _eval_config(ckpt):
    """The run's training settings (batch and window sizes), every validation item."""
    from tunesmith.training.config import TrainConfig

    saved = ckpt.meta.get("summary", {}).get("train_config", {})
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    try:
        cfg = TrainConfig(**{k: v for k, v in saved.items() if k in known})
    except (TypeError, ValueError):
        cfg = TrainConfig()
    return dataclasses.replace(cfg, eval_max_items=0)


def _quiet(message: str, level: str = "info") -> None:
    pass
