"""Representation ``remi_phrases``: a piece's ``remi`` tokens cut into (source bars, target
bars) pairs, with the piece's style label, for a model that continues a phrase
(``seq2seq`` in the ``continue-remi`` family).

Contract (beside :class:`~tunesmith.representations.remi.Remi`'s, whose tokens, grid,
encoding and decoding it keeps; none of its extra inputs):
- ``styles``: ``{"style": ("any", "bach", "classical", ...)}``, label 0 ``any`` = none
  given; ``style_ids`` / ``parse_style`` as for the other phrase representations
  (:class:`~tunesmith.representations.style_labels.StyleLabelled`).
- ``split_piece(piece)`` -> (its tokens without ``BOS`` / ``EOS``, the index of each
  ``Bar`` token): REMI writes its bars, so a bar is its ``Bar`` token and what follows up
  to the next one (its ``TimeSig``, positions and notes). A note belongs to the bar it
  starts in and carries its own duration, so a source and its target joined are the
  piece's tokens exactly, and no note is cut at the join. ``pairs(piece)`` cuts them as
  :class:`~tunesmith.representations.bar_pairs.BarPairs` does (every window compose reads).
- ``openings``: the first ``source_bars`` bars of a few held-out pieces (tokens), to
  continue when no primer is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from tunesmith.music import Piece
from tunesmith.representations.bar_pairs import BarPairs
from tunesmith.representations.remi import _INPUT_FLAGS, BAR, BOS, EOS, PITCH, TIMESIG, Remi
from tunesmith.representations.style_labels import StyleLabelled, check_styles


@dataclass(frozen=True)
class RemiPhrases(StyleLabelled, BarPairs, Remi):
    name: str = "remi_phrases"
    styles: dict = field(default_factory=dict)  # set -> (ANY, label, ...)
    source_bars: int = 4
    target_bars: int = 2
    openings: tuple = ()  # held-out pieces' first bars, as token tuples

    @cached_property
    def bar(self) -> int:
        """The id of the ``Bar`` token."""
        return self.vocab.index("Bar_None")

    def bar_cuts(self, tokens) -> list[int]:
        """The index of each ``Bar`` token of ``tokens``."""
        kinds = self.kinds()
        ids = np.asarray(tokens, dtype=np.int64)
        known = (ids >= 0) & (ids < len(kinds))
        return np.flatnonzero(known & (kinds[np.where(known, ids, 0)] == BAR)).tolist()

    def split_piece(self, piece: Piece) -> tuple[list[int], list[int]]:
        """The piece's tokens (without BOS/EOS) and :meth:`bar_cuts` of them."""
        tokens = self.encode(piece)[1:-1]
        return tokens, self.bar_cuts(tokens)

    def last_bars(self, tokens, bars: int) -> list[int]:
        """The tokens of the last ``bars`` bars of ``tokens`` (all of them when they hold
        no more bars)."""
        cuts = self.bar_cuts(tokens)
        return list(tokens[cuts[-bars]:]) if len(cuts) > bars else list(tokens)

    def clock(self, tokens) -> tuple[float, float, list[float]]:
        """(whole beats of rest :meth:`decode` trims before the first note of ``tokens``,
        where their last bar ends, where each of their bars starts), in the tokens' own
        time: quarter notes from their first ``Bar``."""
        from tunesmith.representations.remi import _Walk

        walk, first, kinds = _Walk(self, tokens), None, self.kinds()
        for i in tokens:
            walk.step(int(i))
            if first is None and kinds[int(i)] == PITCH:
                first = walk.now
        return (float(np.floor((first or 0.0) + 1e-6)), walk.bar_start + walk.length,
                list(walk.starts))

    def last_meter(self, tokens) -> int | None:
        """The id of the last ``TimeSig`` token of ``tokens`` (None without one)."""
        kinds = self.kinds()
        return next((int(i) for i in reversed(tokens) if kinds[int(i)] == TIMESIG), None)

    def has_notes(self, tokens) -> bool:
        kinds = self.kinds()
        return any(0 <= int(i) < len(kinds) and kinds[int(i)] == PITCH for i in tokens)

    def encode_source(self, tokens) -> list[int]:
        """A phrase as the encoder reads it: ``[BOS] + tokens + [EOS]``."""
        return [BOS, *map(int, tokens), EOS]

    # --- serialisation
    def to_dict(self) -> dict:
        return super().to_dict() | {
            "name": self.name, "styles": {k: list(v) for k, v in self.styles.items()},
            "source_bars": self.source_bars, "target_bars": self.target_bars,
            "openings": [list(map(int, o)) for o in self.openings]}

    @classmethod
    def from_dict(cls, d: dict) -> RemiPhrases:
        if not isinstance(d, dict) or d.get("name") != "remi_phrases":
            raise ValueError("not a remi_phrases representation")
        if any(d.get(flag) for flag in _INPUT_FLAGS):
            raise ValueError("remi_phrases representation: a phrase model reads no extra "
                             "inputs")
        base = Remi.from_dict(d | {"name": "remi"})  # the tokenizer rebuilt and checked
        styles = check_styles(d.get("styles"), "remi_phrases")
        bars = [d.get("source_bars"), d.get("target_bars")]
        if not all(isinstance(b, int) and not isinstance(b, bool) and 1 <= b <= 64
                   for b in bars):
            raise ValueError("remi_phrases representation: source_bars and target_bars "
                             "must be whole numbers from 1 to 64")
        openings, size = d.get("openings", []), len(base.vocab)
        if not isinstance(openings, list) or not all(
                isinstance(o, list) and all(isinstance(i, int) and not isinstance(i, bool)
                                            and 0 < i < size and i not in (BOS, EOS)
                                            for i in o) for o in openings):
            raise ValueError("remi_phrases representation: openings must be lists of token "
                             "ids of its vocabulary")
        return cls(positions_per_beat=base.positions_per_beat,
                   max_duration=base.max_duration, velocity_bins=base.velocity_bins,
                   meters=base.meters, qpm=base.qpm, styles=styles, source_bars=bars[0],
                   target_bars=bars[1], openings=tuple(tuple(o) for o in openings))
