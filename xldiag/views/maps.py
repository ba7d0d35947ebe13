"""2-D maps of a pool: which documents are drawn, and one projection fitted on one or two models.

A pool's documents are the passages of each of its languages; parallel passages share an index.
Above MAP_POINTS documents the map draws a uniform sample of passage indices (seed MAP_SEED), each
with all its language versions, so the lines joining parallel documents stay whole; the page says
how many of how many it shows. The projection (alignment.project) is fitted on the drawn
documents of each model alone (with several models, the others turned onto the first:
`fitted_coordinates`), and the queries (at most MAP_QUERIES per pool, worst Max@R first,
those whose passage is drawn) are placed with its `transform`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xldiag import alignment, config
from xldiag.atomic import atomic_path
from xldiag.vocab import MAP_FITS_DIR

MAP_POINTS = 20_000  # documents drawn per pool and model (the browser stays responsive)
MAP_QUERIES = 5_000  # queries placed per pool and model (UMAP's transform is the slow part)
MAP_SEED = 0
MAP_COLUMNS = ["model", "pair", "kind", "lang", "id", "passage", "x", "y", "text", "max_r"]


def sample_passages(n_passages: int, n_langs: int, max_points: int = MAP_POINTS, seed: int = MAP_SEED) -> np.ndarray:
    """The passage indices a map draws: all of them when n_passages × n_langs ≤ max_points, else a
    uniform sample without replacement (numpy default_rng(seed)), sorted."""
    keep = max(1, max_points // max(1, n_langs))
    if n_passages <= keep:
        return np.arange(n_passages)
    return np.sort(np.random.default_rng(seed).choice(n_passages, size=keep, replace=False))


@dataclass
class MapInput:
    """One model's part of a map: the drawn documents and the queries to place (unit vectors, as
    the ranking scores them). `docs` has lang, id, passage, text; `queries` lang, id, passage, text."""

    docs: pd.DataFrame
    doc_vectors: np.ndarray
    queries: pd.DataFrame
    query_vectors: np.ndarray
    n_docs: int = 0  # documents in the whole pool, drawn or not


def fit_map(inputs: dict[str, MapInput], pair: str, method: str, seed: int = MAP_SEED) -> pd.DataFrame:
    """Fit one 2-D projection on the documents of every model in `inputs` (keyed by model) and
    place each model's queries in it; rows in MAP_COLUMNS. A fit is kept in the cache
    (`fitted_coordinates`): the same vectors are never fitted twice."""
    fitted, coords = fitted_coordinates(inputs, method, seed)
    frames = []
    for model, part in inputs.items():
        docs, xy = coords[model]
        frames += [part.docs.assign(model=model, pair=pair, kind="doc", max_r=np.nan, x=docs[:, 0], y=docs[:, 1]),
                   part.queries.assign(model=model, pair=pair, kind="query", x=xy[:, 0], y=xy[:, 1])]
    out = pd.concat(frames, ignore_index=True)[MAP_COLUMNS]
    out.attrs["method"] = fitted  # UMAP falls back to PCA on a handful of points
    return out


def fitted_coordinates(inputs: dict[str, MapInput], method: str, seed: int = MAP_SEED) -> tuple[str, dict]:
    """(the method really fitted, {model: (doc xy, query xy)}): each model's own projection
    (`_fit_one`: the map it has alone, from the cache when its evaluation drew it), every other model turned, scaled and shifted onto the first one's over
    the documents both drew (`alignment.similarity_fit`), so the panels read in one orientation and
    each keeps its own shape. One projection of the models' documents stacked misdraws them: UMAP
    joins them in one neighbourhood graph, and PCA's axes follow whichever model varies most (on full
    XQuAD en+zh the base model's parallel documents came out 18 times closer than in its own UMAP,
    and the tuned model's 4 times farther apart than in its own PCA: docs/ARCHITECTURE.md)."""
    alone = {model: _fit_one(part, method, seed) for model, part in inputs.items()}
    first = next(iter(inputs))
    reference = dict(zip(inputs[first].docs["id"], alone[first][1][0]))
    coords = {}
    for model, (_, (docs, queries)) in alone.items():
        ids = inputs[model].docs["id"].tolist()
        shared = [i for i, doc in enumerate(ids) if doc in reference]  # matched by id (identity), not position
        if model != first and len(shared) >= 2:
            turn = alignment.similarity_fit(docs[shared], np.array([reference[ids[i]] for i in shared]))
            docs, queries = turn(docs), turn(queries) if len(queries) else queries
        coords[model] = (docs, queries)
    methods = {fitted for fitted, _ in alone.values()}
    return (methods.pop() if len(methods) == 1 else "pca"), coords


def _fit_one(part: MapInput, method: str, seed: int) -> tuple[str, tuple[np.ndarray, np.ndarray]]:
    """(the method really fitted, (doc xy, query xy)): one model's projection fitted on its
    documents, its queries placed with the projection's transform; from
    <cache>/map-fits/<key>.npz when these exact vectors were fitted before. The key hashes the
    method, seed, projection library versions and the vectors byte for byte (identity, not
    closeness): a warm re-evaluation reuses the fit, any changed vector refits. UMAP takes seconds
    per pool."""
    path = _fit_path(part, method, seed)
    if path.exists():
        with np.load(path) as stored:
            if len(stored.files) == 3:
                return str(stored["method"]), (stored["docs0"], stored["queries0"])
    proj = alignment.project({"docs": part.doc_vectors}, method=method, seed=seed)
    xy = (proj.coords["docs"], proj.transform(part.query_vectors) if len(part.query_vectors) else np.zeros((0, 2)))
    # docs0/queries0: the names fits had when a file could hold several models, so cached fits stay readable
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, method=np.array(proj.method), docs0=xy[0], queries0=xy[1])
    return proj.method, xy


def _fit_path(part: MapInput, method: str, seed: int) -> Path:
    from importlib.metadata import version

    digest = hashlib.sha1(json.dumps([method, seed, version("umap-learn"), version("scikit-learn")]).encode())
    for vectors in (part.doc_vectors, part.query_vectors):
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        digest.update(repr(vectors.shape).encode())
        digest.update(vectors.tobytes())
    return config.cache_dir() / MAP_FITS_DIR / f"{digest.hexdigest()[:24]}.npz"


def map_queries(per_query: pd.DataFrame, pair: str, drawn: np.ndarray, limit: int = MAP_QUERIES) -> pd.DataFrame:
    """The queries a pool's map places: its Multi queries (any scenario if it has none), one row
    per (qid, query language), whose passage is drawn, worst Max@R first, at most `limit`."""
    pq = per_query[per_query["pair"] == pair]
    if (pq["scenario"] == "multi").any():
        pq = pq[pq["scenario"] == "multi"]
    pq = pq.drop_duplicates(["qid", "query_lang"])
    pq = pq[np.isin(pq["passage_index"].to_numpy(), drawn)]
    pq = pq.sort_values("max_r", ascending=False, kind="stable").head(limit)
    return pd.DataFrame({
        "lang": pq["query_lang"].to_numpy(), "id": (pq["qid"].astype(str) + "|" + pq["query_lang"]).to_numpy(),
        "passage": pq["passage_index"].to_numpy(np.int64), "text": pq["query_text"].astype(str).to_numpy(),
        "max_r": pq["max_r"].to_numpy(float),
    })
