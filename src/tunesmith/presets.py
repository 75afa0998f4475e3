"""Named presets per model family: model settings + training settings (+ data settings).

``char_rnn``: ``debug`` trains in seconds (tests); ``small`` trains on a 2-core CPU in
about half an hour (the shipped default); ``lab`` is the seed lab's setting (MIT 6.S191
lab 1: embedding 256, LSTM 1024, sequence 100, batch 8, Adam 5e-3, 3,000 steps).

``event_lstm``: ``seed`` is the LSTM-composer write-up's setting (windows of 30 messages,
one LSTM layer, dropout 0.5, L1 on, Adam lr 1e-3 with weight decay 1e-5; its hidden size
and batch are not stated: 256 and 64 here); ``small`` is the better default found by
measurement (benchmarks/events_quality.py; figures in benchmarks/RESULTS.md).

Piano-roll models (``rnn_rbm``, ``rnn_nade``, ``bernoulli_rnn``): ``paper`` follows the
RNN-RBM write-up's sizes (RNN 100 tanh units, RBM / NADE 150 hidden units; CD-15, 25 Gibbs
steps per generated frame) with Adam instead of SGD/HF; ``small`` (LSTM 256, dropout 0.3,
transposition +/-4) is the shipped Bach model's setting; ``tuned`` (rnn_nade: the paper's
sizes, transposition +/-4, lr 6e-3, 4,000 steps) is the best found by measurement on JSB
Chorales (test 5.28 against 5.80 for ``paper``; with lr 2e-3 it was 5.68;
benchmarks/RESULTS.md); for rnn_rbm, ``tuned`` is the same sizes as ``paper`` with
lr 3e-2, transposition +/-4 and 6,000 steps (JSB: see RESULTS.md).

``rnn_gan`` (the gan family): ``debug`` trains in seconds (tests); ``small`` is the
shipped ``bach-gan-small``'s setting, chosen by measurement (benchmarks/RESULTS.md, "The
adversarial composer"): a gaussian generator, 400 steps of MLE pre-training whose loss
stays in afterwards at weight 1, feature matching, the discriminator at the generator's
learning rate.

``transformer`` (ABC characters and events) and ``transformer_nade`` (piano rolls):
``debug`` trains in seconds (tests); ``small`` is sized for the 2-core CPU (well under an
hour for ``transformer`` on folk-abc; benchmarks/transformer_speed.py measures its
tokens/s); ``big`` is meant for a GPU (a slow test runs a few steps of it on CPU). Each
sets ``context`` to the training window, so generation never meets a distance between
tokens that training did not (RoPE's scores depend on distances only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tunesmith.training.config import TrainConfig


@dataclass(frozen=True)
class Preset:
    """A named starting point for a run: model settings (checked against the
    architecture's config class), the full training settings, and data settings (checked
    against the family's data options)."""

    model: Mapping[str, Any]
    train: TrainConfig
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):  # read-only views: a preset is shared by every run
        object.__setattr__(self, "model", MappingProxyType(dict(self.model)))
        object.__setattr__(self, "data", MappingProxyType(dict(self.data)))


_FRAME_DEBUG_TRAIN = TrainConfig(steps=30, batch_size=4, seq_len=32, lr=1e-2, warmup=0,
                                 eval_every=15, checkpoint_every=10, log_every=5,
                                 eval_max_items=8)
_FRAME_TRAIN = TrainConfig(steps=3000, batch_size=16, seq_len=100, lr=1e-3, warmup=50,
                           schedule="cosine", min_lr_ratio=0.05, clip=1.0, eval_every=100,
                           checkpoint_every=100, log_every=25, patience=6)


def _with(base: TrainConfig, **changes) -> TrainConfig:
    from dataclasses import replace

    return replace(base, **changes)


