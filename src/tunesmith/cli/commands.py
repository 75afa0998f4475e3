"""The subcommands: each makes typed requests from its flags, calls the application layer
and prints what came back."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from tunesmith.cli.flags import (
    Section,
    add_sections,
    cast_config,
    dump,
    given,
    layered,
    read_config,
)
from tunesmith.errors import OptionError, TunesmithError
from tunesmith.options import opt


def out(message: str = "", level: str = "info") -> None:
    """The log every command hands to the application layer: notes to stdout, warnings
    (a skipped tune, a dropped file) to stderr."""
    print(message, file=sys.stderr if level == "warning" else sys.stdout)


def quiet(message: str = "", level: str = "info") -> None:
    """The log of torchrun's ranks other than 0: nothing (rank 0 says it all once)."""


def progress_for(args):
    if getattr(args, "no_progress", False):
        return None
    from tunesmith.cli.progress import tqdm_progress

    return tqdm_progress()


def command_line(args) -> str:
    return "tunesmith " + " ".join(shlex.quote(a) for a in args.argv)


class Command:
    name = ""
    help = ""
    configurable = True  # --config / --print-config
    progress = False  # --no-progress
    records: tuple[str, ...] = ()  # keys of a config file that are records, not settings

    def sections(self, args=None) -> list[Section]:
        return []

    def add_to(self, sub) -> argparse.ArgumentParser:
        parser = sub.add_parser(self.name, help=self.help, description=self.help)
        self.add_positionals(parser)
        add_sections(parser, self.sections())
        if self.configurable:
            parser.add_argument("--config", metavar="FILE", help="read settings from a YAML "
                                "or JSON file (flags win over it; --print-config shows the "
                                "form)")
            parser.add_argument("--print-config", action="store_true", help="print the "
                                "resolved settings as YAML and stop")
        if self.progress:
            parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        self.add_extra(parser)
        parser.set_defaults(command_spec=self, command_parser=parser)
        return parser

    def add_positionals(self, parser) -> None:
        pass

    def add_extra(self, parser) -> None:
        pass

    def values(self, args) -> dict[str, dict]:
        """Settings per section: the config file's, then the flags over them."""
        sections = self.sections()
        flags = given(args, sections)
        if not getattr(args, "config", None):
            return flags
        from_file = read_config(args.config, sections, ignore=self.records)
        return layered(cast_config(from_file, sections), flags)

    def run(self, args) -> int:
        raise NotImplementedError


# --- corpora -------------------------------------------------------------------------------

class Corpora(Command):
    name = "corpora"
    help = "list the built-in corpora with tune counts"
    configurable = False

    def add_extra(self, parser) -> None:
        parser.add_argument("--styles", action="store_true", help="instead, count the tunes "
                            "of an ABC corpus (--corpus, default folk-abc) per style label: "
                            "tradition (collection, or sub-folder of your folder) and tune "
                            "type (R: field, else title); for a MIDI / MusicXML corpus, its "
                            "files per sub-folder or LABEL= part (continue-events, continue-remi)")
        parser.add_argument("--corpus", metavar="NAME_OR_PATH", action="append",
                            help="the corpus for --styles (implies it): folk-abc or your "
                            "file or folder of .abc files; a MIDI folder; LABEL=PATH "
                            "(repeat it)")

    def run(self, args) -> int:
        if args.styles or args.corpus:
            from tunesmith.corpora.labelled import count_labels, is_labelled
            from tunesmith.corpora.styles import MIN_LABEL_TUNES, format_counts, style_counts

            name = ",".join(args.corpus or ["folk-abc"])
            if is_labelled(name):
                counts = count_labels(name)
                if not counts:
                    raise TunesmithError("no MIDI, MusicXML or ABC files to count", name)
                print(f"{name}: files per style label (continue-events, continue-remi; "
                      "training drops "
                      "files it cannot use, the ingest report says which)\n")
                width = max([5, *map(len, counts)])
                print("\n".join([f"{'label':<{width}}  {'files':>6}"] + [
                    f"{k:<{width}}  {n:>6}" for k, n in counts.most_common()]))
                return 0
            from tunesmith.corpora.abc import load_abc_corpus

            corpus = load_abc_corpus(name)  # the tunes training keeps, and what it skips
            counts = style_counts(name, kept={(str(t.source), t.index)
                                              for t in corpus.tunes})
            print(f"{name}: tunes per style label (labels with fewer than "
                  f"{MIN_LABEL_TUNES} tunes are counted as other)\n")
            print(format_counts(counts))
            skipped = corpus.left_out + corpus.problems
            if skipped:  # not counted: training skips them too
                print(f"\nleft out, as training leaves them out ({len(skipped)}):")
                print("\n".join(f"  {line}" for line in skipped[:10]))
                if len(skipped) > 10:
                    print(f"  ... and {len(skipped) - 10} more")
            return 0
        from tunesmith.corpora import BUILTIN, count_tunes

        print(f"{'name':<13} {'kind':<5} {'items':>7}  description")
        for spec in BUILTIN.values():
            try:
                n = f"{count_tunes(spec.name):>7}"
            except TunesmithError:
                n = f"{'n/a':>7}"
            print(f"{spec.name:<13} {spec.kind:<5} {n}  {spec.description}")
        print("\nYour own files are corpora too (--corpus PATH, folders searched recursively): "
              "ABC for --family abc (items = tunes); MIDI, MusicXML or ABC for --family events "
              "and pianoroll (items = files; see `tunesmith prepare`).")
        return 0


