"""rank_gold: hand-worked examples, a brute-force full-sort reference, chunking invariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xldiag import ranking
from xldiag.ranking import GoldRanks, rank_gold
from xldiag.vocab import TIE_RULES


def one_dim(scores):
    """Query [1] and docs [s]: every score is exactly s."""
    return np.ones((1, 1), np.float32), np.asarray(scores, np.float32)[:, None]


# --- hand-worked ----------------------------------------------------------------------------

# doc:    0     1      2     3     4     5
# score:  0.5   0.875  0.5   0.75  0.5   0.25
# lang:   en    de     en    de    de    en      (codes 0 = en, 1 = de)
SCORES = [0.5, 0.875, 0.5, 0.75, 0.5, 0.25]
LANGS = [0, 1, 0, 1, 1, 0]


@pytest.mark.parametrize("ties, expected", [("optimistic", [3, 2]), ("pessimistic", [5, 2]), ("average", [4, 2])])
def test_hand_worked_tie_rules(ties, expected):
    # Gold 0 (0.5): above = docs 1, 3 -> 2; tied = docs 2, 4 -> 2.
    #   optimistic 1 + 2 = 3, pessimistic 1 + 2 + 2 = 5, average 1 + 2 + 2/2 = 4.
    # Gold 3 (0.75): above = doc 1 -> rank 2 under every rule, no ties.
    q, d = one_dim(SCORES)
    r = rank_gold(q, d, [[0, 3]], doc_lang_codes=LANGS, n_langs=2, ties=ties, top_k=4)
    assert r.ranks.tolist() == [expected]
    assert r.n_tied.tolist() == [[2, 0]]
    assert r.n_above.tolist() == [[2, 1]]
    # Unrelated docs above: gold 0 has doc 1 (de) above (doc 3 is gold, not counted); gold 3 has doc 1.
    assert r.above_by_lang.tolist() == [[[0, 1], [0, 1]]]
    assert r.gold_scores.tolist() == [[0.5, 0.75]]
    # Top 4: 0.875 (1), 0.75 (3), then the 0.5 tie in doc order (0, 2).
    assert r.top_idx.tolist() == [[1, 3, 0, 2]]
    assert r.top_scores.tolist() == [[0.875, 0.75, 0.5, 0.5]]


def test_hand_worked_exclusion_and_related():
    q, d = one_dim(SCORES)
    # Excluding doc 1 removes it everywhere: gold 0 has 1 above (doc 3), 2 tied -> 2 / 4 / 3.
    for ties, expected in [("optimistic", [2, 1]), ("pessimistic", [4, 1]), ("average", [3, 1])]:
        r = rank_gold(q, d, [[0, 3]], excluded=[[1]], doc_lang_codes=LANGS, ties=ties, top_k=3)
        assert r.ranks.tolist() == [expected]
        assert r.above_by_lang.tolist() == [[[0, 0], [0, 0]]]
        assert r.top_idx.tolist() == [[3, 0, 2]]  # doc 1 never appears
    # `related` docs still count for the rank but are not "unrelated" distractors.
    r = rank_gold(q, d, [[0, 3]], related=[[1, -1]], doc_lang_codes=LANGS)
    assert r.ranks.tolist() == [[3, 2]]
    assert r.above_by_lang.tolist() == [[[0, 0], [0, 0]]]


def test_hand_worked_gold_gold_tie_takes_consecutive_places():
    # scores [0.5, 0.5, 0.5, 0.25], gold = docs 0 and 1, doc 2 ties with both.
    # Tie group of 3 at places 1..3. Optimistic: golds first -> 1, 2. Pessimistic: golds last
    # -> 2, 3. Average: 1 + 0 + 2/2 = 2 for both. n_tied = 2 for both (the other gold + doc 2).
    q, d = one_dim([0.5, 0.5, 0.5, 0.25])
    expected = {"optimistic": [1, 2], "pessimistic": [2, 3], "average": [2, 2]}
    for ties, ranks in expected.items():
        r = rank_gold(q, d, [[0, 1]], ties=ties)
        assert r.ranks.tolist() == [ranks]
        assert r.n_tied.tolist() == [[2, 2]]


def test_padding_and_no_languages():
    q, d = one_dim(SCORES)
    r = rank_gold(q, d, [[3, -1]], top_k=10)
    assert r.ranks[0, 0] == 2 and np.isnan(r.ranks[0, 1]) and np.isnan(r.gold_scores[0, 1])
    assert r.n_tied[0, 1] == 0 and r.above_by_lang.shape == (1, 2, 0)
    # Pool of 6 docs, top 10: four padding slots.
    assert r.top_idx[0, 6:].tolist() == [-1] * 4 and np.isnan(r.top_scores[0, 6:]).all()


# --- brute-force reference ------------------------------------------------------------------


def reference(q, d, gold, excluded, related, codes, n_langs, ties, top_k, scores=None):
    """Full sort of every query's pool (float64; the test data make every score exact)."""
    scores = q.astype(np.float64) @ d.astype(np.float64).T if scores is None else scores
    n_q, n_g = gold.shape
    ranks = np.full((n_q, n_g), np.nan)
    tied = np.zeros((n_q, n_g), int)
    by_lang = np.zeros((n_q, n_g, n_langs), int)
    top = np.full((n_q, top_k), -1)
    for i in range(n_q):
        keep = np.setdiff1d(np.arange(len(d)), excluded[i])
        golds = [g for g in gold[i] if g >= 0]
        # Full sort: score descending; among equal scores golds first (optimistic) or last
        # (pessimistic), golds in column order, other docs by index.
        tie_key = {g: j for j, g in enumerate(golds)}
        first = 0 if ties == "optimistic" else 1
        key = lambda j: (-scores[i, j], (first if j in tie_key else 1 - first), tie_key.get(j, 0), j)
        order = sorted(keep, key=key)
        top_order = sorted(keep, key=lambda j: (-scores[i, j], j))[:top_k]
        top[i, : len(top_order)] = top_order
        unrelated = np.setdiff1d(keep, np.concatenate([gold[i], related[i]]))
        for col, g in enumerate(gold[i]):
            if g < 0:
                continue
            s = scores[i, g]
            tied[i, col] = int((scores[i, keep] == s).sum()) - 1
            above = int((scores[i, keep] > s).sum())
            ranks[i, col] = 1 + above + tied[i, col] / 2 if ties == "average" else 1 + order.index(g)
            for j in unrelated[scores[i, unrelated] > s]:
                by_lang[i, col, codes[j]] += 1
    return ranks, tied, by_lang, top


