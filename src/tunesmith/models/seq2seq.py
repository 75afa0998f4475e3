"""``seq2seq``: a BiLSTM encoder reads a phrase and its style, an LSTM decoder with attention
writes what follows (the seq2seq composer write-up's model).

- **Encoder**: each source token's embedding, concatenated with the style embeddings (one
  per label set of the representation: tradition, tune type; label 0 = none given), ->
  a bidirectional LSTM.
- **Decoder**: an LSTM cell whose first state is made from the encoder's last states and
  the style (a linear bridge, tanh), with Luong's "general" attention over the encoder
  states and input feeding (the previous step's attentional vector joins the next input).
- With ``style_steps`` the decoder also reads the style embeddings at every step (the
  input of each step, beside the token and the attentional vector), as conditional
  language models read their condition, so that the label does not fade from a state
  that began with it over the bars it writes.
- **Training**: teacher forcing with a ratio: at each target step a row reads the true
  previous token with probability ``teacher_forcing``, else its own most probable one
  (scheduled sampling, Bengio et al. 2015, with argmax as the seq2seq write-up does);
  with ``teacher_forcing_end`` the ratio moves linearly to that value over the run (the
  batch's ``progress``, :class:`~tunesmith.data.pairs.PairBatches`).
  ``style_dropout`` of the pairs hide their labels, so the model also continues a phrase
  with no style given. Validation reports both the teacher-forced NLL (``loss``, what the
  best checkpoint is chosen by) and the free-running one (``free_nll``,
  ``free_accuracy``: every step reads the model's own previous choice).
- **Sampling**: :meth:`encode` gives the state the shared sampler starts from
  (:class:`Conditioned`); :meth:`step` is one decoder step, its attention weights kept in
  the state for pictures.

Over ABC characters (``abc_phrases``) and REMI tokens (``remi_phrases``, whose id 0
``PAD`` pads as a character vocabulary's does) a step is one id; over MIDI messages
(``event_phrases``) a step is one id per head (note, velocity, time): the heads' embeddings
are summed, as the events Transformer sums them, and the decoder has one softmax per head;
the loss is the sum of the heads' NLLs (nats per message), as ``event_lstm``'s.

Shapes: B = batch, S = source length, T = target length, E = embedding, H = encoder
units per direction, D = decoder units, V = vocabulary (all heads' classes side by side),
K = heads (1 over characters).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tunesmith.data.pairs import IGNORE  # a target step that is not scored (padding)
from tunesmith.models.layers import HeadLogits, per_head_nll
from tunesmith.options import opt


@dataclass(frozen=True)
class Seq2SeqConfig:
    vocab_size: int = opt(0, "characters in the vocabulary, set from the representation",
                          derived=True)
    heads: dict = opt(None, "{head: classes} of a representation with several heads "
                      "(MIDI messages), set from it; empty: one head of vocab_size",
                      derived=True, factory=dict)
    styles: dict = opt(None, "labels of each style set, set from the representation",
                       derived=True, factory=dict)
    embedding_dim: int = opt(64, "embedding size of each character")
    style_dim: int = opt(16, "embedding size of each style label")
    encoder_size: int = opt(256, "units of the encoder LSTM, per direction")
    decoder_size: int = opt(512, "units of the decoder LSTM")
    dropout: float = opt(0.2, "dropout on embeddings and before the output layer")
    teacher_forcing: float = opt(1.0, "share of target steps that read the true previous "
                                 "token in training (the rest read the model's own)")
    teacher_forcing_end: float | None = opt(None, "schedule the share: from "
                                            "teacher_forcing at the first step to this at "
                                            "the last, linearly (default: constant)")
    style_dropout: float = opt(0.2, "share of training pairs whose style labels are hidden")
    style_steps: bool = opt(False, "the decoder also reads the style at every step, not "
                            "only through its first state and the phrase it attends to")
    empty_source: list = opt(None, "the ids of a phrase with nothing in it (a start and an "
                             "end marker), set from a representation with several heads",
                             derived=True, factory=list)

    def __post_init__(self):
        if not self.heads and self.vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {self.vocab_size}")
        if any(not isinstance(n, int) or n < 1 for n in self.heads.values()):
            raise ValueError(f"heads must map a head to its classes (>= 1), got {self.heads}")
        if len(self.heads) > 1 and len(self.empty_source) != 2:
            raise ValueError("empty_source must give the two messages of an empty phrase "
                             "(start, end) of a representation with several heads")
        for name in ("embedding_dim", "style_dim", "encoder_size", "decoder_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("dropout", "style_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        for name in ("teacher_forcing", "teacher_forcing_end"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {value}")


class Seq2Seq(nn.Module):
    family = "seq2seq"
    config_class = Seq2SeqConfig
    representation = ("abc_phrases", "event_phrases", "remi_phrases")
    sampler = "step"
    primes = False
    likelihood = "exact"
    gibbs_sampling = False
    attends = False  # no self-attention over the piece it writes: see attends_source
    attends_source = True  # attention over the phrase it continues (source_attention)

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        c = self.config = config
        # {head: classes}; one head "token" over characters, whose id 0 pads
        self.head_sizes = dict(c.heads) or {"token": c.vocab_size}
        self.many = len(self.head_sizes) > 1
        sizes = list(self.head_sizes.values())
        # every head's classes in one table, a head's ids offset past the heads before it
        self.embed = nn.Embedding(sum(sizes), c.embedding_dim,
                                  padding_idx=None if self.many else 0)
        self.register_buffer("offsets", torch.tensor([0, *sizes[:-1]]).cumsum(0),
                             persistent=False)
        self.style_embeds = nn.ModuleList(nn.Embedding(n, c.style_dim)
                                          for n in c.styles.values())
        width = len(c.styles) * c.style_dim
        self.encoder = nn.LSTM(c.embedding_dim + width, c.encoder_size, batch_first=True,
                               bidirectional=True)
        self.bridge = nn.Linear(2 * c.encoder_size + width, 2 * c.decoder_size)
        self.cell = nn.LSTMCell(c.embedding_dim + c.decoder_size
                                + (width if c.style_steps else 0), c.decoder_size)
        self.keys = nn.Linear(2 * c.encoder_size, c.decoder_size, bias=False)
        self.combine = nn.Linear(2 * c.encoder_size + c.decoder_size, c.decoder_size)
        self.head = nn.Linear(c.decoder_size, sum(sizes))
        self.drop = nn.Dropout(c.dropout)

    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (..., ) of one head, or (..., K) of several -> embeddings (..., E), the
        heads' summed; padding (negative ids) reads as 0."""
        ids = ids.clamp(min=0)
        if not self.many:
            return self.embed(ids)
        return self.embed(ids + self.offsets).sum(-2)

    def _argmax(self, logits: torch.Tensor) -> torch.Tensor:
        """The most probable id of each head: (B, V) -> (B,) or (B, K)."""
        if not self.many:
            return logits.argmax(-1)
        parts = logits.split(list(self.head_sizes.values()), -1)
        return torch.stack([p.argmax(-1) for p in parts], -1)

    def _style(self, style: torch.Tensor) -> torch.Tensor:
        """style (B, sets) -> (B, sets x style_dim); (B, 0) without sets."""
        if not self.style_embeds:
            return style.new_zeros(style.shape[0], 0, dtype=torch.float)
        return torch.cat([emb(style[:, k]) for k, emb in enumerate(self.style_embeds)], -1)

    def encode(self, source: torch.Tensor, lengths: torch.Tensor, style: torch.Tensor):
        """source (B, S) ids (or (B, S, K) with several heads) padded after ``lengths``
        (B,), style (B, sets) -> the decoder's first state."""
        s = self._style(style)  # (B, W)
        x = self.drop(self._embed(source))
        x = torch.cat([x, s[:, None].expand(-1, x.shape[1], -1)], -1)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu().clamp(min=1),
                                                   batch_first=True, enforce_sorted=False)
        out, (h, _) = self.encoder(packed)
        memory, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True,
                                                     total_length=source.shape[1])
        last = torch.cat([h[0], h[1]], -1)  # (B, 2H): forward's end, backward's start
        h0, c0 = torch.tanh(self.bridge(torch.cat([last, s], -1))).chunk(2, -1)
        mask = torch.arange(source.shape[1], device=source.device)[None] < lengths[:, None]
        feed = h0.new_zeros(h0.shape)
        return {"memory": memory, "keys": self.keys(memory), "mask": mask, "h": h0,
                "c": c0, "feed": feed} | ({"style": s} if self.config.style_steps else {})

    def _decode(self, tokens: torch.Tensor, state: dict):
        """One decoder step: tokens (B,) (or (B, K)) -> logits (B, V), attention (B, S),
        state."""
        x = torch.cat([self.drop(self._embed(tokens)), state["feed"]]
                      + ([state["style"]] if "style" in state else []), -1)
        h, c = self.cell(x, (state["h"], state["c"]))
        scores = torch.einsum("bsd,bd->bs", state["keys"], h)
        scores = scores.masked_fill(~state["mask"], float("-inf"))
        weights = scores.softmax(-1)  # (B, S)
        context = torch.einsum("bs,bsh->bh", weights, state["memory"])
        feed = torch.tanh(self.combine(torch.cat([context, h], -1)))
        logits = self.head(self.drop(feed))
        return logits, weights, state | {"h": h, "c": c, "feed": feed}

    def _run(self, batch: dict, ratio: float, generator=None, weights: list | None = None):
        """Logits (B, T, V) of the targets, each step reading the true previous token with
        probability ``ratio``, else the model's own argmax; each step's attention (B, S)
        is appended to ``weights`` when a list is given."""
        state = self.encode(batch["source"], batch["source_len"], batch["style"])
        inputs = batch["target"][:, :-1]
        out, own = [], None
        for t in range(inputs.shape[1]):
            tok = inputs[:, t]
            if own is not None and ratio < 1:
                keep = torch.rand(tok.shape[0], device=tok.device, generator=generator) < ratio
                tok = torch.where(keep.view(-1, *[1] * (tok.dim() - 1)), tok, own)
            logits, w, state = self._decode(tok, state)
            if weights is not None:
                weights.append(w)
            own = self._argmax(logits.detach())
            out.append(logits)
        if not out:  # a target of its start marker alone
            return state["h"].new_zeros(inputs.shape[0], 0, self.head.out_features)
        return torch.stack(out, 1)

    @torch.no_grad()
    def source_attention(self, batch: dict) -> torch.Tensor:
        """(B, T, S): how much the step that writes target token t (teacher-forced)
        attends to each source token s (a pair batch as :meth:`loss` takes it); each row
        sums to 1 over the source's tokens."""
        weights: list = []
        self._run(batch, 1.0, weights=weights)
        return torch.stack(weights, 1)

    def loss(self, batch: dict) -> dict:
        """batch: ``source`` (B, S), ``source_len`` (B,), ``style`` (B, sets), ``target``
        (B, T + 1) starting with BOS, padded with 0 (with several heads: (B, S, K) and
        (B, T + 1, K), padded with -100). Mean NLL per target token as ``loss``
        (teacher-forced at ``teacher_forcing`` in training, fully in evaluation; with
        several heads the sum of the heads' means, and ``nll_<head>``, ``acc_<head>``)
        plus ``nll``, ``accuracy`` (every head right), ``count``; in evaluation also
        ``free_nll`` and ``free_accuracy`` with no teacher forcing."""
        style = batch["style"]
        if self.training and self.config.style_dropout and style.numel():
            hide = torch.rand(style.shape[0], device=style.device) < self.config.style_dropout
            style = style.masked_fill(hide[:, None], 0)
        batch = batch | {"style": style}
        targets = batch["target"][:, 1:]
        ratio = self.forcing_ratio(batch) if self.training else 1.0
        nll, accuracy, count, metrics = self._scored(self._run(batch, ratio), targets)
        out = {"loss": nll, "nll": nll.detach(), "count": count, "accuracy": accuracy,
               **metrics}
        if not self.training:
            out["free_nll"], out["free_accuracy"], _, _ = self._scored(
                self._run(batch, 0.0), targets)
        return out

    def _scored(self, logits: torch.Tensor, targets: torch.Tensor):
        """(mean NLL per step (summed over heads), share of steps with every head right,
        steps scored, per-head metrics) of ``logits`` (B, T, V) against ``targets``."""
        if not self.many:
            mask = targets != 0
            count = mask.sum()
            nll = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=0)
            return nll, _accuracy(logits, targets, mask, count), count, {}
        mask = targets[..., 0] != IGNORE
        count = mask.sum()
        nll, right, metrics = per_head_nll(HeadLogits(logits, self.head_sizes), targets,
                                           list(self.head_sizes), mask, IGNORE)
        return nll, right.sum() / count.clamp(min=1), count, metrics

    def forcing_ratio(self, batch: dict) -> float:
        """The share of steps that read the true previous token at this point of
        training: ``teacher_forcing``, or with ``teacher_forcing_end`` the line between
        them at the batch's ``progress`` (the run's share done; a batch without it is
        read as the first step)."""
        c = self.config
        if c.teacher_forcing_end is None:
            return c.teacher_forcing
        progress = batch.get("progress")
        done = float(progress[0]) if progress is not None and progress.numel() else 0.0
        return c.teacher_forcing + (c.teacher_forcing_end - c.teacher_forcing) * done

    # --- autoregressive interface used by the shared sampler (through Conditioned)
    def init_state(self, batch_size: int) -> dict:
        """The state after reading an empty phrase (a start and an end marker: a
        vocabulary's ids 1 and 2, or a representation's ``empty_source``), no style
        given: composing from nothing. A continuation starts from :meth:`encode` of its
        phrase instead (:class:`Conditioned`)."""
        device = self.embed.weight.device
        empty = self.config.empty_source or [1, 2]
        one = torch.tensor(empty, device=device)
        source = one.expand(batch_size, *one.shape)
        with torch.no_grad():
            return self.encode(source, torch.full((batch_size,), len(empty), device=device),
                               torch.zeros(batch_size, len(self.style_embeds), dtype=torch.long,
                                           device=device))

    def step(self, inputs: torch.Tensor, state: dict):
        """inputs (B, K): the last step's ids -> ({head: logits (B, C)}, state); the
        step's attention over the source is kept as ``state["weights"]``."""
        logits, weights, state = self._decode(inputs[:, 0] if not self.many else inputs,
                                              state)
        heads = {"token": logits} if not self.many else HeadLogits(logits, self.head_sizes)
        return heads, state | {"weights": weights}

    def select_state(self, state: dict, rows: torch.Tensor) -> dict:
        return {k: v[rows] for k, v in state.items()}


