"""Evaluations as jobs: the dashboard's launch is `python -m xldiag eval ...` started through
xldiag.jobs. Real detached processes on real XQuAD data with the embedded default model: one
runs to the end and is read back through the store; one is stopped while it runs."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest

from xldiag import cli, jobs
from xldiag.commands.eval_cmd import spec_from_args
from xldiag.evaluate import EvalSpec, evaluate
from xldiag.results import launch, listing, store
from xldiag.vocab import CONFIG_FILE, EVALS_DIR_ENV, LOG_FILE, RUNS_DIR_ENV, STATUS_FILE

TIMEOUT = 300  # seconds: a cold start of the child (imports, model load) on a busy 2-core machine


@pytest.fixture()
def evals(tmp_path, monkeypatch):
    monkeypatch.setenv(EVALS_DIR_ENV, str(tmp_path / "evals"))
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path / "runs"))
    return tmp_path / "evals"


@pytest.mark.parametrize("spec", [
    EvalSpec(),
    EvalSpec(model="/x/runs/r1/final", dataset="belebele", language_sets=(("en", "ar"), ("de", "zh"),
             ("en", "de", "zh")), scenarios=("multi", "mono-cross"), construction="per-question",
             ties=("optimistic", "pessimistic"), limit=30, data_dir="/data", trust_remote_code=True),
])
def test_the_launched_command_describes_the_spec(spec, tmp_path):
    argv = launch.eval_argv(spec, tmp_path / "out")
    assert argv[0] == "eval" and argv[-2:] == ["--out", str(tmp_path / "out")]
    args = cli.build_parser().parse_args(argv)
    assert spec_from_args(args) == spec  # what the child evaluates is what was asked for


def test_eval_argv_reads_like_a_user_typed_it(tmp_path):
    spec = EvalSpec(language_sets=(("en", "zh"), ("en", "ar"), ("de", "zh")), limit=5)
    argv = launch.eval_argv(spec, tmp_path)
    assert argv[argv.index("--langs") + 1] == "zh,ar,de+zh"
    assert argv[argv.index("--limit") + 1] == "5" and "--trust-remote-code" not in argv


def test_eval_spec_reads_form_values_as_evaluate_does():
    spec = launch.eval_spec(model="m", langs=["ar", "de+zh"], scenarios="multi, mono-cross",
                            ties="optimistic,pessimistic", limit=7, data_dir="/d")
    assert spec == EvalSpec(model="m", language_sets=(("en", "ar"), ("de", "zh")), scenarios=("multi", "mono-cross"),
                            ties=("optimistic", "pessimistic"), limit=7, data_dir="/d")
    assert launch.eval_spec().scenarios == EvalSpec().scenarios and launch.eval_spec(langs="zh") == EvalSpec()


def test_a_bad_spec_is_refused_before_anything_starts(evals):
    with pytest.raises(ValueError, match="Unknown scenario"):
        launch.launch_evaluation(EvalSpec(scenarios=("bogus",)), evals / "bad")
    assert not (evals / "bad").exists()


def test_launch_runs_the_eval_command_and_the_store_reads_it_back(evals, default_model_dir, data_dir):
    spec = EvalSpec(model="default", dataset="xquad", language_sets=(("en", "de"),), scenarios=("multi",),
                    limit=5, data_dir=str(data_dir))
    out = launch.launch_evaluation(spec, evals / "de-5")
    queued = json.loads((out / STATUS_FILE).read_text())
    assert queued["kind"] == "evaluation" and queued["language_sets"] == ["en+de"] and queued["limit"] == 5
    assert queued["command"][1:] == ["-m", "xldiag", *launch.eval_argv(spec, out)]
    status = jobs.wait(out, timeout=TIMEOUT)
    assert status["state"] == "finished", jobs.tail_log(out)
    assert status["fraction"] == 1.0 and status["pool"] == "unique"
    run = store.load_eval(out, per_query=True)
    assert run.config["language_sets"] == ["en+de"] and run.config["limit"] == 5
    assert len(run.summary) == 2 and len(run.per_query) == 10  # multi, en and de queries, 5 each
    # the same spec evaluated in this process gives the same summary
    here = evaluate(model="default", dataset="xquad", langs="de", scenarios=["multi"], limit=5)
    pd.testing.assert_frame_equal(run.summary_all, here[list(run.summary_all.columns)], check_dtype=False)
    row = listing.list_evaluations().set_index("name").loc["de-5"]
    assert row["state"] == "complete" and row["langs"] == ["de", "en"]
    assert "launch: " in (out / LOG_FILE).read_text()
    with pytest.raises(jobs.JobLockedError):  # while a job holds the folder, a second one is refused
        with jobs.Job(out, "evaluation"):
            launch.launch_evaluation(spec, out)


def test_a_running_evaluation_stops_on_request(evals, default_model_dir, data_dir):
    # All of XQuAD en+de, every scenario: minutes of work, so the stop lands while it runs.
    spec = EvalSpec(model="default", dataset="xquad", language_sets=(("en", "de"),), data_dir=str(data_dir))
    out = launch.launch_evaluation(spec, evals / "de-all")
    deadline = time.monotonic() + TIMEOUT
    while jobs.read_status(out)["state"] != "running":
        assert time.monotonic() < deadline and jobs.read_status(out)["state"] == "queued", jobs.tail_log(out)
        time.sleep(0.1)
    assert listing.list_evaluations().set_index("name").loc["de-all", "state"] == "running"
    jobs.request_stop(out)
    status = jobs.wait(out, timeout=TIMEOUT)
    assert status["state"] == "stopped", jobs.tail_log(out)
    assert not (out / CONFIG_FILE).exists()  # nothing half-written reads as a result
    row = listing.list_evaluations().set_index("name").loc["de-all"]
    assert row["state"] == "stopped" and row["model"] == "default"
    assert "stopped: " in jobs.tail_log(out)


def test_a_set_is_launched_as_one_eval_command_with_every_model(tmp_path, monkeypatch):
    """Several models from the dashboard: one `eval --model a,b` job whose status lists them (so the
    listing knows the folder for a set before set.json exists)."""
    calls = []
    monkeypatch.setattr(jobs, "launch", lambda out, argv, kind, **fields: calls.append((out, argv, kind, fields)) or out)
    spec = EvalSpec(language_sets=(("en", "zh"),), limit=5)
    assert launch.launch_evaluation_set(spec, ["default", "use-m3"], tmp_path / "zoo") == tmp_path / "zoo"
    out, argv, kind, fields = calls[0]
    args = cli.build_parser().parse_args(argv)
    assert args.model == "default,use-m3" and kind == "evaluation"
    assert spec_from_args(args) == EvalSpec(model="default,use-m3", language_sets=(("en", "zh"),), limit=5)
    assert fields["models"] == ["default", "use-m3"] and fields["language_sets"] == ["en+zh"]
    with pytest.raises(ValueError, match="listed twice"):
        launch.launch_evaluation_set(spec, ["default", "default"], tmp_path / "x")
