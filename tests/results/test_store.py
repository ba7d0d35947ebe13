"""xldiag.results.store: one evaluation run folder read back, its format and completeness checked."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from eval_folders import make_eval

from xldiag import jobs
from xldiag.results import store
from xldiag.results.errors import RunFolderError, RunFormatError, RunIncompleteError


def test_load_eval_reads_schemas(tmp_path):
    run = store.load_eval(make_eval(tmp_path / "base"), per_query=True)
    assert run.model == "default" and run.name == "base"
    assert run.langs == ["en", "zh"]
    assert run.pairs == ["en+zh"]
    assert run.tie_rules == ["optimistic"]
    assert len(run.summary) == 4  # (en, zh queries) x (multi, mono-cross)
    assert len(run.per_query) == 16
    assert list(run.per_query["gold_ranks"].iloc[0]) == [1.0, 2.0]
    assert run.table_md.startswith("### multi")


def test_summary_for_picks_one_tie_rule(tmp_path):
    path = make_eval(tmp_path / "both")
    summary = pd.read_csv(path / "summary.csv")
    both = pd.concat([summary, summary.assign(ties="pessimistic", max_r=summary["max_r"] + 1)], ignore_index=True)
    both.to_csv(path / "summary.csv", index=False)
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "ties": ["pessimistic", "optimistic"]}))
    run = store.load_eval(path)
    assert run.tie_rules == ["pessimistic", "optimistic"]
    assert (run.summary["ties"] == "pessimistic").all() and len(run.summary_all) == 8
    assert run.summary_for("optimistic")["max_r"].tolist() == summary["max_r"].tolist()
    assert len(run.summary_for("average")) == 8  # a rule the run lacks: every row
    assert store.tie_rules({"ties": "average"}) == ["average"] and store.tie_rules({}) == ["optimistic"]


def test_old_and_unknown_formats_get_clear_errors(tmp_path):
    with pytest.raises(RunFormatError, match="older xldiag"):
        store.load_eval(make_eval(tmp_path / "old", format_version=None))
    with pytest.raises(RunFormatError, match="newer than this xldiag"):
        store.load_eval(make_eval(tmp_path / "newer", format_version=99))
    with pytest.raises(RunFormatError, match=r"format 1 .*reads format 2"):
        store.load_eval(make_eval(tmp_path / "v1", format_version=1))
    with pytest.raises(RunFormatError, match="unreadable format_version"):
        store.load_eval(make_eval(tmp_path / "odd", format_version="two"))
    with pytest.raises(RunFormatError, match="'training' run"):
        store.check_format({"kind": "training"}, tmp_path)
    broken = make_eval(tmp_path / "broken")
    pd.read_csv(broken / "summary.csv").drop(columns=["max_r"]).to_csv(broken / "summary.csv", index=False)
    with pytest.raises(RunFormatError, match="max_r"):
        store.load_eval(broken)
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / "config.json").write_text("{not json")
    with pytest.raises(RunFolderError, match="cannot be read"):
        store.read_config(tmp_path / "garbled")


def test_unfinished_folders_read_as_incomplete(tmp_path):
    half = tmp_path / "half"
    half.mkdir()
    (half / "summary.csv").write_text("dataset\n")
    with pytest.raises(RunIncompleteError, match="not finished"):
        store.load_eval(half)
    job = tmp_path / "job"  # an evaluation job that has not written anything yet
    job.mkdir()
    jobs.write_status(job, {"kind": "evaluation", "state": "running"})
    with pytest.raises(RunIncompleteError, match="still running, was stopped"):
        store.load_eval(job)
    no_pq = make_eval(tmp_path / "no-pq")
    (no_pq / "per_query.parquet").unlink()
    run = store.load_eval(no_pq)  # the summary alone loads; per-query views say what is missing
    with pytest.raises(RunIncompleteError, match="no per_query.parquet"):
        _ = run.per_query
    with pytest.raises(RunFolderError, match="not a folder"):
        store.load_eval(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFolderError, match="holds no evaluation"):
        store.load_eval(tmp_path / "empty")
