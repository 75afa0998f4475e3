"""Training speed of every model on one GPU against the CPU: tokens per second, fp32
(TF32) against bf16 autocast, torch.compile against eager, and the share of the GPU's
bf16 peak; optionally the Boulanger RNN-NADE / Transformer-NADE runs timed on the GPU.

Each registered model is built at a preset (``--preset``, default ``small``; plus the
Transformers' ``big``) and trained for ``--steps`` steps by the trainer itself (so pinned
memory, TF32, autocast and compile are exactly what ``tunesmith train`` uses) on
synthetic batches of the preset's shape (random token ids, piano-roll frames with 5%
of keys on, or the GAN's note rows: speed does not depend on what the data says, and the
GPU machine needs no corpus; seq2seq, which reads pairs of phrases, is skipped with a
note). ``results.json`` is rewritten after each model. tokens/s is the median of the
logged windows after the first (which holds the warm-up and, with ``--compile``, the
compilation). Achieved FLOP/s counts the matmuls of one step (torch's FlopCounterMode)
plus the recurrent layers' (which it does not see: 6 x gates x hidden x (input + hidden)
per token and layer, forward and backward); the share of peak divides it by the GPU's
dense bf16 peak (``--peak-tflops``, else a table of known GPUs). bf16 is measured only
for models that allow it (not those that declare ``autocast = False``, whose
log-probabilities need fp32: the RBMs, RNN-NADE).

    python benchmarks/gpu.py                       # every model: CUDA (when present) and CPU
    python benchmarks/gpu.py --models char_rnn,transformer --steps 40 --cpu-steps 6
    python benchmarks/gpu.py --boulanger DATA      # + the timed Boulanger runs (jsb)

Without a GPU it measures the CPU alone and says so. Figures go to RESULTS.md by hand,
with the machine they were measured on.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

PEAK_BF16_TFLOPS = {  # dense (no sparsity), by a name torch.cuda.get_device_name() holds
    "H200": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0,
    "L4": 121.0, "A10G": 70.0, "A10": 125.0, "RTX 4090": 165.0, "RTX 3090": 71.0,
}


class SyntheticTokens:
    """Training windows of random ids, one column per head: a batch source's contract."""

    def __init__(self, heads: dict[str, int], batch_size: int, seq_len: int):
        self.heads, self.batch_size, self.seq_len = list(heads.values()), batch_size, seq_len
        self.tokens_per_batch = batch_size * seq_len

    def batch(self, step: int) -> dict:
        rng = np.random.default_rng([0, step])
        x = np.stack([rng.integers(0, n, (self.batch_size, self.seq_len + 1))
                      for n in self.heads], -1)
        x = torch.from_numpy(x[..., 0] if len(self.heads) == 1 else x)
        return {"inputs": x[:, :-1], "targets": x[:, 1:]}


class SyntheticNotes:
    """Windows of note rows (the RNN-GAN's: pitch, step, length, velocity features),
    standard-normal values; each batch carries its step, as the GAN's batch source's do
    (its MLE pre-training ends at a step; both players run at every step)."""

    def __init__(self, batch_size: int, seq_len: int, features: int):
        self.shape = (batch_size, seq_len, features)
        self.tokens_per_batch = batch_size * seq_len

    def batch(self, step: int) -> dict:
        rng = np.random.default_rng([0, step])
        notes = torch.from_numpy(rng.standard_normal(self.shape).astype(np.float32))
        return {"notes": notes, "step": torch.full(self.shape[:1], step, dtype=torch.long)}


class SyntheticFrames:
    """Piano-roll windows with 5% of the keys on, every frame scored."""

    def __init__(self, batch_size: int, seq_len: int, keys: int = 88):
        self.shape = (batch_size, seq_len, keys)
        self.tokens_per_batch = batch_size * seq_len

    def batch(self, step: int) -> dict:
        rng = np.random.default_rng([0, step])
        frames = torch.from_numpy((rng.random(self.shape) < 0.05).astype(np.float32))
        return {"frames": frames, "mask": torch.ones(self.shape[:2], dtype=torch.bool)}


SYNTHETIC = ("abc_chars", "events", "pianoroll", "notes")  # what build() makes batches of


def representation_of(arch: str) -> str:
    """The first representation a model reads (the one it is measured on)."""
    from tunesmith import models

    kinds = models.registry()[arch].representation
    return kinds if isinstance(kinds, str) else kinds[0]


