"""How training uses a GPU, checked on CPU: recurrent layers kept out of autocast, TF32
held around the training step alone, bf16 only on a GPU that computes it natively."""

from __future__ import annotations

import copy
import inspect
from dataclasses import replace

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from tunesmith.data.tokens import SequenceBatches, TokenWindows
from tunesmith.models.char_rnn import CharRNN, CharRNNConfig
from tunesmith.representations.abc_chars import AbcChars
from tunesmith.training import device as device_mod
from tunesmith.training import trainer as trainer_mod
from tunesmith.training.config import TrainConfig
from tunesmith.training.device import (
    autocast_dtype,
    fp32_recurrent,
    recurrent_in_fp32,
)
from tunesmith.training.trainer import Trainer

TEXTS = [f"M:6/8\nL:1/8\nK:D\n{'DFA dAF|GBd gdB|' * (1 + i % 3)}AFD {i}|]\n" for i in range(30)]
REP = AbcChars.fit(TEXTS)
SEQS = [REP.encode_text(t) for t in TEXTS]
CFG = TrainConfig(steps=6, batch_size=4, seq_len=16, lr=5e-3, warmup=0, eval_every=3,
                  checkpoint_every=0, log_every=3, seed=3, device="cpu")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Stack(nn.Module):
    """A linear layer (bf16 under autocast) feeding each kind of recurrent layer."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 6)
        self.lstm = nn.LSTM(6, 5, batch_first=True)
        self.inner = nn.Sequential(nn.Linear(5, 5))
        self.gru = nn.GRU(5, 4, batch_first=True, bidirectional=True)
        self.rnn = nn.RNN(8, 3, num_layers=2, batch_first=True)

    def forward(self, x):
        a, (h, c) = self.lstm(self.inp(x))
        b, hg = self.gru(self.inner(a))
        y, hr = self.rnn(b)
        return {"lstm": a, "lstm_h": h, "lstm_c": c, "gru": b, "gru_h": hg, "rnn": y,
                "rnn_h": hr}


def bf16_run(model, x):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return model(x)


def test_recurrent_layers_run_in_fp32_under_autocast_once_wrapped():
    torch.manual_seed(0)
    model, x = Stack(), torch.randn(2, 7, 6)
    names = set(model.state_dict())
    assert bf16_run(model, x)["lstm"].dtype == torch.bfloat16  # what autocast does alone
    assert fp32_recurrent(model) == 3
    assert fp32_recurrent(model) == 0  # each layer wrapped once
    out = bf16_run(model, x)
    assert {k: v.dtype for k, v in out.items()} == dict.fromkeys(out, torch.float32)
    with torch.no_grad():  # outside autocast the layers compute as before
        plain = copy.deepcopy(model)
        for m in plain.modules():
            vars(m).pop("forward", None)
        torch.testing.assert_close(model(x)["rnn"], plain(x)["rnn"], rtol=0, atol=0)
    sum(v.sum() for v in out.values()).backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 and
               torch.isfinite(p.grad).all() for p in model.parameters())
    assert set(model.state_dict()) == names  # checkpoints do not see the wrapper


def test_a_wrapped_layer_takes_packed_sequences_and_bf16_state():
    lstm = nn.LSTM(4, 3, batch_first=True)
    fp32_recurrent(lstm)
    x = torch.randn(2, 5, 4).bfloat16()
    packed = pack_padded_sequence(x, torch.tensor([5, 3]), batch_first=True)
    state = (torch.zeros(1, 2, 3, dtype=torch.bfloat16),) * 2
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, (h, c) = lstm(packed, state)
    assert (out.data.dtype, h.dtype, c.dtype) == (torch.float32,) * 3


def test_a_copy_of_a_wrapped_model_runs_its_own_layers():
    model = Stack()
    fp32_recurrent(model)
    twin = copy.deepcopy(model)
    assert twin.lstm.forward.__self__ is twin.lstm
    with torch.no_grad():
        for p in twin.lstm.parameters():
            p.zero_()
    x = torch.randn(1, 3, 6)
    assert not torch.equal(model(x)["lstm"], twin(x)["lstm"])


def test_only_a_cuda_autocast_run_wraps_its_recurrent_layers():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert recurrent_in_fp32(cuda, torch.bfloat16)
    assert not recurrent_in_fp32(cuda, None)
    assert not recurrent_in_fp32(cpu, torch.bfloat16)  # CPU autocast keeps bf16 itself


def char_trainer(run, cfg=CFG, model=None):
    torch.manual_seed(1)
    model = model or CharRNN(CharRNNConfig(vocab_size=len(REP.vocab), embedding_dim=8,
                                           hidden_size=16))
    return Trainer(model, REP, TokenWindows(SEQS[:24], cfg.seq_len, cfg.batch_size, cfg.seed),
                   SequenceBatches(SEQS[24:]), cfg, run, progress=False, tensorboard=False)


def test_the_trainer_wraps_the_recurrent_layers_of_an_autocast_run(tmp_path, monkeypatch):
    """On CPU the trainer leaves them alone; where the rule says wrap (a CUDA run, here
    any autocast run), the training step's LSTM computes in fp32 under bf16 autocast."""
    bf16 = replace(CFG, precision="bf16")
    assert "forward" not in vars(char_trainer(tmp_path / "cpu", bf16).model.rnn)
    monkeypatch.setattr(trainer_mod, "recurrent_in_fp32", lambda device, dtype: bool(dtype))
    assert "forward" not in vars(char_trainer(tmp_path / "fp32").model.rnn)
    trainer = char_trainer(tmp_path / "bf16", bf16)
    seen = []
    trainer.model.rnn.register_forward_hook(lambda m, a, out: seen.append(out[0].dtype))
    summary = trainer.fit()
    assert summary["step"] == CFG.steps and seen and set(seen) == {torch.float32}