def dyadic_problem(seed, n_q=23, n_d=301, dim=8):
    """Embeddings in {-2..2}/4: every dot product is exact in float32, and ties are frequent."""
    rng = np.random.default_rng(seed)
    q = rng.integers(-2, 3, (n_q, dim)).astype(np.float32) / 4
    d = rng.integers(-2, 3, (n_d, dim)).astype(np.float32) / 4
    picks = [rng.choice(n_d, 9, replace=False) for _ in range(n_q)]
    gold = np.array([p[:3] for p in picks])
    gold[::4, 2] = -1  # padding
    excluded = np.array([p[3:6] for p in picks])
    excluded[1::3, 1:] = -1
    related = np.array([p[6:9] for p in picks])
    related[::2, 0] = gold[::2, 0]  # a related doc that is gold: must be ignored as related
    codes = rng.integers(0, 3, n_d)
    return q, d, gold, excluded, related, codes


@pytest.mark.parametrize("ties", TIE_RULES)
@pytest.mark.parametrize("seed", [0, 1])
def test_equals_full_sort_reference(ties, seed):
    q, d, gold, excluded, related, codes = dyadic_problem(seed)
    want = reference(q, d, gold, excluded, related, codes, 3, ties, top_k=7)
    r = rank_gold(q, d, gold, excluded, codes, 3, ties=ties, chunk_size=64, top_k=7, related=related,
                  query_chunk_size=5)
    np.testing.assert_array_equal(r.ranks, want[0])
    np.testing.assert_array_equal(r.n_tied, want[1])
    np.testing.assert_array_equal(r.above_by_lang, want[2])
    np.testing.assert_array_equal(r.top_idx, want[3])
    assert (r.n_tied > 0).mean() > 0.5  # the data really have ties


