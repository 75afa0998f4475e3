"""Run one fuzz case as a user would run the command, and name its outcome.

Each case runs ``tunesmith.cli.main(argv)`` in a fresh process, forked from a server
process that has imported tunesmith, torch, music21 and matplotlib once
(:mod:`tests.fuzz.warm`, through multiprocessing's ``forkserver``): as isolated as a new
``tunesmith`` process, but started in ~20 ms instead of ~2 s. The case's process starts
its own session (so that what it starts can be killed with it), writes stdout and stderr
to files, and runs in a fresh *sandbox* folder holding only its inputs, with ``TMPDIR``
a fresh folder beside it.

Outcomes, the worst first:

- ``touched``: a file or folder in the sandbox other than the command's outputs (its
  ``--out``, ``--report``, run folder) was created, changed or removed (an evil pickle's
  :data:`~tests.fuzz.hostile.MARKER` among them), or a temporary file was left behind
  by a process that ended by itself (but for the empty scratch folder music21 makes in
  ``TMPDIR`` once per machine);
- ``blowup``: the memory of the case's processes grew by more than ``memory`` bytes
  (watched every 0.1 s, and the peaks the processes report; the case is killed at the
  limit), or the output says ``MemoryError`` / ``Unable to allocate``;
- ``hang``: over ``seconds`` (10 s) of CPU time, or three times that of wall-clock time
  (a process waiting for what never comes): killed with everything it started. CPU time,
  not wall-clock time, because the machine is shared: a case that waits for a core while
  others run has not hung;
- ``traceback``: an uncaught exception, ``Traceback`` or ``Exception ignored`` in the
  output, or a process killed by a signal (a segfault);
- ``ok``: exit status 0;
- ``refused``: a non-zero exit with one line ``tunesmith: error: ...`` that names one of
  the paths the case gave (an input, or the output it could not write);
- ``unclear``: any other non-zero exit (several lines, a line naming no path).
"""

from __future__ import annotations

import atexit
import gc
import importlib
import json
import multiprocessing
import os
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from tests.fuzz.hostile import Sparse

OUTCOMES = ("ok", "refused", "unclear", "traceback", "hang", "blowup", "touched")
BAD = ("traceback", "hang", "blowup", "touched")  # the suite's target: none of these
SECONDS = 10.0  # a case over this much CPU time is a hang
WAIT = 3  # ... and one over WAIT x SECONDS of wall-clock time (waiting on nothing)
MEMORY = 2 << 30  # growth over this is a blow-up
UNCAUGHT = 70  # the exit status of a case whose command raised
MUSIC21_SCRATCH = "music21"  # music21's own folder in TMPDIR, made once per machine
_ADDRESS_SPACE = 8 << 30  # a hard limit over the watch, so a blow-up cannot take the machine


@dataclass(frozen=True)
class Case:
    """One command run on one input. Paths are relative to the sandbox (the command's
    working folder). ``files``: written there first (bytes, or a :class:`Sparse` size);
    ``copies``: (path, folder) copied there first (a model); ``outputs``: what the command
    may write (a path, everything under it, and its siblings by suffix: ``out`` allows
    ``out.png``); ``env``: extra environment (``TUNESMITH_LIMITS``); ``entry``: the
    ``module:function`` run with ``argv`` (the CLI; the runner's own tests use others)."""

    command: str  # what the tables count it under: "render", "compose --primer", ...
    kind: str  # the kind of input: "midi", "abc", "hostile", ...
    name: str  # which input, for reports
    argv: tuple[str, ...]
    files: tuple[tuple[str, bytes | Sparse], ...] = ()
    copies: tuple[tuple[str, str], ...] = ()
    outputs: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    entry: str = "tunesmith.cli:main"

    def paths(self) -> list[str]:
        """The arguments that are paths in the sandbox: its inputs and outputs (what a
        refusal must name)."""
        given = {p for p, _ in self.files} | {p for p, _ in self.copies} | set(self.outputs)
        return [a for a in self.argv
                if any(a == g or a.startswith(g + "/") or g.startswith(a + "/") for g in given)]


@dataclass
class Result:
    case: Case
    outcome: str
    seconds: float
    rc: int | None
    said: str  # the error line, a traceback's last line, or why the case was stopped
    growth_mb: float
    cpu: float = 0.0  # seconds of CPU time, the case's processes together
    touched: list[str] = field(default_factory=list)
    stderr: str = ""  # its end
    exitcode: int | None = None  # of the case's process (negative: the signal that ended it)

    def line(self) -> str:
        """One line for a report."""
        extra = f" touched {self.touched[:5]}" if self.touched else ""
        if self.outcome == "traceback" and self.exitcode:
            extra += f" (exit code {self.exitcode})"
        return (f"{self.outcome}: {self.case.command} [{self.case.kind}] {self.case.name} "
                f"({self.seconds:.1f} s, {self.cpu:.1f} s CPU, rc {self.rc}): {self.said[:300]}"
                f"{extra}")


