"""Metrics: hand-worked values, and NDCG@k / MRR / Recall@k against independent IR libraries."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from xldiag import metrics
from xldiag.ranking import rank_gold

NAN = np.nan
# Three queries, two golds each (the third has one gold and a padding slot).
RANKS = np.array([[1.0, 2.0], [3.0, 10.0], [4.0, NAN]])


def test_max_rank():
    assert metrics.max_rank(RANKS).tolist() == [2.0, 10.0, 4.0]
    assert np.isnan(metrics.max_rank([[NAN, NAN]])[0])  # no gold


def test_complete_at_k():
    # MaxR = 2, 10, 4: within top 1: none; top 4: q0, q2; top 10: all.
    assert metrics.complete_at_k(RANKS, 1) == 0.0
    assert metrics.complete_at_k(RANKS, 4) == pytest.approx(200 / 3)
    assert metrics.complete_at_k(RANKS, 10) == 100.0
    assert metrics.complete_at_k(RANKS, 4, per_query=True).tolist() == [1.0, 0.0, 1.0]


def test_max_r_norm_table_matches_the_paper():
    # 100 * (log2 2380 - log2 650.95) / (log2 2380 - log2 2) = 100 * 1.87033 / 10.21675 = 18.31
    assert round(metrics.max_r_norm_table(650.95, 2380, 2), 2) == 18.31
    assert round(metrics.max_r_norm_table(476.45, 1800, 2), 2) == 19.54
    assert metrics.max_r_norm_table(2, 2380, 2) == 100.0  # gold set fills the top |R| places
    assert metrics.max_r_norm_table(2380, 2380, 2) == 0.0  # last gold is last


def test_max_r_norm_per_query():
    # |D| = 16, |R| = 2: denominator log2 16 - log2 2 = 3.
    # MaxR 2 -> 100 * (4 - 1) / 3 = 100; MaxR 4 -> 100 * (4 - 2) / 3 = 66.67; MaxR 16 -> 0.
    assert metrics.max_r_norm_per_query([2, 4, 16], 16, 2) == pytest.approx((100 + 200 / 3 + 0) / 3)
    # Per-query |D| (Multi-1 pools differ by query): |D| = 8, 16; |R| = 1; MaxR = 2, 2.
    # 100 * (3 - 1) / 3 = 66.67 and 100 * (4 - 1) / 4 = 75.
    assert metrics.max_r_norm_per_query([2, 2], [8, 16], 1) == pytest.approx((200 / 3 + 75) / 2)
    # Not the same as the table form: mean MaxR = (2 + 4 + 16) / 3 = 7.33 -> 100 * (4 - 2.874) / 3.
    assert metrics.max_r_norm_table(22 / 3, 16, 2) == pytest.approx(100 * (4 - math.log2(22 / 3)) / 3)


def test_ndcg_at_k():
    # q0: golds at 1, 2 -> DCG = 1 + 1/log2 3 = IDCG -> 1.
    # q1: golds at 3, 10; k = 5 -> DCG = 1/log2 4 = 0.5; IDCG = 1 + 1/log2 3 = 1.63093 -> 0.30657.
    # q2: one gold at 4 -> DCG = 1/log2 5 = 0.43068; IDCG = 1 -> 0.43068.
    idcg2 = 1 + 1 / math.log2(3)
    per_query = [1.0, 0.5 / idcg2, 1 / math.log2(5)]
    assert metrics.ndcg_at_k(RANKS, 5, per_query=True) == pytest.approx(per_query)
    assert metrics.ndcg_at_k(RANKS, 5) == pytest.approx(100 * np.mean(per_query))
    # k = 1: IDCG = 1 for everyone; only q0 has a gold at 1.
    assert metrics.ndcg_at_k(RANKS, 1) == pytest.approx(100 / 3)


def test_mrr():
    # Best gold ranks 1, 3, 4 -> (1 + 1/3 + 1/4) / 3.
    assert metrics.mrr(RANKS) == pytest.approx((1 + 1 / 3 + 1 / 4) / 3)
    assert metrics.mrr(RANKS, per_query=True).tolist() == pytest.approx([1, 1 / 3, 1 / 4])


def test_recall_at_k():
    # k = 3: q0 2/2, q1 1/2, q2 0/1 -> 100 * 1.5 / 3 = 50.
    assert metrics.recall_at_k(RANKS, 3) == pytest.approx(50.0)
    assert metrics.recall_at_k(RANKS, 4, per_query=True).tolist() == [1.0, 0.5, 1.0]


def test_average_tie_ranks_are_accepted():
    # Average ranks can be fractional: a gold at 2.5 is within top 3, not top 2.
    r = np.array([[1.0, 2.5]])
    assert metrics.complete_at_k(r, 2) == 0.0 and metrics.complete_at_k(r, 3) == 100.0
    assert metrics.ndcg_at_k(r, 3) == pytest.approx(100 * (1 + 1 / math.log2(3.5)) / (1 + 1 / math.log2(3)))


# --- language preference ------------------------------------------------------------------

# An en+de Multi pool, gold columns (en, de), above_by_lang[q, gold, lang] with lang axis (en, de).
POOL_LANGS = ["en", "de"]
GOLD_LANGS = ["en", "de"]
ABOVE = np.array([
    # gold en: (en, de) above   gold de: (en, de) above
    [[0, 0], [2, 0]],  # q0: 2 English docs above the German gold
    [[0, 3], [0, 1]],  # q1: 3 German docs above the English gold, 1 German above the German gold
    [[0, 0], [0, 0]],  # q2: clean
    [[1, 1], [1, 0]],  # q3: 1 German above the English gold, 1 English above the German gold
])
PREF_RANKS = np.array([[1.0, 3.0], [4.0, 2.0], [1.0, 2.0], [3.0, 2.0]])


def test_german_queries():
    # German queries: same-language gold = de (column 1); English distractors above it:
    # q0 2, q1 0, q2 0, q3 1 -> rate 2/4 = 50 %, mean (2 + 0 + 0 + 1) / 4 = 0.75.
    assert metrics.english_inclination_rate(ABOVE, GOLD_LANGS, POOL_LANGS, "de") == 50.0
    assert metrics.mean_english_distractors(ABOVE, GOLD_LANGS, POOL_LANGS, "de") == 0.75
    # Own language (de) docs above the other-language (en) gold: q0 0, q1 3, q2 0, q3 1 -> 50 %, 1.0.
    assert metrics.own_language_inclination_rate(ABOVE, GOLD_LANGS, POOL_LANGS, "de") == 50.0
    assert metrics.mean_own_language_distractors(ABOVE, GOLD_LANGS, POOL_LANGS, "de") == 1.0
    # Rank gap = rank(en gold) - rank(de gold): -2, 2, -1, 1 -> mean 0.
    assert metrics.rank_gap(PREF_RANKS, GOLD_LANGS, "de").tolist() == [-2, 2, -1, 1]
    assert metrics.mean_rank_gap(PREF_RANKS, GOLD_LANGS, "de") == 0.0


def test_english_queries_are_symmetric():
    # English queries: "English inclination" is undefined (NaN); own language = English:
    # English docs above the German gold: q0 2, q1 0, q2 0, q3 1 -> 50 %, 0.75.
    assert np.isnan(metrics.english_inclination_rate(ABOVE, GOLD_LANGS, POOL_LANGS, "en"))
    assert metrics.own_language_inclination_rate(ABOVE, GOLD_LANGS, POOL_LANGS, "en") == 50.0
    assert metrics.mean_own_language_distractors(ABOVE, GOLD_LANGS, POOL_LANGS, "en") == 0.75
    # Other-language (de) docs above the English gold: q1 3, q3 1 -> 50 %.
    assert metrics.other_language_inclination_rate(ABOVE, GOLD_LANGS, POOL_LANGS, "en") == 50.0
    # Gap = rank(de gold) - rank(en gold): 2, -2, 1, -1.
    assert metrics.rank_gap(PREF_RANKS, GOLD_LANGS, "en").tolist() == [2, -2, 1, -1]


def test_language_preference_summary_and_undefined_cases():
    row = metrics.language_preference(PREF_RANKS, ABOVE, np.array([GOLD_LANGS] * 4), POOL_LANGS, "de")
    assert row == {
        "english_inclination_rate": 50.0, "own_language_inclination_rate": 50.0,
        "mean_english_distractors": 0.75, "mean_own_language_distractors": 1.0, "mean_rank_gap": 0.0,
    }
    # Multi-1 for German queries: only the English gold, no German gold.
    above = ABOVE[:, :1, :]
    assert np.isnan(metrics.english_inclination_rate(above, ["en"], POOL_LANGS, "de"))
    assert metrics.own_language_inclination_rate(above, ["en"], POOL_LANGS, "de") == 50.0
    assert np.isnan(metrics.mean_rank_gap(PREF_RANKS[:, :1], ["en"], "de"))


def test_own_language_over_three_languages_uses_any_other_gold():
    # en+de+fr pool, French query; French docs above the en gold / de gold: q0 (0, 2), q1 (0, 0).
    above = np.zeros((2, 3, 3), int)
    above[0, 1, 2] = 2  # 2 French docs above the German gold
    langs = ["en", "de", "fr"]
    assert metrics.own_language_inclination_rate(above, langs, langs, "fr") == 50.0
    assert metrics.mean_own_language_distractors(above, langs, langs, "fr") == 1.0


def test_preference_from_rank_gold():
    # 1-D embeddings: score = doc value. Pool: en docs 0-2, de docs 3-5; a German query with golds
    # en:0 (0.25) and de:3 (0.75). English doc 1 (0.875) is above both golds; German doc 4 (0.5)
    # is above the English gold.
    values = np.array([0.25, 0.875, 0.125, 0.75, 0.5, 0.0], np.float32)[:, None]
    r = rank_gold(np.ones((1, 1), np.float32), values, [[0, 3]], doc_lang_codes=[0, 0, 0, 1, 1, 1])
    assert r.ranks.tolist() == [[4, 2]]
    assert r.above_by_lang.tolist() == [[[1, 1], [1, 0]]]
    assert metrics.english_inclination_rate(r.above_by_lang, GOLD_LANGS, POOL_LANGS, "de") == 100.0
    assert metrics.own_language_inclination_rate(r.above_by_lang, GOLD_LANGS, POOL_LANGS, "de") == 100.0
    assert metrics.mean_rank_gap(r.ranks, GOLD_LANGS, "de") == 2.0


# --- against independent IR libraries -----------------------------------------------------


@pytest.fixture(scope="module")
def random_run():
    """200 queries x 300 docs, random scores (float32 values, no ties), 1-4 golds per query."""
    rng = np.random.default_rng(7)
    n_q, n_d = 200, 300
    scores = rng.random((n_q, n_d)).astype(np.float32).astype(np.float64)
    assert all(len(np.unique(row)) == n_d for row in scores)
    gold = np.full((n_q, 4), -1)
    for i in range(n_q):
        k = rng.integers(1, 5)
        gold[i, :k] = rng.choice(n_d, k, replace=False)
    order = np.argsort(-scores, axis=1)
    position = np.empty_like(order)
    np.put_along_axis(position, order, np.arange(1, n_d + 1)[None, :].repeat(n_q, 0), axis=1)
    ranks = np.where(gold >= 0, np.take_along_axis(position, np.maximum(gold, 0), 1), np.nan).astype(float)
    qrels = {f"q{i}": {f"d{g}": 1 for g in gold[i] if g >= 0} for i in range(n_q)}
    run = {f"q{i}": {f"d{j}": float(scores[i, j]) for j in range(n_d)} for i in range(n_q)}
    return ranks, qrels, run, gold, scores


def test_against_ir_measures(random_run):
    ir_measures = pytest.importorskip("ir_measures")
    from ir_measures import RR, R, nDCG

    ranks, qrels, run, _, _ = random_run
    qrel_list = [ir_measures.Qrel(q, d, rel) for q, docs in qrels.items() for d, rel in docs.items()]
    run_list = [ir_measures.ScoredDoc(q, d, s) for q, docs in run.items() for d, s in docs.items()]
    want = ir_measures.calc_aggregate([nDCG @ 1, nDCG @ 10, RR, R @ 10, R @ 50], qrel_list, run_list)
    assert metrics.ndcg_at_k(ranks, 1) == pytest.approx(100 * want[nDCG @ 1], abs=1e-9)
    assert metrics.ndcg_at_k(ranks, 10) == pytest.approx(100 * want[nDCG @ 10], abs=1e-9)
    assert metrics.mrr(ranks) == pytest.approx(want[RR], abs=1e-9)
    assert metrics.recall_at_k(ranks, 10) == pytest.approx(100 * want[R @ 10], abs=1e-9)
    assert metrics.recall_at_k(ranks, 50) == pytest.approx(100 * want[R @ 50], abs=1e-9)


def test_against_ranx(random_run):
    ranx = pytest.importorskip("ranx")
    import warnings

    ranks, qrels, run, _, _ = random_run
    with warnings.catch_warnings():  # numba type-safety chatter
        warnings.simplefilter("ignore")
        want = ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), ["ndcg@1", "ndcg@10", "mrr", "recall@10"])
    assert metrics.ndcg_at_k(ranks, 1) == pytest.approx(100 * want["ndcg@1"], abs=1e-9)
    assert metrics.ndcg_at_k(ranks, 10) == pytest.approx(100 * want["ndcg@10"], abs=1e-9)
    assert metrics.mrr(ranks) == pytest.approx(want["mrr"], abs=1e-9)
    assert metrics.recall_at_k(ranks, 10) == pytest.approx(100 * want["recall@10"], abs=1e-9)


def test_rank_gold_ranks_feed_the_same_numbers(random_run):
    # rank_gold on embeddings that reproduce the score matrix gives the argsort ranks above.
    # Query i = one-hot e_i, doc j = column j of the scores: q_i . d_j = scores[i, j] exactly.
    ranks, _, _, gold, scores = random_run
    docs = np.ascontiguousarray(scores.T, dtype=np.float32)
    r = rank_gold(np.eye(len(scores), dtype=np.float32), docs, gold, chunk_size=64)
    np.testing.assert_array_equal(r.ranks, ranks)


# --- per-query forms of the summary columns -------------------------------------------------


def test_max_r_norm_per_query_values():
    # |D| = 16, |R| = 2: MaxR 2 -> 100, 4 -> 66.67, 16 -> 0 (as in test_max_r_norm_per_query).
    assert metrics.max_r_norm_per_query([2, 4, 16], 16, 2, per_query=True) == pytest.approx([100, 200 / 3, 0])


def test_headline_per_query_means_are_the_summary_values(random_run):
    ranks = random_run[0]
    n_docs = np.full(len(ranks), 300)
    per_query = metrics.headline_per_query(ranks, n_docs, 4, complete_ks=(1, 10))
    assert list(per_query) == ["complete@1", "complete@10", "max_r", "max_r_norm_per_query", "ndcg@1",
                               "ndcg@10", "mrr", "recall@10"]
    want = {
        "complete@1": metrics.complete_at_k(ranks, 1), "complete@10": metrics.complete_at_k(ranks, 10),
        "max_r": metrics.max_r(ranks), "max_r_norm_per_query": metrics.max_r_norm_per_query(
            metrics.max_rank(ranks), n_docs, 4),
        "ndcg@1": metrics.ndcg_at_k(ranks, 1), "ndcg@10": metrics.ndcg_at_k(ranks, 10),
        "mrr": metrics.mrr(ranks), "recall@10": metrics.recall_at_k(ranks, 10),
    }
    for name, value in want.items():
        assert metrics.mean(per_query[name]) == pytest.approx(value, abs=1e-9), name
    # complete@k per query is 0 or 100 (the summary's scale), NaN for a query without a gold.
    with_empty = metrics.headline_per_query(np.array([[1.0, 3.0], [NAN, NAN]]), 10, 2, complete_ks=(2,))
    assert with_empty["complete@2"][0] == 0.0 and np.isnan(with_empty["complete@2"][1])


def test_language_preference_per_query_means_are_the_columns():
    for query_lang in ("de", "en"):
        per_query = metrics.language_preference_per_query(PREF_RANKS, ABOVE, GOLD_LANGS, POOL_LANGS, query_lang)
        columns = metrics.language_preference(PREF_RANKS, ABOVE, GOLD_LANGS, POOL_LANGS, query_lang)
        assert list(per_query) == list(columns)
        for name, value in columns.items():
            got = metrics.mean(per_query[name])
            assert (np.isnan(got) and np.isnan(value)) or got == pytest.approx(value), (query_lang, name)
    # German queries: English distractors above the German gold 2, 0, 0, 1 -> 100, 0, 0, 100.
    per_query = metrics.language_preference_per_query(PREF_RANKS, ABOVE, GOLD_LANGS, POOL_LANGS, "de")
    assert per_query["english_inclination_rate"].tolist() == [100, 0, 0, 100]


# --- mAP ------------------------------------------------------------------------------------


def test_average_precision_by_hand():
    # q0: golds at 1, 2 -> (1/1 + 2/2) / 2 = 1.
    # q1: golds at 3, 10 -> (1/3 + 2/10) / 2 = 0.26667.
    # q2: one gold at 4 -> 1/4.
    per_query = [1.0, (1 / 3 + 2 / 10) / 2, 0.25]
    assert metrics.average_precision(RANKS, per_query=True) == pytest.approx(per_query)
    assert metrics.average_precision(RANKS) == pytest.approx(100 * np.mean(per_query))
    # Cutoff 5: the gold at 10 adds nothing, the 1/|R| stays: q1 = (1/3) / 2.
    assert metrics.average_precision(RANKS, k=5, per_query=True) == pytest.approx([1.0, 1 / 6, 0.25])
    # Golds listed in any order, padding anywhere; average-rule ranks may be fractional.
    assert metrics.average_precision([[10.0, NAN, 3.0]], per_query=True) == pytest.approx([(1 / 3 + 2 / 10) / 2])
    assert metrics.average_precision([[1.5, 1.5]]) == pytest.approx(100 * (1 / 1.5 + 2 / 1.5) / 2)
    assert np.isnan(metrics.average_precision([[NAN, NAN]], per_query=True)[0])


def test_average_precision_against_ir_measures(random_run):
    ir_measures = pytest.importorskip("ir_measures")
    from ir_measures import AP

    ranks, qrels, run, _, _ = random_run
    qrel_list = [ir_measures.Qrel(q, d, rel) for q, docs in qrels.items() for d, rel in docs.items()]
    run_list = [ir_measures.ScoredDoc(q, d, s) for q, docs in run.items() for d, s in docs.items()]
    want = ir_measures.calc_aggregate([AP, AP @ 20], qrel_list, run_list)
    assert metrics.average_precision(ranks) == pytest.approx(100 * want[AP], abs=1e-9)
    assert metrics.average_precision(ranks, k=20) == pytest.approx(100 * want[AP @ 20], abs=1e-9)


# --- query-language preference ---------------------------------------------------------------


def test_query_language_preference_by_hand():
    # German queries, gold columns (en, de); scores (en gold, de gold). 12 queries: 9 with the German
    # gold above, 1 with the English gold above, 2 exact ties (left out), so 9 vs 1:
    # share = 90 %, p = 2 * (C(10,0) + C(10,1)) / 2^10 = 22 / 1024 (two-sided sign test).
    scores = np.array([[0.2, 0.5]] * 9 + [[0.6, 0.4]] + [[0.3, 0.3]] * 2)
    row = metrics.query_language_preference(scores, GOLD_LANGS, "de")
    assert row == {"n_same_first": 9, "n_other_first": 1, "n_gold_ties": 2, "same_first_share": 90.0,
                   "sign_test_p": pytest.approx(22 / 1024)}
    # English queries on the same pool: the English gold is their own: 1 vs 9.
    row = metrics.query_language_preference(scores, GOLD_LANGS, "en")
    assert (row["n_same_first"], row["n_other_first"], row["same_first_share"]) == (1, 9, 10.0)
    assert row["sign_test_p"] == pytest.approx(22 / 1024)
    # -ranks under the average rule give the same signs (the tie: equal ranks).
    ranks = np.array([[3.0, 1.0], [1.0, 2.0], [2.5, 2.5]])
    assert metrics.gold_order(-ranks, GOLD_LANGS, "de", "en").tolist() == [1, -1, 0]


def test_query_language_preference_undefined_and_n_languages():
    # Multi-1 (no German gold for German queries) and all-tied pools: no untied query.
    row = metrics.query_language_preference(np.ones((3, 1)), ["en"], "de")
    assert row["n_same_first"] == row["n_other_first"] == 0
    assert np.isnan(row["same_first_share"]) and np.isnan(row["sign_test_p"])
    assert np.isnan(metrics.query_language_preference(np.ones((3, 2)), GOLD_LANGS, "de")["sign_test_p"])
    # en+de+fr pool: name the other language; each pair is its own test.
    scores = np.array([[0.1, 0.2, 0.3], [0.4, 0.2, 0.3]])  # (en, de, fr)
    with pytest.raises(ValueError, match="other_lang"):
        metrics.query_language_preference(scores, ["en", "de", "fr"], "fr")
    assert metrics.query_language_preference(scores, ["en", "de", "fr"], "fr", "de")["n_same_first"] == 2
    assert metrics.query_language_preference(scores, ["en", "de", "fr"], "fr", "en")["n_same_first"] == 1


def test_gold_order_sees_ties_that_optimistic_ranks_split():
    # Two golds with exactly equal scores: the optimistic rule gives them ranks 1 and 2 (column
    # order), which a rank comparison would count as a win for the English gold; the scores say tie.
    docs = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], np.float32)
    r = rank_gold(np.array([[1.0, 0.0]], np.float32), docs, [[0, 1]], doc_lang_codes=[0, 1, 1], n_langs=2)
    assert r.ranks.tolist() == [[1.0, 2.0]]
    assert metrics.gold_order(r.gold_scores, GOLD_LANGS, "de", "en").tolist() == [0]
    assert metrics.query_language_preference(r.gold_scores, GOLD_LANGS, "de")["n_gold_ties"] == 1


# --- distractor language share ---------------------------------------------------------------


def test_distractor_language_share_by_hand():
    # Above the German gold (ABOVE[:, 1, :]): English 2 + 0 + 0 + 1 = 3, German 0 + 1 + 0 + 0 = 1 ->
    # shares 3/4, 1/4; equal pool halves -> ratios 1.5 and 0.5.
    share = metrics.distractor_language_share(ABOVE, GOLD_LANGS, POOL_LANGS, [240, 240], gold_lang="de")
    assert share == pytest.approx({"en": 1.5, "de": 0.5})
    # Above every gold: English 0+2 + 0+0 + 0+0 + 1+1 = 4, German 0+0 + 3+1 + 0+0 + 1+0 = 5 -> 4/9, 5/9;
    # a pool with 100 English and 300 German docs (1/4, 3/4) -> (4/9) / (1/4) = 16/9, (5/9) / (3/4) = 20/27.
    share = metrics.distractor_language_share(ABOVE, GOLD_LANGS, POOL_LANGS, [100, 300])
    assert share == pytest.approx({"en": 16 / 9, "de": 20 / 27})


def test_distractor_language_share_zero_counts_and_three_languages():
    assert all(np.isnan(v) for v in metrics.distractor_language_share(
        np.zeros((3, 2, 2)), GOLD_LANGS, POOL_LANGS, [10, 10]).values())  # no distractor at all
    assert all(np.isnan(v) for v in metrics.distractor_language_share(
        ABOVE[:, :1], ["en"], POOL_LANGS, [10, 10], gold_lang="de").values())  # no German gold (Multi-1)
    # en+de+fr pool of 10 docs each; one query with 3 English and 1 French doc above the German gold:
    # shares 3/4, 0, 1/4 over pool thirds -> 9/4, 0, 3/4. A language absent from the pool -> NaN.
    above = np.zeros((1, 3, 3))
    above[0, 1] = [3, 0, 1]
    langs = ["en", "de", "fr"]
    assert metrics.distractor_language_share(above, langs, langs, [10, 10, 10], "de") == pytest.approx(
        {"en": 9 / 4, "de": 0.0, "fr": 3 / 4})
    share = metrics.distractor_language_share(above, langs, langs, [10, 10, 0], "de")
    assert share["en"] == pytest.approx(3 / 4 / (1 / 2)) and np.isnan(share["fr"])
    with pytest.raises(ValueError, match="one entry per pool language"):
        metrics.distractor_language_share(above, langs, langs, [10, 10])


# --- top-1 split -----------------------------------------------------------------------------


def test_top1_split_by_hand():
    # Docs 0-2 English, 3-5 German; German queries, golds (en, de) = (0, 3) for every query.
    doc_lang = np.array(["en"] * 3 + ["de"] * 3)
    gold = np.array([[0, 3]] * 5)
    top = np.array([[3, 0], [0, 3], [4, 3], [1, 4], [-1, -1]])  # q4: empty list (not counted)
    # q0 German gold (relevant, query language), q1 English gold (relevant, other), q2 German
    # unrelated (unrelated, query language), q3 English unrelated: one of each over 4 queries.
    split = metrics.top1_split(top, gold, doc_lang, "de")
    assert split == {"top1_relevant_query_lang": 25.0, "top1_relevant_other_lang": 25.0,
                     "top1_unrelated_query_lang": 25.0, "top1_unrelated_other_lang": 25.0}
    per_query = metrics.top1_split(top, gold, doc_lang, "de", per_query=True)
    assert per_query["top1_relevant_query_lang"][:4].tolist() == [1, 0, 0, 0]
    assert np.isnan(per_query["top1_relevant_query_lang"][4])
    # English queries: own language is English.
    split = metrics.top1_split(top[:4], gold[:4], doc_lang, "en")
    assert split["top1_relevant_query_lang"] == 25.0 and split["top1_unrelated_query_lang"] == 25.0
    # A copy of the German gold (doc 4, `related` for q2) counts as relevant.
    related = np.array([[-1], [-1], [4], [-1]])
    split = metrics.top1_split(top[:4], gold[:4], doc_lang, "de", related=related)
    assert split["top1_relevant_query_lang"] == 50.0 and split["top1_unrelated_query_lang"] == 0.0


# --- per-query diagnosis ---------------------------------------------------------------------


def test_diagnose_each_class_by_hand():
    # German queries in an en+de pool; gold columns (en, de); above[q, gold, (en, de)].
    ranks = np.array([
        [2.0, 1.0],  # q0 pass: the gold set fills the top 2
        [5.0, 1.0],  # q1 language-miss: de gold clean, 3 German docs above the en gold
        [5.0, 3.0],  # q2 semantic-miss: an English doc above the German gold
        [6.0, 1.0],  # q3 mixed: de gold clean, en gold beaten by 2 English and 2 German docs
        [4.0, 3.0],  # q4 no-distractor: nothing unrelated above (ties / copies, e.g. pessimistic rule)
        [NAN, NAN],  # q5 no gold
    ])
    above = np.zeros((6, 2, 2), int)
    above[1, 0] = [0, 3]
    above[2, 1] = [1, 0]
    above[2, 0] = [0, 2]
    above[3, 0] = [2, 2]
    labels = metrics.diagnose(ranks, above, GOLD_LANGS, POOL_LANGS, "de")
    assert labels.tolist() == ["pass", "language-miss", "semantic-miss", "mixed", "no-distractor", ""]
    # The same counts seen from English queries: the own-language gold is now the en column, and
    # unrelated docs are above it in q1 (3), q2 (2) and q3 (4): semantic-miss each time.
    labels = metrics.diagnose(ranks, above, GOLD_LANGS, POOL_LANGS, "en")
    assert labels.tolist() == ["pass", "semantic-miss", "semantic-miss", "semantic-miss", "no-distractor", ""]
    # Semantic-miss wins over everything else: an unrelated German doc above the German gold too.
    above[1, 1] = [0, 1]
    assert metrics.diagnose(ranks, above, GOLD_LANGS, POOL_LANGS, "de")[1] == "semantic-miss"


def test_diagnose_three_languages_and_non_multi_pools():
    # en+de+fr, French query; golds (en, de, fr). Clean French gold; above the en gold: 2 French docs;
    # above the de gold: 1 French doc -> language-miss. Add 1 German doc above the de gold -> mixed.
    langs = ["en", "de", "fr"]
    ranks = np.array([[4.0, 3.0, 1.0], [4.0, 5.0, 1.0]])
    above = np.zeros((2, 3, 3), int)
    above[:, 0, 2] = 2
    above[:, 1, 2] = 1
    above[1, 1, 1] = 1
    assert metrics.diagnose(ranks, above, langs, langs, "fr").tolist() == ["language-miss", "mixed"]
    with pytest.raises(ValueError, match="Multi pool"):
        metrics.diagnose(ranks[:, :1], above[:, :1], ["en"], POOL_LANGS, "de")  # Multi-1: no German gold


# --- PEER ------------------------------------------------------------------------------------

# Top-5 list of one German query in an en+de pool: e0 (en gold), d1, e1, d0 (de gold), d2.
PEER_DOC_LANG = np.array(["en", "en", "en", "de", "de", "de"])  # docs e0 e1 e2 d0 d1 d2 = 0..5
PEER_GOLD = np.array([[0, 3]])
PEER_TOP = np.array([[0, 4, 1, 3, 5]])


def test_peer_by_hand():
    # Level 1 (golds): en [1], de [4]. xbar = 2.5, ssg = 1.5^2 + 1.5^2 = 4.5 = ssa, H = (2-1) * 1 = 1,
    # p1 = chi2.sf(1, 1) = erfc(sqrt(1/2)) = 0.31731.
    # Level 0 (the others in the top 5): en [3], de [2, 5]. xbar = 10/3; group means 3, 3.5;
    # ssg = (3 - 10/3)^2 + 2 (3.5 - 10/3)^2 = 1/9 + 1/18 = 1/6; ssa = 1/9 + 16/9 + 25/9 = 14/3;
    # H = (3 - 1) * (1/6) / (14/3) = 1/14, p0 = chi2.sf(1/14, 1) = erfc(sqrt(1/28)) = 0.78927.
    p1, p0 = math.erfc(math.sqrt(0.5)), math.erfc(math.sqrt(1 / 28))
    assert (p1, p0) == pytest.approx((0.31731, 0.78927), abs=1e-5)
    assert metrics.peer(PEER_TOP, PEER_GOLD, PEER_DOC_LANG, 5) == pytest.approx(p1)
    assert metrics.peer(PEER_TOP, PEER_GOLD, PEER_DOC_LANG, 5, {0: 1.0}) == pytest.approx(p0)
    assert metrics.peer(PEER_TOP, PEER_GOLD, PEER_DOC_LANG, 5, {0: 0.5, 1: 0.5}) == pytest.approx((p0 + p1) / 2)
    # Cutoff 3 (e0, d1, e1): the German gold is missed and placed at (2*2 + 1 + 1)/2 = 3: en [1] vs
    # de [3] -> H = 1 again. Level 0: en [3] vs de [2] -> H = 1. No gold in the top 1 at all -> p1 = 1.
    assert metrics.peer(PEER_TOP, PEER_GOLD, PEER_DOC_LANG, 3, {0: 0.5, 1: 0.5}) == pytest.approx(p1)
    assert metrics.peer(np.array([[4, 0]]), PEER_GOLD, PEER_DOC_LANG, 1) == 1.0
    # Where the package divides 0 by 0 (gold at 3, the other missed, also placed at 3) we take p = 1.
    assert metrics.peer(np.array([[4, 1, 0]]), PEER_GOLD, PEER_DOC_LANG, 3) == 1.0
    with pytest.raises(ValueError, match="top 6 docs"):
        metrics.peer(PEER_TOP, PEER_GOLD, PEER_DOC_LANG, 6)
    with pytest.raises(ValueError, match="sum to 1"):
        metrics.peer(PEER_TOP, PEER_GOLD, PEER_DOC_LANG, 5, {1: 0.5})


def _package_peer(top, gold, doc_lang, cutoff, weights, monkeypatch, excluded=None) -> np.ndarray:
    """PEER per query from the authors' package (peer-measure 0.0.1) on `peer_inputs`."""
    ir_measures = pytest.importorskip("ir_measures")
    # peer-measure 0.0.1 calls ir_measures.util.flatten_measures, which ir_measures dropped in 0.3.5;
    # our measure lists are already flat, so a set of them is what it returned.
    monkeypatch.setattr(ir_measures.util, "flatten_measures", lambda ms: set(ms), raising=False)
    peer_measure = pytest.importorskip("peer_measure")
    qrels, run, mapping = metrics.peer_inputs(top, gold, doc_lang, cutoff, excluded=excluded)
    measure = peer_measure.PEER(weights=weights, lang_mapping=mapping) @ cutoff
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the package's 0/0 (see metrics.peer)
        values = {m.query_id: m.value for m in ir_measures.iter_calc([measure], qrels, run)}
    return np.array([values[f"q{q}"] for q in range(len(top))])


