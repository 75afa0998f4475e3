"""The ``continue`` family: read the first bars of a tune, write what follows in a chosen
style. ABC corpora -> ``abc_phrases`` (pairs of source and target bars, with each tune's
tradition and tune type, :mod:`tunesmith.corpora.styles`) -> ``seq2seq`` -> the primer's
bars joined to their continuation, as an ABC tune played by abc2midi."""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass

from tunesmith.errors import OptionError, TunesmithError
from tunesmith.families.abc import MAX_PLAYED_SECONDS, MIN_CHAR_COUNT, _Tunes, load_abc_tunes
from tunesmith.families.base import ComposeOptions, Composition, Family, Prepared, Sink, _quiet
from tunesmith.options import opt
from tunesmith.progress import StepCounter

MAX_SOURCE = 320  # characters of a source phrase (the header and its bars) a pair keeps
MAX_TARGET = 320  # characters of a target a pair keeps
MAX_CHARS_PER_BAR = 48  # a sampled bar longer than this is cut (real bars: ~6-25)
DRAFTS = 2  # continuations drawn per piece; the first abc2midi and the meter accept is kept
# drafts of each step's bars, the first that keeps the meter kept: measured on 200 held-out
# tunes (benchmarks/continuation.py, part 4), 16 per step keep M: in far more tunes than 4
# whole continuations did, for a second or two more per batch
STEP_DRAFTS = 16
OPENINGS = 16  # held-out openings a model keeps, to continue when no primer is given
# compose --style-guidance when a style is asked for: at W = 2 every style with >= 300
# training tunes reads as itself at >= 0.8 of the real rate, at W = 0 not (RESULTS.md,
# "Style guidance by default"; benchmarks/style_control.py --guidance W)
GUIDANCE = 2.0


@dataclass(frozen=True)
class ContinueData:
    clean: bool = opt(False, "skip tunes that abc2midi reports errors for (needs abcmidi)")
    source_bars: int = opt(4, "bars the model reads (the primer's first bars)")
    target_bars: int = opt(4, "bars of each training target (compose writes longer "
                           "continuations in steps of this many bars)")
    styles: bool = opt(True, "train without the tunes' style labels (by default the model "
                       "conditions on them: tradition and tune type, tunesmith corpora "
                       "--styles)", flag="no-styles", negate=True)
    transpose: int = opt(0, "also train on each training tune transposed by -N..+N "
                         "semitones, N up to 6 (abc2abc, from abcmidi; a copy keeps its "
                         "tune's style labels)")
    parts: bool = opt(False, "also train on a pair from each part of a tune to the next "
                      "where its repeat signs mark them (the A part's bars -> the B part's "
                      "first bars)")
    balance_styles: bool = opt(False, "draw training pairs so that every style is seen "
                               "alike, however many tunes it has (with two label sets, "
                               "each half-way)")

    def __post_init__(self):
        from tunesmith.io.abc2abc import MAX_SHIFT

        for name in ("source_bars", "target_bars"):
            if not 1 <= getattr(self, name) <= 64:
                raise OptionError(name, f"must be between 1 and 64, got {getattr(self, name)}")
        if not 0 <= self.transpose <= MAX_SHIFT:
            raise OptionError("transpose", f"must be between 0 and {MAX_SHIFT} semitones "
                              f"({MAX_SHIFT} reaches every key), got {self.transpose}")


