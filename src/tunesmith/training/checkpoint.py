"""Checkpoint folders: safetensors for tensors, JSON for everything else. No pickle.

::

    <folder>/
      model.safetensors        weights
      tunesmith.json           format version, family, model config, representation (with
                               vocabulary), training summary, library versions
      training_state.safetensors + training_state.json
                               optimiser tensors and RNG states + step, scheduler and
                               early-stopping state (only in run checkpoints: exact resume)

Writes are atomic: a folder is written under a temporary name and renamed into place, so a
kill mid-write leaves the previous checkpoint intact. The writer records the temporary
names it is about to use in a journal beside the folder (``.<name>.swap.json``) before it
makes them; :func:`recover` (called only by the writer of a run: ``train``, ``train
--resume``, the benchmark runner) finishes or undoes an interrupted swap from that journal
and touches nothing else. Readers (``compose``, ``evaluate``, ``export``, ...) never
rename or delete anything: a reader that finds an interrupted swap says so.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from tunesmith.errors import CheckpointError, TunesmithError, first_line

FORMAT_VERSION = 1
META_FILE = "tunesmith.json"
WEIGHTS_FILE = "model.safetensors"
STATE_TENSORS = "training_state.safetensors"
STATE_JSON = "training_state.json"


@dataclass
class Checkpoint:
    model: object  # nn.Module
    representation: object
    meta: dict
    path: Path


def library_versions() -> dict:
    import safetensors
    import torch

    import tunesmith

    return {"tunesmith": tunesmith.__version__, "torch": torch.__version__,
            "safetensors": safetensors.__version__, "python": platform.python_version()}


def write_json(path: Path, obj) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def save_checkpoint(folder: str | Path, model, representation, summary: dict | None = None,
                    training_state: dict | None = None) -> Path:
    """Write a checkpoint folder atomically. ``training_state`` comes from
    :func:`pack_training_state` (tensors + JSON-able dict)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    # the names this write will use, recorded before they exist (see recover())
    tag = secrets.token_hex(4)
    tmp = folder.with_name(f".{folder.name}.tmp-{tag}")
    old = folder.with_name(f".{folder.name}.old-{tag}")
    journal = _journal(folder)
    write_json(journal, {"folder": folder.name, "tmp": tmp.name, "old": old.name})
    tmp.mkdir()
    weights = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(weights, str(tmp / WEIGHTS_FILE))
    meta = {
        "format_version": FORMAT_VERSION,
        "family": model.family,
        "model_config": asdict(model.config),
        "representation": representation.to_dict(),
        "summary": summary or {},
        "versions": library_versions(),
    }
    if training_state is not None:
        tensors, info = training_state
        save_file(tensors, str(tmp / STATE_TENSORS))
        write_json(tmp / STATE_JSON, info)
    write_json(tmp / META_FILE, meta)
    _fsync_tree(tmp)
    # swap: folder -> old, tmp -> folder, drop old. A kill between the two renames leaves
    # only old, which recover() puts back; so some complete checkpoint always exists.
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    journal.unlink(missing_ok=True)
    return folder


def _fsync_tree(folder: Path) -> None:
    for p in folder.iterdir():
        with open(p, "rb") as f:
            os.fsync(f.fileno())


def _journal(folder: Path) -> Path:
    """Where a checkpoint write records the temporary names it uses."""
    return folder.with_name(f".{folder.name}.swap.json")


def _recorded_names(folder: Path) -> tuple[Path, Path] | None:
    """(tmp, old) recorded by an interrupted write of ``folder``, or None. Only names of
    the form the writer makes (``.<name>.tmp-<hex>``, ``.<name>.old-<hex>``) are
    believed: a journal naming anything else (or damaged) is ignored."""
    from tunesmith.jsonfile import read_json

    try:
        rec = read_json(_journal(folder), max_bytes=1 << 16)
        tmp, old = rec["tmp"], rec["old"]
    except (TunesmithError, KeyError, TypeError, IndexError):
        return None
    names = []
    for name, kind in ((tmp, "tmp"), (old, "old")):
        prefix = f".{folder.name}.{kind}-"
        if not (isinstance(name, str) and name.startswith(prefix)
                and len(name) > len(prefix) and name[len(prefix):].isalnum()):
            return None
        names.append(folder.with_name(name))
    return names[0], names[1]


