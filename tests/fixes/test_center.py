"""Language-mean centering on hand-made vectors: an offset between two languages goes away exactly."""

from __future__ import annotations

import numpy as np
import pytest

from xldiag.fixes import center


def test_two_clusters_offset_by_a_known_vector_coincide_after_centering(planted):
    directions, s = planted
    offset = 2.0 * directions[0] + 0.5 * directions[1]
    english = s + 0.1 * directions[2]  # English is not at the origin either
    chinese = english + offset
    fix = center.fit({"en": english, "zh": chinese})
    np.testing.assert_allclose(fix.arrays["mean.zh"] - fix.arrays["mean.en"], offset, atol=1e-6)
    before_norm_en, before_norm_zh = fix.transform(english, "en"), fix.transform(chinese, "zh")
    np.testing.assert_allclose(before_norm_zh, before_norm_en, atol=1e-5)  # the offset is gone, pre-normalisation
    np.testing.assert_allclose(before_norm_en, s, atol=1e-5)  # what is left is the within-language part
    unit = fix.apply(chinese, "zh")
    assert unit.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(unit, before_norm_zh / np.linalg.norm(before_norm_zh, axis=1, keepdims=True), atol=1e-6)


def test_a_hand_computed_case():
    fix = center.fit({"en": np.array([[1.0, 0.0], [3.0, 0.0]]), "zh": np.array([[1.0, 2.0], [3.0, 4.0]])})
    # μ_en = (2, 0), μ_zh = (2, 3): (3, 4) − (2, 3) = (1, 1) → (1, 1)/√2
    np.testing.assert_allclose(fix.transform(np.array([3.0, 4.0]), "zh"), [[1.0, 1.0]])
    np.testing.assert_allclose(fix.apply(np.array([3.0, 4.0]), "zh"), [[2 ** -0.5, 2 ** -0.5]], atol=1e-7)
    assert fix.n_texts == {"en": 2, "zh": 2}
    assert fix.summary["mean_norm"] == {"en": 2.0, "zh": pytest.approx(13 ** 0.5)}


def test_a_language_it_was_not_estimated_on_is_an_error_naming_it(planted):
    _, s = planted
    fix = center.fit({"en": s, "zh": s + 1})
    with pytest.raises(ValueError, match=r"estimated on en, zh; it has no transform for 'de'"):
        fix.apply(s, "de")


def test_bad_inputs_say_what_is_wrong(planted):
    _, s = planted
    with pytest.raises(ValueError, match="no estimation texts for 'zh'"):
        center.fit({"en": s, "zh": np.zeros((0, s.shape[1]))})
    fix = center.fit({"en": s})
    with pytest.raises(ValueError, match="16-dimensional embeddings; got 3 dimensions"):
        fix.apply(np.ones((2, 3)), "en")
