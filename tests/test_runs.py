"""Run folders read back by another process: detached launch, status, live metrics, stop, resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xldiag import runs
from xldiag.train import TrainConfig

from test_train import make_triples, tiny_model  # noqa: F401  (tiny_model is a fixture)


def _config(tiny_model, tmp_path, name, n_triples, batch_size=8, **kw) -> TrainConfig:
    from xldiag.data import write_triples_jsonl

    data = write_triples_jsonl(make_triples(n_triples), tmp_path / f"{name}.jsonl")
    return TrainConfig(model=str(tiny_model), data=str(data), langs=["de", "zh"], batch_size=batch_size,
                       out=str(tmp_path / name), eval=False, lr=1e-3, threads=1, **kw)


def test_detached_run_is_read_back_from_its_folder(tiny_model, tmp_path):
    run_dir = runs.launch_training(_config(tiny_model, tmp_path, "run", 32))
    assert run_dir == (tmp_path / "run").resolve()
    first = runs.read_status(run_dir)
    assert first["state"] in ("queued", "running")
    status = runs.wait(run_dir, timeout=240)
    assert status["state"] == "finished", runs.tail_log(run_dir)
    metrics = runs.read_metrics(run_dir)
    assert list(metrics["step"]) == [1, 2, 3, 4]
    assert "finished" in runs.tail_log(run_dir)
    listed = runs.list_runs(tmp_path)
    assert list(listed["name"]) == ["run"] and listed.loc[0, "state"] == "finished"
    assert listed.loc[0, "step"] == 4 and listed.loc[0, "loss_mode"] == "full"
    # a second launch into the same folder is refused (it holds a run)
    with pytest.raises(FileExistsError, match="already holds a run"):
        runs.launch_training(_config(tiny_model, tmp_path, "run", 32))


def test_stop_a_detached_run_then_resume_it(tiny_model, tmp_path):
    cfg = _config(tiny_model, tmp_path, "long", 240, batch_size=2, save_every=1000)
    run_dir = runs.launch_training(cfg)
    deadline = time.monotonic() + 240
    while runs.read_metrics(run_dir).empty:  # live curve: lines appear while the run goes on
        assert time.monotonic() < deadline and runs.read_status(run_dir)["state"] in ("queued", "running"), \
            runs.tail_log(run_dir)
        time.sleep(0.05)
    runs.request_stop(run_dir)
    status = runs.wait(run_dir, timeout=120)
    assert status["state"] == "stopped", runs.tail_log(run_dir)
    stopped_at = status["step"]
    assert 1 <= stopped_at < 120
    assert (run_dir / "checkpoints" / f"step-{stopped_at}").is_dir()
    runs.launch_training(cfg, resume=True)
    status = runs.wait(run_dir, timeout=240)
    assert status["state"] == "finished", runs.tail_log(run_dir)
    steps = list(runs.read_metrics(run_dir)["step"])
    assert steps == list(range(1, 121))
    assert f"resuming from step-{stopped_at}" in runs.tail_log(run_dir, 200)


def test_launch_refuses_a_folder_in_use(tiny_model, tmp_path):
    cfg = _config(tiny_model, tmp_path, "busy", 16)
    with runs.RunLock(tmp_path / "busy"):
        assert runs.lock_owner(tmp_path / "busy")["pid"] == os.getpid()
        with pytest.raises(runs.RunLockedError, match="in use"):
            runs.launch_training(cfg)
    assert runs.lock_owner(tmp_path / "busy") is None


def test_read_status_detects_a_dead_owner(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    runs.write_status(tmp_path, {"state": "running", "pid": dead.pid, "step": 3})
    status = runs.read_status(tmp_path)
    assert status["state"] == "failed" and status["alive"] is False
    assert "exited without reporting" in status["error"]
    runs.write_status(tmp_path, {"state": "running", "pid": os.getpid(), "step": 3})
    assert runs.read_status(tmp_path)["state"] == "running"
    assert runs.read_status(tmp_path / "nothing")["state"] == "unknown"


def test_read_metrics_skips_a_half_written_line(tmp_path):
    lines = [json.dumps({"step": s, "loss": 1.0 / s}) for s in (1, 2)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n" + '{"step": 3, "lo')
    frame = runs.read_metrics(tmp_path)
    assert list(frame["step"]) == [1, 2] and "grad_norm" in frame.columns
    assert runs.read_metrics(tmp_path / "none").empty


def test_runs_cli(tmp_path, capsys):
    from xldiag.cli import main

    run_dir = tmp_path / "r1"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"kind": "training", "created": "2026-01-01",
                                                     "config": {"model": "m", "langs": ["zh"], "loss": "full"}}))
    runs.write_status(run_dir, {"state": "finished", "step": 5, "total_steps": 5})
    assert main(["runs", "list", "--root", str(tmp_path)]) == 0
    assert "r1" in capsys.readouterr().out
    assert main(["runs", "stop", str(run_dir)]) == 0
    assert runs.stop_requested(run_dir)


def test_runs_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("XLDIAG_RUNS_DIR", str(tmp_path / "myruns"))
    assert runs.runs_root() == (tmp_path / "myruns").resolve()
    out = TrainConfig(model="intfloat/multilingual-e5-small", langs=["zh", "ar"], loss="no-jsd").resolve_out()
    assert out.parent == (tmp_path / "myruns").resolve()
    assert out.name.endswith("-multilingual-e5-small-zh-ar-no-jsd")
