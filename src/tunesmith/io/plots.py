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
    from tunesmith.errors import TunesmithError

    fig.tight_layout()
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    except OSError as e:
        raise TunesmithError(f"cannot write ({e.strerror or e})", path) from None
    return path


def write_pianoroll_png(piece: Piece, path: str | Path, title: str | None = None) -> Path:
    """Draw each note as a bar: x = time in beats, y = MIDI pitch, one colour per track.
    All the notes of a track are one collection of rectangles (one bar per call cost
    ~4 ms a note; this draws 20,000 notes in well under a second); more notes than the
    ``render_notes`` budget (:mod:`tunesmith.io.limits`) is a one-line error."""
    from tunesmith.io.limits import limits

    limits().check("render_notes", sum(len(t.notes) for t in piece.tracks),
                   "notes to draw", path)
    fig, (ax,) = _figure((12, 4))
    draw_notes(ax, piece)
    ax.set_xlabel("beat (quarter notes)")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title if title is not None else (piece.title or "piano roll"))
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def draw_notes(ax, piece: Piece, colour: str | None = None) -> None:
    """Every note of ``piece`` as a bar on ``ax`` (a collection of rectangles per track;
    one colour per track unless ``colour``), and the axes' limits set to fit."""
    import numpy as np
    from matplotlib.collections import PolyCollection

    lo, hi = None, None
    for i, track in enumerate(piece.tracks):
        if not track.notes:
            continue
        a = np.array([(n.start, n.end, n.pitch) for n in track.notes], dtype=float)
        start, end, pitch = a[:, 0], a[:, 1], a[:, 2]
        verts = np.stack([np.stack([start, pitch - 0.4], 1), np.stack([end, pitch - 0.4], 1),
                          np.stack([end, pitch + 0.4], 1), np.stack([start, pitch + 0.4], 1)],
                         axis=1)  # (notes, 4 corners, xy)
        ax.add_collection(PolyCollection(verts, facecolors=colour or f"C{i % 10}",
                                         edgecolors="none"))
        lo = pitch.min() if lo is None else min(lo, pitch.min())
        hi = pitch.max() if hi is None else max(hi, pitch.max())
    if lo is not None:
        ax.set_ylim(lo - 2, hi + 2)
        ax.set_xlim(0, max(piece.end_beat, 1.0))


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
