"""Metrics: hand-worked values, and NDCG@k / MRR / Recall@k against independent IR libraries."""

from __future__ import annotations

import math

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
