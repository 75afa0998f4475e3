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