@pytest.mark.parametrize("layout", ["by language", "runs", "interleaved"])
def test_language_runs_count_like_the_reference(layout):
    # Pools list their docs language by language: those counts take column ranges instead of the
    # weighted matmul (`_language_spans`). Every layout must give the reference's counts.
    q, d, gold, excluded, related, codes = dyadic_problem(5)
    codes = {"by language": np.sort(codes), "runs": (np.arange(len(codes)) // 40) % 3,
             "interleaved": np.arange(len(codes)) % 3}[layout]
    want = reference(q, d, gold, excluded, related, codes, 3, "optimistic", top_k=7)
    for chunk_size in (64, 1000):
        r = rank_gold(q, d, gold, excluded, codes, 3, chunk_size=chunk_size, top_k=7, related=related)
        np.testing.assert_array_equal(r.ranks, want[0])
        np.testing.assert_array_equal(r.n_tied, want[1])
        np.testing.assert_array_equal(r.above_by_lang, want[2])


@pytest.mark.parametrize("chunk_size, query_chunk_size", [(1, 23), (3, 1), (7, 4), (100, 256), (301, 23), (4096, 2)])
def test_chunking_gives_identical_results(chunk_size, query_chunk_size):
    q, d, gold, excluded, related, codes = dyadic_problem(2)
    base = rank_gold(q, d, gold, excluded, codes, 3, ties="pessimistic", chunk_size=50, top_k=12, related=related)
    r = rank_gold(q, d, gold, excluded, codes, 3, ties="pessimistic", chunk_size=chunk_size, top_k=12,
                  related=related, query_chunk_size=query_chunk_size)
    for field in ("ranks", "n_tied", "above_by_lang", "top_idx", "top_scores", "n_above"):
        np.testing.assert_array_equal(getattr(r, field), getattr(base, field), err_msg=field)


def test_duplicate_float_embeddings_tie_exactly_across_chunks():
    # Random float embeddings; docs 5 and 7 are copied to far-apart positions (other chunks,
    # other offsets inside a chunk). Their copies must score exactly like them.
    rng = np.random.default_rng(3)
    d = rng.standard_normal((2000, 64)).astype(np.float32)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    d[[333, 1999, 1024]] = d[5]
    d[[77, 1500]] = d[7]
    q = rng.standard_normal((30, 64)).astype(np.float32)
    gold = np.tile([5, 7], (30, 1))
    results = [rank_gold(q, d, gold, chunk_size=c, top_k=5) for c in (64, 333, 2000)]
    for r in results:
        assert r.n_tied.tolist() == [[3, 2]] * 30
        np.testing.assert_array_equal(r.ranks, results[0].ranks)
        np.testing.assert_array_equal(r.top_idx, results[0].top_idx)
    pessimistic = rank_gold(q, d, gold, ties="pessimistic", chunk_size=64)
    np.testing.assert_array_equal(pessimistic.ranks - results[0].ranks, [[3, 2]] * 30)


class ColumnPerturbingScorer(ranking._Scorer):
    """What another BLAS does: the score of a row depends slightly on its column in the matmul
    (edge tiles, other kernels, other summation orders) — here by up to 4 units in the last place."""

    def __call__(self, docs):
        scores = super().__call__(docs)
        ulps = np.arange(scores.shape[1]) % 5
        for _ in range(4):
            scores = np.where(ulps > 0, np.nextafter(scores, np.float32(np.inf)), scores)
            ulps = ulps - 1
        return scores.astype(np.float32)


def reference_by_identity(q, d, text, gold, excluded, ties):
    """Full sort in float64 where copies of one text share one score (the test data keep every
    pair of different texts more than 1e-4 apart, far beyond a few ulps)."""
    scores = (q.astype(np.float64) @ d.astype(np.float64).T)[:, text]
    return reference(q, np.eye(len(text), dtype=np.float64), gold, excluded, np.full((len(q), 0), -1),
                     np.zeros(len(text), int), 1, ties, top_k=6, scores=scores)


def planted_copies(seed=11, n_texts=400, n_docs=1500, n_q=40, dim=32):
    """Random unit texts spread over many docs (each text 1-7 times, far apart)."""
    rng = np.random.default_rng(seed)
    d = rng.standard_normal((n_texts, dim)).astype(np.float32)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    q = rng.standard_normal((n_q, dim)).astype(np.float32)
    text = np.concatenate([np.arange(n_texts), rng.integers(0, n_texts, n_docs - n_texts)])
    rng.shuffle(text)
    exact = (q.astype(np.float64) @ d.astype(np.float64).T)
    gaps = np.diff(np.sort(exact, axis=1), axis=1)
    assert gaps.min() > 1e-6  # different texts never come within a few ulps of each other
    gold = np.stack([rng.choice(n_docs, 2, replace=False) for _ in range(n_q)])
    excluded = np.stack([rng.choice(np.setdiff1d(np.arange(n_docs), g), 2, replace=False) for g in gold])
    return q, d, text, gold, excluded


@pytest.mark.parametrize("ties", TIE_RULES)
def test_copies_tie_exactly_under_a_column_dependent_scorer(monkeypatch, ties):
    q, d, text, gold, excluded = planted_copies()
    want_ranks, want_tied, _, want_top = reference_by_identity(q, d, text, gold, excluded, ties)
    assert (want_tied > 0).mean() > 0.5  # most golds have copies
    monkeypatch.setattr(ranking, "_Scorer", ColumnPerturbingScorer)
    docs = d[text]  # one row per doc: identity from the bytes
    for kwargs in (dict(doc_emb=d, doc_text=text), dict(doc_emb=docs)):
        for chunk_size, query_chunk_size in ((64, 7), (1000, 40), (16384, 3)):
            r = rank_gold(q, gold=gold, excluded=excluded, ties=ties, top_k=6, chunk_size=chunk_size,
                          query_chunk_size=query_chunk_size, **kwargs)
            np.testing.assert_array_equal(r.n_tied, want_tied)
            np.testing.assert_array_equal(r.ranks, want_ranks)
            np.testing.assert_array_equal(r.top_idx, want_top)


def test_the_column_dependent_scorer_does_break_float_equality(monkeypatch):
    # The premise of the test above: scoring the same vector at two columns gives two floats.
    q, d, text, gold, excluded = planted_copies()
    scorer = ColumnPerturbingScorer(q, "cpu")
    twice = scorer(np.stack([d[0], d[0], d[0]]))
    assert (twice[:, 0] != twice[:, 1]).any()


def test_ranks_under_another_tie_rule_need_no_rescoring():
    q, d, gold, excluded, related, codes = dyadic_problem(7)
    base = rank_gold(q, d, gold, excluded, codes, 3, related=related, ties="optimistic")
    for ties in TIE_RULES:
        r = rank_gold(q, d, gold, excluded, codes, 3, related=related, ties=ties)
        np.testing.assert_array_equal(base.ranks_under(ties), r.ranks)


def test_doc_text_must_give_one_row_per_distinct_text():
    q, d = one_dim([0.5, 0.25, 0.75])
    with pytest.raises(ValueError, match="distinct"):
        rank_gold(q, d, [[0]], doc_text=[0, 0, 1, 1])
    with pytest.raises(ValueError, match="outside"):
        rank_gold(q, d, [[0]], doc_text=[0, 1, 2, 3])
    r = rank_gold(q, d, [[0, 4]], doc_text=[0, 1, 2, 0, 2], ties="pessimistic")
    # docs: 0.5, 0.25, 0.75, 0.5, 0.75 -> gold 0 (0.5): 2 above, 1 tied -> 4; gold 4 (0.75): tied
    # with doc 2 -> 2.
    assert r.ranks.tolist() == [[4, 2]] and r.n_tied.tolist() == [[1, 1]]
    assert r.top_idx.tolist()[0][:5] == [2, 4, 0, 3, 1]


def test_distinct_rows_is_identity_by_bytes():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((50, 16)).astype(np.float32)
    a[[10, 30, 49]] = a[3]
    a[20] = np.nextafter(a[3], np.float32(9))  # one ulp away: a different text
    first = ranking.distinct_rows(a, block=7)
    assert first[[3, 10, 30, 49]].tolist() == [3, 3, 3, 3] and first[20] == 20
    assert (first == np.arange(50))[[i for i in range(50) if i not in (10, 30, 49)]].all()
    odd = a[:, :15].copy()  # an odd width hashes 32-bit words
    np.testing.assert_array_equal(ranking.distinct_rows(odd), ranking._distinct_rows_exact(odd))


def test_distinct_rows_survives_a_hash_collision(monkeypatch):
    # Every row hashed alike: the byte comparison must catch it and group rows exactly.
    a = np.random.default_rng(1).standard_normal((20, 8)).astype(np.float32)
    a[7] = a[2]
    monkeypatch.setattr(ranking, "_row_hashes", lambda emb, block: np.zeros(len(emb), np.uint64))
    assert ranking.distinct_rows(a).tolist() == [i if i != 7 else 2 for i in range(20)]


def test_torch_inputs_and_float64_inputs():
    q, d, gold, excluded, related, codes = dyadic_problem(5)
    want = rank_gold(q, d, gold, excluded)
    r = rank_gold(torch.from_numpy(q), torch.from_numpy(d), torch.from_numpy(gold), excluded)
    np.testing.assert_array_equal(r.ranks, want.ranks)
    r = rank_gold(q.astype(np.float64), d.astype(np.float64), gold, excluded)
    np.testing.assert_array_equal(r.ranks, want.ranks)


def test_torch_matmul_path_gives_the_same_ranks(monkeypatch):
    # The CUDA path scores with torch; run that code path with torch on the CPU.
    q, d, gold, excluded, related, codes = dyadic_problem(6)
    want = rank_gold(q, d, gold, excluded, codes, 3, chunk_size=64, related=related)
    scorer = ranking._Scorer
    monkeypatch.setattr(ranking, "_Scorer", lambda queries, dev: scorer(queries, "cpu", use_torch=True))
    got = rank_gold(q, d, gold, excluded, codes, 3, chunk_size=64, related=related)
    for field in ("ranks", "n_tied", "above_by_lang", "top_idx", "top_scores"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(ties="best"), "Unknown tie rule"),
        (dict(gold=[[0, 0]]), "repeats"),
        (dict(gold=[[6]]), "outside"),
        (dict(gold=[[0], [1]]), "shape"),
        (dict(excluded=[[0]]), "also excluded"),
        (dict(doc_lang_codes=[0, 1]), "one code per doc"),
        (dict(doc_lang_codes=[0, 0, 0, 0, 0, 3], n_langs=2), r"\[0, 2\)"),
        (dict(chunk_size=0), "chunk_size"),
    ],
)
def test_bad_arguments(kwargs, message):
    q, d = one_dim(SCORES)
    args = dict(gold=[[0, 3]]) | kwargs
    with pytest.raises(ValueError, match=message):
        rank_gold(q, d, **args)


