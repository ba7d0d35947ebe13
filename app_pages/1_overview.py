"""Overview: run or load an evaluation; Table 1; per-language Max@R / Complete@10; Multi vs Mono-Cross;
the paper's Figure 2 for the sidebar's models (query-language gap, CLIR beside Multi)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages import _shared as shared
from xldiag import jobs, results, truncation
from xldiag.results import selection
from xldiag.vocab import HEADLINE_METRICS, PAPER_POOL, PAPER_TIES, SCENARIO_LABELS, SCENARIOS, STOP_FILE, metric

PAPER_HELP = ("The paper's setting: the per-question pool (one document per question, passages repeated — the pool "
              "its table sizes imply, |D| = 2 × questions) and both tie bounds, since the paper does not say how it "
              "broke ties. The default unique pool (each passage once) is the honest one; the two differ a lot: "
              "XQuAD en+zh, Chinese queries, multilingual-e5-small: Max@R 186.9 unique vs 921.3–926.2 per-question.")
UNIQUE_NOTE = ("Unique pool: each passage once — the honest pool. The paper's tables imply the per-question pool "
               "(switch on **Paper setting** under *Run an evaluation*); the numbers differ a lot, e.g. XQuAD "
               "en+zh, Chinese queries, multilingual-e5-small: Max@R 186.9 unique vs 921.3–926.2 per-question.")


FIGURE2_METRICS = ("max_r", "complete@10")
# The results below Table 1, one tab each; only the open tab is built and drawn
OVERVIEW_TABS = ["Per language, Multi vs Mono-Cross", "Figure 2 — by query language", "Why queries fail",
                 "Beyond Table 1", "summary.csv and table.md"]


def scenario_label(scenario: str) -> str:
    return SCENARIO_LABELS.get(scenario, scenario)


# --- run an evaluation (a detached `python -m xldiag eval` job, watched through its status.json) ---


def run_form(fr: shared.Frame) -> None:
    """The form; on submit one evaluation job per chosen model, then watched below. Built only while
    its expander is open (the expander tracks its state): a closed one costs the page nothing."""
    box = st.expander("Run an evaluation", expanded=fr.eval_path is None, key="ov_run", on_change="rerun")
    if not box.open:
        return
    with box, st.form("run_eval"):
        c1, c2 = st.columns(2)
        model_choices = selection.model_choices(shared.list_evals(), shared.checkpoint_models(), fr.model)
        unevaluated = [m for m in fr.models[1:] if not fr.model_evals.get(m)]  # the sidebar's, still to run
        models = c1.multiselect("Models / checkpoints", model_choices, default=[fr.model, *unevaluated],
                                format_func=results.model_label, key="ov_models",
                                help="Several models run as one evaluation set: the same pools, one run folder "
                                     "per model.")
        other = c1.text_input("Other model (hub name or local folder)", key="ov_other_model",
                              placeholder="e.g. intfloat/multilingual-e5-small")
        langs_all = shared.target_languages(fr.dataset) or [fr.target]
        langs = c2.multiselect("Target languages (paired with English)", langs_all,
                               default=[fr.target] if fr.target in langs_all else langs_all[:1], key="ov_langs")
        scenarios = c2.multiselect("Scenarios", SCENARIOS, default=list(SCENARIOS), key="ov_scenarios",
                                   format_func=scenario_label)
        limit = c2.number_input("Limit (first N questions, 0 = all)", min_value=0, value=0, step=10, key="ov_limit")
        paper = st.toggle("Paper setting", key="ov_paper", help=PAPER_HELP)
        st.caption(f"Dataset **{fr.dataset}**, " + ("per-question pool, optimistic and pessimistic ties (the paper "
                   "setting)" if paper else f"{fr.pool} pool, {fr.ties} ties (from the sidebar)") +
                   f". Results go to `{results.evals_dir()}`.")
        submitted = st.form_submit_button("Run evaluation", type="primary")
    if not submitted:
        return
    chosen = list(models) + ([other.strip()] if other.strip() else [])
    if not chosen or not langs or not scenarios:
        st.warning("Choose at least one model, one target language and one scenario.")
    elif shared.check_data_dir() is not None:
        pool, ties = (PAPER_POOL, ",".join(PAPER_TIES)) if paper else (fr.pool, fr.ties)
        started = [launch(fr, list(dict.fromkeys(chosen)), langs, scenarios, pool, ties, int(limit) or None)]
        if any(started):
            st.session_state["ov_watch"] = [str(p) for p in started if p]
            st.session_state["ov_ended"] = {}
            shared.refresh_listings()


def launch(fr: shared.Frame, models: list[str], langs: list[str], scenarios: list[str], pool: str, ties: str,
           limit: int | None) -> Path | None:
    """Start one evaluation job — of one model, or of several as an evaluation set (one folder per
    model inside) — None if it is already running or cannot start: said on the page."""
    name = results.eval_name(",".join(models), fr.dataset, langs, pool, ties, limit, scenarios)
    out = results.evals_dir() / name
    if jobs.read_status(out).get("state") in jobs.ACTIVE_STATES:
        st.info(f"{name} is already running.")
        return None
    try:
        spec = results.eval_spec(model=models[0], dataset=fr.dataset, langs=langs, scenarios=scenarios,
                                 construction=pool, ties=ties, limit=limit, data_dir=shared.data_dir_setting(),
                                 trust_remote_code=bool(st.session_state.get("trust_remote_code")))
        if len(models) > 1:
            return results.launch_evaluation_set(spec, models, out)
        return results.launch_evaluation(spec, out)
    except Exception as err:  # noqa: BLE001 - shown on the page
        shared.show_error(err, f"Starting {name}")
        return None


def show_job(path: str, status: dict) -> bool:
    """One evaluation job's progress bar and Stop button, or how it ended; True while it runs."""
    name = Path(path).name
    state = status.get("state")
    if state in jobs.ACTIVE_STATES:
        stopping = (Path(path) / STOP_FILE).exists()
        message = "stopping at its next step" if stopping else status.get("message", "starting")
        st.progress(min(1.0, float(status.get("fraction") or 0.0)), text=f"Evaluating **{name}** — {message}")
        # Stop once it runs: the job clears a STOP file left from before when it starts
        if state == "running" and not stopping and st.button("Stop", key=f"stop_{name}"):
            jobs.request_stop(path)
            st.rerun()
        return True
    if state == "finished":
        st.success(f"Evaluation **{name}** finished.")
    else:
        show_ended(path, status)
    return False


