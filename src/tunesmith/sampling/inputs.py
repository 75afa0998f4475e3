"""A model whose steps read inputs beside the ids, as the shared sampler sees it.

Some representations give each step more than its id: ``abc_chars`` with ``positions``
gives where the text so far stands in its bar and section. Those inputs depend on every
id before them, so the sampler cannot know them ahead; :class:`WithInputs` computes them
as the ids arrive, one reader per sequence (the representation's ``input_reader()``),
and hands the model rows ``(id, input 1, ...)`` (``(note, velocity, time, input 1, ...)``
for a model of several heads). To the sampler and to beam search it is
a model like any other: ``init_state``, ``step``, ``prime``, ``select_state`` (which
copies the readers of the rows it keeps: a reader has ``copy()``), and the model's declarations.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def with_inputs(model, representation):
    """``model`` wrapped to read ``representation``'s inputs (itself when there are
    none)."""
    if not getattr(representation, "inputs", None):
        return model
    return WithInputs(model, representation.input_reader)


class WithInputs:
    def __init__(self, model, new_reader: Callable[[], Callable[[int], tuple[int, ...]]]):
        self.model = model
        self.new_reader = new_reader

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

    def step(self, ids: torch.Tensor, state):
        inner, readers = state
        logits, inner = self.model.step(self._rows(ids, readers), inner)
        return logits, (inner, readers)

    def prime(self, inputs: torch.Tensor, lengths: torch.Tensor, state):
        inner, readers = state
        rows = torch.zeros(*inputs.shape[:2], 0, dtype=torch.long, device=inputs.device)
        steps = [self._rows(inputs[:, t], readers) for t in range(inputs.shape[1])]
        if steps:
            rows = torch.stack(steps, 1)  # (B, P, K + F); reading past a row's length:
        # ids there are padding, which a reader skips, and the model stops at ``lengths``
        logits, inner = self.model.prime(rows, lengths, inner)
        return logits, (inner, readers)

    def select_state(self, state, rows: torch.Tensor):
        inner, readers = state
        return (self.model.select_state(inner, rows),
                [readers[r].copy() for r in rows.tolist()])
