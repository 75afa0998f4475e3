"""A model whose steps read inputs beside the ids, as the shared sampler sees it.

Some representations give each step more than its id: ``abc_chars`` with ``positions``
gives where the text so far stands in its bar and section. Those inputs depend on every
id before them, so the sampler cannot know them ahead; :class:`WithInputs` computes them
as the ids arrive, one reader per sequence (the representation's ``input_reader()``),
and hands the model rows ``(id, input 1, ...)`` (``(note, velocity, time, input 1, ...)``
for a model of several heads). To the sampler and to beam search it is
a model like any other: ``init_state``, ``step``, ``prime``, ``select_state`` (which
copies the readers of the rows it keeps: a reader has ``copy()``), and the model's declarations.

``repeat_bias`` W (a representation with a lookback, whose ``copy`` input is the id an
earlier bar offers next): the offered token's logit is raised by W, so the sampler draws
from the model's distribution tilted towards it, p'(x) = p(x) e^(W [x = offered]) / Z
(exactly; at temperature T the sampler divides the raised logits by T, as it does the
rest). Beam search reads the same tilted scores.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def with_inputs(model, representation, repeat_bias: float = 0.0,
                new_reader: Callable[[], Callable[[int], tuple[int, ...]]] | None = None):
    """``model`` wrapped to read ``representation``'s inputs (itself when there are
    none), its draws tilted towards what the lookback offers by ``repeat_bias``.
    ``new_reader``: makes each row's reader (default ``representation.input_reader``;
    one that gives each row what it should know, such as a tune's length)."""
    inputs = list(getattr(representation, "inputs", None) or ())
    if repeat_bias and "copy" not in inputs:
        raise ValueError("repeat_bias needs a representation with a lookback (a copy input)")
    if not inputs:
        return model
    return WithInputs(model, new_reader or representation.input_reader,
                      inputs.index("copy") - len(inputs) if repeat_bias else None, repeat_bias)


class WithInputs:
    def __init__(self, model, new_reader: Callable[[], Callable[[int], tuple[int, ...]]],
                 offer_column: int | None = None, repeat_bias: float = 0.0):
        self.model = model
        self.new_reader = new_reader
        # the offered id's column in a row (counted from its end), and W
        self.offer_column, self.repeat_bias = offer_column, repeat_bias

    def __getattr__(self, name):  # declarations, parameters(), config ...
        return getattr(self.model, name)

    def init_state(self, batch_size: int):
        return self.model.init_state(batch_size), [self.new_reader() for _ in range(batch_size)]

    def _rows(self, ids: torch.Tensor, readers) -> torch.Tensor:
        """ids (B, K) -> (B, K + F): each row's ids and the inputs after reading them (a
        reader reads a row's id, or the K ids of a message, e.g. ``events``)."""
        one = ids.shape[1] == 1
        read = [(*row, *reader(row[0] if one else row))
                for row, reader in zip(ids.tolist(), readers, strict=True)]
        return torch.tensor(read, dtype=torch.long, device=ids.device)

    def _tilt(self, logits: dict, rows: torch.Tensor) -> dict:
        """``logits`` with each row's offered id (``rows`` (B, K + F), the inputs read
        with the step these logits follow) raised by the repeat bias."""
        if self.offer_column is None:
            return logits
        (head, x), = logits.items()  # a model with a lookback has one head
        offered = rows[:, self.offer_column]
        hit = torch.nonzero(offered < x.shape[-1]).flatten()
        x = x.clone()
        x[hit, offered[hit]] += self.repeat_bias
        return {head: x}

    def step(self, ids: torch.Tensor, state):
        inner, readers = state
        rows = self._rows(ids, readers)
        logits, inner = self.model.step(rows, inner)
        return self._tilt(logits, rows), (inner, readers)

    def prime(self, inputs: torch.Tensor, lengths: torch.Tensor, state):
        inner, readers = state
        rows = torch.zeros(*inputs.shape[:2], 0, dtype=torch.long, device=inputs.device)
        steps = [self._rows(inputs[:, t], readers) for t in range(inputs.shape[1])]
        if steps:
            rows = torch.stack(steps, 1)  # (B, P, K + F); reading past a row's length:
        # ids there are padding, which a reader skips, and the model stops at ``lengths``
        logits, inner = self.model.prime(rows, lengths, inner)
        if steps:  # each row's offer after its own last primer id
            last = rows[torch.arange(rows.shape[0]), lengths.to(rows.device).long() - 1]
            logits = self._tilt(logits, last)
        return logits, (inner, readers)

    def select_state(self, state, rows: torch.Tensor):
        inner, readers = state
        return (self.model.select_state(inner, rows),
                [readers[r].copy() for r in rows.tolist()])
