"""``char_rnn``: Embedding -> LSTM / GRU / RNN -> Linear, predicting the next token.

The classic character-level music RNN. One softmax head, ``"token"``: ABC characters or
REMI tokens (any one-head token representation whose id 0 is padding). With ``inputs``
(the representation's, e.g. ``abc_chars`` with ``positions``: where each character
stands in its bar and section) each step reads rows ``(id, input 1, ...)``, and each
input's embedding (``position_dim`` wide) is concatenated to the token's.
Shapes: B = batch, T = time, E = embedding, H = hidden, V = vocabulary, F = inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tunesmith.models.kernels import StepWeight, input_gate_table, lstm_step, lstm_weights
from tunesmith.models.layers import cached, rnn_read, select_rnn_state, weighted_nll
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
    inputs: dict = opt(None, "classes of each input a step carries beside its id, set from "
                       "the representation", derived=True, factory=dict)
    position_dim: int = opt(16, "embedding size of each input beside the id (with inputs)")

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {self.cell!r}")
        for name in ("vocab_size", "embedding_dim", "hidden_size", "num_layers",
                     "position_dim"):
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
        self.input_embeds = nn.ModuleList(nn.Embedding(n, c.position_dim)
                                          for n in c.inputs.values())
        self.drop = nn.Dropout(c.dropout)
        width = c.embedding_dim + len(c.inputs) * c.position_dim
        self.rnn = CELLS[c.cell](width, c.hidden_size, num_layers=c.num_layers,
                                 batch_first=True, dropout=c.dropout if c.num_layers > 1 else 0.0)
        self.head = nn.Linear(c.hidden_size, c.vocab_size)

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """ids (..., 1 + F) (or (...) without inputs) -> (..., E + F x position_dim)."""
        if not self.input_embeds:
            return self.embed(tokens if tokens.dim() < 3 else tokens[..., 0])
        parts = [self.embed(tokens[..., 0])]
        parts += [emb(tokens[..., k + 1]) for k, emb in enumerate(self.input_embeds)]
        return torch.cat(parts, -1)

    def forward(self, tokens: torch.Tensor, state=None):
        """tokens (B, T), or (B, T, 1 + F) with inputs -> logits (B, T, V), new state."""
        x = self.drop(self._embed(tokens))  # (B, T, E)
        y, state = self.rnn(x, state)  # (B, T, H)
        return self.head(self.drop(y)), state  # (B, T, V)

    def loss(self, batch: dict) -> dict:
        """batch: inputs (B, T) (or (B, T, 1 + F)), targets likewise, with id 0 (pad)
        ignored; only the targets' ids are predicted. Returns the mean NLL per target
        token as ``loss`` plus ``nll``, ``accuracy``, ``count``."""
        logits, _ = self(batch["inputs"])
        targets = batch["targets"]
        if targets.dim() == 3:
            targets = targets[..., 0]
        mask = targets != 0
        nll = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=0)
        # each target's weight (abc's --ending-weight), if any; the reported nll stays plain
        loss = nll if "weights" not in batch else weighted_nll(logits, targets,
                                                                batch["weights"], 0)
        with torch.no_grad():
            correct = ((logits.argmax(-1) == targets) & mask).sum()
            count = mask.sum()
        return {"loss": loss, "nll": nll.detach(), "accuracy": correct / count.clamp(min=1),
                "count": count}

    # --- autoregressive interface used by the shared sampler
    def select_state(self, state, rows: torch.Tensor):
        """The state of the batch rows ``rows``, in that order (beam search)."""
        return select_rnn_state(state, rows)

    def init_state(self, batch_size: int):
        return None  # PyTorch RNNs start from zeros when given None

    def prime(self, inputs: torch.Tensor, lengths: torch.Tensor, state):
        """Read primers in one fused call: inputs (B, P, 1 + F) ids (and inputs), padded
        after each row's ``lengths`` (B,) -> ({"token": logits (B, V)} after each row's
        last id, state). Equal to ``lengths`` calls of step()."""
        y, state = rnn_read(self.rnn, self._embed(inputs), lengths, state)
        return {"token": self.head(y)}, state

    def step(self, inputs: torch.Tensor, state):
        """inputs (B, 1 + F): the last token's id (and inputs) -> ({"token": logits (B, V)},
        state).

        For an LSTM the cell is computed by :func:`~tunesmith.models.kernels.lstm_step`
        (fast at batch 1; the state keeps nn.LSTM's layout), with the embedding folded
        into the input gates (a table lookup instead of embedding and a matmul). For
        sampling: no gradients flow through step()."""
        width = 1 + len(self.input_embeds)
        if self.config.cell != "lstm":
            logits, state = self(inputs[:, None, :width], state)  # (B, 1, V)
            return {"token": logits[:, 0]}, state
        layers, (table, offsets), head = cached(self, "_step_cache", self._step_weights)
        gates = F.embedding(inputs[:, 0], table)
        for k in range(1, width):  # the inputs' rows of the table, added (linear gates)
            gates = gates + F.embedding(inputs[:, k] + offsets[k], table)
        y, state = lstm_step(layers, None, state, gates=gates)
        return {"token": head.addmm(self.head.bias, y)}, state

    def _step_weights(self):
        return (lstm_weights(self.rnn), input_gate_table(self.rnn, [self.embed,
                                                                    *self.input_embeds]),
                StepWeight(self.head.weight))
