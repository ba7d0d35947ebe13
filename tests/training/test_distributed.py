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


def test_two_processes_under_torchrun(tiny_model, tmp_path):
    """Two CPU ranks (gloo) through `torchrun`, as a multi-GPU run is started: each rank trains on its
    own batches, rank 0 alone writes the folder, the steps are shared evenly, the RNG is gathered."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from xldiag.data import write_triples_jsonl

    data = write_triples_jsonl(make_triples(48), tmp_path / "triples.jsonl")
    root = Path(__file__).resolve().parent.parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "xldiag",
         "train", "--model", str(tiny_model), "--data", str(data), "--langs", "de,zh", "--batch-size", "8",
         "--lr", "1e-3", "--no-eval", "--threads", "1", "--device", "cpu", "--save-every", "2",
         "--out", str(tmp_path / "run")], capture_output=True, text=True, env=env, timeout=300, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "run"
    status, resolved = jobs.read_status(run_dir), runs.read_config(run_dir)["resolved"]
    assert status["state"] == "finished" and status["world_size"] == 2
    assert resolved["world_size"] == 2 and resolved["global_batch_size"] == 16
    assert resolved["n_batches"] == 6 and resolved["total_steps"] == 3  # 48 triples → 6 batches of 8 → 3 per rank
    lines = metric_lines(run_dir)
    assert [r["step"] for r in lines] == [1, 2, 3] and {r["batch_size"] for r in lines} == {16}
    assert proc.stderr.count("checkpoint step-2") == 1  # rank 0 alone logs and writes
    assert not (run_dir / "checkpoints").exists() and (run_dir / "final" / "xldiag_manifest.json").exists()