def show_ended(path: str, status: dict) -> None:
    """How a job that did not finish ended (failed, stopped): kept on the page until the next launch."""
    st.session_state.setdefault("ov_ended", {})[path] = status
    reason = status.get("error") or f"evaluation {status.get('state')}"
    shared.show_error(RuntimeError(reason), f"Evaluation {Path(path).name}")


def watch_evaluations() -> None:
    """Progress of the evaluations this session started (and any other still running); when one of
    them finishes, the sidebar opens it."""
    evals = shared.list_evals()
    watched = list(st.session_state.get("ov_watch", []))
    running = list(evals[evals["state"] == "running"]["path"]) if not evals.empty else []
    # a watched set shows one bar ("model 2/3 ..."), not one per member
    running = [path for path in running if str(Path(path).parent) not in watched]
    paths = list(dict.fromkeys(watched + running))
    statuses = {path: jobs.read_status(path) for path in paths}
    still = [path for path in paths if show_job(path, statuses[path])]
    done = [path for path in watched if path not in still]
    if watched and done:
        st.session_state["ov_watch"] = [path for path in watched if path in still]
        shared.refresh_listings()
        finished = [path for path in done if statuses[path].get("state") == "finished"]
        ident = results.opened_id(finished[-1]) if finished else None
        if ident:
            shared.select_eval(ident)
        st.rerun(scope="app")


# --- results of the sidebar's evaluation ---------------------------------------------------------


def describe(run: results.EvalRun) -> None:
    cfg = run.config
    sets = ", ".join(cfg.get("language_sets", []))
    st.subheader(f"{results.model_label(run.model)} on {cfg.get('dataset')} ({sets})")
    st.caption(f"{run.path} · {cfg.get('pool')} pool · {', '.join(run.tie_rules)} ties · "
               f"{'first ' + str(cfg['limit']) + ' questions' if cfg.get('limit') else 'all questions'} · "
               f"created {cfg.get('created', '?')} · xldiag {cfg.get('xldiag_version', '?')}")
    level, note = truncation.describe(cfg.get("truncation"))
    (st.warning if level == "warning" else st.caption)(note)


