"""The truncation record in words (xldiag.truncation.describe) and on the Overview page."""

from __future__ import annotations

import json

from eval_folders import make_eval
from test_app import app, clear_listings, ok

from xldiag import truncation
from xldiag.vocab import EVALS_DIR_ENV, RUNS_DIR_ENV

RECORD = {"max_seq_length": 512, "counts": {
    "en/passage": {"texts": 240, "truncated": 3}, "en/query": {"texts": 1190, "truncated": 0},
    "zh/passage": {"texts": 240, "truncated": 2}, "zh/query": {"texts": 1190, "truncated": 0}}}


def test_describe_lists_every_cut_language_and_role():
    level, text = truncation.describe(RECORD)
    assert level == "warning"
    assert "512 tokens" in text and "3 of 240 en passages" in text and "2 of 240 zh passages" in text
    assert "queries" not in text  # none was cut


def test_describe_without_cuts_unknown_counts_and_old_runs():
    clean = {"max_seq_length": 512, "counts": {"en/query": {"texts": 10, "truncated": 0}}}
    assert truncation.describe(clean) == ("info", "No text was longer than the model's maximum of 512 tokens.")
    unknown = {"max_seq_length": None, "counts": {"en/query": {"texts": 10, "truncated": 0, "unknown": 10}}}
    level, text = truncation.describe(unknown)
    assert level == "info" and "unknown for 10 texts" in text
    assert truncation.describe(None)[1].startswith("Truncation was not recorded")


def test_overview_warns_about_truncated_texts(tmp_path, monkeypatch, data_dir):
    evals = tmp_path / "evals"
    run = make_eval(evals / "default-xquad-zh", model="default")
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "truncation": RECORD}))
    monkeypatch.setenv(EVALS_DIR_ENV, str(evals))
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path / "runs"))
    monkeypatch.setenv("XLDIAG_DATA_DIR", str(data_dir))
    clear_listings()
    at = app()
    ok(at)
    warnings = [w.value for w in at.warning]
    assert any("3 of 240 en passages" in w and "2 of 240 zh passages" in w for w in warnings), warnings
