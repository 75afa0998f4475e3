"""The ``tunesmith`` command line. Each subcommand is a plain function of parsed flags; the
CLI is the only place that turns flags and presets into config dataclasses.

A user mistake (:class:`TunesmithError`) prints ``tunesmith: error: <file>: <problem>`` on
one line and exits 2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from tunesmith.errors import TunesmithError


def _err(*args, **kwargs):
    kwargs.setdefault("file", sys.stderr)
    print(*args, **kwargs)


# --- corpora ---------------------------------------------------------------------------

def cmd_corpora(args) -> int:
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
          "(items = files; see `tunesmith prepare`).")
    return 0


# --- train -----------------------------------------------------------------------------

MODEL_FLAGS = {"embedding_dim": "embedding_dim", "hidden_size": "hidden_size",
               "layers": "num_layers", "cell": "cell", "dropout": "dropout", "l1": "l1",
               "rnn_hidden": "rnn_hidden", "nade_hidden": "nade_hidden",
               "rbm_hidden": "rbm_hidden", "cd_steps": "cd_steps", "gibbs_steps": "gibbs_steps"}
DATA_FLAGS = ("programs", "min_seconds", "max_seconds", "split", "transpose",  # events,
              "steps_per_beat")  # pianoroll
TRAIN_FLAGS = ("steps", "batch_size", "seq_len", "lr", "schedule", "warmup", "clip",
               "eval_every", "eval_max_items", "patience", "checkpoint_every", "seed", "device",
               "weight_decay")
# what `train --resume` may change: how long the run goes on (a longer run also stretches the
# learning-rate schedule from the step it resumes at); everything else is the run's own
RESUME_FLAGS = ("steps", "patience", "device")


def _train_settings(args):
    """(run settings dict, TrainConfig) for a new run, from preset and flags."""
    from tunesmith import families
    from tunesmith.presets import preset
    from tunesmith.training.config import TrainConfig

    fam = families.get(args.family)
    if fam.REPRESENTATION == "abc_chars":
        given = [k for k in DATA_FLAGS if getattr(args, k) is not None]
        if given:
            raise TunesmithError(f"--{given[0].replace('_', '-')} is for MIDI / score corpora "
                                 "(--family events or pianoroll)")
    elif args.clean:
        raise TunesmithError("--clean is for ABC corpora (--family abc)")
    if args.steps_per_beat is not None and fam.REPRESENTATION != "pianoroll":
        raise TunesmithError("--steps-per-beat is for --family pianoroll")
    arch = args.arch or fam.MODEL
    if arch not in getattr(fam, "MODELS", (fam.MODEL,)):
        raise TunesmithError(f"--arch {arch} is not a model of the {args.family} family "
                             f"(choose from: {', '.join(getattr(fam, 'MODELS', (fam.MODEL,)))})")
    p = preset(arch, args.preset)
    train_over = {k: getattr(args, k) for k in TRAIN_FLAGS if getattr(args, k) is not None}
    model_cfg = dict(p["model"])
    model_cfg.update({v: getattr(args, k) for k, v in MODEL_FLAGS.items()
                      if getattr(args, k) is not None})
    from dataclasses import fields

    from tunesmith import models

    known = {f.name for f in fields(models.registry()[arch].config_class)}
    for flag, key in MODEL_FLAGS.items():
        if getattr(args, flag) is not None and key not in known:
            raise TunesmithError(f"--{flag.replace('_', '-')} is not a setting of the "
                                 f"{arch} model (--family {args.family})")
    try:
        train_cfg = TrainConfig(**(p["train"] | train_over))
    except ValueError as e:
        raise TunesmithError(str(e)) from None
    data = fam.data_options(args)
    preset_data = p.get("data", {})
    data.update({k: v for k, v in preset_data.items()
                 if getattr(args, k, None) is None})  # a flag beats the preset
    run = {"family": args.family, "arch": arch, "corpus": args.corpus or fam.DEFAULT_CORPUS,
           "data": data, "preset": args.preset, "model": model_cfg,
           "train": asdict(train_cfg),
           "command": "tunesmith " + " ".join(shlex.quote(a) for a in args.argv)}
    return run, train_cfg


def _read_run(run_dir: Path, args) -> dict:
    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file():
        raise TunesmithError("not a run folder (no config.json)", run_dir)
    given = [f"--{k.replace('_', '-')}" for k in (*TRAIN_FLAGS, *MODEL_FLAGS, "corpus", "out",
                                                  *DATA_FLAGS, "arch")
             if k not in RESUME_FLAGS and getattr(args, k) is not None]
    if given:
        raise TunesmithError(f"--resume continues the run with its own settings "
                             f"({cfg_path}; only --steps and --patience may change); "
                             f"drop {', '.join(given)}")
    try:
        run = json.loads(cfg_path.read_text())
        if not {"family", "corpus", "model", "train"} <= set(run):
            raise ValueError("missing keys")
    except ValueError as e:
        raise TunesmithError(f"damaged config.json ({e})", run_dir) from None
    return run


def _data_options(run: dict) -> dict:
    """A run's data settings (runs written before "data" existed kept "clean" on top)."""
    return run.get("data", {"clean": run.get("clean", False)})


