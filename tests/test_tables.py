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


# --- the fix lab table ---------------------------------------------------------------------------

# model → {(scenario, query side): (max_r, complete@10, ndcg@1, own-language inclination)} for en+zh
LAB = {
    "default": {("multi", "en"): (10.0, 50.0, 55.0, 90.0), ("multi", "zh"): (100.0, 10.0, 20.0, 95.0),
                ("multi-1", "en"): (5.0, 70.0, 60.0, None), ("multi-1", "zh"): (8.0, 60.0, 40.0, None),
                ("mono-same", "en"): (2.0, 95.0, 80.0, None), ("mono-same", "zh"): (3.0, 90.0, 70.0, None)},
    "default+center@ntrex": {("multi", "en"): (5.0, 80.0, 60.0, 30.0), ("multi", "zh"): (6.0, 90.0, 50.0, 20.0),
                             ("multi-1", "en"): (4.0, 75.0, 70.0, None), ("multi-1", "zh"): (5.0, 70.0, 60.0, None),
                             ("mono-same", "en"): (2.0, 95.0, 75.0, None), ("mono-same", "zh"): (3.0, 90.0, 65.0, None)},
    "/runs/demo/final": {("multi", "en"): (8.0, 60.0, 58.0, 70.0), ("multi", "zh"): (20.0, 50.0, 40.0, 60.0),
                         ("multi-1", "en"): (5.0, 72.0, 62.0, None), ("multi-1", "zh"): (7.0, 64.0, 48.0, None),
                         ("mono-same", "en"): (2.0, 95.0, 80.0, None), ("mono-same", "zh"): (3.0, 90.0, 72.0, None)},
}


def lab_summary(model: str) -> pd.DataFrame:
    """The model's LAB rows under the optimistic rule, and the same rows worse under a second rule
    (the table reads the first rule only)."""
    rows = []
    for ties, worse in (("optimistic", 0.0), ("pessimistic", 7.0)):
        for (scenario, lang), (max_r, c10, ndcg1, own) in LAB[model].items():
            rows.append({"dataset": "xquad", "pair": "en+zh", "query_lang": lang, "scenario": scenario, "ties": ties,
                         "model": model, "max_r": max_r + worse, "complete@10": c10 - worse, "ndcg@1": ndcg1 - worse,
                         "own_language_inclination_rate": np.nan if own is None else own + worse})
    return pd.DataFrame(rows)


def test_fixes_table_columns_kinds_and_deltas_against_the_base():
    fits = {"default+center@ntrex": {"fit_seconds": 0.5, "by_pair": {"en+zh": {"fit_seconds": 0.25}}},  # per pair wins
            "/runs/demo/final": {"fit_seconds": 823.0}}
    t = tables.fixes_table({m: lab_summary(m) for m in ["default+center@ntrex", "/runs/demo/final", "default"]}, fits)
    assert list(t["model"]) == ["default", "default+center@ntrex", "/runs/demo/final"]  # base, fixes, fine-tunes
    assert list(t["kind"]) == ["base", "fix", "fine-tune"]
    row = t.set_index("model").loc["default+center@ntrex"]
    assert (row["fix"], row["data"], row["fit_seconds"]) == ("center", "ntrex", 0.25)
    assert (row["multi_max_r_en"], row["multi_max_r_tgt"], row["multi_c10_en"], row["multi_c10_tgt"]) == (5, 6, 80, 90)
    assert row["multi1_ndcg1"] == 65.0 and row["mono_same_ndcg1"] == 70.0  # means over both query languages
    assert (row["own_incl_en"], row["own_incl_tgt"]) == (30.0, 20.0)
    assert row["delta_c10"] == (80 + 90) / 2 - (50 + 10) / 2  # 55 points
    assert row["delta_mono_ndcg1"] == 70.0 - 75.0
    tuned = t.set_index("model").loc["/runs/demo/final"]
    assert tuned["delta_c10"] == 25.0 and tuned["delta_mono_ndcg1"] == 1.0 and tuned["fix"] == ""
    base = t.set_index("model").loc["default"]
    assert base["delta_c10"] == 0 and np.isnan(base["fit_seconds"])


def test_fix_tradeoff_and_markdown():
    t = tables.fixes_table({m: lab_summary(m) for m in LAB}, base="default")
    trade = tables.fix_tradeoff(t).set_index("model")
    assert list(trade.index) == ["default+center@ntrex", "/runs/demo/final"]  # not the base
    assert trade.loc["default+center@ntrex", "delta_c10"] == 55.0
    assert trade.loc["/runs/demo/final", "delta_mono_ndcg1"] == 1.0
    md = tables.fixes_markdown(t, "lab")
    lines = md.splitlines()
    assert lines[0] == "# lab" and "Mono-Same NDCG@1" in lines[2]
    center = next(line for line in lines if "default+center@ntrex" in line)
    assert "| +55.0 | -5.0 | – |" in center  # Δ C@10, Δ Mono-Same, no fit time given
    assert len([line for line in lines if line.startswith("| en+zh |")]) == 3


def test_fixes_table_without_a_base_row_leaves_deltas_empty():
    t = tables.fixes_table({"default+center@ntrex": lab_summary("default+center@ntrex")})
    assert t["kind"].tolist() == ["fix"] and t["delta_c10"].isna().all()
    assert tables.fix_tradeoff(t)["delta_c10"].isna().all()


def test_table1_blocks_match_one_table_per_scenario_where_scenarios_differ_in_pairs():
    """table.md's blocks come from one pivot of every scenario; each block equals the table of its
    scenario alone, also when a scenario lacks a pair or has a metric without values."""
    ragged = summary()
    ragged = ragged[~((ragged["scenario"] == "mono-cross") & (ragged["pair"] == "en+zh"))].copy()
    ragged.loc[ragged["scenario"] == "mono-cross", "mrr"] = np.nan
    for frame in (ragged, pd.concat([ragged, ragged.assign(ties="pessimistic", max_r=ragged["max_r"] + 1)])):
        ranges = frame["ties"].nunique() > 1
        for block in tables.table1_blocks(frame):
            alone = frame[frame["scenario"] == block["scenario"]]
            table = tables.table1_ranges(alone) if ranges else tables._formatted(tables.table1(alone))
            targets = [c for c in table.columns if c not in ("scenario", "queries", "metric")]
            assert block["columns"] == tables._pair_names(alone, targets)
            assert [(q, m) for q, m, _ in block["rows"]] == list(zip(table["queries"], table["metric"]))
            assert [cells for *_, cells in block["rows"]] == [
                [v if v != "nan" else "–" for v in row] for row in table[targets].itertuples(index=False)]
    mono_cross = tables.table1_blocks(ragged)[1]
    assert mono_cross["columns"] == ["en+ar", "avg"] and "mrr" not in [m for _, m, _ in mono_cross["rows"]]
