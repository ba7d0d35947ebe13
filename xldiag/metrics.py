"""Metrics over gold ranks (Q x G float arrays, NaN padding) and `above_by_lang` counts.

Notation: for query q, r_qg = rank of its g-th gold doc (1 = best), R_q = its gold set (|R_q| =
non-NaN ranks), MaxR_q = max_g r_qg, |D| = pool size. Queries without any gold are skipped.
Rates and Complete@K / NDCG@k / Recall@k are in %, MRR in 0-1. With `per_query=True` a function
returns its per-query values (Q,) instead of their mean.

Language preference (Multi pools; the lang axis of `above_by_lang` follows `pool_langs`, gold
columns follow `gold_langs`). Counts are of *unrelated* docs (not gold, not excluded, not a
duplicate of a gold) scoring strictly above a gold. Nothing assumes that English wins: for English
queries the "own language" is English, and every quantity is computed the same way for every
query language.
"""

from __future__ import annotations

import warnings

import numpy as np


def _ranks(ranks) -> tuple[np.ndarray, np.ndarray]:
    """Ranks as float (Q x G) and the mask of queries that have at least one gold."""
    ranks = np.asarray(ranks, dtype=float)
    if ranks.ndim == 1:
        ranks = ranks[:, None]
    return ranks, ~np.isnan(ranks).all(axis=1)


def mean(values, scale: float = 1.0) -> float:
    """scale * mean of the non-NaN values (NaN when there are none): every average in a summary."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return float(scale * values.mean()) if len(values) else float("nan")


def max_rank(ranks) -> np.ndarray:
    """MaxR_q = max_g r_qg: the rank at which the whole gold set has been retrieved (NaN: no gold)."""
    ranks, has = _ranks(ranks)
    out = np.full(len(ranks), np.nan)
    out[has] = np.nanmax(ranks[has], axis=1)
    return out


def max_r(ranks) -> float:
    """Max@R = mean_q MaxR_q over the queries that have a gold (NaN rows skipped)."""
    return mean(max_rank(ranks))


def complete_at_k(ranks, k: int, per_query: bool = False):
    """Complete@k = 100 * mean_q [MaxR_q <= k]: % of queries whose whole gold set is in the top k."""
    worst = max_rank(ranks)
    values = np.where(np.isnan(worst), np.nan, (worst <= k).astype(float))
    return values if per_query else mean(values, 100.0)


def max_r_norm_per_query(max_ranks, n_docs, n_rel) -> float:
    """mean_q 100 * (log2|D| - log2 MaxR_q) / (log2|D| - log2|R|).

    100 when the gold set fills the top |R| places, 0 when the last gold is last in the pool.
    `n_docs`, `n_rel`: scalars or per-query arrays.
    """
    max_ranks = np.asarray(max_ranks, dtype=float)
    return mean(_norm(max_ranks, n_docs, n_rel))


def max_r_norm_table(mean_max_r, n_docs, n_rel) -> float:
    """100 * (log2|D| - log2 mean_q MaxR_q) / (log2|D| - log2|R|): the same expression applied to
    the mean Max@R (the paper's table). E.g. 650.95, |D|=2380, |R|=2 -> 18.31."""
    return float(_norm(np.asarray(mean_max_r, dtype=float), n_docs, n_rel))


def _norm(max_r, n_docs, n_rel):
    log_d = np.log2(np.asarray(n_docs, dtype=float))
    span = log_d - np.log2(np.asarray(n_rel, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(span > 0, 100.0 * (log_d - np.log2(max_r)) / span, np.nan)


def ndcg_at_k(ranks, k: int, per_query: bool = False):
    """NDCG@k with binary relevance, in %.

    DCG_q = sum_{g: r_qg <= k} 1 / log2(r_qg + 1);  IDCG_q = sum_{i=1}^{min(|R_q|, k)} 1 / log2(i + 1);
    NDCG@k = 100 * mean_q DCG_q / IDCG_q.
    """
    ranks, has = _ranks(ranks)
    with np.errstate(invalid="ignore"):
        gains = np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0)
    n_rel = (~np.isnan(ranks)).sum(axis=1)
    ideal_gain = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))  # ideal[i-1] = IDCG with i relevant docs
    ideal = ideal_gain[np.clip(np.minimum(n_rel, k) - 1, 0, None)]
    values = np.where(has, gains.sum(axis=1) / ideal, np.nan)
    return values if per_query else mean(values, 100.0)


def mrr(ranks, per_query: bool = False):
    """MRR = mean_q 1 / min_g r_qg (0-1): the reciprocal rank of the best-ranked gold."""
    ranks, has = _ranks(ranks)
    best = np.full(len(ranks), np.nan)
    best[has] = np.nanmin(ranks[has], axis=1)
    values = 1.0 / best
    return values if per_query else mean(values)


def recall_at_k(ranks, k: int, per_query: bool = False):
    """Recall@k = 100 * mean_q #{g: r_qg <= k} / |R_q|."""
    ranks, has = _ranks(ranks)
    with np.errstate(invalid="ignore"):
        hits = (ranks <= k).sum(axis=1)
        values = np.where(has, hits / (~np.isnan(ranks)).sum(axis=1), np.nan)
    return values if per_query else mean(values, 100.0)


# --- language preference -------------------------------------------------------------------


def gold_lang_list(gold_langs) -> list[str]:
    """The language of each gold column: a list, or a Q x G array ('' padding) whose rows agree."""
    arr = np.asarray(gold_langs, dtype=object)
    if arr.ndim == 2:
        arr = arr[np.argmax((arr != "").sum(axis=1))] if len(arr) else np.array([], dtype=object)
    return [str(lang) for lang in arr]


