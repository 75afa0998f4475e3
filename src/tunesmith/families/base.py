"""The family protocol: one declared object per family.

A family ties together a kind of corpus, a representation, the models that read that
representation, a shipped default model and a composer. Generic code (the application
layer, the CLI, the studio) asks a family what it supports through the attributes below;
it never branches on a family's or a representation's name and never probes with
``hasattr``.

A family declares (class attributes):

- ``name`` (``abc``), ``representation`` (the registry name of the representation it
  encodes with), ``default_model`` (an architecture of the model registry),
  ``pretrained`` (the folder of its shipped model under ``tunesmith/pretrained``),
  ``default_corpus``;
- ``data_options``: the frozen dataclass of its data settings (what ``train`` records
  in a run as ``"data"``);
- ``controls``: the :class:`ComposeOptions` fields its composer reads (``num`` and
  ``seed`` always apply); ``defaults``: its values for the fields that are ``None``
  until a family fills them (``max_len``, ``primer_len``);
- ``primer``: what ``ComposeOptions.primer`` means to it (``"text"``: the start of the
  text; ``"piece"``: a music file or ``"corpus"``);
- ``item`` / ``stem`` / ``unit``: what its pieces are called (``tunes``), their file
  names (``tune_01``) and what its sequences count (``characters``);
- ``writes_text`` (its compositions have a text form, written as ``.abc``),
  ``draws_by_default`` (a piano-roll PNG per piece unless asked not to),
  ``checks_validity`` (it can say what share of its raw samples are valid:
  :meth:`sample_validity`), ``reads_pieces`` (its corpora are MIDI / score files, which
  ``prepare`` reports on).

and implements :meth:`prepare_data`, :meth:`model_sizes`, :meth:`batches` and
:meth:`compose` (and, where it applies, :meth:`init_model`, :meth:`sample_validity`).
A family that continues a phrase (its model declares ``attends_source``: ``continue``,
``continue-events``, ``continue-remi``) also has ``read_continued(path, tune)`` (what it
reads of a file: an ABC tune's text, a MIDI piece), ``continued(composition,
representation)`` (the same of a composition, None when no bar follows the source's) and
``source_attention(checkpoint, continued, style) -> (weights, row bars, column bars)``
for ``tunesmith attention``.

The models a family can train are those of the model registry that read its
representation (:meth:`models`): adding a model over an existing representation
touches the model's file, its registry line and its presets, nothing here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from tunesmith.errors import OptionError
from tunesmith.options import opt
from tunesmith.progress import Progress
from tunesmith.sampling.settings import DEFAULTS, HeadValue, parse_head_ints, parse_head_values

Log = Callable[..., None]  # log(message, level="info"); a family says "warning" for a drop


def _quiet(message: str, level: str = "info") -> None:
    pass


def both_lengths() -> OptionError:
    """The error for a length given both as ``--max-len`` and as ``--seconds``."""
    return OptionError("max_len", "and --seconds both given: give one (--seconds sets the "
                       "length)")


@dataclass
class Prepared:
    """A corpus made ready for training and evaluation."""

    representation: object
    sequences: dict[str, list]  # split -> encoded items (token lists, message or frame arrays)
    info: dict  # corpus, tunes / tokens per split, skipped, split mode, unit
    corpus: object = None  # the PieceCorpus whose ingest report a run writes out, if any


@dataclass(frozen=True)
class ComposeOptions:
    """What a composer is asked for. Fields a family does not list in its ``controls``
    must keep their defaults; ``None`` means the family's own default."""

    num: int = opt(8, "how many pieces")
    seed: int | None = opt(None, "random seed: the same seed and options (--num too: "
                           "the pieces are drawn side by side) write the same pieces "
                           "(default: a fresh one, recorded in composition.json)")
    max_len: int | None = opt(None, "length limit: characters per tune (abc, default "
                              "1500), messages per piece (events, 600), tokens per piece "
                              "(remi, 2000) or frames after the primer (pianoroll, 128)")
    seconds: float | None = opt(None, "events, pianoroll, remi: length of each piece in "
                                "seconds, a primer's included (instead of --max-len; "
                                "remi finishes the bar running then)")
    bars: int | None = opt(None, "remi: length of each piece in bars (instead of "
                           "--max-len); the model may end a piece sooner; continue, "
                           "continue-events, continue-remi: bars written after the "
                           "primer's (default: the model's target bars); abc: the "
                           "length of each tune in bars, for a model trained with --ends "
                           "(default: drawn as the training tunes have them)")
    style: str = opt("", "continue: the style of the continuation, a tradition or a tune "
                     "type or one of each ('irish,reel'; tunesmith corpora --styles); "
                     "continue-events, continue-remi: a label of its corpus (a "
                     "sub-folder or LABEL=); default: none given, the model goes by the "
                     "primer")
    style_guidance: float | None = opt(None, "continue, continue-events, continue-remi: "
                                       "with --style, push the continuation towards the "
                                       "style (classifier-free guidance of weight W: "
                                       "log p(style) + W (log p(style) - log p(none)); 0 = "
                                       "plain sampling; default: 2 for continue, 0 for the "
                                       "MIDI ones; 0 without --style)")
    grace: float = opt(8.0, "events, pianoroll, remi: with --seconds or --bars (pianoroll: "
                       "any length), sample this many beats more and end the piece at "
                       "the first beat after its length that closes on a cadence (V-I or "
                       "IV-I into the tonic, the tonic in the bass); 0 cuts at the length")
    primer: str = opt("", r"abc: the start of each tune, e.g. 'M:6/8\nK:D\n', or an "
                      "ABC file whose first tune is continued; events, "
                      "pianoroll: a MIDI / MusicXML / ABC file, or 'corpus' for a random "
                      "piece of the family's corpus; continue: an ABC file, "
                      "continue-events, continue-remi: a MIDI / MusicXML file or "
                      "'corpus' (the model's), whose first bars are continued")
    primer_len: int | None = opt(None, "events: messages (default 30), remi: tokens "
                                 "(64), pianoroll: frames (16) taken from the primer")
    temperature: HeadValue = opt(DEFAULTS.temperature, "sampling temperature: one value, "
                                 "or per head, e.g. note=0.9,velocity=1,time=0.8",
                                 cast=parse_head_values)
    top_k: int | Mapping[str, int] = opt(DEFAULTS.top_k, "keep the k most probable "
                                         "tokens: one value or per head (0 = off)",
                                         cast=parse_head_ints)
    top_p: HeadValue = opt(DEFAULTS.top_p, "nucleus sampling: one value or per head "
                           "(1 = off)", cast=parse_head_values)
    constrain: bool = opt(True, "events: sample the three heads independently, as the "
                          "seed did (default: a note-off may only name a sounding key, a "
                          "note-on only a silent one); abc: keep a tune abc2midi rejects, "
                          "whose bars break its M: or that ends off its tonic (default: "
                          "resample it from the error); continue-events: let a message "
                          "end a silent key; remi, continue-remi: sample without REMI's "
                          "grammar (and, continue-remi, without the primer's meter)",
                          flag="unconstrained", negate=True)
    mode: str = opt("sample", "pianoroll: 'argmax' keeps only the most probable sampled "
                    "key of each frame (a melody)", choices=("sample", "argmax"))
    gibbs_steps: int | None = opt(None, "pianoroll RBM models: Gibbs steps per frame "
                                  "(default: the model's)")
    repeat_bias: float | None = opt(None, "abc, remi, pianoroll models trained with "
                                    "--lookback: draw what an earlier bar offers next (a "
                                    "character, token or frame) e^W times as likely as the "
                                    "model gives it (0 = the model's own odds; default: 4 "
                                    "for a piano roll, 1 for remi, 0 for abc)")
    beam: int | None = opt(None, "beam search with N hypotheses per piece instead of "
                           "sampling (abc, events, remi, continue, continue-events, "
                           "continue-remi)")
    length_penalty: float = opt(0.0, "beam search: divide a hypothesis's log-probability "
                                "by ((5 + length) / 6) ** this (0 = none; longer pieces "
                                "win as it grows)")
    stochastic_beam: bool = opt(False, "beam search: rank candidates with Gumbel noise "
                                "(varied results per seed, near the mode)")

    MAX_NUM: ClassVar[int] = 10_000  # pieces per call (more: call again)
    MAX_BARS: ClassVar[int] = 10_000  # bars per piece

    def __post_init__(self):
        if self.num < 1:
            raise OptionError("num", f"must be >= 1, got {self.num}")
        if self.num > self.MAX_NUM:
            raise OptionError("num", f"must be at most {self.MAX_NUM:,} per call, got "
                              f"{self.num:,} (compose in several calls)")
        for name in ("max_len", "primer_len", "gibbs_steps", "bars"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise OptionError(name, f"must be >= 1, got {value}")
        if self.bars is not None and self.bars > self.MAX_BARS:
            raise OptionError("bars", f"must be at most {self.MAX_BARS:,}, got {self.bars:,}")
        if self.bars is not None and self.seconds is not None:
            raise OptionError("bars", "and --seconds both given: give one")
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise OptionError("seed", f"must be between 0 and 2^63 - 1, got {self.seed}")
        if self.seconds is not None and not 0 < self.seconds < 24 * 3600:
            raise OptionError("seconds", f"must be > 0 and less than a day, got "
                              f"{self.seconds}")
        if not 0 <= self.grace <= 64:
            raise OptionError("grace", f"must be between 0 and 64 beats, got {self.grace}")
        if self.repeat_bias is not None and not 0 <= self.repeat_bias <= 10:
            raise OptionError("repeat_bias", f"must be between 0 and 10, got "
                              f"{self.repeat_bias}")
        if self.style_guidance is not None and not 0 <= self.style_guidance <= 10:
            raise OptionError("style_guidance", f"must be between 0 and 10, got "
                              f"{self.style_guidance}")
        if self.mode not in ("sample", "argmax"):
            raise OptionError("mode", f"must be sample or argmax, not {self.mode!r}")
        if self.beam is not None:
            if not 1 <= self.beam <= 64:
                raise OptionError("beam", f"must be between 1 and 64, got {self.beam}")
            for name in ("temperature", "top_k", "top_p"):
                if getattr(self, name) != getattr(DEFAULTS, name):
                    raise OptionError(name, "does not apply to beam search (--beam): it "
                                      "keeps the most probable continuations")
        elif self.length_penalty or self.stochastic_beam:
            raise OptionError("length_penalty" if self.length_penalty else "stochastic_beam",
                              "is for beam search: add --beam N")


ALWAYS = frozenset({"num", "seed"})  # options every composer reads


def repeat_bias(opts: ComposeOptions, representation, default: float = 0.0) -> float:
    """compose's ``--repeat-bias`` for a model of ``representation``: the one asked for,
    else ``default`` for a model that reads a lookback, else 0; an :class:`OptionError`
    when one is asked of a model that reads none."""
    reads = getattr(representation, "lookback_inputs", False)
    if opts.repeat_bias is None:
        return default if reads else 0.0
    if opts.repeat_bias and not reads:
        raise OptionError("repeat_bias", "needs a model trained with --lookback (this one is "
                          "offered no earlier bar)")
    return opts.repeat_bias


@dataclass
class Composition:
    """One composed piece, in memory: the music and, where the family has one, its text.

    ``piece`` is None when the text could not be played (``error`` says why); such a
    composition is still written (its text) and reported."""

    index: int  # 1-based, in the order of the request
    title: str
    piece: object = None  # tunesmith.music.Piece
    text: str = ""  # the text form (an ABC tune-book entry), "" where there is none
    error: str = ""
    midi: bytes = b""  # the MIDI file as the family's player wrote it (abc2midi), if any
    warning: str = ""  # plays, but not as the family's checks wanted (said beside the file)

    @property
    def valid(self) -> bool:
        return self.piece is not None and not self.error


Sink = Callable[[Composition], None]  # hears each composition as soon as it is final


@dataclass
class CorpusItem:
    """One piece of a model's corpus for the musical report: its label, its piece as the
    representation keeps it (made on demand: parsing can be slow), and the sequence that
    memorisation compares (characters for ABC, note tokens otherwise)."""

    label: str
    load: Callable[[], object]  # -> Piece, or None when it cannot be read
    memory: object  # str or a token list


class Family:
    """Base of the family objects; see the module docstring for what each declares."""

    name: ClassVar[str]
    representation: ClassVar[str]
    default_model: ClassVar[str]
    pretrained: ClassVar[str]
    default_corpus: ClassVar[str]
    data_options: ClassVar[type]
    # data options a run may change when it is resumed (`train --resume RUN --FLAG`): those
    # that change how it trains from there on, not what the model reads
    resumable_data: ClassVar[frozenset[str]] = frozenset()
    controls: ClassVar[frozenset[str]] = frozenset()
    defaults: ClassVar[Mapping[str, Any]] = {}
    primer: ClassVar[str] = "piece"  # "text" | "piece"
    item: ClassVar[str] = "pieces"
    stem: ClassVar[str] = "piece"
    unit: ClassVar[str] = "tokens"
    writes_text: ClassVar[bool] = False
    draws_by_default: ClassVar[bool] = True
    checks_validity: ClassVar[bool] = False
    reads_pieces: ClassVar[bool] = True
    report_defaults: ClassVar[Mapping[str, Any]] = {"num": 30, "seconds": 30.0}
    repeat_bias_default: ClassVar[float] = 0.0  # compose's --repeat-bias, lookback models
    memory_unit: ClassVar[str] = "notes"  # what memorisation counts
    long_copy: ClassVar[int] = 32  # a copied run at least this long is a long copy

    # --- what it supports ----------------------------------------------------------------
    def models(self) -> tuple[str, ...]:
        """The architectures that read this family's representation, default first."""
        from tunesmith import models

        names = [name for name, cls in models.registry().items()
                 if self.representation in _names(cls.representation)]
        return tuple(sorted(names, key=lambda n: (n != self.default_model, n)))

    def check_arch(self, arch: str | None) -> str:
        arch = arch or self.default_model
        if arch not in self.models():
            raise OptionError("arch", f"{arch} is not a model of the {self.name} family "
                              f"(choose from: {', '.join(self.models())})")
        return arch

    def compose_options(self, opts: ComposeOptions) -> ComposeOptions:
        """``opts`` checked against :attr:`controls` and with the family's defaults in
        place of ``None``. A field the composer would ignore, set away from its default,
        is an :class:`OptionError` (naming the field), not silently dropped."""
        blank = ComposeOptions()
        for f in dataclasses.fields(ComposeOptions):
            if f.name in ALWAYS or f.name in self.controls:
                continue
            if getattr(opts, f.name) != getattr(blank, f.name):
                raise OptionError(f.name, f"is not an option of the {self.name} family's "
                                  "composer")
        if opts.seconds is not None and opts.max_len not in (None, self.defaults.get("max_len")):
            # (a max_len equal to the family's default is taken as filled in by an earlier
            # call: options pass through here more than once on their way to a composer)
            raise both_lengths()
        if opts.seconds is not None:
            from tunesmith.io.limits import limits

            if opts.seconds > limits().seconds:
                raise OptionError("seconds", f"{opts.seconds:,.0f} is over the limit of "
                                  f"{limits().seconds:,.0f} s a piece may last (seconds; "
                                  "raise it with TUNESMITH_LIMITS=seconds=N)")
        fill = {k: v for k, v in self.defaults.items() if getattr(opts, k) is None}
        if opts.style_guidance is None and "style_guidance" in self.controls:
            # guidance pulls towards the style asked for: with none asked, plain sampling
            fill["style_guidance"] = self.defaults.get("style_guidance", 0.0) if opts.style \
                else 0.0
        return dataclasses.replace(opts, **fill) if fill else opts

    def can(self, control: str, representation) -> bool:
        """Whether a model of ``representation`` honours ``control``, one of
        :attr:`controls` (the studio leaves out of its form what it cannot). Default: yes."""
        return True

    def check_primer(self, opts: ComposeOptions, representation) -> None:
        """Refuse what composing ``opts`` would refuse of its primer, before any work (the
        studio answers at once, not in a failed job). Default: nothing to check before
        the primer is read."""

    def primer_piece_of(self, checkpoint, opts: ComposeOptions):
        """The piece ``opts.primer`` names where its tempo, meter and instrument are to be
        kept (:meth:`at_primer_tempo`, ``app.composing``), else None. Default: None (a
        family whose primer is text, or whose composer keeps the primer's tempo itself);
        the beat-based families read it (``families.events.primer_piece_to_keep``)."""
        return None

    def at_primer_tempo(self, checkpoint, primer, log: Log = _quiet):
        """``checkpoint`` with its representation decoding at the tempo of ``primer`` (a
        piece from :meth:`primer_piece_of`, or None; its first tempo), so that a primer at
        90 BPM goes on at 90, and ``--seconds`` counts at that tempo; ``checkpoint``
        itself without a primer or a tempo written in it (:meth:`primer_piece_of` leaves
        out the default a score without a metronome mark reads as).

        The beat-based representations (events, REMI, piano roll) encode time in beats,
        so a piece's tempo is not in what the model reads: it is how the beats are
        played back, and the primer's is the one a musician expects to hear."""
        rep = checkpoint.representation
        if primer is None or not primer.tempos or not hasattr(rep, "qpm"):
            return checkpoint
        qpm = primer.tempos[0].qpm
        if round(qpm, 1) == round(rep.qpm, 1):  # (a MIDI round trip: 70 -> 69.99999)
            return checkpoint
        try:
            rep = dataclasses.replace(rep, qpm=float(qpm))
        except ValueError:  # a tempo the representation cannot hold: its own, as before
            return checkpoint
        own = checkpoint.representation.qpm
        log(f"at the primer's tempo, {round(qpm, 1):g} BPM (the model's default: "
            f"{round(own, 1):g})")
        return dataclasses.replace(checkpoint, representation=rep)

    def own_corpus(self, checkpoint, primer: str = "corpus") -> str:
        """The corpus ``checkpoint`` was trained on, as its run recorded it (``--primer
        corpus`` draws from it), else the family's default corpus (also for a benchmark's
        frames, which hold no pieces to prime with). When ``primer`` is
        ``"corpus"``, a corpus that is not on this machine (a model trained on someone's
        own folder) is a one-line error saying so."""
        from pathlib import Path

        from tunesmith.corpora import BUILTIN
        from tunesmith.corpora.labelled import sources
        from tunesmith.errors import TunesmithError
        from tunesmith.io.boulanger import is_boulanger_file

        recorded = (getattr(checkpoint, "meta", None) or {}).get("summary", {}).get("corpus")
        corpus = (recorded.get("corpus") if isinstance(recorded, dict) else None) or \
            self.default_corpus
        if is_boulanger_file(corpus):  # frames, not pieces: the family's own corpus instead
            return self.default_corpus
        if primer == "corpus" and not all(s in BUILTIN or Path(s).exists()
                                          for _, s in sources(corpus, self.name)):
            raise TunesmithError(f"--primer corpus draws from the model's own corpus, "
                                 f"{corpus}, which is not on this machine: give --primer "
                                 "a file instead")
        return corpus

    def repeat_bias_of(self, opts: ComposeOptions, representation, model=None) -> float | None:
        """The tilt towards an earlier bar that composing ``opts`` with a model of
        ``representation`` uses (``--repeat-bias``, its default filled in), or None for a
        family without one: what the composer applies and ``composition.json`` records."""
        if "repeat_bias" not in self.controls:
            return None
        return repeat_bias(opts, representation, self.repeat_bias_default)

    def usable_data(self, data, notes: list[str]):
        """``data`` as this machine can honour it when reading a corpus again (evaluate);
        what had to change is added to ``notes``. Default: unchanged."""
        return data

    # --- training ------------------------------------------------------------------------
    def ingest(self, corpus: str, filt, progress: Progress | None = None):
        """The ingest report of a MIDI / score corpus (``tunesmith prepare``,
        ``reads_pieces``): :func:`~tunesmith.corpora.load_piece_corpus` with the
        :class:`~tunesmith.corpora.IngestFilter` ``filt``."""
        from tunesmith.corpora import load_piece_corpus

        return load_piece_corpus(corpus, filt, progress=progress)

    def prepare_data(self, corpus: str, data, representation=None,
                     progress: Progress | None = None, log: Log = _quiet) -> Prepared:
        """Load ``corpus``, split it, fit (or reuse) the representation, encode."""
        raise NotImplementedError

    def model_sizes(self, representation) -> dict:
        """The model settings the representation decides (vocabulary / head sizes)."""
        raise NotImplementedError

    def init_model(self, model, prepared: Prepared) -> None:
        """A data-dependent start for a new model (default: none)."""

    def batches(self, prepared: Prepared, train_config, data) -> tuple[object, object]:
        """(training batch source with ``batch(step)``, re-iterable validation batches)."""
        raise NotImplementedError

    # --- composing -----------------------------------------------------------------------
    def compose(self, checkpoint, opts: ComposeOptions, sink: Sink | None = None,
                log: Log = _quiet, progress: Progress | None = None,
                start: int = 1) -> list[Composition]:
        """Compose ``opts.num`` pieces (options already passed through
        :meth:`compose_options`), numbered from ``start``; ``sink`` hears each as soon as
        it is final."""
        raise NotImplementedError

    def piece_steps(self, opts: ComposeOptions, representation) -> int:
        """At most how many tokens (characters, messages, frames) one piece of ``opts``
        takes: what a composition's memory grows with."""
        raise NotImplementedError

    def sample_validity(self, checkpoint, num: int, temperature: HeadValue, seed: int,
                        progress: Progress | None = None) -> float:
        """The share of the model's raw samples that are valid (``checks_validity``)."""
        raise NotImplementedError

    # --- what a model reads of a piece (attention pictures) ---------------------------
    def encoded(self, piece, representation) -> tuple[object, object]:
        """``piece`` as the model reads it, and where each step falls: (ids or frames,
        :class:`~tunesmith.representations.base.Positions`), bars of the piece's first
        time signature (4/4 when it has none)."""
        ids = representation.encode(piece)
        sig = piece.time_signatures[0] if piece.time_signatures else None
        per_bar = 4.0 * sig.numerator / sig.denominator if sig and sig.denominator else 4.0
        return ids, representation.positions(ids, per_bar)

    def read_encoded(self, path, representation, tune: int = 1) -> tuple[object, object]:
        """A music file (any format :func:`~tunesmith.io.read.read_piece` reads; ``tune``
        of an ABC book) as :meth:`encoded`; a file it cannot read is a one-line error."""
        from tunesmith.errors import TunesmithError
        from tunesmith.io.read import read_piece

        piece = read_piece(path, tune=tune)
        if not piece.plays_piano_keys():
            raise TunesmithError("no notes on the piano keys to read", path)
        return self.encoded(piece, representation)

    # --- the musical report ----------------------------------------------------------
    def corpus_items(self, corpus: str, data, representation, progress=None,
                     log: Log = _quiet) -> dict[str, list[CorpusItem]]:
        """The corpus's pieces per split (``train``, ``valid``, ``test``), as the model's
        representation keeps them, for the musical report."""
        raise NotImplementedError

    def report_piece(self, composition: Composition):
        """The piece of a composition that the report measures (default: its music)."""
        return composition.piece if composition.valid else None

    def memory(self, piece) -> object:
        """What memorisation compares for a piece (default: its note tokens)."""
        from tunesmith.evaluation.memorisation import note_tokens

        return note_tokens(piece)


def _names(declared) -> tuple[str, ...]:
    """A model's declared representation(s): one name or a tuple of names."""
    return (declared,) if isinstance(declared, str) else tuple(declared)


def model_sizes(family: Family, config_class, representation) -> dict:
    """The settings of a model of ``config_class`` that the representation decides: the
    family's names for them (``vocab_size``, ``note_classes``, ...) that the config has,
    ``heads`` ({head: classes}) for a model that reads any representation's heads, and
    ``inputs`` ({input: classes}, what a step carries beside its ids) for a model that
    reads them; a model without that field cannot train on a representation with inputs
    (an :class:`OptionError`)."""
    fields = {f.name for f in dataclasses.fields(config_class)}
    given = family.model_sizes(representation)
    if given.get("inputs") and "inputs" not in fields:
        readers = _models_with(family, "inputs")
        raise OptionError("positions", f"this model does not read position inputs (nor "
                          f"any other input beside the ids: --positions, --phrases, "
                          f"--degrees, --home, --sections, --lookback); of the "
                          f"{family.name} family's models, {' and '.join(readers)} "
                          f"{'do' if len(readers) > 1 else 'does'}")
    if given.get("proposal_keys") and "proposal_keys" not in fields:
        raise OptionError("lookback", f"this model does not read a lookback's proposed "
                          f"frame; of the {family.name} family's models, "
                          f"{', '.join(_models_with(family, 'proposal_keys'))} do")
    sizes = {k: v for k, v in given.items() if k in fields}
    if "heads" in fields:
        sizes["heads"] = dict(representation.heads)
    return sizes


def _models_with(family: Family, field: str) -> list[str]:
    """The family's architectures whose config has ``field``."""
    from tunesmith import models

    return [n for n in family.models() if field in
            {f.name for f in dataclasses.fields(models.registry()[n].config_class)}]


__all__ = ["ALWAYS", "ComposeOptions", "Composition", "CorpusItem", "Family", "Log",
           "Prepared", "Sink", "model_sizes", "repeat_bias"]