# --- train ---------------------------------------------------------------------------------

def _resumed_settings(request, records: tuple[str, ...]) -> dict:
    """A run's settings as ``train --resume RUN`` would go on with them (refused as
    resuming would refuse them): its config.json, with the ``--steps`` / ``--patience``
    given; the records (how it was made) left out."""
    from tunesmith.app.training import check_resume

    settings = {k: v for k, v in check_resume(request).to_json().items() if k not in records}
    settings["train"] |= {name: getattr(request, name) for name in ("steps", "patience")
                          if getattr(request, name) is not None}
    return settings


class Train(Command):
    name = "train"
    help = "train a model; writes a run folder"
    progress = True
    # a run's config.json works as a config file
    records = ("command", "resumed_with", "distributed")

    def sections(self, args=None) -> list[Section]:
        from tunesmith import families, models
        from tunesmith.app.training import TrainRequest
        from tunesmith.training.config import TrainConfig

        archs = models.registry()
        model_configs = tuple(cls.config_class for cls in archs.values())
        data_options = tuple(families.get(n).data_options for n in families.FAMILIES)
        return [Section("request", (TrainRequest,)),
                Section("model", model_configs, "model (default: the preset's)", nested=True,
                        default_note="the preset's", owners=tuple(archs)),
                Section("train", (TrainConfig,), "training (default: the preset's)",
                        nested=True, default_note="the preset's"),
                Section("data", data_options, "data (default: the preset's, else the "
                        "family's)", nested=True, default_note="the preset's",
                        owners=tuple(families.FAMILIES))]

    def add_extra(self, parser) -> None:
        parser.add_argument("--resume", metavar="RUN", help="continue the run in this folder "
                            "from its last checkpoint; with --steps/--patience it goes on for "
                            "longer")
        parser.add_argument("--stop-at", type=int, help=argparse.SUPPRESS)  # an interruption

    def run(self, args) -> int:
        from tunesmith.cli.process import torchrun_processes

        # one process, or one of torchrun's (a --device cpu run joins over plain gloo)
        with torchrun_processes(getattr(args, "train.device", None)) as ranks:
            if not ranks.main:  # rank 0 alone prints
                args.no_progress = True
                return self._run(args, quiet, lambda result: 0)
            return self._run(args, out, self._report)

    def _run(self, args, log, report) -> int:
        from tunesmith import app

        values = self.values(args)
        if args.resume:
            request = self._resume_request(args, values)
            if args.print_config:  # the run's own settings, with what --resume may change
                print(dump(_resumed_settings(request, self.records)), end="")
                return 0
            result = app.resume(request, progress_for(args), log)
        else:
            request = app.TrainRequest(**values["request"], model=values["model"],
                                       train=values["train"], data=values["data"],
                                       stop_at=args.stop_at, command=command_line(args))
            if args.print_config:
                settings = app.plan(request).to_json()
                del settings["command"]
                print(dump(settings), end="")
                return 0
            result = app.train(request, progress_for(args), log)
        return report(result)

    def _resume_request(self, args, values):
        from tunesmith import app

        if getattr(args, "config", None):
            raise TunesmithError("--resume continues the run with its own settings "
                                 f"({Path(args.resume) / 'config.json'}); drop --config")
        from tunesmith import families

        keep = {"steps", "patience", "device", "samples", "corpus"}
        keep |= {n for name in families.FAMILIES for n in families.get(name).resumable_data}
        extra = [(section, name) for section, v in values.items() for name in v
                 if name not in keep]
        if extra:
            from tunesmith.cli.flags import flag_of

            flags = ", ".join(flag_of(n, self.sections()) for _, n in extra)
            raise TunesmithError(f"--resume continues the run with its own settings "
                                 f"({Path(args.resume) / 'config.json'}; only --steps, "
                                 f"--patience, a moved --corpus and abc's --ending-weight "
                                 f"may change); drop {flags}")
        t, r = values["train"], values["request"]
        return app.ResumeRequest(run=args.resume, steps=t.get("steps"),
                                 patience=t.get("patience"), device=t.get("device"),
                                 samples=r.get("samples"), corpus=r.get("corpus"),
                                 data=dict(values.get("data", {})),
                                 stop_at=args.stop_at, command=command_line(args))

    def _report(self, result) -> int:
        summary = result.summary
        if result.interrupted:
            print(f"interrupted at step {summary['step']}; checkpoint saved. Continue with: "
                  f"tunesmith train --resume {result.run_dir}")
            return 130
        best = summary["best_valid"] or {}
        msg = (f"done at step {summary['step']} in {result.seconds:.0f} s"
               + (" (this session)" if result.resumed else ""))
        if best and "bits" in best:
            unit = result.unit.rstrip("s")
            msg += (f"; best valid loss {best['loss']:.4f} nats/{unit} (bits/{unit} "
                    f"{best['bits']:.3f}, accuracy {best['accuracy']:.3f}) at step "
                    f"{best['step']}")
            n = (summary.get("train_config") or {}).get("eval_max_items")
            if isinstance(n, int) and n > 0:
                msg += f" (the first {n} valid items; `tunesmith evaluate` scores them all)"
        elif best:  # a model without a likelihood (a GAN: a distance to the real rows)
            msg += f"; best valid loss {best['loss']:.4f} at step {best['step']}"
        if summary["stopped_early"]:
            msg += " [early stop]"
        print(msg)
        run_dir = result.run_dir
        print(f"checkpoints: {run_dir / 'best'} (best), {run_dir / 'last'} (last); "
              f"curves: {run_dir / 'curves.png'}")
        if result.samples is not None:
            print(f"samples: {result.samples.summary} -> {run_dir / 'samples'}")
        return 0


