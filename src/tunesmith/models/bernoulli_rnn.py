"""``bernoulli_rnn``: the plain piano-roll baseline. An LSTM (or RNN / GRU) reads the
frames so far and predicts each key of the next frame as an independent Bernoulli
variable: p(frame | past) = prod_i p_i^v_i (1 - p_i)^(1 - v_i). Exact likelihood; no
model of which keys sound together (that is what RBM / NADE outputs add).

Shapes: B = batch, T = frames, V = keys, R = RNN hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tunesmith.models.layers import (
    FrameRNN,
    RecurrentContext,
    check_config,
    frame_accuracy_counts,
    predicted_frame_counts,
)
from tunesmith.options import opt


@dataclass(frozen=True)
class BernoulliRnnConfig:
    n_visible: int = opt(88, "keys per frame, set from the representation", derived=True)
    rnn_hidden: int = opt(256, "units of the RNN")
    cell: str = opt("lstm", "recurrent cell", choices=("lstm", "gru", "rnn"))
    num_layers: int = opt(1, "stacked recurrent layers", flag="layers")
    dropout: float = opt(0.0, "dropout on the RNN's output, training only")
    inputs: dict = opt(None, "classes of each input a frame carries beside its keys, set "
                       "from the representation", derived=True, factory=dict)
    position_dim: int = opt(16, "embedding size of each input beside the keys (with inputs)")
    proposal_keys: int = opt(0, "0/1 inputs after the classes that a frame reads as they are "
                             "(a lookback's proposed frame), set from the representation",
                             derived=True)

    def __post_init__(self):
        check_config(self, ("n_visible", "rnn_hidden", "num_layers", "position_dim"))


class BernoulliRnn(RecurrentContext, nn.Module):
    family = "bernoulli_rnn"
    config_class = BernoulliRnnConfig
    # what it declares (models/__init__.py): the representation it reads, how it samples
    representation = "pianoroll"
    sampler = "frames"
    primes = False
    likelihood = "exact"
    gibbs_sampling = False
    attends = False

    def __init__(self, config: BernoulliRnnConfig):
        super().__init__()
        self.config = c = config
        self.rnn = FrameRNN(c.n_visible, c.rnn_hidden, c.cell, c.num_layers, c.dropout,
                            c.inputs, c.position_dim, c.proposal_keys)
        self.out = nn.Linear(c.rnn_hidden, c.n_visible)

    @torch.no_grad()
    def start_key_biases(self, logits: torch.Tensor) -> None:
        """Set the static key biases (V,) before training, e.g. to the keys' log-odds."""
        self.out.bias.copy_(logits)

    def loss(self, batch: dict) -> dict:
        """``nll`` in nats per frame (exact); ``tp/fp/fn`` expected counts per frame;
        ``tp_pred/fp_pred/fn_pred`` counts per frame of the most probable frame (the keys
        are independent given the past, so it is exactly the keys with p > 0.5)."""
        frames, mask = batch["frames"], batch["mask"]
        context = self.frame_contexts(frames, batch.get("inputs"))
        logits = self.out(context)
        nll_frames = F.binary_cross_entropy_with_logits(logits, frames,
                                                        reduction="none").sum(-1)
        count = mask.sum()
        n = count.clamp(min=1)
        nll = (nll_frames * mask).sum() / n
        with torch.no_grad():
            probs = torch.sigmoid(logits)
            counts = frame_accuracy_counts(probs, frames, mask)
            counts |= predicted_frame_counts(probs > 0.5, frames, mask)
        return {"loss": nll, "nll": nll.detach(), "count": count,
                **{k: v / n for k, v in counts.items()}}

    # --- generation (sampling/frames.py) -------------------------------------------------
    def frame_distribution(self, context):
        return torch.sigmoid(self.out(context))

    def draw(self, probs, generator=None, **_):
        frame = (torch.rand(probs.shape, generator=generator, device=probs.device)
                 < probs).to(probs.dtype)
        return frame, probs

    def frame_log_prob(self, probs, frames: torch.Tensor) -> torch.Tensor:
        """log p(frame) of frames (B, V) under independent keys of ``probs``: (B,)."""
        p = probs.clamp(1e-7, 1 - 1e-7)
        return (frames * p.log() + (1 - frames) * (1 - p).log()).sum(-1)
