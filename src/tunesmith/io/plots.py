"""PNG pictures: a piano roll of a Piece, and loss curves of a run (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

from tunesmith.music import Piece


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: str | Path) -> Path:
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_pianoroll_png(piece: Piece, path: str | Path, title: str | None = None) -> Path:
    """Draw each note as a bar: x = time in beats, y = MIDI pitch, one colour per track."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(12, 4), dpi=100)
    pitches = []
    for i, track in enumerate(piece.tracks):
        color = f"C{i % 10}"
        for n in track.notes:
            ax.broken_barh([(n.start, n.end - n.start)], (n.pitch - 0.4, 0.8), color=color)
            pitches.append(n.pitch)
    if pitches:
        ax.set_ylim(min(pitches) - 2, max(pitches) + 2)
        ax.set_xlim(0, max(piece.end_beat, 1.0))
    ax.set_xlabel("beat (quarter notes)")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title if title is not None else (piece.title or "piano roll"))
    ax.grid(axis="x", alpha=0.3)
    return _save(plt, fig, path)


def write_curves_png(rows: list[dict], path: str | Path, metrics=("loss", "accuracy")) -> Path:
    """Plot metrics.csv rows (``step``, ``split``, metric columns): one panel per metric,
    one line per split (train / valid)."""
    plt = _pyplot()
    metrics = [m for m in metrics if any(r.get(m) not in (None, "") for r in rows)]
    fig, axes = plt.subplots(1, max(1, len(metrics)), figsize=(6 * max(1, len(metrics)), 4),
                             dpi=100, squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=False):  # no metrics: one empty panel
        for split in ("train", "valid"):
            pts = [(int(r["step"]), float(r[metric])) for r in rows
                   if r.get("split") == split and r.get(metric) not in (None, "")]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, label=split, marker="o" if split == "valid" else None,
                        markersize=3)
        ax.set_xlabel("step")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(plt, fig, path)