def runs_beside(run: results.EvalRun, fr: shared.Frame) -> dict[str, results.EvalRun]:
    """{label: evaluation}: the sidebar's, its "Compare with" models' and those the user adds here."""
    ids, labels = shared.eval_options(dataset_name=run.config.get("dataset"))
    runs = {results.model_label(run.model): run}
    runs.update({label: other for label, other in shared.compared_runs(fr).items() if other.path != run.path})
    shown = {str(other.path) for other in runs.values()}
    extra = st.multiselect("Show beside it (other evaluations)", [i for i in ids if shared.path_of(i) not in shown],
                           key="ov_extra", format_func=lambda i: labels.get(i, i),
                           help="The sidebar's **Compare with** adds models; here any other evaluation.")
    for ident in extra:
        try:
            other = shared.load_eval(shared.path_of(ident))
            runs[f"{results.model_label(other.model)} ({ident})"] = other
        except Exception as err:  # noqa: BLE001
            shared.show_error(err, ident)
    for label, other in runs.items():
        shared.flag_coverage(other.model, other.config.get("language_sets") or [], label)
    return runs


def table1_note(run: results.EvalRun) -> None:
    if len(run.tie_rules) > 1:
        st.caption(f"Cells are ranges over the tie rules this run reports ({', '.join(run.tie_rules)}): "
                   "the paper does not say how it broke ties. " + PAPER_HELP.split(". ", 1)[1])
    elif run.config.get("pool") == "unique":
        st.caption(UNIQUE_NOTE)
    else:
        st.caption(f"Per-question pool under the {run.tie_rules[0]} tie rule only: a gold ties with the other "
                   "questions' copies of its passage, so the tie rule moves the numbers; the **Paper setting** "
                   "reports both bounds.")


def show_table1(summaries: dict[str, pd.DataFrame], scenario: str) -> None:
    """Table 1 of one scenario per evaluation; a summary with several tie rules shows ranges."""
    for label, summary in summaries.items():
        if len(summaries) > 1:
            st.markdown(f"*{label}*")
        ranges = summary["ties"].nunique() > 1
        table = shared.table("table1_ranges" if ranges else "table1", summary, scenario=scenario).drop(columns="scenario")
        table["metric"] = table["metric"].map(lambda m: metric(m).arrow_label)
        st.dataframe(table, hide_index=True, width="stretch", height=min(420, 38 + 35 * len(table)),
                     column_config={} if ranges else {c: st.column_config.NumberColumn(format="%.2f")
                                                      for c in table.columns if c not in ("queries", "metric")})


def show_figures(summaries: dict[str, pd.DataFrame], summary: pd.DataFrame, scenario: str) -> None:
    left, right = st.columns(2)
    with left:
        if len(summaries) > 1:
            both = pd.concat([s.assign(model_label=label) for label, s in summaries.items()], ignore_index=True)
            chart = shared.chart("per_language_bars", both, scenario=scenario, model_col="model_label")
        else:
            chart = shared.chart("per_language_bars", summary, scenario=scenario)
        st.vega_lite_chart(spec=chart, key="ov_fig_lang")
    with right:
        keep = shared.kept("ov_metric")  # drawn only while its tab is open
        if "ov_metric" not in st.session_state:
            st.session_state["ov_metric"] = "complete@10"
        chosen = st.selectbox("Metric", HEADLINE_METRICS, format_func=lambda m: metric(m).arrow_label, **keep)
        st.vega_lite_chart(spec=shared.chart("multi_vs_cross_bars", summary, metric=chosen), key="ov_fig2")
        st.caption("Conventional cross-lingual retrieval (Mono-Cross: the pool holds only the other language) "
                   "against the Multi pool (both languages; both parallel references relevant).")


def show_figure2(summaries: dict[str, pd.DataFrame]) -> None:
    """The paper's Figure 2 for every model shown: CLIR (Mono-Cross) beside Multi, English against
    target-language queries per target, the gap annotated; its numbers and what they say."""
    st.subheader("Figure 2 — by query language, CLIR beside Multi")
    keep = shared.kept("ov_fig2_metric")  # drawn only while its tab is open
    if "ov_fig2_metric" not in st.session_state:
        st.session_state["ov_fig2_metric"] = FIGURE2_METRICS[0]
    chosen = st.segmented_control("Measure", FIGURE2_METRICS, format_func=lambda m: metric(m).arrow_label,
                                  **keep) or FIGURE2_METRICS[0]
    frame = results.figure2_frame(summaries, metric=chosen)
    st.plotly_chart(shared.figure("figure2", frame, metric=chosen), key="ov_figure2")
    for line in results.figure2_lines(frame, metric=chosen):
        st.markdown(f"- {line}")
    st.caption("Add models in the sidebar (**Compare with**). Δ = target-language queries − English queries "
               "(the paper's performance disparity by query language); the spread of the bars over the targets is "
               "its instability among target languages. ⚠ marks a target the model was not trained on.")
    with st.expander("Figure 2's numbers"):
        st.dataframe(frame.assign(scenario=frame["scenario"].map(scenario_label)), hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.2f")
                                    for c in ("english", "target_queries", "gap")})