def _accuracy(logits, targets, mask, count):
    with torch.no_grad():
        return ((logits.argmax(-1) == targets) & mask).sum() / count.clamp(min=1)


class Conditioned:
    """A seq2seq model as the shared sampler sees a model: ``init_state`` gives the
    encoded source phrases (one row each); everything else is the model's."""

    def __init__(self, model: Seq2Seq, state: dict):
        self.model, self.state = model, state

    def __getattr__(self, name):  # declarations, parameters(), eval() ...
        return getattr(self.model, name)

    def init_state(self, batch_size: int) -> dict:
        rows = next(iter(self.state.values())).shape[0]
        if batch_size != rows:
            raise ValueError(f"{rows} source phrases were encoded, {batch_size} asked for")
        return self.state


class Guided(Conditioned):
    """Classifier-free guidance of the style (Ho & Salimans 2022; MusicGen guides its text
    condition so): each step's log-probabilities, per head, are

        log p(x | phrase, style) + w (log p(x | phrase, style) - log p(x | phrase, none))

    renormalised by the sampler's softmax. The model knows both terms: ``style_dropout``
    hides the labels of a share of the training pairs. ``styled`` and ``plain`` are the
    same phrases encoded with and without their style (:meth:`Seq2Seq.encode`); both are
    decoded side by side in one batch (rows ``i`` and ``B + i``), so a step costs one
    decoder call on twice the rows. ``weight`` 0 is plain sampling from the styled
    model."""

    def __init__(self, model: Seq2Seq, styled: dict, plain: dict, weight: float):
        super().__init__(model, {k: torch.cat([styled[k], plain[k]]) for k in styled})
        self.weight = weight

    def init_state(self, batch_size: int) -> dict:
        rows = next(iter(self.state.values())).shape[0] // 2
        if batch_size != rows:
            raise ValueError(f"{rows} source phrases were encoded, {batch_size} asked for")
        return self.state

    def step(self, inputs: torch.Tensor, state: dict):
        logits, state = self.model.step(torch.cat([inputs, inputs]), state)
        b = inputs.shape[0]
        guided = {}
        for head in logits:
            lp = logits[head].float().log_softmax(-1)
            guided[head] = lp[:b] + self.weight * (lp[:b] - lp[b:])
        return guided, state

    def select_state(self, state: dict, rows: torch.Tensor) -> dict:
        """Rows of the styled half, and the same rows of the plain half."""
        half = next(iter(state.values())).shape[0] // 2
        return self.model.select_state(state, torch.cat([rows, rows + half]))
