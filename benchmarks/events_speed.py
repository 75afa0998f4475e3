"""Speed of the events family: generating 1,000 messages with ``step()`` (O(1) per message)
versus re-feeding the last 30-message window for every new message (what the seed
write-up's generator does), same model, same run, for one piece, for 8 (what ``tunesmith
compose`` makes by default) and for 64 at once; and
training messages/s of the ``seed`` and ``small`` presets through tunesmith's trainer.

    python benchmarks/events_speed.py [--messages 1000] [--batches 1,8,64] [--threads N]
                                      [--repeats 1] [--train-steps 20]

With ``--repeats N`` each generator runs N times, alternating, and the table shows the
medians (the speed-up is the median of the N paired ratios, with their range), and the
ratio of the two fastest runs (timeit's rule: interference only ever adds time): this
machine's speed drifts by 20-80% within minutes, and pairs measured back to back drift
least.

Both generators sample every head with temperature 1 from the same logits function, so
they do the same job; only the work per message differs.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from tunesmith.data.augment import Transpose
from tunesmith.data.tokens import TokenWindows
from tunesmith.models.event_lstm import HEADS, EventLSTM, EventLSTMConfig
from tunesmith.presets import PRESETS
from tunesmith.representations.events import BOS, N_KEYS, Events
from tunesmith.sampling.decode import sample
from tunesmith.sampling.filters import SamplingSettings
from tunesmith.training.config import TrainConfig
from tunesmith.training.trainer import Trainer

REP = Events()


def build(preset: str) -> EventLSTM:
    h = REP.heads
    cfg = EventLSTMConfig(note_classes=h["note"], velocity_classes=h["velocity"],
                          time_classes=h["time"], **PRESETS["event_lstm"][preset]["model"])
    torch.manual_seed(0)
    return EventLSTM(cfg).eval()


@torch.inference_mode()
def refeed(model: EventLSTM, n: int, batch: int = 1, window: int = 30, seed: int = 0):
    """The seed's way: run the whole last window through the LSTM for every new message
    (sampling each head from the same softmax as the shared sampler)."""
    gen = torch.Generator().manual_seed(seed)
    msgs = torch.tensor([[BOS, 0, 0]]).expand(batch, 1, 3)
    for _ in range(n):
        logits, _ = model(msgs[:, -window:])  # (B, <=30, 3) from a zero state
        new = [torch.multinomial(logits[h][:, -1].softmax(-1), 1, generator=gen)
               for h in HEADS]
        msgs = torch.cat([msgs, torch.cat(new, dim=-1)[:, None]], dim=1)
    return msgs[:, 1:]


def stepwise(model: EventLSTM, n: int, batch: int = 1, seed: int = 0):
    return sample(model, [[BOS, 0, 0]], num=batch, max_steps=n, heads=list(HEADS),
                  settings=SamplingSettings(), seed=seed)


def timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def training_rate(preset: str, steps: int) -> float:
    """Messages/s through the trainer on random messages (the preset's batch and window)."""
    p = PRESETS["event_lstm"][preset]
    rng = np.random.default_rng(0)
    n = 200_000
    seq = np.stack([rng.integers(0, N_KEYS, n), rng.integers(0, 17, n), rng.integers(0, 12, n)],
                   axis=1)
    tcfg = TrainConfig(**(p["train"] | {"steps": steps, "eval_every": 10**6,
                                        "checkpoint_every": 0, "log_every": 10**6,
                                        "device": "cpu"}))
    aug = Transpose(p.get("data", {}).get("transpose", 0)) if p.get("data") else None
    data = TokenWindows([seq], tcfg.seq_len, tcfg.batch_size, augment=aug)
    model = build(preset).train()
    with tempfile.TemporaryDirectory() as d:
        warm = Trainer(model, REP, data, [], TrainConfig(**(tcfg.__dict__ | {"steps": 3})), d,
                       progress=False, tensorboard=False)
        warm.fit()
        trainer = Trainer(model, REP, data, [], tcfg, d + "/run", progress=False,
                          tensorboard=False)
        t = time.perf_counter()
        trainer.fit()
        return steps * tcfg.batch_size * tcfg.seq_len / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--batches", default="1,8,64", help="pieces generated at once, e.g. 1,64,256")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--train-steps", type=int, default=20, help="0 = no training figures")
    args = ap.parse_args()
    if args.repeats < 1 or args.threads < 1:
        ap.error("--repeats and --threads must be >= 1")
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"\ngenerating {args.messages} messages per piece")
    print(f"{'preset':<7} {'pieces':>6} {'step() s':>9} {'re-feed 30 s':>13} {'speed-up':>9} "
          f"{'step msg/s':>11}")
    for preset in ("seed", "small"):
        model = build(preset)
        for batch in (int(b) for b in args.batches.split(",")):
            stepwise(model, 50, batch)
            refeed(model, 50, batch)  # warm both
            pairs = [(timed(stepwise, model, args.messages, batch),
                      timed(refeed, model, args.messages, batch)) for _ in range(args.repeats)]
            steps, refeeds = zip(*pairs, strict=True)
            a, b = float(np.median(steps)), float(np.median(refeeds))
            ratios = [r / s for s, r in pairs]
            spread = (f"  ({min(ratios):.1f}-{max(ratios):.1f}x; fastest runs "
                      f"{min(refeeds) / min(steps):.1f}x)" if args.repeats > 1 else "")
            print(f"{preset:<7} {batch:>6} {a:>9.3f} {b:>13.3f} {np.median(ratios):>8.1f}x "
                  f"{batch * args.messages / a:>11,.0f}{spread}")
    if not args.train_steps:
        return
    print(f"\ntraining (tunesmith trainer, {args.train_steps} steps, random messages)")
    for preset in ("seed", "small"):
        p = PRESETS["event_lstm"][preset]["train"]
        rate = training_rate(preset, args.train_steps)
        print(f"{preset:<7} batch {p['batch_size']} x {p['seq_len']} messages: "
              f"{rate:,.0f} messages/s")


if __name__ == "__main__":
    main()
