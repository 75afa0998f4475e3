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


@torch.inference_mode()
def sample_frames(model, primer: np.ndarray | None, *, num: int, steps: int,
                  mode: str = "sample", gibbs_steps: int | None = None,
                  seed: int | None = None, device="cpu",
                  inputs: np.ndarray | None = None) -> list[np.ndarray]:
    """``num`` pieces of ``steps`` new frames each, after ``primer`` (P, V) frames (or
    none). Returns each piece's frames (primer included) as a (P + steps, V) uint8 array.

    ``inputs`` (P + steps, F): for a model that reads the representation's inputs, those
    of every frame, primer included (the model is handed each frame's before drawing it).

    In ``argmax`` mode the model still continues from the full frame it drew (which keeps
    it on the kind of music it was trained on); only the output keeps the top key."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if num < 1 or steps < 1:
        raise ValueError(f"num and steps must be >= 1, got {num} and {steps}")
    gen = torch.Generator(device=device)
    gen.manual_seed(seed if seed is not None else secrets.randbits(63))
    model.eval()
    plan = _plan(inputs, (0 if primer is None else len(primer)) + steps, num, device)
    context, state = model.context_start(num, device, *_at(plan, 0))
    outputs = []
    if primer is not None and len(primer):
        p = torch.as_tensor(np.asarray(primer), dtype=torch.float32, device=device)
        p = p[None].expand(num, -1, -1).contiguous()
        after = () if plan is None else (plan[:, 1 : len(primer) + 1],)
        context, state = model.context_read(p, state, *after)
        outputs.append(p)
    first = 0 if primer is None else len(primer)
    for t in range(first, first + steps):
        frame, probs = model.draw(model.frame_distribution(context), generator=gen,
                                  gibbs_steps=gibbs_steps)
        outputs.append((melody(frame, probs) if mode == "argmax" else frame)[:, None])
        context, state = model.context_step(frame, state, *_at(plan, t + 1))
    rolls = torch.cat(outputs, 1).to(torch.uint8).cpu().numpy()
    return list(rolls)


def _plan(inputs, frames: int, num: int, device) -> torch.Tensor | None:
    """The frames' inputs as (num, frames + 1, F) longs (the last row repeated: the
    context after the last frame is never used), or None without inputs."""
    if inputs is None:
        return None
    x = torch.as_tensor(np.asarray(inputs), dtype=torch.long, device=device)
    if len(x) < frames:
        raise ValueError(f"inputs for {len(x)} frames, {frames} needed")
    x = torch.cat([x[:frames], x[frames - 1 : frames]], 0)
    return x[None].expand(num, -1, -1)


def _at(plan: torch.Tensor | None, t: int) -> tuple:
    """The extra argument of a context call: frame ``t``'s inputs (B, F), or nothing."""
    return () if plan is None else (plan[:, t],)
