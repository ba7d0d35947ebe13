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

from xldiag.vocab import DIAGNOSES as DIAGNOSES  # the labels of `diagnose` (they name summary columns too)


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


def max_r_norm_per_query(max_ranks, n_docs, n_rel, per_query: bool = False):
    """mean_q 100 * (log2|D| - log2 MaxR_q) / (log2|D| - log2|R|).

    100 when the gold set fills the top |R| places, 0 when the last gold is last in the pool.
    `n_docs`, `n_rel`: scalars or per-query arrays.
    """
    values = _norm(np.asarray(max_ranks, dtype=float), n_docs, n_rel)
    return values if per_query else mean(values)


def max_r_norm_table(mean_max_r, n_docs, n_rel) -> float:
    """100 * (log2|D| - log2 mean_q MaxR_q) / (log2|D| - log2|R|): the same expression applied to
    the mean Max@R (the paper's table). E.g. 650.95, |D|=2380, |R|=2 -> 18.31."""
    return float(_norm(np.asarray(mean_max_r, dtype=float), n_docs, n_rel))


def max_r_norm_table_interval(max_r_lo: float, max_r_hi: float, n_docs, n_rel) -> tuple[float, float]:
    """The interval of Max@R_norm_table from the interval (lo, hi) of Max@R: (f(hi), f(lo)).

    f = `max_r_norm_table` is a function of the mean Max@R alone, decreasing in it (|D| > |R|), and a
    percentile interval commutes with a monotone map, so the bootstrap interval of the table value is
    the transformed Max@R interval with its ends swapped (up to numpy's linear interpolation between
    neighbouring resample values). It has no per-query form to resample."""
    return max_r_norm_table(max_r_hi, n_docs, n_rel), max_r_norm_table(max_r_lo, n_docs, n_rel)


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


def average_precision(ranks, k: int | None = None, per_query: bool = False):
    """mAP over the gold set (LAReQA's metric), in %.

    AP_q = (1/|R_q|) sum_{i=1}^{|R_q|} [r_(i) <= k] * i / r_(i), with r_(1) <= ... <= r_(|R_q|) the sorted
    gold ranks of q (the i-th gold found sits at rank r_(i), where precision is i / r_(i)); k = None:
    no cutoff. mAP = 100 * mean_q AP_q. This is trec_eval's `map` / `map_cut_k` (ir_measures AP, AP@k;
    the cutoff keeps the 1/|R_q|) for untied scores; average-rule ranks may be fractional."""
    ranks, has = _ranks(ranks)
    ordered = np.sort(ranks, axis=1)  # NaN padding last, so column i-1 holds the i-th gold found
    place = np.arange(1, ranks.shape[1] + 1)
    with np.errstate(invalid="ignore"):
        found = ~np.isnan(ordered) & (ordered <= (np.inf if k is None else k))
        precision = np.where(found, place / ordered, 0.0)
    n_rel = (~np.isnan(ranks)).sum(axis=1)
    values = np.where(has, precision.sum(axis=1) / np.maximum(n_rel, 1), np.nan)
    return values if per_query else mean(values, 100.0)


def headline_per_query(ranks, n_docs, n_rel, complete_ks=(1, 5, 10, 20, 100)) -> dict:
    """Per-query values of the summary's headline metrics on the summary's scale, so that `mean` of
    each is the summary value (and `stats.bootstrap_intervals` gives its interval): complete@k (0 or
    100), max_r (MaxR_q), max_r_norm_per_query, ndcg@1, ndcg@10, recall@10 (%), mrr (0-1).
    `n_docs`: |D| per query (or a scalar). max_r_norm_table has no per-query form: see
    `max_r_norm_table_interval`."""
    worst = max_rank(ranks)
    out = {f"complete@{k}": 100.0 * complete_at_k(ranks, k, per_query=True) for k in complete_ks}
    out["max_r"] = worst
    out["max_r_norm_per_query"] = max_r_norm_per_query(worst, n_docs, n_rel, per_query=True)
    out["ndcg@1"] = 100.0 * ndcg_at_k(ranks, 1, per_query=True)
    out["ndcg@10"] = 100.0 * ndcg_at_k(ranks, 10, per_query=True)
    out["mrr"] = mrr(ranks, per_query=True)
    out["recall@10"] = 100.0 * recall_at_k(ranks, 10, per_query=True)
    return out


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


