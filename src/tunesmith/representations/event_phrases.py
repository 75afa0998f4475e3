"""Representation ``event_phrases``: a piece's ``events`` messages cut into (source bars,
target bars) pairs, with the piece's style label, for a model that continues a phrase
(``seq2seq`` in the ``continue-events`` family).

Contract (beside :class:`~tunesmith.representations.events.Events`', whose messages,
heads and decoding it keeps):
- ``styles``: ``{"style": ("any", "bach", "classical", ...)}`` (the sub-folder or the
  ``label=`` of each piece's corpus, :mod:`tunesmith.corpora.labelled`), label 0 ``any``
  = none given; ``style_ids`` / ``parse_style`` as for ABC phrases
  (:class:`~tunesmith.representations.style_labels.StyleLabelled`).
- ``bar_starts(piece)``: where the piece's bars start, in beats: its written bar lines
  (MusicXML, ABC: a pickup stays a pickup), else those its time signatures imply, else
  bars of 4 beats. ``pairs(piece)`` cuts its messages at those bars: a source of
  ``source_bars`` bars from bar 0, ``target_bars``, 2 x ``target_bars``, ... (every window
  compose reads, as it writes in steps of ``target_bars``:
  :class:`~tunesmith.representations.bar_pairs.BarPairs`); its target the next
  ``target_bars`` bars (a message belongs to the bar its time falls in; at a
  bar line the note-offs of the notes it ends come first, so they start the next bar).
  A message's time is the gap since the message before it, so a target's first message
  keeps its gap from the source's last: source and target joined are the piece's
  messages exactly.
- ``openings``: the first ``source_bars`` bars of a few held-out pieces (messages), to
  continue when no primer is given, and ``opening_grid``: where the bar after each
  starts and how long its bars are (the grid its continuation is written on).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tunesmith.music import Piece
from tunesmith.representations.bar_pairs import BarPairs
from tunesmith.representations.events import BOS, EOS, Events
from tunesmith.representations.style_labels import StyleLabelled, check_styles

DEFAULT_BAR_BEATS = 4.0  # a piece with neither bar lines nor a time signature


@dataclass(frozen=True)
class EventPhrases(StyleLabelled, BarPairs, Events):
    name: str = "event_phrases"
    styles: dict = field(default_factory=dict)  # set -> (ANY, label, ...)
    source_bars: int = 4
    target_bars: int = 2
    openings: tuple = ()  # held-out pieces' first bars, as message lists
    # each opening's bars: (beats per bar after it, the start of each of its bars..., the
    # start of the bar after it), in the opening's own time (``times``)
    opening_grid: tuple = ()

    @property
    def empty_source(self) -> list[list[int]]:
        """The encoded phrase with nothing in it: a start and an end message."""
        return [self.bos, self.eos_message]

    @property
    def eos_message(self) -> list[int]:
        return [EOS, 0, 0]

    @property
    def bar_tolerance(self) -> float:
        """A message this close before a bar line is in the bar it starts: the quantiser
        moves an event by up to half the finest time bin (legato playing puts the
        downbeat's note-on a 24th early)."""
        return self.time_bins[1] / 2

    # --- bars
    @staticmethod
    def bar_starts(piece: Piece) -> np.ndarray:
        """The start of each of the piece's bars and the end of the last, in beats (bar
        ``i`` spans ``[i]`` to ``[i + 1]``): written bars (MusicXML, ABC; a MIDI file
        keeps none, so its pickup is not seen), else the time signatures', else
        :data:`DEFAULT_BAR_BEATS` beats each."""
        from tunesmith.evaluation.form import bar_bounds, beat_bounds

        bounds = bar_bounds(piece)
        if bounds is None:
            bounds = beat_bounds(piece, DEFAULT_BAR_BEATS)
        return np.zeros(1) if bounds is None else np.asarray(bounds, dtype=float)

    @staticmethod
    def bar_length(starts) -> float:
        """The usual length of the bars ``starts`` bound: their median (4 without)."""
        lengths = np.diff(np.asarray(starts, dtype=float))
        bar = float(np.median(lengths)) if len(lengths) else DEFAULT_BAR_BEATS
        return bar if bar > 0 else DEFAULT_BAR_BEATS

    def times(self, messages) -> np.ndarray:
        """The time (beats from the start) of each message: its gaps summed."""
        classes = np.asarray(messages, dtype=np.int64).reshape(-1, 3)[:, 2]
        bins = np.asarray(self.time_bins)
        return np.cumsum(bins[np.clip(classes, 0, len(bins) - 1)])

    def first_at(self, messages, beat: float) -> int:
        """The index of the first message of ``messages`` in the bar that starts at
        ``beat`` or later (:attr:`bar_tolerance`)."""
        return self._firsts(messages, [beat])[0]

    def bar_cuts(self, messages, starts) -> list[int]:
        """The index of the first message of each bar of ``starts`` (bar starts in
        beats) in ``messages`` (without BOS/EOS): bar ``i`` is ``messages[cuts[i]:
        cuts[i + 1]]``, the last bar running to the end."""
        return self._firsts(messages, np.asarray(starts)[:-1])

    def _firsts(self, messages, beats) -> list[int]:
        """For each of ``beats``, the index of the first message at it or later, less
        the bar tolerance."""
        at = np.asarray(beats, dtype=float) - self.bar_tolerance + 1e-9
        return np.searchsorted(self.times(messages), at, side="left").tolist()

    def split_piece(self, piece: Piece) -> tuple[list[list[int]], list[int]]:
        """The piece's messages (without BOS/EOS) and :meth:`bar_cuts` of its bars."""
        messages = self.encode(piece)[1:-1]
        return messages, self.bar_cuts(messages, self.bar_starts(piece))

    def encode_source(self, messages) -> list[list[int]]:
        """A phrase as the encoder reads it: ``[BOS] + messages + [EOS]``."""
        return [self.bos, *map(list, messages), self.eos_message]

    # --- serialisation
    def to_dict(self) -> dict:
        return super().to_dict() | {
            "name": self.name, "styles": {k: list(v) for k, v in self.styles.items()},
            "source_bars": self.source_bars, "target_bars": self.target_bars,
            "openings": [[list(map(int, m)) for m in o] for o in self.openings],
            "opening_grid": [list(map(float, g)) for g in self.opening_grid]}

    @classmethod
    def from_dict(cls, d: dict) -> EventPhrases:
        if not isinstance(d, dict) or d.get("name") != "event_phrases":
            raise ValueError("not an event_phrases representation")
        base = Events.from_dict(d | {"name": "events"})  # the messages' table, checked
        styles = check_styles(d.get("styles"), "event_phrases")
        bars = [d.get("source_bars"), d.get("target_bars")]
        if not all(isinstance(b, int) and 1 <= b <= 64 for b in bars):
            raise ValueError("event_phrases representation: source_bars and target_bars "
                             "must be whole numbers from 1 to 64")
        openings = d.get("openings", [])
        heads = list(base.heads.values())
        if not isinstance(openings, list) or not all(
                isinstance(o, list) and all(
                    isinstance(m, list) and len(m) == 3
                    and all(isinstance(x, int) and 0 <= x < h for x, h in zip(m, heads,
                                                                               strict=True))
                    and m[0] not in (BOS, EOS) for m in o) for o in openings):
            raise ValueError("event_phrases representation: openings must be lists of "
                             "messages (note, velocity, time ids)")
        grid = d.get("opening_grid", [])
        if not isinstance(grid, list) or len(grid) != len(openings) or not all(
                isinstance(g, list) and len(g) >= 2 + bars[0]
                and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                        and 0 <= x < 1e6 for x in g) and g[0] > 0 for g in grid):
            raise ValueError("event_phrases representation: opening_grid must give each "
                             "opening (beats per bar > 0, its bar starts)")
        return cls(time_bins=base.time_bins, velocity_bins=base.velocity_bins, qpm=base.qpm,
                   max_note_beats=base.max_note_beats, styles=styles,
                   source_bars=bars[0], target_bars=bars[1],
                   openings=tuple(tuple(tuple(m) for m in o) for o in openings),
                   opening_grid=tuple(tuple(map(float, g)) for g in grid))
