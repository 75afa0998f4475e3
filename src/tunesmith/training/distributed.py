"""Several processes, one run: what torchrun tells a process, the process group, how a
step's batch is shared out, and the few collectives the trainer needs.

``torchrun --nproc-per-node N -m tunesmith train ...`` starts N processes with ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` (and the rendezvous address) in their environment. The
CLI, which owns its process, joins them in one process group for the length of the
command (:func:`process_group`: gloo for CPU tensors, NCCL for CUDA tensors); everything
below it only reads :func:`current`. With no torchrun, or with one process, there is no
process group, every collective here is the identity, and the trainer runs as it always
did.

How a step's work is shared (:class:`Share`): the global batch of step ``s`` is the batch
source's ``batch(s)``, a pure function of the step; rank ``r`` of ``W`` takes rows
``[r * B/W, (r + 1) * B/W)`` of it and, with gradient accumulation ``K``, cuts those
into ``K`` micro-batches of ``B / (W K)`` rows. The union over ranks and micro-batches is
the global batch whatever ``W`` and ``K`` are, so a run's losses do not depend on how many
processes ran it (the trainer weights each micro-batch by the tokens it counts), and
resuming needs no sampler state. Drawing the whole global batch on every rank costs little
next to the model (indexing an array of token ids or frames).

Randomness inside the model (dropout, an RBM's Gibbs chains) is drawn by each rank from
its own generator (:func:`rank_seed`), so it is not the same draws as one process makes:
with dropout or a sampled loss, runs on different numbers of processes agree in
distribution, not number for number. Each rank's generator state is kept in the
checkpoint, so a resumed run on the same number of processes repeats the uninterrupted one.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from tunesmith.errors import OptionError

TIMEOUT = timedelta(minutes=60)  # rank 0 may prepare a large corpus while the others wait


@dataclass(frozen=True)
class Ranks:
    """Where this process stands: ``rank`` of ``world`` processes, ``local_rank`` on its
    machine (its GPU's index)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0


def from_env(environ: Mapping[str, str] = os.environ) -> Ranks:
    """The ranks torchrun puts in the environment (one process without them)."""
    try:
        ranks = Ranks(int(environ.get("RANK", 0)), int(environ.get("WORLD_SIZE", 1)),
                      int(environ.get("LOCAL_RANK", 0)))
    except ValueError:
        raise OptionError("", "RANK, WORLD_SIZE and LOCAL_RANK must be integers (they come "
                          "from torchrun)") from None
    if not (ranks.world >= 1 and 0 <= ranks.rank < ranks.world and ranks.local_rank >= 0):
        raise OptionError("", f"torchrun's environment is inconsistent: {ranks}")
    return ranks


def restarts(environ: Mapping[str, str] = os.environ) -> int:
    """How many times torchrun has restarted this job (``--max-restarts``): a restarted
    job continues its run from the last checkpoint."""
    try:
        return int(environ.get("TORCHELASTIC_RESTART_COUNT", 0))
    except ValueError:
        return 0


def current() -> Ranks:
    """This process's ranks in the joined process group (one process when none)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return Ranks()
    return Ranks(dist.get_rank(), dist.get_world_size(), from_env().local_rank)


@contextmanager
def process_group(environ: Mapping[str, str] = os.environ,
                  device: str | None = None) -> Iterator[Ranks]:
    """Join torchrun's processes for the duration (nothing to join with one process).

    ``device`` is the run's ``--device`` when the caller knows it (None: not yet known,
    as for the CLI, which joins before it reads the run's settings). A CPU run uses plain
    gloo. Otherwise, where CUDA and NCCL exist, collectives on CPU tensors go through gloo
    and those on CUDA tensors through NCCL, so the same group serves a CPU run and a GPU
    run (NCCL makes nothing until the first collective on a CUDA tensor). Nothing here
    touches a GPU: a CUDA run's rank takes ``cuda:LOCAL_RANK`` in :func:`local_device`,
    so ``--device cpu`` may start more processes than the machine has GPUs. A process
    group is process-wide: only a front end that owns its process (the CLI) opens one."""
    import torch.distributed as dist

    ranks = from_env(environ)
    if ranks.world == 1 or dist.is_initialized():
        yield current()
        return
    backend = group_backend(device)
    # torchrun's store outlives a restart (the static rendezvous keeps one TCPStore), and
    # gloo would read the dead round's addresses from it: each round gets its own keys
    store, rank, world = next(dist.rendezvous("env://", timeout=TIMEOUT))
    store = dist.PrefixStore(f"tunesmith/restart-{restarts(environ)}", store)
    dist.init_process_group(backend, store=store, rank=rank, world_size=world,
                            timeout=TIMEOUT)
    try:
        yield current()
        # a rank that left while another still sent would end that one's gloo pair
        dist.barrier()
    finally:
        dist.destroy_process_group()
        del store
        # The group lives on in whatever still holds it (a DDP wrapper in a reference
        # cycle); if interpreter shutdown frees it, gloo's threads are destroyed still
        # joinable and the process aborts ("terminate called without an active
        # exception") after a successful run. Free it now, while the runtime is whole.
        gc.collect()


def group_backend(device: str | None) -> str:
    """The backend of the process group of a run on ``device`` (None: not yet known)."""
    import torch
    import torch.distributed as dist

    cpu = device is not None and not device.startswith(("cuda", "auto"))
    if cpu or not (torch.cuda.is_available() and dist.is_nccl_available()):
        return "gloo"
    return "cpu:gloo,cuda:nccl"


def local_device(device, ranks: Ranks):
    """The device of this rank: a GPU run puts rank ``r`` on ``cuda:LOCAL_RANK`` (and
    makes it the process's current GPU, which NCCL uses); a CPU run leaves the GPUs
    alone, however many processes it has."""
    import torch

    if ranks.world == 1 or device.type != "cuda":
        return device
    if device.index not in (None, ranks.local_rank):
        raise OptionError("device", f"{device} with torchrun: each process takes the GPU of "
                          "its LOCAL_RANK; pass --device cuda")
    if ranks.local_rank >= torch.cuda.device_count():
        raise OptionError("device", f"cuda with LOCAL_RANK {ranks.local_rank}: this machine "
                          f"has {torch.cuda.device_count()} GPU(s); start at most that many "
                          "processes per machine (--nproc-per-node), or pass --device cpu")
    torch.cuda.set_device(ranks.local_rank)
    return torch.device("cuda", ranks.local_rank)


def backend(device, ranks: Ranks) -> str | None:
    """What carries the gradients between processes (None for one process)."""
    if ranks.world == 1:
        return None
    return "nccl" if device.type == "cuda" else "gloo"


def rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """The seed of rank ``rank``'s generator: rank 0 keeps the run's seed (one process
    draws as it always did), the others get their own streams; ``step`` > 0 for a rank
    that joins a resumed run with no state of its own in the checkpoint."""
    if rank == 0 and step == 0:
        return seed
    import numpy as np

    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1)[0])


@dataclass(frozen=True)
class Share:
    """How one step's global batch of ``batch_size`` rows is cut: ``world`` ranks, each
    with ``accum`` micro-batches (see the module docstring)."""

    batch_size: int
    world: int = 1
    accum: int = 1

    def __post_init__(self):
        if self.accum < 1:
            raise OptionError("grad_accum", f"must be >= 1, got {self.accum}")
        parts = self.world * self.accum
        if self.batch_size % parts:
            raise OptionError("batch_size", f"{self.batch_size} does not split into "
                              f"{self.world} process(es) x {self.accum} accumulation "
                              f"step(s); use a multiple of {parts}")

    @property
    def parts(self) -> int:
        return self.world * self.accum

    @property
    def per_rank(self) -> int:
        return self.batch_size // self.world

    @property
    def micro(self) -> int:
        return self.batch_size // self.parts

    def rows(self, rank: int) -> list[slice]:
        """The global batch's rows that rank ``rank`` computes, one slice per
        micro-batch."""
        first = rank * self.per_rank
        return [slice(first + m * self.micro, first + (m + 1) * self.micro)
                for m in range(self.accum)]

    def record(self, ranks: Ranks, device) -> dict:
        """How the run was launched, for its ``config.json``."""
        return {"world_size": ranks.world, "backend": backend(device, ranks),
                "global_batch": self.batch_size, "per_rank_batch": self.per_rank,
                "grad_accum": self.accum, "micro_batch": self.micro}


def take(batch: dict, rows: slice) -> dict:
    """Rows of a batch (every tensor of a training batch has the batch first)."""
    if rows.start == 0 and rows.stop == len(next(iter(batch.values()))):
        return batch  # one process, one micro-batch: the batch itself
    return {k: v[rows] for k, v in batch.items()}


def shard(batches: Iterable, ranks: Ranks) -> Iterator:
    """Every ``world``-th item, from the ``rank``-th: this rank's share of an iterable."""
    for i, item in enumerate(batches):
        if i % ranks.world == ranks.rank:
            yield item


def lost_peer(error: BaseException) -> bool:
    """Whether an error is a collective that failed because another process went away."""
    import torch.distributed as dist

    text = str(error).lower()
    return (isinstance(error, getattr(dist, "DistError", ())) or "gloo" in text
            or "nccl" in text or "connection closed by peer" in text
            or "connection reset by peer" in text)


# --- collectives: each the identity with one process ----------------------------------

def _active() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_sum(tensor):
    """Sum a tensor over the ranks, in place (gloo for CPU, NCCL for CUDA)."""
    if _active():
        import torch.distributed as dist

        dist.all_reduce(tensor)
    return tensor


def gather(obj) -> list:
    """Every rank's ``obj`` (picklable), in rank order, on every rank."""
    if not _active():
        return [obj]
    import torch.distributed as dist

    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def from_main(obj):
    """Rank 0's ``obj`` on every rank: one decision, taken once."""
    if not _active():
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if _active():
        import torch.distributed as dist

        dist.barrier()


@contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block before the others do (it fills caches and finishes
    interrupted writes that the others then only read)."""
    ranks = current()
    if not ranks.main:
        barrier()
    try:
        yield
    finally:
        if ranks.main:
            barrier()
