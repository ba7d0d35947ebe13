"""Overview: run or load an evaluation; Table 1; per-language Max@R / Complete@10; Multi vs Mono-Cross."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import _shared as shared
from xldiag import results, truncation, viz
from xldiag.vocab import PAPER_POOL, PAPER_TIES

PAPER_HELP = ("The paper's setting: the per-question pool (one document per question, passages repeated — the pool "
              "its table sizes imply, |D| = 2 × questions) and both tie bounds, since the paper does not say how it "
              "broke ties. The default unique pool (each passage once) is the honest one; the two differ a lot: "
              "XQuAD en+zh, Chinese queries, multilingual-e5-small: Max@R 186.9 unique vs 921.3–926.2 per-question.")

fr = shared.frame()
st.title("Overview")
st.caption("Pick a model, dataset and languages; run an evaluation or load one; read the summary in the "
           "paper's Table 1 layout.")

# ---------------------------------------------------------------------------------------------
# Run an evaluation (detached process, progress polled from its progress file)

with st.expander("Run an evaluation", expanded=fr.eval_path is None):
    with st.form("run_eval"):
        c1, c2 = st.columns(2)
        model_choices = list(dict.fromkeys([fr.model, "default", *shared.checkpoint_models()]))
        models = c1.multiselect("Models / checkpoints", model_choices, default=[fr.model],
                                format_func=results.model_label, key="ov_models")
        other = c1.text_input("Other model (hub name or local folder)", key="ov_other_model",
                              placeholder="e.g. intfloat/multilingual-e5-small")
        langs_all = [lang for lang in shared.dataset_languages(fr.dataset) if lang != shared.PIVOT]
        langs = c2.multiselect("Target languages (paired with English)", langs_all,
                               default=[fr.target] if fr.target in langs_all else langs_all[:1], key="ov_langs")
        scenarios = c2.multiselect("Scenarios", shared.SCENARIOS, default=shared.SCENARIOS, key="ov_scenarios",
                                   format_func=lambda s: results.SCENARIO_LABELS.get(s, s))
        limit = c2.number_input("Limit (first N questions, 0 = all)", min_value=0, value=0, step=10, key="ov_limit")
        paper = st.toggle("Paper setting", key="ov_paper", help=PAPER_HELP)
        st.caption(f"Dataset **{fr.dataset}**, " + ("per-question pool, optimistic and pessimistic ties (the paper "
                   "setting)" if paper else f"{fr.pool} pool, {fr.ties} ties (from the sidebar)") +
                   f". Results go to `{results.evals_dir()}`.")
        submitted = st.form_submit_button("Run evaluation", type="primary")
    if submitted:
        chosen = list(models) + ([other.strip()] if other.strip() else [])
        if not chosen or not langs or not scenarios:
            st.warning("Choose at least one model, one target language and one scenario.")
        elif shared.check_data_dir() is not None:
            started = []
            pool, ties = (PAPER_POOL, ",".join(PAPER_TIES)) if paper else (fr.pool, fr.ties)
            for model in chosen:
                name = results.eval_name(model, fr.dataset, langs, pool, ties, int(limit) or None, scenarios)
                out = results.evals_dir() / name
                prog = results.read_progress(out)
                if prog.get("state") == "running":
                    st.info(f"{name} is already running.")
                    continue
                try:
                    results.launch_evaluation(
                        out, model=model, dataset=fr.dataset, langs=langs, scenarios=scenarios,
                        construction=pool, ties=ties, limit=int(limit) or None,
                        data_dir=shared.data_dir_setting(),
                        trust_remote_code=bool(st.session_state.get("trust_remote_code")))
                    started.append(out)
                except Exception as err:  # noqa: BLE001
                    shared.show_error(err, f"Starting {name}")
            if started:
                st.session_state["ov_watch"] = [str(p) for p in started]
                shared.refresh_listings()


def _watch_evaluations() -> None:
    """Progress bars of the evaluations this session started (or any still running)."""
    evals = shared.list_evals()
    watched = list(st.session_state.get("ov_watch", []))
    running = list(evals[evals["state"] == "running"]["path"]) if not evals.empty else []
    paths = list(dict.fromkeys(watched + running))
    if not paths:
        return
    still = []
    for path in paths:
        prog = results.read_progress(path)
        name = path.rsplit("/", 1)[-1]
        state = prog.get("state", "running")
        if state == "running":
            still.append(path)
            st.progress(min(1.0, float(prog.get("fraction") or 0.0)),
                        text=f"Evaluating **{name}** — {prog.get('message', 'starting')}")
            if st.button("Stop", key=f"stop_{name}"):
                results.stop_evaluation(path)
                st.rerun()
        elif state == "finished":
            st.success(f"Evaluation **{name}** finished.")
        else:
            shared.show_error(RuntimeError(prog.get("error") or f"evaluation {state}"), f"Evaluation {name}")
    done = [p for p in watched if p not in still]
    if watched and done and len(still) < len(paths):
        st.session_state["ov_watch"] = still
        # load the newest finished evaluation into the sidebar
        finished = [p for p in done if results.read_progress(p).get("state") == "finished"]
        shared.refresh_listings()
        if finished:
            listing = results.list_evaluations()
            ident = listing[listing["path"] == str(finished[-1])]["id"]
            if not ident.empty:
                shared.select_eval(ident.iloc[0])
        st.rerun(scope="app")


evals_now = shared.list_evals()
if st.session_state.get("ov_watch") or (not evals_now.empty and (evals_now["state"] == "running").any()):
    shared.fragment(run_every=1.0, where="Evaluation progress")(_watch_evaluations)()

# ---------------------------------------------------------------------------------------------
# Results of the sidebar's evaluation

run = shared.require_eval(fr)
summary = run.summary_for(fr.ties)
cfg = run.config
st.subheader(f"{results.model_label(run.model)} on {cfg.get('dataset')} "
             f"({', '.join(cfg.get('language_sets', []))})")
st.caption(f"{run.path} · {cfg.get('pool')} pool · {', '.join(run.tie_rules)} ties · "
           f"{'first ' + str(cfg['limit']) + ' questions' if cfg.get('limit') else 'all questions'} · "
           f"created {cfg.get('created', '?')} · xldiag {cfg.get('xldiag_version', '?')}")
level, note = truncation.describe(cfg.get("truncation"))
(st.warning if level == "warning" else st.caption)(note)

compare_ids, compare_labels = shared.eval_options(dataset=cfg.get("dataset"))
others = [i for i in compare_ids if i != fr.eval_id]
extra = st.multiselect("Show beside it (other models / checkpoints)", others, key="ov_extra",
                       format_func=lambda i: compare_labels.get(i, i))

metric_cols = ["max_r", "complete@10", "max_r_norm_table", "ndcg@1", "mrr"]
frames = {results.model_label(run.model): summary}
for ident in extra:
    try:
        other = shared.load_eval(shared.path_of(ident))
        frames[f"{results.model_label(other.model)} ({ident})"] = other.summary_for(fr.ties)
    except Exception as err:  # noqa: BLE001
        shared.show_error(err, ident)

present = [s for s in shared.SCENARIOS if s in set(summary["scenario"])]
scen = st.segmented_control("Scenario", present, default="multi" if "multi" in present else present[0],
                            key="ov_scenario", format_func=lambda s: results.SCENARIO_LABELS.get(s, s))
scen = scen or ("multi" if "multi" in present else present[0])
st.markdown(f"**Table 1 — {results.SCENARIO_LABELS.get(scen, scen)}**: Max@R, the rank of the last relevant "
            "document (lower is better); Complete@10, % of queries with every relevant document in the top 10.")
tables = dict(frames)
if len(run.tie_rules) > 1:
    st.caption(f"Cells are ranges over the tie rules this run reports ({', '.join(run.tie_rules)}): "
               "the paper does not say how it broke ties. " + PAPER_HELP.split(". ", 1)[1])
    tables[results.model_label(run.model)] = run.summary_all  # the table shows both bounds
elif cfg.get("pool") == "unique":
    st.caption("Unique pool: each passage once — the honest pool. The paper's tables imply the per-question pool "
               "(switch on **Paper setting** under *Run an evaluation*); the numbers differ a lot, e.g. XQuAD "
               "en+zh, Chinese queries, multilingual-e5-small: Max@R 186.9 unique vs 921.3–926.2 per-question.")
else:
    st.caption(f"Per-question pool under the {run.tie_rules[0]} tie rule only: a gold ties with the other "
               "questions' copies of its passage, so the tie rule moves the numbers; the **Paper setting** "
               "reports both bounds.")
for label, s in tables.items():
    if len(tables) > 1:
        st.markdown(f"*{label}*")
    ranges = s["ties"].nunique() > 1
    table = (results.table1_ranges if ranges else results.table1)(s, metrics=metric_cols, scenario=scen)
    table = table.drop(columns="scenario")
    table["metric"] = table["metric"].map(lambda m: viz.METRIC_LABELS.get(m, m))
    st.dataframe(table, hide_index=True, width="stretch", height=min(420, 38 + 35 * len(table)),
                 column_config={} if ranges else {c: st.column_config.NumberColumn(format="%.2f")
                                                  for c in table.columns if c not in ("queries", "metric")})

left, right = st.columns(2)
with left:
    if len(frames) > 1:
        both = pd.concat([s.assign(model_label=label) for label, s in frames.items()], ignore_index=True)
        fig = viz.per_language_figure(both, scenario=scen, model_col="model_label")
    else:
        fig = viz.per_language_figure(summary, scenario=scen)
    st.plotly_chart(fig, key="ov_fig_lang")
with right:
    metric = st.selectbox("Metric", ["complete@10", "max_r", "ndcg@1", "max_r_norm_table", "mrr"], key="ov_metric",
                          format_func=lambda m: viz.METRIC_LABELS.get(m, m))
    st.plotly_chart(viz.multi_vs_cross_figure(summary, metric=metric), key="ov_fig2")
    st.caption("Conventional cross-lingual retrieval (Mono-Cross: the pool holds only the other language) "
               "against the Multi pool (both languages; both parallel references relevant).")

with st.expander("summary.csv and table.md"):
    st.dataframe(summary, hide_index=True, width="stretch")
    if run.table_md:
        st.markdown(run.table_md)
