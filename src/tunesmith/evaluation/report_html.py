"""``report.html``: one self-contained page (pictures inline as PNG data, no scripts, no
links out) for a :class:`~tunesmith.evaluation.report.Report` (which calls it): the
summary table coloured by status, then real-vs-generated distributions of every feature,
memorisation, self-similarity matrices of a few pieces, and piano rolls of the most and
least typical generated pieces."""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path

import numpy as np

from tunesmith.evaluation.features import FEATURES

COLOURS = {"within": "#d4edda", "near": "#fff3cd", "far": "#f8d7da", "n/a": "#e9ecef"}
REAL, GENERATED = "#1f77b4", "#d62728"
SHOWN = 6  # self-similarity matrices per set


def _figure(w: float, h: float, cols: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=80)
    FigureCanvasAgg(fig)
    return fig, list(fig.subplots(1, cols, squeeze=False)[0])


def _img(fig, alt: str) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _finite(values) -> np.ndarray:
    x = np.asarray([float(v) for v in values], dtype=float)
    return x[np.isfinite(x)]


def scalar_figure(report, name: str) -> str:
    g = _finite(report.generated.column(name))
    r = _finite(report.real.column(name))
    fig, (ax,) = _figure(3.6, 2.4)
    both = np.concatenate([g, r])
    if len(both):
        lo, hi = float(both.min()), float(both.max())
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 16)
        for x, colour, label in ((r, REAL, report.real.name), (g, GENERATED,
                                                               report.generated.name)):
            if len(x):
                ax.hist(x, bins=bins, density=True, alpha=0.45, color=colour, label=label)
        ax.legend(fontsize=7)
    ax.set_title(name, fontsize=9)
    ax.tick_params(labelsize=7)
    return _img(fig, name)