def test_peer_hand_value_matches_the_package(monkeypatch):
    got = _package_peer(PEER_TOP, PEER_GOLD, PEER_DOC_LANG, 5, {0: 0.5, 1: 0.5}, monkeypatch)
    assert got[0] == pytest.approx((math.erfc(math.sqrt(0.5)) + math.erfc(math.sqrt(1 / 28))) / 2)
    # The 0/0 case: the package says NaN.
    assert np.isnan(_package_peer(np.array([[4, 1, 0]]), PEER_GOLD, PEER_DOC_LANG, 3, {1: 1.0}, monkeypatch)[0])


@pytest.mark.parametrize("n_langs,golds_per_lang", [(2, 1), (3, 1), (2, 3)])
def test_peer_agrees_with_the_package(n_langs, golds_per_lang, monkeypatch):
    # Random top-10 lists over a pool of 15 docs per language, 1 or 3 golds per language (with 3 the
    # placement of missed golds matters), some queries with an excluded doc (Multi-1 style):
    # per-query values must agree wherever the package's H is defined; where it is 0/0 (NaN) ours
    # is the same formula with p = 1 at that level.
    rng = np.random.default_rng(n_langs + golds_per_lang)
    n_q, per_lang = 150, 15
    doc_lang = np.repeat(["en", "de", "fr"][:n_langs], per_lang)
    gold = np.concatenate([lang * per_lang + np.array([rng.choice(per_lang - 1, golds_per_lang, replace=False)
                                                       for _ in range(n_q)]) for lang in range(n_langs)], axis=1)
    excluded = np.full((n_q, 1), -1)
    excluded[::5, 0] = per_lang - 1  # an unrelated English doc (never gold) leaves some pools
    top = np.array([rng.permutation(np.setdiff1d(np.arange(len(doc_lang)), excluded[q]))[:10]
                    for q in range(n_q)])
    for weights in ({1: 1.0}, {0: 1.0}, {0: 0.5, 1: 0.5}):
        for cutoff in (3, 10):
            ours = metrics.peer(top, gold, doc_lang, cutoff, weights, per_query=True)
            theirs = _package_peer(top, gold, doc_lang, cutoff, weights, monkeypatch, excluded)
            defined = ~np.isnan(theirs)
            np.testing.assert_allclose(ours[defined], theirs[defined], rtol=0, atol=1e-12)
            assert defined.mean() > 0.9
            if (~defined).any():  # the package's 0/0: e.g. two languages, a gold at 3, the other missed
                assert cutoff >= 3
                if weights == {1: 1.0}:
                    assert (ours[~defined] == 1.0).all()


