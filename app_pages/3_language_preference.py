"""Language preference: which language's unrelated documents outrank each reference; across models
(the sidebar's "Compare with"), a model × (query language, reference language) matrix of the
distractors' language, and the English- / own-language-inclination rates per target language. No
assumption about the direction: the heatmaps and the sentences show whatever was measured."""

from __future__ import annotations

import streamlit as st

from app_pages import _shared as shared
from xldiag import results
from xldiag.results import selection
from xldiag.vocab import metric

PREFERENCE_METRICS = ["english_inclination_rate", "own_language_inclination_rate", "mean_english_distractors",
                      "mean_own_language_distractors", "mean_rank_gap"]
CHANCE_METRICS = ["query_language_preference", "query_language_preference_p", "distractor_share_query_lang", "peer@10"]
# Below the preference heatmap, one tab each; only the open tab is built and drawn
PREFERENCE_TABS = ["Against chance", "Across models: which language are the distractors in?",
                   "Inclination rates per target language and model"]


def against_chance(run, pair: str, s) -> None:
    """The distractor language share heatmap and the measures against chance (no preference)."""
    c3, c4 = st.columns([3, 2])
    with c3:
        st.vega_lite_chart(spec=shared.chart("distractor_share_heatmap", results.distractor_share(run.distractor_share, pair)),
                           key="pref_share")
    with c4:
        st.markdown("**Against chance** — which gold comes first: % of queries whose same-language reference "
                    "outranks the other one (50 = no preference; two-sided sign test); the query language's "
                    "distractor share (1 = none); PEER@10")
        if "query_language_preference" in s.columns:
            st.dataframe(results.measure_table(s, CHANCE_METRICS), hide_index=True, width="stretch")
        else:
            st.caption("This evaluation predates these measures: re-run it to see them.")
    st.caption("Distractor language share: among the unrelated documents ranked above a reference, each language's "
               "share divided by its share of the pool (1 = in proportion to the pool; 2 in a two-language pool = "
               "every distractor in that language). PEER@10 (Yang et al., SIGIR 2024): the probability that the "
               "languages have equal expected rank in the top 10 (1 = fair), relevant and non-relevant levels "
               "weighted equally; it does not see which language the unrelated documents above a reference are in, "
               "so it says little about the bias shown here (docs/ARCHITECTURE.md).")


def across_models(run, fr) -> dict:
    """The evaluations (models / checkpoints) to compare, picked here: {label: evaluation}."""
    ids, labels = shared.eval_options(dataset_name=run.config.get("dataset"))
    sidebar_ids = [i for i in (fr.model_evals.get(m) for m in fr.models) if i in ids]
    # default: the sidebar's models when it compares several, else the newest evaluation of every model
    # with the same settings; a change of the sidebar's models resets the choice
    keep = shared.kept("pref_evals")
    if st.session_state.get("_pref_models") != tuple(fr.models):
        default = sidebar_ids if len(sidebar_ids) > 1 else selection.other_models(shared.list_evals(), ids,
                                                                                  fr.eval_id, fr.pool, fr.ties)
        st.session_state["_pref_models"] = tuple(fr.models)
        shared.set_kept("pref_evals", default)
    missing = [results.model_label(m) for m in fr.models if not fr.model_evals.get(m)]
    if missing:
        st.info(f"No evaluation of {', '.join(missing)} with these settings yet: run one on Overview.")
    chosen = st.multiselect("Evaluations (models / checkpoints)", ids, format_func=lambda i: labels.get(i, i),
                            help="Defaults to the sidebar's model and its **Compare with** models.", **keep)
    chosen_runs = {}
    for ident in chosen:
        try:
            other = shared.load_eval(shared.path_of(ident))
            label = results.model_label(other.model)
            chosen_runs[label if label not in chosen_runs else f"{label} ({ident})"] = other
        except Exception as err:  # noqa: BLE001
            shared.show_error(err, ident)
    for label, other in chosen_runs.items():
        shared.flag_coverage(other.model, other.config.get("language_sets") or [], label)
    return chosen_runs


def distractor_matrix(chosen_runs: dict) -> None:
    matrix = results.distractor_languages({label: shared.per_query(other.path) for label, other in chosen_runs.items()},
                                          uncovered={label: other.uncovered for label, other in chosen_runs.items()})
    st.plotly_chart(shared.figure("distractor_language_heatmap", matrix), key="pref_matrix")
    for line in results.preference_lines(matrix):
        st.markdown(f"- {line}")
    st.caption("Each cell: of the unrelated documents ranked above that reference (Multi pool, summed over the "
               "queries), the share in the query's own language, and their mean number per query. Red: more than "
               "the pool's share (the model prefers the query's language), blue: fewer (it prefers the other one).")


def inclination(chosen_runs: dict, fr) -> None:
    summaries = {label: other.summary_for(fr.ties) for label, other in chosen_runs.items()}
    st.plotly_chart(shared.figure("inclination_figure", results.inclination_rates(summaries)), key="pref_rates")
    st.caption("English-inclination: % of target-language queries with at least one unrelated English document "
               "above their same-language reference. Own-language inclination: % of queries with at least one "
               "unrelated document in the query's own language above the other-language reference "
               "(definitions in xldiag.metrics; English queries have no English-inclination).")

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

shared.flag_coverage(run.model, [pair])
c1, c2 = st.columns([3, 2])
with c1:
    st.vega_lite_chart(spec=shared.chart("preference_heatmap", pref, pair=pair), key="pref_heatmap")
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

# Tabs that track their state: only the open one runs and is drawn (one chart more on a first visit, not three)
chance_tab, models_tab, rates_tab = st.tabs(PREFERENCE_TABS, key="pref_tab", on_change="rerun")
if chance_tab.open:
    with chance_tab:
        against_chance(run, pair, s)
if models_tab.open or rates_tab.open:
    with models_tab if models_tab.open else rates_tab:
        chosen_runs = across_models(run, fr)
        if models_tab.open:
            distractor_matrix(chosen_runs)
        else:
            inclination(chosen_runs, fr)
