"""The ingest report: a row per input (a file, or one tune of an ABC book), kept or
dropped with the reason, and the corpus of kept pieces it describes."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith.music import Piece


@dataclass
class IngestRow:
    """One input (a file, or one tune of an ABC book) and what became of it."""

    path: str
    status: str  # "kept" | "dropped"
    reason: str  # "" when kept
    notes: int  # notes in the kept tracks (0 when dropped before they were counted)
    seconds: float  # duration of the kept tracks (0 when unknown)
    tracks: int  # tracks kept
    label: str = ""  # the style label of a labelled corpus (corpora.labelled), else ""


CSV_COLUMNS = ("path", "status", "reason", "notes", "seconds", "tracks")


@dataclass
class PieceCorpus:
    """The usable pieces of a corpus, with a row per input saying what was kept.

    ``keys[i]`` names ``pieces[i]`` stably (its path relative to the corpus root, plus
    ``#n`` for the n-th tune of an ABC book, 0-based): split train/valid/test on it.
    ``ignored`` lists files in a folder that are not music by their suffix; ``left_out``
    says which of its sub-folders tunesmith wrote (compositions, runs), not read."""

    name: str
    pieces: list[Piece] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    rows: list[IngestRow] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    left_out: str = ""

    def __len__(self) -> int:
        return len(self.pieces)

    @property
    def kept(self) -> int:
        return sum(r.status == "kept" for r in self.rows)

    @property
    def dropped(self) -> int:
        return sum(r.status == "dropped" for r in self.rows)

    def reason_counts(self) -> Counter:
        """Dropped rows by kind of reason (the reason up to its parenthesis)."""
        return Counter(r.reason.split(" (")[0] for r in self.rows if r.status == "dropped")

    @staticmethod
    def check_csv_path(path: str | Path) -> Path:
        """``path`` as where :meth:`write_csv` may write: a ``.csv`` file that is not
        there yet, or an earlier ingest report (which it replaces); anything else, such as
        a MIDI file of the corpus, is a one-line error and is left as it is."""
        from tunesmith.errors import TunesmithError
        from tunesmith.io.paths import output_folder

        path = Path(path)
        if path.suffix.lower() != ".csv":
            raise TunesmithError("the report is a CSV file: give --report a name ending "
                                 "in .csv", path)
        if path.is_dir():
            raise TunesmithError("is a folder, not a file", path)
        output_folder(path.parent, make=False)  # not under a file
        if path.exists() and path.stat().st_size:
            try:
                with open(path, encoding="utf-8") as fh:
                    head = fh.readline()
            except (OSError, UnicodeDecodeError):
                head = ""
            if not head.startswith(",".join(CSV_COLUMNS)):
                raise TunesmithError("exists and is not an ingest report: give --report "
                                     "another file", path)
        return path

    def write_csv(self, path: str | Path) -> Path:
        """Write the report (columns path,status,reason,notes,seconds,tracks, and label
        for a labelled corpus)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        labelled = any(r.label for r in self.rows)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(CSV_COLUMNS + (("label",) if labelled else ()))
            for r in self.rows:
                writer.writerow([r.path, r.status, r.reason, r.notes, f"{r.seconds:.3f}",
                                 r.tracks] + ([r.label] if labelled else []))
        return path

    def label_counts(self) -> Counter:
        """Kept pieces per style label (empty for an unlabelled corpus)."""
        return Counter(r.label for r in self.rows if r.status == "kept" and r.label)

    def summary(self) -> str:
        """One line: ``bach-chorales: 409 files, 405 kept, 4 dropped (3 too short, ...)``."""
        noun = "inputs" if any("#" in k for k in self.keys) else "files"
        text = f"{self.name}: {len(self.rows)} {noun}, {self.kept} kept, {self.dropped} dropped"
        if self.dropped:
            text += " (" + ", ".join(f"{n} {why}" for why, n in
                                     self.reason_counts().most_common()) + ")"
        if self.ignored:
            kinds = sorted({Path(p).suffix.lower() or Path(p).name for p in self.ignored})
            text += f"; {len(self.ignored)} other files ignored ({', '.join(kinds[:5])})"
        if self.left_out:
            text += f"; {self.left_out}"
        labels = self.label_counts()
        if labels:
            text += "; kept per style: " + ", ".join(f"{k} {n}" for k, n in
                                                     labels.most_common())
        return text