class ContinueFamily(Family):
    name = "continue"
    representation = "abc_phrases"
    default_model = "seq2seq"
    pretrained = "folk-continue-small"
    default_corpus = "folk-abc"
    data_options = ContinueData
    controls = frozenset({"primer", "bars", "style", "style_guidance", "temperature",
                          "top_k", "top_p",
                          "constrain", "beam", "length_penalty", "stochastic_beam"})
    defaults = {"style_guidance": GUIDANCE}
    primer = "piece"
    item, stem, unit = "tunes", "tune", "characters"
    writes_text = True
    draws_by_default = False
    reads_pieces = False
    memory_unit = "characters"

    # --- training ------------------------------------------------------------------------
    def prepare_data(self, corpus, data: ContinueData, representation=None, progress=None,
                     log=_quiet) -> Prepared:
        """Load the corpus with its style labels, split by tune, cut every tune into
        (source bars, target bars) pairs. With ``data.transpose``, the training tunes'
        transposed copies (:func:`~tunesmith.io.abc2abc.transposed_copies`) are training
        tunes too, with their tune's labels, and the vocabulary is fitted on them all;
        with ``data.parts``, each training tune (and copy) whose repeat signs mark its
        parts also gives a pair from each part to the next
        (:meth:`~tunesmith.representations.abc_phrases.AbcPhrases.part_pairs`).
        Validation and test tunes are cut as compose reads a tune, nothing added."""
        from tunesmith.abc_text import respell_keys
        from tunesmith.corpora.styles import MIN_LABEL_TUNES, OTHER, UNKNOWN
        from tunesmith.data.splits import split_items
        from tunesmith.representations.abc_phrases import AbcPhrases

        c = load_abc_tunes(corpus, data.clean, log)
        labels = tune_styles(corpus, c.tunes)
        splits = split_items(c.texts)  # by the text as written: held-out tunes stay so
        fitted = representation is None
        spell = respell_keys if fitted else representation.read_text  # keys as it reads them
        texts = [spell(t) for t in c.texts]
        copies = [(i, k, spell(t)) for i, k, t in
                  transposed_training(texts, splits["train"], data.transpose, log)]
        if fitted:
            train = splits["train"]
            if not train:
                raise TunesmithError("corpus too small: no tune landed in the training "
                                     "split", corpus)
            sets = {}
            if data.styles:
                sets = {k: [labels[i][k] for i in train if labels[i]]
                        for k in ("tradition", "tune_type")}
                named = {k: sorted(set(v) - {UNKNOWN, OTHER}) for k, v in sets.items()}
                if all(len(v) < 2 for v in named.values()):
                    raise TunesmithError(
                        "the corpus's tunes do not have two style labels to tell apart "
                        f"(tradition {named['tradition']}, tune type {named['tune_type']}; "
                        f"a label needs {MIN_LABEL_TUNES} tunes): train with --no-styles, "
                        "or give a folder with a sub-folder per tradition", corpus)
            representation = AbcPhrases.fit_phrases(
                (texts[i] for i in train), sets, min_count=MIN_CHAR_COUNT,
                source_bars=data.source_bars, target_bars=data.target_bars,
                copies=(t for _, _, t in copies), canonical_keys=True)
            held_out = splits["valid"] or train
            openings = [p[0][0] for p in (representation.pairs(texts[i])
                                          for i in held_out) if p][:OPENINGS]
            representation = dataclasses.replace(
                representation, openings=tuple(o for o in openings
                                               if all(ch in representation.vocab for ch in o)))
        rep = representation
        seqs: dict[str, list] = {}
        part_pairs = 0
        for s, idx in splits.items():
            seqs[s] = []
            tunes = [(texts[i], i) for i in idx]
            if s == "train":
                tunes += [(t, i) for i, _, t in copies]
            for text, i in tunes:
                style = rep.style_ids(**labels[i])
                pairs = rep.pairs(text)
                if data.parts and s == "train":
                    more = rep.part_pairs(text)
                    part_pairs += len(more)
                    pairs += more
                seqs[s] += [encode_pair(rep, src, tgt, ends, style)
                            for src, tgt, ends in pairs]
        if part_pairs:
            log(f"{part_pairs:,} training pairs from part to part (repeat signs)")
        if fitted and not seqs["train"]:
            raise TunesmithError(f"no tune of the corpus has more than {rep.source_bars} "
                                 "bars: nothing to continue (try --source-bars 2)", corpus)
        info = {"corpus": corpus, "tunes": {s: len(v) for s, v in splits.items()},
                "pairs": {s: len(v) for s, v in seqs.items()},
                "tokens": {s: sum(len(p[1]) - 1 for p in v) for s, v in seqs.items()},
                "skipped": len(c.problems), "clean": data.clean, "unit": self.unit,
                "styles": {k: len(v) - 1 for k, v in rep.styles.items()},
                "transposed": len(copies), "part_pairs": part_pairs}
        return Prepared(rep, seqs, info)

    def usable_data(self, data: ContinueData, notes: list[str]) -> ContinueData:
        from tunesmith.io import abc2abc

        if data.transpose and not abc2abc.available():
            notes.append("the model was trained on transposed copies of its training tunes "
                         "but abc2abc is not installed; reading the training split without "
                         "them (validation and test never had them; apt-get install "
                         "abcmidi for the same training split)")
            return dataclasses.replace(data, transpose=0)
        return data

    def model_sizes(self, representation) -> dict:
        return {"vocab_size": len(representation.vocab),
                "styles": representation.style_sizes}

    def batches(self, prepared: Prepared, cfg, data=None):
        from tunesmith.data.pairs import PairBatches, PairSet

        balance = data is not None and data.balance_styles
        return (PairBatches(prepared.sequences["train"], cfg.batch_size, seed=cfg.seed,
                            steps=cfg.steps, balance=balance),
                PairSet(prepared.sequences["valid"], max_items=cfg.eval_max_items))

    # --- composing -----------------------------------------------------------------------
    def check_primer(self, opts: ComposeOptions, representation) -> None:
        """A primer file that is not an ABC tune with enough bars, refused before any work
        (the studio's 400): reading it costs a few milliseconds."""
        if opts.primer:
            read_primer(opts.primer, representation)

    def compose(self, checkpoint, opts: ComposeOptions, sink: Sink | None = None,
                log=_quiet, progress=None, start: int = 1) -> list[Composition]:
        """Continue the primer's first ``source_bars`` bars by ``opts.bars`` bars (default:
        the model's ``target_bars``), ``opts.num`` times. With ``opts.constrain``,
        each step's bars are drawn :data:`STEP_DRAFTS` times and the first draft that
        keeps the tune's ``M:`` is kept, and of :data:`DRAFTS` continuations so made per
        piece the first that abc2midi plays and whose bars keep ``M:`` (one draft of each
        under plain beam search, which would find the same one each time)."""
        from tunesmith.abc_text import tempo_field
        from tunesmith.io import abc2midi
        from tunesmith.io.abc import read_tune_book

        opts = self.compose_options(opts)  # the default guidance, when a style is asked
        rep, model = checkpoint.representation, checkpoint.model
        tempo = ""  # the primer's Q: (the model reads none)
        if opts.primer:
            first = read_tune_book(opts.primer)[0]
            sources = [primer_source(first, rep, opts.primer)] * opts.num
            tempo = tempo_field(first.text)
            warning = rep.unseen_meter(sources[0])
            if warning:
                log(f"{opts.primer}: {warning}", "warning")
        elif rep.openings:  # the model's own held-out openings, in turn
            sources = [rep.openings[(start - 1 + k) % len(rep.openings)]
                       for k in range(opts.num)]
        else:
            raise OptionError("primer", "the continue family continues a tune: give "
                              "--primer FILE.abc (its first bars are read)")
        style = rep.style_ids(**rep.parse_style(opts.style))
        check_guidance(opts)
        bars = opts.bars or rep.target_bars
        varied = opts.constrain and (not opts.beam or opts.stochastic_beam)
        drafts = DRAFTS if varied else 1
        seed = opts.seed if opts.seed is not None else secrets.randbits(31)
        counter = StepCounter(progress, "sampling", self.unit)
        texts = continue_texts(model, rep, [s for s in sources for _ in range(drafts)],
                               style, bars, opts, seed,
                               device=next(model.parameters()).device,
                               step_drafts=STEP_DRAFTS if varied else 1, counter=counter)
        counter.close()
        chosen = [_first_good(texts[k * drafts:(k + 1) * drafts], len(sources[k]))
                  if opts.constrain else 0 for k in range(opts.num)]
        bad = sum(i is None for i in chosen)
        if opts.constrain and bad:
            log(f"{bad} of {opts.num} continuations: none of {drafts} drafts both plays and "
                "keeps its meter; kept the first", "warning")
        texts = [texts[k * drafts + (i or 0)] for k, i in enumerate(chosen)]
        tunes = _Tunes(texts, sink, start, title="continuation", fields=tempo)
        if opts.constrain:
            tunes.warnings = {k: f"none of {drafts} drafts both plays and keeps its meter: "
                                 "kept the first" for k, i in enumerate(chosen) if i is None}
        rejected = tunes.publish(range(len(texts)))
        for i in range(len(texts)) if not abc2midi.available() else sorted(rejected):
            tunes.by_music21(i, rejected.get(i))
        return tunes.done()

    # --- attention pictures of a continuation ----------------------------------------------
    def read_continued(self, path, tune: int = 1) -> str:
        """The model text of tune ``tune`` of the ABC book ``path``."""
        from tunesmith.families.abc import read_tune_text

        return read_tune_text(path, tune)

    def continued(self, composition, representation) -> str | None:
        """What ``compose --attention`` re-reads of a composition: its tune as model text
        (without its ``X:`` and ``T:`` lines); None when no bar follows the source's."""
        from tunesmith.abc_text import model_text, split_tunes

        tunes = split_tunes(composition.text or "")
        text = representation.read_text(model_text(tunes[0]) if tunes else composition.text)
        return text if len(representation.cuts(text)) > representation.source_bars else None

    def source_attention(self, checkpoint, text: str, style: dict[str, str]):
        """(weights, the bar of each row, the bar of each column) of the model writing
        ``text``'s bars after its first ones under ``style`` (labels as
        :meth:`~tunesmith.representations.abc_phrases.AbcPhrases.style_ids` takes them):
        :func:`source_attention`."""
        rep = checkpoint.representation
        return source_attention(checkpoint.model, rep, text, rep.style_ids(**style))

    def piece_steps(self, opts: ComposeOptions, representation) -> int:
        return MAX_SOURCE + MAX_CHARS_PER_BAR * (opts.bars or representation.target_bars)


