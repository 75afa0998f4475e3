"""The floors hold: io never imports corpora, representations never import io, the ABC
text helpers sit on the bottom floor, and no module imports itself through others.

Imports are read from the source (module level and inside functions alike), so a lazy
import breaks a rule as much as one at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import tunesmith

SRC = Path(tunesmith.__file__).resolve().parent.parent


def _modules() -> dict[str, Path]:
    mods = {}
    for path in (SRC / "tunesmith").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def import_graph() -> dict[str, set[str]]:
    """module -> the tunesmith modules it imports (``from pkg import sub`` is ``pkg.sub``
    when ``sub`` is a module, else ``pkg``)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tunesmith"):
                names = [f"{node.module}.{a.name}" for a in node.names]
                names = [n if n in mods else node.module for n in names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("tunesmith")]
            for name in names:
                while name not in mods:
                    name = name.rsplit(".", 1)[0]
                if name != mod:
                    graph[mod].add(name)
    return graph


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


# (importer, imported): an importer inside the first package may not import the second.
# The floors, top down: cli -> app -> families -> trainer / sampler / evaluation ->
# models, representations, data, io, corpora -> music, errors, options.
FORBIDDEN = [
    ("tunesmith.io", "tunesmith.corpora"),
    ("tunesmith.representations", "tunesmith.io"),
    ("tunesmith.models", "tunesmith.io"),
    ("tunesmith.app", "tunesmith.cli"),
    ("tunesmith.families", "tunesmith.app"),
    ("tunesmith.families", "tunesmith.cli"),
    ("tunesmith.training", "tunesmith.app"),
    ("tunesmith.training", "tunesmith.families"),
    ("tunesmith.sampling", "tunesmith.families"),
    ("tunesmith.evaluation", "tunesmith.app"),
    ("tunesmith.evaluation", "tunesmith.cli"),
    ("tunesmith.models", "tunesmith.families"),
    ("tunesmith.models", "tunesmith.training"),
]


def test_the_layering_rules():
    broken = []
    for mod, targets in import_graph().items():
        for t in targets:
            if (any(_in(mod, a) and _in(t, b) for a, b in FORBIDDEN)
                    or mod == "tunesmith.abc_text"
                    and t not in ("tunesmith.errors", "tunesmith.music")):
                broken.append(f"{mod} imports {t}")
    assert broken == []


def test_nothing_below_the_cli_sees_argparse():
    users = [mod for mod, path in _modules().items() if not _in(mod, "tunesmith.cli")
             and any(isinstance(n, (ast.Import, ast.ImportFrom))
                     and "argparse" in [getattr(n, "module", None)] + [a.name for a in n.names]
                     for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))]
    assert users == []


def test_no_import_cycles():
    graph = import_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []


def test_importing_corpora_is_light():
    import subprocess
    import sys

    code = ("import sys, tunesmith.corpora, tunesmith.abc_text, tunesmith.io.read; "
            "print(sorted(m for m in ('music21', 'torch', 'symusic', 'tqdm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr
