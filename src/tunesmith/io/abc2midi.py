"""abc2midi (Debian/Ubuntu package ``abcmidi``), the reference ABC-to-MIDI converter, used
as a second opinion on ABC text: a tune it reports an ``Error`` for is malformed.

A tune is malformed when abc2midi prints an ``Error in line-char L-C : ...`` line for it
(its exit status is 0 either way), or when abc2midi gives up on it: a line that says so
(``eputc: aborting because of file runaway (infinite loop)`` for a tune whose MIDI grows
past ~500 KB, e.g. a 100 KB one-line tune; ``Out of memory``; a MIDI write error) or a
non-zero exit status, with no ``Error`` line in either case; or when it runs longer than
the ``parse_seconds`` limit. Before abc2midi sees a tune to read,
:func:`tunesmith.io.abc.check_abc_text` checks its size and its ``M:`` / ``L:`` fields.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import TunesmithError
from tunesmith.io.abc import as_tune_book_entry, check_abc_text
from tunesmith.io.limits import ENV, OverLimit, limits

_ERROR = re.compile(r"^Error in line-char (\d+)-(\d+)\s*:\s*(.*)$")
# lines with which abc2midi gives up on a tune without an "Error in line-char" line
_GAVE_UP = re.compile(r"aborting|runaway|out of memory|malloc failed|read/write error",
                      re.IGNORECASE)


def available() -> bool:
    return shutil.which("abc2midi") is not None


@dataclass(frozen=True)
class Abc2MidiError:
    message: str
    line: int  # 1-based line of the text abc2midi read
    char: int  # 0-based character in that line


def abc2midi_errors(texts: list[str]) -> dict[int, str]:
    """{index: first error message} for each text (model text or full tune) abc2midi
    rejects. Raises :class:`TunesmithError` when abc2midi is not installed.

    One abc2midi process per tune (about 4.5 ms each, two at a time): in books of many
    tunes abc2midi's error reports were not deterministic between identical runs."""
    return {i: e.message for i, e in convert_all(texts).items()}


def convert_all(texts: list[str], midi_paths: list[Path] | None = None,
                max_seconds: float | None = None) -> dict[int, Abc2MidiError]:
    """Run abc2midi on each text (model text or full tune), two at a time; write the
    MIDI of text ``i`` to ``midi_paths[i]`` when given (even for a rejected text, if
    abc2midi wrote one). Returns {index: first error} for the texts it rejects; with
    ``max_seconds``, also for those it plays for longer (as an error at the tune's end:
    repeat signs that nest badly can make 300 written notes play for 25 minutes)."""
    from concurrent.futures import ThreadPoolExecutor

    if not available():
        raise TunesmithError("abc2midi is not installed (Debian/Ubuntu: apt-get install abcmidi)")
    with tempfile.TemporaryDirectory() as tmp:
        with ThreadPoolExecutor(max_workers=2) as pool:
            found = pool.map(
                lambda i: (i, _convert(i, texts[i], Path(tmp),
                                       midi_paths[i] if midi_paths else None, max_seconds)),
                range(len(texts)))
            return {i: error for i, error in found if error is not None}


def played_piece(text: str):
    """The tune as abc2midi plays it (repeats, endings, guitar chords) as a Piece.
    Raises ValueError with abc2midi's message when it rejects the tune or plays no notes,
    and before abc2midi runs when :func:`~tunesmith.io.abc.check_abc_text` refuses it
    (an :class:`~tunesmith.io.limits.OverLimit` for a limit)."""
    from tunesmith.io.abc import read_header
    from tunesmith.io.midi import read_midi

    check_abc_text(text)
    with tempfile.TemporaryDirectory() as tmp:
        mid = Path(tmp) / "tune.mid"
        found = convert_all([text], [mid])
        if found:
            raise ValueError(f"abc2midi: {found[0].message}")
        try:
            piece = read_midi(mid)
        except OverLimit as e:  # its temporary file named in a message would only puzzle
            raise ValueError(f"abc2midi: {e.reason}") from None
        except TunesmithError as e:
            raise ValueError(f"abc2midi wrote no readable MIDI ({e})") from None
    if not piece.notes:
        raise ValueError("abc2midi: no notes")
    piece.title = read_header(text).get("T", piece.title)
    piece.source_text = text
    return piece


