"""Compare: any two evaluations (base vs tuned): the Base/Ours table, per-query Max@R (log-log), paired
significance tests on Max@R and NDCG@1, and the most improved / degraded queries, each linking to its
view in Queries. Deep link: ?a=ID&b=ID."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import _shared as shared
from xldiag import results
from xldiag.results import selection
from xldiag.vocab import SCENARIO_LABELS, SCENARIOS, metric

COMPARE_TABS = ["Paired significance tests", "Max@R per query (scatter)"]

fr = shared.header("Compare", "Two evaluations of the same dataset, query by query: did fine-tuning help, and where?")
ss = st.session_state

ids, labels = shared.eval_options()
if len(ids) < 2:
    st.info("Comparing needs two finished evaluations (e.g. a fine-tuning run's eval/base and eval/tuned, "
            "or two models evaluated on Overview).")
    st.page_link(shared.PAGES["finetune"], label="Launch a fine-tuning run", icon=":material/model_training:")
    st.stop()

# defaults: deep link, else the sidebar's first two models (when "Compare with" changes), else the newest
# training run's base/tuned, else the two newest evaluations
sidebar_ids = [i for i in (fr.model_evals.get(m) for m in fr.models) if i in ids]
if len(sidebar_ids) > 1 and ss.get("_cmp_models") != tuple(fr.models):
    ss["_cmp_models"] = tuple(fr.models)
    ss["cmp_a"], ss["cmp_b"] = sidebar_ids[:2]
link = (st.query_params.get("a"), st.query_params.get("b"))
if link[0] and link[1] and ss.get("_cmp_link") != link:
    ss["_cmp_link"] = link
    for key, ident in zip(("cmp_a", "cmp_b"), link):
        if ident in ids:
            ss[key] = ident
        else:
            st.warning(f"Linked evaluation {ident!r} not found (or not finished).")
if ss.get("cmp_a") not in ids or ss.get("cmp_b") not in ids:
    ss["cmp_a"], ss["cmp_b"] = selection.comparison_defaults(ids, shared.list_evals(), fr.eval_id, shared.list_runs())

c1, c2 = st.columns(2)
a_id = c1.selectbox("Base", ids, key="cmp_a", format_func=lambda i: labels.get(i, i))
b_id = c2.selectbox("Tuned (ours)", ids, key="cmp_b", format_func=lambda i: labels.get(i, i))
if a_id == b_id:
    st.info("Pick two different evaluations.")
    st.stop()
try:
    run_a = shared.load_eval(shared.path_of(a_id))
    run_b = shared.load_eval(shared.path_of(b_id))
except Exception as err:  # noqa: BLE001
    shared.show_error(err, "Loading")
    st.stop()
for shown in (run_a, run_b):
    shared.flag_coverage(shown.model, shown.config.get("language_sets") or [])
if run_a.config.get("dataset") != run_b.config.get("dataset"):
    st.warning(f"The two evaluations use different datasets ({run_a.config.get('dataset')} vs "
               f"{run_b.config.get('dataset')}): there are no shared queries to pair.")
    st.stop()

st.subheader("Base / Ours")
table = shared.table("comparison", run_a.summary, run_b.summary)
if table.empty:
    st.warning("The two evaluations share no (pair, scenario, query language).")
    st.stop()
table["scenario"] = table["scenario"].map(lambda s: SCENARIO_LABELS.get(s, s))
table["metric"] = table["metric"].map(lambda m: metric(m).arrow_label)
st.dataframe(table.drop(columns="dataset"), hide_index=True, width="stretch", height=min(400, 38 + 35 * len(table)),
             column_config={c: st.column_config.NumberColumn(format="%.2f") for c in ("base", "tuned", "delta")})


@st.cache_resource(show_spinner=False, max_entries=8)
def _paired(a: str, b: str, stamp: tuple) -> pd.DataFrame:
    """The two evaluations' queries side by side, from the few per_query columns the pairing reads (the
    chart waits for it; the whole file's list columns took most of the reading time)."""
    columns = results.PAIRED_INPUT_COLUMNS
    return results.paired_queries(results.read_per_query(a, columns), results.read_per_query(b, columns))


