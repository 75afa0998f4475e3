"""Speed of the ``transformer`` model: generating with ``step()`` and its key/value cache
against re-feeding the whole context for every new token, at 256, 1,000 and 4,000 tokens
of context, for one sequence and for 8; and training tokens/s of the ``small`` preset
against a plain ``nn.TransformerEncoder`` (causal mask) training loop of the same size,
each also as a share of this machine's fp32 matmul peak (a 2048^3 matmul).

    python benchmarks/transformer_speed.py [--contexts 256,1000,4000] [--batches 1,8]
                                           [--steps 16] [--train-steps 6] [--repeats 3]
                                           [--threads N]

Generation: the model is the ``small`` preset's (untrained: speed does not depend on the
weights) over the 84 characters of folk-abc, with ``context`` raised to hold the longest
context measured (RoPE has no table of positions, so the weights are the same). For each
context length L a cache is filled with L random tokens (``prime``), then ``--steps``
tokens are drawn one at a time with ``step()``; the re-feed runs the model over the last L
tokens for each new token (what a generator without a cache does). Both draw from the same
softmax. The cached step still attends to L keys per layer, so it slows a little with L;
the re-feed's work grows as L (its matmuls) to L^2 (attention).

Training: the preset's batch and window on random tokens, Adam, clipping 1, the same
plain loop for both models (and tunesmith's trainer for ``transformer``, which adds
logging and checkpoint bookkeeping). The baseline: token embedding + learned absolute
positions, ``nn.TransformerEncoder`` with pre-norm GELU layers of the same width, depth,
heads and feed-forward size, a causal mask (``is_causal``), the output tied to the
embedding. Model FLOPs per token = 6 N + 12 L T D (N = parameters in matmuls, the
tied output layer included; L layers, T window, D width: PaLM's MFU formula, which counts
the full attention square). The two take turns (``--repeats``), since this shared
machine's speed drifts; medians are shown, with the load average at the start.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tunesmith.models.transformer import Transformer, TransformerConfig
from tunesmith.presets import PRESETS

VOCAB = 84  # folk-abc's characters


def matmul_peak(n: int = 2048, repeats: int = 10) -> float:
    """fp32 GFLOP/s of an n^3 matmul: the best of ``repeats`` (taken again before the
    training figures, and the higher kept: a busy moment would flatter the shares)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def small(context: int | None = None) -> Transformer:
    model = dict(PRESETS["transformer"]["small"].model)
    if context is not None:
        model["context"] = context
    torch.manual_seed(0)
    return Transformer(TransformerConfig(heads={"token": VOCAB}, **model))


