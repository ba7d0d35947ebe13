"""The measures of one pool beyond the gold ranks' headline (issue 11), as summary columns: mAP, the
query-language preference and its sign test, the distractor language share, PEER, the top-1 split,
the per-query diagnosis, cross-language consistency, and the bootstrap intervals of the headline.

The formulas live in `xldiag.metrics` and `xldiag.stats` (each docstring holds its definition);
this module says which pools each measure applies to and how its inputs come out of a `Pool` and
its `GoldRanks`. Where a measure does not apply to a pool its columns are NaN, so every summary
row carries every column:

    map, top1_*                      every pool
    peer@10, distractor_share_*      pools that mix languages (Multi, Multi-1)
    query_language_preference(_p)    Multi pools with exactly two gold languages
    diagnosis_*                      Multi pools
    consistency_*                    every scenario: a query against the same question asked in the
                                     pool's other query language(s) (filled in by `consistency`)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xldiag import metrics, stats
from xldiag.pools import Pool
from xldiag.ranking import is_identity
from xldiag.vocab import DIAGNOSES, INTERVAL_LEVEL, INTERVAL_METRICS, diagnosis_column, interval_columns

PEER_CUTOFF = 10
# PEER's relevance levels weighted equally. With one gold per language the relevant level is nearly
# constant (metrics.peer); the non-relevant level is the part that moves.
PEER_WEIGHTS = {0: 0.5, 1: 0.5}
CONSISTENCY_K = 10
CONSISTENCY_COLUMNS = ("consistency_overlap@10", "consistency_rho")
QLP_COLUMNS = ("query_language_preference", "query_language_preference_p")
MIXED_SCENARIOS = ("multi", "multi-1")  # pools holding docs of several languages


def mixes_languages(pool: Pool) -> bool:
    return pool.scenario in MIXED_SCENARIOS and len(pool.langs) >= 2


def is_multi(pool: Pool) -> bool:
    """A Multi pool: a query-language gold and at least one other-language gold."""
    return pool.scenario == "multi" and len(pool.gold_langs) >= 2 and pool.query_lang in pool.gold_langs


# --- per row -------------------------------------------------------------------------------------


def row_measures(pool: Pool, result, ranks: np.ndarray) -> dict:
    """The summary columns of one pool under one tie rule (`ranks`: `result.ranks_under(rule)`)."""
    row = {"map": metrics.average_precision(ranks)}
    row.update(query_language_preference(pool, result))
    row["distractor_share_query_lang"] = distractor_share(pool, result).get(pool.query_lang, np.nan) \
        if mixes_languages(pool) else np.nan
    row["peer@10"] = metrics.peer(result.top_idx, pool.gold, pool.doc_lang, PEER_CUTOFF, PEER_WEIGHTS) \
        if mixes_languages(pool) and result.top_idx.shape[1] >= PEER_CUTOFF else np.nan
    row.update(metrics.top1_split(result.top_idx, pool.gold, pool.doc_lang, pool.query_lang, related=pool.duplicates))
    row.update(diagnosis_shares(diagnosis(pool, result, ranks)))
    row.update({column: np.nan for column in CONSISTENCY_COLUMNS})  # filled in by `consistency`
    return row


def query_language_preference(pool: Pool, result) -> dict:
    """`query_language_preference` (% of untied queries whose same-language gold scores above the
    other-language gold; 50 = none) and its two-sided sign-test p, for two-gold Multi pools."""
    if not is_multi(pool) or len(pool.gold_langs) != 2:
        return {column: np.nan for column in QLP_COLUMNS}
    found = metrics.query_language_preference(result.gold_scores, pool.gold_langs, pool.query_lang)
    return dict(zip(QLP_COLUMNS, (found["same_first_share"], found["sign_test_p"])))


def lang_doc_counts(pool: Pool) -> np.ndarray:
    """n_l: the pool's docs of each language of `pool.langs`."""
    return np.array([(pool.doc_lang == lang).sum() for lang in pool.langs], dtype=float)


