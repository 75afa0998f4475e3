"""The musical-evaluation report: two sets of pieces (generated and real, or any two
folders) measured feature by feature (:mod:`tunesmith.evaluation.features`), compared
(:mod:`tunesmith.evaluation.compare`), with the band that sampling noise alone gives.

**The band.** A feature's overlapping area (OA) between generated and real pieces means
little alone: two samples of real pieces do not overlap fully either. So the same OA is
computed between the real set and ``draws`` further samples of real pieces of the same
size, drawn from a reference pool (a model's training pieces, which are real music of
the same corpus); without a pool, between two halves of the real set. A feature is
**within** the band when its generated-vs-real OA is at least the lowest real-vs-real
OA, **near** when it falls short of it by at most :data:`NEAR`, **far** otherwise, and
**n/a** when too few pieces define it (the reason is given).

Everything here is torch-free; :mod:`tunesmith.evaluation.report_html` draws it.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from pathlib import Path

import numpy as np

from tunesmith.evaluation.compare import compare, real_vs_real
from tunesmith.evaluation.features import FEATURES
from tunesmith.music import Piece

NEAR = 0.1  # OA this much below the band's lowest still counts as near


class _SortedOnce(Piece):
    """A piece whose notes are gathered and sorted once: every feature asks for them, and
    42 sorts were 60% of measuring a 150,000-note piece (4 of 6 s)."""

    @cached_property
    def notes(self):
        return Piece.notes.fget(self)


@dataclass
class PieceSet:
    """Named pieces, and what could not be measured (file or piece: reason)."""

    name: str  # "generated", "real", or a folder's name
    pieces: list[Piece] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # one per piece: a file, a corpus key
    skipped: list[str] = field(default_factory=list)
    values: list[dict] = field(default_factory=list)  # per piece: feature -> value

    def measure(self, progress: Callable[[int, int], None] | None = None) -> PieceSet:
        """Compute every feature of every piece (once)."""
        if len(self.values) != len(self.pieces):
            self.values = []
            for i, p in enumerate(self.pieces):
                once = _SortedOnce(**{f.name: getattr(p, f.name) for f in fields(p)})
                self.values.append({name: f.function(once) for name, f in FEATURES.items()})
                if progress is not None:
                    progress(i + 1, len(self.pieces))
        return self

    def column(self, name: str) -> list:
        return [v[name] for v in self.values]


@dataclass
class FeatureRow:
    name: str
    kind: str  # scalar | histogram | matrix
    description: str
    generated: float  # mean over the pieces that define it (scalars), nan otherwise
    real: float
    n_generated: int  # pieces that define it
    n_real: int
    oa: float  # generated vs real
    kl: float
    band: tuple[float, float, float] | None  # real vs real OA: (lowest, median, highest)
    status: str  # within | near | far | n/a
    reason: str = ""


def _mean(values) -> tuple[float, int]:
    x = np.asarray([v for v in values if np.ndim(v) == 0], dtype=float)
    x = x[np.isfinite(x)]
    return (float(x.mean()) if len(x) else math.nan), int(len(x))


def _defined(values) -> int:
    return sum(1 for v in values if not np.isnan(np.asarray(v, dtype=float)).any())


def compare_sets(generated: PieceSet, real: PieceSet, pool: PieceSet | None = None,
                 draws: int = 10, seed: int = 0) -> list[FeatureRow]:
    """One row per feature: generated against real, with the real-vs-real band from
    ``draws`` samples of ``pool`` the size of the generated set (or, without a pool large
    enough, from halves of the real set)."""
    rng = np.random.default_rng(seed)
    n = max(1, len(generated.pieces))
    samples = []
    if pool is not None and len(pool.pieces) >= n:
        samples = [rng.choice(len(pool.pieces), size=n, replace=False) for _ in range(draws)]
    rows = []
    for name, feature in FEATURES.items():
        g, r = generated.column(name), real.column(name)
        c = compare(r, g)
        if samples:
            column = pool.column(name)
            oas = [compare(r, [column[i] for i in s]).oa for s in samples]
            oas = [o for o in oas if math.isfinite(o)]
            band = (min(oas), float(np.median(oas)), max(oas)) if oas else None
        else:
            rr = real_vs_real(r, rng, splits=draws)
            band = (rr.oa_range[0], rr.oa, rr.oa_range[1]) if rr.oa_range else None
        gm, gn = _mean(g) if feature.kind == "scalar" else (math.nan, _defined(g))
        rm, rn = _mean(r) if feature.kind == "scalar" else (math.nan, _defined(r))
        rows.append(FeatureRow(name, feature.kind, feature.description, gm, rm, gn, rn,
                               c.oa, c.kl, band, _status(c.oa, band), c.reason))
    return rows


def _status(oa: float, band) -> str:
    if not math.isfinite(oa) or band is None:
        return "n/a"
    if oa >= band[0]:
        return "within"
    return "near" if oa >= band[0] - NEAR else "far"


def typicality(generated: PieceSet, real: PieceSet) -> list[float]:
    """How far each generated piece lies from the real pieces: the mean over scalar
    features of |z| (its value against the real mean and spread). Lower is more typical;
    used to pick the best and worst pieces to show."""
    names = [n for n, f in FEATURES.items() if f.kind == "scalar"]
    stats = {}
    for name in names:
        x = np.asarray(real.column(name), dtype=float)
        x = x[np.isfinite(x)]
        if len(x) > 1 and x.std() > 0:
            stats[name] = (x.mean(), x.std())
    out = []
    for values in generated.values:
        z = [abs(float(values[n]) - m) / s for n, (m, s) in stats.items()
             if math.isfinite(float(values[n]))]
        out.append(float(np.mean(z)) if z else math.nan)
    return out


@dataclass
class Memorisation:
    """The longest run each generated piece shares with a training piece (characters for
    ABC, notes for the others), and the same for held-out real pieces as a baseline."""

    unit: str  # "characters" or "notes"
    long_copy: int  # a run at least this long counts as a long copy
    generated: list = field(default_factory=list)  # Match per generated piece
    real: list = field(default_factory=list)  # Match per real (held-out) piece

    def summary(self) -> dict:
        def part(matches):
            lengths = [m.length for m in matches]
            return {"median": float(np.median(lengths)) if lengths else math.nan,
                    "max": max(lengths, default=0),
                    "long_copy_rate": (sum(x >= self.long_copy for x in lengths) / len(lengths)
                                       if lengths else math.nan)}
        return {"unit": self.unit, "long_copy": self.long_copy,
                "generated": part(self.generated), "real": part(self.real)}


@dataclass
class Report:
    title: str
    generated: PieceSet
    real: PieceSet
    rows: list[FeatureRow]
    settings: dict = field(default_factory=dict)  # how the sets were made
    memorisation: Memorisation | None = None
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict:
        return {s: sum(r.status == s for r in self.rows)
                for s in ("within", "near", "far", "n/a")}

    def row(self, name: str) -> FeatureRow:
        return next(r for r in self.rows if r.name == name)


def write_csv(report: Report, path: Path) -> Path:
    """``features.csv``: one row per piece and set, the scalar features as columns."""
    names = [n for n, f in FEATURES.items() if f.kind == "scalar"]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["set", "piece", *names])
        for s in (report.generated, report.real):
            for label, values in zip(s.labels, s.values, strict=True):
                w.writerow([s.name, label, *(_cell(values[n]) for n in names)])
    return path


def _cell(v) -> str:
    v = float(v)
    return "" if not math.isfinite(v) else f"{v:.6g}"


def write_summary(report: Report, path: Path) -> Path:
    """``summary.json``: the settings, the counts per status, every row, memorisation."""
    data = {"title": report.title, "settings": report.settings, "counts": report.counts(),
            "generated": {"pieces": len(report.generated.pieces),
                          "skipped": report.generated.skipped},
            "real": {"pieces": len(report.real.pieces), "skipped": report.real.skipped},
            "features": [_jsonable(asdict(r)) for r in report.rows],
            "memorisation": report.memorisation.summary() if report.memorisation else None,
            "notes": report.notes}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def _jsonable(d: dict) -> dict:
    def fix(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, tuple):
            return [fix(x) for x in v]
        return v
    return {k: fix(v) for k, v in d.items()}


REPORT_FILES = ("report.html", "features.csv", "summary.json")  # what :func:`write` writes


def write(report: Report, out_dir: str | Path) -> list[Path]:
    """``report.html``, ``features.csv`` and ``summary.json`` in ``out_dir``."""
    from tunesmith.evaluation.report_html import write_html
    from tunesmith.io.paths import output_folder

    out = output_folder(out_dir)
    scores = typicality(report.generated, report.real)
    return [write_html(report, out / "report.html", scores),
            write_csv(report, out / "features.csv"),
            write_summary(report, out / "summary.json")]


def format_table(report: Report, names: Sequence[str] | None = None) -> str:
    """The summary table as text (what the CLI prints)."""
    rows = [r for r in report.rows if names is None or r.name in names]
    lines = [f"{'feature':<32} {'generated':>9} {'real':>9} {'OA':>6} {'real-vs-real':>14}  "
             "status"]
    for r in rows:
        band = f"{r.band[0]:.2f}-{r.band[2]:.2f}" if r.band else "n/a"
        lines.append(f"{r.name:<32} {_num(r.generated):>9} {_num(r.real):>9} "
                     f"{_num(r.oa, 2):>6} {band:>14}  {r.status}")
    return "\n".join(lines)


def _num(v: float, digits: int = 3) -> str:
    return "-" if not math.isfinite(v) else f"{v:.{digits}f}"
