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

MAX_SOURCE = 320  # characters of a source phrase (the header and its bars) a pair keeps
MAX_TARGET = 320  # characters of a target a pair keeps
MAX_CHARS_PER_BAR = 48  # a sampled bar longer than this is cut (real bars: ~6-25)
DRAFTS = 4  # continuations drawn per piece; the first abc2midi and the meter accept is kept
OPENINGS = 16  # held-out openings a model keeps, to continue when no primer is given


@dataclass(frozen=True)
class ContinueData:
    clean: bool = opt(False, "skip tunes that abc2midi reports errors for (needs abcmidi)")
    source_bars: int = opt(4, "bars the model reads (the primer's first bars)")
    target_bars: int = opt(4, "bars of each training target (compose writes longer "
                           "continuations in steps of this many bars)")
    styles: bool = opt(True, "condition on the tunes' style labels (tradition and tune "
                       "type: tunesmith corpora --styles)", flag="no-styles", negate=True)

    def __post_init__(self):
        for name in ("source_bars", "target_bars"):
            if not 1 <= getattr(self, name) <= 64:
                raise OptionError(name, f"must be between 1 and 64, got {getattr(self, name)}")


class ContinueFamily(Family):
    name = "continue"
    representation = "abc_phrases"
    default_model = "seq2seq"
    pretrained = "folk-continue-small"
    default_corpus = "folk-abc"
    data_options = ContinueData
    controls = frozenset({"primer", "bars", "style", "temperature", "top_k", "top_p",
                          "constrain"})
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
        (source bars, target bars) pairs."""
        from tunesmith.corpora.styles import MIN_LABEL_TUNES, OTHER, UNKNOWN, corpus_styles
        from tunesmith.data.splits import split_items
        from tunesmith.representations.abc_phrases import AbcPhrases

        c = load_abc_tunes(corpus, data.clean, log)
        by_tune = {(str(t.source), t.index): s for t, s in corpus_styles(corpus)}
        labels = [by_tune.get((str(t.source), t.index)) for t in c.tunes]
        splits = split_items(c.texts)
        fitted = representation is None
        if fitted:
            train = splits["train"]
            if not train:
                raise TunesmithError("corpus too small: no tune landed in the training "
                                     "split", corpus)
            sets = {}
            if data.styles:
                sets = {k: [getattr(labels[i], k) for i in train if labels[i] is not None]
                        for k in ("tradition", "tune_type")}
                named = {k: sorted(set(v) - {UNKNOWN, OTHER}) for k, v in sets.items()}
                if all(len(v) < 2 for v in named.values()):
                    raise TunesmithError(
                        "the corpus's tunes do not have two style labels to tell apart "
                        f"(tradition {named['tradition']}, tune type {named['tune_type']}; "
                        f"a label needs {MIN_LABEL_TUNES} tunes): train with --no-styles, "
                        "or give a folder with a sub-folder per tradition", corpus)
            representation = AbcPhrases.fit_phrases(
                (c.texts[i] for i in train), sets, min_count=MIN_CHAR_COUNT,
                source_bars=data.source_bars, target_bars=data.target_bars)
            held_out = splits["valid"] or train
            openings = [p[0][0] for p in (representation.pairs(c.texts[i])
                                          for i in held_out) if p][:OPENINGS]
            representation = dataclasses.replace(
                representation, openings=tuple(o for o in openings
                                               if all(ch in representation.vocab for ch in o)))
        rep = representation
        seqs: dict[str, list] = {}
        for s, idx in splits.items():
            seqs[s] = []
            for i in idx:
                st = labels[i]
                style = rep.style_ids(**({} if st is None else {
                    "tradition": st.tradition, "tune_type": st.tune_type}))
                seqs[s] += [encode_pair(rep, src, tgt, ends, style)
                            for src, tgt, ends in rep.pairs(c.texts[i])]
        if fitted and not seqs["train"]:
            raise TunesmithError(f"no tune of the corpus has more than {rep.source_bars} "
                                 "bars: nothing to continue (try --source-bars 2)", corpus)
        info = {"corpus": corpus, "tunes": {s: len(v) for s, v in splits.items()},
                "pairs": {s: len(v) for s, v in seqs.items()},
                "tokens": {s: sum(len(p[1]) - 1 for p in v) for s, v in seqs.items()},
                "skipped": len(c.problems), "clean": data.clean, "unit": self.unit,
                "styles": {k: len(v) - 1 for k, v in rep.styles.items()}}
        return Prepared(rep, seqs, info)

    def model_sizes(self, representation) -> dict:
        return {"vocab_size": len(representation.vocab),
                "styles": representation.style_sizes}

    def batches(self, prepared: Prepared, cfg, data=None):
        from tunesmith.data.pairs import PairBatches, PairSet

        return (PairBatches(prepared.sequences["train"], cfg.batch_size, seed=cfg.seed),
                PairSet(prepared.sequences["valid"], max_items=cfg.eval_max_items))

    # --- composing -----------------------------------------------------------------------
    def compose(self, checkpoint, opts: ComposeOptions, sink: Sink | None = None,
                log=_quiet, progress=None, start: int = 1) -> list[Composition]:
        """Continue the primer's first ``source_bars`` bars by ``opts.bars`` bars (default:
        the model's ``target_bars``), ``opts.num`` times. With ``opts.constrain``,
        :data:`DRAFTS` continuations are drawn per piece and the first that abc2midi plays
        and whose bars keep the tune's ``M:`` is kept."""
        from tunesmith.io import abc2midi

        rep, model = checkpoint.representation, checkpoint.model
        if opts.primer:
            sources = [read_primer(opts.primer, rep)] * opts.num
        elif rep.openings:  # the model's own held-out openings, in turn
            sources = [rep.openings[(start - 1 + k) % len(rep.openings)]
                       for k in range(opts.num)]
        else:
            raise OptionError("primer", "the continue family continues a tune: give "
                              "--primer FILE.abc (its first bars are read)")
        style = rep.style_ids(**rep.parse_style(opts.style))
        bars = opts.bars or rep.target_bars
        drafts = DRAFTS if opts.constrain else 1
        seed = opts.seed if opts.seed is not None else secrets.randbits(31)
        texts = continue_texts(model, rep, [s for s in sources for _ in range(drafts)],
                               style, bars, opts, seed,
                               device=next(model.parameters()).device)
        chosen = [_first_good(texts[k * drafts:(k + 1) * drafts], len(sources[k]))
                  if opts.constrain else 0 for k in range(opts.num)]
        bad = sum(i is None for i in chosen)
        if opts.constrain and bad:
            log(f"{bad} of {opts.num} continuations: none of {drafts} drafts both plays and "
                "keeps its meter; kept the first", "warning")
        texts = [texts[k * drafts + (i or 0)] for k, i in enumerate(chosen)]
        tunes = _Tunes(texts, sink, start, title="continuation")
        rejected = tunes.publish(range(len(texts)))
        for i in range(len(texts)) if not abc2midi.available() else sorted(rejected):
            tunes.by_music21(i, rejected.get(i))
        return tunes.done()

    def piece_steps(self, opts: ComposeOptions, representation) -> int:
        return MAX_SOURCE + MAX_CHARS_PER_BAR * (opts.bars or representation.target_bars)


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
    from tunesmith.abc_text import model_text
    from tunesmith.io.abc import read_tune_book

    tunes = read_tune_book(path)
    try:
        text = model_text(tunes[0])
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