def test_peer_over_relevant_docs_is_constant_with_one_gold_per_language():
    # One gold per language: a level-1 group holds one doc, H = G - 1 whatever the positions, so
    # PEER_q = chi2.sf(G - 1, G - 1) when a gold is in the top k and 1 when none is.
    rng = np.random.default_rng(0)
    doc_lang = np.repeat(["en", "de", "fr"], 20)
    gold = np.stack([rng.integers(0, 20, 200), 20 + rng.integers(0, 20, 200), 40 + rng.integers(0, 20, 200)], 1)
    top = np.array([rng.permutation(60)[:10] for _ in range(200)])
    values = metrics.peer(top, gold, doc_lang, 10, per_query=True)
    in_top = (gold[:, :, None] == top[:, None, :]).any(axis=(1, 2))
    assert values[in_top] == pytest.approx(math.exp(-1))  # chi2.sf(2, 2) = e^-1
    assert (values[~in_top] == 1.0).all()


# --- cross-language consistency --------------------------------------------------------------


def test_top_overlap_by_hand():
    # Passage lists (k = 4): q0 identical sets in another order -> 1; q1 2 shared of 4 -> 0.5;
    # q2 a Multi list holding passage 7 twice (en and de versions): P_a = {7, 8, 9}, P_b = {7, 8, 1, 2}
    # -> 2 / max(3, 4) = 0.5; q3 both empty -> NaN.
    a = np.array([[1, 2, 3, 4], [1, 2, 3, 4], [7, 7, 8, 9], [-1, -1, -1, -1]])
    b = np.array([[4, 3, 2, 1], [1, 2, 5, 6], [7, 8, 1, 2], [-1, -1, -1, -1]])
    got = metrics.top_overlap(a, b, k=4)
    assert got[:3].tolist() == [1.0, 0.5, 0.5] and np.isnan(got[3])
    assert metrics.top_overlap(a, b, k=2)[:3].tolist() == [0.0, 1.0, 0.5]  # {1,2}/{4,3}; {1,2}; {7}/{7,8}
    # Docs -> passages: en:p0 (doc 0) and de:p0 (doc 2) are one passage.
    passages = metrics.as_passages(np.array([[0, 1, -1], [2, 3, 0]]), [0, 1, 0, 1])
    assert passages.tolist() == [[0, 1, -1], [0, 1, 0]]
    assert metrics.top_overlap(passages[:1], passages[1:], k=3).tolist() == [1.0]