def interrupted_write(folder: str | Path) -> Path | None:
    """The journal of an unfinished write of ``folder`` (for a reader's message), or None.
    Reads only."""
    journal = _journal(Path(folder))
    return journal if journal.is_file() else None


def recover(folder: str | Path) -> Path:
    """For the writer of ``folder`` only: finish or undo an interrupted checkpoint write,
    acting solely on the names its journal records. If ``folder`` is missing and the
    recorded previous copy is complete, it is put back; the recorded temporary folder and
    a leftover previous copy are removed; then the journal (and the journal's own draft,
    ``.<name>.swap.json.tmp``, left by a kill while the journal was being written).
    Nothing else is touched."""
    folder = Path(folder)
    journal = _journal(folder)
    _remove_journal_draft(folder)
    if not journal.is_file():
        return folder
    names = _recorded_names(folder)
    if names is not None:
        tmp, old = names
        if not folder.exists() and (old / META_FILE).is_file():
            os.replace(old, folder)
        for leftover in (tmp, old):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
    journal.unlink(missing_ok=True)
    return folder


def _remove_journal_draft(folder: Path) -> None:
    """The journal's own temporary file (``write_json`` writes ``<journal>.tmp`` and
    renames it), left by a kill while the journal itself was being written."""
    draft = _journal(folder).with_name(_journal(folder).name + ".tmp")
    if draft.is_file() and not draft.is_symlink():
        draft.unlink(missing_ok=True)


# --- reading: every field checked before it is believed ----------------------------

# what safetensors itself allows a header; tunesmith's headers are a few KB
MAX_HEADER_BYTES = 100 << 20
DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2,
               "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")