# --- prepare -------------------------------------------------------------------------------

@dataclass(frozen=True)
class PrepareRequest:
    family: str = opt("events", "task family")
    corpus: str | None = opt(None, "built-in corpus (see `tunesmith corpora`) or a MIDI / "
                             "MusicXML / ABC file or folder (recursive); default: the "
                             "family's; continue-events and continue-remi take "
                             "LABEL=CORPUS, repeated",
                             repeat=",")
    report: str = opt("ingest_report.csv", "CSV file to write (a .csv name; an earlier "
                      "report there is replaced, any other file is refused)")


class Prepare(Command):
    name = "prepare"
    help = ("ingest a MIDI / MusicXML corpus; report every file kept or dropped (printed and "
            "written as CSV)")
    progress = True

    def sections(self, args=None) -> list[Section]:
        from tunesmith.corpora import IngestFilter

        return [Section("request", (PrepareRequest,)), Section("data", (IngestFilter,))]

    def run(self, args) -> int:
        from tunesmith import app

        values = self.values(args)
        request = PrepareRequest(**values["request"])
        if args.print_config:
            print(dump(values["request"] | values["data"]), end="")
            return 0
        from tunesmith.corpora.report import PieceCorpus

        PieceCorpus.check_csv_path(request.report)  # before the corpus is read
        corpus = app.prepare(request.corpus, request.family, values["data"],
                             progress=progress_for(args))
        for row in corpus.rows:
            detail = (f"{row.notes} notes, {row.seconds:.1f} s, {row.tracks} track(s)"
                      if row.status == "kept" else row.reason)
            print(f"{row.status:<7} {row.path}: {detail}")
        print(corpus.summary())
        print(f"report: {corpus.write_csv(Path(request.report))}")
        return 0


