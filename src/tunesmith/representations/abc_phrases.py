"""Representation ``abc_phrases``: ABC characters cut into (source bars, target bars) pairs,
with the tune's style labels, for a model that continues a phrase (``seq2seq``).

Contract (beside :class:`~tunesmith.representations.abc_chars.AbcChars`'s, whose
vocabulary and text round trip it keeps):
- ``styles``: the label sets and their labels, ``{"tradition": ("any", "irish", ...),
  "tune_type": ("any", "reel", ...)}``; label 0 of each set, ``any``, means "no label
  given" (the model is trained with labels hidden now and then, so it can continue a
  phrase without one).
- ``style_ids(tradition, tune_type)`` -> one id per set; :meth:`parse_style` reads a
  user's ``--style`` (a label of either set, or both as ``tradition,type``).
- ``cuts(text)`` -> the offsets after each written bar of a tune's music (its bar lines
  included), and ``header_end(text)``: where the music starts. A source is the header and
  ``source_bars`` bars, its target the next ``target_bars`` bars (:meth:`pairs`); joined,
  the first pair is the tune's start exactly.
- ``openings``: the header and first bars of a few held-out tunes, kept so that a model
  can continue something without a primer (training samples, ``compose`` without
  ``--primer``).
- ``meters``: the training tunes' ``M:`` fields and how many tunes had each;
  :meth:`unseen_meter` warns about a primer in a meter the model (almost) never saw.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from tunesmith.representations.abc_chars import AbcChars
from tunesmith.representations.style_labels import ANY, StyleLabelled, check_styles
from tunesmith.representations.vocab import Vocab

RARE_METER = 10  # a primer in a meter fewer training tunes had is warned about
STYLE_SETS = ("tradition", "tune_type")
_ENDING = re.compile(r"[\[|]\s*(\d)")  # an ending's number after its bar line: |1 [2 :|2
MIN_PART_BARS = 2  # a part of a tune (parts()) has at least this many bars
MAX_PART_BARS = 16  # the bars of a part a source keeps (part_pairs(); an A part: ~8-9)


@dataclass(frozen=True)
class AbcPhrases(StyleLabelled, AbcChars):
    name: str = "abc_phrases"
    styles: dict = field(default_factory=dict)  # set -> (ANY, label, ...)
    source_bars: int = 4
    target_bars: int = 4
    openings: tuple = ()  # held-out tunes' first bars: what compose continues by default
    # the training tunes' meters (the M: field as written) and how many tunes had each;
    # empty for a model trained before they were kept (nothing to warn from)
    meters: dict = field(default_factory=dict)

    @classmethod
    def fit_phrases(cls, texts: Iterable[str], labels: dict[str, Iterable[str]],
                    min_count: int = 1, source_bars: int = 4,
                    target_bars: int = 4, copies: Iterable[str] = (),
                    canonical_keys: bool = False) -> AbcPhrases:
        """The vocabulary of ``texts`` and ``copies`` (more training texts: transposed
        copies of ``texts``, whose meters are not counted again), the meters of
        ``texts``, and the label sets seen in ``labels`` (set -> the labels of the
        training tunes)."""
        texts = list(texts)
        styles = {k: (ANY, *sorted(set(v) - {ANY})) for k, v in labels.items()}
        meters: dict[str, int] = {}
        for t in texts:
            m = meter_of(t)
            meters[m] = meters.get(m, 0) + 1
        return cls(Vocab.build([*texts, *copies], min_count=min_count), styles=styles,
                   source_bars=source_bars, target_bars=target_bars,
                   meters=dict(sorted(meters.items(), key=lambda kv: (-kv[1], kv[0]))),
                   canonical_keys=canonical_keys)

    def unseen_meter(self, text: str) -> str | None:
        """A warning when the tune ``text`` is in a meter the model saw in fewer than
        :data:`RARE_METER` training tunes (None when it saw enough, or keeps no meters)."""
        if not self.meters:
            return None
        m = meter_of(text)
        seen = self.meters.get(m, 0)
        if seen >= RARE_METER:
            return None
        common = ", ".join(list(self.meters)[:6])
        return (f"the model saw {seen} training tune{'s' * (seen != 1)} in M:{m} (its "
                f"meters: {common}, ...); it may not keep this one")

    # --- cutting a tune at its bar lines
    @staticmethod
    def header_end(text: str) -> int:
        """The offset after the ``K:`` line (0 when there is none)."""
        at = 0
        for line in text.splitlines(keepends=True):
            at += len(line)
            if line.startswith("K:"):
                return at
        return 0

    @staticmethod
    def cuts(text: str) -> list[int]:
        """The offsets after each written bar of ``text`` (the bar line that closes it
        included), in order; a last bar without a bar line ends at the text's end."""
        from tunesmith.abc_meter import bars

        out = []
        for b in bars(text):
            end = b.end + len(b.closes)
            if not out or end > out[-1]:
                out.append(end)
        return out

    def pairs(self, text: str) -> list[tuple[str, str, bool]]:
        """``(source, target, ends)`` for each place of a tune: the header and
        ``source_bars`` bars from bar 0, ``source_bars``, 2 x ``source_bars``, ...; the
        target the next ``target_bars`` bars; ``ends`` when the target is the tune's last
        bars (the model learns to end there)."""
        head, cuts = self.header_end(text), self.cuts(text)
        if head == 0:
            return []
        starts = [head] + cuts
        out = []
        n, m = self.source_bars, self.target_bars
        for s in range(0, len(cuts) - n, n):
            src = text[:head] + text[starts[s]:starts[s + n]].lstrip("\n")
            stop = min(s + n + m, len(cuts))
            ends = stop == len(cuts)  # the last target keeps what follows its bar line
            out.append((src, text[starts[s + n]:None if ends else starts[stop]], ends))
        return out

    @staticmethod
    def parts(text: str) -> list[tuple[int, int]]:
        """The parts of a tune that its repeat signs mark, as ranges ``(first, stop)`` of
        its written bars (indices of :meth:`cuts`), in order; ``[]`` for a tune with
        fewer than two (no repeat signs, or one repeated section). A part ends at a bar
        line that closes a repeat (``:|``, ``::``, ``:|:``) or, after a first ending, at
        the end of the second ending (the bar line that closes a section, ``|]``,
        ``||``, ``:|``, ``|:``, or the end of its line, or as many bars as the first
        ending had); at a bar line that opens a repeat (``|:``) when at least
        :data:`MIN_PART_BARS` bars of the part come before it (not after a pickup).
        A part of fewer than :data:`MIN_PART_BARS` bars joins the one before it."""
        return _parts(text, _written_bars(text))

    def part_pairs(self, text: str) -> list[tuple[str, str, bool]]:
        """``(source, target, ends)`` from each part of a tune whose repeat signs mark
        its parts (:meth:`parts`) to the next: the header and the part's bars (its last
        :data:`MAX_PART_BARS`), the next part's first ``target_bars`` bars (``ends`` as
        in :meth:`pairs`); none that :meth:`pairs` has already (a part of
        ``source_bars`` bars where one of its sources starts)."""
        head = self.header_end(text)
        if head == 0:
            return []
        found = _written_bars(text)
        n = self.source_bars
        starts = [head] + [b.end + len(b.closes) for b in found]  # as cuts() has them
        parts = _parts(text, found)
        out = []
        for (a, b), (c, _) in zip(parts, parts[1:], strict=False):
            if b - a == n and a % n == 0:
                continue  # pairs() has it
            a = max(a, b - MAX_PART_BARS)
            src = text[:head] + text[starts[a]:starts[b]].lstrip("\n")
            stop = min(c + self.target_bars, len(found))
            ends = stop == len(found)
            out.append((src, text[starts[c]:None if ends else starts[stop]], ends))
        return out

    # --- serialisation
    def to_dict(self) -> dict:
        return {"name": self.name, "vocab": self.vocab.to_list(),
                "styles": {k: list(v) for k, v in self.styles.items()},
                "source_bars": self.source_bars, "target_bars": self.target_bars,
                "openings": list(self.openings), "meters": dict(self.meters)} | (
                    {"canonical_keys": True} if self.canonical_keys else {})

    @classmethod
    def from_dict(cls, d: dict) -> AbcPhrases:
        if not isinstance(d, dict) or d.get("name") != "abc_phrases":
            raise ValueError("not an abc_phrases representation")
        styles = check_styles(d.get("styles"), "abc_phrases")
        bars = [d.get("source_bars"), d.get("target_bars")]
        if not all(isinstance(b, int) and 1 <= b <= 64 for b in bars):
            raise ValueError("abc_phrases representation: source_bars and target_bars must "
                             "be whole numbers from 1 to 64")
        openings = d.get("openings", [])
        if not isinstance(openings, list) or not all(isinstance(x, str) for x in openings):
            raise ValueError("abc_phrases representation: openings must be a list of texts")
        meters = d.get("meters", {})
        if not isinstance(meters, dict) or not all(
                isinstance(k, str) and isinstance(n, int) and n > 0 for k, n in meters.items()):
            raise ValueError("abc_phrases representation: meters must map an M: field to "
                             "its count of tunes")
        if not isinstance(d.get("canonical_keys", False), bool):
            raise ValueError("abc_phrases representation: canonical_keys must be true or "
                             "false")
        return cls(Vocab.from_list(d.get("vocab", [])),
                   styles=styles,
                   source_bars=bars[0], target_bars=bars[1], openings=tuple(openings),
                   meters=dict(meters), canonical_keys=d.get("canonical_keys", False))


