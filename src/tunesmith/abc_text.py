"""ABC notation as text: tune books, header fields, and the text a model learns.

A tune book holds many tunes; a tune starts at a line beginning with ``X:`` and runs to
the next one (blank lines inside a tune are tolerated: we split on ``X:``, not on blank
lines). The header runs from ``X:`` to the first ``K:`` line.

This module only cuts and cleans text (no library does that in the shape we need:
music21's ABC handler parses whole tunes, it does not hand back the raw text of each).
It imports nothing but the standard library, so that representations can use it;
reading files and parsing notes with music21 live in :mod:`tunesmith.io.abc`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HEADER_FIELDS = ("X", "T", "M", "L", "K", "Q", "R")
# Header fields kept in the text a model learns, in this order. Titles, numbers, sources
# and notes are not music; dropping them keeps the vocabulary and the model small.
MODEL_HEADER = ("M", "L", "K")
# Info fields that may appear inside a tune body and change the music; other body fields
# (lyrics w:/W:, notes N:, part titles T:, ...) are dropped from the model text.
BODY_FIELDS = ("K", "M", "L", "P")

_FIELD_RE = re.compile(r"^([A-Za-z]):\s?(.*)$")
_KEY_VALUE_RE = re.compile(r"([A-G])([#b]?)\s*([A-Za-z]*)")
# a mode word (any prefix of three letters or more, in any case, as the ABC standard reads
# it) -> its short spelling
_MODES = {"major": "", "ionian": "", "minor": "m", "aeolian": "m", "dorian": "dor",
          "phrygian": "phr", "lydian": "lyd", "mixolydian": "mix", "locrian": "loc"}


@dataclass
class AbcTune:
    """One tune cut from a tune book."""

    text: str  # the tune's full text, from its X: line on
    fields: dict[str, str] = field(default_factory=dict)  # first value of each header field
    source: str = ""  # file it came from
    index: int = 0  # position in that file (0-based)

    @property
    def title(self) -> str:
        return self.fields.get("T", "")

    @property
    def label(self) -> str:
        """How to name this tune in a message: ``file.abc, tune 4 (X:12 'Title')``
        (counted from 1, as ``render --tune`` and ``--primer``'s tune are)."""
        x = self.fields.get("X", "?")
        t = f" {self.title!r}" if self.title else ""
        return f"{self.source}, tune {self.index + 1} (X:{x}{t})"


def split_tunes(text: str, source: str = "") -> list[AbcTune]:
    """Cut a tune book into tunes at each ``X:`` line (text before the first is ignored;
    a byte-order mark before the first ``X:`` too)."""
    tunes: list[AbcTune] = []
    current: list[str] | None = None
    for line in text.removeprefix("\ufeff").splitlines():
        if line.startswith("X:"):
            if current is not None:
                tunes.append(_make_tune(current, source, len(tunes)))
            current = [line]
        elif current is not None:
            current.append(line)
    if current is not None:
        tunes.append(_make_tune(current, source, len(tunes)))
    return tunes


def _make_tune(lines: list[str], source: str, index: int) -> AbcTune:
    text = "\n".join(lines).strip() + "\n"
    return AbcTune(text=text, fields=read_header(text), source=source, index=index)


def read_header(text: str) -> dict[str, str]:
    """The header fields (X, T, M, L, K, Q, R) of one tune: first value of each, stripped."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        m = _FIELD_RE.match(line.strip())
        if not m:
            continue
        key, value = m.group(1), m.group(2).split("%")[0].strip()
        if key in HEADER_FIELDS and key not in fields:
            fields[key] = value
        if key == "K":
            break
    return fields


def canonical_key(value: str) -> str:
    """A ``K:`` value in one spelling: ``D Major`` and ``Dmaj`` -> ``D``, ``A Dorian`` ->
    ``Ador``, ``E Minor`` -> ``Em``, ``F# mixolydian`` -> ``F#mix``. Corpora write a key
    either way (irish.abc: ``K:D Major``; music21's tunes mostly ``K:D``), and a model
    that learned one spelling reads the other as other characters; anything more than a
    tonic and a mode (explicit accidentals, a clef, ``none``) is left as it is."""
    m = _KEY_VALUE_RE.fullmatch(value.strip())
    if not m:
        return value
    mode = m.group(3).lower()
    if mode in ("", "m"):
        short = mode
    else:
        short = next((v for k, v in _MODES.items() if len(mode) >= 3 and k.startswith(mode)),
                     None)
        if short is None:
            return value
    return f"{m.group(1)}{m.group(2)}{short}"


def respell_keys(text: str) -> str:
    """Model text (or a primer as a model reads it) with every ``K:`` line in
    :func:`canonical_key`'s spelling. A representation fitted since keys had one spelling
    (``AbcChars.canonical_keys``) reads every text through it; a model trained before
    reads its keys as they were written, as it learned them."""
    return "\n".join(f"K:{canonical_key(line[2:])}" if line.startswith("K:") else line
                     for line in text.split("\n"))


def model_text(tune: AbcTune) -> str:
    """The text a model learns for ``tune``: ``M:``, ``L:``, ``K:`` header lines, then the
    body with comments, lyrics and non-musical fields removed.

    Raises :class:`ValueError` (with the reason) for a tune that has no ``K:`` line or no
    body, which the corpus loader reports and skips.
    """
    lines = tune.text.splitlines()
    k_at = next((i for i, ln in enumerate(lines) if ln.startswith("K:")), None)
    if k_at is None:
        raise ValueError("no K: (key) line ends the header")
    fields = tune.fields
    header = [f"{k}:{fields[k]}" for k in MODEL_HEADER if fields.get(k)]
    body = []
    for line in lines[k_at + 1 :]:
        line = _strip_comment(line).rstrip()
        if not line.strip():
            continue
        m = _FIELD_RE.match(line)
        if m:
            if m.group(1) not in BODY_FIELDS:
                continue
            line = f"{m.group(1)}:{m.group(2).strip()}"
        body.append(line)
    if not body:
        raise ValueError("no music after the K: line")
    return "\n".join(header + body) + "\n"


def primer_text(text: str) -> str:
    """A primer as a model reads it (:func:`model_text`'s form): where it opens with a
    header (after any comment or empty lines), the header lines a model learns (``M:``,
    ``L:``, ``K:``, in that order once ``K:`` ends the header) and no others (``X:``,
    ``T:``, ``R:`` ...), comments and empty lines left out, body fields as
    :func:`model_text` keeps them, music lines as they are. The last line, when the
    primer does not end with a newline, is kept as it is: the model goes on from it. Text
    that does not open with a field line is returned unchanged."""
    *lines, tail = text.split("\n")
    lines = [ln for ln in lines if _strip_comment(ln).strip()]
    if not _FIELD_RE.match((lines or [tail])[0].strip()):
        return text
    k_at = next((i for i, ln in enumerate(lines) if ln.strip().startswith("K:")), None)
    header = lines if k_at is None else lines[:k_at + 1]
    fields: dict[str, str] = {}
    for line in header:
        m = _FIELD_RE.match(_strip_comment(line).strip())
        if m and m.group(1) in MODEL_HEADER and m.group(1) not in fields:
            fields[m.group(1)] = m.group(2).strip()
    kept = [f"{k}:{fields[k]}" for k in MODEL_HEADER if fields.get(k)]
    body = lines[len(header):]
    if k_at is None:  # no K: yet: the model fields in the primer's own order, the music kept
        kept, body = [], lines
    for line in body:
        line = _strip_comment(line).rstrip()
        m = _FIELD_RE.match(line.strip())
        if m and (m.group(1) not in (MODEL_HEADER if k_at is None else BODY_FIELDS)):
            continue
        kept.append(f"{m.group(1)}:{m.group(2).strip()}" if m else line)
    return "".join(ln + "\n" for ln in kept) + tail


def _strip_comment(line: str) -> str:
    if line.startswith("%"):
        return ""
    # '%' starts a comment unless escaped as '\%'
    m = re.search(r"(?<!\\)%", line)
    return line[: m.start()] if m else line


def as_tune_book_entry(text: str, number: int = 1, title: str = "", fields: str = "") -> str:
    """Make model text a complete tune: prepend ``X:`` (and ``T:``, and ``fields``: header
    lines the model does not write, such as a primer's ``Q:``) so ABC tools accept it."""
    head = f"X:{number}\n" + (f"T:{title}\n" if title else "") + fields
    return head + text.rstrip("\n") + "\n"


def tempo_field(text: str) -> str:
    """The ``Q:`` line of the first header of ``text`` (a primer, an ABC file), as a header
    line for the tune composed from it (``"Q:1/4=80\n"``), or "": the models do not read
    or write ``Q:``, so a tune continuing a primer would play at abc2midi's default tempo,
    not at the primer's."""
    for line in text.split("\n"):
        field = _strip_comment(line).strip()
        if field.startswith("K:"):
            break
        m = _FIELD_RE.match(field)
        if m and m.group(1) == "Q" and m.group(2).strip():
            return f"Q:{m.group(2).strip()}\n"
    return ""
