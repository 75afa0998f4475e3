"""How close AIS gets to the exact log-partition function of an 88-key RBM.

An RBM with few hidden units has an exact log Z (a sum over the 2^H hidden states, each
with the visible units summed out analytically). This script trains such an RBM's
weights briefly on JSB Chorales frames (so that W has the structure of music, not
noise), then compares AIS estimates at several (chains, betas) settings with the exact
value over many frames' biases. Prints the mean error (AIS is biased low in log Z, so
it makes NLL look better) and the spread across independent runs.

    python benchmarks/ais_check.py --data ../shared/data/boulanger2012

With ``--model RUN/best`` it checks a trained RNN-RBM instead, where no exact value
exists: the NLL of the first ``--sequences`` test sequences of the model's own benchmark
file, estimated with ``--chains`` chains (16) at each of ``--betas`` inverse
temperatures (``--data``, ``--hidden`` and ``--frames`` are not used then). AIS is biased
low, so the estimate rises towards the truth as the annealing gets longer; where it
stops moving, the setting is long enough for that model.

    python benchmarks/ais_check.py --model runs/nottingham-rbm/best --sequences 6 \
                                   --betas 300,1000,3000
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from tunesmith.io.boulanger import find_dataset, read_boulanger
from tunesmith.models.rnn_rbm import RnnRbm, RnnRbmConfig


def exact_log_z(model, bv, bh):
    """log sum_h exp(bh.h) prod_i (1 + exp(bv_i + (h W)_i)), by enumerating h: (N,)."""
    h = torch.tensor(list(itertools.product([0.0, 1.0], repeat=model.config.rbm_hidden)))
    hw = h @ model.W  # (2^H, V)
    out = []
    for i in range(bv.shape[0]):
        terms = h @ bh[i] + F.softplus(bv[i] + hw).sum(-1)
        out.append(torch.logsumexp(terms, 0))
    return torch.stack(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" /
                                          "data" / "boulanger2012"))
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--model", help="a trained RNN-RBM checkpoint (see above)")
    ap.add_argument("--sequences", type=int, default=6)
    ap.add_argument("--betas", default="300,1000,3000")
    ap.add_argument("--chains", type=int, default=16)
    args = ap.parse_args()
    if args.model:
        return trained(args)
    torch.manual_seed(0)
    seqs = read_boulanger(find_dataset(args.data, "jsb"))["train"]
    frames = torch.from_numpy(__import__("numpy").concatenate(seqs)).float()
    model = RnnRbm(RnnRbmConfig(rnn_hidden=8, rbm_hidden=args.hidden, cd_steps=5))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = {"frames": frames[None, :4000], "mask": torch.ones(1, 4000, dtype=torch.bool)}
    model.train()
    for _ in range(300):
        out = model.loss(batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        ctx, _ = model.rnn(frames[None, : args.frames])
        bv, bh = model.conditionals(ctx[0])
        exact = exact_log_z(model, bv, bh)
        free = model.free_energy(frames[: args.frames], bv, bh)
        print(f"RBM 88 x {args.hidden}, {args.frames} JSB frames: exact NLL "
              f"{(free + exact).mean():.4f} nats/frame")
        print(f"{'chains':>6} {'betas':>6} {'mean error of log Z':>20} {'spread of NLL':>14} "
              f"{'us/frame':>9}")
        for chains, betas in [(4, 300), (16, 200), (16, 1000), (32, 500)]:
            runs, t0 = [], time.perf_counter()
            for seed in range(3):
                gen = torch.Generator().manual_seed(seed)
                runs.append(model.log_partition(bv, bh, chains, betas, generator=gen))
            dt = (time.perf_counter() - t0) / 3 / args.frames * 1e6
            err = torch.stack([(r - exact).mean() for r in runs])
            nll = torch.stack([(free + r).mean() for r in runs])
            print(f"{chains:>6} {betas:>6} {err.mean():>+20.4f} {nll.std():>14.4f} {dt:>9.0f}")
    print(f"(log 2^{args.hidden} enumerated exactly; {math.log(2):.3f} nats = one bit)")


def trained(args) -> None:
    from tunesmith.evaluation.boulanger import frame_protocol
    from tunesmith.training.checkpoint import load_checkpoint

    model_dir = Path(args.model)
    if (model_dir / "best").is_dir():  # a run folder: its best checkpoint
        model_dir = model_dir / "best"
    ckpt = load_checkpoint(model_dir)
    if not hasattr(ckpt.model, "log_partition"):
        raise SystemExit(f"{model_dir}: not an RBM model (its likelihood is exact)")
    test = read_boulanger(ckpt.meta["summary"]["corpus"]["corpus"])  # as `evaluate` finds it
    seqs = test["test"][: args.sequences]
    print(f"{model_dir}: first {len(seqs)} test sequences, {sum(len(q) for q in seqs)} "
          f"frames, {args.chains} chains")
    print(f"{'betas':>6} {'NLL estimate':>13} {'seconds':>8}")
    for betas in (int(b) for b in args.betas.split(",")):
        m = frame_protocol(ckpt.model, seqs, "cpu", args.chains, betas, ais_runs=1)
        print(f"{betas:>6} {m['nll']:>13.4f} {m['seconds']:>8.0f}", flush=True)


if __name__ == "__main__":
    main()
