"""What the page offers: the models (shipped and every ``runs/*/best``), the corpora a
training job may read, and the compose form of a model, built from the family protocol
(:attr:`Family.controls`, :attr:`Family.defaults`, :attr:`Family.primer`), the model's
declared capabilities (``gibbs_sampling``) and the fields of
:class:`~tunesmith.families.base.ComposeOptions` with their help
(:func:`tunesmith.options.settings`): nothing here is written per family.

A request names a model or a corpus by an id (``shipped-abc``, ``run-3f2a...``,
``folk-abc``, ``dir-0``); the id is looked up here, never joined to a path.
"""

from __future__ import annotations

import hashlib
import threading
import typing
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith.errors import TunesmithError
from tunesmith.studio.store import NotFound


@dataclass
class ModelEntry:
    id: str
    label: str
    path: Path
    source: str  # "shipped" | "run"
    family: str = ""
    arch: str = ""
    corpus: str = ""
    params: int | None = None
    bytes: int = 0
    step: int | None = None
    figures: dict = field(default_factory=dict)  # the best validation metrics
    unit: str = ""
    error: str = ""  # why the checkpoint could not be read (listed, not usable)
    mtime: float = 0.0

    def to_json(self) -> dict:
        return {"id": self.id, "label": self.label, "source": self.source,
                "family": self.family, "arch": self.arch, "corpus": self.corpus,
                "params": self.params, "bytes": self.bytes, "step": self.step,
                "figures": self.figures, "unit": self.unit, "error": self.error}


@dataclass
class CorpusEntry:
    id: str
    label: str
    kind: str  # "abc" | "score" | "folder"
    description: str
    path: str  # what TrainRequest.corpus gets (a built-in name, or the folder)

    def to_json(self) -> dict:
        return {"id": self.id, "label": self.label, "kind": self.kind,
                "description": self.description}


FIGURES = ("loss", "bits", "ppl", "accuracy")


class Catalog:
    """The models and corpora; the models are re-read when their folders change."""

    def __init__(self, runs_dirs: list[Path], corpus_dirs: list[Path]):
        self.runs_dirs = runs_dirs
        self.corpus_dirs = corpus_dirs
        self._entries: dict[Path, ModelEntry] = {}
        self._lock = threading.Lock()

    # --- models --------------------------------------------------------------------------
    def models(self) -> list[ModelEntry]:
        from tunesmith import families

        found: list[tuple[Path, str, str, str]] = []
        for name in families.FAMILIES:
            try:
                path = families.pretrained_dir(name)
            except TunesmithError:
                continue
            if (path / "tunesmith.json").is_file():
                found.append((path, f"shipped-{name}", path.name, "shipped"))
        seen: set[Path] = set()
        for runs in self.runs_dirs:
            try:
                bests = sorted(runs.glob("*/best"))
            except OSError:
                continue
            for best in bests:
                real = best.resolve()
                if real in seen or not (best / "tunesmith.json").is_file():
                    continue
                seen.add(real)
                rid = "run-" + hashlib.sha1(str(real).encode()).hexdigest()[:12]
                found.append((best, rid, best.parent.name, "run"))
        with self._lock:
            return [self._entry(*f) for f in found]

    def model(self, model_id: str) -> ModelEntry:
        for m in self.models():
            if m.id == model_id:
                if m.error:
                    raise TunesmithError(f"model {m.label} cannot be used: {m.error}")
                return m
        raise NotFound(f"no model {model_id!r}")

    def model_for_path(self, path: Path) -> ModelEntry | None:
        real = path.resolve()
        return next((m for m in self.models() if m.path.resolve() == real), None)

    def _entry(self, path: Path, mid: str, label: str, source: str) -> ModelEntry:
        meta = path / "tunesmith.json"
        try:
            mtime = meta.stat().st_mtime
        except OSError:
            mtime = 0.0
        old = self._entries.get(path)
        if old is not None and old.mtime == mtime:
            return old
        entry = ModelEntry(mid, label, path, source, mtime=mtime)
        _describe(entry)
        self._entries[path] = entry
        return entry

    # --- corpora -------------------------------------------------------------------------
    def corpora(self) -> list[CorpusEntry]:
        from tunesmith.corpora import BUILTIN

        out = [CorpusEntry(spec.name, spec.name, spec.kind, spec.description, spec.name)
               for spec in BUILTIN.values()]
        for i, folder in enumerate(self.corpus_dirs):
            out.append(CorpusEntry(f"dir-{i}", folder.name or str(folder), "folder",
                                   f"a folder on the server: {folder}", str(folder)))
        return out

    def corpus(self, corpus_id: str) -> CorpusEntry:
        for c in self.corpora():
            if c.id == corpus_id:
                return c
        raise NotFound(f"no corpus {corpus_id!r}")


