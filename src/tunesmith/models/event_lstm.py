"""``event_lstm``: messages (note, velocity, time) -> LSTM -> one linear layer -> three
softmax heads, predicting the next message.

The "LSTM composer" design: each input message is three categorical ids, embedded and
concatenated; one linear layer maps the LSTM output to the three heads' logits at once
(split, not three layers); the loss is the **sum** of the three heads' NLLs, plus an
optional L1 penalty on the weights. With ``inputs`` (the representation's, e.g. ``events``
with ``beat_inputs``: each message's place in the beat and bar) each message also carries
one id per input, embedded and concatenated after the three parts. Shapes: B = batch,
T = time (messages), H = hidden, F = inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tunesmith.models.kernels import StepWeight, input_gate_table, lstm_step, lstm_weights
from tunesmith.models.layers import HeadLogits, cached, per_head_nll, rnn_read, select_rnn_state
from tunesmith.options import opt

HEADS = ("note", "velocity", "time")
IGNORE = -100  # target id that is not scored (padding)


@dataclass(frozen=True)
class EventLSTMConfig:
    note_classes: int = opt(0, "note head size, set from the representation", derived=True)
    velocity_classes: int = opt(0, "velocity head size, set from the representation",
                                derived=True)
    time_classes: int = opt(0, "time head size, set from the representation", derived=True)
    note_dim: int = opt(64, "embedding size of the note part of a message")
    velocity_dim: int = opt(16, "embedding size of the velocity part")
    time_dim: int = opt(16, "embedding size of the time part")
    hidden_size: int = opt(256, "units of each recurrent layer")
    num_layers: int = opt(1, "stacked recurrent layers", flag="layers")
    dropout: float = opt(0.5, "dropout on the inputs, between layers and before the output "
                         "layer")
    l1: float = opt(0.0, "L1 penalty: l1 * sum |w| over weight matrices (not biases), "
                    "training only")
    inputs: dict = opt(None, "classes of each input a step carries beside its id, set from "
                       "the representation", derived=True, factory=dict)
    position_dim: int = opt(16, "embedding size of each input beside the id (with inputs)")

    def __post_init__(self):
        for name in ("note_classes", "velocity_classes", "time_classes", "note_dim",
                     "velocity_dim", "time_dim", "hidden_size", "num_layers",
                     "position_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.l1 < 0:
            raise ValueError(f"l1 must be >= 0, got {self.l1}")

    @property
    def head_sizes(self) -> tuple[int, int, int]:
        return self.note_classes, self.velocity_classes, self.time_classes


class EventLSTM(nn.Module):
    family = "event_lstm"
    config_class = EventLSTMConfig
    # what it declares (models/__init__.py): the representation it reads, how it samples
    representation = "events"
    sampler = "step"
    primes = True
    likelihood = "exact"
    gibbs_sampling = False
    attends = False

    def __init__(self, config: EventLSTMConfig):
        super().__init__()
        self.config = c = config
        self.embed = nn.ModuleList([
            nn.Embedding(c.note_classes, c.note_dim),
            nn.Embedding(c.velocity_classes, c.velocity_dim),
            nn.Embedding(c.time_classes, c.time_dim),
            *(nn.Embedding(n, c.position_dim) for n in c.inputs.values()),
        ])
        self.drop = nn.Dropout(c.dropout)
        width = c.note_dim + c.velocity_dim + c.time_dim + len(c.inputs) * c.position_dim
        self.rnn = nn.LSTM(width, c.hidden_size,
                           num_layers=c.num_layers, batch_first=True,
                           dropout=c.dropout if c.num_layers > 1 else 0.0)
        self.head = nn.Linear(c.hidden_size, sum(c.head_sizes))
        self.head_sizes = dict(zip(HEADS, c.head_sizes, strict=True))  # {head: classes}

    def _inputs(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (..., 3 + F) -> concatenated embeddings (..., E); padding (-100) reads as 0."""
        ids = ids.clamp(min=0)
        return torch.cat([emb(ids[..., i]) for i, emb in enumerate(self.embed)], dim=-1)

    def _heads(self, out: torch.Tensor) -> HeadLogits:
        """The output layer's (..., sum C) as {head: (..., C)}, the heads side by side."""
        return HeadLogits(out, self.head_sizes)

    def forward(self, inputs: torch.Tensor, state=None):
        """inputs (B, T, 3 + F) -> ({head: logits (B, T, C_head)}, state)."""
        y, state = self.rnn(self.drop(self._inputs(inputs)), state)  # (B, T, H)
        return self._heads(self.head(self.drop(y))), state

    def l1_penalty(self) -> torch.Tensor:
        return sum(p.abs().sum() for name, p in self.named_parameters() if "weight" in name)

    def loss(self, batch: dict) -> dict:
        """batch: inputs (B, T, 3 + F), targets (B, T, 3 + F) with -100 where nothing is
        scored (the heads score the first three columns).

        ``nll`` is the sum of the three heads' mean NLLs (nats per message); ``loss`` adds
        the L1 penalty while training (validation compares NLLs alone). Also per head:
        ``nll_<head>``, ``acc_<head>``; ``accuracy`` = all three heads right."""
        logits, _ = self(batch["inputs"])
        targets = batch["targets"]
        mask = targets[..., 0] != IGNORE  # (B, T)
        nll, all_right, out = per_head_nll(logits, targets, HEADS, mask, IGNORE)
        count = mask.sum()
        loss = nll
        if self.training and self.config.l1:
            loss = nll + self.config.l1 * self.l1_penalty()
        return {"loss": loss, "nll": nll.detach(), **out,
                "accuracy": all_right.sum() / count.clamp(min=1), "count": count}

    # --- autoregressive interface used by the shared sampler
    def select_state(self, state, rows: torch.Tensor):
        """The state of the batch rows ``rows``, in that order (beam search)."""
        return select_rnn_state(state, rows)

    def init_state(self, batch_size: int):
        return None

    def prime(self, inputs: torch.Tensor, lengths: torch.Tensor, state):
        """Read primers in one fused call: inputs (B, P, 3 + F) ids, padded after each row's
        ``lengths`` (B,) -> ({head: logits (B, C)} after each row's last message, state).
        Equal to ``lengths`` calls of step()."""
        y, state = rnn_read(self.rnn, self._inputs(inputs), lengths, state)
        return self._heads(self.head(y)), state

    def step(self, inputs: torch.Tensor, state):
        """inputs (B, 3 + F) ids of the last message (no padding) -> ({head: logits (B, C)}
        as :class:`HeadLogits`, state). The 3 + F embeddings are folded into layer 0's
        input gates: one table lookup per message instead of 3 + F embeddings and a
        matmul (:mod:`~tunesmith.models.kernels`, which also says how to check this
        against plain PyTorch). For sampling: no gradients flow through step()."""
        layers, (table, offsets), head = cached(self, "_step_cache", self._step_weights)
        ids = inputs + offsets
        # (B, 4H): embedding_bag sums the three rows without the (B, 3, 4H) copy that
        # embedding(...).sum(1) makes, faster at every batch, with the bags' offsets kept
        # (an arange each step costs more than the lookup; benchmarks/RESULTS.md)
        bags = self.__dict__.get("_bags")
        if bags is None or len(bags) != len(ids) or bags.device != ids.device:
            bags = torch.arange(0, ids.numel(), ids.shape[1], device=ids.device)
            self.__dict__["_bags"] = bags
        gates = torch.embedding_bag(table, ids.view(-1), bags, False, 0)[0]
        y, state = lstm_step(layers, None, state, gates=gates)
        return self._heads(head.addmm(self.head.bias, y)), state

    def _step_weights(self):
        return (lstm_weights(self.rnn), input_gate_table(self.rnn, self.embed),
                StepWeight(self.head.weight))
