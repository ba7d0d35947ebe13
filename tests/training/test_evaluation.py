"""Base vs tuned after training: the comparison files, and the real default model end to end."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from xldiag import jobs, runs
from xldiag.tables import comparison
from xldiag.training import TrainConfig, train
from xldiag.training.evaluation import comparison_title, write_comparison


def summary(max_r: float, complete: float) -> pd.DataFrame:
    """An evaluation summary of one pair (en+zh, Multi) for English and Chinese queries."""
    return pd.DataFrame([
        {"dataset": "xquad", "pair": "en+zh", "query_lang": q, "scenario": "multi", "max_r": m, "complete@10": c,
         "max_r_norm_table": 90.0, "ndcg@1": 50.0, "mrr": 0.5}
        for q, m, c in (("en", max_r, complete), ("zh", max_r + 1, complete - 5))])


def test_the_comparison_files(tmp_path):
    table = comparison(summary(4.0, 80.0), summary(3.0, 85.0))
    write_comparison(tmp_path, table, comparison_title(TrainConfig(langs=["zh"])))
    saved = runs.read_comparison(tmp_path)
    row = saved[(saved.query_lang == "en") & (saved.metric == "max_r")].iloc[0]
    assert (row.base, row.tuned, row.delta, bool(row.improved)) == (4.0, 3.0, -1.0, True)
    assert saved[saved.metric == "complete@10"]["improved"].all()
    md = (tmp_path / "comparison.md").read_text()
    assert md.startswith("# default + full on mlqa-r (zh) — base vs tuned\n")
    assert "| queries | metric | en+zh Base | en+zh Ours | avg Base | avg Ours |" in md
    assert "| English | Max@R ↓ | 4.00 | 3.00 | 4.00 | 3.00 |" in md
    assert "| target | Complete@10 ↑ | 75.00 | 80.00 | 75.00 | 80.00 |" in md
    assert "| English | MRR ↑ | 0.500 | 0.500 | 0.500 | 0.500 |" in md


def test_default_model_smoke_with_evaluation(tmp_path, default_model_dir, data_dir):
    """The real default model on MLQA-R: 8 triples, 32 tokens, then base vs tuned on 20 XQuAD questions."""
    cfg = TrainConfig(model="default", data="mlqa-r", langs=["zh"], limit=8, max_seq_length=32, batch_size=4,
                      out=str(tmp_path / "run"), eval_limit=20, threads=2)
    run_dir = train(cfg)
    status = jobs.read_status(run_dir)
    assert status["state"] == "finished", status
    resolved = runs.read_config(run_dir)["resolved"]
    assert resolved["lr"] == 2e-5 and resolved["lr_source"] == "family multilingual-e5"
    assert resolved["query_prompt"] == "query: " and resolved["max_seq_length"] == 32
    metrics = runs.read_metrics(run_dir)
    assert len(metrics) == 2 and all(math.isfinite(v) for v in metrics["loss"])
    table = runs.read_comparison(run_dir)
    assert set(table["query_lang"]) == {"en", "zh"} and set(table["pair"]) == {"en+zh"}
    assert "en+zh Base | en+zh Ours" in (Path(run_dir) / "comparison.md").read_text()
    # the comparison is the evaluations' summaries compared: recomputing it from eval/ gives the file
    base = pd.read_csv(Path(run_dir) / "eval" / "base" / "summary.csv")
    tuned = pd.read_csv(Path(run_dir) / "eval" / "tuned" / "summary.csv")
    pd.testing.assert_frame_equal(comparison(base, tuned), table, check_dtype=False)