def test_score_rank_correlation_against_scipy():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(4)
    a = rng.normal(size=(20, 50))
    b = a + rng.normal(scale=0.7, size=(20, 50))
    b[3, :10] = b[3, 0]  # ties
    a[5, 7] = NAN  # an item missing from one row
    got = metrics.score_rank_correlation(a, b)
    for q in range(20):
        keep = ~np.isnan(a[q])
        assert got[q] == pytest.approx(spearmanr(a[q, keep], b[q, keep]).statistic, abs=1e-12)
    # By hand: reversed order -> -1; a constant row -> NaN.
    assert metrics.score_rank_correlation([1, 2, 3], [3, 2, 1]).tolist() == [-1.0]
    assert np.isnan(metrics.score_rank_correlation([1, 1, 1], [3, 2, 1])[0])
    # untied rows take 1 - 6 sum d^2 / (n (n^2 - 1)): [1, 3, 2] vs [1, 2, 3] -> 1 - 6 * 2 / 24 = 0.5
    assert metrics.score_rank_correlation([1, 2, 3], [1, 3, 2]).tolist() == [0.5]
    assert np.isnan(metrics.score_rank_correlation([[1.0]], [[2.0]])[0])  # one item: no correlation


def test_passage_scores_by_hand():
    # Docs: passage 0 in en and de (docs 0, 2), passage 1 (docs 1, 3); doc 3 excluded (NaN).
    scores = np.array([[0.1, 0.5, 0.3, NAN]])
    assert metrics.passage_scores(scores, [0, 1, 0, 1]).tolist() == [[0.3, 0.5]]
    assert np.isnan(metrics.passage_scores(scores, [0, 1, 0, 1], n_passages=3)[0, 2])


