"""Run logging: metrics.csv (always), TensorBoard events (when installed), loss-curve PNG."""

from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = ("step", "split", "loss", "nll", "ppl", "bits", "accuracy", "lr", "tokens_per_s",
           "elapsed_s")


class RunLogger:
    def __init__(self, run_dir: Path, resume_step: int | None = None, tensorboard: bool = True):
        self.run_dir = Path(run_dir)
        self.csv_path = self.run_dir / "metrics.csv"
        self.rows: list[dict] = []
        self.columns = list(COLUMNS)
        if resume_step is not None and self.csv_path.exists():
            # rows written after the checkpoint we resume from are replayed by the resumed run
            with open(self.csv_path, newline="") as f:
                reader = csv.DictReader(f)
                self.rows = [r for r in reader if int(r["step"]) <= resume_step]
                self.columns += [c for c in reader.fieldnames or [] if c not in self.columns]
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

        return write_curves_png(self.rows, self.run_dir / "curves.png",
                                metrics=("loss", "bits", "accuracy"))

    def close(self) -> None:
        if self.tb is not None:
            self.tb.flush()
            self.tb.close()