def transposed_training(texts: list[str], train: list[int], semitones: int,
                        log=_quiet) -> list[tuple[int, int, str]]:
    """``(tune index, shift, text)`` of the transposed copies of the training tunes
    ``train`` of ``texts`` by -``semitones``..+``semitones``
    (:func:`~tunesmith.io.abc2abc.transposed_copies`: one abc2abc run per book and
    shift); none when ``semitones`` is 0. A one-line error when abc2abc is missing."""
    from tunesmith.io import abc2abc

    if not semitones or not train:
        return []
    abc2abc.require()
    found = abc2abc.transposed_copies([texts[i] for i in train], semitones)
    copies = [(train[k], shift, text) for k, shift, text in found]
    log(f"transposed {len({i for i, _, _ in copies}):,} of {len(train):,} training tunes "
        f"by -{semitones}..+{semitones} semitones (abc2abc): {len(copies):,} copies")
    return copies


def source_attention(model, rep, text: str, style: list[int]):
    """What the model attends to while it writes the bars of ``text`` after its first
    ``source_bars`` (teacher-forced, in steps of ``target_bars`` as compose writes them,
    each step reading the header and the last ``source_bars`` bars before it).

    Returns (weights (R, C), the bar of each row, the bar of each column): a row per
    character written after the first bars, a column per step of the whole tune as
    ``encode_text`` gives it (start marker, characters, end marker; bar -1 = the header
    and the start marker, -2 = the end marker), each row's weights over the window it
    read (summing to 1) and 0 elsewhere."""
    import numpy as np

    from tunesmith.data.pairs import collate

    bars = np.asarray(rep.positions(rep.encode_text(text)).bars)
    bars[0], bars[-1] = -1, -2  # the markers, which every window has
    row_bars, chunks = [], []
    device = next(model.parameters()).device
    model.eval()
    for k, start, target in written_steps(rep, text):
        window = _window(rep, text[:start])
        source, target, _ = encode_pair(rep, window, target, False, style)
        batch = {key: v.to(device) for key, v in collate([(source, target, style)]).items()}
        w = model.source_attention(batch)[0].float().cpu().numpy()  # (T, S)
        # the window's characters: the header, then the last of those before ``start``
        # (encode_pair keeps the header and the end of what follows it)
        head = rep.header_end(window)
        read = list(range(head)) + list(range(start - (len(source) - 2 - head), start))
        cols = [0] + [i + 1 for i in read] + [len(text) + 1]  # markers and characters
        out = np.zeros((len(w), len(text) + 2))
        out[:, cols] = w
        chunks.append(out)
        # a line break that starts the step's bars is written with them, not with the bar
        # its line ended
        row_bars.append(np.maximum(bars[start + 1:start + 1 + len(w)], k))
    return np.concatenate(chunks), np.concatenate(row_bars), bars