def distractor_share(pool: Pool, result, gold_lang: str | None = None) -> dict:
    """{lang: ratio}: metrics.distractor_language_share over every gold (or one gold's language)."""
    return metrics.distractor_language_share(result.above_by_lang, pool.gold_langs, pool.langs,
                                             lang_doc_counts(pool), gold_lang=gold_lang)


def diagnosis(pool: Pool, result, ranks: np.ndarray) -> np.ndarray:
    """Per query: metrics.diagnose in a Multi pool, "" elsewhere."""
    if not is_multi(pool):
        return np.full(pool.n_queries, "", dtype=object)
    return metrics.diagnose(ranks, result.above_by_lang, pool.gold_langs, pool.langs, pool.query_lang).astype(object)


def diagnosis_shares(labels: np.ndarray) -> dict:
    """% of the queries (with a gold) in each diagnosis; NaN outside Multi pools (all labels "")."""
    labelled = labels[labels != ""]
    return {diagnosis_column(label): 100.0 * float(np.mean(labelled == label)) if len(labelled) else np.nan
            for label in DIAGNOSES}


def distractor_rows(pool: Pool, result) -> list[dict]:
    """Long-form distractor language share of a pool that mixes languages: one row per gold
    language ("all": every gold pooled) and distractor language, with A_l (`distractors`), n_l
    (`n_docs`) and the ratio (`share`: 1.0 = in proportion to the pool)."""
    if not mixes_languages(pool):
        return []
    counts = lang_doc_counts(pool)
    above = np.asarray(result.above_by_lang, dtype=float)
    rows = []
    for g, gold_lang in [(None, "all"), *enumerate(pool.gold_langs)]:
        picked = above if g is None else above[:, [g], :]
        ratio = distractor_share(pool, result, None if g is None else gold_lang)
        for j, lang in enumerate(pool.langs):
            rows.append({"query_lang": pool.query_lang, "scenario": pool.scenario, "gold_lang": gold_lang,
                         "distractor_lang": lang, "distractors": int(picked[:, :, j].sum()),
                         "n_docs": int(counts[j]), "share": ratio[lang]})
    return rows


# --- bootstrap intervals -------------------------------------------------------------------------


def interval_values(pool: Pool, ranks: np.ndarray) -> dict:
    """Per-query values of the INTERVAL_METRICS that have them (all but max_r_norm_table, whose
    interval is the transformed Max@R interval), on the summary's scale."""
    found = metrics.headline_per_query(ranks, pool.docs_per_query, pool.n_rel, complete_ks=(10,))
    found["map"] = 100.0 * metrics.average_precision(ranks, per_query=True)
    return {column: found[column] for column in INTERVAL_METRICS if column in found}


