"""Uncertainty over per-query values: percentile bootstrap, paired bootstrap, paired tests
(Wilcoxon signed-rank, sign-flip permutation, sign test).

Pure numpy/scipy over arrays (no pandas). A summary value is the NaN-skipping mean of per-query
values (`metrics.mean`), so its bootstrap resamples the *queries*: resample b draws Q queries
uniformly with replacement, C[b, q] = how often it drew query q (every row of C sums to Q), and

    mean_b = sum_q C[b, q] v_q [v_q defined] / sum_q C[b, q] [v_q defined]     (NaN values skipped)

The 100·level % percentile interval is (the (1 - level)/2 and (1 + level)/2 quantiles of mean_b,
numpy's linear interpolation). One C serves every metric of a pool: the means of all metrics are
one matmul C @ V (Q x M), so bootstrapping a whole summary row costs about one pass over B x Q.
Seeded (numpy's PCG64 via `default_rng(seed)`): the same seed and Q give the same C. C @ V is a
BLAS matmul, so an interval's end can differ in the last bits between BLAS builds or thread counts
(it is one resample mean, or between two neighbouring ones); compare intervals with a tolerance.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95


@functools.lru_cache(maxsize=4)
def resample_counts(n_queries: int, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> np.ndarray:
    """C (n_resamples x n_queries, float64, read-only): C[b, q] = times resample b draws query q.

    Drawn as index rows `rng.integers(0, Q, (B, Q))`, then counted; float so that `C @ V` is a matmul
    (counts are small integers, exact in float64). Cached: the pools of a table share their Q."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}.")
    if n_queries < 1:
        return np.zeros((n_resamples, 0))
    idx = np.random.default_rng(seed).integers(0, n_queries, size=(n_resamples, n_queries))
    flat = (np.arange(n_resamples)[:, None] * n_queries + idx).ravel()
    counts = np.bincount(flat, minlength=n_resamples * n_queries).reshape(n_resamples, n_queries).astype(float)
    counts.flags.writeable = False
    return counts


def bootstrap_means(values, counts: np.ndarray) -> np.ndarray:
    """Resampled means (see the module docstring): values (Q,) -> (B,), (Q, M) -> (B, M).
    NaN where a resample drew no defined value."""
    v = np.asarray(values, dtype=float)
    table = v.reshape(len(v), -1)
    if counts.shape[1] != len(table):
        raise ValueError(f"counts are for {counts.shape[1]} queries, values for {len(table)}.")
    defined = ~np.isnan(table)
    sums = counts @ np.where(defined, table, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / _defined_draws(counts, defined)
    return means[:, 0] if v.ndim == 1 else means


def _defined_draws(counts: np.ndarray, defined: np.ndarray) -> np.ndarray:
    """sum_q C[b, q] [v_q defined] per resample and column; one matmul per distinct NaN pattern (a
    column without NaN draws all its Q draws; most columns of a pool share the has-a-gold pattern)."""
    n = np.zeros((len(counts), defined.shape[1]))
    full, partial = defined.all(axis=0), defined.any(axis=0) & ~defined.all(axis=0)
    n[:, full] = counts.sum(axis=1)[:, None]
    if partial.any():
        patterns, which = np.unique(defined[:, partial].T, axis=0, return_inverse=True)
        n[:, partial] = (counts @ patterns.T.astype(float))[:, which.reshape(-1)]
    return n


def percentile_interval(samples, level: float = DEFAULT_LEVEL):
    """(lo, hi): the (1 - level)/2 and (1 + level)/2 quantiles over axis 0, NaN samples skipped
    (NaN when all are NaN)."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}.")
    samples = np.asarray(samples, dtype=float)
    q = [50 * (1 - level), 50 * (1 + level)]
    table = samples.reshape(len(samples), -1)
    gaps = np.isnan(table).any(axis=0)
    lo, hi = np.full((2, table.shape[1]), np.nan)
    lo[~gaps], hi[~gaps] = np.percentile(table[:, ~gaps], q, axis=0)
    if gaps.any():  # nanpercentile is slow: only for the columns that need it
        with warnings.catch_warnings():  # all-NaN columns give NaN, which is what we want
            warnings.simplefilter("ignore", RuntimeWarning)
            lo[gaps], hi[gaps] = np.nanpercentile(table[:, gaps], q, axis=0)
    return (float(lo[0]), float(hi[0])) if samples.ndim == 1 else (lo, hi)


def bootstrap_interval(values, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                       level: float = DEFAULT_LEVEL, counts: np.ndarray | None = None):
    """Percentile bootstrap interval of the NaN-skipping mean of `values` (Q,) -> (lo, hi) floats,
    or of each column of (Q, M) -> two (M,) arrays. Pass `counts` to reuse one resample matrix."""
    values = np.asarray(values, dtype=float)
    counts = resample_counts(len(values), n_resamples, seed) if counts is None else counts
    return percentile_interval(bootstrap_means(values, counts), level)


def bootstrap_intervals(columns: dict, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                        level: float = DEFAULT_LEVEL, counts: np.ndarray | None = None) -> dict:
    """{key: (lo, hi)} for a dict of per-query arrays (all of length Q): one resample matrix and one
    matmul for all of them. Keys may be anything hashable, so the columns of every pool of a table
    with the same queries can go in one call (one wide matmul instead of one per pool)."""
    names = list(columns)
    if not names:
        return {}
    table = np.column_stack([np.asarray(columns[name], dtype=float) for name in names])
    lo, hi = bootstrap_interval(table, n_resamples, seed, level, counts)
    return {name: (float(lo[i]), float(hi[i])) for i, name in enumerate(names)}


def paired_bootstrap_interval(a, b, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                              level: float = DEFAULT_LEVEL, counts: np.ndarray | None = None):
    """Percentile bootstrap interval of mean_q (b_q - a_q) (b - a, as `paired_test`), over the
    queries where both are defined. a and b are aligned per query; a resample draws queries, so each
    draw keeps its pair together (that is what makes it paired)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"Paired values need the same shape, got {a.shape} and {b.shape}.")
    return bootstrap_interval(b - a, n_resamples, seed, level, counts)  # NaN in either -> skipped


