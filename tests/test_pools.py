"""Pools: who is in the pool, who is gold, who is excluded, for every scenario and construction."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from xldiag.pools import build_pool, doc_id, doc_passage, parse_doc_id


def toy(with_repeat: bool = False):
    """3 passages in en/de/fr; 5 questions about passages [0, 0, 1, 2, 2].

    With `with_repeat`, German passage 2 has the same text as German passage 0 (a repeated passage).
    """
    langs = ["en", "de", "fr"]
    passages = {lang: [f"{lang} passage {p}" for p in range(3)] for lang in langs}
    if with_repeat:
        passages["de"][2] = passages["de"][0]
    questions = {lang: [f"{lang} question {q}" for q in range(5)] for lang in langs}
    return SimpleNamespace(
        name="toy", langs=langs, passages=passages, questions=questions,
        question_ids=[f"id{q}" for q in range(5)], question_passage=np.array([0, 0, 1, 2, 2]),
    )


def ids(pool, rows):
    """Doc ids of an index array row set (-1 padding dropped)."""
    return [[pool.doc_ids[i] for i in row if i >= 0] for row in rows]


# --- unique construction ------------------------------------------------------------------


def test_multi_unique_en_de():
    pool = build_pool(toy(), "multi", "de", ["en", "de"])
    assert pool.doc_ids == ["en:p0", "en:p1", "en:p2", "de:p0", "de:p1", "de:p2"]
    assert list(pool.doc_lang) == ["en"] * 3 + ["de"] * 3
    assert list(pool.doc_passage) == [0, 1, 2, 0, 1, 2]
    assert pool.doc_texts[4] == "de passage 1"
    assert pool.query_texts == [f"de question {q}" for q in range(5)]
    assert pool.query_ids == [f"id{q}" for q in range(5)]
    assert list(pool.query_index) == list(range(5))
    # Gold columns follow `langs`: (en doc, de doc) of the question's passage.
    assert ids(pool, pool.gold) == [["en:p0", "de:p0"], ["en:p0", "de:p0"], ["en:p1", "de:p1"],
                                    ["en:p2", "de:p2"], ["en:p2", "de:p2"]]
    assert pool.excluded.shape == (5, 0) and pool.duplicates.shape == (5, 0)
    assert (pool.n_docs, pool.n_rel, pool.n_queries) == (6, 2, 5)
    assert pool.gold_langs == ["en", "de"]
    assert list(pool.doc_lang_codes) == [0, 0, 0, 1, 1, 1]
    assert pool.pair == ["en", "de"] and pool.langs == ["en", "de"]


def test_multi_minus_one_unique_excludes_own_gold():
    pool = build_pool(toy(), "multi-1", "en", ["en", "de"])
    assert pool.n_docs == 6 and pool.n_rel == 1
    assert ids(pool, pool.gold) == [["de:p0"], ["de:p0"], ["de:p1"], ["de:p2"], ["de:p2"]]
    assert ids(pool, pool.excluded) == [["en:p0"], ["en:p0"], ["en:p1"], ["en:p2"], ["en:p2"]]
    assert list(pool.docs_per_query) == [5] * 5
    assert pool.gold_langs == ["de"]


def test_mono_same_and_mono_cross_unique():
    same = build_pool(toy(), "mono-same", "de", ["en", "de"])
    assert same.langs == ["de"] and same.doc_ids == ["de:p0", "de:p1", "de:p2"]
    assert ids(same, same.gold) == [["de:p0"], ["de:p0"], ["de:p1"], ["de:p2"], ["de:p2"]]
    cross = build_pool(toy(), "mono-cross", "de", ["en", "de"])
    assert cross.langs == ["en"] and cross.doc_ids == ["en:p0", "en:p1", "en:p2"]
    assert ids(cross, cross.gold)[2] == ["en:p1"]
    assert cross.query_texts[0] == "de question 0"
    assert same.excluded.shape == (5, 0) and cross.n_rel == 1


def test_multi_over_three_languages_and_non_english_pair():
    pool = build_pool(toy(), "multi", "fr", ["en", "de", "fr"])
    assert pool.n_docs == 9 and pool.n_rel == 3
    assert ids(pool, pool.gold)[3] == ["en:p2", "de:p2", "fr:p2"]
    pair = build_pool(toy(), "multi", "fr", ["de", "fr"])
    assert pair.doc_ids[0] == "de:p0" and pair.gold_langs == ["de", "fr"]
    minus = build_pool(toy(), "multi-1", "fr", ["en", "de", "fr"])
    assert ids(minus, minus.gold)[0] == ["en:p0", "de:p0"]
    assert ids(minus, minus.excluded)[0] == ["fr:p0"]


def test_unique_merges_a_repeated_passage_text():
    # de passage 2 == de passage 0: one German doc; questions about passage 2 point to it.
    pool = build_pool(toy(with_repeat=True), "multi-1", "de", ["en", "de"])
    assert pool.doc_ids == ["en:p0", "en:p1", "en:p2", "de:p0", "de:p1"]
    assert ids(pool, pool.gold)[3] == ["en:p2"]
    assert ids(pool, pool.excluded)[3] == ["de:p0"]


# --- per-question construction ------------------------------------------------------------


def test_multi_per_question_gold_is_the_question_itself():
    pool = build_pool(toy(), "multi", "en", ["en", "de"], construction="per-question")
    assert pool.doc_ids == [f"en:q{q}" for q in range(5)] + [f"de:q{q}" for q in range(5)]
    assert list(pool.doc_passage) == [0, 0, 1, 2, 2] * 2
    assert pool.doc_texts[1] == pool.doc_texts[0] == "en passage 0"  # passages repeat
    assert ids(pool, pool.gold) == [[f"en:q{q}", f"de:q{q}"] for q in range(5)]
    assert pool.excluded.shape == (5, 0)
    # The other question on the same passage holds duplicates: not gold, they tie.
    assert ids(pool, pool.duplicates) == [["en:q1", "de:q1"], ["en:q0", "de:q0"], [],
                                          ["en:q4", "de:q4"], ["en:q3", "de:q3"]]
    assert pool.n_docs == 10 and pool.construction == "per-question"


def test_multi_minus_one_per_question_excludes_duplicates_of_own_gold():
    pool = build_pool(toy(), "multi-1", "de", ["en", "de"], construction="per-question")
    assert ids(pool, pool.gold) == [[f"en:q{q}"] for q in range(5)]
    # Excluded: the German gold and every German doc with the same passage.
    assert ids(pool, pool.excluded) == [["de:q0", "de:q1"], ["de:q0", "de:q1"], ["de:q2"],
                                        ["de:q3", "de:q4"], ["de:q3", "de:q4"]]
    assert list(pool.docs_per_query) == [8, 8, 9, 8, 8]
    # English duplicates of the English gold stay in the pool (they tie with it).
    assert ids(pool, pool.duplicates)[0] == ["en:q1"]


def test_mono_per_question():
    pool = build_pool(toy(), "mono-cross", "en", ["en", "de"], construction="per-question")
    assert pool.doc_ids == [f"de:q{q}" for q in range(5)]
    assert ids(pool, pool.gold)[4] == ["de:q4"]
    assert ids(pool, pool.duplicates)[4] == ["de:q3"]


# --- argument checks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(scenario="multi2"), "Unknown scenario"),
        (dict(construction="pairs"), "Unknown pool construction"),
        (dict(query_lang="fr"), "not one of the pool languages"),
        (dict(langs=["en", "en"]), "repeated"),
        (dict(langs=["en"], query_lang="en"), "at least two languages"),
        (dict(langs=["en", "xx"]), "has no"),
        (dict(langs="en,de"), "list of language codes"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    args = dict(scenario="multi", query_lang="en", langs=["en", "de"], construction="unique") | kwargs
    with pytest.raises(ValueError, match=message):
        build_pool(toy(), args["scenario"], args["query_lang"], args["langs"], construction=args["construction"])


def test_mono_same_accepts_a_single_language():
    assert build_pool(toy(), "mono-same", "en", ["en"]).n_docs == 3


# --- document ids ------------------------------------------------------------------------


def test_doc_ids_round_trip_and_point_at_their_passage():
    data = toy()
    for construction in ("unique", "per-question"):
        pool = build_pool(data, "multi", "en", ["en", "de"], construction=construction)
        for ident, lang, passage in zip(pool.doc_ids, pool.doc_lang, pool.doc_passage):
            parsed = parse_doc_id(ident)
            assert doc_id(*parsed) == ident and parsed[0] == lang
            # a per-question id names a question; doc_passage follows it to that question's passage
            assert doc_passage(ident, data.question_passage) == (lang, passage)
    assert parse_doc_id("zh:q40") == ("zh", "q", 40)
    assert doc_passage("de:q3", data.question_passage) == ("de", 2)  # question 3 is about passage 2


@pytest.mark.parametrize("bad", ["zh", "zh:", ":p1", "zh:x1", "zh:p", "zh:p-1", "zh:p1a"])
def test_parse_doc_id_rejects_what_is_not_an_id(bad):
    with pytest.raises(ValueError, match="not a document id"):
        parse_doc_id(bad)
    with pytest.raises(ValueError, match="Unknown document kind"):
        doc_id("zh", "x", 1)


# --- real data ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def xquad(data_dir):
    data = pytest.importorskip("xldiag.data")
    return data.load_dataset("xquad", ["en", "zh"], data_dir=data_dir)


def test_xquad_sizes(xquad):
    unique = build_pool(xquad, "multi", "zh", ["en", "zh"])
    assert unique.n_docs == 480 and unique.gold.shape == (1190, 2)
    per_q = build_pool(xquad, "multi", "zh", ["en", "zh"], construction="per-question")
    assert per_q.n_docs == 2380 and per_q.n_rel == 2
    # Every gold pair is a parallel pair of the question's own passage.
    passage = np.asarray(xquad.question_passage)
    for pool in (unique, per_q):
        assert (pool.doc_passage[pool.gold] == passage[:, None]).all()
        assert list(pool.doc_lang[pool.gold[0]]) == ["en", "zh"]
    minus = build_pool(xquad, "multi-1", "en", ["en", "zh"], construction="per-question")
    counts = np.bincount(passage)[passage]  # questions sharing each query's passage
    assert list(minus.docs_per_query) == list(2380 - counts)
    assert (minus.doc_lang[minus.excluded[minus.excluded >= 0]] == "en").all()
    assert build_pool(xquad, "mono-cross", "en", ["en", "zh"]).n_docs == 240


def test_xquad_per_question_duplicates_tie_in_rank_gold(xquad):
    # Random passage embeddings gathered per doc: a per-question pool repeats each passage once
    # per question, so every gold ties with exactly the other questions' copies of its passage.
    from xldiag.ranking import rank_gold

    pool = build_pool(xquad, "multi", "en", ["en", "zh"], construction="per-question")
    rng = np.random.default_rng(0)
    passage_emb = {lang: rng.standard_normal((240, 32)).astype(np.float32) for lang in pool.langs}
    docs = np.stack([passage_emb[lang][p] for lang, p in zip(pool.doc_lang, pool.doc_passage)])
    queries = rng.standard_normal((pool.n_queries, 32)).astype(np.float32)
    r = rank_gold(queries, docs, pool.gold, pool.excluded, pool.doc_lang_codes, len(pool.langs),
                  related=pool.duplicates, chunk_size=1000)
    counts = np.bincount(xquad.question_passage)[xquad.question_passage]
    assert (r.n_tied == (counts - 1)[:, None]).all()
    # Duplicates rank with the gold but are never counted as unrelated distractors.
    dup_above = r.n_above - r.above_by_lang.sum(-1)
    assert (dup_above >= 0).all() and dup_above.sum() > 0


@pytest.mark.parametrize("construction", ["unique", "per-question"])
def test_pools_sharing_doc_lists_equal_pools_built_alone(construction):
    """build_pool(doc_lists=...) builds each distinct doc list once (a language set's 8 pools have 3)
    and shares it read only; every pool equals the one built on its own."""
    data, shared = toy(with_repeat=True), {}
    for scenario in ("multi", "multi-1", "mono-same", "mono-cross"):
        for query_lang in ("en", "de"):
            alone = build_pool(data, scenario, query_lang, ["en", "de"], construction)
            pool = build_pool(data, scenario, query_lang, ["en", "de"], construction, doc_lists=shared)
            for name in alone.__dataclass_fields__:
                a, b = getattr(alone, name), getattr(pool, name)
                assert (np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b), (scenario, name)
            assert not pool.doc_lang.flags.writeable and not pool.text_id.flags.writeable
    assert sorted(shared) == [(("de",), construction), (("en",), construction), (("en", "de"), construction)]
    multi, multi1 = (build_pool(data, s, "en", ["en", "de"], construction, doc_lists=shared) for s in ("multi", "multi-1"))
    assert multi.doc_passage is multi1.doc_passage and multi.doc_ids is multi1.doc_ids