def histogram_figure(report, name: str) -> str:
    from tunesmith.evaluation.compare import pool

    fig, axes = _figure(7.2 if FEATURES[name].kind == "matrix" else 3.6, 2.6,
                        2 if FEATURES[name].kind == "matrix" else 1)
    pooled = [pool(s.column(name))[0] for s in (report.real, report.generated)]
    if FEATURES[name].kind == "matrix":
        for ax, p, label in zip(axes, pooled, (report.real.name, report.generated.name),
                                strict=True):
            if p is not None:
                side = int(round(len(p.ravel()) ** 0.5))
                ax.imshow(p.reshape(side, side), cmap="viridis", origin="lower")
            ax.set_title(f"{name}: {label}", fontsize=8)
            ax.tick_params(labelsize=6)
    else:
        ax = axes[0]
        width = 0.4
        for k, (p, colour, label) in enumerate(zip(pooled, (REAL, GENERATED),
                                                   (report.real.name, report.generated.name),
                                                   strict=True)):
            if p is not None:
                ax.bar(np.arange(len(p)) + (k - 0.5) * width, p, width, color=colour,
                       label=label, alpha=0.8)
        ax.legend(fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    return _img(fig, name)


def ssm_figure(piece, label: str) -> str | None:
    from tunesmith.evaluation.form import self_similarity

    m = self_similarity(piece)
    if m is None or len(m) < 2:
        return None
    fig, (ax,) = _figure(2.2, 2.2)
    ax.imshow(m, cmap="magma", origin="upper", vmin=0, vmax=1)
    ax.set_title(label[:28], fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
    return _img(fig, f"self-similarity of {label}")


def roll_figure(piece, label: str) -> str:
    from tunesmith.io.plots import draw_notes

    fig, (ax,) = _figure(7.2, 2.0)
    draw_notes(ax, piece, colour=GENERATED)
    ax.set_title(label, fontsize=8)
    ax.set_xlabel("beat", fontsize=7)
    ax.tick_params(labelsize=7)
    return _img(fig, label)


def _num(v: float, digits: int = 3) -> str:
    return "&ndash;" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def summary_table(report) -> str:
    head = ("<tr><th>feature</th><th>what it measures</th><th>generated</th><th>real</th>"
            "<th>OA</th><th>real vs real OA</th><th>KL</th><th>status</th></tr>")
    rows = []
    for r in report.rows:
        band = f"{r.band[0]:.2f}&ndash;{r.band[2]:.2f}" if r.band else "n/a"
        why = f' title="{html.escape(r.reason)}"' if r.reason else ""
        rows.append(f'<tr style="background:{COLOURS[r.status]}"{why}><td>{r.name}</td>'
                    f"<td>{html.escape(r.description)}</td><td>{_num(r.generated)}</td>"
                    f"<td>{_num(r.real)}</td><td>{_num(r.oa, 2)}</td><td>{band}</td>"
                    f"<td>{_num(r.kl, 2)}</td><td>{r.status}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def memorisation_section(report) -> str:
    m = report.memorisation
    if m is None:
        return ""
    s = m.summary()
    rows = "".join(
        f"<tr><td>{name}</td><td>{_num(part['median'], 0)}</td><td>{part['max']}</td>"
        f"<td>{_num(100 * part['long_copy_rate'], 1)}%</td></tr>"
        for name, part in (("generated", s["generated"]), ("real (held out)", s["real"])))
    worst = sorted(m.generated, key=lambda x: -x.length)[:5]
    items = "".join(f"<li>{x.length} {m.unit} shared with <code>{html.escape(x.name)}"
                    "</code></li>" for x in worst if x.length)
    return (f"<h2>Memorisation</h2><p>The longest run each piece shares with any training "
            f"piece, in {m.unit}; a long copy is at least {m.long_copy}. Held-out real "
            "pieces show what a corpus shares by itself.</p>"
            f"<table><tr><th>set</th><th>median</th><th>longest</th><th>long copies</th></tr>"
            f"{rows}</table><p>Longest copies of generated pieces:</p><ul>{items}</ul>")


def write_html(report, path: Path, typicality: list[float]) -> Path:
    """The page; ``typicality`` per generated piece (lower: more typical) picks the piano
    rolls shown."""
    parts = [f"<h1>{html.escape(report.title)}</h1>"]
    settings = "".join(f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>"
                       for k, v in report.settings.items())
    counts = report.counts()
    parts.append(f"<ul>{settings}<li>generated: {len(report.generated.pieces)} pieces; "
                 f"real: {len(report.real.pieces)} pieces</li></ul>")
    parts.append("<p>OA: overlapping area of the two distributions (1 = the same). A "
                 "feature is within the band when its OA is at least the lowest OA between "
                 "real samples of the same size, near when it is at most 0.1 below, far "
                 "otherwise. " + ", ".join(f"{k}: {v}" for k, v in counts.items()) + "</p>")
    parts += [f"<p class=note>{html.escape(n)}</p>" for n in report.notes]
    parts.append(summary_table(report))
    parts.append(memorisation_section(report))
    parts.append("<h2>Distributions</h2><div class=grid>")
    for name, feature in FEATURES.items():
        parts.append(scalar_figure(report, name) if feature.kind == "scalar"
                     else histogram_figure(report, name))
    parts.append("</div><h2>Self-similarity of bars</h2>")
    for s in (report.generated, report.real):
        shown = [ssm_figure(p, lab) for p, lab in zip(s.pieces, s.labels, strict=True)]
        shown = [x for x in shown if x][:SHOWN]
        parts.append(f"<h3>{html.escape(s.name)}</h3><div class=grid>"
                     + ("".join(shown) or "<p>no bars to compare (no time signature)</p>")
                     + "</div>")
    scores = typicality
    order = [i for i in np.argsort(scores) if math.isfinite(scores[i])]
    if order:
        parts.append("<h2>Most and least typical generated pieces</h2>")
        for i in order[:2] + order[-2:][::-1] if len(order) > 3 else order:
            label = f"{report.generated.labels[i]} (distance {scores[i]:.2f})"
            parts.append(roll_figure(report.generated.pieces[i], label))
    style = ("body{font-family:sans-serif;max-width:1200px;margin:auto}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
             "padding:2px 6px}.grid{display:flex;flex-wrap:wrap;gap:4px}")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
            f"{html.escape(report.title)}</title><style>{style}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")
    path.write_text(page, encoding="utf-8")
    return path
