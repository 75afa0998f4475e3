"""What several representations share."""

from __future__ import annotations

from dataclasses import dataclass


class FixedTempo:
    """For representations that decode at one tempo (``self.qpm``, quarter notes per
    minute) and whose ``decode(encode(piece))`` is what they keep of a piece."""

    def quantise(self, piece):
        """What the representation keeps of ``piece``: ``decode(encode(piece))``."""
        return self.decode(self.encode(piece))

    def beats_for_seconds(self, seconds: float) -> float:
        """Beats in ``seconds`` at the decoding tempo."""
        return seconds * self.qpm / 60.0


@dataclass(frozen=True)
class Positions:
    """Where each step of an encoded piece falls in the music, as the representation
    knows it: ``time`` (one float per step, in ``unit``: ``"beat"`` = quarter notes from
    the start, ``"bar"`` = bar number plus the step's share of its bar) and ``bars`` (the
    0-based bar of each step; -1 before the first bar, e.g. an ABC header). Pictures label
    their axes with these (``tunesmith attention``)."""

    time: tuple[float, ...]
    bars: tuple[int, ...]
    unit: str


def beat_positions(times, beats_per_bar: float) -> Positions:
    """Positions of steps at ``times`` (beats from the start), bars of ``beats_per_bar``."""
    per_bar = beats_per_bar if beats_per_bar > 0 else 4.0
    return Positions(tuple(float(t) for t in times),
                     tuple(int(t // per_bar + 1e-9) for t in times), "beat")
