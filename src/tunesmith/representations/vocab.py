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
        object.__setattr__(self, "_index", {s: i for i, s in enumerate(self.symbols)})

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
