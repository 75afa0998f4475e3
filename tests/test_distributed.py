"""Training on several processes (torchrun, DDP over gloo on this CPU), gradient
accumulation, and the GPU paths of the trainer run on CPU.

The two-process runs go through the CLI as torchrun's workers would: each process gets
RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous address in its environment and calls
``tunesmith.cli.main``. The kill test starts torchrun itself. Every run asks for the CPU
(``--device cpu``), so the tests hold on a machine with GPUs too."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tunesmith.data.frames import FrameBatches, FrameWindows
from tunesmith.data.tokens import SequenceBatches, TokenWindows
from tunesmith.errors import OptionError
from tunesmith.models.bernoulli_rnn import BernoulliRnn, BernoulliRnnConfig
from tunesmith.models.char_rnn import CharRNN, CharRNNConfig
from tunesmith.representations.abc_chars import AbcChars
from tunesmith.representations.pianoroll import PianoRoll
from tunesmith.training import distributed
from tunesmith.training.checkpoint import load_checkpoint
from tunesmith.training.config import TrainConfig
from tunesmith.training.device import autocast_dtype, batch_to, fast_matmuls
from tunesmith.training.trainer import Trainer

TEXTS = [f"M:6/8\nL:1/8\nK:D\n{'DFA dAF|GBd gdB|' * (1 + i % 3)}AFD {i}|]\n" for i in range(40)]
REP = AbcChars.fit(TEXTS)
SEQS = [REP.encode_text(t) for t in TEXTS]
CFG = TrainConfig(steps=12, batch_size=8, seq_len=16, lr=5e-3, warmup=2, eval_every=6,
                  checkpoint_every=4, log_every=2, seed=3, device="cpu")
COMPARED = ("loss", "nll", "accuracy", "lr")  # not the speed columns


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models on one thread: with the CPU's cores busy elsewhere (the two-process
    runs, other work), torch's two-thread ops wait for a descheduled thread at every op
    (75 s instead of 1.5 s for the piano-roll test here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def rows(run: Path, columns=COMPARED) -> list[tuple]:
    with open(run / "metrics.csv") as f:
        return [(r["step"], r["split"], *(float(r[c]) for c in columns if r.get(c)))
                for r in csv.DictReader(f)]


def assert_same_curve(a: Path, b: Path, rtol: float = 1e-5) -> None:
    ra, rb = rows(a), rows(b)
    assert [r[:2] for r in ra] == [r[:2] for r in rb]
    for x, y in zip(ra, rb, strict=True):
        np.testing.assert_allclose(x[2:], y[2:], rtol=rtol, atol=1e-6, err_msg=str(x[:2]))


def assert_same_weights(a: Path, b: Path, atol: float = 1e-5) -> None:
    wa = load_checkpoint(a).model.state_dict()
    wb = load_checkpoint(b).model.state_dict()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], atol=atol, rtol=1e-4, msg=k)


# --- how a batch is shared out -------------------------------------------------------------

def test_the_ranks_micro_batches_make_up_the_global_batch_in_order():
    share = distributed.Share(batch_size=12, world=2, accum=3)
    assert (share.per_rank, share.micro, share.parts) == (6, 2, 6)
    cut = [r for rank in range(2) for r in share.rows(rank)]
    assert [(s.start, s.stop) for s in cut] == [(i, i + 2) for i in range(0, 12, 2)]
    source = TokenWindows(SEQS, seq_len=16, batch_size=12, seed=5)
    whole = source.batch(7)
    for key in whole:
        glued = torch.cat([distributed.take(whole, r)[key] for r in cut])
        assert torch.equal(glued, whole[key])
    assert distributed.take(whole, slice(0, 12)) is whole  # one process: the batch itself


def test_a_batch_that_does_not_split_over_the_processes_is_refused_by_name():
    with pytest.raises(OptionError, match="batch_size 10 does not split into 4 process"):
        distributed.Share(batch_size=10, world=4)
    with pytest.raises(ValueError, match="batch_size 10 does not split into grad_accum 4"):
        TrainConfig(batch_size=10, grad_accum=4)


def test_torchruns_environment_is_read_and_checked():
    env = {"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}
    assert distributed.from_env(env) == distributed.Ranks(1, 4, 1)
    assert distributed.from_env({}) == distributed.Ranks()  # no torchrun: one process
    with pytest.raises(OptionError, match="inconsistent"):
        distributed.from_env({"RANK": "4", "WORLD_SIZE": "4"})
    assert distributed.restarts({"TORCHELASTIC_RESTART_COUNT": "2"}) == 2
    assert distributed.restarts({}) == 0
    # rank 0 draws as one process does; the other ranks have streams of their own
    assert distributed.rank_seed(7, 0) == 7
    assert len({distributed.rank_seed(7, r) for r in range(4)}) == 4


class FakeGpus:
    """``torch.cuda`` as a machine with ``count`` GPUs shows it (no GPU needed): the
    device each process made current, and the backend its process group asked for."""

    def __init__(self, monkeypatch, count: int):
        import torch.distributed as dist

        self.current: list[int] = []
        self.backends: list[str] = []
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "set_device", self.current.append)
        monkeypatch.setattr(dist, "is_nccl_available", lambda: True)
        monkeypatch.setattr(dist, "rendezvous",
                            lambda *a, **k: iter([(dist.HashStore(), 1, 2)]))
        monkeypatch.setattr(dist, "init_process_group",
                            lambda backend, **k: self.backends.append(backend))
        monkeypatch.setattr(dist, "barrier", lambda *a, **k: None)
        monkeypatch.setattr(dist, "destroy_process_group", lambda *a, **k: None)


def test_more_cpu_processes_than_gpus_are_allowed(monkeypatch):
    """``torchrun --nproc-per-node 2 ... --device cpu`` on a machine with one GPU: the
    second process joins, and no process takes a GPU."""
    gpus = FakeGpus(monkeypatch, count=1)
    second = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}
    with distributed.process_group(second, device="cpu"):
        pass
    with distributed.process_group(second):  # the CLI: the device not known yet
        pass
    assert gpus.backends == ["gloo", "cpu:gloo,cuda:nccl"]
    ranks = distributed.Ranks(1, 2, 1)
    assert distributed.local_device(torch.device("cpu"), ranks) == torch.device("cpu")
    assert gpus.current == []


def test_a_cuda_run_takes_its_local_ranks_gpu_and_no_more_processes_than_gpus(monkeypatch):
    gpus = FakeGpus(monkeypatch, count=1)
    cuda = torch.device("cuda")
    assert distributed.local_device(cuda, distributed.Ranks(0, 2, 0)) == torch.device("cuda", 0)
    assert gpus.current == [0]
    with pytest.raises(OptionError, match="LOCAL_RANK 1: this machine has 1 GPU"):
        distributed.local_device(cuda, distributed.Ranks(1, 2, 1))
    assert gpus.current == [0]


def test_the_process_groups_backend_follows_the_device(monkeypatch):
    FakeGpus(monkeypatch, count=2)
    backends = [distributed.group_backend(d) for d in ("cpu", None, "auto", "cuda", "cuda:1")]
    assert backends == ["gloo"] + ["cpu:gloo,cuda:nccl"] * 4
    FakeGpus(monkeypatch, count=0)
    assert {distributed.group_backend(d) for d in (None, "auto", "cpu")} == {"gloo"}


def test_every_model_uses_all_its_parameters_in_its_training_loss():
    """DDP is built without find_unused_parameters (a traversal every step): a parameter
    that the loss leaves without a gradient would stop a multi-process run."""
    from tunesmith import families, models
    from tunesmith.data.pairs import collate
    from tunesmith.families.base import model_sizes
    from tunesmith.presets import preset
    from tunesmith.representations.abc_phrases import AbcPhrases
    from tunesmith.representations.events import Events

    phrases = AbcPhrases.fit_phrases(["M:2/4\nK:D\nAB|cd|ef|]\n"], {"tradition": ["a", "b"]})
    from tunesmith.representations.notes import NoteFeatures

    reps = {"abc_chars": ("abc", REP), "events": ("events", Events()),
            "pianoroll": ("pianoroll", PianoRoll()), "abc_phrases": ("continue", phrases),
            "notes": ("gan", NoteFeatures())}
    torch.manual_seed(0)
    for name, cls in models.registry().items():
        kinds = (cls.representation,) if isinstance(cls.representation, str) \
            else cls.representation
        family, rep = reps[kinds[0]]
        settings = dict(preset(name, "debug").model) | model_sizes(
            families.get(family), cls.config_class, rep)
        model = models.build(name, settings).train()
        if kinds[0] == "pianoroll":
            batch = {"frames": (torch.rand(3, 10, 88) < 0.1).float(),
                     "mask": torch.ones(3, 10, dtype=torch.bool)}
        elif kinds[0] == "abc_phrases":
            n = len(rep.vocab)
            batch = collate([(torch.randint(1, n, (7,)).tolist(),
                              torch.randint(1, n, (9,)).tolist(), [k % 3]) for k in range(3)])
        elif kinds[0] == "notes":  # a GAN: both players, in pre-training and after it
            batch = {"notes": torch.randn(3, 10, 4), "step": torch.zeros(3, dtype=torch.long)}
            model.loss(batch)["loss"].backward()
            batch = dict(batch, step=torch.full((3,), 10_000))
        else:
            x = torch.stack([torch.randint(0, n, (3, 11)) for n in rep.heads.values()], -1)
            x = x[..., 0] if x.shape[-1] == 1 else x
            batch = {"inputs": x[:, :-1], "targets": x[:, 1:]}
        model.loss(batch)["loss"].backward()
        unused = [n for n, p in model.named_parameters() if p.grad is None]
        assert not unused, f"{name}: {unused}"


# --- gradient accumulation -----------------------------------------------------------------

def char_trainer(run, cfg=CFG, resume=False, dropout=0.0):
    torch.manual_seed(123)
    model = CharRNN(CharRNNConfig(vocab_size=len(REP.vocab), embedding_dim=8, hidden_size=16,
                                  dropout=dropout))
    return Trainer(model, REP, TokenWindows(SEQS[:30], cfg.seq_len, cfg.batch_size, cfg.seed),
                   SequenceBatches(SEQS[30:]), cfg, run, resume=resume, progress=False,
                   tensorboard=False)


def test_grad_accum_gives_the_losses_of_the_whole_batch_at_once(tmp_path):
    char_trainer(tmp_path / "whole").fit()
    char_trainer(tmp_path / "accum", replace(CFG, grad_accum=4)).fit()
    assert_same_curve(tmp_path / "whole", tmp_path / "accum")
    assert_same_weights(tmp_path / "whole" / "last", tmp_path / "accum" / "last")


def test_grad_accum_weights_micro_batches_by_the_frames_they_score(tmp_path):
    """Piano-roll windows score different numbers of frames (short pieces, an unscored
    first frame): a plain mean of the micro-batches' means would differ."""
    rng = np.random.default_rng(0)
    seqs = [(rng.random((n, 88)) < 0.08).astype(np.uint8) for n in (5, 9, 30, 50, 14, 70)]
    cfg = replace(CFG, seq_len=24, lr=1e-2)

    def trainer(run, c):
        torch.manual_seed(1)
        model = BernoulliRnn(BernoulliRnnConfig(rnn_hidden=12))
        return Trainer(model, PianoRoll(), FrameWindows(seqs[:5], c.seq_len, c.batch_size,
                                                        seed=2, aligned=0.5),
                       FrameBatches(seqs[5:]), c, run, progress=False, tensorboard=False)

    source = FrameWindows(seqs[:5], cfg.seq_len, cfg.batch_size, seed=2, aligned=0.5)
    counts = [int(source.batch(0)["mask"][r].sum()) for r in distributed.Share(8, 1, 4).rows(0)]
    assert len(set(counts)) > 1  # the micro-batches do count differently
    trainer(tmp_path / "whole", cfg).fit()
    trainer(tmp_path / "accum", replace(cfg, grad_accum=4)).fit()
    assert_same_curve(tmp_path / "whole", tmp_path / "accum")
    assert_same_weights(tmp_path / "whole" / "last", tmp_path / "accum" / "last")


