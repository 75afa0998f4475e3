"""Imported once by the fuzz runner's server process (multiprocessing's forkserver), so
that every case's process, forked from it, starts with tunesmith and its libraries
loaded, as a ``tunesmith`` process is after its imports, and not after a first run: no
command runs here, and torch runs nothing (its thread pools do not survive a fork)."""

from __future__ import annotations

import gc
import importlib
import pkgutil

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot  # noqa: E402,F401
import music21.converter  # noqa: E402,F401
import torch  # noqa: E402,F401
import torch._dynamo  # noqa: E402,F401 - ~1 s, on the first optimizer or module call

import tunesmith  # noqa: E402

# every module a command may import later (a module that fails to import is left to the
# case that needs it: the server must start whatever state the checkout is in)
for _module in pkgutil.walk_packages(tunesmith.__path__, "tunesmith.", onerror=lambda n: None):
    if not _module.name.startswith(("tunesmith.studio", "tunesmith.__main__")):
        try:
            importlib.import_module(_module.name)
        except Exception:  # noqa: BLE001
            pass

import tests.fuzz.runner  # noqa: E402,F401 - what runs in each case's process

# what was loaded stays: the collector never walks it again, in the server or in a case
# (a full collection of a forked heap this size would take ~0.2 s and copy its pages)
gc.freeze()
