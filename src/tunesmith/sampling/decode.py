"""Ancestral sampling through a model's ``init_state`` / ``step`` interface: O(1) work per
new token, many sequences in one batch, per-head filters, stop at an end token.

Any autoregressive family with heads ``{name: vocabulary size}`` uses this; inputs to
``step`` are ``(B, n_heads)`` ids in the order of the heads dict.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from tunesmith.sampling.filters import SamplingSettings, filtered


@torch.inference_mode()
def sample(model, primer: Sequence[Sequence[int]] | None = None, *, num: int, max_steps: int,
           heads: Sequence[str], settings: SamplingSettings | Mapping[str, SamplingSettings],
           stop: tuple[str, int] | None = None, banned: Mapping[str, Sequence[int]] = (),
           seed: int | None = None, device="cpu",
           until: Callable[[torch.Tensor], torch.Tensor] | None = None,
           constraint=None, primers: Sequence[Sequence[Sequence[int]]] | None = None,
           on_step: Callable[[int], None] | None = None) -> list[list[list[int]]]:
    """Sample ``num`` continuations of ``primer`` (a list of steps, each a list of one id
    per head). Returns, per sequence, the generated steps (primer excluded), cut after the
    ``stop`` token (which is kept) when ``stop = (head, id)`` is given, or after the step
    for which ``until(ids (B, n_heads)) -> done (B,)`` first says True (a callable that may
    keep state, e.g. the time elapsed so far).

    ``primers`` (instead of ``primer``): one primer per sequence, of any lengths; this
    needs the model's ``prime`` (below) and no ``constraint``.

    ``constraint`` (optional) makes a step's heads depend on each other: its ``order``
    lists the heads in the order they are drawn, ``mask(head, logits, picks)`` returns
    the logits of ``head`` given the ids already drawn this step (``picks``: head -> (B,)),
    and ``update(ids)`` sees every step, primer included.

    A model that declares ``primes = True`` offers ``prime(ids (B, P, n_heads), lengths
    (B,), state) -> (logits after each row's last step, state)``, equal to ``lengths``
    calls of ``step``: the sampler then reads the primers in that one call (the fused
    RNN: ~100x faster than step() per token for a long primer).

    ``on_step(n)`` (optional) hears the number of steps drawn after each step (progress:
    :class:`~tunesmith.progress.StepCounter`)."""
    primers, ragged = _primers(model, primer, primers, num, max_steps, constraint)
    model.eval()
    logits, state = _read_primers(model, primers, ragged, num, len(heads), device, constraint)
    drawer = _Drawer(logits, heads, settings, banned, constraint, num, max_steps, seed,
                     device)
    out = []  # one (B, H) tensor per step: no buffer of max_steps, which may be huge
    done = torch.zeros(num, dtype=torch.bool)
    length = torch.full((num,), max_steps, dtype=torch.long)
    stop_head = heads.index(stop[0]) if stop is not None else None
    for t in range(max_steps):
        ids = drawer.draw(logits)
        if constraint is not None:
            constraint.update(ids)
        out.append(ids)
        if on_step is not None:
            on_step(t + 1)
        if until is not None:
            hit = until(ids).cpu()
            if stop is not None:
                hit |= ids[:, stop_head] == stop[1]
            hit &= ~done
            length[hit] = t + 1
            done |= hit
            if bool(done.all()):
                break
        elif stop is not None:  # lengths are read off the output at the end
            done |= ids[:, stop_head] == stop[1]
            if t % 8 == 7 and bool(done.all()):  # a few steps past the last stop: cheap
                break
        logits, state = model.step(ids.to(device), state)
    steps = torch.stack(out, dim=1)  # (B, T, H)
    if until is None and stop is not None:
        length = _lengths(steps, stop_head, stop[1], max_steps)
    return [steps[i, : int(length[i])].tolist() for i in range(num)]


def _primers(model, primer, primers, num: int, max_steps: int, constraint):
    """One primer per sequence, checked; and whether they differ (``ragged``)."""
    if primers is None:
        primers = [primer] * num if primer is not None else []
    if len(primers) != num or not all(primers):
        raise ValueError("give a primer of at least one step (e.g. the start token), or "
                         "one per sequence")
    if num < 1 or max_steps < 1:
        raise ValueError(f"num and max_steps must be >= 1, got {num} and {max_steps}")
    ragged = any(p is not primers[0] and list(p) != list(primers[0]) for p in primers)
    if ragged and (constraint is not None or not model.primes):
        raise ValueError("one primer per sequence needs a model with prime() and no constraint")
    return primers, ragged


def _read_primers(model, primers, ragged: bool, num: int, n_heads: int, device, constraint):
    """The model's state after the primers and its logits for the first new step: in one
    fused ``prime`` call where the model has one (and the primers are long or differ),
    else step by step."""
    state = model.init_state(num)
    if model.primes and (ragged or len(primers[0]) > 2):
        lengths = torch.tensor([len(p) for p in primers])
        x = torch.zeros(num, int(lengths.max()), n_heads, dtype=torch.long)
        for i, p in enumerate(primers):
            x[i, : len(p)] = torch.tensor(p, dtype=torch.long)
        if constraint is not None:
            for t in range(x.shape[1]):
                constraint.update(x[:, t])
        return model.prime(x.to(device), lengths, state)
    x = torch.tensor(primers[0], dtype=torch.long, device=device)  # (P, H)
    for t in range(len(x)):
        step_ids = x[t].expand(num, -1).contiguous()
        if constraint is not None:
            constraint.update(step_ids.cpu())
        logits, state = model.step(step_ids, state)
    return logits, state


class _Drawer:
    """One step's ids from the model's logits. What each head needs before its draw is
    decided once, not per step: its filter, and whether banned ids must go before it (the
    noise's -inf comes only after: top-k / top-p then choose among the allowed ids); and
    whether every head can be drawn from the model's joined logits in one pass
    (:class:`_JointDraw`: no filter, no constraint, the model offers them joined)."""

    def __init__(self, logits, heads, settings, banned, constraint, num: int,
                 max_steps: int, seed: int | None, device):
        plain = SamplingSettings()
        per_head = {h: settings[h] if isinstance(settings, Mapping) else settings
                    for h in heads}
        banned_ids = {h: torch.tensor(sorted(set(ids)))
                      for h, ids in dict(banned).items() if len(ids)}
        self.heads, self.constraint = list(heads), constraint
        self.order = list(constraint.order) if constraint is not None else list(heads)
        self.noise = GumbelNoise(num, {h: logits[h].shape[-1] for h in heads}, banned,
                                 max_steps, seed)
        self.filters = {h: per_head[h] if per_head[h] != plain else None for h in heads}
        self.ban_first = {h: banned_ids.get(h) if constraint is not None or self.filters[h]
                          else None for h in heads}
        self.on_cpu = device == "cpu" or torch.device(device).type == "cpu"
        self.joint = (_JointDraw(num, [logits[h].shape[-1] for h in heads])
                      if len(heads) > 1 and constraint is None
                      and all(f is None for f in self.filters.values())
                      and list(logits) == list(heads) else None)

    def draw(self, logits) -> torch.Tensor:
        joined = getattr(logits, "joined", None) if self.joint is not None else None
        if joined is not None:
            return self.joint.draw(_on_host(joined, self.on_cpu), self.noise.next_joined())
        return _draw(logits, self.noise.next(), self.heads, self.order, self.on_cpu,
                     self.ban_first, self.constraint, self.filters)


def _draw(logits, draw, heads, order, on_cpu, ban_first, constraint, filters) -> torch.Tensor:
    """One step's ids (B, n_heads), head by head in ``order``: banned ids, the constraint
    and the filters first, then the Gumbel-max draw with the noise ``draw``."""
    picks = {}
    for h in order:
        lg = _on_host(logits[h], on_cpu)
        if ban_first[h] is not None:
            lg = lg.index_fill(-1, ban_first[h], float("-inf"))
        if constraint is not None:
            lg = constraint.mask(h, lg, picks)
        if filters[h] is not None:
            lg = filtered(lg, filters[h])
        picks[h] = (lg + draw[h]).argmax(-1)
    return (picks[heads[0]][:, None] if len(heads) == 1
            else torch.stack([picks[h] for h in heads], dim=-1))


def _on_host(logits: torch.Tensor, on_cpu: bool) -> torch.Tensor:
    """Logits as float32 on the CPU, where the noise is (a copy only when needed)."""
    return logits if on_cpu and logits.dtype == torch.float32 else logits.float().cpu()


class _JointDraw:
    """The Gumbel-max draw of every head at once from joined logits (B, sum C): the
    logits plus noise go into a board (B, n_heads, widest head) whose spare places hold
    -inf, and one argmax over its last axis gives the ids (B, n_heads). Three ops a step
    where head by head takes eight: faster up to batch ~64, equal beyond
    (benchmarks/RESULTS.md, "Sampling-step kernels")."""

    def __init__(self, num: int, widths: list[int]):
        self.shape = (num, len(widths), max(widths))
        self.places = torch.cat([torch.arange(w) + k * self.shape[2]
                                 for k, w in enumerate(widths)])
        self.board = torch.full((num, len(widths) * self.shape[2]), float("-inf"))

    def draw(self, logits: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        board = self.board.index_copy_(1, self.places, logits + noise)
        return board.view(self.shape).argmax(-1)


def _lengths(steps: torch.Tensor, head: int, stop: int, max_steps: int) -> torch.Tensor:
    """Each row's length up to and with its first stop token (max_steps without one)."""
    hits = steps[:, :, head] == stop  # (B, T)
    first = hits.int().argmax(1) + 1
    return torch.where(hits.any(1), first, torch.full_like(first, max_steps))


class GumbelNoise:
    """Gumbel noise for the Gumbel-max draw, made a chunk of steps at a time:
    argmax(logits + G) with G = -log(-log(U)) is a draw from softmax(logits).

    Why not torch.multinomial or torch.rand per step: on CPU a multinomial call costs more
    than the rest of a batch-1 step, and torch's Mersenne Twister is several times slower
    than numpy's PCG64 at filling float32 (benchmarks/RESULTS.md, "Sampling-step
    kernels"). Ids a head must never produce (padding, the start token) get -inf noise,
    so banning them costs nothing per step."""

    def __init__(self, num: int, sizes: Mapping[str, int],
                 banned: Mapping[str, Sequence[int]], max_steps: int, seed: int | None):
        self.rng = np.random.default_rng(seed if seed is not None else secrets.randbits(63))
        self.num, self.sizes = num, dict(sizes)
        self.widths = list(self.sizes.values())
        starts = dict(zip(self.sizes, np.cumsum([0, *self.widths[:-1]]).tolist(), strict=True))
        self.banned = torch.tensor(sorted({starts[h] + i for h, ids in dict(banned).items()
                                           for i in ids}), dtype=torch.long)
        # ~16 MB of noise at most per chunk; short runs make no more than they use
        total = sum(self.widths)
        self.chunk = max(1, min(64, max_steps, (1 << 22) // max(1, num * total)))
        # the chunk's steps, last first (pop() hands them out in order): joined (B, sum C)
        # and as {head: (B, C)}, both views of one chunk
        self.steps: list[tuple[torch.Tensor, dict[str, torch.Tensor]]] = []

    def _fill(self) -> None:
        shape = (self.chunk, self.num, sum(self.widths))
        u = self.rng.random(shape, dtype=np.float32)
        # numpy's log, in place: ~5x faster than torch's here (RESULTS.md)
        with np.errstate(divide="ignore"):  # u = 0 (p = 2^-24): noise -inf, never drawn
            g = torch.from_numpy(np.negative(np.log(np.negative(np.log(u, out=u), out=u),
                                                    out=u), out=u))
        if len(self.banned):
            g.index_fill_(-1, self.banned, float("-inf"))
        parts = zip(*(p.unbind(0) for p in g.split(self.widths, dim=-1)), strict=True)
        self.steps = [(joined, dict(zip(self.sizes, heads, strict=True)))
                      for joined, heads in zip(g.unbind(0), parts, strict=True)][::-1]

    def _pop(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if not self.steps:
            self._fill()
        return self.steps.pop()

    def next_joined(self) -> torch.Tensor:
        """The next step's noise for every head side by side: (B, sum of the sizes)."""
        return self._pop()[0]

    def next(self) -> dict[str, torch.Tensor]:
        """The next step's noise: {head: (B, C)}, banned ids at -inf."""
        return self._pop()[1]