class Runner:
    """Runs cases one at a time under ``root`` (a folder of its own), each with the
    ``seconds`` and ``memory`` limits."""

    def __init__(self, root: str | Path, seconds: float = SECONDS, memory: int = MEMORY):
        self.root, self.seconds, self.memory = Path(root), seconds, memory
        self.root.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.ctx = multiprocessing.get_context("forkserver")
        # each process re-runs the parent's main script first (multiprocessing does, to
        # find what it defines): under the `pytest` script that imports pytest, so the
        # server imports it once
        first = ["pytest"] if "pytest" in sys.modules else []
        self.ctx.set_forkserver_preload([*first, "tests.fuzz.warm"])

    def run(self, case: Case) -> Result:
        self.count += 1
        where = Path(tempfile.mkdtemp(prefix=f"case{self.count}-", dir=self.root))
        sandbox, private = where / "sandbox", where / "private"
        for folder in (sandbox, private, private / "tmp"):
            folder.mkdir()
        try:
            _materialise(case, sandbox)
            before = snapshot(sandbox)
            run = self._execute(case, sandbox, private)
            touched = changed(before, snapshot(sandbox), case.outputs)
            if not run["stopped"]:  # a process killed cannot clean up after itself
                touched += [f"$TMPDIR/{p}" for p in sorted(snapshot(private / "tmp"))
                            if p != MUSIC21_SCRATCH]
            return _classify(case, run, touched, self.memory)
        finally:
            _remove(where)

    def run_all(self, cases: list[Case], jobs: int = 2) -> list[Result]:
        """Every case, ``jobs`` at a time; the results in order."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(jobs) as pool:
            return list(pool.map(self.run, cases))

    def _execute(self, case: Case, sandbox: Path, private: Path) -> dict:
        start = time.monotonic()
        process = self.ctx.Process(target=_child, args=(case.entry, case.argv, str(sandbox),
                                                        str(private), dict(case.env)))
        process.start()
        stopped, peak, cpu = "", 0, 0.0
        while True:
            process.join(0.1)
            if process.exitcode is not None:
                if not _running(process.pid):
                    break
                time.sleep(0.05)  # a status reported too early (see _classify)
            family = _family(process.pid)
            peak = max(peak, _private_bytes(family))
            cpu = max(cpu, _cpu_seconds(family))
            if peak > self.memory:
                stopped = "blowup"
            elif cpu > self.seconds or time.monotonic() - start > WAIT * self.seconds:
                stopped = "hang"
            if stopped:
                _kill_group(process.pid)
                process.join()
                break
        _kill_group(process.pid)  # anything it left running
        report = private / "result.json"
        run = json.loads(report.read_text()) if report.is_file() else {}
        cpu = max(cpu, run.get("cpu", 0.0))
        if not stopped and cpu > self.seconds:
            stopped = "hang"  # it ended between two looks, over the limit all the same
        run.update(exitcode=process.exitcode, stopped=stopped, watched=peak, cpu=cpu,
                   seconds=time.monotonic() - start, err=_read(private / "stderr"),
                   out=_read(private / "stdout"))
        return run


# --- in the case's process -------------------------------------------------------------------

def _child(entry: str, argv: tuple[str, ...], sandbox: str, private: str,
           env: dict[str, str]) -> None:
    """The case's process: its own session, output to files, the sandbox as working
    folder, a fresh TMPDIR; run ``entry(argv)`` and write what happened to
    ``private/result.json``."""
    os.setsid()
    for fd, name in ((1, "stdout"), (2, "stderr")):
        (sys.stdout if fd == 1 else sys.stderr).flush()
        target = os.open(os.path.join(private, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(target, fd)
        os.close(target)
    os.chdir(sandbox)
    os.environ.update(env, TMPDIR=os.path.join(private, "tmp"))
    tempfile.tempdir = None  # the server's choice was cached: look again
    _limit_address_space()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start, start_cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    sys.argv = ["tunesmith", *argv]
    module, name = entry.split(":")
    try:
        rc = getattr(importlib.import_module(module), name)(list(argv))
    except SystemExit as e:  # argparse
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 - what the suite looks for
        traceback.print_exc()
        rc = UNCAUGHT
    # on the way out as the interpreter goes: threads joined, exit functions run (they
    # join or end the processes it started, release its semaphores), finalisers run
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    gc.collect()  # ("Exception ignored in ...")
    sys.stdout.flush()
    sys.stderr.flush()
    me, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                         resource.RUSAGE_CHILDREN))
    report = {"rc": rc, "start_kb": start, "self_kb": me.ru_maxrss,
              "children_kb": children.ru_maxrss,
              "cpu": me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime
              - start_cpu}
    with open(os.path.join(private, "result.json"), "w") as f:
        json.dump(report, f)
    os._exit(0)


def _limit_address_space() -> None:
    """The address space now, plus :data:`_ADDRESS_SPACE`: a backstop for a blow-up faster
    than the 0.1 s watch (the memory then runs out: ``MemoryError``, a blow-up too)."""
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            size = int(line.split()[1]) * 1024 + _ADDRESS_SPACE
            resource.setrlimit(resource.RLIMIT_AS, (size, size))
            return


# --- watching and stopping -------------------------------------------------------------------

def _running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (not gone, not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _family(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return out


def _private_bytes(family: list[int]) -> int:
    """Memory the case's processes hold on their own (not shared with the server they were
    forked from): their growth."""
    total = 0
    for p in family:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith(("Private_Clean:", "Private_Dirty:")):
                        total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(family: list[int]) -> float:
    """CPU time of the case's processes, and of the children they have reaped."""
    total = 0
    for p in family:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / _TICK


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# --- the sandbox -------------------------------------------------------------------------------

