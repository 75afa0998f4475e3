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
import os
import platform
import secrets
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from tunesmith.errors import CheckpointError, first_line

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
    believed: a journal naming anything else is ignored."""
    try:
        rec = json.loads(_journal(folder).read_text())
        tmp, old = rec["tmp"], rec["old"]
    except (OSError, ValueError, KeyError, TypeError):
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
    a leftover previous copy are removed; then the journal. Nothing else is touched."""
    folder = Path(folder)
    journal = _journal(folder)
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


def read_meta(folder: str | Path) -> dict:
    """The checkpoint's JSON, after checking it is one this version can read."""
    folder = Path(folder)
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
        raise CheckpointError(f"not a tunesmith checkpoint (no {META_FILE}){hint}", folder)
    try:
        meta = json.loads((folder / META_FILE).read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"unreadable {META_FILE} ({e})", folder) from None
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if version != FORMAT_VERSION:
        versions = meta.get("versions") if isinstance(meta, dict) else None
        written = versions.get("tunesmith", "?") if isinstance(versions, dict) else "?"
        raise CheckpointError(
            f"checkpoint format {version!r} written by tunesmith {written} is incompatible with "
            f"this version (reads format {FORMAT_VERSION})", folder)
    if not (folder / WEIGHTS_FILE).is_file():
        raise CheckpointError(f"checkpoint has no {WEIGHTS_FILE}", folder)
    return meta


def load_checkpoint(folder: str | Path, device: str = "cpu") -> Checkpoint:
    """Rebuild model (in eval mode, on ``device``) and representation from a folder."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from tunesmith import models, representations

    folder = Path(folder)
    meta = read_meta(folder)
    try:
        model = models.build(meta["family"], meta["model_config"])
        rep = representations.from_dict(meta["representation"])
        weights = load_file(str(folder / WEIGHTS_FILE), device="cpu")
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in weights.items()})
    except (KeyError, TypeError, ValueError, RuntimeError, SafetensorError) as e:
        raise CheckpointError(f"damaged or incompatible checkpoint ({first_line(e)})",
                              folder) from None
    model.to(device).eval()
    return Checkpoint(model=model, representation=rep, meta=meta, path=folder)


# --- training state (exact resume) ---------------------------------------------------

def pack_training_state(optimizer, info: dict) -> tuple[dict, dict]:
    """Optimiser state and RNG states as (tensors, JSON dict)."""
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
    info = dict(info, optimizer={"param_groups": sd["param_groups"], "scalars": per_param})
    return tensors, info


def load_training_state(folder: str | Path, optimizer) -> dict:
    """Restore optimiser and RNG states; return the JSON info (step, early stopping, ...)."""
    import torch
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / STATE_JSON).is_file():
        raise CheckpointError("checkpoint has no training state to resume from", folder)
    try:
        info = json.loads((folder / STATE_JSON).read_text())
        tensors = load_file(str(folder / STATE_TENSORS))
    except (OSError, ValueError) as e:
        raise CheckpointError(f"damaged training state ({first_line(e)})", folder) from None
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for idx, scalars in info["optimizer"]["scalars"].items():
        state.setdefault(int(idx), {}).update(scalars)
    optimizer.load_state_dict({"state": state, "param_groups": info["optimizer"]["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(t for t in tensors if t.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    return info
