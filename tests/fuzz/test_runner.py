"""The runner tells every outcome apart, so that "0 tracebacks, 0 hangs, 0 blow-ups, 0
files touched" in the other tests means something: stand-ins that misbehave one way each
(:mod:`tests.fuzz.misbehave`) get the outcome they earn. And the hostile files are what
they claim: the evil pickles do run code when a careless reader loads them, and the zip
bomb does unpack to gigabytes."""

from __future__ import annotations

import pickle
import time
import zlib

import pytest

from tests.fuzz import hostile
from tests.fuzz.hostile import MARKER
from tests.fuzz.runner import Case, Runner


def fake(*argv, files=(), outputs=(), env=()) -> Case:
    return Case("fake", "test", argv[0], tuple(map(str, argv)), files=tuple(files),
                outputs=tuple(outputs), env=tuple(env), entry="tests.fuzz.misbehave:main")


@pytest.fixture(scope="module")
def strict(tmp_path_factory) -> Runner:
    """A runner with small limits, so that a hang or a blow-up shows in a second."""
    return Runner(tmp_path_factory.mktemp("strict"), seconds=0.5, memory=150 << 20)


@pytest.mark.parametrize("argv, outcome", [
    (["ok"], "ok"),
    (["refuse", "in.mid"], "refused"),
    (["refuse-naming-nothing"], "unclear"),
    (["two-lines", "in.mid"], "unclear"),
    (["raise"], "traceback"),
    (["exit-usage"], "unclear"),
    (["ignored-exception"], "traceback"),
    (["segfault"], "traceback"),
    (["spin"], "hang"),
    (["sleep"], "hang"),
    (["allocate", 400], "blowup"),
    (["memory-error"], "blowup"),
    (["write", "out/tune.mid"], "ok"),
    (["write", "out.png"], "ok"),
    (["write", "beside.txt"], "touched"),
    (["write", "in.mid"], "touched"),
    (["remove", "in.mid"], "touched"),
    (["temp-file"], "touched"),
], ids=lambda v: "-".join(map(str, v)) if isinstance(v, list) else v)
def test_each_outcome_is_named(strict, argv, outcome):
    result = strict.run(fake(*argv, files=[("in.mid", b"MThd")], outputs=["out"]))
    assert result.outcome == outcome, result.line()


def test_a_blowup_is_named_before_it_could_count_as_a_hang(tmp_path):
    """Touching 400 MiB page by page under a 150 MiB limit is a blow-up. Its own runner
    allows 5 s of CPU, not the strict 0.5 s: on a busy machine, starting Python and
    touching the first 150 MiB can use more than 0.5 s, and the case then read as a hang."""
    patient = Runner(tmp_path, seconds=5, memory=150 << 20)
    result = patient.run(fake("allocate", 400, files=[("in.mid", b"MThd")], outputs=["out"]))
    assert result.outcome == "blowup", result.line()


def test_a_hang_is_killed_with_what_it_started(strict, tmp_path):
    pidfile = tmp_path / "pid"
    start = time.monotonic()
    result = strict.run(fake("sleep-in-child", pidfile))
    assert result.outcome == "hang"
    assert time.monotonic() - start < 10  # 1.5 s of waiting (WAIT x 0.5 s), then killed
    time.sleep(0.2)
    assert not alive(int(pidfile.read_text()))


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for its new parent to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_refusal_names_the_file(strict):
    result = strict.run(fake("refuse", "in.mid", files=[("in.mid", b"MThd")]))
    assert result.said == "tunesmith: error: in.mid: not a readable MIDI file"
    assert result.rc == 2 and not result.touched


# --- the hostile files are as hostile as they say ----------------------------------------

@pytest.mark.parametrize("how, data", [
    ("unpickle", hostile.evil_pickle()),
    ("unpickle", hostile.evil_pickle(shell=True)),
    ("torch-load", hostile.evil_torch_file()),
    ("torch-load", hostile.evil_torch_file(shell=True)),
], ids=["pickle-open", "pickle-shell", "torch-open", "torch-shell"])
def test_the_evil_pickles_run_code_when_a_careless_reader_loads_them(runner, how, data):
    result = runner.run(fake(how, "evil.pt", files=[("evil.pt", data)]))
    assert result.outcome == "touched" and result.touched == [MARKER], result.line()


def test_the_zip_bomb_unpacks_to_what_it_says():
    from zipfile import ZipFile

    with ZipFile(__import__("io").BytesIO(hostile.zip_bomb(mib=8))) as z:
        member = z.getinfo("score.xml")
        assert member.file_size == 8 << 20 and member.compress_size < 9_000
    assert len(zlib.decompress(hostile._zeros_deflated(8), -15)) == 8 << 20
    assert len(hostile.zip_bomb()) < 3 << 20  # 2 GiB unpacked


def test_the_reference_bomb_is_ten_billion_frames_of_plain_lists():
    data = pickle.loads(hostile.pickle_reference_bomb())
    frames = sum(len(seq) for seq in data["train"])
    assert frames == 10**10
    assert {type(x) for x in (data, data["train"], data["train"][0][0])} <= {dict, list}
