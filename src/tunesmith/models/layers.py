"""Blocks shared by several model families (only those)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def lstm_step(rnn: nn.LSTM, x: torch.Tensor, state):
    """One time step of a (unidirectional, batch-first) ``nn.LSTM`` from its own weights.

    ``x`` is (B, input); ``state`` is ``None`` or nn.LSTM's ``(h, c)``, each (L, B, H).
    Returns the top layer's output (B, H) and the new state in nn.LSTM's layout, so step()
    and forward() mix freely. On CPU the fused ``torch.lstm`` call costs ~0.7 ms per call
    whatever the size (70% of sampling time at batch 1); these few matmuls do not.
    Dropout between layers is a training-time thing and is not applied here."""
    b, n, hidden = x.shape[0], rnn.num_layers, rnn.hidden_size
    if state is None:
        zeros = x.new_zeros(n, b, hidden)
        state = (zeros, zeros)
    h0, c0 = state
    hs, cs = [], []
    for layer in range(n):
        gates = (F.linear(x, getattr(rnn, f"weight_ih_l{layer}"), getattr(rnn, f"bias_ih_l{layer}"))
                 + F.linear(h0[layer], getattr(rnn, f"weight_hh_l{layer}"),
                            getattr(rnn, f"bias_hh_l{layer}")))  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=-1)  # PyTorch's gate order
        c = torch.sigmoid(f) * c0[layer] + torch.sigmoid(i) * torch.tanh(g)
        x = torch.sigmoid(o) * torch.tanh(c)  # (B, H)
        hs.append(x)
        cs.append(c)
    return x, (torch.stack(hs), torch.stack(cs))


def rnn_read(rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor, state=None):
    """Run a batch-first, one-direction RNN over sequences of different lengths in one
    fused call: ``x`` (B, T, input) padded, ``lengths`` (B,) >= 1. Returns each sequence's
    output at its own last step (B, H) and the state there (in the RNN's layout)."""
    from torch.nn.utils.rnn import pack_padded_sequence

    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    _, state = rnn(packed, state)  # the state comes back in the batch's own order
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
            return lstm_step(self.rnn, frame, state)
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
