"""The ABC family: ABC corpora -> ``abc_chars`` -> a model over characters -> ABC tunes,
played by abc2midi (MIDI) and FluidSynth (WAV)."""

from __future__ import annotations

import dataclasses
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunesmith.abc_text import primer_text
from tunesmith.errors import OptionError, TunesmithError, first_line
from tunesmith.families.base import (
    ComposeOptions,
    Composition,
    CorpusItem,
    Family,
    Prepared,
    Sink,
    _quiet,
)
from tunesmith.lookback import LOOKBACK_HELP
from tunesmith.options import opt
from tunesmith.progress import StepCounter

MIN_CHAR_COUNT = 3  # characters rarer than this in training become <unk>
# abc2midi plays repeats as written; a sampled tune whose repeat signs nest badly can
# play for half an hour (seen: 25 minutes from 300 written notes). Longer than this,
# compose rejects it and resamples it like a tune abc2midi refuses. Folk tunes played
# with their repeats last 0.5-3 minutes.
MAX_PLAYED_SECONDS = 300
# Resampling (sampling/repair.py): CUTS attempts from the error, each of DRAFTS drafts,
# then one of RESTART_DRAFTS drawn afresh. Each attempt goes on from the draft that got
# furthest, so a tune with several bars that break its meter is mended bar by bar. Each
# attempt is a sampling pass the next waits for, so fewer, wider attempts are faster:
# against 4 cuts of 4 drafts, 2 of 8 took 4 passes instead of 6 for the same share of
# mended tunes (benchmarks/RESULTS.md, "Bars that keep the meter"). A whole new tune
# passes every check about one time in five (87 of 100 first draws were rejected), so
# the attempt afresh draws more.
CUTS = 2
DRAFTS = 8
RESTART_DRAFTS = 16


@dataclass(frozen=True)
class AbcData:
    clean: bool = opt(False, "skip tunes that abc2midi reports errors for (needs abcmidi); "
                      "recorded in the run, so evaluate uses it too")
    positions: bool = opt(False, "the model also reads where each step stands (the share of "
                          "its bar filled and the bars into its section); a checkpoint keeps "
                          "what it was trained with")
    degrees: bool = opt(False, "abc: the model also reads the scale degree of the last note "
                        "above the key's tonic, so it can tell when a tune could end at home")
    home: bool = opt(False, "abc: the model also reads the letter of the key's tonic, so it "
                     "need not remember from the K: line where a tune ends at home")
    sections: bool = opt(False, "abc: the model also reads how many bars are left before "
                         "the section it writes is as long as the last one, and how many "
                         "sections have closed, so it can write a B part as long as its A "
                         "part and end after it")
    section_reading: str = opt("marks", "abc, with --sections: how sections are counted: "
                               "'parts' as a musician counts them (pickups left out, "
                               "endings joined to their part), 'marks' between any two "
                               "section marks (endings and pickups counted as bars of "
                               "their own; the shipped model's reading)",
                               choices=("marks", "parts"))
    ends: bool = opt(False, "abc: the model also reads how many bars are left before the "
                     "tune's end; compose gives each tune a length, drawn as often as the "
                     "training tunes have it, so the model knows when its last bar comes")
    lookback: bool = opt(False, LOOKBACK_HELP)
    ending_weight: float = opt(1.0, "abc: weight of the training loss on each tune's last "
                               "note (its letter and length) against 1 for every other "
                               "character; above 1 the model learns harder how tunes end "
                               "(validation and likelihoods stay unweighted)")

    def __post_init__(self):
        if not self.ending_weight > 0:
            raise OptionError("ending_weight", f"must be > 0, got {self.ending_weight}")
        if self.section_reading != "marks" and not self.sections:
            raise OptionError("section_reading", "is how --sections counts sections; "
                              "give --sections too")


