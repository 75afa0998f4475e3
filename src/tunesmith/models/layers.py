"""Blocks shared by several model families (only those)."""

from __future__ import annotations

import functools
from collections.abc import Mapping

import torch
from torch import nn


def cached(module: nn.Module, name: str, build):
    """``build()``'s value (transposed weights, folded tables: things derived from the
    module's parameters for sampling), kept on ``module`` and rebuilt when a parameter
    changes: an optimizer step, ``copy_`` or ``load_state_dict`` bumps its version,
    ``.to()`` moves its data. Checking costs ~1 us per parameter per call."""
    params = module.__dict__.get("_cached_params")
    if params is None:  # the Parameter objects stay the same through .to() and loading
        params = module.__dict__["_cached_params"] = list(module.parameters())
    try:
        key = [(p.data_ptr(), p._version) for p in params]
    except RuntimeError:  # inference tensors keep no version (and cannot change)
        key = [p.data_ptr() for p in params]
    hit = module.__dict__.get(name)  # a plain attribute: not a parameter, not saved
    if hit is None or hit[0] != key:
        with torch.no_grad():
            hit = (key, build())
        module.__dict__[name] = hit
    return hit[1]


class HeadLogits(Mapping):
    """The logits of several heads kept as one tensor: ``joined`` (B, sum of the sizes)
    holds them side by side in the order of ``sizes``; ``self[head]`` is that head's
    (B, C) block (split once, on first use). What ``step()`` and ``prime()`` return for
    a many-headed model: the sampler can then draw every head from ``joined`` in one
    pass, and a split it does not need (~9 us at batch 1) is never made. ``sizes`` is
    kept, not copied (one per model, made once)."""

    def __init__(self, joined: torch.Tensor, sizes: Mapping[str, int]):
        self.joined, self.sizes = joined, sizes
        self._heads: dict[str, torch.Tensor] | None = None

    def _split(self) -> dict[str, torch.Tensor]:
        if self._heads is None:
            parts = self.joined.split(list(self.sizes.values()), dim=-1)
            self._heads = dict(zip(self.sizes, parts, strict=True))
        return self._heads

    def __getitem__(self, head: str) -> torch.Tensor:
        return self._split()[head]

    def __iter__(self):
        return iter(self.sizes)

    def __len__(self) -> int:
        return len(self.sizes)


class StepWeight:
    """A weight W (out, in) kept for sampling steps: ``addmm(add, x)`` = add + x @ W^T.

    Large weights (``h @ W_hh``) are kept a second time in oneDNN's own blocked layout
    (``torch.ops.mkldnn._reorder_linear_weight``, done once) and multiplied with the
    addition fused (``torch.ops.mkldnn._linear_pointwise``: the ops PyTorch's compiled CPU
    graphs use for a linear layer). For ``h @ W_hh`` (512 -> 2048) on two threads this
    takes 0.69-0.74 ms at batch 64 against 0.81-0.83 ms with W in its plain layout and
    1.05-1.29 ms for ``addmm``; 84 us against 345 us at batch 4 (benchmarks/RESULTS.md).
    Small weights (an output layer) and a single row take ``addmm`` on a contiguous
    W^T: oneDNN's call costs ~20 us of its own, more than the product there. The ops are
    internal to PyTorch, so they are used only where the build has oneDNN, and checked
    against the plain product in the tests."""

    PACKED_FROM = 1 << 18  # weights of at least this many values (1024 x 256) ...
    BATCH_FROM = 2  # ... from this batch on; measured: below either, addmm was as fast

    def __init__(self, weight: torch.Tensor):
        weight = weight.detach()
        self.t = weight.t().contiguous()  # (in, out)
        self.packed = None
        if (weight.device.type == "cpu" and weight.dtype == torch.float32
                and weight.numel() >= self.PACKED_FROM and onednn_linear()):
            self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.contiguous())

    def __reduce__(self):  # copy / deepcopy / pickle rebuild it: oneDNN's copy has no storage
        return StepWeight, (self.weight,)

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
        return torch.addmm(add, x, self.t)