def cmd_train(args) -> int:
    import shutil

    import torch

    from tunesmith import families, models
    from tunesmith.training.checkpoint import load_checkpoint, recover, write_json
    from tunesmith.training.config import TrainConfig
    from tunesmith.training.trainer import Trainer, resolve_device

    if args.samples < 0:
        raise TunesmithError(f"--samples must be >= 0, got {args.samples}")
    if args.resume:
        run_dir = Path(args.resume)
        run = _read_run(run_dir, args)
        if not (recover(run_dir / "last") / "tunesmith.json").is_file():
            raise TunesmithError("nothing to resume: the run has no 'last' checkpoint", run_dir)
        try:
            train_cfg = TrainConfig(**run["train"])
        except (TypeError, ValueError) as e:
            raise TunesmithError(f"damaged config.json ({e})", run_dir) from None
        if args.device:
            train_cfg = replace(train_cfg, device=args.device)
        longer = {k: getattr(args, k) for k in ("steps", "patience")
                  if getattr(args, k) is not None}
        if longer:  # the run goes on for longer: config.json says so from now on
            try:
                train_cfg = replace(train_cfg, **longer)
            except ValueError as e:
                raise TunesmithError(str(e)) from None
            run["train"].update(longer)
            run.setdefault("resumed_with", []).append(
                "tunesmith " + " ".join(shlex.quote(str(a)) for a in args.argv))
            write_json(run_dir / "config.json", run)
        rep = load_checkpoint(run_dir / "last").representation
    else:
        run, train_cfg = _train_settings(args)
        run_dir = Path(args.out or f"runs/{args.family}-{args.preset}")
        if (run_dir / "last").exists() and not args.force:
            raise TunesmithError("run folder already holds a run: continue it with "
                                 f"`tunesmith train --resume {run_dir}`, or pass --force "
                                 "to start over", run_dir)
        rep = None
    resolve_device(train_cfg.device)  # a bad --device fails now, not after loading data
    fam = families.get(run["family"])
    data = _data_options(run)
    prepared = fam.prepare_data(run["corpus"], representation=rep, progress=not args.no_progress,
                                **data)
    rep = prepared.representation
    _print_corpus(prepared.info)
    if not prepared.sequences["valid"]:
        raise TunesmithError("corpus too small: nothing landed in the validation split "
                             "(it needs about 20 tunes or more)", prepared.info["corpus"])
    if not args.resume:
        run["model"].update(fam.model_sizes(rep))
        if run_dir.exists():  # --force: nothing of the old run may leak into the new one
            for old in ("last", "best", "tensorboard", "samples", "metrics.csv", "curves.png"):
                target = run_dir / old
                shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / "config.json", run)
    if getattr(prepared, "corpus", None) is not None:
        print(f"ingest report: {prepared.corpus.write_csv(run_dir / 'ingest_report.csv')}")
    torch.manual_seed(train_cfg.seed)  # the seed decides the initial weights too
    try:
        model = models.build(run.get("arch", fam.MODEL), run["model"])
    except (TypeError, ValueError) as e:
        raise TunesmithError(f"bad model settings: {e}") from None
    if not args.resume and hasattr(fam, "init_model"):
        fam.init_model(model, prepared)  # a data-dependent start (pianoroll: key rates)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model {model.family} {n_params:,} parameters; run folder {run_dir}")
    train_data, valid_data = fam.batches(prepared, train_cfg, **data)
    trainer = Trainer(model, rep, train_data, valid_data, train_cfg, run_dir,
                      resume=bool(args.resume), progress=not args.no_progress,
                      summary_extra={"corpus": prepared.info, "data": data})
    if args.resume:
        print(f"resuming at step {trainer.step} of {train_cfg.steps}")
    t0 = time.perf_counter()
    summary = trainer.fit(stop_at=args.stop_at)
    wall = time.perf_counter() - t0
    best = summary["best_valid"] or {}
    if summary["interrupted"]:
        print(f"interrupted at step {summary['step']}; checkpoint saved. Continue with: "
              f"tunesmith train --resume {run_dir}")
        return 130
    msg = f"done at step {summary['step']} in {wall:.0f} s"
    if best:
        unit = prepared.info.get("unit", "token").rstrip("s")
        msg += (f"; best valid loss {best['loss']:.4f} (bits/{unit} {best['bits']:.3f}, "
                f"accuracy {best['accuracy']:.3f}) at step {best['step']}")
    if summary["stopped_early"]:
        msg += " [early stop]"
    print(msg)
    print(f"checkpoints: {run_dir / 'best'} (best), {run_dir / 'last'} (last); "
          f"curves: {run_dir / 'curves.png'}")
    if args.samples and (run_dir / "best").exists():
        _compose_into(run_dir / "best", run_dir / "samples", args.samples,
                      seed=train_cfg.seed, wav=True)
    return 0


