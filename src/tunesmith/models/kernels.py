"""Speed kernels for sampling steps, each with a plain PyTorch reference path.

A sampling step feeds one token (or message, or frame) to a model whose state is kept,
so on a CPU its cost is mostly per-op dispatch and small matrix products, not
arithmetic. The kernels here exist only for that speed; training and ``forward()`` use
PyTorch's own layers. Why each one is worth its code is said below in words; the
figures are in ``benchmarks/RESULTS.md`` ("Sampling-step kernels: what each trick
measured").

- :class:`StepWeight`: a weight kept for ``add + x @ W^T``. Large weights are kept a
  second time in oneDNN's blocked layout and multiplied with the addition fused, by
  PyTorch's *private* oneDNN operators (``torch.ops.mkldnn._reorder_linear_weight``,
  ``torch.ops.mkldnn._linear_pointwise`` and its ``.binary`` form: what PyTorch's
  compiled CPU graphs use for a linear layer). Everything else: ``torch.addmm``.
- :func:`onednn_linear`: whether this PyTorch build has those operators and they
  give the plain product (probed once).
- :func:`lstm_step` with :func:`lstm_weights`, :func:`step_gates` and
  :data:`TANH_UP_TO`: one time step of an ``nn.LSTM`` in a few ops, gate rows reordered
  and scaled so that one sigmoid serves all four gates (tanh(x) = 2 sigmoid(2x) - 1).
- :func:`input_gate_table`: embeddings folded into layer 0's input gates, so a step
  looks its input gates up instead of embedding and multiplying.

**The setting.** ``TUNESMITH_KERNELS`` in the environment, read once at first use:

- ``auto`` (the default): the fast kernels; the oneDNN operators where :func:`onednn_linear`
  finds them, ``torch.addmm`` where this build lacks them (the only kernel that needs
  private operators is :class:`StepWeight`'s packed product: the others are built from
  public ops and stay).
- ``reference``: plain PyTorch only, for a reader to check the fast path against:
  :class:`StepWeight` multiplies by ``torch.addmm``, :func:`lstm_step` is the textbook
  LSTM cell (gates in PyTorch's own order i, f, g, o; a real tanh) and the folded
  input-gate table keeps PyTorch's gate order.

Both give the same results up to float rounding (``tests/test_kernels.py``).
:func:`mode` says which is active; :func:`forced` sets one for a block (for tests: the
application never needs to change it). The setting is read when step weights are
*built*; a model's cached step weights (``layers.cached``) are rebuilt when it changes.
"""

from __future__ import annotations

import contextlib
import functools
import os

import torch
from torch import nn

SETTING = "TUNESMITH_KERNELS"
MODES = ("auto", "reference")

_setting: str | None = None  # from the environment, read at the first mode()
_forced: list[str] = []  # forced() blocks, innermost last


def mode() -> str:
    """The active kernel setting: ``"auto"`` or ``"reference"`` (see the module)."""
    if _forced:
        return _forced[-1]
    global _setting
    if _setting is None:
        value = os.environ.get(SETTING, "").strip().lower() or "auto"
        if value not in MODES:
            raise ValueError(f"{SETTING} must be one of {', '.join(MODES)}, not {value!r}")
        _setting = value
    return _setting


@contextlib.contextmanager
def forced(setting: str):
    """Use ``setting`` (``"auto"`` or ``"reference"``) inside the block, whatever the
    environment says: ``with kernels.forced("reference"): ...``."""
    if setting not in MODES:
        raise ValueError(f"kernel setting must be one of {', '.join(MODES)}, not {setting!r}")
    _forced.append(setting)
    try:
        yield
    finally:
        _forced.pop()


def _fast(fast: bool | None) -> bool:
    return mode() == "auto" if fast is None else fast