# --- the GPU paths, on CPU --------------------------------------------------------------------

def test_bf16_autocast_trains_on_cpu_close_to_fp32(tmp_path):
    fp32 = char_trainer(tmp_path / "fp32")
    assert fp32.autocast is None  # auto on CPU: fp32
    fp32.fit()
    bf16 = char_trainer(tmp_path / "bf16", replace(CFG, precision="bf16"))
    assert bf16.autocast is torch.bfloat16
    bf16.fit()
    a, b = rows(tmp_path / "fp32"), rows(tmp_path / "bf16")
    assert all(np.isfinite(r[2]) for r in b)
    np.testing.assert_allclose([r[2] for r in a], [r[2] for r in b], rtol=0.02)
    # the weights stay fp32: autocast only computes in bf16
    w = load_checkpoint(tmp_path / "bf16" / "last").model.state_dict()
    assert all(t.dtype == torch.float32 for t in w.values())


def test_bf16_is_refused_for_the_models_whose_log_probabilities_need_fp32():
    from tunesmith.models.rnn_nade import RnnNade, RnnNadeConfig
    from tunesmith.models.rnn_rbm import RnnRbm, RnnRbmConfig

    cpu = torch.device("cpu")
    for model in (RnnNade(RnnNadeConfig()), RnnRbm(RnnRbmConfig())):
        with pytest.raises(OptionError, match="needs fp32"):
            autocast_dtype("bf16", cpu, model)
        assert autocast_dtype("auto", cpu, model) is None
    char = CharRNN(CharRNNConfig(vocab_size=10))
    assert autocast_dtype("bf16", cpu, char) is torch.bfloat16
    assert autocast_dtype("fp32", cpu, char) is None