@st.cache_resource(show_spinner=False, max_entries=32)
def _paired_tests(a: str, b: str, stamp: tuple, pair: str, scen: str, method: str) -> pd.DataFrame:
    """The paired tests with their bootstrap intervals (results.paired_tests), once per evaluations,
    pair, scenario and test."""
    paired = _paired(a, b, stamp)
    return results.paired_tests(paired[(paired["pair"] == pair) & (paired["scenario"] == scen)], method=method)


paired_all = _paired(str(run_a.path), str(run_b.path), (shared.stamp(run_a.path), shared.stamp(run_b.path)))
pairs = list(dict.fromkeys(paired_all["pair"]))
scens = [s for s in SCENARIOS if s in set(paired_all["scenario"])]
f1, f2, f3 = st.columns(3)
pair = f1.selectbox("Pair", pairs, index=pairs.index(fr.pair) if fr.pair in pairs else 0, key="cmp_pair")
scen = f2.selectbox("Scenario", scens, index=scens.index("multi") if "multi" in scens else 0, key="cmp_scen",
                    format_func=lambda s: SCENARIO_LABELS.get(s, s))
method = f3.radio("Paired test", ["wilcoxon", "permutation"], horizontal=True, key="cmp_test",
                  format_func=lambda m: {"wilcoxon": "Wilcoxon signed-rank", "permutation": "paired permutation"}[m])
paired = paired_all[(paired_all["pair"] == pair) & (paired_all["scenario"] == scen)]

# Only the open tab is built. The scatter is the page's one Plotly chart: drawn on the first visit, it
# made the browser load Plotly's code (~1.3 s of a new tab's main thread) and kept Compare over 3 s
tests_tab, scatter_tab = st.tabs(COMPARE_TABS, key="cmp_tab", on_change="rerun")
if scatter_tab.open:
    with scatter_tab:
        st.plotly_chart(shared.figure("max_r_scatter", paired, labels=("base", "tuned")), key="cmp_scatter")
if tests_tab.open:
    with tests_tab:
        st.markdown("**Paired significance tests** (two-sided, per query) and the 95 % paired bootstrap interval of "
                    "the mean difference")
        found = _paired_tests(str(run_a.path), str(run_b.path), (shared.stamp(run_a.path), shared.stamp(run_b.path)),
                              pair, scen, method).copy()
        found.insert(5, "95 % CI", [f"[{lo:.3f}, {hi:.3f}]" for lo, hi in zip(found["ci_lo"], found["ci_hi"])])
        st.dataframe(found.drop(columns=["ci_lo", "ci_hi"]), hide_index=True, width="stretch",
                     column_config={"mean Δ": st.column_config.NumberColumn(format="%.3f"),
                                    "p-value": st.column_config.NumberColumn(format="%.2g")})
        st.caption("Δ = tuned − base: negative is better for Max@R, positive for NDCG@1. Max@R is compared on a "
                   "log2 scale (ranks are heavy-tailed). The interval resamples the queries (1,000 resamples, seed 0), "
                   "keeping each query's base and tuned values together.")

st.subheader("Most improved and most degraded queries")
n_show = st.slider("How many", 3, 30, 8, key="cmp_n")
cols = st.columns(2)
for col, direction in zip(cols, ("improved", "degraded")):
    with col:
        top = results.most_changed(paired, n=n_show, direction=direction)
        st.markdown(f"**Most {direction}** ({len(top)})")
        if top.empty:
            st.caption("none")
        for r in top.itertuples():
            st.page_link(shared.PAGES["queries"],
                         label=f"{r.qid} ({r.query_lang}) Max@R {r.max_r_base:g} → {r.max_r_tuned:g}: "
                               f"{str(r.query_text)[:60]}",
                         query_params={"eval": b_id, "pair": r.pair, "scenario": r.scenario,
                                       "query_lang": r.query_lang, "qid": r.qid})
