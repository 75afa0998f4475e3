"""Attention pictures: what a model attends to while it reads or continues a piece.

``picture(checkpoint, path)`` reads a music file as the model reads it (its family's
:meth:`~tunesmith.families.base.Family.read_encoded`), runs one teacher-forced pass and
draws every layer x head, the mean, and the bar-to-bar summary
(:func:`tunesmith.io.plots.write_attention_png`); ``draw_composition`` does the same for a
piece just composed (``compose --attention``). A model that continues a phrase
(``attends_source``: the ``continue`` family's seq2seq) attends to what it reads, not to
itself: its picture (:func:`draw_source`) has the bars it wrote down and the bars it read
across (:func:`tunesmith.io.plots.write_source_attention_png`). Any other model has no
weights to show: a one-line error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import OptionError, TunesmithError
from tunesmith.options import opt


@dataclass(frozen=True)
class AttentionRequest:
    out: str | None = opt(None, "the picture's path (default: beside the piece, "
                          "<name>_attention.png)")
    tune: int = opt(1, "which tune of an ABC book (1-based)")
    max_steps: int = opt(512, "draw the first N steps (characters, messages, frames) of a "
                         "longer piece (the picture grows as N squared; a continue "
                         "model's picture has every step)")
    style: str | None = opt(None, "continue models: the style the continuation is read "
                            "under (as compose --style; default none)")

    def __post_init__(self):
        if self.tune < 1:
            raise OptionError("tune", f"must be >= 1, got {self.tune}")
        if not 2 <= self.max_steps <= 4096:
            raise OptionError("max_steps", f"must be between 2 and 4096, got "
                              f"{self.max_steps}")


def attends_source(checkpoint) -> bool:
    """Whether the model attends to a phrase it continues (``seq2seq``), not to itself."""
    return bool(getattr(checkpoint.model, "attends_source", False))


def check_attends(checkpoint) -> None:
    """A one-line error unless the checkpoint's model has attention to show."""
    model = checkpoint.model
    if not (model.attends or attends_source(checkpoint)):
        raise OptionError("attention", f"is for models with attention; this one is "
                          f"{model.family} (train one with --arch transformer, or "
                          "transformer_nade for piano rolls; a continue model shows what "
                          "it reads)")


def weights(checkpoint, encoded, max_steps: int = 512):
    """The attention weights (layers, heads, T, T) of the model reading ``encoded`` (a
    piece's ids (T,) / (T, heads) or frames (T, V)), at most ``max_steps`` of them."""
    import numpy as np
    import torch

    check_attends(checkpoint)
    model, rep = checkpoint.model, checkpoint.representation
    if getattr(rep, "inputs", None):  # what the model reads beside the ids, as in training
        encoded = rep.with_inputs(encoded)
    x = np.asarray(encoded)[:max_steps]
    if len(x) < 2:
        raise TunesmithError("the piece is too short to show attention (fewer than 2 steps)")
    device = next(model.parameters()).device
    kind = torch.float32 if model.sampler == "frames" else torch.long
    return model.attention(torch.as_tensor(x, dtype=kind, device=device)).float().cpu().numpy()


def draw(checkpoint, encoded, positions, path: str | Path, title: str = "",
         max_steps: int = 512) -> Path:
    """The picture of the model reading ``encoded`` whose steps fall at ``positions``
    (:class:`~tunesmith.representations.base.Positions`), written to ``path``."""
    from tunesmith.io.plots import write_attention_png

    w = weights(checkpoint, encoded, max_steps)
    t = w.shape[-1]
    return write_attention_png(w, path, positions=positions.time[:t], unit=positions.unit,
                               bars=positions.bars[:t], title=title)


def picture(checkpoint, piece_path: str | Path,
            request: AttentionRequest = AttentionRequest()) -> Path:
    """``tunesmith attention``: the picture of the model reading the file ``piece_path``."""
    from tunesmith import families

    check_attends(checkpoint)  # before the file is read
    family = families.for_representation(checkpoint.representation.name)
    piece_path = Path(piece_path)
    out = Path(request.out) if request.out else piece_path.with_name(
        f"{piece_path.stem}_attention.png")
    if out.suffix.lower() != ".png":
        raise OptionError("out", f"must name a .png file, got {out}")
    if attends_source(checkpoint):
        return draw_source(checkpoint, family, family.read_continued(piece_path, request.tune),
                           out, f"{checkpoint.model.family} continuing {piece_path.name}",
                           request.style, piece_path)
    encoded, positions = family.read_encoded(piece_path, checkpoint.representation,
                                             request.tune)
    steps = min(len(encoded), request.max_steps)
    title = f"{checkpoint.model.family} reading {piece_path.name} ({steps} of " \
            f"{len(encoded)} {family.unit})"
    return draw(checkpoint, encoded, positions, out, title, request.max_steps)


def draw_source(checkpoint, family, continued, path: str | Path, title: str,
                style: str | None = None, source: str | Path | None = None) -> Path:
    """The picture of a continuing model (``attends_source``) writing the bars of
    ``continued`` (what its family reads of a piece: an ABC tune's text, a MIDI piece)
    that follow its first ones, under ``style`` (a ``--style`` value)."""
    from tunesmith.io.plots import write_source_attention_png

    rep = checkpoint.representation
    try:
        w, row_bars, col_bars = family.source_attention(checkpoint, continued,
                                                        rep.parse_style(style or ""))
    except TunesmithError as e:
        if e.path is not None or source is None:
            raise
        raise TunesmithError(str(e), source) from None
    return write_source_attention_png(w, path, row_bars, col_bars, title,
                                      unit=family.unit.rstrip("s"),
                                      head="hdr" if family.writes_text else "start")


def draw_composition(checkpoint, family, composition, path: str | Path,
                     max_steps: int = 512, style: str | None = None) -> Path | None:
    """The picture of the model re-reading a piece it composed (``compose --attention``);
    a continuing model re-reads the continuation (what its family reads of it:
    ``family.continued``) under the ``style`` it was written in. None when there is
    nothing to draw: a continuation the model ended before writing a bar."""
    if attends_source(checkpoint):
        continued = family.continued(composition, checkpoint.representation)
        if continued is None:
            return None
        return draw_source(checkpoint, family, continued, path,
                           f"{composition.title}: attention over what it continues", style)
    encoded, positions = family.encoded(composition.piece, checkpoint.representation)
    return draw(checkpoint, encoded, positions, path, f"{composition.title}: attention",
                max_steps)