def continue_texts(model, rep, sources: list[str], style: list[int], bars: int,
                   opts: ComposeOptions, seed: int, device="cpu") -> list[str]:
    """Each source continued by ``bars`` bars (or until the model ends the tune), in steps
    of the model's ``target_bars``: each step reads the header and the last
    ``source_bars`` bars written so far."""
    import numpy as np
    import torch

    from tunesmith.data.pairs import collate
    from tunesmith.models.seq2seq import Conditioned
    from tunesmith.representations.abc_phrases import bar_counter
    from tunesmith.sampling.decode import sample
    from tunesmith.sampling.settings import per_head

    texts, ended = list(sources), [False] * len(sources)
    settings = per_head(["token"], opts.temperature, opts.top_k, opts.top_p)
    left, k = bars, 0
    model.eval()
    while left > 0 and not all(ended):
        chunk = min(left, rep.target_bars)
        going = [i for i, e in enumerate(ended) if not e]  # a tune the model ended is done
        batch = collate([encode_pair(rep, _window(rep, texts[i]), "", False, style)
                         for i in going])
        with torch.no_grad():
            state = model.encode(batch["source"].to(device), batch["source_len"].to(device),
                                 batch["style"].to(device))
        steps = sample(Conditioned(model, state), primer=[[rep.bos]], num=len(going),
                       max_steps=MAX_CHARS_PER_BAR * chunk, heads=["token"],
                       settings=settings, stop=("token", rep.eos),
                       banned={"token": rep.never_sample()},
                       seed=int(np.random.SeedSequence([seed, k]).generate_state(1)[0]),
                       device=device, until=bar_counter(rep, chunk))
        for i, seq in zip(going, steps, strict=True):
            ids = [s[0] for s in seq]
            texts[i] += rep.decode_text(ids)
            ended[i] = bool(ids) and ids[-1] == rep.eos
        left, k = left - chunk, k + 1
    return [t if t.endswith("\n") else t + "\n" for t in texts]


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
