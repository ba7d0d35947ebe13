"""xldiag.cli: every command module registered (none skipped), one-line errors, and `eval`
running as a job in its --out folder."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from xldiag import cli, jobs
from xldiag.vocab import STATUS_FILE


def test_every_command_is_registered():
    assert "{eval,fixes,train,data,model,runs,views}" in cli.build_parser().format_usage()
    assert [c.__name__.rsplit(".", 1)[-1] for c in cli.COMMANDS] == [f"{n}_cmd" for n in
                                                                    ("eval", "fixes", "train", "data", "model", "runs",
                                                                     "views")]


def test_eval_runs_as_a_job_in_its_folder(default_model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["eval", "--langs", "de", "--scenarios", "multi", "--limit", "5", "--out", str(out)]) == 0
    assert "### multi" in capsys.readouterr().out
    status = json.loads((out / STATUS_FILE).read_text())
    assert status["kind"] == "evaluation" and status["state"] == "finished" and status["fraction"] == 1.0
    assert status["language_sets"] == ["en+de"] and status["scenarios"] == ["multi"] and status["limit"] == 5
    assert jobs.lock_owner(out) is None  # released


def test_a_typo_is_one_line_and_leaves_no_job_folder(tmp_path, capsys):
    out = tmp_path / "bad"
    assert cli.main(["eval", "--scenarios", "multi,bogus", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Unknown scenario") and "Traceback" not in err
    assert not out.exists()


def test_a_job_already_running_in_the_folder_is_an_error(tmp_path, capsys):
    out = tmp_path / "busy"
    with jobs.Job(out, "evaluation"):
        assert cli.main(["eval", "--langs", "de", "--limit", "5", "--out", str(out)]) == 2
    assert "is in use by PID" in capsys.readouterr().err


def test_a_stop_request_ends_with_its_own_exit_code(monkeypatch, capsys):
    def stopped(args):
        raise jobs.StopRequested("stop requested for /x")

    def register(subparsers):
        subparsers.add_parser("stopping").set_defaults(func=stopped)

    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, SimpleNamespace(register=register)))
    assert cli.main(["stopping"]) == cli.STOPPED_EXIT
    assert capsys.readouterr().err == "stopped: stop requested for /x\n"


@pytest.mark.parametrize("argv", [["--help"], ["eval", "--help"]])
def test_help_works(argv, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    assert done.value.code == 0 and "usage:" in capsys.readouterr().out