class AbcFamily(Family):
    name = "abc"
    representation = "abc_chars"
    default_model = "char_rnn"
    pretrained = "folk-abc-small"
    default_corpus = "folk-abc"
    data_options = AbcData
    resumable_data = frozenset({"ending_weight"})  # a fine-tune of a run's endings
    controls = frozenset({"max_len", "bars", "primer", "temperature", "top_k", "top_p",
                          "constrain", "beam", "length_penalty", "stochastic_beam",
                          "repeat_bias"})
    defaults = {"max_len": 1500}
    primer = "text"
    item, stem, unit = "tunes", "tune", "characters"
    writes_text = True
    draws_by_default = False
    checks_validity = True
    reads_pieces = False
    report_defaults = {"num": 100}
    memory_unit = "characters"
    long_copy = 64  # about five bars of a reel

    # --- training ------------------------------------------------------------------------
    def prepare_data(self, corpus, data, representation=None, progress=None,
                     log=_quiet) -> Prepared:
        """Load the corpus, split by tune, fit (or reuse) the vocabulary, encode every
        tune. ``data.clean`` skips tunes abc2midi rejects."""
        from tunesmith.abc_text import respell_keys
        from tunesmith.data.splits import split_items
        from tunesmith.representations.abc_chars import AbcChars

        c = load_abc_tunes(corpus, data.clean, log)
        splits = split_items(c.texts)  # by the text as written: held-out tunes stay so
        spell = respell_keys if representation is None else representation.read_text
        texts = [spell(t) for t in c.texts]  # keys as the model reads them
        if representation is None:
            if not splits["train"]:
                raise TunesmithError("corpus too small: no tune landed in the training split",
                                     corpus)
            representation = AbcChars.fit((texts[i] for i in splits["train"]),
                                          canonical_keys=True,
                                          min_count=MIN_CHAR_COUNT,
                                          bar_inputs=data.positions,
                                          degree_inputs=data.degrees,
                                          home_inputs=data.home,
                                          section_inputs=data.sections,
                                          section_reading=data.section_reading,
                                          end_inputs=data.ends,
                                          lookback_inputs=data.lookback)
        seqs = {s: [representation.encode_text(texts[i]) for i in idx]
                for s, idx in splits.items()}
        info = {"corpus": corpus, "tunes": {s: len(v) for s, v in seqs.items()},
                "tokens": {s: sum(len(x) for x in v) for s, v in seqs.items()},
                "skipped": len(c.problems), "clean": data.clean, "unit": self.unit}
        return Prepared(representation, seqs, info)

    def usable_data(self, data: AbcData, notes: list[str]) -> AbcData:
        from tunesmith.io import abc2midi

        if data.ends:
            notes.append("the model is told each tune's length (--ends): its likelihood is "
                         "of the text given that length; python benchmarks/tune_length.py "
                         "--model M gives the bits/char to add before comparing it with a "
                         "model that is told none")

        if data.clean and not abc2midi.available():
            notes.append("the model was trained with --clean but abc2midi is not installed; "
                         "evaluating on the uncleaned corpus (apt-get install abcmidi for the "
                         "same splits)")
            return dataclasses.replace(data, clean=False)
        return data

    def model_sizes(self, representation) -> dict:
        return {"vocab_size": len(representation.vocab), "inputs": representation.inputs}

    CHARS_PER_BAR = 40  # room a bar may take (folk bars: ~10 characters, 13 at most in
    # the seed lab's tunes; chord names, grace notes and spacing can triple that)

    def compose_options(self, opts: ComposeOptions) -> ComposeOptions:
        """As every family's, and ``--bars`` without ``--max-len`` lifts the character
        limit to what that many bars may take, so a long tune is not cut off short of its
        bars by the default limit."""
        if opts.bars is not None and opts.max_len is None:
            opts = dataclasses.replace(opts, max_len=max(
                self.defaults["max_len"], 300 + self.CHARS_PER_BAR * opts.bars))
        return super().compose_options(opts)

    def check_primer(self, opts: ComposeOptions, representation) -> None:
        """The primer as the model reads it (:func:`~tunesmith.abc_text.primer_text`)
        must leave room in ``opts.max_len``, which counts it, and hold only characters
        the model knows: else an OptionError on ``primer``."""
        text = representation.read_text(primer_text(opts.primer.replace("\\n", "\n")))
        if opts.max_len is not None and len(text) >= opts.max_len:
            raise OptionError("primer", f"is {len(text):,} characters, and --max-len "
                              f"({opts.max_len:,}) counts it: raise --max-len or give a "
                              "shorter primer")
        try:
            representation.primer_ids(text)
        except TunesmithError as e:
            raise OptionError("primer", first_line(e).removeprefix("primer ")) from None

    def can(self, control: str, representation) -> bool:
        if control == "bars":  # a tune's length is what a model trained with --ends reads
            return bool(getattr(representation, "end_inputs", False))
        return True

    def batches(self, prepared: Prepared, cfg, data=None):
        """Random training windows; validation over whole tunes from their start."""
        from tunesmith.data.tokens import SequenceBatches, TokenWindows

        rep = prepared.representation
        train, valid = prepared.sequences["train"], prepared.sequences["valid"]
        weights = None if train is valid or data is None else _ending_weights(
            rep, train, data.ending_weight)  # evaluate scores one split: no training
        if rep.inputs:  # rows (id, inputs...), what the model reads: made here, for the
            # splits in use only (evaluate scores one; reading costs ~30 us a character)
            same = train is valid
            valid = [rep.with_inputs(ids) for ids in valid]
            train = valid if same else [rep.with_inputs(ids) for ids in train]
        return (TokenWindows(train, cfg.seq_len, cfg.batch_size, seed=cfg.seed,
                             weights=weights),
                SequenceBatches(valid, max_items=cfg.eval_max_items))

    # --- composing -----------------------------------------------------------------------
    def compose(self, checkpoint, opts: ComposeOptions, sink: Sink | None = None,
                log=_quiet, progress=None, start: int = 1) -> list[Composition]:
        """Sample tunes; each becomes a Composition with its ABC text and, when it plays,
        its music.

        The music comes from abc2midi (the reference ABC player: it plays repeats,
        endings, ornaments and guitar chords) when it is installed, else from music21; a
        tune neither accepts keeps its text, with the reason. The tunes abc2midi accepts
        at once go to ``sink`` (which may start rendering them) while the rejected ones,
        and the ones with a bar that breaks their meter or that do not end on their
        tonic (:meth:`_Drafts.form`), are resampled from their errors, or drawn afresh
        (``opts.constrain``). (Checking
        and rendering each tune as soon as it was sampled was tried: on two cores it
        slowed the sampler, which the resampling waits on, by more than it saved.)"""
        from tunesmith.io import abc2midi

        model = checkpoint.model
        if opts.bars is not None and not self.can("bars", checkpoint.representation):
            raise OptionError("bars", "needs a model trained with --ends (this one is not "
                              "told a tune's length; --max-len limits its characters)")
        self.check_primer(opts, checkpoint.representation)
        drafts = _Drafts(model, checkpoint.representation, opts, next(model.parameters()).device,
                         progress)
        if opts.bars is not None:
            from tunesmith.abc_meter import bars_closed

            closed = bars_closed(drafts.primer)
            if closed >= opts.bars:
                raise OptionError("bars", f"is {opts.bars}, but the primer already has "
                                  f"{closed} bars: ask for more")
        texts = drafts.first()
        from tunesmith.abc_text import tempo_field

        tunes = _Tunes(texts, sink, start, fields=tempo_field(opts.primer.replace("\\n", "\n")))
        form = drafts.form(texts) if opts.constrain else {}
        rejected = tunes.publish(i for i in range(len(texts)) if i not in form)
        if (rejected or form) and opts.constrain:
            tunes.texts, kept = _repair(tunes.texts, rejected | form, drafts, opts, log,
                                        form=len(form))
            found = drafts.check([tunes.texts[i] for i in kept])
            tunes.warnings = {i: f"kept as drawn: {found[k][1]}" for k, i in enumerate(kept)
                              if k in found}
            rejected = tunes.publish(sorted(rejected | form))
        for i in range(len(texts)) if not abc2midi.available() else sorted(rejected):
            tunes.by_music21(i, rejected.get(i))
        return tunes.done()

    def piece_steps(self, opts: ComposeOptions, representation) -> int:
        return opts.max_len

    def sample_validity(self, checkpoint, num, temperature, seed, progress=None) -> float:
        """The share of ``num`` raw samples (no resampling) that music21 parses into at
        least one bar of notes."""
        from tunesmith.io.abc import check_tunes

        opts = ComposeOptions(num=num, temperature=temperature, seed=seed, constrain=False,
                              max_len=self.defaults["max_len"])
        drafts = _Drafts(checkpoint.model, checkpoint.representation, opts,
                         next(checkpoint.model.parameters()).device, progress)
        texts = drafts.first()
        return sum(reason is None for reason in check_tunes(texts)) / len(texts)


    def read_encoded(self, path, representation, tune: int = 1):
        """Tune ``tune`` of an ABC book as the model reads it: its model text, characters
        (nothing is parsed: the model reads text, not notes)."""
        ids = representation.encode_text(representation.read_text(read_tune_text(path, tune)))
        return ids, representation.positions(ids)

    # --- the musical report ----------------------------------------------------------
    def corpus_items(self, corpus, data: AbcData, representation, progress=None,
                     log=_quiet) -> dict[str, list[CorpusItem]]:
        """The corpus's tunes per split, parsed by music21 on demand (with the written bar
        lines, repeats played), compared for memorisation by the text of their body."""
        from tunesmith.corpora import load_abc_corpus
        from tunesmith.data.splits import split_items

        c = load_abc_corpus(corpus, clean=data.clean)
        idx = split_items(c.texts)
        texts = [representation.read_text(t) for t in c.texts]  # as the model's own are
        return {s: [CorpusItem(c.tunes[i].label, lambda t=texts[i]: parse_tune(t),
                               tune_body(texts[i])) for i in ix] for s, ix in idx.items()}

    def report_piece(self, composition: Composition):
        """A tune as music21 reads it (written bar lines, repeats played): the same reader
        as the real tunes it is compared with."""
        return parse_tune(composition.text) if composition.text else None

    def memory(self, piece) -> str:
        return tune_body(piece.source_text)