MAX_RANK = 8
# no setting of a tunesmith model is near this; a damaged or crafted one that is (a
# gibbs_steps of 10**12) would hang whatever uses it
MAX_SETTING = 1_000_000


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def read_safetensors_header(path: Path, what: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``name -> (dtype, shape)`` from a safetensors file, every entry checked against the
    file's size before anything is believed (a truncated, empty or garbage file is a
    one-line :class:`CheckpointError` naming it; nothing is allocated from its claims)."""
    from tunesmith.jsonfile import loads

    def bad(problem: str) -> CheckpointError:
        return CheckpointError(f"damaged {what} ({problem})", path)

    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise bad(f"{size} byte{'s' * (size != 1)}: shorter than a safetensors "
                          "header")
            n = int.from_bytes(head, "little")
            if n > size - 8 or n > MAX_HEADER_BYTES:
                raise bad(f"its header claims {n:,} bytes, the file has {size:,}: truncated, "
                          "or not a safetensors file")
            raw = f.read(n)
    except OSError as e:
        raise CheckpointError(f"cannot read {what} ({e.strerror or e})", path) from None
    try:
        header = loads(raw.decode("utf-8"), path, what)
    except UnicodeDecodeError:
        raise bad("its header is not UTF-8 JSON; not a safetensors file?") from None
    except TunesmithError as e:
        raise CheckpointError(str(e)) from None
    if not isinstance(header, dict):
        raise bad("its header is not a JSON object")
    data_bytes = size - 8 - n
    out: dict[str, tuple[str, tuple[int, ...]]] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict):
            raise bad(f"tensor {name!r}: its entry is not a JSON object")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
            raise bad(f"tensor {name!r} has an unknown dtype {dtype!r}")
        if not (isinstance(shape, list) and len(shape) <= MAX_RANK
                and all(_is_int(d) and d >= 0 for d in shape)):
            raise bad(f"tensor {name!r} has a bad shape {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(_is_int(o) for o in offsets) and 0 <= offsets[0] <= offsets[1]):
            raise bad(f"tensor {name!r} has bad data offsets {offsets!r}")
        if offsets[1] > data_bytes:
            raise bad(f"tensor {name!r} lies past the end of the file: truncated?")
        numel = 1
        for d in shape:
            numel *= d
        if offsets[1] - offsets[0] != numel * DTYPE_BYTES[dtype]:
            raise bad(f"tensor {name!r}: {offsets[1] - offsets[0]:,} bytes for a {dtype} "
                      f"tensor of shape {shape}")
        out[name] = (dtype, tuple(shape))
    return out


def _load_tensors(path: Path, what: str, header: dict) -> dict:
    """The tensors of a safetensors file whose header :func:`read_safetensors_header`
    accepted (the library's own checks, e.g. overlapping data, are one line too)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"damaged {what} ({first_line(e)})", path) from None
    if set(tensors) != set(header):  # cannot happen for a file the library accepts
        raise CheckpointError(f"damaged {what} (its tensors do not match its header)", path)
    return tensors


def _first_not_finite(tensors: dict, names) -> str | None:
    import torch

    for name in names:
        t = tensors[name]
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return name
    return None


@dataclass
class _Opened:
    """A checkpoint folder whose every part has been checked."""

    meta: dict
    model_class: type
    config: object
    representation: object
    weights: dict  # name -> CPU tensor, finite, of the dtype kind the model holds


def read_meta(folder: str | Path) -> dict:
    """The checkpoint's JSON, after checking all of the checkpoint: ``tunesmith.json``
    (read with size and nesting caps; its schema: format version, a known model family
    with a config that family accepts, a representation that rebuilds with the sizes the
    config says, a training summary of the right types) and ``model.safetensors`` (a
    well-formed file whose tensors are finite, floating point and exactly the names and
    shapes of that model). What this accepts, :func:`load_checkpoint` loads. Every
    problem is a one-line :class:`CheckpointError` naming the file and the field."""
    return _open(Path(folder)).meta


def _open(folder: Path) -> _Opened:
    from tunesmith.jsonfile import read_json

    if not folder.exists():
        hint = ""
        if interrupted_write(folder):
            hint = (" (a checkpoint write was interrupted here; the run's `tunesmith train "
                    "--resume` finishes it)")
        raise CheckpointError(f"no such checkpoint folder{hint}", folder)
    if not folder.is_dir() or not (folder / META_FILE).is_file():
        hint = ""
        if folder.is_dir() and (folder / "best" / META_FILE).is_file():
            hint = f" (this looks like a run folder: try {folder / 'best'})"
        elif folder.is_file() and (folder.parent / META_FILE).is_file():
            hint = f" (a file of one: give its folder, {folder.parent})"
        raise CheckpointError(f"not a tunesmith checkpoint (no {META_FILE}){hint}", folder)
    meta_path = folder / META_FILE
    try:
        meta = read_json(meta_path)
    except CheckpointError:
        raise
    except TunesmithError as e:
        raise CheckpointError(str(e)) from None
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if not _is_int(version) or version != FORMAT_VERSION:
        versions = meta.get("versions") if isinstance(meta, dict) else None
        written = versions.get("tunesmith", "?") if isinstance(versions, dict) else "?"
        raise CheckpointError(
            f"checkpoint format {version!r} written by tunesmith {written} is incompatible with "
            f"this version (reads format {FORMAT_VERSION})", meta_path)
    cls, config, rep = _check_meta(meta, meta_path)
    weights_path = folder / WEIGHTS_FILE
    if not weights_path.is_file():
        raise CheckpointError(f"checkpoint has no {WEIGHTS_FILE}", folder)
    header = read_safetensors_header(weights_path, WEIGHTS_FILE)
    _check_weights_header(header, cls, config, weights_path)
    weights = _load_tensors(weights_path, WEIGHTS_FILE, header)
    bad = _first_not_finite(weights, sorted(header))
    if bad is not None:
        raise CheckpointError(f"tensor {bad!r} holds NaN or infinite values", weights_path)
    return _Opened(meta, cls, config, rep, weights)


def _check_meta(meta: dict, where: Path):
    """The model class, its config and the representation that ``meta`` describes, each
    field checked (a one-line CheckpointError naming the field otherwise)."""
    import dataclasses

    from tunesmith import models, representations
    from tunesmith.options import build

    def bad(field: str, problem: str) -> CheckpointError:
        return CheckpointError(f"damaged checkpoint: {field} {problem}", where)

    family = meta.get("family")
    registry = models.registry()
    if not isinstance(family, str) or family not in registry:
        raise bad("family", f"is {family!r}, not a known model ({', '.join(registry)})")
    cls = registry[family]
    model_config = meta.get("model_config")
    if not isinstance(model_config, dict):
        raise bad("model_config", "is not a JSON object")
    try:
        config = build(cls.config_class, model_config, f"the {family} model")
    except TunesmithError as e:
        raise bad("model_config:", str(e)) from None
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if _is_number(value) and not math.isfinite(value):
            raise bad(f"model_config.{f.name}", f"is {value}")
        if _is_int(value) and value > MAX_SETTING:
            raise bad(f"model_config.{f.name}", f"is {value:,}, over the {MAX_SETTING:,} a "
                      "checkpoint may hold")
    rep_dict = meta.get("representation")
    if not isinstance(rep_dict, dict):
        raise bad("representation", "is not a JSON object")
    reads = ((cls.representation,) if isinstance(cls.representation, str)
             else tuple(cls.representation))  # a model may read several
    if rep_dict.get("name") not in reads:
        raise bad("representation.name", f"is {rep_dict.get('name')!r}; the {family} model "
                  f"reads {' or '.join(map(repr, reads))}")
    try:
        rep = representations.from_dict(rep_dict)
    except (LookupError, TypeError, ValueError, AttributeError, ArithmeticError) as e:
        raise bad("representation:", first_line(e)) from None
    if getattr(rep, "name", None) not in reads:  # a registry entry's own name
        raise bad("representation.name", f"is {getattr(rep, 'name', None)!r}; the {family} "
                  f"model reads {' or '.join(map(repr, reads))}")
    # the config's derived fields, in order, are the representation's head sizes (or one
    # derived field maps each head to its size)
    derived = [f.name for f in dataclasses.fields(config)
               if f.metadata.get("derived") and f.name != "inputs"]
    heads = dict(rep.heads)
    if "inputs" in {f.name for f in dataclasses.fields(config)}:  # what a step reads besides
        inputs = dict(getattr(rep, "inputs", {}))
        if not isinstance(config.inputs, Mapping) or dict(config.inputs) != inputs:
            raise bad("model_config.inputs", f"is {config.inputs!r}, but the representation's "
                      f"inputs are {inputs!r}")
    if len(derived) == 1 and isinstance(getattr(config, derived[0]), Mapping):
        if list(dict(getattr(config, derived[0])).items()) != list(heads.items()):
            raise bad(f"model_config.{derived[0]}", f"is {getattr(config, derived[0])!r}, "
                      f"but the representation's heads are {heads!r}")
    elif len(derived) == len(heads):
        for name, (head, size) in zip(derived, heads.items(), strict=True):
            if getattr(config, name) != size:
                what = (f"a vocabulary of {size} symbols" if head == "token"
                        else f"{size} {head} classes")
                raise bad(f"model_config.{name}", f"is {getattr(config, name)}, but the "
                          f"representation has {what}")
    _check_summary(meta.get("summary", {}), bad)
    if not isinstance(meta.get("versions", {}), dict):
        raise bad("versions", "is not a JSON object")
    return cls, config, rep


def _check_summary(s, bad) -> None:
    """The training summary's fields that readers use (evaluate, export, benchmark)."""
    if not isinstance(s, dict):
        raise bad("summary", "is not a JSON object")
    if "step" in s and not (_is_int(s["step"]) and s["step"] >= 0):
        raise bad("summary.step", f"is {s['step']!r}, not a step number")
    best = s.get("best_valid")
    if best is not None:
        if not isinstance(best, dict):
            raise bad("summary.best_valid", "is not a JSON object")
        for k, v in best.items():
            if not _is_number(v):
                raise bad(f"summary.best_valid.{k}", f"is {v!r}, not a number")
    for key in ("train_config", "corpus", "data"):
        if key in s and not isinstance(s[key], dict):
            raise bad(f"summary.{key}", "is not a JSON object")
    corpus = s.get("corpus", {})
    if "corpus" in corpus and not isinstance(corpus["corpus"], str):
        raise bad("summary.corpus.corpus", f"is {corpus['corpus']!r}, not a name or path")
    if "stopped_early" in s and not isinstance(s["stopped_early"], bool):
        raise bad("summary.stopped_early", f"is {s['stopped_early']!r}, not true or false")


def _model_tensors(cls, config) -> dict | None:
    """``name -> (dtype, shape)`` of the model's state dict, built on the meta device (no
    memory is allocated, so a config that claims a huge model costs nothing); None for a
    model that cannot be built there (then the strict load decides)."""
    import torch

    try:
        with torch.device("meta"):
            model = cls(config)
        return {k: (v.dtype, tuple(v.shape)) for k, v in model.state_dict().items()}
    except (RuntimeError, NotImplementedError, TypeError, ValueError):
        return None


def _check_weights_header(header: dict, cls, config, where: Path) -> None:
    """The weights file holds exactly the model's tensors, with its shapes, floating point
    (or, for a tensor the model itself holds as integers, the model's own dtype)."""
    expected = _model_tensors(cls, config)
    for name, (dtype, _) in sorted(header.items()):
        want_dtype = (expected or {}).get(name, (None,))[0]
        if want_dtype is not None and not want_dtype.is_floating_point:
            if str(want_dtype) != _torch_dtype_name(dtype):
                raise CheckpointError(f"tensor {name!r} is {dtype}; the {cls.family} model "
                                      f"holds {want_dtype}", where)
        elif dtype not in FLOAT_DTYPES:
            raise CheckpointError(f"tensor {name!r} is {dtype}, not floating point "
                                  f"({', '.join(FLOAT_DTYPES)})", where)
    if expected is None:
        return
    missing = sorted(set(expected) - set(header))
    if missing:
        raise CheckpointError(f"tensor {missing[0]!r} of the {cls.family} model is missing "
                              f"({len(missing)} missing in all)", where)
    extra = sorted(set(header) - set(expected))
    if extra:
        raise CheckpointError(f"tensor {extra[0]!r} is not part of the {cls.family} model",
                              where)
    for name in sorted(expected):
        shape, want = header[name][1], expected[name][1]
        if shape != want:
            raise CheckpointError(f"tensor {name!r} has shape {list(shape)}; the "
                                  f"checkpoint's {cls.family} config makes it {list(want)}",
                                  where)


def _torch_dtype_name(dtype: str) -> str:
    return {"BOOL": "torch.bool", "U8": "torch.uint8", "I8": "torch.int8",
            "I16": "torch.int16", "I32": "torch.int32", "I64": "torch.int64"}.get(dtype, dtype)


def load_checkpoint(folder: str | Path, device: str = "cpu") -> Checkpoint:
    """Rebuild model (in eval mode, on ``device``) and representation from a folder,
    every part checked first (:func:`read_meta`). Readers never recover an interrupted
    write: they say so."""
    folder = Path(folder)
    opened = _open(folder)
    try:
        model = opened.model_class(opened.config)
        load_weights(model, opened.weights, folder / WEIGHTS_FILE)
    except (TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"damaged or incompatible checkpoint ({first_line(e)})",
                              folder) from None
    model.to(device).eval()
    return Checkpoint(model=model, representation=opened.representation, meta=opened.meta,
                      path=folder)


def load_weights(model, weights: dict, where: Path) -> None:
    """Strictly load checked ``weights`` into ``model`` (floating tensors cast to the
    model's own dtype); a missing, extra or differently shaped tensor is one line naming
    ``where`` and the tensor."""
    own = model.state_dict()
    for name in sorted(set(own) | set(weights)):
        if name not in weights:
            raise CheckpointError(f"weights do not fit the model: tensor {name!r} is "
                                  "missing", where)
        if name not in own:
            raise CheckpointError(f"weights do not fit the model: tensor {name!r} is not "
                                  "part of it", where)
        if weights[name].shape != own[name].shape:
            raise CheckpointError(f"weights do not fit the model: tensor {name!r} has shape "
                                  f"{list(weights[name].shape)}, the model's is "
                                  f"{list(own[name].shape)}", where)
    cast = {k: v.to(own[k].dtype) if v.is_floating_point() else v for k, v in weights.items()}
    try:
        model.load_state_dict(cast)
    except RuntimeError as e:
        raise CheckpointError(f"weights do not fit the model ({first_line(e)})",
                              where) from None


def checked_weights(folder: str | Path) -> tuple[dict, dict]:
    """(meta, weights) of a checked checkpoint folder (for the trainer's resume)."""
    opened = _open(Path(folder))
    return opened.meta, opened.weights


# --- training state (exact resume) ---------------------------------------------------

def pack_training_state(optimizer, info: dict,
                        rank_rng: Mapping[int, Mapping] | None = None) -> tuple[dict, dict]:
    """Optimiser state and RNG states as (tensors, JSON dict). ``rank_rng``: the other
    ranks' generator states in a run on several processes, rank -> {"torch": state,
    "cuda": state of its GPU (or None)}, saved as ``rng.rank<r>.torch`` / ``.cuda``."""
    import torch

    sd = optimizer.state_dict()
    tensors, per_param = {}, {}
    for idx, state in sd["state"].items():
        per_param[str(idx)] = {}
        for k, v in state.items():
            if torch.is_tensor(v):
                tensors[f"optim.{idx}.{k}"] = v.detach().to("cpu").contiguous()
            else:
                per_param[str(idx)][k] = v
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    for rank, states in (rank_rng or {}).items():
        for kind, state in states.items():
            if state is not None:
                tensors[f"rng.rank{rank}.{kind}"] = state
    info = dict(info, optimizer={"param_groups": sd["param_groups"], "scalars": per_param})
    return tensors, info


def load_training_state(folder: str | Path, optimizer, rank: int = 0) -> dict:
    """Restore optimiser and RNG states; return the JSON info (step, early stopping, ...).
    ``rank`` > 0 (a run on several processes) restores that rank's own generators
    (``rng.rank<r>.*``) when the checkpoint has them (:func:`has_rank_rng`), and leaves
    the generators alone when it does not.

    Everything is checked before anything is restored: ``training_state.json`` (read with
    size and nesting caps; ``step`` a non-negative integer, ``best`` an object of numbers
    with a ``loss`` or null, ``evals_since_best`` a non-negative integer, ``acc`` sums and
    a count, ``stopped_early`` a boolean, ``elapsed_s`` (if there) a non-negative number,
    ``optimizer`` with ``param_groups`` (a list of
    objects shaped as the optimiser's own, one per group, numbering its parameters) and
    ``scalars``), and ``training_state.safetensors`` (well formed; per parameter the same
    optimiser tensors, floating point, finite, of the parameter's shape, ``step`` a
    scalar; ``rng.torch`` a uint8 tensor of torch's RNG-state size). Every problem is a
    one-line :class:`CheckpointError` "damaged training state (...)" naming the file."""

    from tunesmith.jsonfile import read_json

    folder = Path(folder)
    json_path, tensors_path = folder / STATE_JSON, folder / STATE_TENSORS
    if not json_path.is_file():
        raise CheckpointError("checkpoint has no training state to resume from", folder)

    def bad(problem: str, where: Path = json_path) -> CheckpointError:
        return CheckpointError(f"damaged training state ({problem})", where)

    try:
        info = read_json(json_path, what="training state")
    except TunesmithError as e:
        raise CheckpointError(str(e)) from None
    params = [p for group in optimizer.param_groups for p in group["params"]]
    _check_state_info(info, optimizer, bad)
    if not tensors_path.is_file():
        raise bad("the file is missing", tensors_path)
    header = read_safetensors_header(tensors_path, "training state")
    _check_state_header(header, optimizer, params, info, partial(bad, where=tensors_path))
    tensors = _load_tensors(tensors_path, "training state", header)
    bad_name = _first_not_finite(tensors, sorted(k for k in tensors if k.startswith("optim.")))
    if bad_name is not None:
        raise bad(f"tensor {bad_name!r} holds NaN or infinite values", tensors_path)
    _restore_state(optimizer, info, tensors, rank, bad, tensors_path)
    return info


def _check_state_header(header: dict, optimizer, params: list, info: dict, bad) -> None:
    """The training state's tensors, from their header: per parameter the optimiser's
    tensors (floating point, of the parameter's shape), the RNG states (uint8), nothing
    else; ``bad(problem)`` makes the error."""
    import torch

    per_param: dict[int, set[str]] = {}
    for name, (dtype, shape) in sorted(header.items()):
        where = f"tensor {name!r}"
        if name.startswith("optim."):
            _, idx, kind = (name.split(".", 2) + ["", ""])[:3]
            if not (_is_index(idx) and int(idx) < len(params) and kind):
                raise bad(f"{where} names no parameter of this run's model")
            want = () if kind == "step" else tuple(params[int(idx)].shape)
            if dtype not in FLOAT_DTYPES:
                raise bad(f"{where} is {dtype}, not floating point")
            if shape != want and not (kind == "step" and shape in ((1,), ())):
                raise bad(f"{where} has shape {list(shape)}; the parameter's is "
                          f"{list(want)}")
            per_param.setdefault(int(idx), set()).add(kind)
        elif name == "rng.torch" or _CUDA_RNG.fullmatch(name) or _RANK_RNG.fullmatch(name):
            if dtype != "U8" or len(shape) != 1:
                raise bad(f"{where} is {dtype} of shape {list(shape)}, not a uint8 RNG "
                          "state")
        else:
            raise bad(f"{where} is not part of a training state")
    if "rng.torch" not in header:
        raise bad("no 'rng.torch' tensor")
    if header["rng.torch"][1] != tuple(torch.get_rng_state().shape):
        raise bad(f"tensor 'rng.torch' has shape {list(header['rng.torch'][1])}, torch's RNG "
                  f"state is {list(torch.get_rng_state().shape)}")
    if per_param:  # after the first step every parameter has the same state tensors
        need = (_state_tensors(optimizer, info["optimizer"]["param_groups"])
                or set().union(*per_param.values()))
        for i in range(len(params)):
            if per_param.get(i, set()) != need:
                have = ", ".join(sorted(per_param.get(i, set()))) or "none"
                raise bad(f"the optimiser state of parameter {i} holds {have}; expected "
                          f"{', '.join(sorted(need))} ({len(per_param)} of {len(params)} "
                          "parameters have state)")


def _restore_state(optimizer, info: dict, tensors: dict, rank: int, bad,
                   tensors_path: Path) -> None:
    """Load the checked state into the optimiser and this rank's generators."""
    import torch

    state: dict = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for idx, scalars in info["optimizer"]["scalars"].items():
        state.setdefault(int(idx), {}).update(scalars)
    try:
        optimizer.load_state_dict({"state": state,
                                   "param_groups": info["optimizer"]["param_groups"]})
        if rank == 0:
            torch.set_rng_state(tensors["rng.torch"])
        elif f"rng.rank{rank}.torch" in tensors:
            torch.set_rng_state(tensors[f"rng.rank{rank}.torch"])
    except (ValueError, RuntimeError, KeyError, TypeError) as e:
        raise bad(first_line(e)) from None
    try:
        if rank == 0:
            _restore_cuda_rng(tensors)
        elif f"rng.rank{rank}.cuda" in tensors and torch.cuda.is_available():
            torch.cuda.set_rng_state(tensors[f"rng.rank{rank}.cuda"])
    except (ValueError, RuntimeError, TypeError) as e:
        raise bad(first_line(e), tensors_path) from None


def _restore_cuda_rng(tensors: dict) -> None:
    """Each visible GPU's generator from ``rng.cuda.<index>``, matched by index (not by
    name order: ``rng.cuda.10`` sorts before ``rng.cuda.2``). A run resumed where fewer
    GPUs are visible than were saved restores those it has (its own among them) and
    leaves the rest; a CPU machine restores none."""
    import torch

    if not torch.cuda.is_available():
        return
    visible = torch.cuda.device_count()
    for name, state in tensors.items():
        match = _CUDA_RNG.fullmatch(name)
        if match and int(match[1]) < visible:
            torch.cuda.set_rng_state(state, int(match[1]))


_CUDA_RNG = re.compile(r"rng\.cuda\.(0|[1-9][0-9]{0,5})")
_RANK_RNG = re.compile(r"rng\.rank[1-9][0-9]{0,5}\.(torch|cuda)")


def has_rank_rng(folder: str | Path, rank: int) -> bool:
    """Whether the training state in ``folder`` holds rank ``rank``'s generator (a run
    resumed on more processes than it last ran on has none for the new ranks)."""
    if rank == 0:
        return True
    header = read_safetensors_header(Path(folder) / STATE_TENSORS, "training state")
    return f"rng.rank{rank}.torch" in header


def _check_state_info(info, optimizer, bad) -> None:
    """The schema of ``training_state.json`` (see :func:`load_training_state`)."""
    if not isinstance(info, dict):
        raise bad("not a JSON object")
    step = info.get("step")
    if not (_is_int(step) and step >= 0):
        raise bad(f"step is {step!r}, not a non-negative integer")
    best = info.get("best")
    if best is not None:
        if not (isinstance(best, dict) and _is_number(best.get("loss"))
                and all(_is_number(v) for v in best.values())):
            raise bad("best is not null or an object of numbers with a loss")
    since = info.get("evals_since_best", 0)
    if not (_is_int(since) and since >= 0):
        raise bad(f"evals_since_best is {since!r}, not a non-negative integer")
    if not isinstance(info.get("stopped_early", False), bool):
        raise bad("stopped_early is not true or false")
    elapsed = info.get("elapsed_s", 0.0)
    if not (_is_number(elapsed) and math.isfinite(elapsed) and elapsed >= 0):
        raise bad(f"elapsed_s is {elapsed!r}, not a non-negative number of seconds")
    acc = info.get("acc", {"sums": {}, "count": 0.0})
    if not (isinstance(acc, dict) and isinstance(acc.get("sums"), dict)
            and all(isinstance(k, str) and _is_number(v) for k, v in acc["sums"].items())
            and _is_number(acc.get("count")) and acc["count"] >= 0):
        raise bad("acc is not an object of metric sums and a count")
    opt = info.get("optimizer")
    if not isinstance(opt, dict):
        raise bad("no optimizer object")
    groups, scalars = opt.get("param_groups"), opt.get("scalars")
    own = optimizer.state_dict()["param_groups"]
    if not (isinstance(groups, list) and all(isinstance(g, dict) for g in groups)):
        raise bad("optimizer.param_groups is not a list of objects")
    if len(groups) != len(own):
        raise bad(f"optimizer.param_groups has {len(groups)} groups; this run's optimiser "
                  f"has {len(own)}")
    for i, (group, mine) in enumerate(zip(groups, own, strict=True)):
        if group.get("params") != mine["params"]:
            raise bad(f"optimizer.param_groups[{i}].params does not number this run's "
                      f"{len(mine['params'])} parameters")
        for key, value in group.items():
            if key != "params" and key in mine and not _same_kind(value, mine[key]):
                raise bad(f"optimizer.param_groups[{i}].{key} is {value!r}")
    n_params = sum(len(g["params"]) for g in own)
    if not isinstance(scalars, dict):
        raise bad("optimizer.scalars is not a JSON object")
    for idx, values in scalars.items():
        if not (_is_index(idx) and int(idx) < n_params and isinstance(values, dict)
                and all(_is_number(v) or isinstance(v, bool) for v in values.values())):
            raise bad(f"optimizer.scalars[{idx!r}] is not the scalars of a parameter")


def _is_index(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) < 10


def _state_tensors(optimizer, groups: list[dict]) -> set[str] | None:
    """The state tensors a stepped Adam / AdamW with the saved ``groups`` keeps per
    parameter (None: another optimiser, whose saved state is only checked for
    consistency)."""
    import torch

    if type(optimizer) not in (torch.optim.Adam, torch.optim.AdamW):
        return None
    need = {"step", "exp_avg", "exp_avg_sq"}
    if any(g.get("amsgrad") for g in groups):
        need.add("max_exp_avg_sq")
    return need


def _same_kind(value, like) -> bool:
    """Whether a saved optimiser setting can stand for this optimiser's own ``like``: a
    finite number for a number, a boolean (or null) for a boolean, numbers of the same
    count for a tuple, anything null-or-boolean for a null."""
    if isinstance(like, bool) or like is None:
        return value is None or isinstance(value, bool)
    if _is_number(like):
        return _is_number(value) and math.isfinite(value)
    if isinstance(like, (tuple, list)):
        return (isinstance(value, list) and len(value) == len(like)
                and all(_same_kind(v, x) for v, x in zip(value, like, strict=True)))
    return isinstance(value, type(like))
