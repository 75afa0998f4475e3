"""PNG pictures: a piano roll of a Piece, and loss curves of a run (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

from tunesmith.music import Piece


def _figure(figsize, dpi: int = 100, cols: int = 1):
    """A figure and its axes drawn by the Agg canvas, without pyplot: pyplot keeps global
    state, so two pictures drawn at once on two threads (two compositions in one
    process) could mix; a Figure of its own has none."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig, list(fig.subplots(1, cols, squeeze=False)[0])


def _save(fig, path: str | Path) -> Path:
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def write_pianoroll_png(piece: Piece, path: str | Path, title: str | None = None) -> Path:
    """Draw each note as a bar: x = time in beats, y = MIDI pitch, one colour per track."""
    fig, (ax,) = _figure((12, 4))
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
    return _save(fig, path)


def write_curves_png(rows: list[dict], path: str | Path, metrics=("loss", "accuracy")) -> Path:
    """Plot metrics.csv rows (``step``, ``split``, metric columns): one panel per metric,
    one line per split (train / valid)."""
    metrics = [m for m in metrics if any(r.get(m) not in (None, "") for r in rows)]
    n = max(1, len(metrics))
    fig, axes = _figure((6 * n, 4), cols=n)
    for ax, metric in zip(axes, metrics, strict=False):  # no metrics: one empty panel
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
    return _save(fig, path)