def _materialise(case: Case, sandbox: Path) -> None:
    for rel, source in case.copies:
        shutil.copytree(source, sandbox / rel)
    for rel, content in case.files:
        path = sandbox / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Sparse):
            with open(path, "wb") as f:
                f.truncate(content.size)
        else:
            path.write_bytes(content)


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every path under ``folder`` (relative) -> (kind, size, mtime, inode, mode)."""
    out = {}
    for top, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(top, name)
            st = os.lstat(path)
            kind = "dir" if name in dirs and not os.path.islink(path) else "file"
            out[os.path.relpath(path, folder)] = (
                kind, st.st_size if kind == "file" else 0, st.st_mtime_ns if kind == "file"
                else 0, st.st_ino, st.st_mode)
    return out


def changed(before: dict, after: dict, outputs: tuple[str, ...]) -> list[str]:
    """Paths created, changed or removed, except the outputs (see :class:`Case`) and the
    folders that lead to them."""
    def allowed(path: str) -> bool:
        return any(path == o or path.startswith((o + "/", o + ".")) or o.startswith(path + "/")
                   for o in outputs)

    return sorted(p for p in set(before) | set(after)
                  if before.get(p) != after.get(p) and not allowed(p))


def _remove(folder: Path) -> None:
    def unlock(fn, path, _):
        os.chmod(os.path.dirname(path), 0o700)
        os.chmod(path, 0o700)
        fn(path)

    shutil.rmtree(folder, onerror=unlock)


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.is_file() else ""


# --- naming the outcome ------------------------------------------------------------------------

def _classify(case: Case, run: dict, touched: list[str], memory: int) -> Result:
    err, rc = run["err"], run.get("rc")
    start = run.get("start_kb", 0)
    grown = max(run["watched"], (run.get("self_kb", 0) - start) * 1024,
                (run.get("children_kb", 0) - start) * 1024)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    said = _what_it_said(lines, run)
    # a process that wrote its result ended there (os._exit(0)); the exit code the
    # forkserver reports is then not needed, and with two cases at once it now and then
    # reports 255 (multiprocessing's "the status was lost") for such a process
    code = 0 if rc is not None else run["exitcode"]
    if touched:
        outcome = "touched"
    elif (run["stopped"] == "blowup" or grown > memory
          or "MemoryError" in err or "Unable to allocate" in err):
        outcome = "blowup"
    elif run["stopped"] == "hang":
        outcome = "hang"
    elif (rc is None or rc == UNCAUGHT or "Traceback" in err or "Exception ignored" in err
          or code != 0):
        outcome = "traceback"
        if rc is None and not said:
            said = f"the process ended without a result (exit code {code})"
    elif rc == 0:
        outcome = "ok"
    elif (len(lines) == 1 and lines[0].startswith("tunesmith: error: ")
          and any(p in lines[0] for p in case.paths())):
        outcome = "refused"
    else:
        outcome = "unclear"
    return Result(case, outcome, run["seconds"], rc, said, grown / 2**20, run["cpu"], touched,
                  err[-2000:], code)


def _what_it_said(lines: list[str], run: dict) -> str:
    if run["stopped"] == "hang":
        return (f"still running after {run['seconds']:.0f} s ({run['cpu']:.0f} s of CPU)"
                if run["exitcode"] is None or run["exitcode"] < 0
                else f"took {run['cpu']:.0f} s of CPU")
    if run["stopped"] == "blowup":
        return f"memory grew by {run['watched'] / 2**20:,.0f} MB"
    errors = [ln for ln in lines if ln.startswith("tunesmith: error: ")]
    if "Traceback (most recent call last):" in lines or not errors:
        return lines[-1] if lines else ""
    return errors[0]
