"""Run logging: metrics.csv (always), TensorBoard events (when installed), loss-curve PNG.

Resuming reads ``metrics.csv`` back and keeps the rows up to the checkpoint's step (the
resumed run logs the later ones again). A damaged file never stops a resume and never
raises; what was damaged is said, and nothing the user had is lost:

- a row that is not a metrics row (a step that is not a non-negative integer, an empty
  split, a missing or extra column, a value that is not a number) is dropped;
- a file that is not a metrics table at all (not UTF-8 text, NUL bytes, no ``step`` and
  ``split`` columns, over 256 MB) is started afresh;
- in both cases the file as it was is kept beside it as ``metrics.csv.damaged`` (or
  ``metrics.csv.damaged-2``, ... when that exists), and a one-line note is added to
  :attr:`RunLogger.notes` and given to ``log(message, "warning")`` (a Python warning when
  no ``log`` is given);
- an unterminated last line is a row a kill interrupted while it was being appended (it
  always belongs to a step after the checkpoint): it is dropped quietly.
"""

from __future__ import annotations

import csv
import io
import shutil
import warnings
from pathlib import Path

COLUMNS = ("step", "split", "loss", "nll", "ppl", "bits", "accuracy", "lr", "tokens_per_s",
           "elapsed_s")
MAX_CSV_BYTES = 256 << 20


class RunLogger:
    def __init__(self, run_dir: Path, resume_step: int | None = None, tensorboard: bool = True,
                 log=None):
        self.run_dir = Path(run_dir)
        self.csv_path = self.run_dir / "metrics.csv"
        self.rows: list[dict] = []
        self.columns = list(COLUMNS)
        self.notes: list[str] = []
        if resume_step is not None and self.csv_path.exists():
            self._read_back(resume_step)
        for note in self.notes:
            if log is not None:
                log(note, "warning")
            else:
                warnings.warn(note, stacklevel=3)
        self._rewrite()
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                # drop events logged after the checkpoint; keep the checkpoint step's own
                purge = None if resume_step is None else resume_step + 1
                self.tb = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=purge)
            except ImportError:
                self.tb = None

    def _read_back(self, resume_step: int) -> None:
        """The rows of an earlier ``metrics.csv`` up to ``resume_step`` (see the module
        docstring for what happens to a damaged one)."""
        path = self.csv_path
        try:
            size = path.stat().st_size
            data = path.read_bytes() if size <= MAX_CSV_BYTES else None
        except OSError as e:
            self.notes.append(f"{path}: unreadable ({e.strerror or e}); started afresh")
            return
        problem, header, body = None, [], []
        if data is None:
            problem = f"{size:,} bytes, over the {MAX_CSV_BYTES:,}-byte limit"
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text, problem = "", "not UTF-8 text"
            if "\0" in text:
                problem = "binary data (NUL bytes)"
            if not problem:
                # an unterminated last line: a row interrupted by a kill (see the docstring)
                text = text if text.endswith("\n") else text[:text.rfind("\n") + 1]
                try:
                    lines = list(csv.reader(io.StringIO(text, newline="")))
                except csv.Error as e:
                    lines, problem = [], f"not CSV ({e})"
                header, body = (lines[0], lines[1:]) if lines else ([], [])
                if not problem and (not {"step", "split"} <= set(header)
                                    or len(set(header)) != len(header) or "" in header):
                    problem = "no step and split columns"
        if problem:
            kept = self._keep_damaged()
            self.notes.append(f"{path}: not a metrics table ({problem}); started afresh "
                              f"(the file as it was: {kept.name})")
            return
        rows, dropped = [], 0
        for line in body:
            if not line:
                continue  # a blank line
            row = dict(zip(header, line, strict=False))
            if len(line) != len(header) or not _is_metrics_row(row):
                dropped += 1
            elif int(row["step"]) <= resume_step:
                rows.append(row)
        self.rows = rows
        self.columns += [c for c in header if c not in self.columns]
        if dropped:
            kept = self._keep_damaged()
            self.notes.append(f"{path}: dropped {dropped} row{'s' * (dropped != 1)} that "
                              f"{'are' if dropped != 1 else 'is'} not metrics (the file as "
                              f"it was: {kept.name})")

    def _keep_damaged(self) -> Path:
        """Copy the damaged ``metrics.csv`` to a name that is not taken."""
        target = self.csv_path.with_name(self.csv_path.name + ".damaged")
        n = 1
        while target.exists():
            n += 1
            target = self.csv_path.with_name(f"{self.csv_path.name}.damaged-{n}")
        shutil.copyfile(self.csv_path, target)
        return target

    def _rewrite(self) -> None:
        tmp = self.csv_path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            w.writeheader()
            w.writerows(self.rows)
        tmp.replace(self.csv_path)

    def log(self, step: int, split: str, metrics: dict) -> None:
        row = {"step": step, "split": split}
        new_columns = False
        for k, v in metrics.items():
            if k == "count":
                continue
            if k not in self.columns:
                self.columns.append(k)
                new_columns = True
            row[k] = f"{float(v):.6g}"
        self.rows.append(row)
        if new_columns:
            self._rewrite()
        else:
            with open(self.csv_path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore").writerow(row)
        if self.tb is not None:
            for k, v in row.items():
                if k not in ("step", "split", "elapsed_s"):
                    self.tb.add_scalar(f"{k}/{split}", float(v), step)

    def plot(self) -> Path | None:
        if not self.rows:
            return None
        from tunesmith.io.plots import write_curves_png

        # a panel for each that the model logs (from "distance" on: a GAN's, whose
        # validation loss is that distance, not its training objective)
        return write_curves_png(self.rows, self.run_dir / "curves.png",
                                metrics=("loss", "bits", "accuracy", "distance", "d_loss",
                                         "g_loss", "mle", "d_real_acc", "d_fake_acc",
                                         "d_frozen", "grad_norm_generator",
                                         "grad_norm_discriminator"))

    def close(self) -> None:
        if self.tb is not None:
            self.tb.flush()
            self.tb.close()


class SilentLogger:
    """What the ranks other than 0 of a run on several processes log: nothing."""

    rows: list[dict] = []
    notes: list[str] = []

    def log(self, step: int, split: str, metrics: dict) -> None:
        pass

    def plot(self) -> None:
        return None

    def close(self) -> None:
        pass


def _is_metrics_row(row: dict) -> bool:
    """A step that is a non-negative integer, a split, and numbers (or nothing) else."""
    step, split = row.get("step", ""), row.get("split", "")
    if not (step.isascii() and step.isdigit() and len(step) < 19 and split):
        return False
    for k, v in row.items():
        if k in ("step", "split") or v == "":
            continue
        try:
            float(v)
        except ValueError:
            return False
    return True