def meter_of(text: str) -> str:
    """The tune's ``M:`` field as written (the first one; ``none`` without one)."""
    from tunesmith.abc_text import read_header

    return read_header(text).get("M") or "none"


def bar_counter(rep: AbcPhrases, bars: int):
    """``until`` for the shared sampler: True for a row once it has written ``bars`` bar
    lines after music (the end of its ``bars``-th bar)."""
    import torch

    symbols = rep.vocab.symbols

    class Until:
        def __init__(self):
            self.count: list[int] | None = None
            self.music: list[bool] | None = None

        def __call__(self, ids: torch.Tensor) -> torch.Tensor:
            col = ids[:, 0].tolist()
            if self.count is None:
                self.count, self.music = [0] * len(col), [False] * len(col)
            done = []
            for k, i in enumerate(col):
                c = symbols[i] if 0 <= i < len(symbols) else ""
                if c == "|" and self.music[k]:
                    self.count[k] += 1
                    self.music[k] = False
                elif len(c) == 1 and c not in "|:[] \n":
                    self.music[k] = True
                done.append(self.count[k] >= bars)
            return torch.tensor(done)

        def select(self, rows: torch.Tensor) -> None:
            """Keep the counts of ``rows``, in that order (beam search reorders them)."""
            if self.count is not None:
                self.count = [self.count[r] for r in rows.tolist()]
                self.music = [self.music[r] for r in rows.tolist()]

    return Until()



