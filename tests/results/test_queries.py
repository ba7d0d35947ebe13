"""xldiag.results.queries: the per-query views, on the hand-made evaluation of eval_folders
(known ranks) and on real XQuAD texts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from eval_folders import make_per_query, make_summary, ndcg_by_hand

from xldiag.results import queries


def test_ndcg_per_query_by_hand():
    ranks = [[2.0, 3.0], [1.0], [], [4.0, 1.0]]
    got = queries.ndcg_per_query(ranks, 10)
    assert got[0] == pytest.approx(100 * (1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3)))
    assert got[1] == 100.0 and np.isnan(got[2])
    assert got[3] == pytest.approx(ndcg_by_hand([4.0, 1.0], 10))
    assert queries.ndcg_per_query([[2.0, 3.0]], 1)[0] == 0.0
    assert queries.gold_rank_matrix([[1.0], [2.0, 3.0]]).tolist()[0][0] == 1.0
    assert np.isnan(queries.gold_rank_matrix([[1.0], [2.0, 3.0]])[0, 1])


def test_query_table_and_detail():
    pq = make_per_query()
    table = queries.query_table(pq)
    assert {"rank_en", "rank_zh", "tied", "ndcg@1", "top1_lang"} <= set(table.columns)
    assert list(table.columns).index("rank_en") < list(table.columns).index("rank_zh")  # English first
    row = table[(table.qid == "q3") & (table.scenario == "multi") & (table.query_lang == "en")].iloc[0]
    assert row["rank_en"] == 1 and row["rank_zh"] == 9 and row["tied"] and row["n_tied"] == 1
    assert row["ndcg@1"] == 100.0  # a reference at rank 1
    assert row["top1_lang"] == "en"
    cross = table[(table.qid == "q1") & (table.scenario == "mono-cross") & (table.query_lang == "en")].iloc[0]
    assert cross["rank_zh"] == 2 and np.isnan(cross["rank_en"]) and cross["ndcg@1"] == 0.0

    detail = queries.query_detail(pq, "q1", "multi", "en")
    refs = detail["refs"].set_index("lang")
    assert refs.loc["en", "rank"] == 1 and refs.loc["zh", "rank"] == 5
    assert refs.loc["zh", "above_en"] == 3  # 4 docs above, one of them the English reference
    assert detail["questions"] == {"en": "question 1 in en", "zh": "question 1 in zh"}
    assert detail["pool_langs"] == ["en", "zh"]
    top = detail["top"]
    assert list(top["is_reference"]) == [True, False, False]
    assert list(top["beats"]) == ["", "zh reference", "zh reference"]
    assert list(top["lang"]) == ["en", "en", "en"] and list(top["rank"]) == [1, 2, 3]
    with pytest.raises(KeyError):
        queries.query_detail(pq, "nope", "multi", "en")
    index = queries.query_index(pq)
    fast = queries.query_detail(pq, "q1", "multi", "en", pair="en+zh", index=index)
    assert fast["questions"] == detail["questions"]
    pd.testing.assert_frame_equal(fast["refs"], detail["refs"])
    pd.testing.assert_frame_equal(fast["top"], detail["top"])
    with pytest.raises(KeyError):
        queries.query_detail(pq, "nope", "multi", "en", pair="en+zh", index=index)


def test_filter_queries():
    table = queries.query_table(make_per_query())
    multi = queries.filter_queries(table, "multi", ["en", "zh"])
    assert len(multi) == 8 and multi["max_r"].is_monotonic_decreasing
    failing = queries.filter_queries(table, "multi", ["en", "zh"], min_max_r=3)
    # multi Max@R: en (2, 5, 2, 9), zh (2, 4, 2, 7) → 5, 9, 4, 7 are ≥ 3
    assert sorted(failing["max_r"]) == [4, 5, 7, 9]
    assert queries.filter_queries(table, "multi", ["en"], tied="tied")["qid"].tolist() == ["q3"]
    assert len(queries.filter_queries(table, "multi", ["en"], tied="untied")) == 3
    assert queries.filter_queries(table, "mono-cross", ["zh"], search="QUESTION 2")["qid"].tolist() == ["q2"]
    assert queries.filter_queries(table, "mono-cross", ["zh", "en"], search="q0")["qid"].tolist() == ["q0", "q0"]


def test_doc_text_follows_ids_of_both_pool_constructions(data_dir):
    from xldiag.data import load_dataset

    ds = load_dataset("xquad", ["en", "zh"], data_dir=data_dir, limit=20)
    assert queries.doc_text(ds, "zh:p1") == ds.passages["zh"][1]
    q = 7
    assert queries.doc_text(ds, f"en:q{q}") == ds.passages["en"][int(ds.question_passage[q])]
    assert queries.doc_text(ds, "de:p0") == "" and queries.doc_text(ds, "zh:p9999") == ""
    assert queries.doc_text(ds, "garbage") == ""


def test_language_preference_shows_what_the_data_says():
    pref = queries.language_preference(make_per_query())
    cell = pref.set_index(["query_lang", "ref_lang", "distractor_lang"])["mean_above"]
    # en queries: zh reference ranks (2,5,1,9) → unrelated en docs above: 0,3,0,7 → mean 2.5
    assert cell[("en", "zh", "en")] == pytest.approx(2.5)
    assert cell[("en", "zh", "zh")] == 0
    # zh queries: English reference ranks (2,4,1,3), zh (1,1,2,7) → zh distractors above: 0,2,0,2 → 1
    assert cell[("zh", "en", "zh")] == pytest.approx(1.0)
    assert (pref["n_queries"] == 4).all()
    verdict = queries.preference_verdict(pref)
    assert any("zh queries" in v and "own language" in v for v in verdict)
    assert any("en queries" in v and "English" in v for v in verdict)
    assert list(queries.language_preference(make_per_query(), scenario="none").columns) == queries.PREFERENCE_COLUMNS


def test_inclination_rates():
    summary = make_summary(make_per_query())
    rates = queries.inclination_rates({"base": summary, "tuned": summary})
    assert list(rates.columns) == queries.INCLINATION_COLUMNS
    assert len(rates) == 4 and set(rates["target"]) == {"zh"}
    en = rates[(rates.model == "base") & (rates.query_lang == "en")].iloc[0]
    assert en["english_inclination_rate"] == 0.75 and en["own_language_inclination_rate"] == 0.75
    assert queries.inclination_rates({}).empty


def test_paired_queries_and_most_changed():
    base = make_per_query()
    tuned = make_per_query()
    # tuned: improve q1 (en, multi) and degrade q2 (zh, mono-cross)
    i = tuned.index[(tuned.qid == "q1") & (tuned.scenario == "multi") & (tuned.query_lang == "en")][0]
    tuned.at[i, "gold_ranks"] = [1.0, 2.0]
    tuned.at[i, "max_r"] = 2.0
    j = tuned.index[(tuned.qid == "q2") & (tuned.scenario == "mono-cross") & (tuned.query_lang == "zh")][0]
    tuned.at[j, "gold_ranks"] = [8.0]
    tuned.at[j, "max_r"] = 8.0
    paired = queries.paired_queries(base, tuned)
    assert len(paired) == 16
    row = paired.loc[paired.index[(paired.qid == "q2") & (paired.scenario == "mono-cross")
                                  & (paired.query_lang == "zh")][0]]
    assert row["ndcg@1_base"] == 0.0 and row["ndcg@1_tuned"] == 0.0 and row["log2_ratio"] == pytest.approx(2.0)
    improved = queries.most_changed(paired, direction="improved")
    degraded = queries.most_changed(paired, direction="degraded")
    assert list(improved["qid"]) == ["q1"] and improved["max_r_base"][0] == 5 and improved["max_r_tuned"][0] == 2
    assert list(degraded["qid"]) == ["q2"] and degraded["delta_max_r"][0] == 6
    with pytest.raises(ValueError, match="direction"):
        queries.most_changed(paired, direction="sideways")


def test_fixture_diagnoses_follow_the_rules_of_metrics_diagnose():
    from xldiag import metrics

    pq = make_per_query()
    for q_lang, rows in pq[pq.scenario == "multi"].groupby("query_lang"):
        got = metrics.diagnose(np.array(rows["gold_ranks"].tolist()), np.array(rows["above_by_lang"].tolist()),
                               ["en", "zh"], ["en", "zh"], q_lang)
        assert got.tolist() == rows["diagnosis"].tolist()


def test_filter_by_diagnosis_and_diagnosis_shares():
    table = queries.query_table(make_per_query())
    language = queries.filter_queries(table, "multi", ["en", "zh"], diagnoses=["language-miss"])
    assert sorted(zip(language.query_lang, language.qid)) == [("en", "q1"), ("en", "q3"), ("zh", "q1")]
    both = queries.filter_queries(table, "multi", ["zh"], diagnoses=["language-miss", "semantic-miss"])
    assert both["qid"].tolist() == ["q3", "q1"]  # worst Max@R first: 7, 4
    assert len(queries.filter_queries(table, "multi", ["en", "zh"], diagnoses=[])) == 8  # none chosen: any
    assert set(table.loc[table.scenario == "mono-cross", "diagnosis"]) == {""}
    old = queries.query_table(make_per_query().drop(columns="diagnosis"))  # a run written before the diagnosis
    assert set(old["diagnosis"]) == {""}

    shares = queries.diagnosis_shares({"base": make_summary(make_per_query())})
    cell = shares.set_index(["query_lang", "diagnosis"])["share"]
    assert (cell["en", "pass"], cell["en", "language-miss"], cell["en", "semantic-miss"]) == (50.0, 50.0, 0.0)
    assert (cell["zh", "language-miss"], cell["zh", "semantic-miss"]) == (25.0, 25.0)
    assert set(shares["model"]) == {"base"} and set(shares["target"]) == {"zh"}
    assert queries.diagnosis_shares({}).empty


def test_distractor_share_rows_are_labelled():
    from eval_folders import make_distractor_share

    rows = queries.distractor_share(make_distractor_share(make_per_query()), "en+zh")
    cell = rows.set_index(["row", "distractor_lang"])["share"]
    # en queries: every unrelated doc above either reference is English (2.0 = all of them, half the pool)
    assert cell["en queries → any reference", "en"] == 2.0 and cell["en queries → zh reference", "zh"] == 0.0
    assert set(rows["row"]) >= {"zh queries → en reference", "zh queries → any reference"}
    assert queries.distractor_share(make_distractor_share(make_per_query()), "en+de").empty


def test_paired_tests_put_the_bootstrap_interval_beside_the_p_value():
    from xldiag import stats

    base, tuned = make_per_query(), make_per_query(-3)  # q3 of every multi query: zh reference 3 ranks higher
    paired = queries.paired_queries(base, tuned)
    found = queries.paired_tests(paired, n_resamples=500, seed=1)
    assert set(found["queries"]) == {"all", "en", "zh"} and set(found["metric"]) == {"Max@R (log2)", "NDCG@1"}
    row = found[(found.queries == "all") & (found.metric == "Max@R (log2)")].iloc[0]
    a, b = np.log2(paired["max_r_base"]), np.log2(paired["max_r_tuned"])
    assert (row["ci_lo"], row["ci_hi"]) == pytest.approx(stats.paired_bootstrap_interval(a, b, 500, 1))
    # Max@R fell on 2 of the 16 queries, rose on none: no resample has a positive mean, some have 0
    assert row["ci_lo"] < row["mean Δ"] < 0 and row["ci_hi"] == 0.0
    assert row["p-value"] == pytest.approx(stats.paired_test(a, b)["p_value"])
    ndcg = found[(found.queries == "all") & (found.metric == "NDCG@1")].iloc[0]
    assert ndcg["changed"] == 0 and ndcg["ci_lo"] == ndcg["ci_hi"] == 0.0  # no NDCG@1 changed


def test_measure_table_formats_values_with_their_intervals():
    summary = make_summary(make_per_query())
    summary["query_language_preference_p"] = [0.0, 0.03125, np.nan, np.nan]
    table = queries.measure_table(summary, ["max_r", "query_language_preference_p", "no_such_column"])
    assert list(table.columns) == ["measure", "en queries", "zh queries"]  # one pair: no pair in the names
    row = table.set_index("measure")
    # en multi Max@R: mean(2, 5, 2, 9) = 4.5, interval [2, 9] (the fixture's stand-in)
    assert row.loc["Max@R ↓", "en queries"] == "4.50 [2.00, 9.00]"
    assert list(row.loc["Same-language gold first: sign-test p ↓"]) == ["< 1e-300", "0.031"]
    cross = queries.measure_table(summary, ["query_language_preference_p"], scenario="mono-cross")
    assert list(cross.iloc[0][1:]) == ["–", "–"]
