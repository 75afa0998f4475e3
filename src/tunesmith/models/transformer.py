"""``transformer``: a decoder-only Transformer predicting the next step of a token sequence:
ABC characters or REMI tokens (one head, ``token``), or event messages (three heads,
note / velocity / time). One class serves both: its config's derived field ``heads`` is the
representation's ``{head: classes}``.

The blocks are pre-norm (x + attention(LayerNorm(x)), then x + MLP(LayerNorm(x)), GELU)
with a final LayerNorm (GPT-2's layout). Positions are rotary (RoPE, Su et al. 2021): the
score of a query and a key depends on their distance only, so nothing is learned per
absolute position and the model runs past the length it was trained on. A step's ids are
embedded head by head and the embeddings summed, with those of the representation's
``inputs`` when it has them (``train --positions``: a step's place in its bar, which
RoPE's distances do not say); one linear layer gives every head's
logits side by side (:class:`~tunesmith.models.layers.HeadLogits`). With one head the
output layer is the embedding's transpose (weight tying, Press & Wolf 2017).

**Context and the cache.** ``context`` (C) bounds what a position sees: the query at
position t attends to the keys of positions t - C + 1 .. t (sliding-window attention, as
in Longformer / Mistral). Training windows no longer than C are ordinary causal
attention (``scaled_dot_product_attention(is_causal=True)``); a longer sequence (a whole
tune in validation) is read in chunks through the cache below, with the same window.
``step()`` keeps a key/value cache per layer, a ring of C slots in which position p sits
in slot p mod C: a new token writes one slot per layer and attends to the ring, so its
cost does not grow with the length of the piece (only with min(length, C)). Beyond C
tokens the ring slides: the new key overwrites the one that has just left the window.
Keys are kept rotated at their absolute positions; because RoPE scores depend only on
``t - p``, and softmax does not care about the order of the keys, the ring's order does
not matter and the slid window is **exactly** the attention that ``forward()`` computes
with the same window (no approximation, up to float rounding). With one layer that is also
a forward over the last C tokens alone; with several it is not, since each cached key was
made by a layer that itself saw C positions further back (the receptive field is
layers x C, as in any sliding-window Transformer).

Shapes: B = batch, T = time, P = new positions, H = heads of the representation,
D = model width, N = attention heads, K = D / N, C = context, S = slots in the ring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from tunesmith.models.layers import HeadLogits, per_head_nll, weighted_nll
from tunesmith.options import opt

IGNORE = -100  # a target that is not scored (the events family's padding)
PAD = 0  # abc_chars' <pad>: how a one-head ("token") batch pads its targets
CHUNK = 512  # positions read per pass when a sequence is read through the cache


@dataclass(frozen=True)
class DecoderSizes:
    """The settings of a :class:`Decoder`, shared by the Transformer models' configs."""

    d_model: int = opt(256, "width of the Transformer (D)")
    num_layers: int = opt(4, "Transformer blocks", flag="layers")
    attention_heads: int = opt(4, "attention heads per block (N; D / N must be even)")
    ff_size: int = opt(1024, "units of each block's feed-forward layer")
    dropout: float = opt(0.1, "dropout on the inputs and on each block's attention and "
                         "feed-forward outputs")
    context: int = opt(256, "positions (tokens, frames) each attends to: itself and the "
                       "C - 1 before it; past them the cache slides")

    def __post_init__(self):
        for name in ("d_model", "num_layers", "attention_heads", "ff_size", "context"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.d_model % (2 * self.attention_heads):  # RoPE rotates pairs in each head
            raise ValueError(f"d_model must be a multiple of 2 x attention_heads, got "
                             f"{self.d_model} and {self.attention_heads}")


@dataclass(frozen=True)
class TransformerConfig(DecoderSizes):
    heads: dict[str, int] = opt(help="{head: classes}, set from the representation",
                                derived=True, factory=dict)
    inputs: dict = opt(None, "classes of each input a step carries beside its ids, set from "
                       "the representation", derived=True, factory=dict)

    def __post_init__(self):
        super().__post_init__()
        if not self.heads or any(not isinstance(n, int) or n < 1 for n in self.heads.values()):
            raise ValueError(f"heads must map each head to >= 1 classes, got {self.heads!r}")


# --- rotary positions --------------------------------------------------------------------
class Rotary(nn.Module):
    """RoPE: each pair (x_i, x_{i + K/2}) of a query or key at position p is rotated by the
    angle p * base^(-2i / K). Angles are computed in float64: positions grow without bound
    while sampling, and p * f in float32 would drift by ~1e-2 rad at p = 10^5."""

    def __init__(self, dim: int, base: float = 10000.0):
        super().__init__()
        freqs = base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)  # (K/2,)
        self.register_buffer("freqs", freqs, persistent=False)

    def tables(self, pos: torch.Tensor, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """pos (..., T) integer positions -> cos, sin (..., 1, T, K): the head axis
        broadcast."""
        angles = pos[..., None].to(torch.float64) * self.freqs  # (..., T, K/2)
        angles = torch.cat([angles, angles], -1).unsqueeze(-3)  # (..., 1, T, K)
        return angles.cos().to(dtype), angles.sin().to(dtype)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (B, N, T, K) rotated pairwise by the tables of :meth:`Rotary.tables`."""
    half = x.shape[-1] // 2
    turned = torch.cat([-x[..., half:], x[..., :half]], -1)  # (B, N, T, K)
    return x * cos + turned * sin


# --- the blocks --------------------------------------------------------------------------
class Block(nn.Module):
    """Pre-norm block: x + attention(LN(x)), then x + MLP(LN(x)). How the attention reads
    its keys (causal, through the cache, or explicitly with its weights kept) is the
    caller's ``attend(q, k, v) -> (B, N, T, K)``."""

    def __init__(self, width: int, heads: int, ff: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.up = nn.Linear(width, ff)
        self.down = nn.Linear(ff, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, cos, sin, attend) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)  # (B, N, T, K) each
        a = attend(q, k, v).transpose(1, 2).reshape(b, t, d)  # (B, T, D)
        x = x + self.drop(self.proj(a))
        return x + self.drop(self.down(F.gelu(self.up(self.norm2(x)))))  # (B, T, D)


class Decoder(nn.Module):
    """Causal pre-norm Transformer blocks over vectors (B, T, D) -> (B, T, D), each
    position seeing itself and the ``context`` - 1 before it (module docstring). The
    shared part of ``transformer`` and ``transformer_nade``."""

    def __init__(self, width: int, layers: int, heads: int, ff: int, dropout: float,
                 context: int):
        super().__init__()
        self.context = context
        self.blocks = nn.ModuleList(Block(width, heads, ff, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.rope = Rotary(width // heads)
        for name, p in self.named_parameters():  # GPT-2's start: N(0, 0.02), residual
            if name.endswith(("qkv.weight", "up.weight")):  # outputs scaled by depth
                nn.init.normal_(p, std=0.02)
            elif name.endswith(("proj.weight", "down.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * layers))
            elif name.endswith("bias") and "norm" not in name:
                nn.init.zeros_(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) -> (B, T, D), teacher-forced."""
        t = x.shape[1]
        if t > self.context:  # the sliding window: chunks through a cache
            return self.extend(x, None)[0]
        cos, sin = self.rope.tables(torch.arange(t, device=x.device), x.dtype)  # (1, T, K)
        causal = partial(F.scaled_dot_product_attention, is_causal=True)
        for block in self.blocks:
            x = block(x, cos, sin, causal)
        return self.norm(x)

    def extend(self, x: torch.Tensor, cache: KVCache | None,
               lengths: torch.Tensor | None = None):
        """Read new positions after those in ``cache`` (None: nothing read yet): x (B, P, D),
        of which row b's first ``lengths[b]`` are real (the rest padding, which is not
        cached; default all P). Returns (outputs (B, P, D), the cache after them)."""
        b, p, _ = x.shape
        if cache is None:
            cache = KVCache(len(self.blocks), b, self.context, x.device)
        if p > CHUNK:
            outs = []
            for s in range(0, p, CHUNK):
                part = None if lengths is None else (lengths - s).clamp(0, CHUNK)
                h, cache = self.extend(x[:, s : s + CHUNK], cache, part)
                outs.append(h)
            return torch.cat(outs, 1), cache
        plan = cache.plan(p, lengths)
        cos, sin = self.rope.tables(plan.positions, x.dtype)  # (B or 1, 1, P, K)
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, partial(cache.attend, plan, i))
        cache.advance(plan, p)
        return self.norm(x), cache

    @torch.no_grad()
    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """x (1, T, D) -> the softmax attention weights of every block and head
        (layers, N, T, T), computed explicitly (rows sum to 1; the same window as
        :meth:`forward`)."""
        t = x.shape[1]
        pos = torch.arange(t, device=x.device)
        gap = pos[:, None] - pos[None]  # (T, T): query - key
        allowed = (gap >= 0) & (gap < self.context)
        cos, sin = self.rope.tables(pos, x.dtype)
        weights = []

        def explicit(q, k, v):
            scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (1, N, T, T)
            w = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
            weights.append(w[0])
            return w @ v  # (1, N, T, K)

        for block in self.blocks:
            x = block(x, cos, sin, explicit)
        return torch.stack(weights)  # (layers, N, T, T)


# --- the cache ---------------------------------------------------------------------------
@dataclass
class _Plan:
    """What one read of P new positions shares across the layers."""

    positions: torch.Tensor  # (B, P), or (1, P) when every row is at the same place
    lengths: torch.Tensor | None  # (B,) real new positions per row; None: all P
    step: bool  # one new position in every row: a slot write per row
    slots: int  # ring slots after the read (S)
    old_slots: int  # ring slots before it
    mask: torch.Tensor | None  # (B, 1, P, keys) True = attended, None = all
    write: tuple | None  # for P > 1: (from_new (B, 1, S, 1), index (B, 1, S, 1))


class KVCache:
    """Per layer, the rotated keys and the values of each row's last ``context`` positions:
    rings (B, N, S, K) where position p sits in slot p mod C. The rings grow (doubling)
    up to C slots as rows get longer, so a short piece in a large batch holds little.
    ``seen`` (B,): positions read per row (they differ after ragged primers); ``lo`` /
    ``hi``: its least and greatest, kept as Python ints (no device sync per step)."""

    def __init__(self, layers: int, batch: int, context: int, device):
        self.context = context
        self.keys: list[torch.Tensor | None] = [None] * layers
        self.values: list[torch.Tensor | None] = [None] * layers
        self.seen = torch.zeros(batch, dtype=torch.long, device=device)
        self.lo = self.hi = 0

    @property
    def slots(self) -> int:
        return 0 if self.keys[0] is None else self.keys[0].shape[2]

    def select(self, rows: torch.Tensor) -> KVCache:
        """A cache of the given rows, in that order (beam search reorders hypotheses)."""
        out = KVCache(len(self.keys), len(rows), self.context, self.seen.device)
        out.keys = [k if k is None else k.index_select(0, rows) for k in self.keys]
        out.values = [v if v is None else v.index_select(0, rows) for v in self.values]
        out.seen = self.seen.index_select(0, rows)
        out.lo, out.hi = int(out.seen.min()), int(out.seen.max())
        return out

    def _ring_positions(self, seen: torch.Tensor, slots: int) -> torch.Tensor:
        """The position each slot holds after ``seen`` (B,) positions: (B, S), < 0 where
        the slot holds none yet (the latest p < seen with p = slot mod C)."""
        j = torch.arange(slots, device=seen.device)
        last = seen[:, None] - 1  # (B, 1)
        return last - (last - j) % self.context  # (B, S)

    def plan(self, p: int, lengths: torch.Tensor | None) -> _Plan:
        """What reading ``p`` new positions per row (``lengths`` (B,) of them real, None:
        all) needs: positions, ring sizes, the attention mask and where keys go."""
        c, seen = self.context, self.seen
        if lengths is not None:
            lengths = lengths.to(seen.device)
        new_hi = self.hi + (p if lengths is None else int(lengths.max()))
        slots = self.slots
        if new_hi > slots and slots < c:
            slots = min(c, max(2 * slots, new_hi, 16))
        offsets = torch.arange(p, device=seen.device)
        even = self.lo == self.hi
        positions = (self.lo + offsets)[None] if even else seen[:, None] + offsets  # (., P)
        if p == 1 and (lengths is None or bool(lengths.min() == 1)):
            # a step: write each row's slot, attend to the ring
            keys = min(new_hi, c)
            mask = None
            if self.lo + 1 < keys:  # some rows hold fewer positions than others
                held = (seen + 1).clamp(max=c)  # (B,)
                mask = (torch.arange(keys, device=seen.device) < held[:, None])[:, None, None]
            return _Plan(positions, None, True, slots, self.slots, mask, None)
        # several positions: attend to [old ring, new keys] by position, then write the ring
        old = self._ring_positions(seen, self.slots)  # (B, S_old)
        new = seen[:, None] + offsets  # (B, P)
        gap = new[:, :, None] - torch.cat([old, new], 1)[:, None]  # (B, P, S_old + P)
        mask = (gap >= 0) & (gap < c)
        mask[:, :, : old.shape[1]] &= (old >= 0)[:, None]
        after = self._ring_positions(seen + (p if lengths is None else lengths), slots)
        from_new = after >= seen[:, None]
        index = (after - seen[:, None]).clamp(0, p - 1)
        write = (from_new[:, None, :, None], index[:, None, :, None])
        return _Plan(positions, lengths, False, slots, self.slots, mask[:, None], write)

    def attend(self, plan: _Plan, layer: int, q, k, v) -> torch.Tensor:
        """Layer ``layer``'s attention for the new positions (q, k, v (B, N, P, K)), with
        their keys and values written into its ring."""
        ring_k, ring_v = self._grown(layer, k, plan.slots if plan.step else plan.old_slots)
        if plan.step:
            if self.lo == self.hi:  # every row writes the same slot
                slot = self.lo % self.context
                ring_k[:, :, slot], ring_v[:, :, slot] = k[:, :, 0], v[:, :, 0]
            else:
                rows = torch.arange(len(k), device=k.device)
                slot = self.seen % self.context  # (B,)
                ring_k[rows, :, slot], ring_v[rows, :, slot] = k[:, :, 0], v[:, :, 0]
            keys = min(self.hi + 1, self.context)
            return F.scaled_dot_product_attention(q, ring_k[:, :, :keys], ring_v[:, :, :keys],
                                                  attn_mask=plan.mask)  # (B, N, 1, K)
        out = F.scaled_dot_product_attention(q, torch.cat([ring_k, k], 2),
                                             torch.cat([ring_v, v], 2),
                                             attn_mask=plan.mask)  # (B, N, P, K)
        ring_k, ring_v = self._grown(layer, k, plan.slots)
        from_new, index = plan.write  # (B, 1, S, 1) each
        index = index.expand(-1, k.shape[1], -1, k.shape[3])  # (B, N, S, K)
        self.keys[layer] = torch.where(from_new, k.gather(2, index), ring_k)
        self.values[layer] = torch.where(from_new, v.gather(2, index), ring_v)
        return out

    def _grown(self, layer: int, like: torch.Tensor, slots: int):
        """Layer ``layer``'s rings, grown to ``slots`` slots if they have fewer (the new
        ones zero): (B, N, S, K) each."""
        k, v = self.keys[layer], self.values[layer]
        have = 0 if k is None else k.shape[2]
        if have < slots or k is None:
            b, n, _, d = like.shape
            pad = like.new_zeros(b, n, max(slots - have, 0), d)
            k = pad if k is None else torch.cat([k, pad], 2)
            v = pad.clone() if v is None else torch.cat([v, pad], 2)
            self.keys[layer], self.values[layer] = k, v
        return k, v

    def advance(self, plan: _Plan, p: int) -> None:
        if plan.lengths is None:  # every row read all p: no device sync
            self.seen, self.lo, self.hi = self.seen + p, self.lo + p, self.hi + p
        else:
            self.seen = self.seen + plan.lengths
            self.lo, self.hi = int(self.seen.min()), int(self.seen.max())


# --- the model ---------------------------------------------------------------------------
class Transformer(nn.Module):
    family = "transformer"
    config_class = TransformerConfig
    # what it declares (models/__init__.py): the representations it reads, how it samples
    representation = ("abc_chars", "events", "remi")
    sampler = "step"
    primes = True
    likelihood = "exact"
    gibbs_sampling = False
    attends = True  # attention(inputs) -> (layers, heads, T, T) weights

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = c = config
        self.head_sizes = dict(c.heads)  # {head: classes}, in the representation's order
        self.embed = nn.ModuleList(nn.Embedding(n, c.d_model) for n in self.head_sizes.values())
        # the representation's inputs (e.g. a step's place in its bar): added like the heads'
        self.input_embeds = nn.ModuleList(nn.Embedding(n, c.d_model) for n in c.inputs.values())
        self.drop = nn.Dropout(c.dropout)
        self.decoder = Decoder(c.d_model, c.num_layers, c.attention_heads, c.ff_size,
                               c.dropout, c.context)
        total = sum(self.head_sizes.values())
        if len(self.head_sizes) == 1:  # tied: the logits are h @ embedding^T + bias
            self.head = None
            self.bias = nn.Parameter(torch.zeros(total))
        else:
            self.head = nn.Linear(c.d_model, total)
            nn.init.normal_(self.head.weight, std=0.02)
            nn.init.zeros_(self.head.bias)
        for emb in (*self.embed, *self.input_embeds):
            nn.init.normal_(emb.weight, std=0.02)

    def _inputs(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, T, H + F), or (B, T) for one head without inputs -> the embeddings of the
        heads' ids and of the inputs, summed (B, T, D); padding (-100) reads as 0."""
        ids = ids.clamp(min=0)
        if ids.dim() == 2:
            ids = ids[..., None]
        x = self.embed[0](ids[..., 0])
        for i, emb in enumerate((*self.embed[1:], *self.input_embeds), start=1):
            x = x + emb(ids[..., i])
        return x  # (B, T, D)

    def _heads(self, h: torch.Tensor) -> HeadLogits:
        """Decoder outputs (..., D) -> {head: logits (..., C)} side by side."""
        if self.head is None:
            return HeadLogits(F.linear(h, self.embed[0].weight, self.bias), self.head_sizes)
        return HeadLogits(self.head(h), self.head_sizes)

    def forward(self, inputs: torch.Tensor) -> HeadLogits:
        """inputs (B, T, H + F) ids (or (B, T), one head) -> {head: logits (B, T, C)}."""
        return self._heads(self.decoder(self.drop(self._inputs(inputs))))

    def loss(self, batch: dict) -> dict:
        """batch: inputs and targets (B, T, H + F) (or (B, T), one head); a target that is
        padding (-100, or 0 = ``<pad>`` for one head, as the families pad) is not scored.

        ``nll``: the sum over heads of each head's mean NLL (nats per step), ``accuracy``:
        every head right; with several heads also ``nll_<head>`` and ``acc_<head>`` (the
        metrics of ``char_rnn`` and ``event_lstm``)."""
        logits = self(batch["inputs"])
        targets = batch["targets"]
        if targets.dim() == 2:
            targets = targets[..., None]
        pad = PAD if len(self.head_sizes) == 1 else IGNORE
        mask = targets[..., 0] != pad  # (B, T)
        targets = targets.masked_fill(~mask[..., None], IGNORE)
        nll, all_right, out = per_head_nll(logits, targets, self.head_sizes, mask, IGNORE)
        loss = nll
        if len(self.head_sizes) == 1:
            out = {}
            if "weights" in batch:  # each target's weight (abc's --ending-weight)
                head = next(iter(self.head_sizes))
                loss = weighted_nll(logits[head], targets[..., 0], batch["weights"], IGNORE)
        count = mask.sum()
        return {"loss": loss, "nll": nll.detach(), **out,
                "accuracy": all_right.sum() / count.clamp(min=1), "count": count}

    @torch.no_grad()
    def attention(self, ids: torch.Tensor) -> torch.Tensor:
        """One sequence's ids (T, H) (or (T,), one head) -> the softmax attention weights of
        a teacher-forced pass with dropout off: (layers, attention heads, T, T), row t
        over keys 0..t (rows sum to 1). For pictures, not for speed."""
        was = self.training
        self.eval()
        try:
            return self.decoder.attention(self._inputs(ids[None]))
        finally:
            self.train(was)

    # --- autoregressive interface used by the shared sampler
    def init_state(self, batch_size: int):
        return None  # an empty cache, made at the first read

    @torch.no_grad()
    def prime(self, inputs: torch.Tensor, lengths: torch.Tensor, state):
        """Read primers in one batched pass: inputs (B, P, H + F) ids, padded after each row's
        ``lengths`` (B,) -> ({head: logits (B, C)} after each row's last step, the cache).
        Equal to ``lengths`` calls of step()."""
        h, state = self.decoder.extend(self._inputs(inputs), state, lengths)  # (B, P, D)
        last = (lengths.to(h.device) - 1).clamp(min=0)
        return self._heads(h[torch.arange(len(h), device=h.device), last]), state

    @torch.no_grad()
    def step(self, inputs: torch.Tensor, state):
        """inputs (B, H + F) ids of the last step -> ({head: logits (B, C)}, the cache with it):
        one position's work per layer plus attention to at most C cached keys."""
        h, state = self.decoder.extend(self._inputs(inputs[:, None]), state)  # (B, 1, D)
        return self._heads(h[:, 0]), state

    def select_state(self, state, rows: torch.Tensor):
        """The cache of the given rows, in that order (for beam search)."""
        return None if state is None else state.select(rows)
