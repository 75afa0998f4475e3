"""``transformer_nade``: a causal Transformer reads the past of a piano roll; its output at
each frame sets the biases of a NADE that models which keys sound together, exactly as the
RNN does in :mod:`~tunesmith.models.rnn_nade` (whose NADE this class inherits: the
conditionals, the exact likelihood, sampling, the marginals for ACC, the loss). Exact
likelihood, so the Boulanger protocol is the same as for RNN-NADE.

The Transformer is :class:`~tunesmith.models.transformer.Decoder` (pre-norm, rotary
positions, a sliding key/value cache). Its inputs are a learned start vector followed by
each frame projected to the model's width; its output at position t is frame t's context,
so frame t is predicted from frames < t only (position 0, the start, predicts the first
frame). With ``inputs`` (the representation's: a frame's place in the bar, a fermata)
position t also adds an embedding (D wide) of frame t's inputs, known ahead on the fixed
grid: the sampler hands the next frame's to :meth:`context_start` / ``_read`` /
``_step``. ``context`` = C: frame t's context reaches back to frame t - C (further
through the layers' stacked windows); generation steps one frame at a time through the
cache.

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
    inputs: dict = opt(None, "classes of each input a frame carries beside its keys, set "
                       "from the representation", derived=True, factory=dict)

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
        self.input_embeds = nn.ModuleList(nn.Embedding(n, c.d_model) for n in c.inputs.values())
        self.drop = nn.Dropout(c.dropout)
        self.decoder = Decoder(c.d_model, c.num_layers, c.attention_heads, c.ff_size,
                               c.dropout, c.context)
        self.W = nn.Parameter(torch.randn(c.nade_hidden, c.n_visible) * 0.01)  # v -> hidden
        self.V = nn.Parameter(torch.randn(c.n_visible, c.nade_hidden) * 0.01)  # hidden -> v_i
        self.to_bv = nn.Linear(c.d_model, c.n_visible)  # its bias is the static b_v
        self.to_bh = nn.Linear(c.d_model, c.nade_hidden)
        self.eval_seed = 0  # seed of the samples that estimate ACC when not training

    def _placed(self, x: torch.Tensor, inputs: torch.Tensor | None) -> torch.Tensor:
        """x (B, T, D) plus the embeddings of the inputs (B, T, F) of the frames each
        position predicts (x itself for a model without inputs)."""
        if not self.input_embeds:
            return x
        if inputs is None:
            raise ValueError("this model reads the representation's inputs beside the frames")
        for k, e in enumerate(self.input_embeds):
            x = x + e(inputs[..., k].long())
        return x

    def _inputs(self, frames: torch.Tensor, inputs: torch.Tensor | None = None) -> torch.Tensor:
        """frames (B, T, V) -> the Transformer's inputs [start, frames[:, :-1]] (B, T, D)."""
        start = self.start.expand(len(frames), 1, -1)  # (B, 1, D)
        return self._placed(torch.cat([start, self.frame_in(frames[:, :-1])], 1), inputs)

    # --- the frame context (models/__init__.py) ------------------------------------------
    def frame_contexts(self, frames: torch.Tensor, inputs: torch.Tensor | None = None):
        """frames (B, T, V) (and their inputs (B, T, F)) -> contexts (B, T, D), ``[:, t]``
        from frames < t."""
        return self.decoder(self.drop(self._inputs(frames, inputs)))

    @torch.no_grad()
    def context_start(self, num: int, device, inputs: torch.Tensor | None = None):
        """The context of the first frame (B, D) (with inputs: given the first frame's,
        (B, F)) and the cache holding the start."""
        start = self._placed(self.start.to(device).expand(num, 1, -1),
                             None if inputs is None else inputs[:, None])
        h, cache = self.decoder.extend(start, None)
        return h[:, 0], cache

    @torch.no_grad()
    def context_read(self, frames: torch.Tensor, state, inputs: torch.Tensor | None = None):
        """Read frames (B, P, V) (with inputs: each with the inputs of the frame after it,
        (B, P, F)) in one pass -> (the next frame's context (B, D), cache)."""
        h, state = self.decoder.extend(self._placed(self.frame_in(frames), inputs), state)
        return h[:, -1], state

    @torch.no_grad()
    def context_step(self, frame: torch.Tensor, state, inputs: torch.Tensor | None = None):
        """Read one frame (B, V) (with inputs: the next frame's, (B, F)) -> (the next
        frame's context (B, D), cache)."""
        x = self._placed(self.frame_in(frame[:, None]),
                         None if inputs is None else inputs[:, None])
        h, state = self.decoder.extend(x, state)
        return h[:, 0], state

    @torch.no_grad()
    def attention(self, frames: torch.Tensor, inputs: torch.Tensor | None = None):
        """One piece's frames (T, V) (with inputs: (T, V + F), or ``inputs`` (T, F)) ->
        the softmax attention weights of a teacher-forced pass with dropout off: (layers,
        attention heads, T, T). Row t is the context of frame t; column 0 is the start,
        column j >= 1 frame j - 1 (rows sum to 1)."""
        was = self.training
        self.eval()
        try:
            v = self.config.n_visible
            if inputs is None and frames.shape[-1] > v:  # rows (keys..., inputs...)
                frames, inputs = frames[..., :v], frames[..., v:]
            return self.decoder.attention(self._inputs(
                frames[None].float(), None if inputs is None else inputs[None]))
        finally:
            self.train(was)
