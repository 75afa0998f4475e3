"""A compose request: checked before it is queued, composed by a worker, each piece put
in the gallery as soon as it is final.

The request is checked as far as it can be without composing: the model id, the option
names (only those the model's family reads, :func:`~tunesmith.studio.catalog.form_fields`),
their types and values (:func:`tunesmith.options.build`, the family's
``compose_options``, the per-head settings, the batch budget), and the primer: text for a
family whose primer is text; for the others nothing, ``corpus``, or an upload's id, never
a path. Each problem is an :class:`OptionError` naming the field (a 400 that the page
shows beside it).

The worker composes with :func:`tunesmith.app.compose`; its sink writes each piece with
:class:`tunesmith.app.CompositionWriter` into the piece's own folder (``.abc`` / ``.mid``
/ ``.wav`` / ``.png``, as the CLI writes them), engraves its score, adds the gallery row
and tells the page.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from dataclasses import dataclass

from tunesmith.errors import OptionError, TunesmithError, first_line
from tunesmith.studio.jobs import Stopped
from tunesmith.studio.store import Composition, new_id


@dataclass
class Plan:
    """A checked compose request."""

    entry: object  # catalog.ModelEntry
    checkpoint: object
    family: object
    options: object  # ComposeOptions
    source: str = "compose"
    title_prefix: str = ""


def plan(studio, body: dict, source: str = "compose") -> Plan:
    """Check a compose request's JSON body (see the module docstring)."""
    from tunesmith import families, models
    from tunesmith.families.base import ComposeOptions
    from tunesmith.options import build
    from tunesmith.sampling.settings import per_head
    from tunesmith.studio.catalog import form_fields

    if not isinstance(body, dict):
        raise OptionError("", "the request must be a JSON object")
    unknown = set(body) - {"model", "options", "primer_upload"}
    if unknown:
        raise OptionError(sorted(unknown)[0], "is not part of a compose request (model, "
                          "options, primer_upload)")
    model_id = body.get("model")
    if not isinstance(model_id, str):
        raise OptionError("model", "must be a model id (GET /api/models lists them)")
    try:
        entry = studio.catalog.model(model_id)
    except LookupError:
        raise OptionError("model", f"{model_id[:60]!r} is not a model of this studio") from None
    ckpt = studio.cache.load(entry)
    family = families.for_representation(ckpt.representation.name)
    values = body.get("options", {})
    if not isinstance(values, dict):
        raise OptionError("options", "must be a JSON object of option names and values")
    fields = {f.name: f for f in form_fields(family, models.registry()[ckpt.meta["family"]],
                                             ckpt.representation.heads, studio.settings.max_num,
                                             ckpt.representation)}
    values = dict(values)
    for name in values:
        if name not in fields:
            raise OptionError(name, f"is not an option of {entry.label} (a {family.name} "
                              f"model; its options: {', '.join(fields)})")
    values.setdefault("num", fields["num"].default)
    if isinstance(values.get("num"), int) and values["num"] > studio.settings.max_num:
        raise OptionError("num", f"must be at most {studio.settings.max_num} per request, got "
                          f"{values['num']}")
    primer_field = fields.get("primer")
    upload = body.get("primer_upload")
    if upload is not None:
        if primer_field is None or primer_field.kind != "primer_piece":
            raise OptionError("primer_upload", f"{entry.label} takes no primer file")
        found = studio.uploads.get(upload) if isinstance(upload, str) else None
        if found is None:
            raise OptionError("primer_upload", "is not an upload of this studio (upload the "
                              "file first)")
        if values.get("primer"):
            raise OptionError("primer", "and primer_upload cannot both be given: give one")
        values["primer"] = str(found[1])
    elif primer_field is not None and primer_field.kind == "primer_piece":
        if values.get("primer", "") not in ("", "corpus"):
            raise OptionError("primer", "takes 'corpus' (a random piece of the model's "
                              "corpus) or an uploaded file (primer_upload); no paths")
    opts = build(ComposeOptions, values, "composing")
    from tunesmith.app.composing import seeded

    opts = family.compose_options(seeded(opts))  # the gallery records the seed
    style = getattr(opts, "style", None)
    if style and hasattr(ckpt.representation, "parse_style"):
        ckpt.representation.parse_style(style)  # an unknown style: a 400 now, not a failed job
    with _uploaded_primer(studio):
        family.check_primer(opts, ckpt.representation)  # what compose would refuse, now
    try:
        per_head(list(ckpt.representation.heads), opts.temperature, opts.top_k, opts.top_p)
    except (TypeError, ValueError) as e:
        raise OptionError("temperature", str(e)) from None
    from tunesmith.app.composing import batch_size

    batch_size(family, opts, ckpt.representation)  # the token budget, refused by name
    return Plan(entry, ckpt, family, opts, source)