def sign_test(n_positive: int, n_negative: int) -> float:
    """Two-sided exact sign test: p = P(|K - n/2| >= |k - n/2|), K ~ Binomial(n, 1/2), n = n_pos + n_neg
    (zeros/ties are left out before calling). The binomial is symmetric, so with m = min(k, n - k)
    p = min(1, 2 P(K <= m)) (scipy.stats.binomtest's value; tests check the two agree), computed
    with scipy.special.bdtr: importing scipy.stats costs more than a whole warm evaluation. NaN
    when n = 0; p below the smallest float64 (e.g. 1,187 of 1,190) comes back as 0.0."""
    from scipy.special import bdtr

    n = int(n_positive) + int(n_negative)
    if not n:
        return float("nan")
    return float(min(1.0, 2.0 * bdtr(min(int(n_positive), int(n_negative)), n, 0.5)))


# --- paired tests --------------------------------------------------------------------------------


def _paired_differences(a, b) -> np.ndarray:
    """d = b - a over the pairs where both are defined (NaN in either drops the pair)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"Paired values need the same shape, got {a.shape} and {b.shape}.")
    keep = ~(np.isnan(a) | np.isnan(b))
    return b[keep] - a[keep]


def _paired_description(method: str, d: np.ndarray) -> dict:
    return {"method": method, "n": int(d.size), "n_nonzero": int(np.count_nonzero(d)),
            "mean_diff": float(d.mean()) if d.size else float("nan"),
            "median_diff": float(np.median(d)) if d.size else float("nan")}


SCIPY_EXACT_UP_TO = 50  # scipy.stats.wilcoxon's method="auto": exact/permutation up to 50 pairs


def wilcoxon_test(a, b) -> dict:
    """Wilcoxon signed-rank test on paired samples, d = b - a, two-sided, zero differences dropped
    (scipy.stats.wilcoxon's defaults). Returns method, n, n_nonzero, mean_diff, median_diff,
    statistic, p_value; p = 1 when no pair changed.

    Up to 50 pairs scipy computes it (exact or permutation null). Above that scipy uses the normal
    approximation, computed here without importing scipy.stats (about 2 s on a first page visit):
    over the n nonzero d, r = average ranks of |d|, R+ = sum of r where d > 0, t = tie group sizes,

        z = (R+ - n(n+1)/4) / sqrt((n(n+1)(2n+1) - sum(t^3 - t)/2) / 24),   p = erfc(|z| / sqrt 2)

    and statistic = min(R+, R-); tests/test_stats.py checks it against scipy."""
    d = _paired_differences(a, b)
    out = _paired_description("Wilcoxon signed-rank", d)
    if out["n_nonzero"] == 0:
        return {**out, "statistic": 0.0, "p_value": 1.0}
    if d.size > SCIPY_EXACT_UP_TO:
        statistic, p_value = _wilcoxon_normal(d)
        return {**out, "statistic": statistic, "p_value": p_value}
    from scipy.stats import wilcoxon

    res = wilcoxon(d, zero_method="wilcox", alternative="two-sided")  # = wilcoxon(b, a): the same d
    return {**out, "statistic": float(res.statistic), "p_value": float(res.pvalue)}


def _wilcoxon_normal(d: np.ndarray) -> tuple[float, float]:
    """(min(R+, R-), two-sided p) of the signed-rank test's normal approximation (no continuity
    correction), zeros dropped; see wilcoxon_test."""
    nonzero = d[d != 0]
    n = float(nonzero.size)
    _, inverse, ties = np.unique(np.abs(nonzero), return_inverse=True, return_counts=True)
    ranks = (np.cumsum(ties) - (ties - 1) / 2.0)[inverse]  # average rank of each tie group
    r_plus = float(ranks[nonzero > 0].sum())
    r_minus = float(ranks[nonzero < 0].sum())
    ties = ties.astype(float)
    se = math.sqrt((n * (n + 1) * (2 * n + 1) - float(np.sum(ties**3 - ties)) / 2) / 24)
    z = (r_plus - n * (n + 1) / 4) / se
    return min(r_plus, r_minus), min(1.0, math.erfc(abs(z) / math.sqrt(2)))


def permutation_test(a, b, n_resamples: int = 9999, seed: int = 0, batch: int = 500) -> dict:
    """Paired permutation (sign-flip) test on the mean difference d = b - a, two-sided:

        p = (1 + #{resamples s: |mean(s * d)| >= |mean(d)|}) / (1 + n_resamples),   s in {-1, +1}^n

    Seeded; resamples are drawn `batch` at a time (memory batch x n). Returns the keys of
    `wilcoxon_test` plus n_resamples; `statistic` is mean(d)."""
    d = _paired_differences(a, b)
    out = {**_paired_description("paired permutation", d), "n_resamples": int(n_resamples)}
    if out["n_nonzero"] == 0:
        return {**out, "statistic": 0.0, "p_value": 1.0}
    observed = abs(d.mean())
    tol = 1e-12 * max(1.0, observed)  # a flip equal to the observed mean counts, despite rounding
    rng = np.random.default_rng(seed)
    hits = done = 0
    while done < n_resamples:
        m = min(batch, n_resamples - done)
        signs = rng.integers(0, 2, size=(m, d.size), dtype=np.int8) * 2 - 1
        hits += int(np.count_nonzero(np.abs(signs @ d) / d.size >= observed - tol))
        done += m
    return {**out, "statistic": float(d.mean()), "p_value": (1 + hits) / (1 + n_resamples)}


PAIRED_TESTS = ("wilcoxon", "permutation")


def paired_test(a, b, method: str = "wilcoxon", log: bool = False, **kwargs) -> dict:
    """One of PAIRED_TESTS on d = b - a; `log=True` compares log2 values (for heavy-tailed ranks
    such as Max@R: a rank halving counts the same at rank 4 and at rank 400)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if log:
        a, b = np.log2(a), np.log2(b)
    if method == "wilcoxon":
        return wilcoxon_test(a, b)
    if method == "permutation":
        return permutation_test(a, b, **kwargs)
    raise ValueError(f"Unknown test {method!r}; choose one of {', '.join(PAIRED_TESTS)}.")
