"""The application layer: what every front end calls (the CLI, a web page, a notebook, a
test). Typed requests in, results out; no printing (notes go to a ``log`` callable,
progress to a ``progress`` callable), no argparse, no process-wide settings, so two calls
may run at once on two threads of one process. Files are written only where a request
says so (a run folder, a writer's folder, an export).

    from tunesmith import app

    ckpt = app.load_model(family="events")
    pieces = app.compose(ckpt, app.ComposeOptions(num=4, seed=1, seconds=20))
    result = app.write(ckpt, app.ComposeOptions(num=4, seed=1), "out/")
    run = app.train(app.TrainRequest(family="abc", preset="debug", corpus="tunes.abc"))
"""

from __future__ import annotations

from importlib import import_module

_API = {
    "compose": "tunesmith.app.composing", "write": "tunesmith.app.composing",
    "CompositionWriter": "tunesmith.app.composing", "Output": "tunesmith.app.composing",
    "ComposeResult": "tunesmith.app.composing", "fresh_folder": "tunesmith.app.composing",
    "ComposeOptions": "tunesmith.families.base", "Composition": "tunesmith.families.base",
    "load_model": "tunesmith.app.models",
    "train": "tunesmith.app.training", "resume": "tunesmith.app.training",
    "plan": "tunesmith.app.training", "TrainRequest": "tunesmith.app.training",
    "ResumeRequest": "tunesmith.app.training", "RunResult": "tunesmith.app.training",
    "evaluate": "tunesmith.app.evaluating", "EvaluateRequest": "tunesmith.app.evaluating",
    "Evaluation": "tunesmith.app.evaluating", "held_out": "tunesmith.app.evaluating",
    "render": "tunesmith.app.rendering", "RenderRequest": "tunesmith.app.rendering",
    "prepare": "tunesmith.app.preparing", "export": "tunesmith.app.exporting",
    "BoulangerRequest": "tunesmith.app.benchmarking",
    "music_report": "tunesmith.app.analyzing", "MusicRequest": "tunesmith.app.analyzing",
    "analyze": "tunesmith.app.analyzing", "AnalyzeOptions": "tunesmith.app.analyzing",
    "AttentionRequest": "tunesmith.app.attention",
}

_RENAMED = {"benchmark_boulanger": ("tunesmith.app.benchmarking", "run"),
            "attention_picture": ("tunesmith.app.attention", "picture")}
__all__ = sorted([*_API, *_RENAMED])


def __getattr__(name: str):
    if name in _API:
        return getattr(import_module(_API[name]), name)
    if name in _RENAMED:
        module, attr = _RENAMED[name]
        return getattr(import_module(module), attr)
    raise AttributeError(f"module 'tunesmith.app' has no attribute {name!r}")
