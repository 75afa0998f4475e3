"""Quality of the events family.

1. ``bach-chorales`` split by piece: per-head test NLL and accuracy of the ``seed`` preset
   and of ``small`` (the shipped default's preset). Runs are trained with the CLI exactly
   as a user would (``tunesmith train --family events --preset P --out RUNS/events-P``);
   an existing run's ``best`` checkpoint is reused.
2. The seed write-up's single-piece protocol on one music21 corpus piece: windows of 30
   messages; validation windows drawn at random from all windows ("shuffled", as the seed
   did) versus the last 10% of the piece ("time"). Overlapping windows put 29 of every
   validation window's 30 messages in training too; the gap between the two validation
   accuracies is that leak.

3. Constrained versus independent sampling from the shipped model (16 pieces x 600
   messages): note lengths, notes held to the decoder's cap, note-offs naming silent keys.

    python benchmarks/events_quality.py [--runs runs] [--skip-bach] [--skip-piece]
                                        [--skip-sampling]
                                        [--piece joplin/maple_leaf_rag.mxl] [--steps 800]

Accuracy: the most probable id is right, per head; "all" = all three heads right at once
(a whole message predicted). NLL in nats per message (sum over heads).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tunesmith.cli import main as cli
from tunesmith.evaluation.likelihood import evaluate
from tunesmith.models.event_lstm import IGNORE, EventLSTM, EventLSTMConfig
from tunesmith.presets import PRESETS
from tunesmith.training.config import TrainConfig
from tunesmith.training.trainer import Trainer

HEADS = ("note", "velocity", "time")


def row(name: str, m: dict) -> str:
    return (f"| {name} | {m['nll']:.4f} | " + " | ".join(f"{m['nll_' + h]:.4f}" for h in HEADS)
            + " | " + " | ".join(f"{m['acc_' + h]:.4f}" for h in HEADS)
            + f" | {m['accuracy']:.4f} |")


HEADER = ("| run | NLL | NLL note | NLL velocity | NLL time | acc note | acc velocity | "
          "acc time | acc all |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|")


def bach(runs: Path, presets: list[str]) -> None:
    from tunesmith import families
    from tunesmith.options import build
    from tunesmith.training.checkpoint import load_checkpoint

    fam = families.get("events")
    results = {}
    for preset in presets:
        run = runs / f"events-{preset}"
        if not (run / "best" / "model.safetensors").exists():
            t = time.perf_counter()
            rc = cli(["train", "--family", "events", "--preset", preset, "--out", str(run),
                      "--seed", "0", "--samples", "2", "--no-progress"])
            print(f"trained {run} in {time.perf_counter() - t:.0f} s (rc {rc})")
        ckpt = load_checkpoint(run / "best")
        data = build(fam.data_options, ckpt.meta["summary"].get("data", {}))
        prepared = fam.prepare_data("bach-chorales", data, representation=ckpt.representation)
        cfg = TrainConfig(seq_len=2, eval_max_items=0)
        for split in ("valid", "test"):
            p = dataclasses.replace(prepared, sequences={"train": prepared.sequences["train"],
                                                         "valid": prepared.sequences[split]})
            _, batches = fam.batches(p, cfg, data)
            results[(preset, split)] = evaluate(ckpt.model, batches)
        s = ckpt.meta["summary"]
        print(f"{preset}: stopped at step {s['step']}, best valid at step "
              f"{s['best_valid']['step']}; pieces per split {prepared.info['tunes']}")
    for split in ("valid", "test"):
        print(f"\nbach-chorales, split by piece: {split}\n{HEADER}")
        for preset in presets:
            print(row(preset, results[(preset, split)]))


class Windows:
    """Fixed windows of ``length + 1`` messages; batch(step) draws from them."""

    def __init__(self, windows: np.ndarray, batch_size: int, seed: int = 0):
        self.windows, self.batch_size, self.seed = windows, batch_size, seed
        self.tokens_per_batch = batch_size * (windows.shape[1] - 1)

    def batch(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, step])
        w = torch.from_numpy(self.windows[rng.integers(0, len(self.windows), self.batch_size)])
        return {"inputs": w[:, :-1], "targets": w[:, 1:]}

    def __iter__(self):
        for i in range(0, len(self.windows), 256):
            w = torch.from_numpy(self.windows[i : i + 256])
            yield {"inputs": w[:, :-1], "targets": w[:, 1:]}


def single_piece(piece_path: str, steps: int, window: int = 30) -> None:
    from tunesmith.io.read import read_piece
    from tunesmith.representations.events import Events

    rep = Events()
    root = Path(__import__("music21").__file__).parent / "corpus"
    piece = read_piece(root / piece_path)
    seq = np.asarray(rep.encode(piece), dtype=np.int64)
    starts = np.arange(len(seq) - window)
    windows = np.stack([seq[s : s + window + 1] for s in starts])  # (N, 31, 3)
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(len(windows))
    n_valid = len(windows) // 10
    cut = int(len(seq) * 0.9)
    splits = {
        "shuffled windows (seed)": (windows[shuffled[n_valid:]], windows[shuffled[:n_valid]]),
        "time (first 90% / last 10%)": (windows[starts + window + 1 <= cut],
                                        windows[starts >= cut]),
    }
    print(f"\nsingle piece {piece_path}: {len(seq)} messages, {len(windows)} windows of "
          f"{window}; seed preset, {steps} steps")
    print(HEADER)
    p = PRESETS["event_lstm"]["seed"]
    h = rep.heads
    for name, (train_w, valid_w) in splits.items():
        torch.manual_seed(0)
        model = EventLSTM(EventLSTMConfig(note_classes=h["note"], velocity_classes=h["velocity"],
                                          time_classes=h["time"], **p.model))
        cfg = dataclasses.replace(p.train, steps=steps, eval_every=steps, checkpoint_every=0,
                                  log_every=50, seq_len=window, device="cpu")
        with tempfile.TemporaryDirectory() as d:
            Trainer(model, rep, Windows(train_w, cfg.batch_size), Windows(valid_w, 1), cfg, d,
                    progress=False, tensorboard=False).fit()
        # scored on the message after each validation window (the seed's target)
        m = evaluate(model, _last_target(valid_w))
        print(row(f"{name}, {len(train_w)}/{len(valid_w)} windows", m))


def _last_target(windows: np.ndarray):
    w = torch.from_numpy(windows)
    targets = w[:, 1:].clone()
    targets[:, :-1] = IGNORE  # score only the message after the 30-message window
    return [{"inputs": w[i : i + 256, :-1], "targets": targets[i : i + 256]}
            for i in range(0, len(w), 256)]


def sampling_check() -> None:
    from tunesmith import families
    from tunesmith.corpora import load_piece_corpus
    from tunesmith.families.base import ComposeOptions
    from tunesmith.families.events import sample_messages
    from tunesmith.training.checkpoint import load_checkpoint

    ck = load_checkpoint(families.pretrained_dir("events"))
    rep = ck.representation
    print("\nshipped model, 16 pieces x 600 messages, seed 0")
    print("| sampling | notes | mean length (beats) | at the cap | offs naming a silent key |")
    print("|---|---:|---:|---:|---:|")
    for constrain in (False, True):
        msgs = sample_messages(ck.model, rep, ComposeOptions(num=16, max_len=600, seed=0,
                                                              constrain=constrain))
        durs, offs, wasted = [], 0, 0
        for m in msgs:
            durs += [n.end - n.start for n in rep.decode(m).notes]
            sounding = set()
            for note, velocity, _ in m:
                if note < 88 and velocity == 0:
                    offs += 1
                    wasted += note not in sounding
                    sounding.discard(note)
                elif note < 88:
                    sounding.add(note)
        d = np.asarray(durs)
        print(f"| {'constrained' if constrain else 'independent'} | {len(d):,} | {d.mean():.2f} "
              f"| {np.isclose(d, rep.max_note_beats).mean():.1%} | {wasted / max(offs, 1):.1%} |")
    c = load_piece_corpus("bach-chorales")
    d = np.asarray([n.end - n.start for p in c.pieces[:100] for n in rep.quantise(p).notes])
    print(f"| bach-chorales (100 pieces) | {len(d):,} | {d.mean():.2f} "
          f"| {np.isclose(d, rep.max_note_beats).mean():.1%} | |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--presets", default="seed,small")
    ap.add_argument("--skip-bach", action="store_true")
    ap.add_argument("--skip-piece", action="store_true")
    ap.add_argument("--skip-sampling", action="store_true")
    ap.add_argument("--piece", default="joplin/maple_leaf_rag.mxl")
    ap.add_argument("--steps", type=int, default=800)
    args = ap.parse_args()
    if not args.skip_bach:
        bach(Path(args.runs), args.presets.split(","))
    if not args.skip_piece:
        single_piece(args.piece, args.steps)
    if not args.skip_sampling:
        sampling_check()


if __name__ == "__main__":
    main()
