"""Fine-tune: launch a training run as a detached job and watch it live (loss, JSD, NCE, learning
rate and the passages' pre-norm ‖z‖, polled from metrics.jsonl); stop it; when it finishes, its
base-vs-tuned evaluation appears with a link to Compare. Leaving and coming back keeps showing the
run (it lives on disk).

The page only lays out widgets: launching is `xldiag.training.launch`, the run folder is
`xldiag.runs`, its status, log and stop requests are `xldiag.jobs`, the table is `xldiag.tables`.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages import _shared as shared
from xldiag import jobs, results, runs, vega
from xldiag.data import DATASETS
from xldiag.losses import LOSS_MODES
from xldiag.results import selection
from xldiag.training import TrainConfig, launch
from xldiag.vocab import LOG_FILE, SCENARIO_LABELS, metric

fr = shared.frame()
ss = st.session_state


def trainable_choices() -> tuple[list[str], dict[str, str]]:
    """(the models the form offers: the sidebar's, the embedded and evaluated ones, final checkpoints —
    those training can take), {model: why not} for the others (use-m3)."""
    models = selection.model_choices(shared.list_evals(), shared.checkpoint_models(), fr.model)
    return selection.trainable_models(list(dict.fromkeys([fr.model, *models])))


def launch_form() -> None:
    """The "New training run" form; a valid submission launches the run and selects it."""
    model_opts, refused = trainable_choices()
    if fr.model in refused:
        st.info(f"The sidebar's model is not offered below: {refused[fr.model]}")
    box = st.expander("New training run", key="ft_new", on_change="rerun")
    if not box.open:  # the form is built only while its expander is open (the expander tracks its state)
        return
    with box:
        with st.form("train_form"):
            c1, c2, c3 = st.columns(3)
            model = c1.selectbox("Model", model_opts, format_func=results.model_label, key="ft_model",
                                 help="Only models training can take: " + " ".join(refused.values()))
            data = c1.text_input("Training data", value="mlqa-r", key="ft_data",
                                 help="mlqa-r, or a JSONL file of triples (docs/DATA_FORMATS.md)")
            triple_langs = list(DATASETS["mlqa-r"].triple_languages)
            default_lang = [fr.target] if fr.target in triple_langs else triple_langs[-1:]
            langs = c1.multiselect("Languages", triple_langs, default=default_lang, key="ft_langs")
            loss = c2.selectbox("Loss", list(LOSS_MODES), key="ft_loss",
                                help="full = √JSD + InfoNCE (the paper); no-jsd; no-nce; nce-psg")
            lr = c2.number_input("Learning rate (0 = the model family's)", min_value=0.0, value=0.0, format="%.1e",
                                 step=1e-6, key="ft_lr")
            limit = c2.number_input("Limit (first N triples, 0 = all)", min_value=0, value=256, step=32, key="ft_limit")
            seq = c3.number_input("Max sequence length", min_value=16, max_value=1024, value=128, step=16, key="ft_seq")
            batch = c3.number_input("Batch size", min_value=2, value=32, step=2, key="ft_batch")
            eval_limit = c3.number_input("Evaluate on first N questions (0 = all)", min_value=0, value=200, step=50,
                                         key="ft_eval_limit")
            name = st.text_input("Run name (optional)", key="ft_name", placeholder="e.g. e5-zh-full")
            for why in refused.values():
                st.caption(f"Not offered: {why}")
            go = st.form_submit_button("Launch", type="primary")
    if not go:
        return
    if not langs:
        st.warning("Choose at least one language.")
        return
    if shared.check_data_dir() is None:
        return
    cfg = TrainConfig(model=model, data=data.strip() or "mlqa-r", langs=list(langs), loss=loss, lr=float(lr) or None,
                      limit=int(limit) or None, max_seq_length=int(seq), batch_size=int(batch),
                      eval_limit=int(eval_limit) or None, eval_langs=list(langs), eval_pool=fr.pool,
                      eval_ties=fr.ties, data_dir=shared.data_dir_setting(),
                      trust_remote_code=bool(ss.get("trust_remote_code")),
                      out=str(runs.runs_root() / runs.safe_name(name.strip())) if name.strip() else None)
    try:
        run_dir = launch(cfg)
    except Exception as err:  # noqa: BLE001 - locked or used folder, bad option: shown, the page goes on
        shared.show_error(err, "Launch")
        return
    ss["ft_run"] = str(run_dir)
    shared.refresh_listings()
    st.success(f"Launched {Path(run_dir).name}.")


def choose_run(listed) -> str:
    """The run to show: the one chosen before (kept in session state), else a live one, else the newest."""
    paths = list(listed["run_dir"])
    labels = {r["run_dir"]: f"{r['name']} [{r['state']}]" for _, r in listed.iterrows()}
    chosen = ss.get("ft_run")
    if chosen not in paths:
        live = listed[listed["state"].isin(jobs.ACTIVE_STATES)]
        chosen = (live if not live.empty else listed).iloc[0]["run_dir"]
    run_dir = st.selectbox("Run", paths, index=paths.index(chosen), format_func=lambda p: labels.get(p, p),
                           key="ft_run_select")
    ss["ft_run"] = run_dir
    return run_dir


def live_view(run_dir: str, was_active: bool) -> None:
    """State, step, loss and phase; the curves; the log. Polled every 2 s while the run is active."""
    status = jobs.read_status(run_dir)
    state = status.get("state", "unknown")
    step, total = status.get("step") or 0, status.get("total_steps") or 0
    c1, c2, c3, c4 = st.columns([1, 1, 1, 1])
    c1.metric("State", state)
    c2.metric("Step", f"{step}/{total}" if total else str(step))
    c3.metric("Loss", f"{status['loss']:.4f}" if isinstance(status.get("loss"), (int, float)) else "—")
    c4.metric("Phase", status.get("phase") or "—")
    if total:
        st.progress(min(1.0, step / total), text=f"{status.get('phase') or state}: step {step} of {total}")
    if state in jobs.ACTIVE_STATES and c4.button("Stop", key="ft_stop", type="secondary",
                                                 help="ends after the current step, with a checkpoint"):
        jobs.request_stop(run_dir)
        st.toast("Stop requested: the run ends after its current step.")
    if state == "failed":
        shared.show_error(RuntimeError(status.get("error") or "the run failed"), "Run failed")
    elif state == "stopped":
        st.info(f"Stopped ({status.get('stop_reason') or 'by request'}) at step {step}; continue it with "
                f"`python -m xldiag train --out {run_dir} --resume`.")
    curves(runs.read_metrics(run_dir))
    log = st.expander(f"{LOG_FILE} (last lines)", key="ft_log", on_change="rerun")
    if log.open:  # read and drawn only while open: a code block loads the browser's syntax highlighter
        with log:
            st.code(jobs.tail_log(run_dir, 30) or "(empty)", language=None)
    if (state in jobs.ACTIVE_STATES) != was_active:  # finished (or restarted) while we watched: redraw the page
        shared.refresh_listings()
        st.rerun(scope="app")


def curves(metrics) -> None:
    smooth = 1 if len(metrics) < 20 else 5
    st.vega_lite_chart(spec=shared.chart("training_curves", metrics, smooth=smooth), key="ft_curves")
    if vega.has_passage_norms(metrics):
        st.vega_lite_chart(spec=shared.chart("passage_norms", metrics, smooth=smooth), key="ft_norms")
        st.caption("The √JSD is taken on vectors before the final normalisation, so it can also fall by "
                   "shrinking ‖z‖ (softmax of a short vector is nearly uniform): read it with these norms.")


def base_vs_tuned(run_dir: str, state: str) -> None:
    """The run's evaluation, base vs tuned, and the link to compare them query by query."""
    base_dir, tuned_dir = Path(run_dir) / runs.EVAL_DIR / "base", Path(run_dir) / runs.EVAL_DIR / "tuned"
    if not ((base_dir / "config.json").exists() and (tuned_dir / "config.json").exists()):
        if state == "finished":
            st.info("The run finished without an evaluation (eval disabled?): evaluate its final checkpoint on "
                    "Overview.")
        return
    st.subheader("Base vs tuned")
    try:
        table = shared.table("comparison", shared.load_eval(base_dir).summary, shared.load_eval(tuned_dir).summary)
    except Exception as err:  # noqa: BLE001 - an unreadable evaluation folder: shown, the page goes on
        shared.show_error(err, "Evaluation")
        return
    shown = table.assign(scenario=table["scenario"].map(lambda s: SCENARIO_LABELS.get(s, s)),
                         metric=table["metric"].map(lambda m: metric(m).arrow_label))
    shown = shown.rename(columns={"base": "Base", "tuned": "Ours", "delta": "change"})
    st.dataframe(shown[["pair", "scenario", "query_lang", "metric", "Base", "Ours", "change"]], hide_index=True,
                 width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.2f") for c in ("Base", "Ours", "change")})
    root = runs.runs_root()
    ids = {"a": results.eval_id("runs", root, base_dir), "b": results.eval_id("runs", root, tuned_dir)}
    st.page_link(shared.PAGES["compare"], label="Compare base and tuned query by query",
                 icon=":material/compare_arrows:", query_params=ids)


st.title("Fine-tune")
st.caption("√JSD + InfoNCE on (English query, English passage, target passage) triples; the run goes on "
           "in its own process, so you can leave this page and come back.")
launch_form()
listed = shared.list_runs()
if listed.empty:
    st.info(f"No training runs yet in `{runs.runs_root()}`. Launch one above.")
    st.stop()
chosen_run = choose_run(listed)
first = jobs.read_status(chosen_run)
active = first.get("state") in jobs.ACTIVE_STATES


def watch() -> None:  # as a fragment, re-run alone every 2 s while the run is active
    live_view(chosen_run, active)


shared.fragment(run_every=2.0 if active else None, where="Live run")(watch)()
base_vs_tuned(chosen_run, first.get("state"))