def distractors(above_by_lang, gold_langs, pool_langs, gold_lang: str, distractor_langs) -> np.ndarray:
    """Per query: unrelated docs in `distractor_langs` (a code or a list) scoring above the gold in
    `gold_lang`. All NaN when that gold or those languages are not in the pool."""
    above = np.asarray(above_by_lang, dtype=float)
    gold_langs, pool_langs = gold_lang_list(gold_langs), list(pool_langs)
    langs = [distractor_langs] if isinstance(distractor_langs, str) else list(distractor_langs)
    cols = [pool_langs.index(lang) for lang in langs if lang in pool_langs]
    if gold_lang not in gold_langs or not cols:
        return np.full(len(above), np.nan)
    return above[:, gold_langs.index(gold_lang), cols].sum(axis=1)


def _rate(counts: np.ndarray) -> float:
    """% of queries with at least one distractor (NaN counts skipped)."""
    return mean(np.where(np.isnan(counts), np.nan, (counts >= 1).astype(float)), 100.0)


def _english_counts(above_by_lang, gold_langs, pool_langs, query_lang, english) -> np.ndarray:
    if query_lang == english:  # English queries: see own_language_* / other_language_*
        return np.full(len(above_by_lang), np.nan)
    return distractors(above_by_lang, gold_langs, pool_langs, query_lang, english)


def english_inclination_rate(above_by_lang, gold_langs, pool_langs, query_lang: str, english: str = "en") -> float:
    """% of target-language queries with >= 1 unrelated English doc above the same-language gold.

    100 * mean_q [#{unrelated English docs above the query-language gold} >= 1]; NaN for English
    queries or pools without English or without a query-language gold (Multi-1, Mono)."""
    return _rate(_english_counts(above_by_lang, gold_langs, pool_langs, query_lang, english))


def mean_english_distractors(above_by_lang, gold_langs, pool_langs, query_lang: str, english: str = "en") -> float:
    """mean_q #{unrelated English docs above the query-language gold} (NaN as for the rate)."""
    return mean(_english_counts(above_by_lang, gold_langs, pool_langs, query_lang, english))


def own_language_counts(above_by_lang, gold_langs, pool_langs, query_lang: str) -> np.ndarray:
    """Per query: max over other-language golds of #{unrelated query-language docs above that gold}."""
    others = [lang for lang in gold_lang_list(gold_langs) if lang != query_lang and lang]
    if not others or query_lang not in pool_langs:
        return np.full(len(above_by_lang), np.nan)
    per_gold = [distractors(above_by_lang, gold_langs, pool_langs, lang, query_lang) for lang in others]
    return np.max(per_gold, axis=0)


def own_language_inclination_rate(above_by_lang, gold_langs, pool_langs, query_lang: str) -> float:
    """% of queries with >= 1 unrelated doc in the query's own language above an other-language gold
    (for N languages: above at least one of them). English queries count English docs.
    NaN without an other-language gold or without query-language docs (Mono)."""
    return _rate(own_language_counts(above_by_lang, gold_langs, pool_langs, query_lang))


def mean_own_language_distractors(above_by_lang, gold_langs, pool_langs, query_lang: str) -> float:
    """mean_q max_{other-language gold} #{unrelated query-language docs above it}."""
    return mean(own_language_counts(above_by_lang, gold_langs, pool_langs, query_lang))


def other_language_inclination_rate(above_by_lang, gold_langs, pool_langs, query_lang: str) -> float:
    """% of queries with >= 1 unrelated doc of another pool language above the same-language gold.
    The symmetric twin of `english_inclination_rate` (equal to it for target-language queries in
    an en+L pool), defined for English queries too."""
    others = [lang for lang in pool_langs if lang != query_lang]
    return _rate(distractors(above_by_lang, gold_langs, pool_langs, query_lang, others))


def rank_gap(ranks, gold_langs, query_lang: str) -> np.ndarray:
    """Per query: mean rank of the other-language gold(s) - rank of the same-language gold.
    Positive = the query-language gold is ranked better. NaN without both kinds of gold."""
    ranks, _ = _ranks(ranks)
    gold_langs = gold_lang_list(gold_langs)
    others = [i for i, lang in enumerate(gold_langs) if lang != query_lang]
    if query_lang not in gold_langs or not others:
        return np.full(len(ranks), np.nan)
    with warnings.catch_warnings():  # all-NaN rows (no gold) give NaN, which is what we want
        warnings.simplefilter("ignore", RuntimeWarning)
        other = np.nanmean(ranks[:, others], axis=1)
    return other - ranks[:, gold_langs.index(query_lang)]


def mean_rank_gap(ranks, gold_langs, query_lang: str) -> float:
    """mean_q rank_gap."""
    return mean(rank_gap(ranks, gold_langs, query_lang))


def language_preference(ranks, above_by_lang, gold_langs, pool_langs, query_lang: str, english: str = "en") -> dict:
    """The summary's language-preference columns for one pool (NaN where a quantity is undefined)."""
    args = (above_by_lang, gold_langs, pool_langs, query_lang)
    return {
        "english_inclination_rate": english_inclination_rate(*args, english=english),
        "own_language_inclination_rate": own_language_inclination_rate(*args),
        "mean_english_distractors": mean_english_distractors(*args, english=english),
        "mean_own_language_distractors": mean_own_language_distractors(*args),
        "mean_rank_gap": mean_rank_gap(ranks, gold_langs, query_lang),
    }
