"""Alignment: softmax-over-dimensions of an English/target pair (the paper's Figure 1 on real data),
with cosine and JSD; cosine vs JSD over all parallel pairs, coloured by language; base vs tuned."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_pages import _shared as shared
from xldiag import alignment, results, viz
from xldiag.vocab import PIVOT

fr = shared.header("Alignment", "Each embedding read as a distribution over its dimensions (softmax). Parallel texts "
                   "are aligned when their distributions match: high cosine, JSD near 0.")

run = shared.require_eval(fr)
if shared.check_data_dir() is None:
    st.stop()
cfg = run.config
limit = cfg.get("limit")
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

try:
    ds = shared.dataset(cfg.get("dataset", fr.dataset), run.langs, limit)
except Exception as err:  # noqa: BLE001
    shared.show_error(err, "Dataset")
    st.stop()

models = results.labelled_models([fr.model] + ([compare] if compare != "—" else []))


def _vectors(model: str, lang: str, kind: str, pre_norm: bool, trust: bool) -> np.ndarray:
    """Disk-cached vectors (the Encoder's cache, or alignment's pre-norm cache); a progress bar
    appears only while texts are being embedded."""
    texts = ds.passages[lang] if kind == "passage" else ds.questions[lang]
    enc = shared.encoder(model, trust)
    holder = {}

    def progress(done, total):
        if done >= total and "bar" not in holder:
            return
        bar = holder.setdefault("bar", st.progress(0.0))
        bar.progress(min(1.0, done / max(1, total)),
                     text=f"Embedding {lang} {kind}s with {results.model_label(model)}: {done}/{total}")

    try:
        return alignment.vectors(enc, texts, role=kind, pre_norm=pre_norm, progress=progress)
    finally:
        if "bar" in holder:
            holder["bar"].empty()


trust = bool(st.session_state.get("trust_remote_code"))
embeddings: dict[str, dict[str, np.ndarray]] = {}
try:
    with st.spinner("Loading the model(s) and embedding the parallel texts (cached on disk after the first time)"):
        for label, model in models.items():
            embeddings[label] = {lang: _vectors(model, lang, kind, space == "pre-norm", trust)
                                 for lang in [PIVOT, *targets]}
except Exception as err:  # noqa: BLE001
    shared.show_error(err, "Embedding")
    st.stop()

trained_t = [t for t in map(alignment.trained_jsd_temperature, models.values()) if t is not None]
jsd_t = st.number_input("JSD temperature T, shown beside T = 1 (the paper's softmax(z))", min_value=0.01,
                        max_value=100.0, value=trained_t[0] if trained_t else 1.0, key=f"al_jsd_t_{trained_t[:1]}",
                        help="softmax(z / T) over the dimensions; defaults to the --jsd-temperature a tuned "
                             "model shown here was trained with.")
frame = alignment.alignment_frame(embeddings, chosen_temperature=jsd_t)
n_items = len(next(iter(embeddings.values()))[PIVOT])

st.subheader("One pair")
p1, p2 = st.columns([1, 3])
lang = p1.selectbox("Target language", targets, key="al_pair_lang")
first = frame[(frame["model"] == next(iter(models))) & (frame["lang"] == lang)]
order = p1.radio("Order pairs by", ["worst JSD", "best JSD", "in order"], key="al_order", horizontal=True)
if order == "worst JSD":
    candidates = list(first.sort_values("jsd", ascending=False)["index"])
elif order == "best JSD":
    candidates = list(first.sort_values("jsd")["index"])
else:
    candidates = list(range(n_items))
texts_en = ds.passages[PIVOT] if kind == "passage" else ds.questions[PIVOT]
texts_tgt = ds.passages[lang] if kind == "passage" else ds.questions[lang]
index = p1.selectbox("Pair", candidates, key="al_index",
                     format_func=lambda i: f"#{i}: {texts_en[i][:50]}")
with p2:
    a, b = st.columns(2)
    a.markdown(f"{shared.badge(PIVOT)} {texts_en[index][:400]}")
    b.markdown(f"{shared.badge(lang)} {texts_tgt[index][:400]}")

panels = []
for label in embeddings:
    en_vec = embeddings[label][PIVOT][index]
    tgt_vec = embeddings[label][lang][index]
    row = frame[(frame["model"] == label) & (frame["lang"] == lang) & (frame["index"] == index)].iloc[0]
    panels.append({"title": label, "p_en": alignment.softmax_dims(en_vec)[0], "p_tgt": alignment.softmax_dims(tgt_vec)[0],
                   "lang": lang, "cosine": float(row["cosine"]), "jsd": float(row["jsd"])})
sort_dims = p1.toggle("Sort dimensions by English probability", key="al_sort")
st.plotly_chart(viz.softmax_overlay_figure(panels, sort_by_english=sort_dims), key="al_softmax")

st.subheader(f"All {n_items} parallel {kind}s")
st.plotly_chart(viz.cos_jsd_scatter(frame), key="al_scatter")
means = alignment.jsd_summary(frame, chosen_temperature=jsd_t)
st.dataframe(means, hide_index=True, width="stretch",
             column_config={c: st.column_config.NumberColumn(format="%.2e") for c in means.columns if c.startswith("JSD")})
st.caption("JSD in nats (0 ≤ JSD ≤ ln 2), as in the training loss; "
           + ("vectors before the final L2 normalisation." if space == "pre-norm" else "unit vectors."))
