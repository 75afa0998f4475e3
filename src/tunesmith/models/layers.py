"""Blocks shared by several model families (only those). The speed kernels of the
sampling steps are in :mod:`tunesmith.models.kernels`."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from tunesmith.models import kernels
from tunesmith.models.kernels import lstm_step, lstm_weights


def cached(module: nn.Module, name: str, build):
    """``build()``'s value (transposed weights, folded tables: things derived from the
    module's parameters for sampling), kept on ``module`` and rebuilt when a parameter
    changes (an optimizer step, ``copy_`` or ``load_state_dict`` bumps its version,
    ``.to()`` moves its data) or the kernel setting does (:func:`kernels.mode`: step
    weights are built for one path). The check is a few attribute reads per parameter
    per call, small beside a step (benchmarks/RESULTS.md)."""
    params = module.__dict__.get("_cached_params")
    if params is None:  # the Parameter objects stay the same through .to() and loading
        params = module.__dict__["_cached_params"] = list(module.parameters())
    try:
        key = [(p.data_ptr(), p._version) for p in params]
    except RuntimeError:  # inference tensors keep no version (and cannot change)
        key = [p.data_ptr() for p in params]
    setting = kernels.mode()
    hit = module.__dict__.get(name)  # a plain attribute: not a parameter, not saved
    if hit is None or hit[0] != key or hit[1] != setting:
        with torch.no_grad():
            hit = (key, setting, build())
        module.__dict__[name] = hit
    return hit[2]


class HeadLogits(Mapping):
    """The logits of several heads kept as one tensor: ``joined`` (B, sum of the sizes)
    holds them side by side in the order of ``sizes``; ``self[head]`` is that head's
    (B, C) block (split once, on first use). What ``step()`` and ``prime()`` return for
    a many-headed model: the sampler can then draw every head from ``joined`` in one
    pass, and a split it does not need (an op whose dispatch counts at batch 1:
    benchmarks/RESULTS.md) is never made. ``sizes`` is kept, not copied (one per model,
    made once)."""

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
    B = batch, T = frames, V = visible units (keys), H = hidden, F = inputs.

    With ``inputs`` (``{input: classes}``, the representation's: a frame's place in the
    bar, a fermata) the step that gives frame t's context reads frame t - 1 (zeros
    before the first) *and frame t's inputs*, each embedded in ``position_dim`` values:
    frame t is predicted knowing where it falls. The grid is fixed, so a sampler knows
    those inputs ahead and hands the next frame's to :meth:`start`, :meth:`read` and
    :meth:`step`.

    ``proposal_keys`` > 0: after its classes, each frame's inputs hold that many 0/1
    columns (a lookback's proposed frame, :class:`~tunesmith.representations.pianoroll.
    FrameLookback`), read as they are beside the frame before."""

    CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

    def __init__(self, n_visible: int, hidden: int, cell: str = "rnn", num_layers: int = 1,
                 dropout: float = 0.0, inputs: dict | None = None, position_dim: int = 16,
                 proposal_keys: int = 0):
        super().__init__()
        if cell not in self.CELLS:
            raise ValueError(f"cell must be one of {', '.join(self.CELLS)}, not {cell!r}")
        if proposal_keys and not inputs:
            raise ValueError("a proposed frame comes after input classes (the lookback's)")
        self.cell, self.n_visible, self.proposal_keys = cell, n_visible, proposal_keys
        self.embeds = nn.ModuleList(nn.Embedding(n, position_dim)
                                    for n in (inputs or {}).values())
        self.rnn = self.CELLS[cell](n_visible + len(self.embeds) * position_dim + proposal_keys,
                                    hidden, num_layers=num_layers, batch_first=True,
                                    dropout=dropout if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)

    def top(self, state, batch: int, like: torch.Tensor) -> torch.Tensor:
        """The top layer's output held in ``state`` (zeros before any frame): (B, H)."""
        if state is None:
            return like.new_zeros(batch, self.rnn.hidden_size)
        h = state[0] if self.cell == "lstm" else state
        return h[-1]

    def _with(self, frames: torch.Tensor, inputs: torch.Tensor | None) -> torch.Tensor:
        """frames (B, T, V) and inputs (B, T, F) -> what the RNN reads (B, T, V + F x P),
        and the proposed frames (B, T, proposal_keys) after them."""
        if not self.embeds:
            return frames
        if inputs is None:
            raise ValueError("this model reads the representation's inputs beside the frames")
        n = len(self.embeds)
        if inputs.shape[-1] != n + self.proposal_keys:
            raise ValueError(f"this model reads {n + self.proposal_keys} input columns beside "
                             f"the frames, got {inputs.shape[-1]}")
        return torch.cat([frames, *(e(inputs[..., k].long())
                                    for k, e in enumerate(self.embeds)),
                          inputs[..., n:].to(frames.dtype)], -1)

    def forward(self, frames: torch.Tensor, state=None, inputs: torch.Tensor | None = None):
        """frames (B, T, V) (and inputs (B, T, F)) -> (context (B, T, H), state after the
        last frame; with inputs, the state after frame T - 2 and frame T - 1's inputs)."""
        if self.embeds:  # each step reads the frame before and where its frame falls
            before = torch.cat([frames.new_zeros(frames.shape[0], 1, frames.shape[2]),
                                frames[:, :-1]], 1)
            out, new_state = self.rnn(self._with(before, inputs), state)
            return self.drop(out), new_state
        out, new_state = self.rnn(frames, state)
        first = self.top(state, frames.shape[0], out)[:, None]
        context = torch.cat([first, out[:, :-1]], dim=1)
        return self.drop(context), new_state

    def start(self, num: int, device, inputs: torch.Tensor | None = None):
        """The context before any frame and the state: zeros (B, H) and no state; with
        inputs, the first frame's (B, F) read beside a silent frame."""
        if not self.embeds:
            return torch.zeros(num, self.rnn.hidden_size, device=device), None
        silent = torch.zeros(num, 1, self.n_visible, device=device)
        out, state = self.rnn(self._with(silent, None if inputs is None else inputs[:, None]),
                              None)
        return out[:, 0], state

    def read(self, frames: torch.Tensor, state, inputs: torch.Tensor | None = None):
        """Feed many frames (B, P, V) (with inputs: each with the inputs of the frame
        after it, (B, P, F)) in one fused call: -> (context for the frame after them
        (B, H), new state)."""
        out, state = self.rnn(self._with(frames, inputs), state)
        return out[:, -1], state

    def step(self, frame: torch.Tensor, state, inputs: torch.Tensor | None = None):
        """Feed one frame (B, V) (with inputs: the next frame's, (B, F)): -> (context for
        the next frame (B, H), new state)."""
        x = self._with(frame[:, None], None if inputs is None else inputs[:, None])
        if self.cell == "lstm":  # a few matmuls cost less than the fused call (lstm_step)
            return lstm_step(cached(self, "_step_cache", lambda: lstm_weights(self.rnn)),
                             x[:, 0], state)
        out, state = self.rnn(x, state)
        return out[:, 0], state