def test_dimension_mismatch():
    with pytest.raises(ValueError, match="Embedding sizes differ"):
        rank_gold(np.ones((1, 2), np.float32), np.ones((3, 4), np.float32), [[0]])


def test_order_keys_sort_by_score_then_text_and_decode_exactly():
    from xldiag.ranking import _order_keys, _score_of_keys

    scores = np.array([0.5, -0.0, 0.0, -1e-30, 1e-30, -np.inf, np.inf, -2.5, 0.5, -2.5, 3e38], dtype=np.float32)
    text = np.arange(len(scores), dtype=np.int64)
    keys = _order_keys(scores, text)
    order = np.argsort(keys)
    want = np.lexsort((text, -scores.astype(np.float64)))  # score descending, then text ascending
    np.testing.assert_array_equal(order, want)
    assert keys[1] - text[1] == keys[2] - text[2]  # -0.0 and 0.0 are one score
    np.testing.assert_array_equal(_score_of_keys(keys), scores + np.float32(0.0))
    np.testing.assert_array_equal(keys & ((1 << 31) - 1), text)


@pytest.mark.parametrize("ties", TIE_RULES)
def test_given_row_scores_rank_like_computed_ones_and_copies_still_tie(ties):
    # Exact arithmetic (dyadic data): scores passed in give every output the computed path gives.
    q, d, gold, excluded, related, codes = dyadic_problem(3)
    computed = rank_gold(q, d, gold, excluded, codes, 3, ties=ties, top_k=7, related=related)
    given = rank_gold(q, d, gold, excluded, codes, 3, ties=ties, top_k=7, related=related,
                      row_scores=q @ d.T)
    for field in ("ranks", "n_tied", "above_by_lang", "top_idx", "top_scores", "n_above", "gold_scores"):
        np.testing.assert_array_equal(getattr(given, field), getattr(computed, field), err_msg=field)
    # One row per doc, every copy's column perturbed differently (another matmul's last bits): each
    # text reads its representative row, so copies tie exactly, as with the computed scores.
    q, d, text, gold, excluded = planted_copies()
    want_ranks, want_tied, _, want_top = reference_by_identity(q, d, text, gold, excluded, ties)
    docs = d[text]
    row_scores = ColumnPerturbingScorer(q, "cpu")(docs)
    for chunk_size in (64, 16384):
        r = rank_gold(q, docs, gold, excluded, ties=ties, top_k=6, chunk_size=chunk_size, row_scores=row_scores)
        np.testing.assert_array_equal(r.n_tied, want_tied)
        np.testing.assert_array_equal(r.ranks, want_ranks)
        np.testing.assert_array_equal(r.top_idx, want_top)
    with pytest.raises(ValueError, match="row_scores must be"):
        rank_gold(q, docs, gold, row_scores=row_scores[:, :5])