def _describe(entry: ModelEntry) -> None:
    """Family, architecture, corpus, size and validation figures from the checkpoint's
    metadata and the safetensors header (no weights are loaded)."""
    from tunesmith import families, models
    from tunesmith.jsonfile import read_json
    from tunesmith.training.checkpoint import read_safetensors_header

    try:
        meta = read_json(entry.path / "tunesmith.json")
        if not isinstance(meta, dict):
            raise TunesmithError("not a checkpoint's metadata")
        entry.arch = str(meta.get("family", ""))
        cls = models.registry().get(entry.arch)
        if cls is None:
            raise TunesmithError(f"unknown model {entry.arch!r}")
        rep = cls.representation
        rep = rep if isinstance(rep, str) else (meta.get("representation") or {}).get("name")
        entry.family = families.for_representation(str(rep)).name
        entry.unit = families.get(entry.family).unit
        summary = meta.get("summary") or {}
        best = summary.get("best_valid") or {}
        entry.figures = {k: float(best[k]) for k in FIGURES
                         if isinstance(best.get(k), (int, float))}
        entry.step = summary.get("step") if isinstance(summary.get("step"), int) else None
        corpus = summary.get("corpus") or {}
        name = str(corpus.get("corpus", "")) if isinstance(corpus, dict) else ""
        entry.corpus = Path(name).name if "/" in name or "\\" in name else name
        weights = entry.path / "model.safetensors"
        entry.bytes = weights.stat().st_size
        header = read_safetensors_header(weights, "weights")
        total = 0
        for _dtype, shape in header.values():
            n = 1
            for d in shape:
                n *= d
            total += n
        entry.params = total
    except (TunesmithError, OSError, ValueError, TypeError, AttributeError) as e:
        entry.error = str(e).replace(str(entry.path), entry.label)


# --- the compose form ----------------------------------------------------------------------

@dataclass
class FormField:
    name: str
    label: str
    help: str
    kind: str  # int, float, bool, choice, text, heads, primer_text, primer_piece
    default: object = None  # the field's value when the form leaves it alone
    placeholder: str = ""  # the family's default where the field's own is None
    choices: tuple = ()
    heads: tuple[str, ...] = ()
    head_kind: str = ""  # int or float, for per-head fields
    optional: bool = False
    negate: bool = False  # a checkbox that turns the setting off when ticked

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


LABELS = {"num": "Pieces", "seed": "Seed", "max_len": "Length (tokens)",
          "seconds": "Length (seconds)", "primer": "Primer", "primer_len": "Primer length",
          "temperature": "Temperature", "top_k": "Top-k", "top_p": "Top-p",
          "constrain": "Unconstrained", "mode": "Mode", "gibbs_steps": "Gibbs steps",
          "grace": "Beats to reach a cadence", "repeat_bias": "Repeat bias"}


def form_fields(family, model_cls, heads: Mapping[str, int], max_num: int,
                representation=None) -> list[FormField]:
    """The compose form of a model: the :class:`ComposeOptions` fields its family reads
    (``controls`` and the fields every composer reads), less what the model cannot do
    (``gibbs_steps`` without ``gibbs_sampling``; ``repeat_bias`` without a lookback in
    ``representation``, or for a frame model that gives no frame's probability), each with
    its help text."""
    from tunesmith.families.base import ALWAYS, ComposeOptions
    from tunesmith.options import settings
    from tunesmith.sampling.settings import parse_head_ints, parse_head_values

    capabilities = {"gibbs_steps": bool(getattr(model_cls, "gibbs_sampling", False)),
                    "repeat_bias": getattr(representation, "lookback_inputs", False) and (
                        getattr(model_cls, "sampler", "") == "step"
                        or hasattr(model_cls, "frame_log_prob"))}
    out = []
    for s in settings(ComposeOptions):
        if s.name not in ALWAYS and s.name not in family.controls:
            continue
        if not capabilities.get(s.name, True) or not family.can(s.name, representation):
            continue
        label = LABELS.get(s.name, s.name.replace("_", " ").capitalize())
        default = family.defaults.get(s.name, s.default)
        if s.name == "repeat_bias":
            default = family.repeat_bias_default
        f = FormField(s.name, label, s.help, "text", default=s.default,
                      placeholder="" if default is None else _shown(default),
                      optional=s.optional, negate=s.negate)
        if s.name == "num":
            f.default = min(2, max_num)
        if s.name == "primer":
            f.kind = "primer_text" if family.primer == "text" else "primer_piece"
        elif s.cast in (parse_head_values, parse_head_ints):
            f.head_kind = "int" if s.cast is parse_head_ints else "float"
            if len(heads) > 1:
                f.kind, f.heads = "heads", tuple(heads)
            else:
                f.kind = f.head_kind
        elif s.choices:
            f.kind, f.choices = "choice", tuple(s.choices)
        elif s.is_bool:
            f.kind = "bool"
        elif s.type is int or _admits(s.type, int):
            f.kind = "int"
        elif s.type is float or _admits(s.type, float):
            f.kind = "float"
        out.append(f)
    return out


def _admits(hint, typ) -> bool:
    return typ in typing.get_args(hint)


def _shown(value) -> str:
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)


class ModelCache:
    """Loaded checkpoints, the few most recently used (a run's ``best`` is loaded again
    when it changes); two threads asking for the same model load it once."""

    def __init__(self, device: str = "auto", size: int = 4):
        self.device, self.size = device, size
        self._cache: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple, threading.Lock] = {}

    def load(self, entry: ModelEntry):
        from tunesmith import app

        key = (str(entry.path.resolve()), entry.mtime)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            ckpt = app.load_model(entry.path, device=self.device)
            with self._lock:
                self._cache[key] = ckpt
                self._loading.pop(key, None)
                while len(self._cache) > self.size:
                    self._cache.popitem(last=False)
            return ckpt


__all__ = ["Catalog", "CorpusEntry", "FormField", "ModelCache", "ModelEntry", "form_fields"]