# --- on real data: the default model on XQuAD en+de, checked against the full score matrix ------

REAL_LIMIT = 120  # the first 120 XQuAD questions and the passages they use


@pytest.fixture(scope="module")
def xquad_multi(default_model_dir, tmp_path_factory):
    """Multi pools (en+de) for English and German queries: the model's score matrix over the pool
    docs, and rank_gold run on embeddings that reproduce it exactly (query i = e_i, doc j = column j
    of the scores), so that the brute force below and the measures see the very same floats."""
    from xldiag.data import load_dataset
    from xldiag.embeddings import Encoder
    from xldiag.evaluate import pool_embeddings
    from xldiag.pools import build_pool

    encoder = Encoder("default", cache_root=tmp_path_factory.mktemp("emb"), show_progress=False)
    data = load_dataset("xquad", ["en", "de"], limit=REAL_LIMIT)
    embeddings = {(role, lang): encoder.encode(texts, role) for lang in ("en", "de")
                  for role, texts in (("passage", data.passages[lang]), ("query", data.questions[lang]))}
    out = {}
    for query_lang in ("en", "de"):
        pool = build_pool(data, "multi", query_lang, ["en", "de"])
        queries, texts = pool_embeddings(pool, embeddings)
        scores = (queries @ texts.T)[:, pool.text_id].astype(np.float32)
        result = rank_gold(np.eye(len(scores), dtype=np.float32), np.ascontiguousarray(scores.T), pool.gold,
                           doc_lang_codes=pool.doc_lang_codes, n_langs=2, top_k=10)
        out[query_lang] = (pool, scores.astype(np.float64), result)
    assert out["en"][0].doc_ids == out["de"][0].doc_ids  # one pool, two query languages
    return out


