"""Which device a run, a composition or an evaluation uses."""

from __future__ import annotations

import torch

from tunesmith.errors import OptionError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU; an unknown or absent device is a user
    error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise OptionError("device", f": unknown device {name!r} (use auto, cpu, cuda or "
                          "cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise OptionError("device", f"{name!r} asked for, but this machine has no CUDA GPU")
    if device.type == "cuda" and device.index is not None \
            and device.index >= torch.cuda.device_count():
        raise OptionError("device", f"{name!r}: only {torch.cuda.device_count()} GPU(s) here")
    return device
