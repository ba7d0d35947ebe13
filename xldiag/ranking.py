"""Exact ranks of the gold docs in a pool, without sorting the pool.

For each chunk of queries we stream over the docs in blocks, score a block with one matmul and
count the docs that score strictly above / exactly equal to each gold score. Memory is bounded by
the chunk sizes (a (query chunk) x (doc block) score matrix and its comparisons), never by the
pool size. The matmul runs on CUDA when present (torch), else on CPU (numpy's BLAS); the counting
runs in numpy (memory-bound, single-threaded: it does not stall when cores are oversubscribed).

Rank of a gold doc = 1 + #{docs scoring above it}            (optimistic)
                   = 1 + #{above} + #{tied}                  (pessimistic)
                   = 1 + #{above} + #{tied} / 2              (average)
where "docs" are the pool docs that are not excluded for this query, and "tied" are the *other*
docs with exactly the gold's score (`n_tied`). One refinement: when two gold docs of one query tie
exactly with each other, they take consecutive places in gold-column order (optimistic: the golds
first; pessimistic: the golds after the non-gold docs of the tie), so that a collapsed model whose
docs all tie cannot put its whole gold set "at rank 1". The average rule is unchanged.

Float equality: duplicates (identical embeddings) must tie exactly. Every score of a call is a
float32 dot product from a matmul of one fixed shape — (query chunk) x (doc block of `chunk_size`
rows; the last block and the gold block zero-padded to that size) — so a (query, doc) score does
not depend on where the doc sits. The gold scores come from a same-shaped matmul over the gold
docs and are checked against the scores seen while streaming; if a backend ever disagreed, the
query chunk is recounted with the streamed gold scores, so ranks always agree with the scores
actually compared.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from xldiag import config

TIES = ("optimistic", "pessimistic", "average")
DEFAULT_CHUNK_SIZE = 16384
DEFAULT_QUERY_CHUNK_SIZE = 256
SMALL_MATMUL = 2e8  # multiply-adds below which one BLAS thread is fastest


@dataclass
class GoldRanks:
    """Per query (Q) and gold column (G). Padding golds (-1): rank/score NaN, counts 0."""

    ranks: np.ndarray  # float64 Q x G
    n_tied: np.ndarray  # int64 Q x G: other non-excluded docs with exactly the gold's score
    above_by_lang: np.ndarray  # int64 Q x G x n_langs: unrelated docs per language strictly above
    top_idx: np.ndarray  # int64 Q x top_k: best docs (excluded never), ties by doc index; -1 padding
    top_scores: np.ndarray  # float32 Q x top_k, NaN padding
    gold_scores: np.ndarray  # float32 Q x G, NaN padding
    n_above: np.ndarray  # int64 Q x G: non-excluded docs (gold or not) strictly above


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
    query_chunk_size: int = DEFAULT_QUERY_CHUNK_SIZE,
    device: str | None = None,
) -> GoldRanks:
    """Exact ranks of the gold docs (see the module docstring for the rules).

    query_emb (Q x d), doc_emb (N x d): numpy arrays (or torch tensors), scored as float32 dot
    products (pass L2-normalised rows for cosine); doc_emb is read block by block, never copied
    whole. gold (Q x G), excluded (Q x E), related (Q x R): doc indices, -1 padding. Excluded docs
    behave as absent. `above_by_lang` counts *unrelated* docs only: not gold, not excluded, not in
    `related` (e.g. `Pool.duplicates`: docs holding a gold's passage). doc_lang_codes (N ints in
    [0, n_langs)) gives each doc's language; without it `above_by_lang` has 0 languages.
    `device`: "cuda" / "cpu" for the matmul (default: CUDA when present).
    """
    if ties not in TIES:
        raise ValueError(f"Unknown tie rule {ties!r}; choose one of {', '.join(TIES)}.")
    n_q, n_d = _check_shapes(query_emb, doc_emb, chunk_size, top_k, query_chunk_size)
    gold = _index_array(gold, n_q, n_d, "gold")
    excluded = _index_array(excluded, n_q, n_d, "excluded")
    related = _clean_related(_index_array(related, n_q, n_d, "related"), gold)
    _check_disjoint(gold, excluded)
    codes, n_langs = _lang_codes(doc_lang_codes, n_langs, n_d)
    codes = codes if codes is not None else np.zeros(n_d, dtype=np.int64)

    dev = config.device(device)
    # Every matmul of one call uses this doc-block size, so scores never depend on positions.
    block = min(chunk_size, max(n_d, 1))
    queries = _as_float32(query_emb)
    parts = []
    with _blas_limit(n_q, n_d, queries.shape[1], dev):
        for qs in range(0, n_q, query_chunk_size):
            rows = slice(qs, qs + query_chunk_size)
            scorer = _Scorer(queries[rows], dev)
            parts.append(_rank_chunk(scorer, doc_emb, gold[rows], excluded[rows], related[rows],
                                     codes, max(n_langs, 1), block, top_k))
    out = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]} if parts else _empty(gold, top_k)
    out["above_by_lang"] = out["above_by_lang"][:, :, :n_langs]
    ranks = _apply_ties(out, gold >= 0, ties)
    return GoldRanks(ranks=ranks, **{k: out[k] for k in _FIELDS})


_FIELDS = ("n_tied", "above_by_lang", "top_idx", "top_scores", "gold_scores", "n_above")


def _blas_limit(n_q: int, n_d: int, dim: int, dev: str):
    """One BLAS thread for small CPU pools: thread start-up and spinning cost more than the
    matmul itself (measured here: 10.7 ms with 2 threads vs 0.6 ms with 1 for 200 x 75 x 384)."""
    global _CONTROLLER
    if dev != "cpu" or n_q * n_d * dim >= SMALL_MATMUL:
        return contextlib.nullcontext()
    _CONTROLLER = _CONTROLLER or ThreadpoolController()  # scanning the loaded libraries is slow: once
    return _CONTROLLER.limit(limits=1, user_api="blas")


_CONTROLLER: ThreadpoolController | None = None


def _apply_ties(out: dict, real: np.ndarray, ties: str) -> np.ndarray:
    base = 1.0 + out["n_above"]
    if ties == "optimistic":
        ranks = base + out["tied_before"]
    elif ties == "pessimistic":
        ranks = base + out["n_tied"] - out["tied_after"]
    else:
        ranks = base + out["n_tied"] / 2.0
    return np.where(real, ranks, np.nan)


class _Scorer:
    """Scores one query chunk against doc blocks: torch matmul on CUDA, numpy BLAS on CPU."""

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


def _rank_chunk(scorer, doc_emb, gold, excluded, related, codes, n_langs, block, top_k) -> dict:
    """Counts for one chunk of queries; recounts once if streamed gold scores disagree."""
    real = gold >= 0
    gold_scores = _gold_scores(scorer, doc_emb, gold, block)
    args = (scorer, doc_emb, gold, excluded, related, codes, n_langs, block, top_k)
    acc = _stream(gold_scores, *args)
    if not np.array_equal(acc["self_score"][real], gold_scores[real]):
        gold_scores = acc["self_score"]
        acc = _stream(gold_scores, *args)
        if not np.array_equal(acc["self_score"][real], gold_scores[real]):
            raise RuntimeError("Matmul scores are not reproducible on this backend; ranks would be inexact.")
    return _finish(acc, gold_scores, real)


def _finish(acc: dict, gold_scores: np.ndarray, real: np.ndarray) -> dict:
    """Streamed counts -> per-gold outputs (the gold itself removed, gold-gold ties split)."""
    n_g = gold_scores.shape[1]
    gold_eq = acc["gold_eq"]  # [q, g_other, g]: gold g_other has exactly gold g's score
    earlier = np.triu(np.ones((n_g, n_g), dtype=bool), k=1)  # [g_other, g]: g_other listed first
    top_idx = acc["top_idx"]
    return {
        # The gold itself is never above its own score (checked equal in _rank_chunk).
        "n_above": acc["above"].sum(-1),
        "n_tied": np.where(real, acc["n_eq"] - 1, 0),
        "tied_before": (gold_eq * earlier).sum(1),
        "tied_after": (gold_eq * earlier.T).sum(1),
        "above_by_lang": acc["above"] - acc["special_above"],
        "gold_scores": np.where(real, gold_scores, np.nan).astype(np.float32),
        "top_idx": top_idx,
        "top_scores": np.where(top_idx >= 0, acc["top_scores"], np.nan).astype(np.float32),
    }


def _gold_scores(scorer, doc_emb, gold, block) -> np.ndarray:
    """Gold scores from matmuls shaped exactly like the streaming ones (NaN for padding)."""
    docs = np.unique(gold[gold >= 0])
    scores = np.empty((len(gold), len(docs)), dtype=np.float32)
    for s in range(0, len(docs), block):
        idx = docs[s : s + block]
        scores[:, s : s + len(idx)] = scorer(_doc_block(doc_emb, idx, block))[:, : len(idx)]
    if not len(docs):
        return np.full(gold.shape, np.nan, dtype=np.float32)
    pos = np.minimum(np.searchsorted(docs, np.maximum(gold, 0)), len(docs) - 1)
    return np.where(gold >= 0, np.take_along_axis(scores, pos, 1), np.nan).astype(np.float32)


def _stream(gold_scores, scorer, doc_emb, gold, excluded, related, codes, n_langs, block, top_k) -> dict:
    """One pass over the docs: counts above/equal per gold, corrections for gold/related docs, top-k."""
    n_q, n_g = gold_scores.shape
    special = np.concatenate([gold, related], axis=1)  # docs that are never "unrelated"
    acc = {
        "above": np.zeros((n_q, n_g, n_langs), dtype=np.int64),
        "n_eq": np.zeros((n_q, n_g), dtype=np.int64),
        "special_above": np.zeros((n_q, n_g, n_langs), dtype=np.int64),
        "gold_eq": np.zeros((n_q, n_g, n_g), dtype=np.int64),
        "self_score": np.full((n_q, n_g), np.nan, dtype=np.float32),
        "top_scores": np.full((n_q, top_k), -np.inf, dtype=np.float32),
        "top_idx": np.full((n_q, top_k), -1, dtype=np.int64),
    }
    special_lang = codes[np.maximum(special, 0)]
    eye = np.eye(n_langs, dtype=np.float32)
    n_d = doc_emb.shape[0]
    for start in range(0, n_d, block):
        end = min(start + block, n_d)
        scores = scorer(_doc_block(doc_emb, slice(start, end), block))[:, : end - start]
        _mask(scores, excluded, start, end)
        onehot = eye[codes[start:end]] if n_langs > 1 else None
        for g in range(n_g):
            threshold = gold_scores[:, g : g + 1]
            above = scores > threshold
            if onehot is None:
                acc["above"][:, g, 0] += np.count_nonzero(above, axis=1)
            else:  # 0/1 matmul = per-language counts, exact in float32 up to 2**24 docs per block
                acc["above"][:, g] += (above.astype(np.float32) @ onehot).astype(np.int64)
            acc["n_eq"][:, g] += np.count_nonzero(scores == threshold, axis=1)
        _count_special(acc, scores, special, special_lang, gold_scores, start, end)
        if top_k:
            _merge_top(acc, scores, start, top_k)
    return acc


def _count_special(acc, scores, special, special_lang, gold_scores, start, end) -> None:
    """For gold/related docs in this block: their own scores, and which golds they beat or tie."""
    inside = (special >= start) & (special < end)
    if not inside.any():
        return
    n_g = gold_scores.shape[1]
    seen = np.take_along_axis(scores, np.clip(special - start, 0, end - start - 1), 1)
    seen = np.where(inside, seen, np.nan)  # NaN never compares true
    above = seen[:, :, None] > gold_scores[:, None, :]  # [q, special, gold]
    q, m, g = np.nonzero(above)
    np.add.at(acc["special_above"], (q, g, special_lang[q, m]), 1)
    acc["gold_eq"] += seen[:, :n_g, None] == gold_scores[:, None, :]
    acc["self_score"] = np.where(inside[:, :n_g], seen[:, :n_g], acc["self_score"])


def _mask(scores, excluded, start, end) -> None:
    """Excluded docs get -inf: never above, never tied (gold scores are finite)."""
    rows, cols = np.nonzero((excluded >= start) & (excluded < end))
    scores[rows, excluded[rows, cols] - start] = -np.inf


def _merge_top(acc, scores, start, k) -> None:
    """Running top-k with ties broken by doc index (lower first), independent of chunking."""
    top_s, top_i = acc["top_scores"], acc["top_idx"]
    # A candidate must beat the running k-th score (on a tie the earlier doc, already kept, wins);
    # top_s is -inf while the list is not full, which also keeps excluded (-inf) docs out.
    cand = scores > top_s[:, -1:]
    counts = np.count_nonzero(cand, axis=1)
    if counts.max(initial=0) > 4 * k:
        # Many candidates (early blocks): keep those reaching the block's own k-th score, all ties.
        kk = min(k, scores.shape[1])
        kth = -np.partition(-scores, kk - 1, axis=1)[:, kk - 1 : kk]
        cand &= scores >= kth
        counts = np.count_nonzero(cand, axis=1)
    rows, cols = np.nonzero(cand)  # row-major: doc index ascending within a row
    if not len(rows):
        return
    pos = np.arange(len(rows)) - (np.cumsum(counts) - counts)[rows]
    new_s = np.full((len(top_s), counts.max()), -np.inf, dtype=np.float32)
    new_i = np.full(new_s.shape, -1, dtype=np.int64)
    new_s[rows, pos] = scores[rows, cols]
    new_i[rows, pos] = cols + start
    # A stable sort keeps [running (earlier docs), new (ascending)] order among equal scores.
    all_s, all_i = np.concatenate([top_s, new_s], 1), np.concatenate([top_i, new_i], 1)
    order = np.argsort(-all_s, axis=1, kind="stable")[:, :k]
    acc["top_scores"], acc["top_idx"] = np.take_along_axis(all_s, order, 1), np.take_along_axis(all_i, order, 1)


def _doc_block(doc_emb, rows, block: int) -> np.ndarray:
    """Docs `rows` as a float32 (block x d) array, zero-padded to exactly `block` rows."""
    part = _as_float32(doc_emb[rows])
    if part.shape[0] == block:
        return part
    padded = np.zeros((block, part.shape[1]), dtype=np.float32)
    padded[: part.shape[0]] = part
    return padded


def _as_float32(x) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=np.float32)


def _check_shapes(query_emb, doc_emb, chunk_size, top_k, query_chunk_size) -> tuple[int, int]:
    if len(query_emb.shape) != 2 or len(doc_emb.shape) != 2:
        raise ValueError("query_emb and doc_emb must be 2-D (n x d).")
    if query_emb.shape[1] != doc_emb.shape[1]:
        raise ValueError(f"Embedding sizes differ: queries d={query_emb.shape[1]}, docs d={doc_emb.shape[1]}.")
    if chunk_size < 1 or query_chunk_size < 1 or top_k < 0:
        raise ValueError("chunk_size and query_chunk_size must be >= 1 and top_k >= 0.")
    return int(query_emb.shape[0]), int(doc_emb.shape[0])


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


def _clean_related(related: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Drop related entries that are gold or repeated, so no doc is discounted twice."""
    related = np.sort(related, axis=1)
    repeat = np.zeros_like(related, dtype=bool)
    repeat[:, 1:] = related[:, 1:] == related[:, :-1]
    is_gold = (related[:, :, None] == gold[:, None, :]).any(-1)
    return np.where(repeat | is_gold, -1, related)


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
