"""What the music is like: ``music_report`` composes with a model and compares its pieces
with held-out real pieces of the model's own corpus (``tunesmith evaluate --music``);
``analyze`` measures any folders of MIDI / ABC / MusicXML, and compares two when asked
(``tunesmith analyze``). Both write ``report.html``, ``features.csv`` and
``summary.json`` (:mod:`tunesmith.evaluation.report`)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import OptionError, TunesmithError
from tunesmith.options import opt
from tunesmith.progress import Progress, report
from tunesmith.sampling.settings import DEFAULTS, HeadValue, parse_head_values

POOL = 3  # real pieces for the noise band: this many times the generated count


@dataclass(frozen=True)
class MusicRequest:
    model: str | None = opt(None, "checkpoint folder (default: the shipped ABC model)")
    num: int | None = opt(None, "pieces to compose and to compare with as many real ones "
                          "(default: 100 for abc, 30 for events and pianoroll)")
    seconds: float | None = opt(None, "events, pianoroll: length of each composed piece "
                                "(default 30 s, the median length of a Bach chorale at the "
                                "shipped models' tempo)")
    grace: float | None = opt(None, "events, pianoroll, remi: beats past the length in "
                              "which a piece may end on a cadence (default: compose's, "
                              "8; 0 cuts at the length)")
    seed: int = opt(0, "random seed of the compositions and of the real samples")
    temperature: HeadValue = opt(DEFAULTS.temperature, "sampling temperature (families that "
                                 "take one)", cast=parse_head_values)
    constrain: bool = opt(True, "score the model's raw samples (abc: no resampling of the "
                          "tunes abc2midi rejects; events: heads drawn independently)",
                          flag="unconstrained", negate=True)
    repeat_bias: float | None = opt(None, "abc, remi, pianoroll models trained with "
                                    "--lookback: compose's --repeat-bias (default: "
                                    "compose's)")
    draws: int = opt(10, "real samples that make the real-vs-real band")
    corpus: str | None = opt(None, "the model's corpus where it is now, if it moved (its "
                             "real pieces are read from it; default: where it was trained)")
    out: str = opt("music_report", "folder for report.html, features.csv, summary.json")
    overwrite: bool = opt(False, "replace the report already in --out (by default a folder "
                          "that holds one is refused)")
    device: str = opt("auto", "auto, cpu, cuda, cuda:N")
    label: str = opt("", "what the report calls the model (default: its folder); a web "
                     "page gives its own name, not where the server keeps it", derived=True)

    def __post_init__(self):
        if self.num is not None and self.num < 1:
            raise OptionError("num", f"must be >= 1, got {self.num}")
        if self.draws < 1:
            raise OptionError("draws", f"must be >= 1, got {self.draws}")


def music_report(request: MusicRequest, progress: Progress | None = None, log=None):
    """Compose ``num`` pieces, take as many held-out real pieces of the model's corpus
    (the same representation's quantisation) and a pool of training pieces for the noise
    band, compare them feature by feature, and write the report into ``request.out``.
    Returns the :class:`~tunesmith.evaluation.report.Report`."""
    from tunesmith import families
    from tunesmith.app.composing import compose
    from tunesmith.app.evaluating import _corpus_and_data, _own_corpus_here
    from tunesmith.app.models import load_model
    from tunesmith.evaluation.report import PieceSet, Report, compare_sets, write

    log = log or _quiet
    report_folder(request.out, request.overwrite)  # before the slow work, not after it
    ckpt = load_model(request.model, device=request.device)
    fam = families.for_representation(ckpt.representation.name)
    opts = _compose_options(fam, request)
    corpus, data, notes = _corpus_and_data(ckpt, fam, request.corpus)
    if request.corpus is None:  # not found wanting after the composing
        _own_corpus_here(corpus, fam.name)
    grace = getattr(opts, "grace", 0) if "grace" in fam.controls else 0
    if grace and opts.seconds is not None:
        notes.append(f"cadence and tonic endings count compose's ending search too (it "
                     f"looks {grace:g} beats past the length for a cadence): --grace 0 "
                     "measures the model's own endings")
    log(f"composing {opts.num} {fam.item} with {ckpt.path}")
    generated = PieceSet("generated")
    for c in compose(ckpt, opts, progress=progress):
        piece = fam.report_piece(c)
        _add(generated, f"{fam.stem}_{c.index:02d}", piece, c.error or "cannot be read")
    log(f"reading the corpus {corpus}")
    items = fam.corpus_items(corpus, data, ckpt.representation, progress=progress, log=log)
    rng = random.Random(request.seed)
    held_out = items["test"] + items["valid"]
    if not held_out:
        notes.append("the corpus has no held-out pieces (a tiny corpus is split by time): "
                      "the real pieces are training pieces")
        held_out = list(items["train"])
    real = _sample(PieceSet("real"), held_out, opts.num, rng)
    pool = _sample(PieceSet("real (pool)"), items["train"], POOL * opts.num, rng)
    for s in (generated, real, pool):
        s.measure(lambda i, n, name=s.name: report(progress, f"measure {name}", i, n, "piece"))
    rows = compare_sets(generated, real, pool, draws=request.draws, seed=request.seed)
    n = max(1, len(generated.pieces))
    if len(real.pieces) < n:
        notes.append(f"only {len(real.pieces)} held-out real pieces against {n} generated "
                     "ones: the comparison is noisier than the band from more pieces says")
    pieces = "piece" if n == 1 else "pieces"
    band = (f"{request.draws} samples of {n} training {pieces} (of {len(pool.pieces)})"
            if len(pool.pieces) >= n else f"{request.draws} random splits of the "
            f"{len(real.pieces)} real pieces into halves (fewer than {n} training {pieces})")
    name = request.label or str(ckpt.path)
    settings = {"model": name, "family": fam.name, "corpus": corpus,
                "compose": _described(opts, fam), "real": "held-out pieces (valid and test "
                "splits), whole, as the representation keeps them", "band": band}
    out = Report(f"tunesmith music report: {name}", generated, real, rows, settings,
                 _memorisation(fam, items["train"], generated, real), notes)
    paths = write(out, request.out)
    log(f"report: {paths[0]}")
    return out


def _compose_options(fam, request: MusicRequest):
    from tunesmith.families.base import ComposeOptions

    values = {"num": request.num or fam.report_defaults["num"], "seed": request.seed}
    if "seconds" in fam.controls:
        values["seconds"] = request.seconds or fam.report_defaults.get("seconds")
    elif request.seconds is not None:
        raise OptionError("seconds", f"is not an option of the {fam.name} family's composer")
    if request.grace is not None:
        if "grace" not in fam.controls:
            raise OptionError("grace", f"is not an option of the {fam.name} family's composer")
        values["grace"] = request.grace
    if "temperature" in fam.controls:
        values["temperature"] = request.temperature
    elif request.temperature != DEFAULTS.temperature:
        raise OptionError("temperature", f"is not an option of the {fam.name} family's "
                          "composer")
    if "constrain" in fam.controls:
        values["constrain"] = request.constrain
    elif not request.constrain:
        raise OptionError("constrain", f"is not an option of the {fam.name} family's "
                          "composer: its samples are raw")
    if request.repeat_bias is not None:
        if "repeat_bias" not in fam.controls:
            raise OptionError("repeat_bias", f"is not an option of the {fam.name} family's "
                              "composer")
        values["repeat_bias"] = request.repeat_bias
    return ComposeOptions(**values)


def _described(opts, fam) -> str:
    shown = {k: getattr(opts, k) for k in ("num", "seed", "seconds", "grace", "temperature",
                                            "constrain", "repeat_bias")
             if k in fam.controls | {"num", "seed"} and getattr(opts, k) is not None}
    return ", ".join(f"{k} {v}" for k, v in shown.items())


def _add(s, label: str, piece, why: str) -> None:
    if piece is None:
        s.skipped.append(f"{label}: {why}")
    elif not piece.notes:
        s.skipped.append(f"{label}: no notes")
    else:
        s.pieces.append(piece)
        s.labels.append(label)


def _sample(s, items: Sequence, n: int, rng: random.Random):
    """Up to ``n`` pieces of ``items`` in a random order (items that cannot be read are
    skipped and others taken in their place)."""
    order = list(items)
    rng.shuffle(order)
    for item in order:
        if len(s.pieces) >= n:
            break
        _add(s, item.label, item.load(), "cannot be read")
    return s


def _memorisation(fam, train_items, generated, real):
    from tunesmith.evaluation.memorisation import TrainingIndex
    from tunesmith.evaluation.report import Memorisation

    index = TrainingIndex([i.memory for i in train_items], [i.label for i in train_items])
    return Memorisation(fam.memory_unit, fam.long_copy,
                        index.longest_matches([fam.memory(p) for p in generated.pieces]),
                        index.longest_matches([fam.memory(p) for p in real.pieces]))


def report_folder(out: str | Path, overwrite: bool) -> Path:
    """``out`` as the folder a report will be written into, checked before any work: a
    path that is a file is refused, and so is a folder that already holds a report
    (report.html, features.csv or summary.json) unless ``overwrite``. Nothing is made
    yet: a request that fails later leaves no empty folder behind."""
    from tunesmith.evaluation.report import REPORT_FILES
    from tunesmith.io.paths import output_folder

    folder = output_folder(out, make=False)
    present = [n for n in REPORT_FILES if (folder / n).exists()] if folder.is_dir() else []
    if present and not overwrite:
        raise TunesmithError(f"already holds a report ({', '.join(present)}): pass "
                             "--overwrite to replace it, or choose another --out", folder)
    return folder


# --- any folders --------------------------------------------------------------------------

@dataclass(frozen=True)
class AnalyzeOptions:
    out: str = opt("analysis", "folder for report.html, features.csv, summary.json")
    overwrite: bool = opt(False, "replace the report already in --out (by default a folder "
                          "that holds one is refused)")
    draws: int = opt(10, "random splits of the real set that make the real-vs-real band")
    seed: int = opt(0, "random seed of those splits")


def analyze(paths: Sequence[str | Path], real: Sequence[str | Path] = (),
            options: AnalyzeOptions = AnalyzeOptions(), progress: Progress | None = None,
            log=None):
    """Measure every piece under ``paths`` (MIDI, MusicXML, ABC: every tune of a book;
    a piece a folder holds as several renderings with one name, as compose writes
    ``tune_01.abc`` and ``tune_01.mid``, once); with ``real``, compare them with the
    pieces under it (the band from halves of the real set). Writes the report into
    ``out``, which must not hold one already unless ``overwrite``; returns it."""
    from tunesmith.evaluation.report import PieceSet, Report, compare_sets, write

    log = log or _quiet
    if not paths:
        raise OptionError("paths", "give at least one file or folder to analyze")
    report_folder(options.out, options.overwrite)  # before the reading, not after it
    notes: list[str] = []
    sets = [_read_set(paths, "pieces", progress, log, notes)]
    if real:
        sets.append(_read_set(real, "real", progress, log, notes))
    for s in sets:
        s.measure(lambda i, n, name=s.name: report(progress, f"measure {name}", i, n, "piece"))
    generated, reference = sets[0], sets[-1] if real else PieceSet("(no real set)")
    rows = compare_sets(generated, reference, None, draws=options.draws, seed=options.seed)
    if not real:
        notes.append("no real set given (--real): the distributions are shown, not compared")
    settings = {"pieces": ", ".join(map(str, paths)),
                "real": ", ".join(map(str, real)) or "none",
                "band": f"{options.draws} random splits of the real set into halves"}
    result = Report("tunesmith analysis", generated, reference, rows, settings, None, notes)
    log(f"report: {write(result, options.out)[0]}")
    return result


def _read_set(paths, name: str, progress, log, notes: list[str]):
    from tunesmith.corpora import IngestFilter, load_piece_corpus
    from tunesmith.evaluation.report import PieceSet
    from tunesmith.io.boulanger import is_boulanger_file

    s = PieceSet(name)
    keep_all = IngestFilter(min_seconds=0.0, min_notes=1)  # analysis drops only the unreadable
    # per piece of s, and per entry of s.skipped: the file found in a folder it came from
    # (None for a file named on its own, or a built-in corpus)
    sources: list[Path | None] = []
    failed: list[Path | None] = []
    for path in paths:
        try:
            if is_boulanger_file(path):  # a benchmark file: its test split, as reported
                pieces = _benchmark_test_pieces(Path(path), notes, log)
            else:
                corpus = load_piece_corpus(str(path), keep_all, progress=progress)
                pieces = None
        except TunesmithError as e:
            if len(paths) == 1:
                raise
            s.skipped.append(str(e))
            failed.append(None)
            continue
        if pieces is not None:
            s.pieces += pieces
            s.labels += [f"{Path(path).name}/test/{i}" for i in range(len(pieces))]
            sources += [None] * len(pieces)
            continue
        s.pieces += corpus.pieces
        s.labels += [f"{Path(path).name}/{k}" for k in corpus.keys]
        searched = Path(path).expanduser().is_dir()
        sources += [Path(path).expanduser() / _file_part(k) if searched else None
                    for k in corpus.keys]
        for r in corpus.rows:
            if r.status != "kept":
                s.skipped.append(f"{r.path}: {r.reason}")
                failed.append(Path(_file_part(r.path)) if searched else None)
    extra = _one_per_piece(s, sources, failed)
    if extra:
        shown = ", ".join(str(p) for p in extra[:3]) + (", ..." if len(extra) > 3 else "")
        said = (f"{name}: {len(extra)} duplicate rendering{'s' * (len(extra) != 1)} "
                f"skipped ({shown}): a piece written as several files with one name in one "
                "folder is counted once, from its ABC, else its MusicXML, else its MIDI")
        log(said)
        notes.append(said)
    _within_budget(s)
    if not s.pieces and len(s.skipped) == 1:
        raise TunesmithError(s.skipped[0])
    for line in s.skipped[:20]:
        log(f"skipped: {line}", "warning")
    if not s.pieces:
        raise TunesmithError(f"no pieces to analyze in {', '.join(map(str, paths))}")
    return s


def _benchmark_test_pieces(path: Path, notes: list[str], log) -> list:
    """The test split of a Boulanger-Lewandowski benchmark file (``jsb_chorales.json``...)
    as pieces, at its data set's frames per quarter note (2 for a file of another name,
    said). Its rolls carry neither meter nor key: the features that need them are n/a."""
    from tunesmith.io.boulanger import dataset_for, read_boulanger
    from tunesmith.representations.pianoroll import PianoRoll

    known = dataset_for(path)
    try:
        rolls = read_boulanger(path)["test"]
    except TunesmithError as e:  # a .json that is something else (a report's summary.json)
        why = str(e).removeprefix(f"{e.path}: ") if e.path else str(e)
        raise TunesmithError(f"not a Boulanger benchmark file ({why}); analyze reads music "
                             "files (.mid .xml .mxl .musicxml .abc) and benchmark files",
                             path) from None
    rep = PianoRoll(steps_per_beat=known.steps_per_beat if known else 2)
    pieces = [rep.decode(roll) for roll in rolls if roll.any()]
    silent = len(rolls) - len(pieces)
    if not pieces:
        raise TunesmithError("the benchmark file's test split has no notes", path)
    said = (f"{path.name}: its test split, {len(pieces)} pieces"
            f"{f' ({silent} silent, skipped)' if silent else ''}, read as "
            f"{known.name if known else 'a piano roll'} at {rep.steps_per_beat} frame(s) "
            "per quarter note"
            f"{'' if known else ' (a name tunesmith does not know: the grid is assumed)'}")
    log(said)
    notes.append(said)
    return pieces


# the most faithful source of a piece first: ABC text and MusicXML carry the meter and key
# a MIDI rendering of them may lose or only approximate
_FAITHFUL = {".abc": 0, ".musicxml": 1, ".xml": 1, ".mxl": 1, ".mid": 2, ".midi": 2}


def _file_part(key: str) -> str:
    """The file of a corpus key or label: ``book.abc#3`` -> ``book.abc``."""
    head, sep, tail = key.rpartition("#")
    return head if sep and tail.isdigit() else key