def language_preference_per_query(ranks, above_by_lang, gold_langs, pool_langs, query_lang: str,
                                  english: str = "en") -> dict:
    """Per-query values of the `language_preference` columns (rates as 0 or 100, NaN where undefined):
    `mean` of each is that column, so `stats.bootstrap_intervals` gives its interval."""
    english_counts = _english_counts(above_by_lang, gold_langs, pool_langs, query_lang, english)
    own_counts = own_language_counts(above_by_lang, gold_langs, pool_langs, query_lang)
    return {
        "english_inclination_rate": _indicator(english_counts),
        "own_language_inclination_rate": _indicator(own_counts),
        "mean_english_distractors": english_counts,
        "mean_own_language_distractors": own_counts,
        "mean_rank_gap": rank_gap(ranks, gold_langs, query_lang),
    }


def _indicator(counts: np.ndarray) -> np.ndarray:
    """100 * [count >= 1], NaN kept."""
    return np.where(np.isnan(counts), np.nan, 100.0 * (counts >= 1))


# --- query-language preference: which gold comes first ---------------------------------------


def gold_order(gold_scores, gold_langs, query_lang: str, other_lang: str) -> np.ndarray:
    """Per query: +1 when the query-language gold scores strictly above the `other_lang` gold (it
    outranks it), -1 when strictly below, 0 when the scores are exactly equal, NaN when either gold is
    missing. From scores, not ranks: under the optimistic / pessimistic rules two golds with exactly
    equal scores take consecutive ranks in gold-column order, which would make a tie a win for the
    first column. (For ranks under the average rule, pass -ranks: the same signs.)"""
    scores = np.asarray(gold_scores, dtype=float)
    scores = scores[:, None] if scores.ndim == 1 else scores
    langs = gold_lang_list(gold_langs)
    if query_lang not in langs or other_lang not in langs or query_lang == other_lang:
        return np.full(len(scores), np.nan)
    return np.sign(scores[:, langs.index(query_lang)] - scores[:, langs.index(other_lang)])


def query_language_preference(gold_scores, gold_langs, query_lang: str, other_lang: str | None = None) -> dict:
    """Does the query's own language come first? Over the queries of one Multi pool (one query language):

        n_same_first  = #{q: s(same-language gold) > s(other-language gold)}
        n_other_first = #{q: s(same-language gold) < s(other-language gold)}
        n_gold_ties   = #{q: equal scores}        (equal ranks under the average rule)
        same_first_share = 100 * n_same_first / (n_same_first + n_other_first)   (50 = no preference)
        sign_test_p   = two-sided exact sign test of n_same_first against n_other_first

    Ties are excluded from the share and from the sign test (reported as n_gold_ties); queries
    missing either gold are left out. English queries are treated the same way (own language =
    English). `other_lang`: the other gold's language; None = the only one (an N-language pool has
    N - 1: name one, each pair is its own test with a 50 % null). Share and p are NaN without an
    untied query."""
    from xldiag.stats import sign_test

    others = [lang for lang in gold_lang_list(gold_langs) if lang and lang != query_lang]
    if other_lang is None:
        if len(others) > 1:
            raise ValueError(f"The pool has golds in {others} besides {query_lang!r}: pass other_lang=one of them.")
        other_lang = others[0] if others else ""
    order = gold_order(gold_scores, gold_langs, query_lang, other_lang)
    same, other = int((order > 0).sum()), int((order < 0).sum())
    return {
        "n_same_first": same,
        "n_other_first": other,
        "n_gold_ties": int((order == 0).sum()),
        "same_first_share": 100.0 * same / (same + other) if same + other else float("nan"),
        "sign_test_p": sign_test(same, other),
    }


# --- distractor language share -------------------------------------------------------------


