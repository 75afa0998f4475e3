"""Composing: ``compose(model, options) -> [Composition]`` in memory, and a writer that
puts compositions on disk (text, MIDI, WAV, PNG) as they arrive.

Neither changes a process-wide setting, so two compositions may run at once on two
threads of one process (tested).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from tunesmith.errors import OptionError, TunesmithError
from tunesmith.families.base import ComposeOptions, Composition, Family, Sink
from tunesmith.io.paths import WRITING
from tunesmith.options import opt, to_dict
from tunesmith.progress import Progress, report

MANIFEST = "composition.json"  # what a writer wrote into a folder, and how it was made


@dataclass(frozen=True)
class Output:
    """Which files a composition gets beside its text / MIDI."""

    wav: bool = opt(True, "write no WAV (by default each piece is also rendered to a WAV "
                    "with FluidSynth)", flag="no-wav", negate=True)
    png: bool | None = opt(None, "draw a piano roll per piece (default: on for events and "
                           "pianoroll, off for abc)")
    soundfont: str | None = opt(None, "a .sf2 soundfont for the WAV (default: pretty_midi's "
                                "small General MIDI font)")
    overwrite: bool = opt(False, "replace what an earlier compose wrote into --out (by "
                          "default a folder that is not empty is refused)")
    attention: bool = opt(False, "draw what the model attends to, per piece "
                          "(<name>_attention.png; Transformer models)")


@dataclass
class ComposeResult:
    """What a writer put on disk."""

    files: list[Path] = field(default_factory=list)
    valid: int = 0
    total: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # pieces that play, with a caveat
    label: str = "pieces"  # what the items are called in the summary
    count_valid: bool = False  # whether the summary says how many were valid
    seed: int | None = None  # the seed composed with (drawn when none was given)

    @property
    def summary(self) -> str:
        valid = f", {self.valid} valid" if self.count_valid else ""
        if self.warnings:
            valid += f" ({len(self.warnings)} with a warning)" if valid else (
                f", {len(self.warnings)} with a warning")
        seed = f" (seed {self.seed})" if self.seed is not None else ""
        label = self.label[:-1] if self.total == 1 and self.label.endswith("s") else self.label
        return f"{self.total} {label}{valid}{seed}"


def compose(checkpoint, options: ComposeOptions = ComposeOptions(), *, sink: Sink | None = None,
            log=None, progress: Progress | None = None) -> list[Composition]:
    """Compose with a loaded checkpoint (:func:`tunesmith.app.models.load_model`).
    ``sink`` hears each composition as soon as it is final (a writer, a web page);
    ``log`` hears one-line notes (a resampled tune, an empty piece).

    A request larger than one sampling batch may hold (``batch_tokens`` of
    :mod:`tunesmith.io.limits`: pieces x the most tokens a piece may take) is composed
    batch by batch, so memory stays bounded and a writer puts each batch on disk as it
    comes; the first batch uses ``options.seed`` itself (a request that fits one batch
    is the same as ever), the k-th a seed derived from it and k."""
    from tunesmith import families
    from tunesmith.families.events import primers_read_once

    family = families.for_representation(checkpoint.representation.name)
    with primers_read_once():  # a primer piece: read for its tempo and its notes alike
        return _compose(family, checkpoint, family.compose_options(options), sink,
                        log or _quiet, progress)


def _compose(family: Family, checkpoint, opts: ComposeOptions, sink: Sink | None, log,
             progress: Progress | None) -> list[Composition]:
    from tunesmith.sampling.settings import per_head

    per_head(list(checkpoint.representation.heads), opts.temperature, opts.top_k,
             opts.top_p)  # bad head names fail before any work
    size = batch_size(family, opts, checkpoint.representation)
    out: list[Composition] = []
    primers: dict = {}  # the primer pieces read, by what names them (a file, a seed)
    for k, first in enumerate(range(0, opts.num, size)):
        batch = replace(opts, num=min(size, opts.num - first),
                        seed=opts.seed if k == 0 else _derived_seed(opts.seed, k))
        primed, dressed = _primed(family, checkpoint, batch, sink, log, primers)
        pieces = family.compose(primed, batch, sink=dressed, log=log, progress=progress,
                                start=first + 1)
        _say_short(pieces, opts, family, log)
        out += pieces
        report(progress, "compose", len(out), opts.num, "piece")
    _say_alike(out, opts, family, log)  # over all batches: a batch may hold one piece
    return out


def _primed(family: Family, checkpoint, opts: ComposeOptions, sink: Sink | None, log,
            primers: dict):
    """The checkpoint and sink a batch composes with: at its primer piece's tempo, and
    dressed in its meter and instrument (:func:`_as_primer`). A file is read once for all
    batches; ``--primer corpus`` draws a piece per batch, by the batch's seed, as the
    family's composer does."""
    key = ("corpus", opts.seed) if opts.primer == "corpus" else opts.primer
    fresh = key not in primers
    if fresh:
        primers[key] = family.primer_piece_of(checkpoint, opts)
    primer = primers[key]
    if primer is None:
        return checkpoint, sink
    said = log if fresh else _quiet
    if fresh and opts.primer == "corpus":  # which one, so it can be found
        log(f"primer: {primer.title or 'a piece'} from the model's corpus")
    return family.at_primer_tempo(checkpoint, primer, said), _as_primer(sink, primer)


