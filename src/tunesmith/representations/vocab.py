"""A token vocabulary that is deterministic (sorted, no hash order) and saved as JSON."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)


@dataclass(frozen=True)
class Vocab:
    """Specials first (pad=0, bos=1, eos=2, unk=3), then symbols in sorted order."""

    symbols: tuple[str, ...]

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1) -> Vocab:
        counts = Counter()
        for t in texts:
            counts.update(t)
        kept = sorted(s for s, c in counts.items() if c >= min_count and s not in SPECIALS)
        return cls(SPECIALS + tuple(kept))

    def __post_init__(self):
        check_symbols(self.symbols)
        object.__setattr__(self, "_index", {s: i for i, s in enumerate(self.symbols)})

    @classmethod
    def from_list(cls, symbols) -> Vocab:
        """A saved vocabulary (:meth:`to_list`), checked: a list of strings, the specials
        at their indices, then distinct single characters, at least one of them.
        ValueError otherwise (a damaged checkpoint)."""
        if not isinstance(symbols, list):
            raise ValueError(f"vocabulary is {type(symbols).__name__}, not a list")
        vocab = cls(tuple(symbols))
        if len(symbols) == len(SPECIALS):
            raise ValueError("vocabulary holds no symbol besides the specials")
        return vocab

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._index

    def id(self, symbol: str) -> int:
        return self._index.get(symbol, self._index[UNK])

    @property
    def pad(self) -> int:
        return 0

    @property
    def bos(self) -> int:
        return 1

    @property
    def eos(self) -> int:
        return 2

    @property
    def unk(self) -> int:
        return 3

    def to_list(self) -> list[str]:
        return list(self.symbols)


def check_symbols(symbols) -> None:
    """The rules of a vocabulary: the specials first, at the indices :class:`Vocab` gives
    them (pad 0, bos 1, eos 2, unk 3), then distinct symbols of exactly one character
    each. ValueError naming the first broken rule."""
    if not all(isinstance(s, str) for s in symbols):
        bad = next(i for i, s in enumerate(symbols) if not isinstance(s, str))
        raise ValueError(f"vocabulary symbol {bad} is {symbols[bad]!r}, not a string")
    for i, special in enumerate(SPECIALS):
        if i >= len(symbols) or symbols[i] != special:
            found = repr(symbols[i]) if i < len(symbols) else "missing"
            raise ValueError(f"vocabulary symbol {i} must be {special!r}, found {found}")
    seen: dict[str, int] = {}
    for i, s in enumerate(symbols[len(SPECIALS):], start=len(SPECIALS)):
        if len(s) != 1:
            raise ValueError(f"vocabulary symbol {i} is {s[:20]!r}: symbols after the "
                             "specials are single characters")
        if s in seen:
            raise ValueError(f"vocabulary symbol {i} is {s!r}, a duplicate of symbol "
                             f"{seen[s]}")
        seen[s] = i