def written_steps(rep, text: str):
    """The steps in which compose writes the bars of ``text`` after its first
    ``source_bars``: (the first bar written, the offset where its bars start, their
    text); each step reads :func:`_window` of the text before that offset. A tune
    without a bar after its first ones is a one-line error."""
    head, cuts = rep.header_end(text), rep.cuts(text)
    n, m = rep.source_bars, rep.target_bars
    if head == 0 or len(cuts) <= n:
        raise TunesmithError(f"the tune has {len(cuts)} bar{'s' * (len(cuts) != 1)}: the "
                             f"model reads the first {n}, and no bar follows them")
    starts = [head] + cuts
    for k in range(n, len(cuts), m):
        yield k, starts[k], text[starts[k]:starts[min(k + m, len(cuts))]]


def continuation_nll(model, rep, text: str, style: list[int]) -> tuple[float, int]:
    """(summed NLL in nats, characters) of the bars of ``text`` after its first
    ``source_bars``, each step read as compose writes it (:func:`written_steps`)."""
    import torch

    from tunesmith.data.pairs import collate

    device = next(model.parameters()).device
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for _, start, target in written_steps(rep, text):
            pair = encode_pair(rep, _window(rep, text[:start]), target, False, style)
            out = model.loss({key: v.to(device) for key, v in collate([pair]).items()})
            total += float(out["nll"]) * int(out["count"])
            count += int(out["count"])
    return total, count


