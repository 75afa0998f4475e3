"""Lookback inputs: which symbol an earlier bar would have next.

Folk tunes and chorales repeat bars: of folk-abc's written bars, 18% repeat an earlier
one exactly, most often the bar 4 back (7%), 2 back (3%) or 8 back (2%). A character
LSTM of a few hundred units cannot see 4 bars (~60 characters) back well enough to copy
them, nor can a Transformer whose context holds 4 bars copy the bar 8 back: the shipped
models repeat 8% (ABC) and none (REMI) of their bars. Magenta's Lookback RNN (Waite,
2016) gives its melody LSTM the events of the bars 1 and 2 back, and whether the last
event repeated them, as inputs, so that copying is one step of the model's own choosing.
This is the same idea for any sequence of symbols in bars (ABC characters, REMI tokens):
after each symbol the model reads the symbol that the best matching earlier bar has next
(so the next symbol is a copy when the model wants one) and how many bars in a row that
earlier passage has already matched. No library offers it (Magenta's is TensorFlow code
over its own melody events), hence this module.

The representation says where bars close (ABC: its PositionReader; REMI: its Bar tokens;
piano rolls: the beat input) and which symbols belong to a bar (piano rolls: whole
frames, :class:`~tunesmith.representations.pianoroll.FrameLookback`).
"""

from __future__ import annotations

from collections.abc import Hashable

LOOKBACK_BARS = 16
# Bars back to prefer among the earlier bars that match the bar so far, most likely first
# (measured over folk-abc's written bars, see the module doc); then the nearest.
PREFERENCE = (4, 2, 8) + tuple(k for k in range(1, LOOKBACK_BARS + 1) if k not in (4, 2, 8))
RUN_CLASSES = 5  # 0-3 bars in a row that the chosen passage has matched (3: 3 or more), 4 none
END = "<end of bar>"  # the proposal when the chosen bar ends where this one stands
# the flag's help, for each family whose data options offer it (abc, remi, pianoroll)
LOOKBACK_HELP = ("the model also reads the character (remi: token; pianoroll: frame, with "
                 "--positions) that the best matching earlier bar has next, and how many "
                 "bars in a row that passage has matched (Magenta's Lookback RNN), so "
                 "repeating a bar is one step it can choose")


class Lookback:
    """Fed one symbol at a time (:meth:`feed`) and told when a bar closes
    (:meth:`close`), gives :meth:`proposal`, ``(next, run)``: ``next`` the symbol that the
    chosen earlier bar has after the bar so far (:data:`END` when that bar ends there),
    or None when no earlier bar of the last ``LOOKBACK_BARS`` starts as this one does;
    ``run`` how many bars just before this one also repeat the bars just before the
    chosen one (0-3; ``RUN_CLASSES - 1`` with no choice). Among the bars that match, the
    longest run wins, then :data:`PREFERENCE`."""

    def __init__(self):
        self.bars: list[tuple] = []
        self.current: list[Hashable] = []
        self.runs = [0] * (LOOKBACK_BARS + 1)  # runs[k]: bars in a row equal to k back
        self.alive: list[int] = []  # the k whose bar k back starts as the current one

    def copy(self) -> Lookback:
        new = Lookback.__new__(Lookback)
        new.bars, new.current = self.bars, list(self.current)  # bars: replaced, never changed
        new.runs, new.alive = list(self.runs), list(self.alive)
        return new

    def feed(self, symbol: Hashable) -> None:
        n = len(self.current)
        self.current.append(symbol)
        self.alive = [k for k in self.alive
                      if len(self.bars[-k]) > n and self.bars[-k][n] == symbol]

    def unfeed(self) -> None:
        """Take the last symbol back (ABC: it began an info field line, not music)."""
        self.current.pop()
        n, cur = len(self.current), tuple(self.current)
        self.alive = [k for k in PREFERENCE if k <= len(self.bars) and self.bars[-k][:n] == cur]

    def close(self) -> None:
        """The bar so far is closed (nothing happens when it holds no symbol)."""
        if not self.current:
            return
        self.bars = (self.bars + [tuple(self.current)])[-(LOOKBACK_BARS + 1):]
        self.current = []
        n = len(self.bars)
        for k in range(1, LOOKBACK_BARS + 1):
            same = n > k and self.bars[-1] == self.bars[-1 - k]
            self.runs[k] = self.runs[k] + 1 if same else 0
        self.alive = [k for k in PREFERENCE if k <= n]

    def proposal(self) -> tuple[Hashable | None, int]:
        if not self.alive:
            return None, RUN_CLASSES - 1
        best = max(self.alive, key=lambda k: self.runs[k])  # max keeps the first of a tie
        ref, n = self.bars[-best], len(self.current)
        return (ref[n] if n < len(ref) else END), min(self.runs[best], 3)

    def classes(self, size: int, to_id=int, started: bool = True) -> tuple[int, int]:
        """:meth:`proposal` as a model's two input classes, over a vocabulary of ``size``
        symbols: ``(copy, run)`` with ``copy`` the offered symbol's id (``to_id``), or
        ``size`` for none, ``size + 1`` for :data:`END`, ``size + 2`` before the music
        starts (``started`` False: the header, before the first bar)."""
        nxt, run = self.proposal()
        if not started:
            return size + 2, run
        return (size if nxt is None else size + 1 if nxt is END else to_id(nxt)), run
