"""Generation for the piano-roll models, whose output is a whole frame at a time (an RBM
drawn by Gibbs sampling, a NADE key by key, or independent Bernoulli keys) rather than a
softmax over a vocabulary.

Each model exposes ``frame_distribution(context)`` (the conditional distribution of the
next frame given its context) and ``draw(dist, generator, gibbs_steps=...)`` ->
(frame (B, V) of 0/1, per-key probabilities (B, V)), and the frame context
(:mod:`tunesmith.models`): ``context_start`` before the first frame, ``context_read`` for
a primer in one call, then ``context_step`` once per frame (an RNN's step, or a
Transformer's step through its key/value cache), so the work per new frame does not grow
with the length of the piece.
"""

from __future__ import annotations

import math
import secrets

import numpy as np
import torch

MODES = ("sample", "argmax")


def melody(frame: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """The seed's "argmax" output mode: of the keys sampled in each frame, keep only the
    most probable one (a silent frame stays silent), which turns the output into a
    melody."""
    scored = torch.where(frame > 0, probs, torch.full_like(probs, -1.0))
    top = scored.argmax(-1, keepdim=True)
    out = torch.zeros_like(frame)
    out.scatter_(-1, top, 1.0)
    return out * (frame.sum(-1, keepdim=True) > 0)


def sample_frames(model, primer: np.ndarray | None, **kw) -> list[np.ndarray]:
    """The pieces of :func:`sample_drawn` (``mode`` applied)."""
    return sample_drawn(model, primer, **kw)[0]


@torch.inference_mode()
def sample_drawn(model, primer: np.ndarray | None, *, num: int, steps: int,
                 mode: str = "sample", gibbs_steps: int | None = None,
                 seed: int | None = None, device="cpu",
                 inputs: np.ndarray | None = None, reader=None,
                 repeat_bias: float = 0.0, on_step=None
                 ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``num`` pieces of ``steps`` new frames each, after ``primer`` (P, V) frames (or
    none). Returns each piece's frames (primer included) as a (P + steps, V) uint8 array,
    and the frames the model drew and read on from, the same but in ``argmax`` mode (a
    continuation of a piece goes on from these).

    ``inputs`` (P + steps, F): for a model that reads the representation's inputs, those
    of every frame, primer included (the model is handed each frame's before drawing it).
    ``reader``: for inputs that depend on the frames drawn (a lookback's,
    :meth:`PianoRoll.frame_reader`), an object with ``fill(row)`` (write them into the
    input row of the frame to come), ``feed(frame)`` and ``copy()``; a copy per piece
    computes them as its frames arrive, primer included, and they replace those columns
    of ``inputs``.

    ``repeat_bias`` W > 0 (with a ``reader`` whose ``offer(row)`` gives the frame an
    earlier bar proposes, and a model with ``frame_log_prob``): each frame is drawn from
    the model's distribution tilted towards the proposed frame q, p'(x) = p(x) e^(W [x =
    q]) / Z, exactly: q is taken outright with probability p(q) (e^W - 1) / Z, Z = 1 +
    p(q) (e^W - 1), else the model's own draw is kept (which may be q too). A model that
    gives a repeat 2% gives it ~13% at W = 2, ~29% at W = 3. W = 0 draws nothing more: the
    same pieces as without it.

    In ``argmax`` mode the model still continues from the full frame it drew (which keeps
    it on the kind of music it was trained on); only the output keeps the top key.

    ``on_step(n)`` (optional) hears the number of new frames drawn after each one."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if num < 1 or steps < 1:
        raise ValueError(f"num and steps must be >= 1, got {num} and {steps}")
    if getattr(getattr(model, "config", None), "proposal_keys", 0) and reader is None:
        raise ValueError("this model reads a lookback's proposed frames: pass the "
                         "representation's frame_reader()")
    if repeat_bias and (reader is None or inputs is None
                        or not hasattr(model, "frame_log_prob")):
        raise ValueError("repeat_bias needs a lookback (a reader and the inputs) and a model "
                         "that gives a frame's probability (not an RBM)")
    gen = torch.Generator(device=device)
    gen.manual_seed(seed if seed is not None else secrets.randbits(63))
    model.eval()
    first = 0 if primer is None else len(primer)
    plan = _plan(inputs, first + steps, num, device)
    online = None if reader is None or plan is None else _Online(reader, plan)
    if online:
        online.fill(0)
    context, state = model.context_start(num, device, *_at(plan, 0))
    outputs, drawn = [], []
    if first:
        p = torch.as_tensor(np.asarray(primer), dtype=torch.float32, device=device)
        p = p[None].expand(num, -1, -1).contiguous()
        if online:
            for t in range(first):
                online.feed(p[:, t], t + 1)
        after = () if plan is None else (plan[:, 1 : first + 1],)
        context, state = model.context_read(p, state, *after)
        outputs.append(p)
        drawn.append(p)
    for t in range(first, first + steps):
        dist = model.frame_distribution(context)
        frame, probs = model.draw(dist, generator=gen, gibbs_steps=gibbs_steps)
        if repeat_bias:
            frame = online.tilt(model, dist, frame, t, repeat_bias, gen)
        outputs.append((melody(frame, probs) if mode == "argmax" else frame)[:, None])
        drawn.append(frame[:, None])
        if on_step is not None:
            on_step(t + 1 - first)
        if online:
            online.feed(frame, t + 1)
        context, state = model.context_step(frame, state, *_at(plan, t + 1))
    rolls = torch.cat(outputs, 1).to(torch.uint8).cpu().numpy()
    read = torch.cat(drawn, 1).to(torch.uint8).cpu().numpy() if mode == "argmax" else rolls
    return list(rolls), list(read)


class _Online:
    """One reader per piece, writing the inputs that depend on the frames into its rows
    of the plan (num, frames + 1, F): into a NumPy copy of it, the readers' own kind of
    row, then frame ``t``'s rows into the tensor at once."""

    def __init__(self, reader, plan: torch.Tensor):
        self.plan, self.rows = plan, plan.cpu().numpy().copy()
        self.readers = [reader.copy() for _ in range(plan.shape[0])]

    def fill(self, t: int) -> None:
        for r, row in zip(self.readers, self.rows[:, t], strict=True):
            r.fill(row)
        self.plan[:, t] = torch.from_numpy(self.rows[:, t]).to(self.plan.device)

    def tilt(self, model, dist, frame: torch.Tensor, t: int, bias: float, gen):
        """``frame`` (B, V), drawn from ``dist``, with the rows that frame ``t``'s inputs
        offer a proposed frame q replaced by q with probability p(q) (e^W - 1) / Z (see
        :func:`sample_frames`)."""
        offers = [r.offer(row) for r, row in zip(self.readers, self.rows[:, t], strict=True)]
        offered = torch.tensor([o is not None for o in offers], device=frame.device)
        q = torch.as_tensor(np.stack([np.zeros(frame.shape[1]) if o is None else o
                                      for o in offers]), dtype=frame.dtype,
                            device=frame.device)
        g = math.expm1(bias) * model.frame_log_prob(dist, q).exp()
        u = torch.rand(frame.shape[0], generator=gen, device=frame.device)
        take = offered & (u < g / (1 + g))
        return torch.where(take[:, None], q, frame)

    def feed(self, frame: torch.Tensor, t: int) -> None:
        """Feed each piece its frame (B, V) and fill frame ``t``'s inputs."""
        rows = frame.to(torch.uint8).cpu().numpy()
        for r, row in zip(self.readers, rows, strict=True):
            r.feed(row)
        self.fill(t)


def _plan(inputs, frames: int, num: int, device) -> torch.Tensor | None:
    """The frames' inputs as (num, frames + 1, F) longs (the last row repeated: the
    context after the last frame is never used), or None without inputs."""
    if inputs is None:
        return None
    x = torch.as_tensor(np.asarray(inputs), dtype=torch.long, device=device)
    if len(x) < frames:
        raise ValueError(f"inputs for {len(x)} frames, {frames} needed")
    x = torch.cat([x[:frames], x[frames - 1 : frames]], 0)
    return x[None].repeat(num, 1, 1)


def _at(plan: torch.Tensor | None, t: int) -> tuple:
    """The extra argument of a context call: frame ``t``'s inputs (B, F), or nothing."""
    return () if plan is None else (plan[:, t],)
