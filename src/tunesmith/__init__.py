"""tunesmith: learn music from a corpus and compose new music with neural sequence models.

The public API below is imported lazily (PEP 562), so ``import tunesmith`` imports nothing
heavy; ``tunesmith.load_checkpoint`` imports torch the first time it is touched.
"""

from __future__ import annotations

from importlib import import_module

__version__ = "0.1.0"

_API = {
    "Piece": "tunesmith.music", "Track": "tunesmith.music", "Note": "tunesmith.music",
    "Tempo": "tunesmith.music", "TimeSignature": "tunesmith.music",
    "read_midi": "tunesmith.io.midi", "write_midi": "tunesmith.io.midi",
    "read_tune_book": "tunesmith.io.abc", "tune_to_piece": "tunesmith.io.abc",
    "check_tune": "tunesmith.io.abc", "write_wav": "tunesmith.io.audio",
    "write_pianoroll_png": "tunesmith.io.plots", "load_abc_corpus": "tunesmith.corpora",
    "load_checkpoint": "tunesmith.training.checkpoint",
    "save_checkpoint": "tunesmith.training.checkpoint",
    "Trainer": "tunesmith.training.trainer", "TrainConfig": "tunesmith.training.config",
    "sample": "tunesmith.sampling.decode", "SamplingSettings": "tunesmith.sampling.filters",
    "TunesmithError": "tunesmith.errors",
}
__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str):
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'tunesmith' has no attribute {name!r}")
