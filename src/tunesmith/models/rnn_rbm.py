"""``rnn_rbm``: an RNN carries the past of a piano roll; at each frame its state sets the
biases of an RBM that models which keys sound together (Boulanger-Lewandowski, Bengio &
Vincent 2012). ``cell="lstm"`` gives the LSTM-RBM.

Training is contrastive divergence: for each frame, k Gibbs steps from the true frame give
a negative sample v~, and the cost F(v) - F(v~) (F = free energy) has the CD-k gradient
of the log-likelihood with respect to the RBM's parameters and, through the conditional
biases, the RNN's. The likelihood itself is intractable (it needs the RBM's partition
function for every frame); :meth:`RnnRbm.log_partition` estimates it by annealed importance
sampling, vectorised over frames and chains.

Shapes: B = batch, T = frames, N = frames flattened, V = keys, H = RBM hidden units,
R = RNN hidden, M = AIS chains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tunesmith.models.layers import (
    FrameRNN,
    RecurrentContext,
    check_config,
    frame_accuracy_counts,
    predicted_frame_counts,
)
from tunesmith.options import opt


@dataclass(frozen=True)
class RnnRbmConfig:
    n_visible: int = opt(88, "keys per frame, set from the representation", derived=True)
    rnn_hidden: int = opt(100, "units of the RNN that carries the past (R; the seed: 100)")
    rbm_hidden: int = opt(150, "hidden units of the RBM per frame (H; the seed: 150)")
    cell: str = opt("rnn", "the RNN's cell: rnn (RNN-RBM), lstm (LSTM-RBM) or gru",
                    choices=("rnn", "lstm", "gru"))
    num_layers: int = opt(1, "stacked recurrent layers", flag="layers")
    dropout: float = opt(0.0, "dropout on the RNN's output, training only")
    cd_steps: int = opt(15, "k of CD-k in training")
    gibbs_steps: int = opt(25, "Gibbs steps per generated frame (the seed: 25)")
    ais_chains: int = opt(16, "AIS chains of the validation estimate during training "
                          "(evaluate and benchmark use their own, larger settings)")
    ais_betas: int = opt(200, "AIS inverse temperatures of that estimate")
    acc_samples: int = opt(8, "Gibbs chains per frame that estimate the marginals for ACC")
    inputs: dict = opt(None, "classes of each input a frame carries beside its keys, set "
                       "from the representation", derived=True, factory=dict)
    position_dim: int = opt(16, "embedding size of each input beside the keys (with inputs)")
    proposal_keys: int = opt(0, "0/1 inputs after the classes that a frame reads as they are "
                             "(a lookback's proposed frame), set from the representation",
                             derived=True)

    def __post_init__(self):
        check_config(self, ("n_visible", "rnn_hidden", "rbm_hidden", "num_layers", "cd_steps",
                     "gibbs_steps", "ais_chains", "ais_betas", "acc_samples", "position_dim"))


def _bernoulli(p: torch.Tensor, generator=None) -> torch.Tensor:
    """0/1 draws with probabilities ``p``, from 16-bit uniforms.

    Written by hand for speed: Gibbs sampling and AIS draw hundreds of millions of
    Bernoulli variables, and on a CPU ``torch.rand`` / ``torch.bernoulli`` spend ~16 ns
    per draw (most of an AIS step). Four 16-bit lanes of one random int64 cost a quarter
    of that. Each probability is resolved to 1/65536, far below AIS's own noise."""
    n = p.numel()
    bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=p.device)
    bits.random_(-(2**63), 2**63 - 1, generator=generator)
    u = bits.view(torch.int16)[:n].view(p.shape).to(p.dtype)  # -32768 .. 32767
    return (u + 32768.5 < p * 65536).to(p.dtype)


