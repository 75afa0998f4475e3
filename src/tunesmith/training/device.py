"""Which device a run, a composition or an evaluation uses, and how training uses a GPU:
batches copied from pinned memory, TF32 matmuls, bf16 autocast where the model allows it.
Each function also runs on a machine without a GPU (the tests run them on CPU)."""

from __future__ import annotations

import types
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

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
    if device.type == "cuda" and allowed and native_bf16():
        return torch.bfloat16
    return None


def native_bf16() -> bool:
    """Whether this machine's GPU computes in bf16 itself. torch's default also says yes
    for a GPU that only emulates it (before Ampere: a V100, a T4), where bf16 autocast runs
    slower than fp32; ``auto`` stays in fp32 there."""
    return torch.cuda.is_bf16_supported(including_emulation=False)


def recurrent_in_fp32(device: torch.device, dtype: torch.dtype | None) -> bool:
    """Whether a run's recurrent layers must leave autocast (:func:`fp32_recurrent`):
    under autocast on CUDA, where cuDNN's RNNs would compute in fp16."""
    return dtype is not None and device.type == "cuda"


def fp32_recurrent(model: nn.Module) -> int:
    """Make every recurrent layer of ``model`` (``nn.LSTM``, ``nn.GRU``, ``nn.RNN``) run
    with autocast off, on float32 input and state, so that its outputs are float32; the
    number of layers newly wrapped (each is wrapped once).

    Why: PyTorch's CUDA autocast casts a cuDNN RNN's input and weights to fp16 whatever
    dtype autocast was entered with, so under bf16 autocast every recurrent layer computed
    in fp16, and nothing scales the loss for fp16 (bf16 needs no scaler): small gradients
    underflow to zero, large cell states overflow. In fp32 (TF32 where enabled) the layer
    is safe; the rest of the model keeps bf16. Only the instance's ``forward`` changes (a
    deep copy rebinds it to the copy): weights, their names and checkpoints stay as they
    were, and the model files need not know."""
    wrapped = 0
    for module in model.modules():
        if isinstance(module, nn.RNNBase) and "forward" not in vars(module):
            module.forward = types.MethodType(_forward_in_fp32, module)
            wrapped += 1
    return wrapped


def _forward_in_fp32(self: nn.RNNBase, input, hx=None):
    """The layer's own forward outside autocast, on float32 input and state."""
    with torch.autocast(self.weight_ih_l0.device.type, enabled=False):
        return type(self).forward(self, _float32(input), _float32(hx))


def _float32(x):
    """A tensor, a packed sequence or a tuple of tensors (an LSTM's state) in float32."""
    if isinstance(x, PackedSequence) or torch.is_tensor(x):
        return x.float() if x.data.is_floating_point() else x
    if isinstance(x, tuple):
        return tuple(_float32(t) for t in x)
    return x


@contextmanager
def fast_matmuls(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """fp32 matmuls in TF32 on CUDA while the block runs, then as before (cuDNN's
    convolutions and RNNs use TF32 by PyTorch's default already). Process-wide: the
    trainer holds it around each training step alone, so that validation (and anything
    else the process runs between steps) computes in true fp32."""
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