class RecurrentContext:
    """The frame-context interface (:mod:`tunesmith.models`) of a piano-roll model whose
    past is a :class:`FrameRNN` kept in ``self.rnn`` (a mixin: ``class M(RecurrentContext,
    nn.Module)``). ``inputs``: the representation's, for a model built to read them."""

    def frame_contexts(self, frames: torch.Tensor, inputs: torch.Tensor | None = None):
        """frames (B, T, V) -> contexts (B, T, H), ``[:, t]`` from frames < t."""
        return self.rnn(frames, inputs=inputs)[0]

    def context_start(self, num: int, device, inputs: torch.Tensor | None = None):
        return self.rnn.start(num, device, inputs)

    def context_read(self, frames: torch.Tensor, state, inputs: torch.Tensor | None = None):
        return self.rnn.read(frames, state, inputs)

    def context_step(self, frame: torch.Tensor, state, inputs: torch.Tensor | None = None):
        return self.rnn.step(frame, state, inputs)


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


def predicted_frame_counts(predicted: torch.Tensor, frames: torch.Tensor,
                           mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """True positives, false positives and false negatives of one *predicted* frame per
    step (0/1, each model's estimate of its most probable next frame), counted against the
    true frame and summed over the scored frames, as Bay et al. 2009 / MIREX sum them:
    ``tp_pred``, ``fp_pred``, ``fn_pred``. ACC = TP / (TP + FP + FN) of these is the
    benchmark's ``accuracy_bl2012`` (our reading of Boulanger-Lewandowski 2012's ACC)."""
    counts = frame_accuracy_counts(predicted.to(frames.dtype), frames, mask)
    return {f"{k}_pred": v for k, v in counts.items()}


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


def select_rnn_state(state, rows: torch.Tensor):
    """The rows ``rows`` of an nn.RNN / nn.LSTM state (``h`` or ``(h, c)``, each
    (layers, B, H)), in that order: what beam search does to its hypotheses each step."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.index_select(1, rows) for s in state)
    return state.index_select(1, rows)


def weighted_nll(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor,
                 ignore: int) -> torch.Tensor:
    """The training loss of a one-head model whose batch carries ``weights`` (B, T), each
    target's weight (abc's ``--ending-weight``): logits (B, T, V), targets (B, T) ->
    sum(weight x NLL) / sum(weight) over the scored targets (not ``ignore``)."""
    import torch.nn.functional as F

    each = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=ignore,
                           reduction="none")
    w = weights.flatten().to(each.dtype) * (targets.flatten() != ignore)
    return (each * w).sum() / w.sum().clamp(min=1e-9)


def per_head_nll(logits, targets: torch.Tensor, heads, mask: torch.Tensor,
                 ignore: int = -100):
    """The multi-head loss of ``event_lstm`` and ``transformer``: logits ``{head: (B, T,
    C)}``, targets (B, T, H) (``ignore`` where not scored), ``mask`` (B, T) the scored
    steps -> (the sum over heads of each head's mean NLL, every head right (B, T), the
    metrics ``nll_<head>`` and ``acc_<head>``)."""
    import torch.nn.functional as F

    out, nll, all_right = {}, 0.0, mask.clone()
    for i, h in enumerate(heads):
        lg, tg = logits[h], targets[..., i]
        head_nll = F.cross_entropy(lg.flatten(0, 1), tg.flatten(), ignore_index=ignore)
        nll = nll + head_nll
        with torch.no_grad():
            right = (lg.argmax(-1) == tg) & mask
            all_right &= right
            out[f"nll_{h}"] = head_nll.detach()
            out[f"acc_{h}"] = right.sum() / mask.sum().clamp(min=1)
    return nll, all_right, out