# --- generation --------------------------------------------------------------------------
def draw(logits: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return torch.multinomial(logits.softmax(-1), 1, generator=gen)  # (B, 1)


@torch.inference_mode()
def cached(model: Transformer, ids: torch.Tensor, steps: int, gen) -> float:
    """Seconds for ``steps`` new tokens after the context ``ids`` (B, L), with the cache
    (filling it is not timed)."""
    logits, state = model.prime(ids[..., None], torch.full((len(ids),), ids.shape[1]), None)
    t = time.perf_counter()
    for _ in range(steps):
        new = draw(logits["token"], gen)
        logits, state = model.step(new, state)
    return time.perf_counter() - t


@torch.inference_mode()
def refeed(model: Transformer, ids: torch.Tensor, steps: int, gen) -> float:
    """Seconds for ``steps`` new tokens, each from a full pass over the last L tokens."""
    length = ids.shape[1]
    t = time.perf_counter()
    for _ in range(steps):
        logits = model(ids[:, -length:])["token"][:, -1]  # (B, V)
        ids = torch.cat([ids, draw(logits, gen)], 1)
    return time.perf_counter() - t


def generation(contexts: list[int], batches: list[int], steps: int, repeats: int) -> None:
    model = small(max(contexts) + steps).eval()
    print(f"\ngeneration: tokens/s (all sequences together), {steps} new tokens per turn, "
          f"median of {repeats}")
    print(f"{'context':>7} {'batch':>5} {'step() tok/s':>13} {'ms/step':>8} "
          f"{'re-feed tok/s':>14} {'ms/token':>9} {'speed-up':>9}")
    for length in contexts:
        for batch in batches:
            g = torch.Generator().manual_seed(0)
            ids = torch.randint(4, VOCAB, (batch, length), generator=g)
            cached(model, ids, 2, g)  # warm
            refeed_steps = max(1, min(steps, 4000 // length))  # the long ones are slow
            pairs = [(cached(model, ids, steps, g) / steps,
                      refeed(model, ids, refeed_steps, g) / refeed_steps)
                     for _ in range(repeats)]
            a, b = (float(np.median(x)) for x in zip(*pairs, strict=True))
            print(f"{length:>7} {batch:>5} {batch / a:>13,.0f} {1e3 * a:>8.2f} "
                  f"{batch / b:>14,.1f} {1e3 * b:>9.1f} {b / a:>8.0f}x", flush=True)


# --- training ----------------------------------------------------------------------------
class Baseline(nn.Module):
    """The plain PyTorch model of the same size: embeddings (token + learned position) ->
    nn.TransformerEncoder (pre-norm, GELU, causal) -> LayerNorm -> tied output layer."""

    def __init__(self, d_model, num_layers, attention_heads, ff_size, dropout, context):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, d_model)
        self.pos = nn.Embedding(context, d_model)
        layer = nn.TransformerEncoderLayer(d_model, attention_heads, ff_size, dropout,
                                           activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.bias = nn.Parameter(torch.zeros(VOCAB))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        x = self.embed(ids) + self.pos(torch.arange(t))  # (B, T, D)
        mask = nn.Transformer.generate_square_subsequent_mask(t)
        h = self.norm(self.encoder(x, mask=mask, is_causal=True))
        return F.linear(h, self.embed.weight, self.bias)  # (B, T, V)

    def loss(self, batch: dict) -> dict:
        logits = self(batch["inputs"])
        return {"loss": F.cross_entropy(logits.flatten(0, 1), batch["targets"].flatten())}


def matmul_params(model: nn.Module) -> int:
    """Parameters that take part in matmuls: all but biases, norms and position tables
    (the tied embedding counts once, as the output layer)."""
    return sum(p.numel() for name, p in model.named_parameters()
               if p.dim() == 2 and not name.startswith("pos."))


def random_batch(batch: int, length: int, step: int) -> dict:
    g = torch.Generator().manual_seed(step)
    w = torch.randint(4, VOCAB, (batch, length + 1), generator=g)
    return {"inputs": w[:, :-1], "targets": w[:, 1:]}


def plain_steps(model, opt, batch: int, length: int, steps: int, start: int = 0) -> float:
    """Seconds for ``steps`` optimiser steps of a plain loop."""
    t = time.perf_counter()
    for s in range(start, start + steps):
        loss = model.loss(random_batch(batch, length, s))["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return time.perf_counter() - t


def trainer_rate(steps: int) -> float:
    """Tokens/s of ``transformer`` ``small`` through tunesmith's trainer."""
    from tunesmith.data.tokens import TokenWindows
    from tunesmith.representations.abc_chars import AbcChars
    from tunesmith.training.trainer import Trainer

    p = PRESETS["transformer"]["small"].train
    rng = np.random.default_rng(0)
    data = TokenWindows([rng.integers(4, VOCAB, 200_000)], p.seq_len, p.batch_size)
    cfg = replace(p, steps=steps, eval_every=10**6, checkpoint_every=0, log_every=10**6,
                  device="cpu")
    model = small().train()
    rep = AbcChars.fit([bytes(range(33, 33 + VOCAB - 4)).decode()])  # 84 symbols
    with tempfile.TemporaryDirectory() as d:
        Trainer(model, rep, data, [], replace(cfg, steps=2), d, progress=False,
                tensorboard=False).fit()
        trainer = Trainer(model, rep, data, [], cfg, d + "/run", progress=False,
                          tensorboard=False)
        t = time.perf_counter()
        trainer.fit()
        return steps * cfg.batch_size * cfg.seq_len / (time.perf_counter() - t)


def training(steps: int, repeats: int, peak: float, with_trainer: bool) -> None:
    preset = PRESETS["transformer"]["small"]
    m, p = preset.model, preset.train
    torch.manual_seed(0)
    ours = small().train()
    base = Baseline(m["d_model"], m["num_layers"], m["attention_heads"], m["ff_size"],
                    m["dropout"], m["context"]).train()
    n_ours, n_base = matmul_params(ours), matmul_params(base)
    flops = {"transformer": 6 * n_ours + 12 * m["num_layers"] * p.seq_len * m["d_model"],
             "nn.TransformerEncoder": 6 * n_base + 12 * m["num_layers"] * p.seq_len * m["d_model"]}
    runs = {"transformer": ours, "nn.TransformerEncoder": base}
    opts = {k: torch.optim.Adam(v.parameters(), lr=1e-3) for k, v in runs.items()}
    for k, v in runs.items():
        plain_steps(v, opts[k], p.batch_size, p.seq_len, 2)  # warm
    times = {k: [] for k in runs}
    for r in range(repeats):
        for k, v in runs.items():
            times[k].append(plain_steps(v, opts[k], p.batch_size, p.seq_len, steps,
                                        start=100 * (r + 1)) / steps)
    tokens = p.batch_size * p.seq_len
    print(f"\ntraining `small` ({m['d_model']} wide, {m['num_layers']} layers, "
          f"{m['attention_heads']} heads, ff {m['ff_size']}), batch {p.batch_size} x "
          f"{p.seq_len}, plain loop, median of {repeats} turns of {steps} steps")
    print(f"{'model':<22} {'params':>9} {'s/step':>7} {'tokens/s':>9} {'GFLOP/s':>8} "
          f"{'of peak':>8}")
    for k in runs:
        per = float(np.median(times[k]))
        params = sum(x.numel() for x in runs[k].parameters())
        rate = tokens / per
        gf = rate * flops[k] / 1e9
        print(f"{k:<22} {params:>9,} {per:>7.2f} {rate:>9,.0f} {gf:>8.1f} "
              f"{gf / peak:>8.1%}")
    if with_trainer:
        rate = trainer_rate(steps)
        gf = rate * flops["transformer"] / 1e9
        print(f"{'transformer (trainer)':<22} {'':>9} {tokens / rate:>7.2f} {rate:>9,.0f} "
              f"{gf:>8.1f} {gf / peak:>8.1%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contexts", default="256,1000,4000")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--steps", type=int, default=16, help="new tokens per generation turn")
    ap.add_argument("--train-steps", type=int, default=6,
                    help="training steps per turn (0 = no training figures)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--no-trainer", action="store_true",
                    help="skip the run through tunesmith's trainer")
    args = ap.parse_args()
    if min(args.steps, args.repeats, args.threads) < 1 or args.train_steps < 0:
        ap.error("--steps, --repeats and --threads must be >= 1")
    torch.set_num_threads(args.threads)
    peak = matmul_peak()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.1f}; fp32 matmul peak (2048^3): {peak:.1f} GFLOP/s")
    generation([int(c) for c in args.contexts.split(",")],
               [int(b) for b in args.batches.split(",")], args.steps, args.repeats)
    if args.train_steps:
        again = matmul_peak()
        print(f"\nfp32 matmul peak again: {again:.1f} GFLOP/s; the shares below use "
              f"{max(peak, again):.1f}")
        training(args.train_steps, args.repeats, max(peak, again), not args.no_trainer)


if __name__ == "__main__":
    main()
