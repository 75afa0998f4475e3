"""The piano-roll family: 88-key binary frames on a fixed time grid -> an RNN-RBM,
LSTM-RBM, RNN-NADE or LSTM-with-Bernoulli-outputs model -> MIDI, WAV and piano-roll PNG.

A corpus is a built-in or user MIDI / MusicXML corpus (ingested as for the events family,
then put on a grid of ``steps_per_beat`` frames per quarter note), or a file in the
Boulanger-Lewandowski (2012) benchmark format (``.json``, or the original ``.pickle``
read by a restricted unpickler), which brings its own canonical train/valid/test split.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from tunesmith.errors import OptionError, TunesmithError
from tunesmith.families.base import (
    ComposeOptions,
    Composition,
    CorpusItem,
    Family,
    Prepared,
    Sink,
    _quiet,
    repeat_bias,
)
from tunesmith.families.events import (
    PieceData,
    items_of,
    load_corpus,
    primer_piece,
    primer_piece_to_keep,
    publish,
    report_dropped,
    split_keys,
    split_sequences,
)
from tunesmith.lookback import LOOKBACK_HELP
from tunesmith.options import opt
from tunesmith.progress import StepCounter

# compose's --repeat-bias for a model that reads a lookback: of W = 0, 2, 3, 4, 5 on
# bach-chorales (benchmarks/RESULTS.md, "A lookback over frames"), 4 brought the most
# features of the musical report into the real-vs-real band, the repeats among them
REPEAT_BIAS = 4.0


@dataclass(frozen=True)
class PianorollData(PieceData):
    steps_per_beat: int | None = opt(None, "frames per quarter note (default: a benchmark "
                                     "file's own grid, else 2 = eighth notes)")
    positions: bool = opt(False, "the model also reads where each step stands (each frame's "
                          "place in its bar)")
    phrases: bool = opt(False, "the model also reads where the phrases end (piano roll: the "
                        "fermatas a score marks, e.g. bach-chorales; compose plans one "
                        "every two bars)")
    lookback: bool = opt(False, LOOKBACK_HELP)

    def __post_init__(self):
        super().__post_init__()
        if self.steps_per_beat is not None and not 1 <= self.steps_per_beat <= 48:
            raise OptionError("steps_per_beat", f"must be between 1 and 48, got "
                              f"{self.steps_per_beat}")
        if self.lookback and not self.positions:
            raise OptionError("lookback", "needs --positions (a piano roll's lookback finds "
                              "its bars from the beat input)")


def check_frames(piece, rep, where) -> None:
    """The roll of ``piece`` must fit the ``frames`` budget: checked before it is made
    (a 60-byte file with one absurdly long note asked for 99,999,999 x 88 bytes)."""
    from tunesmith.io.limits import limits

    limits().check("frames", piece.end_beat * rep.steps_per_beat,
                   "frames in the piano roll", where)


class PianorollFamily(Family):
    name = "pianoroll"
    representation = "pianoroll"
    default_model = "rnn_nade"
    pretrained = "bach-pianoroll-small"
    default_corpus = "bach-chorales"  # the same as the events family's (primers come from it)
    data_options = PianorollData
    controls = frozenset({"max_len", "seconds", "grace", "primer", "primer_len", "mode",
                          "gibbs_steps", "repeat_bias"})
    defaults = {"max_len": 128, "primer_len": 16}
    repeat_bias_default = REPEAT_BIAS
    unit = "frames"

    def primer_piece_of(self, checkpoint, opts: ComposeOptions):
        return primer_piece_to_keep(self, checkpoint, opts)

    def prepare_data(self, corpus, data: PianorollData, representation=None, progress=None,
                     log=_quiet) -> Prepared:
        """Piano rolls per split, from a benchmark file (its own split) or from pieces
        (split by piece, as for the events family)."""
        from tunesmith.io.boulanger import is_boulanger_file
        from tunesmith.representations.pianoroll import PianoRoll

        if is_boulanger_file(corpus):
            return self._benchmark_file(corpus, data, representation)
        c = load_corpus(corpus, data, progress)
        dropped = report_dropped(c, log)
        if representation is None:
            representation = PianoRoll(steps_per_beat=data.steps_per_beat or 2,
                                       beat_inputs=data.positions, phrase_inputs=data.phrases,
                                       lookback_inputs=data.lookback)
        if representation.phrase_inputs and not any(p.fermatas for p in c.pieces):
            raise OptionError("phrases", f"needs fermatas, and no piece of {corpus} marks "
                              "one (MIDI files cannot; scores such as bach-chorales do)")
        fits = []
        for i, (key, p) in enumerate(zip(c.keys, c.pieces, strict=True)):
            try:
                check_frames(p, representation, key)
                fits.append(i)
            except TunesmithError as e:
                log(f"dropped: {e}", "warning")
        rolls = {i: representation.with_inputs(representation.encode(c.pieces[i]),
                                               c.pieces[i]) for i in fits}
        keep = [i for i, r in rolls.items() if len(r) >= 2]
        splits, mode = split_sequences([c.keys[i] for i in keep], [rolls[i] for i in keep],
                                       data.split)
        info = {"corpus": corpus, "tunes": {s: len(v) for s, v in splits.items()},
                "tokens": {s: int(sum(len(x) for x in v)) for s, v in splits.items()},
                "skipped": len(dropped), "split": mode, "unit": self.unit}
        return Prepared(representation, splits, info, corpus=c)

    def _benchmark_file(self, corpus, data: PianorollData, representation) -> Prepared:
        from tunesmith.io.boulanger import dataset_for, frames_summary, read_boulanger
        from tunesmith.representations.pianoroll import PianoRoll

        plain = PieceData()
        ignored = [f.name for f in dataclasses.fields(PieceData)
                   if f.name != "transpose" and getattr(data, f.name) != getattr(plain, f.name)]
        ignored += [name for name in ("positions", "phrases", "lookback")
                    if getattr(data, name)]
        if ignored:
            raise OptionError(ignored[0], f"does not apply to a benchmark file ({corpus}: its "
                              "frames and its train/valid/test split are fixed)")
        if getattr(representation, "inputs", None):
            raise OptionError("corpus", f"{corpus} is a benchmark file, with neither bars "
                              "nor fermatas: this model reads them (--positions, --phrases, "
                              "--lookback)")
        known = dataset_for(corpus)
        spb = data.steps_per_beat
        if known and representation is not None and (
                representation.steps_per_beat != known.steps_per_beat):
            raise OptionError("corpus", f"{corpus} is {known.name}, {known.steps_per_beat} "
                              "frame(s) per quarter note; this model reads "
                              f"{representation.steps_per_beat}: its likelihood there would "
                              "score another grid")
        if known and spb and spb != known.steps_per_beat:
            raise OptionError("steps_per_beat", f"{spb}: {known.name} has "
                              f"{known.steps_per_beat} frame(s) per quarter note ({corpus})")
        splits = read_boulanger(corpus)
        if representation is None:
            representation = PianoRoll(steps_per_beat=spb or (
                known.steps_per_beat if known else 2))
        summary = frames_summary(splits)
        info = {"corpus": str(corpus), "tunes": {s: v["sequences"] for s, v in summary.items()},
                "tokens": {s: v["frames"] for s, v in summary.items()},
                "skipped": 0, "split": "benchmark", "unit": self.unit}
        return Prepared(representation, splits, info)

    def model_sizes(self, representation) -> dict:
        return {"n_visible": representation.heads["frame"],
                "inputs": getattr(representation, "inputs", {}),
                "proposal_keys": getattr(representation, "proposal_keys", 0)}

    def init_model(self, model, prepared: Prepared) -> None:
        """Start a new model's static key biases at the log-odds of each key's rate in the
        training frames (the usual RBM start, Hinton 2010, section 8.1): at a random start
        every key begins at p = 0.5 against a real rate of ~5%, and the first thousands of
        steps are spent pushing 88 biases down. Keys never played get the rate of one frame
        in all the training frames, not -inf (keys always on: all but one frame, not
        +inf). With fewer than two frames that bound is 1/2: a one-frame split starts every
        key at p = 0.5, as a random start does, with finite biases."""
        import torch

        keys = model.config.n_visible  # the columns after them are inputs
        rolls = prepared.sequences["train"]
        frames = sum(len(r) for r in rolls)
        if not frames:
            return
        on = sum(np.asarray(r, dtype=np.float64)[:, :keys].sum(0) for r in rolls)
        edge = 1.0 / max(frames, 2)  # [1/frames, 1 - 1/frames] is empty for one frame
        rate = np.clip(on / frames, edge, 1 - edge)
        model.start_key_biases(torch.as_tensor(np.log(rate / (1 - rate)), dtype=torch.float32))

    def batches(self, prepared: Prepared, cfg, data: PianorollData = PianorollData()):
        """Random training windows of ``seq_len`` frames (transposed when
        ``data.transpose`` > 0); validation over whole sequences, each from its first
        frame."""
        from tunesmith.data.frames import FrameBatches, FrameWindows

        keys = prepared.representation.heads["frame"]  # more columns: the inputs
        train = FrameWindows(prepared.sequences["train"], cfg.seq_len, cfg.batch_size,
                             seed=cfg.seed, transpose=data.transpose, n_visible=keys,
                             proposal_keys=getattr(prepared.representation,
                                                   "proposal_keys", 0))
        valid = FrameBatches(prepared.sequences["valid"], max_items=cfg.eval_max_items,
                             n_visible=keys)
        return train, valid

    def corpus_items(self, corpus, data: PianorollData, representation, progress=None,
                     log=_quiet) -> dict[str, list[CorpusItem]]:
        """The corpus's pieces per split, each as its frames keep it (decoded again); a
        benchmark file's own split."""
        from tunesmith.io.boulanger import is_boulanger_file, read_boulanger

        if is_boulanger_file(corpus):
            splits = read_boulanger(corpus)
            labels, pieces, idx = [], [], {}
            for split, rolls in splits.items():
                idx[split] = list(range(len(pieces), len(pieces) + len(rolls)))
                labels += [f"{split}#{i}" for i in range(len(rolls))]
                pieces += [representation.decode(r) for r in rolls]
            return items_of(self, labels, pieces, idx)
        c = load_corpus(corpus, data, progress)
        pieces = [representation.quantise(p) for p in c.pieces]
        return items_of(self, c.keys, pieces, split_keys(c.keys, data.split))

    def piece_steps(self, opts: ComposeOptions, representation) -> int:
        """Frames per piece (the primer's and the grace's included)."""
        return (self._steps(opts, representation) + opts.primer_len
                + self._grace_frames(opts, representation))

    @staticmethod
    def _steps(opts: ComposeOptions, rep) -> int:
        if opts.seconds is None:
            return opts.max_len
        return max(1, round(rep.beats_for_seconds(opts.seconds) * rep.steps_per_beat))

    @staticmethod
    def _grace_frames(opts: ComposeOptions, rep) -> int:
        return round(opts.grace * rep.steps_per_beat)

    def compose(self, checkpoint, opts: ComposeOptions, sink: Sink | None = None,
                log=_quiet, progress=None, start: int = 1) -> list[Composition]:
        """Sample pieces frame by frame, ``grace`` beats more than asked, each ended at a
        cadence in them (:func:`tunesmith.sampling.endings.finish`)."""
        from tunesmith.sampling.endings import finish_all, redraw_options
        from tunesmith.sampling.frames import sample_drawn

        rep, model = checkpoint.representation, checkpoint.model
        if opts.gibbs_steps is not None and not model.gibbs_sampling:
            raise OptionError("gibbs_steps", f"is for RBM models; this one is {model.family}")
        bias = self.repeat_bias_of(opts, rep, model)
        steps = self._steps(opts, rep)
        primer, bar, lead = self.primer_frames(rep, opts, self.own_corpus(checkpoint, opts.primer))
        if opts.seconds is not None and primer is not None:  # the whole piece, as for events
            from tunesmith.sampling.endings import check_primer_fits

            check_primer_fits(opts.seconds, len(primer) / rep.steps_per_beat, rep)
            steps = max(1, steps - len(primer))
        grace, device = self._grace_frames(opts, rep), next(model.parameters()).device
        plan = self.inputs_plan(rep, primer, steps + grace, bar)
        keys = rep.heads["frame"]
        primer = None if primer is None else primer[:, :keys]
        reader = self.warm_reader(rep, lead)
        common = dict(mode=opts.mode, gibbs_steps=opts.gibbs_steps, device=device,
                      inputs=plan, reader=reader, repeat_bias=bias)
        counter = StepCounter(progress, "sampling", self.unit, total=steps + grace)
        rolls, drawn = sample_drawn(model, primer, num=opts.num, steps=steps + grace,
                                    seed=opts.seed, on_step=counter, **common)
        counter.close()
        frames = steps + (0 if primer is None else len(primer))

        def redraw(i: int, n: int):
            """``n`` new endings of piece ``i``: its grace frames sampled again, after the
            frames the model drew (in argmax mode, the full frames it read on from)."""
            again = redraw_options(opts, i, n)
            ends = sample_drawn(model, drawn[i][:frames], num=n, steps=grace,
                                seed=again.seed, **common)[0]
            return [rep.decode(np.concatenate([rolls[i][:frames], r[frames:]])) for r in ends]

        pieces = finish_all([rep.decode(r) for r in rolls], frames / rep.steps_per_beat,
                            opts.grace, redraw if grace else None)
        return publish(pieces, sink, start)

    @staticmethod
    def warm_reader(rep, lead: np.ndarray | None):
        """The representation's reader of the inputs that depend on the frames (None
        without them), having read ``lead`` (frames with their inputs): what comes before
        a primer's first note, which training's inputs saw too."""
        reader = rep.frame_reader()
        keys = rep.heads["frame"]
        for row in () if reader is None or lead is None else lead:
            reader.fill(row[keys:].copy())
            reader.feed(row[:keys])
        return reader

    def repeat_bias_of(self, opts: ComposeOptions, rep, model=None) -> float:
        """The tilt towards the frame an earlier bar offers (``--repeat-bias``): the one
        asked for, else :data:`REPEAT_BIAS` for a model that reads a lookback and gives a
        frame's probability, else 0."""
        exact = hasattr(model, "frame_log_prob")
        if opts.repeat_bias and not exact and getattr(rep, "lookback_inputs", False):
            raise OptionError("repeat_bias", f"needs a frame's probability, which "
                              f"{model.family} does not give (an RBM's needs its partition "
                              "function)")
        return repeat_bias(opts, rep, self.repeat_bias_default if exact else 0.0)

    def encoded(self, piece, representation):
        """The frames (their size checked before they are made; with the representation's
        inputs, from the piece's bars and fermatas, as more columns) and their
        positions."""
        check_frames(piece, representation, piece.title or "the piece")
        frames, positions = super().encoded(piece, representation)
        return representation.with_inputs(frames, piece), positions

    @staticmethod
    def inputs_plan(rep, primer, steps: int, beats_per_bar: float = 4.0):
        """The inputs of every frame to compose (None for a representation without
        them): the primer's own (its columns past the keys), then the plan's, going on
        from them (:meth:`PianoRoll.follow`: bars of ``beats_per_bar``, the fermata the
        primer's last frame counts down to, then a phrase every two bars)."""
        if not getattr(rep, "inputs", None):
            return None
        keys = rep.heads["frame"]
        width = getattr(rep, "input_width", len(rep.inputs))
        own = np.zeros((0, width), np.uint8) if primer is None else primer[:, keys:]
        return np.concatenate([own, rep.follow(own, steps, beats_per_bar)], 0)

    def primer_frames(self, rep, opts: ComposeOptions, corpus: str | None = None):
        """The primer's first ``primer_len`` frames from its first note (with the
        representation's inputs as more columns), or None; the length in beats of its
        bars where those frames end (4 without a time signature); and the frames before
        its first note, with their inputs (None without a primer)."""
        from tunesmith.evaluation.form import bar_length

        if not opts.primer:
            return None, 4.0, None
        piece = primer_piece(opts.primer, opts.seed, corpus or self.default_corpus)
        check_frames(piece, rep, opts.primer)
        frames = rep.with_inputs(rep.encode(piece), piece)
        first = np.flatnonzero(frames[:, : rep.heads["frame"]].any(-1))
        if not len(first):
            raise TunesmithError("primer has no notes on the piano range", opts.primer)
        end = (first[0] + opts.primer_len) / rep.steps_per_beat
        sigs = [s for s in sorted(piece.time_signatures, key=lambda s: s.beat)
                if s.beat < end and bar_length(s) > 0]
        return frames[first[0] : first[0] + opts.primer_len], (  # from its first note
            bar_length(sigs[-1]) if sigs else 4.0), frames[: first[0]]
