"""The gan family: MIDI / MusicXML / ABC corpora -> ``notes`` (a row of real values per
note) -> ``rnn_gan`` (C-RNN-GAN) -> MIDI, WAV and piano-roll PNG files.

A GAN writes a whole piece from noise: there is no distribution per step to sample with a
temperature, to search with beams or to take the argmax of, and no likelihood to
evaluate; ``compose`` asked for those says so in one line.
"""

from __future__ import annotations

import dataclasses

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
)
from tunesmith.families.events import (
    PieceData,
    items_of,
    load_corpus,
    prepare_pieces,
    publish,
    split_keys,
)

# A discriminator learns "real" from the training pieces: below this many pieces in a
# corpus it learns those pieces by heart and the generator copies them (and the corpus is
# too small to hold out validation pieces by piece: events/remi split it by time).
MIN_PIECES = 20
# A piece composed for --seconds is written this many notes a beat (Bach's chorales have
# 3.5 at the median; the shipped model wrote up to ~10 where it piles chords up, and at 8
# 8 of 20 pieces of 30 s fell short) and cut at its length; one still short is reported.
NOTES_PER_BEAT = 16
NOT_AUTOREGRESSIVE = ("beam", "length_penalty", "stochastic_beam", "mode", "temperature",
                      "top_k", "top_p", "gibbs_steps")


class GanFamily(Family):
    name = "gan"
    representation = "notes"
    default_model = "rnn_gan"
    pretrained = "bach-gan-small"
    default_corpus = "bach-chorales"
    data_options = PieceData
    controls = frozenset({"max_len", "seconds"})
    defaults = {"max_len": 200}
    unit = "notes"

    def compose_options(self, opts: ComposeOptions) -> ComposeOptions:
        """As every family's, and a one-line error for what only an autoregressive
        likelihood model can do (beam search, argmax, temperature...)."""
        blank = ComposeOptions()
        for name in NOT_AUTOREGRESSIVE:
            if getattr(opts, name) != getattr(blank, name):
                raise OptionError(name, "does not apply to the gan family: a GAN is not an "
                                  "autoregressive likelihood model (it writes a whole piece "
                                  "from noise; --num, --seed, --max-len and --seconds apply)")
        return super().compose_options(opts)

    # --- training --------------------------------------------------------------------------
    def prepare_data(self, corpus, data: PieceData, representation=None, progress=None,
                     log=_quiet) -> Prepared:
        """Ingest the corpus (every file kept or dropped, with the reason), each piece as
        note rows, split by piece; a new run on fewer than :data:`MIN_PIECES` pieces is an
        error (the discriminator would learn its pieces by heart)."""
        from tunesmith.representations.notes import NoteFeatures

        if data.split == "time":
            raise OptionError("split", "time does not apply to the gan family: its "
                              "discriminator is judged on held-out pieces (use piece)")
        new_run = representation is None
        prepared = prepare_pieces(self, corpus, dataclasses.replace(data, split="piece"),
                                  NoteFeatures, representation, progress, log,
                                  dtype=np.float32)
        n = len(prepared.corpus.pieces)
        if new_run and n < MIN_PIECES:
            raise TunesmithError(f"has {n} usable piece(s); the gan family needs at least "
                                 f"{MIN_PIECES} (a discriminator trained on fewer learns "
                                 "them by heart); the events family trains on a small "
                                 "corpus", corpus)
        return prepared

    def model_sizes(self, representation) -> dict:
        return {"features": representation.features}

    def batches(self, prepared: Prepared, cfg, data: PieceData = PieceData()):
        """Training windows of ``seq_len`` notes inside single pieces (transposed by up to
        ``data.transpose`` semitones); validation: the held-out pieces in windows."""
        from tunesmith.data.notes import NoteBlocks, NoteWindows

        corpus = prepared.info.get("corpus")
        valid = NoteBlocks(prepared.sequences["valid"], cfg.seq_len,
                           max_items=cfg.eval_max_items)
        if not len(valid):
            raise TunesmithError(f"no held-out piece has {cfg.seq_len} notes, the window the "
                                 "model is scored on", corpus)
        try:
            train = NoteWindows(prepared.sequences["train"], cfg.seq_len, cfg.batch_size,
                                seed=cfg.seed, transpose=data.transpose)
        except ValueError as e:
            raise TunesmithError(str(e), corpus) from None
        return train, valid

    def corpus_items(self, corpus, data: PieceData, representation, progress=None,
                     log=_quiet) -> dict[str, list[CorpusItem]]:
        """The corpus's pieces per split, each as the note rows keep it (decoded again)."""
        c = load_corpus(corpus, data, progress)
        pieces = [representation.quantise(p) for p in c.pieces]
        return items_of(self, c.keys, pieces, split_keys(c.keys, "piece"))

    # --- composing -------------------------------------------------------------------------
    def piece_steps(self, opts: ComposeOptions, representation) -> int:
        """Notes per piece, at most: ``max_len``, or for ``seconds``
        :data:`NOTES_PER_BEAT` a beat at the decoding tempo."""
        if opts.seconds is None:
            return opts.max_len
        return max(1, int(representation.beats_for_seconds(opts.seconds) * NOTES_PER_BEAT))

    def compose(self, checkpoint, opts: ComposeOptions, sink: Sink | None = None,
                log=_quiet, progress=None, start: int = 1) -> list[Composition]:
        """Write ``opts.num`` pieces from noise (the seed decides the noise); with
        ``seconds``, each written long enough and cut at that length (notes still sounding
        there end with it)."""
        from tunesmith.sampling.endings import cut

        rep = checkpoint.representation
        opts = self.compose_options(opts)
        rows = generate_rows(checkpoint.model, opts.num, self.piece_steps(opts, rep),
                             opts.seed)
        pieces = [rep.decode(r) for r in rows]
        if opts.seconds is not None:
            beats = rep.beats_for_seconds(opts.seconds)
            pieces = [cut(p, beats) for p in pieces]
            short = [i for i, p in enumerate(pieces, start) if p.end_beat < beats - 1.0]
            if short:
                log(f"{len(short)} piece(s) end before {opts.seconds:g} s (their "
                    f"{NOTES_PER_BEAT * beats:.0f} notes were written sooner): "
                    f"{', '.join(map(str, short[:10]))}", "warning")
        return publish(pieces, sink, start)


def generate_rows(model, num: int, length: int, seed: int | None,
                  batch: int = 256) -> list[np.ndarray]:
    """``num`` generated pieces of ``length`` rows, in batches of ``batch``; the same
    seed writes the same pieces."""
    import torch

    g = torch.Generator()
    if seed is None:
        g.seed()
    else:
        g.manual_seed(seed)
    out = []
    for i in range(0, num, batch):
        rows = model.generate(min(batch, num - i), length, generator=g)
        out.extend(r for r in rows.float().cpu().numpy())
    return out


__all__ = ["GanFamily", "MIN_PIECES", "generate_rows"]
