"""Speed of the events family: generating 1,000 messages with ``step()`` (O(1) per message)
versus re-feeding the last 30-message window for every new message (what the seed
write-up's generator does), same model, same run, for one piece, for 8 (what ``tunesmith
compose`` makes by default) and for 64 at once; and training messages/s of the ``seed``
and ``small`` presets through tunesmith's trainer.

    python benchmarks/events_speed.py [--messages 1000] [--batches 1,8,64] [--threads N]
                                      [--slice 100] [--repeats 3] [--train-steps 20]

Both generators start from the same 30-message primer (as the seed's does) and sample
every head with temperature 1 from the same logits, so they do the same job; only the
work per message differs. They take turns, ``--slice`` messages each (this machine's
speed drifts by 20-80% within minutes, and turns of a second or so see the same
machine): the re-feed goes on with its window, and each ``sample()`` call from the
state the last one left (``Resumable``: one more ``step()`` per call, ~1% at turns of
100). ``--repeats N`` does that N times; the table shows the medians, and the range of
the N ratios.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

import numpy as np
import torch

from tunesmith.data.augment import Transpose
from tunesmith.data.tokens import TokenWindows
from tunesmith.models.event_lstm import HEADS, EventLSTM, EventLSTMConfig
from tunesmith.presets import PRESETS
from tunesmith.representations.events import N_KEYS, Events
from tunesmith.sampling.decode import sample
from tunesmith.sampling.filters import SamplingSettings
from tunesmith.training.trainer import Trainer

REP = Events()


def build(preset: str) -> EventLSTM:
    h = REP.heads
    cfg = EventLSTMConfig(note_classes=h["note"], velocity_classes=h["velocity"],
                          time_classes=h["time"], **PRESETS["event_lstm"][preset].model)
    torch.manual_seed(0)
    return EventLSTM(cfg).eval()


PRIMER = 30  # messages, as in the seed's generator


def primer(batch: int, seed: int = 0) -> torch.Tensor:
    """A random 30-message primer (B, 30, 3) of valid ids: the speed does not depend on
    what the messages say."""
    g = torch.Generator().manual_seed(seed)
    sizes = list(REP.heads.values())
    return torch.stack([torch.randint(0, min(n, 60), (batch, PRIMER), generator=g)
                        for n in sizes], dim=-1)


@torch.inference_mode()
def refeed(model: EventLSTM, msgs: torch.Tensor, n: int, gen: torch.Generator):
    """The seed's way: run the whole last window of ``msgs`` (B, T >= 30, 3) through the
    LSTM for every new message, sampling each head from the same softmax as the shared
    sampler. Returns the last 31 messages (the window goes on from them)."""
    for _ in range(n):
        logits, _ = model(msgs[:, -PRIMER:])  # (B, 30, 3) from a zero state
        new = [torch.multinomial(logits[h][:, -1].softmax(-1), 1, generator=gen)
               for h in HEADS]
        msgs = torch.cat([msgs[:, -PRIMER:], torch.cat(new, dim=-1)[:, None]], dim=1)
    return msgs


class Resumable:
    """``model`` for the sampler, able to go on where the last ``sample()`` call stopped:
    each call's primer is its pieces' last message, stepped again from the state before
    it (kept from that call's last ``step()``), so the window is not re-read. The cost:
    that one message read twice, one more ``step()`` per call (~1% at turns of 100)."""

    primes = True  # what it declares to the sampler (models/__init__.py)

    def __init__(self, model: EventLSTM):
        self.model, self.before_last = model, None

    def eval(self):
        return self

    def init_state(self, batch: int):
        return self.before_last

    def prime(self, inputs: torch.Tensor, lengths: torch.Tensor, state):
        if state is None:  # the first call: the whole primer, in one fused pass
            return self.model.prime(inputs, lengths, state)
        return self.step(inputs[:, 0], state)  # the last message again, from before it

    def step(self, inputs: torch.Tensor, state):
        self.before_last = state
        return self.model.step(inputs, state)


def stepwise(model: Resumable, msgs: torch.Tensor, n: int, seed: int):
    """``n`` more messages through the shared sampler and ``step()`` after ``msgs``
    (B, T, 3); returns the last 30 of the messages so far, and the seconds that the
    ``sample()`` call took (the lists in and out are the benchmark's own business)."""
    start = (msgs[:, -PRIMER:] if model.before_last is None else msgs[:, -1:]).tolist()
    t = time.perf_counter()
    out = sample(model, primers=start, num=len(msgs), max_steps=n, heads=list(HEADS),
                 settings=SamplingSettings(), seed=seed)
    took = time.perf_counter() - t
    return torch.cat([msgs, torch.tensor(out)], dim=1)[:, -PRIMER:], took


def race(model: EventLSTM, batch: int, messages: int, turn: int, seed: int):
    """Seconds for ``messages`` new messages per piece with ``step()`` and by re-feeding,
    in turns of ``turn`` messages each."""
    a = b = primer(batch, seed)
    gen = torch.Generator().manual_seed(seed)
    model_a = Resumable(model)
    times = [0.0, 0.0]
    for k, start in enumerate(range(0, messages, turn)):
        n = min(turn, messages - start)
        a, took = stepwise(model_a, a, n, seed + k)
        times[0] += took
        t = time.perf_counter()
        b = refeed(model, b, n, gen)
        times[1] += time.perf_counter() - t
    return times


def training_rate(preset: str, steps: int) -> float:
    """Messages/s through the trainer on random messages (the preset's batch and window)."""
    p = PRESETS["event_lstm"][preset]
    rng = np.random.default_rng(0)
    n = 200_000
    seq = np.stack([rng.integers(0, N_KEYS, n), rng.integers(0, 17, n), rng.integers(0, 12, n)],
                   axis=1)
    tcfg = replace(p.train, steps=steps, eval_every=10**6, checkpoint_every=0,
                   log_every=10**6, device="cpu")
    aug = Transpose(p.data["transpose"]) if p.data.get("transpose") else None
    data = TokenWindows([seq], tcfg.seq_len, tcfg.batch_size, augment=aug)
    model = build(preset).train()
    with tempfile.TemporaryDirectory() as d:
        warm = Trainer(model, REP, data, [], replace(tcfg, steps=3), d,
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
    ap.add_argument("--batches", default="1,8,64",
                    help="pieces generated at once, e.g. 1,8,64 or 256")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--slice", type=int, default=100, help="messages per turn")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--train-steps", type=int, default=20, help="0 = no training figures")
    args = ap.parse_args()
    if min(args.repeats, args.threads, args.slice, args.messages) < 1:
        ap.error("--messages, --slice, --repeats and --threads must be >= 1")
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"\ngenerating {args.messages} messages per piece")
    print(f"{'preset':<7} {'pieces':>6} {'step() s':>9} {'re-feed 30 s':>13} {'speed-up':>9} "
          f"{'step msg/s':>11}")
    for preset in ("seed", "small"):
        model = build(preset)
        for batch in (int(b) for b in args.batches.split(",")):
            race(model, batch, 20, 10, seed=99)  # warm both
            pairs = [race(model, batch, args.messages, args.slice, seed=r)
                     for r in range(args.repeats)]
            steps, refeeds = zip(*pairs, strict=True)
            a, b = float(np.median(steps)), float(np.median(refeeds))
            ratios = [r / s for s, r in pairs]
            spread = f"  ({min(ratios):.1f}-{max(ratios):.1f}x)" if args.repeats > 1 else ""
            print(f"{preset:<7} {batch:>6} {a:>9.3f} {b:>13.3f} {np.median(ratios):>8.1f}x "
                  f"{batch * args.messages / a:>11,.0f}{spread}")
    if not args.train_steps:
        return
    print(f"\ntraining (tunesmith trainer, {args.train_steps} steps, random messages)")
    for preset in ("seed", "small"):
        p = PRESETS["event_lstm"][preset].train
        rate = training_rate(preset, args.train_steps)
        print(f"{preset:<7} batch {p.batch_size} x {p.seq_len} messages: "
              f"{rate:,.0f} messages/s")


if __name__ == "__main__":
    main()