# --- compose -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ComposeTarget:
    model: str | None = opt(None, "checkpoint folder, e.g. runs/abc-small/best (default: "
                            "the shipped ABC model)")
    family: str | None = opt(None, "use the shipped model of this family (abc, events, "
                             "remi, pianoroll, continue, continue-events, continue-remi, "
                             "gan)")
    out: str | None = opt(None, "output folder; one that is not empty is refused unless "
                          "--overwrite (default: a new numbered folder, compositions/001, "
                          "002, ...)")
    device: str = opt("auto", "auto, cpu, cuda, cuda:N")


class Compose(Command):
    name = "compose"
    help = "compose new music with a trained model"
    progress = True

    def sections(self, args=None) -> list[Section]:
        from tunesmith.app.composing import Output
        from tunesmith.families.base import ComposeOptions

        return [Section("target", (ComposeTarget,), "model"),
                Section("options", (ComposeOptions,), "composing"),
                Section("output", (Output,), "files")]

    def run(self, args) -> int:
        from tunesmith import app

        values = self.values(args)
        target = ComposeTarget(**values["target"])
        options = app.ComposeOptions(**values["options"])
        if options.max_len is not None and options.seconds is not None:
            # (checked here, as typed: the family's check cannot tell a --max-len equal to
            # its default from the default it filled in itself)
            from tunesmith.families.base import both_lengths

            raise both_lengths()
        output = app.Output(**values["output"])
        if args.print_config:
            from tunesmith.options import to_dict

            print(dump(to_dict(target) | to_dict(options) | to_dict(output)), end="")
            return 0
        if target.model is not None and target.family is not None:
            raise TunesmithError("give --model or --family, not both")
        ckpt = app.load_model(target.model, target.family, target.device)
        from tunesmith import families

        if families.for_representation(ckpt.representation.name).primer == "text":
            from tunesmith.families.abc import primer_file  # an ABC file named: its tune

            options = dataclasses.replace(options, primer=primer_file(options.primer))
        if output.wav and not _fluidsynth():
            out("note: FluidSynth is not installed, skipping WAV (apt-get install "
                "libfluidsynth3)", "warning")
        folder = target.out or app.fresh_folder("compositions")
        try:
            result = app.write(ckpt, options, folder, output, log=out,
                               progress=progress_for(args), while_rendering=rendering_threads)
        except BaseException:
            if target.out is None and not any(Path(folder).iterdir()):
                Path(folder).rmdir()  # the numbered folder made for this run, still empty
            raise
        print(f"{result.summary} -> {folder}")
        return 0


def _fluidsynth() -> bool:
    from tunesmith.io.audio import fluidsynth_available

    return fluidsynth_available()


# --- evaluate ------------------------------------------------------------------------------

class Evaluate(Command):
    name = "evaluate"
    help = ("likelihood and sample validity of a model; with --music, what its music is "
            "like against real pieces of its corpus")
    progress = True
    SHARED = ("model", "seed", "temperature", "device", "corpus")  # --music takes them too

    def sections(self, args=None) -> list[Section]:
        from tunesmith.app.analyzing import MusicRequest
        from tunesmith.app.evaluating import EvaluateRequest

        return [Section("request", (EvaluateRequest,)),
                Section("music", (MusicRequest,), "the musical report (--music)",
                        skip=self.SHARED)]

    def add_extra(self, parser) -> None:
        parser.add_argument("--json", help="also write the figures to this JSON file (with "
                            "--music: the report's summary.json)")
        parser.add_argument("--music", action="store_true", help="the musical report "
                            "instead of likelihood: compose, compare with held-out real "
                            "pieces feature by feature, write report.html")

    def run(self, args) -> int:
        from tunesmith import app

        values = self.values(args)
        if args.music:
            return self._music(args, values)
        if values["music"]:
            from tunesmith.cli.flags import flag_of

            raise TunesmithError(f"{flag_of(next(iter(values['music'])), self.sections())} "
                                 "is for the musical report: add --music")
        request = app.EvaluateRequest(**values["request"])
        if args.print_config:
            from tunesmith.options import to_dict

            print(dump(to_dict(request)), end="")
            return 0
        result = _for_json(args, lambda: app.evaluate(request, progress_for(args), out))
        print_evaluation(result, request)
        if args.json:
            figures = dict(result.results)
            if result.validity is not None:
                figures["validity"] = result.validity
            Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
        return 0


    def _music(self, args, values) -> int:
        from tunesmith import app
        from tunesmith.evaluation.report import format_table
        from tunesmith.options import to_dict

        shared = {k: v for k, v in values["request"].items() if k in self.SHARED}
        other = [k for k in values["request"] if k not in self.SHARED]
        if other:
            from tunesmith.cli.flags import flag_of

            raise TunesmithError(f"{flag_of(other[0], self.sections())} is for the "
                                 "likelihood evaluation, not --music")
        request = app.MusicRequest(**shared, **values["music"])
        if args.print_config:
            print(dump(to_dict(request)), end="")
            return 0
        result = _for_json(args, lambda: app.music_report(request, progress_for(args), out))
        if args.json:
            from tunesmith.evaluation.report import write_summary

            write_summary(result, Path(args.json))
        print(format_table(result))
        counts = result.counts()
        print(f"within the real-vs-real band: {counts['within']}, near: {counts['near']}, "
              f"far: {counts['far']}, n/a: {counts['n/a']}")
        if result.memorisation is not None:
            m = result.memorisation.summary()
            print(f"memorisation: longest copy from a training piece, median "
                  f"{m['generated']['median']:.0f} {m['unit']} (held-out real pieces: "
                  f"{m['real']['median']:.0f}); long copies (>= {m['long_copy']}): "
                  f"{100 * m['generated']['long_copy_rate']:.0f}% (real: "
                  f"{100 * m['real']['long_copy_rate']:.0f}%)")
        for note in result.notes:
            out(f"note: {note}", "warning")
        return 0