def test_tf32_is_on_while_training_on_cuda_and_restored_after():
    before = torch.get_float32_matmul_precision()
    with fast_matmuls(torch.device("cuda")):  # only flags: no GPU needed
        assert torch.get_float32_matmul_precision() == "high"
    assert torch.get_float32_matmul_precision() == before
    with fast_matmuls(torch.device("cpu")), fast_matmuls(torch.device("cuda"), enabled=False):
        assert torch.get_float32_matmul_precision() == before


def test_a_batch_moves_to_the_device_it_is_asked_for():
    batch = {"inputs": torch.arange(6).view(2, 3), "n": 3}
    moved = batch_to(batch, torch.device("cpu"))
    assert moved["inputs"] is batch["inputs"] and moved["n"] == 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="pinned memory needs a CUDA GPU")
def test_a_batch_goes_to_the_gpu_from_pinned_memory():
    moved = batch_to({"inputs": torch.arange(6)}, torch.device("cuda"))
    assert moved["inputs"].is_cuda and torch.equal(moved["inputs"].cpu(), torch.arange(6))


def test_the_compiled_step_gives_the_eager_losses(tmp_path, monkeypatch):
    """The trainer's torch.compile path (dynamo's own eager backend here, to keep it fast;
    the slow test below uses inductor): same losses, and checkpoints without compile's
    wrapper names."""
    import functools

    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    torch._dynamo.reset()
    char_trainer(tmp_path / "eager").fit()
    char_trainer(tmp_path / "compiled", replace(CFG, compile=True)).fit()
    assert_same_curve(tmp_path / "eager", tmp_path / "compiled")
    assert_same_weights(tmp_path / "eager" / "last", tmp_path / "compiled" / "last")


