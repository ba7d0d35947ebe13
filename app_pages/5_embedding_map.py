"""Embedding map: a 2-D projection (UMAP, or PCA) of the pool's passages, coloured by language,
parallel passages joined by lines, a selected query with its references; base and tuned side by
side in one projection fitted on both.

The coordinates come from the views the evaluation wrote (xldiag.views: PCA at once, UMAP in the
same background job); the joint map of two models is fitted once per model pair and cached. A
visit never loads a model or fits a projection."""

from __future__ import annotations

import streamlit as st

from app_pages import _cache
from app_pages import _shared as shared
from app_pages import _views
from xldiag import results, vega, views
from xldiag.pools import doc_id

fr = shared.header("Embedding map", "Where the pool's documents lie: if the two languages form separate islands, "
                   "parallel lines are long and a query's nearest neighbours are in one language only.")

run = shared.require_eval(fr)
cfg = run.config
langs = fr.pair_langs

c1, c2, c3 = st.columns([1, 1.6, 2.4])
method = c1.radio("Projection", ["umap", "pca"], horizontal=True, key="map_method",
                  format_func=lambda m: {"umap": "UMAP", "pca": "PCA"}[m])
compare = shared.compare_picker(c2, "map_compare", "Show beside it (base or tuned)", fr.model)

folder, other = str(run.path), None
labels = {cfg.get("fingerprint"): results.model_label(fr.model)}
info, root = _views.require(folder, folder, what="the map coordinates"), folder
if compare != "—":
    other = _views.same_data_eval(compare, cfg, fr.pair)
    other_cfg = _cache.load_eval(other).config if other else {}
    joint = str(views.joint_map_dir([cfg.get("fingerprint"), other_cfg.get("fingerprint")], cfg.get("dataset"),
                                    cfg.get("limit")))
    if other is None:
        _views.missing_partner(compare, cfg, fr.pair)
    elif other_cfg.get("fingerprint") == cfg.get("fingerprint"):
        st.info(f"{results.model_label(compare)} has the same vectors as {results.model_label(fr.model)} "
                "(one cache fingerprint): one map shows both.")
    elif (joint_info := _views.require(joint, folder, other, what="the joint map", stop=False)) is not None:
        info, root = joint_info, joint
        labels[other_cfg.get("fingerprint")] = results.model_label(compare)

points = _cache.map_points(root, method)
if points is None:
    busy = views.views_busy(root)
    if busy is not None:
        st.info(f"{method.upper()} is still being fitted in the background ({busy.get('message', '')}); "
                "showing PCA meanwhile.", icon=":material/hourglass_top:")
    else:
        st.info(f"No {method.upper()} map was computed for this evaluation (`$XLDIAG_MAP_METHODS`); showing PCA. "
                f"Compute it with `{views.views_command(folder, other)}`.")
    method, points = "pca", _cache.map_points(root, "pca")
pool = points[points["pair"] == fr.pair]
if pool.empty:
    st.warning(f"No map of the {fr.pair} pool in these views (language sets: {', '.join(info.get('maps', {}))}).")
    st.stop()
pool = pool.assign(model=pool["model"].map(lambda fp: labels.get(fp, fp)))
docs = pool[pool["kind"] == "doc"].rename(columns={"id": "doc_id"})
queries = pool[(pool["kind"] == "query") & (pool["model"] == labels[cfg.get("fingerprint")])]

keys = queries["id"].tolist()
by_key = dict(zip(keys, zip(queries["text"].tolist(), queries["max_r"].tolist(), queries["passage"].tolist())))
current = st.session_state.get("q_current")
if current and current[0] == fr.pair:
    k = f"{current[3]}|{current[2]}"
    if k in by_key and st.session_state.get("_map_from_queries") != k:
        st.session_state["_map_from_queries"] = k
        st.session_state["map_query"] = k
if st.session_state.get("map_query") not in ["—", *keys]:
    st.session_state["map_query"] = keys[0] if keys else "—"  # the worst query, until one is chosen
query_key = c3.selectbox("Highlight a query (worst Max@R first)", ["—", *keys], key="map_query",
                         format_func=lambda k: k if k == "—" else
                         f"{k.split('|')[0]} ({k.split('|')[1]}, Max@R {by_key[k][1]:g}): {by_key[k][0][:60]}")

highlight = {}
if query_key != "—":
    qid, qlang = query_key.split("|")
    text, max_r, passage = by_key[query_key]
    refs = [doc_id(lang, "p", int(passage)) for lang in langs]
    for _, q in pool[(pool["kind"] == "query") & (pool["id"] == query_key)].iterrows():
        highlight[q["model"]] = {"query": (float(q["x"]), float(q["y"]), f"{qid} ({qlang})"), "refs": refs}
    st.caption(f"★ {qid} ({qlang} query, Max@R {max_r:g}); ringed: its references {', '.join(refs)}.")

sampling = info.get("maps", {}).get(fr.pair, {})
n_docs, n_shown = int(sampling.get("n_docs", len(docs))), int(sampling.get("n_shown", len(docs)))
names = list(dict.fromkeys(docs["model"]))
fitted = f"each model's own, {' and '.join(names[1:])} turned onto {names[0]}"
st.vega_lite_chart(spec=vega.embedding_map(docs, highlight, title=f"{method.upper()} of the {fr.pair} pool: {fitted}"
                                           if len(names) > 1 else f"{method.upper()} of the {fr.pair} pool"),
                   key="map_fig")
if sampling.get("sampled"):
    st.caption(f"Showing {n_shown:,} of {n_docs:,} documents, sampled uniformly with seed {sampling.get('seed', 0)} "
               f"(whole passages: every language version of a drawn passage); the projection was fitted on them. "
               f"Queries offered: the {len(keys):,} worst whose passage is drawn.")
else:
    st.caption(f"All {n_docs:,} documents of the pool ({n_docs // max(1, len(langs)):,} passages per language).")