def _written_bars(text: str) -> list:
    """The written bars of ``text`` (:func:`~tunesmith.abc_meter.bars`), one per offset of
    :meth:`AbcPhrases.cuts`."""
    from tunesmith.abc_meter import bars

    found = []
    for b in bars(text):
        if not found or b.end + len(b.closes) > found[-1].end + len(found[-1].closes):
            found.append(b)
    return found


def _parts(text: str, found: list) -> list[tuple[int, int]]:
    """:meth:`AbcPhrases.parts` of ``text``, whose written bars are ``found``."""
    bounds, first_at, first_len = [0], None, 0
    i = 0
    while i < len(found) - 1:
        sep = found[i + 1].opens  # the bar line(s) between bar i and the next
        closes = sep.lstrip().startswith(":") or ":|" in sep or "::" in sep
        number = _ENDING.search(sep)
        end = None
        if closes:
            first_len = i + 1 - first_at if first_at is not None else 0
            if number and number.group(1) != "1":  # a second ending follows: it ends
                end = i + 1  # the part
                while end < len(found) - 1 and not (
                        _section_line(found[end + 1].opens)
                        or "\n" in text[found[end].end:found[end + 1].start]
                        or (first_len and end - i >= first_len)):
                    end += 1
                end += 1
            else:
                end = i + 1
            first_at = None
        elif number and number.group(1) == "1":
            first_at = i + 1
        elif "|:" in sep and i + 1 - bounds[-1] >= MIN_PART_BARS:
            end = i + 1
        if end is not None:
            if end - bounds[-1] >= MIN_PART_BARS:
                bounds.append(end)
            elif len(bounds) > 1:  # too short for a part: the end of the one before
                bounds[-1] = end
            i = end
        else:
            i += 1
    if len(found) - bounds[-1] >= MIN_PART_BARS:
        bounds.append(len(found))
    elif len(bounds) > 1:
        bounds[-1] = len(found)
    parts = list(zip(bounds, bounds[1:], strict=False))
    return parts if len(parts) >= 2 else []


def _section_line(line: str) -> bool:
    """A bar line that closes a section: ``|]``, ``||``, ``:|``, ``|:``, ``::``."""
    return "]" in line or "||" in line or ":" in line
