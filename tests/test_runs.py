"""Run folders: config.json, the fresh-or-resume check, checkpoints, metrics.jsonl, listing."""

from __future__ import annotations

import json

import pytest

from xldiag import jobs, runs


def test_write_config_keeps_what_a_later_write_leaves_out(tmp_path):
    runs.write_config(tmp_path, {"model": "m"}, resolved={"lr": 2e-5}, data={"n_triples": 8})
    first = runs.read_config(tmp_path)
    assert first["kind"] == "training" and first["config"] == {"model": "m"} and first["created"]
    runs.write_config(tmp_path, {"model": "m", "epochs": 2})  # e.g. a resume: options only
    second = runs.read_config(tmp_path)
    assert second["config"]["epochs"] == 2 and second["resolved"] == {"lr": 2e-5}
    assert second["data"] == {"n_triples": 8} and second["created"] == first["created"]
    assert runs.read_config(tmp_path / "none") == {}


def test_the_fresh_or_resume_check(tmp_path):
    runs.check_run_dir(tmp_path / "new", resume=False)  # nothing there: a new run may start
    with pytest.raises(FileNotFoundError, match="Nothing to resume .* no config.json"):
        runs.check_run_dir(tmp_path / "new", resume=True)
    used = tmp_path / "used"
    runs.write_config(used, {"model": "m"})
    runs.check_run_dir(used, resume=False)  # a config alone (a launch that never ran) is not a run yet
    runs.checkpoint_dir(used, 4).mkdir(parents=True)
    jobs.write_status(used, {"state": "stopped"})
    with pytest.raises(runs.RunExistsError, match=r"already holds a run \(state: stopped; has checkpoints\)"):
        runs.check_run_dir(used, resume=False)
    runs.check_run_dir(used, resume=True)


def test_only_complete_checkpoints_are_listed_oldest_first(tmp_path):
    for step in (10, 2, 5):
        runs.checkpoint_dir(tmp_path, step).mkdir(parents=True)
        if step != 5:  # step 5 was being written when the run died: no trainer state
            (runs.checkpoint_dir(tmp_path, step) / runs.TRAINER_STATE).write_bytes(b"x")
    (tmp_path / "checkpoints" / "step-x").mkdir()
    assert runs.list_checkpoints(tmp_path) == [(2, runs.checkpoint_dir(tmp_path, 2)),
                                               (10, runs.checkpoint_dir(tmp_path, 10))]
    assert runs.list_checkpoints(tmp_path / "none") == []


def test_read_metrics_skips_a_half_written_line(tmp_path):
    lines = [json.dumps({"step": s, "loss": 1.0 / s}) for s in (1, 2)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n" + '{"step": 3, "lo')
    frame = runs.read_metrics(tmp_path)
    assert list(frame["step"]) == [1, 2] and "grad_norm" in frame.columns
    assert runs.read_metrics(tmp_path / "none").empty


def test_truncate_metrics_drops_the_steps_a_resume_redoes(tmp_path):
    lines = [json.dumps({"step": s, "loss": 1.0 / s}) for s in (1, 2, 3, 4)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n" + "not json\n" + '{"step": 5')
    runs.truncate_metrics(tmp_path, 2)
    assert (tmp_path / "metrics.jsonl").read_text() == lines[0] + "\n" + lines[1] + "\n"
    runs.truncate_metrics(tmp_path / "none", 2)  # nothing to do


def test_list_runs_reads_config_and_status_newest_first(tmp_path):
    for name, created, state in (("old", "2025-01-01", "finished"), ("new", "2026-01-01", "failed")):
        runs.write_config(tmp_path / name, {"model": "m", "langs": ["zh", "ar"], "loss": "no-jsd"})
        record = runs.read_config(tmp_path / name)
        (tmp_path / name / "config.json").write_text(json.dumps({**record, "created": created}))
        jobs.write_status(tmp_path / name, {"kind": "training", "state": state, "step": 3, "error": None})
    (tmp_path / "old" / "comparison.csv").write_text("dataset\n")
    jobs.write_status(tmp_path / "an-eval", {"kind": "evaluation", "state": "finished"})  # a job, not a run
    frame = runs.list_runs(tmp_path)
    assert list(frame["name"]) == ["new", "old"] and list(frame["state"]) == ["failed", "finished"]
    assert list(frame["langs"]) == ["zh,ar", "zh,ar"] and list(frame["has_comparison"]) == [False, True]
    assert list(frame.columns) == runs.LIST_COLUMNS
    assert runs.list_runs(tmp_path / "none").empty


def test_runs_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("XLDIAG_RUNS_DIR", str(tmp_path / "myruns"))
    assert runs.runs_root() == (tmp_path / "myruns").resolve()
    monkeypatch.delenv("XLDIAG_RUNS_DIR")
    monkeypatch.setenv("XLDIAG_CACHE_DIR", str(tmp_path / "cache"))
    assert runs.runs_root() == (tmp_path / "cache" / "runs").resolve()


def test_safe_name():
    assert runs.safe_name("my run: zh/ar") == "my-run-zh-ar"
    assert runs.safe_name("e5_small-v1.2") == "e5_small-v1.2"
    assert runs.safe_name("x" * 100, limit=40) == "x" * 40
