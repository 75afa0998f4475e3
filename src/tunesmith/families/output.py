"""What every family's ``compose`` shares: the result it returns and the files it writes
beside each piece's MIDI (WAV on a thread pool, piano-roll PNG)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ComposeResult:
    files: list[Path] = field(default_factory=list)
    valid: int = 0
    total: int = 0
    errors: list[str] = field(default_factory=list)
    label: str = "pieces"  # what the items are called in the summary
    count_valid: bool = False  # whether the summary says how many were valid

    @property
    def summary(self) -> str:
        valid = f", {self.valid} valid" if self.count_valid else ""
        return f"{self.total} {self.label}{valid}"


@contextmanager
def rendering_threads(active: bool = True, interval: float = 2e-4) -> Iterator[None]:
    """While WAV threads render (``active``):

    - the GIL goes round faster: pyfluidsynth's render loop takes it once per block of
      samples, and while the main thread runs Python (the sampler, a music21 parse) each
      take waits up to the interpreter's switch interval (5 ms by default). Measured in
      ``compose``: a 17 s tune rendered in 1.0 s beside the resampler at 5 ms, in 0.2 s
      at 0.2 ms;
    - torch computes on one thread: with both cores busy rendering, torch's two-thread
      ops wait for a descheduled thread at every step. A batch-8 step of the shipped
      ABC model beside two renders: 1.5-2.1 ms on two threads, 0.8-1.5 ms on one (0.46
      and 0.61 ms with the cores free).

    Both settings are process-wide: two compose calls running at once in threads of one
    process may restore them in the wrong order."""
    if not active:
        yield
        return
    import torch

    old, threads = sys.getswitchinterval(), torch.get_num_threads()
    sys.setswitchinterval(interval)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        sys.setswitchinterval(old)
        torch.set_num_threads(threads)


def render_extras(piece, stem: Path, opts, pool, title: str) -> tuple[list, list[Path]]:
    """Start the WAV (``opts.wav``; on ``pool``: FluidSynth's synthesis releases the GIL,
    so it overlaps with the next piece's work) and draw the PNG (``opts.png``).
    Returns (pending WAV futures, files written now)."""
    renders, files = [], []
    if opts.wav:
        from tunesmith.io.audio import write_wav

        renders.append(pool.submit(write_wav, piece, stem.with_suffix(".wav"), opts.soundfont))
    if opts.png:
        from tunesmith.io.plots import write_pianoroll_png

        files.append(write_pianoroll_png(piece, stem.with_suffix(".png"), title=title))
    return renders, files


def write_pieces(pieces, out_dir: Path, opts, log) -> ComposeResult:
    """Write each decoded piece as ``piece_NN.mid`` (+ WAV / PNG per ``opts``); a piece
    without notes keeps its MIDI file and is reported."""
    from concurrent.futures import ThreadPoolExecutor

    from tunesmith.io.midi import write_midi

    out_dir.mkdir(parents=True, exist_ok=True)
    result = ComposeResult(total=len(pieces))
    width = max(2, len(str(len(pieces))))
    with rendering_threads(opts.wav), ThreadPoolExecutor(max_workers=2) as pool:
        renders = []
        for i, piece in enumerate(pieces, 1):
            stem = out_dir / f"piece_{i:0{width}d}"
            piece.title = f"tunesmith {i}"
            result.files.append(write_midi(piece, stem.with_suffix(".mid")))
            if not piece.notes:
                result.errors.append(f"{stem.with_suffix('.mid')}: no notes were sampled")
                log(result.errors[-1])
                continue
            result.valid += 1
            pending, written = render_extras(piece, stem, opts, pool, piece.title)
            renders += pending
            result.files += written
        result.files.extend(r.result() for r in renders)
    return result