def _as_primer(sink: Sink | None, primer) -> Sink:
    """``sink`` (or none), handed each composition with what its representation does
    not keep taken from the ``primer`` piece it continues: the primer's meter (its first
    time signature) for a piece that has none, so a notation program shows a waltz in
    3/4, and the primer's instrument when all its tracks play one (a piece decoded on
    the piano, program 0)."""
    from dataclasses import replace as copy_with

    from tunesmith.music import TimeSignature

    sigs = sorted(primer.time_signatures, key=lambda s: s.beat)
    programs = {t.program for t in primer.tracks if not t.is_drum and t.notes}

    def dress(c: Composition) -> None:
        piece = c.piece
        if piece is not None and not c.midi:
            if sigs and not piece.time_signatures:
                piece.time_signatures = [TimeSignature(0.0, sigs[0].numerator,
                                                       sigs[0].denominator)]
            if len(programs) == 1 and all(t.program == 0 and not t.is_drum
                                          for t in piece.tracks):
                piece.tracks = [copy_with(t, program=next(iter(programs)))
                                for t in piece.tracks]
        if sink is not None:
            sink(c)

    return dress


SHORT = 0.75  # a piece under this share of the --seconds asked is said to be short


def _say_short(pieces: list[Composition], opts: ComposeOptions, family: Family, log) -> None:
    """A warning for each piece much shorter than ``--seconds`` asked (a model that lets
    no time pass: beam search on a barely trained model picks a zero time step)."""
    if opts.seconds is None:
        return
    for c in pieces:
        if c.piece is not None and c.piece.duration_seconds < SHORT * opts.seconds:
            log(f"{family.stem} {c.index} lasts {c.piece.duration_seconds:.1f} s of the "
                f"{opts.seconds:g} s asked: the model let little time pass"
                f"{' (beam search keeps the likeliest steps, often no time)' if opts.beam else ''}",
                "warning")


def _music_of(c: Composition):
    """What a composition plays, to tell two apart: its text less the lines that number
    and name it, else its notes."""
    if c.text:
        return "\n".join(line for line in c.text.splitlines()
                         if not line.startswith(("X:", "T:")))
    if c.piece is None:
        return None
    return tuple((n.start, n.end, n.pitch, n.velocity) for t in c.piece.tracks
                 for n in t.notes)


def _say_alike(pieces: list[Composition], opts: ComposeOptions, family: Family, log) -> None:
    """A warning when beam search wrote the same piece more than once: without
    ``--stochastic-beam`` it is deterministic, so pieces with one primer and style are
    alike (and a user asking ``--num 4`` would not guess it)."""
    if not opts.beam or opts.stochastic_beam or len(pieces) < 2:
        return
    first: dict = {}
    alike = []
    for c in pieces:
        music = _music_of(c)
        if music is None:
            continue
        if music in first:
            alike.append(f"{c.index} = {first[music]}")
        else:
            first[music] = c.index
    if alike:
        log(f"beam search (--beam) is deterministic: {len(alike)} of {len(pieces)} "
            f"{family.stem}s repeat an earlier one ({family.stem} {', '.join(alike[:4])}"
            f"{', ...' if len(alike) > 4 else ''}); add --stochastic-beam for different "
            "pieces near the most probable one", "warning")