@pytest.mark.slow
def test_the_inductor_compiled_step_gives_the_eager_losses(tmp_path):
    torch._dynamo.reset()
    char_trainer(tmp_path / "eager").fit()
    char_trainer(tmp_path / "compiled", replace(CFG, compile=True)).fit()
    assert_same_curve(tmp_path / "eager", tmp_path / "compiled", rtol=1e-4)


# --- two processes ------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _writes_under(root: str, seen: list):
    """An audit hook that notes every write, rename, removal or new folder under root."""
    root = os.path.realpath(root)
    changes = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "shutil.rmtree",
               "shutil.copyfile", "os.truncate", "os.symlink", "os.link"}
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def hook(event, args):
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            mode, flags = (args + (None, 0))[1:3]
            wants = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & writing)
            if not wants:
                return
        elif event not in changes:
            return
        for a in args[:2]:
            if isinstance(a, (str, bytes, os.PathLike)):
                path = os.path.realpath(os.fsdecode(a))
                if path == root or path.startswith(root + os.sep):
                    seen.append(f"{event} {path}")
    return hook


def _rank(rank: int, world: int, port: int, argv: list[str], report: str) -> None:
    """One of torchrun's workers, as torchrun would start it."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    run_dir = argv[argv.index("--out") + 1]
    seen: list[str] = []
    if rank:
        sys.addaudithook(_writes_under(run_dir, seen))
    from tunesmith.cli import main

    rc = main(argv)
    Path(f"{report}.{rank}").write_text(json.dumps({"rc": rc, "writes": seen}))


def spawn_ranks(world: int, argv: list[str], report: Path) -> list[dict]:
    import torch.multiprocessing as mp

    mp.spawn(_rank, args=(world, free_port(), argv, str(report)), nprocs=world)
    return [json.loads(Path(f"{report}.{r}").read_text()) for r in range(world)]


def train_argv(corpus, run: Path, *extra: str) -> list[str]:
    return ["train", "--preset", "debug", "--corpus", str(corpus), "--out", str(run),
            "--no-progress", "--samples", "0", "--device", "cpu", "--steps", "20", *extra]


@pytest.fixture(scope="module")
def one_and_two(tmp_path_factory, abc_corpus):
    """The same 20 steps of the debug preset (global batch 8) on one process and on two."""
    from tunesmith.cli import main

    root = tmp_path_factory.mktemp("ddp")
    assert main(train_argv(abc_corpus, root / "one")) == 0
    reports = spawn_ranks(2, train_argv(abc_corpus, root / "two"), root / "report")
    return root / "one", root / "two", reports


def test_two_gloo_processes_give_the_losses_of_one_process(one_and_two):
    one, two, reports = one_and_two
    assert [r["rc"] for r in reports] == [0, 0]
    assert [r[:2] for r in rows(two)][-2:] == [("20", "train"), ("20", "valid")]
    assert_same_curve(one, two)
    assert_same_weights(one / "last", two / "last")
    assert_same_weights(one / "best", two / "best")


def test_only_rank_0_writes_the_run_folder(one_and_two):
    one, two, reports = one_and_two
    assert reports[1]["writes"] == []
    written = {p.name for p in two.iterdir()}
    assert {"config.json", "metrics.csv", "last", "best", "curves.png"} <= written


def test_config_json_records_how_the_run_was_launched(one_and_two):
    one, two, _ = one_and_two
    record = json.loads((two / "config.json").read_text())["distributed"]
    assert record == {"world_size": 2, "backend": "gloo", "global_batch": 8,
                      "per_rank_batch": 4, "grad_accum": 1, "micro_batch": 4}
    single = json.loads((one / "config.json").read_text())["distributed"]
    assert single["world_size"] == 1 and single["backend"] is None
    assert single["per_rank_batch"] == 8
    summary = load_checkpoint(two / "last").meta["summary"]
    assert summary["launch"] == record  # the checkpoint says it too


@pytest.mark.slow
def test_two_processes_with_grad_accum_give_the_losses_of_one(one_and_two, abc_corpus,
                                                               tmp_path):
    one, _, _ = one_and_two
    reports = spawn_ranks(2, train_argv(abc_corpus, tmp_path / "run", "--grad-accum", "2"),
                          tmp_path / "report")
    assert [r["rc"] for r in reports] == [0, 0]
    assert_same_curve(one, tmp_path / "run")
    record = json.loads((tmp_path / "run" / "config.json").read_text())["distributed"]
    assert (record["per_rank_batch"], record["micro_batch"]) == (4, 2)


@pytest.mark.slow
def test_two_processes_weight_piano_roll_windows_by_the_frames_they_score(tmp_path):
    """Windows of short pieces score fewer frames: each rank's loss is weighted by its
    frames, so two processes still give one process's losses."""
    from tunesmith.cli import main

    rng = np.random.default_rng(0)

    def piece(n):
        return [sorted(int(k) for k in rng.choice(np.arange(40, 80), 3, replace=False))
                for _ in range(n)]

    corpus = tmp_path / "rolls.json"
    corpus.write_text(json.dumps({"train": [piece(n) for n in (6, 9, 40, 70, 15, 30)],
                                  "valid": [piece(20), piece(33)], "test": [piece(10)]}))
    argv = ["train", "--family", "pianoroll", "--arch", "bernoulli_rnn", "--preset", "debug",
            "--corpus", str(corpus), "--no-progress", "--samples", "0", "--device", "cpu",
            "--steps", "20"]
    assert main([*argv, "--out", str(tmp_path / "one")]) == 0
    reports = spawn_ranks(2, [*argv, "--out", str(tmp_path / "two")], tmp_path / "report")
    assert [r["rc"] for r in reports] == [0, 0]
    assert_same_curve(tmp_path / "one", tmp_path / "two")
    assert_same_weights(tmp_path / "one" / "last", tmp_path / "two" / "last")


