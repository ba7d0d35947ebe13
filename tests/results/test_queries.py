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