PRESETS: dict[str, dict[str, Preset]] = {
    "char_rnn": {
        "debug": Preset(
            model={"embedding_dim": 16, "hidden_size": 48},
            train=TrainConfig(steps=40, batch_size=8, seq_len=48, lr=1e-2, warmup=0,
                              eval_every=20, checkpoint_every=10, log_every=5,
                              eval_max_items=32)),
        "small": Preset(
            model={"embedding_dim": 64, "hidden_size": 512, "num_layers": 1, "dropout": 0.1},
            train=TrainConfig(steps=1600, batch_size=64, seq_len=256, lr=3e-3, warmup=50,
                              schedule="cosine", min_lr_ratio=0.05, clip=1.0, eval_every=200,
                              checkpoint_every=100, log_every=20, patience=4)),
        "lab": Preset(
            model={"embedding_dim": 256, "hidden_size": 1024, "num_layers": 1},
            train=TrainConfig(steps=3000, batch_size=8, seq_len=100, lr=5e-3, warmup=0,
                              schedule="constant", clip=0.0, eval_every=500,
                              checkpoint_every=250, log_every=50)),
    },
    "event_lstm": {
        "debug": Preset(
            model={"note_dim": 16, "velocity_dim": 4, "time_dim": 4, "hidden_size": 32,
                   "dropout": 0.0},
            train=TrainConfig(steps=30, batch_size=8, seq_len=30, lr=1e-2, warmup=0,
                              eval_every=15, checkpoint_every=10, log_every=5,
                              eval_max_items=16)),
        "seed": Preset(
            model={"note_dim": 64, "velocity_dim": 16, "time_dim": 16, "hidden_size": 256,
                   "num_layers": 1, "dropout": 0.5, "l1": 1e-5},
            train=TrainConfig(steps=3000, batch_size=64, seq_len=30, lr=1e-3,
                              weight_decay=1e-5, schedule="constant", warmup=0, clip=0.0,
                              eval_every=250, checkpoint_every=250, log_every=50)),
        "small": Preset(
            model={"note_dim": 64, "velocity_dim": 16, "time_dim": 16, "hidden_size": 512,
                   "num_layers": 1, "dropout": 0.3, "l1": 0.0},
            train=TrainConfig(steps=1500, batch_size=32, seq_len=128, lr=2e-3,
                              weight_decay=0.0, schedule="cosine", warmup=50,
                              min_lr_ratio=0.05, clip=1.0, eval_every=150,
                              checkpoint_every=150, log_every=25, patience=4),
            data={"transpose": 5}),
    },
    "rnn_nade": {
        "debug": Preset(model={"rnn_hidden": 16, "nade_hidden": 16, "acc_samples": 2},
                        train=_FRAME_DEBUG_TRAIN),
        "paper": Preset(model={"rnn_hidden": 100, "nade_hidden": 150, "cell": "rnn"},
                        train=_FRAME_TRAIN),
        "small": Preset(model={"rnn_hidden": 256, "nade_hidden": 150, "cell": "lstm",
                               "dropout": 0.3},
                        train=_FRAME_TRAIN, data={"transpose": 4}),
        "tuned": Preset(model={"rnn_hidden": 100, "nade_hidden": 150, "cell": "rnn"},
                        train=_with(_FRAME_TRAIN, lr=6e-3, steps=4000),
                        data={"transpose": 4}),
    },
    "rnn_rbm": {
        "debug": Preset(model={"rnn_hidden": 16, "rbm_hidden": 16, "cd_steps": 1,
                               "gibbs_steps": 5, "ais_chains": 4, "ais_betas": 20,
                               "acc_samples": 2},
                        train=_FRAME_DEBUG_TRAIN),
        "paper": Preset(model={"rnn_hidden": 100, "rbm_hidden": 150, "cell": "rnn",
                               "cd_steps": 15, "gibbs_steps": 25, "ais_chains": 4,
                               "ais_betas": 300},
                        train=_with(_FRAME_TRAIN, eval_every=200, checkpoint_every=200)),
        "tuned": Preset(model={"rnn_hidden": 100, "rbm_hidden": 150, "cell": "rnn",
                               "cd_steps": 15, "gibbs_steps": 25, "ais_chains": 4,
                               "ais_betas": 300},
                        train=_with(_FRAME_TRAIN, lr=3e-2, steps=6000, eval_every=200,
                                    checkpoint_every=200),
                        data={"transpose": 4}),
        "small": Preset(model={"rnn_hidden": 256, "rbm_hidden": 150, "cell": "lstm",
                               "dropout": 0.3, "cd_steps": 15, "gibbs_steps": 25,
                               "ais_chains": 4, "ais_betas": 300},
                        train=_with(_FRAME_TRAIN, eval_every=200, checkpoint_every=200)),
    },
    "seq2seq": {
        "debug": Preset(
            model={"embedding_dim": 16, "style_dim": 4, "encoder_size": 24, "decoder_size": 48,
                   "dropout": 0.0},
            train=TrainConfig(steps=30, batch_size=8, lr=1e-2, warmup=0, eval_every=15,
                              checkpoint_every=10, log_every=5, eval_max_items=16)),
        "seed": Preset(
            model={"embedding_dim": 64, "style_dim": 16, "encoder_size": 256,
                   "decoder_size": 512, "dropout": 0.2, "teacher_forcing": 0.5},
            train=TrainConfig(steps=3000, batch_size=64, lr=1e-3, warmup=0,
                              schedule="constant", clip=1.0, eval_every=250,
                              checkpoint_every=250, log_every=50, eval_max_items=2000)),
        "small": Preset(
            model={"embedding_dim": 64, "style_dim": 16, "encoder_size": 192,
                   "decoder_size": 384, "dropout": 0.2, "teacher_forcing": 0.75},
            train=TrainConfig(steps=2000, batch_size=64, lr=2e-3, warmup=50,
                              schedule="cosine", min_lr_ratio=0.05, clip=1.0, eval_every=250,
                              checkpoint_every=250, log_every=25, patience=4,
                              eval_max_items=1500)),
        # continue-events: MIDI phrases are ~100-400 messages, so the attention over the
        # source costs ~10x a folk tune's; sized to train on the 2-core CPU in ~40 min
        "events": Preset(
            model={"embedding_dim": 64, "style_dim": 16, "encoder_size": 128,
                   "decoder_size": 256, "dropout": 0.2, "teacher_forcing": 0.75},
            train=TrainConfig(steps=1200, batch_size=32, lr=2e-3, warmup=50,
                              schedule="cosine", min_lr_ratio=0.05, clip=1.0, eval_every=200,
                              checkpoint_every=200, log_every=25, patience=4,
                              eval_max_items=400)),
    },
    "rnn_gan": {
        "debug": Preset(
            model={"noise_dim": 4, "hidden_size": 16, "num_layers": 1, "disc_hidden": 16,
                   "disc_layers": 1, "pretrain_steps": 10},
            train=TrainConfig(steps=30, batch_size=4, seq_len=16, lr=1e-2, warmup=0,
                              eval_every=15, checkpoint_every=10, log_every=5,
                              eval_max_items=8)),
        "small": Preset(
            model={"noise_dim": 32, "hidden_size": 256, "num_layers": 2, "disc_hidden": 256,
                   "disc_layers": 2, "output": "gaussian", "pretrain_steps": 400,
                   "mle_weight": 1.0},
            train=TrainConfig(steps=1500, batch_size=32, seq_len=64, lr=1e-3, warmup=50,
                              schedule="cosine", min_lr_ratio=0.1, clip=5.0, eval_every=125,
                              checkpoint_every=125, log_every=25),
            data={"transpose": 4}),
    },
    "transformer": {
        "debug": Preset(
            model={"d_model": 32, "num_layers": 2, "attention_heads": 2, "ff_size": 64,
                   "dropout": 0.0, "context": 48},
            train=TrainConfig(steps=40, batch_size=8, seq_len=48, lr=3e-3, warmup=0,
                              eval_every=20, checkpoint_every=10, log_every=5,
                              eval_max_items=32)),
        "small": Preset(
            model={"d_model": 192, "num_layers": 4, "attention_heads": 4, "ff_size": 768,
                   "dropout": 0.1, "context": 256},
            train=TrainConfig(steps=1500, batch_size=32, seq_len=256, lr=2e-3, warmup=100,
                              schedule="cosine", min_lr_ratio=0.05, clip=1.0, eval_every=250,
                              checkpoint_every=125, log_every=25, patience=4)),
        "big": Preset(
            model={"d_model": 512, "num_layers": 8, "attention_heads": 8, "ff_size": 2048,
                   "dropout": 0.1, "context": 1024},
            train=TrainConfig(steps=20000, batch_size=32, seq_len=1024, lr=6e-4, warmup=1000,
                              schedule="cosine", min_lr_ratio=0.1, clip=1.0, eval_every=1000,
                              checkpoint_every=500, log_every=50, patience=5)),
    },
    "transformer_nade": {
        "debug": Preset(model={"d_model": 16, "num_layers": 1, "attention_heads": 2,
                               "ff_size": 32, "dropout": 0.0, "context": 32, "nade_hidden": 16,
                               "acc_samples": 2},
                        train=_FRAME_DEBUG_TRAIN),
        "small": Preset(model={"d_model": 128, "num_layers": 3, "attention_heads": 4,
                               "ff_size": 512, "dropout": 0.2, "context": 100,
                               "nade_hidden": 150},
                        train=_FRAME_TRAIN, data={"transpose": 4}),
        "big": Preset(model={"d_model": 256, "num_layers": 6, "attention_heads": 8,
                             "ff_size": 1024, "dropout": 0.2, "context": 256,
                             "nade_hidden": 300},
                      train=_with(_FRAME_TRAIN, steps=10000, batch_size=32, seq_len=256,
                                  lr=6e-4, warmup=500, eval_every=500, checkpoint_every=500),
                      data={"transpose": 4}),
    },
    "bernoulli_rnn": {
        "debug": Preset(model={"rnn_hidden": 16}, train=_FRAME_DEBUG_TRAIN),
        "small": Preset(model={"rnn_hidden": 256, "cell": "lstm", "dropout": 0.3},
                        train=_FRAME_TRAIN),
    },
}


def register(arch: str, name: str, preset: Preset) -> None:
    """Add a preset (a model defined outside the package brings its own)."""
    PRESETS.setdefault(arch, {})[name] = preset


def preset(arch: str, name: str) -> Preset:
    from tunesmith.errors import OptionError

    options = PRESETS.get(arch, {})
    if name not in options:
        raise OptionError("preset", f": unknown preset {name!r} for {arch} (choose from: "
                          f"{', '.join(options)})")
    return options[name]


def names() -> list[str]:
    """Every preset name of any architecture, in first-seen order."""
    return list(dict.fromkeys(n for per_arch in PRESETS.values() for n in per_arch))
