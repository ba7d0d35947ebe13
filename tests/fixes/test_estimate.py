"""Estimating a fix on an aligned corpus: what it reads, the cache, and its records."""

from __future__ import annotations

import numpy as np
import pytest

from xldiag.data import load_dataset
from xldiag.data.corpora import load_corpus
from xldiag.embeddings import text_key
from xldiag.fixes import correct_embeddings, estimation_texts, fit_fix, fit_variant, method_of

from .conftest import StubEncoder

NTREX_LANGS = ["ar", "zh", "es", "th", "vi", "de", "el", "hi", "ro", "tr", "ru"]


@pytest.mark.parametrize("spec", ["center", "lir:2", "lsar", "shift:0.5"])
def test_the_second_fit_comes_from_the_cache_without_encoding(data_dir, tmp_path, stub_encoder, spec):
    first = fit_fix(stub_encoder, spec, "ntrex", ["en", "zh", "de"], limit=20, cache_root=tmp_path)
    calls = stub_encoder.calls
    assert calls > 0 and not first.cached
    again = fit_fix(StubEncoder(), spec, "ntrex", ["en", "zh", "de"], limit=20, cache_root=tmp_path)
    assert again.cached and again.spec == first.spec and stub_encoder.calls == calls
    for name, value in first.arrays.items():
        np.testing.assert_array_equal(again.arrays[name], value)
    record = again.record()
    assert record["provenance"]["data"] == "ntrex" and record["provenance"]["limit"] == 20
    assert record["n_texts"] == {"en": 20, "zh": 20, "de": 20}
    assert record["variant"] == f"stub+{first.spec.label}@ntrex" and first.fit_seconds >= 0


def test_the_cache_key_follows_the_data_the_limit_and_the_languages(data_dir, tmp_path):
    encoder = StubEncoder()
    fit_fix(encoder, "lir", "ntrex", ["en", "zh"], limit=10, cache_root=tmp_path)
    for corpus, langs, limit in [("ntrex", ["en", "zh"], 12), ("tatoeba", ["en", "zh"], 10), ("ntrex", ["en", "de"], 10)]:
        before = encoder.calls
        fix = fit_fix(encoder, "lir", corpus, langs, limit=limit, cache_root=tmp_path)
        assert not fix.cached and encoder.calls > before, (corpus, langs, limit)
    assert fit_fix(encoder, "lir", "ntrex", ["en", "zh"], limit=10, cache_root=tmp_path).cached


def test_one_shift_estimate_serves_every_alpha(data_dir, tmp_path):
    encoder = StubEncoder()
    one = fit_fix(encoder, "shift", "ntrex", ["en", "zh"], limit=15, cache_root=tmp_path)
    calls = encoder.calls
    half = fit_fix(encoder, "shift:0.5", "ntrex", ["en", "zh"], limit=15, cache_root=tmp_path)
    assert half.cached and encoder.calls == calls and half.spec.param == 0.5
    assert half.variant_name() == "stub+shift0.5@ntrex" and one.variant_name() == "stub+shift1@ntrex"
    x = encoder.encode(["一个句子"], "passage")
    np.testing.assert_allclose(x - half.transform(x, "zh"), 0.5 * (x - one.transform(x, "zh")), atol=1e-6)


def test_estimation_never_touches_the_evaluation_texts(data_dir, tmp_path):
    """Every text the encoder sees while fitting is checked, by hash, against XQuAD's passages
    and questions in all its languages (and against Belebele and MLQA-R, the other evaluation sets)."""
    encoder = StubEncoder()
    for spec in ["center", "shift"]:
        fit_fix(encoder, spec, "ntrex", ["en", *NTREX_LANGS], cache_root=tmp_path)
    seen = {text_key(t) for t in encoder.seen}
    assert len(seen) > 20_000
    evaluation = [load_dataset("xquad", ["en", *NTREX_LANGS[:4], *NTREX_LANGS[5:]]),
                  load_dataset("belebele", ["en", "de"]), load_dataset("mlqa-r", ["en", "de", "zh"])]
    for dataset in evaluation:
        texts = {t for lang in dataset.langs for t in (*dataset.passages[lang], *dataset.questions[lang])}
        assert texts and seen.isdisjoint(text_key(t) for t in texts), dataset.name