def tune_piece(text: str):
    """The tune as abc2midi plays it (:func:`played_piece`) when abc2midi is installed and
    accepts it, else as music21 reads it (no repeats). Raises ValueError with both
    reasons when neither can, or once, before either runs, when
    :func:`~tunesmith.io.abc.check_abc_text` refuses the tune."""
    from tunesmith.io.abc import tune_to_piece

    check_abc_text(text)
    first = "abc2midi is not installed"
    if available():
        try:
            return played_piece(text)
        except ValueError as e:
            first = str(e)
    try:
        return tune_to_piece(text)
    except ValueError as e:
        raise ValueError(f"{first}; music21: {e}") from None


def error_offset(text: str, error: Abc2MidiError) -> int:
    """Where in ``text`` (as given to :func:`convert_all`: a full tune, or model text to
    which the check put an ``X:`` line in front) the error lies, as a character offset."""
    lines = text.rstrip("\n").split("\n")
    index = error.line - (1 if text.lstrip().startswith("X:") else 2)
    if index < 0:
        return 0
    if index >= len(lines):
        return len(text)
    return sum(len(ln) + 1 for ln in lines[:index]) + min(error.char, len(lines[index]))


def _convert(index: int, text: str, tmp: Path, midi: Path | None,
             max_seconds: float | None = None) -> Abc2MidiError | None:
    if not text.lstrip().startswith("X:"):
        text = as_tune_book_entry(text)
    src = tmp / f"t{index}.abc"
    out_mid = tmp / f"t{index}.mid"
    src.write_text(text, encoding="utf-8")
    end_line = text.count("\n") + 2  # "at the tune's end", as for overlong()
    seconds = limits().parse_seconds
    try:
        out = subprocess.run(["abc2midi", src.name, "-o", out_mid.name], cwd=tmp,
                             capture_output=True, encoding="utf-8", errors="replace",
                             timeout=seconds)
    except subprocess.TimeoutExpired:
        out_mid.unlink(missing_ok=True)
        return Abc2MidiError(f"abc2midi took longer than {seconds:g} s (parse_seconds limit;"
                             f" raise it with {ENV}=parse_seconds=N)", end_line, 0)
    finally:
        src.unlink(missing_ok=True)
    error, gave_up = _first_error(out.stdout + out.stderr, out.returncode, end_line)
    if gave_up:
        out_mid.unlink(missing_ok=True)  # what it wrote before giving up is cut short
    if error is None and max_seconds is not None and out_mid.exists():
        from tunesmith.io.midi import read_midi

        try:
            error = overlong(read_midi(out_mid).duration_seconds, max_seconds, text)
        except TunesmithError:
            pass  # the caller reads the file and reports it
    if midi is not None and out_mid.exists():
        shutil.move(out_mid, midi)
    out_mid.unlink(missing_ok=True)
    return error


def _first_error(output: str, returncode: int,
                 end_line: int) -> tuple[Abc2MidiError | None, bool]:
    """(error, whether abc2midi gave up): its first ``Error in line-char`` line; else the
    line with which it gave up (or its non-zero exit status), placed at the tune's end;
    else (None, False)."""
    gave_up = None
    for ln in output.splitlines():
        m = _ERROR.match(ln)
        if m:
            error = Abc2MidiError(m.group(3).strip(), int(m.group(1)), int(m.group(2)))
            return error, False
        if gave_up is None and _GAVE_UP.search(ln):
            gave_up = ln.strip()
    if gave_up is None and returncode != 0:
        gave_up = f"abc2midi stopped with exit status {returncode}"
    if gave_up is None:
        return None, False
    return Abc2MidiError(gave_up, end_line, 0), True


def overlong(seconds: float, max_seconds: float, text: str) -> Abc2MidiError | None:
    """The error for ``text`` when abc2midi plays it for more than ``max_seconds``: at
    the tune's end, as no one place is to blame."""
    if seconds <= max_seconds:
        return None
    minutes, rest = divmod(round(seconds), 60)
    return Abc2MidiError(f"plays for {minutes}:{rest:02d}, over {max_seconds / 60:g} minutes "
                         "(repeats that run away)", text.count("\n") + 2, 0)