@functools.cache
def onednn_linear() -> bool:
    """Whether this PyTorch build runs oneDNN's fused linear ops on a reordered weight
    (tried once, on a 2 x 2). The ops are private to PyTorch: a build may lack them,
    or change them, so anything but the plain product reads as "no"."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        w, x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.eye(2)
        packed = torch.ops.mkldnn._reorder_linear_weight(w)
        a = torch.ops.mkldnn._linear_pointwise(x, packed, torch.ones(2), "none", [], "")
        b = torch.ops.mkldnn._linear_pointwise.binary(x, torch.ones(2, 2), packed, None, "add")
        return bool(torch.equal(a, w.t() + 1) and torch.equal(b, w.t() + 1))
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


class StepWeight:
    """A weight W (out, in) kept for sampling steps: ``addmm(add, x)`` = add + x @ W^T.

    Fast path: a large weight (:attr:`PACKED_FROM` values or more) is kept a second
    time in oneDNN's own blocked layout (reordered once) and multiplied from
    :attr:`BATCH_FROM` rows on with the addition fused: for ``h @ W_hh`` this beats both
    ``addmm`` and oneDNN on the plain layout. Small weights (an output layer) and a
    single row take ``addmm`` on a contiguous W^T: there oneDNN's call costs more of its
    own than the product. The packed path runs only where :func:`onednn_linear` found
    the operators, and never where a gradient is wanted (the ops have no backward).

    Reference path (``fast=False``, or the ``reference`` setting when ``fast`` is None):
    ``torch.addmm`` always. Figures: benchmarks/RESULTS.md."""

    PACKED_FROM = 1 << 18  # weights of at least this many values (1024 x 256) ...
    BATCH_FROM = 2  # ... from this batch on; measured: below either, addmm was as fast

    def __init__(self, weight: torch.Tensor, fast: bool | None = None):
        weight = weight.detach()
        self.fast = _fast(fast)
        self.t = weight.t().contiguous()  # (in, out)
        self.packed = None
        if (self.fast and weight.device.type == "cpu" and weight.dtype == torch.float32
                and weight.numel() >= self.PACKED_FROM and onednn_linear()):
            self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.contiguous())

    def __reduce__(self):  # copy / deepcopy / pickle rebuild it: oneDNN's copy has no storage
        return StepWeight, (self.weight, self.fast)

    @property
    def weight(self) -> torch.Tensor:
        """W (out, in), a view of the kept W^T."""
        return self.t.t()

    @property
    def in_features(self) -> int:
        return self.t.shape[0]

    def addmm(self, add: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if (self.packed is not None and x.shape[0] >= self.BATCH_FROM
                and not (torch.is_grad_enabled()
                         and (x.requires_grad or add.requires_grad))):  # no backward there
            if add.dim() == 1:  # a bias
                return torch.ops.mkldnn._linear_pointwise(x, self.packed, add, "none", [], "")
            return torch.ops.mkldnn._linear_pointwise.binary(x, add, self.packed, None, "add")
        return torch.addmm(add, x, self.t)  # the plain product (also the reference path)


class LSTMWeights(list):
    """What :func:`lstm_step` takes, from :func:`lstm_weights`: per layer (W_ih, W_hh)
    as :class:`StepWeight` and b_ih + b_hh. ``fast``: the gate rows are in
    :func:`step_gates` order and scale (the fast cell), else in PyTorch's own order (the
    textbook cell)."""

    def __init__(self, layers, fast: bool):
        super().__init__(layers)
        self.fast = fast


def lstm_weights(rnn: nn.LSTM, fast: bool | None = None) -> LSTMWeights:
    """Per layer of ``rnn``: W_ih and W_hh as :class:`StepWeight` and b_ih + b_hh, the
    form :func:`lstm_step` takes: for the fast path (``fast``, or the ``auto`` setting
    when None) with the rows in :func:`step_gates` order and scale, for the reference
    path as they are."""
    fast = _fast(fast)
    out = []
    order, scale = step_gates(rnn.hidden_size, rnn.weight_ih_l0)
    for layer in range(rnn.num_layers):
        w_ih, w_hh = (getattr(rnn, f"weight_{k}_l{layer}") for k in ("ih", "hh"))
        bias = (getattr(rnn, f"bias_ih_l{layer}") + getattr(rnn, f"bias_hh_l{layer}")
                if rnn.bias else w_ih.new_zeros(w_ih.shape[0]))
        if fast:
            out.append((StepWeight(w_ih[order] * scale[:, None], fast),
                        StepWeight(w_hh[order] * scale[:, None], fast), bias[order] * scale))
        else:
            out.append((StepWeight(w_ih, fast), StepWeight(w_hh, fast), bias))
    return LSTMWeights(out, fast)


def step_gates(hidden: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """How the fast :func:`lstm_step` wants the gate rows of an ``nn.LSTM`` weight
    (PyTorch's order i, f, g, o): reordered to i, f, o, g (the indices), and the cell
    candidate g scaled by 2 (the scale per row). The step then takes one sigmoid over
    all 4H gates and gets tanh(g) as 2 sigmoid(2g) - 1: on this CPU build a tanh costs
    several times a sigmoid of the same size, and the identity is exact up to rounding
    (an absolute error of ~2e-7 in float32). The scale has ``like``'s dtype and device,
    so scaled weights keep theirs."""
    h = torch.arange(hidden, device=like.device)
    order = torch.cat([h, h + hidden, h + 3 * hidden, h + 2 * hidden])
    scale = torch.ones(4 * hidden, device=like.device, dtype=like.dtype)
    scale[3 * hidden:] = 2.0
    return order, scale


def input_gate_table(rnn: nn.LSTM, embeddings,
                     fast: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold the embeddings that make layer 0's input (concatenated in this order) into
    its input gates: a table (sum of classes, 4H) whose rows, one per embedding, add up
    to ``cat(embeddings) @ W_ih^T + b_ih + b_hh``, and each embedding's first row. A
    sampling step then looks its input gates up instead of embedding and multiplying
    (exact: the input gates are linear in the embeddings). The gates are in
    :func:`step_gates` order and scale for the fast path (``fast``, or the ``auto``
    setting when None), in PyTorch's order for the reference path: what
    :func:`lstm_weights` gives for the same ``fast``."""
    fast = _fast(fast)
    embeddings = list(embeddings)
    w_ih = rnn.weight_ih_l0
    parts, col = [], 0
    for emb in embeddings:
        d = emb.weight.shape[1]
        parts.append(emb.weight @ w_ih[:, col:col + d].t())
        col += d
    if rnn.bias:
        parts[0] = parts[0] + rnn.bias_ih_l0 + rnn.bias_hh_l0
    if fast:
        order, scale = step_gates(rnn.hidden_size, w_ih)
        parts = [p[:, order] * scale for p in parts]
    offsets = torch.tensor([0] + [e.num_embeddings for e in embeddings[:-1]],
                           device=w_ih.device).cumsum(0)
    return torch.cat(parts), offsets


# up to this many cell values (batch x hidden) the fast lstm_step takes tanh(c) directly
# (2 ops) rather than 2 sigmoid(2c) - 1 (4 ops): for a small cell the cost is dispatch,
# not arithmetic (benchmarks/RESULTS.md)
TANH_UP_TO = 2048


def lstm_step(weights: LSTMWeights, x: torch.Tensor | None, state,
              gates: torch.Tensor | None = None):
    """One time step of a (unidirectional, batch-first) ``nn.LSTM``, from its
    :func:`lstm_weights` (keep them with ``layers.cached``).

    ``x`` is (B, input); or ``gates`` (B, 4H) is layer 0's input part already computed
    (``x @ W_ih^T + b_ih + b_hh`` with the rows as ``weights`` has them, as
    :func:`input_gate_table` gives it) and ``x`` is None. ``state`` is ``None`` or
    nn.LSTM's ``(h, c)``, each (L, B, H). Returns the top layer's output (B, H) and the
    new state in nn.LSTM's layout, so step() and forward() mix freely. No dropout (a
    training-time thing), no gradients.

    Weights for the reference path go to :func:`lstm_step_reference`. The fast path: on
    CPU the fused ``torch.lstm`` call has a large fixed cost per call whatever the size
    (it reorders the weights every time), and every op here costs its dispatch at batch
    1, so this takes few ops, and no tanh where it costs (see :func:`step_gates`):
    c = f c0 + i (2 s_g - 1), h = o (2 sigmoid(2c) - 1), or o tanh(c) for a small cell
    (:data:`TANH_UP_TO` values)."""
    if not weights.fast:
        return lstm_step_reference(weights, x, state, gates)
    hidden = weights[0][1].in_features
    like = x if x is not None else gates
    if state is None:
        zeros = like.new_zeros(len(weights), like.shape[0], hidden)
        state = (zeros, zeros)
    h0, c0 = state
    hs, cs = [], []
    for layer, (w_ih, w_hh, bias) in enumerate(weights):
        g = gates if layer == 0 and gates is not None else w_ih.addmm(bias, x)
        s = w_hh.addmm(g, h0[layer]).sigmoid_()  # (B, 4H): i, f, o, (tanh(g) + 1) / 2
        i, f, o, s_g = s.view(len(s), 4, hidden).unbind(1)
        c = torch.addcmul(f * c0[layer], i, s_g, value=2.0).sub_(i)
        if c.numel() <= TANH_UP_TO:  # few values: tanh's cost is its dispatch, one op
            x = o * c.tanh()
        else:
            x = torch.addcmul(o.neg(), o, (c * 2.0).sigmoid_(), value=2.0)  # (B, H)
        hs.append(x)
        cs.append(c)
    if len(hs) == 1:
        return x, (x[None], c[None])
    return x, (torch.stack(hs), torch.stack(cs))


def lstm_step_reference(weights: LSTMWeights, x: torch.Tensor | None, state,
                        gates: torch.Tensor | None = None):
    """:func:`lstm_step` as the textbook writes it, from reference :func:`lstm_weights`
    (``fast=False``: gates in PyTorch's order i, f, g, o): i, f, o = sigmoid, g = tanh,
    c = f c0 + i g, h = o tanh(c)."""
    if weights.fast:
        raise ValueError("lstm_step_reference takes lstm_weights(rnn, fast=False)")
    hidden = weights[0][1].in_features
    like = x if x is not None else gates
    if state is None:
        zeros = like.new_zeros(len(weights), like.shape[0], hidden)
        state = (zeros, zeros)
    h0, c0 = state
    hs, cs = [], []
    for layer, (w_ih, w_hh, bias) in enumerate(weights):
        z = gates if layer == 0 and gates is not None else w_ih.addmm(bias, x)
        z = w_hh.addmm(z, h0[layer])  # (B, 4H): x W_ih^T + b + h W_hh^T
        i, f, g, o = z.chunk(4, dim=1)
        c = torch.sigmoid(f) * c0[layer] + torch.sigmoid(i) * torch.tanh(g)
        x = torch.sigmoid(o) * torch.tanh(c)
        hs.append(x)
        cs.append(c)
    return x, (torch.stack(hs), torch.stack(cs))
