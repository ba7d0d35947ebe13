"""A training run launched as a detached job and read back from its folder by another process:
status, live metrics, job.log, stop, resume."""

from __future__ import annotations

import os
import time

import pytest

from xldiag import jobs, runs
from xldiag.training import TrainConfig, launch

from training.tiny import make_triples


def _config(tiny_model, tmp_path, name, n_triples, batch_size=8, **kw) -> TrainConfig:
    from xldiag.data import write_triples_jsonl

    data = write_triples_jsonl(make_triples(n_triples), tmp_path / f"{name}.jsonl")
    return TrainConfig(model=str(tiny_model), data=str(data), langs=["de", "zh"], batch_size=batch_size,
                       out=str(tmp_path / name), eval=False, lr=1e-3, threads=1, **kw)


def test_detached_run_is_read_back_from_its_folder(tiny_model, tmp_path):
    run_dir = launch(_config(tiny_model, tmp_path, "run", 32))
    assert run_dir == (tmp_path / "run").resolve()
    first = jobs.read_status(run_dir)
    assert first["state"] in ("queued", "running") and first["kind"] == "training"
    status = jobs.wait(run_dir, timeout=240)
    assert status["state"] == "finished", jobs.tail_log(run_dir)
    assert status["command"][-6:] == ["train", "--config", str(run_dir / "config.json"), "--out", str(run_dir),
                                      "--keep-stop-request"]
    metrics = runs.read_metrics(run_dir)
    assert list(metrics["step"]) == [1, 2, 3, 4]
    assert (run_dir / "job.log").exists() and "finished" in jobs.tail_log(run_dir)
    listed = runs.list_runs(tmp_path)
    assert list(listed["name"]) == ["run"] and listed.loc[0, "state"] == "finished"
    assert listed.loc[0, "step"] == 4 and listed.loc[0, "loss_mode"] == "full"
    # a second launch into the same folder is refused (it holds a run)
    with pytest.raises(FileExistsError, match="already holds a run"):
        launch(_config(tiny_model, tmp_path, "run", 32))


def test_stop_a_detached_run_then_resume_it(tiny_model, tmp_path):
    cfg = _config(tiny_model, tmp_path, "long", 240, batch_size=2, save_every=1000)
    run_dir = launch(cfg)
    deadline = time.monotonic() + 240
    while runs.read_metrics(run_dir).empty:  # live curve: lines appear while the run goes on
        assert time.monotonic() < deadline and jobs.read_status(run_dir)["state"] in ("queued", "running"), \
            jobs.tail_log(run_dir)
        time.sleep(0.05)
    jobs.request_stop(run_dir)
    status = jobs.wait(run_dir, timeout=120)
    assert status["state"] == "stopped", jobs.tail_log(run_dir)
    stopped_at = status["step"]
    assert 1 <= stopped_at < 120
    assert (run_dir / "checkpoints" / f"step-{stopped_at}").is_dir()
    launch(cfg, resume=True)
    status = jobs.wait(run_dir, timeout=240)
    assert status["state"] == "finished", jobs.tail_log(run_dir)
    steps = list(runs.read_metrics(run_dir)["step"])
    assert steps == list(range(1, 121))
    assert f"resuming from step-{stopped_at}" in jobs.tail_log(run_dir, 200)


def test_launch_refuses_a_folder_in_use_and_writes_nothing_there(tiny_model, tmp_path):
    cfg = _config(tiny_model, tmp_path, "busy", 16)
    with jobs.Lock(tmp_path / "busy"):
        assert jobs.lock_owner(tmp_path / "busy")["pid"] == os.getpid()
        with pytest.raises(jobs.JobLockedError, match="in use"):
            launch(cfg)
        assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["lock"]
    assert jobs.lock_owner(tmp_path / "busy") is None


def test_launch_checks_the_options_and_the_folder_first(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="--batch-size must be at least 2"):
        launch(_config(tiny_model, tmp_path, "bad", 16, batch_size=1))
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ValueError, match="Unknown training option"):
        launch({"model": str(tiny_model), "out": str(tmp_path / "x"), "colour": "red"})
    with pytest.raises(FileNotFoundError, match="Nothing to resume"):
        launch(_config(tiny_model, tmp_path, "empty", 16), resume=True)
