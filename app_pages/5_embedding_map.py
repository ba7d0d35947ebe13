"""Embedding map: a 2-D projection (UMAP, or PCA as the fast option) of the pool's passages, coloured
by language, parallel passages joined by lines, a selected query with its references; base and tuned
side by side in one projection fitted on both."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app_pages import _shared as shared
from xldiag import alignment, results, viz
from xldiag.pools import doc_id

fr = shared.header("Embedding map", "Where the pool's documents lie: if the two languages form separate islands, "
                   "parallel lines are long and a query's nearest neighbours are in one language only.")

run = shared.require_eval(fr)
if shared.check_data_dir() is None:
    st.stop()
cfg = run.config
langs = fr.pair_langs

c1, c2, c3 = st.columns([1, 1.6, 2.4])
method = c1.radio("Projection", ["umap", "pca"], horizontal=True, key="map_method",
                  format_func=lambda m: {"umap": "UMAP", "pca": "PCA (fast)"}[m])
compare = shared.compare_picker(c2, "map_compare", "Show beside it (base or tuned)", fr.model)

pq = shared.per_query(run.path)
cands = pq[(pq["pair"] == fr.pair) & (pq["scenario"] == "multi")]
if cands.empty:
    cands = pq[pq["pair"] == fr.pair]
cands = cands.sort_values("max_r", ascending=False)
keys = [f"{q}|{ql}|{s}" for q, ql, s in zip(cands["qid"].tolist(), cands["query_lang"].tolist(),
                                              cands["scenario"].tolist())]
by_key = dict(zip(keys, zip(cands["query_text"].tolist(), cands["max_r"].tolist(), cands["gold_langs"].tolist(),
                            cands["passage_index"].tolist())))
current = st.session_state.get("q_current")
if current and current[0] == fr.pair:
    k = f"{current[3]}|{current[2]}|{current[1]}"
    if k in by_key and st.session_state.get("_map_from_queries") != k:
        st.session_state["_map_from_queries"] = k
        st.session_state["map_query"] = k
if st.session_state.get("map_query") not in ["—", *keys]:
    st.session_state["map_query"] = keys[0] if keys else "—"  # the worst query, until one is chosen
query_key = c3.selectbox("Highlight a query (worst Max@R first)", ["—", *keys], key="map_query",
                         format_func=lambda k: k if k == "—" else
                         f"{k.split('|')[0]} ({k.split('|')[1]}, Max@R {by_key[k][1]:g}): {by_key[k][0][:60]}")

try:
    ds = shared.dataset(cfg.get("dataset", fr.dataset), run.langs, cfg.get("limit"))
except Exception as err:  # noqa: BLE001
    shared.show_error(err, "Dataset")
    st.stop()

models = results.labelled_models([fr.model] + ([compare] if compare != "—" else []))


@st.cache_resource(show_spinner=False, max_entries=8)
def _projection(model_items: tuple, langs: tuple, dataset_key: tuple, method: str, _docs: dict):
    return alignment.project(_docs, method=method)


@st.cache_resource(show_spinner=False, max_entries=256)
def _query_xy(proj_key: tuple, model: str, text: str, _proj) -> tuple[float, float]:
    """Where a query lands in a fitted projection (UMAP's transform is slow: once per query)."""
    xy = _proj.transform(shared.encode(model, [text], "query"))[0]
    return float(xy[0]), float(xy[1])


try:
    with st.spinner("Embedding the pool (cached on disk after the first time)"):
        docs = {}
        for label, model in models.items():
            docs[label] = np.concatenate([shared.encode(model, ds.passages[lang], "passage", f"{lang} passage")
                                          for lang in langs], axis=0)
    with st.spinner(f"Fitting {method.upper()} on {sum(len(v) for v in docs.values())} points"):
        proj = _projection(tuple(models.items()), tuple(langs),
                           (cfg.get("dataset"), tuple(run.langs), cfg.get("limit")), method, docs)
except Exception as err:  # noqa: BLE001
    shared.show_error(err, "Embedding map")
    st.stop()

n = len(ds.passages[langs[0]])
titles = ds.titles if ds.titles else [""] * n
base_rows = pd.DataFrame({
    "lang": np.repeat(langs, n), "passage": np.tile(np.arange(n), len(langs)),
    "doc_id": [doc_id(lang, "p", i) for lang in langs for i in range(n)],
    "text": [ds.passages[lang][i][:100] for lang in langs for i in range(n)],
})
points = pd.concat([base_rows.assign(model=label, x=proj.coords[label][:, 0], y=proj.coords[label][:, 1])
                    for label in models], ignore_index=True)

highlight = {}
if query_key != "—":
    qid, qlang, scen = query_key.split("|")
    text, max_r, gold_langs, passage = by_key[query_key]
    refs = [doc_id(lang, "p", passage) for lang in gold_langs]
    proj_key = (tuple(models.items()), tuple(langs), (cfg.get("dataset"), tuple(run.langs), cfg.get("limit")), method)
    for label, model in models.items():
        x, y = _query_xy(proj_key, model, text, proj)
        highlight[label] = {"query": (x, y, f"{qid} ({qlang})"), "refs": refs}
    st.caption(f"★ {qid} ({qlang} query, Max@R {max_r:g}); ringed: its references {', '.join(refs)}.")

st.plotly_chart(viz.embedding_map_figure(points, highlight, title=f"{proj.method.upper()} of the {fr.pair} pool "
                                         f"({n} passages per language), fitted jointly on {' + '.join(models)}"),
                key="map_fig")
