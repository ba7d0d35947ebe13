"""Several processes, one run: the process group, this process's rank, the collective operations
the loop uses, and the random-number state a checkpoint keeps.

When `torch.distributed` is initialised — or the environment has WORLD_SIZE > 1, as set by
`torchrun` / `accelerate launch`, and we initialise it (NCCL on GPUs, gloo on CPU) — the encoder
is wrapped in DistributedDataParallel, every rank trains on its own batches, the logged values
are averaged over the ranks with one all-reduce per step, and rank 0 alone writes the run folder.
A single process takes the same code path with every collective a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from xldiag import config as settings


@dataclass
class Ranks:
    """This process's place in the run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"
    distributed: bool = False  # torch.distributed is initialised: DDP, all-reduce, rank 0 writes
    owns_group: bool = False  # initialised here, so destroyed here

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, module, device_type: str):
        """`module` in DistributedDataParallel when distributed, else itself."""
        if not self.distributed:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.local_rank] if device_type == "cuda" else None
        # static_graph: the graph is the same every step, and some weights never get a gradient
        # (e.g. BERT's unused pooler) — DDP handles both without a per-step search.
        return DistributedDataParallel(module, device_ids=ids, static_graph=True)

    def reduce_step(self, values):
        """One all-reduce of a step's values (a 1-D tensor): every entry but the last becomes the
        mean over the ranks, the last (a stop flag) the sum — any rank's stop stops them all."""
        if self.distributed:
            import torch.distributed as dist

            dist.all_reduce(values)
            values[:-1] /= self.world
        return values

    def gather(self, value) -> object:
        """Every rank's `value` as a list (rank order) when distributed, else `value` itself."""
        if not self.distributed:
            return value
        import torch.distributed as dist

        gathered = [None] * self.world
        dist.all_gather_object(gathered, value)
        return gathered

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        """Destroy the process group if it was created here."""
        if self.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()


def setup(device: str | None) -> Ranks:
    """This process's Ranks; initialises the process group from torchrun's / accelerate's
    environment when WORLD_SIZE > 1 and nobody has yet. `device`: the config's (None = auto)."""
    import torch
    import torch.distributed as dist

    owns_group = False
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and dist.is_available() and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() and device != "cpu" else "gloo")
        owns_group = True
    if not (dist.is_available() and dist.is_initialized()):
        return Ranks(device=settings.device(device))
    rank = dist.get_rank()
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if torch.cuda.is_available() and device != "cpu":
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    return Ranks(rank=rank, world=dist.get_world_size(), local_rank=local_rank, device=device or "cpu",
                 distributed=True, owns_group=owns_group)


def rng_state() -> dict:
    """The random-number states that dropout and shuffling draw from (torch, Python, CUDA)."""
    import random

    import torch

    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    import random

    import torch

    torch.set_rng_state(state["torch"])
    if "python" in state:
        random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
