"""`python -m xldiag runs list|status|stop` on training run folders and on other job folders."""

from __future__ import annotations

import json

from xldiag import jobs, runs


def test_runs_cli_lists_shows_and_stops_a_run(tmp_path, capsys):
    from xldiag.cli import main

    run_dir = tmp_path / "r1"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"kind": "training", "created": "2026-01-01",
                                                     "config": {"model": "m", "langs": ["zh"], "loss": "full"}}))
    jobs.write_status(run_dir, {"state": "finished", "step": 5, "total_steps": 5})
    (run_dir / "metrics.jsonl").write_text(json.dumps({"step": 5, "loss": 0.25, "lr": 1e-5}) + "\n")
    assert main(["runs", "list", "--root", str(tmp_path)]) == 0
    assert "r1" in capsys.readouterr().out
    assert main(["runs", "status", str(run_dir)]) == 0
    shown = capsys.readouterr().out
    assert '"state": "finished"' in shown and "0.25" in shown
    assert main(["runs", "stop", str(run_dir)]) == 0
    assert jobs.StopSignals(run_dir).requested() == "stop file"
    assert "can be resumed with --resume" in capsys.readouterr().err


def test_status_and_stop_work_for_an_evaluation_job_too(tmp_path, capsys):
    from xldiag.cli import main

    folder = tmp_path / "eval"
    jobs.write_status(folder, {"kind": "evaluation", "state": "finished", "message": "Done"})
    assert main(["runs", "status", str(folder)]) == 0
    assert '"kind": "evaluation"' in capsys.readouterr().out
    assert main(["runs", "stop", str(folder)]) == 0
    assert "next progress check" in capsys.readouterr().err and (folder / "STOP").exists()
    assert runs.list_runs(tmp_path).empty  # an evaluation is not a training run
    assert main(["runs", "status", str(tmp_path / "none")]) == 2