MUSIC_SUFFIXES = (".abc", ".mid", ".midi", ".xml", ".musicxml", ".mxl", ".krn")


def primer_file(primer: str) -> str:
    """``compose --primer`` on the command line: the text of the first tune of the ABC
    file it names (the tune is continued from its end), else ``primer`` as it is. The name
    of a music file that does not exist, or of a folder, is a one-line error. (The CLI's
    alone: a web page's primer is text, never a path on the server.)"""
    text = primer.replace("\\n", "\n")
    if not text or "\n" in text or ":" in text[:2]:
        return primer
    path = Path(text)  # ("~" is the ABC roll: expanded only as a folder, "~/")
    if text.startswith("~/"):
        path = path.expanduser()
    if path.is_file():  # (its tempo kept for the tune composed: the model reads no Q:)
        from tunesmith.abc_text import tempo_field

        tune = _tune_of(path, 1)
        return tempo_field(tune.text) + _model_text_of(tune, 1, path)
    if path.is_dir():
        raise TunesmithError("is a folder, not a file (--primer takes ABC text or an ABC "
                             "file)", path)
    if path.suffix.lower() in MUSIC_SUFFIXES:
        raise TunesmithError("no such file (--primer takes ABC text or an ABC file)", path)
    return primer


def read_tune_text(path, tune: int = 1) -> str:
    """The model text of tune ``tune`` (1-based) of the ABC book ``path``; a file that is
    not ABC, a tune out of range or an unusable one is a one-line error."""
    return _model_text_of(_tune_of(path, tune), tune, path)


