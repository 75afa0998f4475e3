"""Beam search through a model's ``init_state`` / ``step`` interface, beside ancestral
sampling (:mod:`tunesmith.sampling.decode`): for each piece, ``beam`` hypotheses are
extended step by step and the most probable ones kept.

A step of a many-headed model (events: note, velocity, time) is expanded head by head in
the constraint's order (or the heads' order): each hypothesis takes its ``beam`` best
values of the first head, those are pruned to ``beam`` per piece, then the next head, so
a step costs ``beam`` x ``beam`` candidates per head, not ``beam`` x the product of the
heads' sizes (a per-head beam: an approximation of the joint top-k that the constraint,
which makes the note depend on the velocity drawn, needs anyway). Log-probabilities are
those of the distribution sampling draws from: the model's logits with banned ids and the
constraint's masks removed, renormalised.

A hypothesis that emits the stop token (or that ``until`` ends) is finished; a piece is
done when it has ``beam`` finished hypotheses or at ``max_steps``, and its result is the
finished one with the best score, the log-probability divided by the GNMT length penalty
``((5 + length) / 6) ** length_penalty`` (0 = none; Wu et al. 2016). ``stochastic``
ranks candidates by their log-probability plus Gumbel noise (a Gumbel-perturbed beam, in
the spirit of Kool et al. 2019's stochastic beam search, without its truncation), which
gives varied results for different seeds while staying near the mode.

The model must declare ``sampler = "step"`` and offer ``select_state(state, rows)``,
which keeps the rows of a batch's state in the given order (hypotheses are reordered
every step); a constraint must offer ``select(rows)`` likewise, and its ``mask`` takes
``rows=`` (which hypothesis each candidate row continues).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from tunesmith.sampling.decode import _read_primers


@torch.inference_mode()
def beam_search(model, primer: Sequence[Sequence[int]], *, num: int, beam: int,
                max_steps: int, heads: Sequence[str], stop: tuple[str, int] | None = None,
                banned: Mapping[str, Sequence[int]] = (), length_penalty: float = 0.0,
                stochastic: bool = False, seed: int | None = None, device="cpu",
                until: Callable[[torch.Tensor], torch.Tensor] | None = None,
                constraint=None, on_step: Callable[[int], None] | None = None
                ) -> list[list[list[int]]]:
    """The best hypothesis of each of ``num`` pieces continuing ``primer`` (steps, each a
    list of one id per head): per piece its generated steps, the stop step kept.
    ``until(ids (R, n_heads)) -> done (R,)`` ends a hypothesis like the stop token does
    (a clock keeping time per row: it must offer ``select(rows)`` like a constraint).
    ``on_step(n)`` hears the steps searched after each one (progress). Deterministic
    unless ``stochastic``."""
    if beam < 1 or num < 1 or max_steps < 1:
        raise ValueError(f"beam, num and max_steps must be >= 1, got {beam}, {num}, "
                         f"{max_steps}")
    rows = num * beam
    model.eval()
    logits, state = _read_primers(model, [primer] * rows, False, rows, len(heads), device,
                                  constraint)
    search = _Search(num, beam, heads, stop, banned, length_penalty, stochastic, seed,
                     constraint)
    for t in range(max_steps):
        ids, parent = search.expand(logits, t)
        for keeper in (constraint, until):  # per-row state follows its hypotheses
            if keeper is not None:
                keeper.select(parent)
        if constraint is not None:
            constraint.update(ids)
        search.record(ids, parent, until(ids).cpu() if until is not None else None)
        if on_step is not None:
            on_step(t + 1)
        if search.done():
            break
        state = model.select_state(state, parent.to(device))
        logits, state = model.step(ids.to(device), state)
    return search.best()


class _Search:
    """The hypotheses of ``num`` pieces x ``beam``, their scores, back-pointers and
    finished ones."""

    def __init__(self, num, beam, heads, stop, banned, length_penalty, stochastic, seed,
                 constraint):
        self.num, self.beam, self.heads = num, beam, list(heads)
        self.order = list(constraint.order) if constraint is not None else self.heads
        self.constraint = constraint
        self.stop = (self.heads.index(stop[0]), stop[1]) if stop is not None else None
        self.banned = {h: torch.tensor(sorted(set(ids))) for h, ids in dict(banned).items()
                       if len(ids)}
        self.alpha, self.stochastic = length_penalty, stochastic
        self.rng = np.random.default_rng(seed)
        # every piece starts from one live hypothesis (its copies would only duplicate it)
        self.score = torch.full((num, beam), float("-inf"), dtype=torch.float64)
        self.score[:, 0] = 0.0
        self.steps: list[tuple[torch.Tensor, torch.Tensor]] = []  # (ids (R, H), parent (R,))
        self.finished: list[list[tuple[float, int, int]]] = [[] for _ in range(num)]

    def _log_probs(self, head: str, logits: torch.Tensor, picks, rows) -> torch.Tensor:
        lg = logits.float().cpu()
        if head in self.banned:
            lg = lg.index_fill(-1, self.banned[head], float("-inf"))
        if self.constraint is not None:
            lg = self.constraint.mask(head, lg, picks, rows=rows)
        return torch.log_softmax(lg.double(), -1)

    def expand(self, logits, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The next step's ids (R, H) and each new row's parent row (R,)."""
        num, beam = self.num, self.beam
        src = torch.arange(num * beam)  # candidate -> parent row
        score = self.score.reshape(-1)  # (candidates,)
        picks: dict[str, torch.Tensor] = {}
        for head in self.order:
            lp = self._log_probs(head, logits[head][src], picks, src)  # (candidates, C)
            k = min(beam, lp.shape[-1])
            top, ids = lp.topk(k, dim=-1)  # (candidates, k)
            cand = (score[:, None] + top).reshape(num, -1)  # (num, candidates/num * k)
            keep = self._rank(cand).topk(beam, dim=-1).indices  # (num, beam)
            flat = keep + torch.arange(num)[:, None] * cand.shape[1]  # into all candidates
            which, choice = flat.reshape(-1) // k, flat.reshape(-1) % k
            score = cand.reshape(-1)[flat.reshape(-1)]
            picks = {h: v[which] for h, v in picks.items()}
            picks[head] = ids.reshape(-1, k)[which, choice]
            src = src[which]
        self.score = score.reshape(num, beam)
        ids = torch.stack([picks[h] for h in self.heads], dim=-1)  # (R, H)
        return ids, src

    def _rank(self, cand: torch.Tensor) -> torch.Tensor:
        if not self.stochastic:
            return cand
        u = torch.from_numpy(self.rng.random(cand.shape)).clamp_min(1e-300)
        return cand - torch.log(-torch.log(u))  # Gumbel-perturbed, -inf stays -inf

    def record(self, ids: torch.Tensor, parent: torch.Tensor, ended) -> None:
        self.steps.append((ids, parent))
        t = len(self.steps)
        hit = torch.zeros(len(ids), dtype=torch.bool) if ended is None else ended.clone()
        if self.stop is not None:
            hit |= ids[:, self.stop[0]] == self.stop[1]
        score = self.score.reshape(-1)
        for row in torch.nonzero(hit & torch.isfinite(score))[:, 0].tolist():
            piece = row // self.beam
            penalty = ((5 + t) / 6) ** self.alpha if self.alpha else 1.0
            self.finished[piece].append((float(score[row]) / penalty, t, row))
            score[row] = float("-inf")  # a finished hypothesis is not extended

    def done(self) -> bool:
        return all(len(f) >= self.beam or not torch.isfinite(self.score[i]).any()
                   for i, f in enumerate(self.finished))

    def best(self) -> list[list[list[int]]]:
        out = []
        t_end = len(self.steps)
        for piece in range(self.num):
            if self.finished[piece]:
                _, t, row = max(self.finished[piece], key=lambda f: (f[0], -f[2]))
            else:  # nothing finished within max_steps: the best live hypothesis
                t = t_end
                row = piece * self.beam + int(self.score[piece].argmax())
            out.append(self._trace(row, t))
        return out

    def _trace(self, row: int, t: int) -> list[list[int]]:
        """The steps of the hypothesis in ``row`` at step ``t``, followed back."""
        steps = []
        for k in range(t - 1, -1, -1):
            ids, parent = self.steps[k]
            steps.append(ids[row].tolist())
            row = int(parent[row])
        return steps[::-1]
