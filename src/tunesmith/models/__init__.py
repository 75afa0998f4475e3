"""Model families, one file each. :data:`REGISTRY` maps a family name to its class; each
class has ``family``, ``config_class`` and is built as ``cls(config_class(**dict))``."""

from __future__ import annotations


def registry() -> dict[str, type]:
    # imported here so that `import tunesmith.models` does not import torch
    from tunesmith.models.bernoulli_rnn import BernoulliRnn
    from tunesmith.models.char_rnn import CharRNN
    from tunesmith.models.event_lstm import EventLSTM
    from tunesmith.models.rnn_nade import RnnNade
    from tunesmith.models.rnn_rbm import RnnRbm

    return {cls.family: cls for cls in (CharRNN, EventLSTM, RnnRbm, RnnNade, BernoulliRnn)}


def build(family: str, config: dict):
    reg = registry()
    if family not in reg:
        raise ValueError(f"unknown model family {family!r} (known: {', '.join(reg)})")
    cls = reg[family]
    return cls(cls.config_class(**config))
