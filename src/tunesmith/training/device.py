"""Which device a run, a composition or an evaluation uses, and how training uses a GPU:
batches copied from pinned memory, TF32 matmuls, bf16 autocast where the model allows it.
Each function also runs on a machine without a GPU (the tests run them on CPU)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


def autocast_dtype(precision: str, device: torch.device, model) -> torch.dtype | None:
    """The dtype the training loss runs in under autocast, or None for plain fp32.

    ``auto`` is bf16 on a GPU that has it, for a model that allows it (the optional model
    declaration ``autocast``, :func:`tunesmith.models.allows_autocast`), else fp32.
    ``bf16`` asks for it on any device (CPU autocast too: the tests use it) and is refused
    for a model that does not allow it: the RBMs' free energies (a CD cost is the
    difference of two nearly equal sums over 88 keys) and NADE's log-probabilities (a sum
    of 88 conditionals per frame) lose too much in bf16's 8-bit mantissa. Validation, AIS
    and ``tunesmith evaluate`` never run under autocast."""
    from tunesmith.models import allows_autocast

    if precision == "fp32":
        return None
    allowed = allows_autocast(model)
    if precision == "bf16":
        if not allowed:
            raise OptionError("precision", f"bf16: the {model.family} model needs fp32 (its "
                              "log-probabilities lose too much in bf16)")
        return torch.bfloat16
    if device.type == "cuda" and allowed and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


@contextmanager
def fast_matmuls(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """fp32 matmuls in TF32 on CUDA while the block runs, then as before (cuDNN's
    convolutions and RNNs use TF32 by PyTorch's default already). Process-wide: the
    trainer holds it only while it trains, as it holds its signal handlers."""
    if device.type != "cuda" or not enabled:
        yield
        return
    old = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(old)


def batch_to(batch: dict, device: torch.device) -> dict:
    """A batch on ``device``: to a GPU from page-locked (pinned) memory, without waiting
    for the copy (the next kernels queue behind it)."""
    pin = device.type == "cuda"
    return {k: (v.pin_memory() if pin else v).to(device, non_blocking=True)
            if hasattr(v, "to") else v for k, v in batch.items()}