def test_an_overlapping_corpus_is_refused(data_dir, tmp_path):
    from xldiag.data.jsonl import write_jsonl_dataset

    xquad = load_dataset("xquad", ["en", "zh"], limit=30)
    path = tmp_path / "leak.jsonl"
    write_jsonl_dataset(xquad, path)
    encoder = StubEncoder()
    with pytest.raises(ValueError, match=r"texts of corpus 'leak.jsonl' are also in the evaluation set 'xquad'"):
        fit_fix(encoder, "center", path, ["en", "zh"], cache_root=tmp_path, evaluation=xquad)
    assert encoder.calls == 0  # refused before anything was embedded
    fit_fix(encoder, "center", "ntrex", ["en", "zh"], limit=5, cache_root=tmp_path, evaluation=xquad)


def test_what_each_method_reads(data_dir):
    corpus = load_corpus("tatoeba", ["de", "th"], limit=7)
    mono = estimation_texts(corpus, method_of("lir"), ["en", "de"])
    assert set(mono.texts) == {"en", "de"} and not mono.pairs and len(mono.texts["de"]) == 7
    pairs = estimation_texts(corpus, method_of("shift"), ["en", "de", "th"])
    assert set(pairs.pairs) == {"de", "th"} and not pairs.texts
    assert pairs.content_hash() != estimation_texts(corpus.limited(6), method_of("shift"), ["de", "th"]).content_hash()
    with pytest.raises(ValueError, match="give at least one language besides English"):
        estimation_texts(corpus, method_of("shift"), ["en"])


def test_every_language_of_an_evaluation_gets_its_own_transform(data_dir, tmp_path):
    encoder = StubEncoder()
    fix = fit_fix(encoder, "center", "ntrex", ["en", "zh"], limit=10, cache_root=tmp_path)
    x = encoder.encode(["a text", "另一个"], "query")
    out = correct_embeddings(fix, {("query", "en"): x, ("passage", "zh"): x})
    np.testing.assert_allclose(out[("query", "en")], fix.apply(x, "en"))
    np.testing.assert_allclose(out[("passage", "zh")], fix.apply(x, "zh"))
    with pytest.raises(ValueError, match=r"estimated on en, zh; it has no transform for 'de'"):
        correct_embeddings(fix, {("passage", "de"): x})


def test_the_default_model_on_ntrex(data_dir, tmp_path, default_model_dir):
    """A real fit: the default model on 24 NTREX lines of en and zh, cached, and applied to held-out XQuAD."""
    from xldiag.embeddings import Encoder

    encoder = Encoder("default", show_progress=False)
    fix = fit_fix(encoder, "center", "ntrex", ["en", "zh"], limit=24, cache_root=tmp_path)
    assert fix.variant_name() == "default+center@ntrex" and fix.n_texts == {"en": 24, "zh": 24}
    assert fix.provenance.fingerprint == encoder.fingerprint and fix.dim == 384
    fresh = Encoder("default", show_progress=False)
    fresh.encode = None  # a cache hit must not embed anything
    assert fit_fix(fresh, "center", "ntrex", ["en", "zh"], limit=24, cache_root=tmp_path).cached
    variant = fit_variant(encoder, "center", "ntrex", ["en", "zh"], limit=24, cache_root=tmp_path)
    assert variant.fix("passage").cached and not variant.fix("query").cached  # the query estimate is new
    assert variant.fix("query").provenance.role == "query"

    xquad = load_dataset("xquad", ["en", "zh"])
    en, zh = (encoder.encode(xquad.passages[lang][:40], "passage") for lang in ("en", "zh"))
    fixed_en, fixed_zh = fix.apply(en, "en"), fix.apply(zh, "zh")
    np.testing.assert_allclose(np.linalg.norm(fixed_zh, axis=1), 1.0, atol=1e-5)

    def margin(a, b):
        """Mean cosine of parallel en/zh passages minus the mean of unrelated same-language pairs."""
        off = ~np.eye(len(a), dtype=bool)
        return np.mean(np.sum(a * b, axis=1)) - (np.mean((a @ a.T)[off]) + np.mean((b @ b.T)[off])) / 2

    # Held-out passages: after centering, a translation stands out further from unrelated same-language text.
    assert margin(fixed_en, fixed_zh) > margin(en, zh) + 0.05
    with pytest.raises(ValueError, match=r"estimated on en, zh; it has no transform for 'de'"):
        fix.apply(en, "de")
