"""A fix variant: one estimate per role, each text corrected by its language and role."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xldiag.fixes import FixVariant, correct_embeddings, fit_variant

from .conftest import StubEncoder


def test_queries_get_the_query_estimate_and_passages_the_passage_estimate(data_dir, tmp_path):
    encoder = StubEncoder()
    variant = fit_variant(encoder, "center", "ntrex", ["en", "zh"], limit=12, cache_root=tmp_path)
    assert isinstance(variant, FixVariant) and set(encoder.roles) == {"query", "passage"}
    query_mean, passage_mean = (variant.fix(role).arrays["mean.zh"] for role in ("query", "passage"))
    assert query_mean[1] - passage_mean[1] > 0.2  # the stub's prompt direction: the estimates differ
    x = encoder.encode(["一个问题"], "query")
    out = correct_embeddings(variant, {("query", "zh"): x, ("passage", "zh"): x})
    np.testing.assert_allclose(out[("query", "zh")], variant.fix("query").apply(x, "zh"))
    np.testing.assert_allclose(out[("passage", "zh")], variant.fix("passage").apply(x, "zh"))
    np.testing.assert_allclose(variant.transform(x, "zh", "query"), x - query_mean, atol=1e-6)
    with pytest.raises(ValueError, match="role must be one of"):
        variant.apply(x, "zh", "document")
    with pytest.raises(ValueError, match=r"estimated on en, zh; it has no transform for 'th'"):
        variant.apply(x, "th", "query")


def test_the_second_variant_fit_encodes_nothing(data_dir, tmp_path):
    encoder = StubEncoder()
    first = fit_variant(encoder, "shift:0.5", "ntrex", ["en", "zh", "ar"], limit=9, cache_root=tmp_path)
    calls = encoder.calls
    again = fit_variant(encoder, "shift:0.25", "ntrex", ["en", "zh", "ar"], limit=9, cache_root=tmp_path)
    assert again.cached and not first.cached and encoder.calls == calls
    assert again.variant_name() == "stub+shift0.25@ntrex" and again.spec.param == 0.25
    assert first.with_param(0.25).fix("query").arrays is first.fix("query").arrays
    record = json.loads(json.dumps(again.record()))
    assert record["variant"] == "stub+shift0.25@ntrex" and record["estimates"] == "per-role"
    assert set(record["roles"]) == {"query", "passage"}
    assert record["roles"]["query"]["provenance"]["role"] == "query"
    assert record["roles"]["passage"]["n_texts"] == {"en": 9, "zh": 9, "ar": 9}
