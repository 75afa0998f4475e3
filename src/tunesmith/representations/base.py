"""What several representations share."""

from __future__ import annotations


class FixedTempo:
    """For representations that decode at one tempo (``self.qpm``, quarter notes per
    minute) and whose ``decode(encode(piece))`` is what they keep of a piece."""

    def quantise(self, piece):
        """What the representation keeps of ``piece``: ``decode(encode(piece))``."""
        return self.decode(self.encode(piece))

    def beats_for_seconds(self, seconds: float) -> float:
        """Beats in ``seconds`` at the decoding tempo."""
        return seconds * self.qpm / 60.0
