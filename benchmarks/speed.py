"""Speed: training tokens/s (tunesmith's trainer next to a plain PyTorch loop of the same
model, same run), as a share of this CPU's measured fp32 matmul peak; sampling chars/s
(one tune and 64 at once); wall time of `tunesmith compose --num 8` (warm).

    python benchmarks/speed.py [--steps 10] [--skip-compose | --compose-only] [--compose-runs 7]

FLOPs per training token are estimated as 3 x forward, forward = 2 x (4H(E+H) per layer
[LSTM gates] + H*V [output layer]); embedding look-ups and element-wise work not counted.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from tunesmith import families
from tunesmith.data.tokens import SequenceBatches, TokenWindows
from tunesmith.models.char_rnn import CharRNN, CharRNNConfig
from tunesmith.presets import PRESETS
from tunesmith.training.checkpoint import load_checkpoint
from tunesmith.training.config import TrainConfig
from tunesmith.training.trainer import Trainer

VOCAB = 92


def matmul_peak(n: int = 2048, reps: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def flops_per_token(cfg: CharRNNConfig) -> float:
    e, h, v = cfg.embedding_dim, cfg.hidden_size, cfg.vocab_size
    per_layer = [4 * h * (e + h)] + [4 * h * (h + h)] * (cfg.num_layers - 1)
    return 3 * 2 * (sum(per_layer) + h * v)


def stream(n: int = 400_000) -> list[list[int]]:
    g = torch.Generator().manual_seed(0)
    return [torch.randint(4, VOCAB, (n,), generator=g).tolist()]


def plain_loop(cfg: CharRNNConfig, tcfg: TrainConfig, data: TokenWindows, steps: int) -> float:
    """Tokens/s of a textbook loop: same model, Adam, clipping, same batches."""
    torch.manual_seed(0)
    model = CharRNN(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr)
    batches = [data.batch(i) for i in range(steps + 2)]
    for i, b in enumerate(batches):
        if i == 2:
            t = time.perf_counter()
        logits, _ = model(b["inputs"])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), b["targets"].flatten())
        opt.zero_grad()
        loss.backward()
        if tcfg.clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.clip)
        opt.step()
    return steps * data.tokens_per_batch / (time.perf_counter() - t)


def trainer_loop(cfg: CharRNNConfig, tcfg: TrainConfig, data: TokenWindows, steps: int) -> float:
    """Tokens/s as tunesmith's trainer logs it: the metrics row that covers ``steps`` steps
    after ``steps`` warm-up steps (no validation or checkpoint falls inside the window)."""
    torch.manual_seed(0)
    model = CharRNN(cfg)
    tcfg = TrainConfig(**{**tcfg.__dict__, "steps": 10**6, "eval_every": 10**6,
                          "checkpoint_every": 0, "log_every": steps, "warmup": 0})
    with tempfile.TemporaryDirectory() as tmp:
        tr = Trainer(model, None, data, SequenceBatches([]), tcfg, tmp, progress=False,
                     tensorboard=False)
        tr.save = lambda *a, **k: None  # nothing to save: this times the loop
        tr.fit(stop_at=steps)
        tr.fit(stop_at=2 * steps)
        return float(tr.logger.rows[-1]["tokens_per_s"])


def sampling_speed(model, rep, num: int, length: int = 400) -> float:
    from tunesmith.sampling.decode import sample
    from tunesmith.sampling.filters import SamplingSettings

    t = time.perf_counter()
    sample(model, [[rep.bos]], num=num, max_steps=length, heads=["token"],
           settings=SamplingSettings(), seed=0)  # no stop token: exactly `length` steps
    return num * length / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--skip-compose", action="store_true")
    ap.add_argument("--compose-only", action="store_true")
    ap.add_argument("--compose-runs", type=int, default=7, help="seeds 1..N")
    args = ap.parse_args()
    if not args.compose_only:
        training_and_sampling(args)
    if not args.skip_compose:
        compose_times(args.compose_runs)


def compose_times(runs: int = 7) -> None:
    """Median (and range) of ``runs`` warm compose calls, seeds 1..runs, with and
    without WAV (the seed decides how many tunes are resampled and how long they are)."""
    import contextlib
    import io
    import statistics

    from tunesmith.cli import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        for wav in (True, False):
            extra = [] if wav else ["--no-wav"]
            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                cli(["compose", "--num", "8", "--out", tmp, "--seed", "0", "--overwrite"]
                    + extra)  # warm-up
                times = []
                for seed in range(1, runs + 1):
                    t = time.perf_counter()
                    cli(["compose", "--num", "8", "--out", tmp, "--seed", str(seed),
                         "--overwrite"] + extra)
                    times.append(time.perf_counter() - t)
            print(f"tunesmith compose --num 8{' --no-wav' if not wav else ''} (warm, seeds "
                  f"1-{runs}): median {statistics.median(times):.2f} s, "
                  f"range {min(times):.2f}-{max(times):.2f} s, "
                  f"{sum(t > 2 for t in times)} of {runs} over 2 s")


def training_and_sampling(args) -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    peak = matmul_peak()
    print(f"fp32 matmul peak (2048^3): {peak:.0f} GFLOP/s\n")
    print(f"{'setting':<18} {'loop':<10} {'tokens/s':>9} {'GFLOP/s':>8} {'% peak':>7}")
    data_src = stream()
    runs = [("lab, batch 8", "lab", 8), ("lab, batch 64", "lab", 64), ("small", "small", None)]
    for label, name, batch in runs:
        p = PRESETS["char_rnn"][name]
        cfg = CharRNNConfig(vocab_size=VOCAB, **{**p.model, "dropout": 0.0})
        tcfg = p.train
        if batch:
            tcfg = TrainConfig(**{**tcfg.__dict__, "batch_size": batch})
        data = TokenWindows(data_src, tcfg.seq_len, tcfg.batch_size, seed=0)
        steps = max(3, args.steps if tcfg.batch_size * tcfg.seq_len < 10_000 else args.steps // 2)
        for loop, fn in (("plain", plain_loop), ("tunesmith", trainer_loop)):
            tps = fn(cfg, tcfg, data, steps)
            gf = tps * flops_per_token(cfg) / 1e9
            print(f"{label:<18} {loop:<10} {tps:>9.0f} {gf:>8.0f} {100 * gf / peak:>6.0f}%")
    ckpt = load_checkpoint(families.pretrained_dir("abc"))
    print()
    for num in (1, 64):
        print(f"sampling, shipped model, {num:>2} at once: "
              f"{sampling_speed(ckpt.model, ckpt.representation, num):,.0f} chars/s")


if __name__ == "__main__":
    main()