def _tune_of(path, tune: int):
    """Tune ``tune`` (1-based) of the ABC book ``path``, as the book reader gives it."""
    from tunesmith.io.abc import read_tune_book
    from tunesmith.io.read import TuneOutOfRange, file_format

    try:
        fmt = file_format(path)
    except TunesmithError:  # its message lists the MIDI types, which an ABC model refuses
        raise TunesmithError("an ABC model reads ABC text: give an .abc file or the text "
                             "itself", path) from None
    if fmt != "abc":
        raise TunesmithError(f"an ABC model reads ABC text, this is a {fmt} file", path)
    tunes = read_tune_book(path)
    if not 1 <= tune <= len(tunes):
        raise TuneOutOfRange(tune, len(tunes), path)
    return tunes[tune - 1]


def _model_text_of(tune, number: int, path) -> str:
    from tunesmith.abc_text import model_text

    try:
        return model_text(tune)
    except ValueError as e:
        raise TunesmithError(f"tune {number} is not a usable ABC tune ({e})", path) from None


_NOTE_LENGTH = re.compile(r"[,']*[0-9/]*")  # after a note's letter: octave marks, length


def _ending_weights(rep, sequences, weight: float) -> list[np.ndarray] | None:
    """Per training tune, each id's weight as a target: ``weight`` for the letter of the
    tune's last note (``abc_meter``'s reading, the note the musical report judges an
    ending by) and the octave marks and length after it, 1 elsewhere; None for weight 1.

    Why: a tune has one last note in some 150 characters, and the shipped model gives the
    tonic about half its weight there where three real tunes in four end on it
    (benchmarks/RESULTS.md, "Where home is"). The weight makes those few targets count
    more; the characters after the last note (the bar line, the end) keep weight 1, so
    the model is not pushed to end a tune earlier than it would."""
    from tunesmith.abc_meter import _read

    if weight == 1:
        return None
    out = []
    for ids in sequences:
        w = np.ones(len(ids), np.float32)
        text = rep.decode_text(ids)
        k = _read(text).final_at if len(text) == len(ids) - 2 else None
        if k is not None:  # ids = [start] + text + [end]: text[k] is ids[k + 1]
            span = 1 + _NOTE_LENGTH.match(text, k + 1).end() - (k + 1)
            w[k + 1:k + 1 + span] = weight
        out.append(w)
    return out