# --- a rank killed mid-run -------------------------------------------------------------------

def torchrun(corpus, run: Path, kill_at: int | None = None) -> tuple[int, str]:
    """``torchrun --nproc-per-node 2 --max-restarts 1 -m tunesmith train ...`` (with
    dropout, so each rank's random state matters); with ``kill_at``, rank 1 gets SIGKILL
    once metrics.csv has reached that step."""
    argv = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
            "--max-restarts", "1", "--monitor-interval", "0.2", "--master-port",
            str(free_port()), "-m", "tunesmith", *train_argv(corpus, run)[:-1], "200",
            "--dropout", "0.2", "--checkpoint-every", "20", "--eval-every", "100",
            "--log-every", "10"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    deadline = time.monotonic() + 600
    while kill_at is not None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        logged = rows(run, ()) if (run / "metrics.csv").exists() else []
        if logged and int(logged[-1][0]) >= kill_at:
            workers = [int(c) for t in Path(f"/proc/{proc.pid}/task").iterdir()
                       for c in (t / "children").read_text().split()]
            for pid in workers:
                env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                if b"RANK=1" in env:
                    os.kill(pid, signal.SIGKILL)
            kill_at = None
    out, _ = proc.communicate(timeout=600)
    return proc.returncode, out


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds workers in /proc")
def test_a_killed_rank_stops_the_job_and_the_restart_repeats_the_curve(abc_corpus, tmp_path):
    rc, out = torchrun(abc_corpus, tmp_path / "straight")
    assert rc == 0, out[-2000:]
    rc, out = torchrun(abc_corpus, tmp_path / "killed", kill_at=70)
    assert rc == 0, out[-2000:]
    # rank 0 either notices first and says so on one line, or torchrun's SIGTERM ends it
    # first (which one wins is a race); never a traceback
    assert "Traceback" not in out
    assert "lost the other processes" in out or "closing signal SIGTERM" in out
    assert "torchrun restarted the job (1): continuing" in out
    resumed = int(out.split("resuming at step ")[1].split()[0])
    assert resumed % 20 == 0 and 60 <= resumed < 200  # the last checkpoint before the kill
    assert_same_curve(tmp_path / "straight", tmp_path / "killed", rtol=0)
    assert_same_weights(tmp_path / "straight" / "last", tmp_path / "killed" / "last", atol=0)
