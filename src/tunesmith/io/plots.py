"""PNG pictures: a piano roll of a Piece, and loss curves of a run (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

from tunesmith.music import Piece


def _figure(figsize, dpi: int = 100, cols: int = 1, rows: int = 1):
    """A figure and its axes (row by row) drawn by the Agg canvas, without pyplot: pyplot
    keeps global state, so two pictures drawn at once on two threads (two compositions
    in one process) could mix; a Figure of its own has none."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig, [ax for row in fig.subplots(rows, cols, squeeze=False) for ax in row]


def _save(fig, path: str | Path) -> Path:
    from tunesmith.errors import TunesmithError
    from tunesmith.io.paths import output_folder

    fig.tight_layout()
    path = Path(path)
    try:
        output_folder(path.parent)
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
    """Plot metrics.csv rows (``step``, ``split``, metric columns): one panel per metric
    that the rows hold (three to a row of panels), one line per split (train / valid)."""
    metrics = [m for m in metrics if any(r.get(m) not in (None, "") for r in rows)]
    n = max(1, len(metrics))
    cols = min(n, 3)
    fig, axes = _figure((6 * cols, 4 * -(-n // cols)), cols=cols, rows=-(-n // cols))
    for ax in axes[n:]:
        ax.set_visible(False)
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


def write_attention_png(weights, path: str | Path, positions=None, unit: str = "token",
                        bars=None, title: str = "") -> Path:
    """Draw :func:`attention_figure` into ``path``."""
    return _save(attention_figure(weights, positions, unit, bars, title), path)


def attention_figure(weights, positions=None, unit: str = "token", bars=None,
                     title: str = ""):
    """Attention as pictures: ``weights`` (layers, heads, T, T), rows = the position that
    attends, columns = the position attended to, each row summing to 1.

    Left, a grid of every layer x head; right, the mean over heads and layers; below, the
    bar-to-bar summary when ``bars`` (the bar of each position, T) is given: how much the
    positions of bar j attend to bar i, summed over i's positions and averaged over j's
    (a repeat shows as a bright off-diagonal). ``positions`` (T values, e.g. beats) label
    the axes in the piece's own terms, ``unit`` names them."""
    import numpy as np
    from matplotlib.colors import PowerNorm

    w = np.asarray(weights, dtype=float)  # (L, H, T, T)
    layers, heads, t, _ = w.shape
    summary = bars is not None and len(set(int(b) for b in bars)) > 1
    fig = _grid_figure(layers, heads, summary)
    axes = fig.axes
    for i in range(layers):
        for j in range(heads):
            ax = axes[i * heads + j]
            # square-root colours: the first rows attend to few positions and would take
            # the whole colour range
            ax.imshow(w[i, j], cmap="viridis", interpolation="nearest", norm=PowerNorm(0.5))
            ax.set_title(f"layer {i + 1} head {j + 1}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    mean_ax = axes[layers * heads]
    mean = w.mean(axis=(0, 1))
    mean_ax.imshow(mean, cmap="viridis", interpolation="nearest", norm=PowerNorm(0.5))
    span = (f" ({unit}s {positions[0]:.4g} to {positions[-1]:.4g})"
            if positions is not None and len(positions) and unit != "bar" else "")
    mean_ax.set_title(f"mean over layers and heads{span}", fontsize=9)
    _label_axes(mean_ax, positions, unit, t, bars)
    if summary:
        bars = np.asarray(bars, dtype=int)
        ids = np.unique(bars)
        m = np.zeros((len(ids), len(ids)))
        for a, bj in enumerate(ids):
            rows = mean[bars == bj]
            for b, bi in enumerate(ids):
                m[a, b] = rows[:, bars == bi].sum(1).mean()
        ax = axes[-1]
        ax.imshow(m, cmap="magma", interpolation="nearest")
        ax.set_title("bar to bar (row: the bar attending)", fontsize=9)
        ax.set_xlabel("bar attended to")
        ax.set_ylabel("bar attending")
        step = max(1, -(-len(ids) // 8))
        names = ["hdr" if i < 0 else str(i + 1) for i in ids[::step]]
        ax.set_xticks(range(0, len(ids), step), names)
        ax.set_yticks(range(0, len(ids), step), names)
    if title:
        fig.suptitle(title)
    return fig


def write_source_attention_png(weights, path: str | Path, row_bars, col_bars,
                               title: str = "", unit: str = "character",
                               head: str = "hdr") -> Path:
    """Draw :func:`source_attention_figure` into ``path``."""
    return _save(source_attention_figure(weights, row_bars, col_bars, title, unit, head),
                 path)


def source_attention_figure(weights, row_bars, col_bars, title: str = "",
                            unit: str = "character", head: str = "hdr"):
    """A continuation's attention over what it read: ``weights`` (R, C), a row per step
    written, a column per step of the whole piece (each row summing to 1 over the steps
    it could read); ``row_bars`` (R) and ``col_bars`` (C) the bar of each (-1 = what
    comes before the first bar, labelled ``head``: an ABC header, a start marker; -2 =
    an end marker, left out of the bar-to-bar summary); ``unit`` names a step.

    Left, every step: the piece's bars across, the bars written down, a line where the
    writing starts; right, bar to bar: how much the steps of written bar j attend to bar
    i, summed over i's steps and averaged over j's."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import PowerNorm
    from matplotlib.figure import Figure

    w = np.asarray(weights, dtype=float)
    rb, cb = np.asarray(row_bars, dtype=int), np.asarray(col_bars, dtype=int)
    fig = Figure(figsize=(13, 5.5), dpi=100)
    FigureCanvasAgg(fig)
    ax, bx = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
    ax.imshow(w, cmap="viridis", interpolation="nearest", aspect="auto",
              norm=PowerNorm(0.5))

    def ticks(bars):
        starts = [k for k in range(len(bars)) if k == 0 or bars[k] != bars[k - 1]]
        starts = starts[::max(1, -(-len(starts) // 12))]
        names = {-1: head, -2: "end"}
        return starts, [names.get(int(bars[k]), str(int(bars[k]) + 1)) for k in starts]

    ax.set_xticks(*ticks(cb), fontsize=7)
    ax.set_yticks(*ticks(rb), fontsize=7)
    ax.set_xlabel("bar read (the piece so far)")
    ax.set_ylabel("bar written")
    first = int(np.argmax(cb == rb[0])) if len(rb) and (cb == rb[0]).any() else None
    if first is not None:
        ax.axvline(first - 0.5, color="white", linewidth=0.8, linestyle="--")
    ax.set_title(f"every {unit} written, over the {unit}s read", fontsize=9)
    written, read = np.unique(rb), np.unique(cb[cb >= -1])
    m = np.zeros((len(written), len(read)))
    for a, bj in enumerate(written):
        rows = w[rb == bj]
        for b, bi in enumerate(read):
            m[a, b] = rows[:, cb == bi].sum(1).mean()
    bx.imshow(m, cmap="magma", interpolation="nearest", aspect="auto")
    names = [head if i < 0 else str(i + 1) for i in read]
    step = max(1, -(-len(read) // 12))
    bx.set_xticks(range(0, len(read), step), names[::step], fontsize=7)
    bx.set_yticks(range(len(written)), [str(i + 1) for i in written], fontsize=7)
    bx.set_xlabel("bar read")
    bx.set_ylabel("bar written")
    bx.set_title("bar to bar (row: the bar being written)", fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def _grid_figure(layers: int, heads: int, summary: bool):
    """Small panels for each layer x head on the left; one large panel for the mean and,
    with ``summary``, one for the bar-to-bar summary on the right."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    big = 2 if summary else 1
    height = max(4.5, 1.3 * layers)
    fig = Figure(figsize=(1.3 * heads + 4.8 * big, height), dpi=100)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(layers, heads + big, width_ratios=[1] * heads + [3.4] * big)
    for i in range(layers):
        for j in range(heads):
            fig.add_subplot(grid[i, j])
    for k in range(big):
        fig.add_subplot(grid[:, heads + k])
    return fig


def _label_axes(ax, positions, unit: str, t: int, bars=None) -> None:
    """Ticks in the piece's own terms: at the first step of each bar, labelled with the
    bar's number (``hdr`` for a header before the first bar), when ``bars`` is given;
    else at even steps labelled with ``positions`` (in ``unit``) or the step number."""
    if bars is not None and len(bars) == t:
        starts = [k for k in range(t) if k == 0 or bars[k] != bars[k - 1]]
        ticks = starts[:: max(1, -(-len(starts) // 8))]
        labels = ["hdr" if bars[k] < 0 else str(int(bars[k]) + 1) for k in ticks]
        what = "bar"
    else:
        ticks = list(range(0, t, max(1, t // 6)))
        labels = [f"{positions[k]:.4g}" if positions is not None else str(k) for k in ticks]
        what = unit
    ax.set_xticks(ticks, labels, fontsize=7)
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.set_xlabel(f"{what} attended to")
    ax.set_ylabel(f"{what} attending")