def load_abc_tunes(corpus: str, clean: bool, log=_quiet):
    """An ABC corpus's usable tunes (:func:`~tunesmith.corpora.load_abc_corpus`), the
    first 20 it skipped logged; a MIDI / MusicXML built-in is a one-line error."""
    from tunesmith.corpora import BUILTIN, load_abc_corpus

    if corpus in BUILTIN and BUILTIN[corpus].kind != "abc":
        raise TunesmithError(f"{corpus} is a {BUILTIN[corpus].kind} corpus, not ABC text: "
                             "train on it with --family events or pianoroll")
    c = load_abc_corpus(corpus, clean=clean)
    for line in c.left_out:
        log(line, "warning")
    if len(c.problems) > 20:
        log(f"skipped {len(c.problems)} tunes or files; the first 20:", "warning")
    for problem in c.problems[:20]:
        log(f"skipped: {problem}", "warning")
    return c


def parse_tune(text: str):
    """A tune (model text or tune-book entry) as music21 reads it within the
    ``parse_seconds`` deadline, None if it cannot."""
    from tunesmith.io.abc import as_tune_book_entry, parse_tune_in_time

    entry = text if text.lstrip().startswith("X:") else as_tune_book_entry(text)
    try:
        return parse_tune_in_time(entry)
    except ValueError:
        return None


def tune_body(text: str) -> str:
    """The music of a tune: its lines after the ``K:`` line (headers are shared by
    thousands of tunes and say nothing about copying)."""
    lines = text.split("\n")
    k = next((i for i, ln in enumerate(lines) if ln.startswith("K:")), -1)
    return "\n".join(lines[k + 1:]).strip()