@functools.cache
def onednn_linear() -> bool:
    """Whether this PyTorch build runs oneDNN's fused linear ops on a reordered weight
    (tried once, on a 2 x 2)."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        w, x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.eye(2)
        packed = torch.ops.mkldnn._reorder_linear_weight(w)
        a = torch.ops.mkldnn._linear_pointwise(x, packed, torch.ones(2), "none", [], "")
        b = torch.ops.mkldnn._linear_pointwise.binary(x, torch.ones(2, 2), packed, None, "add")
        return bool(torch.equal(a, w.t() + 1) and torch.equal(b, w.t() + 1))
    except (AttributeError, RuntimeError):
        return False


def lstm_weights(rnn: nn.LSTM) -> list[tuple[StepWeight, StepWeight, torch.Tensor]]:
    """Per layer of ``rnn``: W_ih and W_hh as :class:`StepWeight` and b_ih + b_hh, the
    form :func:`lstm_step` takes (rows in :func:`step_gates` order and scale)."""
    out = []
    order, scale = step_gates(rnn.hidden_size, rnn.weight_ih_l0)
    for layer in range(rnn.num_layers):
        w_ih, w_hh = (getattr(rnn, f"weight_{k}_l{layer}") for k in ("ih", "hh"))
        bias = (getattr(rnn, f"bias_ih_l{layer}") + getattr(rnn, f"bias_hh_l{layer}")
                if rnn.bias else w_ih.new_zeros(w_ih.shape[0]))
        out.append((StepWeight(w_ih[order] * scale[:, None]),
                    StepWeight(w_hh[order] * scale[:, None]), bias[order] * scale))
    return out


def step_gates(hidden: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """How :func:`lstm_step` wants the gate rows of an ``nn.LSTM`` weight (PyTorch's
    order i, f, g, o): reordered to i, f, o, g (the indices), and the cell candidate g
    scaled by 2 (the scale per row). The step then takes one sigmoid over all 4H gates
    and gets tanh(g) as 2 sigmoid(2g) - 1: this build's CPU tanh costs 6x a sigmoid
    (87 us against 15 us for 64 x 512 values), and the identity is exact up to
    rounding (an absolute error of ~2e-7 in float32). The scale has ``like``'s dtype and
    device, so scaled weights keep theirs."""
    h = torch.arange(hidden, device=like.device)
    order = torch.cat([h, h + hidden, h + 3 * hidden, h + 2 * hidden])
    scale = torch.ones(4 * hidden, device=like.device, dtype=like.dtype)
    scale[3 * hidden:] = 2.0
    return order, scale


def input_gate_table(rnn: nn.LSTM, embeddings) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold the embeddings that make layer 0's input (concatenated in this order) into
    its input gates: a table (sum of classes, 4H) whose rows, one per embedding, add up
    to ``cat(embeddings) @ W_ih^T + b_ih + b_hh`` (gates in :func:`step_gates` order and
    scale), and each embedding's first row. A sampling step then looks its input gates
    up instead of embedding and multiplying."""
    embeddings = list(embeddings)
    w_ih = rnn.weight_ih_l0
    parts, col = [], 0
    for emb in embeddings:
        d = emb.weight.shape[1]
        parts.append(emb.weight @ w_ih[:, col:col + d].t())
        col += d
    if rnn.bias:
        parts[0] = parts[0] + rnn.bias_ih_l0 + rnn.bias_hh_l0
    order, scale = step_gates(rnn.hidden_size, w_ih)
    parts = [p[:, order] * scale for p in parts]
    offsets = torch.tensor([0] + [e.num_embeddings for e in embeddings[:-1]],
                           device=w_ih.device).cumsum(0)
    return torch.cat(parts), offsets


# up to this many cell values (batch x hidden) lstm_step takes tanh(c) directly (2 ops)
# rather than 2 sigmoid(2c) - 1 (4 ops): 12 against 18 us at 1 x 512 values, about
# equal at 8 x 512 (and 8 x 256 a little faster), slower beyond
TANH_UP_TO = 2048


def lstm_step(weights, x: torch.Tensor | None, state, gates: torch.Tensor | None = None):
    """One time step of a (unidirectional, batch-first) ``nn.LSTM``, from its
    :func:`lstm_weights` (keep them with :func:`cached`).

    ``x`` is (B, input); or ``gates`` (B, 4H) is layer 0's input part already computed
    (``x @ W_ih^T + b_ih + b_hh`` with the rows in :func:`step_gates` order and scale, as
    :func:`input_gate_table` gives it) and ``x`` is None. ``state`` is ``None`` or
    nn.LSTM's ``(h, c)``, each (L, B, H). Returns the top layer's output (B, H) and the
    new state in nn.LSTM's layout, so step() and forward() mix freely. On CPU the fused
    ``torch.lstm`` call costs ~0.7 ms per call whatever the size, and every op here
    costs ~5 us of dispatch at batch 1, so this takes few ops, and no tanh where it
    costs (see :func:`step_gates`): c = f c0 + i (2 s_g - 1), h = o (2 sigmoid(2c) - 1),
    or o tanh(c) for a small cell (:data:`TANH_UP_TO` values). No dropout (a
    training-time thing), no gradients."""
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


