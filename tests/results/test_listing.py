"""xldiag.results.listing: where evaluations live, their names and ids, and the listing's states
(complete, running / failed / stopped from status.json, incomplete, invalid)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from eval_folders import make_eval

from xldiag import jobs
from xldiag.evaluate import EvalSpec
from xldiag.results import listing
from xldiag.results.launch import job_fields
from xldiag.vocab import EVALS_DIR_ENV, RUNS_DIR_ENV

DEAD_PID = 2**22 + 12345  # above the kernel's pid_max: no such process


@pytest.fixture()
def evals(tmp_path, monkeypatch):
    root = tmp_path / "evals"
    monkeypatch.setenv(EVALS_DIR_ENV, str(root))
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path / "runs"))
    return root


def write_job(folder: Path, state: str, pid: int | None, **extra) -> None:
    """status.json of an evaluation job on zh, as `python -m xldiag eval` writes it."""
    spec = EvalSpec(model="default", language_sets=(("en", "zh"),), limit=8)
    folder.mkdir(parents=True, exist_ok=True)
    jobs.write_status(folder, {**job_fields(spec), "kind": "evaluation", "state": state, "pid": pid,
                               "started": "2030-01-01T00:00:00+00:00", **extra})


def test_locations_follow_the_environment(evals, tmp_path):
    assert listing.evals_dir() == evals.resolve()
    assert listing.runs_dir() == (tmp_path / "runs").resolve()


def test_list_evaluations_states_and_ids(evals, tmp_path):
    make_eval(evals / "a", created="2025-01-01T00:00:00")
    make_eval(evals / "b", created="2025-02-01T00:00:00")
    make_eval(evals / "old", format_version=None, created="2024-01-01")
    (evals / "half").mkdir()
    (evals / "half" / "summary.csv").write_text("x\n")
    (evals / ".hidden").mkdir()
    make_eval(tmp_path / "runs" / "r1" / "eval" / "tuned", model=str(tmp_path / "runs" / "r1" / "final"))
    frame = listing.list_evaluations()
    assert list(frame.columns) == listing.COLUMNS
    rows = frame.set_index("name")
    assert rows.loc["a", "state"] == "complete" and rows.loc["a", "langs"] == ["en", "zh"]
    assert rows.loc["a", "fingerprint"] == "abc" and rows.loc["a", "ties"] == "optimistic"
    assert rows.loc["old", "state"] == "invalid" and "older" in rows.loc["old", "error"]
    assert rows.loc["old", "model"] == "default"  # an invalid folder still says what it was
    assert rows.loc["half", "state"] == "incomplete"
    assert rows.loc["r1/tuned", "state"] == "complete" and rows.loc["r1/tuned", "source"] == "runs"
    assert ".hidden" not in rows.index
    assert frame.iloc[0]["name"] == "b"  # newest first
    for ident, path in zip(frame["id"], frame["path"]):
        assert listing.resolve_eval_id(ident) == Path(path)
        assert listing.id_of(path) == ident
    assert rows.loc["r1/tuned", "id"] == "runs:r1/eval/tuned"
    assert listing.resolve_eval_id("evals:../../etc") is None
    assert listing.resolve_eval_id("elsewhere:a") is None and listing.resolve_eval_id("evals:missing") is None
    assert listing.id_of(tmp_path / "elsewhere") is None


def test_job_status_gives_the_state_of_an_evaluation_without_results(evals):
    write_job(evals / "live", "running", os.getpid(), fraction=0.5, message="Embedding")
    write_job(evals / "dead", "running", DEAD_PID)
    write_job(evals / "stopped", "stopped", None, error="stopped by request")
    write_job(evals / "failed", "failed", None, error="ValueError: no such language")
    rows = listing.list_evaluations().set_index("name")
    live = rows.loc["live"]
    assert live["state"] == "running" and live["langs"] == ["en", "zh"] and live["model"] == "default"
    assert live["limit"] == 8 and live["pool"] == "unique" and live["created"].startswith("2030")
    assert rows.loc["dead", "state"] == "failed" and "exited without reporting" in rows.loc["dead", "error"]
    assert rows.loc["stopped", "state"] == "stopped" and rows.loc["stopped", "error"] == "stopped by request"
    assert rows.loc["failed", "state"] == "failed" and "no such language" in rows.loc["failed", "error"]


def test_a_running_job_over_an_older_complete_run_reads_as_running(evals):
    make_eval(evals / "again")
    write_job(evals / "again", "running", os.getpid())
    assert listing.list_evaluations().set_index("name").loc["again", "state"] == "running"
    write_job(evals / "again", "stopped", None)  # stopped: the earlier, complete results stand
    assert listing.list_evaluations().set_index("name").loc["again", "state"] == "complete"


def test_eval_name_is_stable_and_safe():
    name = listing.eval_name("/x/runs/r1/final", "xquad", ["zh", "de"], "unique", "optimistic", 30)
    assert name == "final__xquad__zh-de__unique__optimistic__n30"
    assert "/" not in listing.eval_name("intfloat/multilingual-e5-small", "xquad", ["zh"], "unique", "average", None)
    assert listing.eval_name("default", "xquad", ["zh"], "unique", "optimistic", None, ["multi"]).endswith("all__multi")
    assert listing.slug("a b/c") == "a-b-c" and listing.slug("///") == "x"


def test_labels(tmp_path):
    assert listing.model_label(str(tmp_path / "runs" / "r1" / "final")) == "r1 · final"
    assert listing.model_label("/x/runs/r1/checkpoints/step-40") == "r1 · step-40"
    assert listing.model_label("intfloat/multilingual-e5-small") == "intfloat/multilingual-e5-small"
    assert listing.model_label("default") == "default" and listing.model_label("") == "?"
    final = str(tmp_path / "runs" / "r1" / "final")
    assert listing.labelled_models(["default", final]) == {"default": "default", "r1 · final": final}
    assert listing.labelled_models(["/a/x", "/b/x"]) == {"x": "/a/x", "/b/x": "/b/x"}  # same label: full name
    row = pd.Series({"name": "n", "model": "default", "dataset": "xquad", "language_sets": ["en+zh", "de+zh"],
                     "limit": 30, "state": "running"})
    assert listing.eval_label(row) == "n — default, xquad zh,de+zh, first 30 [running]"
    assert listing.eval_label({**row, "limit": float("nan"), "state": "complete"}) == "n — default, xquad zh,de+zh, all"


def write_set(folder: Path, members: dict[str, str]) -> None:
    """set.json as xldiag.evalset writes it ({model: member folder})."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "set.json").write_text(json.dumps({
        "kind": "evaluation-set", "format_version": 1, "models": list(members),
        "members": [{"model": m, "folder": f} for m, f in members.items()]}))


