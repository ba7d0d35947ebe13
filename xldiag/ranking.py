"""Exact ranks of the gold docs in a pool, without sorting the pool.

A pool's docs are *distinct texts with a multiplicity*: several docs (pool slots) may hold the same
text — a per-question pool repeats each passage once per question. Each distinct text is scored
once per query, so copies of one text tie exactly *by construction*, whatever the BLAS kernel,
device or chunking; every count below is a count of docs, obtained by weighting each text's
comparison with its number of docs (per language).

For each chunk of queries we stream over the distinct texts in blocks, score a block with one
matmul and count the docs that score strictly above / exactly equal to each gold score. Memory is
bounded by the chunk sizes, never by the pool size. The matmul runs on CUDA when present (torch),
else on CPU (numpy's BLAS); the counting runs in numpy.

Rank of a gold doc = 1 + #{docs scoring above it}            (optimistic)
                   = 1 + #{above} + #{tied}                  (pessimistic)
                   = 1 + #{above} + #{tied} / 2              (average)
where "docs" are the pool docs that are not excluded for this query, and "tied" are the *other*
docs with exactly the gold's score (`n_tied`). One refinement: when two gold docs of one query tie
exactly with each other, they take consecutive places in gold-column order (optimistic: the golds
first; pessimistic: the golds after the non-gold docs of the tie), so that a collapsed model whose
docs all tie cannot put its whole gold set "at rank 1". The average rule is unchanged.

Which score is "the" score: s(q, t) for query q and distinct text t is one float32 dot product.
The scores of a query's gold texts are computed first (one matmul over the gold texts) and those
values *replace* whatever the streamed matmul gives at those columns, so every comparison made for
q uses exactly one value per text. BLAS may return different floats for one vector at different
positions of a matmul (edge tiles use other kernels and summation orders); that can only reorder
*different* texts whose scores agree to the last bits, never split copies of one text. Exact float
ties between different texts are counted as ties, as computed.

Identity: pass `doc_text` (each doc's distinct-text index; `xldiag.pools.Pool.text_id`) and one
embedding row per distinct text. Without it, docs whose embedding rows are bitwise identical are
taken as copies of one text; with it, texts whose rows are bitwise identical are merged as well
(one vector, one score). Identity comes from the strings and the bytes, never from comparing
scores.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from xldiag import config
from xldiag.vocab import TIE_RULES

DEFAULT_CHUNK_SIZE = 16384
DEFAULT_QUERY_CHUNK_SIZE = 256  # queries per chunk at least; more while a chunk's scores fit SCORES_PER_CHUNK
SCORES_PER_CHUNK = 4_000_000  # 16 MB of float32 per query chunk x text block: small pools take all queries at once
SMALL_MATMUL = 2e8  # multiply-adds below which one BLAS thread is fastest


@dataclass
class GoldRanks:
    """Per query (Q) and gold column (G). Padding golds (-1): rank/score NaN, counts 0."""

    ranks: np.ndarray  # float64 Q x G, under the tie rule asked for
    n_tied: np.ndarray  # int64 Q x G: other non-excluded docs with exactly the gold's score
    above_by_lang: np.ndarray  # int64 Q x G x n_langs: unrelated docs per language strictly above
    top_idx: np.ndarray  # int64 Q x top_k: best docs (excluded never), ties by doc index; -1 padding
    top_scores: np.ndarray  # float32 Q x top_k, NaN padding
    gold_scores: np.ndarray  # float32 Q x G, NaN padding
    n_above: np.ndarray  # int64 Q x G: non-excluded docs (gold or not) strictly above
    tied_before: np.ndarray  # int64 Q x G: other golds tied with this one and listed before it
    tied_after: np.ndarray  # int64 Q x G: other golds tied with this one and listed after it

    def ranks_under(self, ties: str) -> np.ndarray:
        """The ranks under another tie rule, from the same counts (no rescoring)."""
        return _apply_ties(self.n_above, self.n_tied, self.tied_before, self.tied_after,
                           ~np.isnan(self.gold_scores), ties)


def rank_gold(
    query_emb,
    doc_emb,
    gold,
    excluded=None,
    doc_lang_codes=None,
    n_langs: int = 0,
    ties: str = "optimistic",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    top_k: int = 10,
    *,
    related=None,
    doc_text=None,
    query_chunk_size: int | None = None,
    device: str | None = None,
    row_scores=None,
) -> GoldRanks:
    """Exact ranks of the gold docs (see the module docstring for the rules).

    query_emb (Q x d): numpy array or torch tensor, scored as float32 dot products (pass
    L2-normalised rows for cosine). Docs: either `doc_emb` (N x d, one row per doc; bitwise
    identical rows are one text), or `doc_text` (N ints: each doc's distinct text) with `doc_emb`
    holding one row per distinct text. doc_emb is read block by block, never copied whole.
    gold (Q x G), excluded (Q x E), related (Q x R): doc indices, -1 padding. Excluded docs behave
    as absent. `above_by_lang` counts *unrelated* docs only: not gold, not excluded, not in
    `related` (e.g. `Pool.duplicates`: docs holding a gold's passage). doc_lang_codes (N ints in
    [0, n_langs)) gives each doc's language; without it `above_by_lang` has 0 languages.
    `device`: "cuda" / "cpu" for the matmul (default: CUDA when present). `chunk_size` texts and
    `query_chunk_size` queries (default: as many as keep a chunk's scores within SCORES_PER_CHUNK)
    are scored at a time; the results do not depend on either. `row_scores` (Q x doc_emb rows,
    float32): scores the caller computed already (one matmul shared by several pools), read instead
    of scoring; each text reads its representative row's column, so copies tie as before.
    """
    if ties not in TIE_RULES:
        raise ValueError(f"Unknown tie rule {ties!r}; choose one of {', '.join(TIE_RULES)}.")
    _check_shapes(query_emb, doc_emb, chunk_size, top_k, 1 if query_chunk_size is None else query_chunk_size)
    if row_scores is not None and np.shape(row_scores) != (query_emb.shape[0], doc_emb.shape[0]):
        raise ValueError(f"row_scores must be (n_queries, doc_emb rows) = {(query_emb.shape[0], doc_emb.shape[0])}, "
                         f"got {np.shape(row_scores)}.")
    texts = Texts.of(doc_emb, doc_text, chunk_size)
    n_q, n_d = int(query_emb.shape[0]), texts.n_docs
    gold = _index_array(gold, n_q, n_d, "gold")
    excluded = _index_array(excluded, n_q, n_d, "excluded")
    _check_disjoint(gold, excluded)
    related = _clean_related(_index_array(related, n_q, n_d, "related"), gold, excluded)
    codes, n_langs = _lang_codes(doc_lang_codes, n_langs, n_d)
    codes = codes if codes is not None else np.zeros(n_d, dtype=np.int64)
    lang_count = texts.lang_count(codes, max(n_langs, 1))

    dev = config.device(device)
    queries = _as_float32(query_emb)
    block = min(chunk_size, max(texts.n_texts, 1))
    # Per-chunk work has a fixed cost: a small pool ranks all its queries in one chunk.
    if query_chunk_size is None:
        query_chunk_size = max(DEFAULT_QUERY_CHUNK_SIZE, SCORES_PER_CHUNK // block)
    parts = []
    with _blas_limit(n_q, texts.n_texts, queries.shape[1], dev):
        for qs in range(0, n_q, query_chunk_size):
            rows = slice(qs, qs + query_chunk_size)
            query = _QueryChunk(gold[rows], excluded[rows], related[rows], texts, codes)
            scorer = _Scorer(queries[rows], dev) if row_scores is None else _GivenScores(row_scores[rows])
            parts.append(_rank_chunk(scorer, doc_emb, query, texts, lang_count, block, top_k))
    out = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]} if parts else _empty(gold, top_k)
    out["above_by_lang"] = out["above_by_lang"][:, :, :n_langs]
    ranks = _apply_ties(out["n_above"], out["n_tied"], out["tied_before"], out["tied_after"], gold >= 0, ties)
    return GoldRanks(ranks=ranks, **out)


def without_gold(result: GoldRanks, gold, column: int, excluded, doc_text, top_k: int,
                 ties: str = "optimistic") -> GoldRanks:
    """The same pool and queries ranked with gold column `column` taken out of the pool together
    with its copies: Multi-1 from Multi, from the counts alone (no scoring, no pass over the pool).

    `gold` (Q x G): the golds `result` was ranked with; `excluded` (Q x E, -1 padding): per query
    the docs leaving the pool, gold `column` and the docs holding its text (`Pool.excluded` of the
    Multi-1 pool); `doc_text`: each doc's text (`Pool.text_id`); `result`: ranked with
    top_k >= `top_k` + E, so that `top_k` docs remain; `ties`: the rule of the new `ranks`.
    Every excluded doc holds the gold's text, hence scores s_c, the gold's score, for that query;
    for each remaining gold o (score s_o), with m = the query's number of excluded docs:

        n_above' = n_above - m [s_c > s_o]        n_tied' = n_tied - m [s_c = s_o]
        tied_before' / tied_after' lose gold c where it was tied and listed before / after o

    `above_by_lang` is unchanged: the excluded docs were gold or copies of a gold (related) and never
    counted as unrelated. The top list is the old one without the excluded docs. Equal, field by
    field, to `rank_gold` on the smaller pool (tests)."""
    _check_removed_gold(np.asarray(gold)[:, column], excluded, np.asarray(doc_text))
    if result.top_idx.shape[1] < min(top_k + excluded.shape[1], len(doc_text)):
        raise ValueError(f"without_gold needs the pool ranked with top_k >= {top_k + excluded.shape[1]}.")
    keep = [g for g in range(result.ranks.shape[1]) if g != column]
    s_c, s_o = result.gold_scores[:, column:column + 1], result.gold_scores[:, keep]
    m = (excluded >= 0).sum(axis=1)[:, None]
    tie = (s_c == s_o).astype(np.int64)  # NaN (padding) never ties
    before = np.array([column < g for g in keep])
    n_above = result.n_above[:, keep] - m * (s_c > s_o)
    n_tied = result.n_tied[:, keep] - m * tie
    tied_before = result.tied_before[:, keep] - tie * before
    tied_after = result.tied_after[:, keep] - tie * ~before
    top_idx, top_scores = _without_excluded(result.top_idx, result.top_idx >= 0, result.top_scores, excluded,
                                             len(doc_text), top_k)
    real = ~np.isnan(s_o)
    n_above, n_tied = np.where(real, n_above, 0), np.where(real, n_tied, 0)
    tied_before, tied_after = np.where(real, tied_before, 0), np.where(real, tied_after, 0)
    return GoldRanks(ranks=_apply_ties(n_above, n_tied, tied_before, tied_after, real, ties), n_tied=n_tied,
                     above_by_lang=result.above_by_lang[:, keep], top_idx=top_idx, top_scores=top_scores,
                     gold_scores=s_o.copy(), n_above=n_above, tied_before=tied_before, tied_after=tied_after)


def _check_removed_gold(removed: np.ndarray, excluded: np.ndarray, doc_text: np.ndarray) -> None:
    """Each query excludes its removed gold, and only docs holding that gold's text."""
    holds = (excluded == removed[:, None]).any(axis=1)
    same_text = (excluded < 0) | (doc_text[np.maximum(excluded, 0)] == doc_text[np.maximum(removed, 0)][:, None])
    if not (holds.all() and (removed >= 0).all() and same_text.all()):
        raise ValueError("without_gold: each query must exclude the removed gold and only docs holding its text.")


# --- identity: docs as distinct texts with a multiplicity ------------------------------------------


@dataclass
class Texts:
    """The pool's distinct texts. Texts are numbered in the order of their first doc, so "ties by
    lowest doc index" and "ties by lowest text index, then doc index" pick the same docs."""

    doc_text: np.ndarray  # N: each doc's text (renumbered)
    rows: np.ndarray  # T: the doc_emb row holding each text
    doc_start: np.ndarray  # T+1: text t's docs are docs_by_text[doc_start[t]:doc_start[t+1]]
    docs_by_text: np.ndarray  # N: docs grouped by text, ascending within a text

    @property
    def n_docs(self) -> int:
        return len(self.doc_text)

    @property
    def n_texts(self) -> int:
        return len(self.rows)

    @classmethod
    def of(cls, doc_emb, doc_text, block: int) -> "Texts":
        """From the caller's `doc_text` (one doc_emb row per text), else from identical rows."""
        n_rows = int(doc_emb.shape[0])
        if doc_text is None:
            return cls._build(distinct_rows(doc_emb, block))
        doc_text = np.asarray(doc_text.detach().cpu() if hasattr(doc_text, "detach") else doc_text)
        if doc_text.ndim != 1 or (doc_text.size and not np.issubdtype(doc_text.dtype, np.integer)):
            raise ValueError("doc_text must be a 1-D array of integer text indices, one per doc.")
        if doc_text.size and (doc_text.min() < 0 or doc_text.max() >= n_rows):
            raise ValueError(f"doc_text holds text indices outside [0, {n_rows}) (doc_emb has {n_rows} rows).")
        if len(np.unique(doc_text)) != n_rows:
            raise ValueError(f"doc_emb has {n_rows} rows but the docs hold {len(np.unique(doc_text))} distinct "
                             "texts; pass one doc_emb row per distinct text.")
        # Two texts whose vectors are bitwise identical are one vector: they share its score too.
        return cls._build(distinct_rows(doc_emb, block)[doc_text.astype(np.int64)])

    @classmethod
    def _build(cls, row_of_doc: np.ndarray) -> "Texts":
        used, first_doc, inverse = np.unique(row_of_doc, return_index=True, return_inverse=True)
        order = np.argsort(first_doc, kind="stable")  # texts by their first doc
        new_id = np.empty_like(order)
        new_id[order] = np.arange(len(order))
        doc_text = new_id[inverse.reshape(-1)].astype(np.int64)
        docs_by_text = np.argsort(doc_text, kind="stable").astype(np.int64)
        doc_start = np.searchsorted(doc_text[docs_by_text], np.arange(len(order) + 1)).astype(np.int64)
        return cls(doc_text=doc_text, rows=used[order].astype(np.int64), doc_start=doc_start,
                   docs_by_text=docs_by_text)

    def lang_count(self, codes: np.ndarray, n_langs: int) -> np.ndarray:
        """T x L (float64): how many docs of each language hold each text."""
        counts = np.zeros((self.n_texts, n_langs), dtype=np.float64)
        np.add.at(counts, (self.doc_text, codes), 1.0)
        return counts


def distinct_rows(emb, block: int = DEFAULT_CHUNK_SIZE) -> np.ndarray:
    """For each row, the index of the first row with the same bytes (float32): identity by content.

    Rows sharing a hash (`_row_hashes`) are compared byte for byte, so a hash collision can never
    merge two different rows (it only sends the call to the slower exact grouping)."""
    n = int(emb.shape[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    _, first, inverse = np.unique(_row_hashes(emb, block), return_index=True, return_inverse=True)
    candidate = first[inverse.reshape(-1)]
    for start in range(0, n, block):  # verify: a row equals the first row of its hash group
        rows = np.arange(start, min(start + block, n))
        same = (_as_float32(emb[rows]).view(np.uint32) == _as_float32(emb[candidate[rows]]).view(np.uint32)).all(1)
        if not same.all():
            return _distinct_rows_exact(emb)
    return candidate.astype(np.int64)


def _row_hashes(emb, block: int) -> np.ndarray:
    """A multiply-add hash of each row's 64-bit (odd widths: 32-bit) words, modulo 2**64: exact
    integer arithmetic, read block by block."""
    word = np.uint64 if emb.shape[1] % 2 == 0 else np.uint32
    n_words = int(emb.shape[1]) * 4 // np.dtype(word).itemsize
    weights = np.random.default_rng(0x5EED).integers(1, 2**63, size=n_words, dtype=np.uint64) | np.uint64(1)
    hashes = np.empty(int(emb.shape[0]), dtype=np.uint64)
    for start in range(0, len(hashes), block):
        words = _as_float32(emb[start : start + block]).view(word)
        with np.errstate(over="ignore"):
            hashes[start : start + len(words)] = (words * weights).sum(axis=1, dtype=np.uint64)
    return hashes


def _distinct_rows_exact(emb) -> np.ndarray:
    """The slow, collision-free path: group rows by their full bytes."""
    words = _as_float32(emb).view(np.uint32)
    _, first, inverse = np.unique(words, axis=0, return_index=True, return_inverse=True)
    return first[inverse.reshape(-1)].astype(np.int64)


@dataclass
class _QueryChunk:
    """One chunk of queries: its gold / excluded / related docs and their texts."""

    gold: np.ndarray
    excluded: np.ndarray
    related: np.ndarray
    gold_text: np.ndarray  # Q x G, -1 padding
    marked: np.ndarray  # Q x M: gold, related and excluded docs (their counts need corrections)
    marked_text: np.ndarray  # Q x M, -1 padding
    marked_lang: np.ndarray  # Q x M: language code of each marked doc
    marked_excluded: np.ndarray  # M: which marked columns are excluded docs

    def __init__(self, gold, excluded, related, texts: Texts, codes: np.ndarray):
        self.gold, self.excluded, self.related = gold, excluded, related
        self.gold_text = _texts_of(gold, texts)
        self.marked = np.concatenate([gold, related, excluded], axis=1)
        self.marked_text = _texts_of(self.marked, texts)
        self.marked_lang = codes[np.maximum(self.marked, 0)]
        self.marked_excluded = np.arange(self.marked.shape[1]) >= gold.shape[1] + related.shape[1]

    @property
    def n_queries(self) -> int:
        return len(self.gold)


def _texts_of(docs: np.ndarray, texts: Texts) -> np.ndarray:
    return np.where(docs >= 0, texts.doc_text[np.maximum(docs, 0)], -1)


# --- scoring and counting ------------------------------------------------------------------------


def _blas_limit(n_q: int, n_texts: int, dim: int, dev: str):
    """One BLAS thread for small CPU pools: thread start-up and spinning cost more than the
    matmul itself (measured here: 10.7 ms with 2 threads vs 0.6 ms with 1 for 200 x 75 x 384)."""
    if _BLAS_HELD or dev != "cpu" or n_q * n_texts * dim >= SMALL_MATMUL:
        return contextlib.nullcontext()
    return _controller().limit(limits=1, user_api="blas")


@contextlib.contextmanager
def one_blas_thread():
    """Hold BLAS at one thread while several Python threads rank pools at once (each thread is a
    core's worth of work already). Meanwhile `rank_gold` sets no limit of its own: threadpoolctl
    restores on exit what it found on entry, so limits entered and left by concurrent threads
    could leave BLAS at the wrong count."""
    global _BLAS_HELD
    if _BLAS_HELD:
        yield
        return
    with _controller().limit(limits=1, user_api="blas"):
        _BLAS_HELD = True
        try:
            yield
        finally:
            _BLAS_HELD = False


def _controller() -> ThreadpoolController:
    global _CONTROLLER
    _CONTROLLER = _CONTROLLER or ThreadpoolController()  # scanning the loaded libraries is slow: once
    return _CONTROLLER


_CONTROLLER: ThreadpoolController | None = None
_BLAS_HELD = False  # set by one_blas_thread (the calling thread, around its workers)


def _apply_ties(n_above, n_tied, tied_before, tied_after, real: np.ndarray, ties: str) -> np.ndarray:
    if ties not in TIE_RULES:
        raise ValueError(f"Unknown tie rule {ties!r}; choose one of {', '.join(TIE_RULES)}.")
    base = 1.0 + n_above
    if ties == "optimistic":
        ranks = base + tied_before
    elif ties == "pessimistic":
        ranks = base + n_tied - tied_after
    else:
        ranks = base + n_tied / 2.0
    return np.where(real, ranks, np.nan)


class _Scorer:
    """Scores one query chunk against text blocks: torch matmul on CUDA, numpy BLAS on CPU."""

    def __init__(self, queries: np.ndarray, dev: str, use_torch: bool | None = None):
        self.use_torch = dev != "cpu" if use_torch is None else use_torch
        self.dev = dev
        self.queries = queries
        if self.use_torch:
            import torch

            self.queries = torch.from_numpy(queries).to(dev)

    def __call__(self, docs: np.ndarray) -> np.ndarray:
        if not self.use_torch:
            return self.queries @ docs.T
        import torch

        return (self.queries @ torch.from_numpy(docs).to(self.dev).T).cpu().numpy()

    def rows(self, doc_emb, rows: np.ndarray) -> np.ndarray:
        """Scores of the doc_emb rows `rows` (one per text)."""
        return self(_as_float32(doc_emb[rows]))


class _GivenScores:
    """The caller's scores of every doc_emb row (`rank_gold(row_scores=...)`) for one query chunk:
    read, not computed. A text reads its own representative row, so copies still tie."""

    def __init__(self, row_scores: np.ndarray):
        self.row_scores = row_scores

    def rows(self, doc_emb, rows: np.ndarray) -> np.ndarray:
        if len(rows) == self.row_scores.shape[1] and is_identity(rows):
            # every row in order (one text per row): the caller's matrix itself, read only
            return np.asarray(self.row_scores, dtype=np.float32)
        return np.ascontiguousarray(self.row_scores[:, rows], dtype=np.float32)


def is_identity(index: np.ndarray) -> bool:
    """Whether `index` is 0, 1, ..., len - 1 (a gather by it would copy in order)."""
    return bool(len(index) == 0 or (index[0] == 0 and index[-1] == len(index) - 1 and (np.diff(index) == 1).all()))


def _rank_chunk(scorer, doc_emb, query: _QueryChunk, texts: Texts, lang_count, block: int, top_k: int) -> dict:
    """Counts for one chunk of queries (see the module docstring)."""
    if texts.n_texts <= block:
        # One block holds every text: score it once; the gold scores are read from that matmul,
        # so every comparison still uses exactly one value per text and query.
        scores = scorer.rows(doc_emb, texts.rows)
        gold = query.gold_text
        gold_scores = np.where(gold >= 0, np.take_along_axis(scores, np.maximum(gold, 0), 1), np.nan).astype(np.float32)
    else:
        scores, gold_scores = None, _gold_scores(scorer, doc_emb, query.gold_text, texts, block)
    acc = _stream(scorer, doc_emb, query, texts, lang_count, gold_scores, block, top_k, scores)
    return _finish(acc, query, texts, gold_scores, top_k)


def _gold_scores(scorer, doc_emb, gold_text, texts: Texts, block: int) -> np.ndarray:
    """s(q, t) for each query's gold texts (NaN for padding): the values every comparison uses."""
    needed = np.unique(gold_text[gold_text >= 0])
    if not len(needed):
        return np.full(gold_text.shape, np.nan, dtype=np.float32)
    scores = np.empty((len(gold_text), len(needed)), dtype=np.float32)
    for s in range(0, len(needed), block):
        part = needed[s : s + block]
        scores[:, s : s + len(part)] = scorer.rows(doc_emb, texts.rows[part])
    pos = np.searchsorted(needed, np.maximum(gold_text, 0))
    return np.where(gold_text >= 0, np.take_along_axis(scores, np.minimum(pos, len(needed) - 1), 1), np.nan).astype(np.float32)


def _stream(scorer, doc_emb, query: _QueryChunk, texts: Texts, lang_count, gold_scores, block: int, top_k: int,
            first_scores: np.ndarray | None = None) -> dict:
    """One pass over the texts: docs above / equal per gold (all docs, by multiplicity), the scores
    of the marked docs' texts, and the running top texts. `first_scores`: the first block's scores
    when the caller has them already."""
    n_q, n_g = gold_scores.shape
    n_langs = lang_count.shape[1]
    keep = top_k + query.excluded.shape[1]  # enough texts for top_k docs after dropping excluded ones
    acc = {
        "above": np.zeros((n_q, n_g, n_langs), dtype=np.int64),
        "n_eq": np.zeros((n_q, n_g), dtype=np.int64),
        "marked_score": np.full(query.marked.shape, np.nan, dtype=np.float32),
        "top_scores": np.full((n_q, keep), -np.inf, dtype=np.float32),
        "top_text": np.full((n_q, keep), -1, dtype=np.int64),
    }
    for start in range(0, texts.n_texts, block):
        end = min(start + block, texts.n_texts)
        if start == 0 and first_scores is not None:
            scores = first_scores  # the gold scores were read from it: nothing to put in (it may be the caller's)
        else:
            scores = scorer.rows(doc_emb, texts.rows[start:end])
            _use_gold_scores(scores, query.gold_text, gold_scores, start, end)
        _count_block(acc, scores, gold_scores, lang_count[start:end], _language_spans(texts, lang_count, start, end))
        _read_marked(acc["marked_score"], scores, query.marked_text, start, end)
        if keep:
            _merge_top(acc, scores, start, keep)
    return acc


def _count_block(acc, scores, gold_scores, block_count, spans) -> None:
    """Add one block's docs above / equal to each gold score, per language (by multiplicity)."""
    for g in range(gold_scores.shape[1]):
        threshold = gold_scores[:, g : g + 1]
        above, equal = scores > threshold, scores == threshold
        if spans is None:
            # 0/1 x doc counts in float64: integer sums, exact up to 2**53 docs.
            acc["above"][:, g] += (above @ block_count).astype(np.int64)
            acc["n_eq"][:, g] += (equal @ block_count.sum(axis=1)).astype(np.int64)
        else:  # one doc per text, languages in runs: plain counts over column ranges
            for lang, a, b in spans:
                acc["above"][:, g, lang] += above[:, a:b].view(np.uint8).sum(axis=1, dtype=np.int64)
            acc["n_eq"][:, g] += equal.view(np.uint8).sum(axis=1, dtype=np.int64)


MAX_SPANS_PER_LANGUAGE = 4  # more runs of one language than this: the weighted count is faster


def _language_spans(texts: Texts, lang_count, start: int, end: int) -> list[tuple[int, int, int]] | None:
    """(language, first, end) column ranges of the block [start, end) when every text is one doc
    and the languages come in a few runs (a pool lists its docs language by language); else None
    (the general count, weighted by multiplicity)."""
    block = lang_count[start:end]
    if texts.n_texts != texts.n_docs or not len(block):
        return None
    lang = block.argmax(axis=1)  # each row holds a single 1: its text's one doc
    cuts = np.flatnonzero(np.diff(lang)) + 1
    if len(cuts) + 1 > MAX_SPANS_PER_LANGUAGE * block.shape[1]:
        return None
    bounds = np.r_[0, cuts, len(lang)]
    return [(int(lang[a]), int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _use_gold_scores(scores, gold_text, gold_scores, start: int, end: int) -> None:
    """Put each query's gold-text scores into the streamed block (one value per text and query)."""
    rows, cols = np.nonzero((gold_text >= start) & (gold_text < end))
    scores[rows, gold_text[rows, cols] - start] = gold_scores[rows, cols]


def _read_marked(marked_score, scores, marked_text, start: int, end: int) -> None:
    rows, cols = np.nonzero((marked_text >= start) & (marked_text < end))
    marked_score[rows, cols] = scores[rows, marked_text[rows, cols] - start]


def _finish(acc: dict, query: _QueryChunk, texts: Texts, gold_scores, top_k: int) -> dict:
    """Counts over all docs -> per-gold outputs: excluded docs removed, the gold itself removed,
    gold/related docs kept out of the unrelated counts, gold-gold ties split."""
    n_q, n_g = gold_scores.shape
    real = query.gold >= 0
    n_langs = acc["above"].shape[2]
    valid = (query.marked >= 0)[:, :, None]
    is_excluded = query.marked_excluded[None, :, None]
    seen = acc["marked_score"][:, :, None]  # [q, marked, gold]; NaN never compares true
    above = (seen > gold_scores[:, None, :]) & valid
    equal = (seen == gold_scores[:, None, :]) & valid
    excluded_above = _by_lang(above & is_excluded, query.marked_lang, n_q, n_g, n_langs)
    marked_above = _by_lang(above, query.marked_lang, n_q, n_g, n_langs)
    gold_eq = gold_scores[:, :, None] == gold_scores[:, None, :]  # [q, g_other, g]
    earlier = np.triu(np.ones((n_g, n_g), dtype=bool), k=1)  # [g_other, g]: g_other listed first
    top_idx, top_scores = _top_docs(acc["top_text"], acc["top_scores"], query.excluded, texts, top_k)
    return {
        "n_above": (acc["above"] - excluded_above).sum(-1),
        # n_eq counts the gold itself; excluded docs with the gold's score are not in the pool.
        "n_tied": np.where(real, acc["n_eq"] - 1 - (equal & is_excluded).sum(1), 0),
        "tied_before": (gold_eq * earlier).sum(1),
        "tied_after": (gold_eq * earlier.T).sum(1),
        "above_by_lang": acc["above"] - marked_above,
        "gold_scores": np.where(real, gold_scores, np.nan).astype(np.float32),
        "top_idx": top_idx,
        "top_scores": top_scores,
    }


def _by_lang(flags: np.ndarray, lang: np.ndarray, n_q: int, n_g: int, n_langs: int) -> np.ndarray:
    """flags [q, marked, gold] -> counts [q, gold, lang] by each marked doc's language."""
    out = np.zeros((n_q, n_g, n_langs), dtype=np.int64)
    q, m, g = np.nonzero(flags)
    np.add.at(out, (q, g, lang[q, m]), 1)
    return out


def _merge_top(acc, scores, start, k) -> None:
    """Running top-k texts, ordered by score (highest first) then text index (lower first):
    a total order, so the list does not depend on the chunking. One partition of order keys
    (`_order_keys`) over the running list and the block, then a sort of the k kept."""
    top_s, top_i = acc["top_scores"], acc["top_text"]
    # A block text can only enter when it beats the running k-th score; skip blocks where none does.
    if not (scores > top_s[:, -1:]).any():  # a tie with the k-th loses: the kept text is earlier
        return
    texts = np.broadcast_to(np.arange(start, start + scores.shape[1], dtype=np.int64), scores.shape)
    keys = np.concatenate([_order_keys(top_s, np.where(top_i >= 0, top_i, _NO_TEXT)), _order_keys(scores, texts)], 1)
    if keys.shape[1] > k:
        keys = np.partition(keys, k - 1, axis=1)[:, :k]
    keys.sort(axis=1)
    text = keys & _NO_TEXT
    acc["top_text"] = np.where(text == _NO_TEXT, -1, text)
    acc["top_scores"] = _score_of_keys(keys)


# Order keys: (score descending, text ascending) as one int64, so that one unstable partition / sort
# orders ties by text index. A float32's bits, read as an int32 with the magnitude bits of negative
# values flipped, are monotone in the float's value (NaN never occurs: scores are checked finite).
_NO_TEXT = np.int64(2**31 - 1)  # the text of an empty slot (-inf), after every real text
_MAGNITUDE = np.int64(0x7FFFFFFF)


def _order_keys(scores: np.ndarray, text: np.ndarray) -> np.ndarray:
    bits = (np.asarray(scores, dtype=np.float32) + np.float32(0.0)).view(np.int32)  # -0.0 -> 0.0
    monotone = bits ^ ((bits >> 31) & np.int32(0x7FFFFFFF))  # in [-2**31, 2**31): ascending with the score
    return ((_MAGNITUDE - monotone) << 31) | text  # < 2**63: descending score, then ascending text


def _score_of_keys(keys: np.ndarray) -> np.ndarray:
    monotone = _MAGNITUDE - (keys >> 31)
    bits = np.where(monotone < 0, monotone ^ _MAGNITUDE, monotone)
    return bits.astype(np.int32).view(np.float32)


def _top_docs(top_text, top_text_scores, excluded, texts: Texts, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best k docs per query from its best texts: each text's docs (up to k + #excluded of
    them), excluded docs dropped, ordered by score then doc index."""
    n_q = len(top_text)
    out_idx = np.full((n_q, k), -1, dtype=np.int64)
    out_scores = np.full((n_q, k), np.nan, dtype=np.float32)
    if not k or not n_q:
        return out_idx, out_scores
    ok = top_text >= 0
    t = np.maximum(top_text, 0)
    if texts.n_texts == texts.n_docs:
        # every text is one doc: text order is doc order (texts are numbered by their first doc), so the
        # top texts are already the top docs; only excluded docs drop out
        return _without_excluded(texts.docs_by_text[texts.doc_start[t]], ok, top_text_scores, excluded, texts.n_docs, k)
    per_text = k + excluded.shape[1]
    n_docs = np.where(ok, np.minimum(texts.doc_start[t + 1] - texts.doc_start[t], per_text), 0)
    row = np.repeat(np.repeat(np.arange(n_q), top_text.shape[1]), n_docs.ravel())
    first = np.repeat(texts.doc_start[t].ravel(), n_docs.ravel())
    offset = np.arange(len(first)) - np.repeat(np.cumsum(n_docs.ravel()) - n_docs.ravel(), n_docs.ravel())
    doc = texts.docs_by_text[first + offset]
    score = np.repeat(top_text_scores.ravel(), n_docs.ravel())
    drop = _is_excluded(row, doc, excluded, texts.n_docs)
    row, doc, score = row[~drop], doc[~drop], score[~drop]
    order = np.lexsort((doc, -score.astype(np.float64), row))
    row, doc, score = row[order], doc[order], score[order]
    place = np.arange(len(row)) - np.searchsorted(row, row)
    keep = place < k
    out_idx[row[keep], place[keep]] = doc[keep]
    out_scores[row[keep], place[keep]] = score[keep]
    return out_idx, out_scores


def _without_excluded(doc, ok, scores, excluded, n_docs: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's listed docs (`ok`: listed) without its excluded ones, order kept, cut to k
    (-1 / NaN padding)."""
    rows = np.broadcast_to(np.arange(len(doc))[:, None], doc.shape)
    keep = ok & ~_is_excluded(rows.ravel(), doc.ravel(), excluded, n_docs).reshape(doc.shape)
    place = np.cumsum(keep, axis=1) - 1
    keep &= place < k
    out_idx = np.full((len(doc), k), -1, dtype=np.int64)
    out_scores = np.full((len(doc), k), np.nan, dtype=np.float32)
    r, c = np.nonzero(keep)
    out_idx[r, place[r, c]] = doc[r, c]
    out_scores[r, place[r, c]] = scores[r, c]
    return out_idx, out_scores


def _is_excluded(row, doc, excluded, n_docs: int) -> np.ndarray:
    if not excluded.size:
        return np.zeros(len(row), dtype=bool)
    q, c = np.nonzero(excluded >= 0)
    return np.isin(row * n_docs + doc, q * n_docs + excluded[q, c])


# --- arguments -----------------------------------------------------------------------------------


def _as_float32(x) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=np.float32)


def _check_shapes(query_emb, doc_emb, chunk_size, top_k, query_chunk_size) -> None:
    if len(query_emb.shape) != 2 or len(doc_emb.shape) != 2:
        raise ValueError("query_emb and doc_emb must be 2-D (n x d).")
    if query_emb.shape[1] != doc_emb.shape[1]:
        raise ValueError(f"Embedding sizes differ: queries d={query_emb.shape[1]}, docs d={doc_emb.shape[1]}.")
    if chunk_size < 1 or query_chunk_size < 1 or top_k < 0:
        raise ValueError("chunk_size and query_chunk_size must be >= 1 and top_k >= 0.")


def _index_array(a, n_q: int, n_d: int, name: str) -> np.ndarray:
    """Q x K int64 doc indices with -1 padding; checked for range and repeats within a row."""
    if a is None:
        return np.full((n_q, 0), -1, dtype=np.int64)
    a = np.asarray(a.detach().cpu() if hasattr(a, "detach") else a)
    if a.ndim != 2 or a.shape[0] != n_q:
        raise ValueError(f"{name} must have shape (n_queries={n_q}, k), got {a.shape}.")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must hold integer doc indices, got {a.dtype}.")
    a = a.astype(np.int64)
    if a.size and (a.min() < -1 or a.max() >= n_d):
        raise ValueError(f"{name} holds doc indices outside [0, {n_d}) (use -1 for padding).")
    if name != "related" and _has_repeats(a):
        raise ValueError(f"{name} repeats a doc within a query's row.")
    return a


def _has_repeats(a: np.ndarray) -> bool:
    s = np.sort(a, axis=1)
    return bool(((s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)).any())


def _clean_related(related: np.ndarray, gold: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """Drop related entries that are gold, excluded or repeated, so no doc is discounted twice."""
    related = np.sort(related, axis=1)
    repeat = np.zeros_like(related, dtype=bool)
    repeat[:, 1:] = related[:, 1:] == related[:, :-1]
    other = np.concatenate([gold, excluded], axis=1)
    is_other = (related[:, :, None] == other[:, None, :]).any(-1)
    return np.where(repeat | is_other, -1, related)


def _check_disjoint(gold: np.ndarray, excluded: np.ndarray) -> None:
    both = (gold[:, :, None] == excluded[:, None, :]) & (gold[:, :, None] >= 0)
    if both.any():
        q = int(np.nonzero(both.any((1, 2)))[0][0])
        raise ValueError(f"Query {q} has a gold doc that is also excluded.")


def _lang_codes(codes, n_langs: int, n_d: int):
    if codes is None:
        return None, 0
    codes = np.asarray(codes, dtype=np.int64)
    if codes.shape != (n_d,):
        raise ValueError(f"doc_lang_codes must have one code per doc ({n_d}), got shape {codes.shape}.")
    n_langs = n_langs or int(codes.max(initial=-1)) + 1
    if codes.size and (codes.min() < 0 or codes.max() >= n_langs):
        raise ValueError(f"doc_lang_codes must lie in [0, {n_langs}).")
    return codes, n_langs


def _empty(gold: np.ndarray, top_k: int) -> dict:
    n_g = gold.shape[1]
    z = np.zeros((0, n_g), dtype=np.int64)
    return {
        "n_above": z, "n_tied": z, "tied_before": z, "tied_after": z,
        "above_by_lang": np.zeros((0, n_g, 1), dtype=np.int64),
        "gold_scores": np.zeros((0, n_g), dtype=np.float32),
        "top_idx": np.zeros((0, top_k), dtype=np.int64),
        "top_scores": np.zeros((0, top_k), dtype=np.float32),
    }
