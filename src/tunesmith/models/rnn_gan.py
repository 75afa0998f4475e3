"""``rnn_gan``: C-RNN-GAN (Mogren 2016), an LSTM generator driven by noise that writes
notes as real-valued rows (:mod:`tunesmith.representations.notes`), judged by a
bidirectional LSTM discriminator that scores every step.

**Generator.** At each step it reads a fresh noise vector and the row it wrote before (a
learnt start row at step 0) and writes the next row through a linear layer: the row
itself (``output = "point"``, Mogren's), or a mean and a spread per value from which the
row is drawn with noise of its own (``"gaussian"``; the reparameterisation, so gradients
flow through the draw).
**Discriminator.** A BiLSTM over the rows; a logit per step says "real". Its last layer's
states are the features that feature matching compares.

**One loss for the shared trainer.** The trainer knows one loss and one optimiser;
``loss()`` returns the sum of the discriminator's loss and the generator's, built so that
each part's gradient reaches only its own network: the discriminator scores the generated
rows detached from the generator, and the generator is scored by the discriminator's
*detached* weights (``torch.func.functional_call``). One backward pass then is one
simultaneous gradient step of both players, and exact resume, checkpoints, several
processes and the logs come from the trainer unchanged. The two networks are separate
optimiser groups (:meth:`param_groups`), so the discriminator may learn at another rate
(TTUR, ``d_lr_scale``) and the trainer logs each one's gradient norm.

**What keeps it from collapsing** (each a config field, chosen by measurement:
benchmarks/gan.py, figures in benchmarks/RESULTS.md):

- MLE pre-training (``pretrain_steps``): the generator first learns to predict the next
  row of real pieces, teacher-forced, as Mogren's generator was pre-trained (squared
  error for a point generator, which then writes the average of what could follow, the
  same for any noise; Gaussian likelihood for a gaussian one, which learns how much
  each value may vary); ``mle_weight`` keeps a share of that loss afterwards;
- feature matching (``g_loss = "feature_matching"``, Salimans et al. 2016, which Mogren
  used): the generator matches the mean discriminator features of real pieces instead of
  fooling the last layer; ``"nonsaturating"`` is the plain GAN loss;
- one-sided label smoothing (``label_smoothing``) of the real targets;
- Mogren's freezing (``freeze_ratio``): while the discriminator's loss is below this
  share of the generator's (it is far ahead), its loss is left out of the step. Its
  gradient is then zero, but Adam's momentum still moves it a little (the trainer does not
  skip the group), and on several processes each decides for its own rows, so
  ``d_frozen`` is then a share;
- TTUR (``d_lr_scale``).

**Validation** cannot be a likelihood: a GAN has none. The validation ``loss`` (what the
best checkpoint is chosen by) is how far the generator's rows are from the real ones:
the mean 1-D Wasserstein distance of each column and of the pitch steps between
consecutive notes, over generated rows drawn from fixed noise (the same at every
validation) against the validation batch.

Shapes: B = batch, T = notes, F = features per note (4), Z = noise, H = hidden units.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tunesmith.options import opt

VALID_SEED = 1234  # the fixed noise of validation


@dataclass(frozen=True)
class RnnGanConfig:
    features: int = opt(4, "real values per note, set from the representation", derived=True)
    noise_dim: int = opt(32, "noise values the generator reads per note (Z)")
    hidden_size: int = opt(256, "LSTM units per layer of the generator")
    num_layers: int = opt(2, "LSTM layers of the generator", flag="layers")
    disc_hidden: int = opt(256, "LSTM units per direction and layer of the discriminator")
    disc_layers: int = opt(2, "BiLSTM layers of the discriminator")
    dropout: float = opt(0.0, "dropout between the generator's LSTM layers")
    output: str = opt("point", "what the generator writes per note: point (Mogren's: the "
                      "row itself, MLE pre-training by squared error) or gaussian (a mean "
                      "and a spread per value, the row drawn from them with noise of its "
                      "own; MLE pre-training by Gaussian likelihood, so the written rows "
                      "vary from the start)", choices=("point", "gaussian"))
    g_loss: str = opt("feature_matching", "the generator's adversarial loss: "
                      "feature_matching (match the discriminator's mean features of real "
                      "pieces) or nonsaturating (-log D(fake))",
                      choices=("feature_matching", "nonsaturating"))
    label_smoothing: float = opt(0.1, "one-sided: the discriminator's target for real rows "
                                 "is 1 - this")
    d_lr_scale: float = opt(1.0, "the discriminator's learning rate as a multiple of the "
                            "generator's (TTUR)")
    pretrain_steps: int = opt(300, "steps of MLE pre-training of the generator (teacher-"
                              "forced next-note prediction) before the adversarial loss")
    mle_weight: float = opt(0.0, "after pre-training, keep this share of the MLE loss")
    beta1: float = opt(0.5, "Adam's first-moment decay for both players (GANs train "
                       "steadier with less momentum than Adam's 0.9)")
    freeze_ratio: float = opt(0.7, "leave the discriminator's loss out while it is "
                              "below this share of the generator's -log D(fake) (Mogren; "
                              "0 = never)")

    def __post_init__(self):
        for name in ("features", "noise_dim", "hidden_size", "num_layers", "disc_hidden",
                     "disc_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.output not in ("point", "gaussian"):
            raise ValueError(f"output must be point or gaussian, not {self.output!r}")
        if self.g_loss not in ("feature_matching", "nonsaturating"):
            raise ValueError(f"g_loss must be feature_matching or nonsaturating, not "
                             f"{self.g_loss!r}")
        if not 0 <= self.label_smoothing < 0.5:
            raise ValueError(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        if not self.d_lr_scale > 0:
            raise ValueError(f"d_lr_scale must be > 0, got {self.d_lr_scale}")
        if not 0 <= self.beta1 < 1:
            raise ValueError(f"beta1 must be in [0, 1), got {self.beta1}")
        for name in ("pretrain_steps", "mle_weight", "freeze_ratio"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


class Generator(nn.Module):
    """Noise and the previous row -> the next row, one LSTM step at a time.

    A ``point`` generator writes the row its output layer gives. A ``gaussian`` one gives
    a mean and a log spread per value and writes ``mean + spread * e``, where ``e`` is the
    last F values of the step's noise (the reparameterisation: gradients flow through
    the draw), so the step's noise is Z + F values."""

    def __init__(self, c: RnnGanConfig):
        super().__init__()
        self.noise_dim, self.features = c.noise_dim, c.features
        self.gaussian = c.output == "gaussian"
        self.start = nn.Parameter(torch.zeros(c.features))  # the "previous row" of step 0
        self.inp = nn.Linear(c.noise_dim + c.features, c.hidden_size)
        self.lstm = nn.LSTM(c.hidden_size, c.hidden_size, c.num_layers, batch_first=True,
                            dropout=c.dropout if c.num_layers > 1 else 0.0)
        self.out = nn.Linear(c.hidden_size, c.features * (2 if self.gaussian else 1))

    def noise(self, b: int, t: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, T, Z) noise, (B, T, Z + F) for a gaussian generator."""
        device = self.start.device
        size = (b, t, self.noise_dim + (self.features if self.gaussian else 0))
        if generator is not None and generator.device != device:
            return torch.randn(*size, generator=generator).to(device)
        return torch.randn(*size, generator=generator, device=device)

    def _spread(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log spread) of a gaussian generator's output; the log spread kept in
        [-5, 1] (a spread of 0.007 to 2.7 units) so the likelihood stays finite."""
        mean, log_spread = out.chunk(2, dim=-1)
        return mean, log_spread.clamp(-5.0, 1.0)

    def nll(self, real: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The MLE loss of each row given the real rows before it (teacher-forced): the
        squared error (point), or the Gaussian negative log-likelihood per value in nats
        without its constant (gaussian)."""
        prev = torch.cat([self.start.expand(real.shape[0], 1, -1), real[:, :-1]], dim=1)
        h, _ = self.lstm(torch.tanh(self.inp(torch.cat([noise[..., :self.noise_dim], prev],
                                                       dim=-1))))
        out = self.out(h)
        if not self.gaussian:
            return F.mse_loss(out, real)
        mean, log_spread = self._spread(out)
        return (0.5 * ((real - mean) * torch.exp(-log_spread)) ** 2 + log_spread).mean()

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        """Free-running: each row from the noise and the row written before, (B, T, F)
        for noise (B, T, Z [+ F]); gradients flow through the whole sequence."""
        b, t, _ = noise.shape
        prev, state, rows = self.start.expand(b, -1), None, []
        for i in range(t):
            x = torch.tanh(self.inp(torch.cat([noise[:, i, :self.noise_dim], prev], dim=-1)))
            h, state = self.lstm(x[:, None], state)
            out = self.out(h[:, 0])
            if self.gaussian:
                mean, log_spread = self._spread(out)
                out = mean + torch.exp(log_spread) * noise[:, i, self.noise_dim:]
            prev = out
            rows.append(prev)
        return torch.stack(rows, dim=1)


class Discriminator(nn.Module):
    """A BiLSTM over rows -> (a "real" logit per step (B, T), features (B, T, 2H))."""

    def __init__(self, features: int, hidden: int, layers: int):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, layers, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, 1)

    def forward(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, _ = self.lstm(rows)
        return self.head(h).squeeze(-1), h


def wasserstein_1d(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The 1-D Wasserstein distance between the values of ``a`` and ``b`` (same count):
    the mean absolute difference of their sorted values."""
    return (torch.sort(a.flatten()).values - torch.sort(b.flatten()).values).abs().mean()


def distance(fake: torch.Tensor, real: torch.Tensor) -> dict[str, torch.Tensor]:
    """How far generated rows are from real ones (B, T, F): 1-D Wasserstein per column and
    of the pitch steps between consecutive notes; ``distance`` is their mean."""
    out = {f"w1_{i}": wasserstein_1d(fake[..., i], real[..., i]) for i in range(real.shape[-1])}
    out["w1_interval"] = wasserstein_1d(fake[:, 1:, 0] - fake[:, :-1, 0],
                                        real[:, 1:, 0] - real[:, :-1, 0])
    out["distance"] = torch.stack(list(out.values())).mean()
    return out


class RnnGan(nn.Module):
    family = "rnn_gan"
    config_class = RnnGanConfig
    # what it declares (models/__init__.py)
    representation = "notes"
    sampler = "noise"  # it writes from noise (generate), not token by token
    primes = False
    likelihood = "none"  # no likelihood: evaluate and beam search do not apply
    gibbs_sampling = False
    attends = False

    def __init__(self, config: RnnGanConfig):
        super().__init__()
        self.config = c = config
        self.generator = Generator(c)
        self.discriminator = Discriminator(c.features, c.disc_hidden, c.disc_layers)

    def param_groups(self) -> list[dict]:
        """The two players as optimiser groups: the discriminator's learning rate is
        ``d_lr_scale`` times the generator's, and the trainer logs each one's gradient
        norm (``grad_norm_generator``, ``grad_norm_discriminator``)."""
        betas = (self.config.beta1, 0.999)
        return [{"name": "generator", "params": list(self.generator.parameters()),
                 "lr_scale": 1.0, "betas": betas},
                {"name": "discriminator", "params": list(self.discriminator.parameters()),
                 "lr_scale": self.config.d_lr_scale, "betas": betas}]

    @torch.no_grad()
    def generate(self, num: int, length: int, generator: torch.Generator | None = None,
                 ) -> torch.Tensor:
        """``num`` pieces of ``length`` rows each, (num, length, F)."""
        was = self.training
        self.eval()
        try:
            return self.generator(self.generator.noise(num, length, generator))
        finally:
            self.train(was)

    def loss(self, batch: dict) -> dict:
        """Training: the sum of both players' losses (module docstring) and what they are
        made of; validation: the distance of generated rows to the batch's."""
        real = batch["notes"]
        b, t, _ = real.shape
        count = torch.tensor(float(b * t), device=real.device)
        if not self.training:
            return self._validation(real, count)
        c = self.config
        pretraining = int(batch["step"][0]) < c.pretrain_steps
        mle = self.generator.nll(real, self.generator.noise(b, t))
        fake = self.generator(self.generator.noise(b, t))
        d_real, h_real = self.discriminator(real)
        d_fake, _ = self.discriminator(fake.detach())
        smooth = torch.full_like(d_real, 1.0 - c.label_smoothing)
        d_loss = (F.binary_cross_entropy_with_logits(d_real, smooth)
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        frozen_weights = {k: v.detach() for k, v in self.discriminator.named_parameters()}
        g_logits, h_fake = torch.func.functional_call(self.discriminator, frozen_weights,
                                                      (fake,))
        g_bce = F.binary_cross_entropy_with_logits(g_logits, torch.ones_like(g_logits))
        fm = F.mse_loss(h_fake.mean(dim=(0, 1)), h_real.detach().mean(dim=(0, 1)))
        g_adv = fm if c.g_loss == "feature_matching" else g_bce
        frozen = bool(c.freeze_ratio) and bool(d_loss.detach() < c.freeze_ratio * g_bce.detach())
        g_loss = mle if pretraining else c.mle_weight * mle + g_adv
        loss = g_loss + (0.0 if frozen else 1.0) * d_loss
        return {"loss": loss, "count": count, "d_loss": d_loss.detach(),
                "g_loss": g_adv.detach(), "g_bce": g_bce.detach(),
                "feature_matching": fm.detach(),
                "mle": mle.detach(),
                "d_real_acc": (d_real > 0).float().mean(),
                "d_fake_acc": (d_fake < 0).float().mean(),
                "d_frozen": torch.tensor(float(frozen)),
                "pretraining": torch.tensor(float(pretraining))}

    def _validation(self, real: torch.Tensor, count: torch.Tensor) -> dict:
        b, t, _ = real.shape
        g = torch.Generator().manual_seed(VALID_SEED)
        fake = self.generator(self.generator.noise(b, t, g))
        mle = self.generator.nll(real, self.generator.noise(b, t, g))
        d_real, _ = self.discriminator(real)
        d_fake, _ = self.discriminator(fake)
        dist = distance(fake, real)
        return {"loss": dist["distance"], "count": count, "mle": mle,
                "d_real_acc": (d_real > 0).float().mean(),
                "d_fake_acc": (d_fake < 0).float().mean(), **dist}
