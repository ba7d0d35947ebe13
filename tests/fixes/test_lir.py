"""LIR on hand-made vectors: a planted language direction is found and projected out."""

from __future__ import annotations

import numpy as np
import pytest

from xldiag.fixes import lir


def test_the_planted_direction_of_each_language_is_removed(planted):
    directions, s = planted
    english = s + 2.0 * directions[0]  # every English text shares u_0, Chinese u_1
    chinese = s + 2.0 * directions[1]
    fix = lir.fit({"en": english, "zh": chinese})
    assert fix.spec.label == "lir1" and fix.arrays["basis.en"].shape == (16, 1)
    assert abs(float(fix.arrays["basis.en"][:, 0] @ directions[0])) == pytest.approx(1.0, abs=1e-6)
    assert abs(float(fix.arrays["basis.zh"][:, 0] @ directions[1])) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(fix.transform(english, "en"), s, atol=1e-5)  # pre-normalisation: S exactly
    np.testing.assert_allclose(fix.transform(chinese, "zh"), s, atol=1e-5)
    unit = fix.apply(chinese, "zh")
    np.testing.assert_allclose(unit @ directions[1], 0.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-6)


def test_r_directions_are_removed_and_match_numpys_svd(planted):
    directions, s = planted
    t = np.linspace(-2, 2, len(s))  # a second direction that varies across texts, uncorrelated with S
    s = s - np.outer(t, t @ s) / (t @ t)
    x = s + 3.0 * directions[0] + np.outer(t, directions[1])
    fix = lir.fit({"en": x}, r=2)
    _, _, vt = np.linalg.svd(x, full_matrices=False)  # independent: the SVD itself
    overlap = vt[:2] @ fix.arrays["basis.en"]
    np.testing.assert_allclose(np.abs(np.linalg.det(overlap)), 1.0, atol=1e-5)  # the same 2-D span
    out = fix.transform(x, "en")
    np.testing.assert_allclose(out @ directions[:2].T, 0.0, atol=1e-5)
    np.testing.assert_allclose(fix.transform(out, "en"), out, atol=1e-5)  # a projection: idempotent
    assert 0.0 < fix.summary["energy_removed"]["en"] <= 1.0


def test_rank_and_language_errors(planted):
    _, s = planted
    with pytest.raises(ValueError, match="r must be an integer from 1 to the embedding dimension 16"):
        lir.fit({"en": s}, r=17)
    with pytest.raises(ValueError, match="no transform for 'zh'"):
        lir.fit({"en": s}).apply(s, "zh")


@pytest.mark.parametrize("r", [1, 3, 15, 16])  # 15 and 16: the dense solver (Lanczos needs r < d − 1)
def test_the_top_directions_match_a_full_eigendecomposition(r):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(40, 16)) * np.linspace(0.5, 2.0, 16) + rng.normal(scale=0.5, size=16)  # distinct σ
    basis, sigma2 = lir.top_right_singular_vectors(x, r)
    values, vectors = np.linalg.eigh(x.T @ x)
    np.testing.assert_allclose(sigma2, values[::-1][:r], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.abs(np.linalg.det(vectors[:, ::-1][:, :r].T @ basis)), 1.0, atol=1e-8)
