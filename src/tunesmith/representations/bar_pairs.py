"""Pairs of (source bars, target bars) cut from a piece's steps at its bar lines: what the
representations of the MIDI continue families share (``event_phrases``, ``remi_phrases``).

A representation that mixes in :class:`BarPairs` has ``source_bars``, ``target_bars`` and
``split_piece(piece) -> (steps, cuts)``: the piece's steps (messages, tokens; no start or
end marker) and the index of the first step of each bar.
"""

from __future__ import annotations


class BarPairs:
    source_bars: int
    target_bars: int

    def windows(self, cuts: list[int], total: int) -> list[tuple[int, int, int, int, bool]]:
        """The places compose writes at, as training reads them: ``(s, lo, hi, end,
        ends)`` for a source of bars ``s .. s + source_bars`` (steps ``lo:hi``) and
        its target, the next ``target_bars`` bars (steps ``hi:end``), ``ends`` when
        the target is the piece's last bars; ``s`` = 0, ``target_bars``, ... ."""
        n, m, bars = self.source_bars, self.target_bars, len(cuts)
        at = list(cuts) + [total]
        return [(s, at[s], at[s + n], at[min(s + n + m, bars)], s + n + m >= bars)
                for s in range(0, bars - n, m)]

    def pairs(self, piece) -> list[tuple[list, list, bool]]:
        """``(source, target, ends)`` step lists for each place of the piece (a place
        whose source or target holds no step is left out)."""
        steps, cuts = self.split_piece(piece)
        return [(steps[lo:hi], steps[hi:end], ends)
                for _, lo, hi, end, ends in self.windows(cuts, len(steps))
                if lo < hi < end]
