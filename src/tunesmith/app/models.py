"""Which model a request means: a checkpoint folder, or a family's shipped default."""

from __future__ import annotations

from pathlib import Path

from tunesmith.errors import OptionError


def load_model(model: str | Path | None = None, family: str | None = None,
               device: str = "auto"):
    """The checkpoint at ``model``, or the shipped model of ``family`` (default: the
    default family's), on ``device`` (``auto``: CUDA when present)."""
    from tunesmith import families
    from tunesmith.training.checkpoint import load_checkpoint
    from tunesmith.training.device import resolve_device

    if model is not None and family is not None:
        raise OptionError("model", "and family both given: give one (a checkpoint folder, "
                          "or a family whose shipped model to use)")
    path = Path(model) if model is not None else families.pretrained_dir(
        family or families.DEFAULT_FAMILY)
    return load_checkpoint(path, device=str(resolve_device(device)))