def batch_size(family: Family, opts: ComposeOptions, representation) -> int:
    """How many pieces of ``opts`` one sampling batch holds within the token budget."""
    from tunesmith.io.limits import limits

    steps = max(1, family.piece_steps(opts, representation))
    budget = limits().batch_tokens
    if steps > budget:
        raise OptionError("seconds" if opts.seconds is not None else
                          "bars" if opts.bars is not None else "max_len",
                          f"asks for up to {steps:,} tokens per piece, over the limit of "
                          f"{budget:,} a batch may hold (batch_tokens; raise it with "
                          "TUNESMITH_LIMITS=batch_tokens=N)")
    return max(1, min(opts.num, budget // steps))


def _derived_seed(seed: int | None, k: int) -> int | None:
    if seed is None:
        return None
    import numpy as np

    return int(np.random.SeedSequence([seed, k]).generate_state(1, np.uint64)[0] >> 1)


def _quiet(message: str, level: str = "info") -> None:
    pass


class CompositionWriter:
    """Writes compositions into ``out_dir`` as they arrive (use it as the ``sink`` of
    :func:`compose`, inside a ``with`` block): the text (``tune_01.abc``) where the family
    has one, the MIDI of every playable piece, and its WAV (on two threads: FluidSynth
    releases the GIL, so rendering overlaps with the composing still going on) and PNG.

    A folder that is not empty is refused unless ``output.overwrite``; then the files an
    earlier writer listed in its ``composition.json`` are removed, and nothing else, when
    the first new piece arrives (or the writing ends well with none): a command refused
    before it composes leaves them alone. The new ``composition.json`` records the model,
    the options and the files."""

    def __init__(self, out_dir: str | Path, family: Family, output: Output = Output(),
                 log=None, about: dict | None = None, while_rendering=None, attend=None):
        from tunesmith.io.audio import fluidsynth_available, soundfont_file

        self.out_dir = Path(out_dir)
        self.family, self.output = family, output
        self.wav = output.wav and fluidsynth_available()
        if self.wav and output.soundfont:
            soundfont_file(output.soundfont)  # one given and missing: refused at once
        self.png = family.draws_by_default if output.png is None else output.png
        self.log = log or _quiet
        self.about = about or {}
        # (composition, path) -> the attention picture written (output.attention)
        self.attend = attend if output.attention else None
        self.result = ComposeResult(label=family.item, count_valid=family.checks_validity)
        self._lock = threading.Lock()
        self._pool = None
        self._renders: list = []
        # the caller's context while WAVs render (the CLI tunes its process's threads
        # then; this layer changes no process-wide setting itself), entered at the first
        # render and left when the last is done
        self._while_rendering = while_rendering
        self._rendering = None

    def __enter__(self) -> CompositionWriter:
        from concurrent.futures import ThreadPoolExecutor

        from tunesmith.io.paths import first_missing, remove_made, writing_lock

        self._check()
        self._earlier = True  # an earlier writer's files may still be there
        self._made = first_missing(self.out_dir)  # removed again if composing fails at once
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = writing_lock(self.out_dir, "compose")
        try:
            self._lock_file.__enter__()  # a second compose into this folder meanwhile: refused
        except TunesmithError:
            remove_made(self.out_dir, self._made)
            raise
        self._pool = ThreadPoolExecutor(max_workers=2)
        return self

    def _check(self) -> None:
        """Refuse a non-empty folder unless ``overwrite``."""
        from tunesmith.io.paths import output_folder

        output_folder(self.out_dir, make=False)  # a file in the way is refused
        if not self.out_dir.exists():
            return
        present = sorted(p.name for p in self.out_dir.iterdir() if p.name != WRITING)
        shown = ", ".join(present[:3]) + (", ..." if len(present) > 3 else "")
        if present and not self.output.overwrite:
            raise OptionError("out", f"{self.out_dir} is not empty ({shown}): pass "
                              "--overwrite to replace what an earlier compose wrote there, "
                              "or choose another folder")
        if present and not (self.out_dir / MANIFEST).is_file() and not all(
                _PIECE_FILE.match(name) for name in present):
            # --overwrite replaces a compose's files (an interrupted one's too, which
            # wrote no manifest yet); these are someone else's
            raise OptionError("out", f"{self.out_dir} holds files no compose wrote "
                              f"({shown}; it has no {MANIFEST}): --overwrite replaces only "
                              "a compose's own; choose another folder")

    def _clear(self) -> None:
        """Remove an earlier writer's files (those its composition.json lists), once."""
        if not self._earlier:
            return
        self._earlier = False
        listed = _listed_files(self.out_dir) if (self.out_dir / MANIFEST).is_file() else [
            p.name for p in self.out_dir.iterdir() if _PIECE_FILE.match(p.name)]
        for name in listed:
            target = self.out_dir / name
            if target.is_file() and not target.is_symlink():
                target.unlink()
        (self.out_dir / MANIFEST).unlink(missing_ok=True)

    def __call__(self, c: Composition) -> None:
        with self._lock:
            self._clear()  # the first new piece replaces what an earlier writer left
        stem = self.out_dir / f"{self.family.stem}_{c.index:0{self._width()}d}"
        renders, files = [], []
        if c.valid and self.wav:  # first: the render threads start while the rest is written
            from tunesmith.io.audio import write_wav

            if self._rendering is None and self._while_rendering is not None:
                self._rendering = self._while_rendering()
                self._rendering.__enter__()
            renders.append(self._pool.submit(write_wav, c.piece, stem.with_suffix(".wav"),
                                             self.output.soundfont))
        if self.family.writes_text:
            files.append(_write_text(stem.with_suffix(".abc"), c.text))
        if c.midi:  # the player's own file (abc2midi's: its tempo, channels, chords)
            files.append(_write_bytes(stem.with_suffix(".mid"), c.midi))
        elif c.piece is not None:
            from tunesmith.io.midi import write_midi

            files.append(_writing(write_midi, c.piece, stem.with_suffix(".mid")))
        if c.valid and self.png:
            from tunesmith.io.plots import write_pianoroll_png

            files.append(_writing(write_pianoroll_png, c.piece, stem.with_suffix(".png"),
                                  title=c.title))
        if c.valid and self.attend is not None:
            drawn = self._attention(c, stem.with_name(f"{stem.name}_attention.png"))
            if drawn is not None:
                files.append(drawn)
            else:
                self.log(f"{stem.name}: no attention picture (the model ended the piece "
                         "before writing anything to show)", "warning")
        with self._lock:
            self.result.total += 1
            self.result.files += files
            self._renders += renders
            if c.valid:
                self.result.valid += 1
                if c.warning:
                    primary = files[0] if files else stem
                    self.result.warnings.append(f"{primary}: {c.warning}")
                    self.log(self.result.warnings[-1], "warning")
            else:
                primary = files[0] if files else stem
                self.result.errors.append(f"{primary}: {c.error or 'nothing to play'}")
                self.log(self.result.errors[-1], "warning")

    def _attention(self, c: Composition, path: Path) -> Path:
        try:
            return self.attend(c, path)
        except OSError as e:
            raise TunesmithError(f"cannot write ({e.strerror or e})", path) from None

    def _width(self) -> int:
        return max(2, len(str(self.about.get("num", 0))))

    def __exit__(self, *exc) -> None:
        try:
            self._finish(exc)
        finally:
            self._lock_file.__exit__(None, None, None)  # the folder is free again
            if exc[0] is not None:
                from tunesmith.io.paths import remove_made

                remove_made(self.out_dir, self._made)  # a refused option leaves no folder

    def _finish(self, exc) -> None:
        pool, self._pool = self._pool, None
        try:
            for r in self._renders:
                if exc[0] is None:
                    try:
                        self.result.files.append(r.result())
                    except TunesmithError as e:  # this piece's audio is over a limit
                        self.result.errors.append(str(e))
                        self.log(str(e), "warning")
        finally:
            pool.shutdown(wait=True, cancel_futures=exc[0] is not None)
            if exc[0] is KeyboardInterrupt:  # the audio that was done is on disk: listed
                self.result.files += [r.result() for r in self._renders if r.done()
                                      and not r.cancelled() and r.exception() is None]
            if self._rendering is not None:
                self._rendering.__exit__(None, None, None)
                self._rendering = None
        if exc[0] is None:
            self._clear()
            self.result.files.sort()
            self._write_manifest()
        elif exc[0] is KeyboardInterrupt and self.result.files:  # Ctrl-C: what was written
            self._clear()  # and with which seed, for the pieces on disk
            self.result.files = sorted(p for p in self.result.files if p.is_file())
            self._write_manifest(interrupted=True)
            self.log(f"interrupted: {self.result.total} of {self.about.get('num', '?')} "
                     f"pieces written to {self.out_dir} ({MANIFEST} lists them; some "
                     "may have no audio)", "warning")

    def _write_manifest(self, interrupted: bool = False) -> None:
        data = dict(self.about, family=self.family.name,
                    files=[p.name for p in self.result.files], errors=self.result.errors,
                    warnings=self.result.warnings) | ({"interrupted": True}
                                                      if interrupted else {})
        _write_text(self.out_dir / MANIFEST, json.dumps(data, indent=2, default=str) + "\n")


def fresh_folder(parent: str | Path = "compositions") -> Path:
    """A new numbered folder under ``parent`` (``compositions/001``, then ``002``, ...),
    made now, so that compositions of different runs never mix and nothing is
    overwritten."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    taken = [int(p.name) for p in parent.iterdir() if p.name.isdigit()]
    n = max(taken, default=0) + 1
    while True:
        folder = parent / f"{n:03d}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:  # another compose took it a moment ago
            n += 1


# what a writer names its files: tune_01.abc, piece_12.mid / .wav / .png, ..._attention.png
_PIECE_FILE = re.compile(r"^[a-z]+_\d+(_attention)?\.(abc|mid|wav|png)$")


def _listed_files(folder: Path) -> list[str]:
    """The plain file names an earlier writer's manifest lists (nothing with a path)."""
    try:
        data = json.loads((folder / MANIFEST).read_text())
        names = data["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [n for n in names if isinstance(n, str) and n and Path(n).name == n
            and n not in (".", "..")]


def _write_text(path: Path, text: str) -> Path:
    return _write_bytes(path, text.encode("utf-8"))


def _write_bytes(path: Path, data: bytes) -> Path:
    try:
        path.write_bytes(data)
    except OSError as e:
        raise TunesmithError(f"cannot write ({e.strerror or e})", path) from None
    return path


def _writing(writer, piece, path: Path, **kw) -> Path:
    """A library writer's failure (symusic raises RuntimeError) as a one-line error."""
    try:
        return writer(piece, path, **kw)
    except (OSError, RuntimeError) as e:
        raise TunesmithError(f"cannot write ({getattr(e, 'strerror', None) or e})",
                             path) from None


def seeded(options: ComposeOptions) -> ComposeOptions:
    """``options`` with a seed: its own, or one drawn now (to be recorded with what it
    makes, so that any composition can be made again)."""
    if options.seed is not None:
        return options
    import secrets

    return replace(options, seed=secrets.randbelow(2**31))


def _check_wav_length(options: ComposeOptions, output: Output) -> None:
    """``--seconds`` longer than a WAV may hold, refused before composing (not after)."""
    from tunesmith.io.audio import fluidsynth_available
    from tunesmith.io.limits import ENV, limits

    most = limits().wav_seconds
    if options.seconds is not None and options.seconds > most and output.wav \
            and fluidsynth_available():
        raise OptionError("seconds", f"is {options.seconds:g}, but a WAV may hold at most "
                          f"{most:g} s (wav_seconds limit; raise it with "
                          f"{ENV}=wav_seconds=N), or give --no-wav")


def write(checkpoint, options: ComposeOptions, out_dir: str | Path, output: Output = Output(),
          log=None, progress: Progress | None = None, while_rendering=None) -> ComposeResult:
    """Compose and write in one call (what ``tunesmith compose`` does); see
    :class:`CompositionWriter` for ``while_rendering``. Without a seed one is drawn and
    recorded (the manifest's ``options.seed``, the result's ``seed``), so that any
    composition can be made again (beam search too: a rejected tune's drafts are drawn)."""
    from tunesmith import families

    family = families.for_representation(checkpoint.representation.name)
    _check_wav_length(options, output)
    options = seeded(options)  # so that the manifest can say how to compose again
    recorded = to_dict(options)
    bias = family.repeat_bias_of(options, checkpoint.representation, checkpoint.model)
    if bias is not None:  # recorded as composed: the family's default filled in
        recorded["repeat_bias"] = bias
    if "style_guidance" in family.controls:  # likewise
        recorded["style_guidance"] = family.compose_options(options).style_guidance
    about = {"model": str(checkpoint.path), "num": options.num, "options": recorded}
    attend = None
    if output.attention:
        from functools import partial

        from tunesmith.app.attention import check_attends, draw_composition

        check_attends(checkpoint)  # before any piece is composed
        attend = partial(draw_composition, checkpoint, family, style=options.style)
    with CompositionWriter(out_dir, family, output, log=log, about=about,
                           while_rendering=while_rendering, attend=attend) as writer:
        compose(checkpoint, options, sink=writer, log=log, progress=progress)
    writer.result.seed = options.seed
    return writer.result
