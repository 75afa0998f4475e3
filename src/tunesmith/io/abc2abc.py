"""abc2abc (Debian/Ubuntu package ``abcmidi``, beside abc2midi), the ABC toolkit's
rewriter, used to transpose tunes: ``abc2abc book.abc -t N`` moves every note, chord
symbol and ``K:`` field of every tune by N semitones (``K:D`` -> ``K:Emaj``).

:func:`transposed_copies` hands back model text (:func:`~tunesmith.abc_text.model_text`,
as the corpus loader makes it), one abc2abc run per book of up to :data:`BOOK_TUNES`
tunes and per shift. abc2abc also rewrites some spellings as it goes (``A//`` ->
``A/4``, runs of spaces -> one space, ``|[1`` -> ``| [1``); a tune whose text abc2abc
does not give back unchanged (runs of spaces aside) when it transposes it by 0 is not
copied, so that a copy differs from its tune only in its pitches and keys (on folk-abc,
93% of the tunes are copied). A copy's ``K:`` fields are spelled as its tune's
(``K:D Major`` -> ``K:E Major``, not abc2abc's ``K:Emaj``), its lines start as its
tune's do. A tune in a key without a tonic (``K:none``, highland pipes ``K:HP``) is not
transposed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tunesmith.errors import TunesmithError

BOOK_TUNES = 2000  # tunes per abc2abc run (about 25 ms a thousand tunes)
MAX_SHIFT = 6  # -6..+6 semitones reach every key
_K_FIELD = re.compile(r"^K:(.*)$|\[K:([^\]\n]*)\]", re.MULTILINE)
# a key that is a tonic and a mode only (kept in the tune's spelling); others
# (explicit accidentals, clefs) keep abc2abc's
_PLAIN_KEY = re.compile(r"^(\s*)([A-G][#b]?)(\s*(?:(?:maj|min|m|ion|dor|phr|lyd|mix|aeo|loc)"
                        r"[a-z]*)?\s*)$", re.IGNORECASE)
_TONIC = re.compile(r"^\s*([A-G][#b]?)")
_SPACES = re.compile(r" +")


def available() -> bool:
    return shutil.which("abc2abc") is not None


def require() -> None:
    """A one-line error when abc2abc is not installed."""
    if not available():
        raise TunesmithError("abc2abc is not installed (Debian/Ubuntu: apt-get install "
                             "abcmidi), and --transpose needs it")


def transpose_book(texts: list[str], semitones: int) -> list[str | None]:
    """Each tune of ``texts`` (model text) as abc2abc writes it transposed by
    ``semitones`` (``-e``: no error comments in the text, ``-c``: ``A/`` stays ``A/``),
    as model text; None for a tune abc2abc gave nothing usable back for. One abc2abc
    run per :data:`BOOK_TUNES` tunes."""
    from tunesmith.abc_text import as_tune_book_entry, model_text, split_tunes
    from tunesmith.io.limits import ENV, limits

    require()
    out: list[str | None] = [None] * len(texts)
    seconds = limits().parse_seconds
    with tempfile.TemporaryDirectory() as tmp:
        book = Path(tmp) / "book.abc"
        for first in range(0, len(texts), BOOK_TUNES):
            chunk = texts[first:first + BOOK_TUNES]
            book.write_text("\n".join(as_tune_book_entry(t, first + k + 1)
                                      for k, t in enumerate(chunk)), encoding="utf-8")
            try:
                run = subprocess.run(["abc2abc", book.name, "-e", "-c", "-t", str(semitones)],
                                     cwd=tmp, capture_output=True, encoding="utf-8",
                                     errors="replace", timeout=seconds)
            except subprocess.TimeoutExpired:
                raise TunesmithError(
                    f"abc2abc took longer than {seconds:g} s to transpose {len(chunk)} "
                    f"tunes (parse_seconds limit; raise it with {ENV}=parse_seconds=N)"
                ) from None
            if run.returncode != 0:
                raise TunesmithError(f"abc2abc stopped with exit status {run.returncode} "
                                     f"({(run.stderr or run.stdout).strip()[:200]})")
            for tune in split_tunes(run.stdout):
                number = tune.fields.get("X", "")
                i = int(number) - 1 if number.isdigit() else -1
                if not first <= i < first + len(chunk) or out[i] is not None:
                    continue
                try:
                    out[i] = model_text(tune)
                except ValueError:
                    pass
    return out


def transposed_copies(texts: list[str], max_shift: int) -> list[tuple[int, int, str]]:
    """``(index, semitones, text)`` for each tune of ``texts`` (model text) transposed by
    each shift from ``-max_shift`` to ``max_shift`` but 0, by tune then shift; the tunes
    abc2abc does not give back faithfully, and those in a key without a tonic, have no
    copies (see the module's notes)."""
    from tunesmith.abc_meter import tonic

    if not 1 <= max_shift <= MAX_SHIFT:
        raise ValueError(f"max_shift must be in 1..{MAX_SHIFT}, got {max_shift}")
    same = transpose_book(texts, 0)
    keep = [i for i, t in enumerate(texts) if same[i] is not None
            and _spaced(same[i]) == _spaced(t)
            and all(tonic(k) for k in _keys(t))]
    shifts = [s for s in range(-max_shift, max_shift + 1) if s]
    books = {s: transpose_book([texts[i] for i in keep], s) for s in shifts}
    out = []
    for k, i in enumerate(keep):
        for s in shifts:
            copy = books[s][k]
            if copy is not None and copy.count("\n") == texts[i].count("\n"):
                out.append((i, s, _as_tune(texts[i], copy)))
    return out


def _keys(text: str) -> list[str]:
    """The values of the ``K:`` fields of ``text`` (lines and inline), in order."""
    return [m.group(1) if m.group(1) is not None else m.group(2)
            for m in _K_FIELD.finditer(text)]


def _spaced(text: str) -> str:
    """``text`` with runs of spaces as one and its lines stripped (abc2abc's spacing)."""
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))


def _as_tune(tune: str, copy: str) -> str:
    """The transposed ``copy`` of ``tune`` with the tune's spelling of its keys (each
    ``K:`` field a tonic and a mode: the copy's tonic, the tune's words) and the tune's
    indentation of each line."""
    old = _keys(tune)
    new = iter(_respell(a, b) for a, b in zip(old, _keys(copy), strict=False))
    if len(old) == len(_keys(copy)):
        copy = _K_FIELD.sub(lambda m: (f"K:{next(new)}" if m.group(1) is not None
                                       else f"[K:{next(new)}]"), copy)
    lines = []
    for a, b in zip(tune.split("\n"), copy.split("\n"), strict=True):
        lines.append(a[:len(a) - len(a.lstrip(" "))] + b.lstrip(" "))
    return "\n".join(lines)


def _respell(old: str, new: str) -> str:
    """abc2abc's ``K:`` value ``new`` in the spelling of the tune's ``old``: ``D Major`` and
    ``Emaj`` -> ``E Major``; ``new`` itself when ``old`` is more than a tonic and a mode."""
    m, t = _PLAIN_KEY.match(old), _TONIC.match(new)
    if m is None or t is None:
        return new
    return m.group(1) + t.group(1) + m.group(3)