def _print_corpus(info: dict) -> None:
    unit = info.get("unit", "tokens")
    print(f"corpus {info['corpus']}: " + ", ".join(
        f"{s} {info['tunes'][s]} items / {info['tokens'][s]:,} {unit}" for s in info["tunes"])
        + (f"; {info['skipped']} skipped" if info["skipped"] else "")
        + (f"; split by {info['split']}" if info.get("split") else ""))


# --- prepare ---------------------------------------------------------------------------

def cmd_prepare(args) -> int:
    """Ingest a corpus and report every file, kept or dropped, with the reason."""
    from tunesmith import families

    fam = families.get(args.family)
    if not hasattr(fam, "load_corpus"):
        raise TunesmithError(f"prepare reads MIDI / score corpora (--family events); the "
                             f"{args.family} family reads ABC text directly")
    corpus = fam.load_corpus(args.corpus or fam.DEFAULT_CORPUS, args.programs,
                             args.min_seconds, args.max_seconds, progress=not args.no_progress)
    for row in corpus.rows:
        detail = (f"{row.notes} notes, {row.seconds:.1f} s, {row.tracks} track(s)"
                  if row.status == "kept" else row.reason)
        print(f"{row.status:<7} {row.path}: {detail}")
    print(corpus.summary())
    print(f"report: {corpus.write_csv(Path(args.report))}")
    return 0


def _compose_into(model_path, out_dir, num, seed, wav):
    from tunesmith import families
    from tunesmith.io.audio import fluidsynth_available
    from tunesmith.training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(model_path)
    fam = families.for_representation(ckpt.representation.name)
    opts = fam.ComposeOptions(num=num, seed=seed, wav=wav and fluidsynth_available(), png=True)
    result = fam.compose(ckpt, opts, Path(out_dir))
    print(f"samples: {result.summary} -> {out_dir}")


# --- compose ---------------------------------------------------------------------------

def _check_sampling_flags(args, heads=None) -> None:
    """Fail on bad sampling flags before any model is loaded (and again with the model's
    heads, which decide which ``head=value`` names exist)."""
    from tunesmith.sampling.filters import per_head

    for flag in ("num", "max_len", "primer_len"):
        value = getattr(args, flag, 1)
        if value is not None and value < 1:
            raise TunesmithError(f"--{flag.replace('_', '-')} must be >= 1, got {value}")
    if getattr(args, "samples", 0) < 0:
        raise TunesmithError(f"--samples must be >= 0, got {args.samples}")
    seconds = getattr(args, "seconds", None)
    if seconds is not None and not 0 < seconds < 24 * 3600:
        raise TunesmithError(f"--seconds must be > 0 and less than a day, got {seconds}")
    if heads is None:  # the flags' form only; values per head are checked with the model
        heads = [h.split("=")[0] for flag in ("temperature", "top_k", "top_p")
                 for h in str(getattr(args, flag, "") or "").split(",") if "=" in h]
    try:
        per_head(heads or ["all"], args.temperature, getattr(args, "top_k", 0),
                 getattr(args, "top_p", 1.0))
    except TunesmithError as e:
        raise TunesmithError(str(e) if str(e).startswith("--") else f"--{e}") from None


def _load_model(model: str | None, family: str | None, device: str | None = None):
    from tunesmith import families
    from tunesmith.training.checkpoint import load_checkpoint
    from tunesmith.training.trainer import resolve_device

    path = Path(model) if model else families.pretrained_dir(family or families.DEFAULT_FAMILY)
    return load_checkpoint(path, device=str(resolve_device(device or "auto")))


