"""Benchmark: bootstrap intervals for a whole XQuAD table, against computing the summary itself.

80 pools (10 pairs x 4 scenarios x 2 query languages) x 1,190 queries x 2 golds, synthetic ranks
(|D| = 480, heavy-tailed like a real model's) and language counts. In one run, on the same machine:
  summary      the summary's headline and language-preference columns for every pool (the metric
               calls evaluate makes now): the baseline;
  per-pool     per-query values of those 16 columns and their 95 % percentile intervals, 1,000
               resamples, one `bootstrap_intervals` call (one matmul) per pool; the seeded resample
               matrix is drawn once (cached: every pool has the same Q);
  batched      the same, every pool's columns in one call (one wide matmul for the table);
  paired       a Compare page's paired intervals: every column of every pool, base vs tuned, batched.
Each figure is the best of --repeats runs. The bootstrap must fit in the 2 s warm-evaluation budget
with room to spare; its cost relative to the summary is printed.

    .venv/bin/python bench/bootstrap_bench.py [--pools 80 --queries 1190 --resamples 1000 --repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xldiag import metrics, stats  # noqa: E402

N_DOCS, N_REL, LANGS = 480, 2, ["en", "xx"]


def make_pools(n_pools: int, n_queries: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    pools = []
    for p in range(n_pools):
        ranks = 1.0 + np.floor(N_DOCS * rng.random((n_queries, N_REL)) ** 4)
        ranks[:, 1] = np.where(ranks[:, 1] == ranks[:, 0], ranks[:, 0] + 1, ranks[:, 1])
        above = rng.poisson(rng.random((n_queries, N_REL, 2)) * 3)
        pools.append({"ranks": ranks, "above": above, "query_lang": LANGS[p % 2], "n_docs": np.full(n_queries, N_DOCS)})
    return pools


def summary_columns(pool: dict) -> dict:
    ranks = pool["ranks"]
    row = {f"complete@{k}": metrics.complete_at_k(ranks, k) for k in (1, 5, 10, 20, 100)}
    row["max_r"] = metrics.max_r(ranks)
    row["max_r_norm_table"] = metrics.max_r_norm_table(row["max_r"], N_DOCS, N_REL)
    row["max_r_norm_per_query"] = metrics.max_r_norm_per_query(metrics.max_rank(ranks), pool["n_docs"], N_REL)
    row["ndcg@1"], row["ndcg@10"] = metrics.ndcg_at_k(ranks, 1), metrics.ndcg_at_k(ranks, 10)
    row["mrr"], row["recall@10"] = metrics.mrr(ranks), metrics.recall_at_k(ranks, 10)
    row.update(metrics.language_preference(ranks, pool["above"], LANGS, LANGS, pool["query_lang"]))
    return row


def per_query_columns(pool: dict) -> dict:
    columns = metrics.headline_per_query(pool["ranks"], pool["n_docs"], N_REL)
    columns.update(metrics.language_preference_per_query(pool["ranks"], pool["above"], LANGS, LANGS, pool["query_lang"]))
    return columns


def bootstrap_per_pool(pools, n_resamples: int) -> list[dict]:
    out = []
    for pool in pools:
        intervals = stats.bootstrap_intervals(per_query_columns(pool), n_resamples=n_resamples)
        lo, hi = intervals["max_r"]
        intervals["max_r_norm_table"] = metrics.max_r_norm_table_interval(lo, hi, N_DOCS, N_REL)
        out.append(intervals)
    return out


def bootstrap_batched(pools, n_resamples: int) -> dict:
    columns = {(p, name): values for p, pool in enumerate(pools) for name, values in per_query_columns(pool).items()}
    intervals = stats.bootstrap_intervals(columns, n_resamples=n_resamples)
    for p in range(len(pools)):
        lo, hi = intervals[(p, "max_r")]
        intervals[(p, "max_r_norm_table")] = metrics.max_r_norm_table_interval(lo, hi, N_DOCS, N_REL)
    return intervals


def paired_batched(pools, tuned, n_resamples: int) -> dict:
    diffs = {}
    for p, (base, other) in enumerate(zip(pools, tuned)):
        a, b = per_query_columns(base), per_query_columns(other)
        diffs.update({(p, name): b[name] - a[name] for name in a})  # = paired_bootstrap_interval per column
    return stats.bootstrap_intervals(diffs, n_resamples=n_resamples)


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pools", type=int, default=80)
    parser.add_argument("--queries", type=int, default=1190)
    parser.add_argument("--resamples", type=int, default=stats.DEFAULT_RESAMPLES)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    pools, tuned = make_pools(args.pools, args.queries), make_pools(args.pools, args.queries, seed=1)
    n_columns = len(per_query_columns(pools[0]))
    print(f"{args.pools} pools x {args.queries} queries, {n_columns} per-query columns (+ max_r_norm_table), "
          f"{args.resamples} resamples, best of {args.repeats}")
    draw = best_of(lambda: (stats.resample_counts.cache_clear(), stats.resample_counts(args.queries, args.resamples)),
                   args.repeats)
    base = best_of(lambda: [summary_columns(p) for p in pools], args.repeats)
    per_pool = best_of(lambda: bootstrap_per_pool(pools, args.resamples), args.repeats)
    batched = best_of(lambda: bootstrap_batched(pools, args.resamples), args.repeats)
    paired = best_of(lambda: paired_batched(pools, tuned, args.resamples), args.repeats)
    print(f"summary columns (baseline):          {base:7.3f} s")
    print(f"drawing the resample matrix (once):  {draw:7.3f} s")
    print(f"bootstrap, one call per pool:        {per_pool:7.3f} s   {per_pool / base:5.1f} x baseline")
    print(f"bootstrap, one call for the table:   {batched:7.3f} s   {batched / base:5.1f} x baseline")
    print(f"paired intervals (Compare), batched: {paired:7.3f} s   {paired / base:5.1f} x baseline")


if __name__ == "__main__":
    main()
