"""The piano-roll family: 88-key binary frames on a fixed time grid -> an RNN-RBM,
LSTM-RBM, RNN-NADE or LSTM-with-Bernoulli-outputs model -> MIDI, WAV and piano-roll PNG.

A corpus is a built-in or user MIDI / MusicXML corpus (ingested as for the events family,
then put on a grid of ``--steps-per-beat`` frames per quarter note), or a file in the
Boulanger-Lewandowski (2012) benchmark format (``.json``, or the original ``.pickle``
read by a restricted unpickler), which brings its own canonical train/valid/test split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tunesmith.errors import TunesmithError
from tunesmith.families.events import _stderr, load_corpus  # noqa: F401  (load_corpus: `prepare`)

MODEL = "rnn_nade"  # the default architecture (--arch)
MODELS = ("rnn_nade", "rnn_rbm", "bernoulli_rnn")
REPRESENTATION = "pianoroll"
PRETRAINED = "bach-pianoroll-small"
DEFAULT_CORPUS = "bach-chorales"  # the same as the events family's (primers come from it)



@dataclass
class Prepared:
    representation: object
    sequences: dict[str, list[np.ndarray]]  # split -> piano rolls, each (T, 88) uint8
    info: dict
    corpus: object = None  # the PieceCorpus (ingest report), None for a benchmark file


def data_options(args) -> dict:
    from tunesmith.families import events

    out = events.data_options(args)
    spb = getattr(args, "steps_per_beat", None)
    if spb is not None and not 1 <= spb <= 48:
        raise TunesmithError(f"--steps-per-beat must be between 1 and 48, got {spb}")
    out["steps_per_beat"] = spb  # None: the benchmark file's own grid, or 2 (eighths)
    return out


def prepare_data(corpus: str, representation=None, report=_stderr, programs: str = "all",
                 min_seconds: float = 2.0, max_seconds: float = 3600.0, split: str = "auto",
                 transpose: int = 0, steps_per_beat: int | None = None,
                 progress: bool = True) -> Prepared:
    """Piano rolls per split, from a benchmark file (its own split) or from pieces (split
    by piece, as for the events family)."""
    from tunesmith.io.boulanger import dataset_for, frames_summary, is_boulanger_file
    from tunesmith.representations.pianoroll import PianoRoll

    if is_boulanger_file(corpus):
        from tunesmith.io.boulanger import read_boulanger

        ignored = [flag for flag, value, default in (
            ("--programs", programs, "all"), ("--min-seconds", min_seconds, 2.0),
            ("--max-seconds", max_seconds, 3600.0), ("--split", split, "auto"))
            if value != default]
        if ignored:
            raise TunesmithError(f"{ignored[0]} does not apply to a benchmark file (its "
                                 "frames and its train/valid/test split are fixed)", corpus)
        known = dataset_for(corpus)
        if known and steps_per_beat and steps_per_beat != known.steps_per_beat:
            raise TunesmithError(f"--steps-per-beat {steps_per_beat}: {known.name} has "
                                 f"{known.steps_per_beat} frame(s) per quarter note", corpus)
        splits = read_boulanger(corpus)
        if representation is None:
            representation = PianoRoll(steps_per_beat=steps_per_beat or (
                known.steps_per_beat if known else 2))
        summary = frames_summary(splits)
        info = {"corpus": str(corpus), "tunes": {s: v["sequences"] for s, v in summary.items()},
                "tokens": {s: v["frames"] for s, v in summary.items()},
                "skipped": 0, "split": "benchmark", "unit": "frames"}
        return Prepared(representation, splits, info)
    from tunesmith.families.events import report_dropped, split_sequences

    c = load_corpus(corpus, programs, min_seconds, max_seconds, progress)
    dropped = report_dropped(c, report)
    if representation is None:
        representation = PianoRoll(steps_per_beat=steps_per_beat or 2)
    rolls = [representation.encode(p) for p in c.pieces]
    keep = [i for i, r in enumerate(rolls) if len(r) >= 2]
    splits, mode = split_sequences([c.keys[i] for i in keep], [rolls[i] for i in keep], split)
    info = {"corpus": corpus, "tunes": {s: len(v) for s, v in splits.items()},
            "tokens": {s: int(sum(len(x) for x in v)) for s, v in splits.items()},
            "skipped": len(dropped), "split": mode, "unit": "frames"}
    return Prepared(representation, splits, info, corpus=c)


def model_sizes(representation) -> dict:
    return {"n_visible": representation.heads["frame"]}


def init_model(model, prepared: Prepared) -> None:
    """Start a new model's static key biases at the log-odds of each key's rate in the
    training frames (the usual RBM start, Hinton 2010, section 8.1): at a random start
    every key begins at p = 0.5 against a real rate of ~5%, and the first thousands of
    steps are spent pushing 88 biases down. Keys never played get the rate of one frame
    in all the training frames, not -inf."""
    rolls = prepared.sequences["train"]
    frames = sum(len(r) for r in rolls)
    if not frames:
        return
    on = sum(np.asarray(r, dtype=np.float64).sum(0) for r in rolls)
    rate = np.clip(on / frames, 1.0 / frames, 1 - 1.0 / frames)
    model.start_key_biases(torch.as_tensor(np.log(rate / (1 - rate)), dtype=torch.float32))


def batches(prepared: Prepared, cfg, transpose: int = 0, **_):
    """Random training windows of ``seq_len`` frames (transposed when ``transpose`` > 0);
    validation over whole sequences, each from its first frame."""
    from tunesmith.data.frames import FrameBatches, FrameWindows

    train = FrameWindows(prepared.sequences["train"], cfg.seq_len, cfg.batch_size,
                         seed=cfg.seed, transpose=transpose)
    valid = FrameBatches(prepared.sequences["valid"], max_items=cfg.eval_max_items)
    return train, valid


# --- composing -------------------------------------------------------------------------

@dataclass
class ComposeOptions:
    num: int = 4
    max_len: int = 128  # frames per piece (after the primer)
    seconds: float | None = None  # length in seconds instead
    primer: str = ""  # a MIDI / MusicXML file, or "corpus" (a random piece of DEFAULT_CORPUS)
    primer_len: int = 16  # frames taken from the primer
    mode: str = "sample"  # sample | argmax (keep the most probable key of each frame)
    gibbs_steps: int | None = None  # RBM models: Gibbs steps per frame (default: the model's)
    seed: int | None = None
    wav: bool = True
    png: bool = True
    soundfont: str | None = None


def primer_frames(rep, opts: ComposeOptions, seed: int | None):
    if not opts.primer:
        return None
    from tunesmith.families.events import primer_piece

    piece = primer_piece(opts.primer, seed)
    frames = rep.encode(piece)
    first = np.flatnonzero(frames.any(-1))
    if not len(first):
        raise TunesmithError("primer has no notes on the piano range", opts.primer)
    return frames[first[0] : first[0] + opts.primer_len]  # from its first note


def compose(checkpoint, opts: ComposeOptions, out_dir: Path, log=_stderr):
    """Sample pieces frame by frame; write each as .mid (and .wav / .png)."""
    from tunesmith.families.output import write_pieces
    from tunesmith.sampling.frames import MODES, sample_frames

    if opts.mode not in MODES:
        raise TunesmithError(f"--mode must be one of {', '.join(MODES)}, not {opts.mode!r}")
    if opts.gibbs_steps is not None and opts.gibbs_steps < 1:
        raise TunesmithError(f"--gibbs-steps must be >= 1, got {opts.gibbs_steps}")
    rep, model = checkpoint.representation, checkpoint.model
    if opts.gibbs_steps is not None and not hasattr(model, "gibbs"):
        raise TunesmithError(f"--gibbs-steps is for RBM models; this one is {model.family}")
    steps = opts.max_len
    if opts.seconds is not None:
        steps = max(1, round(rep.beats_for_seconds(opts.seconds) * rep.steps_per_beat))
    primer = primer_frames(rep, opts, opts.seed)
    rolls = sample_frames(model, primer, num=opts.num, steps=steps, mode=opts.mode,
                          gibbs_steps=opts.gibbs_steps, seed=opts.seed,
                          device=next(model.parameters()).device)
    return write_pieces([rep.decode(roll) for roll in rolls], out_dir, opts, log)
