"""Alignment: softmax-over-dimensions of an English/target pair (the paper's Figure 1 on real data),
with cosine and JSD; cosine vs JSD over all parallel pairs, coloured by language; base vs tuned.

Everything comes from the views the evaluation wrote (xldiag.views: the per-pair table and the
pre-normalisation vectors of the parallel texts); a visit never loads a model or encodes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app_pages import _cache
from app_pages import _shared as shared
from app_pages import _views
from xldiag import alignment, results, vega, views
from xldiag.fixes import base_model
from xldiag.vocab import PIVOT

MAX_PAIR_CHOICES = 1_000  # pairs offered in the one-pair selector (ordered by JSD, or in order)

fr = shared.header("Alignment", "Each embedding read as a distribution over its dimensions (softmax). Parallel texts "
                   "are aligned when their distributions match: high cosine, JSD near 0.")

run = shared.require_eval(fr)
cfg = run.config
targets_all = [lang for lang in run.langs if lang != PIVOT]
if not targets_all:
    st.warning("This evaluation has no English/target pair.")
    st.stop()

c1, c2, c3, c4 = st.columns([1.3, 1.6, 1.2, 1.2])
default_t = [fr.target] if fr.target in targets_all else targets_all[:1]
targets = c1.multiselect("Target languages", targets_all, default=default_t, key="al_langs")
compare = shared.compare_picker(c2, "al_compare", "Show beside it (base or tuned)", fr.model)
kind = c3.radio("Texts", ["passage", "query"], horizontal=True, key="al_kind",
                format_func=lambda k: {"passage": "passages", "query": "questions"}[k])
space = c4.radio("Vectors", ["pre-norm", "unit"], horizontal=True, key="al_space",
                 help="pre-norm: before the final L2 normalisation, as the √JSD loss sees them; "
                      "unit: the normalised vectors used for retrieval (their softmax is nearly uniform).")
if not targets:
    st.info("Choose at least one target language.")
    st.stop()

folders = {results.model_label(fr.model): str(run.path)}
_views.require(run.path, str(run.path), what="the cosine/JSD tables")
if compare != "—":
    other = _views.same_data_eval(compare, cfg, fr.pair)
    if other is None:
        _views.missing_partner(compare, cfg, fr.pair)
    elif _views.require(other, other, what="the cosine/JSD tables", stop=False) is not None:
        folders[results.model_label(compare)] = other


def _rows(label: str, folder: str) -> pd.DataFrame:
    """This model's rows for the chosen texts and targets (one language set per target)."""
    table = _cache.alignment_table(folder)
    rows = table[(table["role"] == kind) & table["lang"].isin(targets)].drop_duplicates(["lang", "index"])
    return rows.assign(model=label, jsd=rows["jsd" if space == "pre-norm" else "jsd_unit"])


def _vectors(folder: str, pair: str, lang: str) -> np.ndarray:
    vecs = views.alignment_vectors(folder, pair, kind, lang)
    return vecs if space == "pre-norm" else vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


try:
    frame = pd.concat([_rows(label, folder) for label, folder in folders.items()], ignore_index=True)
except Exception as err:  # noqa: BLE001
    shared.show_error(err, "Alignment views")
    st.stop()

trained_t = [t for t in (alignment.trained_jsd_temperature(base_model(m)) for m in (fr.model, compare)) if t is not None]
jsd_t = st.number_input("JSD temperature T, shown beside T = 1 (the paper's softmax(z))", min_value=0.01,
                        max_value=100.0, value=trained_t[0] if trained_t else 1.0, key=f"al_jsd_t_{trained_t[:1]}",
                        help="softmax(z / T) over the dimensions; defaults to the --jsd-temperature a tuned "
                             "model shown here was trained with.")
if jsd_t != 1.0:  # from the stored vectors: a few milliseconds per thousand pairs
    parts = []
    for (label, lang), block in frame.groupby(["model", "lang"], sort=False):
        folder, pair = folders[label], block["pair"].iloc[0]
        chosen = alignment.pair_jsd(_vectors(folder, pair, PIVOT), _vectors(folder, pair, lang), jsd_t)
        parts.append(block.assign(jsd_chosen=chosen[block["index"].to_numpy()]))
    frame = pd.concat(parts, ignore_index=True)
else:
    frame = frame.assign(jsd_chosen=frame["jsd"])

st.subheader("One pair")
p1, p2 = st.columns([1, 3])
lang = p1.selectbox("Target language", targets, key="al_pair_lang")
first = frame[(frame["model"] == next(iter(folders))) & (frame["lang"] == lang)]
order = p1.radio("Order pairs by", ["worst JSD", "best JSD", "in order"], key="al_order", horizontal=True)
ordered = first.sort_values("jsd", ascending=order == "best JSD", kind="stable") if order != "in order" else first
candidates = ordered["index"].head(MAX_PAIR_CHOICES).tolist()
texts = dict(zip(first["index"].tolist(), zip(first["en_text"].tolist(), first["tgt_text"].tolist())))
index = p1.selectbox("Pair", candidates, key="al_index", format_func=lambda i: f"#{i}: {texts[i][0][:50]}")
if len(first) > MAX_PAIR_CHOICES:
    p1.caption(f"The {MAX_PAIR_CHOICES:,} first of {len(first):,} pairs in this order.")
with p2:
    a, b = st.columns(2)
    a.markdown(f"{shared.badge(PIVOT)} {texts[index][0]}")
    b.markdown(f"{shared.badge(lang)} {texts[index][1]}")

panels = []
for label, folder in folders.items():
    row = frame[(frame["model"] == label) & (frame["lang"] == lang) & (frame["index"] == index)].iloc[0]
    en_vec, tgt_vec = _vectors(folder, row["pair"], PIVOT)[index], _vectors(folder, row["pair"], lang)[index]
    panels.append({"title": label, "p_en": alignment.softmax_dims(en_vec)[0], "p_tgt": alignment.softmax_dims(tgt_vec)[0],
                   "lang": lang, "cosine": float(row["cosine"]), "jsd": float(row["jsd"])})
sort_dims = p1.toggle("Sort dimensions by English probability", key="al_sort")
st.vega_lite_chart(spec=vega.softmax_overlay(panels, sort_by_english=sort_dims), key="al_softmax")

n_items = len(first)
st.subheader(f"All {n_items:,} parallel {'passages' if kind == 'passage' else 'questions'}")
shown = pd.concat([_views.sampled(block) for _, block in frame.groupby("model", sort=False)], ignore_index=True)
st.vega_lite_chart(spec=vega.cos_jsd_scatter(shown), key="al_scatter")
if len(shown) < len(frame):
    st.caption(f"The scatter shows {len(shown):,} of {len(frame):,} pairs, sampled uniformly with seed "
               f"{_views.SAMPLE_SEED} (at most {_views.SAMPLE_POINTS:,} per model); the table uses them all.")
means = alignment.jsd_summary(frame, chosen_temperature=jsd_t)
st.dataframe(means, hide_index=True, width="stretch",
             column_config={c: st.column_config.NumberColumn(format="%.2e") for c in means.columns if c.startswith("JSD")})
st.caption("JSD in nats (0 ≤ JSD ≤ ln 2), as in the training loss; "
           + ("vectors before the final L2 normalisation." if space == "pre-norm" else "unit vectors."))