class Fp32Only(CharRNN):
    autocast = False  # as the RBMs and NADEs declare


def matmul_precision_seen(run, monkeypatch, model=None) -> set[tuple[bool, str]]:
    """(training?, fp32 matmul precision) at each call of the model's loss in a run, with
    the trainer's TF32 switch acting as on a GPU (it only sets a flag)."""
    real = device_mod.fast_matmuls
    monkeypatch.setattr(trainer_mod, "fast_matmuls",
                        lambda device, enabled=True: real(torch.device("cuda"), enabled))
    trainer = char_trainer(run, model=model)
    seen = set()
    loss = trainer.model.loss

    def spy(batch):
        seen.add((trainer.model.training, torch.get_float32_matmul_precision()))
        return loss(batch)

    monkeypatch.setattr(trainer.model, "loss", spy)
    trainer.fit()
    return seen


def test_tf32_is_held_for_the_training_step_alone(tmp_path, monkeypatch):
    before = torch.get_float32_matmul_precision()
    assert before != "high"
    seen = matmul_precision_seen(tmp_path, monkeypatch)
    assert seen == {(True, "high"), (False, before)}  # validation in true fp32
    assert torch.get_float32_matmul_precision() == before


def test_a_model_that_needs_fp32_trains_without_tf32(tmp_path, monkeypatch):
    before = torch.get_float32_matmul_precision()
    model = Fp32Only(CharRNNConfig(vocab_size=len(REP.vocab), embedding_dim=8, hidden_size=16))
    seen = matmul_precision_seen(tmp_path, monkeypatch, model)
    assert seen == {(True, before), (False, before)}


def test_auto_precision_takes_bf16_only_where_the_gpu_computes_it(monkeypatch):
    """A GPU that only emulates bf16 (before Ampere) stays in fp32 under ``auto``."""
    assert "including_emulation" in inspect.signature(torch.cuda.is_bf16_supported).parameters
    model, cuda = CharRNN(CharRNNConfig(vocab_size=10)), torch.device("cuda")
    emulated = []

    def emulating(including_emulation=True):
        emulated.append(including_emulation)
        return including_emulation

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", emulating)
    assert autocast_dtype("auto", cuda, model) is None
    assert emulated == [False]
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert autocast_dtype("auto", cuda, model) is torch.bfloat16