def distractor_language_share(above_by_lang, gold_langs, pool_langs, lang_doc_counts,
                              gold_lang: str | None = None) -> dict:
    """Which languages the distractors come from, relative to the pool, pooled over the queries:

        A_l     = sum_q sum_g above_by_lang[q, g, l]   (g: the `gold_lang` gold; None: every gold)
        share_l = A_l / sum_l' A_l'                     pi_l = n_l / sum_l' n_l'
        ratio_l = share_l / pi_l                        (1.0 = in proportion to the pool)

    n_l = `lang_doc_counts` (the pool's docs per language, aligned with `pool_langs`); a gold and its
    copies are in n_l but are never distractors (one doc per language of equal-size languages: the
    shares stay equal). Pooled = a ratio of sums: every (query, distractor) pair counts once, so
    queries with many distractors weigh more than in a mean of per-query shares (which is undefined
    for the queries without a distractor). Works for any number of languages; in an en+L pool a
    ratio of 2.0 means every distractor is in that language. Returns {lang: ratio}: NaN for every
    language without any distractor (sum A = 0) or without that gold, NaN for a language with n_l = 0."""
    above = np.asarray(above_by_lang, dtype=float)
    langs, pool_langs = gold_lang_list(gold_langs), list(pool_langs)
    counts = np.asarray(lang_doc_counts, dtype=float)
    if counts.shape != (len(pool_langs),) or above.shape[-1] != len(pool_langs):
        raise ValueError(f"lang_doc_counts and above_by_lang's last axis need one entry per pool language {pool_langs}.")
    if gold_lang is not None and gold_lang not in langs:
        return {lang: float("nan") for lang in pool_langs}
    picked = above if gold_lang is None else above[:, [langs.index(gold_lang)], :]
    totals = picked.sum(axis=(0, 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (totals / totals.sum()) / (counts / counts.sum())
    ratio = np.where((counts > 0) & (totals.sum() > 0), ratio, np.nan)
    return {lang: float(r) for lang, r in zip(pool_langs, ratio)}


# --- top-1 split ---------------------------------------------------------------------------

TOP1_KEYS = ("top1_relevant_query_lang", "top1_relevant_other_lang",
             "top1_unrelated_query_lang", "top1_unrelated_other_lang")


def top1_split(top_idx, gold, doc_lang, query_lang: str, related=None, per_query: bool = False) -> dict:
    """The best-ranked doc of each query: relevant or not x in the query's language or not (as in
    MLAIRE). Four shares in %, summing to 100 over the queries that have a top doc:

        top1_{relevant|unrelated}_{query|other}_lang = 100 * mean_q [top_q relevant?] [lang(top_q) = query_lang?]

    relevant = top_q is a gold doc of q, or one of its `related` docs (Q x K, -1 padding: copies of a
    gold, `Pool.duplicates`; a top list breaks exact ties by doc index, so in per-question pools a
    gold's copy can come first). `doc_lang`: each doc's language. per_query=True: four arrays of 0 / 1
    (NaN where q has no top doc)."""
    top = np.asarray(top_idx)
    if top.ndim != 2 or top.shape[1] < 1:
        raise ValueError("top1_split needs top_idx with at least one column (rank_gold(top_k >= 1)).")
    first = top[:, 0]
    relevant = _holds(gold, first) | (_holds(related, first) if related is not None else False)
    same = np.asarray(doc_lang)[np.maximum(first, 0)] == query_lang
    out = {}
    for key, (rel, own) in zip(TOP1_KEYS, [(True, True), (True, False), (False, True), (False, False)]):
        values = np.where(first >= 0, ((relevant == rel) & (same == own)).astype(float), np.nan)
        out[key] = values if per_query else mean(values, 100.0)
    return out


def _holds(doc_sets, docs: np.ndarray) -> np.ndarray:
    """Per query: whether its row of `doc_sets` (Q x K, -1 padding) holds docs[q]."""
    sets = np.asarray(doc_sets)
    sets = sets[:, None] if sets.ndim == 1 else sets
    return ((sets == docs[:, None]) & (sets >= 0)).any(axis=1)


# --- per-query diagnosis -------------------------------------------------------------------


def diagnose(ranks, above_by_lang, gold_langs, pool_langs, query_lang: str) -> np.ndarray:
    """Why a Multi query fails, from its gold ranks and `above_by_lang`. Notation: s = the query-language
    gold, O = the other golds, U_g = unrelated docs strictly above gold g (summed over languages),
    U_g^own = those of them in the query's language. In this order:

      pass           MaxR_q <= |R_q|: the gold set fills the top |R_q| places (under the ranks' tie rule).
      semantic-miss  U_s >= 1: unrelated docs beat the same-language gold too; the model misses the
                     passage even in the query's own language.
      no-distractor  U_g = 0 for every gold: it fails only through ties (pessimistic / average rules)
                     or through a gold's copies ranked above the other gold (per-question pools).
      language-miss  U_s = 0 and U_o = U_o^own for every o in O: the same-language gold is near the
                     top (no unrelated doc above it: only golds, or their copies, can be; i.e. rank
                     <= |R_q| in a unique pool under the optimistic rule), and every unrelated doc
                     above an other-language gold is in the query's language.
      mixed          U_s = 0 and an other-language gold has an unrelated doc of another language above
                     it (with or without query-language ones): the translation is also beaten by
                     unrelated passages of its own (or a third) language.

    Returns a str array ("" for queries without a gold). Raises ValueError unless the pool has a
    query-language gold and another gold (Multi)."""
    ranks, has = _ranks(ranks)
    above = np.asarray(above_by_lang, dtype=float)
    langs, pool_langs = gold_lang_list(gold_langs), list(pool_langs)
    others = [g for g, lang in enumerate(langs) if lang and lang != query_lang]
    if query_lang not in langs or not others or query_lang not in pool_langs:
        raise ValueError(f"diagnose needs a Multi pool: a {query_lang!r} gold and another gold, got golds {langs}.")
    unrelated = above.sum(axis=2)  # U_g, Q x G
    foreign = unrelated - above[:, :, pool_langs.index(query_lang)]  # U_g - U_g^own
    n_rel = (~np.isnan(ranks)).sum(axis=1)
    with np.errstate(invalid="ignore"):
        passing = max_rank(ranks) <= n_rel
    labels = np.select(
        [~has, passing, unrelated[:, langs.index(query_lang)] >= 1, unrelated.sum(axis=1) == 0,
         foreign[:, others].sum(axis=1) == 0],
        ["", "pass", "semantic-miss", "no-distractor", "language-miss"],
        default="mixed",
    )
    return labels.astype(str)


# --- PEER (Yang et al., SIGIR 2024) --------------------------------------------------------


def peer(top_idx, gold, doc_lang, cutoff: int = 10, weights: dict | None = None, per_query: bool = False):
    """PEER@k, "Probability of Equal Expected Rank" (Yang et al., SIGIR 2024), as the authors'
    package `peer-measure` 0.0.1 computes it (tests check the two agree), every pool doc judged
    (gold: 1, every other doc: 0; `peer_inputs` builds the package's inputs).

    Query q, relevance level l (1: its golds, 0: the other docs): the level's docs in the top k,
    grouped by language, x = position in the top-k list (1..k); a gold outside the top k gets
    x = (2n + u + 1) / 2 (n = |R_q|, u = golds outside the top k: the package's placement); other
    docs outside the top k are left out. Kruskal-Wallis on the positions themselves (not re-ranked):

        H = (N - 1) * sum_g n_g (xbar_g - xbar)^2 / sum_{g,i} (x_gi - xbar)^2,   p_l = chi2.sf(H, G - 1)

    over the G non-empty groups (N docs); p_l = 1 when no doc of the level is in the top k or G < 2.
    One departure: when every x is equal (a gold at position 3 while the other of two is outside the
    top k: x = 3 and (2*2 + 1 + 1) / 2 = 3) H is 0/0; the package returns NaN (which also turns a
    zero-weighted level's NaN * 0 and any mean over queries into NaN), we take p_l = 1 (identical
    positions: equal expected rank). PEER_q = sum_l w_l p_l over the levels q has (level 1 needs a
    gold); PEER@k = mean_q PEER_q (0-1). `weights` {level: weight} summing to 1; default {1: 1.0}.

    With one gold per language (our Multi pools) a level-1 group holds one doc, so H = G - 1 and
    p_1 = chi2.sf(G - 1, G - 1) (0.3173 for two languages) for every query with a gold in the top k,
    1 for the others: over the relevant docs PEER only says whether a gold is in the top k. The
    non-relevant level (weights {0: 1.0}) is the part that varies with the ranking, but it needs two
    languages among the top k's non-relevant docs: a list whose unrelated docs are all in one
    language gets p_0 = 1, the "fairest" value (XQuAD en+zh, default model, Chinese queries: 1.0).
    Use unique pools: in a per-question pool a gold's copies fill the top list as non-relevant docs."""
    weights = {1: 1.0} if weights is None else dict(weights)
    if not np.isclose(sum(weights.values()), 1.0):
        raise ValueError(f"PEER weights must sum to 1, got {weights}.")
    top, gold = _peer_top(top_idx, cutoff), np.asarray(gold)
    codes = np.unique(np.asarray(doc_lang), return_inverse=True)[1].reshape(-1)
    valid = top >= 0
    top_is_gold = ((top[:, :, None] == gold[:, None, :]) & (gold[:, None, :] >= 0)).any(axis=2) & valid
    position = np.broadcast_to(np.arange(1.0, top.shape[1] + 1), top.shape)
    top_lang = codes[np.maximum(top, 0)]
    p0 = _kruskal_positions(position, top_lang, valid & ~top_is_gold)
    real = gold >= 0
    missed = real & ~((gold[:, :, None] == top[:, None, :]) & valid[:, None, :]).any(axis=2)
    n, u = real.sum(axis=1), missed.sum(axis=1)
    x_missed = np.broadcast_to(((2.0 * n + u + 1) / 2)[:, None], gold.shape)
    p1 = _kruskal_positions(np.concatenate([position, x_missed], axis=1),
                            np.concatenate([top_lang, codes[np.maximum(gold, 0)]], axis=1),
                            np.concatenate([top_is_gold, missed], axis=1))
    p1 = np.where(top_is_gold.any(axis=1), p1, 1.0)
    values = weights.get(0, 0.0) * p0 + np.where(n > 0, weights.get(1, 0.0) * p1, 0.0)
    return values if per_query else mean(values)


def _peer_top(top_idx, cutoff: int) -> np.ndarray:
    top = np.asarray(top_idx)
    if cutoff < 1 or cutoff > top.shape[1]:
        raise ValueError(f"PEER@{cutoff} needs the top {cutoff} docs; top_idx holds {top.shape[1]} "
                         "(rank with rank_gold(top_k=...) >= the cutoff).")
    return top[:, :cutoff]


def _kruskal_positions(x, group, member) -> np.ndarray:
    """Per row: the Kruskal-Wallis p-value of the positions x[member] grouped by `group` (see `peer`)."""
    from scipy.special import chdtrc  # chi2.sf(h, df) == chdtrc(df, h), without scipy.stats' per-call cost

    n_rows, n_groups = len(x), int(group.max(initial=0)) + 1
    # counts and sums per (row, group) by bincount: positions are small integers and halves, so
    # every sum is exact whatever the order of its terms
    cell = (np.arange(n_rows)[:, None] * n_groups + group)[member]
    n_g = np.bincount(cell, minlength=n_rows * n_groups).reshape(n_rows, n_groups)
    sum_g = np.bincount(cell, weights=np.broadcast_to(x, member.shape)[member],
                        minlength=n_rows * n_groups).reshape(n_rows, n_groups)
    n = n_g.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        xbar = sum_g.sum(axis=1) / n
        ssg = np.where(n_g > 0, n_g * (sum_g / n_g - xbar[:, None]) ** 2, 0.0).sum(axis=1)
        ssa = np.where(member, (x - xbar[:, None]) ** 2, 0.0).sum(axis=1)
        h = (n - 1) * ssg / ssa
    k = (n_g > 0).sum(axis=1)
    p = np.ones(n_rows)
    tested = (k >= 2) & (ssa > 0)
    for df in np.unique(k[tested] - 1):
        # positions take few values, so H does too: chi2's tail (about 1 us a call) once per distinct H
        rows = np.flatnonzero(tested & (k - 1 == df))
        distinct, back = np.unique(h[rows], return_inverse=True)
        p[rows] = chdtrc(df, distinct)[back.reshape(-1)]
    return p


def peer_inputs(top_idx, gold, doc_lang, cutoff: int = 10, excluded=None, doc_ids=None) -> tuple[dict, dict, dict]:
    """The inputs of `peer-measure` for the same PEER@k as `peer`: (qrels, run, lang_mapping).

    qrels {qid: {doc_id: 1 for a gold, 0 for every other doc of q's pool}} (`excluded`: Q x K docs not
    in q's pool, -1 padding); run {qid: {doc_id: k - j}} for the top-k docs j = 0..k-1 (the package
    sorts by score, so our order is kept); lang_mapping {doc_id: language}. Query ids "q0", "q1", ...;
    doc ids `doc_ids` (default "d0", "d1", ...)."""
    top, gold = _peer_top(top_idx, cutoff), np.asarray(gold)
    doc_lang = np.asarray(doc_lang)
    ids = [f"d{i}" for i in range(len(doc_lang))] if doc_ids is None else [str(d) for d in doc_ids]
    excluded = np.full((len(top), 0), -1) if excluded is None else np.asarray(excluded)
    qrels, run = {}, {}
    for q in range(len(top)):
        out = set(excluded[q][excluded[q] >= 0].tolist())
        golds = set(gold[q][gold[q] >= 0].tolist())
        qrels[f"q{q}"] = {ids[d]: int(d in golds) for d in range(len(ids)) if d not in out}
        run[f"q{q}"] = {ids[d]: float(cutoff - j) for j, d in enumerate(top[q]) if d >= 0}
    return qrels, run, {ids[d]: str(lang) for d, lang in enumerate(doc_lang)}


# --- cross-language consistency ------------------------------------------------------------


def as_passages(doc_idx, doc_passage) -> np.ndarray:
    """Doc indices (any shape, -1 padding) -> their passage indices (`Pool.doc_passage`), -1 kept:
    parallel docs (one passage in several languages) and copies map to the same passage."""
    docs = np.asarray(doc_idx)
    return np.where(docs >= 0, np.asarray(doc_passage)[np.maximum(docs, 0)], -1)


def top_overlap(top_a, top_b, k: int = 10) -> np.ndarray:
    """Per query pair (row q of each): overlap@k = |P_a & P_b| / max(|P_a|, |P_b|), P_x = the distinct
    passages among the first k entries of row x (-1 padding ignored).

    Pass passage indices (`as_passages(top_idx, pool.doc_passage)`) so that parallel docs count as one
    passage. Equals |A & B| / k when each list holds k distinct passages; 1 iff both lists hold the
    same passages; NaN when both are empty."""
    a, b = np.asarray(top_a)[:, :k], np.asarray(top_b)[:, :k]
    first_a, first_b = _first_occurrences(a), _first_occurrences(b)
    shared = ((a[:, :, None] == b[:, None, :]) & (b[:, None, :] >= 0)).any(axis=2) & first_a
    size = np.maximum(first_a.sum(axis=1), first_b.sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(size > 0, shared.sum(axis=1) / size, np.nan)


def _first_occurrences(rows: np.ndarray) -> np.ndarray:
    """Mask of the entries >= 0 that do not repeat an earlier entry of their row."""
    earlier = np.tril(np.ones((rows.shape[1], rows.shape[1]), dtype=bool), k=-1)  # [i, j]: j before i
    repeat = ((rows[:, :, None] == rows[:, None, :]) & earlier).any(axis=2)
    return (rows >= 0) & ~repeat


def passage_scores(doc_scores, doc_passage, n_passages: int | None = None) -> np.ndarray:
    """Q x P: each passage's best score over its docs (its language versions, and its copies), NaN
    scores (excluded docs) skipped, NaN for a passage without a scored doc. Makes two queries' score
    rows comparable passage by passage (`score_rank_correlation`)."""
    scores = np.atleast_2d(np.asarray(doc_scores, dtype=float))
    passage = np.asarray(doc_passage)
    n_passages = int(passage.max(initial=-1)) + 1 if n_passages is None else n_passages
    out = np.full((n_passages, len(scores)), np.nan)
    np.fmax.at(out, passage, scores.T)  # fmax: NaN loses against any number
    return out.T


def score_rank_correlation(scores_a, scores_b) -> np.ndarray:
    """Per query pair (row q of each, Q x N over the same items: the same pool docs, or passages via
    `passage_scores`): Spearman's rho = the Pearson correlation of the two rows' ranks (ties: average
    ranks). Items NaN in either row are left out of that row; NaN where a row is constant or < 2 items.

    Spearman, not Kendall's tau: both compare orders only (so two queries' score scales do not
    matter), but Spearman is one `rankdata` over all rows plus row-wise dot products, while Kendall's
    tau-b is a per-row O(N log N) call (scipy) that costs far more over pools of thousands of docs.

    Over the docs of a Multi pool each row is dominated by its query's language preference (an
    English query scores English docs higher, a German one German docs): XQuAD, default model, mean
    rho over docs 0.01 (en+de) and -0.44 (en+zh), over passages 0.75 and 0.60. For consistency
    compare passages (`passage_scores`) or one document language at a time."""
    a, b = np.atleast_2d(np.asarray(scores_a)), np.atleast_2d(np.asarray(scores_b))
    if a.shape != b.shape:
        raise ValueError(f"Score rows must cover the same items: shapes {a.shape} and {b.shape}.")
    gaps = (np.isnan(a) | np.isnan(b)).any(axis=1)
    out = np.full(len(a), np.nan)
    whole = slice(None) if not gaps.any() else ~gaps  # no copy in the usual case
    out[whole] = _rank_correlation(a[whole], b[whole])
    for q in np.nonzero(gaps)[0]:  # rare (excluded docs): each row with its own items
        keep = ~(np.isnan(a[q]) | np.isnan(b[q]))
        if keep.sum() >= 2:
            out[q] = _rank_correlation(a[q, keep][None], b[q, keep][None])[0]
    return out


def _rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, Pearson's r of the two rows' ranks. Where neither row has ties both hold 1..n, and
    r = 1 - 6 sum d^2 / (n (n^2 - 1)) (d = rank difference): the same value in one pass."""
    rank_a, tied_a = _ranks_and_ties(a)
    rank_b, tied_b = _ranks_and_ties(b)
    n = a.shape[1]
    out = np.empty(len(a))
    plain = ~(tied_a | tied_b)
    if plain.any():
        d = rank_a[plain] - rank_b[plain]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[plain] = np.where(n >= 2, 1.0 - 6.0 * (d * d).sum(axis=1) / (n * (n * n - 1.0)), np.nan)
    if not plain.all():
        out[~plain] = _row_pearson(rank_a[~plain], rank_b[~plain])
    return out


def _ranks_and_ties(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scipy's rankdata(x, axis=1), which rows hold equal values). One argsort per row; along a
    sorted row with equal values, a run of them spans places [first, last] and each member gets the
    rank (first + last) / 2 + 1 (only rows that have ties pay for finding the runs)."""
    order = np.argsort(x, axis=1)  # any order among equal values: they share one rank
    n = x.shape[1]
    flat = (order + np.arange(len(x))[:, None] * n).ravel()  # flat indexing: faster than *_along_axis
    ordered = x.ravel()[flat].reshape(x.shape)
    sorted_ranks = np.broadcast_to(np.arange(1.0, n + 1), x.shape).copy()
    equal_next = ordered[:, 1:] == ordered[:, :-1]
    tied = equal_next.any(axis=1)
    if tied.any():
        place = np.broadcast_to(np.arange(n), (int(tied.sum()), n))
        starts = np.ones(place.shape, dtype=bool)
        starts[:, 1:] = ~equal_next[tied]
        ends = np.ones(place.shape, dtype=bool)
        ends[:, :-1] = starts[:, 1:]
        first = np.maximum.accumulate(np.where(starts, place, 0), axis=1)
        last = np.minimum.accumulate(np.where(ends, place, n)[:, ::-1], axis=1)[:, ::-1]
        sorted_ranks[tied] = (first + last) / 2.0 + 1.0
    ranks = np.empty(x.size, dtype=float)
    ranks[flat] = sorted_ranks.ravel()
    return ranks.reshape(x.shape), tied


def _row_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xc, yc = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    den = np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (xc * yc).sum(axis=1) / den, np.nan)