def model_corpus(checkpoint):
    """The corpus a continue model was trained on, as it read it: (its name, the loaded
    corpus (:func:`~tunesmith.corpora.load_abc_corpus`, ``--clean`` as in training), each
    tune's labels (:func:`tune_styles`), the split (split name -> tune indices)). For
    benchmarks on the model's own held-out tunes."""
    from tunesmith.corpora import load_abc_corpus
    from tunesmith.data.splits import split_items

    summary = checkpoint.meta["summary"]
    name, clean = summary["corpus"]["corpus"], summary["data"]["clean"]
    c = load_abc_corpus(name, clean=clean)
    splits = split_items(c.texts)  # by the text as written, as training split it
    c.texts = [checkpoint.representation.read_text(t) for t in c.texts]  # as the model reads
    return name, c, tune_styles(name, c.tunes), splits


def tune_styles(corpus: str, tunes) -> list[dict[str, str]]:
    """Each of the corpus's ``tunes`` (as :func:`~tunesmith.corpora.load_abc_corpus` keeps
    them) with its style labels, ``{"tradition": ..., "tune_type": ...}`` (``{}`` for a
    tune the labeller did not see), as :meth:`AbcPhrases.style_ids` takes them."""
    from tunesmith.corpora.styles import corpus_styles

    by_tune = {(str(t.source), t.index): s for t, s in corpus_styles(corpus)}
    out = []
    for t in tunes:
        st = by_tune.get((str(t.source), t.index))
        out.append({} if st is None else {"tradition": st.tradition,
                                          "tune_type": st.tune_type})
    return out


def encode_pair(rep, source: str, target: str, ends: bool, style: list[int]):
    """A pair as ids: the source ``[BOS] ... [EOS]`` (its last :data:`MAX_SOURCE`
    characters, the header kept), the target ``[BOS] ... [EOS when the tune ends]``."""
    head = rep.header_end(source)
    if len(source) > MAX_SOURCE:
        source = source[:head] + source[head:][-(MAX_SOURCE - head):]
    tgt = [rep.bos] + [rep.vocab.id(c) for c in target[:MAX_TARGET]]
    if ends and len(target) <= MAX_TARGET:
        tgt.append(rep.eos)
    return rep.encode_text(source), tgt, style


def read_primer(path: str, rep) -> str:
    """The header and first ``source_bars`` bars of the first tune of the ABC file
    ``path``, as model text; a file without enough bars is a one-line error."""
    from tunesmith.io.abc import read_tune_book

    return primer_source(read_tune_book(path)[0], rep, path)