def ais_betas(n: int) -> torch.Tensor:
    """Inverse temperatures 0 = b_0 < ... < b_n = 1, denser near 1, where the
    intermediate distributions change fastest (in the spirit of Salakhutdinov & Murray
    2008; the shares here are 10% of the steps up to 0.5, 40% from 0.5 to 0.9 and 50%
    from 0.9 to 1; benchmarks/RESULTS.md has the measured bias)."""
    n1, n2 = max(1, n // 10), max(1, (4 * n) // 10)
    n3 = max(1, n - n1 - n2)
    return torch.cat([torch.linspace(0, 0.5, n1 + 1)[:-1], torch.linspace(0.5, 0.9, n2 + 1)[:-1],
                      torch.linspace(0.9, 1.0, n3 + 1)])


class RnnRbm(RecurrentContext, nn.Module):
    family = "rnn_rbm"
    config_class = RnnRbmConfig
    # what it declares (models/__init__.py): the representation it reads, how it samples
    representation = "pianoroll"
    sampler = "frames"
    primes = False
    likelihood = "ais"
    gibbs_sampling = True
    autocast = False  # the CD cost, a difference of nearly equal free energies, needs fp32
    attends = False

    def __init__(self, config: RnnRbmConfig):
        super().__init__()
        self.config = c = config
        self.rnn = FrameRNN(c.n_visible, c.rnn_hidden, c.cell, c.num_layers, c.dropout,
                            c.inputs, c.position_dim, c.proposal_keys)
        self.W = nn.Parameter(torch.randn(c.rbm_hidden, c.n_visible) * 0.01)
        self.to_bv = nn.Linear(c.rnn_hidden, c.n_visible)  # its bias is the static b_v
        self.to_bh = nn.Linear(c.rnn_hidden, c.rbm_hidden)  # its bias is the static b_h
        self.eval_ais = (c.ais_chains, c.ais_betas)  # what loss() uses when not training
        self.eval_seed = 0  # seed of the random numbers loss() uses when not training

    # --- the RBM -------------------------------------------------------------------------
    def conditionals(self, context: torch.Tensor):
        """context (..., R) -> the RBM's biases (b_v (..., V), b_h (..., H))."""
        return self.to_bv(context), self.to_bh(context)

    def free_energy(self, v, bv, bh) -> torch.Tensor:
        """F(v) = -b_v.v - sum_j softplus(b_h + W v)_j, so p(v) = exp(-F(v)) / Z: (...,)."""
        return -(v * bv).sum(-1) - F.softplus(bh + v @ self.W.t()).sum(-1)

    def gibbs(self, v, bv, bh, steps: int, generator=None):
        """``steps`` rounds of h ~ p(h | v), v ~ p(v | h). Returns (last v, p(v | h) of the
        last round)."""
        p = v
        for _ in range(steps):
            h = _bernoulli(torch.sigmoid(bh + v @ self.W.t()), generator)
            p = torch.sigmoid(bv + h @ self.W)
            v = _bernoulli(p, generator)
        return v, p

    @torch.no_grad()
    def log_partition(self, bv, bh, chains: int = 100, betas: int = 1000, generator=None,
                      max_rows: int = 1 << 14) -> torch.Tensor:
        """AIS estimate of log Z for each row of biases (bv (N, V), bh (N, H)) -> (N,).

        The base distribution is the frame's own visible biases with W = 0 (keys
        independent, hidden units free: log Z_0 = sum softplus(b_v) + H log 2); the
        intermediate distributions scale W and b_h by beta. Unnormalised
        log p*_beta(v) = b_v.v + sum_j softplus(beta (b_h + W v)_j), so each weight
        update only needs x = b_h + W v. Exact in expectation for Z; log of the estimate
        is biased low by a little (Jensen), less with more chains and betas."""
        n, m = bv.shape[0], chains
        betas_t = ais_betas(betas).to(bv)
        out = torch.empty(n, dtype=bv.dtype, device=bv.device)
        step = max(1, max_rows // m)
        for s in range(0, n, step):
            b_v = bv[s : s + step].repeat_interleave(m, 0)  # (n*M, V)
            b_h = bh[s : s + step].repeat_interleave(m, 0)
            v = _bernoulli(torch.sigmoid(b_v), generator)
            log_w = torch.zeros(v.shape[0], dtype=bv.dtype, device=bv.device)
            for k in range(1, len(betas_t)):
                x = b_h + v @ self.W.t()
                log_w += (F.softplus(betas_t[k] * x) - F.softplus(betas_t[k - 1] * x)).sum(-1)
                h = _bernoulli(torch.sigmoid(betas_t[k] * x), generator)
                v = _bernoulli(torch.sigmoid(b_v + betas_t[k] * (h @ self.W)), generator)
            log_z0 = F.softplus(bv[s : s + step]).sum(-1) + self.config.rbm_hidden * math.log(2)
            log_w = log_w.view(-1, m)
            out[s : s + step] = log_z0 + torch.logsumexp(log_w, -1) - math.log(m)
        return out

    def chains(self, bv, bh, samples: int, steps: int, generator=None):
        """``samples`` Gibbs chains per row of biases, ``steps`` rounds each from the keys'
        independent biases: (last v, p(v | h) of the last round), each (samples, N, V)."""
        n = bv.shape[0]
        b_v, b_h = bv.repeat(samples, 1), bh.repeat(samples, 1)
        v0 = _bernoulli(torch.sigmoid(b_v), generator)
        v, p = self.gibbs(v0, b_v, b_h, steps, generator)
        return v.view(samples, n, -1), p.view(samples, n, -1)

    def marginals(self, bv, bh, samples: int, steps: int, generator=None) -> torch.Tensor:
        """P(key on | past) estimated as the mean of p(v | h) after ``steps`` Gibbs rounds
        in ``samples`` chains started from the keys' independent biases: (N, V)."""
        return self.chains(bv, bh, samples, steps, generator)[1].mean(0)

    def mode_frame(self, v, p, bv, bh) -> torch.Tensor:
        """The RBM's most probable frame, approximately: of the chains' last frames ``v``
        and the marginals ``p`` (both (samples, N, V), from :meth:`chains`) thresholded at
        0.5, the one with the lowest free energy (p(v) = exp(-F(v)) / Z, one Z per row):
        (N, V) of 0/1."""
        candidates = torch.cat([v, (p.mean(0) > 0.5).to(v.dtype)[None]])  # (S + 1, N, V)
        best = self.free_energy(candidates, bv, bh).argmin(0)  # (N,)
        return candidates.gather(0, best[None, :, None].expand(1, *bv.shape))[0]

    # --- the trainer's interface ---------------------------------------------------------
    @torch.no_grad()
    def start_key_biases(self, logits: torch.Tensor) -> None:
        """Set the static key biases (V,) before training, e.g. to the keys' log-odds."""
        self.to_bv.bias.copy_(logits)

    def loss(self, batch: dict) -> dict:
        """batch: frames (B, T, V) float 0/1, mask (B, T) bool (frames scored).

        Training: ``loss`` = mean CD-k cost F(v) - F(v~) over scored frames; ``recon`` =
        squared error of a one-step mean-field reconstruction (per frame). Not training:
        ``nll`` = F(v) + log Z (AIS, :attr:`eval_ais` = (chains, betas), a fixed seed so
        successive validations are compared on the same random numbers), the
        expected-accuracy counts and those of the predicted frame (``tp_pred/fp_pred/
        fn_pred``: :meth:`mode_frame` of the same chains)."""
        frames, mask = batch["frames"], batch["mask"]
        context = self.frame_contexts(frames, batch.get("inputs"))
        bv, bh = self.conditionals(context)
        v, bv, bh = frames[mask], bv[mask], bh[mask]  # (N, .)
        count = mask.sum()
        n = count.clamp(min=1)
        if self.training:
            with torch.no_grad():
                neg, _ = self.gibbs(v, bv.detach(), bh.detach(), self.config.cd_steps)
                h = torch.sigmoid(bh + v @ self.W.t())
                recon = ((torch.sigmoid(bv + h @ self.W) - v) ** 2).sum() / n
            cost = (self.free_energy(v, bv, bh) - self.free_energy(neg, bv, bh)).sum() / n
            return {"loss": cost, "recon": recon, "count": count}
        gen = torch.Generator(device=frames.device).manual_seed(self.eval_seed)
        chains, n_betas = self.eval_ais
        log_z = self.log_partition(bv, bh, chains, n_betas, generator=gen)
        nll = (self.free_energy(v, bv, bh) + log_z).sum() / n
        last, p_chains = self.chains(bv, bh, self.config.acc_samples, self.config.gibbs_steps,
                                     gen)
        counts = frame_accuracy_counts(p_chains.mean(0), v)
        counts |= predicted_frame_counts(self.mode_frame(last, p_chains, bv, bh), v)
        return {"loss": nll, "nll": nll, "count": count,
                **{k: x / n for k, x in counts.items()}}

    # --- generation (sampling/frames.py) -------------------------------------------------
    def frame_distribution(self, context):
        return self.conditionals(context)

    def draw(self, dist, generator=None, gibbs_steps: int | None = None, **_):
        """k Gibbs rounds from an empty frame (as the seed): (frame, p(v | h) of the last
        round)."""
        bv, bh = dist
        steps = gibbs_steps or self.config.gibbs_steps
        return self.gibbs(torch.zeros_like(bv), bv, bh, steps, generator)