def _brute_force(pool, scores, q):
    """Query q from its full score row: gold docs by language, and the docs strictly above each gold."""
    gold = {str(pool.doc_lang[g]): int(g) for g in pool.gold[q]}
    above = {lang: [d for d in range(len(scores[q])) if scores[q, d] > scores[q, g] and d not in gold.values()]
             for lang, g in gold.items()}
    return gold, above


@pytest.mark.parametrize("query_lang", ["en", "de"])
def test_real_preference_top1_and_diagnosis_match_the_full_scores(xquad_multi, query_lang):
    from scipy.stats import binomtest

    pool, scores, result = xquad_multi[query_lang]
    other = "de" if query_lang == "en" else "en"
    order = np.argsort(-scores, axis=1, kind="stable")
    assert np.array_equal(result.top_idx, order[:, :10])
    wins = losses = 0
    top1 = {key: 0 for key in metrics.TOP1_KEYS}
    labels = []
    for q in range(len(scores)):
        gold, above = _brute_force(pool, scores, q)
        wins += scores[q, gold[query_lang]] > scores[q, gold[other]]
        losses += scores[q, gold[query_lang]] < scores[q, gold[other]]
        best = order[q, 0]
        kind = "relevant" if best in gold.values() else "unrelated"
        side = "query" if pool.doc_lang[best] == query_lang else "other"
        top1[f"top1_{kind}_{side}_lang"] += 1
        # The diagnosis rules, read off the full list (optimistic ranks: a query passes iff nothing
        # but the other gold scores above either gold).
        own, theirs = above[query_lang], above[other]
        if not own and not theirs:
            labels.append("pass")
        elif own:
            labels.append("semantic-miss")
        elif not theirs:
            labels.append("no-distractor")
        elif all(pool.doc_lang[d] == query_lang for d in theirs):
            labels.append("language-miss")
        else:
            labels.append("mixed")
    row = metrics.query_language_preference(result.gold_scores, pool.gold_langs, query_lang)
    assert (row["n_same_first"], row["n_other_first"]) == (wins, losses)
    assert row["sign_test_p"] == pytest.approx(binomtest(int(wins), int(wins + losses)).pvalue)
    assert metrics.top1_split(result.top_idx, pool.gold, pool.doc_lang, query_lang) == pytest.approx(
        {key: 100 * n / len(scores) for key, n in top1.items()})
    got = metrics.diagnose(result.ranks, result.above_by_lang, pool.gold_langs, pool.langs, query_lang)
    assert got.tolist() == labels
    assert len(set(labels)) >= 3  # the real model fails in more than one way