def build(arch: str, preset_name: str):
    """(model, representation, training batch source, the preset's TrainConfig), for a
    model that reads one of :data:`SYNTHETIC`."""
    from tunesmith import families, models
    from tunesmith.families.base import model_sizes
    from tunesmith.presets import preset
    from tunesmith.representations.abc_chars import AbcChars
    from tunesmith.representations.events import Events
    from tunesmith.representations.notes import NoteFeatures
    from tunesmith.representations.pianoroll import PianoRoll

    cls = models.registry()[arch]
    kind = representation_of(arch)
    family, rep = {"abc_chars": ("abc", AbcChars.fit([chr(c) * 3 for c in range(32, 127)])),
                   "events": ("events", Events()), "pianoroll": ("pianoroll", PianoRoll()),
                   "notes": ("gan", NoteFeatures())}[kind]
    p = preset(arch, preset_name)
    torch.manual_seed(0)
    model = models.build(arch, dict(p.model) | model_sizes(families.get(family),
                                                           cls.config_class, rep))
    b, t = p.train.batch_size, p.train.seq_len
    if kind == "pianoroll":
        source = SyntheticFrames(b, t)
    elif kind == "notes":
        source = SyntheticNotes(b, t, rep.features)
    else:
        source = SyntheticTokens(rep.heads, b, t)
    return model, rep, source, p.train


def step_flops(model, batch: dict, device: str) -> float:
    """FLOPs of one training step (forward and backward) at fp32: the matmuls torch's
    FlopCounterMode sees, plus the nn.LSTM / GRU / RNN layers it does not (a forward hook
    notes each call's input; backward ~ 2 x forward)."""
    from torch.utils.flop_counter import FlopCounterMode

    from tunesmith.training.device import batch_to

    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}
    recurrent = [0.0]

    def hook(module, args, _out):
        x = args[0]
        tokens = x.shape[0] * x.shape[1] if x.dim() == 3 else x.shape[0]
        size = module.input_size
        for _ in range(module.num_layers):
            recurrent[0] += 6 * gates[type(module).__name__] * module.hidden_size * (
                size + module.hidden_size) * tokens
            size = module.hidden_size

    model = model.to(device).train()
    hooks = [m.register_forward_hook(hook) for m in model.modules()
             if isinstance(m, torch.nn.RNNBase)]
    try:
        with FlopCounterMode(display=False) as counter:
            model.loss(batch_to(batch, torch.device(device)))["loss"].backward()
    finally:
        for h in hooks:
            h.remove()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() + recurrent[0]