class _Tunes:
    """The tunes of one composition as they become final: each is published to the sink
    once, with its text (a tune-book entry) and its music."""

    def __init__(self, texts: list[str], sink: Sink | None, start: int = 1,
                 title: str = "tunesmith", fields: str = ""):
        self.texts, self.fields = texts, fields  # fields: header lines (a primer's Q:)
        self.sink = sink
        self.start = start  # the number of the first tune (a batch of a larger request)
        n = len(texts)
        self.titles = [f"{title} {i}" for i in range(start, start + n)]
        self.entries = [""] * n
        self.final: dict[int, Composition] = {}
        self.warnings: dict[int, str] = {}  # a tune that plays, but not as the checks wanted

    def entry(self, i: int) -> str:
        from tunesmith.io.abc import as_tune_book_entry

        self.entries[i] = as_tune_book_entry(self.texts[i], number=self.start + i,
                                             title=self.titles[i], fields=self.fields)
        return self.entries[i]

    def emit(self, i: int, piece=None, error: str = "", midi: bytes = b"") -> None:
        c = Composition(self.start + i, self.titles[i], piece, text=self.entries[i], error=error,
                        midi=midi, warning="" if error else self.warnings.get(i, ""))
        self.final[i] = c
        if self.sink is not None:
            self.sink(c)

    def publish(self, indices) -> dict[int, tuple[int, str]]:
        """Play the tunes with abc2midi and publish the ones it accepts, the longest first
        (two render threads finish together sooner that way). Returns the rejected ones:
        {index: (offset in model text, message)}."""
        from tunesmith.io import abc2midi
        from tunesmith.io.midi import read_midi

        indices = list(indices)
        tunes = [self.entry(i) for i in indices]
        if not abc2midi.available():
            return {}
        rejected, accepted = {}, []
        with tempfile.TemporaryDirectory() as tmp:
            mids = [Path(tmp) / f"{i}.mid" for i in indices]
            found = abc2midi.convert_all(tunes, mids)
            for k, i in enumerate(indices):
                error = found.get(k)
                if error is None:
                    try:
                        piece = read_midi(mids[k])
                    except TunesmithError as e:
                        rejected[i] = (len(self.texts[i]), str(e))
                        continue
                    error = abc2midi.overlong(piece.duration_seconds, MAX_PLAYED_SECONDS,
                                              tunes[k])
                if error is not None:
                    head = len(tunes[k]) - len(self.texts[i].rstrip("\n")) - 1
                    offset = max(0, abc2midi.error_offset(tunes[k], error) - head)
                    rejected[i] = (offset, error.message)
                elif not piece.notes:
                    rejected[i] = (len(self.texts[i]), "no notes")
                else:
                    accepted.append((piece.duration_seconds, i, piece, mids[k].read_bytes()))
        for _, i, piece, midi in sorted(accepted, key=lambda a: (-a[0], a[1])):
            self.emit(i, piece, midi=midi)
        return rejected

    def by_music21(self, i: int, rejection: tuple[int, str] | None) -> None:
        """music21 is more lenient than abc2midi: the tune may still play. In its written
        order when abc2midi rejected it (abc2midi found its marks malformed, and music21's
        expansion of malformed repeats took 13 s for one sampled tune)."""
        from tunesmith.io.abc import parse_tune_in_time

        try:
            piece = parse_tune_in_time(self.entries[i], repeats=rejection is None)
        except ValueError as e:
            why = f"abc2midi: {rejection[1]}; music21: " if rejection else ""
            self.emit(i, error=f"invalid ABC ({why}{e})")
            return
        if rejection is not None:  # played, but by the lenient reader
            said = f"abc2midi refused it ({rejection[1]}); its MIDI is music21's reading"
            self.warnings[i] = "; ".join(filter(None, (self.warnings.get(i), said)))
        self.emit(i, piece)

    def done(self) -> list[Composition]:
        return [self.final[i] for i in range(len(self.texts))]


def sample_texts(model, rep, opts: ComposeOptions, device="cpu", log=None,
                 cuts: int = CUTS) -> list[str]:
    """Sample ``opts.num`` tunes (model text: from the header fields after ``X:``).

    With ``opts.constrain``, a tune abc2midi rejects (when it is installed), with a bar
    that breaks its meter or that does not end on its tonic is resampled from the point
    of its error, and drawn afresh when that fails (:mod:`tunesmith.sampling.repair`);
    ``log`` hears a one-line account when that happened."""
    drafts = _Drafts(model, rep, opts, device)
    texts = drafts.first()
    if opts.constrain:
        texts, _ = _repair(texts, drafts.check(texts), drafts, opts, log, cuts)
    return texts


def _repair(texts, rejected, drafts: _Drafts, opts, log, cuts: int = CUTS,
            form: int | None = None) -> tuple[list[str], list[int]]:
    """``texts`` with the ``rejected`` ones resampled, and the indices of those no draft
    mended (kept as drawn); ``form``: how many were rejected for their bars or their
    ending before abc2midi heard them (for the log line; None: not counted)."""
    import secrets

    from tunesmith.sampling.repair import resample_invalid

    if not rejected:
        return texts, []
    seed = opts.seed if opts.seed is not None else secrets.randbits(31)
    before = list(texts)
    texts, report = resample_invalid(texts, keep=drafts.keep, check=drafts.check,
                                     draw=drafts, seed=seed, rejected=rejected,
                                     attempts=cuts, drafts=DRAFTS, at_error=True,
                                     restart_drafts=RESTART_DRAFTS)
    # a tune that no draft mended is kept as the draft that got furthest; where that
    # draft no longer plays and the tune as first drawn did (it only broke its meter or
    # its ending), the first one is kept
    kept = sorted(report.still_invalid)
    worse, first = drafts.unplayable([texts[i] for i in kept]), drafts.unplayable(
        [before[i] for i in kept])
    for k in worse - first:
        texts[kept[k]] = before[kept[k]]
    if log is not None:
        per_cut = ", ".join(map(str, report.by_attempt[:cuts]))
        why = "" if form is None else (f" ({report.rejected - form} by abc2midi; {form} "
                                       "for a bar that breaks M: or an end off the tonic, "
                                       "before abc2midi heard them)")
        log(f"{report.rejected} of {len(texts)} tunes rejected{why}; {report.repaired} "
            f"resampled: {report.repaired - report.restarted} from the error (per cut: "
            f"{per_cut}), {report.restarted} afresh ({report.drafts} drafts); "
            f"{len(report.still_invalid)} kept as drawn", "warning")
    return texts, kept


