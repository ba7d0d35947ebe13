"""Language preference: which language's unrelated documents outrank each reference, and the
English- / own-language-inclination rates per target language and per model. No assumption about
the direction: the heatmap and the sentences show whatever the evaluation measured."""

from __future__ import annotations

import streamlit as st

from app_pages import _shared as shared
from xldiag import results
from xldiag.results import selection
from xldiag.vocab import metric

PREFERENCE_METRICS = ["english_inclination_rate", "own_language_inclination_rate", "mean_english_distractors",
                      "mean_own_language_distractors", "mean_rank_gap"]

fr = shared.header("Language preference", "For each query language and reference language: the mean number of "
                   "unrelated documents of each language ranked above that reference (Multi pool).")
run = shared.require_eval(fr)

pref = shared.preference(run.path)
pairs = list(dict.fromkeys(pref["pair"])) if not pref.empty else []
if not pairs:
    st.warning("This evaluation has no Multi-scenario queries: run one with the Multi scenario on Overview.")
    st.stop()
pair = fr.pair if fr.pair in pairs else pairs[0]
if pair != fr.pair:
    st.info(f"No Multi rows for {fr.pair}; showing {pair}.")

c1, c2 = st.columns([3, 2])
with c1:
    st.plotly_chart(shared.figure("preference_heatmap", pref, pair=pair), key="pref_heatmap")
with c2:
    st.markdown("**What the ranks say**")
    for line in results.preference_verdict(pref[pref["pair"] == pair]):
        st.markdown(f"- {line}")
    s = run.summary_for(fr.ties)
    s = s[(s["scenario"] == "multi") & (s["pair"] == pair)]
    st.dataframe(s[["query_lang", *PREFERENCE_METRICS]], hide_index=True, width="stretch",
                 column_config={"query_lang": st.column_config.TextColumn("queries"),
                                **{c: st.column_config.NumberColumn(metric(c).arrow_label,
                                                                    format="%.1f" if metric(c).percent else "%.2f")
                                   for c in PREFERENCE_METRICS}})

st.subheader("Inclination rates per target language and model")
ids, labels = shared.eval_options(dataset_name=run.config.get("dataset"))
# default: the sidebar's evaluation plus the newest evaluation of every other model with the same settings
default = selection.other_models(shared.list_evals(), ids, fr.eval_id, fr.pool, fr.ties)
chosen = st.multiselect("Evaluations (models / checkpoints)", ids, default=default,
                        key="pref_evals", format_func=lambda i: labels.get(i, i))
summaries = {}
for ident in chosen:
    try:
        other = shared.load_eval(shared.path_of(ident))
        label = results.model_label(other.model)
        summaries[label if label not in summaries else f"{label} ({ident})"] = other.summary_for(fr.ties)
    except Exception as err:  # noqa: BLE001
        shared.show_error(err, ident)
rates = results.inclination_rates(summaries)
st.plotly_chart(shared.figure("inclination_figure", rates), key="pref_rates")
st.caption("English-inclination: % of target-language queries with at least one unrelated English document "
           "above their same-language reference. Own-language inclination: % of queries with at least one "
           "unrelated document in the query's own language above the other-language reference "
           "(definitions in xldiag.metrics; English queries have no English-inclination).")