def rnn_read(rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor, state=None):
    """Run a batch-first, one-direction RNN over sequences of different lengths in one
    fused call: ``x`` (B, T, input) padded, ``lengths`` (B,) >= 1. Returns each sequence's
    output at its own last step (B, H) and the state there (in the RNN's layout)."""
    from torch.nn.utils.rnn import pack_padded_sequence

    rows = None  # equal rows (several drafts continue one prefix) are read once
    if state is None and len(x) > 1 and not x.requires_grad:
        _, rows = torch.unique(x.flatten(1), dim=0, return_inverse=True)  # equal values
        lengths_here = lengths.to(rows)
        _, rows = torch.unique(rows * (int(lengths_here.max()) + 1) + lengths_here,
                               return_inverse=True)  # ... and equal lengths, exactly
        distinct = int(rows.max()) + 1
        if distinct < len(x):
            first = torch.full((distinct,), len(x), device=rows.device).scatter_reduce_(
                0, rows, torch.arange(len(x), device=rows.device), reduce="amin")
            x, lengths = x[first], lengths[first.to(lengths.device)]
        else:
            rows = None
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    _, state = rnn(packed, state)  # the state comes back in the batch's own order
    if rows is not None:
        state = tuple(s[:, rows] for s in state) if isinstance(state, tuple) else state[:, rows]
    h = state[0] if isinstance(state, tuple) else state  # (layers, B, H)
    return h[-1], state  # the top layer's state is its output at each row's last step


class FrameRNN(nn.Module):
    """The recurrent part of the piano-roll models: it carries the past of a sequence of
    frames. ``context[:, t]`` summarises frames ``< t`` (it is the state *before* frame
    ``t``), so a model predicting frame ``t`` from it never sees the frame itself.

    ``cell``: ``rnn`` (tanh, as in RNN-RBM / RNN-NADE), ``lstm`` or ``gru``. Shapes:
    B = batch, T = frames, V = visible units (keys), H = hidden."""

    CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

    def __init__(self, n_visible: int, hidden: int, cell: str = "rnn", num_layers: int = 1,
                 dropout: float = 0.0):
        super().__init__()
        if cell not in self.CELLS:
            raise ValueError(f"cell must be one of {', '.join(self.CELLS)}, not {cell!r}")
        self.cell = cell
        self.rnn = self.CELLS[cell](n_visible, hidden, num_layers=num_layers, batch_first=True,
                                    dropout=dropout if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)

    def top(self, state, batch: int, like: torch.Tensor) -> torch.Tensor:
        """The top layer's output held in ``state`` (zeros before any frame): (B, H)."""
        if state is None:
            return like.new_zeros(batch, self.rnn.hidden_size)
        h = state[0] if self.cell == "lstm" else state
        return h[-1]

    def forward(self, frames: torch.Tensor, state=None):
        """frames (B, T, V) -> (context (B, T, H), state after the last frame)."""
        out, new_state = self.rnn(frames, state)
        first = self.top(state, frames.shape[0], out)[:, None]
        context = torch.cat([first, out[:, :-1]], dim=1)
        return self.drop(context), new_state

    def step(self, frame: torch.Tensor, state):
        """Feed one frame (B, V): -> (context for the next frame (B, H), new state)."""
        if self.cell == "lstm":  # a few matmuls cost less than the fused call (lstm_step)
            return lstm_step(cached(self, "_step_cache", lambda: lstm_weights(self.rnn)),
                             frame, state)
        out, state = self.rnn(frame[:, None], state)
        return out[:, 0], state


def frame_accuracy_counts(probs: torch.Tensor, frames: torch.Tensor,
                          mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Expected true positives, false positives and false negatives of the next-frame
    prediction, summed over the scored frames: with p = P(key on | past) and v the true
    frame, E[TP] = sum p v, E[FP] = sum p (1 - v), E[FN] = sum (1 - p) v (expectation is
    linear, so only the marginals p are needed). ACC (Bay et al. 2009, as in
    Boulanger-Lewandowski 2012) = TP / (TP + FP + FN) over all frames."""
    m = 1.0 if mask is None else mask[..., None].to(probs.dtype)
    tp = (probs * frames * m).sum()
    fp = (probs * (1 - frames) * m).sum()
    fn = ((1 - probs) * frames * m).sum()
    return {"tp": tp, "fp": fp, "fn": fn}


def check_config(config, positive: tuple[str, ...], cell: bool = True) -> None:
    """The checks every piano-roll model config makes: the named fields are >= 1,
    ``dropout`` in [0, 1), and ``cell`` one of :attr:`FrameRNN.CELLS`."""
    for name in positive:
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(config, name)}")
    if not 0 <= config.dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {config.dropout}")
    if cell and config.cell not in FrameRNN.CELLS:
        raise ValueError(f"cell must be one of {', '.join(FrameRNN.CELLS)}, "
                         f"not {config.cell!r}")