def multi_pool_with_copies(seed: int, n_q: int = 31, n_langs: int = 3, per_lang: int = 40, n_texts: int = 25):
    """A Multi-like pool: docs in `n_langs` languages (languages in runs), each doc one of a few
    dyadic text vectors (copies within a language, one text also in two languages: ties are
    frequent and exact); per query one gold per language. Returns q, text vectors, doc_text, codes, gold."""
    rng = np.random.default_rng(seed)
    dim = 6
    q = rng.integers(-2, 3, (n_q, dim)).astype(np.float32) / 4
    vectors = rng.integers(-2, 3, (n_texts, dim)).astype(np.float32) / 4
    # every text used at least once; languages share text 0 (the same string in two languages)
    doc_text = np.concatenate([np.arange(n_texts), rng.integers(0, n_texts, n_langs * per_lang - n_texts)])
    codes = np.repeat(np.arange(n_langs), per_lang)
    gold = np.stack([lang * per_lang + rng.integers(0, per_lang, n_q) for lang in range(n_langs)], axis=1)
    return q, vectors, doc_text, codes, gold


def copies_of(docs: np.ndarray, doc_text: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Per row, the docs with the same text and language as each doc of the row (the docs
    themselves included), -1 padded."""
    rows = [np.concatenate([np.flatnonzero((doc_text == doc_text[d]) & (codes == codes[d])) for d in row])
            for row in docs]
    out = np.full((len(rows), max(len(r) for r in rows)), -1)
    for i, r in enumerate(rows):
        out[i, :len(r)] = np.sort(r)
    return out


@pytest.mark.parametrize("ties", TIE_RULES)
@pytest.mark.parametrize("seed,n_langs", [(0, 2), (1, 3), (2, 3)])
def test_multi_minus_one_derived_from_multi_equals_ranking_it(ties, seed, n_langs):
    """ranking.without_gold: each gold column taken out with its copies, from Multi's counts, gives
    every field rank_gold gives on the smaller pool (ties, gold-gold ties, copies, top lists)."""
    from xldiag.ranking import without_gold

    q, vectors, doc_text, codes, gold = multi_pool_with_copies(seed, n_langs=n_langs)
    k = 7
    for column in range(n_langs):
        excluded = copies_of(gold[:, [column]], doc_text, codes)
        keep = [g for g in range(n_langs) if g != column]
        related_all = copies_of(gold, doc_text, codes)  # copies of any gold (rank_gold drops the golds)
        related_kept = copies_of(gold[:, keep], doc_text, codes)
        multi = rank_gold(q, vectors, gold, doc_text=doc_text, doc_lang_codes=codes, n_langs=n_langs, ties=ties,
                          related=related_all, top_k=k + excluded.shape[1])
        want = rank_gold(q, vectors, gold[:, keep], excluded, codes, n_langs, ties=ties, top_k=k,
                         related=related_kept, doc_text=doc_text)
        got = without_gold(multi, gold, column, excluded, doc_text, k, ties=ties)
        for field in GoldRanks.__dataclass_fields__:
            np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=f"{field} {column}")
        assert (want.n_tied > 0).any() and (excluded >= 0).sum(axis=1).max() > 1  # the data exercise ties, copies
    with pytest.raises(ValueError, match="exclude the removed gold"):
        without_gold(multi, gold, 0, copies_of(gold[:, [1]], doc_text, codes), doc_text, k)
    with pytest.raises(ValueError, match="top_k >="):
        without_gold(multi, gold, column, excluded, doc_text, 3 * k)