def _one_per_piece(s, sources: list, failed: list) -> list[Path]:
    """Count once a piece written as several files with the same stem in one folder
    (compose writes ``tune_01.abc`` and ``tune_01.mid``; an exporter may add
    ``tune_01.musicxml``): keep the most faithful file that could be read
    (:data:`_FAITHFUL`), drop the others' pieces and failures from ``s``. Only files
    found by searching a folder are grouped (files named one by one are each counted),
    and not a group with a tune book in it (a file of several pieces is not one piece
    written twice). Returns the files dropped."""
    from collections import Counter

    items = Counter(f for f in sources + failed if f is not None)
    groups: dict[tuple[Path, str], set[Path]] = {}
    for f in items:
        groups.setdefault((f.parent.resolve(), f.stem), set()).add(f)
    read = {f for f in sources if f is not None}
    dropped: set[Path] = set()
    for files in groups.values():
        if len(files) < 2 or any(items[f] > 1 for f in files):
            continue
        rank = sorted(files, key=lambda f: (f not in read, _FAITHFUL.get(f.suffix.lower(), 3),
                                            f.name))
        dropped.update(rank[1:])
    if not dropped:
        return []
    keep = [i for i, f in enumerate(sources) if f not in dropped]
    s.pieces = [s.pieces[i] for i in keep]
    s.labels = [s.labels[i] for i in keep]
    s.skipped = [line for line, f in zip(s.skipped, failed, strict=True) if f not in dropped]
    return sorted(dropped)


def _within_budget(s) -> None:
    """Skip, with the reason, each piece of ``s`` over the ``analyze_notes`` limit: its
    40 features cost ~25 us a note, so one piece of 450,000 notes (within the reading
    limit of 500,000) took over 20 s."""
    from tunesmith.io.limits import limits

    keep = []
    for piece, label in zip(s.pieces, s.labels, strict=True):
        why = limits().problem("analyze_notes", sum(len(t.notes) for t in piece.tracks),
                               "notes to analyze")
        if why:
            s.skipped.append(f"{label}: {why}")
        else:
            keep.append((piece, label))
    s.pieces, s.labels = [p for p, _ in keep], [label for _, label in keep]


def _quiet(message: str, level: str = "info") -> None:
    pass