def _for_json(args, work):
    """``work()``, with ``--json``'s file checked and its folder made first (not found
    wanting after the work), and the folders made for it removed when the work fails."""
    if not args.json:
        return work()
    from tunesmith.io.paths import first_missing, output_folder, remove_made

    if Path(args.json).is_dir():
        raise TunesmithError("is a folder: give --json a file name", args.json)
    made = first_missing(Path(args.json).parent)
    output_folder(Path(args.json).parent)
    try:
        return work()
    except BaseException:
        remove_made(Path(args.json).parent, made)  # the folders made for --json, still empty
        raise


def _ppl(value: float) -> str:
    """A perplexity in its column's 8 characters: ``1.594``, or ``8.77e+07`` when large."""
    return f"{value:.3f}" if value < 1e4 else f"{value:.3g}"


def print_evaluation(e, request) -> None:
    for note in e.notes:
        out(f"note: {note}", "warning")
    if e.ais:
        print(f"log-partition functions by AIS: {e.ais[0]} chains x {e.ais[1]} inverse "
              "temperatures per frame")
    print(f"model {e.model} on corpus {e.corpus}"
          + (f" (split by {e.split_mode})" if e.split_mode else ""))
    if e.likelihood == "none":
        return print_distances(e, request)
    unit = e.unit
    short = {"characters": "char", "messages": "msg", "frames": "frame"}.get(unit, "token")
    print(f"{'split':<6} {'items':>6} {unit:>10} {'nll':>7} {'ppl':>8} {'bits/' + short:>9} "
          f"{'accuracy':>8}")
    for split in request.splits:
        m = e.results.get(split)
        if m is None:
            print(f"{split:<6} {0:>6}  (nothing in this split)")
            continue
        print(f"{split:<6} {e.items[split]:>6} {int(m['count']):>10,} {m['nll']:>7.4f} "
              f"{_ppl(m['ppl']):>8} {m['bits']:>9.4f} {m['accuracy']:>8.4f}")
        if "accuracy_predicted" in m:
            print(f"       accuracy of the predicted frame (BL2012's ACC, as we read it): "
                  f"{m['accuracy_predicted']:.4f}")
        heads = [k[4:] for k in m if k.startswith("acc_")]
        if heads:
            print("       per head: " + ", ".join(
                f"{h} nll {m['nll_' + h]:.4f} acc {m['acc_' + h]:.4f}" for h in heads))
    if unit == "frames":
        print("(nll in nats per frame, over all frames; accuracy = expected frame-level "
              "accuracy TP / (TP + FP + FN) of the next-frame prediction; the predicted "
              "frame's is that of the model's most probable next frame: "
              "benchmarks/RESULTS.md, \"BL2012's ACC\")")
    else:
        print(f"(nll in nats per {unit.rstrip('s')}; bits = nll / ln 2; accuracy = the most "
              f"probable prediction is right" + (" in all heads)" if len(e.heads) > 1
                                                 else ")"))
    if e.validity is not None:
        n = request.samples
        print(f"validity: {round(e.validity * n)}/{n} sampled tunes ({100 * e.validity:.1f}%) "
              f"parse with music21 into at least one bar of notes (temperature "
              f"{request.temperature}; the model's own samples, without compose's "
              "resampling)")


