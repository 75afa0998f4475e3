"""``transformer_nade``: a causal Transformer reads the past of a piano roll; its output at
each frame sets the biases of a NADE that models which keys sound together, exactly as the
RNN does in :mod:`~tunesmith.models.rnn_nade` (whose NADE this class inherits: the
conditionals, the exact likelihood, sampling, the marginals for ACC, the loss). Exact
likelihood, so the Boulanger protocol is the same as for RNN-NADE.

The Transformer is :class:`~tunesmith.models.transformer.Decoder` (pre-norm, rotary
positions, a sliding key/value cache). Its inputs are a learned start vector followed by
each frame projected to the model's width; its output at position t is frame t's context,
so frame t is predicted from frames < t only (position 0, the start, predicts the first
frame). ``context`` = C: frame t's context reaches back to frame t - C (further through
the layers' stacked windows); generation steps one frame at a time through the cache.

Shapes: B = batch, T = frames, V = keys, D = model width, H = NADE hidden units.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tunesmith.models.rnn_nade import RnnNade
from tunesmith.models.transformer import Decoder, DecoderSizes
from tunesmith.options import opt


@dataclass(frozen=True)
class TransformerNadeConfig(DecoderSizes):
    n_visible: int = opt(88, "keys per frame, set from the representation", derived=True)
    nade_hidden: int = opt(150, "hidden units of the NADE per frame (H)")
    acc_samples: int = opt(8, "NADE samples per frame that estimate the marginals for ACC")

    def __post_init__(self):
        super().__post_init__()
        for name in ("n_visible", "nade_hidden", "acc_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


class TransformerNade(RnnNade):
    family = "transformer_nade"
    config_class = TransformerNadeConfig
    # what it declares (models/__init__.py): the representation it reads, how it samples
    representation = "pianoroll"
    sampler = "frames"
    primes = False
    likelihood = "exact"
    gibbs_sampling = False
    attends = True  # attention(inputs) -> (layers, heads, T, T) weights

    def __init__(self, config: TransformerNadeConfig):
        nn.Module.__init__(self)  # rnn_nade's NADE, a Transformer instead of its RNN
        self.config = c = config
        self.frame_in = nn.Linear(c.n_visible, c.d_model)
        self.start = nn.Parameter(torch.randn(c.d_model) * 0.02)  # the input before frame 0
        self.drop = nn.Dropout(c.dropout)
        self.decoder = Decoder(c.d_model, c.num_layers, c.attention_heads, c.ff_size,
                               c.dropout, c.context)
        self.W = nn.Parameter(torch.randn(c.nade_hidden, c.n_visible) * 0.01)  # v -> hidden
        self.V = nn.Parameter(torch.randn(c.n_visible, c.nade_hidden) * 0.01)  # hidden -> v_i
        self.to_bv = nn.Linear(c.d_model, c.n_visible)  # its bias is the static b_v
        self.to_bh = nn.Linear(c.d_model, c.nade_hidden)
        self.eval_seed = 0  # seed of the samples that estimate ACC when not training

    def _inputs(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, T, V) -> the Transformer's inputs [start, frames[:, :-1]] (B, T, D)."""
        start = self.start.expand(len(frames), 1, -1)  # (B, 1, D)
        return torch.cat([start, self.frame_in(frames[:, :-1])], 1)

    # --- the frame context (models/__init__.py) ------------------------------------------
    def frame_contexts(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, T, V) -> contexts (B, T, D), ``[:, t]`` from frames < t."""
        return self.decoder(self.drop(self._inputs(frames)))

    @torch.no_grad()
    def context_start(self, num: int, device):
        """The context of the first frame (B, D) and the cache holding the start."""
        h, cache = self.decoder.extend(self.start.to(device).expand(num, 1, -1), None)
        return h[:, 0], cache

    @torch.no_grad()
    def context_read(self, frames: torch.Tensor, state):
        """Read frames (B, P, V) in one pass -> (the next frame's context (B, D), cache)."""
        h, state = self.decoder.extend(self.frame_in(frames), state)
        return h[:, -1], state

    @torch.no_grad()
    def context_step(self, frame: torch.Tensor, state):
        """Read one frame (B, V) -> (the next frame's context (B, D), cache)."""
        h, state = self.decoder.extend(self.frame_in(frame[:, None]), state)
        return h[:, 0], state

    @torch.no_grad()
    def attention(self, frames: torch.Tensor) -> torch.Tensor:
        """One piece's frames (T, V) -> the softmax attention weights of a teacher-forced
        pass with dropout off: (layers, attention heads, T, T). Row t is the context of
        frame t; column 0 is the start, column j >= 1 frame j - 1 (rows sum to 1)."""
        was = self.training
        self.eval()
        try:
            return self.decoder.attention(self._inputs(frames[None].float()))
        finally:
            self.train(was)
