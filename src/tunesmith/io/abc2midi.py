"""abc2midi (Debian/Ubuntu package ``abcmidi``), the reference ABC-to-MIDI converter, used
as a second opinion on ABC text: a tune it reports an ``Error`` for is malformed.

A tune is malformed when abc2midi prints an ``Error in line-char L-C : ...`` line for it
(its exit status is 0 either way).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tunesmith.errors import TunesmithError
from tunesmith.io.abc import as_tune_book_entry

_ERROR = re.compile(r"^Error in line-char (\d+)-\d+\s*:\s*(.*)$")


def available() -> bool:
    return shutil.which("abc2midi") is not None


def abc2midi_errors(texts: list[str]) -> dict[int, str]:
    """{index: first error message} for each text (model text or full tune) abc2midi
    rejects. Raises :class:`TunesmithError` when abc2midi is not installed.

    One abc2midi process per tune (about 4.5 ms each, two at a time): in books of many
    tunes abc2midi's error reports were not deterministic between identical runs."""
    from concurrent.futures import ThreadPoolExecutor

    if not available():
        raise TunesmithError("abc2midi is not installed (Debian/Ubuntu: apt-get install abcmidi)")
    with tempfile.TemporaryDirectory() as tmp:
        with ThreadPoolExecutor(max_workers=2) as pool:
            found = pool.map(lambda it: _check(it[0], it[1], Path(tmp)), enumerate(texts))
            return {i: message for i, message in found if message is not None}


def _check(index: int, text: str, tmp: Path) -> tuple[int, str | None]:
    if not text.lstrip().startswith("X:"):
        text = as_tune_book_entry(text)
    src = tmp / f"t{index}.abc"
    src.write_text(text)
    out = subprocess.run(["abc2midi", src.name, "-o", f"t{index}.mid"], cwd=tmp,
                         capture_output=True, encoding="utf-8", errors="replace", timeout=60)
    src.unlink()
    (tmp / f"t{index}.mid").unlink(missing_ok=True)
    for ln in (out.stdout + out.stderr).splitlines():
        m = _ERROR.match(ln)
        if m:
            return index, m.group(2).strip()
    return index, None
