"""Exporting a run's best checkpoint as a model to ship: weights, metadata, RECIPE.md."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tunesmith.errors import TunesmithError

# what a run folder holds (app/training.py, training/trainer.py) and an exported model
# folder never does
RUN_FILES = ("config.json", "metrics.csv", "best", "last", "checkpoints", "tensorboard",
             "curves.png", "ingest_report.csv")  # (not samples/: a shipper may keep some)


def export(run: str | Path, out: str | Path, note: str | None = None,
           overwrite: bool = False) -> Path:
    """Copy ``run``'s best checkpoint (weights + tunesmith.json only) to ``out`` and write
    ``RECIPE.md`` beside it (the command that made it, corpus, settings, figures). Reads
    the run; never changes it. Returns the checkpoint copied.

    ``out`` must be a new or empty folder, or with ``overwrite`` an earlier export
    (re-exporting is how a shipped model is updated: its weights, tunesmith.json and
    RECIPE.md are replaced, other files there stay); a run folder, a folder inside the
    run, or a folder with other things in it is refused before anything is written."""
    from tunesmith.jsonfile import read_json
    from tunesmith.training.checkpoint import META_FILE, WEIGHTS_FILE, read_meta

    run_dir = Path(run)
    if run_dir.name in ("best", "last") and (run_dir.parent / "config.json").is_file() \
            and not (run_dir / "best").exists():
        raise TunesmithError(f"is a checkpoint of the run {run_dir.parent}: give the run "
                             "folder (export takes its best checkpoint)", run_dir)
    best = run_dir / "best"
    meta = read_meta(best)
    cfg_path = run_dir / "config.json"
    config = read_json(cfg_path) if cfg_path.is_file() else {}
    config = config if isinstance(config, dict) else {}
    # only what RECIPE.md shows, and only of the kinds it shows (a damaged config.json
    # makes a plainer recipe, not a traceback)
    config = {k: v for k, v in config.items()
              if (k == "train" and isinstance(v, dict)) or isinstance(v, (str, int, float))
              or (k == "resumed_with" and isinstance(v, list)
                  and all(isinstance(c, str) for c in v))}
    out = export_folder(out, run_dir, overwrite)
    for name in (WEIGHTS_FILE, META_FILE):
        shutil.copyfile(best / name, out / name)
    (out / "RECIPE.md").write_text(recipe(run_dir, out, meta, config, note))
    return best


def export_folder(out: str | Path, run_dir: Path, overwrite: bool = False) -> Path:
    """``out`` made ready for an export of ``run_dir`` (see :func:`export`); raises a
    one-line :class:`TunesmithError` naming it when it may not take one."""
    from tunesmith.io.paths import output_folder
    from tunesmith.training.checkpoint import META_FILE, WEIGHTS_FILE

    out = output_folder(out, make=False)
    here, run = out.resolve(), run_dir.resolve()
    if here == run or here.is_relative_to(run):
        raise TunesmithError(f"is {'' if here == run else 'inside '}the run being exported: "
                             "export to a folder of its own", out)
    if out.name in ("best", "last") and _is_run(out.parent):
        raise TunesmithError(f"is a checkpoint of the run {out.parent}: export to a folder "
                             "of its own", out)
    present = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if present:
        run_like = [n for n in present if n in RUN_FILES]
        if run_like:
            raise TunesmithError(f"is a run folder ({', '.join(run_like[:3])}), not an "
                                 "exported model: export to a folder of its own", out)
        if not {META_FILE, WEIGHTS_FILE} <= set(present):
            shown = ", ".join(present[:3]) + (", ..." if len(present) > 3 else "")
            raise TunesmithError(f"is not empty ({shown}) and holds no earlier export "
                                 f"({WEIGHTS_FILE} + {META_FILE}): choose another --out",
                                 out)
        if not overwrite:
            raise TunesmithError("holds an earlier export: give --overwrite to replace its "
                                 "model (other files there stay), or choose another --out",
                                 out)
    return output_folder(out)


def _is_run(folder: Path) -> bool:
    return any((folder / n).exists() for n in ("config.json", "metrics.csv"))


def recipe(run_dir: Path, out: Path, meta: dict, config: dict, note: str | None) -> str:
    from safetensors.torch import load_file

    from tunesmith.training.checkpoint import WEIGHTS_FILE

    s = meta.get("summary", {})
    b = s.get("best_valid") or {}
    corpus = s.get("corpus", {})
    command = config.get("command") or (
        f"tunesmith train --family {config.get('family', '?')} --preset "
        f"{config.get('preset', '?')} --corpus {config.get('corpus', '?')} --seed "
        f"{config.get('train', {}).get('seed', '?')} --out {run_dir}")
    resumed = list(config.get("resumed_with", []))
    n_params = sum(t.numel() for t in load_file(str(out / WEIGHTS_FILE)).values())
    unit = corpus.get("unit", "characters")
    short = {"characters": "char", "messages": "message", "frames": "frame"}.get(unit, "token")
    nan = float("nan")
    lines = [
        f"# {out.name}",
        "",
        f"{'An' if meta['family'][0] in 'aeiou' else 'A'} `{meta['family']}` model "
        f"({meta['representation']['name']}), trained with "
        "tunesmith's own `train` command. Reproduce it with:",
        "",
        "```bash",
        command,
        *([f"# then resumed ({len(resumed)}x; a cosine schedule stretches to the new "
           "--steps from where it was):"] + resumed if resumed else []),
        f"tunesmith export {run_dir} --out {out} --overwrite",
        "```",
        "",
        f"- corpus: `{corpus.get('corpus', config.get('corpus', '?'))}` "
        f"(items per split: {corpus.get('tunes', '?')}; {unit} per split: "
        f"{corpus.get('tokens', '?')}"
        + (f"; split by {corpus['split']}" if corpus.get("split") else "") + ")",
        f"- model config: `{json.dumps(meta['model_config'])}` ({n_params:,} parameters)",
        f"- training config: `{json.dumps(s.get('train_config', config.get('train', {})))}`",
        f"- the checkpoint of step {s.get('step', '?')} (the run's best by validation)"
        + (" (early stopping)" if s.get("stopped_early") else ""),
        (f"- best validation (step {b.get('step', '?')}): loss {b.get('loss', nan):.4f} "
         f"nats/{short}, {b.get('bits', nan):.4f} bits/{short}, perplexity "
         f"{b.get('ppl', nan):.3f}, accuracy {b.get('accuracy', nan):.4f}"
         + _subset(s.get("train_config", config.get("train", {})))) if "nll" in b
        else (f"- best validation (step {b.get('step', '?')}): distance {b.get('loss', nan):.4f}"
              " (no likelihood: the mean 1-D Wasserstein distance of generated to real "
              "values)"),
        f"- library versions: `{json.dumps(meta.get('versions', {}))}`",
    ]
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def _subset(train: dict) -> str:
    """A note when validation scored only the first items of the split."""
    n = train.get("eval_max_items") if isinstance(train, dict) else None
    return (f" (on the first {n} items of valid, as training validated; `tunesmith evaluate`"
            " scores them all)") if isinstance(n, int) and n > 0 else ""