def test_real_distractor_share_ap_and_peer(xquad_multi, monkeypatch):
    ir_measures = pytest.importorskip("ir_measures")
    from ir_measures import AP

    pool, scores, result = xquad_multi["de"]
    # Distractor share above the English gold, from the full rows.
    by_lang = {"en": 0, "de": 0}
    for q in range(len(scores)):
        for d in _brute_force(pool, scores, q)[1]["en"]:
            by_lang[str(pool.doc_lang[d])] += 1
    n_lang = [int((pool.doc_lang == lang).sum()) for lang in pool.langs]
    share = metrics.distractor_language_share(result.above_by_lang, pool.gold_langs, pool.langs, n_lang, "en")
    total = sum(by_lang.values())
    assert share == pytest.approx({lang: (by_lang[lang] / total) / (n / sum(n_lang))
                                   for lang, n in zip(pool.langs, n_lang)})
    # mAP against ir_measures on the real scores.
    qrels = [ir_measures.Qrel(f"q{q}", f"d{g}", 1) for q in range(len(scores)) for g in pool.gold[q]]
    run = [ir_measures.ScoredDoc(f"q{q}", f"d{d}", float(scores[q, d]))
           for q in range(len(scores)) for d in range(scores.shape[1])]
    assert metrics.average_precision(result.ranks) == pytest.approx(
        100 * ir_measures.calc_aggregate([AP], qrels, run)[AP], abs=1e-9)
    # PEER@10 on the real top lists against the package.
    for weights in ({1: 1.0}, {0: 0.5, 1: 0.5}):
        ours = metrics.peer(result.top_idx, pool.gold, pool.doc_lang, 10, weights, per_query=True)
        theirs = _package_peer(result.top_idx, pool.gold, pool.doc_lang, 10, weights, monkeypatch)
        defined = ~np.isnan(theirs)
        np.testing.assert_allclose(ours[defined], theirs[defined], rtol=0, atol=1e-12)