def compose(studio, p: Plan, job) -> dict:
    """The worker's part: compose, write, engrave, add to the gallery, tell the page."""
    from tunesmith import app

    pieces: list[str] = []

    def sink(c) -> None:
        comp = write_piece(studio, p, job.id, c)
        pieces.append(comp.id)
        job.emit("piece", id=comp.id, index=c.index, valid=comp.valid)

    def progress(e) -> None:
        # the samplers report every few tokens, so a stop comes soon; the event that
        # closes a sampling is not a stop's place: what it sampled is written first (a
        # stop never throws away a finished piece)
        if not e.finished:
            job.check_stop()
        job.emit("progress", task=e.task, done=e.done, total=e.total, unit=e.unit)

    notes: list[str] = []

    def log(message: str, level: str = "info") -> None:
        if len(notes) < 50:
            notes.append(first_line(Exception(message), 300))

    try:
        with _uploaded_primer(studio):
            app.compose(p.checkpoint, p.options, sink=sink, log=log, progress=progress)
    except Stopped:  # asked to stop: the pieces finished so far stay in the gallery
        pass
    if job.stop_asked.is_set():  # (also when it came after the last sampling)
        n = len(pieces)
        job.finish("stopped", f"stopped on request; {n} piece{'' if n == 1 else 's'} kept",
                   pieces=pieces, notes=notes)
        return None
    return {"pieces": pieces, "notes": notes}


@contextmanager
def _uploaded_primer(studio):
    """A primer's error names the server's copy of the upload: say "the uploaded primer"."""
    try:
        yield
    except TunesmithError as e:
        folder = str(studio.uploads.folder)
        if folder not in str(e):
            raise

        def said(text: str) -> str:
            return re.sub(re.escape(folder) + r"/[\w.]+", "the uploaded primer", text)

        if isinstance(e, OptionError):
            raise OptionError(e.option, said(e.problem)) from None
        raise TunesmithError(said(str(e))) from None


def write_piece(studio, p: Plan, job_id: str, c) -> Composition:
    from functools import partial

    from tunesmith import app
    from tunesmith.app.attention import draw_composition
    from tunesmith.options import to_dict

    comp_id = new_id()
    folder = studio.store.folder_of(comp_id)
    title = p.title_prefix or f"{p.family.stem.capitalize()} {studio.store.next_number()}"
    c.title = title  # the piano roll's title is the gallery's
    about = {"model": p.entry.label, "num": p.options.num, "options": to_dict(p.options)}
    attends = p.checkpoint.model.attends  # a Transformer's picture beside its piano roll
    attend = partial(draw_composition, p.checkpoint, p.family) if attends else None
    with app.CompositionWriter(folder, p.family, app.Output(wav=True, png=True,
                                                            attention=attends),
                               about=about, attend=attend) as writer:
        writer(c)
    files = {file_kind(path.name): path.name for path in writer.result.files}
    score_error = ""
    if c.valid and studio.engrave:
        score_error = _engrave(p.family, c, folder, files)
    piece = c.piece if c.valid else None
    comp = Composition(
        id=comp_id, job_id=job_id, idx=c.index, title=title,
        model_id=p.entry.id, model_label=p.entry.label, family=p.family.name,
        style=str(getattr(p.options, "style", "") or ""), created=time.time(),
        valid=c.valid, error="; ".join(filter(None, (  # a valid piece's: said beside it
            c.error, c.warning, score_error and f"score: {score_error}"))),
        seconds=round(piece.duration_seconds, 2) if piece is not None else None,
        notes=len(piece.notes) if piece is not None else None, text=c.text,
        options=to_dict(p.options) | {"primer": _primer_shown(p.family, p.options.primer)},
        files=files, source=p.source)
    studio.store.add(comp)
    return comp


def file_kind(name: str) -> str:
    """What a writer's file is: its suffix (``tune_01.mid`` -> ``mid``), or what its name
    adds to the piece's stem (``tune_01_attention.png`` -> ``attention``)."""
    stem, _, suffix = name.rpartition(".")
    extra = re.sub(r"^[A-Za-z]+_\d+[._-]?", "", stem)
    return extra.lower() if extra else suffix.lower()


def _primer_shown(family, primer: str) -> str:
    """What the gallery records of a primer: its text, or 'file' (never a server path)."""
    if family.primer == "text" or primer in ("", "corpus"):
        return primer
    return "file"


def _engrave(family, c, folder, files: dict) -> str:
    """Write ``score.svg`` and ``score.musicxml``; '' or the reason why there is no score
    (an ABC tune that music21 cannot read has its score but no MusicXML)."""
    from tunesmith.studio import engrave

    try:
        if family.writes_text and c.text:
            try:
                svg = engrave.engrave_abc(c.text)
            except TunesmithError:
                svg = None
            if svg is not None:
                (folder / "score.svg").write_text(svg, encoding="utf-8")
                files["svg"] = "score.svg"
                try:
                    engrave.write_abc_musicxml(c.text, folder / "score.musicxml")
                    files["musicxml"] = "score.musicxml"
                except (TunesmithError, OSError):
                    pass  # the score is there; the download is music21's, and it is not
                return ""
        svg = engrave.engrave_piece(c.piece, folder / "score.musicxml")
        files["musicxml"] = "score.musicxml"
        (folder / "score.svg").write_text(svg, encoding="utf-8")
        files["svg"] = "score.svg"
        return ""
    except TunesmithError as e:
        return first_line(e)
    except OSError as e:
        return f"cannot write ({e.strerror or e})"


__all__ = ["Plan", "compose", "plan", "write_piece"]
