"""Estimation corpora vs evaluation sets, by text hash, on the real files."""

from __future__ import annotations

import pytest

from xldiag.data import load_dataset
from xldiag.data.corpora import CORPORA, load_corpus
from xldiag.fixes import check_disjoint, text_overlap

XQUAD_LANGS = ["en", "ar", "de", "el", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"]


@pytest.fixture(scope="module")
def xquad(data_dir):
    return load_dataset("xquad", XQUAD_LANGS)


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_no_estimation_corpus_shares_a_text_with_xquad(xquad, name):
    corpus = load_corpus(name, CORPORA[name].languages)
    texts = [t for lang in corpus.langs for t in corpus.texts(lang)]
    overlap = check_disjoint(texts, xquad, data=name)
    assert overlap.disjoint and overlap.n_estimation > 3000
    assert overlap.n_evaluation == len({t for lang in XQUAD_LANGS for t in (*xquad.passages[lang], *xquad.questions[lang])})


def test_ntrex_in_full_against_xquad_in_full(xquad):
    corpus = load_corpus("ntrex", CORPORA["ntrex"].languages)
    overlap = text_overlap((t for lang in corpus.langs for t in corpus.texts(lang)), xquad)
    assert overlap.disjoint and overlap.n_estimation > 23_000 and overlap.n_evaluation > 15_000


def test_a_shared_text_is_found_and_named(xquad):
    leaked = xquad.questions["zh"][7]
    overlap = text_overlap(["a news sentence", leaked, leaked], xquad)
    assert overlap.shared == (leaked,) and overlap.n_estimation == 2
    with pytest.raises(ValueError, match=r"1 of the 2 texts of mine are also in the evaluation set 'xquad'"):
        check_disjoint(["a news sentence", leaked], xquad, data="mine")


def test_mlqa_pairs_cannot_correct_an_mlqa_evaluation_but_ntrex_can(data_dir):
    mlqa = load_dataset("mlqa-r", ["en", "de", "zh"])
    pairs = load_corpus("mlqa-r", ["de", "zh"])
    with pytest.raises(ValueError, match=r"texts of mlqa-r are also in the evaluation set 'mlqa-r'"):
        check_disjoint([t for lang in pairs.langs for t in pairs.texts(lang)], mlqa, data="mlqa-r")
    ntrex = load_corpus("ntrex", ["de", "zh"])
    assert check_disjoint([t for lang in ntrex.langs for t in ntrex.texts(lang)], mlqa).disjoint
    belebele = load_dataset("belebele", ["en", "de"])
    assert check_disjoint([t for lang in ntrex.langs for t in ntrex.texts(lang)], belebele).disjoint