def test_real_cross_language_consistency(xquad_multi):
    from scipy.stats import spearmanr

    pool, scores_en, result_en = xquad_multi["en"]
    _, scores_de, result_de = xquad_multi["de"]
    passages_en = metrics.as_passages(result_en.top_idx, pool.doc_passage)
    passages_de = metrics.as_passages(result_de.top_idx, pool.doc_passage)
    overlap = metrics.top_overlap(passages_en, passages_de, k=10)
    rho = metrics.score_rank_correlation(scores_en, scores_de)
    for q in range(len(scores_en)):
        a = {int(pool.doc_passage[d]) for d in np.argsort(-scores_en[q], kind="stable")[:10]}
        b = {int(pool.doc_passage[d]) for d in np.argsort(-scores_de[q], kind="stable")[:10]}
        assert overlap[q] == pytest.approx(len(a & b) / max(len(a), len(b)))
        assert rho[q] == pytest.approx(spearmanr(scores_en[q], scores_de[q]).statistic, abs=1e-12)
    # Passage level: each passage's best score over its two language versions.
    by_passage = metrics.score_rank_correlation(metrics.passage_scores(scores_en, pool.doc_passage),
                                                metrics.passage_scores(scores_de, pool.doc_passage))
    assert np.isfinite(by_passage).all()
    # The same question in two languages: far more alike than two different questions.
    assert np.mean(rho) > np.mean(metrics.score_rank_correlation(scores_en, np.roll(scores_de, 1, axis=0)))


def test_row_ranks_equal_scipy_rankdata_with_many_ties():
    from scipy.stats import rankdata

    from xldiag.metrics import _ranks_and_ties

    rng = np.random.default_rng(7)
    for _ in range(200):  # few distinct values: long runs of ties, at the ends of rows too
        x = rng.integers(0, rng.integers(1, 6), size=(rng.integers(1, 7), rng.integers(1, 15))).astype(np.float32)
        np.testing.assert_array_equal(_ranks_and_ties(x)[0], rankdata(x, axis=1))
