"""Language shift on hand-made parallel pairs: the mean offset to English goes away (α = 1)."""

from __future__ import annotations

import numpy as np
import pytest

from xldiag.fixes import shift


def test_the_offset_to_english_is_removed_exactly(planted):
    directions, s = planted
    english = s + 0.4 * directions[2]
    offset = 1.2 * directions[0] - 0.3 * directions[1]
    fix = shift.fit(None, {"zh": (english, english + offset)})
    assert fix.langs == ("en", "zh") and fix.spec.label == "shift1"
    np.testing.assert_allclose(fix.arrays["shift.zh"], offset, atol=1e-6)
    np.testing.assert_allclose(fix.transform(english + offset, "zh"), english, atol=1e-5)  # pre-normalisation
    np.testing.assert_allclose(fix.transform(english, "en"), english, atol=1e-6)  # V_en = 0
    unit_en = english / np.linalg.norm(english, axis=1, keepdims=True)
    np.testing.assert_allclose(fix.apply(unit_en, "en"), unit_en, atol=1e-6)  # English unit rows unchanged
    np.testing.assert_allclose(fix.apply(english + offset, "zh"), unit_en, atol=1e-5)


def test_alpha_scales_the_move_without_refitting(planted):
    directions, s = planted
    offset = directions[0]
    fix = shift.fit(None, {"zh": (s, s + offset)}, alpha=0.5)
    np.testing.assert_allclose(fix.transform(s + offset, "zh"), s + 0.5 * offset, atol=1e-6)
    quarter = fix.with_param(0.25)
    assert quarter.spec.label == "shift0.25" and quarter.arrays is fix.arrays
    np.testing.assert_allclose(quarter.transform(s + offset, "zh"), s + 0.75 * offset, atol=1e-6)
    np.testing.assert_allclose(fix.with_param(0).transform(s + offset, "zh"), s + offset, atol=1e-6)


def test_only_a_parameter_outside_the_estimate_can_change_after_fitting(planted):
    from xldiag.fixes import lir

    _, s = planted
    with pytest.raises(ValueError, match="The lir fix's r is part of its estimate; fit it again for lir:2"):
        lir.fit({"en": s}).with_param(2)


def test_the_mean_is_taken_over_pairs(planted):
    directions, s = planted
    noise = np.random.default_rng(5).normal(scale=0.2, size=s.shape)
    fix = shift.fit({}, {"de": (s, s + directions[1] + noise)})
    np.testing.assert_allclose(fix.arrays["shift.de"], directions[1] + noise.mean(axis=0), atol=1e-6)
    assert fix.n_texts == {"en": len(s), "de": len(s)}


def test_bad_pairs_and_unknown_languages(planted):
    _, s = planted
    with pytest.raises(ValueError, match="needs parallel English–target pairs"):
        shift.fit({"en": s}, None)
    with pytest.raises(ValueError, match="English–zh pairs need two non-empty matrices of one shape"):
        shift.fit(None, {"zh": (s, s[:-1])})
    with pytest.raises(ValueError, match="alpha must be a finite number"):
        shift.fit(None, {"zh": (s, s)}, alpha=float("nan"))
    with pytest.raises(ValueError, match=r"estimated on en, zh; it has no transform for 'ar'"):
        shift.fit(None, {"zh": (s, s)}).apply(s, "ar")
