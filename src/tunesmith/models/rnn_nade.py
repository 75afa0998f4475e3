"""``rnn_nade``: an RNN carries the past of a piano roll; at each frame its state sets the
biases of a NADE that models which keys sound together (Boulanger-Lewandowski, Bengio &
Vincent 2012). The likelihood is exact: a NADE is a product of 88 conditionals
p(v_i | v_<i), each a logistic unit on a hidden layer shared across keys.

Shapes: B = batch, T = frames, V = keys (88), H = NADE hidden units, R = RNN hidden.
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
class RnnNadeConfig:
    n_visible: int = opt(88, "keys per frame, set from the representation", derived=True)
    rnn_hidden: int = opt(100, "units of the RNN that carries the past (R)")
    nade_hidden: int = opt(150, "hidden units of the NADE per frame (H)")
    cell: str = opt("rnn", "the RNN's cell: rnn (RNN-NADE), lstm or gru",
                    choices=("rnn", "lstm", "gru"))
    num_layers: int = opt(1, "stacked recurrent layers", flag="layers")
    dropout: float = opt(0.0, "dropout on the RNN's output (the context), training only")
    acc_samples: int = opt(8, "NADE samples per frame that estimate the marginals for ACC")
    inputs: dict = opt(None, "classes of each input a frame carries beside its keys, set "
                       "from the representation", derived=True, factory=dict)
    position_dim: int = opt(16, "embedding size of each input beside the keys (with inputs)")
    proposal_keys: int = opt(0, "0/1 inputs after the classes that a frame reads as they are "
                             "(a lookback's proposed frame), set from the representation",
                             derived=True)

    def __post_init__(self):
        check_config(self, ("n_visible", "rnn_hidden", "nade_hidden", "num_layers", "acc_samples",
                            "position_dim"))


class RnnNade(RecurrentContext, nn.Module):
    family = "rnn_nade"
    config_class = RnnNadeConfig
    # what it declares (models/__init__.py): the representation it reads, how it samples
    representation = "pianoroll"
    sampler = "frames"
    primes = False
    likelihood = "exact"
    gibbs_sampling = False
    autocast = False  # log-probabilities summed over 88 keys need fp32
    attends = False

    def __init__(self, config: RnnNadeConfig):
        super().__init__()
        self.config = c = config
        self.rnn = FrameRNN(c.n_visible, c.rnn_hidden, c.cell, c.num_layers, c.dropout,
                            c.inputs, c.position_dim, c.proposal_keys)
        self.W = nn.Parameter(torch.randn(c.nade_hidden, c.n_visible) * 0.01)  # v -> hidden
        self.V = nn.Parameter(torch.randn(c.n_visible, c.nade_hidden) * 0.01)  # hidden -> v_i
        self.to_bv = nn.Linear(c.rnn_hidden, c.n_visible)  # its bias is the static b_v
        self.to_bh = nn.Linear(c.rnn_hidden, c.nade_hidden)
        self.eval_seed = 0  # seed of the samples that estimate ACC when not training

    # --- the NADE ------------------------------------------------------------------------
    def conditionals(self, context: torch.Tensor):
        """context (..., R) -> the NADE's biases (b_v (..., V), b_h (..., H))."""
        return self.to_bv(context), self.to_bh(context)

    def logits(self, frames: torch.Tensor, bv: torch.Tensor, bh: torch.Tensor) -> torch.Tensor:
        """Logits of p(v_i = 1 | v_<i) for every key at once: (..., V).

        The hidden pre-activation for key i is a_i = b_h + sum_{j<i} W[:, j] v_j, built up
        key by key. (A loop over the 88 keys with (..., H) tensors measured 4x faster on
        CPU, forward and backward, than one (..., V, H) cumulative sum, which is bound by
        memory traffic.)"""
        a = bh
        out = []
        for i in range(self.config.n_visible):
            out.append(torch.sigmoid(a) @ self.V[i])
            a = a + frames[..., i, None] * self.W[:, i]
        return bv + torch.stack(out, -1)

    def frame_nll(self, frames, bv, bh) -> torch.Tensor:
        """-log p(frame | past) in nats, exactly: (...,)."""
        return F.binary_cross_entropy_with_logits(self.logits(frames, bv, bh), frames,
                                                  reduction="none").sum(-1)

    def sample_frame(self, bv: torch.Tensor, bh: torch.Tensor, generator=None):
        """Ancestral sampling, key by key (low to high): bv (B, V), bh (B, H) ->
        (frame (B, V) of 0/1, p (B, V): each key's conditional probability as drawn)."""
        b = bv.shape[0]
        a = bh.clone()
        frame = bv.new_zeros(b, self.config.n_visible)
        probs = torch.empty_like(frame)
        for i in range(self.config.n_visible):
            p = torch.sigmoid(bv[:, i] + torch.sigmoid(a) @ self.V[i])
            v = (torch.rand(b, generator=generator, device=p.device) < p).to(p.dtype)
            frame[:, i], probs[:, i] = v, p
            a = a + v[:, None] * self.W[:, i]
        return frame, probs

    def marginals(self, bv, bh, samples: int, generator=None) -> torch.Tensor:
        """Monte-Carlo estimate of P(key on | past) from ``samples`` NADE samples (the
        mean of the drawn conditionals p(v_i | sampled v_<i), an unbiased estimate with
        less variance than counting the drawn keys): (..., V)."""
        shape = bv.shape
        bv2 = bv.reshape(-1, shape[-1]).repeat(samples, 1)
        bh2 = bh.reshape(-1, bh.shape[-1]).repeat(samples, 1)
        _, p = self.sample_frame(bv2, bh2, generator)
        return p.reshape(samples, -1, shape[-1]).mean(0).reshape(shape)

    def greedy_frame(self, bv: torch.Tensor, bh: torch.Tensor) -> torch.Tensor:
        """The NADE's most probable frame, approximately: key by key (low to high), key i
        on iff p(v_i = 1 | the keys decided below it) > 0.5 (greedy decoding; the exact
        mode would need all 2^V frames). bv (N, V), bh (N, H) -> (N, V) of 0/1."""
        a = bh
        frame = bv.new_zeros(bv.shape)
        for i in range(self.config.n_visible):
            on = (bv[:, i] + torch.sigmoid(a) @ self.V[i] > 0).to(bv.dtype)  # p > 0.5
            frame[:, i] = on
            a = a + on[:, None] * self.W[:, i]
        return frame

    # --- the trainer's interface ---------------------------------------------------------
    @torch.no_grad()
    def start_key_biases(self, logits: torch.Tensor) -> None:
        """Set the static key biases (V,) before training, e.g. to the keys' log-odds."""
        self.to_bv.bias.copy_(logits)

    def loss(self, batch: dict) -> dict:
        """batch: frames (B, T, V) float 0/1, mask (B, T) bool (frames scored).
        ``nll`` = exact negative log-likelihood in nats per frame; ``tp/fp/fn`` = expected
        counts per frame (accuracy comes from them; estimated when not training);
        ``tp_pred/fp_pred/fn_pred`` = counts per frame of the predicted frame
        (:meth:`greedy_frame`, not training only)."""
        frames, mask = batch["frames"], batch["mask"]
        bv, bh = self.conditionals(self.frame_contexts(frames, batch.get("inputs")))
        nll_frames = self.frame_nll(frames, bv, bh)  # (B, T)
        count = mask.sum()
        nll = (nll_frames * mask).sum() / count.clamp(min=1)
        out = {"loss": nll, "nll": nll.detach(), "count": count}
        if not self.training:
            gen = torch.Generator(device=frames.device).manual_seed(self.eval_seed)
            p = self.marginals(bv[mask], bh[mask], self.config.acc_samples, gen)
            counts = frame_accuracy_counts(p, frames[mask])
            predicted = self.greedy_frame(bv[mask], bh[mask])
            counts |= predicted_frame_counts(predicted, frames[mask])
            out.update({k: v / count.clamp(min=1) for k, v in counts.items()})
        return out

    # --- generation (sampling/frames.py) -------------------------------------------------
    def frame_distribution(self, context):
        return self.conditionals(context)

    def draw(self, dist, generator=None, **_):
        """A frame from the conditional distribution: (frame, per-key probabilities)."""
        return self.sample_frame(*dist, generator=generator)

    def frame_log_prob(self, dist, frames: torch.Tensor) -> torch.Tensor:
        """log p(frame) of frames (B, V) under the distribution ``dist``: (B,)."""
        return -self.frame_nll(frames, *dist)