def primer_source(tune, rep, path) -> str:
    """:func:`read_primer` of the tune the book reader gave (``path``: its file)."""
    from tunesmith.abc_text import model_text

    try:
        text = rep.read_text(model_text(tune))
    except ValueError as e:
        raise TunesmithError(f"the first tune is not a usable ABC tune ({e})", path) from None
    cuts = rep.cuts(text)
    if len(cuts) < rep.source_bars:
        raise TunesmithError(f"the first tune has {len(cuts)} bars; the model reads the "
                             f"first {rep.source_bars}", path)
    bad = sorted({ch for ch in text[:cuts[rep.source_bars - 1]] if ch not in rep.vocab})
    if bad:
        raise TunesmithError(f"the tune's first bars use characters the model never saw: "
                             f"{''.join(bad)!r}", path)
    return text[:cuts[rep.source_bars - 1]]


def continue_texts(model, rep, sources: list[str], style: list, bars: int,
                   opts: ComposeOptions, seed: int, device="cpu",
                   step_drafts: int = 1, counter=None) -> list[str]:
    """Each source continued by ``bars`` bars (or until the model ends the tune), in steps
    of the model's ``target_bars``: each step reads the header and the last
    ``source_bars`` bars written so far. A continuation that the character limit stopped
    inside a bar ends at the bar line before it. ``style`` is one list of style ids
    (:meth:`~tunesmith.representations.abc_phrases.AbcPhrases.style_ids`) for every
    source, or one such list per source. Sampled, or by beam search with ``opts.beam``
    hypotheses per source (each step's bars the best hypothesis of that step).

    With ``step_drafts`` > 1, each step draws that many drafts of its bars per source and
    keeps the first whose bars keep the tune's ``M:`` (:func:`_keeps_meter`; none: the one
    whose first bad bar comes latest), so a continuation is mended step by step rather
    than drawn again whole. ``opts.style_guidance`` > 0 guides each step towards the
    style (:func:`guided`). ``counter``: a :class:`~tunesmith.progress.StepCounter` that
    hears the characters drawn, step after step (or None)."""
    import numpy as np

    from tunesmith.data.pairs import collate
    from tunesmith.representations.abc_phrases import bar_counter
    from tunesmith.sampling.settings import per_head

    texts, ended = list(sources), [False] * len(sources)
    styles = style if style and isinstance(style[0], list) else [style] * len(sources)
    settings = per_head(["token"], opts.temperature, opts.top_k, opts.top_p)
    left, k, drawn = bars, 0, 0
    model.eval()
    while left > 0 and not all(ended):
        chunk = min(left, rep.target_bars)
        going = [i for i, e in enumerate(ended) if not e]  # a tune the model ended is done
        rows = [i for i in going for _ in range(step_drafts)]
        batch = collate([encode_pair(rep, _window(rep, texts[i]), "", False, styles[i])
                         for i in rows])
        common = dict(primer=[[rep.bos]], num=len(rows), max_steps=MAX_CHARS_PER_BAR * chunk,
                      heads=["token"], stop=("token", rep.eos),
                      banned={"token": rep.never_sample()},
                      seed=int(np.random.SeedSequence([seed, k]).generate_state(1)[0]),
                      device=device, until=bar_counter(rep, chunk),
                      on_step=None if counter is None else counter.after(drawn))
        steps = draw(guided(model, batch, device, opts.style_guidance, opts.beam), opts,
                     settings, common)
        drawn += max((len(seq) for seq in steps), default=0)
        for n, i in enumerate(going):
            drafts = [[s[0] for s in seq]
                      for seq in steps[n * step_drafts:(n + 1) * step_drafts]]
            pick = 0 if step_drafts == 1 else _keeps_meter(
                rep, texts[i], [rep.decode_text(d) for d in drafts],
                [bool(d) and d[-1] == rep.eos for d in drafts], chunk)
            ids = drafts[pick]
            texts[i] += rep.decode_text(ids)
            ended[i] = bool(ids) and ids[-1] == rep.eos
        left, k = left - chunk, k + 1
    texts = [t if e else _to_bar_line(t, len(src))
             for t, e, src in zip(texts, ended, sources, strict=True)]
    return [t if t.endswith("\n") else t + "\n" for t in texts]