def cmd_compose(args) -> int:
    from tunesmith import families

    if args.model and args.family:
        raise TunesmithError("give --model or --family, not both")
    _check_sampling_flags(args)
    ckpt = _load_model(args.model, args.family, args.device)
    _check_sampling_flags(args, heads=list(ckpt.representation.heads))
    fam = families.for_representation(ckpt.representation.name)
    from dataclasses import fields

    from tunesmith.io.audio import fluidsynth_available

    wav = not args.no_wav
    if wav and not fluidsynth_available():
        _err("note: FluidSynth is not installed, skipping WAV (apt-get install libfluidsynth3)")
        wav = False
    given = {"num": args.num, "max_len": args.max_len, "primer": args.primer,
             "primer_len": args.primer_len, "seconds": args.seconds,
             "temperature": args.temperature, "top_k": args.top_k, "top_p": args.top_p,
             "seed": args.seed, "wav": wav, "png": args.png or None, "soundfont": args.soundfont,
             "constrain": False if args.unconstrained else None, "mode": args.mode,
             "gibbs_steps": args.gibbs_steps}
    known = {f.name for f in fields(fam.ComposeOptions)}
    defaults = {"temperature": 1.0, "top_k": 0.0, "top_p": 1.0}  # "off" for a family without

    def is_default(k):
        try:
            return float(given[k]) == defaults[k]
        except (KeyError, ValueError):
            return False

    unused = [k for k in ("seconds", "primer_len", "constrain", "mode", "gibbs_steps",
                          *defaults)
              if given[k] is not None and not is_default(k) and k not in known]
    if unused:
        flag = "unconstrained" if unused[0] == "constrain" else unused[0].replace("_", "-")
        raise TunesmithError(f"--{flag} is not an option of the "
                             f"{fam.REPRESENTATION} family's composer")
    opts = fam.ComposeOptions(**{k: v for k, v in given.items() if k in known and v is not None})
    result = fam.compose(ckpt, opts, Path(args.out))
    print(f"{result.summary} -> {args.out}")
    return 0


# --- evaluate --------------------------------------------------------------------------

