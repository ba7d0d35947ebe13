"""Fixes: the sidebar's model beside its training-free fix variants (center, LIR, LSAR, shift) and its
fine-tuned checkpoints, on the same pools: one table, a trade-off scatter (cross-lingual gain against
monolingual cost), and a form that fits and evaluates another fix in the background."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import _shared as shared
from xldiag import fixlab, jobs, results, tables
from xldiag.data.corpora import CORPORA
from xldiag.fixes import METHODS, base_model, variant_name
from xldiag.results import selection

fr = shared.header("Fixes", "Training-free corrections of the embedding space beside fine-tuning, on the same "
                   "pools: what each gains in mixed-language retrieval (Multi) and what it costs in monolingual "
                   "ranking (Mono-Same). Fixes are estimated on other text (NTREX by default); docs/FIXES.md.")
base = base_model(fr.model)
found = selection.fix_lab_evals(shared.list_evals(), shared.list_runs(), base, fr.dataset, fr.pool, fr.ties,
                                like=fr.eval_id if fr.model == base else None)


def fit_form(anchor) -> None:
    """Fit a fix for the base model and evaluate it on the base evaluation's setting, as a job.
    (No st.form: the parameter field follows the chosen fix.)"""
    c1, c2, c3, c4 = st.columns([1.6, 0.8, 1, 1])
    method = c1.selectbox("Fix", list(METHODS), key="fx_method", format_func=lambda m: METHODS[m].description)
    spec = METHODS[method]
    value = c2.number_input(spec.param or "no parameter", value=float(spec.default or 0), min_value=0.0,
                            step=0.5 if spec.kind is float else 1.0, key=f"fx_param_{method}",
                            disabled=spec.param is None)
    data = c3.selectbox("Estimated on", list(CORPORA), key="fx_data",
                        help="Aligned text that is not in the evaluation pool (checked by text hash).")
    submitted = c4.button("Fit and evaluate", type="primary", key="fx_go")
    st.caption(f"Evaluated like **{results.model_label(base)}**'s evaluation `{anchor['id']}`: same dataset, "
               "languages, scenarios, pool, ties and limit; runs in the background like any evaluation.")
    if not submitted:
        return
    param = None if spec.param is None else (int(value) if spec.kind is int else float(value))
    limit = int(anchor["limit"]) if pd.notna(anchor["limit"]) and anchor["limit"] else None
    try:
        name = variant_name(base, spec.spec(param), data)
        sets = list(anchor["language_sets"])
        scenarios = list(anchor["scenarios"])
        folder = results.evals_dir() / results.eval_name(name, fr.dataset, sets, fr.pool, fr.ties,
                                                        limit, scenarios)
        run_spec = results.eval_spec(model=name, dataset=fr.dataset, langs=sets, scenarios=scenarios,
                                     construction=fr.pool, ties=fr.ties, limit=limit,
                                     data_dir=shared.data_dir_setting())
        st.session_state["fx_watch"] = str(results.launch_evaluation(run_spec, folder))
        shared.refresh_listings()
    except Exception as err:  # noqa: BLE001 - shown on the page
        shared.show_error(err, "Starting the fix")


@shared.fragment(run_every=2, where="Fix job")
def watch() -> None:
    path = st.session_state.get("fx_watch")
    if not path:
        return
    status = jobs.read_status(path)
    if status.get("state") in jobs.ACTIVE_STATES:
        st.progress(min(1.0, float(status.get("fraction") or 0)), text=f"**{results.model_label(status.get('model', ''))}**"
                    f" — {status.get('message', 'starting')}")
        return
    st.session_state.pop("fx_watch")
    shared.refresh_listings()
    if status.get("state") != "finished":
        shared.show_error(RuntimeError(status.get("error") or f"evaluation {status.get('state')}"), "Fix job")
        return
    st.rerun(scope="app")


if not found:
    st.info(f"No complete evaluation of **{results.model_label(base)}** on **{fr.dataset}** with the {fr.pool} pool "
            f"and {fr.ties} ties yet: run one on Overview, or the whole lab from a shell: `python -m xldiag fixes "
            f"--model {base} --dataset {fr.dataset} --langs {fr.target} --out DIR`.")
    st.page_link(shared.PAGES["overview"], label="Go to Overview", icon=":material/play_arrow:")
    st.stop()

evals = shared.list_evals().set_index("id", drop=False)
runs = {model: shared.load_eval(shared.path_of(ident)) for model, ident in found.items()}
table = fixlab.table_of({m: r.summary_for(fr.ties) for m, r in runs.items()}, {m: r.config for m, r in runs.items()},
                        base)
st.subheader(f"{len(found) - 1} fix variant(s) and checkpoint(s) beside {results.model_label(base)}")
shown = table.assign(model=table["model"].map(results.model_label))
labels = {key: label for key, label, *_ in tables.FIX_COLUMNS} | dict(tables.FIX_DELTAS) | {"fit_seconds": "fit s"}
st.dataframe(shown.drop(columns=["encode_seconds", "data"]).rename(columns=labels), hide_index=True, width="stretch",
             column_config={label: st.column_config.NumberColumn(format="%.1f") for label in labels.values()})
st.caption("X-q: queries in the pair's other language. C@10 = Complete@10 (%), NDCG@1 in %; Multi-1 and Mono-Same "
           "averaged over both query languages. Δ against the base on the same pair. fit s: fitting a fix (its "
           "estimation texts' embedding aside), or training a checkpoint.")
st.vega_lite_chart(spec=shared.chart("fix_tradeoff_scatter", tables.fix_tradeoff(table)), key="fx_tradeoff")
st.caption("One point per variant or checkpoint, its Δs averaged over the language pairs above. Up is more "
           "cross-lingual retrieval (both references in the top 10); left is monolingual ranking lost.")

st.subheader("Fit and evaluate a fix")
fit_form(evals.loc[found[base]])
watch()
