"""LSAR on hand-made vectors: the language means' deviation subspace is found and projected out."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from xldiag.fixes import lsar


def languages(s, shared, offsets):
    """Parallel texts: every language has the same semantic rows plus a shared and its own offset."""
    return {lang: s + shared + offset for lang, offset in offsets.items()}


def test_a_planted_language_direction_is_removed_for_every_language(planted):
    directions, s = planted
    u = directions[0]
    data = languages(s, 0.7 * directions[3], {"en": 0.0 * u, "zh": 1.5 * u, "de": -0.5 * u})
    fix = lsar.fit(data)  # rank 1
    assert abs(float(fix.arrays["subspace"][:, 0] @ u)) == pytest.approx(1.0, abs=1e-6)
    outputs = {lang: fix.transform(x, lang) for lang, x in data.items()}
    for lang in data:
        np.testing.assert_allclose(outputs[lang] @ u, 0.0, atol=1e-5)
        np.testing.assert_allclose(outputs[lang], outputs["en"], atol=1e-5)  # parallel texts now coincide
    np.testing.assert_allclose(np.linalg.norm(fix.apply(data["zh"], "zh"), axis=1), 1.0, atol=1e-6)
    assert fix.summary["spread_removed"] == pytest.approx(1.0)


def test_rank_two_matches_the_principal_directions_of_the_means(planted):
    directions, s = planted
    rng = np.random.default_rng(3)
    offsets = {lang: rng.normal(size=2) @ directions[:2] for lang in ["en", "zh", "de", "ar", "th"]}
    fix = lsar.fit(languages(s, 0.5 * directions[3], offsets), rank=2)
    means = np.stack([s.mean(axis=0) + 0.5 * directions[3] + o for o in offsets.values()])
    pca = PCA(n_components=2).fit(means)  # independent: scikit-learn's PCA of the L means
    overlap = pca.components_ @ fix.arrays["subspace"]
    np.testing.assert_allclose(np.abs(np.linalg.det(overlap)), 1.0, atol=1e-5)
    assert fix.langs == ("en", "zh", "de", "ar", "th")


def test_the_agnostic_vector_is_orthogonal_to_every_deviation(planted):
    directions, s = planted
    rng = np.random.default_rng(4)
    data = {lang: s + rng.normal(size=16) for lang in ["en", "zh", "de"]}
    fix = lsar.fit(data, rank=2)  # rank L − 1: M′ = M
    mu = fix.arrays["agnostic"].astype(np.float64)
    for x in data.values():
        assert float(mu @ (x.mean(axis=0) - mu)) == pytest.approx(0.0, abs=1e-5)


def test_the_rank_is_at_most_the_number_of_languages_minus_one(planted):
    _, s = planted
    with pytest.raises(ValueError, match=r"from 1 to the number of languages − 1 \(2 − 1 = 1: en, zh\), got 2"):
        lsar.fit({"en": s, "zh": s + 1}, rank=2)
    with pytest.raises(ValueError, match="Fit it on two languages or more"):
        lsar.fit({"en": s})
    with pytest.raises(ValueError, match="no transform for 'de'"):
        lsar.fit({"en": s, "zh": s + 1}).apply(s, "de")