def cmd_evaluate(args) -> int:
    from tunesmith import families
    from tunesmith.evaluation.likelihood import evaluate

    _check_sampling_flags(args)
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    if not splits or not set(splits) <= {"train", "valid", "test"}:
        raise TunesmithError(f"--splits takes a comma list of train, valid, test; got "
                             f"{args.splits!r}")
    ckpt = _load_model(args.model, None, args.device)
    fam = families.for_representation(ckpt.representation.name)
    summary = ckpt.meta.get("summary", {})
    trained_on = summary.get("corpus", {})
    corpus = args.corpus or trained_on.get("corpus") or fam.DEFAULT_CORPUS
    # the model's own data settings on its own corpus, so that splits hold the same items
    data = {}
    if corpus == trained_on.get("corpus"):
        data = summary.get("data") or {"clean": trained_on.get("clean", False)}
    if data.get("clean"):
        from tunesmith.io import abc2midi

        if not abc2midi.available():
            _err("note: the model was trained with --clean but abc2midi is not installed; "
                 "evaluating on the uncleaned corpus (apt-get install abcmidi for the same "
                 "splits)")
            data["clean"] = False
    prepared = fam.prepare_data(corpus, representation=ckpt.representation, **data)
    train_cfg = summary.get("train_config", {})
    import dataclasses

    from tunesmith.training.config import TrainConfig

    cfg = TrainConfig(**{k: v for k, v in train_cfg.items()
                         if k in {f.name for f in dataclasses.fields(TrainConfig)}})
    cfg = dataclasses.replace(cfg, eval_max_items=0)
    unit = prepared.info.get("unit", "tokens")
    device = next(ckpt.model.parameters()).device
    if hasattr(ckpt.model, "eval_ais"):  # RBM models: the likelihood is an AIS estimate
        if args.ais_chains < 1 or args.ais_betas < 1:
            raise TunesmithError("--ais-chains and --ais-betas must be >= 1")
        ckpt.model.eval_ais = (args.ais_chains, args.ais_betas)
        print(f"log-partition functions by AIS: {args.ais_chains} chains x {args.ais_betas} "
              "inverse temperatures per frame")
    print(f"model {ckpt.path} on corpus {corpus}"
          + (f" (split by {prepared.info['split']})" if prepared.info.get("split") else ""))
    short = {"characters": "char", "messages": "msg", "frames": "frame"}.get(unit, "token")
    print(f"{'split':<6} {'items':>6} {unit:>10} {'nll':>7} {'ppl':>8} {'bits/' + short:>9} "
          f"{'accuracy':>8}")
    results = {}
    for split in splits:
        seqs = prepared.sequences[split]
        if not seqs:
            print(f"{split:<6} {0:>6}  (nothing in this split)")
            continue
        _, batches = fam.batches(dataclasses.replace(prepared, sequences={"train": seqs,
                                                                          "valid": seqs}),
                                 cfg)
        m = evaluate(ckpt.model, batches, device,
                     progress=None if args.no_progress else f"{split} ")
        results[split] = m
        print(f"{split:<6} {len(seqs):>6} {int(m['count']):>10,} {m['nll']:>7.4f} "
              f"{m['ppl']:>8.3f} {m['bits']:>9.4f} {m['accuracy']:>8.4f}")
        heads = [k[4:] for k in m if k.startswith("acc_")]
        if heads:
            print("       per head: " + ", ".join(
                f"{h} nll {m['nll_' + h]:.4f} acc {m['acc_' + h]:.4f}" for h in heads))
    if unit == "frames":
        print("(nll in nats per frame, over all frames; accuracy = expected frame-level "
              "accuracy TP / (TP + FP + FN) of the next-frame prediction)")
    else:
        print(f"(nll in nats per {unit.rstrip('s')}; bits = nll / ln 2; accuracy = the most "
              f"probable prediction is right" + (" in all heads)"
                                                 if len(ckpt.representation.heads) > 1
                                                 else ")"))
    if args.samples and hasattr(fam, "sample_texts"):
        from tunesmith.io.abc import check_tune

        opts = fam.ComposeOptions(num=args.samples, temperature=args.temperature, seed=args.seed,
                                  constrain=False)  # the model's own samples, not repaired
        texts = fam.sample_texts(ckpt.model, ckpt.representation, opts, device=device)
        ok = sum(check_tune(t) is None for t in texts)
        results["validity"] = ok / len(texts)
        print(f"validity: {ok}/{len(texts)} sampled tunes ({100 * ok / len(texts):.1f}%) parse "
              f"with music21 into at least one bar of notes (temperature {args.temperature}; "
              "the model's own samples, without compose's resampling)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


# --- export ----------------------------------------------------------------------------

def cmd_export(args) -> int:
    """Copy a run's best checkpoint (weights + tunesmith.json only) and write RECIPE.md."""
    import shutil

    from tunesmith.training.checkpoint import META_FILE, WEIGHTS_FILE, read_meta

    run_dir = Path(args.run)
    best = run_dir / "best"
    meta = read_meta(best)  # also finishes an interrupted checkpoint swap
    cfg_path = run_dir / "config.json"
    run = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in (WEIGHTS_FILE, META_FILE):
        shutil.copyfile(best / name, out / name)
    s = meta.get("summary", {})
    b = s.get("best_valid") or {}
    corpus = s.get("corpus", {})
    command = run.get("command") or (
        f"tunesmith train --family {run.get('family', '?')} --preset {run.get('preset', '?')} "
        f"--corpus {run.get('corpus', '?')} --seed {run.get('train', {}).get('seed', '?')} "
        f"--out {run_dir}")
    from safetensors.torch import load_file

    n_params = sum(t.numel() for t in load_file(str(out / WEIGHTS_FILE)).values())
    unit = corpus.get("unit", "characters")
    short = {"characters": "char", "messages": "message", "frames": "frame"}.get(unit, "token")
    lines = [
        f"# {out.name}",
        "",
        f"{'An' if meta['family'][0] in 'aeiou' else 'A'} `{meta['family']}` model "
        f"({meta['representation']['name']}), trained with "
        "tunesmith's own `train` command. Reproduce it with:",
        "",
        "```bash",
        command,
        f"tunesmith export {run_dir} --out {out}",
        "```",
        "",
        f"- corpus: `{corpus.get('corpus', run.get('corpus', '?'))}` "
        f"(items per split: {corpus.get('tunes', '?')}; {unit} per split: "
        f"{corpus.get('tokens', '?')}"
        + (f"; split by {corpus['split']}" if corpus.get("split") else "") + ")",
        f"- model config: `{json.dumps(meta['model_config'])}` ({n_params:,} parameters)",
        f"- training config: `{json.dumps(s.get('train_config', run.get('train', {})))}`",
        f"- stopped at step {s.get('step', '?')}"
        + (" (early stopping)" if s.get("stopped_early") else ""),
        f"- best validation (step {b.get('step', '?')}): loss {b.get('loss', float('nan')):.4f} "
        f"nats/{short}, {b.get('bits', float('nan')):.4f} bits/{short}, perplexity "
        f"{b.get('ppl', float('nan')):.3f}, accuracy {b.get('accuracy', float('nan')):.4f}",
        f"- library versions: `{json.dumps(meta.get('versions', {}))}`",
    ]
    if args.note:
        lines += ["", args.note]
    (out / "RECIPE.md").write_text("\n".join(lines) + "\n")
    print(f"exported {best} -> {out}")
    return 0


# --- render ----------------------------------------------------------------------------

def cmd_render(args) -> int:
    from tunesmith.io.audio import write_wav
    from tunesmith.io.plots import write_pianoroll_png

    path = Path(args.file)
    if not path.is_file():
        raise TunesmithError("no such file", path)
    suffix = path.suffix.lower()
    if suffix in (".mid", ".midi"):
        from tunesmith.io.midi import read_midi

        piece = read_midi(path)
    elif suffix == ".abc":
        from tunesmith.io.abc import read_tune_book

        tunes = read_tune_book(path)
        if not 1 <= args.tune <= len(tunes):
            raise TunesmithError(f"--tune {args.tune} out of range (the file has "
                                 f"{len(tunes)} tunes)", path)
        from tunesmith.io.abc2midi import tune_piece

        try:  # as compose plays it: abc2midi (repeats, chords), music21 as a fallback
            piece = tune_piece(tunes[args.tune - 1].text)
        except ValueError as e:
            raise TunesmithError(f"invalid ABC ({e})", path) from None
    else:
        raise TunesmithError("render takes an .abc or .mid file", path)
    if not piece.notes:
        raise TunesmithError("no notes to render", path)
    out = Path(args.out) if args.out else path.with_suffix("")
    wanted = {"wav", "png"} if args.to == "both" else {args.to}
    if "wav" in wanted:
        print(write_wav(piece, out.with_suffix(".wav"), args.soundfont))
    if "png" in wanted:
        print(write_pianoroll_png(piece, out.with_suffix(".png")))
    return 0


# --- benchmark -------------------------------------------------------------------------

def cmd_benchmark_boulanger(args) -> int:
    from tunesmith.evaluation.boulanger import run_benchmark
    from tunesmith.io.boulanger import DATASETS
    from tunesmith.training.trainer import resolve_device

    data = Path(args.data)
    if not data.is_dir():
        raise TunesmithError("no such folder (give the folder that holds the benchmark's "
                             "JSON or pickle files)", data)
    datasets = list(DATASETS) if args.datasets == "all" else args.datasets.split(",")
    archs = args.arch.split(",")
    for flag in ("slice", "ais_chains", "ais_betas", "ais_runs"):
        if getattr(args, flag) < (0 if flag == "slice" else 1):
            raise TunesmithError(f"--{flag.replace('_', '-')} must be "
                                 f"{'>= 0' if flag == 'slice' else '>= 1'}")
    device = resolve_device(args.device or "auto")
    train_args = []
    for flag in ("steps", "lr", "eval_every", "eval_max_items", "patience", "seed"):
        if getattr(args, flag) is not None:
            train_args += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    if args.no_progress:
        train_args.append("--no-progress")
    rows = run_benchmark(data, datasets, archs, preset=args.preset, out=args.out,
                         train_args=train_args, slice_n=args.slice, retrain=args.retrain,
                         ais=(args.ais_chains, args.ais_betas, args.ais_runs),
                         device=device)
    print()
    print((Path(args.out) / "results.md").read_text())
    print(f"tables: {Path(args.out) / 'results.csv'}, {Path(args.out) / 'results.md'} "
          f"({len(rows)} results)")
    return 0


# --- parser ----------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from tunesmith import __version__

    p = argparse.ArgumentParser(prog="tunesmith", description="Learn music from a corpus and "
                                "compose new music with neural sequence models.")
    p.add_argument("--version", action="version", version=f"tunesmith {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("corpora", help="list the built-in corpora with tune counts")
    s.set_defaults(func=cmd_corpora)

    s = sub.add_parser("train", help="train a model; writes a run folder")
    s.add_argument("--family", default="abc", help="task family (default: abc)")
    s.add_argument("--corpus", help="built-in corpus name or path to ABC file/folder "
                   "(default: folk-abc)")
    s.add_argument("--clean", action="store_true", help="skip tunes that abc2midi reports errors "
                   "for (needs abcmidi); recorded in the run, so evaluate uses it too")
    _add_ingest_flags(s, defaults=False)
    s.add_argument("--split", choices=["auto", "piece", "time"], help="events: split by piece, "
                   "or each piece by time (first 90%% / last 10%%); auto (default) splits by "
                   "time below 20 pieces")
    s.add_argument("--transpose", type=int, help="events: transpose each training window by "
                   "up to N semitones (within the piano range); default: the preset's "
                   "(small: 5, others: 0)")
    s.add_argument("--preset", default="small", help="abc: debug | small | lab; events: debug "
                   "| seed | small; pianoroll: debug | paper | small (| tuned for rnn_nade, "
                   "rnn_rbm) (default: small)")
    s.add_argument("--arch", help="pianoroll: rnn_nade (default), rnn_rbm (--cell lstm for "
                   "LSTM-RBM) or bernoulli_rnn")
    s.add_argument("--steps-per-beat", type=int, help="pianoroll: frames per quarter note "
                   "(default: a benchmark file's own grid, else 2 = eighth notes)")
    s.add_argument("--out", help="run folder (default: runs/FAMILY-PRESET)")
    s.add_argument("--resume", metavar="RUN", help="continue the run in this folder from its "
                   "last checkpoint; with --steps/--patience it goes on for longer")
    s.add_argument("--force", action="store_true", help="start over in a folder that has a run")
    for flag, typ in [("steps", int), ("batch-size", int), ("seq-len", int), ("lr", float),
                      ("weight-decay", float), ("warmup", int), ("clip", float),
                      ("eval-every", int), ("eval-max-items", int), ("patience", int),
                      ("checkpoint-every", int), ("seed", int), ("embedding-dim", int),
                      ("hidden-size", int), ("layers", int), ("dropout", float), ("l1", float),
                      ("rnn-hidden", int), ("nade-hidden", int), ("rbm-hidden", int),
                      ("cd-steps", int), ("gibbs-steps", int)]:
        s.add_argument(f"--{flag}", type=typ)
    s.add_argument("--schedule", choices=["constant", "cosine", "linear"])
    s.add_argument("--cell", choices=["lstm", "gru", "rnn"])
    s.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    s.add_argument("--samples", type=int, default=4, help="tunes to compose from the best "
                   "checkpoint at the end (default 4; 0 = none)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument("--stop-at", type=int, help=argparse.SUPPRESS)  # simulate an interruption
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("prepare", help="ingest a MIDI / MusicXML corpus; report every file "
                       "kept or dropped (printed and written as CSV)")
    s.add_argument("--family", default="events", help="task family (default: events)")
    s.add_argument("--corpus", help="built-in corpus (see `tunesmith corpora`) or a MIDI / "
                   "MusicXML file or folder (recursive); default: bach-chorales")
    _add_ingest_flags(s, defaults=True)
    s.add_argument("--report", default="ingest_report.csv", help="CSV file to write "
                   "(default: ingest_report.csv)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_prepare)

    s = sub.add_parser("compose", help="compose new music with a trained model")
    g = s.add_argument_group("model (default: the shipped ABC model)")
    g.add_argument("--model", help="checkpoint folder (e.g. runs/abc-small/best)")
    g.add_argument("--family", help="use the shipped default model of this family (abc, "
                   "events, pianoroll)")
    s.add_argument("--out", default="compositions", help="output folder (default: compositions)")
    s.add_argument("--num", type=int, default=8, help="how many pieces (default 8)")
    s.add_argument("--max-len", type=int, help="max length: characters per tune (abc, default "
                   "1500) or messages per piece (events, default 600)")
    s.add_argument("--seconds", type=float, help="events: length of each piece in seconds "
                   "(instead of --max-len)")
    s.add_argument("--primer", help=r"abc: start of each tune, e.g. 'M:6/8\nK:D\n'; events: "
                   "a MIDI / MusicXML file, or 'corpus' for a random Bach chorale")
    s.add_argument("--primer-len", type=int, help="events: messages taken from the primer "
                   "(default 30)")
    s.add_argument("--temperature", default="1.0", help="one value, or per head, e.g. "
                   "note=0.9,velocity=1,time=0.8 (default 1.0)")
    s.add_argument("--top-k", default="0", help="one value or per head (default 0 = off)")
    s.add_argument("--top-p", default="1.0", help="one value or per head (default 1 = off)")
    s.add_argument("--seed", type=int)
    s.add_argument("--unconstrained", action="store_true", help="events: sample the three "
                   "heads independently, as the seed did (default: a note-off may only "
                   "name a sounding key, a note-on only a silent one); abc: keep a tune "
                   "abc2midi rejects (default: resample it from the error)")
    s.add_argument("--mode", choices=["sample", "argmax"], help="pianoroll: 'argmax' keeps "
                   "only the most probable sampled key of each frame (a melody); default sample")
    s.add_argument("--gibbs-steps", type=int, help="pianoroll RBM models: Gibbs steps per "
                   "frame (default: the model's, 25)")
    s.add_argument("--no-wav", action="store_true", help="skip WAV rendering")
    s.add_argument("--png", action="store_true", help="also draw a piano roll per piece "
                   "(always on for events and pianoroll)")
    s.add_argument("--soundfont", help="a .sf2 soundfont (default: pretty_midi's GM font)")
    s.add_argument("--device")
    s.set_defaults(func=cmd_compose)

    s = sub.add_parser("evaluate", help="likelihood and sample validity of a model")
    s.add_argument("--model", help="checkpoint folder (default: the shipped ABC model)")
    s.add_argument("--corpus", help="corpus to evaluate on (default: the model's own)")
    s.add_argument("--samples", type=int, default=100, help="tunes to sample for the validity "
                   "rate (default 100; 0 = skip)")
    s.add_argument("--temperature", type=float, default=1.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json", help="also write the figures to this JSON file")
    s.add_argument("--splits", default="valid,test", help="comma list of the splits to "
                   "evaluate (train, valid, test; default valid,test)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument("--ais-chains", type=int, default=16, help="RBM models: AIS chains per "
                   "frame (default 16)")
    s.add_argument("--ais-betas", type=int, default=1000, help="RBM models: AIS inverse "
                   "temperatures (default 1000)")
    s.add_argument("--device")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("benchmark", help="standard benchmarks (boulanger: the polyphonic "
                       "piano-roll sets of Boulanger-Lewandowski et al. 2012)")
    bsub = s.add_subparsers(dest="benchmark", required=True)
    b = bsub.add_parser("boulanger", help="train (or take) a model per dataset, early-stop "
                        "on valid, report test NLL per frame and ACC beside the paper's")
    b.add_argument("--data", required=True, help="folder holding jsb_chorales.json, "
                   "nottingham.json, musedata.json, piano_midi_de.json (or the original "
                   "'JSB Chorales.pickle', ...)")
    b.add_argument("--datasets", default="all", help="comma list of jsb, nottingham, "
                   "musedata, piano (default: all)")
    b.add_argument("--arch", default="rnn_nade", help="comma list of rnn_nade, rnn_rbm, "
                   "bernoulli_rnn (default: rnn_nade)")
    b.add_argument("--preset", default="small", help="debug | paper | small, and tuned for "
                   "rnn_nade and rnn_rbm (default small)")
    b.add_argument("--out", default="bench/boulanger", help="runs and result tables "
                   "(default: bench/boulanger); a finished run there is taken, not retrained")
    b.add_argument("--retrain", action="store_true", help="train again even if a run exists")
    b.add_argument("--slice", type=int, default=0, help="use only the first N sequences of "
                   "each split (a quick check)")
    for flag, typ in [("steps", int), ("lr", float), ("eval-every", int),
                      ("eval-max-items", int), ("patience", int), ("seed", int)]:
        b.add_argument(f"--{flag}", type=typ, help="override the preset's training setting")
    b.add_argument("--ais-chains", type=int, default=16, help="RBM: AIS chains per frame")
    b.add_argument("--ais-betas", type=int, default=1000, help="RBM: AIS inverse temperatures")
    b.add_argument("--ais-runs", type=int, default=2, help="RBM: independent AIS estimates "
                   "(their spread is reported)")
    b.add_argument("--device")
    b.add_argument("--no-progress", action="store_true")
    b.set_defaults(func=cmd_benchmark_boulanger)

    s = sub.add_parser("export", help="copy a run's best checkpoint + RECIPE.md (e.g. to ship)")
    s.add_argument("run", help="run folder (with config.json and best/)")
    s.add_argument("--out", required=True, help="destination folder")
    s.add_argument("--note", help="extra text for RECIPE.md (e.g. the machine it ran on)")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("render", help="turn an ABC or MIDI file into WAV and/or PNG")
    s.add_argument("file")
    s.add_argument("--to", choices=["wav", "png", "both"], default="both")
    s.add_argument("--tune", type=int, default=1, help="which tune of an ABC book (1-based)")
    s.add_argument("--out", help="output path without suffix (default: beside the input)")
    s.add_argument("--soundfont")
    s.set_defaults(func=cmd_render)
    return p


def _add_ingest_flags(s, defaults: bool) -> None:
    """Which tracks and files a MIDI / score corpus keeps (events family)."""
    d = {"programs": "all", "min_seconds": 2.0, "max_seconds": 3600.0} if defaults else {}
    s.add_argument("--programs", default=d.get("programs"), help="tracks to keep: all "
                   "(every non-drum track; default), piano (GM programs 0-7), or a list "
                   "of GM programs, e.g. 0,1,40")
    s.add_argument("--min-seconds", type=float, default=d.get("min_seconds"),
                   help="drop pieces shorter than this (default 2)")
    s.add_argument("--max-seconds", type=float, default=d.get("max_seconds"),
                   help="drop pieces longer than this (default 3600)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded in a run's config.json as the command that made it
    try:
        return args.func(args)
    except TunesmithError as e:
        _err(f"tunesmith: error: {e}")
        return 2
    except KeyboardInterrupt:
        _err("tunesmith: interrupted")
        return 130
    except OSError as e:  # a folder that is a file, a full disk, no permission, ...
        where = f"{e.filename}: " if e.filename else ""
        _err(f"tunesmith: error: {where}{e.strerror or e}")
        return 2