def print_distances(e, request) -> None:
    """A model without a likelihood (a GAN): how far its generated notes are from each
    split's, and how well its own discriminator tells them apart."""
    from tunesmith.representations.notes import COLUMNS

    print(f"{'split':<6} {'items':>6} {e.unit:>8} {'distance':>8} "
          + " ".join(f"{c:>8}" for c in COLUMNS) + f" {'interval':>8} {'D real':>6} "
          f"{'D fake':>6}")
    for split in request.splits:
        m = e.results.get(split)
        if m is None:
            print(f"{split:<6} {0:>6}  (nothing in this split)")
            continue
        w1 = " ".join(f"{m[f'w1_{i}']:>8.4f}" for i in range(len(COLUMNS)))
        print(f"{split:<6} {e.items[split]:>6} {int(m['count']):>8,} {m['loss']:>8.4f} {w1} "
              f"{m['w1_interval']:>8.4f} {m['d_real_acc']:>6.3f} {m['d_fake_acc']:>6.3f}")
    print("(a GAN has no likelihood: distance = the mean 1-D Wasserstein distance between "
          "generated and real note rows, per column and of the pitch steps between notes, "
          "in the rows' units; D real / D fake = its discriminator's accuracy on each)")


# --- analyze ------------------------------------------------------------------------------

class Analyze(Command):
    name = "analyze"
    help = ("musical features of any MIDI / ABC / MusicXML files or folders; with --real, "
            "compared with real pieces (writes report.html)")
    progress = True

    def sections(self, args=None) -> list[Section]:
        from tunesmith.app.analyzing import AnalyzeOptions

        return [Section("request", (AnalyzeOptions,))]

    def add_positionals(self, parser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders "
                            "(searched recursively) of the pieces to analyze (a Boulanger "
                            "benchmark file: its test split)")
        parser.add_argument("--real", nargs="+", default=[], metavar="PATH", help="files or "
                            "folders of real pieces to compare with (a Boulanger benchmark "
                            "file, jsb_chorales.json...: its test split)")

    def run(self, args) -> int:
        from tunesmith import app
        from tunesmith.evaluation.report import format_table

        options = app.AnalyzeOptions(**self.values(args)["request"])
        if args.print_config:
            from tunesmith.options import to_dict

            print(dump({"paths": args.paths, "real": args.real} | to_dict(options)), end="")
            return 0
        result = app.analyze(args.paths, args.real, options, progress_for(args), out)
        print(format_table(result))
        return 0


# --- export --------------------------------------------------------------------------------

class Export(Command):
    name = "export"
    help = "copy a run's best checkpoint + RECIPE.md (e.g. to ship)"
    configurable = False

    def add_positionals(self, parser) -> None:
        parser.add_argument("run", help="run folder (with config.json and best/)")
        parser.add_argument("--out", required=True, help="destination folder")
        parser.add_argument("--note", help="extra text for RECIPE.md (e.g. the machine it "
                            "ran on)")
        parser.add_argument("--overwrite", action="store_true", help="replace an earlier "
                            "export in --out (how a shipped model is updated)")

    def run(self, args) -> int:
        from tunesmith import app

        best = app.export(args.run, args.out, note=args.note, overwrite=args.overwrite)
        print(f"exported {best} -> {args.out}")
        return 0


# --- render --------------------------------------------------------------------------------

class Render(Command):
    name = "render"
    help = "turn an ABC, MIDI or MusicXML file into WAV and/or PNG"

    def sections(self, args=None) -> list[Section]:
        from tunesmith.app.rendering import RenderRequest

        return [Section("request", (RenderRequest,))]

    def add_positionals(self, parser) -> None:
        parser.add_argument("file")

    def run(self, args) -> int:
        from tunesmith import app

        values = self.values(args)
        request = app.RenderRequest(**values["request"])
        if args.print_config:
            from tunesmith.options import to_dict

            print(dump({"file": args.file} | to_dict(request)), end="")
            return 0
        for path in app.render(args.file, request):
            print(path)
        return 0


# --- attention -----------------------------------------------------------------------------

