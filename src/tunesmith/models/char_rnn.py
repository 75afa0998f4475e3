"""``char_rnn``: Embedding -> LSTM / GRU / RNN -> Linear, predicting the next token.

The classic character-level music RNN. One softmax head, ``"token"``: ABC characters or
REMI tokens (any one-head token representation whose id 0 is padding).
Shapes: B = batch, T = time, E = embedding, H = hidden, V = vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tunesmith.models.kernels import StepWeight, input_gate_table, lstm_step, lstm_weights
from tunesmith.models.layers import cached, rnn_read, select_rnn_state
from tunesmith.options import opt

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


@dataclass(frozen=True)
class CharRNNConfig:
    vocab_size: int = opt(0, "characters in the vocabulary, set from the representation",
                          derived=True)
    embedding_dim: int = opt(64, "embedding size of each character")
    hidden_size: int = opt(512, "units of each recurrent layer")
    num_layers: int = opt(1, "stacked recurrent layers", flag="layers")
    cell: str = opt("lstm", "recurrent cell", choices=("lstm", "gru", "rnn"))
    dropout: float = opt(0.0, "dropout on embeddings, between layers, and before the output "
                         "layer")

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {self.cell!r}")
        for name in ("vocab_size", "embedding_dim", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class CharRNN(nn.Module):
    family = "char_rnn"
    config_class = CharRNNConfig
    # what it declares (models/__init__.py): the representation it reads, how it samples
    representation = ("abc_chars", "remi")
    sampler = "step"
    primes = True
    likelihood = "exact"
    gibbs_sampling = False
    attends = False

    def __init__(self, config: CharRNNConfig):
        super().__init__()
        self.config = config
        c = config
        self.embed = nn.Embedding(c.vocab_size, c.embedding_dim)
        self.drop = nn.Dropout(c.dropout)
        self.rnn = CELLS[c.cell](c.embedding_dim, c.hidden_size, num_layers=c.num_layers,
                                 batch_first=True, dropout=c.dropout if c.num_layers > 1 else 0.0)
        self.head = nn.Linear(c.hidden_size, c.vocab_size)

    def forward(self, tokens: torch.Tensor, state=None):
        """tokens (B, T) -> logits (B, T, V), new state."""
        x = self.drop(self.embed(tokens))  # (B, T, E)
        y, state = self.rnn(x, state)  # (B, T, H)
        return self.head(self.drop(y)), state  # (B, T, V)

    def loss(self, batch: dict) -> dict:
        """batch: inputs (B, T), targets (B, T) with 0 (pad) ignored.
        Returns the mean NLL per target token as ``loss`` plus ``nll``, ``accuracy``, ``count``."""
        logits, _ = self(batch["inputs"])
        targets = batch["targets"]
        mask = targets != 0
        nll = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=0)
        with torch.no_grad():
            correct = ((logits.argmax(-1) == targets) & mask).sum()
            count = mask.sum()
        return {"loss": nll, "nll": nll.detach(), "accuracy": correct / count.clamp(min=1),
                "count": count}

    # --- autoregressive interface used by the shared sampler
    def select_state(self, state, rows: torch.Tensor):
        """The state of the batch rows ``rows``, in that order (beam search)."""
        return select_rnn_state(state, rows)

    def init_state(self, batch_size: int):
        return None  # PyTorch RNNs start from zeros when given None

    def prime(self, inputs: torch.Tensor, lengths: torch.Tensor, state):
        """Read primers in one fused call: inputs (B, P, 1 head) ids, padded after each
        row's ``lengths`` (B,) -> ({"token": logits (B, V)} after each row's last id,
        state). Equal to ``lengths`` calls of step()."""
        y, state = rnn_read(self.rnn, self.embed(inputs[..., 0]), lengths, state)
        return {"token": self.head(y)}, state

    def step(self, inputs: torch.Tensor, state):
        """inputs (B, 1 head) ids of the last token -> ({"token": logits (B, V)}, state).

        For an LSTM the cell is computed by :func:`~tunesmith.models.kernels.lstm_step`
        (fast at batch 1; the state keeps nn.LSTM's layout), with the embedding folded
        into the input gates (a table lookup instead of embedding and a matmul). For
        sampling: no gradients flow through step()."""
        if self.config.cell != "lstm":
            logits, state = self(inputs[:, :1], state)  # (B, 1, V)
            return {"token": logits[:, 0]}, state
        layers, table, head = cached(self, "_step_cache", self._step_weights)
        y, state = lstm_step(layers, None, state, gates=F.embedding(inputs[:, 0], table))
        return {"token": head.addmm(self.head.bias, y)}, state

    def _step_weights(self):
        return (lstm_weights(self.rnn), input_gate_table(self.rnn, [self.embed])[0],
                StepWeight(self.head.weight))
