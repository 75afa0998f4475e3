"""Stand-ins for the CLI that misbehave on purpose, one way each, so that the runner's
own tests can show it names every outcome (``entry="tests.fuzz.misbehave:main"``, the
way to misbehave as ``argv[0]``)."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    how, *rest = argv
    return int(globals()[f"_{how.replace('-', '_')}"](*rest) or 0)


def _ok():
    print("fine")


def _refuse(path):
    print(f"tunesmith: error: {path}: not a readable MIDI file", file=sys.stderr)
    return 2


def _refuse_naming_nothing():
    print("tunesmith: error: something went wrong", file=sys.stderr)
    return 2


def _two_lines(path):
    print(f"warning: {path} looks odd", file=sys.stderr)
    print(f"tunesmith: error: {path}: cannot read", file=sys.stderr)
    return 2


def _raise():
    return {}["missing"]


def _exit_usage():
    raise SystemExit(2)


class _Loud:
    def __del__(self):
        raise RuntimeError("from a finaliser")


def _ignored_exception():
    _Loud()


def _segfault():
    os.kill(os.getpid(), signal.SIGSEGV)


def _spin():
    while True:
        pass


def _sleep():
    time.sleep(600)


def _sleep_in_child(pidfile):
    """A child that would outlive the case; its pid written to ``pidfile``."""
    child = subprocess.Popen(["sleep", "600"])
    Path(pidfile).write_text(str(child.pid))
    time.sleep(600)


def _allocate(mib):
    block = bytearray(int(mib) << 20)  # zeroed by the kernel, then touched page by page
    for i in range(0, len(block), 4096):
        block[i] = 1
    time.sleep(600)


def _memory_error():
    raise MemoryError


def _write(path, text="x"):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)


def _remove(path):
    Path(path).unlink()


def _temp_file():
    tempfile.mkstemp(suffix=".leftover")


def _unpickle(path):
    """What a careless reader does: the marker of an evil pickle appears."""
    pickle.loads(Path(path).read_bytes())


def _torch_load(path):
    import torch

    torch.load(path, weights_only=False)
