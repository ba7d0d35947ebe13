"""2-D maps of a pool: which documents are drawn, and one projection fitted on one or two models.

A pool's documents are the passages of each of its languages; parallel passages share an index.
Above MAP_POINTS documents the map draws a uniform sample of passage indices (seed MAP_SEED), each
with all its language versions, so the lines joining parallel documents stay whole; the page says
how many of how many it shows. The projection (alignment.project) is fitted on the drawn
documents of every model at once — base and tuned in one map — and the queries (at most
MAP_QUERIES per pool, worst Max@R first, those whose passage is drawn) are placed with its
`transform`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xldiag import alignment

MAP_POINTS = 20_000  # documents drawn per pool and model (Plotly in a browser stays responsive)
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
    place each model's queries in it; rows in MAP_COLUMNS."""
    proj = alignment.project({model: part.doc_vectors for model, part in inputs.items()}, method=method, seed=seed)
    frames = []
    for model, part in inputs.items():
        docs = part.docs.assign(model=model, pair=pair, kind="doc", max_r=np.nan,
                                x=proj.coords[model][:, 0], y=proj.coords[model][:, 1])
        xy = proj.transform(part.query_vectors) if len(part.query_vectors) else np.zeros((0, 2))
        queries = part.queries.assign(model=model, pair=pair, kind="query", x=xy[:, 0], y=xy[:, 1])
        frames += [docs, queries]
    out = pd.concat(frames, ignore_index=True)[MAP_COLUMNS]
    out.attrs["method"] = proj.method  # UMAP falls back to PCA on a handful of points
    return out


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
