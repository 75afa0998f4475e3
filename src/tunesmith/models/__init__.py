"""Models, one file each. :func:`registry` maps an architecture's name to its class; each
class is built as ``cls(cls.config_class(**settings))``.

What a model class declares about itself (generic code reads these; it never probes a
model with ``hasattr``):

- ``family``: its name in the registry (``char_rnn``); ``config_class``: a frozen dataclass
  of its settings, whose fields that the representation decides (vocabulary and head
  sizes) are marked ``derived`` (:func:`tunesmith.options.opt`);
- ``representation``: the registry name of the representation whose arrays it reads, or
  a tuple of names for a model that reads several (the family of each can train it:
  ``train --arch``); a config field ``heads`` (derived) receives the representation's
  ``{head: classes}``;
- ``sampler``: ``"step"``: it has ``init_state(batch)`` and ``step(ids (B, heads),
  state) -> (logits per head, state)`` for the shared sampler
  (:mod:`tunesmith.sampling.decode`); ``"frames"``: it has ``frame_distribution(context)``
  and ``draw(dist, generator, gibbs_steps=None)`` (:mod:`tunesmith.sampling.frames`), and
  the frame context (each call also takes ``inputs``, the representation's per-frame
  inputs, for a model built to read them: the inputs of the frame each context is for):
  ``frame_contexts(frames (B, T, V)) -> (B, T, R)``, teacher-forced,
  ``[:, t]`` from frames < t only; ``context_start(num, device) -> (context (B, R),
  state)``, the first frame's; ``context_read(frames (B, P, V), state) -> (context,
  state)``, many frames in one call; ``context_step(frame (B, V), state) -> (context,
  state)``, one frame, its work not growing with the piece (each gives the context of
  the frame after those it read; an RNN's state, a Transformer's key/value cache);
  ``"noise"``: it writes whole pieces from noise, ``generate(num, length, generator)``
  (a GAN's generator: no token-by-token distribution, so no beam search);
- ``primes``: it has ``prime(ids, lengths, state)`` (reads many primers in one call);
- ``likelihood``: ``"exact"``, or ``"ais"`` (an RBM: ``loss()`` estimates log Z by
  annealed importance sampling with ``eval_ais`` = (chains, inverse temperatures)), or
  ``"none"`` (a GAN: its validation ``loss`` is a distance to real data, not an NLL);
- ``gibbs_sampling``: it draws by Gibbs sampling, and its ``draw`` takes ``gibbs_steps``;
- ``attends`` (optional, False unless declared): it has ``attention(inputs)`` -> the
  softmax weights of a teacher-forced pass, (layers, attention heads, T, T), for one
  piece's ids (T, heads) or frames (T, V) (``tunesmith attention``, ``compose
  --attention``);
- ``attends_source`` (optional, False unless declared): a model that continues a phrase
  has ``source_attention(batch)`` -> (B, T, S), how much each target step attends to each
  source step (``tunesmith attention`` and ``compose --attention`` of the ``continue``
  family);
- ``autocast`` (optional, True unless declared): its training loss may run under bf16
  autocast on a GPU (:func:`allows_autocast`); False for a loss whose log-probabilities
  lose too much in bf16 (the RBMs' free energies, NADE's sums over 88 keys);
- ``param_groups()`` (optional): its parameters as named optimiser groups, each
  ``{"name", "params", "lr_scale"}``: the trainer sets a group's learning rate to the
  schedule's times ``lr_scale`` and logs each group's gradient norm
  (:func:`param_groups`; a GAN's two players).

Every model has ``loss(batch) -> {"loss", "count", metrics...}`` for the trainer.
A model defined outside the package joins with :func:`register`.
"""

from __future__ import annotations

DECLARES = ("family", "config_class", "representation", "sampler", "primes", "likelihood",
            "gibbs_sampling")
_EXTRA: dict[str, type] = {}


def registry() -> dict[str, type]:
    # imported here so that `import tunesmith.models` does not import torch
    from tunesmith.models.bernoulli_rnn import BernoulliRnn
    from tunesmith.models.char_rnn import CharRNN
    from tunesmith.models.event_lstm import EventLSTM
    from tunesmith.models.rnn_gan import RnnGan
    from tunesmith.models.rnn_nade import RnnNade
    from tunesmith.models.rnn_rbm import RnnRbm
    from tunesmith.models.seq2seq import Seq2Seq
    from tunesmith.models.transformer import Transformer
    from tunesmith.models.transformer_nade import TransformerNade

    builtin = (CharRNN, EventLSTM, RnnRbm, RnnNade, BernoulliRnn, Transformer, TransformerNade,
               Seq2Seq, RnnGan)
    return {cls.family: cls for cls in builtin} | _EXTRA


def register(cls: type) -> type:
    """Add a model class (usable as a decorator). It must declare :data:`DECLARES`."""
    missing = [name for name in DECLARES if not hasattr(cls, name)]
    if missing:
        raise TypeError(f"{cls.__name__} does not declare {', '.join(missing)}")
    if cls.sampler not in ("step", "frames", "noise") \
            or cls.likelihood not in ("exact", "ais", "none"):
        raise TypeError(f"{cls.__name__}: sampler must be step, frames or noise, likelihood "
                        "exact, ais or none")
    if not hasattr(cls, "attends"):
        cls.attends = False  # the one optional declaration
    _EXTRA[cls.family] = cls
    return cls


def allows_autocast(model) -> bool:
    """The optional declaration ``autocast``: whether training may run the model's loss
    under bf16 autocast (True unless its class says False)."""
    return bool(getattr(type(model), "autocast", True))


def param_groups(model) -> list[dict] | None:
    """The optional declaration ``param_groups()``: the model's named optimiser groups, or
    None for one group of all its parameters."""
    groups = getattr(type(model), "param_groups", None)
    return groups(model) if groups is not None else None


def build(family: str, config: dict):
    reg = registry()
    if family not in reg:
        raise ValueError(f"unknown model family {family!r} (known: {', '.join(reg)})")
    cls = reg[family]
    return cls(cls.config_class(**config))