def measure(arch: str, preset_name: str, device: str, precision: str, compile_: bool,
            steps: int) -> dict:
    """Train ``steps`` steps in a scratch folder; the speed the trainer logged."""
    from tunesmith.training.trainer import Trainer

    model, rep, source, cfg = build(arch, preset_name)
    cfg = replace(cfg, steps=steps, log_every=max(1, steps // 4), eval_every=steps,
                  checkpoint_every=0, patience=0, warmup=0, device=device,
                  precision=precision, compile=compile_)
    torch._dynamo.reset()
    with tempfile.TemporaryDirectory() as run:
        valid = [source.batch(10**6)]
        trainer = Trainer(model, rep, source, valid, cfg, run, progress=None,
                          tensorboard=False)
        t = time.perf_counter()
        trainer.fit()
        wall = time.perf_counter() - t
        with open(Path(run) / "metrics.csv") as f:
            rows = [r for r in csv.DictReader(f) if r["split"] == "train"]
    speeds = [float(r["tokens_per_s"]) for r in rows[1:]] or [float(rows[0]["tokens_per_s"])]
    del trainer, model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return {"tokens_per_s": statistics.median(speeds), "wall_s": wall,
            "autocast": precision != "fp32"}


def peak_tflops(given: float | None) -> float | None:
    if given:
        return given
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def run_models(args, out_dir: Path) -> list[dict]:
    """Measure each model; ``results.json`` in ``out_dir`` is rewritten after each one, so
    a run cut short (the GPU lent for a while) keeps what it measured."""
    from tunesmith import models
    from tunesmith.models import allows_autocast

    cuda = torch.cuda.is_available()
    names = args.models.split(",") if args.models else list(models.registry())
    peak = peak_tflops(args.peak_tflops) if cuda else None
    out = []
    for arch in names:
        if representation_of(arch) not in SYNTHETIC:  # seq2seq: pairs of phrases
            print(f"== {arch}: skipped (no synthetic batches of "
                  f"{representation_of(arch)})", flush=True)
            continue
        presets = [args.preset] + (["big"] if arch.startswith("transformer") and
                                   args.preset != "big" and not args.no_big else [])
        for preset_name in presets:
            model, _, source, cfg = build(arch, preset_name)
            row = {"model": arch, "preset": preset_name,
                   "params": sum(p.numel() for p in model.parameters()),
                   "tokens_per_step": source.tokens_per_batch,
                   "flops_per_step": step_flops(model, source.batch(0),
                                                "cuda" if cuda else "cpu")}
            print(f"== {arch} {preset_name}: {row['params']:,} parameters, "
                  f"{row['flops_per_step'] / 1e9:.3g} GFLOP per step", flush=True)
            if args.cpu_steps:
                row["cpu"] = measure(arch, preset_name, "cpu", "fp32", False, args.cpu_steps)
                print(f"   cpu fp32: {row['cpu']['tokens_per_s']:,.0f} tokens/s", flush=True)
            if cuda:
                kinds = [("cuda_fp32", "fp32", False)]
                if allows_autocast(model):
                    kinds.append(("cuda_bf16", "bf16", False))
                if arch in args.compile.split(","):
                    kinds.append(("cuda_compiled", "auto", True))
                for key, precision, compile_ in kinds:
                    row[key] = measure(arch, preset_name, "cuda", precision, compile_,
                                       args.steps)
                    tok = row[key]["tokens_per_s"]
                    flops = tok / row["tokens_per_step"] * row["flops_per_step"]
                    row[key]["tflops"] = flops / 1e12
                    row[key]["share_of_bf16_peak"] = flops / 1e12 / peak if peak else None
                    print(f"   {key}: {tok:,.0f} tokens/s, {flops / 1e12:.2f} TFLOP/s"
                          + (f" ({100 * flops / 1e12 / peak:.2f}% of bf16 peak)" if peak
                             else ""), flush=True)
            out.append(row)
            (out_dir / "results.json").write_text(json.dumps(out, indent=1))
    return out


def table(rows: list[dict]) -> str:
    def tok(r, k):
        return f"{r[k]['tokens_per_s']:,.0f}" if k in r else "-"

    def share(r):
        best = max((r[k] for k in ("cuda_fp32", "cuda_bf16", "cuda_compiled") if k in r),
                   key=lambda m: m["tokens_per_s"], default=None)
        if not best or best.get("share_of_bf16_peak") is None:
            return "-"
        return f"{best['tflops']:.3g} ({100 * best['share_of_bf16_peak']:.3g}%)"

    lines = ["| model | preset | parameters | tokens/step | CPU fp32 | GPU fp32 (TF32) | "
             "GPU bf16 | GPU compiled | GPU / CPU | best TFLOP/s (share of bf16 peak) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        gpu = max((r[k]["tokens_per_s"] for k in ("cuda_fp32", "cuda_bf16", "cuda_compiled")
                   if k in r), default=None)
        ratio = f"{gpu / r['cpu']['tokens_per_s']:.0f}x" if gpu and "cpu" in r else "-"
        lines.append(f"| {r['model']} | {r['preset']} | {r['params']:,} | "
                     f"{r['tokens_per_step']:,} | {tok(r, 'cpu')} | {tok(r, 'cuda_fp32')} | "
                     f"{tok(r, 'cuda_bf16')} | {tok(r, 'cuda_compiled')} | {ratio} | "
                     f"{share(r)} |")
    return "\n".join(lines)


def boulanger(data: str, out: Path) -> None:
    """The benchmark's own protocol on the GPU: RNN-NADE (tuned) and Transformer-NADE
    (small) on JSB Chorales, each timed; the test NLL is in its results.md."""
    for arch, preset_name in (("rnn_nade", "tuned"), ("transformer_nade", "small")):
        cmd = [sys.executable, "-m", "tunesmith", "benchmark", "boulanger", "--data", data,
               "--datasets", "jsb", "--arch", arch, "--preset", preset_name, "--device",
               "cuda", "--out", str(out / f"boulanger-{arch}"), "--retrain", "--no-progress"]
        print("$", " ".join(cmd[2:]), flush=True)
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        print(f"   {arch} {preset_name}: {time.perf_counter() - t:.0f} s (train + test)")
        print((out / f"boulanger-{arch}" / "results.md").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="", help="comma list (default: every registered)")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--no-big", action="store_true", help="skip the Transformers' big preset")
    ap.add_argument("--steps", type=int, default=40, help="GPU steps per measurement")
    ap.add_argument("--cpu-steps", type=int, default=8, help="CPU steps (0 = no CPU)")
    ap.add_argument("--compile", default="char_rnn,event_lstm,transformer,transformer_nade",
                    help="models also measured with torch.compile on the GPU")
    ap.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak")
    ap.add_argument("--boulanger", metavar="DATA", help="also time the Boulanger runs")
    ap.add_argument("--out", default="runs/bench-gpu")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
              f"bf16 peak {peak_tflops(args.peak_tflops)} TFLOP/s")
    else:
        print(f"no CUDA GPU here: CPU figures only (torch {torch.__version__})")
    rows = run_models(args, out)
    print("\n" + table(rows))
    if args.boulanger:
        boulanger(args.boulanger, out)


if __name__ == "__main__":
    main()