def test_an_evaluation_set_lists_its_members_not_itself(evals):
    """A set's folder holds one run folder per model: those are listed (ids evals:<set>/<member>),
    a member still waiting in its running set reads as running, and a set opens on its first member."""
    from xldiag.results import RunFolderError, load_eval

    make_eval(evals / "zoo" / "default", model="default", created="2025-01-01T00:00:00")
    write_job(evals / "zoo" / "use-m3", "queued", os.getpid(), model="use-m3")
    write_set(evals / "zoo", {"default": "default", "use-m3": "use-m3"})
    (evals / "zoo" / "summary.csv").write_text("model\ndefault\n")  # the combined summary
    make_eval(evals / "single", created="2025-02-01T00:00:00")
    rows = listing.list_evaluations().set_index("id")
    assert sorted(rows.index) == ["evals:single", "evals:zoo/default", "evals:zoo/use-m3"]
    assert rows.loc["evals:zoo/default", "state"] == "complete" and rows.loc["evals:zoo/default", "name"] == "zoo/default"
    assert rows.loc["evals:zoo/default", "set"] == "zoo" and rows.loc["evals:single", "set"] == ""
    assert rows.loc["evals:zoo/use-m3", "state"] == "running" and rows.loc["evals:zoo/use-m3", "model"] == "use-m3"
    assert listing.resolve_eval_id("evals:zoo/default") == (evals / "zoo" / "default").resolve()
    assert listing.opened_id(evals / "zoo") == "evals:zoo/default"
    assert listing.opened_id(evals / "single") == "evals:single"
    assert load_eval(evals / "zoo" / "default").model == "default"
    with pytest.raises(RunFolderError, match="evaluation set of 2 models"):
        load_eval(evals / "zoo")
    # a set just launched (status.json lists its models, no set.json yet) is no evaluation row
    write_job(evals / "starting", "queued", os.getpid(), model="default,use-m3", models=["default", "use-m3"])
    assert "evals:starting" not in set(listing.list_evaluations()["id"])