@dataclass(frozen=True)
class AttentionTarget:
    model: str | None = opt(None, "checkpoint folder of a Transformer or continue model, "
                            "e.g. runs/abc-transformer/best")
    family: str | None = opt(None, "use the shipped model of this family")
    device: str = opt("auto", "auto, cpu, cuda, cuda:N")


class Attention(Command):
    name = "attention"
    help = ("draw what a Transformer model attends to while it reads a piece: every layer x "
            "head, the mean, and how much each bar attends to each earlier bar; for a "
            "continue model, the bars it writes after the first ones over the bars it "
            "reads (PNG)")

    def sections(self, args=None) -> list[Section]:
        from tunesmith.app.attention import AttentionRequest

        return [Section("target", (AttentionTarget,), "model"),
                Section("request", (AttentionRequest,), "picture")]

    def add_positionals(self, parser) -> None:
        parser.add_argument("piece", help="an ABC, MIDI or MusicXML file (a composed one too)")

    def run(self, args) -> int:
        from tunesmith import app

        values = self.values(args)
        target = AttentionTarget(**values["target"])
        request = app.AttentionRequest(**values["request"])
        if args.print_config:
            from tunesmith.options import to_dict

            print(dump({"piece": args.piece} | to_dict(target) | to_dict(request)), end="")
            return 0
        ckpt = app.load_model(target.model, target.family, target.device)
        print(app.attention_picture(ckpt, args.piece, request))
        return 0


# --- benchmark -----------------------------------------------------------------------------

class BenchmarkBoulanger(Command):
    name = "boulanger"
    help = ("train (or take) a model per dataset, early-stop on valid, report test NLL per "
            "frame and ACC beside the paper's")
    progress = True

    def sections(self, args=None) -> list[Section]:
        from tunesmith.app.benchmarking import BoulangerRequest
        from tunesmith.training.config import TrainConfig

        return [Section("request", (BoulangerRequest,)),
                Section("train", (TrainConfig,), "training (default: the preset's)",
                        nested=True, default_note="the preset's", skip=("device",))]

    def add_to(self, sub) -> argparse.ArgumentParser:
        bench = sub.add_parser("benchmark", help="standard benchmarks (boulanger: the "
                               "polyphonic piano-roll sets of Boulanger-Lewandowski et al. "
                               "2012)")
        return super().add_to(bench.add_subparsers(dest="benchmark", required=True))

    def run(self, args) -> int:
        from tunesmith import app

        values = self.values(args)
        request = app.BoulangerRequest(**values["request"], train=values["train"])
        if args.print_config:
            from tunesmith.options import to_dict

            print(dump(to_dict(request)), end="")
            return 0
        from tunesmith.app.benchmarking import Interrupted

        try:
            rows = app.benchmark_boulanger(request, progress_for(args), out)
        except Interrupted as e:
            again = "the same command without --retrain" if request.retrain else \
                "the same command"
            print(f"{e} (no result written for it). Continue with {again}: finished runs "
                  "are taken, this one is resumed")
            return 130
        outdir = Path(request.out)
        print()
        print((outdir / "results.md").read_text())
        print(f"tables: {outdir / 'results.csv'}, {outdir / 'results.md'} ({len(rows)} "
              "evaluated in this run)")
        return 0


def rendering_threads():
    """Process-wide settings while WAVs render beside the composer (the CLI owns its
    process; the application layer never changes them): see
    :func:`tunesmith.cli.process.rendering_threads`."""
    from tunesmith.cli.process import rendering_threads as settings

    return settings(True)


# --- studio --------------------------------------------------------------------------------

class Studio(Command):
    name = "studio"
    help = ("serve the studio: compose, listen, look and train from a web page (prints its "
            "address; opens nothing)")
    configurable = False

    def sections(self, args=None) -> list[Section]:
        from tunesmith.studio.config import StudioSettings

        return [Section("settings", (StudioSettings,))]

    def run(self, args) -> int:
        from tunesmith.studio import StudioSettings, serve

        settings = StudioSettings(**self.values(args)["settings"])
        serve(settings, say=lambda line: print(line, flush=True))
        return 0


COMMANDS: list[Command] = [Corpora(), Train(), Prepare(), Compose(), Evaluate(), Analyze(),
                           Attention(), BenchmarkBoulanger(), Export(), Render(), Studio()]

__all__ = ["COMMANDS", "OptionError"]
