"""The DDP-shaped path: a single process with torch.distributed initialised (gloo, world size 1)
runs the same collectives a multi-GPU run does; random-number states round-trip."""

from __future__ import annotations

import random

from xldiag import jobs, runs
from xldiag.training import train
from xldiag.training.distributed import Ranks, rng_state, set_rng_state, setup

from training.tiny import make_triples, metric_lines, tiny_config


def test_single_process_ddp_path(tiny_model, tmp_path):
    """torch.distributed initialised (gloo, world size 1): DDP wrapping, all-reduce, gathered RNG."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rdzv'}", rank=0, world_size=1)
    try:
        ranks = setup(None)
        assert ranks.distributed and ranks.world == 1 and ranks.main and not ranks.owns_group
        run_dir = train(tiny_config(tiny_model, tmp_path / "run"), triples=make_triples(40))
        assert dist.is_initialized()  # a group the run did not create is left alone
    finally:
        dist.destroy_process_group()
    assert jobs.read_status(run_dir)["state"] == "finished"
    assert runs.read_config(run_dir)["resolved"]["world_size"] == 1
    assert len(metric_lines(run_dir)) == 5


def test_single_process_collectives_are_identities():
    import torch

    ranks = setup("cpu")
    assert ranks == Ranks(device="cpu")
    values = torch.tensor([2.0, 4.0, 1.0])
    assert ranks.reduce_step(values).tolist() == [2.0, 4.0, 1.0]
    assert ranks.gather({"a": 1}) == {"a": 1}
    module = torch.nn.Linear(2, 2)
    assert ranks.wrap(module, "cpu") is module
    ranks.barrier()
    ranks.close()


def test_the_rng_state_round_trips():
    import torch

    torch.manual_seed(5)
    random.seed(5)
    state = rng_state()
    first = (torch.rand(3).tolist(), random.random())
    torch.manual_seed(99)
    random.seed(99)
    set_rng_state(state)
    assert (torch.rand(3).tolist(), random.random()) == first
