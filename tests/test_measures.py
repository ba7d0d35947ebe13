"""xldiag.measures: which pools each measure applies to and how it reads a Pool and its GoldRanks.

A hand-made Multi pool whose scores are chosen (every value worked out below), the bootstrap
columns against xldiag.stats, and the passage-level score rows against the full doc-score matrix
of real XQuAD pools (every scenario, both constructions)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from xldiag import measures, metrics, stats
from xldiag.pools import build_pool
from xldiag.ranking import rank_gold
from xldiag.vocab import INTERVAL_METRICS, interval_columns


class Tiny:
    """Four passages and four questions (question q about passage q) in English and Chinese."""

    name = "tiny"
    langs = ["en", "zh"]
    passages = {lang: [f"{lang} passage {p}" for p in range(4)] for lang in langs}
    questions = {lang: [f"{lang} question {q}" for q in range(4)] for lang in langs}
    question_ids = ["q0", "q1", "q2", "q3"]
    question_passage = np.arange(4)


# Chinese queries in the Multi pool; docs en:p0..p3 (0-3), zh:p0..p3 (4-7); gold of q = (q, 4 + q).
SCORES = np.array([
    [.50, .10, .20, .15, .90, .80, .30, .25],  # q0: zh0 1st, zh1 2nd, en0 3rd: only a zh doc beats en0 -> language-miss
    [.70, .60, .10, .05, .20, .50, .40, .30],  # q1: en0 (unrelated) 1st, en1 2nd, zh1 3rd -> semantic-miss
    [.10, .20, .60, .05, .30, .40, .90, .15],  # q2: zh2, en2 on top -> pass
    [.20, .65, .10, .50, .30, .70, .40, .80],  # q3: zh3 1st; zh1 and en1 beat en3 (4th) -> mixed
], dtype=np.float32)


def tiny_multi(scores=SCORES, query_lang="zh"):
    pool = build_pool(Tiny(), "multi", query_lang, ["en", "zh"])
    assert pool.doc_ids == ["en:p0", "en:p1", "en:p2", "en:p3", "zh:p0", "zh:p1", "zh:p2", "zh:p3"]
    result = rank_gold(scores, np.eye(8, dtype=np.float32), pool.gold, doc_text=pool.text_id,
                       doc_lang_codes=pool.doc_lang_codes, n_langs=2, related=pool.duplicates, top_k=10)
    return pool, result


def test_row_measures_by_hand():
    pool, result = tiny_multi()
    assert result.ranks.tolist() == [[3, 1], [2, 3], [2, 1], [4, 1]]  # columns: en gold, zh gold
    row = measures.row_measures(pool, result, result.ranks)
    # mAP: AP = (1/2)(1/r_(1) + 2/r_(2)): (1 + 2/3)/2, (1/2 + 2/3)/2, (1 + 1)/2, (1 + 2/4)/2
    assert row["map"] == pytest.approx(100 * np.mean([5 / 6, 7 / 12, 1.0, 0.75]))
    # Same-language gold first in q0, q2, q3 (0.9 > 0.5, 0.9 > 0.6, 0.8 > 0.5), not in q1 (0.5 < 0.6):
    # 3 of 4, two-sided sign test p = 2 * P(K >= 3 | n = 4) = 2 * 5/16.
    assert row["query_language_preference"] == 75.0
    assert row["query_language_preference_p"] == pytest.approx(0.625)
    # Unrelated docs above a gold: q0 {zh1} above en0; q1 {en0} above en1 and above zh1; q3 {zh1, en1}
    # above en3. A_en = 3, A_zh = 2; four docs per language: ratio_zh = (2/5) / (4/8) = 0.8.
    assert row["distractor_share_query_lang"] == pytest.approx(0.8)
    # Top-1: zh0, en0 (unrelated, English), zh2, zh3.
    assert (row["top1_relevant_query_lang"], row["top1_unrelated_other_lang"]) == (75.0, 25.0)
    assert row["top1_relevant_other_lang"] == row["top1_unrelated_query_lang"] == 0.0
    assert [row[f"diagnosis_{d}"] for d in ("pass", "semantic_miss", "language_miss", "mixed", "no_distractor")] \
        == [25.0, 25.0, 25.0, 25.0, 0.0]
    assert measures.diagnosis(pool, result, result.ranks).tolist() == ["language-miss", "semantic-miss", "pass",
                                                                       "mixed"]
    # PEER@10 with both relevance levels weighted equally (the package's values: tests/test_metrics.py).
    levels = [metrics.peer(result.top_idx, pool.gold, pool.doc_lang, 10, {level: 1.0}) for level in (0, 1)]
    assert row["peer@10"] == pytest.approx(np.mean(levels))
    assert math.isnan(row["consistency_rho"])  # filled in once both query languages are ranked


def test_distractor_rows_by_hand():
    pool, result = tiny_multi()
    rows = {(r["gold_lang"], r["distractor_lang"]): r for r in measures.distractor_rows(pool, result)}
    assert set(rows) == {(g, d) for g in ("all", "en", "zh") for d in ("en", "zh")}
    assert (rows["all", "en"]["distractors"], rows["all", "zh"]["distractors"]) == (3, 2)
    assert rows["all", "en"]["share"] == pytest.approx(1.2) and rows["all", "zh"]["n_docs"] == 4
    # Above the zh gold only en0 (q1): every distractor English, ratio 1 / (1/2) = 2.
    assert (rows["zh", "en"]["share"], rows["zh", "zh"]["share"]) == (2.0, 0.0)
    # Above the en gold: zh1 (q0), en0 (q1), zh1 and en1 (q3): 2 and 2 -> 1.0 each.
    assert rows["en", "en"]["share"] == rows["en", "zh"]["share"] == pytest.approx(1.0)


def test_measures_that_do_not_apply_are_nan():
    mono = build_pool(Tiny(), "mono-same", "zh", ["en", "zh"])
    result = rank_gold(SCORES[:, 4:], np.eye(4, dtype=np.float32), mono.gold, doc_text=mono.text_id,
                       doc_lang_codes=mono.doc_lang_codes, n_langs=1, top_k=10)
    row = measures.row_measures(mono, result, result.ranks)
    undefined = ["query_language_preference", "query_language_preference_p", "distractor_share_query_lang",
                 "peer@10", "diagnosis_pass", "diagnosis_mixed"]
    assert all(math.isnan(row[c]) for c in undefined)
    assert row["top1_relevant_query_lang"] == 100.0 and row["map"] == 100.0  # each zh gold tops its zh-only row
    assert measures.distractor_rows(mono, result) == [] and set(measures.diagnosis(mono, result, result.ranks)) == {""}


def test_intervals_are_the_bootstrap_of_the_per_query_values():
    pool, result = tiny_multi()
    ranks = np.repeat(result.ranks, 30, axis=0) + np.arange(120)[:, None] % 7  # 120 queries, varied ranks
    big = build_pool(type("Big", (Tiny,), {"question_ids": [f"q{i}" for i in range(120)],
                                           "question_passage": np.arange(120) % 4,
                                           "questions": {lang: [f"{lang} {i}" for i in range(120)]
                                                         for lang in ("en", "zh")}})(), "multi", "zh", ["en", "zh"])
    intervals = measures.Intervals(n_resamples=500, seed=3)
    intervals.add(0, big, ranks)
    row = intervals.columns(1)[0]
    values = measures.interval_values(big, ranks)
    for column in values:
        lo, hi = stats.bootstrap_interval(values[column], 500, 3)
        assert (row[f"{column}_lo"], row[f"{column}_hi"]) == pytest.approx((lo, hi))
        assert lo <= metrics.mean(values[column]) <= hi
    assert values["complete@10"].tolist() == [100.0 * (max(r) <= 10) for r in ranks]
    # Max@R_norm (table form) has no per-query values: the transformed Max@R interval, ends swapped.
    table = metrics.max_r_norm_table_interval(row["max_r_lo"], row["max_r_hi"], 8.0, 2)
    assert (row["max_r_norm_table_lo"], row["max_r_norm_table_hi"]) == pytest.approx(table)
    off = measures.Intervals(n_resamples=0)
    off.add(0, big, ranks)
    assert set(off.columns(1)[0]) == {c for m in INTERVAL_METRICS for c in interval_columns(m)}
    assert all(math.isnan(v) for v in off.columns(1)[0].values())


# --- passage-level scores of real pools --------------------------------------------------------------


@pytest.fixture(scope="module")
def xquad(default_model_dir, tmp_path_factory):
    from xldiag.data import load_dataset
    from xldiag.embeddings import Encoder

    encoder = Encoder("default", cache_root=tmp_path_factory.mktemp("emb"), show_progress=False)
    data = load_dataset("xquad", ["en", "zh"], limit=60)
    embeddings = {(role, lang): encoder.encode(texts, role) for lang in ("en", "zh")
                  for role, texts in (("passage", data.passages[lang]), ("query", data.questions[lang]))}
    return data, embeddings, encoder


@pytest.mark.parametrize("construction", ["unique", "per-question"])
@pytest.mark.parametrize("scenario", ["multi", "multi-1", "mono-same", "mono-cross"])
def test_passage_scores_equal_the_best_doc_score_per_passage(xquad, scenario, construction):
    from xldiag.evaluate import pool_embeddings

    data, embeddings, _ = xquad
    pool = build_pool(data, scenario, "zh", ["en", "zh"], construction=construction)
    queries, texts = pool_embeddings(pool, embeddings)
    doc_scores = (queries @ texts.T)[:, pool.text_id].astype(np.float64)  # Q x |D|, the full matrix
    rows, cols = np.nonzero(pool.excluded >= 0)
    doc_scores[rows, pool.excluded[rows, cols]] = np.nan
    n_passages = len(data.passages["en"])
    expected = metrics.passage_scores(doc_scores, pool.doc_passage, n_passages)
    got = measures.PassageScores(embeddings).of(pool, n_passages)
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got[~np.isnan(got)], expected[~np.isnan(expected)], rtol=0, atol=1e-6)
    if scenario == "multi-1":  # the query's own-language gold is out: its passage scores the English version
        en_gold = pool.gold[:, 0]
        np.testing.assert_allclose(got[np.arange(len(got)), pool.doc_passage[en_gold]],
                                   doc_scores[np.arange(len(got)), en_gold], atol=1e-6)


def _full_passage_scores(data, embeddings, scenario: str, query_lang: str):
    """Brute force: the pool's full doc-score matrix, excluded docs NaN, each passage's best doc."""
    from xldiag.evaluate import pool_embeddings

    pool = build_pool(data, scenario, query_lang, ["en", "zh"])
    queries, texts = pool_embeddings(pool, embeddings)
    scores = (queries @ texts.T)[:, pool.text_id].astype(np.float64)
    rows, cols = np.nonzero(pool.excluded >= 0)
    scores[rows, pool.excluded[rows, cols]] = np.nan
    return metrics.passage_scores(scores, pool.doc_passage, len(data.passages["en"]))


@pytest.mark.parametrize("scenario", ["multi", "mono-cross"])
def test_evaluation_consistency_columns_equal_brute_force(xquad, tmp_path, scenario):
    from scipy.stats import spearmanr

    from xldiag.evaluate import evaluate
    from xldiag.pools import doc_passage

    data, embeddings, encoder = xquad
    summary = evaluate(model="default", dataset="xquad", langs="zh", scenarios=[scenario], limit=60, out=tmp_path,
                       encoder=encoder, bootstrap=0, trec_depth=0)
    pq = pd.read_parquet(tmp_path / "per_query.parquet").set_index(["query_lang", "qid"])
    en, zh = pq.loc["en"], pq.loc["zh"]
    assert list(en.index) == list(zh.index)

    def passages(ids) -> set:
        return {doc_passage(d, data.question_passage)[1] for d in ids}

    overlap = [100 * len(passages(a) & passages(b)) / max(len(passages(a)), len(passages(b)))
               for a, b in zip(en.top_doc_ids, zh.top_doc_ids)]
    np.testing.assert_allclose(en["consistency_overlap@10"], overlap)
    np.testing.assert_allclose(zh["consistency_overlap@10"], overlap)  # the same pairs, seen from each side
    a, b = (_full_passage_scores(data, embeddings, scenario, lang) for lang in ("en", "zh"))
    keep = ~np.isnan(a).all(0) & ~np.isnan(b).all(0)
    rho = [spearmanr(x[keep], y[keep]).statistic for x, y in zip(a, b)]
    np.testing.assert_allclose(en["consistency_rho"], rho, atol=1e-6)
    row = summary.set_index("query_lang")
    assert row.loc["en", "consistency_rho"] == row.loc["zh", "consistency_rho"] == pytest.approx(np.mean(rho), abs=1e-6)
    assert row.loc["zh", "consistency_overlap@10"] == pytest.approx(np.mean(overlap))
    assert 0.3 < np.mean(rho) < 1.0  # the same question in two languages: alike, not identical