class _Lengths:
    """The readers of a model trained with ``--ends``, one for each row of a batch in
    order, each given a tune length (:meth:`AbcChars.draw_length`): ``bars`` (compose
    ``--bars``) for every tune, else the length a draft continues under (a tune being
    mended keeps the length it was written to, while its start has not closed that many
    bars), else one drawn from the training tunes longer than the bars the row's start
    (a primer, or a draft's prefix) has closed. :meth:`start` sets the rows' starts and
    the seed before each batch (a reader asked for beyond them gets the last row's
    start); :meth:`remember` keeps the length each text was written to."""

    def __init__(self, rep, bars: int | None = None):
        self.rep, self.bars, self.rng = rep, bars, np.random.default_rng(0)
        self.rows: list[tuple[int, int | None]] = []  # (bars closed, length kept) per row
        self.given: list[int] = []  # the length each reader of this batch was given
        self.written: dict[str, int] = {}  # text -> the length it was written to

    def start(self, prefixes: list[str], seed: int | None) -> None:
        from tunesmith.abc_meter import bars_closed

        self.rng, self.given = np.random.default_rng(seed), []
        rows: dict[str, tuple[int, int | None]] = {}
        for p in prefixes:
            if p not in rows:
                closed = bars_closed(p)
                kept = next((n for t, n in self.written.items()
                             if t.startswith(p) and n > closed), None)
                rows[p] = (closed, kept)
        self.rows = [rows[p] for p in prefixes]

    def remember(self, texts: list[str]) -> None:
        self.written.update(zip(texts, self.given, strict=False))

    def __call__(self):
        closed, kept = self.rows[len(self.given)] if len(self.given) < len(self.rows) else (
            self.rows[-1] if self.rows else (0, None))
        bars = self.bars or kept or self.rep.draw_length(self.rng, closed)
        self.given.append(bars)
        return self.rep.input_reader(bars)