def _to_bar_line(text: str, keep: int) -> str:
    """``text`` without a last bar that no bar line closes (the character limit stopped
    the model inside it), unless that would cut into its first ``keep`` characters (the
    source) or leave the continuation without a bar."""
    from tunesmith.abc_meter import bars

    found = bars(text)
    if len(found) < 2 or found[-1].closes:
        return text
    end = found[-2].end + len(found[-2].closes)
    return text[:end] if end > keep else text


def check_guidance(opts: ComposeOptions) -> None:
    """``--style-guidance`` needs a style to guide towards."""
    if opts.style_guidance and not opts.style:
        raise OptionError("style_guidance", "guides towards a style: add --style")


def guided(model, batch: dict, device, weight: float = 0.0, beam: int | None = None):
    """The model reading ``batch``'s source phrases (collated pairs) as the shared
    sampler sees a model (:class:`~tunesmith.models.seq2seq.Conditioned`); with
    ``weight`` > 0, guided towards their styles
    (:class:`~tunesmith.models.seq2seq.Guided`: the phrases are also read with no style).
    With ``beam``, each phrase's state once per hypothesis. Shared by both continue
    families."""
    import torch

    from tunesmith.models.seq2seq import Conditioned, Guided

    source, lengths = batch["source"].to(device), batch["source_len"].to(device)
    style = batch["style"].to(device)

    def read(styles):
        with torch.no_grad():
            state = model.encode(source, lengths, styles)
        return state if not beam else {k: v.repeat_interleave(beam, 0)
                                       for k, v in state.items()}

    if not weight:
        return Conditioned(model, read(style))
    return Guided(model, read(style), read(torch.zeros_like(style)), weight)


def draw(reader, opts: ComposeOptions, settings, common: dict) -> list:
    """One step of a continue family: each row's steps by beam search with
    ``opts.beam`` hypotheses, else sampled under ``settings``; ``common``: the
    sampler's other arguments, alike for both."""
    from tunesmith.sampling.beam import beam_search
    from tunesmith.sampling.decode import sample

    if opts.beam:
        return beam_search(reader, beam=opts.beam, length_penalty=opts.length_penalty,
                           stochastic=opts.stochastic_beam, **common)
    return sample(reader, settings=settings, **common)


def _keeps_meter(rep, text: str, drafts: list[str], ended: list[bool], bars: int) -> int:
    """The index of the first of ``drafts`` (continuations of ``text`` by ``bars`` bars,
    ``ended`` where the model ended the tune) whose bars keep the tune's meter
    (:func:`~tunesmith.abc_meter.meter_error` of what it adds; the last bar of a draft
    that does not end the tune is judged too, as more bars follow it), preferring one
    that writes its ``bars`` to one that stopped sooner (a meter is easy to keep for a
    bar or two); when none keeps it, the one whose first bad bar comes latest."""
    from tunesmith.abc_meter import meter_error

    best, furthest, short = 0, -1, None
    had = len(rep.cuts(text))
    for n, d in enumerate(drafts):
        error = meter_error(text + d, len(text), open_end=ended[n])
        if error is None:
            if len(rep.cuts(text + d)) - had >= bars:
                return n
            short = n if short is None else short
        elif error[0] > furthest:
            best, furthest = n, error[0]
    return best if short is None else short


def _window(rep, text: str) -> str:
    """The header and the last ``source_bars`` bars of ``text``."""
    head, cuts = rep.header_end(text), rep.cuts(text)
    if len(cuts) <= rep.source_bars:
        return text
    return text[:head] + text[cuts[-rep.source_bars - 1]:].lstrip("\n")


def _first_good(texts: list[str], keep: int) -> int | None:
    """The index of the first text abc2midi plays (when it is installed) whose bars after
    ``keep`` keep the meter; None when none does."""
    from tunesmith.abc_meter import meter_error
    from tunesmith.io import abc2midi

    errors = abc2midi.convert_all(texts, max_seconds=MAX_PLAYED_SECONDS) if (
        abc2midi.available()) else {}
    for i, t in enumerate(texts):
        if i not in errors and meter_error(t, keep) is None:
            return i
    return None
