"""Aligned corpora for estimating corrections, read from the real files in the data folder."""

from __future__ import annotations

import pytest

from xldiag.data import load_dataset
from xldiag.data.corpora import CORPORA, load_corpus
from xldiag.data.dataset import DatasetError
from xldiag.data.jsonl import write_jsonl_dataset


def test_ntrex_is_line_parallel_over_every_paper_language(data_dir):
    corpus = load_corpus("ntrex", ["ar", "zh", "es", "th", "vi", "de", "el", "hi", "ro", "tr", "ru"])
    assert corpus.langs[0] == "en" and len(corpus.langs) == 12
    for lang in corpus.langs[1:]:
        english, target = corpus.pairs(lang)
        assert len(english) == len(target) == 1997
    assert corpus.pairs("zh")[0] == corpus.pairs("ar")[0]  # one English source for every language
    english, german = corpus.pairs("de")
    assert sum(e != g for e, g in zip(english, german)) > 1900  # translations, not copies
    assert len(corpus.texts("en")) <= 1997 and len(corpus.texts("zh")) > 1900


def test_tatoeba_has_its_own_english_side_per_language(data_dir):
    corpus = load_corpus("tatoeba", ["th", "de"])
    assert len(corpus.pairs("th")[0]) == 548 and len(corpus.pairs("de")[0]) == 1000
    assert corpus.pairs("th")[0] != corpus.pairs("de")[0][:548]
    assert len(corpus.texts("en")) > 1000  # the union of both English sides


def test_mlqa_pairs_and_limits(data_dir):
    corpus = load_corpus("mlqa-r", ["zh"], limit=50)
    english, chinese = corpus.pairs("zh")
    assert len(english) == len(chinese) == 50 and english[0] != chinese[0]


def test_a_parallel_jsonl_file_is_a_corpus(data_dir, tmp_path):
    path = tmp_path / "mine.jsonl"
    write_jsonl_dataset(load_dataset("xquad", ["en", "de"], limit=12), path)
    corpus = load_corpus(path, ["de"])
    english, german = corpus.pairs("de")
    assert corpus.name == "mine.jsonl" and len(english) == len(german) > 0


@pytest.mark.parametrize("name, langs, message", [
    ("ntrex", ["xx"], "has no xx"),
    ("mlqa-r", ["th"], "has no th"),
    ("nowhere", ["de"], "Unknown corpus 'nowhere'"),
])
def test_bad_requests_say_what_exists(data_dir, name, langs, message):
    with pytest.raises(DatasetError, match=message):
        load_corpus(name, langs)


def test_asking_for_a_language_the_corpus_lacks(data_dir):
    with pytest.raises(DatasetError, match="has no English–ru pairs"):
        load_corpus("ntrex", ["de"]).pairs("ru")
    assert set(CORPORA) == {"ntrex", "tatoeba", "mlqa-r"}