@dataclass
class Intervals:
    """Bootstrap intervals for many summary rows, computed together: rows with the same number of
    queries share one resample matrix and one matmul (stats.bootstrap_intervals)."""

    n_resamples: int = stats.DEFAULT_RESAMPLES
    seed: int = 0
    pending: dict = field(default_factory=dict)  # n_queries -> {(row, column): values}
    sizes: dict = field(default_factory=dict)  # row -> (mean |D|, |R|)

    def add(self, row: int, pool: Pool, ranks: np.ndarray, values: dict | None = None) -> None:
        """Summary row `row`'s per-query values: `values` (`interval_values(pool, ranks)`, computed
        where the pool was ranked), else computed here."""
        if self.n_resamples < 1:
            return
        group = self.pending.setdefault(len(ranks), {})
        found = interval_values(pool, ranks) if values is None else values
        group.update({(row, column): column_values for column, column_values in found.items()})
        self.sizes[row] = (float(pool.docs_per_query.mean()) if pool.n_queries else np.nan, pool.n_rel)

    def columns(self, n_rows: int) -> list[dict]:
        """For rows 0..n_rows-1: {<metric>_lo, <metric>_hi} (NaN with the bootstrap off)."""
        out = [{name: np.nan for column in INTERVAL_METRICS for name in interval_columns(column)}
               for _ in range(n_rows)]
        for columns in self.pending.values():
            found = stats.bootstrap_intervals(columns, self.n_resamples, self.seed, INTERVAL_LEVEL)
            for (row, column), (lo, hi) in found.items():
                out[row].update(dict(zip(interval_columns(column), (lo, hi))))
        for row, (n_docs, n_rel) in self.sizes.items():
            lo, hi = out[row]["max_r_lo"], out[row]["max_r_hi"]
            table = metrics.max_r_norm_table_interval(lo, hi, n_docs, n_rel)
            out[row].update(dict(zip(interval_columns("max_r_norm_table"), table)))
        return out

    def record(self) -> dict:
        """What config.json says about the intervals."""
        return {"resamples": int(self.n_resamples), "seed": int(self.seed), "level": INTERVAL_LEVEL,
                "unit": "query"}


# --- cross-language consistency ------------------------------------------------------------------


MAX_BLOCK_SCORES = 50_000_000  # 200 MB of float32 per (query language, document language) block


class PassageScores:
    """A language set's score blocks, for consistency and for ranking its pools. Each (query
    language, document language) block — every question against every passage — is one matmul,
    cached: a pool's rows are read from its blocks, so the four scenarios of a language set cost
    four matmuls in all (Q x P x d multiply-adds each; memory Q x P floats per block: 1.1 MB for
    XQuAD's 1,190 questions x 240 passages; a dataset whose blocks do not fit would compute them
    per chunk of questions). The evaluation computes them all first (`compute_all`) and ranks its
    pools from them (`evaluate.pool_row_scores`)."""

    def __init__(self, embeddings: dict):
        self.embeddings = embeddings
        self.blocks: dict = {}
        self._ready = False

    def compute_all(self, langs) -> None:
        """Every (query language, document language) block of `langs` now, when they fit in
        MAX_BLOCK_SCORES scores each (else `ready()` stays False and each pool is scored apart)."""
        sizes = [len(self.embeddings[("query", q)]) * len(self.embeddings[("passage", d)]) for q in langs for d in langs]
        if max(sizes, default=0) <= MAX_BLOCK_SCORES:
            for q in langs:
                for d in langs:
                    self.block(q, d)
            self._ready = True

    def ready(self) -> bool:
        """Whether `compute_all` computed every block (threads may then read them at will)."""
        return self._ready

    def block(self, query_lang: str, doc_lang: str) -> np.ndarray:
        key = (query_lang, doc_lang)
        if key not in self.blocks:
            queries, passages = self.embeddings[("query", query_lang)], self.embeddings[("passage", doc_lang)]
            block = np.asarray(queries @ passages.T, dtype=np.float32)
            block.setflags(write=False)  # shared by threads and pools, handed out as it is: read only
            self.blocks[key] = block
        return self.blocks[key]

    def of(self, pool: Pool, n_passages: int) -> np.ndarray:
        """Q x P: each passage's best score over its docs in this query's pool, i.e. over the
        languages holding it (copies of a text score alike), an excluded (language, passage) left
        out; NaN for a passage without a doc here. Equal to `metrics.passage_scores` of the pool's
        doc scores, without forming the Q x |D| matrix."""
        out = None
        rows, cols = np.nonzero(pool.excluded >= 0)
        excluded = pool.excluded[rows, cols]
        every_query = (len(pool.query_index) == len(self.embeddings[("query", pool.query_lang)])
                       and is_identity(pool.query_index))
        for lang in pool.langs:
            present = np.unique(pool.doc_passage[pool.doc_lang == lang])
            block = self.block(pool.query_lang, lang)
            if every_query and len(present) == n_passages and is_identity(present):
                scores = block.copy()  # the usual case: every question against every passage
            else:
                scores = np.full((pool.n_queries, n_passages), np.nan, dtype=np.float32)
                scores[:, present] = block[np.ix_(pool.query_index, present)]
            mine = pool.doc_lang[excluded] == lang  # every copy of an excluded text is excluded with it
            scores[rows[mine], pool.doc_passage[excluded[mine]]] = np.nan
            out = scores if out is None else np.fmax(out, scores)
        return np.full((pool.n_queries, n_passages), np.nan, dtype=np.float32) if out is None else out