class _Drafts:
    """Tunes drawn from the model: ``first()`` is the batch compose starts from; calling
    the object, ``(prefixes, n, seed, limits=None)``, gives n texts continuing each prefix
    (by at most its limit; None or no limits: as far as ``opts.max_len`` allows), all in
    one batch, as :func:`resample_invalid` wants. The part of a prefix after the user's
    primer (``keep`` characters) counts against ``opts.max_len``. ``check`` is abc2midi's
    check, which also rejects a draft that its limit stopped before the model ended it."""

    def __init__(self, model, rep, opts: ComposeOptions, device, progress=None):
        from tunesmith.sampling.inputs import with_inputs
        from tunesmith.sampling.settings import per_head

        # a model trained with --positions reads where each character stands as well (and
        # one trained with --lookback what an earlier bar offers, tilted towards it by W;
        # one trained with --ends the bars left of a length each tune is given)
        self.lengths = _Lengths(rep, opts.bars) if rep.end_inputs else None
        self.model = with_inputs(model, rep, AbcFamily().repeat_bias_of(opts, rep),
                                 new_reader=self.lengths)
        self.rep, self.opts, self.device = rep, opts, device
        self.primer = rep.read_text(primer_text(opts.primer.replace("\\n", "\n")))
        self.keep = len(self.primer)
        self.settings = per_head(["token"], opts.temperature, opts.top_k, opts.top_p)
        self.unfinished: set[str] = set()
        self.progress, self.draws = progress, 0  # characters drawn, a bar per draw

    def first(self) -> list[str]:
        """The batch compose starts from: sampled, or by beam search (``opts.beam``; the
        tunes abc2midi rejects are then resampled from their errors as usual)."""
        if not self.opts.beam:
            return self([self.primer], self.opts.num, self.opts.seed)[0]
        from tunesmith.sampling.beam import beam_search

        rep, o = self.rep, self.opts
        if self.lengths is not None:  # seeded unless asked to draw: beam search repeats
            self.lengths.start([self.primer] * (o.num * o.beam),
                               o.seed if o.seed is not None or o.stochastic_beam else 0)
        counter = StepCounter(self.progress, "sampling", "characters")
        steps = beam_search(self.model, [[i] for i in rep.primer_ids(self.primer)],
                            num=o.num, beam=o.beam, max_steps=o.max_len, heads=["token"],
                            stop=("token", rep.eos), banned={"token": rep.never_sample()},
                            length_penalty=o.length_penalty, stochastic=o.stochastic_beam,
                            seed=o.seed, device=self.device, on_step=counter)
        counter.close()
        self.draws += 1
        return [self.primer + rep.decode_text([s[0] for s in seq]) for seq in steps]

    def __call__(self, prefixes: list[str], n: int, seed: int | None,
                 limits: list[int | None] | None = None) -> list[list[str]]:
        from tunesmith.sampling.decode import sample

        rep = self.rep
        rows = [p for p in prefixes for _ in range(n)]
        caps = [None if limits is None else limits[k // n] for k in range(len(rows))]
        left = [max(1, self.opts.max_len - (len(p) - self.keep)) for p in rows]
        left = [a if cap is None else min(a, cap) for a, cap in zip(left, caps, strict=True)]
        if self.lengths is not None:
            self.lengths.start(rows, seed)
        counter = StepCounter(self.progress, "resampling" if self.draws else "sampling",
                              "characters")
        self.draws += 1
        steps = sample(self.model, num=len(rows),
                       primers=[[[i] for i in rep.primer_ids(p)] for p in rows],
                       max_steps=max(left), heads=["token"], settings=self.settings,
                       stop=("token", rep.eos), banned={"token": rep.never_sample()},
                       seed=seed, device=self.device, on_step=counter)
        counter.close()
        texts = []
        for p, seq, m, cap in zip(rows, steps, left, caps, strict=True):
            texts.append(p + rep.decode_text([s[0] for s in seq[:m]]))
            if cap is not None and not (len(seq) <= m and seq[-1][0] == rep.eos):
                self.unfinished.add(texts[-1])  # stopped by its limit, not by the model
        if self.lengths is not None:
            self.lengths.remember(texts)
        return [texts[k * n:(k + 1) * n] for k in range(len(prefixes))]

    def check(self, texts: list[str]) -> dict[int, tuple[int, str]]:
        """{index: (character offset of the error, message)} for the rejected texts: the
        earlier of abc2midi's error (when it is installed) and the first bar that breaks
        the meter or the end off the tonic (:meth:`form`)."""
        from tunesmith.io import abc2midi

        found = self.form(texts)
        if abc2midi.available():
            errors = abc2midi.convert_all(texts, max_seconds=MAX_PLAYED_SECONDS)
            for i, e in errors.items():
                at = abc2midi.error_offset(texts[i], e)
                if i not in found or at < found[i][0]:
                    found[i] = (at, e.message)
        found.update({i: (len(t), "no end marker within the draft's limit")
                      for i, t in enumerate(texts) if t in self.unfinished})
        return found

    def unplayable(self, texts: list[str]) -> set[int]:
        """The indices of the texts abc2midi rejects (none when it is not installed)."""
        from tunesmith.io import abc2midi

        if not texts or not abc2midi.available():
            return set()
        return set(abc2midi.convert_all(texts, max_seconds=MAX_PLAYED_SECONDS))

    def form(self, texts: list[str]) -> dict[int, tuple[int, str]]:
        """{index: (offset, message)} for the texts with a bar that breaks their meter
        after the primer or that do not end on their tonic: the earlier one
        (:func:`~tunesmith.abc_meter.form_error`)."""
        from tunesmith.abc_meter import form_error

        found = {i: form_error(t, self.keep) for i, t in enumerate(texts)}
        return {i: e for i, e in found.items() if e is not None}
