"""Bootstrap intervals, paired tests and the sign test: hand-worked cases, explicit resampling, scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xldiag import metrics, stats

NAN = np.nan


def test_resample_counts_count_the_drawn_indices():
    # Re-draw the same index rows with the same generator and count them one resample at a time.
    counts = stats.resample_counts(7, n_resamples=50, seed=3)
    idx = np.random.default_rng(3).integers(0, 7, size=(50, 7))
    assert counts.shape == (50, 7)
    assert counts.tolist() == [np.bincount(row, minlength=7).tolist() for row in idx]
    assert (counts.sum(axis=1) == 7).all()
    assert np.array_equal(counts, stats.resample_counts(7, n_resamples=50, seed=3))  # seeded
    assert not np.array_equal(counts, stats.resample_counts(7, n_resamples=50, seed=4))


def test_bootstrap_means_equal_explicit_resampling_with_nan_skipped():
    rng = np.random.default_rng(0)
    values = rng.normal(size=30)
    values[[2, 11]] = NAN  # queries without a gold
    counts = stats.resample_counts(30, n_resamples=200, seed=1)
    idx = np.random.default_rng(1).integers(0, 30, size=(200, 30))
    want = [np.nanmean(values[row]) for row in idx]
    assert stats.bootstrap_means(values, counts) == pytest.approx(want, abs=1e-12)
    # Several columns at once = each column alone, whatever their NaN patterns (none, the same as
    # another column's, another one, all NaN).
    full = rng.normal(size=30)
    other = full.copy()
    other[[0, 1, 29]] = NAN
    table = np.column_stack([values, 2 * values + 1, full, other, np.full(30, NAN)])
    together = stats.bootstrap_means(table, counts)
    for column in range(5):
        want = [np.mean(table[row, column][~np.isnan(table[row, column])]) if (~np.isnan(table[row, column])).any()
                else NAN for row in idx]
        np.testing.assert_allclose(together[:, column], want, rtol=0, atol=1e-12)


def test_interval_of_two_values_by_hand():
    # Values {0, 10}: a resample of 2 draws has mean 0 (p = 1/4), 5 (1/2) or 10 (1/4). With 4,000
    # resamples the 2.5 % quantile lies among the zeros and the 97.5 % one among the tens.
    counts = stats.resample_counts(2, n_resamples=4000, seed=0)
    means = stats.bootstrap_means([0.0, 10.0], counts)
    assert set(np.unique(means)) == {0.0, 5.0, 10.0}
    assert abs((means == 5.0).mean() - 0.5) < 4 * math.sqrt(0.25 / 4000)
    assert stats.bootstrap_interval([0.0, 10.0], n_resamples=4000, seed=0) == (0.0, 10.0)
    # The 80 % interval too (10 % and 90 % quantiles still fall among the 0s and 10s).
    assert stats.bootstrap_interval([0.0, 10.0], n_resamples=4000, level=0.8) == (0.0, 10.0)


def test_interval_matches_the_normal_approximation():
    # For 1,190 values the percentile interval of the mean is close to mean +- 1.96 s / sqrt(n).
    values = np.random.default_rng(5).exponential(size=1190)
    lo, hi = stats.bootstrap_interval(values, n_resamples=2000, seed=2)
    half = 1.96 * values.std(ddof=1) / math.sqrt(len(values))
    assert lo < values.mean() < hi
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.1)
    assert lo == pytest.approx(values.mean() - half, abs=0.2 * half)


def test_intervals_for_a_summary_row_reuse_one_matrix():
    ranks = np.random.default_rng(1).integers(1, 50, size=(300, 2)).astype(float)
    columns = metrics.headline_per_query(ranks, 100, 2)
    counts = stats.resample_counts(300, seed=9)
    intervals = stats.bootstrap_intervals(columns, counts=counts)
    assert list(intervals) == list(columns)
    for name, values in columns.items():
        assert intervals[name] == pytest.approx(stats.bootstrap_interval(values, counts=counts), abs=1e-9)
        assert intervals[name][0] <= metrics.mean(values) <= intervals[name][1]
    assert stats.bootstrap_intervals({}) == {}
    # An all-NaN column (e.g. English inclination for English queries) has a NaN interval.
    assert all(np.isnan(stats.bootstrap_intervals({"x": np.full(5, NAN)})["x"]))


def test_max_r_norm_table_interval_is_the_transformed_max_r_interval():
    max_ranks = np.random.default_rng(2).integers(2, 2380, size=1190).astype(float)
    counts = stats.resample_counts(1190, seed=0)
    lo, hi = stats.bootstrap_interval(max_ranks, counts=counts)
    t_lo, t_hi = metrics.max_r_norm_table_interval(lo, hi, 2380, 2)
    assert t_lo < metrics.max_r_norm_table(max_ranks.mean(), 2380, 2) < t_hi
    # Bootstrapping the table value itself: the same interval up to interpolation between neighbours.
    direct = stats.percentile_interval([metrics.max_r_norm_table(m, 2380, 2)
                                        for m in stats.bootstrap_means(max_ranks, counts)])
    assert (t_lo, t_hi) == pytest.approx(direct, abs=1e-3)


def test_paired_interval():
    rng = np.random.default_rng(3)
    a = rng.normal(size=500)
    # A constant shift: every resampled mean difference is 3.
    assert stats.paired_bootstrap_interval(a, a + 3.0) == pytest.approx((3.0, 3.0))
    # Pairing removes the per-query spread: correlated runs give a much narrower interval than
    # the difference of two independent intervals would suggest.
    b = a + 0.1 + rng.normal(scale=0.1, size=500)
    lo, hi = stats.paired_bootstrap_interval(a, b, seed=1)
    assert lo < 0.1 < hi and hi - lo < 0.05
    a_lo, a_hi = stats.bootstrap_interval(a, seed=1)
    assert hi - lo < (a_hi - a_lo) / 5
    # NaN on either side drops the pair.
    a2, b2 = a.copy(), b.copy()
    a2[0], b2[1] = NAN, NAN
    lo2, hi2 = stats.paired_bootstrap_interval(a2, b2, seed=1)
    d = (b - a)[2:]
    assert lo2 < d.mean() < hi2
    with pytest.raises(ValueError, match="same shape"):
        stats.paired_bootstrap_interval(a, b[:-1])


# --- paired tests (Wilcoxon, sign-flip permutation) --------------------------------------------

A = np.array([5.0, 3, 8, 2, 9, 4, 7, 6])
B = np.array([3.0, 1, 5, 2, 4, 4, 2, 1])


def test_wilcoxon_matches_scipy_on_the_pairs():
    from scipy.stats import wilcoxon

    w = stats.wilcoxon_test(A, B)
    ref = wilcoxon(B, A)
    assert w["p_value"] == pytest.approx(ref.pvalue) and w["statistic"] == pytest.approx(ref.statistic)
    assert w["n"] == 8 and w["n_nonzero"] == 6  # two pairs unchanged
    assert w["mean_diff"] == pytest.approx(np.mean(B - A)) and w["median_diff"] == pytest.approx(np.median(B - A))
    # NaN on either side drops the pair; nothing changed: p = 1
    a, b = np.append(A, NAN), np.append(B, 1.0)
    assert stats.wilcoxon_test(a, b)["n"] == 8
    assert stats.wilcoxon_test(A, A)["p_value"] == 1.0


@pytest.mark.parametrize("n, seed", [(51, 0), (400, 1), (2380, 2)])
def test_wilcoxon_normal_approximation_matches_scipy_above_50_pairs(n, seed):
    """Above 50 pairs the test is computed without scipy (the normal approximation scipy uses
    there): ranks with ties, many zero differences (unchanged queries), log2 Max@R-like values."""
    from scipy.stats import wilcoxon

    rng = np.random.default_rng(seed)
    base = rng.integers(1, 400, size=n).astype(float)
    tuned = np.where(rng.random(n) < 0.4, base, rng.integers(1, 400, size=n)).astype(float)
    a, b = np.log2(base), np.log2(tuned)
    w = stats.wilcoxon_test(a, b)
    ref = wilcoxon(b - a, zero_method="wilcox", alternative="two-sided")
    assert w["p_value"] == pytest.approx(float(ref.pvalue), rel=1e-9, abs=1e-300)
    assert w["statistic"] == pytest.approx(float(ref.statistic), rel=1e-12)
    assert w["n_nonzero"] == int(np.count_nonzero(b - a))


def test_permutation_test_approaches_the_exact_sign_flip_p_value():
    p = stats.permutation_test(A, B, n_resamples=4000, seed=1)
    # exact two-sided sign-flip p-value over all 2^8 sign patterns
    d = B - A
    signs = np.array(np.meshgrid(*[[-1, 1]] * 8)).reshape(8, -1).T
    exact = np.mean(np.abs(signs @ d) >= abs(d.sum()) - 1e-9)
    assert p["p_value"] == pytest.approx(exact, abs=0.02)
    assert p["statistic"] == pytest.approx(d.mean()) and p["n_resamples"] == 4000
    again = stats.permutation_test(A, B, n_resamples=300, seed=5)
    assert stats.permutation_test(A, B, n_resamples=300, seed=5) == again  # seeded
    assert stats.permutation_test(A, A)["p_value"] == 1.0


def test_paired_test_dispatches_and_compares_logs():
    assert stats.paired_test(A, B, "wilcoxon", log=True)["p_value"] < 0.05
    # log=True is the same test on log2 values
    assert stats.paired_test(A, B, "permutation", log=True, n_resamples=500) == stats.permutation_test(
        np.log2(A), np.log2(B), n_resamples=500)
    with pytest.raises(ValueError, match="wilcoxon, permutation"):
        stats.paired_test(A, B, "t-test")
    with pytest.raises(ValueError, match="same shape"):
        stats.wilcoxon_test(A, B[:-1])


def test_sign_test_by_hand():
    # 9 of 10 one way: p = 2 * (C(10,0) + C(10,1)) / 2^10 = 22 / 1024.
    assert stats.sign_test(9, 1) == pytest.approx(22 / 1024)
    assert stats.sign_test(1, 9) == pytest.approx(22 / 1024)
    assert stats.sign_test(5, 5) == 1.0
    # 12 of 12: p = 2 / 2^12.
    assert stats.sign_test(12, 0) == pytest.approx(2 / 4096)
    assert np.isnan(stats.sign_test(0, 0))


def test_sign_test_equals_scipy_binomtest():
    from scipy.stats import binomtest

    for n in (1, 2, 3, 7, 10, 51, 400, 1190):
        for k in sorted({0, 1, n // 3, n // 2, (n + 1) // 2, n - 1, n}):
            assert stats.sign_test(k, n - k) == pytest.approx(binomtest(k, n, 0.5).pvalue, rel=1e-9, abs=1e-300), (k, n)


def test_bad_arguments():
    with pytest.raises(ValueError, match="level"):
        stats.percentile_interval([1.0, 2.0], level=95)
    with pytest.raises(ValueError, match="n_resamples"):
        stats.resample_counts(5, n_resamples=0)
    with pytest.raises(ValueError, match="counts are for 4 queries"):
        stats.bootstrap_means(np.ones(5), stats.resample_counts(4, 10))
