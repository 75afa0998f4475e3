"""The ABC family: ABC corpora -> ``abc_chars`` -> ``char_rnn`` -> ABC, MIDI, WAV files."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import TunesmithError

MODEL = "char_rnn"
REPRESENTATION = "abc_chars"
PRETRAINED = "folk-abc-small"
DEFAULT_CORPUS = "folk-abc"
MIN_CHAR_COUNT = 3  # characters rarer than this in training become <unk>


@dataclass
class Prepared:
    representation: object
    sequences: dict[str, list[list[int]]]  # split -> encoded tunes
    info: dict


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def prepare_data(corpus: str, representation=None, report=_stderr,
                 clean: bool = False, **_) -> Prepared:
    """Load the corpus, split by tune, fit (or reuse) the vocabulary, encode every tune.
    ``clean`` skips tunes abc2midi rejects (see :func:`tunesmith.corpora.load_abc_corpus`)."""
    from tunesmith.corpora import BUILTIN, load_abc_corpus
    from tunesmith.data.splits import split_items
    from tunesmith.representations.abc_chars import AbcChars

    if corpus in BUILTIN and BUILTIN[corpus].kind != "abc":
        raise TunesmithError(f"{corpus} is a {BUILTIN[corpus].kind} corpus, not ABC text: "
                             "train on it with --family events")

    c = load_abc_corpus(corpus, clean=clean)
    if len(c.problems) > 20:
        report(f"skipped {len(c.problems)} tunes or files; the first 20:")
    for problem in c.problems[:20]:
        report(f"skipped: {problem}")
    splits = split_items(c.texts)
    if representation is None:
        if not splits["train"]:
            raise TunesmithError("corpus too small: no tune landed in the training split",
                                 corpus)
        representation = AbcChars.fit((c.texts[i] for i in splits["train"]),
                                      min_count=MIN_CHAR_COUNT)
    seqs = {s: [representation.encode_text(c.texts[i]) for i in idx]
            for s, idx in splits.items()}
    info = {"corpus": corpus, "tunes": {s: len(v) for s, v in seqs.items()},
            "tokens": {s: sum(len(x) for x in v) for s, v in seqs.items()},
            "skipped": len(c.problems), "clean": clean, "unit": "characters"}
    return Prepared(representation, seqs, info)


def data_options(args) -> dict:
    """The data settings ``train`` records in a run."""
    return {"clean": bool(args.clean)}


def model_sizes(representation) -> dict:
    return {"vocab_size": len(representation.vocab)}


def batches(prepared: Prepared, cfg, **_):
    """Random training windows; validation over whole tunes from their start."""
    from tunesmith.data.tokens import SequenceBatches, TokenWindows

    train = TokenWindows(prepared.sequences["train"], cfg.seq_len, cfg.batch_size,
                         seed=cfg.seed)
    return train, SequenceBatches(prepared.sequences["valid"], max_items=cfg.eval_max_items)


@dataclass
class ComposeOptions:
    num: int = 8
    max_len: int = 1500  # characters per tune
    primer: str = ""
    temperature: float | str = 1.0
    top_k: int | str = 0
    top_p: float | str = 1.0
    seed: int | None = None
    wav: bool = True
    png: bool = False
    soundfont: str | None = None
    constrain: bool = True  # resample a tune from where abc2midi rejects it (if installed)
    cuts: int = 1  # resampling attempts from a cut before drawing a tune afresh


# abc2midi plays repeats as written; a sampled tune whose repeat signs nest badly can
# play for half an hour (seen: 25 minutes from 300 written notes). Longer than this,
# compose rejects it and resamples it like a tune abc2midi refuses. Folk tunes played
# with their repeats last 0.5-3 minutes.
MAX_PLAYED_SECONDS = 300


def sample_texts(model, rep, opts: ComposeOptions, device="cpu", log=None) -> list[str]:
    """Sample ``opts.num`` tunes (model text: from the header fields after ``X:``).

    With ``opts.constrain`` and abc2midi installed, a tune abc2midi rejects is resampled
    from the point of its error, and drawn afresh when that fails
    (:mod:`tunesmith.sampling.repair`); ``log`` hears a one-line account when that
    happened."""
    from tunesmith.io import abc2midi

    drafts = _Drafts(model, rep, opts, device)
    texts = drafts.first()
    if opts.constrain and abc2midi.available():
        texts = _repair(texts, drafts.check(texts), drafts, opts, log)
    return texts


def _repair(texts, rejected, drafts: _Drafts, opts, log) -> list[str]:
    import secrets

    from tunesmith.sampling.repair import resample_invalid

    seed = opts.seed if opts.seed is not None else secrets.randbits(31)
    texts, report = resample_invalid(texts, keep=drafts.keep, check=drafts.check,
                                     draw=drafts, seed=seed, rejected=rejected,
                                     attempts=opts.cuts)
    if log is not None and report.rejected:
        cuts = report.by_attempt[:opts.cuts]
        where = ("from the error" if opts.cuts <= 1 else
                 f"from a cut (per cut: {', '.join(map(str, cuts))})")
        log(f"abc2midi rejected {report.rejected} of {len(texts)} tunes; {report.repaired} "
            f"resampled: {report.repaired - report.restarted} {where}, "
            f"{report.restarted} afresh ({report.drafts} drafts)")
    return texts


class _Drafts:
    """Tunes drawn from the model: ``first()`` is the batch compose starts from; calling
    the object, ``(prefixes, n, seed, limits=None)``, gives n texts continuing each prefix
    (by at most its limit; None or no limits: as far as ``opts.max_len`` allows), all in
    one batch, as :func:`resample_invalid` wants. The part of a prefix after the user's
    primer (``keep`` characters) counts against ``opts.max_len``. ``check`` is abc2midi's
    check, which also rejects a draft that its limit stopped before the model ended it."""

    def __init__(self, model, rep, opts: ComposeOptions, device):
        from tunesmith.sampling.filters import per_head

        self.model, self.rep, self.opts, self.device = model, rep, opts, device
        self.primer = opts.primer.replace("\\n", "\n")
        self.keep = len(self.primer)
        self.settings = per_head(["token"], opts.temperature, opts.top_k, opts.top_p)
        self.unfinished: set[str] = set()

    def first(self) -> list[str]:
        return self([self.primer], self.opts.num, self.opts.seed)[0]

    def __call__(self, prefixes: list[str], n: int, seed: int | None,
                 limits: list[int | None] | None = None) -> list[list[str]]:
        from tunesmith.sampling.decode import sample

        rep = self.rep
        rows = [p for p in prefixes for _ in range(n)]
        caps = [None if limits is None else limits[k // n] for k in range(len(rows))]
        left = [max(1, self.opts.max_len - (len(p) - self.keep)) for p in rows]
        left = [a if cap is None else min(a, cap) for a, cap in zip(left, caps, strict=True)]
        steps = sample(self.model, num=len(rows),
                       primers=[[[i] for i in rep.primer_ids(p)] for p in rows],
                       max_steps=max(left), heads=["token"], settings=self.settings,
                       stop=("token", rep.eos), banned={"token": rep.never_sample()},
                       seed=seed, device=self.device)
        texts = []
        for p, seq, m, cap in zip(rows, steps, left, caps, strict=True):
            texts.append(p + rep.decode_text([s[0] for s in seq[:m]]))
            if cap is not None and not (len(seq) <= m and seq[-1][0] == rep.eos):
                self.unfinished.add(texts[-1])  # stopped by its limit, not by the model
        return [texts[k * n:(k + 1) * n] for k in range(len(prefixes))]

    def check(self, texts: list[str]) -> dict[int, tuple[int, str]]:
        """{index: (character offset of the error, message)} for the rejected texts."""
        from tunesmith.io import abc2midi

        errors = abc2midi.convert_all(texts, max_seconds=MAX_PLAYED_SECONDS)
        found = {i: (abc2midi.error_offset(texts[i], e), e.message) for i, e in errors.items()}
        found.update({i: (len(t), "no end marker within the draft's limit")
                      for i, t in enumerate(texts) if t in self.unfinished})
        return found


def compose(checkpoint, opts: ComposeOptions, out_dir: Path, log=_stderr):
    """Sample tunes; write each as .abc, and each valid one as .mid (and .wav / .png).

    The MIDI comes from abc2midi (the reference ABC player: it plays repeats, endings,
    ornaments and guitar chords) when it is installed, else from music21; a tune neither
    accepts stays as .abc, with the reason. The tunes abc2midi accepts at once are
    rendered (WAV on a thread pool: FluidSynth releases the GIL) while the rejected ones
    are resampled from their errors, or drawn afresh (``opts.constrain``). (Checking and
    rendering each tune as soon as it was sampled was tried: on two cores it slowed the
    sampler, which the resampling waits on, by more than it saved.)"""
    from concurrent.futures import ThreadPoolExecutor

    from tunesmith.families.output import ComposeResult, render_extras, rendering_threads
    from tunesmith.io import abc2midi
    from tunesmith.io.abc import as_tune_book_entry, tune_to_piece
    from tunesmith.io.midi import read_midi, write_midi

    model = checkpoint.model
    drafts = _Drafts(model, checkpoint.representation, opts, next(model.parameters()).device)
    out_dir.mkdir(parents=True, exist_ok=True)
    texts = drafts.first()
    num = len(texts)
    result = ComposeResult(total=num, label="tunes", count_valid=True)
    width = max(2, len(str(num)))
    stems = [out_dir / f"tune_{i:0{width}d}" for i in range(1, num + 1)]
    titles = [f"tunesmith {i}" for i in range(1, num + 1)]
    tunes: list[str] = [""] * num  # what each .abc file holds
    use_abc2midi = abc2midi.available()

    def finish(i: int, piece, pool, renders) -> None:
        result.valid += 1
        result.files.append(stems[i].with_suffix(".mid"))
        pending, written = render_extras(piece, stems[i], opts, pool, titles[i])
        renders += pending
        result.files.extend(written)

    def publish(indices, pool, renders) -> dict[int, tuple[int, str]]:
        """Write the tunes' .abc; convert with abc2midi and start rendering the ones it
        accepts, the longest first (two threads finish together sooner that way).
        Returns the rejected ones: {index: (offset in model text, message)}."""
        for i in indices:
            tunes[i] = as_tune_book_entry(texts[i], number=i + 1, title=titles[i])
            stems[i].with_suffix(".abc").write_text(tunes[i])
            stems[i].with_suffix(".mid").unlink(missing_ok=True)
        if not use_abc2midi:
            return {}
        found = abc2midi.convert_all([tunes[i] for i in indices],
                                     [stems[i].with_suffix(".mid") for i in indices])
        rejected, accepted = {}, []
        for k, i in enumerate(indices):
            error = found.get(k)
            if error is None:
                try:
                    piece = read_midi(stems[i].with_suffix(".mid"))
                except TunesmithError as e:
                    rejected[i] = (len(texts[i]), str(e))
                    continue
                error = abc2midi.overlong(piece.duration_seconds, MAX_PLAYED_SECONDS, tunes[i])
            if error is not None:
                head = len(tunes[i]) - len(texts[i].rstrip("\n")) - 1
                offset = max(0, abc2midi.error_offset(tunes[i], error) - head)
                rejected[i] = (offset, error.message)
                continue
            if not piece.notes:
                rejected[i] = (len(texts[i]), "no notes")
            else:
                accepted.append((piece.duration_seconds, i, piece))
        for _, i, piece in sorted(accepted, key=lambda a: (-a[0], a[1])):
            finish(i, piece, pool, renders)
        return rejected

    with rendering_threads(opts.wav), ThreadPoolExecutor(max_workers=2) as pool:
        renders = []
        rejected = publish(list(range(num)), pool, renders)
        if rejected and opts.constrain:
            texts = _repair(texts, rejected, drafts, opts, log)
            rejected = publish(sorted(rejected), pool, renders)
        for i in range(len(texts)) if not use_abc2midi else sorted(rejected):
            mid = stems[i].with_suffix(".mid")
            mid.unlink(missing_ok=True)
            try:  # music21 is more lenient than abc2midi: the tune may still play. In
                # its written order: abc2midi found its marks malformed, and music21's
                # expansion of malformed repeats took 13 s for one sampled tune
                piece = tune_to_piece(tunes[i], repeats=not use_abc2midi)
            except ValueError as e:
                why = f"abc2midi: {rejected[i][1]}; music21: " if i in rejected else ""
                result.errors.append(f"{stems[i].with_suffix('.abc')}: invalid ABC ({why}{e})")
                log(result.errors[-1])
                continue
            write_midi(piece, mid)
            finish(i, piece, pool, renders)
        result.files.extend(r.result() for r in renders)
    result.files = sorted(result.files + [s.with_suffix(".abc") for s in stems])
    return result
