"""Table 1 and base-vs-tuned, built from a hand-made summary."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xldiag import tables
from xldiag.vocab import HEADLINE_METRICS, METRICS


def summary(shift: float = 0.0, ties: str = "optimistic") -> pd.DataFrame:
    rows = []
    for pair in ("en+zh", "en+ar"):
        for query_lang in ("en", pair[-2:]):
            for scenario in ("multi", "mono-cross"):
                base = 10.0 if query_lang == "en" else 20.0
                rows.append({"dataset": "xquad", "pair": pair, "query_lang": query_lang, "scenario": scenario,
                             "ties": ties, "n_docs": 480 if scenario == "multi" else 240,
                             "n_rel": 2 if scenario == "multi" else 1,
                             "max_r": base + (pair == "en+ar") + shift, "complete@10": 50.0 - shift,
                             "max_r_norm_table": 40.0, "ndcg@1": 90.0, "mrr": 0.9})
    return pd.DataFrame(rows)


def test_table1_rows_columns_and_average():
    t = tables.table1(summary(), scenario="multi")
    assert list(t.columns) == ["scenario", "queries", "metric", "zh", "ar", "avg"]
    assert list(t["metric"][:5]) == list(HEADLINE_METRICS) and set(t["scenario"]) == {"Multi"}
    row = t[(t.queries == "target") & (t.metric == "max_r")].iloc[0]
    assert (row.zh, row.ar, row.avg) == (20.0, 21.0, 20.5)


def test_table1_ranges_over_tie_rules():
    both = pd.concat([summary(), summary(shift=4.5, ties="pessimistic")])
    t = tables.table1_ranges(both, scenario="multi")
    row = t[(t.queries == "English") & (t.metric == "max_r")].iloc[0]
    assert row.zh == "10.00–14.50" and row.avg == "10.50–15.00"
    same = t[(t.queries == "English") & (t.metric == "mrr")].iloc[0]
    assert same.zh == "0.900"  # equal under both rules: one value, the metric's own format


def test_table1_markdown_states_pool_sizes_and_ranges():
    text = tables.table1_markdown(pd.concat([summary(), summary(shift=1, ties="pessimistic")]))
    assert "range over the tie rules optimistic, pessimistic" in text
    assert "### multi (|D| = 480, |R| = 2)" in text and "### mono-cross (|D| = 240, |R| = 1)" in text
    assert "| queries | metric | en+zh | en+ar | avg |" in text
    assert "| target | Max@R ↓ | 20.00–21.00 | 21.00–22.00 | 20.50–21.50 |" in text
    single = tables.table1_markdown(summary())
    assert "range" not in single and "| English | MRR ↑ | 0.900 | 0.900 | 0.900 |" in single


def test_comparison_knows_each_metric_direction():
    table = tables.comparison(summary(), summary(shift=-2.0))  # tuned: Max@R lower, Complete@10 higher
    by_metric = table.groupby("metric")["improved"].all()
    assert by_metric["max_r"] and by_metric["complete@10"] and not by_metric["mrr"]
    assert np.allclose(table[table.metric == "max_r"]["delta"], -2.0)
    text = tables.comparison_markdown(table, title="demo")
    assert text.startswith("# demo") and "| en+zh Base | en+zh Ours |" in text
    assert "| target | Max@R ↓ | 20.00 | 18.00 | 21.00 | 19.00 | 20.50 | 18.50 |" in text


def test_every_headline_metric_has_a_vocabulary_entry():
    assert all(m in METRICS for m in HEADLINE_METRICS)