BEYOND_TABLE1 = ["map", "top1_relevant_query_lang", "top1_relevant_other_lang", "top1_unrelated_query_lang",
                 "top1_unrelated_other_lang", "consistency_overlap@10", "consistency_rho"]


def show_beyond(summaries: dict[str, pd.DataFrame], scenario: str) -> None:
    """mAP (with its interval), the top-1 split and cross-language consistency, per model."""
    st.markdown(f"**Beyond Table 1 — {SCENARIO_LABELS.get(scenario, scenario)}**: mAP with its 95 % bootstrap "
                "interval; the top-ranked document (relevant or not × in the query's language or not); the same "
                "question asked in each query language: top-10 overlap by passage and Spearman's ρ of the passage "
                "scores.")
    for label, summary in summaries.items():
        table = results.measure_table(summary, BEYOND_TABLE1, scenario)
        if len(table.columns) > 1 and len(table):
            st.caption(label)
            st.dataframe(table, hide_index=True, width="stretch")


def show_diagnosis(summaries: dict[str, pd.DataFrame]) -> None:
    """Why Multi queries fail, per language and model (the per-query diagnosis, xldiag.metrics.diagnose)."""
    st.plotly_chart(shared.figure("diagnosis_figure", results.diagnosis_shares(summaries)), key="ov_fig_diag")
    st.caption("Each failing Multi query (not every reference in the top |R|): **language-miss** — the same-language "
               "reference is on top and only documents in the query's language beat the other reference; "
               "**mixed** — documents of another language beat it too; **semantic-miss** — unrelated documents beat "
               "the same-language reference as well; **no-distractor** — ties or copies only. Error bars above: 95 % "
               "bootstrap intervals over the queries.")


def show_results(run: results.EvalRun, fr: shared.Frame) -> None:
    describe(run)
    summaries = {label: other.summary_for(fr.ties) for label, other in runs_beside(run, fr).items()}
    summary = run.summary_for(fr.ties)
    present = [s for s in SCENARIOS if s in set(summary["scenario"])]
    first = "multi" if "multi" in present else present[0]
    scenario = st.segmented_control("Scenario", present, default=first, key="ov_scenario",
                                    format_func=scenario_label) or first
    st.markdown(f"**Table 1 — {scenario_label(scenario)}**: Max@R, the rank of the last relevant document (lower "
                "is better); Complete@10, % of queries with every relevant document in the top 10.")
    table1_note(run)
    with_bounds = {**summaries, results.model_label(run.model): run.summary_all}  # several rules: ranges
    show_table1(with_bounds if len(run.tie_rules) > 1 else summaries, scenario)
    # Tabs that track their state: only the open one runs and is sent to the browser (a page's first
    # visit draws one section's charts, not all of them; the first tab's are Vega-Lite: xldiag.vega)
    by_language, fig2, diagnosis, beyond, files = st.tabs(OVERVIEW_TABS, key="ov_tab", on_change="rerun")
    if by_language.open:
        with by_language:
            show_figures(summaries, summary, scenario)
    if fig2.open:
        with fig2:
            show_figure2(summaries)
    if diagnosis.open:
        with diagnosis:
            show_diagnosis(summaries)
    if beyond.open:
        with beyond:
            show_beyond(summaries, scenario)
    if files.open:
        with files:
            st.dataframe(summary, hide_index=True, width="stretch")
            if run.table_md:
                st.markdown(run.table_md)


fr = shared.header("Overview", "Pick a model, dataset and languages; run an evaluation or load one; read the summary "
                   "in the paper's Table 1 layout.")
run_form(fr)
for ended_path, ended in st.session_state.get("ov_ended", {}).items():
    if ended_path not in st.session_state.get("ov_watch", []):
        show_ended(ended_path, ended)
evals_now = shared.list_evals()
if st.session_state.get("ov_watch") or (not evals_now.empty and (evals_now["state"] == "running").any()):
    shared.fragment(run_every=1.0, where="Evaluation progress")(watch_evaluations)()
show_results(shared.require_eval(fr), fr)