def consistency_pair(pool_a: Pool, result_a, pool_b: Pool, result_b, scores: PassageScores) -> dict:
    """The questions asked in both pools' query languages: the top-10 overlap by passage
    (`metrics.top_overlap`, in %) and Spearman's rho of the passage-level score rows
    (`metrics.score_rank_correlation`). Returns {"rows_a", "rows_b" (each pool's rows of those
    questions), "overlap", "rho"}."""
    _, rows_a, rows_b = np.intersect1d(pool_a.query_index, pool_b.query_index, return_indices=True)
    top_a = metrics.as_passages(result_a.top_idx[rows_a, :CONSISTENCY_K], pool_a.doc_passage)
    top_b = metrics.as_passages(result_b.top_idx[rows_b, :CONSISTENCY_K], pool_b.doc_passage)
    overlap = 100.0 * metrics.top_overlap(top_a, top_b, k=CONSISTENCY_K)
    n_passages = int(max(pool_a.doc_passage.max(initial=-1), pool_b.doc_passage.max(initial=-1))) + 1
    a, b = scores.of(pool_a, n_passages)[rows_a], scores.of(pool_b, n_passages)[rows_b]
    keep = ~np.isnan(a).all(axis=0) & ~np.isnan(b).all(axis=0)  # passages absent from a pool
    rho = metrics.score_rank_correlation(a[:, keep], b[:, keep])
    return {"rows_a": rows_a, "rows_b": rows_b, "overlap": overlap, "rho": rho}


def consistency(pools: list[tuple[Pool, object]], scores: PassageScores) -> list[dict]:
    """Consistency for the pools of one scenario and language set, one pool per query language.

    Returns, per pool (in order), {"overlap": (Q,), "rho": (Q,)} over its queries: each query against
    the same question in every other query language of the set (the mean over them where there
    are several); NaN where no other language asks it."""
    found = [{"overlap": [], "rho": []} for _ in pools]
    for i, (pool_a, result_a) in enumerate(pools):
        for j in range(i + 1, len(pools)):
            pool_b, result_b = pools[j]
            pair = consistency_pair(pool_a, result_a, pool_b, result_b, scores)
            for k, pool, rows in ((i, pool_a, pair["rows_a"]), (j, pool_b, pair["rows_b"])):
                for key in ("overlap", "rho"):
                    values = np.full(pool.n_queries, np.nan)
                    values[rows] = pair[key]
                    found[k][key].append(values)
    return [{key: _mean_rows(values, pool.n_queries) for key, values in one.items()}
            for (pool, _), one in zip(pools, found)]


def _mean_rows(arrays: list[np.ndarray], n: int) -> np.ndarray:
    """Element-wise NaN-skipping mean of equal-length arrays (NaN where all are NaN, or none given)."""
    if not arrays:
        return np.full(n, np.nan)
    stacked = np.vstack(arrays)
    counts = (~np.isnan(stacked)).sum(axis=0)
    return np.where(counts > 0, np.nansum(stacked, axis=0) / np.maximum(counts, 1), np.nan)


def consistency_columns(found: dict) -> dict:
    """The summary columns of one query language's consistency arrays (means over its queries)."""
    return {"consistency_overlap@10": metrics.mean(found["overlap"]), "consistency_rho": metrics.mean(found["rho"])}
